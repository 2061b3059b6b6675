"""The datasets page's example of the tutorial's input functions runs as written, on the
embedded digits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    (code,) = [b for b in blocks if "distorted_inputs" in b]
    return code


@pytest.mark.timeout(120)
def test_the_input_functions_example_trains_and_evaluates_on_the_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path))
    code = _example().replace("epochs=10", "epochs=2")
    namespace: dict = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    assert namespace["root"] == tmp_path / "digits-v1"
    assert len(namespace["train"]) == 2 * 1497 // 128
    assert namespace["images"].shape == (128, 24, 24, 3)
    assert namespace["labels"].dtype == np.int32
    sizes = [len(labels) for _, labels in namespace["test"]]
    assert sizes == [128, 128, 44]
