"""A run of a pipeline: :class:`PipelineIterator`.

The iterator owns the run — its threads, queues and worker processes — from the moment
it is made until its data ends, :meth:`PipelineIterator.close`, the end of a ``with``
block, or garbage collection. It yields elements (or batches) and, at any point, can
say where it is:

``state_dict()`` is small: the seed, a fingerprint of the pipeline, and the *mark* of
the last unit delivered — each stage's own state (a source's epoch and position, a
reader's file offset, a batch's pending rows, a shuffle pool's latest snapshot) nested
with its inputs' marks. ``pipe.iterate(state)`` rebuilds every stage at its mark, so a
resume costs what the buffers hold, not the position: an index-shuffled source seeks
in O(1), a reader reopens its file at the offset, a shuffle pool re-reads its window.
Outside deterministic mode a multi-threaded stage may reorder units, and a resume is
then exact only up to the units that were in flight.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from conveyor.core.errors import CancelledError, InvalidArgumentError, OutOfRangeError
from conveyor.pipeline import _structure as st
from conveyor.pipeline._run import Failure, Run
from conveyor.pipeline.stats import PipelineStats

__all__ = ["PipelineIterator", "STATE_VERSION"]

STATE_VERSION = 2
_END = object()


def _cache_seeds(pipe: Any) -> list[int | None]:
    """The seed that filled each of ``pipe``'s caches (None: not filled), for a state."""
    from conveyor.pipeline.nested import caches_of

    return [c.store.seed if c.store.units is not None else None for c in caches_of(pipe)]


def _hint_caches(pipe: Any, state: dict[str, Any]) -> None:
    """Caches that were filled where ``state`` was saved and are empty here (a new
    process) will be filled with the seed that filled them there."""
    from conveyor.pipeline.nested import caches_of

    seeds = state.get("caches") or []
    for cache, seed in zip(caches_of(pipe), seeds):
        if isinstance(seed, int) and not isinstance(seed, bool) and cache.store.units is None:
            cache.store.hint = seed


