"""Synthetic CIFAR-10 files: any size, the exact layout, deterministic, balanced and
learnable."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from conveyor.datasets import cifar10, synthetic
from conveyor.errors import InvalidArgumentError

pytestmark = pytest.mark.timeout(60)


def _all(root: Path, eval_data: bool = False) -> np.ndarray:
    return np.concatenate([np.asarray(r) for r in cifar10.load_records(root, eval_data)])


def test_n_is_split_over_the_five_batches_with_a_test_file_and_class_names(tmp_path):
    assert synthetic(1003, tmp_path) == tmp_path
    assert [len(r) for r in cifar10.load_records(tmp_path)] == [201, 201, 201, 200, 200]
    assert len(cifar10.load_records(tmp_path, eval_data=True)[0]) == 200  # n // 5
    assert len(cifar10.class_names(tmp_path)) == 10
    synthetic(5, tmp_path / "tiny", test_n=1)
    assert [len(r) for r in cifar10.load_records(tmp_path / "tiny")] == [1] * 5


def test_the_same_seed_writes_the_same_bytes_and_another_seed_others(tmp_path):
    synthetic(300, tmp_path / "a", test_n=50, seed=7)
    synthetic(300, tmp_path / "b", test_n=50, seed=7)
    synthetic(300, tmp_path / "c", test_n=50, seed=8)
    for name in ["data_batch_1.bin", "data_batch_5.bin", "test_batch.bin", "batches.meta.txt"]:
        a, b, c = ((tmp_path / x / "cifar-10-batches-bin" / name).read_bytes() for x in "abc")
        assert a == b
        assert (a == c) == (name == "batches.meta.txt")


def test_labels_are_balanced(tmp_path):
    synthetic(1000, tmp_path, test_n=103)
    assert np.bincount(_all(tmp_path)[:, 0]).tolist() == [100] * 10
    assert np.bincount(_all(tmp_path, True)[:, 0]).tolist() == [11, 11, 11] + [10] * 7


def test_the_classes_are_separable_by_their_means_yet_images_of_a_class_differ(tmp_path):
    synthetic(2000, tmp_path, test_n=500)
    train, test = _all(tmp_path), _all(tmp_path, True)
    pixels = train[:, 1:].astype(np.float32)
    means = np.stack([pixels[train[:, 0] == k].mean(axis=0) for k in range(10)])
    queries = test[:, 1:].astype(np.float32)
    distances = ((queries[:, None, :] - means[None]) ** 2).sum(axis=2)
    accuracy = (distances.argmin(axis=1) == test[:, 0]).mean()
    assert accuracy > 0.9
    zeros = train[train[:, 0] == 0]
    assert len({row.tobytes() for row in zeros}) > len(zeros) // 2


def test_50000_records_are_written_in_moments(tmp_path):
    start = time.perf_counter()
    synthetic(50000, tmp_path)
    elapsed = time.perf_counter() - start
    assert [len(r) for r in cifar10.load_records(tmp_path)] == [10000] * 5
    assert elapsed < 2.0  # about a third of a second unloaded


@pytest.mark.parametrize(("n", "test_n"), [(4, 1), (10, 0), (True, 1), (10.0, 1), ("10", None)])
def test_too_few_records_are_refused(tmp_path, n, test_n):
    with pytest.raises(InvalidArgumentError, match="must be an int of at least"):
        synthetic(n, tmp_path, test_n=test_n)
