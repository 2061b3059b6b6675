"""Lazy re-exports, so ``import conveyor`` needs nothing beyond NumPy.

Names from layers with optional dependencies (protobuf, CRC32C, fsspec, image codecs)
are imported on first use; a missing dependency then fails with a message naming the
module and the extra that installs it (see :mod:`conveyor._optional`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from conveyor._optional import missing_from


def lazy_exports(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package exporting ``names`` lazily.

    Args:
        package: the exporting package's ``__name__``.
        names: exported name → module that defines it.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module), name)
        except ImportError as e:
            ours = missing_from(e, f"{package}.{name}")
            if ours is None:  # not a missing extra: a broken installation, shown as it is
                raise
            raise ours from e
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
