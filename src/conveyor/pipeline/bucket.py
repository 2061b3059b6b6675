"""``bucket_by_sequence_length``: batches of elements of similar size, tf.data's bucketing.

Each element goes to the bucket its length (``element_length_func(element)``, any
number: a sequence's length, an image's height or aspect ratio) falls in: bucket ``i``
holds lengths in ``[bucket_boundaries[i - 1], bucket_boundaries[i])``, the first from
minus infinity, the last to infinity. A bucket that holds ``bucket_batch_sizes[i]``
elements goes out as one batch, padded and counted as :meth:`Pipeline.batch` pads and
counts (``pad``, ``lengths``). At the end of input the partly filled buckets go out in
bucket order, unless ``drop_remainder`` (an upstream failure flushes them anyway, as
``batch`` does). One thread, so the batches are a function of the input order.

It is a :class:`~conveyor.pipeline.stage.Stage`, added with ``pipe.apply(...)`` as
tf.data's transformation is::

    >>> import numpy as np
    >>> import conveyor.pipeline as cp
    >>> pipe = cp.range(10).apply(cp.bucket_by_sequence_length(
    ...     lambda x: x % 3, bucket_boundaries=[1], bucket_batch_sizes=[2, 3]))
    >>> [b.tolist() for b in pipe]
    [[0, 3], [1, 2, 4], [5, 7, 8], [6, 9]]

Resuming holds no data: the state is where the oldest element still waiting in a
bucket came from (its input's mark before that unit and the row in it) and which of the
elements read since have gone out already, as runs of positions. A resume re-reads from
that element and skips those; the runs are at most one per element waiting.
"""

from __future__ import annotations

import bisect
import itertools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.core.errors import InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.batch import check_lengths, make_batch
from conveyor.pipeline.stage import FILES, Output, Stage, StageContext, Unit, check_int

__all__ = ["BucketStage", "bucket_by_sequence_length"]


def bucket_by_sequence_length(
    element_length_func: Callable[..., Any],
    bucket_boundaries: Sequence[float],
    bucket_batch_sizes: Sequence[int],
    pad: Any = False,
    lengths: dict[str, str] | None = None,
    drop_remainder: bool = False,
) -> BucketStage:
    """The bucketing stage, for :meth:`Pipeline.apply` (tf.data's
    ``bucket_by_sequence_length``).

    Args:
        element_length_func: ``element -> number`` (a tuple's parts as arguments).
        bucket_boundaries: strictly increasing numbers, ``B`` of them.
        bucket_batch_sizes: ``B + 1`` positive batch sizes, one per bucket.
        pad: as :meth:`Pipeline.batch`'s (``{"image": 0, "boxes": 0, "labels": -1}``).
        lengths: as :meth:`Pipeline.batch`'s (``{"num_boxes": "boxes"}``).
        drop_remainder: drop the partly filled buckets at the end of input.

    Raises:
        InvalidArgumentError: boundaries not increasing, or batch sizes not one more
            than the boundaries, or not positive ints.
    """
    return BucketStage(
        element_length_func, bucket_boundaries, bucket_batch_sizes, pad, lengths, drop_remainder
    )


def _runs(values: list[int]) -> list[list[int]]:
    """Sorted ints as ``[start, stop)`` runs."""
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][1] == v:
            runs[-1][1] = v + 1
        else:
            runs.append([v, v + 1])
    return runs


