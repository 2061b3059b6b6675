"""The detector's input: COCO-format splits read by :class:`~conveyor.datasets.coco.CocoDetection`,
augmented with the box-aware ops of :mod:`conveyor.image.boxes`, in padded batches.

A data folder holds each split as the embedded detection set does
(:func:`conveyor.datasets.detection.embedded_detection`) or as COCO's own download
does; :func:`split_files` finds, for split ``S``:

- annotations ``<root>/instances_S.json`` or ``<root>/annotations/instances_S.json``;
- images in ``<root>/S/`` (COCO's ``train2017/``, ``val2017/``).

Recipes — augmentation must keep the label true, so they are per dataset:

- ``"digits"`` (the default on the embedded set): brightness (max delta 32) and
  contrast (0.7 to 1.3) only. A mirrored digit is another digit (or none), so no flips.
- ``"flip"`` (seed 000's for COCO): a random horizontal flip, which moves the boxes,
  then the same brightness and contrast.
- ``"none"``: the images as they are.

Every image is then letterboxed to ``image_size`` (scaled to fit, boxes with it,
centred on zeros: :func:`conveyor.image.boxes.letterbox`) when it is not already that
size, so a batch is one ``(N, S, S, 3)`` array. Batches are ``{"image": float32 (N, S,
S, 3) in 0..255, "boxes": (N, K, 4), "labels": (N, K) with -1 past each image's boxes,
"num_boxes": (N,), "image_id": (N,), "frame": (N, 4)}``; ``frame`` is each image's
``[left, top, sx, sy]`` placement, which :func:`unframe` inverts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import conveyor.pipeline as cp
from conveyor import image
from conveyor.datasets import detection
from conveyor.datasets._cifar_input import run_seed
from conveyor.datasets.coco import CHUNK_SIZE, CocoDetection
from conveyor.errors import InvalidArgumentError, NotFoundError
from conveyor.image import boxes as bx

__all__ = [
    "RECIPES",
    "augment",
    "dataset",
    "eval_inputs",
    "local_root",
    "split_files",
    "train_inputs",
    "unframe",
]

RECIPES = ("digits", "flip", "none")
#: what :func:`conveyor.pipeline.Pipeline.batch` pads a detection batch with
PAD = {"boxes": 0, "labels": -1}
LENGTHS = {"num_boxes": "boxes"}


def local_root(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data folder: ``data_dir``, or the embedded detection set (made on first use)
    when it is ``None``."""
    if data_dir is None:
        return detection.embedded_detection()
    root = Path(data_dir)
    if not root.is_dir():
        raise NotFoundError(
            f"no data folder {root}: give a folder of COCO-format splits, or no --data_dir "
            "for the embedded detection set"
        )
    return root


