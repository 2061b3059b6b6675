"""conveyor.apps.detection.ops: the detector's box operations, pinned to torchvision's
definitions (torchvision itself is not installed): hand-computed values, naive
pure-Python references (NMS, and a line-by-line transcription of torchvision's CPU
RoI Align kernel), and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from conveyor.apps.detection.ops import (
    BBOX_CLIP,
    BoxCoder,
    anchors,
    batched_nms,
    box_area,
    box_iou,
    clip_boxes,
    nms,
    remove_small_boxes,
    roi_align,
)


def _t(rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


def _random_boxes(n, seed, *, span=50.0, min_size=5.0, max_size=25.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * span
    wh = min_size + torch.rand(n, 2, generator=g, dtype=dtype) * (max_size - min_size)
    return torch.cat((xy, xy + wh), dim=1)


# --------------------------------------------------------------------------- box_area


def test_box_area_is_width_times_height_and_zero_for_inverted_boxes():
    boxes = _t([[0, 0, 4, 3], [1, 2, 1, 9], [5, 5, 2, 8], [2, 7, 6, 1]])
    # 4 * 3 = 12; zero width -> 0; x1 < x0 -> 0; y1 < y0 -> 0
    assert box_area(boxes).tolist() == [12.0, 0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------- box_iou


def test_box_iou_of_disjoint_boxes_is_zero():
    assert box_iou(_t([[0, 0, 1, 1]]), _t([[2, 2, 3, 3]])).tolist() == [[0.0]]


def test_box_iou_of_boxes_sharing_only_an_edge_is_zero():
    # [0,1] x [0,1] and [1,2] x [0,1]: the intersection is the segment x = 1, area 0.
    assert box_iou(_t([[0, 0, 1, 1]]), _t([[1, 0, 2, 1]])).tolist() == [[0.0]]
    # and sharing only a corner
    assert box_iou(_t([[0, 0, 1, 1]]), _t([[1, 1, 2, 2]])).tolist() == [[0.0]]


def test_box_iou_of_a_contained_box_is_the_area_ratio():
    # inner 2 x 2 = 4 inside outer 4 x 4 = 16: inter 4, union 16 -> 1/4
    iou = box_iou(_t([[0, 0, 4, 4]]), _t([[1, 1, 3, 3]]))
    assert iou.tolist() == [[0.25]]


def test_box_iou_of_partial_overlaps_by_hand():
    a = _t([[0, 0, 10, 10], [0, 0, 2, 2]], torch.float64)
    b = _t([[5, 0, 15, 10], [1, 1, 3, 3]], torch.float64)
    iou = box_iou(a, b)
    # [0,10]^2 vs [5,15]x[0,10]: inter 5 * 10 = 50, union 100 + 100 - 50 = 150 -> 1/3
    assert iou[0, 0].item() == pytest.approx(1 / 3, abs=1e-12)
    # [0,2]^2 vs [1,3]^2: inter 1 * 1 = 1, union 4 + 4 - 1 = 7 -> 1/7
    assert iou[1, 1].item() == pytest.approx(1 / 7, abs=1e-12)
    # [0,10]^2 vs [1,3]^2: contained, 4 / 100
    assert iou[0, 1].item() == pytest.approx(0.04, abs=1e-12)
    # [0,2]^2 vs [5,15]x[0,10]: disjoint
    assert iou[1, 0].item() == 0.0


def test_box_iou_is_symmetric_and_one_on_identical_boxes():
    boxes = _random_boxes(6, seed=3)
    iou = box_iou(boxes, boxes)
    torch.testing.assert_close(iou, iou.T, rtol=0, atol=1e-12)
    torch.testing.assert_close(iou.diagonal(), torch.ones(6, dtype=torch.float64))


def test_box_iou_of_empty_boxes_is_zero_not_nan():
    empty = _t([[1, 1, 1, 1]])
    # union 0 + 0 - 0 = 0: 0 / 0 would be NaN; the IoU is defined as 0
    assert box_iou(empty, empty).tolist() == [[0.0]]
    # an empty box against a non-empty one: inter 0, union 4 -> 0
    assert box_iou(empty, _t([[0, 0, 2, 2]])).tolist() == [[0.0]]
    # a degenerate line segment inside a box
    assert box_iou(_t([[0, 1, 2, 1]]), _t([[0, 0, 2, 2]])).tolist() == [[0.0]]


def test_box_iou_shape_is_n_by_m_including_zero_rows():
    a = _random_boxes(3, seed=0)
    b = _random_boxes(2, seed=1)
    none = torch.zeros((0, 4), dtype=torch.float64)
    assert box_iou(a, b).shape == (3, 2)
    assert box_iou(none, b).shape == (0, 2)
    assert box_iou(a, none).shape == (3, 0)
    assert box_iou(none, none).shape == (0, 0)


# ------------------------------------------------------------------ clip / remove small


def test_clip_boxes_clamps_x_to_width_and_y_to_height():
    boxes = _t([[-5, -3, 50, 40], [10, 5, 20, 15], [35, 25, 45, 35]])
    # image 30 high, 40 wide: x in [0, 40], y in [0, 30]
    assert clip_boxes(boxes, height=30, width=40).tolist() == [
        [0.0, 0.0, 40.0, 30.0],
        [10.0, 5.0, 20.0, 15.0],  # inside: unchanged
        [35.0, 25.0, 40.0, 30.0],
    ]


def test_clip_boxes_keeps_leading_dimensions():
    boxes = _t([[[-1, -1, 5, 5]], [[2, 3, 99, 99]]])  # (2, 1, 4)
    out = clip_boxes(boxes, height=10, width=8)
    assert out.shape == (2, 1, 4)
    assert out.tolist() == [[[0.0, 0.0, 5.0, 5.0]], [[2.0, 3.0, 8.0, 10.0]]]


def test_remove_small_boxes_keeps_both_sides_at_least_min_size():
    boxes = _t(
        [
            [0, 0, 2, 2],  # 2 x 2: kept (equal to min_size is kept)
            [0, 0, 1.9, 5],  # width 1.9 < 2
            [0, 0, 5, 1.5],  # height 1.5 < 2
            [3, 3, 10, 4],  # height 1
            [1, 1, 4, 9],  # 3 x 8: kept
            [5, 5, 3, 9],  # inverted: width -2
        ]
    )
    keep = remove_small_boxes(boxes, 2.0)
    assert keep.dtype == torch.int64
    assert keep.tolist() == [0, 4]
    assert remove_small_boxes(torch.zeros((0, 4)), 1.0).tolist() == []


# -------------------------------------------------------------------------------- nms


def _py_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def _naive_nms(boxes, scores, threshold):
    """O(n^2) reference: in order of decreasing score (ties: lower index first), keep a
    box when its IoU with every box kept so far is at most the threshold."""
    b, s = boxes.tolist(), scores.tolist()
    keep = []
    for i in sorted(range(len(b)), key=lambda i: (-s[i], i)):
        if all(_py_iou(b[i], b[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


# A = [0,3]x[0,1], B = [1,4]x[0,1]: inter 2 * 1 = 2, union 3 + 3 - 2 = 4 -> IoU 0.5 exactly
_HALF = _t([[0, 0, 3, 1], [1, 0, 4, 1]])


def test_nms_keeps_a_box_whose_iou_equals_the_threshold():
    assert nms(_HALF, _t([0.9, 0.8]), 0.5).tolist() == [0, 1]


def test_nms_suppresses_a_box_whose_iou_is_greater_than_the_threshold():
    assert nms(_HALF, _t([0.9, 0.8]), 0.49).tolist() == [0]
    # the lower score is the one suppressed, whichever index it has
    assert nms(_HALF, _t([0.3, 0.8]), 0.49).tolist() == [1]


def test_nms_returns_int64_indices_by_decreasing_score():
    boxes = _t([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21], [30, 30, 31, 31]])
    keep = nms(boxes, _t([0.1, 0.9, 0.5, 0.7]), 0.5)
    assert keep.dtype == torch.int64
    assert keep.tolist() == [1, 3, 2, 0]


def test_nms_equal_scores_keep_the_lower_index_first():
    # disjoint boxes, all tied: index order
    boxes = _t([[0, 0, 1, 1], [10, 10, 11, 11], [20, 20, 21, 21]])
    assert nms(boxes, _t([0.5, 0.5, 0.5]), 0.5).tolist() == [0, 1, 2]
    # boxes 0 and 2 identical (IoU 1) and tied: 0 wins and suppresses 2
    boxes = _t([[0, 0, 4, 4], [10, 10, 14, 14], [0, 0, 4, 4]])
    assert nms(boxes, _t([0.5, 0.9, 0.5]), 0.5).tolist() == [1, 0]
    # two identical tied boxes: the lower index survives
    assert nms(_t([[0, 0, 4, 4], [0, 0, 4, 4]]), _t([0.7, 0.7]), 0.1).tolist() == [0]


def test_nms_a_suppressed_box_does_not_suppress_others():
    # A = [0,4], B = [2,6], C = [4,8] (x; all y in [0,1]):
    # IoU(A,B) = 2 / (4 + 4 - 2) = 1/3 > 0.3 -> B suppressed by A
    # IoU(B,C) = 1/3 > 0.3 but B is gone; IoU(A,C) = 0 (touching) <= 0.3 -> C kept
    boxes = _t([[0, 0, 4, 1], [2, 0, 6, 1], [4, 0, 8, 1]])
    assert nms(boxes, _t([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]
    # at 0.34 nothing is suppressed (1/3 <= 0.34)
    assert nms(boxes, _t([0.9, 0.8, 0.7]), 0.34).tolist() == [0, 1, 2]


def test_nms_of_no_boxes_is_an_empty_int64_tensor():
    keep = nms(torch.zeros((0, 4)), torch.zeros(0), 0.5)
    assert keep.dtype == torch.int64
    assert keep.shape == (0,)


def test_nms_of_one_box_keeps_it():
    assert nms(_t([[0, 0, 1, 1]]), _t([0.2]), 0.5).tolist() == [0]


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_equals_the_naive_reference_on_random_boxes(seed, threshold):
    boxes = _random_boxes(60, seed=seed)
    scores = torch.rand(
        60, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64
    )
    assert nms(boxes, scores, threshold).tolist() == _naive_nms(boxes, scores, threshold)


def test_nms_equals_the_naive_reference_with_many_tied_scores():
    boxes = _random_boxes(50, seed=7)
    # scores from only 4 distinct values: ties everywhere, resolved by index
    scores = torch.randint(0, 4, (50,), generator=torch.Generator().manual_seed(8)).double()
    for threshold in (0.2, 0.5):
        assert nms(boxes, scores, threshold).tolist() == _naive_nms(boxes, scores, threshold)


def test_nms_in_float32_equals_the_reference():
    boxes = _random_boxes(40, seed=11).float()
    scores = torch.rand(40, generator=torch.Generator().manual_seed(12))
    assert nms(boxes, scores, 0.4).tolist() == _naive_nms(boxes, scores, 0.4)


# ------------------------------------------------------------------------ batched_nms


def _per_group_reference(boxes, scores, groups, threshold):
    """Naive NMS within each group, the survivors merged by decreasing score (ties:
    lower index first)."""
    kept = []
    for g in sorted(set(groups.tolist())):
        members = [i for i, gi in enumerate(groups.tolist()) if gi == g]
        local = _naive_nms(boxes[members], scores[members], threshold)
        kept += [members[j] for j in local]
    s = scores.tolist()
    return sorted(kept, key=lambda i: (-s[i], i))


def test_batched_nms_boxes_of_different_groups_never_suppress_each_other():
    boxes = _t([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]])
    # all three overlap heavily (IoU 1 and 0.81), but each is in its own group
    keep = batched_nms(boxes, _t([0.9, 0.8, 0.7]), torch.tensor([0, 1, 2]), 0.5)
    assert keep.tolist() == [0, 1, 2]


def test_batched_nms_boxes_of_the_same_group_suppress_each_other():
    boxes = _t([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]])
    # group 3 holds boxes 1 and 2: IoU = 9 * 9 / (10 * 10) = 0.81 > 0.5 -> 2 suppressed;
    # group 5 holds boxes 0 and 3, disjoint -> both kept (box 0 is identical to box 1
    # but in another group)
    groups = torch.tensor([5, 3, 3, 5])
    keep = batched_nms(boxes, _t([0.9, 0.8, 0.7, 0.6]), groups, 0.5)
    assert keep.tolist() == [0, 1, 3]


def test_batched_nms_groups_stay_apart_for_negative_coordinates():
    # Identical boxes [-20,-20,0,0] in groups 0 and 1 (anchors and unclipped boxes go
    # negative). Offsetting by group * (max + 1) = group * 1 would move group 1 only one
    # pixel: IoU 19^2 / (2 * 400 - 19^2) = 361 / 439 > 0.5, wrongly suppressing it.
    boxes = _t([[-20, -20, 0, 0], [-20, -20, 0, 0]])
    keep = batched_nms(boxes, _t([0.9, 0.8]), torch.tensor([0, 1]), 0.5)
    assert keep.tolist() == [0, 1]
    # ... and everything negative: max + 1 = -9 would shift group 1 by -9 onto group 0
    boxes = _t([[-30, -30, -10, -10], [-30, -30, -10, -10], [-29, -29, -10, -10]])
    keep = batched_nms(boxes, _t([0.9, 0.8, 0.7]), torch.tensor([0, 1, 1]), 0.5)
    # IoU(1, 2) = 19^2 / 20^2 = 0.9025 > 0.5 within group 1 -> 2 suppressed
    assert keep.tolist() == [0, 1]


def test_batched_nms_of_no_boxes_is_an_empty_int64_tensor():
    keep = batched_nms(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert keep.dtype == torch.int64 and keep.shape == (0,)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_nms_equals_per_group_nms_merged_by_score(seed):
    g = torch.Generator().manual_seed(200 + seed)
    boxes = _random_boxes(60, seed=seed)
    scores = torch.rand(60, generator=g, dtype=torch.float64)
    groups = torch.randint(0, 4, (60,), generator=g)
    for threshold in (0.3, 0.5, 0.7):
        expected = _per_group_reference(boxes, scores, groups, threshold)
        assert batched_nms(boxes, scores, groups, threshold).tolist() == expected


def test_batched_nms_with_a_single_group_is_nms():
    boxes = _random_boxes(40, seed=5)
    scores = torch.rand(40, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    groups = torch.full((40,), 2)
    assert batched_nms(boxes, scores, groups, 0.5).tolist() == nms(boxes, scores, 0.5).tolist()


# --------------------------------------------------------------------------- BoxCoder


def test_box_coder_needs_four_weights():
    with pytest.raises(ValueError):
        BoxCoder((1.0, 1.0, 1.0))


def test_box_coder_encodes_detectron_weights_by_hand():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    # reference [0,0,10,10]: centre (5, 5), size 10 x 10
    ref = _t([[0, 0, 10, 10], [0, 0, 10, 10]], torch.float64)
    boxes = _t([[5, 0, 25, 10], [0, -5, 10, 35]], torch.float64)
    d = coder.encode(boxes, ref)
    # box 0: centre (15, 5), 20 x 10:
    #   dx = 10 (15 - 5) / 10 = 10, dy = 0, dw = 5 log(20/10) = 5 log 2, dh = 5 log 1 = 0
    # box 1: centre (5, 15), 10 x 40:
    #   dx = 0, dy = 10 (15 - 5) / 10 = 10, dw = 0, dh = 5 log(40/10) = 5 log 4
    expected = _t([[10, 0, 5 * math.log(2), 0], [0, 10, 0, 5 * math.log(4)]], torch.float64)
    torch.testing.assert_close(d, expected, rtol=0, atol=1e-12)


def test_box_coder_encodes_unit_weights_by_hand():
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    # reference [10,20,30,60]: centre (20, 40), 20 x 40;
    # box [12,24,22,44]: centre (17, 34), 10 x 20
    d = coder.encode(_t([[12, 24, 22, 44]], torch.float64), _t([[10, 20, 30, 60]], torch.float64))
    # dx = (17 - 20) / 20 = -0.15, dy = (34 - 40) / 40 = -0.15, dw = dh = log(1/2)
    expected = _t([[-0.15, -0.15, math.log(0.5), math.log(0.5)]], torch.float64)
    torch.testing.assert_close(d, expected, rtol=0, atol=1e-12)


def test_box_coder_decodes_detectron_weights_by_hand():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    ref = _t([[0, 0, 10, 10]], torch.float64)
    # dx = 10 / 10 = 1 -> centre x = 1 * 10 + 5 = 15; dw = 5 log 2 / 5 -> width 2 * 10
    d = _t([[10, 0, 5 * math.log(2), 0]], torch.float64)
    torch.testing.assert_close(coder.decode(d, ref), _t([[5, 0, 25, 10]], torch.float64))


def test_box_coder_decodes_k_classes_to_n_by_4k():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    ref = _t([[0, 0, 10, 10], [100, 100, 120, 140]], torch.float64)
    # per reference: class 0, class 1, class 2
    deltas = _t(
        [
            # ref 0 (centre (5,5), 10 x 10):
            #   class 0: nothing -> the reference itself
            #   class 1: dx = 1 -> centre x 15, width 2 * 10 -> [5, 0, 25, 10]
            #   class 2: dy = 1 -> centre y 15, height 4 * 10 -> [0, -5, 10, 35]
            [0, 0, 0, 0, 10, 0, 5 * math.log(2), 0, 0, 10, 0, 5 * math.log(4)],
            # ref 1 (centre (110, 120), 20 x 40):
            #   class 0: dx = -0.5 -> centre x 110 - 10 = 100 -> [90, 100, 110, 140]
            #   class 1: dw = dh = log(1/2) -> 10 x 20 at (110, 120) -> [105, 110, 115, 130]
            #   class 2: dy = 0.25 -> centre y 120 + 10 = 130 -> [100, 110, 120, 150]
            [-5, 0, 0, 0, 0, 0, 5 * math.log(0.5), 5 * math.log(0.5), 0, 2.5, 0, 0],
        ],
        torch.float64,
    )
    out = coder.decode(deltas, ref)
    assert out.shape == (2, 12)
    expected = _t(
        [
            [0, 0, 10, 10, 5, 0, 25, 10, 0, -5, 10, 35],
            [90, 100, 110, 140, 105, 110, 115, 130, 100, 110, 120, 150],
        ],
        torch.float64,
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-9)


def test_box_coder_decode_clamps_dw_and_dh_at_log_1000_over_16():
    assert math.log(1000 / 16) == BBOX_CLIP
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    # reference [0,0,10,20]: centre (5, 10), 10 x 20; dw = dh = 100 is clamped to
    # log(62.5): width 62.5 * 10 = 625, height 62.5 * 20 = 1250
    out = coder.decode(_t([[0, 0, 100, 100]], torch.float64), _t([[0, 0, 10, 20]], torch.float64))
    # [5 - 312.5, 10 - 625, 5 + 312.5, 10 + 625]
    torch.testing.assert_close(out, _t([[-307.5, -615, 317.5, 635]], torch.float64))
    assert (out[0, 2] - out[0, 0]).item() == pytest.approx(1000 / 16 * 10, rel=1e-12)
    # the clamp is on dw / ww: with ww = wh = 5, 1000 / 5 = 200 is clamped too
    weighted = BoxCoder((10.0, 10.0, 5.0, 5.0))
    out = weighted.decode(
        _t([[0, 0, 1000, 1000]], torch.float64), _t([[0, 0, 10, 20]], torch.float64)
    )
    torch.testing.assert_close(out, _t([[-307.5, -615, 317.5, 635]], torch.float64))
    # below the clip nothing changes: dw = log 4 -> width 40
    out = coder.decode(
        _t([[0, 0, math.log(4), 0]], torch.float64), _t([[0, 0, 10, 20]], torch.float64)
    )
    torch.testing.assert_close(out, _t([[-15, 0, 25, 20]], torch.float64))
    # only the upper side is clamped: dw = -10 gives width 10 e^-10
    out = coder.decode(_t([[0, 0, -10, 0]], torch.float64), _t([[0, 0, 10, 20]], torch.float64))
    assert (out[0, 2] - out[0, 0]).item() == pytest.approx(10 * math.exp(-10), rel=1e-12)


def test_box_coder_decode_in_float32_clamps_to_62_5_times_the_width():
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    out = coder.decode(_t([[0, 0, 1e6, 0]]), _t([[0, 0, 10, 20]]))
    assert (out[0, 2] - out[0, 0]).item() == pytest.approx(625.0, rel=1e-6)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_coder_encode_then_decode_is_the_identity(weights):
    coder = BoxCoder(weights)
    # sizes within 4..100 keep every log size ratio below the clip (log 25 < log 62.5)
    ref = _random_boxes(200, seed=21, span=100.0, min_size=4.0, max_size=100.0, dtype=torch.float32)
    boxes = _random_boxes(
        200, seed=22, span=100.0, min_size=4.0, max_size=100.0, dtype=torch.float32
    )
    torch.testing.assert_close(
        coder.decode(coder.encode(boxes, ref), ref), boxes, rtol=0, atol=1e-4
    )


# ---------------------------------------------------------------------------- anchors


def test_anchors_match_torchvision_anchor_generator_by_hand():
    # torchvision: h_ratios = sqrt(r), w_ratios = 1 / h_ratios,
    # ws = (w_ratios[:, None] * sizes[None, :]).view(-1) (ratio-major, then size),
    # base = round([-ws, -hs, ws, hs] / 2)
    #   r = 0.5: w = s * sqrt 2, h = s / sqrt 2
    #     s = 32: ws/2 = 22.627 -> 23, hs/2 = 11.314 -> 11
    #     s = 64: ws/2 = 45.255 -> 45, hs/2 = 22.627 -> 23
    #   r = 1:   s = 32 -> 16, 16;  s = 64 -> 32, 32
    #   r = 2:   w = s / sqrt 2, h = s * sqrt 2
    #     s = 32: 11, 23;  s = 64: 23, 45
    base = [
        [-23, -11, 23, 11],
        [-45, -23, 45, 23],
        [-16, -16, 16, 16],
        [-32, -32, 32, 32],
        [-11, -23, 11, 23],
        [-23, -45, 23, 45],
    ]
    # shifts of a 2 x 2 map with stride 16, location-major with x fastest:
    # (i, j) = (0,0), (0,1), (1,0), (1,1) -> (x, y) = (0,0), (16,0), (0,16), (16,16)
    shifts = [(0, 0), (16, 0), (0, 16), (16, 16)]
    expected = [
        [x0 + sx, y0 + sy, x1 + sx, y1 + sy] for sx, sy in shifts for x0, y0, x1, y1 in base
    ]
    out = anchors((2, 2), 16, sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0))
    assert out.shape == (2 * 2 * 6, 4)
    assert out.dtype == torch.float32
    assert out.tolist() == [[float(v) for v in row] for row in expected]


def test_anchors_of_a_non_square_map_step_x_fastest():
    # 2 rows x 3 columns, stride 8, one 4 x 4 anchor ([-2,-2,2,2]) per location
    out = anchors((2, 3), 8, sizes=(4,), aspect_ratios=(1.0,))
    centres = ((out[:, :2] + out[:, 2:]) / 2).tolist()
    assert centres == [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]]
    assert (out[:, 2:] - out[:, :2]).tolist() == [[4.0, 4.0]] * 6


def test_anchors_height_over_width_is_the_aspect_ratio():
    out = anchors((1, 1), 16, sizes=(128,), aspect_ratios=(0.25, 4.0))
    # r = 0.25: h = 128 * 0.5 = 64, w = 128 / 0.5 = 256; r = 4: h = 256, w = 64
    assert out.tolist() == [[-128.0, -32.0, 128.0, 32.0], [-32.0, -128.0, 32.0, 128.0]]


# -------------------------------------------------------------------------- roi_align


def _roi_align_reference(features, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """torchvision's roi_align_kernel.cpp forward (CPU), transcribed with Python floats:
    pre_calc_for_bilinear_interpolate, then per channel the average over each bin's
    roi_bin_grid_h x roi_bin_grid_w samples."""
    pooled_height, pooled_width = output_size
    _, channels, height, width = features.shape
    feat = features.tolist()
    out = []
    for roi in rois.tolist():
        roi_batch_ind = int(roi[0])
        offset = 0.5 if aligned else 0.0
        roi_start_w = roi[1] * spatial_scale - offset
        roi_start_h = roi[2] * spatial_scale - offset
        roi_end_w = roi[3] * spatial_scale - offset
        roi_end_h = roi[4] * spatial_scale - offset
        roi_width = roi_end_w - roi_start_w
        roi_height = roi_end_h - roi_start_h
        if not aligned:
            # Force malformed ROIs to be 1x1
            roi_width = max(roi_width, 1.0)
            roi_height = max(roi_height, 1.0)
        bin_size_h = roi_height / pooled_height
        bin_size_w = roi_width / pooled_width
        roi_bin_grid_h = sampling_ratio
        roi_bin_grid_w = sampling_ratio
        count = max(roi_bin_grid_h * roi_bin_grid_w, 1)

        pre_calc = []
        for ph in range(pooled_height):
            for pw in range(pooled_width):
                for iy in range(roi_bin_grid_h):
                    yy = roi_start_h + ph * bin_size_h + (iy + 0.5) * bin_size_h / roi_bin_grid_h
                    for ix in range(roi_bin_grid_w):
                        xx = (
                            roi_start_w + pw * bin_size_w + (ix + 0.5) * bin_size_w / roi_bin_grid_w
                        )
                        x, y = xx, yy
                        if y < -1.0 or y > height or x < -1.0 or x > width:
                            pre_calc.append((0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0))
                            continue
                        if y <= 0:
                            y = 0.0
                        if x <= 0:
                            x = 0.0
                        y_low = int(y)
                        x_low = int(x)
                        if y_low >= height - 1:
                            y_high = y_low = height - 1
                            y = float(y_low)
                        else:
                            y_high = y_low + 1
                        if x_low >= width - 1:
                            x_high = x_low = width - 1
                            x = float(x_low)
                        else:
                            x_high = x_low + 1
                        ly = y - y_low
                        lx = x - x_low
                        hy = 1.0 - ly
                        hx = 1.0 - lx
                        pre_calc.append(
                            (
                                y_low * width + x_low,
                                y_low * width + x_high,
                                y_high * width + x_low,
                                y_high * width + x_high,
                                hy * hx,
                                hy * lx,
                                ly * hx,
                                ly * lx,
                            )
                        )

        planes = []
        for c in range(channels):
            offset_input = [v for row in feat[roi_batch_ind][c] for v in row]
            plane = []
            pre_calc_index = 0
            for _ph in range(pooled_height):
                row = []
                for _pw in range(pooled_width):
                    output_val = 0.0
                    for _ in range(roi_bin_grid_h * roi_bin_grid_w):
                        p1, p2, p3, p4, w1, w2, w3, w4 = pre_calc[pre_calc_index]
                        output_val += (
                            w1 * offset_input[p1]
                            + w2 * offset_input[p2]
                            + w3 * offset_input[p3]
                            + w4 * offset_input[p4]
                        )
                        pre_calc_index += 1
                    row.append(output_val / count)
                plane.append(row)
            planes.append(plane)
        out.append(planes)
    return torch.tensor(out, dtype=torch.float64).reshape(
        len(out), channels, pooled_height, pooled_width
    )


def _random_rois(seed, dtype=torch.float64):
    """Rois in image pixels for a 7 x 9 map at spatial scale 0.5 (an 14 x 18 image):
    random ones (many partly or wholly outside), plus tiny, degenerate, edge-hugging
    and far-outside ones, on batch indices 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    n = 24
    x0 = torch.rand(n, generator=g, dtype=dtype) * 30 - 8
    y0 = torch.rand(n, generator=g, dtype=dtype) * 24 - 6
    w = torch.rand(n, generator=g, dtype=dtype) * 16 + 0.05
    h = torch.rand(n, generator=g, dtype=dtype) * 12 + 0.05
    batch = torch.randint(0, 2, (n,), generator=g).to(dtype)
    random = torch.stack((batch, x0, y0, x0 + w, y0 + h), dim=1)
    fixed = torch.tensor(
        [
            [1, 3.0, 2.0, 3.3, 2.2],  # tiny, inside, batch 1
            [0, 5.0, 5.0, 5.0, 5.0],  # zero size
            [1, -4.0, -3.0, 6.0, 5.0],  # over the top-left corner
            [0, 12.0, 8.0, 22.0, 19.0],  # over the bottom-right corner
            [1, -10.0, -10.0, -4.5, -4.5],  # wholly outside, beyond one pixel
            [0, -3.0, 0.0, 1.0, 14.0],  # straddling the left edge
            [1, 0.0, 0.0, 18.0, 14.0],  # the whole image
            [0, 16.5, 12.5, 17.9, 13.9],  # in the last pixel
        ],
        dtype=dtype,
    )
    return torch.cat((random, fixed))


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_roi_align_equals_torchvision_cpu_kernel_transcription(aligned, sampling_ratio):
    g = torch.Generator().manual_seed(30 + sampling_ratio)
    features = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
    rois = _random_rois(40 + sampling_ratio + 10 * aligned)
    out = roi_align(features, rois, (3, 4), 0.5, sampling_ratio=sampling_ratio, aligned=aligned)
    expected = _roi_align_reference(features, rois, (3, 4), 0.5, sampling_ratio, aligned)
    assert out.shape == (len(rois), 3, 3, 4)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


