"""The examples of docs/detection.md run as written (on a small embedded set), and
docs/make_detection_figures.py draws its picture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "detection.md"
SCRIPT = ROOT / "docs" / "make_detection_figures.py"

pytest.importorskip("pycocotools")


@pytest.mark.timeout(120)
def test_the_guide_examples_make_padded_and_bucketed_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path / "cache"))
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 4
    first = blocks[0].replace("embedded_detection()", "embedded_detection(n_train=40, n_test=8)")
    first = first.replace("epochs=10", "epochs=1")
    namespace: dict = {}
    exec(compile(first, str(GUIDE), "exec"), namespace)
    batch = namespace["batch"]
    assert batch["image"].shape == (16, 128, 128, 3) and batch["image"].dtype == np.float32
    k = batch["boxes"].shape[1]
    assert batch["labels"].shape == (16, k) and batch["num_boxes"].max() == k
    mask = np.arange(k) < batch["num_boxes"][:, None]
    assert ((batch["labels"] >= 0) == mask).all()
    namespace["pipe"] = namespace["train"].pipeline().map(namespace["augment"], rng=True)
    padded = eval(blocks[1], namespace)
    assert next(iter(padded))["num_boxes"].shape == (16,)
    exec(compile(blocks[2], str(GUIDE), "exec"), namespace)
    ids = [int(i) for b in namespace["pipe"] for i in b["image_id"]]
    assert sorted(ids) == list(range(1, 41))


@pytest.mark.timeout(120)
def test_the_figure_script_draws_the_picture(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    output = tmp_path / "out" / "detection.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(output) as png:
        assert png.format == "PNG" and png.size == (1316, 530)


def test_the_committed_picture_is_small_and_shown_in_the_guide():
    picture = ROOT / "docs" / "images" / "detection.png"
    assert picture.stat().st_size < 300_000
    with Image.open(picture) as png:
        assert png.size == (1316, 530)
    assert "images/detection.png" in GUIDE.read_text()


def test_the_predictions_picture_is_committed_and_shown_in_the_guide():
    picture = ROOT / "docs" / "images" / "detection_predictions.png"
    assert picture.stat().st_size < 400_000
    with Image.open(picture) as png:
        # predict --count 8 --scale 2: two rows of four 256 x 256 pictures, 4-pixel gaps
        assert png.size == (4 + 4 * 260, 4 + 2 * 260)
    text = GUIDE.read_text()
    assert "images/detection_predictions.png" in text
    assert "conveyor detection predict --count 8 --scale 2" in text