class BucketStage(Stage):
    """Batches each bucket of similar-length elements separately."""

    name = "bucket_by_sequence_length"

    def __init__(
        self,
        element_length_func: Callable[..., Any],
        bucket_boundaries: Sequence[float],
        bucket_batch_sizes: Sequence[int],
        pad: Any = False,
        lengths: dict[str, str] | None = None,
        drop_remainder: bool = False,
    ) -> None:
        if not callable(element_length_func):
            raise InvalidArgumentError(
                f"element_length_func must be callable, got {element_length_func!r}"
            )
        bounds = list(bucket_boundaries)
        if not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in bounds) or any(
            a >= b for a, b in itertools.pairwise(bounds)
        ):
            raise InvalidArgumentError(
                f"bucket_boundaries must be strictly increasing numbers, got {bucket_boundaries!r}"
            )
        sizes = [check_int("bucket_batch_sizes", s, minimum=1) for s in bucket_batch_sizes]
        if len(sizes) != len(bounds) + 1:
            raise InvalidArgumentError(
                f"bucket_batch_sizes must have len(bucket_boundaries) + 1 = {len(bounds) + 1} "
                f"sizes, got {len(sizes)}"
            )
        self.fn = element_length_func
        self.boundaries = bounds
        self.batch_sizes = sizes
        self.pad = st.check_pad(pad)
        self.lengths = check_lengths(lengths)
        self.drop_remainder = bool(drop_remainder)

    def describe(self) -> str:
        fn = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return (
            f"bucket_by_sequence_length({fn}, {self.boundaries}, {self.batch_sizes}, "
            f"pad={self.pad!r}, lengths={self.lengths!r}, drop_remainder={self.drop_remainder})"
        )

    def output_level(self, levels: list[Any]) -> Any:
        (level,) = levels
        if level == FILES:
            raise InvalidArgumentError(f"{self.name} cannot follow files(): read() the files first")
        return level + 1

    # -- running ---------------------------------------------------------------------
    def start(self, ctx: StageContext, state: Any) -> None:
        self._ctx = ctx
        self._rows = ctx.levels[0] == 0
        self._buckets: list[list[tuple[int, Any]]] = [[] for _ in self.batch_sizes]
        self._origin: dict[int, tuple[Any, int]] = {}  # waiting ordinal -> (mark, row)
        self._next = 0  # ordinal of the next element read (0: the resume point's)
        self._last = ctx.input_marks[0]
        self._skip = 0 if state is None else int(state["skip"])
        self._drop: set[int] = set()
        if state is not None:
            for a, b in state["done"]:
                self._drop.update(range(int(a), int(b)))

    def process(self, unit: Unit, out: Output) -> None:
        elements = st.rows(unit.data) if self._rows else [unit.data]
        first, self._skip = (self._skip, 0) if self._rows else (0, 0)
        for row in range(first, len(elements)):
            ordinal = self._next
            self._next += 1
            if ordinal in self._drop:
                self._drop.discard(ordinal)
                continue
            element = elements[row]
            length = st.call(self.fn, element)
            b = bisect.bisect_right(self.boundaries, length)
            self._buckets[b].append((ordinal, element))
            self._origin[ordinal] = (unit.before, row)
            if len(self._buckets[b]) == self.batch_sizes[b]:
                after = (unit.before, row + 1) if self._rows else (unit.mark, 0)
                self._emit(out, b, after)
        self._last = unit.mark

    def finish(self, out: Output) -> None:
        if self.drop_remainder and not self._ctx.failed:
            return
        for b, bucket in enumerate(self._buckets):
            if bucket:
                self._emit(out, b, (self._last, 0))

    def _emit(self, out: Output, b: int, after: tuple[Any, int]) -> None:
        taken = self._buckets[b]
        self._buckets[b] = []
        for ordinal, _ in taken:
            del self._origin[ordinal]
        try:
            batch = make_batch([e for _, e in taken], False, self.pad, self.lengths)
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"{self.name}: {e}") from None
        # Resume from the oldest element still waiting (or the next one to read).
        seen = self._next  # ordinals < seen have been read
        if self._origin:
            base = min(self._origin)
            mark, row = self._origin[base]
        else:
            base = seen
            mark, row = after
        done: list[list[int]] = []  # the runs between the waiting elements
        start = base
        for waiting in sorted(self._origin):
            if waiting > start:
                done.append([start - base, waiting - base])
            start = waiting + 1
        if seen > start:
            done.append([start - base, seen - base])
        done.extend(_runs(sorted(d - base for d in self._drop if d >= seen)))
        state = {"skip": row, "done": done}
        out.emit(st.writable(batch), state, [mark])
