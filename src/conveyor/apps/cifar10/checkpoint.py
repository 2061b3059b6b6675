"""Checkpoints of a training run: written atomically, the newest few kept, loaded
without unpickling arbitrary objects.

A checkpoint is one file, ``<train_dir>/model.ckpt-<global step>.pt`` (TensorFlow's
``model.ckpt-<step>`` naming), holding a dict of tensors and plain Python values:

=================  =================================================================
``global_step``    the steps taken
``model``          the model's ``state_dict()``
``optimizer``      the optimizer's ``state_dict()``
``ema``            the moving average's ``state_dict()`` (evaluation uses it)
``rng``            torch's CPU generator state (and CUDA's, where there is one)
``data``           the input loader's ``state_dict()``: where the data order resumes
``config``         the training configuration, as plain values
=================  =================================================================

Writing goes to a temporary file in the same folder, is flushed to disk, then renamed
over the final name (``os.replace``), so a reader — an evaluator watching the folder —
sees a whole checkpoint or none. Loading uses ``torch.load(weights_only=True)``: only
tensors and plain containers are rebuilt, and a file that asks for anything else (a
pickle that would run code) is refused with :class:`~conveyor.errors.DataLossError`.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from conveyor.core.errors import DataLossError, NotFoundError

__all__ = ["PREFIX", "latest", "list_checkpoints", "load", "save", "step_of"]

PREFIX = "model.ckpt-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)\.pt$")


def step_of(path: str | os.PathLike[str]) -> int | None:
    """The global step in a checkpoint's file name, or ``None`` for another file."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """The checkpoints in ``directory``, oldest step first (none if it is missing)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    found = [(step_of(p), p) for p in folder.iterdir() if p.is_file()]
    return [p for step, p in sorted((s, p) for s, p in found if s is not None)]


def latest(directory: str | os.PathLike[str]) -> Path | None:
    """The newest checkpoint in ``directory`` (``tf.train.latest_checkpoint``), or
    ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def save(
    directory: str | os.PathLike[str], state: dict[str, Any], step: int, keep: int = 5
) -> Path:
    """Write ``state`` as the checkpoint of ``step`` in ``directory``, atomically, then
    remove all but the newest ``keep`` checkpoints. Returns the checkpoint's path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{PREFIX}{step}.pt"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if keep > 0:
        for old in list_checkpoints(folder)[:-keep]:
            old.unlink(missing_ok=True)
    return final


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint, rebuilding only tensors and plain Python values.

    Raises:
        NotFoundError: there is no such file.
        DataLossError: the file is not a checkpoint, or it asks to build objects of
            other types (it is refused, nothing of it runs).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise DataLossError(
            f"refused to load {path}: it is not a plain checkpoint of tensors ({e})"
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise DataLossError(f"{path} is not a readable checkpoint: {e}") from e
    if not isinstance(state, dict) or "global_step" not in state:
        raise DataLossError(f"{path} is not a conveyor training checkpoint")
    return state
