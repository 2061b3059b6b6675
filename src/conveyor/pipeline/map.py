"""``map``, ``filter`` and ``flat_map``: apply a function to every element, on one or
more threads or worker processes.

Before the first batch, units are chunks: a ``batched=True`` function receives the whole
chunk (each leaf with a leading row axis) and returns one; otherwise the function is
called once per row and the results are stacked again. After a batch, the function gets
each batch. NumPy releases the GIL in most array work, so threads help vectorised
functions; functions that hold the GIL gain little from threads and should run in worker
processes (``workers="process"``).

``rng=True`` passes the function a :class:`numpy.random.Generator` as a last argument,
seeded from the pipeline's seed, the stage and the unit's number: the same seed gives
the same numbers whatever the thread count or worker kind, and again after a resume.

A failure in the middle of a chunk delivers the rows before it, then the error (with a
note naming the stage and, for records from ``read``, the record's key).
``on_error="skip"`` drops failing elements instead (a chunk, for ``batched=True``) and
counts them in the stage's ``skipped`` figure — tf.data's ``ignore_errors``.

Deterministic mode releases results in input order whatever thread finished first.
"""

from __future__ import annotations

import functools
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from conveyor.core.errors import CancelledError, InvalidArgumentError
from conveyor.core.seeds import GeneratorSeed
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import Output, Stage, StageContext, Unit, check_int

__all__ = ["MapStage", "FilterStage", "FlatMapStage"]


def fn_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name)


