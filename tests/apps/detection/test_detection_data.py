"""conveyor.apps.detection.data: where a split's files are found, what each recipe does
to an element (boxes exactly), the letterbox frame and its inverse, and the training
and evaluation pipelines' batches, order, seeding and shards -- on a small embedded
detection set written to a temporary folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conveyor.apps.detection import data
from conveyor.datasets.detection import embedded_detection
from conveyor.errors import InvalidArgumentError, NotFoundError
from conveyor.image import boxes as bx
from conveyor.ops import image_codecs

N_TRAIN, N_TEST = 6, 5
BATCH_KEYS = ["boxes", "frame", "image", "image_id", "labels", "num_boxes"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A shared, read-only set: 6 training and 5 test images (128 x 128)."""
    return embedded_detection(tmp_path_factory.mktemp("detection") / "d", N_TRAIN, N_TEST)


@pytest.fixture
def own_root(tmp_path):
    """A set of this test's own, to move files around in."""
    return embedded_detection(tmp_path / "d", n_train=N_TRAIN, n_test=N_TEST)


def _coco_boxes(root, split):
    """Each image's annotations from the file itself: ``{id: (xyxy boxes, labels)}``,
    the COCO ``[x, y, w, h]`` as ``[x, y, x + w, y + h]`` and category ids 1..10 as
    labels 0..9."""
    coco = json.loads((root / f"instances_{split}.json").read_text())
    out = {im["id"]: ([], []) for im in coco["images"]}
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        out[ann["image_id"]][0].append([x, y, x + w, y + h])
        out[ann["image_id"]][1].append(ann["category_id"] - 1)
    return out


def _first(pipe, n):
    it = iter(pipe)
    try:
        return [next(it) for _ in range(n)]
    finally:
        it.close()


