"""The CIFAR-10 tutorial's cifar10_input.py (examples/tf1/), unchanged but for the import,
runs on the facade over the embedded data, and its batches have the statistics of
conveyor's native tutorial pipeline."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import conveyor.compat.v1 as tf
from conveyor.datasets import cifar10, embedded

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tf1" / "cifar10_input.py"


@pytest.fixture
def cifar10_input(monkeypatch):
    spec = importlib.util.spec_from_file_location("cifar10_input", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Smaller queues than the tutorial's 20,000-image pool, and fewer threads: 2 cores.
    monkeypatch.setattr(module, "NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN", 1000)
    monkeypatch.setattr(module, "NUM_EXAMPLES_PER_EPOCH_FOR_EVAL", 1000)
    monkeypatch.setattr(module, "NUM_PREPROCESS_THREADS", 2)
    return module


def _batches(images, labels, n):
    with tf.Session() as sess:
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(sess, coord)
        out = [sess.run([images, labels]) for _ in range(n)]
        coord.request_stop()
        coord.join(threads)
    return out


def _root():
    return os.path.join(embedded(), cifar10.FOLDER)


@pytest.mark.timeout(120)
def test_distorted_inputs_match_the_native_pipelines_statistics(cifar10_input, capsys):
    images, labels = cifar10_input.distorted_inputs(_root(), 128)
    assert images.shape.as_list() == [128, 24, 24, 3] and images.dtype == tf.float32
    assert labels.shape.as_list() == [128] and labels.dtype == tf.int32
    assert "Filling queue with 400 CIFAR images" in capsys.readouterr().out
    compat = _batches(images, labels, 8)
    native = []
    for i, (x, y) in enumerate(cifar10.distorted_inputs(embedded(), 128, seed=0)):
        native.append((np.asarray(x), np.asarray(y)))
        if i == 7:
            break
    cx = np.concatenate([b[0] for b in compat])
    nx = np.concatenate([b[0] for b in native])
    cy = np.concatenate([b[1] for b in compat])
    ny = np.concatenate([b[1] for b in native])
    # per-image standardization: every image has mean 0 and standard deviation 1
    for x in (cx, nx):
        np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-4)
        np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-3)
    # the same distribution of pixel values and of labels
    qs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    np.testing.assert_allclose(np.quantile(cx, qs), np.quantile(nx, qs), atol=0.1)
    assert set(cy.tolist()) == set(ny.tolist()) == set(range(10))
    assert abs(np.bincount(cy, minlength=10) - np.bincount(ny, minlength=10)).max() < 60
    # distorted: no two batches alike, the flips and crops vary
    assert not np.allclose(compat[0][0], compat[1][0])


@pytest.mark.timeout(120)
def test_inputs_match_the_native_evaluation_batches(cifar10_input):
    images, labels = cifar10_input.inputs(True, _root(), 100)
    compat = _batches(images, labels, 3)
    native = list(cifar10.inputs(embedded(), 100))
    for (cx, cy), (nx, ny) in zip(compat, native):
        np.testing.assert_array_equal(cy, ny)
        np.testing.assert_allclose(cx, nx, atol=1e-4)


def test_missing_files_raise_the_tutorials_error(cifar10_input, tmp_path):
    with pytest.raises(ValueError, match="Failed to find file"):
        cifar10_input.distorted_inputs(str(tmp_path), 128)
