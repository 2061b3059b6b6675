"""Column-wise element storage shared by the queue family.

A queue element is a tuple of components. Storing element after element as Python
objects would make every batched operation a Python loop, so each component lives in a
column instead: a NumPy array whose first axis is the storage slot.

* A *dense* column holds a component whose shape is fully known: one array of shape
  ``(slots, *shape)`` (dtype ``object`` for strings). Moving ``n`` elements is one slice
  or one fancy-index copy, whatever ``n`` is.
* A *ragged* column holds a component whose shape is not fully known (``shapes=None``, or
  a ``PaddingFIFOQueue`` dimension declared ``None``): an object array of slots, each
  holding that element's own array. Batching it means stacking or padding.

A queue's capacity is a bound, not an allocation: columns start with ``INITIAL_SLOTS``
(or the capacity, if smaller) and double, up to the capacity, as elements arrive
(:func:`grown_length`), so each element is moved O(1) times amortised by growth.

Columns do no locking; the queue that owns them does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.core.errors import InvalidArgumentError, ResourceExhaustedError

__all__ = [
    "INITIAL_SLOTS",
    "PYOBJECT",
    "Component",
    "Columns",
    "DTypeError",
    "as_dtype",
    "as_shape",
    "grown_length",
]


class DTypeError(InvalidArgumentError, TypeError):
    """A value whose kind the component cannot hold (a float for an int32, a number for a
    string): an ``InvalidArgumentError`` that is also the ``TypeError`` TensorFlow raises."""


PYOBJECT = "pyobject"
"""The dtype of a component holding arbitrary Python objects, one per element."""

_STRING = np.dtype(object)
_STRING_NAMES = {"string", "str", "bytes", "object"}
# Kinds that may be converted into one another without losing the kind of value:
# a bool fits an int, an int fits a float, but a float does not fit an int. Other kinds
# (datetimes, durations) take only values of their own kind.
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _kind_fits(src: str, dst: str) -> bool:
    if src == dst:
        return True
    rank_src, rank_dst = _KIND_RANK.get(src), _KIND_RANK.get(dst)
    return rank_src is not None and rank_dst is not None and rank_src <= rank_dst


def as_dtype(dtype: Any) -> np.dtype:
    """Normalise a component dtype: strings of bytes are stored as ``object``.

    >>> as_dtype("string"), as_dtype(bytes), as_dtype("float32")
    (dtype('O'), dtype('O'), dtype('float32'))
    """
    if dtype is None:  # NumPy would make it float64
        raise InvalidArgumentError("not a dtype: None")
    if dtype in (bytes, str, object) or (isinstance(dtype, str) and dtype in _STRING_NAMES):
        return _STRING
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"not a dtype: {dtype!r}") from e
    if dt.kind in "OSUV":
        return _STRING
    return dt


def as_shape(shape: Any) -> tuple[int | None, ...] | None:
    """Normalise a component shape: ``None`` (unknown) or a tuple of ints and ``None``.

    >>> as_shape([2, None]), as_shape(3), as_shape(None)
    ((2, None), (3,), None)

    Raises:
        InvalidArgumentError: not a shape (a float, a string, a bool dimension, ...).
    """
    if shape is None:
        return None
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, str | bytes) or not isinstance(shape, Sequence | np.ndarray):
        raise InvalidArgumentError(
            f"bad shape {shape!r}: expected None, an int, or a sequence of ints and None"
        )
    dims: list[int | None] = []
    for d in shape:
        is_int = isinstance(d, int | np.integer) and not isinstance(d, bool)
        if d is None or (is_int and d == -1):
            dims.append(None)
        elif is_int and d >= 0:
            dims.append(int(d))
        else:
            raise InvalidArgumentError(f"bad dimension {d!r} in shape {tuple(shape)!r}")
    return tuple(dims)


class Component:
    """The static description of one component of a queue element.

    Attributes:
        index: position in the element tuple.
        name: the component's name (``None`` when the queue has no names).
        dtype: NumPy dtype; ``object`` holds ``bytes`` strings.
        shape: the element shape; ``None`` entries are unknown dimensions, and a
            ``None`` shape is entirely unknown.
        dense: whether the shape is fully known, so the column can be one array.
    """

    __slots__ = (
        "_bounds",
        "_direct",
        "dense",
        "dtype",
        "index",
        "name",
        "pyobject",
        "queue",
        "shape",
    )

    def __init__(
        self,
        index: int,
        name: str | None,
        dtype: np.dtype,
        shape: tuple[int | None, ...] | None,
        pyobject: bool = False,
        queue: str | None = None,
    ) -> None:
        self.index = index
        self.name = name
        self.queue = queue
        self.pyobject = pyobject
        if pyobject:  # one object per element, whatever it is
            dtype, shape = _STRING, ()
        self.dtype = dtype
        self.shape = shape
        self.dense = shape is not None and None not in shape
        # Python scalars a scalar column may store as they are, skipping array
        # conversion on the single-element path, when they lie within the bounds (the
        # others take the checked path, which decides).
        self._direct: frozenset[type] = frozenset()
        self._bounds: tuple[int, int] | tuple[float, float] | None = None
        if shape == ():
            kind = dtype.kind
            if kind in "iu":
                self._direct = frozenset({int})
                info = np.iinfo(dtype)
                self._bounds = (int(info.min), int(info.max))
            elif kind in "fc":
                self._direct = frozenset({int, float})
                top = float(np.finfo(dtype).max)
                self._bounds = (-top, top)
            elif kind == "b":
                self._direct = frozenset({bool})
            elif kind == "O":
                self._direct = frozenset({bytes})

    def __repr__(self) -> str:
        return f"Component({self.index}, {self.name!r}, {self.dtype}, {self.shape})"

    def convert_one(self, value: Any) -> Any:
        """Like ``convert(value, batched=False)``, returning scalars as they are."""
        if self.pyobject:
            return value
        if type(value) in self._direct:
            b = self._bounds
            if b is None or b[0] <= value <= b[1]:
                return value
        arr = self.convert(value, False)
        if arr.ndim == 0 and arr.dtype == _STRING:
            return arr[()]  # a scalar string is stored, and returned, as bytes
        return arr

    def label(self) -> str:
        return f"component {self.index}" + (f" ({self.name!r})" if self.name else "")

    def where(self) -> str:
        """The label with the queue's name in front, to begin an error message."""
        return self.label() if self.queue is None else f"{self.queue}: {self.label()}"

    def convert(self, value: Any, batched: bool) -> np.ndarray:
        """Check ``value`` against the component and return it as an array.

        Args:
            value: one element's value, or, if ``batched``, a batch with a leading axis.
            batched: whether ``value`` has a leading batch dimension.

        Raises:
            InvalidArgumentError: the dtype cannot hold the value (a ``DTypeError``,
                also a ``TypeError``, when the kind is wrong; a plain one when a value
                is out of the dtype's range), or the shape differs.
        """
        if self.pyobject:
            return _as_object_array(value, batched)
        if type(value) is np.ndarray and value.dtype == self.dtype:
            arr = value
        else:
            arr = self._coerce(value)
        if batched:
            if arr.ndim == 0:
                raise InvalidArgumentError(
                    f"{self.where()}: enqueue_many needs a leading batch dimension, got a scalar"
                )
            shape = arr.shape[1:]
        else:
            shape = arr.shape
        want = self.shape
        if want is not None and (
            len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want, shape))
        ):
            raise InvalidArgumentError(
                f"{self.where()}: expected shape {_fmt_shape(want)}, got {_fmt_shape(shape)}"
            )
        return arr

    def _coerce(self, value: Any) -> np.ndarray:
        if self.dtype == _STRING:
            return _as_string_array(value, self)
        try:
            src = np.asarray(value)
        except ValueError as e:  # ragged nesting
            raise InvalidArgumentError(
                f"{self.where()}: {type(value).__name__} {value!r:.60} is not rectangular "
                "(its elements differ in shape)"
            ) from e
        kind = src.dtype.kind
        if kind == "O":
            src = self._from_python_ints(src, value)
        elif not _kind_fits(kind, self.dtype.kind):
            raise DTypeError(f"{self.where()}: expected {self.dtype}, got {_what(value, src)}")
        return self._cast(src)

    def _cast(self, src: np.ndarray) -> np.ndarray:
        """Convert a number array of a fitting kind, refusing values out of the range.

        NumPy would wrap an int (``300`` becomes ``44`` in a ``uint8``) and turn a finite
        float too large for the target into ``inf``; this refuses both. The range check
        (one min/max, or one ``isinf`` of the result) runs only when the source dtype
        does not safely cast to the target, and no ``isinf`` when the source is an int
        and the target a float no int64 overflows.
        """
        dst = self.dtype
        if src.dtype == dst:
            return src
        if src.size == 0 or dst.kind not in "iufc" or np.can_cast(src.dtype, dst, "safe"):
            return src.astype(dst)
        if dst.kind in "iu":
            info = np.iinfo(dst)
            lo, hi = int(src.min()), int(src.max())
            if lo < info.min or hi > info.max:
                bad = lo if lo < info.min else hi
                raise InvalidArgumentError(
                    f"{self.where()}: {bad} does not fit {dst} (range {info.min} to {info.max})"
                )
            return src.astype(dst)
        if src.dtype.kind in "biu" and float(np.finfo(dst).max) > 2.0**64:
            return src.astype(dst)  # every int64/uint64 is finite in a float32 or wider
        with np.errstate(over="ignore"):
            out = src.astype(dst)
        overflow = np.isinf(out)
        if overflow.any():
            overflow &= np.isfinite(src)
            if overflow.any():
                bad = src[overflow].flat[0].item()
                raise InvalidArgumentError(
                    f"{self.where()}: {_short(bad)} does not fit {dst} "
                    f"(range ±{float(np.finfo(dst).max):g})"
                )
        return out

    def _from_python_ints(self, src: np.ndarray, value: Any) -> np.ndarray:
        # NumPy makes an object array of ints beyond int64/uint64: name the value that
        # does not fit rather than the kind. Anything else in an object array is refused.
        flat = src.reshape(-1)
        dst = self.dtype
        if dst.kind not in "iufc" or not all(isinstance(v, int) for v in flat):
            raise DTypeError(f"{self.where()}: expected {dst}, got {_what(value, src)}")
        if flat.size == 0:
            return np.empty(src.shape, dtype=dst)
        lo, hi = min(flat), max(flat)
        if dst.kind in "iu":
            info = np.iinfo(dst)
            if lo < info.min or hi > info.max:
                bad = lo if lo < info.min else hi
                raise InvalidArgumentError(
                    f"{self.where()}: {_short(bad)} does not fit {dst} "
                    f"(range {info.min} to {info.max})"
                )
            return src.astype(dst)
        try:
            return src.astype(np.float64)  # then checked against dst by _cast
        except OverflowError as e:
            bad = hi if abs(hi) >= abs(lo) else lo
            raise InvalidArgumentError(
                f"{self.where()}: {_short(bad)} does not fit {dst} "
                f"(range ±{float(np.finfo(dst).max):g})"
            ) from e


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


