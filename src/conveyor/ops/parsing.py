"""Parsing serialized ``tf.train.Example`` records into NumPy arrays, as ``tf.io`` does.

:func:`parse_single_example` and :func:`parse_example` take serialized
:class:`~conveyor.io.example.Example` protos and a mapping from feature key to a feature
spec, and return a dict of arrays with TensorFlow's shapes, dtypes, defaults and errors:

* :class:`FixedLenFeature` → a dense array of the feature's ``shape`` (``[batch] + shape``
  for :func:`parse_example`); a missing feature takes ``default_value`` or is an error.
* :class:`VarLenFeature` → a :class:`SparseTensorValue` (``indices``, ``values``,
  ``dense_shape``).
* :class:`FixedLenSequenceFeature` (``allow_missing=True``) → ``[rows] + shape``, padded to
  the longest example with ``default_value`` in a batch.

Dtypes are TensorFlow's three: ``string`` (an object array of ``bytes``), ``int64`` and
``float32``. Every data error is an :class:`~conveyor.core.errors.InvalidArgumentError`
whose message follows TensorFlow's and names the feature key and, in a batch, the example
index.

    >>> from conveyor.io.example import Example, Feature, Features, Int64List
    >>> record = Example(features=Features(feature={
    ...     "label": Feature(int64_list=Int64List(value=[3])),
    ... })).SerializeToString()
    >>> out = parse_example([record, record], {"label": FixedLenFeature([], "int64")})
    >>> out["label"]
    array([3, 3])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from conveyor.core.errors import InvalidArgumentError

__all__ = [
    "FixedLenFeature",
    "FixedLenSequenceFeature",
    "SparseTensorValue",
    "VarLenFeature",
    "parse_example",
    "parse_single_example",
]


class FixedLenFeature(NamedTuple):
    """A feature with a fixed number of values, parsed into a dense array.

    Attributes:
        shape: the shape of the feature in one example (a list, tuple or int; ``[]`` for
            a scalar). The example must hold exactly ``prod(shape)`` values.
        dtype: ``"string"``/``bytes``/``object``, ``"int64"``/``np.int64`` or
            ``"float32"``/``np.float32``.
        default_value: used when an example lacks the feature. It must hold exactly
            ``prod(shape)`` values (it is reshaped, not broadcast, as in TensorFlow);
            ``None`` makes the feature required.
    """

    shape: Any
    dtype: Any
    default_value: Any = None


class FixedLenSequenceFeature(NamedTuple):
    """A feature holding any number of rows of a fixed ``shape``.

    Attributes:
        shape: the shape of one row; the example's value count must be a multiple of
            ``prod(shape)``.
        dtype: as for :class:`FixedLenFeature`.
        allow_missing: must be ``True`` (as TensorFlow requires for ``tf.train.Example``):
            a missing feature parses as zero rows.
        default_value: a single value used to pad shorter examples in a batch; ``0`` or
            ``b""`` when ``None``.
    """

    shape: Any
    dtype: Any
    allow_missing: bool = False
    default_value: Any = None


class VarLenFeature(NamedTuple):
    """A feature with any number of values, parsed into a :class:`SparseTensorValue`.

    Attributes:
        dtype: as for :class:`FixedLenFeature`.
    """

    dtype: Any


class SparseTensorValue(NamedTuple):
    """A sparse tensor as three arrays, the value form of TensorFlow's ``SparseTensor``.

    Attributes:
        indices: ``int64`` array of shape ``[nnz, rank]``.
        values: array of shape ``[nnz]``.
        dense_shape: ``int64`` array of shape ``[rank]``.
    """

    indices: np.ndarray
    values: np.ndarray
    dense_shape: np.ndarray


# (numpy dtype, Feature oneof field, TensorFlow's type name, its name in count errors)
_STRING: tuple[np.dtype, str, str, str] = (np.dtype(object), "bytes_list", "string", "bytes")
_INT64: tuple[np.dtype, str, str, str] = (np.dtype(np.int64), "int64_list", "int64", "int64")
_FLOAT: tuple[np.dtype, str, str, str] = (np.dtype(np.float32), "float_list", "float", "float")
_KIND_TYPE_NAME = {"bytes_list": "string", "int64_list": "int64", "float_list": "float"}
_DTYPE_NAMES = {
    "string": _STRING,
    "bytes": _STRING,
    "str": _STRING,
    "object": _STRING,
    "int64": _INT64,
    "float32": _FLOAT,
    "float": _FLOAT,
}


@dataclass(frozen=True)
class _Spec:
    key: str
    kind: str  # "dense", "var" or "seq"
    dtype: np.dtype
    field: str
    type_name: str
    count_name: str
    shape: tuple[int, ...]
    size: int
    default: list[Any] | None  # dense: the flat default; seq: [pad value]


def _resolve_dtype(dtype: Any, key: str) -> tuple[np.dtype, str, str, str]:
    found: tuple[np.dtype, str, str, str] | None
    if isinstance(dtype, str):
        found = _DTYPE_NAMES.get(dtype)
    elif dtype in (bytes, str, object):
        found = _STRING
    else:
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            # A TensorFlow DType is not a NumPy dtype but carries TensorFlow's name.
            found = _DTYPE_NAMES.get(str(getattr(dtype, "name", "")))
        else:
            if np_dtype.kind in "SUO":
                found = _STRING
            else:
                found = {np.dtype(np.int64): _INT64, np.dtype(np.float32): _FLOAT}.get(np_dtype)
    if found is None:
        raise InvalidArgumentError(
            f"Feature: {key}: unsupported dtype {dtype!r}; a tf.train.Example feature is "
            "one of float32, int64, string"
        )
    return found


def _resolve_shape(shape: Any, key: str) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    for dim in dims:
        if dim is None:
            raise ValueError(
                f"First dimension of shape for feature {key} unknown. Consider using "
                f"FixedLenSequenceFeature. Received shape={list(dims)}."
            )
        if int(dim) < 0:
            raise ValueError(f"Feature {key}: shape {list(dims)} has a negative dimension")
    return tuple(int(dim) for dim in dims)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidArgumentError(f"expected bytes or str, got {type(value).__name__}")


def _flat_values(value: Any, dtype: np.dtype) -> list[Any]:
    if dtype.kind == "O":
        return [_as_bytes(v) for v in np.asarray(value, dtype=object).ravel().tolist()]
    return np.asarray(value, dtype=dtype).ravel().tolist()


def _format_shape(shape: Iterable[Any]) -> str:
    return "[" + ",".join(str(dim) for dim in shape) + "]"


def _resolve_spec(key: str, feature: Any) -> _Spec:
    if isinstance(feature, FixedLenFeature):
        dtype, field, type_name, count_name = _resolve_dtype(feature.dtype, key)
        shape = _resolve_shape(feature.shape, key)
        size = math.prod(shape)
        default = None
        if feature.default_value is not None:
            default = _flat_values(feature.default_value, dtype)
            if len(default) != size:
                raise InvalidArgumentError(
                    f"Key: {key}.  default_value has {len(default)} values, but the "
                    f"requested shape {_format_shape(shape)} has {size}"
                )
            if not default:
                # TensorFlow reads a default without elements as "no default".
                default = None
        return _Spec(key, "dense", dtype, field, type_name, count_name, shape, size, default)
    if isinstance(feature, VarLenFeature):
        dtype, field, type_name, count_name = _resolve_dtype(feature.dtype, key)
        return _Spec(key, "var", dtype, field, type_name, count_name, (), 0, None)
    if isinstance(feature, FixedLenSequenceFeature):
        if not feature.allow_missing:
            raise ValueError(
                "Unsupported: FixedLenSequenceFeature requires allow_missing to be True."
            )
        dtype, field, type_name, count_name = _resolve_dtype(feature.dtype, key)
        shape = _resolve_shape(feature.shape, key)
        if feature.default_value is None:
            pad = [b""] if dtype.kind == "O" else [0]
        else:
            pad = _flat_values(feature.default_value, dtype)
            if len(pad) != 1:
                raise InvalidArgumentError(
                    f"Key: {key}.  FixedLenSequenceFeature default_value must be a single "
                    f"value, got {len(pad)}"
                )
        size = math.prod(shape)
        return _Spec(key, "seq", dtype, field, type_name, count_name, shape, size, pad)
    raise ValueError(f"Unsupported feature type for key {key!r}: {type(feature).__name__}")


def _resolve_specs(features: Mapping[str, Any]) -> list[_Spec]:
    if not features:
        raise ValueError("Invalid argument: features cannot be empty.")
    return [_resolve_spec(key, feature) for key, feature in features.items()]


class _Batch:
    """The decoded examples of one call and what errors need to name them."""

    def __init__(self, serialized: Sequence[Any], names: Sequence[Any] | None, single: bool):
        self.single = single
        self.names = None if names is None else [_name(n) for n in names]
        if self.names is not None and len(self.names) != len(serialized):
            raise InvalidArgumentError(
                f"example_names has {len(self.names)} entries but serialized has {len(serialized)}"
            )
        # Imported here: protobuf (conveyor[io]) is needed to parse, not to describe
        # features.
        from conveyor.io.example import Example

        self._example = Example
        from_string = Example.FromString
        try:
            # The common case in one comprehension; any failure is redone record by
            # record below, which finds the culprit and raises the right error.
            self.maps = [from_string(record).features.feature for record in serialized]
        except Exception:
            self.maps = [
                self._decode(record, i).features.feature for i, record in enumerate(serialized)
            ]

    def name(self, index: int) -> str:
        return "<unknown>" if self.names is None else self.names[index]

    def _prefix(self, index: int) -> str:
        if self.single and self.names is None:
            return ""
        return f"Name: {self.name(index)}, "

    def _decode(self, record: Any, index: int) -> Any:
        data = _as_bytes(record) if not isinstance(record, bytes) else record
        try:
            return self._example.FromString(data)
        except Exception:  # the protobuf runtime's DecodeError, whichever runtime is in use
            shown = repr(data[:64])[2:-1] + ("..." if len(data) > 64 else "")
            where = "" if self.single else f" ({self._prefix(index)}Index: {index})"
            raise InvalidArgumentError(
                f"Could not parse example input, value: '{shown}'{where}"
            ) from None

    def error(self, spec: _Spec, index: int, detail: str) -> _Failure:
        if self.single:
            message = f"{self._prefix(index)}Key: {spec.key}.  {detail}"
        else:
            message = f"{self._prefix(index)}Key: {spec.key}, Index: {index}.  {detail}"
        return _Failure(index, 0, InvalidArgumentError(message))

    def missing(self, spec: _Spec, index: int) -> _Failure:
        # TensorFlow checks required features after the rest of the example: rank 1.
        message = (
            f"{self._prefix(index)}Feature: {spec.key} (data type: {spec.type_name}) is "
            "required but could not be found."
        )
        return _Failure(index, 1, InvalidArgumentError(message))


class _Failure(Exception):
    """A parse error with where it happened, so that the earliest example's is raised."""

    def __init__(self, index: int, rank: int, error: InvalidArgumentError):
        super().__init__(error.message)
        self.order = (index, rank)
        self.error = error


