"""CIFAR-10 in its binary format, as TensorFlow's ``cifar10_input.py`` reads it.

A record is one label byte (0..9) and a 32x32 RGB image as 3,072 bytes: the 1,024 red
values, then the green, then the blue, each plane row by row. ``download(data_dir)``
fills *data_dir* with ``cifar-10-batches-bin/``: ``data_batch_1.bin`` …
``data_batch_5.bin`` (10,000 records each), ``test_batch.bin`` (10,000) and
``batches.meta.txt`` (the class names, one a line).

Every function taking *data_dir* accepts the folder ``download`` filled, or the
``cifar-10-batches-bin`` folder itself::

    >>> import tempfile
    >>> from conveyor.datasets import cifar10, synthetic
    >>> tmp = tempfile.TemporaryDirectory()
    >>> root = synthetic(50, tmp.name, test_n=10)
    >>> [Path(f).name for f in cifar10.files(root, eval_data=True)]
    ['test_batch.bin']
    >>> records = cifar10.load_records(root)
    >>> [len(r) for r in records], records[0].shape[1]
    ([10, 10, 10, 10, 10], 3073)
    >>> cifar10.images_of(records[0]).shape, cifar10.labels_of(records[0]).dtype
    ((10, 32, 32, 3), dtype('int32'))
    >>> del records; tmp.cleanup()

Read them in a pipeline with :func:`conveyor.pipeline.fixed_length_records`\\
``(cifar10.files(root), cifar10.RECORD_BYTES)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from conveyor.datasets import _download
from conveyor.datasets._binary import IMAGE_SIZE, Format

__all__ = [
    "IMAGE_SIZE",
    "NUM_CLASSES",
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
    "distorted_inputs",
    "inputs",
    "standard_train_inputs",
]

NUM_CLASSES = 10
LABEL_BYTES = 1
RECORD_BYTES = LABEL_BYTES + IMAGE_SIZE * IMAGE_SIZE * 3
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
META = "batches.meta.txt"

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
# Published on https://www.cs.toronto.edu/~kriz/cifar.html, next to the link.
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

_FORMAT = Format(
    name="CIFAR-10",
    folder=FOLDER,
    label_bytes=LABEL_BYTES,
    train=TRAIN_FILES,
    test=TEST_FILES,
    download="conveyor.datasets.download",
    instead=(
        ", or use conveyor.datasets.embedded() for a small real dataset in this format "
        "that needs no download"
    ),
)


def files(data_dir: str | os.PathLike[str], eval_data: bool = False) -> list[str]:
    """The five training files, in order, or with ``eval_data=True`` the test file.

    Raises:
        NotFoundError: the folder or a file is missing (the message says to call
            ``download(data_dir)``, or to use ``embedded()``).
        DataLossError: a file is empty or not a whole number of records; the message
            names it, its size and the record size.
    """
    return _FORMAT.files(data_dir, eval_data)


def class_names(data_dir: str | os.PathLike[str]) -> list[str]:
    """The class names of ``batches.meta.txt``, by label.

    Raises:
        NotFoundError: the folder or the file is missing.
    """
    return _FORMAT.class_names(data_dir, META)


def load_records(data_dir: str | os.PathLike[str], eval_data: bool = False) -> list[np.memmap]:
    """Each file of :func:`files` as a read-only ``(n, RECORD_BYTES)`` uint8 memory map.

    Nothing is read until used; :func:`images_of` and :func:`labels_of` take the maps.

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


def labels_of(records: np.ndarray) -> np.ndarray:
    """The labels of ``(n, RECORD_BYTES)`` records, as ``(n,)`` int32.

    Raises:
        InvalidArgumentError: *records* are not ``(n, RECORD_BYTES)`` uint8 rows.
    """
    return _FORMAT.records(records)[:, 0].astype(np.int32)


def download(
    data_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch and extract ``cifar-10-binary.tar.gz`` into *data_dir*, unless its files are
    there already.

    The archive (170,052,171 bytes) is fetched to ``<data_dir>/cifar-10-binary.tar.gz.part``;
    an interrupted download resumes from there (an HTTP ``Range`` request; a server that
    ignores it sends the whole file again). The archive's digests are checked before
    anything is extracted; the extraction refuses absolute paths, ``..``, links, devices
    and fifos, and happens in a temporary folder that is moved into place only when
    every member has passed. The archive is removed afterwards.

    Args:
        data_dir: where ``cifar-10-batches-bin/`` goes (made if missing).
        url: a mirror of the archive (default: :data:`URL`).
        md5: the MD5 to check, in hex; ``sha256``: the SHA-256 to check. Without either,
            the published MD5 (:data:`MD5`) is checked.
        progress: show a progress bar (needs tqdm: ``pip install "conveyor[datasets]"``).

    Returns:
        *data_dir*, ready for :func:`files`.

    Raises:
        ImportError: ``progress=True`` and tqdm is not installed.
        UnavailableError: the download failed; calling again resumes it.
        DataLossError: a wrong checksum (the archive is removed; the message has both
            digests) or a refused member (named); nothing is extracted.
        InvalidArgumentError: a digest that is not hexadecimal of the right length.
    """
    digests = _download.digests_to_check(MD5, md5, sha256)
    expected = [f"{FOLDER}/{name}" for name in (*TRAIN_FILES, *TEST_FILES, META)]
    return _download.fetch(
        url or URL, Path(data_dir), "cifar-10-binary.tar.gz", digests, expected, progress
    )


# The tutorial's input functions live beside the format they read.
from conveyor.datasets._cifar_input import (  # noqa: E402
    distorted_inputs as distorted_inputs,
    inputs as inputs,
    standard_train_inputs as standard_train_inputs,
)