def _fn_id(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or type(fn).__module__
    return f"{module}.{getattr(fn, '__qualname__', fn_name(fn))}"


def _key_note(row: Any) -> str | None:
    """For an element from ``read`` — ``(key, value)`` — the note naming its record."""
    if type(row) is tuple and row and isinstance(row[0], bytes):
        return f"(element with key {row[0]!r})"
    return None


def apply_map(
    fn: Callable[..., Any],
    batched: bool,
    skip_errors: bool,
    data: Any,
    how: tuple[Any, Any, bool],
) -> tuple[Any, int, int]:
    """``fn`` applied to one unit, in this process or a worker's.

    ``how`` is ``(level, the generator's GeneratorSeed or None, remote)``. Returns ``((output, error,
    skipped), elements in, elements out)``: ``output`` holds every row done before a
    failure (``None`` when there is none), ``error`` the failure (pickled with its
    traceback's text when ``remote``), ``skipped`` the elements dropped by
    ``skip_errors``.
    """
    level, seed, remote = how
    rng = None if seed is None else seed.generator()
    error: BaseException | None = None
    skipped = 0
    out: Any = None
    n = 1
    if level != 0 or batched:
        n = st.chunk_len(data) if level == 0 else 1
        try:
            out = st.call(fn, data) if rng is None else st.call(fn, data, rng)
            if level == 0:
                out = st.normalize_chunk(out)
        except Exception as e:
            if not skip_errors:
                error = e
            skipped = n
            out = None
        except BaseException as e:
            error = e
    else:
        rows = st.rows(data)
        n = len(rows)
        results = []
        for row in rows:
            try:
                results.append(st.call(fn, row) if rng is None else st.call(fn, row, rng))
            except Exception as e:
                if skip_errors:
                    skipped += 1
                    continue
                note = _key_note(row)
                if note:
                    e.add_note(note)
                error = e
                break
            except BaseException as e:
                error = e
                break
        out = st.stack(results, what="chunk") if results else None
    n_out = 0 if out is None else (st.chunk_len(out) if level == 0 else 1)
    if error is not None and remote:
        return (out, _portable(error), skipped), n, n_out
    return (out, error, skipped), n, n_out


def _portable(error: BaseException) -> tuple[Any, str, str, str, int]:
    text = "".join(traceback.format_exception(error))
    blob: bytes | None = None
    try:
        sent = pickle.dumps(error)
        pickle.loads(sent)
        blob = sent
    except Exception:
        pass
    return (blob, type(error).__qualname__, str(error), text, os.getpid())


class MapStage(Stage):
    """``map(fn)``: replace every element by ``fn(element)``.

    With ``workers="process"``, ``fn`` runs in ``processes`` worker processes (default
    2; see :mod:`conveyor.pipeline.workers`) started when a run starts and stopped when
    it stops. Each of the stage's threads keeps one unit in flight, so the stage runs
    ``max(threads, processes)`` threads: every process has work, and extra threads
    queue units for the next free process.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        batched: bool = False,
        threads: int = 1,
        workers: str = "thread",
        processes: int | None = None,
        rng: bool = False,
        on_error: str = "raise",
    ) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"map needs a function, got {fn!r}")
        self.fn = fn
        self.batched = bool(batched)
        self.threads = check_int("threads", threads, minimum=1)
        if workers not in ("thread", "process"):
            raise InvalidArgumentError(f'workers must be "thread" or "process", got {workers!r}')
        if workers == "thread" and processes is not None:
            raise InvalidArgumentError('processes= needs workers="process"')
        if on_error not in ("raise", "skip"):
            raise InvalidArgumentError(f'on_error must be "raise" or "skip", got {on_error!r}')
        if workers == "process":
            processes = check_int("processes", 2 if processes is None else processes, minimum=1)
            self.threads = max(self.threads, processes)
        self.workers = workers
        self.processes: int = processes or 0
        self.rng = bool(rng)
        self.skip_errors = on_error == "skip"
        self.name = f"map({fn_name(fn)})"

    def describe(self) -> str:
        return (
            f"map({_fn_id(self.fn)}, batched={self.batched}, rng={self.rng}, "
            f"skip_errors={self.skip_errors})"
        )

    def cardinality(self, counts: list[int]) -> int:
        return -2 if self.skip_errors else counts[0]

    def start(self, ctx: StageContext, state: Any) -> None:
        self._ctx = ctx
        self._level = ctx.levels[0]
        self._pool = None
        if self.workers == "process":
            from conveyor.pipeline.workers import ProcessPool

            function = functools.partial(apply_map, self.fn, self.batched, self.skip_errors)
            self._pool = ProcessPool(function, self.processes, self.name)
            self._pool.attach(ctx)

    def _seed(self, unit: Unit) -> GeneratorSeed | None:
        if not self.rng:
            return None
        # what seed_sequence(None, unit.seq) is, without building it twice
        return GeneratorSeed.of_words(self._ctx.seed_words(), (self._ctx.index, unit.seq))

    def process(self, unit: Unit, out: Output) -> None:
        how = (self._level, self._seed(unit), self._pool is not None)
        if self._pool is not None:
            (result, error, skipped), _, _ = self._pool.call(unit.data, how)
            if error is not None:
                error = self._rebuild(*error)
        else:
            (result, error, skipped), _, _ = apply_map(
                self.fn, self.batched, self.skip_errors, unit.data, how
            )
        if skipped:
            self._ctx.add_skipped(skipped)
        if result is not None:
            out.emit(result)
        if error is not None:
            raise error

    def _rebuild(
        self, blob: bytes | None, type_name: str, message: str, text: str, pid: int
    ) -> Exception:
        from conveyor.core.errors import UnknownError
        from conveyor.pipeline.workers import RemoteTraceback

        error = pickle.loads(blob) if blob is not None else None
        if not isinstance(error, BaseException):
            error = UnknownError(f"{self.name}: {type_name}: {message}")
        error.__cause__ = RemoteTraceback(text)
        error.add_note(f"raised in {self.name}, worker process {pid}")
        return error  # type: ignore[return-value]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


class FilterStage(Stage):
    """``filter(predicate)``: keep the elements for which the predicate is true."""

    def __init__(self, fn: Callable[..., Any], batched: bool, threads: int) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"filter needs a function, got {fn!r}")
        self.fn = fn
        self.batched = bool(batched)
        self.threads = check_int("threads", threads, minimum=1)
        self.name = f"filter({fn_name(fn)})"

    def describe(self) -> str:
        return f"filter({_fn_id(self.fn)}, batched={self.batched})"

    def start(self, ctx: StageContext, state: Any) -> None:
        self._level = ctx.levels[0]

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        if self._level != 0:
            if st.call(self.fn, data):
                out.emit(data)
            return
        n = st.chunk_len(data)
        if self.batched:
            keep = np.asarray(st.call(self.fn, data), dtype=bool)
            if keep.shape != (n,):
                raise InvalidArgumentError(
                    f"{self.name}: a batched predicate must return {n} booleans, "
                    f"got shape {keep.shape}"
                )
        else:
            keep = np.zeros(n, bool)
            for i, row in enumerate(st.rows(data)):
                try:
                    keep[i] = bool(st.call(self.fn, row))
                except Exception as e:
                    note = _key_note(row)
                    if note:
                        e.add_note(note)
                    if keep[:i].any():
                        out.emit(st.select(data, keep[:i].nonzero()[0]))
                    raise
        if keep.any():
            out.emit(st.select(data, keep))


class FlatMapStage(Stage):
    """``flat_map(fn)``: each element becomes the elements of ``fn(element)`` (an
    iterable, or a :class:`~conveyor.pipeline.Pipeline` that is run to its end)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"flat_map needs a function, got {fn!r}")
        self.fn = fn
        self.name = f"flat_map({fn_name(fn)})"

    def describe(self) -> str:
        return f"flat_map({_fn_id(self.fn)})"

    def start(self, ctx: StageContext, state: Any) -> None:
        self._level = ctx.levels[0]

    def process(self, unit: Unit, out: Output) -> None:
        items = st.rows(unit.data) if self._level == 0 else [unit.data]
        produced: list[Any] = []
        for item in items:
            try:
                result = st.call(self.fn, item)
                if hasattr(result, "_node_iter"):
                    with result._node_iter() as inner:
                        produced.extend(inner)
                else:
                    try:
                        produced.extend(result)
                    except CancelledError as e:  # from the user's iterable: see st.call
                        raise st.function_error(self.fn, e) from e
            except Exception:
                if produced:
                    self._send(out, produced)
                raise
        if produced:
            self._send(out, produced)

    def _send(self, out: Output, produced: list[Any]) -> None:
        if self._level == 0:
            out.emit(st.stack(produced, what="chunk"))
        else:
            # After a batch each element travels alone: resume skips the ones consumed.
            for i, element in enumerate(produced):
                out.emit_piece(element, last=i == len(produced) - 1)
