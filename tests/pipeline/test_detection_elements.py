"""Detection elements — an image, k boxes, k labels, k >= 0 and varying — flow through
every stage, and batch(pad={...}, lengths={...}) pads boxes and labels to the batch's
largest k with a count per element (tf.data's padded_batch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import conveyor.pipeline as cp
from conveyor.errors import InvalidArgumentError

PAD = {"image": 0, "boxes": 0, "labels": -1}


def element(i: int, k: int | None = None, size: tuple[int, int] | None = None) -> dict:
    k = i % 4 if k is None else k
    h, w = size or (10 + i % 3, 12 + i % 5)
    return {
        "image": np.full((h, w, 3), i, np.uint8),
        "boxes": np.arange(k * 4, dtype=np.float32).reshape(k, 4) + i,
        "labels": np.full(k, i, np.int64),
        "image_id": np.int64(i),
    }


def check_batch(batch: dict, ids: list[int]) -> None:
    assert batch["image_id"].tolist() == ids
    ks = [i % 4 for i in ids]
    assert batch["num_boxes"].tolist() == ks and batch["num_boxes"].dtype == np.int64
    assert batch["boxes"].shape == (len(ids), max(ks), 4)
    assert batch["boxes"].dtype == np.float32 and batch["labels"].dtype == np.int64
    for j, (i, k) in enumerate(zip(ids, ks)):
        np.testing.assert_array_equal(batch["boxes"][j, :k], element(i)["boxes"])
        assert not batch["boxes"][j, k:].any()
        assert (batch["labels"][j, :k] == i).all() and (batch["labels"][j, k:] == -1).all()
        h, w = element(i)["image"].shape[:2]
        assert (batch["image"][j, :h, :w] == i).all()


def flip(el, rng):
    if rng.random() < 0.5:
        w = el["image"].shape[1]
        el = dict(el, image=el["image"][:, ::-1], boxes=el["boxes"] * [-1, 1, -1, 1] + [w, 0, w, 0])
    return el


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_elements_with_any_number_of_boxes_go_through_map_shuffle_filter_batch(chunk_size):
    els = [element(i) for i in range(40)]
    pipe = (
        cp.from_iterable(els, chunk_size=chunk_size)
        .map(lambda el: el)
        .filter(lambda el: el["image_id"] % 5 != 0)
        .shuffle(min_after_dequeue=8, seed=1)
        .map(lambda el: dict(el, labels=el["labels"].copy()), threads=2)
        .batch(4, pad=PAD, lengths={"num_boxes": "boxes"})
    )
    seen = []
    for batch in pipe:
        ids = batch["image_id"].tolist()
        check_batch(batch, ids)
        seen.extend(ids)
    assert sorted(seen) == [i for i in range(40) if i % 5]


def test_a_batch_of_elements_without_boxes_has_zero_width_box_arrays():
    els = [element(i, k=0) for i in range(3)]
    batch = next(iter(cp.from_iterable(els).batch(3, pad=PAD, lengths={"n": "boxes"})))
    assert batch["boxes"].shape == (3, 0, 4) and batch["labels"].shape == (3, 0)
    assert batch["n"].tolist() == [0, 0, 0]


def test_padded_batches_after_a_random_access_source():
    ids = np.arange(12)
    pipe = (
        cp.from_arrays(ids, shuffle=True, seed=0)
        .map(lambda i: element(int(i)))
        .batch(5, pad=PAD, lengths={"num_boxes": "boxes"})
    )
    out = list(pipe)
    assert [len(b["image_id"]) for b in out] == [5, 5, 2]
    for b in out:
        check_batch(b, b["image_id"].tolist())


def test_augmenting_per_element_with_a_generator_keeps_boxes_and_pixels_together():
    els = [element(i, size=(16, 16)) for i in range(8)]
    pipe = (
        cp.from_iterable(els)
        .map(flip, rng=True)
        .batch(8, pad={"boxes": 0, "labels": -1}, lengths={"num_boxes": "boxes"})
        .with_options(seed=3, deterministic=True)
    )
    a = next(iter(pipe))
    b = next(iter(pipe))
    np.testing.assert_array_equal(a["boxes"], b["boxes"])
    assert a["image"].shape == (8, 16, 16, 3)


def test_a_padded_batch_resumes_exactly():
    def build():
        return (
            cp.from_arrays(np.arange(30), shuffle=True, seed=2, epochs=2)
            .map(lambda i: element(int(i)))
            .batch(4, pad=PAD, lengths={"num_boxes": "boxes"})
        )

    full = [b["image_id"].tolist() for b in build()]
    it = iter(build())
    for _ in range(5):
        next(it)
    state = json.loads(json.dumps(it.state_dict()))
    it.close()
    assert [b["image_id"].tolist() for b in build().iterate(state)] == full[5:]


def test_pad_names_only_existing_components_and_lengths_need_dicts():
    els = [element(i) for i in range(4)]
    with pytest.raises(InvalidArgumentError, match="nosuch"):
        list(cp.from_iterable(els).batch(2, pad={"nosuch": 0}))
    with pytest.raises(InvalidArgumentError, match="different shapes"):
        list(cp.from_iterable(els).batch(2, pad={"boxes": 0}))  # labels left unpadded
    with pytest.raises(InvalidArgumentError, match="lengths"):
        list(cp.range(4).batch(2, lengths={"n": "boxes"}))
    with pytest.raises(InvalidArgumentError, match="lengths must be"):
        cp.range(4).batch(2, lengths=["boxes"])
    with pytest.raises(InvalidArgumentError, match="already have"):
        list(cp.from_iterable(els).batch(2, pad=PAD, lengths={"labels": "boxes"}))


def test_a_single_pad_value_still_pads_every_component():
    rows = [(np.ones(k, np.int64), np.int64(k)) for k in (1, 3)]
    a, k = next(iter(cp.from_iterable(rows).batch(2, pad=-1)))
    assert a.tolist() == [[1, -1, -1], [1, 1, 1]] and k.tolist() == [1, 3]
