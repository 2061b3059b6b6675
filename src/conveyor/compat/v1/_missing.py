"""A module ``__getattr__`` that names what the facade leaves out."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


class NotCoveredError(NotImplementedError, AttributeError):
    """A TensorFlow name the facade does not cover. A ``NotImplementedError``; an
    ``AttributeError`` too, so ``hasattr`` and ``getattr(tf, name, default)`` work."""


def missing_names(module: str, prefix: str, hint: str) -> Callable[[str], NoReturn]:
    """``__getattr__`` for ``module``: any unknown public name raises
    ``NotImplementedError`` naming ``prefix.name`` and pointing to ``hint``; private
    and dunder names raise ``AttributeError`` as usual (for ``hasattr``, pickling,
    doctest)."""

    def __getattr__(name: str) -> NoReturn:
        if name.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise NotCoveredError(
            f"{prefix}.{name} is not part of conveyor.compat.v1, which covers TensorFlow 1's "
            f"input pipelines; use {hint} (see docs/compat.md)"
        )

    return __getattr__
