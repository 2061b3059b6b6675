"""TensorFlow's ``DType`` and ``TensorShape``, over NumPy dtypes and tuples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DType", "TensorShape", "as_dtype", "as_shape", "infer_dtype"]


class DType:
    """A tensor element type (``tf.DType``): a name and its NumPy dtype.

    Strings are ``object`` arrays of ``bytes`` in NumPy.
    """

    __slots__ = ("_name", "_np")

    def __init__(self, name: str, np_dtype: Any) -> None:
        self._name = name
        self._np = np.dtype(np_dtype)

    @property
    def name(self) -> str:
        return self._name

    @property
    def as_numpy_dtype(self) -> type:
        return self._np.type

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def is_floating(self) -> bool:
        return self._np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def is_unsigned(self) -> bool:
        return self._np.kind == "u"

    @property
    def size(self) -> int:
        return 1 if self._name == "string" else self._np.itemsize

    @property
    def min(self) -> Any:
        return np.finfo(self._np).min if self.is_floating else np.iinfo(self._np).min

    @property
    def max(self) -> Any:
        return np.finfo(self._np).max if self.is_floating else np.iinfo(self._np).max

    def __eq__(self, other: object) -> bool:
        if other is None:
            return False
        try:
            return as_dtype(other)._name == self._name
        except TypeError:
            return False

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f"tf.{self._name}"

    def __str__(self) -> str:
        return f"<dtype: {self._name!r}>"


_ALL = {
    name: DType(name, np_type)
    for name, np_type in [
        ("float16", np.float16),
        ("float32", np.float32),
        ("float64", np.float64),
        ("int8", np.int8),
        ("int16", np.int16),
        ("int32", np.int32),
        ("int64", np.int64),
        ("uint8", np.uint8),
        ("uint16", np.uint16),
        ("uint32", np.uint32),
        ("uint64", np.uint64),
        ("bool", np.bool_),
        ("string", object),
    ]
}
_ALIASES = {"half": "float16", "float": "float32", "double": "float64"}

PYOBJECT = DType("pyobject", object)
"""Not a TensorFlow dtype: queue components holding Python objects (a batched
``SparseTensor``'s elements, as TensorFlow's batching stores them in a map)."""
string = _ALL["string"]


def as_dtype(value: Any) -> DType:
    """The :class:`DType` for a DType, a name, a NumPy dtype or type (``tf.as_dtype``).

    Raises:
        TypeError: not a type TensorFlow knows.
    """
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        name = _ALIASES.get(value, value)
        if name in _ALL:
            return _ALL[name]
    if value in (bytes, str, np.bytes_, np.str_):
        return string
    try:
        dt = np.dtype(value)
    except TypeError:
        raise TypeError(f"Cannot convert value {value!r} to a TensorFlow DType.") from None
    if dt.kind in "OSU":
        return string
    for d in _ALL.values():
        if d._np == dt and d is not string:
            return d
    raise TypeError(f"Cannot convert value {value!r} to a TensorFlow DType.")


def infer_dtype(value: Any) -> DType:
    """TensorFlow's dtype for a Python or NumPy value: Python ints are int32 (int64 when
    they do not fit), Python floats float32, strings ``string``; arrays keep theirs."""
    if isinstance(value, np.ndarray | np.generic):
        return as_dtype(value.dtype)
    arr = np.asarray(value, dtype=object if _has_strings(value) else None)
    if arr.dtype.kind in "OSU":
        return string
    if arr.dtype.kind == "i":
        info = np.iinfo(np.int32)
        if arr.size == 0 or (info.min <= arr.min() and arr.max() <= info.max):
            return _ALL["int32"]
        return _ALL["int64"]
    if arr.dtype.kind == "f":
        return _ALL["float32"]
    return as_dtype(arr.dtype)


def _has_strings(value: Any) -> bool:
    if isinstance(value, str | bytes):
        return True
    if isinstance(value, list | tuple) and value:
        return _has_strings(value[0])
    return False


def to_numpy(value: Any, dtype: DType) -> np.ndarray:
    """``value`` as an array of ``dtype`` (strings: an object array of ``bytes``)."""
    if dtype is string:
        arr = np.asarray(value, dtype=object)
        if arr.ndim == 0:
            item = arr.item()
            scalar: np.ndarray = np.empty((), dtype=object)
            scalar[()] = _as_bytes(item)
            return scalar
        flat = [_as_bytes(v) for v in arr.reshape(-1)]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(arr.shape)
    return np.asarray(value, dtype=dtype._np)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, os.PathLike):
        return os.fsencode(value)
    if isinstance(value, np.bytes_ | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"Expected string, got {value!r} of type '{type(value).__name__}' instead.")


class Dimension:
    """One dimension of a :class:`TensorShape` (``tf.compat.v1.Dimension``)."""

    __slots__ = ("value",)

    def __init__(self, value: int | None) -> None:
        self.value = None if value is None else int(value)

    def __eq__(self, other: object) -> bool:
        other_value = other.value if isinstance(other, Dimension) else other
        if self.value is None or other_value is None:
            return False
        return self.value == other_value

    def __hash__(self) -> int:
        return hash(self.value)

    def __int__(self) -> int:
        if self.value is None:
            raise TypeError("an unknown Dimension has no int value")
        return self.value

    __index__ = __int__

    def __repr__(self) -> str:
        return f"Dimension({self.value})"

    def __str__(self) -> str:
        return "?" if self.value is None else str(self.value)


class TensorShape:
    """A possibly partial shape (``tf.TensorShape``): unknown rank, or dims of which
    some may be ``None``."""

    __slots__ = ("_dims",)

    def __init__(self, dims: Any) -> None:
        if dims is None:
            self._dims: tuple[int | None, ...] | None = None
        elif isinstance(dims, TensorShape):
            self._dims = dims._dims
        else:
            if isinstance(dims, int | np.integer | Dimension):
                dims = [dims]
            self._dims = tuple(
                None
                if d is None or (isinstance(d, Dimension) and d.value is None)
                else int(d.value if isinstance(d, Dimension) else d)  # type: ignore[arg-type]
                for d in dims
            )
            self._dims = tuple(None if d is not None and d < 0 else d for d in self._dims)

    @property
    def dims(self) -> list[Dimension] | None:
        return None if self._dims is None else [Dimension(d) for d in self._dims]

    @property
    def ndims(self) -> int | None:
        return None if self._dims is None else len(self._dims)

    rank = ndims

    def as_list(self) -> list[int | None]:
        """The dims as a list (``None`` for unknown ones).

        Raises:
            ValueError: the rank is unknown.
        """
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self._dims)

    def as_tuple(self) -> tuple[int | None, ...] | None:
        return self._dims

    def is_fully_defined(self) -> bool:
        return self._dims is not None and all(d is not None for d in self._dims)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        return int(np.prod(self._dims, dtype=np.int64))  # type: ignore[arg-type]

    def is_compatible_with(self, other: Any) -> bool:
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return True
        if len(self._dims) != len(other._dims):
            return False
        return all(a is None or b is None or a == b for a, b in zip(self._dims, other._dims))

    def merge_with(self, other: Any) -> TensorShape:
        other = as_shape(other)
        if self._dims is None:
            return other
        if other._dims is None:
            return self
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {other} are not compatible")
        return TensorShape([a if a is not None else b for a, b in zip(self._dims, other._dims)])

    def concatenate(self, other: Any) -> TensorShape:
        other = as_shape(other)
        if self._dims is None or other._dims is None:
            return TensorShape(None)
        return TensorShape(self._dims + other._dims)

    def __len__(self) -> int:
        if self._dims is None:
            raise ValueError("Cannot take the length of shape with unknown rank.")
        return len(self._dims)

    def __iter__(self) -> Iterator[Any]:
        if self._dims is None:
            raise ValueError("Cannot iterate over a shape with unknown rank.")
        return iter(Dimension(d) for d in self._dims)

    def __getitem__(self, key: Any) -> Any:
        if self._dims is None:
            return TensorShape(None) if isinstance(key, slice) else Dimension(None)
        if isinstance(key, slice):
            return TensorShape(self._dims[key])
        return Dimension(self._dims[key])

    def __eq__(self, other: object) -> bool:
        try:
            other = as_shape(other)
        except (TypeError, ValueError):
            return NotImplemented
        return self._dims == other._dims

    def __hash__(self) -> int:
        return hash(self._dims)

    def __repr__(self) -> str:
        return f"TensorShape({self.as_list() if self._dims is not None else None})"

    def __str__(self) -> str:
        if self._dims is None:
            return "<unknown>"
        inner = ", ".join("?" if d is None else str(d) for d in self._dims)
        return f"({inner},)" if len(self._dims) == 1 else f"({inner})"


def as_shape(shape: Any) -> TensorShape:
    """A :class:`TensorShape` from a TensorShape, a list of dims, or ``None``."""
    return shape if isinstance(shape, TensorShape) else TensorShape(shape)
