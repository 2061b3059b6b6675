"""conveyor: asynchronous input pipelines for training loops.

Queues, runner threads and a coordinator — TensorFlow 1's input pipeline, in Python and
NumPy — so the training step always finds a batch waiting.
"""

import builtins
from typing import TYPE_CHECKING

from conveyor import core as _core, errors as errors
from conveyor._lazy import lazy_exports
from conveyor.core import (
    QUEUE_RUNNERS as QUEUE_RUNNERS,
    Coordinator as Coordinator,
    FIFOQueue as FIFOQueue,
    LooperThread as LooperThread,
    PaddingFIFOQueue as PaddingFIFOQueue,
    PriorityQueue as PriorityQueue,
    QueueBase as QueueBase,
    QueueRunner as QueueRunner,
    RandomShuffleQueue as RandomShuffleQueue,
    add_queue_runner as add_queue_runner,
    clear_queue_runners as clear_queue_runners,
    get_queue_runners as get_queue_runners,
    start_queue_runners as start_queue_runners,
)
from conveyor.io import _EXPORTS as _IO_EXPORTS
from conveyor.ops import _EXPORTS as _OPS_EXPORTS

__version__ = "0.1.0"

# The I/O and ops layers load on first use: they need optional dependencies. The
# pipeline's constructors are here too, so `cv.files(...).read(...)` reads as TF1 did.
_PIPELINE_EXPORTS = dict.fromkeys(
    ["Pipeline", "files", "from_arrays", "from_iterable", "interleave", "range"],
    "conveyor.pipeline",
)
_LAZY = {
    name: module
    for name, module in {**_IO_EXPORTS, **_OPS_EXPORTS, **_PIPELINE_EXPORTS}.items()
    if name not in ("match_files", "open_input", "ReaderBase")
}
# The lazy names, for type checkers and IDEs, which cannot see through __getattr__
# (tests/test_exports.py keeps this list equal to _LAZY).
if TYPE_CHECKING:
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
    from conveyor.io.producers import (
        SliceSource as SliceSource,
        input_producer as input_producer,
        match_filenames_once as match_filenames_once,
        range_input_producer as range_input_producer,
        slice_input_producer as slice_input_producer,
        string_input_producer as string_input_producer,
    )
    from conveyor.io.readers import (
        FixedLengthRecordReader as FixedLengthRecordReader,
        TextLineReader as TextLineReader,
        TFRecordReader as TFRecordReader,
        WholeFileReader as WholeFileReader,
    )
    from conveyor.io.tfrecord import (
        TFRecordCompressionType as TFRecordCompressionType,
        TFRecordOptions as TFRecordOptions,
        TFRecordWriter as TFRecordWriter,
        tf_record_iterator as tf_record_iterator,
    )
    from conveyor.ops.decode import (
        decode_csv as decode_csv,
        decode_raw as decode_raw,
    )
    from conveyor.ops.image_codecs import (
        decode_bmp as decode_bmp,
        decode_gif as decode_gif,
        decode_image as decode_image,
        decode_jpeg as decode_jpeg,
        decode_png as decode_png,
        encode_jpeg as encode_jpeg,
        encode_png as encode_png,
        extract_jpeg_shape as extract_jpeg_shape,
        is_jpeg as is_jpeg,
    )
    from conveyor.ops.parsing import (
        FixedLenFeature as FixedLenFeature,
        FixedLenSequenceFeature as FixedLenSequenceFeature,
        SparseTensorValue as SparseTensorValue,
        VarLenFeature as VarLenFeature,
        parse_example as parse_example,
        parse_single_example as parse_single_example,
    )
    from conveyor.pipeline import (
        Pipeline as Pipeline,
        files as files,
        from_arrays as from_arrays,
        from_iterable as from_iterable,
        interleave as interleave,
        range as range,
    )
else:
    __getattr__, _ = lazy_exports(__name__, _LAZY)

_EAGER = ["errors", *_core.__all__]

# `from conveyor import *` must not shadow a builtin: `conveyor.range` is an attribute,
# not a star-export.
__all__ = _EAGER + sorted(name for name in _LAZY if not hasattr(builtins, name))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
