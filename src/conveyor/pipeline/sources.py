"""Where a pipeline's data comes from: file lists, arrays in memory, fixed-length record
files, iterables, ranges.

Each source runs on one thread, so its order is fixed by its seed. *Random-access*
sources (arrays, ranges, file lists, fixed-length record files) shuffle by index: epoch
``e`` is the permutation drawn from ``(seed, e)``, a full and exact shuffle, and their
state is ``(epoch, position)`` — resuming costs one permutation, whatever the position.
Sharding at the source (``shard(index, count)``) takes rows (or files) ``index, index +
count, …`` of each epoch's order, so ranks that share a seed split every epoch exactly.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from conveyor.core.errors import (
    CancelledError,
    DataLossError,
    InvalidArgumentError,
    NotFoundError,
)
from conveyor.core.seeds import GeneratorSeed
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import (
    FILES,
    INFINITE,
    EndOfStream,
    Output,
    Stage,
    StageContext,
    check_int,
)

__all__ = [
    "ArraySource",
    "FilesSource",
    "FixedLengthRecordSource",
    "IterableSource",
    "RangeSource",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_epochs(epochs: Any) -> int | None:
    if epochs is None:
        return None
    return check_int("epochs", epochs, minimum=1)


def _clone(obj: Any, **changes: Any) -> Any:
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    clone.__dict__.update(changes)
    return clone


class _EpochSource(Stage):
    """A source that repeats an ordered collection of ``size`` rows, epoch by epoch."""

    inputs = 0
    size = 0
    level: Any = 0

    def __init__(
        self, shuffle: bool, seed: int | None, epochs: int | None, chunk_size: int
    ) -> None:
        if not isinstance(shuffle, bool | np.bool_):
            raise InvalidArgumentError(f"shuffle must be a bool, got {shuffle!r}")
        self.shuffle = bool(shuffle)
        self.seed = None if seed is None else check_int("seed", seed)
        self.epochs = check_epochs(epochs)
        self.chunk_size = check_int("chunk_size", chunk_size, minimum=1)
        self.shard: tuple[int, int] | None = None
        # (batch_size, drop_remainder) once a batch() right after the source is fused
        # into it: batches are then cut from the epoch order directly.
        self.batch: tuple[int, bool] | None = None
        # (fn, rng) once a map over those batches is fused in too (with_map)
        self.mapping: tuple[Callable[..., Any], bool | str] | None = None

    def with_batch(self, batch_size: int, drop_remainder: bool) -> _EpochSource:
        """This source emitting batches: ``batch(batch_size, drop_remainder)`` fused in.

        The batches are exactly those of a separate batch stage — cut from the stream of
        rows, across epoch boundaries — without its thread, hand-off and row buffer.
        """
        return _clone(
            self, batch=(batch_size, bool(drop_remainder)), name=f"{self.name}+batch({batch_size})"
        )

    def with_map(self, fn: Callable[..., Any], rng: bool | str, threads: int) -> _EpochSource:
        """This batching source applying ``fn`` to each batch on ``threads`` threads —
        ``map(fn, rng=rng, threads=threads)`` fused in, without the map stage's thread
        hand-off: each thread cuts the next batch from the epoch order (under a lock),
        maps it, and the batches come out in order in deterministic mode.

        ``fn`` gets a batch as ``map`` would (a tuple's parts as arguments), and with
        ``rng=True`` a ``numpy.random.Generator`` of its own seeded from the run's seed,
        this stage and the batch's place in the stream (its epoch and end position), so
        the same numbers whatever the thread count, and again after a resume. With
        ``rng="seed"`` it gets that generator's :class:`~conveyor.core.seeds.GeneratorSeed`
        instead, for a function that draws in compiled code (the fused image recipes):
        the same numbers, without the ~8 µs of Python that making a generator costs.
        """
        if self.batch is None:
            raise InvalidArgumentError("with_map needs a batching source (with_batch first)")
        if rng not in (True, False, "seed"):
            raise InvalidArgumentError(f'rng must be True, False or "seed", got {rng!r}')
        name = getattr(fn, "__name__", type(fn).__name__)
        return _clone(
            self,
            mapping=(fn, rng),
            threads=check_int("threads", threads, minimum=1),
            concurrent_produce=True,
            name=f"{self.name}+map({name})",
        )

    def with_epochs(self, epochs: int | None) -> _EpochSource:
        return _clone(self, epochs=check_epochs(epochs))

    def with_shard(self, index: int, count: int) -> _EpochSource:
        return _clone(self, shard=(index, count))

    def output_level(self, levels: list[Any]) -> Any:
        return self.level if self.batch is None else self.level + 1

    def rows_per_epoch(self) -> int:
        if self.shard is None:
            return self.size
        index, count = self.shard
        return len(range(index, self.size, count))

    def cardinality(self, counts: list[int]) -> int:
        if self.epochs is None:
            return INFINITE if self.rows_per_epoch() else 0
        rows = self.rows_per_epoch() * self.epochs
        if self.batch is None:
            return rows
        size, drop = self.batch
        return rows // size if drop else -(-rows // size)

    def describe(self) -> str:
        batch = "" if self.batch is None else f" batch={self.batch}"
        # rng=True and rng="seed" make one stream: one fingerprint, so states carry over
        mapped = "" if self.mapping is None else f" map(rng={bool(self.mapping[1])})"
        return (
            f"{self.name}(size={self.size}, shuffle={self.shuffle}, seed={self.seed}, "
            f"epochs={self.epochs}, chunk={self.chunk_size}, shard={self.shard}){batch}{mapped}"
        )

    def order(self, epoch: int) -> np.ndarray | range:
        """The row order of one epoch (after sharding).

        An unshuffled order is a ``range``, never materialised: a source of a billion
        rows costs nothing until its rows are read.
        """
        order: np.ndarray | range
        if self.shuffle:
            rng = np.random.default_rng(self._ctx.seed_sequence(self.seed, epoch))
            order = rng.permutation(self.size)
        else:
            order = range(self.size)
        if self.shard is not None:
            index, count = self.shard
            order = order[index::count]
        return order

    def start(self, ctx: StageContext, state: Any) -> None:
        self._ctx = ctx
        self._epoch = 0 if state is None else int(state["epoch"])
        self._pos = 0 if state is None else int(state["pos"])
        self._order: np.ndarray | range | None = None
        self._lock = threading.Lock()  # the position, when produce runs on several threads
        self._units = 0

    def produce(self, ctx: StageContext, out: Output) -> None:
        if self.mapping is not None:
            self._produce_mapped(out, *self.batch)  # type: ignore[misc]
            return
        if self.batch is not None:
            self._produce_batch(out, *self.batch)
            return
        if self._order is None or self._pos >= len(self._order):
            if self._order is not None:
                self.end_of_epoch()
                self._epoch += 1
                self._pos = 0
            if self.epochs is not None and self._epoch >= self.epochs:
                raise EndOfStream
            self._order = self.order(self._epoch)
            if len(self._order) == 0:
                if self.epochs is None:
                    raise EndOfStream  # forever over nothing is nothing
                return
            if self._pos >= len(self._order):
                return
        take = self._order[self._pos : self._pos + self.chunk_size]
        self._pos += len(take)
        # An unshuffled run of rows is a slice: the chunk is a view, not a copy.
        rows = slice(take.start, take.stop, take.step) if isinstance(take, range) else take
        out.emit(self.rows(rows), {"epoch": self._epoch, "pos": self._pos}, [])

    def _produce_batch(self, out: Output, size: int, drop_remainder: bool) -> None:
        """Emit the next batch of ``size`` rows of the stream of epochs."""
        parts: list[np.ndarray | range] = []
        try:
            need = self._take(parts, size)
        except BaseException:
            if parts:  # the rows before a failure are delivered, as a short batch
                self._emit_batch(out, parts)
            raise
        if not parts or (need and drop_remainder):
            raise EndOfStream
        self._emit_batch(out, parts)

    def _take(self, parts: list[np.ndarray | range], size: int) -> int:
        """Append to ``parts`` the pieces of the next ``size`` rows of the stream of
        epochs (fewer at its end); returns how many were missing."""
        need = size
        while need:
            if self._order is None or self._pos >= len(self._order):
                if self._order is not None:
                    self._order = None
                    self.end_of_epoch()
                    self._epoch += 1
                    self._pos = 0
                if self.epochs is not None and self._epoch >= self.epochs:
                    break
                order = self.order(self._epoch)
                if len(order) == 0:
                    if self.epochs is None:
                        break  # forever over nothing is nothing
                    self._order = order
                    continue
                self._order = order
                if self._pos >= len(order):
                    continue
            take = self._order[self._pos : self._pos + need]
            self._pos += len(take)
            need -= len(take)
            parts.append(take)
        return need

    def _produce_mapped(self, out: Output, size: int, drop_remainder: bool) -> None:
        """One thread's call: cut the next batch under the lock, map it outside."""
        parts: list[np.ndarray | range] = []
        failure: BaseException | None = None
        need = 0
        with self._lock:
            out.order(self._units)
            self._units += 1
            try:
                need = self._take(parts, size)
            except BaseException as e:
                failure = e
            state = {"epoch": self._epoch, "pos": self._pos}
        if parts and (failure is not None or not (need and drop_remainder)):
            fn, rng = self.mapping  # type: ignore[misc]
            batch = self.batch_rows(self._joined(parts))
            if rng:
                ctx = self._ctx
                seed = GeneratorSeed.of_words(
                    ctx.seed_words(), (ctx.index, state["epoch"], state["pos"])
                )
                result = st.call(fn, batch, seed if rng == "seed" else seed.generator())
            else:
                result = st.call(fn, batch)
            out.emit(result, state, [])
        if failure is not None:
            raise failure
        if not parts or (need and drop_remainder):
            raise EndOfStream

    @staticmethod
    def _joined(parts: list[np.ndarray | range]) -> np.ndarray | slice:
        """The rows of ``parts``: a slice for one run of consecutive rows, else indices
        (a batch within one epoch is a view of its order: :meth:`rows` copies)."""
        if len(parts) == 1:
            take = parts[0]
            if isinstance(take, range):
                return slice(take.start, take.stop, take.step)
            return take
        return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])

    def _emit_batch(self, out: Output, parts: list[np.ndarray | range]) -> None:
        rows = self._joined(parts)
        out.emit(self.batch_rows(rows), {"epoch": self._epoch, "pos": self._pos}, [])

    def batch_rows(self, rows: np.ndarray | slice) -> Any:
        """Rows ``rows`` as a batch, which owns its memory (a consumer may write to it)."""
        return st.writable(self.rows(rows))

    def end_of_epoch(self) -> None:
        """Called after the last chunk of each epoch."""

    def rows(self, rows: np.ndarray | slice) -> Any:
        """The unit holding rows ``rows`` (an index array, or a slice of consecutive rows)."""
        raise NotImplementedError