def test_roi_align_in_float32_equals_the_transcription():
    features = torch.randn(2, 2, 7, 9, generator=torch.Generator().manual_seed(50))
    rois = _random_rois(51, dtype=torch.float32)
    out = roi_align(features, rois, (2, 3), 0.5, sampling_ratio=2, aligned=True)
    expected = _roi_align_reference(features, rois, (2, 3), 0.5, 2, True)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


def test_roi_align_int_output_size_is_square():
    features = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(52))
    rois = _t([[0, 0.5, 1.0, 9.0, 10.0]])
    out = roi_align(features, rois, 3, 0.5, sampling_ratio=2)
    assert out.shape == (1, 2, 3, 3)
    torch.testing.assert_close(out, roi_align(features, rois, (3, 3), 0.5, sampling_ratio=2))


def test_roi_align_of_a_constant_map_is_the_constant_inside():
    features = torch.full((1, 2, 8, 8), 3.5, dtype=torch.float64)
    features[0, 1] = -2.0
    rois = _t(
        [[0, 1.0, 1.0, 7.0, 5.0], [0, 0.0, 0.0, 8.0, 8.0], [0, 2.2, 3.1, 2.4, 3.3]], torch.float64
    )
    for aligned in (True, False):
        out = roi_align(features, rois, (2, 3), 1.0, sampling_ratio=2, aligned=aligned)
        expected = torch.tensor([3.5, -2.0], dtype=torch.float64)[None, :, None, None].expand(
            3, 2, 2, 3
        )
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_roi_align_of_a_linear_map_is_the_bin_centres():
    # f(y, x) = x on an 8 x 10 map: bilinear interpolation is exact for a linear
    # function and the samples of a bin are symmetric about its centre, so each bin
    # reads the x of its centre (in feature pixel coordinates).
    xs = torch.arange(10, dtype=torch.float64)
    features = xs.expand(8, 10).reshape(1, 1, 8, 10).clone()
    # aligned: image box x in [2.5, 8.5] -> feature [2, 8] after the half-pixel shift;
    # 3 bins of width 2: [2,4], [4,6], [6,8] -> centres 3, 5, 7
    out = roi_align(features, _t([[0, 2.5, 1.5, 8.5, 5.5]], torch.float64), (2, 3), 1.0, 2, True)
    torch.testing.assert_close(
        out[0, 0], _t([[3, 5, 7], [3, 5, 7]], torch.float64), rtol=0, atol=1e-12
    )
    # not aligned: image box x in [2, 8] is feature [2, 8]: the same centres
    out = roi_align(features, _t([[0, 2.0, 1.0, 8.0, 5.0]], torch.float64), (2, 3), 1.0, 3, False)
    torch.testing.assert_close(
        out[0, 0], _t([[3, 5, 7], [3, 5, 7]], torch.float64), rtol=0, atol=1e-12
    )
    # spatial scale 1/4: image box x in [10, 30] -> feature [2.5, 7.5] - 0.5 = [2, 7];
    # 2 bins of 2.5: centres 3.25 and 5.75
    out = roi_align(
        features, _t([[0, 10.0, 4.0, 30.0, 20.0]], torch.float64), (1, 2), 0.25, 2, True
    )
    torch.testing.assert_close(out[0, 0], _t([[3.25, 5.75]], torch.float64), rtol=0, atol=1e-12)