def _plain(x: Any) -> Any:
    """A state with NumPy scalars and arrays turned into Python ints, floats and lists."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def check_state(state: Any, fingerprint: list[str]) -> dict[str, Any]:
    """Validate a saved state against this pipeline; raise naming what differs."""
    if not isinstance(state, dict):
        raise InvalidArgumentError(f"a pipeline state is a dict, got {type(state).__name__}")
    if state.get("version") != STATE_VERSION:
        raise InvalidArgumentError(
            f"not a pipeline state of version {STATE_VERSION}: version {state.get('version')!r}"
        )
    seed = state.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError(f"state 'seed' must be an int >= 0, got {seed!r}")
    skip = state.get("skip", 0)
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise InvalidArgumentError(f"state 'skip' must be an int >= 0, got {skip!r}")
    mark = state.get("mark")
    if mark is not None and not (isinstance(mark, dict) and {"s", "p", "n"} <= set(mark)):
        raise InvalidArgumentError(f"state 'mark' is not a pipeline mark: {mark!r:.100}")
    saved = state.get("fingerprint")
    if saved != fingerprint:
        if not isinstance(saved, list):
            raise InvalidArgumentError("state has no pipeline fingerprint")
        for i, (a, b) in enumerate(zip(saved, fingerprint)):
            if a != b:
                raise InvalidArgumentError(
                    f"this state was saved from a different pipeline: its stage {i} is "
                    f"{a!r}, this pipeline's is {b!r}"
                )
        raise InvalidArgumentError(
            f"this state was saved from a different pipeline: it has {len(saved)} stages, "
            f"this one {len(fingerprint)}"
        )
    return state


class PipelineIterator(Iterator[Any]):
    """One run of a :class:`~conveyor.pipeline.Pipeline`; see the module docstring.

    Thread-safety: one consumer thread at a time; :meth:`stats` and :meth:`state_dict`
    may be called from any thread.
    """

    def __init__(
        self,
        pipe: Any,
        state: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        deterministic: bool | None = None,
        mark: Any = None,
        root_seed: int | None = None,
    ) -> None:
        self._pipe = pipe
        self._root_seed = root_seed
        self._fingerprint = pipe._fingerprint()
        options = pipe._options
        self._deterministic = options.deterministic if deterministic is None else deterministic
        skip = 0
        if state is not None:
            check_state(state, self._fingerprint)
            seed, mark, skip = state["seed"], state.get("mark"), int(state.get("skip", 0))
            _hint_caches(pipe, state)
        if seed is None:
            seed = options.seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._seed = int(seed)
        self._rows = pipe._level == 0
        self._start(mark, skip)

    def _start(self, mark: Any, skip: int) -> None:
        self._run = run = Run(self._deterministic, self._seed, self._root_seed)
        self._channel = self._pipe._build(run, mark, [0]).channel
        self._mark = mark  # after the last unit fully delivered
        self._before = mark  # before the unit being delivered
        self._done = 0  # its rows delivered
        self._skip = skip
        self._rows_left: list[Any] = []
        self._finished = False
        self._finalizer = weakref.finalize(self, run.close)
        self._pipe._latest[:] = [run]
        run.start()

    # -- iteration ------------------------------------------------------------------
    def __iter__(self) -> PipelineIterator:
        return self

    def _next_unit(self) -> tuple[Any, Any]:
        """The next ``(data, mark)`` from the last stage; ``_END`` at the end."""
        run = self._run
        t0 = time.perf_counter()
        try:
            _, data, mark = self._channel.dequeue()
        except OutOfRangeError:
            data, mark = _END, None
        run.consumer_wait += time.perf_counter() - t0
        try:
            run.coord.raise_requested_exception()
        except BaseException:
            self.close()
            raise
        if isinstance(data, Failure):
            self.close()
            raise data.error
        return data, mark

    def __next__(self) -> Any:
        if self._rows_left:
            return self._deliver_row()
        if self._finished:
            raise StopIteration
        while True:
            data, mark = self._next_unit()
            if data is _END:
                self.close()
                raise StopIteration
            if not self._rows:
                self._mark = self._before = mark
                self._run.consumer_elements += 1
                return data
            rows = st.rows(data)
            if self._skip:
                k = min(self._skip, len(rows))
                self._skip -= k
                rows = rows[k:]
                self._done = k
            else:
                self._done = 0
            self._before, self._mark = self._mark, mark
            if rows:
                rows.reverse()
                self._rows_left = rows
                return self._deliver_row()

    def _deliver_row(self) -> Any:
        row = self._rows_left.pop()
        self._done += 1
        self._run.consumer_elements += 1
        return row

    def _raw(self) -> Iterator[tuple[Any, Any]]:
        """Whole units with their marks (for stages that nest a pipeline, and collect)."""
        while True:
            data, mark = self._next_unit()
            if data is _END:
                self.close()
                return
            if self._skip and self._rows:
                k = min(self._skip, st.chunk_len(data))
                self._skip -= k
                data = st.select(data, slice(k, None))
            self._mark = self._before = mark
            yield data, mark

    # -- the run ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop the run's threads and processes now; idempotent. Iteration then ends."""
        self._finished = True
        self._rows_left = []
        self._run.close()

    def __enter__(self) -> PipelineIterator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stats(self) -> PipelineStats:
        """Figures of this run (see :class:`~conveyor.pipeline.stats.PipelineStats`)."""
        return self._run.stats()

    def state_dict(self) -> dict[str, Any]:
        """Where this run is: small, plain Python (JSON-able), and enough for
        ``pipe.iterate(state)`` to yield exactly what this run would have yielded next
        (in deterministic mode; see the module docstring otherwise) — also in another
        process, where a ``cache()`` the run served from is empty: ``"caches"`` names the
        seed that filled each."""
        if self._rows_left:
            mark, skip = self._before, self._done
        else:
            mark, skip = self._mark, 0
        state = {
            "version": STATE_VERSION,
            "fingerprint": list(self._fingerprint),
            "seed": self._seed,
            "deterministic": self._deterministic,
            "mark": _plain(mark),
            "skip": skip,
        }
        caches = _cache_seeds(self._pipe)
        if caches:  # the seeds that filled its caches, for a resume where they are gone
            state["caches"] = caches
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restart this iterator at ``state`` (from :meth:`state_dict`).

        Raises:
            InvalidArgumentError: a state of another version, or of a different pipeline
                (naming the first stage that differs).
        """
        check_state(state, self._fingerprint)
        self.close()
        self._finalizer.detach()
        _hint_caches(self._pipe, state)
        self._seed = int(state["seed"])
        self._start(state.get("mark"), int(state.get("skip", 0)))

    def __repr__(self) -> str:
        return f"<PipelineIterator over {self._pipe!r}>"


class NestedRun:
    """A pipeline's run inside a stage (``repeat``, ``cache``): its ``(data, mark)``
    units, one ``next`` at a time on the stage's thread.

    :meth:`close` may be called from any thread, also while that thread waits in
    ``next``: it stops the inner run, and the waiting ``next`` ends. (A generator cannot
    be closed while it runs, so the stage's ``close``, called from the thread ending the
    outer run, could not stop an inner run held as one: its threads were left behind.)
    """

    def __init__(self, it: PipelineIterator) -> None:
        self._it = it
        self._units = it._raw()
        self._closed = False

    def __iter__(self) -> NestedRun:
        return self

    def __next__(self) -> tuple[Any, Any]:
        """The next unit; ``StopIteration`` when the inner run has ended.

        Raises:
            CancelledError: :meth:`close` stopped the run before its end.
        """
        try:
            return next(self._units)
        except StopIteration:
            if self._closed:
                raise CancelledError("the nested pipeline's run was stopped") from None
            raise

    def close(self) -> None:
        """Stop the inner run; idempotent."""
        self._closed = True
        self._it.close()
