"""The datasets page's example runs as written, on the embedded digits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


@pytest.mark.timeout(60)
def test_the_example_reads_the_embedded_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path))
    code = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)[0]
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["root"] == tmp_path / "digits-v1"
    assert namespace["images"].shape == (300, 32, 32, 3)
    assert namespace["names"][:2] == ["zero", "one"]
    batches = list(namespace["pipe"].batch(500))
    assert sum(len(b) for b in batches) == 1497
    assert np.bincount(namespace["labels"]).sum() == 300
