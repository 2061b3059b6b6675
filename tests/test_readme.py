"""The README's examples run as written."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers import CIFAR_RECORD, write_cifar_files

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.timeout(60)
def test_readme_python_example_runs_and_leaves_no_thread():
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    assert namespace["images"].shape == (128, 3072)
    assert [t for t in threading.enumerate() if t.name.startswith("QueueRunner")] == []


def test_readme_starts_with_exactly_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == [
        'pip install torch==2.13.0 && pip install -e ".[train]" && conveyor cifar10 train',
        'pip install torch==2.13.0 && pip install -e ".[test]" && pytest',
    ]


def test_every_code_block_of_the_readme_says_its_language():
    fences = re.findall(r"^```(.*)$", README.read_text(), re.M)
    assert fences[::2] == ["bash", "python", "python"]


@pytest.mark.timeout(120)
def test_readme_pipeline_example_trains_on_cifar_files(tmp_path, monkeypatch, capsys):
    records = write_cifar_files(tmp_path / "cifar-10-batches-bin", per_file=60)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_blocks()[1], str(README), "exec"), namespace)
    total = 10 * len(records)  # ten epochs of 300 records, in batches of 128
    assert namespace["steps"] == total // 128 == 23
    stats = namespace["pipe"].stats()
    assert stats.consumer_elements == 23
    images, labels = namespace["images"], namespace["labels"]  # the last batch
    assert (images.shape, images.dtype) == ((128, 32, 32, 3), np.uint8)
    assert (labels.shape, labels.dtype) == ((128,), np.int64)
    # Each element is a record written, decoded: label byte, then the CHW planes as HWC.
    rebuilt = np.concatenate(
        [labels[:, None].astype(np.uint8), images.transpose(0, 3, 1, 2).reshape(128, -1)], axis=1
    )
    assert rebuilt.shape == (128, CIFAR_RECORD)
    written = {record.tobytes() for record in records}
    assert all(row.tobytes() in written for row in rebuilt)
    assert "map(decode_cifar)" in capsys.readouterr().out
    assert [t for t in threading.enumerate() if t.name.startswith("QueueRunner")] == []
