"""Helpers shared by several test modules (``tests/`` is on the import path)."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import numpy as np

from conveyor.io.tfrecord import masked_crc32c

CIFAR_RECORD = 1 + 32 * 32 * 3  # CIFAR-10's binary format: a label byte, then a CHW image


def frame_tfrecord(data: bytes) -> bytes:
    """One TFRecord as TensorFlow frames it: length, its masked CRC, data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


def runner_threads() -> list[str]:
    """The names of the QueueRunner threads alive now."""
    return [t.name for t in threading.enumerate() if t.name.startswith("QueueRunnerThread")]


def wait_no_runner_threads(limit: float = 1.0) -> list[str]:
    """Wait up to ``limit`` seconds for every QueueRunner thread to end; the survivors."""
    deadline = time.monotonic() + limit
    while runner_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return runner_threads()


def write_cifar_files(folder: Path, per_file: int, files: int = 5) -> np.ndarray:
    """Write ``data_batch_1.bin`` ... ``data_batch_<files>.bin`` into *folder* (made if
    missing) in CIFAR-10's binary format, ``per_file`` random records each (labels 0-9);
    return every record, file by file, as an ``(n, 3073)`` ``uint8`` array."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = rng.integers(0, 256, size=(files * per_file, CIFAR_RECORD), dtype=np.uint8)
    records[:, 0] = rng.integers(0, 10, size=len(records))
    for i in range(files):
        part = records[i * per_file : (i + 1) * per_file]
        (folder / f"data_batch_{i + 1}.bin").write_bytes(part.tobytes())
    return records
