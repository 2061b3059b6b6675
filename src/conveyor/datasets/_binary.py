"""The CIFAR binary formats, shared by CIFAR-10 and CIFAR-100: fixed-length records of
label bytes followed by one 32x32 RGB image stored channel by channel (CHW).

A :class:`Format` knows a dataset's folder, files and record layout; the public
functions of :mod:`conveyor.datasets.cifar10` and :mod:`conveyor.datasets.cifar100`
are thin calls into it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conveyor.errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = ["IMAGE_BYTES", "IMAGE_SIZE", "Format", "write_records"]

IMAGE_SIZE = 32
DEPTH = 3
IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * DEPTH


@dataclass(frozen=True)
class Format:
    """One CIFAR binary dataset.

    Attributes:
        name: the dataset's name in messages (``"CIFAR-10"``).
        folder: the folder the archive extracts to (``"cifar-10-batches-bin"``).
        label_bytes: label bytes before each image.
        train: the training files, in order.
        test: the evaluation files.
        download: how a message names the function that fetches the data.
        instead: what else a message about missing data suggests, if anything.
    """

    name: str
    folder: str
    label_bytes: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    download: str
    instead: str = ""

    @property
    def record_bytes(self) -> int:
        return self.label_bytes + IMAGE_BYTES

    def folder_of(self, data_dir: str | os.PathLike[str]) -> Path:
        """The dataset's folder: *data_dir*/``folder``, or *data_dir* itself when it is
        that folder (it holds the first training file and no ``folder`` inside).

        Raises:
            NotFoundError: *data_dir* does not exist.
        """
        root = Path(data_dir)
        if not root.is_dir():
            raise NotFoundError(
                f"{self.name} data not found: the folder {root} does not exist; {self._how(root)}"
            )
        inner = root / self.folder
        if not inner.is_dir() and (root / self.train[0]).is_file():
            return root
        return inner

    def _how(self, root: Path) -> str:
        return f"call {self.download}({str(root)!r}) to fetch it{self.instead}"

    def files(self, data_dir: str | os.PathLike[str], eval_data: bool) -> list[str]:
        """The record files, each checked to exist and hold whole records.

        Raises:
            NotFoundError: the folder or a file is missing.
            DataLossError: a file is empty or its size is not a multiple of the record size.
        """
        folder = self.folder_of(data_dir)
        names = self.test if eval_data else self.train
        paths = [folder / name for name in names]
        for path in paths:
            self.check(path, Path(data_dir))
        return [str(path) for path in paths]

    def check(self, path: Path, root: Path) -> int:
        """The number of records in *path*.

        Raises:
            NotFoundError: *path* does not exist.
            DataLossError: *path* is empty or holds a partial record.
        """
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(
                f"{self.name} data not found: the file {path} does not exist; {self._how(root)}"
            ) from None
        if size == 0 or size % self.record_bytes:
            raise DataLossError(
                f"{path} is not a {self.name} record file: its size, {size} bytes, is not "
                f"a positive multiple of the record size, {self.record_bytes} bytes"
            )
        return size // self.record_bytes

    def load_records(self, data_dir: str | os.PathLike[str], eval_data: bool) -> list[np.memmap]:
        """One read-only ``(n, record_bytes)`` uint8 memory map per file, in file order."""
        paths = [Path(p) for p in self.files(data_dir, eval_data)]
        return [
            np.memmap(
                path,
                dtype=np.uint8,
                mode="r",
                shape=(self.check(path, Path(data_dir)), self.record_bytes),
            )
            for path in paths
        ]

    def records(self, records: np.ndarray) -> np.ndarray:
        """*records* checked to be ``(n, record_bytes)`` uint8 rows.

        Raises:
            InvalidArgumentError: another dtype or shape.
        """
        array = np.asarray(records)
        if array.dtype != np.uint8 or array.ndim != 2 or array.shape[1] != self.record_bytes:
            raise InvalidArgumentError(
                f"{self.name} records are (n, {self.record_bytes}) uint8 rows, got "
                f"{array.shape} {array.dtype}"
            )
        return array

    def images(self, records: np.ndarray) -> np.ndarray:
        """The images of *records* as an ``(n, 32, 32, 3)`` uint8 view (no copy)."""
        array = self.records(records)
        chw = array[:, self.label_bytes :].reshape(len(array), DEPTH, IMAGE_SIZE, IMAGE_SIZE)
        return chw.transpose(0, 2, 3, 1)

    def class_names(self, data_dir: str | os.PathLike[str], meta: str) -> list[str]:
        """The non-empty lines of the folder's *meta* file.

        Raises:
            NotFoundError: the folder or the file is missing.
        """
        path = self.folder_of(data_dir) / meta
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(
                f"{self.name} data not found: the file {path} does not exist; "
                f"{self._how(Path(data_dir))}"
            ) from None
        return [line.strip() for line in text.splitlines() if line.strip()]


def write_records(
    path: Path, labels: list[np.ndarray] | np.ndarray, images: np.ndarray, chw: bool = False
) -> None:
    """Write records to *path*: per row, its label bytes, then its image as CHW bytes.

    Args:
        labels: ``(n,)`` or ``(n, k)`` values 0..255, the label bytes of each record.
        images: ``(n, 32, 32, 3)`` HWC images, or ``(n, 3, 32, 32)`` with ``chw=True``.
    """
    label_array = np.asarray(labels, dtype=np.uint8).reshape(len(images), -1)
    width = label_array.shape[1]
    rows = np.empty((len(images), width + IMAGE_BYTES), dtype=np.uint8)
    rows[:, :width] = label_array
    planes = images if chw else np.asarray(images).transpose(0, 3, 1, 2)
    rows[:, width:] = np.asarray(planes, dtype=np.uint8).reshape(len(images), IMAGE_BYTES)
    path.write_bytes(rows.tobytes())