def test_roi_align_of_an_affine_map_is_the_bin_centres_in_both_axes():
    # f(y, x) = 2x + 3y + 1; aligned box image [1.5, 5.5] x [2.5, 6.5] -> feature
    # x in [1, 5], y in [2, 6]; 2 x 2 bins: centres x in {2, 4}, y in {3, 5}
    yy, xx = torch.meshgrid(
        torch.arange(8, dtype=torch.float64), torch.arange(8, dtype=torch.float64), indexing="ij"
    )
    features = (2 * xx + 3 * yy + 1).reshape(1, 1, 8, 8)
    out = roi_align(features, _t([[0, 1.5, 2.5, 5.5, 6.5]], torch.float64), 2, 1.0, 3, True)
    # row y=3: 2*2 + 9 + 1 = 14, 2*4 + 9 + 1 = 18; row y=5: 20, 24
    torch.testing.assert_close(
        out[0, 0], _t([[14, 18], [20, 24]], torch.float64), rtol=0, atol=1e-12
    )


def test_roi_align_non_aligned_floors_the_roi_size_at_one_pixel():
    features = torch.arange(10, dtype=torch.float64).expand(4, 10).reshape(1, 1, 4, 10).clone()
    # a zero-width box at x = 2: not aligned, it becomes [2, 3] -> one bin centred at 2.5
    out = roi_align(features, _t([[0, 2.0, 1.0, 2.0, 1.0]], torch.float64), 1, 1.0, 2, False)
    assert out.item() == pytest.approx(2.5, abs=1e-12)
    # aligned, the same box at x = 2.5 - 0.5 = 2 keeps zero width: every sample at 2
    out = roi_align(features, _t([[0, 2.5, 1.5, 2.5, 1.5]], torch.float64), 1, 1.0, 2, True)
    assert out.item() == pytest.approx(2.0, abs=1e-12)


