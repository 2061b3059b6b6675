from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import tiny

from conveyor.apps.cifar10 import data
from conveyor.apps.cifar10.eval import evaluate_checkpoint
from conveyor.apps.cifar10.features import (
    Features,
    extract_features,
    load_ema_model,
    load_features,
    save_features,
)
from conveyor.apps.cifar10.train import train
from conveyor.core.errors import DataLossError, NotFoundError
from conveyor.datasets import embedded


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tutorial net of 8 channels after 3 steps, its checkpoint and its features."""
    tmp_path = tmp_path_factory.mktemp("features")
    result = train(tiny(tmp_path, max_steps=3))
    return result.checkpoint, extract_features(result.checkpoint.parent)


def _some_features(n_train=5, n_test=3, dim=4) -> Features:
    rng = np.random.default_rng(0)
    return Features(
        rng.normal(size=(n_train, dim)).astype(np.float32),
        rng.integers(0, 10, n_train),
        rng.normal(size=(n_test, dim)).astype(np.float32),
        rng.integers(0, 10, n_test),
        global_step=7,
    )


@pytest.mark.timeout(120)
def test_features_are_every_image_once_in_order_with_its_label(trained):
    _, found = trained
    assert found.train_features.shape == (1497, 192) and found.test_features.shape == (300, 192)
    assert found.train_features.dtype == np.float32 and found.global_step == 3
    labels = [data._Images(embedded(), eval_data=e).labels for e in (False, True)]
    np.testing.assert_array_equal(found.train_labels, labels[0])
    np.testing.assert_array_equal(found.test_labels, labels[1])
    assert (found.train_features >= 0).all()  # local4's ReLU: before the classifier


@pytest.mark.timeout(120)
def test_the_classifier_on_the_features_is_the_evaluated_model(trained):
    path, found = trained
    model, _, _ = load_ema_model(path)
    with torch.no_grad():
        logits = model.classifier(torch.from_numpy(found.test_features))
    correct = int((logits.argmax(1).numpy() == found.test_labels).sum())
    assert correct == evaluate_checkpoint(path).correct


@pytest.mark.timeout(120)
def test_a_checkpoint_file_may_be_named_instead_of_its_folder(trained):
    path, found = trained
    again = extract_features(path)
    np.testing.assert_array_equal(again.test_features, found.test_features)


@pytest.mark.parametrize("name", ["f.npz", "f", "f.safetensors"])
def test_features_survive_a_save_and_a_load(tmp_path, name):
    if name.endswith(".safetensors"):
        pytest.importorskip("safetensors")
    features = _some_features()
    path = save_features(features, tmp_path / "sub" / name)
    assert path.suffix == (".safetensors" if name.endswith(".safetensors") else ".npz")
    back = load_features(path)
    for field in ("train_features", "train_labels", "test_features", "test_labels"):
        np.testing.assert_array_equal(getattr(back, field), getattr(features, field))
    assert back.global_step == 7 and back.train_labels.dtype == np.int64


def test_loading_refuses_pickles_and_incomplete_files(tmp_path):
    np.savez(tmp_path / "objects.npz", **{"train/features": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(DataLossError):
        load_features(tmp_path / "objects.npz")
    np.savez(tmp_path / "half.npz", **{"train/features": np.zeros((2, 3), np.float32)})
    with pytest.raises(DataLossError, match="train/labels"):
        load_features(tmp_path / "half.npz")
    with pytest.raises(NotFoundError):
        load_features(tmp_path / "none.npz")


def test_extracting_without_a_checkpoint_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="no checkpoint"):
        extract_features(tmp_path)
