"""Stages that read several pipelines: ``interleave``, ``zip``, ``concatenate`` and
``mix`` (tf.data's ``sample_from_datasets``).

Each runs on one thread that takes units from its inputs itself, so its output order
follows from its inputs' orders (and, for ``mix``, its seed). Their state is their own
counters beside every input's mark.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.batch import RowBuffer
from conveyor.pipeline.stage import (
    FILES,
    INFINITE,
    UNKNOWN,
    EndOfStream,
    Output,
    Stage,
    StageContext,
    check_int,
)

__all__ = ["InterleaveStage", "ZipStage", "ConcatenateStage", "MixStage"]

_POLL_SECONDS = 0.002


def _same_level(name: str, levels: list[Any]) -> Any:
    if len(set(levels)) != 1 or FILES in levels:
        raise InvalidArgumentError(
            f"{name} needs pipelines that are all unbatched, or all batched the same "
            f"number of times; got levels {levels}"
        )
    return levels[0]


class _MultiStage(Stage):
    def __init__(self, n: int) -> None:
        self.inputs = n

    def output_level(self, levels: list[Any]) -> Any:
        return _same_level(self.name, levels)


class InterleaveStage(_MultiStage):
    """Joins several pipelines into one stream, a unit from each live input in turn.

    Deterministic mode takes strictly in turn; otherwise an input with nothing ready is
    passed over, so one slow input does not hold the others back.
    """

    name = "interleave"

    def cardinality(self, counts: list[int]) -> int:
        if INFINITE in counts:
            return INFINITE
        return UNKNOWN if UNKNOWN in counts else sum(counts)

    def start(self, ctx: StageContext, state: Any) -> None:
        self._turn = 0 if state is None else int(state["turn"])
        self._live = list(range(self.inputs)) if state is None else list(state["live"])
        self._strict = ctx.deterministic

    def produce(self, ctx: StageContext, out: Output) -> None:
        tries = 0
        while self._live:
            pos = self._turn % len(self._live)
            i = self._live[pos]
            if not self._strict and not ctx.ready(i):
                tries += 1
                if tries < len(self._live):
                    self._turn += 1
                    continue
                tries = 0
                time.sleep(_POLL_SECONDS)  # nothing ready anywhere: wait briefly
                continue
            try:
                unit = ctx.get(i)
            except EndOfStream:
                self._live.pop(pos)
                continue
            self._turn += 1
            out.emit(unit.data, {"turn": self._turn, "live": list(self._live)}, ctx.last_marks)
            return
        raise EndOfStream


class ZipStage(_MultiStage):
    """Pairs the i-th elements of several pipelines: ``(a_i, b_i, …)``; ends with the
    shortest."""

    name = "zip"

    def cardinality(self, counts: list[int]) -> int:
        known = [c for c in counts if c >= 0]
        if known:
            return min(known) if UNKNOWN not in counts else UNKNOWN
        return UNKNOWN if UNKNOWN in counts else INFINITE

    def start(self, ctx: StageContext, state: Any) -> None:
        self._rows = ctx.levels[0] == 0
        skips = [0] * self.inputs if state is None else list(state["skip"])
        self._buffers = [
            RowBuffer(self._rows, mark, skip) for mark, skip in zip(ctx.input_marks, skips)
        ]

    def produce(self, ctx: StageContext, out: Output) -> None:
        for i, buffer in enumerate(self._buffers):
            while buffer.count == 0:
                buffer.add(ctx.get(i))  # EndOfStream: the shortest ended
        k = min(b.count for b in self._buffers)
        parts = [b.take(k) for b in self._buffers]
        if not self._rows:
            parts = [p[0] for p in parts]
        resume = [b.resume() for b in self._buffers]
        out.emit(tuple(parts), {"skip": [r[1] for r in resume]}, [r[0] for r in resume])


class ConcatenateStage(_MultiStage):
    """All of the first pipeline, then all of the next, …"""

    name = "concatenate"

    def cardinality(self, counts: list[int]) -> int:
        if INFINITE in counts:
            return INFINITE
        return UNKNOWN if UNKNOWN in counts else sum(counts)

    def start(self, ctx: StageContext, state: Any) -> None:
        self._which = 0 if state is None else int(state["which"])

    def produce(self, ctx: StageContext, out: Output) -> None:
        while self._which < self.inputs:
            try:
                unit = ctx.get(self._which)
            except EndOfStream:
                self._which += 1
                continue
            out.emit(unit.data, {"which": self._which}, ctx.last_marks)
            return
        raise EndOfStream


class MixStage(_MultiStage):
    """Elements drawn from several pipelines at random with given weights (tf.data's
    ``sample_from_datasets``): each output row comes from input ``i`` with probability
    ``weights[i]`` among the inputs not yet ended.

    Args:
        weights: one non-negative weight per input (default: equal).
        seed: the draws' seed (default: derived from the pipeline's).
        stop_on_empty: end when any input ends (default: go on with the others).
        chunk: rows drawn at a time before the first batch.
    """

    name = "mix"

    def __init__(
        self, n: int, weights: Any, seed: int | None, stop_on_empty: bool, chunk: int
    ) -> None:
        super().__init__(n)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise InvalidArgumentError(
                f"mix needs {n} non-negative weights with a positive sum, got {weights!r}"
            )
        self.weights = w / w.sum()
        self.seed = None if seed is None else check_int("seed", seed)
        self.stop_on_empty = bool(stop_on_empty)
        self.chunk = check_int("chunk", chunk, minimum=1)

    def describe(self) -> str:
        return (
            f"mix(weights={self.weights.round(6).tolist()}, seed={self.seed}, "
            f"stop_on_empty={self.stop_on_empty}, chunk={self.chunk})"
        )

    def start(self, ctx: StageContext, state: Any) -> None:
        self._rows = ctx.levels[0] == 0
        self._rng = np.random.default_rng(ctx.seed_sequence(self.seed))
        skips = [0] * self.inputs
        self._live = [bool(w > 0) for w in self.weights]
        if state is not None:
            self._rng.bit_generator.state = state["rng"]
            skips = list(state["skip"])
            self._live = list(state["live"])
        self._buffers = [
            RowBuffer(self._rows, mark, skip) for mark, skip in zip(ctx.input_marks, skips)
        ]

    def _fill(self, ctx: StageContext, i: int, need: int) -> None:
        buffer = self._buffers[i]
        while buffer.count < need and not buffer.ended:
            try:
                buffer.add(ctx.get(i))
            except EndOfStream:
                buffer.ended = True

    def produce(self, ctx: StageContext, out: Output) -> None:
        live = [i for i in range(self.inputs) if self._live[i]]
        if not live:
            raise EndOfStream
        w = self.weights[live]
        n = self.chunk if self._rows else 1
        choices = np.asarray(live)[self._rng.choice(len(live), n, p=w / w.sum())]
        cut = n
        for i in live:
            need = int(np.count_nonzero(choices == i))
            self._fill(ctx, i, need)
            have = self._buffers[i].count
            if have < need:  # input i ended: keep the draws it can still serve
                cut = min(cut, int(np.nonzero(choices == i)[0][have]))
        choices = choices[:cut]
        if len(choices):
            pieces = []
            for i in live:
                k = int(np.count_nonzero(choices == i))
                if k:
                    pieces.append(self._buffers[i].take(k))
            if self._rows:
                joined = st.concat(pieces)
                order = np.argsort(choices, kind="stable")
                inverse = np.empty_like(order)
                inverse[order] = np.arange(len(order))
                data = st.select(joined, inverse)
            else:
                data = pieces[0][0]
        for i in live:
            buffer = self._buffers[i]
            if buffer.ended and buffer.count == 0:
                self._live[i] = False
                if self.stop_on_empty:
                    self._live = [False] * self.inputs
        if len(choices):
            resume = [b.resume() for b in self._buffers]
            state = {
                "rng": self._rng.bit_generator.state,
                "skip": [r[1] for r in resume],
                "live": list(self._live),
            }
            out.emit(data, state, [r[0] for r in resume])