def test_roi_align_reads_the_border_within_a_pixel_and_zero_beyond():
    # f = x + 1 on a 4 x 4 map (so the border column x = 0 reads 1, not 0)
    features = (torch.arange(4, dtype=torch.float64) + 1).expand(4, 4).reshape(1, 1, 4, 4).clone()
    # one sample (sampling_ratio 1, one bin) at the box centre, not aligned:
    # centre x = -0.5 (within a pixel of the map), y = 1.5 -> clamped to x = 0 -> 1
    out = roi_align(features, _t([[0, -1.0, 1.0, 0.0, 2.0]], torch.float64), 1, 1.0, 1, False)
    assert out.item() == 1.0
    # centre x = -1.5: more than one pixel outside -> 0
    out = roi_align(features, _t([[0, -2.0, 1.0, -1.0, 2.0]], torch.float64), 1, 1.0, 1, False)
    assert out.item() == 0.0
    # centre x = 3.5 (past the last centre 3, within the map's width 4): border -> 4
    out = roi_align(features, _t([[0, 3.0, 1.0, 4.0, 2.0]], torch.float64), 1, 1.0, 1, False)
    assert out.item() == 4.0
    # centre x = 4.5 > width 4 -> 0
    out = roi_align(features, _t([[0, 4.0, 1.0, 5.0, 2.0]], torch.float64), 1, 1.0, 1, False)
    assert out.item() == 0.0
    # a bin half in, half out: samples at x = 3.25 and 4.25 (box [2.75, 4.75], s = 2),
    # y 1.25, 1.75 -> (4 + 0) / 2 = 2 per row
    out = roi_align(features, _t([[0, 2.75, 1.0, 4.75, 2.0]], torch.float64), 1, 1.0, 2, False)
    assert out.item() == pytest.approx(2.0, abs=1e-12)


