"""Nested structures of values: the one flatten/unflatten the whole package uses.

A *structure* is a leaf, or a tuple, list, namedtuple or dict of structures. Dicts
flatten in sorted key order, as ``tf.nest`` does, so two dicts with the same keys always
line up leaf for leaf whatever order they were built in.

>>> leaves, treedef = flatten((1, {"b": 2, "a": 3}))
>>> leaves, unflatten(treedef, [10, 30, 20])
([1, 3, 2], (10, {'a': 30, 'b': 20}))
>>> map_structure(lambda x: x * 2, {"y": [1, 2], "x": 3})
{'x': 6, 'y': [2, 4]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Treedef", "flatten", "unflatten", "map_structure"]

Treedef = Any
"""What :func:`flatten` returns beside the leaves: ``None`` for a leaf, else
``("dict", keys, subs)`` or ``("tuple", type, subs)``. Comparable with ``==``."""


def _sort_key(key: Any) -> Any:
    return (type(key).__name__, key) if not isinstance(key, str) else ("", key)


def flatten(x: Any) -> tuple[list[Any], Treedef]:
    """Split a structure into its leaves and a description to rebuild it."""
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:  # keys of mixed types: still one fixed order
            keys = sorted(x, key=_sort_key)
        leaves: list[Any] = []
        subs = []
        for k in keys:
            sub_leaves, sub = flatten(x[k])
            leaves.extend(sub_leaves)
            subs.append(sub)
        return leaves, ("dict", keys, subs)
    if isinstance(x, tuple | list):
        leaves = []
        subs = []
        for item in x:
            sub_leaves, sub = flatten(item)
            leaves.extend(sub_leaves)
            subs.append(sub)
        return leaves, ("tuple", type(x), subs)
    return [x], None


def unflatten(treedef: Treedef, leaves: Sequence[Any]) -> Any:
    """Rebuild a structure from :func:`flatten`'s output."""
    return _build(treedef, iter(leaves))


def _build(treedef: Treedef, it: Any) -> Any:
    if treedef is None:
        return next(it)
    kind, meta, subs = treedef
    if kind == "dict":
        return {k: _build(sub, it) for k, sub in zip(meta, subs)}
    items = [_build(sub, it) for sub in subs]
    if meta is tuple or meta is list:
        return meta(items)
    return meta(*items)  # a namedtuple


def map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` applied to every leaf, the structure kept."""
    leaves, treedef = flatten(x)
    return unflatten(treedef, [fn(leaf) for leaf in leaves])
