"""CIFAR-10's binary format: the files, their checks, records as memory maps, and images
viewed in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from archives import CIFAR10_MEMBERS, CIFAR10_NAMES, cifar10_contents
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from conveyor.datasets import cifar10
from conveyor.errors import DataLossError, InvalidArgumentError, NotFoundError

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name, data in cifar10_contents(per_file=3).items():
        (folder / name).write_bytes(data)
    return tmp_path


def test_the_constants_are_those_of_the_tensorflow_tutorial():
    assert (cifar10.IMAGE_SIZE, cifar10.NUM_CLASSES) == (32, 10)
    assert (cifar10.LABEL_BYTES, cifar10.RECORD_BYTES) == (1, 3073)
    assert cifar10.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN == 50000
    assert cifar10.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL == 10000


def test_files_are_the_five_batches_in_order_or_the_test_batch(root):
    folder = root / "cifar-10-batches-bin"
    assert cifar10.files(root) == [str(folder / n) for n in CIFAR10_MEMBERS[:5]]
    assert cifar10.files(root, eval_data=True) == [str(folder / "test_batch.bin")]


def test_the_batches_folder_itself_is_accepted_too(root):
    folder = root / "cifar-10-batches-bin"
    assert cifar10.files(folder) == cifar10.files(root)
    assert cifar10.class_names(folder) == cifar10.class_names(root)


def test_class_names_are_the_lines_of_the_meta_file_without_blank_ones(root):
    assert cifar10.class_names(root) == CIFAR10_NAMES


def test_a_missing_folder_names_it_and_says_how_to_get_the_data(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(NotFoundError) as caught:
        cifar10.files(missing)
    message = str(caught.value)
    assert str(missing) in message
    assert f"conveyor.datasets.download({str(missing)!r})" in message
    assert "embedded()" in message


def test_a_missing_file_is_named(root):
    (root / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    with pytest.raises(NotFoundError, match=r"data_batch_3\.bin does not exist.*download"):
        cifar10.files(root)
    with pytest.raises(NotFoundError, match=r"data_batch_3\.bin"):
        cifar10.load_records(root)
    assert len(cifar10.files(root, eval_data=True)) == 1


def test_an_empty_folder_names_the_first_file(tmp_path):
    with pytest.raises(NotFoundError, match=r"cifar-10-batches-bin/data_batch_1\.bin"):
        cifar10.files(tmp_path)
    with pytest.raises(NotFoundError, match=r"batches\.meta\.txt"):
        cifar10.class_names(tmp_path)


@pytest.mark.parametrize("size", [0, 3072, 3074, 3 * 3073 - 1])
def test_a_file_that_is_not_whole_records_is_data_loss_naming_it_and_both_sizes(root, size):
    path = root / "cifar-10-batches-bin" / "data_batch_2.bin"
    path.write_bytes(bytes(size))
    for call in (cifar10.files, cifar10.load_records):
        with pytest.raises(DataLossError) as caught:
            call(root)
        message = str(caught.value)
        assert str(path) in message and f"{size} bytes" in message and "3073 bytes" in message


def test_load_records_maps_each_file_read_only_in_file_order(root):
    contents = cifar10_contents(per_file=3)
    records = cifar10.load_records(root)
    assert [type(r) for r in records] == [np.memmap] * 5
    assert [r.shape for r in records] == [(3, 3073)] * 5
    for r, name in zip(records, CIFAR10_MEMBERS[:5]):
        assert r.dtype == np.uint8 and not r.flags.writeable
        assert r.tobytes() == contents[name]
    (test,) = cifar10.load_records(root, eval_data=True)
    assert test.tobytes() == contents["test_batch.bin"]


def test_images_of_is_an_hwc_view_of_the_chw_bytes_without_a_copy(root):
    records = cifar10.load_records(root)[0]
    images = cifar10.images_of(records)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert np.shares_memory(images, records) and not images.flags.owndata
    row, y, x = 1, 5, 7
    for channel in range(3):  # red plane, then green, then blue; each row-major
        assert images[row, y, x, channel] == records[row, 1 + channel * 1024 + y * 32 + x]


@settings(max_examples=25, deadline=None)
@given(
    images=arrays(np.uint8, st.tuples(st.integers(1, 4), st.just(32), st.just(32), st.just(3))),
    data=st.data(),
)
def test_records_written_channel_by_channel_read_back_as_the_same_images(images, data):
    labels = data.draw(arrays(np.uint8, len(images), elements=st.integers(0, 9)))
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # CHW, row-major
    records = np.concatenate([labels[:, None], planes], axis=1)
    assert np.array_equal(cifar10.images_of(records), images)
    assert cifar10.labels_of(records).tolist() == labels.tolist()


def test_labels_of_are_the_first_bytes_as_int32(root):
    records = cifar10.load_records(root)[0]
    labels = cifar10.labels_of(records)
    assert labels.dtype == np.int32 and labels.tolist() == records[:, 0].tolist()


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 3074), np.uint8), np.zeros((2, 3073), np.int32), np.zeros(3073, np.uint8)]
)
def test_images_and_labels_refuse_anything_but_uint8_record_rows(bad):
    with pytest.raises(InvalidArgumentError, match=r"\(n, 3073\) uint8 rows"):
        cifar10.images_of(bad)
    with pytest.raises(InvalidArgumentError, match=r"\(n, 3073\) uint8 rows"):
        cifar10.labels_of(bad)


def test_a_pipeline_reads_the_files_and_its_batches_view_as_images(root):
    import conveyor.pipeline as cp

    pipe = cp.fixed_length_records(cifar10.files(root), cifar10.RECORD_BYTES).batch(15)
    (batch,) = list(pipe)
    expected = np.concatenate([np.asarray(r) for r in cifar10.load_records(root)])
    assert np.array_equal(cifar10.images_of(batch), cifar10.images_of(expected))
    assert cifar10.labels_of(batch).tolist() == expected[:, 0].tolist()
