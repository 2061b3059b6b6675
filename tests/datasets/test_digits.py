"""The embedded digits: byte-exact with their source, expanded into CIFAR-10's layout with
a fixed stratified split, atomically, once."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from conveyor.datasets import cache_dir, cifar10, digits, embedded
from conveyor.errors import DataLossError

pytestmark = pytest.mark.timeout(60)

# sha256 of digits.csv as scikit-learn distributes it (sklearn/datasets/data/digits.csv.gz,
# decompressed): 64 pixel columns, then the label, comma-separated, one image a line.
SOURCE_CSV_SHA256 = "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8"
PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_embedded_data_is_byte_exact_with_the_source_csv():
    images, labels = digits.source()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and np.bincount(labels).tolist() == PER_CLASS
    assert images.max() == 16 and images.min() == 0
    rows = np.concatenate([images.reshape(-1, 64), labels[:, None]], axis=1)
    csv = "".join(",".join(map(str, row)) + "\n" for row in rows.tolist())
    assert hashlib.sha256(csv.encode()).hexdigest() == SOURCE_CSV_SHA256


def test_the_package_data_is_small():
    data = Path(digits.__file__).parent / "data" / "digits.bin.gz"
    assert data.stat().st_size < 100_000


def test_the_split_holds_out_30_of_each_digit_the_same_way_each_time():
    _, labels = digits.source()
    held = digits.eval_indices(labels)
    assert len(held) == 300 and np.all(np.diff(held) > 0)
    assert np.bincount(labels[held]).tolist() == [30] * 10
    assert np.array_equal(held, digits.eval_indices(labels.copy()))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return embedded(tmp_path_factory.mktemp("digits"))


def test_the_files_are_cifar10_files_with_exact_record_counts(root):
    train = cifar10.load_records(root)
    (test,) = cifar10.load_records(root, eval_data=True)
    assert [len(r) for r in train] == [300, 300, 299, 299, 299]
    assert len(test) == 300
    assert cifar10.class_names(root) == list(digits.NAMES)
    labels = np.concatenate([cifar10.labels_of(r) for r in train])
    assert np.bincount(labels).tolist() == [c - 30 for c in PER_CLASS]
    assert np.bincount(cifar10.labels_of(test)).tolist() == [30] * 10


def test_the_labels_are_the_source_labels_in_source_order(root):
    _, labels = digits.source()
    held = np.zeros(len(labels), dtype=bool)
    held[digits.eval_indices(labels)] = True
    train = np.concatenate([cifar10.labels_of(r) for r in cifar10.load_records(root)])
    (test,) = cifar10.load_records(root, eval_data=True)
    assert train.tolist() == labels[~held].tolist()
    assert cifar10.labels_of(test).tolist() == labels[held].tolist()


def test_each_pixel_becomes_a_4x4_block_scaled_to_0_255_in_every_channel(root):
    images, labels = digits.source()
    first = cifar10.images_of(cifar10.load_records(root)[0])[0]  # source image 0, a zero
    assert labels[0] == 0 and images[0, 0, 2] == 5
    assert np.all(first[0:4, 8:12, :] == 80)  # round(5 * 255 / 16)
    assert np.all(first[0:4, 0:4, :] == 0)
    assert np.all(first[..., 0] == first[..., 1]) and np.all(first[..., 1] == first[..., 2])
    expected = np.round(images[0].astype(float) * 255 / 16).astype(np.uint8)
    assert np.array_equal(first[::4, ::4, 0], expected)
    assert np.array_equal(first[3::4, 3::4, 2], expected)
    second = cifar10.images_of(cifar10.load_records(root)[0])[1]  # source image 1, a one
    assert labels[1] == 1 and images[1, 1, 4] == 16
    assert np.all(second[4:8, 16:20, :] == 255)


def test_an_expanded_folder_is_reused(root):
    folder = root / "cifar-10-batches-bin"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    inode = folder.stat().st_ino
    assert embedded(root) == root
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert folder.stat().st_ino == inode
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin"]


def test_expanding_at_once_from_several_threads_ends_with_one_complete_folder(tmp_path):
    results, errors = [], []

    def expand() -> None:
        try:
            results.append(embedded(tmp_path))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=expand) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [tmp_path] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-bin"]
    assert [len(r) for r in cifar10.load_records(tmp_path)] == [300, 300, 299, 299, 299]


def test_a_process_that_loses_the_race_keeps_the_winners_folder(tmp_path, monkeypatch):
    embedded(tmp_path)  # the winner
    inode = (tmp_path / "cifar-10-batches-bin").stat().st_ino
    real, calls = digits._complete, []

    def not_yet_then_real(folder: Path) -> bool:  # the loser looked before the winner renamed
        calls.append(folder)
        return False if len(calls) == 1 else real(folder)

    monkeypatch.setattr(digits, "_complete", not_yet_then_real)
    assert embedded(tmp_path) == tmp_path
    assert len(calls) == 2 and (tmp_path / "cifar-10-batches-bin").stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-bin"]


def test_a_folder_with_files_of_other_sizes_is_data_loss_naming_them(tmp_path):
    embedded(tmp_path)
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_4.bin"
    path.write_bytes(path.read_bytes()[:3073])
    with pytest.raises(DataLossError, match=r"data_batch_4\.bin \(3073, not 918827 bytes\)"):
        embedded(tmp_path)


def test_the_default_place_is_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path / "cache"))
    assert embedded() == tmp_path / "cache" / "digits-v1"
    assert len(cifar10.files(embedded())) == 5


def test_the_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVEYOR_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "conveyor"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "conveyor"
    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