def _what(value: Any, arr: np.ndarray) -> str:
    """Describe a value that was refused: its array dtype, or its type and repr."""
    if isinstance(value, np.ndarray | np.generic):
        return f"an array of {arr.dtype}"
    return f"{type(value).__name__} {value!r:.60}"


def _fmt_shape(shape: Sequence[int | None]) -> str:
    return (
        "("
        + ", ".join("?" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def _as_object_array(value: Any, batched: bool) -> np.ndarray:
    out: np.ndarray
    if not batched:
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1:
        return value
    items = list(value)
    out = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):  # element by element: NumPy would broadcast arrays
        out[i] = v
    return out


def _as_string_array(value: Any, comp: Component) -> np.ndarray:
    if isinstance(value, bytes):
        out = np.empty((), dtype=object)
        out[()] = bytes(value)  # np.bytes_ too: strings are stored as plain bytes
        return out
    if isinstance(value, str):
        out = np.empty((), dtype=object)
        out[()] = value.encode("utf-8")
        return out
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nesting
        raise InvalidArgumentError(
            f"{comp.where()}: {type(value).__name__} {value!r:.60} is not rectangular "
            "(its elements differ in shape)"
        ) from e
    kind = arr.dtype.kind
    if kind == "S":
        return arr.astype(object)
    if kind == "U":
        return np.char.encode(arr, "utf-8").astype(object)
    if kind == "O":
        out = np.array(value, dtype=object)
        flat = out.reshape(-1)
        for i, v in enumerate(flat):
            if isinstance(v, str):
                flat[i] = v.encode("utf-8")
            elif isinstance(v, bytes):
                if type(v) is not bytes:
                    flat[i] = bytes(v)
            else:
                raise DTypeError(f"{comp.where()}: expected bytes strings, got {type(v).__name__}")
        return out
    raise DTypeError(f"{comp.where()}: expected bytes strings, got an array of {arr.dtype}")


INITIAL_SLOTS = 16
"""The slots a queue's columns start with (fewer if the capacity is smaller)."""


def grown_length(length: int, need: int, capacity: int) -> int:
    """The length to grow ``length`` slots to, to hold ``need``: double, up to the capacity.

    Past the capacity (only a failed dequeue handing its elements back goes there) it
    grows to exactly ``need``.

    >>> grown_length(16, 17, 1000), grown_length(512, 600, 1000), grown_length(1000, 1003, 1000)
    (32, 1000, 1003)
    """
    return max(need, min(2 * length, capacity))


class Columns:
    """One storage column per component, ``length`` slots each.

    Dense columns are arrays of shape ``(length, *shape)``; ragged columns are object
    arrays of per-element arrays. Every method moves any number of elements with a
    constant number of NumPy operations per column (ragged columns split a batch into
    per-element views once, on write).

    Raises:
        ResourceExhaustedError: (constructor, :meth:`grow`) the arrays cannot be
            allocated; the columns are then unchanged.
    """

    def __init__(self, components: Sequence[Component], length: int) -> None:
        self.components = list(components)
        self.length = length
        self.arrays = [self._alloc(c, length) for c in self.components]

    @staticmethod
    def _alloc(comp: Component, length: int) -> np.ndarray:
        shape: tuple[int, ...] = (length,)
        if comp.dense:
            assert comp.shape is not None
            shape = (length, *(int(d) for d in comp.shape if d is not None))
        dtype = comp.dtype if comp.dense else np.dtype(object)
        try:
            return np.empty(shape, dtype=dtype)
        except (MemoryError, ValueError) as e:  # ValueError: NumPy's "array is too big"
            raise ResourceExhaustedError(
                f"{comp.where()}: cannot allocate {length} slots of shape "
                f"{_fmt_shape(shape[1:])} {dtype}: {e}"
            ) from e

    def grow(self, length: int, head: int = 0, count: int | None = None) -> None:
        """Reallocate to ``length`` slots; the ``count`` slots from ``head`` on move, in
        order, to ``0 .. count``.

        The slots are read as a ring, wrapping past the last slot to slot 0, so a ring
        buffer comes out unwrapped; by default every slot keeps its number. Two slice
        copies per column, whatever the count.
        """
        old = self.length
        if count is None:
            count = old
        first = min(count, old - head)
        new = [self._alloc(c, length) for c in self.components]
        for dst, src in zip(new, self.arrays):
            dst[:first] = src[head : head + first]
            if first < count:
                dst[first:count] = src[: count - first]
        self.arrays = new
        self.length = length

    # -- batched moves -------------------------------------------------------------
    def write(self, start: int, values: Sequence[np.ndarray], lo: int, hi: int) -> None:
        """Store ``values[c][lo:hi]`` into slots ``start .. start + hi - lo``."""
        stop = start + hi - lo
        for comp, col, v in zip(self.components, self.arrays, values):
            if comp.dense:
                col[start:stop] = v[lo:hi]
            else:
                _fill_cells(col, start, v, lo, hi)

    def scatter(self, slots: np.ndarray, values: Sequence[np.ndarray], lo: int, hi: int) -> None:
        """Store ``values[c][lo + i]`` into slot ``slots[i]``."""
        if len(slots) and slots[-1] - slots[0] == len(slots) - 1 and (np.diff(slots) == 1).all():
            self.write(int(slots[0]), values, lo, hi)  # consecutive slots: a slice copy
            return
        for comp, col, v in zip(self.components, self.arrays, values):
            if comp.dense:
                col[slots] = v[lo:hi]
            else:
                own = np.array(v[lo:hi], copy=True)
                for i, slot in enumerate(slots):
                    col[slot] = own[i, ...]

    def clear_at(self, slots: np.ndarray) -> None:
        """Forget the references held in object slots ``slots``."""
        for comp, col in zip(self.components, self.arrays):
            if not comp.dense or comp.dtype == _STRING:
                col[slots] = None

    def write_at(self, slots: np.ndarray, values: Sequence[np.ndarray]) -> None:
        """Store ``values[c][i]`` into slot ``slots[i]`` (values of ragged columns are cells)."""
        for col, v in zip(self.arrays, values):
            col[slots] = v

    def read(self, start: int, stop: int) -> list[np.ndarray]:
        """Copies of slots ``start .. stop`` (ragged columns: object arrays of cells)."""
        out = []
        for comp, col in zip(self.components, self.arrays):
            part = col[start:stop].copy()
            if not comp.dense or comp.dtype == _STRING:
                col[start:stop] = None  # drop references so memory is not pinned
            out.append(part)
        return out

    def gather(self, slots: np.ndarray) -> list[np.ndarray]:
        """Copies of the given slots, in that order."""
        return [col[slots] for col in self.arrays]

    def move(self, dst: np.ndarray | slice, src: np.ndarray | slice) -> None:
        """Copy slots ``src`` onto slots ``dst`` (same count)."""
        for col in self.arrays:
            col[dst] = col[src]

    def clear(self, start: int, stop: int) -> None:
        """Forget the references held in object slots ``start .. stop``."""
        for comp, col in zip(self.components, self.arrays):
            if not comp.dense or comp.dtype == _STRING:
                col[start:stop] = None

    # -- single elements -----------------------------------------------------------
    def write_one(self, slot: int, values: Sequence[np.ndarray]) -> None:
        for comp, col, v in zip(self.components, self.arrays, values):
            if comp.dense:
                col[slot] = v
            else:
                col[slot] = np.array(v, copy=True)

    def read_one(self, slot: int) -> list[Any]:
        out = []
        for comp, col in zip(self.components, self.arrays):
            v = col[slot]
            if comp.dense:
                if comp.dtype == _STRING:
                    if comp.shape:
                        v = v.copy()
                    col[slot] = None
                elif comp.shape:
                    v = v.copy()
            else:
                col[slot] = None
                if v.ndim == 0:
                    v = v[()]
            out.append(v)
        return out


def _fill_cells(col: np.ndarray, start: int, v: np.ndarray, lo: int, hi: int) -> None:
    # One copy of the batch, then per-element views into it: the caller may reuse its
    # array after enqueue_many returns.
    own = np.array(v[lo:hi], copy=True)
    for i in range(hi - lo):
        col[start + i] = own[i, ...]  # a 0-d array even for scalars
