"""The concurrency core: errors, queues, the Coordinator and the QueueRunner — and
``conveyor.core.seeds``, the seeds every random draw in a pipeline comes from.

Nothing here imports anything but the standard library and NumPy.
"""

from conveyor.core.coordinator import Coordinator, LooperThread
from conveyor.core.queues import (
    FIFOQueue,
    PaddingFIFOQueue,
    PriorityQueue,
    QueueBase,
    RandomShuffleQueue,
)
from conveyor.core.runner import (
    QUEUE_RUNNERS,
    QueueRunner,
    add_queue_runner,
    clear_queue_runners,
    get_queue_runners,
    start_queue_runners,
)

__all__ = [
    "Coordinator",
    "LooperThread",
    "QueueBase",
    "FIFOQueue",
    "PaddingFIFOQueue",
    "RandomShuffleQueue",
    "PriorityQueue",
    "QueueRunner",
    "QUEUE_RUNNERS",
    "add_queue_runner",
    "get_queue_runners",
    "clear_queue_runners",
    "start_queue_runners",
]