def _as_arrays(arrays: Any) -> Any:
    leaves, treedef = st.flatten(arrays)
    if not leaves:
        raise InvalidArgumentError("from_arrays needs at least one array")
    arrs = [np.asarray(a) for a in leaves]
    for i, a in enumerate(arrs):
        if a.ndim == 0:
            raise InvalidArgumentError(f"from_arrays: leaf {i} is a scalar; arrays need a row axis")
        if len(a) != len(arrs[0]):
            raise InvalidArgumentError(
                f"from_arrays: leaf {i} has {len(a)} rows, leaf 0 has {len(arrs[0])}"
            )
    return st.unflatten(treedef, arrs)


class ArraySource(_EpochSource):
    """Rows of in-memory arrays (a structure of arrays with one row count).

    Chunks are read-only: views of the arrays when unshuffled, so a function that
    writes into its input (``x *= 2``) fails instead of changing the source.
    """

    name = "from_arrays"

    def __init__(
        self, arrays: Any, shuffle: bool, seed: int | None, epochs: int | None, chunk_size: int
    ) -> None:
        super().__init__(shuffle, seed, epochs, chunk_size)
        self.arrays = _as_arrays(arrays)
        self.size = st.chunk_len(self.arrays)

    def describe(self) -> str:
        leaves, _ = st.flatten(self.arrays)
        shapes = [(str(a.dtype), a.shape) for a in leaves]
        return f"{super().describe()} {shapes}"

    def rows(self, rows: np.ndarray | slice) -> Any:
        return st.readonly(st.select(self.arrays, rows))

    def batch_rows(self, rows: np.ndarray | slice) -> Any:
        if isinstance(rows, slice):  # views of the caller's arrays: copied
            return super().batch_rows(rows)
        return st.select(self.arrays, rows)  # an index array selects into new arrays


