"""Optional dependencies, imported where they are used.

``pip install conveyor`` needs only NumPy. Everything else comes with an extra, and a
missing one fails only when something needs it, with an :class:`ImportError` that names
the module and the extra that installs it::

    >>> missing("google_crc32c", "TFRecordReader")
    ImportError('TFRecordReader needs the module google_crc32c (package google-crc32c), which is not installed: pip install "conveyor[io]"')

This module imports nothing from conveyor, so every layer may use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "extra_for", "missing", "missing_from", "require"]

# module -> (the package that provides it, the conveyor extra that installs that package)
EXTRAS: dict[str, tuple[str, str]] = {
    "google_crc32c": ("google-crc32c", "io"),
    "google.protobuf": ("protobuf", "io"),
    "fsspec": ("fsspec", "io"),
    "PIL": ("pillow", "image"),
    "simplejpeg": ("simplejpeg", "image"),
    "numba": ("numba", "image"),
    "aiohttp": ("aiohttp", "http"),
    "torch": ("torch", "torch"),
    "tqdm": ("tqdm", "datasets"),
    "pycocotools": ("pycocotools", "detection"),
    "tensorboard": ("tensorboard", "train"),
}


def _known(module: str) -> str | None:
    """The key of EXTRAS that provides *module* (a submodule counts as its package)."""
    for known in EXTRAS:
        if module == known or module.startswith(known + ".") or known.startswith(module + "."):
            return known
    return None


def extra_for(module: str) -> str:
    """The conveyor extra that installs *module* (``"all"`` for one it does not know)."""
    known = _known(module)
    return "all" if known is None else EXTRAS[known][1]


def missing(module: str, feature: str, extra: str | None = None) -> ImportError:
    """The error for *feature* needing *module*, which is not installed; *extra* names
    the extra to install when the feature's own is not the module's (the training
    system needs torch from ``conveyor[train]``, not ``conveyor[torch]``)."""
    known = _known(module)
    if known is None:
        what = f"the module {module}"
    else:
        what = f"the module {known} (package {EXTRAS[known][0]})"
    return ImportError(
        f'{feature} needs {what}, which is not installed: pip install "conveyor[{extra or extra_for(module)}]"',
        name=module if known is None else known,
    )


def require(module: str, feature: str, extra: str | None = None) -> ModuleType:
    """Import *module* for *feature* (*extra* as :func:`missing`).

    Raises:
        ImportError: *module* is not installed; the message names it and the extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise missing(module, feature, extra) from e


def missing_from(error: ImportError, feature: str) -> ImportError | None:
    """Our error for an :class:`ImportError` raised by a library that could not import
    one of our optional modules (fsspec's ``http`` needs aiohttp), else ``None``."""
    seen: BaseException | None = error
    while isinstance(seen, ImportError):
        if seen.name and _known(seen.name) is not None:
            return missing(seen.name, feature)
        seen = seen.__cause__ or seen.__context__
    return None
