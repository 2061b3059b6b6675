"""What a running pipeline reports: per stage throughput, busy time, queue fill, and the
consumer's input stall."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StageStats", "PipelineStats", "StageMeter"]


class StageMeter:
    """Counters one stage's threads add to; thread-safe, one lock per stage."""

    def __init__(self, name: str, threads: int, output: Any = None) -> None:
        self.name = name
        self.threads = threads
        self.output = output
        self._lock = threading.Lock()
        self.elements_in = 0
        self.elements_out = 0
        self.busy_seconds = 0.0
        self.wait_in_seconds = 0.0
        self.wait_out_seconds = 0.0
        self.skipped = 0
        self._busy_by_thread: dict[int, float] = {}

    def add(self, n_in: int, n_out: int, busy: float, wait_in: float, wait_out: float) -> None:
        thread = threading.get_ident()
        with self._lock:
            self.elements_in += n_in
            self.elements_out += n_out
            self.busy_seconds += busy
            self.wait_in_seconds += wait_in
            self.wait_out_seconds += wait_out
            self._busy_by_thread[thread] = self._busy_by_thread.get(thread, 0.0) + busy

    def add_skipped(self, n: int) -> None:
        with self._lock:
            self.skipped += n

    def snapshot(self, wall: float) -> StageStats:
        with self._lock:
            fill = 0.0
            if self.output is not None:
                fill = self.output.size() / self.output.capacity
            busy = self.busy_seconds / (self.threads * wall) if wall > 0 else 0.0
            per_thread = sorted(self._busy_by_thread.values(), reverse=True)
            per_thread += [0.0] * (self.threads - len(per_thread))
            return StageStats(
                name=self.name,
                threads=self.threads,
                elements_in=self.elements_in,
                elements_out=self.elements_out,
                throughput=self.elements_out / wall if wall > 0 else 0.0,
                busy_fraction=min(1.0, busy),
                thread_busy=tuple(min(1.0, b / wall) if wall > 0 else 0.0 for b in per_thread),
                wait_in_seconds=self.wait_in_seconds,
                wait_out_seconds=self.wait_out_seconds,
                output_fill=fill,
                skipped=self.skipped,
            )


@dataclass(frozen=True)
class StageStats:
    """One stage's figures since the pipeline started.

    Attributes:
        name: the stage (``"map(decode)"``, ``"shuffle"``, …).
        threads: its thread count.
        elements_in, elements_out: elements taken and produced (rows before a batch,
            batches after one).
        throughput: elements out per second of wall time.
        busy_fraction: the share of its threads' time spent working (not waiting for
            input or for room downstream), averaged over its threads.
        thread_busy: the same share for each thread, busiest first.
        wait_in_seconds, wait_out_seconds: time its threads spent waiting for input and
            for room in the output queue.
        output_fill: how full its output queue is now (TensorFlow's
            ``fraction_of_N_full``).
        skipped: elements dropped on purpose (``map(..., on_error="skip")``).
    """

    name: str
    threads: int
    elements_in: int
    elements_out: int
    throughput: float
    busy_fraction: float
    thread_busy: tuple[float, ...]
    wait_in_seconds: float
    wait_out_seconds: float
    output_fill: float
    skipped: int = 0


@dataclass(frozen=True)
class PipelineStats:
    """A pipeline's figures: its stages and its consumer.

    Attributes:
        wall_seconds: time since iteration started.
        stages: per stage, in pipeline order.
        consumer_elements: elements handed to the consumer.
        consumer_wait_seconds: time the consumer spent waiting inside ``next()``.
        input_stall: ``consumer_wait_seconds / wall_seconds`` — the share of the
            consumer's time lost waiting for data; ~0 when the pipeline keeps up.
        bottleneck: the name of the stage whose threads are busiest.
    """

    wall_seconds: float
    stages: list[StageStats] = field(default_factory=list)
    consumer_elements: int = 0
    consumer_wait_seconds: float = 0.0
    input_stall: float = 0.0
    bottleneck: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers, for logging and TensorBoard scalars."""
        out: dict[str, Any] = {
            "wall_seconds": self.wall_seconds,
            "consumer_elements": self.consumer_elements,
            "consumer_wait_seconds": self.consumer_wait_seconds,
            "input_stall": self.input_stall,
            "bottleneck": self.bottleneck,
        }
        for s in self.stages:
            for key in ("elements_out", "throughput", "busy_fraction", "output_fill", "skipped"):
                out[f"{s.name}/{key}"] = getattr(s, key)
        return out

    def __str__(self) -> str:
        head = ("stage", "threads", "in", "out", "out/s", "busy", "queue fill")
        rows = [
            (
                s.name,
                str(s.threads),
                str(s.elements_in),
                str(s.elements_out),
                f"{s.throughput:,.0f}",
                f"{100 * s.busy_fraction:.0f}%",
                f"{100 * s.output_fill:.0f}%",
            )
            for s in self.stages
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
            for r in [head, *rows]
        ]
        lines.append(
            f"consumer: {self.consumer_elements} elements in {self.wall_seconds:.2f} s, "
            f"input stall {100 * self.input_stall:.1f}%"
        )
        lines.append(f"bottleneck: {self.bottleneck or 'none'}")
        return "\n".join(lines)


def now() -> float:
    return time.perf_counter()
