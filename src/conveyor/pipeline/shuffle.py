"""``shuffle``: a pool of elements drawn from uniformly at random, for streaming input.

The stage keeps at least ``min_after_dequeue`` elements in a pool (TensorFlow's
``shuffle_batch`` argument, tf.data's ``buffer_size``) and emits chunks drawn from it
uniformly at random without replacement; at the end of input — or before an upstream
error — it drains the pool. One thread both feeds and draws, in a fixed pattern (add a
unit, then draw while the pool holds at least ``min_after_dequeue`` plus a draw), so for
a given seed the order depends only on the input order, never on thread timing.

The pool grows as elements arrive (a bound, not an allocation). It stores each leaf as
a column; rows of another shape or kind (images of different sizes) turn that column
into one of objects, so ragged elements shuffle too.

Resuming: every so many draws the stage notes a *snapshot* — which input rows are in the
pool, in which order, and the generator's state — small integers, no data. A state
names the latest snapshot and the draws since; restoring re-reads the input from the
oldest unit still in that snapshot's pool, rebuilds it, and replays the draws since.
Random-access sources need none of this: shuffle them by index
(``from_arrays(..., shuffle=True)``, ``fixed_length_records(..., shuffle=True)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError
from conveyor.pipeline import _structure as st
from conveyor.pipeline.stage import FILES, Output, Stage, StageContext, Unit, check_int

__all__ = ["ShuffleStage"]


class _Pool:
    """Columns of rows in slots; ``live[:n]`` is the order draws index into."""

    def __init__(self) -> None:
        self.columns: list[np.ndarray] | None = None
        self.treedef: Any = None
        self.slots = 0
        self.live = np.empty(0, np.int64)
        self.unit = np.empty(0, np.int64)  # per slot: the input unit's number
        self.row = np.empty(0, np.int64)  # per slot: the row within it
        self.free = np.empty(0, np.int64)
        self.n_free = 0
        self.n = 0

    def _grow(self, need: int) -> None:
        size = max(64, self.slots)
        while size < need:
            size *= 2
        extra = size - self.slots
        assert self.columns is not None
        for i, col in enumerate(self.columns):
            grown = np.empty((size, *col.shape[1:]), col.dtype)
            grown[: self.slots] = col
            self.columns[i] = grown
        for name in ("live", "unit", "row"):
            arr = getattr(self, name)
            grown = np.empty(size, np.int64)
            grown[: self.slots] = arr
            setattr(self, name, grown)
        free = np.empty(size, np.int64)
        free[: self.n_free] = self.free[: self.n_free]
        free[self.n_free : self.n_free + extra] = np.arange(size - 1, self.slots - 1, -1)
        self.free = free
        self.n_free += extra
        self.slots = size

    def _fit(self, leaves: list[np.ndarray]) -> list[np.ndarray]:
        """Make columns and incoming leaves agree; ragged ones become object columns."""
        if self.columns is None:
            self.columns = [np.empty((0, *leaf.shape[1:]), leaf.dtype) for leaf in leaves]
            return leaves
        if len(leaves) != len(self.columns):
            raise InvalidArgumentError(
                f"shuffle: elements of different structures ({len(self.columns)} and "
                f"{len(leaves)} components)"
            )
        out = []
        for i, (col, leaf) in enumerate(zip(self.columns, leaves)):
            if col.dtype == object or leaf.dtype != col.dtype or leaf.shape[1:] != col.shape[1:]:
                if col.dtype != object:
                    obj = np.empty(len(col), object)
                    for j in range(self.slots):
                        obj[j] = col[j]
                    self.columns[i] = obj
                if leaf.dtype != object:
                    rows = np.empty(len(leaf), object)
                    for j in range(len(leaf)):
                        rows[j] = leaf[j]
                    leaf = rows
            out.append(leaf)
        return out

    def add(self, data: Any, unit: int, rows: np.ndarray | None = None, at: Any = None) -> None:
        """Add the chunk's rows ``rows`` (all when ``None``) at live positions ``at``
        (appended when ``None``), recording that they came from input unit ``unit``."""
        leaves, treedef = st.flatten(data)
        if self.treedef is None:
            self.treedef = treedef
        elif treedef != self.treedef:
            raise InvalidArgumentError("shuffle: elements of different structures")
        if rows is not None:
            leaves = [leaf[rows] for leaf in leaves]
        leaves = self._fit([np.asarray(leaf) for leaf in leaves])
        k = len(leaves[0])
        need = self.slots + k if self.n_free < k else self.slots
        if at is not None and len(at):
            need = max(need, int(at.max()) + 1)
        if need > self.slots:
            self._grow(need)
        slots = self.free[self.n_free - k : self.n_free].copy()
        self.n_free -= k
        assert self.columns is not None
        for col, leaf in zip(self.columns, leaves):
            col[slots] = leaf
        self.unit[slots] = unit
        self.row[slots] = np.arange(k) if rows is None else rows
        if at is None:
            self.live[self.n : self.n + k] = slots
        else:
            self.live[at] = slots
        self.n += k

    def draw(self, k: int, rng: np.random.Generator) -> Any:
        n = self.n
        if k >= n:
            k = n
            positions = rng.permutation(n)
        else:
            positions = rng.choice(n, k, replace=False)
        chosen = self.live[positions]
        assert self.columns is not None
        data = st.unflatten(self.treedef, [col[chosen] for col in self.columns])
        # Close the holes with the last live slots not drawn, in a fixed order.
        cut = n - k
        in_tail = np.zeros(k, bool)
        in_tail[positions[positions >= cut] - cut] = True
        holes = positions[positions < cut]
        self.live[holes] = self.live[cut:n][~in_tail]
        self.free[self.n_free : self.n_free + k] = chosen
        self.n_free += k
        self.n = cut
        for col in self.columns:
            if col.dtype == object:
                col[chosen] = None  # let the rows' memory go
        return data

    def ids(self) -> tuple[np.ndarray, np.ndarray]:
        live = self.live[: self.n]
        return self.unit[live], self.row[live]


class ShuffleStage(Stage):
    """Shuffles elements through a pool of ``min_after_dequeue`` elements."""

    name = "shuffle"

    def __init__(self, min_after_dequeue: int, seed: int | None, chunk: int) -> None:
        self.min_after_dequeue = check_int("min_after_dequeue", min_after_dequeue)
        self.seed = None if seed is None else check_int("seed", seed)
        self.chunk = check_int("chunk", chunk, minimum=1)

    def describe(self) -> str:
        return f"shuffle({self.min_after_dequeue}, seed={self.seed}, chunk={self.chunk})"

    def output_level(self, levels: list[Any]) -> Any:
        (level,) = levels
        if level == FILES:
            raise InvalidArgumentError("shuffle cannot follow files(): use files(shuffle=True)")
        return level

    def cardinality(self, counts: list[int]) -> int:
        return counts[0]

    def start(self, ctx: StageContext, state: Any) -> None:
        self._rows = ctx.levels[0] == 0
        self._draw = self.chunk if self._rows else 1
        self._every = max(1, self.min_after_dequeue // self._draw)
        self._pool = _Pool()
        self._units = 0  # input units taken this run
        self._before: dict[int, Any] = {}  # unit number -> input mark before it
        self._rebuild: dict[str, Any] | None = None
        self._skip_draws = 0
        if state is None:
            self._rng = np.random.default_rng(ctx.seed_sequence(self.seed))
            self._draws = 0
            self._last = ctx.input_marks[0]
            self._snapshot()
            return
        snap = state["snap"]
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = snap["rng"]
        self._rebuild = {
            "units": np.asarray(snap["units"], np.int64),
            "rows": np.asarray(snap["rows"], np.int64),
            "fed": int(snap["fed"]),
        }
        self._last = ctx.input_marks[0]
        self._snap = dict(snap, p=ctx.input_marks[0])
        self._draws = 0
        self._skip_draws = int(state["draws"])
        if self._rebuild["fed"] == 0:
            self._rebuild = None

    def _snapshot(self) -> None:
        units, rows = self._pool.ids()
        oldest = int(units.min()) if len(units) else self._units
        # Resume from before the oldest unit still in the pool; an empty pool needs
        # nothing re-read.
        before_oldest = self._before[oldest] if len(units) else self._last
        for u in [u for u in self._before if u < oldest]:
            del self._before[u]
        # Arrays (copies): the iterator's state_dict turns a mark into plain lists only
        # when a state is asked for.
        self._snap = {
            "units": units - oldest,
            "rows": np.array(rows, np.int64),
            "fed": self._units - oldest,
            "rng": self._rng.bit_generator.state,
            "p": before_oldest,
        }
        self._draws = 0

    def process(self, unit: Unit, out: Output) -> None:
        data = unit.data
        if not self._rows:
            cell = np.empty(1, dtype=object)
            cell[0] = data
            data = cell
        number = self._units
        self._units += 1
        self._before[number] = unit.before
        self._last = unit.mark
        if self._rebuild is not None:
            rb = self._rebuild
            where = np.nonzero(rb["units"] == number)[0]
            if len(where):
                self._pool.add(data, number, rows=rb["rows"][where], at=where)
            if number + 1 != rb["fed"]:
                return
            # The pool is as it was at the snapshot, which was taken amid the draws that
            # followed this unit: go on with them.
            self._rebuild = None
        else:
            self._pool.add(data, number)
        while self._pool.n >= self.min_after_dequeue + self._draw:
            self._emit(out, self._draw)

    def finish(self, out: Output) -> None:
        while self._pool.n:
            self._emit(out, self._draw)

    def _emit(self, out: Output, k: int) -> None:
        data = self._pool.draw(k, self._rng)
        self._draws += 1
        if self._skip_draws:
            self._skip_draws -= 1
            self._draws_done_replay()
            return
        state = {"snap": self._snap_state(), "draws": self._draws}
        if self._draws >= self._every:
            self._snapshot()
        parents = [self._snap_parent]
        if self._rows:
            out.emit(data, state, parents)
        else:
            for element in data:
                out.emit(element, state, parents)

    def _draws_done_replay(self) -> None:
        if self._draws >= self._every and not self._skip_draws:
            self._snapshot()

    def _snap_state(self) -> dict[str, Any]:
        snap = self._snap
        self._snap_parent = snap["p"]
        return {k: v for k, v in snap.items() if k != "p"}