def test_roi_align_reads_the_rois_batch_index():
    features = torch.zeros(3, 1, 4, 4, dtype=torch.float64)
    features[0] = 1.0
    features[1] = 2.0
    features[2] = 5.0
    rois = _t([[2, 0, 0, 4, 4], [0, 0, 0, 4, 4], [1, 1, 1, 3, 3]], torch.float64)
    out = roi_align(features, rois, 2, 1.0, 2, True)
    assert out[:, 0].flatten(1).tolist() == [[5.0] * 4, [1.0] * 4, [2.0] * 4]


def test_roi_align_gradcheck_in_float64():
    features = torch.randn(
        2, 2, 6, 7, generator=torch.Generator().manual_seed(60), dtype=torch.float64
    )
    features.requires_grad_(True)
    rois = _t(
        [[0, 1.3, 0.7, 9.1, 8.6], [1, 2.2, 3.4, 6.6, 5.9], [1, -0.7, 1.2, 3.3, 11.8]], torch.float64
    )
    for aligned, s in ((True, 2), (False, 1), (True, 3)):
        assert torch.autograd.gradcheck(
            lambda f, aligned=aligned, s=s: roi_align(f, rois, (2, 3), 0.5, s, aligned),
            (features,),
        )


def test_roi_align_gradient_of_the_sum_adds_to_one_per_bin_for_a_roi_inside():
    # Every bin is the mean of s x s samples whose four bilinear weights sum to 1, so
    # d(sum of out) / d(features) sums to ph * pw per channel: 3 * 4 = 12 here.
    features = torch.randn(
        2, 3, 8, 8, generator=torch.Generator().manual_seed(61), dtype=torch.float64
    )
    features.requires_grad_(True)
    rois = _t([[1, 1.3, 2.1, 6.2, 7.7]], torch.float64)
    roi_align(features, rois, (3, 4), 1.0, sampling_ratio=2, aligned=True).sum().backward()
    grad = features.grad
    # all of it on the roi's image (batch index 1), none on image 0
    assert grad[0].abs().sum().item() == 0.0
    assert grad[1].sum(dim=(1, 2)).tolist() == pytest.approx([12.0, 12.0, 12.0], abs=1e-12)
    assert (grad >= 0).all()