def split_files(root: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """``(annotation file, image folder)`` of ``split`` under ``root``.

    Raises:
        NotFoundError: neither annotation location exists, or the image folder is
            missing; the message names the paths tried.
    """
    root = Path(root)
    tried = [root / f"instances_{split}.json", root / "annotations" / f"instances_{split}.json"]
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        raise NotFoundError(
            f"no annotations for split {split!r}: tried {', '.join(map(str, tried))}"
        )
    images = root / split
    if not images.is_dir():
        raise NotFoundError(f"no image folder {images} for split {split!r}")
    return found, images


def dataset(root: str | os.PathLike[str], split: str) -> CocoDetection:
    """The split as a :class:`~conveyor.datasets.coco.CocoDetection` (crowd
    annotations left out of the elements; the evaluator reads them from the file)."""
    annotations, images = split_files(root, split)
    return CocoDetection(annotations, images)


def _check_recipe(recipe: str) -> str:
    if recipe not in RECIPES:
        raise InvalidArgumentError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    return recipe


def _fit(
    img: np.ndarray, boxes: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letterbox to ``size x size`` unless already that size; returns the frame."""
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return img.astype(np.float32), boxes, np.array([0, 0, 1, 1], np.float32)
    nh, nw, top, left = bx.letterbox_geometry(h, w, (size, size))
    out, boxes = bx.letterbox(img, boxes, (size, size))
    return out.astype(np.float32), boxes, np.array([left, top, nw / w, nh / h], np.float32)


def unframe(boxes: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Boxes of a fitted image back in its original pixels: ``frame`` is the batch's
    ``[left, top, sx, sy]`` of that image.

    >>> unframe(np.array([[10.0, 20.0, 30.0, 40.0]]), np.array([0.0, 16.0, 0.5, 0.5]))
    array([[20.,  8., 60., 48.]])
    """
    left, top, sx, sy = (float(v) for v in frame)
    out = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    out[:, 0::2] = (out[:, 0::2] - left) / sx
    out[:, 1::2] = (out[:, 1::2] - top) / sy
    return out


def augment(recipe: str, image_size: int) -> Any:
    """The per-element training map of ``recipe``: ``fn(element, rng) -> element``."""
    _check_recipe(recipe)

    def fn(el: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        img, boxes = el["image"], el["boxes"]
        if recipe == "flip":
            img, boxes = bx.random_flip_left_right(img, boxes, rng=rng)
        img, boxes, frame = _fit(img, boxes, image_size)
        if recipe != "none":
            img = image.random_brightness(img, 32.0, rng=rng)
            img = image.random_contrast(img, 0.7, 1.3, rng=rng)
            img = np.clip(img, 0.0, 255.0)
        return _element(el, img, boxes, frame)

    return fn


def _fitted(image_size: int) -> Any:
    def fn(el: dict[str, Any]) -> dict[str, Any]:
        return _element(el, *_fit(el["image"], el["boxes"], image_size))

    return fn


def _element(el: dict[str, Any], img: Any, boxes: Any, frame: Any) -> dict[str, Any]:
    """What the detector's inputs yield for ``el``: its fitted image, boxes and frame."""
    return {
        "image": img,
        "boxes": boxes.astype(np.float32),
        "labels": el["labels"],
        "image_id": el["image_id"],
        "frame": frame,
    }


def train_inputs(
    root: str | os.PathLike[str],
    batch_size: int,
    *,
    split: str = "train",
    recipe: str = "digits",
    image_size: int = detection.IMAGE_SIZE,
    seed: int | None = None,
    threads: int = 2,
    shard: tuple[int, int] | None = None,
) -> cp.Pipeline:
    """The training pipeline: an infinite, per-epoch shuffled (by ``seed``) index
    source — this rank's ``shard=(index, count)`` of each epoch's order, taken before
    anything is read — decoded and augmented on ``threads`` threads, in padded batches
    of ``batch_size`` (short ones dropped). Resumable (``state_dict``); in deterministic
    mode, so the same ``seed`` gives the same batches, augmentation included.

    Raises:
        InvalidArgumentError: ``shard`` without a ``seed`` (the ranks' orders would
            differ and their shards overlap)."""
    data = dataset(root, split)
    index = np.arange(len(data), dtype=np.int64)
    pipe = cp.from_arrays(index, shuffle=True, seed=seed, epochs=None, chunk_size=CHUNK_SIZE)
    if shard is not None:
        pipe = pipe.shard(*shard)
    return (
        pipe.map(data.element, threads=threads)
        .map(augment(recipe, image_size), rng=True, threads=threads)
        .batch(batch_size, drop_remainder=True, pad=PAD, lengths=LENGTHS)
        .prefetch(4)
        # In order whatever thread finishes first, and the augmentation's draws from
        # ``seed`` (each rank's own): without this the order, the shards' epochs and the
        # brightness and contrast would change from run to run.
        .with_options(deterministic=True, seed=run_seed(seed, shard, True))
    )


def eval_inputs(
    root: str | os.PathLike[str],
    batch_size: int,
    *,
    split: str = "test",
    image_size: int = detection.IMAGE_SIZE,
    threads: int = 2,
) -> tuple[cp.Pipeline, CocoDetection]:
    """Every image of ``split`` once, in file order, fitted to ``image_size``, in
    padded batches (the last one short); with the dataset, for its evaluator."""
    data = dataset(root, split)
    pipe = (
        data.pipeline(threads=threads)
        .map(_fitted(image_size))
        .batch(batch_size, pad=PAD, lengths=LENGTHS)
        .prefetch(2)
        .with_options(deterministic=True)  # file order, whatever thread finishes first
    )
    return pipe, data
