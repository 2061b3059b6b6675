"""One execution of a pipeline: its channels, its runner threads, its coordinator.

Every stage is a :class:`~conveyor.core.queues.FIFOQueue` (its output *channel*) filled
by a :class:`~conveyor.core.runner.QueueRunner` whose threads each repeat the stage's
step (see :mod:`conveyor.pipeline.stage`). A channel carries ``(seq, data, mark)``
units: ``data`` is a chunk of rows before the first batch and one element after it;
``seq`` numbers the units; ``mark`` is the state from which the stage and everything
above it would produce the units after this one (see :mod:`conveyor.pipeline.state`).

End of input travels down the channels (a runner closes its channel when all its threads
have met the end); cancellation travels up (a stage whose output was cancelled — by a
``take`` that has enough, or by a stop — cancels its input); an error travels down in
band, as a :class:`Failure` unit after every unit that preceded it, and stops everything
above it. The consumer's exit stops the run through the shared coordinator, whose stop
cancels every channel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from conveyor.core.coordinator import Coordinator
from conveyor.core.errors import CancelledError
from conveyor.core.queues import FIFOQueue
from conveyor.pipeline.stats import PipelineStats, StageMeter

__all__ = ["Run", "OrderedMerge", "Failure", "JOIN_SECONDS"]


class Failure:
    """An error travelling downstream in place of data.

    A stage that fails sends this after everything it produced before the failure, and
    every stage below passes it on, so the consumer first receives all the valid data
    that preceded the error, then the error itself — with its original traceback — as
    tf.data and PyTorch's DataLoader deliver errors at their position in the stream.
    """

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


JOIN_SECONDS = 1.0
"""How long closing a run waits for its threads."""


class Run:
    """The threads and queues of one iteration over a pipeline."""

    def __init__(self, deterministic: bool, seed: int, root_seed: int | None = None) -> None:
        self.deterministic = deterministic
        self.seed = seed
        # the seed of the outermost run: a nested run's own seed changes with the epoch of
        # the ``repeat`` around it, this one does not
        self.root_seed = seed if root_seed is None else root_seed
        self.coord = Coordinator()
        self.threads: list[threading.Thread] = []
        self.meters: list[StageMeter] = []
        self.closers: list[Callable[[], None]] = []
        self.start_time = time.perf_counter()
        self.consumer_wait = 0.0
        self.consumer_elements = 0
        self._closed = False

    def channel(self, capacity: int, name: str) -> FIFOQueue:
        """A bounded queue of units between two stages."""
        return FIFOQueue(max(1, capacity), ["pyobject"], name=name)

    def start(self) -> None:
        self.start_time = time.perf_counter()
        for t in self.threads:
            t.start()

    def close(self) -> None:
        """Stop every thread and wait (briefly) for them; idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        self.coord.request_stop()
        for closer in self.closers:
            closer()
        deadline = time.monotonic() + JOIN_SECONDS
        for t in self.threads:
            if t.ident is not None and t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))

    def stats(self) -> PipelineStats:
        wall = time.perf_counter() - self.start_time
        stages = [m.snapshot(wall) for m in self.meters]
        bottleneck = max(stages, key=lambda s: s.busy_fraction).name if stages else ""
        return PipelineStats(
            wall_seconds=wall,
            stages=stages,
            consumer_elements=self.consumer_elements,
            consumer_wait_seconds=self.consumer_wait,
            input_stall=self.consumer_wait / wall if wall > 0 else 0.0,
            bottleneck=bottleneck,
        )


class OrderedMerge:
    """Releases units in ``(major, minor)`` order when several threads produce them.

    A deterministic multi-threaded stage numbers its inputs ``major = 0, 1, 2, …`` in the
    order it took them; ``minor`` numbers the outputs made from one input. A thread that
    is ahead of the next key to release keeps its output here; whoever completes the next
    key releases everything that became ready. ``window`` bounds how many outputs wait
    here, so memory stays bounded while a slow thread catches up.

    :meth:`truncate` cuts the stream at a key (where a failure happened): everything
    before it is still released as it completes, nothing at or after it ever is.
    """

    def __init__(self, emit: Callable[[Any], None], window: int) -> None:
        self._emit = emit
        self._window = max(1, window)
        self._cond = threading.Condition()
        self._pending: dict[int, dict[int, Any]] = {}
        self._counts: dict[int, int] = {}
        self._major = 0
        self._minor = 0
        self._held = 0
        self._cut: tuple[int, int] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def _beyond_cut(self, major: int, minor: int) -> bool:
        return self._cut is not None and (major, minor) >= self._cut

    def put(self, major: int, minor: int, item: Any) -> None:
        """Add output ``minor`` of input ``major``; blocks while the window is full."""
        with self._cond:
            while (
                not self._cancelled
                and self._held >= self._window
                and (major, minor) != (self._major, self._minor)
                and not self._beyond_cut(major, minor)
            ):
                self._cond.wait(0.1)
            if self._cancelled:
                raise CancelledError("ordered merge cancelled")
            if self._beyond_cut(major, minor):
                return
            self._pending.setdefault(major, {})[minor] = item
            self._held += 1
            self._release()

    def end(self, major: int, count: int) -> None:
        """Say that input ``major`` made exactly ``count`` outputs (0: none)."""
        with self._cond:
            self._counts[major] = count
            self._release()

    def truncate(self, major: int, minor: int) -> None:
        """Release nothing from ``(major, minor)`` on; drop what waits there."""
        with self._cond:
            if self._cut is None or (major, minor) < self._cut:
                self._cut = (major, minor)
            for m in [m for m in self._pending if m >= major]:
                pieces = self._pending[m]
                for k in [k for k in pieces if (m, k) >= self._cut]:
                    del pieces[k]
                    self._held -= 1
            self._cond.notify_all()

    def _release(self) -> None:
        while True:
            if self._beyond_cut(self._major, self._minor):
                break
            pieces = self._pending.get(self._major)
            if pieces is not None and self._minor in pieces:
                item = pieces.pop(self._minor)
                self._held -= 1
                self._minor += 1
                self._emit(item)
                continue
            if self._counts.get(self._major) == self._minor:
                self._pending.pop(self._major, None)
                self._counts.pop(self._major)
                self._major += 1
                self._minor = 0
                continue
            break
        self._cond.notify_all()
