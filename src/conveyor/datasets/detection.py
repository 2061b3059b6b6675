"""An embedded detection dataset: the embedded digits placed on larger canvases, with
COCO-format annotations, made offline and deterministically from a seed.

Each image is a ``128 x 128`` RGB canvas — a dark background of random colour with
per-pixel noise — holding 1 to 4 digits from :mod:`conveyor.datasets.digits`, each
scaled (bilinear) to a random square of 16 to 48 pixels, drawn in a random bright
colour at a random position where it overlaps no other digit's box (a digit that finds
no such place in 50 tries is left out; the first always fits). A digit's box is the
tight box of its ink (the pixels whose scaled value is at least a quarter of the full
stroke), so boxes fit the strokes, not the square.

The split is by digit: the training canvases use only the digits' training images,
the test canvases only the 300 test images of :func:`~conveyor.datasets.digits.eval_indices`,
so no handwritten digit appears in both.

:func:`embedded_detection` writes, once per set of arguments::

    <path>/train/000000.png …        the training images (or .jpg)
    <path>/test/000000.png …
    <path>/instances_train.json       COCO instances: images, annotations, categories
    <path>/instances_test.json

Categories are the digits, ids 1..10 for the digits 0..9 (COCO's ids start at 1), named
``zero`` … ``nine``; the COCO reader maps them to the labels 0..9. Image ids count from
1 in file order; each annotation has ``bbox`` ``[x, y, w, h]``, ``area`` ``w * h``,
``iscrowd`` 0 and the box as its one-polygon ``segmentation``.

Everything is a function of ``(n_train, n_test, seed)``: image ``i`` of a split draws
from its own generator, ``SeedSequence(seed, spawn_key=(split, i))``, so a larger set
begins with the images of a smaller one.

    >>> import tempfile, json
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = embedded_detection(tmp.name, n_train=4, n_test=2)
    >>> sorted(p.name for p in root.iterdir())
    ['instances_test.json', 'instances_train.json', 'test', 'train']
    >>> coco = json.loads((root / "instances_train.json").read_text())
    >>> len(coco["images"]), [c["name"] for c in coco["categories"]][:3]
    (4, ['zero', 'one', 'two'])
    >>> tmp.cleanup()
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from conveyor.datasets import digits
from conveyor.datasets._cache import cache_dir
from conveyor.errors import InvalidArgumentError

__all__ = [
    "CATEGORIES",
    "IMAGE_SIZE",
    "SPLITS",
    "annotation_file",
    "embedded_detection",
    "image_dir",
    "render",
]

IMAGE_SIZE = 128
SPLITS = ("train", "test")
MAX_DIGITS = 4
DIGIT_SIZES = (16, 48)  # inclusive
CATEGORIES = tuple(
    {"id": d + 1, "name": name, "supercategory": "digit"} for d, name in enumerate(digits.NAMES)
)
_VERSION = "detection-v1"
_INK = 0.25  # the share of a full stroke that counts as ink for the tight box
_FORMATS = {"png": ".png", "jpeg": ".jpg"}


def annotation_file(root: str | os.PathLike[str], split: str = "train") -> Path:
    """``root / f"instances_{split}.json"``."""
    return Path(root) / f"instances_{_split(split)}.json"


def image_dir(root: str | os.PathLike[str], split: str = "train") -> Path:
    """``root / split``: where the split's image files are."""
    return Path(root) / _split(split)


