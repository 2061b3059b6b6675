"""Fixtures for the dataset tests: a local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import RangeServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RangeServer]:
    """A server of the files of ``<tmp_path>/served``."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = RangeServer(str(root))
    try:
        yield httpd
    finally:
        httpd.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty folder to download into, beside the served one."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder
