"""``batch`` and ``unbatch``: group elements into batches of a fixed size, and back.

``batch(n)`` re-cuts the stream of chunks into batches of exactly ``n`` elements (the
last one smaller unless ``drop_remainder``); each batch is one element of the stream
from then on. Components whose elements differ in shape are padded to the largest —
with zeros for ``pad=True`` (TensorFlow's ``dynamic_pad``), with ``v`` for ``pad=v`` —
and refused otherwise, naming the stage. One thread cuts, so batches keep the order of
their input. For dict elements ``pad`` may name components (``pad={"boxes": 0,
"labels": -1}``: tf.data's ``padding_values``), and ``lengths={"num_boxes": "boxes"}``
adds each element's length along the first axis of a component, before padding, as an
``int64`` vector. When the input fails, the elements gathered so far go out as a short
batch before the error, even with ``drop_remainder``: nothing valid is lost.

Resuming needs no data in the state: a batch stage's state is where its oldest pending
row came from (its input's mark before that unit, and how many of its rows were used),
so a resume re-reads at most one batch's worth of input.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from conveyor.core.errors import InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import (
    FILES,
    INFINITE,
    UNKNOWN,
    Output,
    Stage,
    StageContext,
    Unit,
    check_int,
)

__all__ = ["BatchStage", "UnbatchStage", "RowBuffer", "check_lengths", "make_batch"]


class RowBuffer:
    """Rows waiting to be cut, with where each came from, for a stage that re-cuts its
    input (``batch``, ``zip``, ``mix``).

    ``rows=True``: units are chunks of rows; else each unit is one element.
    """

    def __init__(self, rows: bool, mark: Any, skip: int = 0) -> None:
        self.rows = rows
        self.parts: deque[list[Any]] = deque()  # [data, before-mark, rows already used]
        self.count = 0
        self.last = mark  # the input's mark after the last unit added
        self.skip = skip  # rows of the next unit to drop (a resume inside a unit)
        self.ended = False

    def add(self, unit: Unit) -> None:
        data = unit.data
        self.last = unit.mark
        used = 0
        if self.skip:
            used = self.skip
            self.skip = 0
            if self.rows:
                data = st.select(data, slice(used, None))
            else:  # pragma: no cover - whole elements are never split
                return
        k = st.chunk_len(data) if self.rows else 1
        if k:
            self.parts.append([data, unit.before, used])
            self.count += k

    def take(self, n: int) -> Any:
        """The next ``n`` rows (as a chunk) or elements (as a list)."""
        taken: list[Any] = []
        need = n
        while need:
            part = self.parts[0]
            data = part[0]
            k = st.chunk_len(data) if self.rows else 1
            if k <= need:
                taken.append(data)
                self.parts.popleft()
                need -= k
            else:
                taken.append(st.select(data, slice(0, need)))
                part[0] = st.select(data, slice(need, None))
                part[2] += need
                need = 0
        self.count -= n
        return st.concat(taken) if self.rows else taken

    def resume(self) -> tuple[Any, int]:
        """The input mark and rows to skip from which the pending rows come again."""
        if not self.parts:
            return self.last, 0
        _, before, used = self.parts[0]
        return before, used


def check_lengths(lengths: Any) -> dict[str, str] | None:
    """``lengths`` as a dict of output name -> component name, or ``None``."""
    if lengths is None:
        return None
    if not isinstance(lengths, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in lengths.items()
    ):
        raise InvalidArgumentError(
            f"lengths must be a dict of new key -> component key (strings), got {lengths!r}"
        )
    return dict(lengths)


def make_batch(taken: Any, rows: bool, pad: Any, lengths: dict[str, str] | None) -> Any:
    """One batch from a chunk of rows (``rows``) or a list of elements: components
    padded by ``pad``, and with ``lengths``, each named component's per-element length
    added under its new key (the elements must be dicts without that key)."""
    counts = st.lengths(taken, lengths, rows) if lengths else None
    batch = st.densify(taken, pad) if rows else st.stack(taken, pad=pad)
    if counts:
        clash = sorted(set(counts) & set(batch))
        if clash:
            raise InvalidArgumentError(f"lengths: the elements already have the keys {clash}")
        batch = {**batch, **counts}
    return batch


class BatchStage(Stage):
    """Cuts the stream into batches of ``batch_size`` elements."""

    def __init__(
        self,
        batch_size: int,
        drop_remainder: bool,
        pad: Any,
        lengths: dict[str, str] | None = None,
    ) -> None:
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.drop_remainder = bool(drop_remainder)
        # None: refuse ragged batches; a value to pad with; or a dict of them by key.
        self.pad = st.check_pad(pad)
        self.lengths = check_lengths(lengths)
        self.name = f"batch({batch_size})"

    def describe(self) -> str:
        text = f"batch({self.batch_size}, drop_remainder={self.drop_remainder}, pad={self.pad!r}"
        return text + (f", lengths={self.lengths!r})" if self.lengths else ")")

    def output_level(self, levels: list[Any]) -> Any:
        (level,) = levels
        if level == FILES:
            raise InvalidArgumentError("batch cannot follow files(): read() the files first")
        return level + 1

    def cardinality(self, counts: list[int]) -> int:
        (n,) = counts
        if n < 0:
            return n
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def start(self, ctx: StageContext, state: Any) -> None:
        self._rows = ctx.levels[0] == 0
        self._ctx = ctx
        self._buffer = RowBuffer(
            self._rows, ctx.input_marks[0], 0 if state is None else int(state["skip"])
        )

    def process(self, unit: Unit, out: Output) -> None:
        self._buffer.add(unit)
        while self._buffer.count >= self.batch_size:
            self._emit(out, self.batch_size)

    def finish(self, out: Output) -> None:
        buffer = self._buffer
        if buffer.count and (not self.drop_remainder or self._ctx.failed):
            self._emit(out, buffer.count)

    def _emit(self, out: Output, n: int) -> None:
        taken = self._buffer.take(n)
        try:
            batch = make_batch(taken, self._rows, self.pad, self.lengths)
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"{self.name}: {e}") from None
        before, skip = self._buffer.resume()
        # A batch owns its memory: a view of a read-only source chunk is copied, so a
        # consumer (or torch.from_numpy) may write into it without touching the source.
        out.emit(st.writable(batch), {"skip": skip}, [before])


class UnbatchStage(Stage):
    """Splits each batch back into its elements."""

    name = "unbatch"

    def output_level(self, levels: list[Any]) -> Any:
        (level,) = levels
        if level == FILES or level == 0:
            raise InvalidArgumentError("unbatch needs batches: use it after batch()")
        return level - 1

    def cardinality(self, counts: list[int]) -> int:
        return INFINITE if counts[0] == INFINITE else UNKNOWN

    def start(self, ctx: StageContext, state: Any) -> None:
        self._level = ctx.levels[0]

    def process(self, unit: Unit, out: Output) -> None:
        chunk = st.normalize_chunk(unit.data)
        if self._level == 1:
            out.emit(chunk)
            return
        rows = st.rows(chunk)
        for i, row in enumerate(rows):
            out.emit_piece(row, last=i == len(rows) - 1)
