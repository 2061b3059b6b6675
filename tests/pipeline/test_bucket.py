"""bucket_by_sequence_length: batches of similar-length elements, tf.data's bucketing,
padded and counted as batch() pads and counts, resumable without data in the state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import conveyor.pipeline as cp
from conveyor.errors import InvalidArgumentError


def images(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(8, 40, 2))
        k = int(rng.integers(0, 4))
        out.append(
            {
                "image": np.full((h, w, 3), i % 256, np.uint8),
                "boxes": np.full((k, 4), i, np.float32),
                "labels": np.full(k, i, np.int64),
                "id": np.int64(i),
            }
        )
    return out


def aspect(el):
    return el["image"].shape[1] / el["image"].shape[0]


def bucketed(elements, chunk_size=7, sizes=(3, 4), drop_remainder=False):
    return cp.from_iterable(elements, chunk_size=chunk_size).apply(
        cp.bucket_by_sequence_length(
            aspect,
            bucket_boundaries=[1.0],
            bucket_batch_sizes=list(sizes),
            pad={"image": 0, "boxes": 0, "labels": -1},
            lengths={"num_boxes": "boxes"},
            drop_remainder=drop_remainder,
        )
    )


def test_each_batch_holds_one_bucket_and_every_element_once():
    els = images(50)
    batches = list(bucketed(els))
    seen = []
    for b in batches:
        ids = b["id"].tolist()
        wide = [aspect(els[i]) >= 1.0 for i in ids]
        assert len(set(wide)) == 1
        assert len(ids) <= (4 if wide[0] else 3)
        seen.extend(ids)
    assert sorted(seen) == list(range(50))


def test_batches_are_padded_and_counted_like_batch():
    els = images(40)
    for b in bucketed(els):
        n = len(b["id"])
        hmax = max(els[i]["image"].shape[0] for i in b["id"])
        assert b["image"].shape[:2] == (n, hmax)
        for j, i in enumerate(b["id"].tolist()):
            k = len(els[i]["labels"])
            assert b["num_boxes"][j] == k
            assert (b["labels"][j, :k] == i).all() and (b["labels"][j, k:] == -1).all()
            h, w = els[i]["image"].shape[:2]
            assert (b["image"][j, :h, :w] == i % 256).all()
            assert not b["image"][j, h:].any() and not b["image"][j, :, w:].any()


def test_full_buckets_leave_first_then_the_rest_in_bucket_order():
    pipe = cp.range(10).apply(cp.bucket_by_sequence_length(lambda x: x % 3, [1], [2, 3]))
    assert [b.tolist() for b in pipe] == [[0, 3], [1, 2, 4], [5, 7, 8], [6, 9]]
    pipe = cp.range(11).apply(
        cp.bucket_by_sequence_length(lambda x: x % 3, [1], [2, 3], drop_remainder=True)
    )
    assert [b.tolist() for b in pipe] == [[0, 3], [1, 2, 4], [5, 7, 8], [6, 9]]


def test_a_boundary_value_belongs_to_the_bucket_above():
    pipe = cp.range(6).apply(cp.bucket_by_sequence_length(lambda x: x, [2, 4], [10, 10, 10]))
    assert [b.tolist() for b in pipe] == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_a_resume_yields_exactly_what_the_run_would_have(chunk_size):
    els = images(60, seed=3)
    full = [b["id"].tolist() for b in bucketed(els, chunk_size)]
    for at in [1, 4, len(full) // 2, len(full) - 1]:
        it = iter(bucketed(els, chunk_size))
        got = [next(it)["id"].tolist() for _ in range(at)]
        state = json.loads(json.dumps(it.state_dict()))
        it.close()
        assert got == full[:at]
        rest = bucketed(els, chunk_size).iterate(state)
        resumed = [b["id"].tolist() for b in rest]
        assert resumed == full[at:], at
        # and a resume from a resumed run
        if len(full) - at > 2:
            it2 = bucketed(els, chunk_size).iterate(state)
            next(it2)
            state2 = json.loads(json.dumps(it2.state_dict()))
            it2.close()
            again = [b["id"].tolist() for b in bucketed(els, chunk_size).iterate(state2)]
            assert again == full[at + 1 :]


def test_bucketing_after_a_batch_takes_batches_as_elements():
    pipe = (
        cp.range(8)
        .batch(2)
        .apply(cp.bucket_by_sequence_length(lambda b: int(b[0]) % 4, [2], [2, 2]))
    )
    assert [b.tolist() for b in pipe] == [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        cp.bucket_by_sequence_length(len, [3, 2], [1, 1, 1])
    with pytest.raises(InvalidArgumentError, match="len\\(bucket_boundaries\\) \\+ 1"):
        cp.bucket_by_sequence_length(len, [3], [1])
    with pytest.raises(InvalidArgumentError, match="callable"):
        cp.bucket_by_sequence_length(3, [3], [1, 2])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=60),
    st.lists(st.integers(1, 8), min_size=1, max_size=3),
    st.integers(1, 9),
    st.data(),
)
def test_any_cut_resumes_to_the_same_batches(keys, sizes, chunk_size, data):
    boundaries = sorted(set(range(1, 10, 3)))[: len(sizes) - 1]
    sizes = sizes[: len(boundaries) + 1]
    values = np.array(keys, np.int64) * 100 + np.arange(len(keys))

    def build():
        return cp.from_iterable(list(values), chunk_size=chunk_size).apply(
            cp.bucket_by_sequence_length(lambda v: int(v) // 100, boundaries, sizes)
        )

    full = [b.tolist() for b in build()]
    assert sorted(v for b in full for v in b) == sorted(values.tolist())
    at = data.draw(st.integers(0, len(full)))
    it = iter(build())
    for _ in range(at):
        next(it)
    state = json.loads(json.dumps(it.state_dict()))
    it.close()
    assert [b.tolist() for b in build().iterate(state)] == full[at:]
