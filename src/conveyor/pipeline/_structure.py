"""Elements, chunks and batches: the shapes data takes between pipeline stages.

An *element* is a leaf (an array or a scalar), or a tuple, list or dict of elements.
Before the first ``batch`` the stream moves in *chunks*: one element structure whose
leaves carry a leading axis of ``k`` rows, so ``k`` elements move with one array per
leaf. A leaf whose rows are not plain values of one shape (strings, images of different
sizes, other objects) is an object array with one Python object per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conveyor.core.errors import CancelledError, InvalidArgumentError, UnknownError
from conveyor.core.structure import Treedef, flatten, unflatten

__all__ = [
    "Treedef",
    "flatten",
    "unflatten",
    "call",
    "chunk_len",
    "normalize_chunk",
    "select",
    "concat",
    "rows",
    "stack",
    "densify",
    "lengths",
    "check_pad",
    "readonly",
    "writable",
]


def call(fn: Callable[..., Any], element: Any, *extra: Any) -> Any:
    """Call ``fn`` on an element as tf.data does: a tuple's parts become arguments,
    ``extra`` ones (``map(rng=True)``'s generator) follow them.

    Raises:
        UnknownError: ``fn`` raised ``StopIteration`` or ``CancelledError``. Either would
            otherwise pass for the end of the stream (or a closed channel) and end the
            pipeline early without a word — PEP 479's reason for the same rule in
            generators. Its ``__cause__`` is the original.
    """
    try:
        if type(element) is tuple:
            return fn(*element, *extra)
        return fn(element, *extra)
    except (StopIteration, CancelledError) as e:
        raise function_error(fn, e) from e


def function_error(fn: Any, error: BaseException) -> UnknownError:
    """The error to raise for ``StopIteration`` or ``CancelledError`` out of user code
    (a function, or an iterable it returned): see :func:`call`."""
    name = getattr(fn, "__name__", type(fn).__name__)
    return UnknownError(
        f"{name} raised {type(error).__name__}({', '.join(map(repr, error.args))}); a "
        "pipeline function or iterable cannot end the stream this way (it would end "
        "early, silently): filter the elements, or take() as many as you want"
    )


def as_leaf_array(x: Any, rows: int | None = None) -> np.ndarray:
    """A chunk leaf as an array with a leading row axis."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim == 0:
        raise InvalidArgumentError(
            f"a batched function must return arrays with a leading axis, got a scalar {x!r:.60}"
        )
    if rows is not None and len(arr) != rows:
        raise InvalidArgumentError(
            f"a batched function returned leaves of different lengths ({len(arr)} and {rows})"
        )
    return arr


def chunk_len(chunk: Any) -> int:
    """The number of rows in a chunk."""
    leaves, _ = flatten(chunk)
    return len(leaves[0])


def normalize_chunk(chunk: Any) -> Any:
    """Check a chunk's leaves share one row count; return it with array leaves."""
    leaves, treedef = flatten(chunk)
    if not leaves:
        raise InvalidArgumentError("an element must have at least one leaf")
    first = as_leaf_array(leaves[0])
    arrays = [first] + [as_leaf_array(leaf, len(first)) for leaf in leaves[1:]]
    return unflatten(treedef, arrays)


def select(chunk: Any, index: Any) -> Any:
    """Rows ``index`` (a slice, an index array or a boolean mask) of every leaf."""
    if type(chunk) is np.ndarray:  # one leaf, the common case on a batch's path
        return chunk[index]
    leaves, treedef = flatten(chunk)
    return unflatten(treedef, [leaf[index] for leaf in leaves])


def concat(chunks: Sequence[Any]) -> Any:
    """Join chunks of the same structure along the row axis.

    Leaves whose rows differ in shape or kind between chunks (an image of another size,
    an object column) join as one object column of rows, so ragged data flows on and is
    padded or refused only where a batch is made.

    >>> concat([np.zeros((1, 2)), np.ones((2, 3))]).shape
    (3,)
    """
    if len(chunks) == 1:
        return chunks[0]
    flat = [flatten(c) for c in chunks]
    treedef = flat[0][1]
    for _leaves, td in flat[1:]:
        if td != treedef:
            raise InvalidArgumentError(
                "cannot join elements of different structures: "
                f"{_describe(treedef)} and {_describe(td)}"
            )
    leaves = [_concat_leaf([f[0][i] for f in flat]) for i in range(len(flat[0][0]))]
    return unflatten(treedef, leaves)


def _describe(treedef: Treedef) -> str:
    if treedef is None:
        return "a leaf"
    kind, meta, subs = treedef
    if kind == "dict":
        return "a dict with keys " + repr(list(meta))
    return f"a {meta.__name__} of {len(subs)}"


def _concat_leaf(parts: list[np.ndarray]) -> np.ndarray:
    first = parts[0]
    if first.dtype != object and all(
        p.dtype != object and p.shape[1:] == first.shape[1:] for p in parts[1:]
    ):
        return np.concatenate(parts)
    values: list[Any] = []
    for p in parts:
        values.extend(p if p.dtype == object else list(p))
    return _object_column(values)


def rows(chunk: Any) -> list[Any]:
    """The elements of a chunk, one per row."""
    leaves, treedef = flatten(chunk)
    n = len(leaves[0])
    if treedef is None:
        return list(leaves[0])
    return [unflatten(treedef, [leaf[i] for leaf in leaves]) for i in range(n)]


def stack(elements: Sequence[Any], pad: Any = None, what: str = "batch") -> Any:
    """Stack elements of one structure into a chunk (one array per leaf).

    Leaves that are arrays of one shape stack into one array; strings and other objects
    into an object array. Arrays of different shapes become an object array of rows
    when ``what == "chunk"``; for a batch they are padded with the value ``pad`` to the
    largest shape, and refused when ``pad`` is ``None``.

    Raises:
        InvalidArgumentError: elements of different structures, or of different shapes
            without ``pad``.
    """
    flat = [flatten(e) for e in elements]
    treedef = flat[0][1]
    for _leaves, td in flat:
        if td != treedef:
            raise InvalidArgumentError(f"cannot {what} elements of different structures")
    nleaves = len(flat[0][0])
    pads = leaf_pads(pad, treedef, nleaves)
    return unflatten(
        treedef,
        [_stack_leaf([f[0][i] for f in flat], pads[i], i, what) for i in range(nleaves)],
    )


def check_pad(pad: Any) -> Any:
    """A batch's ``pad`` argument in canonical form: ``None`` (refuse ragged components),
    a value for every component, or a dict of values by component name (``None`` for
    the components it does not name).

    >>> check_pad(True), check_pad(False), check_pad({"labels": -1, "boxes": True})
    (0, None, {'labels': -1, 'boxes': 0})
    """
    if pad is None or pad is False:
        return None
    if pad is True:
        return 0
    if isinstance(pad, dict):
        out = {}
        for key, value in pad.items():
            value = check_pad(value)
            if isinstance(value, dict):
                raise InvalidArgumentError(f"pad[{key!r}] must be a value, not a dict")
            out[key] = value
        return out
    return pad


def leaf_pads(pad: Any, treedef: Treedef, nleaves: int) -> list[Any]:
    """The padding value of each leaf: a dict ``pad`` names top-level components of a
    dict element (every leaf under a named key gets its value); any other ``pad`` is
    every leaf's."""
    if not isinstance(pad, dict):
        return [pad] * nleaves
    if treedef is None or treedef[0] != "dict":
        raise InvalidArgumentError(
            f"pad={pad!r} names components, so the elements must be dicts; got {_describe(treedef)}"
        )
    _, keys, subs = treedef
    unknown = sorted(set(pad) - set(keys), key=str)
    if unknown:
        raise InvalidArgumentError(
            f"pad names components {unknown} that the elements do not have (keys {list(keys)})"
        )
    pads: list[Any] = []
    for key, sub in zip(keys, subs):
        pads.extend([pad.get(key)] * _count(sub))
    return pads


def _count(treedef: Treedef) -> int:
    if treedef is None:
        return 1
    return sum(_count(sub) for sub in treedef[2])


def lengths(batch_source: Any, spec: dict[str, str], rows: bool) -> dict[str, np.ndarray]:
    """The first-axis length of named components of each element, as ``int64`` arrays:
    ``spec`` maps an output name to a component name. ``batch_source`` is a chunk
    (``rows=True``) or a list of elements.

    >>> lengths([{"b": np.zeros((2, 4))}, {"b": np.zeros((0, 4))}], {"n": "b"}, rows=False)
    {'n': array([2, 0])}
    """
    out = {}
    for name, key in spec.items():
        first = batch_source if rows else (batch_source[0] if batch_source else {})
        if not isinstance(first, dict) or key not in first:
            raise InvalidArgumentError(
                f"lengths: {name!r} counts the component {key!r}, which the elements "
                "(dicts with that key) do not have"
            )
        if rows:
            column = batch_source[key]
            if column.dtype == object:
                values = [len(v) for v in column]
            elif column.ndim > 1:
                values = [column.shape[1]] * len(column)
            else:
                raise InvalidArgumentError(f"lengths: the component {key!r} is a scalar")
        else:
            values = [len(e[key]) for e in batch_source]
        out[name] = np.asarray(values, np.int64)
    return out


def _stack_leaf(values: list[Any], pad: Any, index: int, what: str) -> np.ndarray:
    if all(isinstance(v, np.ndarray | np.generic | int | float | bool | complex) for v in values):
        arrays = [np.asarray(v) for v in values]
        shapes = {a.shape for a in arrays}
        if len(shapes) == 1 and arrays[0].dtype != object:
            return np.stack(arrays)
        if len(shapes) > 1:
            if what == "chunk":  # rows may differ: keep one array per row
                return _object_column(arrays)
            if pad is None:
                raise InvalidArgumentError(
                    f"cannot {what} component {index}: its elements have different shapes "
                    f"{sorted(shapes)[:4]}; use batch(..., pad=True) to pad them"
                )
            return _pad_stack(arrays, index, pad)
        return np.stack(arrays)
    return _object_column(values)


def _object_column(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # NumPy would broadcast nested sequences
        out[i] = v
    return out


def _pad_stack(arrays: list[np.ndarray], index: int, value: Any) -> np.ndarray:
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1:
        raise InvalidArgumentError(
            f"cannot pad component {index}: its elements have different ranks"
        )
    dims = tuple(max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim))
    dtype = np.result_type(*arrays)
    out = np.full((len(arrays), *dims), value, dtype=dtype)
    for i, a in enumerate(arrays):
        region: tuple[Any, ...] = (i, *(slice(0, s) for s in a.shape))
        out[region] = a
    return out


def densify(chunk: Any, pad: Any) -> Any:
    """Turn object leaves holding arrays into dense arrays (for a finished batch);
    ``pad`` as :func:`stack`'s (a value, or a dict of values by component)."""
    leaves, treedef = flatten(chunk)
    pads = leaf_pads(pad, treedef, len(leaves))
    out = []
    for i, leaf in enumerate(leaves):
        if leaf.dtype == object and len(leaf) and isinstance(leaf[0], np.ndarray):
            leaf = _stack_leaf(list(leaf), pads[i], i, "batch")
        out.append(leaf)
    return unflatten(treedef, out)


def readonly(chunk: Any) -> Any:
    """The chunk with every array leaf made a read-only view (the data is not copied),
    so a function cannot change the arrays a source hands out."""
    leaves, treedef = flatten(chunk)
    out = []
    for leaf in leaves:
        if isinstance(leaf, np.ndarray) and leaf.flags.writeable:
            leaf = leaf.view()
            leaf.flags.writeable = False
        out.append(leaf)
    return unflatten(treedef, out)


def writable(chunk: Any) -> Any:
    """The chunk with every read-only array leaf replaced by a writable copy."""
    leaves, treedef = flatten(chunk)
    out = [
        np.array(leaf) if isinstance(leaf, np.ndarray) and not leaf.flags.writeable else leaf
        for leaf in leaves
    ]
    return unflatten(treedef, out)