def _split(split: str) -> str:
    if split not in SPLITS:
        raise InvalidArgumentError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def render(split: str, index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image ``index`` of ``split`` for ``seed``: ``(image, boxes, digits)`` — the
    ``(128, 128, 3)`` ``uint8`` canvas, its ``(k, 4)`` ``float32`` boxes
    ``[x0, y0, x1, y1]`` and the ``(k,)`` ``int64`` digits (0..9)."""
    from conveyor.image import geometry

    which = SPLITS.index(_split(split))
    images, labels, pools = _source()
    pool = pools[which]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(which, index)))
    size = IMAGE_SIZE
    background = rng.integers(0, 64, 3)
    noise = rng.integers(-4, 5, (size, size, 3))
    canvas = np.clip(background + noise, 0, 255).astype(np.float32)
    boxes: list[list[int]] = []
    found: list[int] = []
    for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
        pick = int(pool[rng.integers(0, len(pool))])
        side = int(rng.integers(DIGIT_SIZES[0], DIGIT_SIZES[1] + 1))
        color = rng.integers(128, 256, 3).astype(np.float32)
        alpha = geometry.resize(
            images[pick].astype(np.float32)[:, :, None] / 16.0, (side, side), "bilinear"
        )[:, :, 0]
        alpha = np.clip(alpha, 0.0, 1.0)
        ys, xs = np.nonzero(alpha >= _INK)
        if not len(ys):  # pragma: no cover - every embedded digit has ink
            continue
        tight = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        for _attempt in range(50):
            oy, ox = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = [tight[0] + ox, tight[1] + oy, tight[2] + ox, tight[3] + oy]
            if all(
                box[0] >= b[2] + 1 or b[0] >= box[2] + 1 or box[1] >= b[3] + 1 or b[1] >= box[3] + 1
                for b in boxes
            ):
                break
        else:
            continue
        window = canvas[oy : oy + side, ox : ox + side]
        a = alpha[:, :, None]
        canvas[oy : oy + side, ox : ox + side] = window * (1 - a) + color * a
        boxes.append(box)
        found.append(int(labels[pick]))
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return (
        image,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(found, np.int64),
    )


@functools.cache
def _source() -> Any:
    """The digits and the indices each split draws from (train, test)."""
    images, labels = digits.source()
    test = digits.eval_indices(labels)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return images, labels, (train, test)


def _write_split(folder: Path, split: str, n: int, seed: int, image_format: str) -> None:
    from conveyor.ops import image_codecs

    (folder / split).mkdir()
    ext = _FORMATS[image_format]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(n):
        image, boxes, found = render(split, i, seed)
        name = f"{i:06d}{ext}"
        data = (
            image_codecs.encode_png(image)
            if image_format == "png"
            else image_codecs.encode_jpeg(image, quality=95)
        )
        (folder / split / name).write_bytes(data)
        images.append({"id": i + 1, "file_name": name, "height": IMAGE_SIZE, "width": IMAGE_SIZE})
        for (x0, y0, x1, y1), d in zip(boxes.tolist(), found.tolist()):
            w, h = x1 - x0, y1 - y0
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": d + 1,
                    "bbox": [x0, y0, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                    "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
                }
            )
    coco = {
        "info": {
            "description": f"conveyor embedded detection digits, {split}",
            "version": _VERSION,
            "seed": seed,
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": list(CATEGORIES),
    }
    (folder / f"instances_{split}.json").write_text(json.dumps(coco, separators=(",", ":")))


def _complete(root: Path, counts: dict[str, int]) -> bool:
    for split, n in counts.items():
        if not (root / f"instances_{split}.json").is_file() or not (root / split).is_dir():
            return False
        if sum(1 for _ in (root / split).iterdir()) != n:
            return False
    return True


def embedded_detection(
    path: str | os.PathLike[str] | None = None,
    n_train: int = 1000,
    n_test: int = 200,
    seed: int = 0,
    image_format: str = "png",
) -> Path:
    """The embedded detection set, written on first use and reused after.

    The folder is written whole into a temporary folder and renamed into place, so a
    reader never sees it half-written; a folder already there is reused when it holds
    both annotation files and the expected number of images.

    Args:
        path: the folder; default ``cache_dir() / "detection-v1-{n_train}-{n_test}-{seed}-{image_format}"``.
        n_train: training images (>= 1).
        n_test: test images (>= 1).
        seed: what every image is drawn from.
        image_format: ``"png"`` (lossless) or ``"jpeg"`` (quality 95).

    Returns:
        The folder (see the module's layout; :func:`annotation_file`, :func:`image_dir`).
    """
    if image_format not in _FORMATS:
        raise InvalidArgumentError(
            f"image_format must be one of {sorted(_FORMATS)}, got {image_format!r}"
        )
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidArgumentError(f"{name} must be a positive int, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError(f"seed must be an int >= 0, got {seed!r}")
    root = (
        Path(path)
        if path is not None
        else cache_dir() / f"{_VERSION}-{n_train}-{n_test}-{seed}-{image_format}"
    )
    counts = {"train": n_train, "test": n_test}
    if _complete(root, counts):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    try:
        for split, n in counts.items():
            _write_split(scratch, split, n, seed, image_format)
        if root.exists() and not any(root.iterdir()):
            root.rmdir()
        try:
            scratch.rename(root)
        except OSError:
            if not _complete(root, counts):  # not another process's complete folder
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return root
