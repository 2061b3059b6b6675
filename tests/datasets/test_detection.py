"""conveyor.datasets.detection: the embedded detection set — offline, a function of its
seed, COCO-format, split by digit — loads in the COCO API, and a perfect prediction
file scores AP 1.0 with COCO's evaluator."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from conveyor.datasets import detection, digits
from conveyor.datasets.coco import CocoDetection
from conveyor.errors import InvalidArgumentError

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return detection.embedded_detection(
        tmp_path_factory.mktemp("det") / "set", n_train=24, n_test=8, seed=5
    )


def test_the_layout_and_the_coco_files(root):
    assert sorted(p.name for p in root.iterdir()) == [
        "instances_test.json",
        "instances_train.json",
        "test",
        "train",
    ]
    for split, n in (("train", 24), ("test", 8)):
        coco = json.loads(detection.annotation_file(root, split).read_text())
        assert [im["id"] for im in coco["images"]] == list(range(1, n + 1))
        assert [c["id"] for c in coco["categories"]] == list(range(1, 11))
        files = sorted(p.name for p in detection.image_dir(root, split).iterdir())
        assert files == [f"{i:06d}.png" for i in range(n)]
        per_image = np.bincount([a["image_id"] for a in coco["annotations"]], minlength=n + 1)
        assert per_image[1:].min() >= 1 and per_image.max() <= detection.MAX_DIGITS
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            assert w > 0 and h > 0 and x >= 0 and x + w <= 128 and y >= 0 and y + h <= 128
            assert a["area"] == w * h and a["iscrowd"] == 0


def test_the_files_hold_what_render_draws(root):
    ds = CocoDetection(detection.annotation_file(root, "test"), detection.image_dir(root, "test"))
    for i in range(8):
        image, boxes, found = detection.render("test", i, seed=5)
        el = ds.element(i)
        np.testing.assert_array_equal(el["image"], image)  # PNG is lossless
        np.testing.assert_array_equal(el["boxes"], boxes)
        np.testing.assert_array_equal(el["labels"], found)  # category d + 1 -> label d


def test_boxes_are_the_tight_boxes_of_the_ink(root):
    for i in range(6):
        image, boxes, _ = detection.render("train", i, seed=5)
        background = np.median(image.reshape(-1, 3), axis=0)
        diff = np.abs(image.astype(int) - background).max(axis=2)
        # ink (a quarter stroke or more) differs from the background by >= 16 levels;
        # a difference over 70 is at least a quarter stroke whatever the colours
        ink, strong = diff > 10, diff > 70
        inside = np.zeros_like(ink)
        for x0, y0, x1, y1 in boxes.astype(int):
            inside[y0:y1, x0:x1] = True
            assert ink[y0:y1, x0:x1].any(axis=1)[[0, -1]].all()  # ink on its first and last rows
            assert ink[y0:y1, x0:x1].any(axis=0)[[0, -1]].all()  # and columns
        assert not (strong & ~inside).any()  # no ink outside the boxes


def test_the_set_is_a_function_of_its_seed_and_prefix_stable():
    a = [detection.render("train", i, seed=1) for i in range(3)]
    b = [detection.render("train", i, seed=1) for i in range(3)]
    c = detection.render("train", 0, seed=2)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0][0], c[0])


def test_train_and_test_draw_from_disjoint_digits():
    _, labels, (train, test) = detection._source()
    assert not set(train) & set(test)
    assert sorted(test) == sorted(digits.eval_indices(labels))


def test_an_existing_set_is_reused(root):
    stamp = detection.annotation_file(root, "train").stat().st_mtime_ns
    assert detection.embedded_detection(root, n_train=24, n_test=8, seed=5) == root
    assert detection.annotation_file(root, "train").stat().st_mtime_ns == stamp


def test_jpeg_images_decode_near_the_rendered_ones(tmp_path):
    root = detection.embedded_detection(tmp_path / "j", n_train=2, n_test=1, image_format="jpeg")
    ds = CocoDetection(detection.annotation_file(root), detection.image_dir(root))
    image, _, _ = detection.render("train", 0, seed=0)
    diff = np.abs(ds.element(0)["image"].astype(int) - image).mean()
    assert ds.path(0).suffix == ".jpg" and diff < 4


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(InvalidArgumentError, match="image_format"):
        detection.embedded_detection(tmp_path, image_format="gif")
    with pytest.raises(InvalidArgumentError, match="n_train"):
        detection.embedded_detection(tmp_path, n_train=0)
    with pytest.raises(InvalidArgumentError, match="split"):
        detection.image_dir(tmp_path, "val")


def test_a_perfect_prediction_file_scores_ap_1_with_cocoeval(root, tmp_path):
    from pycocotools.cocoeval import COCOeval

    ds = CocoDetection(detection.annotation_file(root, "test"), detection.image_dir(root, "test"))
    truths = [ds.annotations(i) for i in range(len(ds))]
    results = ds.results(
        [t["image_id"] for t in truths],
        [t["boxes"] for t in truths],
        [np.ones(len(t["labels"])) for t in truths],
        [t["labels"] for t in truths],
    )
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(results))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(ds.coco, ds.coco.loadRes(str(path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ap, ap50, ap75 = evaluator.stats[:3]
    assert ap == pytest.approx(1.0) and ap50 == pytest.approx(1.0) and ap75 == pytest.approx(1.0)
    # and one shifted box per image costs AP
    shifted = [dict(r, bbox=[r["bbox"][0] + r["bbox"][2] / 2, *r["bbox"][1:]]) for r in results]
    path.write_text(json.dumps(shifted))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(ds.coco, ds.coco.loadRes(str(path)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[1] < 0.5
