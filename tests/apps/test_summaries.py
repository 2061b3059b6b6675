"""The event files are read back with TensorBoard's own reader."""

from __future__ import annotations

import pytest
import torch
from train_helpers import tiny

from conveyor.apps.cifar10.summaries import image_grid, tag_of
from conveyor.apps.cifar10.train import train

pytest.importorskip("tensorboard")


@pytest.mark.timeout(180)
def test_training_writes_scalars_queue_fills_histograms_and_one_image_grid(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny(tmp_path, max_steps=4, summaries=True, histogram_frequency=2)
    train(config)
    events = EventAccumulator(config.train_dir, size_guidance={"histograms": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    scalars = set(tags["scalars"])
    for tag in (
        "total_loss",
        "cross_entropy",
        "learning_rate",
        "global_step/sec",
        "examples/sec",
        "input/stall_percent",
    ):
        assert tag in scalars, tag
    assert [s.step for s in events.Scalars("total_loss")] == [2, 4]
    assert events.Scalars("learning_rate")[0].value == pytest.approx(0.1)
    fills = [t for t in scalars if t.startswith("input/queue_fill/")]
    assert fills, scalars
    assert all(0.0 <= events.Scalars(t)[0].value <= 1.0 for t in fills)
    stall = events.Scalars("input/stall_percent")[0].value
    assert 0.0 <= stall <= 100.0
    assert "weights/conv1.weight" in tags["histograms"]
    assert [h.step for h in events.Histograms("weights/conv1.weight")] == [2, 4]
    (grid,) = events.Images("input/augmented_images")
    assert grid.width == 8 * 32 and grid.height == 2 * 32


def test_image_grid_tiles_and_rescales_each_image():
    images = torch.randn(10, 3, 4, 5) * 7
    grid = image_grid(images, columns=4)
    assert grid.shape == (3, 3 * 4, 4 * 5)
    assert grid.min() >= 0 and grid.max() <= 1
    torch.testing.assert_close(grid[:, :4, :5].amax(), torch.tensor(1.0))


def test_tags_are_safe_for_tensorboard():
    assert tag_of("from_arrays+batch(128)") == "from_arrays_batch_128"
    assert tag_of("map[digits_augment]") == "map_digits_augment"