class RangeSource(_EpochSource):
    """The integers ``start, start + step, …`` below ``stop``, as int64 rows."""

    name = "range"

    def __init__(
        self, start: int, stop: int, step: int, epochs: int | None, chunk_size: int
    ) -> None:
        super().__init__(False, None, epochs, chunk_size)
        start = check_int("start", start, minimum=_INT64_MIN, maximum=_INT64_MAX)
        stop = check_int("stop", stop, minimum=_INT64_MIN, maximum=_INT64_MAX)
        step = check_int("step", step, minimum=_INT64_MIN, maximum=_INT64_MAX)
        if step == 0:
            raise InvalidArgumentError("range step must not be 0")
        values = range(start, stop, step)
        if len(values) and not _INT64_MIN <= values[-1] <= _INT64_MAX:
            raise InvalidArgumentError(f"range values must fit in int64, got last {values[-1]}")
        self.first, self.stop, self.step_ = start, stop, step
        self.size = len(values)

    def describe(self) -> str:
        return f"{super().describe()} [{self.first}:{self.stop}:{self.step_}]"

    def rows(self, rows: np.ndarray | slice) -> Any:
        if isinstance(rows, slice):
            index = np.arange(rows.start, rows.stop, rows.step, dtype=np.int64)
        else:
            index = rows.astype(np.int64)
        return self.first + index * self.step_


