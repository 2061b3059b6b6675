from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from train_helpers import tiny

from conveyor.__main__ import main as conveyor_main
from conveyor.apps.cifar10.features import Features, extract_features
from conveyor.apps.cifar10.finetune import FinetuneConfig, build_head, finetune
from conveyor.apps.cifar10.train import train


def _separable(n: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    centres = rng.normal(scale=3.0, size=(10, dim))
    rows = centres[labels] + rng.normal(size=(n, dim))
    return (5.0 + 10.0 * rows).astype(np.float32), labels  # far from standardized


def test_the_head_is_linear_or_has_one_hidden_layer():
    linear = build_head(192, 10)
    assert [type(m) for m in linear] == [torch.nn.Linear]
    hidden = build_head(192, 10, hidden=64, mean=np.zeros(192), std=np.ones(192))
    assert [type(m).__name__ for m in hidden] == ["_Standardize", "Linear", "ReLU", "Linear"]
    assert hidden(torch.zeros(3, 192)).shape == (3, 10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hidden", [0, 32])
def test_a_head_learns_separable_features_and_the_same_seed_trains_the_same_head(hidden):
    rows, labels = _separable(800)
    features = Features(rows[:600], labels[:600], rows[600:], labels[600:])
    config = FinetuneConfig(hidden=hidden, epochs=5, batch_size=64, device="cpu")
    first, second = finetune(features, config), finetune(features, config)
    assert first.total == 200 and first.precision > 0.95
    assert first.steps == 47  # 5 epochs of 600 rows, in batches of 64
    for a, b in zip(first.head.state_dict().values(), second.head.state_dict().values()):
        assert torch.equal(a, b)


def test_finetune_config_checks_its_values():
    with pytest.raises(ValueError):
        FinetuneConfig(epochs=0)
    with pytest.raises(ValueError):
        FinetuneConfig(hidden=-1)


@pytest.mark.timeout(240)
def test_a_head_on_the_bottleneck_features_is_as_precise_as_the_model(tmp_path):
    # a decent model in seconds: 300 steps of 32 digits through 16 channels (~99%)
    config = tiny(
        tmp_path, width=16, max_steps=300, batch_size=32, lrn_rate=0.02,
        schedule="cosine", log_frequency=300, torch_threads=2, evaluate=True,
    )  # fmt: skip
    model = train(config, log=lambda line: None)
    assert model.precision is not None and model.precision > 0.9
    head = finetune(extract_features(model.checkpoint), FinetuneConfig(device="cpu"))
    assert head.total == 300
    assert abs(head.precision - model.precision) <= 0.02, (head.precision, model.precision)


@pytest.mark.timeout(180)
def test_conveyor_cifar10_features_then_finetune(tmp_path, capsys):
    train_dir, output = str(tmp_path / "train"), str(tmp_path / "features.npz")
    status = conveyor_main(
        ["cifar10", "train", "--train_dir", train_dir, "--max_steps", "3", "--batch_size",
         "16", "--width", "8", "--seed", "0", "--torch_threads", "1", "--no_summaries",
         "--no_eval", "--threads", "1"]
    )  # fmt: skip
    assert status == 0
    capsys.readouterr()
    status = conveyor_main(
        ["cifar10", "features", "--checkpoint-dir", train_dir, "--output", output]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert f"step 3: 1497 training and 300 test features of 192 written to {output}" in out
    status = conveyor_main(
        ["cifar10", "finetune", "--features", output, "--epochs", "2", "--hidden", "16"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert re.search(r"precision @ 1 = \d\.\d{3} \(\d+ of 300 test features; 24 steps", out), out
