"""A small real dataset that ships with conveyor, in CIFAR-10's binary format.

The 1,797 8x8 handwritten digits of the UCI *Optical Recognition of Handwritten Digits*
data set (E. Alpaydin, C. Kaynak, 1998; the copy scikit-learn distributes; licensed
CC BY 4.0), stored in ``data/digits.bin.gz`` (46 KB) with their labels. Each pixel
counts the inked pixels of a 4x4 block of a 32x32 bitmap, 0..16.

:func:`embedded` expands them once into ``cifar-10-batches-bin/`` — the layout of
CIFAR-10, so everything that reads CIFAR-10 reads them — with:

* each 8x8 image upscaled 4x by nearest neighbour (a pixel becomes the 4x4 block it
  was counted from), its values scaled ``round(v * 255 / 16)``, and the grey copied
  to the red, green and blue planes;
* a fixed stratified split: 30 images of each digit for ``test_batch.bin`` (300), the
  other 1,497 over ``data_batch_1.bin`` … ``data_batch_5.bin`` (300, 300, 299, 299,
  299), each in the source order;
* ``batches.meta.txt`` naming the digits ``zero`` … ``nine``.

::

    >>> import tempfile
    >>> from conveyor.datasets import cifar10
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = embedded(tmp.name)
    >>> cifar10.class_names(root)[:3]
    ['zero', 'one', 'two']
    >>> [len(r) for r in cifar10.load_records(root)], len(cifar10.load_records(root, True)[0])
    ([300, 300, 299, 299, 299], 300)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from conveyor.datasets._binary import write_records
from conveyor.datasets._cache import cache_dir
from conveyor.datasets.cifar10 import FOLDER, META, RECORD_BYTES, TEST_FILES, TRAIN_FILES
from conveyor.errors import DataLossError

__all__ = [
    "NAMES",
    "NUM_EXAMPLES",
    "TEST_PER_CLASS",
    "embedded",
    "source",
    "eval_indices",
]

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NUM_EXAMPLES = 1797
TEST_PER_CLASS = 30
SCALE = 4  # 8x8 -> 32x32
_VERSION = "digits-v1"  # the cache folder's name; a new layout gets a new one


def source() -> tuple[np.ndarray, np.ndarray]:
    """The embedded data as distributed: ``(1797, 8, 8)`` uint8 images with values
    0..16, and their ``(1797,)`` int32 labels, in the source order."""
    raw = gzip.decompress(
        resources.files("conveyor.datasets").joinpath("data/digits.bin.gz").read_bytes()
    )
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(NUM_EXAMPLES, 65)
    return rows[:, 1:].reshape(-1, 8, 8).copy(), rows[:, 0].astype(np.int32)


def eval_indices(labels: np.ndarray) -> np.ndarray:
    """The indices of the test images, ascending: of each class's ``c`` images, in source
    order, those at positions ``floor((k + 1/2) * c / 30)`` for ``k`` in 0..29 — spread
    evenly over the writers, and the same on every machine."""
    chosen = []
    for digit in range(len(NAMES)):
        where = np.flatnonzero(labels == digit)
        positions = ((2 * np.arange(TEST_PER_CLASS) + 1) * len(where)) // (2 * TEST_PER_CLASS)
        chosen.append(where[positions])
    return np.sort(np.concatenate(chosen))


def _upscale(images: np.ndarray) -> np.ndarray:
    """``(n, 8, 8)`` values 0..16 -> ``(n, 3, 32, 32)`` CHW uint8, grey in each plane."""
    grey = (images.astype(np.uint16) * 255 + 8) // 16
    big = grey.repeat(SCALE, axis=1).repeat(SCALE, axis=2).astype(np.uint8)
    return np.broadcast_to(big[:, None], (len(big), 3, *big.shape[1:]))


def _layout() -> dict[str, tuple[np.ndarray, np.ndarray] | bytes]:
    """The files of the expanded folder: records ``(labels, chw images)`` or bytes."""
    images, labels = source()
    test = np.zeros(len(labels), dtype=bool)
    test[eval_indices(labels)] = True
    train = np.flatnonzero(~test)
    chw = _upscale(images)
    files: dict[str, tuple[np.ndarray, np.ndarray] | bytes] = {
        name: (labels[part], chw[part])
        for name, part in zip(TRAIN_FILES, np.array_split(train, len(TRAIN_FILES)))
    }
    files[TEST_FILES[0]] = (labels[test], chw[test])
    files[META] = ("\n".join(NAMES) + "\n").encode()
    return files


def _sizes() -> dict[str, int]:
    """The size of each file of the expanded folder."""
    counts = np.array_split(np.arange(NUM_EXAMPLES - TEST_PER_CLASS * len(NAMES)), 5)
    sizes = {name: len(part) * RECORD_BYTES for name, part in zip(TRAIN_FILES, counts)}
    sizes[TEST_FILES[0]] = TEST_PER_CLASS * len(NAMES) * RECORD_BYTES
    sizes[META] = len("\n".join(NAMES)) + 1
    return sizes


def _complete(folder: Path) -> bool:
    """Whether *folder* holds every file at its size.

    Raises:
        DataLossError: it holds them, but at other sizes.
    """
    if not folder.is_dir():
        return False
    wrong = [
        f"{name} ({(folder / name).stat().st_size if (folder / name).exists() else 'missing'}"
        f", not {size} bytes)"
        for name, size in _sizes().items()
        if not (folder / name).is_file() or (folder / name).stat().st_size != size
    ]
    if wrong:
        raise DataLossError(
            f"{folder} is not the embedded digits: {', '.join(wrong)}; remove the folder "
            "and call embedded() again"
        )
    return True


def embedded(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The embedded digits as CIFAR-10 binary files, expanded on first use.

    The folder is written whole into a temporary folder and renamed into place, so a
    reader never sees it half-written, and processes expanding at once all end with the
    same complete folder. An expanded folder is reused once its files' sizes are checked.

    Args:
        data_dir: where ``cifar-10-batches-bin/`` goes; default
            ``cache_dir() / "digits-v1"`` (see :func:`conveyor.datasets.cache_dir`).

    Returns:
        *data_dir*, for :func:`conveyor.datasets.cifar10.files` and the rest.

    Raises:
        DataLossError: the folder exists with files of other sizes.
    """
    root = Path(data_dir) if data_dir is not None else cache_dir() / _VERSION
    folder = root / FOLDER
    if _complete(folder):
        return root
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".expand-"))
    try:
        for name, content in _layout().items():
            if isinstance(content, bytes):
                (scratch / name).write_bytes(content)
            else:
                write_records(scratch / name, content[0], content[1], chw=True)
        try:
            scratch.rename(folder)
        except OSError:
            if not _complete(folder):  # not another process's complete folder
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return root