def _match(patterns: Any, what: str) -> list[str]:
    from conveyor.io.files import match_files

    if isinstance(patterns, str | bytes | os.PathLike):
        patterns = [patterns]
    try:
        patterns = list(patterns)
    except TypeError:
        raise InvalidArgumentError(
            f"{what} needs file names or patterns, got {type(patterns).__name__}"
        ) from None
    if not patterns:
        raise InvalidArgumentError(f"{what} needs at least one file name or pattern")
    names: list[str] = []
    for p in patterns:
        found = match_files(p)
        if not found:
            raise NotFoundError(f"no files match {os.fsdecode(p)!r}")
        names.extend(found)
    return names


def _digest(names: list[str]) -> str:
    return hashlib.sha1("\0".join(names).encode("utf-8", "surrogateescape")).hexdigest()[:12]


class FilesSource(_EpochSource):
    """File names from patterns or a list, for a ``read`` stage."""

    name = "files"
    level = FILES

    def __init__(self, patterns: Any, shuffle: bool, seed: int | None, epochs: int | None) -> None:
        super().__init__(shuffle, seed, epochs, 1)
        self.names = _match(patterns, "files()")
        self.size = len(self.names)
        self.record_shard: tuple[int, int] | None = None

    def describe(self) -> str:
        return f"{super().describe()} files={self.size}:{_digest(self.names)}"

    def with_shard(self, index: int, count: int) -> FilesSource:
        if count <= self.size:
            return _clone(self, shard=(index, count))
        # Too few files: every rank reads every file and keeps its share of records.
        return _clone(self, record_shard=(index, count))

    def cardinality(self, counts: list[int]) -> int:
        return super().cardinality(counts)

    def rows(self, rows: np.ndarray | slice) -> Any:
        i = rows.start if isinstance(rows, slice) else int(rows[0])
        return self.names[i]


