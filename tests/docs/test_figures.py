"""docs/make_figures.py draws the augmentation grid of docs/image.md from the embedded
digits: one row per recipe or op, eight samples a row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "make_figures.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=100
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("scale", "size"), [(2, (738, 768)), (1, (482, 416))])
def test_the_script_writes_the_grid(tmp_path, scale, size):
    output = tmp_path / "out" / "grid.png"
    done = _run(
        "--output", str(output), "--data-dir", str(tmp_path / "digits"), "--scale", str(scale)
    )
    assert done.returncode == 0, done.stderr
    with Image.open(output) as png:
        assert png.format == "PNG"
        assert png.size == size  # 11 rows of 8 samples and their labels
        assert png.mode == "RGB"


@pytest.mark.timeout(60)
def test_the_script_explains_itself():
    done = _run("--help")
    assert done.returncode == 0
    assert "--output" in done.stdout and "--data-dir" in done.stdout


def test_the_committed_picture_is_small_and_shown_in_the_guide():
    picture = ROOT / "docs" / "images" / "augmentations.png"
    assert picture.stat().st_size < 300_000
    with Image.open(picture) as png:
        assert png.size == (738, 768)
    assert "images/augmentations.png" in (ROOT / "docs" / "image.md").read_text()
