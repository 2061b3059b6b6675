"""The examples of docs/image.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "image.md"


@pytest.mark.timeout(60)
def test_image_guide_examples_run_and_augment_a_seeded_pipeline():
    from conveyor import pipeline

    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 5
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype(np.float32)
    namespace: dict = {"pipe": pipeline.from_arrays(images).with_options(seed=0)}
    exec(compile(blocks[0], str(GUIDE), "exec"), namespace)
    assert namespace["out"].shape == (128, 32, 32, 3)
    exec(compile(blocks[1], str(GUIDE), "exec"), namespace)
    described = re.sub(r"\s+", " ", re.search(r"# (Compose\(.*?\]\))", blocks[1], re.S)[1])
    assert repr(namespace["augment"]) == described.replace("# ", "")
    out = np.stack(list(namespace["pipe"]))
    assert out.shape == (16, 24, 24, 3) and out.dtype == np.float32
    # the fused recipes, the buffer pool and the digits recipe, on uint8 sources
    namespace["images"] = np.random.default_rng(1).integers(0, 256, (10, 32, 32, 3), np.uint8)
    exec(compile(blocks[2], str(GUIDE), "exec"), namespace)
    assert namespace["batch"].shape == (3, 24, 24, 3)
    namespace["index"] = np.arange(128) % 10
    exec(compile(blocks[3], str(GUIDE), "exec"), namespace)
    assert namespace["batch"] is namespace["out"]
    exec(compile(blocks[4], str(GUIDE), "exec"), namespace)
    digits = namespace["digits_train"](namespace["images"], np.random.default_rng(2))
    assert digits.shape == (10, 32, 32, 3)
