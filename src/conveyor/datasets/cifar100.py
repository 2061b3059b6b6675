"""CIFAR-100 in its binary format.

A record is two label bytes — the coarse label (0..19, the superclass), then the fine
label (0..99) — and a 32x32 RGB image as 3,072 bytes in the order of CIFAR-10 (red,
green, blue planes, each row by row). ``download(data_dir)`` fills *data_dir* with
``cifar-100-binary/``: ``train.bin`` (50,000 records), ``test.bin`` (10,000),
``coarse_label_names.txt`` and ``fine_label_names.txt``.

Every function taking *data_dir* accepts the folder ``download`` filled, or the
``cifar-100-binary`` folder itself. *label_mode* is ``"fine"`` or ``"coarse"``, as in
Keras' ``cifar100.load_data``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from conveyor.datasets import _download
from conveyor.datasets._binary import IMAGE_SIZE, Format
from conveyor.errors import InvalidArgumentError

__all__ = [
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "NUM_COARSE_CLASSES",
    "LABEL_BYTES",
    "RECORD_BYTES",
    "NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN",
    "NUM_EXAMPLES_PER_EPOCH_FOR_EVAL",
    "FOLDER",
    "URL",
    "MD5",
    "files",
    "class_names",
    "load_records",
    "images_of",
    "labels_of",
    "download",
]

NUM_CLASSES = 100
NUM_COARSE_CLASSES = 20
LABEL_BYTES = 2
RECORD_BYTES = LABEL_BYTES + IMAGE_SIZE * IMAGE_SIZE * 3
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

FOLDER = "cifar-100-binary"
TRAIN_FILES = ("train.bin",)
TEST_FILES = ("test.bin",)
META = {"coarse": "coarse_label_names.txt", "fine": "fine_label_names.txt"}

URL = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
# Published on https://www.cs.toronto.edu/~kriz/cifar.html, next to the link.
MD5 = "03b5dce01913d631647c71ecec9e9cb8"

LabelMode = Literal["fine", "coarse"]

_FORMAT = Format(
    name="CIFAR-100",
    folder=FOLDER,
    label_bytes=LABEL_BYTES,
    train=TRAIN_FILES,
    test=TEST_FILES,
    download="conveyor.datasets.download_cifar100",
)


def _column(label_mode: str) -> int:
    if label_mode not in META:
        raise InvalidArgumentError(f"label_mode is 'fine' or 'coarse', got {label_mode!r}")
    return 0 if label_mode == "coarse" else 1


def files(data_dir: str | os.PathLike[str], eval_data: bool = False) -> list[str]:
    """``[train.bin]``, or with ``eval_data=True`` ``[test.bin]``.

    Raises:
        NotFoundError: the folder or the file is missing (the message says to call
            ``download_cifar100(data_dir)``).
        DataLossError: the file is empty or not a whole number of records; the message
            names it, its size and the record size.
    """
    return _FORMAT.files(data_dir, eval_data)


def class_names(data_dir: str | os.PathLike[str], label_mode: LabelMode = "fine") -> list[str]:
    """The 100 fine class names, or with ``label_mode="coarse"`` the 20 superclass
    names, by label.

    Raises:
        NotFoundError: the folder or the file is missing.
        InvalidArgumentError: another *label_mode*.
    """
    _column(label_mode)
    return _FORMAT.class_names(data_dir, META[label_mode])


def load_records(data_dir: str | os.PathLike[str], eval_data: bool = False) -> list[np.memmap]:
    """Each file of :func:`files` as a read-only ``(n, RECORD_BYTES)`` uint8 memory map.

    Raises:
        NotFoundError, DataLossError: as :func:`files`.
    """
    return _FORMAT.load_records(data_dir, eval_data)


def images_of(records: np.ndarray) -> np.ndarray:
    """The images of ``(n, RECORD_BYTES)`` records as an ``(n, 32, 32, 3)`` uint8 HWC
    view: strided over the records' own memory, nothing copied.

    Raises:
        InvalidArgumentError: *records* are not ``(n, RECORD_BYTES)`` uint8 rows.
    """
    return _FORMAT.images(records)


def labels_of(records: np.ndarray, label_mode: LabelMode = "fine") -> np.ndarray:
    """The fine (or coarse) labels of ``(n, RECORD_BYTES)`` records, as ``(n,)`` int32.

    Raises:
        InvalidArgumentError: *records* are not ``(n, RECORD_BYTES)`` uint8 rows, or
            another *label_mode*.
    """
    column = _column(label_mode)
    return _FORMAT.records(records)[:, column].astype(np.int32)


def download(
    data_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch and extract ``cifar-100-binary.tar.gz`` into *data_dir*, unless its files are
    there already: as :func:`conveyor.datasets.cifar10.download`, with the published MD5
    :data:`MD5`.

    Returns:
        *data_dir*, ready for :func:`files`.
    """
    digests = _download.digests_to_check(MD5, md5, sha256)
    expected = [f"{FOLDER}/{name}" for name in (*TRAIN_FILES, *TEST_FILES, *META.values())]
    return _download.fetch(
        url or URL, Path(data_dir), "cifar-100-binary.tar.gz", digests, expected, progress
    )