def _element(height=64, width=64, boxes=((4, 8, 20, 40), (30, 2, 64, 10))):
    """An element as the COCO reader makes it: a left half of 100s, a right of 150s."""
    image = np.full((height, width, 3), 100, np.uint8)
    image[:, width // 2 :] = 150
    return {
        "image": image,
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "labels": np.arange(len(boxes), dtype=np.int64) + 3,
        "image_id": np.int64(7),
    }


# ----------------------------------------------------------------- finding the files


def test_split_files_finds_the_annotations_at_the_root(root):
    assert data.split_files(root, "train") == (root / "instances_train.json", root / "train")
    assert data.split_files(root, "test") == (root / "instances_test.json", root / "test")


def test_split_files_finds_the_annotations_in_an_annotations_folder(own_root):
    (own_root / "annotations").mkdir()
    for split in ("train", "test"):
        name = f"instances_{split}.json"
        shutil.move(own_root / name, own_root / "annotations" / name)
    found = data.split_files(own_root, "test")
    assert found == (own_root / "annotations" / "instances_test.json", own_root / "test")
    assert len(data.dataset(own_root, "train")) == N_TRAIN  # and it reads from there


def test_split_files_prefers_the_root_when_both_locations_hold_the_file(own_root):
    (own_root / "annotations").mkdir()
    shutil.copy(own_root / "instances_test.json", own_root / "annotations")
    assert data.split_files(own_root, "test")[0] == own_root / "instances_test.json"


def test_split_files_without_annotations_names_both_paths_tried(own_root):
    (own_root / "instances_test.json").unlink()
    with pytest.raises(NotFoundError) as e:
        data.split_files(own_root, "test")
    message = str(e.value)
    assert str(own_root / "instances_test.json") in message
    assert str(own_root / "annotations" / "instances_test.json") in message


def test_split_files_without_the_image_folder_names_it(own_root):
    shutil.rmtree(own_root / "test")
    with pytest.raises(NotFoundError, match="no image folder") as e:
        data.split_files(own_root, "test")
    assert str(own_root / "test") in str(e.value)


def test_local_root_of_a_folder_is_it_and_of_a_missing_one_raises(root, tmp_path):
    assert data.local_root(root) == root
    assert data.local_root(str(root)) == root
    missing = tmp_path / "nowhere"
    with pytest.raises(NotFoundError) as e:
        data.local_root(missing)
    assert str(missing) in str(e.value)


# --------------------------------------------------------------------------- recipes


def test_augment_rejects_an_unknown_recipe():
    with pytest.raises(InvalidArgumentError, match="recipe must be one of"):
        data.augment("mixup", 128)
    assert data.RECIPES == ("digits", "flip", "none")


def test_the_first_draw_decides_the_flip_seed_2_flips_seed_0_does_not():
    # random_flip_left_right flips when the generator's first draw is < 0.5
    assert np.random.default_rng(2).random() < 0.5  # 0.2616...
    assert np.random.default_rng(0).random() >= 0.5  # 0.6369...


def test_augment_digits_never_flips_and_keeps_boxes_and_labels_exactly():
    fn = data.augment("digits", 64)
    el = _element()
    for seed in range(20):  # seeds 2 and 3, among others, would flip under "flip"
        out = fn(_element(), np.random.default_rng(seed))
        assert sorted(out) == ["boxes", "frame", "image", "image_id", "labels"]
        assert out["boxes"].dtype == np.float32
        assert np.array_equal(out["boxes"], el["boxes"])
        assert out["labels"].tolist() == [3, 4]
        assert out["image_id"] == 7
        assert out["frame"].tolist() == [0.0, 0.0, 1.0, 1.0]  # already 64 x 64
        img = out["image"]
        assert img.dtype == np.float32 and img.shape == (64, 64, 3)
        assert img.min() >= 0.0 and img.max() <= 255.0
        # brightness and contrast keep the dark half left of the bright one: no mirror
        assert img[:, :32].mean() < img[:, 32:].mean()


def test_augment_digits_changes_brightness_and_contrast_reproducibly():
    fn = data.augment("digits", 64)
    a = fn(_element(), np.random.default_rng(0))["image"]
    b = fn(_element(), np.random.default_rng(0))["image"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _element()["image"].astype(np.float32))


def test_augment_flip_mirrors_the_boxes_x_to_w_minus_x_when_its_draw_flips():
    fn = data.augment("flip", 64)
    out = fn(_element(), np.random.default_rng(2))  # flips
    # [4, 8, 20, 40] -> [64 - 20, 8, 64 - 4, 40]; [30, 2, 64, 10] -> [0, 2, 34, 10]
    assert out["boxes"].tolist() == [[44.0, 8.0, 60.0, 40.0], [0.0, 2.0, 34.0, 10.0]]
    assert out["labels"].tolist() == [3, 4]
    # the image with them: now the bright half is on the left
    assert out["image"][:, :32].mean() > out["image"][:, 32:].mean()
    kept = fn(_element(), np.random.default_rng(0))  # does not flip
    assert kept["boxes"].tolist() == [[4.0, 8.0, 20.0, 40.0], [30.0, 2.0, 64.0, 10.0]]
    assert kept["image"][:, :32].mean() < kept["image"][:, 32:].mean()


def test_augment_none_returns_the_image_as_it_is_in_float32():
    el = _element()
    out = data.augment("none", 64)(_element(), np.random.default_rng(0))
    assert out["image"].dtype == np.float32
    assert np.array_equal(out["image"], el["image"].astype(np.float32))
    assert np.array_equal(out["boxes"], el["boxes"])
    assert out["frame"].tolist() == [0.0, 0.0, 1.0, 1.0]


# ------------------------------------------------------------------------ letterbox


def test_a_64_by_32_image_is_letterboxed_into_128_and_unframe_inverts_it():
    el = _element(height=64, width=32, boxes=((4, 8, 20, 40), (0, 0, 32, 64)))
    out = data.augment("none", 128)(el, np.random.default_rng(0))
    # scale min(128 / 64, 128 / 32) = 2: 128 x 64 pixels, top 0, left (128 - 64) // 2 = 32
    assert bx.letterbox_geometry(64, 32, (128, 128)) == (128, 64, 0, 32)
    assert out["frame"].tolist() == [32.0, 0.0, 2.0, 2.0]  # [left, top, 64/32, 128/64]
    assert out["image"].shape == (128, 128, 3) and out["image"].dtype == np.float32
    assert not out["image"][:, :32].any() and not out["image"][:, 96:].any()  # the bars
    # x -> 2 x + 32, y -> 2 y: [4, 8, 20, 40] -> [40, 16, 72, 80]; the whole image
    # [0, 0, 32, 64] -> [32, 0, 96, 128]
    assert out["boxes"].tolist() == [[40.0, 16.0, 72.0, 80.0], [32.0, 0.0, 96.0, 128.0]]
    back = data.unframe(out["boxes"], out["frame"])
    np.testing.assert_allclose(back, el["boxes"], rtol=0, atol=1e-4)


def test_letterbox_frames_keep_each_axis_own_scale_after_rounding():
    el = _element(height=50, width=30, boxes=((3, 5, 27, 45),))
    out = data.augment("none", 128)(el, np.random.default_rng(0))
    # s = min(128 / 50, 128 / 30) = 2.56: nh = 128, nw = round(76.8) = 77,
    # top 0, left (128 - 77) // 2 = 25; sx = 77 / 30, sy = 128 / 50 = 2.56
    assert bx.letterbox_geometry(50, 30, (128, 128)) == (128, 77, 0, 25)
    np.testing.assert_allclose(out["frame"], [25.0, 0.0, 77 / 30, 2.56], rtol=1e-6)
    # x: 3 * 77/30 + 25 = 32.7, 27 * 77/30 + 25 = 94.3; y: 5 * 2.56 = 12.8, 45 * 2.56 = 115.2
    np.testing.assert_allclose(out["boxes"], [[32.7, 12.8, 94.3, 115.2]], rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        data.unframe(out["boxes"], out["frame"]), [[3, 5, 27, 45]], rtol=0, atol=1e-4
    )


def test_unframe_of_no_boxes_is_an_empty_n_by_4_array():
    assert data.unframe(np.zeros((0, 4)), np.array([3.0, 0.0, 2.0, 2.0])).shape == (0, 4)


# -------------------------------------------------------------------------- training


def test_train_inputs_first_batch_has_padded_boxes_and_labels(root):
    (batch,) = _first(data.train_inputs(root, 4, seed=0), 1)
    assert sorted(batch) == BATCH_KEYS
    assert batch["image"].shape == (4, 128, 128, 3) and batch["image"].dtype == np.float32
    assert batch["image"].min() >= 0.0 and batch["image"].max() <= 255.0
    counts = batch["num_boxes"].tolist()
    k = max(counts)
    assert batch["boxes"].shape == (4, k, 4) and batch["labels"].shape == (4, k)
    assert batch["frame"].tolist() == [[0.0, 0.0, 1.0, 1.0]] * 4  # already 128 x 128
    truth = _coco_boxes(root, "train")
    ids = batch["image_id"].tolist()
    assert len(set(ids)) == 4 and set(ids) <= set(range(1, N_TRAIN + 1))
    for i, (image_id, n) in enumerate(zip(ids, counts)):
        boxes, labels = truth[image_id]
        assert n == len(boxes)
        # the digits recipe moves no box; past each image's boxes: labels -1, boxes 0
        assert batch["boxes"][i, :n].tolist() == boxes
        assert batch["labels"][i].tolist() == labels + [-1] * (k - n)
        assert not batch["boxes"][i, n:].any()


def test_train_inputs_same_seed_same_batches(root):
    a = _first(data.train_inputs(root, 4, seed=0), 3)
    b = _first(data.train_inputs(root, 4, seed=0), 3)
    for x, y in zip(a, b):
        assert sorted(x) == sorted(y) == BATCH_KEYS
        for key in BATCH_KEYS:
            assert np.array_equal(x[key], y[key]), key
    # each epoch (6 images) is a permutation: batches 1 and 2 take 8 of 2 epochs, the
    # first 6 of them all the ids once
    ids = np.concatenate([x["image_id"] for x in a]).tolist()
    assert sorted(ids[:6]) == [1, 2, 3, 4, 5, 6]
    assert sorted(ids[6:12]) == [1, 2, 3, 4, 5, 6]
    other = _first(data.train_inputs(root, 4, seed=1), 3)
    assert not all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, other))


