"""Fixtures for the I/O tests: a file-name queue stand-in and a Range-capable HTTP server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.core.errors import OutOfRangeError
from helpers import RangeServer


class NameQueue:
    """A thread-safe, closed queue of file names: what readers dequeue from."""

    def __init__(self, names: list[Any]) -> None:
        self._names = list(names)
        self._lock = threading.Lock()
        self.dequeued = 0

    def dequeue(self) -> Any:
        with self._lock:
            if not self._names:
                raise OutOfRangeError("the file-name queue is closed and empty")
            self.dequeued += 1
            return self._names.pop(0)


@pytest.fixture
def name_queue() -> type[NameQueue]:
    return NameQueue


@pytest.fixture
def range_server(tmp_path: Any) -> Iterator[RangeServer]:
    pytest.importorskip("aiohttp")
    server = RangeServer(str(tmp_path))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh directory on fsspec's in-memory filesystem, removed afterwards."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = f"/conveyor-tests-{uuid.uuid4().hex}"
    fs.mkdir(root)
    try:
        yield "memory://" + root
    finally:
        if fs.exists(root):
            fs.rm(root, recursive=True)
