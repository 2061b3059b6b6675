"""Learnable data of any size in CIFAR-10's binary format, made in a moment.

Each class is a colour with a stripe pattern of its own (its direction and frequency),
and every image adds noise drawn from a fixed bank of noise images, so the classes are
easy to tell apart — a small network learns them in a few steps — yet no two images of
a class need be alike. Labels are balanced: class ``k`` has ``n // 10`` or one more.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from conveyor.datasets._binary import IMAGE_BYTES, IMAGE_SIZE
from conveyor.datasets.cifar10 import FOLDER, META, RECORD_BYTES, TEST_FILES, TRAIN_FILES
from conveyor.errors import InvalidArgumentError

__all__ = ["COLOURS", "synthetic"]

# class name -> RGB
COLOURS = {
    "red": (200, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 50, 210),
    "yellow": (220, 210, 30),
    "cyan": (30, 200, 210),
    "magenta": (200, 30, 190),
    "orange": (230, 130, 20),
    "purple": (110, 30, 160),
    "white": (225, 225, 225),
    "black": (30, 30, 30),
}
_NOISE = 60  # each pixel adds 0.._NOISE, from the bank
_BANK = 256  # noise images in the bank
_CHUNK = 1024  # records made and written at once


def _templates() -> np.ndarray:
    """``(10, 3072)`` uint8 CHW class images, each value at most ``255 - _NOISE``."""
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    templates = np.empty((len(COLOURS), 3, IMAGE_SIZE, IMAGE_SIZE))
    for k, colour in enumerate(COLOURS.values()):
        along = (x, y, x + y, x - y)[k % 4]
        stripes = 0.5 + 0.5 * np.cos(2 * np.pi * along * (k % 3 + 1) / IMAGE_SIZE)
        shade = 0.55 + 0.45 * stripes
        templates[k] = np.asarray(colour)[:, None, None] * shade
    scaled = templates * (255 - _NOISE) / 255
    return np.round(scaled).astype(np.uint8).reshape(len(COLOURS), IMAGE_BYTES)


def _write(
    path: Path, labels: np.ndarray, noise: np.ndarray, bank: np.ndarray, templates: np.ndarray
) -> None:
    """Write one record per label: its class image plus its noise image of the bank."""
    rows = np.empty((min(len(labels), _CHUNK), RECORD_BYTES), dtype=np.uint8)
    with path.open("wb") as out:
        # chunks that stay in the cache: several times faster than one pass
        for lo in range(0, len(labels), _CHUNK):
            part = rows[: min(_CHUNK, len(labels) - lo)]
            part[:, 0] = labels[lo : lo + len(part)]
            # uint8 addition that cannot overflow: templates + noise <= 255
            np.add(templates[part[:, 0]], bank[noise[lo : lo + len(part)]], out=part[:, 1:])
            out.write(part.data)


def _labels(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels in a random order, and a noise image for each."""
    labels = rng.permutation(np.arange(n) % len(COLOURS)).astype(np.uint8)
    return labels, rng.integers(0, _BANK, size=n)


def synthetic(
    n: int,
    path: str | os.PathLike[str],
    *,
    test_n: int | None = None,
    seed: int = 0,
) -> Path:
    """Write *n* training records over ``data_batch_1.bin`` … ``data_batch_5.bin`` (as
    evenly as possible, the first files one larger), *test_n* in ``test_batch.bin`` and
    the class names (:data:`COLOURS`) in ``batches.meta.txt``, all in
    ``<path>/cifar-10-batches-bin/``. The same *seed* writes the same bytes.

    Args:
        n: training records, at least 5 (one a file).
        path: the data folder (made if missing); existing files are replaced.
        test_n: test records, at least 1; default ``max(1, n // 5)``, CIFAR-10's ratio.
        seed: the seed of the labels' order and the noise.

    Returns:
        *path*, for :func:`conveyor.datasets.cifar10.files` and the rest.

    Raises:
        InvalidArgumentError: *n* below 5 or *test_n* below 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < len(TRAIN_FILES):
        raise InvalidArgumentError(f"n must be an int of at least {len(TRAIN_FILES)}, got {n!r}")
    test_n = max(1, n // 5) if test_n is None else test_n
    if isinstance(test_n, bool) or not isinstance(test_n, int) or test_n < 1:
        raise InvalidArgumentError(f"test_n must be an int of at least 1, got {test_n!r}")
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, _NOISE + 1, size=(_BANK, IMAGE_BYTES), dtype=np.uint8)
    templates = _templates()
    folder = Path(path) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    labels, noise = _labels(n, rng)
    parts = np.array_split(np.arange(n), len(TRAIN_FILES))
    for name, part in zip(TRAIN_FILES, parts):
        _write(folder / name, labels[part], noise[part], bank, templates)
    _write(folder / TEST_FILES[0], *_labels(test_n, rng), bank, templates)
    (folder / META).write_text("\n".join(COLOURS) + "\n", encoding="utf-8")
    return Path(path)
