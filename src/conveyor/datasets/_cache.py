"""Where conveyor keeps data it makes or fetches for itself."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$CONVEYOR_CACHE``, else ``$XDG_CACHE_HOME/conveyor``, else ``~/.cache/conveyor``.

    Nothing is created; the path is read from the environment at each call.
    """
    if os.environ.get("CONVEYOR_CACHE"):
        return Path(os.environ["CONVEYOR_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "conveyor"
    return Path.home() / ".cache" / "conveyor"
