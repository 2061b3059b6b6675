"""CIFAR-100's binary format: two label bytes (coarse, then fine) before each image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conveyor.datasets import cifar100
from conveyor.errors import DataLossError, InvalidArgumentError, NotFoundError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def records() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    made = {}
    for name, n in (("train.bin", 7), ("test.bin", 3)):
        rows = rng.integers(0, 256, size=(n, 3074), dtype=np.uint8)
        rows[:, 0] = rng.integers(0, 20, size=n)
        rows[:, 1] = rng.integers(0, 100, size=n)
        made[name] = rows
    return made


@pytest.fixture
def root(tmp_path: Path, records) -> Path:
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    for name, rows in records.items():
        (folder / name).write_bytes(rows.tobytes())
    (folder / "coarse_label_names.txt").write_text("aquatic_mammals\nfish\n\n")
    (folder / "fine_label_names.txt").write_text("apple\naquarium_fish\nbaby\n")
    return tmp_path


def test_the_constants_describe_two_label_bytes():
    assert (cifar100.IMAGE_SIZE, cifar100.NUM_CLASSES, cifar100.NUM_COARSE_CLASSES) == (32, 100, 20)
    assert (cifar100.LABEL_BYTES, cifar100.RECORD_BYTES) == (2, 3074)
    assert cifar100.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN == 50000
    assert cifar100.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL == 10000


def test_files_are_train_or_test(root):
    folder = root / "cifar-100-binary"
    assert cifar100.files(root) == [str(folder / "train.bin")]
    assert cifar100.files(folder, eval_data=True) == [str(folder / "test.bin")]


def test_fine_labels_are_the_second_byte_and_coarse_ones_the_first(root, records):
    (train,) = cifar100.load_records(root)
    assert train.shape == (7, 3074) and not train.flags.writeable
    assert cifar100.labels_of(train).tolist() == records["train.bin"][:, 1].tolist()
    assert cifar100.labels_of(train, "coarse").tolist() == records["train.bin"][:, 0].tolist()
    assert cifar100.labels_of(train).dtype == np.int32


def test_images_skip_both_label_bytes(root, records):
    (test,) = cifar100.load_records(root, eval_data=True)
    images = cifar100.images_of(test)
    assert images.shape == (3, 32, 32, 3) and np.shares_memory(images, test)
    assert images[2, 31, 0, 2] == records["test.bin"][2, 2 + 2 * 1024 + 31 * 32]


def test_class_names_fine_or_coarse(root):
    assert cifar100.class_names(root) == ["apple", "aquarium_fish", "baby"]
    assert cifar100.class_names(root, "coarse") == ["aquatic_mammals", "fish"]


def test_another_label_mode_is_refused(root):
    with pytest.raises(InvalidArgumentError, match="'fine' or 'coarse', got 'medium'"):
        cifar100.class_names(root, "medium")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="'fine' or 'coarse'"):
        cifar100.labels_of(np.zeros((1, 3074), np.uint8), "superclass")  # type: ignore[arg-type]


def test_missing_data_says_to_call_download_cifar100(tmp_path):
    with pytest.raises(NotFoundError, match=r"download_cifar100\("):
        cifar100.files(tmp_path)


def test_a_cifar10_sized_file_is_data_loss(root):
    path = root / "cifar-100-binary" / "train.bin"
    path.write_bytes(bytes(3073 * 2))
    with pytest.raises(DataLossError, match=r"6146 bytes.*3074 bytes"):
        cifar100.files(root)