def test_roi_align_with_no_rois_is_an_empty_r_c_ph_pw_tensor():
    features = torch.randn(2, 3, 5, 5)
    out = roi_align(features, torch.zeros((0, 5)), (2, 4), 0.5)
    assert out.shape == (0, 3, 2, 4)
    assert out.dtype == features.dtype


def test_roi_align_sampling_ratio_must_be_positive():
    features = torch.randn(1, 1, 5, 5)
    rois = _t([[0, 0, 0, 4, 4]])
    with pytest.raises(ValueError):
        roi_align(features, rois, 2, 1.0, sampling_ratio=0)
    with pytest.raises(ValueError):
        roi_align(features, rois, 2, 1.0, sampling_ratio=-1)


def test_batched_nms_of_many_boxes_goes_group_by_group_with_the_same_result():
    # Above 4,000 boxes the groups are suppressed one at a time; the kept set and its
    # order (by decreasing score) are those of NMS within each group, merged.
    g = torch.Generator().manual_seed(5)
    n = 4500
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 300
    wh = 5 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 30
    boxes = torch.cat((xy, xy + wh), dim=1)
    scores = torch.rand(n, generator=g, dtype=torch.float64)
    groups = torch.randint(0, 7, (n,), generator=g)
    keep = batched_nms(boxes, scores, groups, 0.5)
    expected = []
    for c in range(7):
        members = torch.nonzero(groups == c).flatten()
        expected += members[nms(boxes[members], scores[members], 0.5)].tolist()
    expected.sort(key=lambda i: -float(scores[i]))
    assert keep.tolist() == expected
