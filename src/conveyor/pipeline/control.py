"""Stages that shape the stream without transforming elements: ``take``, ``skip``,
``shard``, ``enumerate``.

``take(n)`` passes the first ``n`` elements, then ends the stream and cancels its input,
which stops every stage upstream. ``skip(n)`` drops the first ``n``. ``shard(index,
count)`` keeps elements ``index, index + count, …`` of the stream (sources and file
lists shard earlier and cheaper; see ``Pipeline.shard``). ``enumerate`` pairs each
element with its position. Each keeps its counter in its state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import (
    INFINITE,
    UNKNOWN,
    EndOfStream,
    Output,
    Stage,
    StageContext,
    Unit,
    check_int,
)

__all__ = ["TakeStage", "SkipStage", "ShardStage", "EnumerateStage"]


def _count(level: Any, data: Any) -> int:
    return st.chunk_len(data) if level == 0 else 1


class _CounterStage(Stage):
    """A one-thread stage with one counter as its state."""

    key = "count"

    def start(self, ctx: StageContext, state: Any) -> None:
        self._ctx = ctx
        self._level = ctx.levels[0]
        self._n = self.initial() if state is None else int(state[self.key])

    def initial(self) -> int:
        return 0

    def state(self) -> dict[str, int]:
        return {self.key: self._n}


class TakeStage(_CounterStage):
    """Passes the first ``count`` elements, then ends the stream."""

    key = "left"

    def __init__(self, count: int) -> None:
        self.count = check_int("take count", count)
        self.name = f"take({count})"

    def initial(self) -> int:
        return self.count

    def cardinality(self, counts: list[int]) -> int:
        (n,) = counts
        if n == INFINITE:
            return self.count
        return UNKNOWN if n == UNKNOWN else min(n, self.count)

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        if self._n == 0:
            raise EndOfStream
        k = _count(self._level, data)
        if self._level == 0 and k > self._n:
            data = st.select(data, slice(0, self._n))
            k = self._n
        self._n -= k
        out.emit(data, self.state())
        if self._n == 0:
            self._ctx.cancel_inputs()  # enough: stop everything upstream


class SkipStage(_CounterStage):
    """Drops the first ``count`` elements."""

    key = "left"

    def __init__(self, count: int) -> None:
        self.count = check_int("skip count", count)
        self.name = f"skip({count})"

    def initial(self) -> int:
        return self.count

    def cardinality(self, counts: list[int]) -> int:
        (n,) = counts
        return n if n < 0 else max(0, n - self.count)

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        if self._n:
            k = _count(self._level, data)
            if self._level != 0 or k <= self._n:
                self._n -= k
                return
            data = st.select(data, slice(self._n, None))
            self._n = 0
        out.emit(data, self.state())


class ShardStage(_CounterStage):
    """Keeps every ``count``-th element of the stream, starting at ``index``."""

    key = "pos"

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        self.name = f"shard({index}/{count})"

    def describe(self) -> str:
        return self.name

    def cardinality(self, counts: list[int]) -> int:
        (n,) = counts
        return n if n < 0 else len(range(self.index, n, self.count))

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        if self._level == 0:
            k = st.chunk_len(data)
            keep = (self._n + np.arange(k)) % self.count == self.index
            self._n += k
            if keep.any():
                out.emit(st.select(data, keep), self.state())
            return
        mine = self._n % self.count == self.index
        self._n += 1
        if mine:
            out.emit(data, self.state())


class EnumerateStage(_CounterStage):
    """Pairs each element with its position: ``(i, element)``, from ``start``."""

    def __init__(self, start: int) -> None:
        self.first = check_int("start", start, minimum=-(2**63), maximum=2**63 - 1)
        self.name = "enumerate"

    def describe(self) -> str:
        return f"enumerate({self.first})"

    def initial(self) -> int:
        return self.first

    def cardinality(self, counts: list[int]) -> int:
        return counts[0]

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        index: Any
        if self._level == 0:
            k = st.chunk_len(data)
            index = np.arange(self._n, self._n + k, dtype=np.int64)
            self._n += k
        else:
            index = np.int64(self._n)
            self._n += 1
        out.emit((index, data), self.state())
