"""Bottleneck features of a trained CIFAR-10 model (seed 001's transfer-learning recipe,
first half): ``conveyor cifar10 features``.

:func:`extract_features` loads a checkpoint's moving-average weights into the model its
configuration describes and runs every image of the training and test sets through
``model.features`` — the activations before the classifier — once, in order, with the
deterministic evaluation input of the checkpoint's recipe
(:func:`conveyor.apps.cifar10.data.eval_inputs`: no crop draws, no flips). The result is
a :class:`Features`, saved by :func:`save_features` and read back by
:func:`load_features`:

=================== ================================================================
``train/features``  float32, ``(1497, 192)`` for the tutorial net on the digits
``train/labels``    int64, one per row
``test/features``   float32
``test/labels``     int64
``global_step``     int64, ``(1,)``: the checkpoint's step
=================== ================================================================

The file is a NumPy ``.npz`` archive, or a safetensors file when its name ends in
``.safetensors`` (``pip install safetensors``); both are read without unpickling
anything. :mod:`conveyor.apps.cifar10.finetune` trains a dense head on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import conveyor.torch as ct
from conveyor.apps.cifar10 import checkpoint, data
from conveyor.apps.cifar10.eval import load_ema_model
from conveyor.core.errors import DataLossError, NotFoundError
from conveyor.datasets import embedded

__all__ = [
    "Features",
    "extract_features",
    "features_of",
    "load_ema_model",
    "load_features",
    "save_features",
]

_SPLITS = ("train", "test")


@dataclass
class Features:
    """Bottleneck features and labels of both splits, as NumPy arrays.

    Attributes:
        train_features, test_features: float32, one row per image, in the data's order.
        train_labels, test_labels: int64.
        global_step: the step of the checkpoint they came from (``-1``: unknown).
    """

    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    global_step: int = -1

    @property
    def dim(self) -> int:
        """Features per image."""
        return int(self.train_features.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """The file's tensors, by name (``train/features``...)."""
        out = {}
        for split in _SPLITS:
            out[f"{split}/features"] = np.ascontiguousarray(getattr(self, f"{split}_features"))
            out[f"{split}/labels"] = np.ascontiguousarray(getattr(self, f"{split}_labels"))
        out["global_step"] = np.asarray([self.global_step], dtype=np.int64)
        return out


@torch.no_grad()
def features_of(
    model: nn.Module, pipe: Any, device: torch.device | str
) -> tuple[np.ndarray, np.ndarray]:
    """``model.features`` of every batch of ``pipe``, in eval mode; returns
    ``(features, labels)`` stacked in the pipeline's order."""
    model.eval()
    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for images, batch_labels in ct.loader(pipe, device=device):
        rows.append(model.features(images).float().cpu().numpy())  # type: ignore[operator]
        labels.append(batch_labels.cpu().numpy().astype(np.int64))
    return np.concatenate(rows), np.concatenate(labels)


def extract_features(
    checkpoint_dir: str | os.PathLike[str],
    data_dir: Any = None,
    *,
    batch_size: int = 256,
    device: str | None = None,
) -> Features:
    """The bottleneck features of the newest checkpoint of ``checkpoint_dir`` (or of
    the checkpoint file it names) for every training and test image.

    Args:
        checkpoint_dir: a trainer's ``train_dir``, or one checkpoint file.
        data_dir: the CIFAR-10 folder; ``None``: the one the checkpoint trained on
            (the embedded digits when it trained on them).
        batch_size: images per forward pass.
        device: as :class:`~conveyor.apps.cifar10.train.TrainConfig`.

    Raises:
        NotFoundError: no checkpoint there.
        DataLossError: as :func:`conveyor.apps.cifar10.checkpoint.load`.
    """
    source = Path(checkpoint_dir)
    path = source if source.is_file() else checkpoint.latest(source)
    if path is None:
        raise NotFoundError(f"no checkpoint found in {source}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config, step = load_ema_model(path, dev)
    if data_dir is None:
        data_dir = config.data_dir
    root = embedded() if data_dir is None else data_dir
    splits = {}
    for split in _SPLITS:
        pipe = data.eval_inputs(
            config.input_recipe, root, batch_size, eval_data=split == "test", threads=1
        )
        splits[split] = features_of(model, pipe, dev)
    return Features(*splits["train"], *splits["test"], global_step=step)


def _safetensors(path: Path) -> bool:
    return path.suffix == ".safetensors"


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy
    except ImportError as e:
        raise ImportError(
            "features in .safetensors files need the safetensors package: "
            "pip install safetensors (or write a .npz file)",
            name="safetensors",
        ) from e
    return safetensors.numpy


def save_features(features: Features, path: str | os.PathLike[str]) -> Path:
    """Write ``features`` to ``path`` (``.safetensors``, else ``.npz``, which NumPy
    appends when the name lacks it), creating its folder; returns the path written."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = features.arrays()
    if _safetensors(out):
        _safetensors_numpy().save_file(arrays, str(out))
        return out
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out


def load_features(path: str | os.PathLike[str]) -> Features:
    """Read a file of :func:`save_features` (no pickles are loaded).

    Raises:
        NotFoundError: there is no such file.
        DataLossError: it lacks a split's features or labels, or they disagree in length.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no features file at {path}")
    if _safetensors(path):
        reader = _safetensors_numpy()
        try:
            arrays = dict(reader.load_file(str(path)))
        except Exception as e:  # safetensors' own error type, or an OSError
            raise DataLossError(f"{path} is not a readable safetensors file: {e}") from e
    else:
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (ValueError, OSError) as e:  # not an archive, or an array of objects
            raise DataLossError(f"{path} is not a plain features file: {e}") from e
    values: list[np.ndarray] = []
    for split in _SPLITS:
        try:
            rows, labels = arrays[f"{split}/features"], arrays[f"{split}/labels"]
        except KeyError as e:
            raise DataLossError(f"{path} holds no {e.args[0]}") from e
        if rows.ndim != 2 or len(rows) != len(labels):
            raise DataLossError(
                f"{path}: {split} features {rows.shape} do not match {len(labels)} labels"
            )
        values += [rows.astype(np.float32, copy=False), labels.astype(np.int64, copy=False)]
    step = int(arrays["global_step"][0]) if "global_step" in arrays else -1
    train_features, train_labels, test_features, test_labels = values
    return Features(train_features, train_labels, test_features, test_labels, step)
