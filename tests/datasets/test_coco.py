"""conveyor.datasets.coco: COCO instances read with the COCO API into detection
elements — the category mapping, crowd annotations, degenerate boxes and empty images
handled as the COCO tools do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conveyor.datasets.coco import CocoDetection
from conveyor.errors import DataLossError, InvalidArgumentError, NotFoundError
from conveyor.ops import image_codecs

pytest.importorskip("pycocotools")


def write_set(tmp_path: Path) -> tuple[Path, Path]:
    """Three images: one with a crowd, a degenerate and a clipped box; one empty; one grey."""
    images = tmp_path / "images"
    images.mkdir()
    sizes = {7: (20, 30), 3: (16, 16), 12: (10, 12)}  # id -> (h, w)
    entries = []
    for image_id, (h, w) in sizes.items():
        name = f"im{image_id}.png"
        channels = 1 if image_id == 12 else 3
        pixels = np.full((h, w, channels), image_id, np.uint8)
        (images / name).write_bytes(image_codecs.encode_png(pixels))
        entries.append({"id": image_id, "file_name": name, "height": h, "width": w})
    anns = [
        {"id": 1, "image_id": 7, "category_id": 90, "bbox": [1, 2, 5, 6], "iscrowd": 0, "area": 30},
        {
            "id": 2,
            "image_id": 7,
            "category_id": 5,
            "bbox": [0, 0, 30, 20],
            "iscrowd": 1,
            "area": 600,
        },
        {"id": 3, "image_id": 7, "category_id": 5, "bbox": [4, 4, 0, 3], "iscrowd": 0, "area": 0},
        {
            "id": 4,
            "image_id": 7,
            "category_id": 5,
            "bbox": [25, 15, 10, 10],
            "iscrowd": 0,
            "area": 100,
        },
        {"id": 5, "image_id": 7, "category_id": 5, "bbox": [40, 1, 3, 3], "iscrowd": 0, "area": 9},
        {
            "id": 6,
            "image_id": 12,
            "category_id": 17,
            "bbox": [0.5, 0.5, 2, 2],
            "iscrowd": 0,
            "area": 4,
        },
    ]
    cats = [{"id": i, "name": f"c{i}"} for i in (90, 5, 17)]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": entries, "annotations": anns, "categories": cats}))
    return path, images


def test_categories_map_to_contiguous_labels_in_id_order(tmp_path):
    ds = CocoDetection(*write_set(tmp_path))
    assert ds.category_ids == (5, 17, 90) and ds.names == ("c5", "c17", "c90")
    assert [ds.label_of(c) for c in (5, 17, 90)] == [0, 1, 2] and ds.num_classes == 3
    with pytest.raises(InvalidArgumentError, match="no category"):
        ds.label_of(6)


def test_images_come_in_id_order_with_their_boxes_as_corners(tmp_path):
    ds = CocoDetection(*write_set(tmp_path))
    assert ds.image_ids.tolist() == [3, 7, 12] and len(ds) == 3
    el = ds.element(1)
    assert (
        el["image_id"] == 7 and el["image"].shape == (20, 30, 3) and el["image"].dtype == np.uint8
    )
    assert (el["image"] == 7).all()
    # the crowd box, the zero-width box and the box outside the image are gone;
    # the box over the edge is clipped to it
    assert el["boxes"].tolist() == [[1, 2, 6, 8], [25, 15, 30, 20]]
    assert el["boxes"].dtype == np.float32
    assert el["labels"].tolist() == [2, 0] and el["labels"].dtype == np.int64
    assert ds.dropped == {"crowd": 1, "degenerate": 2, "empty_images": 0}


def test_an_empty_image_has_zero_boxes_unless_skipped(tmp_path):
    files = write_set(tmp_path)
    el = CocoDetection(*files).element(0)
    assert el["boxes"].shape == (0, 4) and el["labels"].shape == (0,)
    skipping = CocoDetection(*files, skip_empty=True)
    assert skipping.image_ids.tolist() == [7, 12] and skipping.dropped["empty_images"] == 1


def test_kept_crowds_are_marked(tmp_path):
    ds = CocoDetection(*write_set(tmp_path), crowd="keep")
    el = ds.element(1)
    assert el["iscrowd"].tolist() == [False, True, False]
    assert el["boxes"][1].tolist() == [0, 0, 30, 20]


def test_grey_images_decode_as_rgb(tmp_path):
    el = CocoDetection(*write_set(tmp_path)).element(2)
    assert el["image"].shape == (10, 12, 3)
    assert el["boxes"].tolist() == [[0.5, 0.5, 2.5, 2.5]]


def test_the_pipeline_serves_every_image_once_per_epoch(tmp_path):
    ds = CocoDetection(*write_set(tmp_path))
    pipe = ds.pipeline(shuffle=True, seed=0, epochs=2, threads=2)
    ids = [int(el["image_id"]) for el in pipe]
    assert sorted(ids) == [3, 3, 7, 7, 12, 12]
    batch = next(
        iter(
            ds.pipeline().batch(
                3, pad={"image": 0, "boxes": 0, "labels": -1}, lengths={"num_boxes": "boxes"}
            )
        )
    )
    assert batch["num_boxes"].tolist() == [0, 2, 1]
    assert batch["image"].shape == (3, 20, 30, 3)
    assert batch["labels"].tolist() == [[-1, -1], [2, 0], [1, -1]]


@pytest.mark.parametrize("chunk_size", [1, 2, 16])
def test_the_pipeline_moves_chunk_size_images_a_unit_in_any_case_the_same_elements(
    tmp_path, chunk_size
):
    ds = CocoDetection(*write_set(tmp_path))
    pipe = ds.pipeline(shuffle=True, seed=4, epochs=2, threads=2, chunk_size=chunk_size)
    ids = [int(el["image_id"]) for el in pipe.with_options(deterministic=True)]
    default = ds.pipeline(shuffle=True, seed=4, epochs=2, threads=2)
    assert ids == [int(el["image_id"]) for el in default.with_options(deterministic=True)]
    assert any(f"chunk={chunk_size}," in line for line in pipe._fingerprint())
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        ds.pipeline(chunk_size=0)


def test_results_map_back_to_coco_boxes_and_category_ids(tmp_path):
    ds = CocoDetection(*write_set(tmp_path))
    out = ds.results([7], [np.array([[1, 2, 6, 8]])], [np.array([0.9])], [np.array([2])])
    assert out == [{"image_id": 7, "category_id": 90, "bbox": [1.0, 2.0, 5.0, 6.0], "score": 0.9}]


def test_missing_and_broken_files_are_named(tmp_path):
    path, images = write_set(tmp_path)
    with pytest.raises(NotFoundError, match=r"nowhere\.json"):
        CocoDetection(tmp_path / "nowhere.json", images)
    ds = CocoDetection(path, images)
    (images / "im7.png").write_bytes(b"garbage")
    with pytest.raises(DataLossError, match=r"im7\.png"):
        ds.element(1)
    (images / "im7.png").unlink()
    with pytest.raises(NotFoundError, match=r"im7\.png"):
        ds.element(1)
    (images / "im3.png").write_bytes(image_codecs.encode_png(np.zeros((5, 5, 3), np.uint8)))
    with pytest.raises(DataLossError, match="the annotations say 16x16"):
        ds.element(0)
    with pytest.raises(InvalidArgumentError, match="crowd"):
        CocoDetection(path, images, crowd="ignore")