class FixedLengthRecordSource(_EpochSource):
    """The records of fixed-length record files, by index (TF's
    ``FixedLengthRecordDataset``): each element is one record, a ``(record_bytes,)``
    uint8 row. Records are gathered straight from memory-mapped files, so a shuffled
    epoch is an exact permutation of every record and costs no shuffle buffer.
    """

    name = "fixed_length_records"

    def __init__(
        self,
        patterns: Any,
        record_bytes: int,
        header_bytes: int,
        footer_bytes: int,
        shuffle: bool,
        seed: int | None,
        epochs: int | None,
        chunk_size: int,
    ) -> None:
        super().__init__(shuffle, seed, epochs, chunk_size)
        self.record_bytes = check_int("record_bytes", record_bytes, minimum=1)
        self.header_bytes = check_int("header_bytes", header_bytes)
        self.footer_bytes = check_int("footer_bytes", footer_bytes)
        self.names = _match(patterns, "fixed_length_records()")
        counts = []
        self.damaged: list[tuple[str, int]] = []
        for name in self.names:
            size = os.path.getsize(name) if os.path.exists(name) else _remote_size(name)
            body = max(0, size - self.header_bytes - self.footer_bytes)
            counts.append(body // self.record_bytes)
            if body % self.record_bytes:
                self.damaged.append((name, body % self.record_bytes))
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self.size = int(self.offsets[-1])

    def describe(self) -> str:
        return (
            f"{super().describe()} record_bytes={self.record_bytes} "
            f"files={len(self.names)}:{_digest(self.names)} records={self.size}"
        )

    def start(self, ctx: StageContext, state: Any) -> None:
        super().start(ctx, state)
        self._maps: list[np.ndarray | None] = [None] * len(self.names)

    def _records(self, f: int) -> np.ndarray:
        m = self._maps[f]
        if m is None:
            name, n = self.names[f], int(self.counts[f])
            if n == 0:
                m = np.empty((0, self.record_bytes), np.uint8)
            elif os.path.exists(name):
                m = np.memmap(
                    name, np.uint8, "r", offset=self.header_bytes, shape=(n, self.record_bytes)
                )
            else:
                from conveyor.io.files import open_input

                with open_input(name) as stream:
                    data = stream.read(self.header_bytes + n * self.record_bytes)
                body = data[self.header_bytes : self.header_bytes + n * self.record_bytes]
                m = np.frombuffer(body, np.uint8).reshape(n, self.record_bytes)
            self._maps[f] = m
        return m

    def rows(self, rows: np.ndarray | slice) -> Any:
        if isinstance(rows, slice):
            index = np.arange(rows.start, rows.stop, rows.step or 1, dtype=np.int64)
        else:
            index = np.asarray(rows, dtype=np.int64)
        files = np.searchsorted(self.offsets, index, side="right") - 1
        out = np.empty((len(index), self.record_bytes), np.uint8)
        first, last = int(files.min()), int(files.max())
        if first == last:
            local = index - self.offsets[first]
            recs = self._records(first)
            if isinstance(rows, slice):  # a run of rows, every ``step``-th when sharded
                out[:] = recs[int(local[0]) : int(local[-1]) + 1 : rows.step or 1]
            else:
                np.take(recs, local, axis=0, out=out)
            return out
        for f in np.unique(files):
            mask = files == f
            out[mask] = self._records(int(f))[index[mask] - self.offsets[f]]
        return out

    def end_of_epoch(self) -> None:
        if self.damaged:
            name, extra = self.damaged[0]
            raise DataLossError(
                f"{name}: {extra} bytes after the last whole record of "
                f"{self.record_bytes} bytes (every whole record was delivered)"
            )

    def close(self) -> None:
        self._maps = [None] * len(self.names)


def _remote_size(name: str) -> int:
    from conveyor.io.files import file_size

    return file_size(name)


class IterableSource(Stage):
    """Elements from a Python iterable (or a function returning a fresh iterator).

    Its state is the epoch and how many elements of it were taken: resuming re-iterates
    that epoch and skips them (an iterable has no index to seek to).
    """

    name = "from_iterable"
    inputs = 0

    def __init__(
        self,
        iterable: Iterable[Any] | Callable[[], Iterator[Any]],
        epochs: int | None,
        chunk_size: int,
    ) -> None:
        self.epochs = check_epochs(epochs)
        self.chunk_size = check_int("chunk_size", chunk_size, minimum=1)
        self.once = False
        if callable(iterable) and not isinstance(iterable, Iterable):
            self._make: Callable[[], Iterable[Any]] = iterable
        elif isinstance(iterable, Iterator):
            if self.epochs != 1:
                raise InvalidArgumentError(
                    "an iterator can be consumed once: pass a re-iterable (a list, a range) "
                    "or a function returning a fresh iterator for several epochs"
                )
            self.once = True
            used = {"done": False}

            def once() -> Iterable[Any]:
                if used["done"]:
                    raise InvalidArgumentError(
                        "this pipeline's iterator source was already consumed: pass a "
                        "re-iterable or a function returning a fresh iterator to run it again"
                    )
                used["done"] = True
                return iterable

            self._make = once
        elif isinstance(iterable, Iterable):
            self._make = lambda: iterable
        else:
            raise InvalidArgumentError(
                f"from_iterable needs an iterable, got {type(iterable).__name__}"
            )
        self._len = len(iterable) if hasattr(iterable, "__len__") else None  # type: ignore[arg-type]

    def with_epochs(self, epochs: int | None) -> IterableSource:
        if self.once and epochs != 1:
            raise InvalidArgumentError(
                "an iterator can be consumed once: pass a re-iterable for several epochs"
            )
        return _clone(self, epochs=check_epochs(epochs))

    def output_level(self, levels: list[Any]) -> Any:
        return 0

    def cardinality(self, counts: list[int]) -> int:
        if self.epochs is None:
            return INFINITE if self._len != 0 else 0
        return -2 if self._len is None else self._len * self.epochs

    def describe(self) -> str:
        return f"from_iterable(epochs={self.epochs}, chunk={self.chunk_size})"

    def start(self, ctx: StageContext, state: Any) -> None:
        self._epoch = 0 if state is None else int(state["epoch"])
        self._count = 0 if state is None else int(state["count"])
        self._skip = self._count
        self._it: Iterator[Any] | None = None

    def produce(self, ctx: StageContext, out: Output) -> None:
        batch: list[Any] = []
        try:
            while len(batch) < self.chunk_size:
                if self._it is None:
                    if self.epochs is not None and self._epoch >= self.epochs:
                        break
                    self._it = iter(self._make())
                    while self._skip:
                        next(self._it)
                        self._skip -= 1
                try:
                    batch.append(next(self._it))
                    self._count += 1
                except CancelledError as e:  # from the user's iterable: see st.call
                    raise st.function_error(self._make, e) from e
                except StopIteration:
                    self._it = None
                    self._epoch += 1
                    self._count = 0
                    if batch:
                        break  # a chunk never spans two epochs, so a state names one
        except BaseException:
            if batch:  # everything the iterable gave before failing is delivered
                self._send(out, batch)
            raise
        if not batch:
            raise EndOfStream
        self._send(out, batch)

    def _send(self, out: Output, batch: list[Any]) -> None:
        out.emit(st.stack(batch, what="chunk"), {"epoch": self._epoch, "count": self._count}, [])