def _name(name: Any) -> str:
    return name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else str(name)


def _values_array(flat: list[Any], dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "O":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array
    return np.array(flat, dtype=dtype)


def _parse_dense(spec: _Spec, batch: _Batch) -> np.ndarray:
    flat: list[Any] = []
    extend = flat.extend
    key, field, size, default = spec.key, spec.field, spec.size, spec.default
    values_of = attrgetter(f"{field}.value")
    for index, feature_map in enumerate(batch.maps):
        feature = feature_map.get(key)
        if feature is not None:
            values = values_of(feature)
            # Reading an unset list gives an empty one, so a full list of the expected
            # length proves the kind: the common case costs one lookup and one length.
            if size and len(values) == size:
                extend(values)
                continue
            kind = feature.WhichOneof("kind")
        else:
            kind = None
        if kind is None:
            # An absent key and a Feature with no list set are both "missing" to TensorFlow;
            # an empty list of the right kind is not, and fails the count check below.
            if default is None:
                raise batch.missing(spec, index)
            extend(default)
            continue
        if kind != field:
            raise batch.error(
                spec,
                index,
                f"Data types don't match. Data type: {_KIND_TYPE_NAME[kind]} but expected "
                f"type: {spec.type_name}",
            )
        if len(values) != size:
            detail = (
                f"Number of {spec.count_name} values != expected.  Values size: "
                f"{len(values)} but output shape: {_format_shape(spec.shape)}"
            )
            if batch.single:
                detail = "Can't parse serialized Example: " + detail
            raise batch.error(spec, index, detail)
    leading = () if batch.single else (len(batch.maps),)
    return _values_array(flat, spec.dtype).reshape(leading + spec.shape)


def _gather_lists(
    spec: _Spec, batch: _Batch, mismatch: str, stride: int | None = None
) -> tuple[list[Any], list[int]]:
    """Concatenate every example's values of ``spec`` and record each example's count.

    With ``stride``, each count must be a multiple of it (checked as the examples are
    visited, so that the earliest example's error is the one found).
    """
    flat: list[Any] = []
    lengths: list[int] = []
    extend, append = flat.extend, lengths.append
    key, field = spec.key, spec.field
    values_of = attrgetter(f"{field}.value")
    for index, feature_map in enumerate(batch.maps):
        feature = feature_map.get(key)
        if feature is None:
            append(0)
            continue
        values = values_of(feature)
        count = len(values)
        if not count:
            # Empty: unset, an empty list of the right kind, or a list of another kind.
            kind = feature.WhichOneof("kind")
            if kind is not None and kind != field:
                raise batch.error(spec, index, mismatch.format(actual=_KIND_TYPE_NAME[kind]))
            append(0)
            continue
        if stride is not None and (stride == 0 or count % stride):
            raise batch.error(
                spec,
                index,
                f"Number of {spec.count_name} values is not a multiple of stride length. "
                f"Saw {count} values but output shape is: {_format_shape(('?', *spec.shape))}",
            )
        append(count)
        extend(values)
    return flat, lengths


def _parse_var(spec: _Spec, batch: _Batch) -> SparseTensorValue:
    flat, lengths = _gather_lists(
        spec,
        batch,
        f"Data types don't match. Expected type: {spec.type_name}, Actual type: {{actual}}",
    )
    values = _values_array(flat, spec.dtype)
    total = len(flat)
    if batch.single:
        indices = np.arange(total, dtype=np.int64).reshape(total, 1)
        return SparseTensorValue(indices, values, np.array([total], dtype=np.int64))
    counts = np.array(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    columns = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    indices = np.stack([rows, columns], axis=1) if total else np.zeros((0, 2), dtype=np.int64)
    width = int(counts.max()) if len(counts) else 0
    return SparseTensorValue(indices, values, np.array([len(counts), width], dtype=np.int64))


def _parse_sequence(spec: _Spec, batch: _Batch) -> np.ndarray:
    stride = spec.size
    flat, lengths = _gather_lists(
        spec,
        batch,
        f"Data types don't match. Data type: {{actual}} but expected type: {spec.type_name}",
        stride=stride,
    )
    rows = [length // stride if stride else 0 for length in lengths]
    values = _values_array(flat, spec.dtype)
    if batch.single:
        return values.reshape((rows[0], *spec.shape))
    counts = np.array(rows, dtype=np.int64)
    longest = int(counts.max()) if len(counts) else 0
    assert spec.default is not None
    out = np.full((len(counts), longest, stride), spec.default[0], dtype=spec.dtype)
    # Rows holding data are exactly where the row index is below the example's row count.
    if stride:
        out[np.arange(longest) < counts[:, None]] = values.reshape(-1, stride)
    return out.reshape((len(counts), longest, *spec.shape))


_PARSERS = {"dense": _parse_dense, "var": _parse_var, "seq": _parse_sequence}


def _records(serialized: Any) -> tuple[list[Any], bool]:
    """Return ``(records, is_scalar)`` for bytes, str, a sequence or a NumPy array."""
    if isinstance(serialized, bytes | bytearray | memoryview | str):
        return [serialized], True
    if isinstance(serialized, np.ndarray):
        if serialized.ndim > 1:
            raise InvalidArgumentError(
                f"Expected serialized to be a scalar or vector, got shape {serialized.shape}"
            )
        return serialized.reshape(-1).tolist(), serialized.ndim == 0
    return list(serialized), False


def _run(serialized: list[Any], specs: list[_Spec], names: Any, single: bool) -> dict[str, Any]:
    batch = _Batch(serialized, names, single)
    results: dict[str, Any] = {}
    first: _Failure | None = None
    for spec in specs:
        # Features are parsed one at a time across the batch; TensorFlow walks example by
        # example, so on failure the error of the earliest example is the one to report.
        try:
            results[spec.key] = _PARSERS[spec.kind](spec, batch)
        except _Failure as failure:
            if first is None or failure.order < first.order:
                first = failure
    if first is not None:
        raise first.error
    return results


def parse_single_example(
    serialized: bytes | str | np.ndarray,
    features: Mapping[str, Any],
    example_names: Any = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Parse one serialized ``tf.train.Example``, as ``tf.io.parse_single_example``.

    Args:
        serialized: the serialized ``Example`` (``bytes``, ``str`` or a 0-d array).
        features: feature key → :class:`FixedLenFeature`, :class:`VarLenFeature` or
            :class:`FixedLenSequenceFeature`.
        example_names: an optional name for the example, shown in error messages.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        A dict with one entry per key in ``features``: an array of the feature's shape for
        a fixed-length feature, a :class:`SparseTensorValue` with ``indices`` of shape
        ``[n, 1]`` and ``dense_shape`` ``[n]`` for a :class:`VarLenFeature`.

    Raises:
        InvalidArgumentError: the bytes are not an ``Example``; a required feature is
            missing; a feature holds the wrong kind of list or the wrong number of values;
            a dtype is not one of float32, int64, string.
        ValueError: ``features`` is empty or holds an unsupported spec.
        ImportError: protobuf is not installed (``pip install "conveyor[io]"``).

    >>> from conveyor.io.example import Example, Feature, Features, FloatList
    >>> record = Example(features=Features(feature={
    ...     "xy": Feature(float_list=FloatList(value=[1.5, -2.0])),
    ... })).SerializeToString()
    >>> parse_single_example(record, {"xy": FixedLenFeature([2], np.float32)})["xy"]
    array([ 1.5, -2. ], dtype=float32)
    """
    del name
    specs = _resolve_specs(features)
    records, is_scalar = _records(serialized)
    if not is_scalar:
        if len(records) != 1:
            raise InvalidArgumentError(
                f"parse_single_example expects one serialized example, got {len(records)}"
            )
    names = None if example_names is None else _names_list(example_names)
    return _run(records, specs, names, single=True)


def parse_example(
    serialized: Any,
    features: Mapping[str, Any],
    example_names: Any = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Parse a batch of serialized ``tf.train.Example`` protos, as ``tf.io.parse_example``.

    Args:
        serialized: a list, tuple or 1-D array of serialized examples (``bytes``/``str``).
            A single ``bytes`` (or 0-d array) is parsed like :func:`parse_single_example`.
        features: feature key → :class:`FixedLenFeature`, :class:`VarLenFeature` or
            :class:`FixedLenSequenceFeature`.
        example_names: optional names of the examples, one per record, shown in errors.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        A dict with one entry per key in ``features``: ``[batch] + shape`` arrays for
        :class:`FixedLenFeature` (missing features take the default);
        ``[batch, max_rows] + shape`` arrays for :class:`FixedLenSequenceFeature`; for
        :class:`VarLenFeature`, a :class:`SparseTensorValue` with ``indices`` ``[nnz, 2]``
        of ``(example, position)`` pairs and ``dense_shape`` ``[batch, max_count]``.

    Raises:
        InvalidArgumentError: as :func:`parse_single_example`, naming the example index
            (and its name from ``example_names``).
        ValueError: ``features`` is empty or holds an unsupported spec.
        ImportError: as :func:`parse_single_example`.

    >>> from conveyor.io.example import BytesList, Example, Feature, Features
    >>> def record(*words):
    ...     feature = Feature(bytes_list=BytesList(value=list(words)))
    ...     return Example(features=Features(feature={"w": feature})).SerializeToString()
    >>> batch = [record(b"a", b"b"), record(b"c")]
    >>> sparse = parse_example(batch, {"w": VarLenFeature("string")})["w"]
    >>> sparse.indices.tolist(), sparse.values.tolist(), sparse.dense_shape.tolist()
    ([[0, 0], [0, 1], [1, 0]], [b'a', b'b', b'c'], [2, 2])
    """
    del name
    specs = _resolve_specs(features)
    records, is_scalar = _records(serialized)
    names = None if example_names is None else _names_list(example_names)
    if is_scalar and names is not None and len(names) != 1:
        names = None
    return _run(records, specs, names, single=is_scalar)


def _names_list(example_names: Any) -> list[Any]:
    if isinstance(example_names, bytes | str):
        return [example_names]
    return list(np.asarray(example_names, dtype=object).reshape(-1).tolist())