def test_train_inputs_shards_split_every_epoch_between_the_ranks(root):
    got = {}
    for rank in (0, 1):
        batches = _first(data.train_inputs(root, 1, seed=3, shard=(rank, 2)), 6)
        got[rank] = [int(b["image_id"][0]) for b in batches]
    for epoch in (slice(0, 3), slice(3, 6)):  # 6 images: 3 per rank per epoch
        first, second = set(got[0][epoch]), set(got[1][epoch])
        assert len(first) == len(second) == 3
        assert first.isdisjoint(second)
        assert first | second == {1, 2, 3, 4, 5, 6}


def test_train_inputs_shards_need_a_seed(root):
    with pytest.raises(InvalidArgumentError, match="shard needs a seed"):
        data.train_inputs(root, 1, shard=(0, 2))


# ------------------------------------------------------------------------ evaluation


def test_eval_inputs_every_test_image_once_in_file_order_last_batch_short(root):
    pipe, dataset = data.eval_inputs(root, 2)
    assert len(dataset) == N_TEST
    batches = list(pipe)
    assert [b["image_id"].tolist() for b in batches] == [[1, 2], [3, 4], [5]]
    assert [len(b["image"]) for b in batches] == [2, 2, 1]
    truth = _coco_boxes(root, "test")
    for b in batches:
        assert sorted(b) == BATCH_KEYS
        k = b["boxes"].shape[1]
        for i, image_id in enumerate(b["image_id"].tolist()):
            boxes, labels = truth[image_id]
            n = int(b["num_boxes"][i])
            assert n == len(boxes)
            assert b["boxes"][i, :n].tolist() == boxes
            assert b["labels"][i].tolist() == labels + [-1] * (k - n)
            assert b["frame"][i].tolist() == [0.0, 0.0, 1.0, 1.0]
            decoded = dataset.element(image_id - 1)["image"]
            assert np.array_equal(b["image"][i], decoded.astype(np.float32))


def test_eval_inputs_keep_file_order_across_chunks_whatever_thread_finishes_first(tmp_path):
    # 257 images: the index source's chunks are 256 rows and 1, so on two threads the
    # one-row chunk is done long before the first; the batches must still be in order
    (tmp_path / "test").mkdir()
    png = image_codecs.encode_png(np.full((8, 8, 3), 90, np.uint8))
    images, annotations = [], []
    for i in range(257):
        (tmp_path / "test" / f"{i:06d}.png").write_bytes(png)
        images.append({"id": i + 1, "file_name": f"{i:06d}.png", "height": 8, "width": 8})
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [1, 1, 4, 4]}
            | {"area": 16, "iscrowd": 0}
        )
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "instances_test.json").write_text(json.dumps(coco))
    pipe, _ = data.eval_inputs(tmp_path, 4, image_size=8, threads=2)
    ids = np.concatenate([b["image_id"] for b in pipe]).tolist()
    assert ids == list(range(1, 258))
