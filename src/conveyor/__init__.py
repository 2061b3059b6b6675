"""conveyor: asynchronous input pipelines for training loops.

Queues, runner threads and a coordinator — TensorFlow 1's input pipeline, in Python and
NumPy — so the training step always finds a batch waiting.
"""

import builtins

from conveyor import core as _core
from conveyor import errors
from conveyor._lazy import lazy_exports
from conveyor.core import (
    QUEUE_RUNNERS,
    Coordinator,
    FIFOQueue,
    LooperThread,
    PaddingFIFOQueue,
    PriorityQueue,
    QueueBase,
    QueueRunner,
    RandomShuffleQueue,
    add_queue_runner,
    clear_queue_runners,
    get_queue_runners,
    start_queue_runners,
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
__getattr__, _ = lazy_exports(__name__, _LAZY)

_EAGER = ["errors", *_core.__all__]

# `from conveyor import *` must not shadow a builtin: `conveyor.range` is an attribute,
# not a star-export.
__all__ = _EAGER + sorted(name for name in _LAZY if not hasattr(builtins, name))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
