"""Stages that run a whole pipeline inside them: ``repeat`` (anywhere in a chain) and
``cache``.

``p.repeat(n)`` after a stage runs ``p`` afresh for each epoch — a new run with its own
threads, and a seed derived from the epoch, so every shuffle reshuffles (tf.data's
``reshuffle_each_iteration``). Right after a source, ``repeat`` only sets the source's
epoch count, which costs nothing.

``p.cache()`` keeps the units of the first complete pass over ``p`` in memory, or in a
file with ``cache(path)``, and serves later passes — later iterators, later epochs of a
``repeat`` after it — from there without running ``p``. A pass that stops early
(``break``, an error) caches nothing, as in tf.data. A file cache is written to
``path + ".partial"`` and renamed when complete, so it is either whole or absent.

The pass a cache holds is made with the outermost run's seed, whichever epoch of a
``repeat`` around it makes it; a state saved while a cache served is resumed exactly
also where the cache is gone (a memory cache in a new process, a deleted file): the
cache is filled again from that seed first.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from conveyor.core.errors import CancelledError, DataLossError, InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import INFINITE, EndOfStream, Output, Stage, StageContext

__all__ = ["RepeatStage", "CacheStage"]


class _NestingStage(Stage):
    """A stage that runs a pipeline inside it, on its one thread, and stops that run
    when the outer run closes — from the closing thread, also while the stage waits in
    the inner run's ``next`` (which then raises ``CancelledError``: a cut-off pass is
    neither a finished epoch nor a complete cache)."""

    inputs = 0
    inner: Any  # the pipeline it runs

    def _begin(self) -> None:
        self._it: Any = None
        self._closed = False
        self._lock = threading.Lock()

    def _open(
        self, ctx: StageContext, inner: Any, seed: int, mark: Any, root: int | None = None
    ) -> None:
        with self._lock:  # never a new inner run once the outer one is closing
            if self._closed:
                raise CancelledError(f"{self.name}: the run is closing")
            self._it = inner._units(
                seed, ctx.deterministic, mark, ctx.root_seed if root is None else root
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            it = self._it
        if it is not None:
            it.close()


class RepeatStage(_NestingStage):
    """Runs ``inner`` ``count`` times (``None``: forever)."""

    inputs = 0
    name = "repeat"

    def __init__(self, inner: Any, count: int | None) -> None:
        self.inner = inner
        self.count = count

    def output_level(self, levels: list[Any]) -> Any:
        return self.inner._level

    def describe(self) -> str:
        return f"repeat({self.count}) of [{' | '.join(self.inner._fingerprint())}]"

    def cardinality(self, counts: list[int]) -> int:
        n = self.inner.cardinality()
        if self.count is None:
            return 0 if n == 0 else INFINITE
        return n * self.count if n >= 0 else n

    def start(self, ctx: StageContext, state: Any) -> None:
        self._begin()
        self._ctx = ctx
        self._epoch = 0 if state is None else int(state["epoch"])
        self._inner_state = None if state is None else state["inner"]

    def produce(self, ctx: StageContext, out: Output) -> None:
        while True:
            if self._it is None:
                if self.count is not None and self._epoch >= self.count:
                    raise EndOfStream
                seed = int(ctx.seed_sequence(None, self._epoch).generate_state(1)[0])
                self._open(ctx, self.inner, seed, self._inner_state)
                self._inner_state = None
            try:
                data, mark = next(self._it)
            except StopIteration:
                self._it = None
                self._epoch += 1
                continue
            out.emit(data, {"epoch": self._epoch, "inner": mark}, [])
            return


class _Store:
    """What a cache holds: the units of one complete pass, once there is one."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.units: list[Any] | None = None
        self.seed: int | None = None  # of the run that filled it (None: read from a file)
        # the seed a resumed run is to fill it with (see caches_of): the one that filled
        # it where the state was saved
        self.hint: int | None = None

    def load(self) -> list[Any] | None:
        with self.lock:
            if self.units is None and self.path is not None and os.path.exists(self.path):
                self.units, self.seed = _read_file(self.path)
            return self.units

    def commit(self, units: list[Any], seed: int | None) -> None:
        with self.lock:
            if self.units is not None:
                return
            self.seed = seed
            if self.path is not None:
                partial = f"{self.path}.partial.{os.getpid()}.{threading.get_ident()}"
                with open(partial, "wb") as f:
                    pickle.dump(_Header(seed), f, protocol=pickle.HIGHEST_PROTOCOL)
                    for unit in units:
                        pickle.dump(unit, f, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(partial, self.path)
            self.units = units


class _Header:
    """A cache file's first record: the seed of the run that made it."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed


def _read_file(path: str) -> tuple[list[Any], int | None]:
    """A cache file's units and the seed that made them (None in a file without it)."""
    units = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while f.tell() < size:
            try:
                units.append(pickle.load(f))
            except Exception as e:
                raise DataLossError(f"{path}: damaged cache file at byte {f.tell()} ({e!r})") from e
    if units and isinstance(units[0], _Header):
        return units[1:], units[0].seed
    return units, None


class CacheStage(_NestingStage):
    """Serves ``inner``'s units from a cache filled by its first complete pass."""

    inputs = 0
    name = "cache"

    def __init__(self, inner: Any, path: str | os.PathLike[str] | None) -> None:
        self.inner = inner
        self.store = _Store(None if path is None else os.fspath(path))

    def output_level(self, levels: list[Any]) -> Any:
        return self.inner._level

    def describe(self) -> str:
        where = "memory" if self.store.path is None else self.store.path
        return f"cache({where}) of [{' | '.join(self.inner._fingerprint())}]"

    def cardinality(self, counts: list[int]) -> int:
        return int(self.inner.cardinality())

    def start(self, ctx: StageContext, state: Any) -> None:
        self._begin()
        self._units = self.store.load()
        self._pos = 0
        self._inner_state = None
        self._fill: list[Any] | None = []
        self._refill: int | None = None
        # The pass cached is the same whichever epoch of a repeat around the cache makes
        # it (after a resume, a later one): its seed is the outermost run's — or, in a
        # run resumed from a state saved while the cache served, the one that filled it.
        with self.store.lock:
            hint, self.store.hint = self.store.hint, None
        self._seed = ctx.root_seed if hint is None or self._units is not None else hint
        if state is not None:
            if "pos" in state:
                self._pos = int(state["pos"])
                if self._units is None:
                    # Saved while serving a complete cache this process has not got (a
                    # memory cache, in a new pipeline object): fill it again from the
                    # seed that filled it, then go on from the position.
                    if self.inner.cardinality() == INFINITE:
                        raise InvalidArgumentError(
                            "this state was saved while a cache served, but the pipeline "
                            "it caches is endless: it cannot be filled again here"
                        )
                    self._refill = self._seed
            else:  # resumed halfway through filling: this pass cannot complete the cache
                self._inner_state = state.get("fill")
                self._fill = None
        if self._units is not None and state is not None and "pos" not in state:
            self._units = None  # resume the filling pass as it was

    def produce(self, ctx: StageContext, out: Output) -> None:
        if self._refill is not None:
            # the pass as it was made: its run's seed was also the root of any run in it
            self._open(ctx, self.inner, self._refill, None, root=self._refill)
            self.store.commit([data for data, _ in self._it], self._refill)
            self._units, self._refill = self.store.units, None
        if self._units is not None:
            if self._pos >= len(self._units):
                raise EndOfStream
            data = self._units[self._pos]
            self._pos += 1
            out.emit(st.readonly(data), {"pos": self._pos}, [])
            return
        if self._it is None:
            self._open(ctx, self.inner, self._seed, self._inner_state)
        try:
            data, mark = next(self._it)
        except StopIteration:
            if self._fill is not None:
                self.store.commit(self._fill, self._seed)
            raise EndOfStream from None
        if self._fill is not None:
            self._fill.append(data)
        out.emit(data, {"fill": mark}, [])


def caches_of(pipe: Any) -> list[CacheStage]:
    """Every ``cache()`` in ``pipe``, nested ones too, in one fixed order (depth first):
    a state lists the seeds that filled them in this order, so that a run resumed where
    a cache is gone fills it as it was (:class:`~conveyor.pipeline.iterator.PipelineIterator`)."""
    found: list[CacheStage] = []
    stack = [pipe]
    while stack:
        p = stack.pop()
        stage = p._stage
        if isinstance(stage, CacheStage):
            found.append(stage)
        if isinstance(stage, _NestingStage):
            stack.append(stage.inner)
        stack.extend(reversed(p._parents))
    return found
