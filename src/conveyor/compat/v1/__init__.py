"""``import conveyor.compat.v1 as tf``: TensorFlow 1 input-pipeline programs, unchanged
but for the import, on conveyor's queues, readers, runners, Coordinator and image ops.

A small graph (:class:`Graph`, :class:`Tensor`, :class:`Operation`) is built by the
calls below; :class:`Session` evaluates it with NumPy. Queue contents, reader positions,
variables and random state belong to the session; collections (queue runners,
variables, summaries) to the graph. Anything outside the covered surface raises
``NotImplementedError`` naming it. See ``docs/compat.md``.

>>> import conveyor.compat.v1 as tf
>>> with tf.Graph().as_default():
...     x = tf.placeholder(tf.float32, shape=[2])
...     with tf.Session() as sess:
...         print(sess.run(tf.cast(x, tf.int32), feed_dict={x: [1.5, -2.5]}))
[ 1 -2]
"""

from __future__ import annotations

import builtins
from typing import Any

from conveyor.compat.v1 import (
    app as app,
    flags as flags,
    gfile as gfile,
    image as image,
    logging as logging,
    python_io as python_io,
    summary as summary,
    train as train,
)
from conveyor.compat.v1._dtypes import (
    Dimension as Dimension,
    DType as DType,
    TensorShape as TensorShape,
    as_dtype as as_dtype,
)
from conveyor.compat.v1._graph import (
    ConfigProto as ConfigProto,
    GPUOptions as GPUOptions,
    Graph as Graph,
    GraphKeys as GraphKeys,
    InteractiveSession as InteractiveSession,
    Operation as Operation,
    RunMetadata as RunMetadata,
    RunOptions as RunOptions,
    Session as Session,
    SparseTensor as SparseTensor,
    Tensor as Tensor,
    Variable as Variable,
    constant_tensor as _constant,
    convert_to_tensor as convert_to_tensor,
    get_default_graph as get_default_graph,
    get_default_session as get_default_session,
    group as group,
    name_scope as name_scope,
    placeholder as placeholder,
    placeholder_with_default as placeholder_with_default,
    reset_default_graph as reset_default_graph,
)
from conveyor.compat.v1._missing import missing_names
from conveyor.compat.v1._ops import (
    FixedLenFeature as FixedLenFeature,
    FixedLenSequenceFeature as FixedLenSequenceFeature,
    VarLenFeature as VarLenFeature,
    add as add,
    cast as cast,
    concat as concat,
    decode_raw as decode_raw,
    expand_dims as expand_dims,
    gather as gather,
    identity as identity,
    multiply as multiply,
    no_op as no_op,
    parse_example as parse_example,
    parse_single_example as parse_single_example,
    random_crop as random_crop,
    random_shuffle as random_shuffle,
    random_uniform as random_uniform,
    reshape as reshape,
    set_random_seed as set_random_seed,
    shape as shape,
    size as size,
    slice as slice,
    squeeze as squeeze,
    stack as stack,
    strided_slice as strided_slice,
    subtract as subtract,
    to_float as to_float,
    to_int32 as to_int32,
    to_int64 as to_int64,
    transpose as transpose,
)
from conveyor.compat.v1._protos import Event as Event, Summary as Summary
from conveyor.compat.v1._queues import (
    FIFOQueue as FIFOQueue,
    PaddingFIFOQueue as PaddingFIFOQueue,
    PriorityQueue as PriorityQueue,
    QueueBase as QueueBase,
    RandomShuffleQueue as RandomShuffleQueue,
)
from conveyor.compat.v1._readers import (
    FixedLengthRecordReader as FixedLengthRecordReader,
    ReaderBase as ReaderBase,
    TextLineReader as TextLineReader,
    TFRecordReader as TFRecordReader,
    WholeFileReader as WholeFileReader,
)
from conveyor.core import errors as errors
from conveyor.ops.parsing import SparseTensorValue as SparseTensorValue

float16 = half = as_dtype("float16")
float32 = as_dtype("float32")
float64 = double = as_dtype("float64")
int8 = as_dtype("int8")
int16 = as_dtype("int16")
int32 = as_dtype("int32")
int64 = as_dtype("int64")
uint8 = as_dtype("uint8")
uint16 = as_dtype("uint16")
string = as_dtype("string")
bool = as_dtype("bool")

VERSION = __version__ = "1.15.5"
GRAPH_DEF_VERSION = 0
QUEUE_RUNNERS = GraphKeys.QUEUE_RUNNERS

queue = __import__("types").SimpleNamespace(
    FIFOQueue=FIFOQueue,
    PaddingFIFOQueue=PaddingFIFOQueue,
    PriorityQueue=PriorityQueue,
    QueueBase=QueueBase,
    RandomShuffleQueue=RandomShuffleQueue,
)
"""``tf.queue``, TensorFlow's later home of the queue classes."""


def constant(
    value: Any, dtype: Any = None, shape: Any = None, name: str = "Const", verify_shape: Any = False
) -> Tensor:
    """A constant tensor (``tf.constant``): Python ints are int32, floats float32,
    strings ``tf.string``; a scalar ``value`` fills ``shape``."""
    return _constant(value, dtype=dtype, shape=shape, name=name)


def global_variables_initializer() -> Operation:
    """An operation initializing every global variable (``tf.global_variables_initializer``)."""
    return variables_initializer(
        get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES), name="init"
    )


def local_variables_initializer() -> Operation:
    """An operation initializing every local variable, such as the file list of
    ``match_filenames_once`` (``tf.local_variables_initializer``)."""
    return variables_initializer(
        get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES), name="init_1"
    )


def variables_initializer(var_list: Any, name: str = "init") -> Operation:
    """An operation initializing ``var_list`` (``tf.variables_initializer``)."""
    return group(*[v.initializer for v in var_list], name=name)


initialize_all_variables = global_variables_initializer
initialize_local_variables = local_variables_initializer


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def get_collection(key: str, scope: str | None = None) -> list[Any]:
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key: str) -> list[Any]:
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name: str, value: Any) -> None:
    get_default_graph().add_to_collection(name, value)


def control_dependencies(control_inputs: Any) -> Any:
    return get_default_graph().control_dependencies(control_inputs)


def disable_eager_execution() -> None:
    """Accepted: the facade is always in graph mode."""


def disable_v2_behavior() -> None:
    """Accepted: the facade is always TensorFlow 1."""


def enable_eager_execution(*args: Any, **kwargs: Any) -> None:
    raise NotImplementedError(
        "tf.enable_eager_execution: conveyor.compat.v1 is graph mode only; for eager "
        "input use conveyor.Pipeline, which iterates NumPy batches"
    )


def executing_eagerly() -> builtins.bool:
    return False


__getattr__ = missing_names(
    __name__,
    "tf",
    "conveyor's own API (conveyor.Pipeline, conveyor.image, conveyor.io) or PyTorch for models",
)
