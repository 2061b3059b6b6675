from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conveyor.apps.cifar10 import data
from conveyor.datasets import cifar10, embedded
from helpers import write_cifar_files


def _left_marked(tmp_path):
    """CIFAR-10 files whose every image is dark but for its leftmost 6 columns."""
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar_files(folder, per_file=20)
    (folder / "test_batch.bin").write_bytes((folder / "data_batch_1.bin").read_bytes())
    for path in cifar10.files(tmp_path) + cifar10.files(tmp_path, eval_data=True):
        records = np.fromfile(path, np.uint8).reshape(-1, cifar10.RECORD_BYTES)
        planes = records[:, 1:].reshape(-1, 3, 32, 32)
        planes[...] = 0
        planes[..., :6] = 255
        records.tofile(path)
    return tmp_path


def test_the_digits_recipe_never_flips(tmp_path):
    root = _left_marked(tmp_path)
    pipe = data.digits_train_inputs(root, 20, seed=0, epochs=3)
    for images, _ in pipe:
        assert images.shape == (20, 3, 32, 32)
        left, right = images[..., :16].mean(axis=(1, 2, 3)), images[..., 16:].mean(axis=(1, 2, 3))
        assert (left > right).all()


def test_the_digits_recipe_shifts_by_at_most_four_pixels(tmp_path):
    root = _left_marked(tmp_path)
    images, _ = next(iter(data.digits_train_inputs(root, 100, seed=1)))
    bright = images[:, 0, 16] > 0  # the middle row: the mark is columns 0..5, shifted
    widths = bright.sum(axis=1)
    assert widths.min() >= 2 and widths.max() <= 10
    assert not bright[:, 10:].any()


@pytest.mark.parametrize("recipe", data.RECIPES)
def test_each_recipe_trains_nchw_and_evaluates_every_test_image_once(recipe):
    root = embedded()
    size = data.image_size(recipe)
    images, labels = next(iter(data.train_inputs(recipe, root, 32, seed=0, threads=1)))
    assert (images.shape, images.dtype, labels.dtype) == ((32, 3, size, size), np.float32, np.int32)
    batches = list(data.eval_inputs(recipe, root, 128))
    assert [len(b[1]) for b in batches] == [128, 128, 44]
    expected = cifar10.labels_of(cifar10.load_records(root, eval_data=True)[0])
    assert np.array_equal(np.concatenate([b[1] for b in batches]), expected)
    assert batches[0][0].shape[1:] == (3, size, size)


def test_an_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe"):
        data.image_size("autoaugment")


def test_a_data_dir_url_is_copied_once_into_the_local_cache(tmp_path, monkeypatch):
    fsspec = pytest.importorskip("fsspec")
    from conveyor.apps.cifar10.data import local_data_dir

    monkeypatch.setenv("CONVEYOR_CACHE", str(tmp_path / "cache"))
    fs = fsspec.filesystem("memory")
    local = Path(embedded()) / cifar10.FOLDER
    for name in (*cifar10.TRAIN_FILES, *cifar10.TEST_FILES, cifar10.META):
        fs.pipe(f"/shared/cifar/{cifar10.FOLDER}/{name}", (local / name).read_bytes())
    try:
        copy = local_data_dir("memory://shared/cifar")
        assert Path(copy).is_relative_to(tmp_path / "cache")
        for name in (*cifar10.TRAIN_FILES, *cifar10.TEST_FILES, cifar10.META):
            assert (Path(copy) / cifar10.FOLDER / name).read_bytes() == (local / name).read_bytes()
        fs.rm("/shared/cifar", recursive=True)
        assert local_data_dir("memory://shared/cifar") == copy  # fetched once
        assert local_data_dir(str(local.parent)) == str(local.parent)  # local: itself
        from train_helpers import tiny

        from conveyor.apps.cifar10.train import train

        result = train(tiny(tmp_path, data_dir="memory://shared/cifar", recipe="digits"))
        assert result.global_step == 4
    finally:
        if fs.exists("/shared/cifar"):
            fs.rm("/shared/cifar", recursive=True)
