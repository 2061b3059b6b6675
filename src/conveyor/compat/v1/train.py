"""``tf.train``: the Coordinator and QueueRunner, input producers, batching, the global
step and the ``Example`` protos."""

from types import SimpleNamespace

from conveyor.compat.v1._missing import missing_names
from conveyor.compat.v1._train import (
    Coordinator as Coordinator,
    LooperThread as LooperThread,
    QueueRunner as QueueRunner,
    add_queue_runner as add_queue_runner,
    batch as batch,
    batch_join as batch_join,
    create_global_step as create_global_step,
    get_global_step as get_global_step,
    get_or_create_global_step as get_or_create_global_step,
    input_producer as input_producer,
    limit_epochs as limit_epochs,
    match_filenames_once as match_filenames_once,
    maybe_batch as maybe_batch,
    maybe_batch_join as maybe_batch_join,
    maybe_shuffle_batch as maybe_shuffle_batch,
    maybe_shuffle_batch_join as maybe_shuffle_batch_join,
    range_input_producer as range_input_producer,
    shuffle_batch as shuffle_batch,
    shuffle_batch_join as shuffle_batch_join,
    slice_input_producer as slice_input_producer,
    start_queue_runners as start_queue_runners,
    string_input_producer as string_input_producer,
)
from conveyor.io.example import (
    BytesList as BytesList,
    Example as Example,
    Feature as Feature,
    FeatureList as FeatureList,
    FeatureLists as FeatureLists,
    Features as Features,
    FloatList as FloatList,
    Int64List as Int64List,
    SequenceExample as SequenceExample,
)

queue_runner = SimpleNamespace(
    QueueRunner=QueueRunner,
    add_queue_runner=add_queue_runner,
    start_queue_runners=start_queue_runners,
)
"""``tf.train.queue_runner``, the module TensorFlow keeps these in."""

__all__ = [
    "BytesList",
    "Coordinator",
    "Example",
    "Feature",
    "FeatureList",
    "FeatureLists",
    "Features",
    "FloatList",
    "Int64List",
    "LooperThread",
    "QueueRunner",
    "SequenceExample",
    "add_queue_runner",
    "batch",
    "batch_join",
    "create_global_step",
    "get_global_step",
    "get_or_create_global_step",
    "input_producer",
    "limit_epochs",
    "match_filenames_once",
    "maybe_batch",
    "maybe_batch_join",
    "maybe_shuffle_batch",
    "maybe_shuffle_batch_join",
    "queue_runner",
    "range_input_producer",
    "shuffle_batch",
    "shuffle_batch_join",
    "slice_input_producer",
    "start_queue_runners",
    "string_input_producer",
]

__getattr__ = missing_names(
    __name__,
    "tf.train",
    "PyTorch for training (optimizers, checkpoints) and conveyor.Pipeline for input",
)
