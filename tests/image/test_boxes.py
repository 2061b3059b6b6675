"""conveyor.image.boxes: every geometric op moves the boxes exactly as it moves the pixels.

The mask test: an image gets one channel per box, the box drawn into it as a filled
rectangle; the op transforms image and boxes; each kept box, drawn again, must be the
transformed channel.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conveyor import image as ops
from conveyor.errors import InvalidArgumentError
from conveyor.image import boxes as bx


def masks(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """One uint8 channel per box: 255 inside it (integer corners), 0 outside."""
    out = np.zeros((h, w, max(len(boxes), 1)), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(np.rint(boxes).astype(int)):
        out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0), i] = 255
    return out


def random_boxes(rng: np.random.Generator, k: int, h: int, w: int, step: int = 1) -> np.ndarray:
    x0 = rng.integers(0, w // step - 1, k) * step
    y0 = rng.integers(0, h // step - 1, k) * step
    x1 = x0 + step * rng.integers(1, (w - x0) // step + 1)
    y1 = y0 + step * rng.integers(1, (h - y0) // step + 1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)


def assert_masks_follow(out_image: np.ndarray, out_boxes: np.ndarray, keep=None) -> None:
    h, w = out_image.shape[:2]
    channels = np.arange(len(out_boxes)) if keep is None else keep
    expected = masks(out_boxes, h, w)
    for j, c in enumerate(channels):
        got = out_image[..., c] > 127
        np.testing.assert_array_equal(got, expected[..., j] > 127, err_msg=f"box {c}")


OPS = {
    "flip_left_right": bx.flip_left_right,
    "flip_up_down": bx.flip_up_down,
    "pad_to_bounding_box": partial(
        bx.pad_to_bounding_box, offset_height=3, offset_width=5, target_height=40, target_width=41
    ),
    "resize_up_nearest": partial(bx.resize, size=(64, 56), method="nearest"),
    "resize_down_nearest": partial(bx.resize, size=(16, 14), method="nearest"),
    "resize_up_bilinear": partial(bx.resize, size=(64, 56), method="bilinear"),
    "letterbox": partial(bx.letterbox, size=(64, 80), method="nearest"),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_geometric_op_moves_the_boxes_as_the_pixels(name, seed):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 5, 32, 28, step=2)  # even corners: exact under halving
    image = masks(boxes, 32, 28)
    out_image, out_boxes = OPS[name](image, boxes)
    assert out_boxes.dtype == np.float32 and out_boxes.shape == (5, 4)
    assert_masks_follow(out_image, out_boxes)


@pytest.mark.parametrize("seed", range(6))
def test_a_crop_clips_the_boxes_to_the_window_as_the_pixels(seed):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 6, 30, 40)
    image = masks(boxes, 30, 40)
    out_image, out_boxes, keep = bx.crop_to_bounding_box(image, boxes, 7, 9, 15, 20, min_visible=0)
    assert out_image.shape == (15, 20, 6)
    assert_masks_follow(out_image, out_boxes, keep)
    # a box left out shows no pixel in the window
    for c in sorted(set(range(6)) - set(keep.tolist())):
        assert not out_image[..., c].any()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_random_crop_moves_the_boxes_as_the_pixels(seed, covered):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 4, 24, 32)
    image = masks(boxes, 24, 32)
    out_image, out_boxes, keep = bx.random_crop(
        image, boxes, rng=rng, min_object_covered=covered, min_visible=0
    )
    assert_masks_follow(out_image, out_boxes, keep)


def test_random_crop_keeps_the_boxes_mostly_visible():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    image = np.zeros((40, 40, 3), np.uint8)
    _, out, keep = bx.crop_to_bounding_box(image, boxes, 0, 0, 24, 24, min_visible=0.3)
    assert keep.tolist() == [0]  # the second shows 16 of its 100 pixels
    _, out, keep = bx.crop_to_bounding_box(image, boxes, 0, 0, 24, 24, min_visible=0.1)
    assert keep.tolist() == [0, 1] and out[1].tolist() == [20, 20, 24, 24]


def test_the_sampled_window_covers_enough_of_some_box():
    boxes = np.array([[40, 40, 60, 60]], np.float32)
    for seed in range(30):
        rng = np.random.default_rng(seed)
        y, x, h, w = bx.sample_distorted_bounding_box(
            (100, 100, 3), boxes, rng=rng, min_object_covered=0.9, area_range=(0.05, 0.5)
        )
        if (y, x, h, w) == (0, 0, 100, 100):
            continue  # every attempt failed: the whole image
        ix = max(0, min(60, x + w) - max(40, x))
        iy = max(0, min(60, y + h) - max(40, y))
        assert ix * iy >= 0.9 * 400
        assert 0.05 * 10000 <= h * w <= 0.5 * 10000
        assert 0.75 - 0.02 <= w / h <= 1.33 + 0.02


def test_an_unsatisfiable_constraint_gives_the_whole_image():
    boxes = np.array([[0, 0, 100, 100]], np.float32)
    window = bx.sample_distorted_bounding_box(
        (100, 100),
        boxes,
        rng=np.random.default_rng(0),
        min_object_covered=1.0,
        area_range=(0.05, 0.5),
        max_attempts=5,
    )
    assert window == (0, 0, 100, 100)


def test_the_sample_is_a_function_of_the_generator_state():
    boxes = np.array([[10, 10, 50, 40]], np.float32)
    a = [
        bx.sample_distorted_bounding_box((64, 80), boxes, rng=np.random.default_rng(s))
        for s in range(10)
    ]
    b = [
        bx.sample_distorted_bounding_box((64, 80), boxes, rng=np.random.default_rng(s))
        for s in range(10)
    ]
    assert a == b and len(set(a)) > 5


def test_random_flip_draws_what_the_image_op_draws():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    boxes = np.array([[0, 0, 1, 2]], np.float32)
    for seed in range(8):
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        out, _ = bx.random_flip_left_right(image, boxes, rng=a)
        np.testing.assert_array_equal(out, ops.random_flip_left_right(image, rng=b))
        assert a.random() == b.random()


def test_zero_boxes_flow_through_every_op():
    image = np.zeros((20, 30, 3), np.uint8)
    empty = np.zeros((0, 4), np.float32)
    rng = np.random.default_rng(0)
    for fn in [
        *OPS.values(),
        partial(bx.random_flip_left_right, rng=rng),
        partial(bx.random_flip_up_down, rng=rng),
    ]:
        _, out = fn(image, empty)
        assert out.shape == (0, 4) and out.dtype == np.float32
    _, out, keep = bx.random_crop(image, empty, rng=rng)
    assert out.shape == (0, 4) and keep.shape == (0,) and keep.dtype == np.int64


def test_letterbox_geometry_centres_the_scaled_image():
    image = np.full((50, 100, 3), 200, np.uint8)
    out, boxes = bx.letterbox(image, [[0, 0, 100, 50]], (128, 128), fill=7)
    assert out.shape == (128, 128, 3)
    assert boxes.tolist() == [[0, 32, 128, 96]]
    assert (out[:32] == 7).all() and (out[96:] == 7).all() and (out[32:96] == 200).all()


def test_photometric_ops_leave_the_boxes_alone():
    # they take the image only: the element's boxes are simply not passed
    image = np.full((8, 8, 3), 100, np.uint8)
    out = ops.random_brightness(image, 0.2, rng=np.random.default_rng(0))
    assert out.shape == image.shape


def test_conversions_round_trip():
    xyxy = np.array([[1.5, 2, 4, 8]], np.float32)
    np.testing.assert_array_equal(bx.xywh_to_xyxy(bx.xyxy_to_xywh(xyxy)), xyxy)
    assert bx.area(xyxy).tolist() == [15.0]
    assert bx.clip([[-3, -1, 50, 5]], 4, 10).tolist() == [[0, 0, 10, 4]]


def test_draw_boxes_outlines_each_box_in_its_colour():
    out = bx.draw_boxes(np.zeros((6, 6, 3), np.uint8), [[1, 1, 5, 5]], color=(9, 8, 7))
    assert (out[1, 1:5] == (9, 8, 7)).all() and (out[2:4, 2:4] == 0).all()


def test_bad_arguments_name_the_op():
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidArgumentError, match="flip_left_right: boxes must have shape"):
        bx.flip_left_right(image, np.zeros((3, 5)))
    with pytest.raises(InvalidArgumentError, match="takes one image"):
        bx.flip_left_right(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((0, 4)))
    with pytest.raises(InvalidArgumentError, match="area_range"):
        bx.sample_distorted_bounding_box((8, 8), [], rng=np.random.default_rng(), area_range=(0, 2))
    with pytest.raises(InvalidArgumentError, match="not fit"):
        bx.crop_to_bounding_box(image, [], 4, 4, 8, 8)
    with pytest.raises(InvalidArgumentError, match="rng"):
        bx.random_crop(image, [], rng=3)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize(
    "shape", [(100, 90, 128, 128), (37, 53, 16, 20), (128, 128, 64, 200), (5, 7, 5, 9)]
)
def test_resize_is_the_image_op_bit_for_bit(dtype, shape):
    h, w, th, tw = shape
    image = (np.random.default_rng(h).random((h, w, 3)) * 255).astype(dtype)
    out, _ = bx.resize(image, np.zeros((0, 4)), (th, tw))
    expected = ops.resize(image, (th, tw))
    assert out.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def documented_window(shape, boxes, g, covered, ratios, areas, attempts):
    """sample_distorted_bounding_box as its docstring states it, drawing from ``g``."""
    H, W = shape
    counted = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) >= 1] or [[0, 0, W, H]]
    for _ in range(attempts):
        ratio = ratios[0] + (ratios[1] - ratios[0]) * g.random()
        lo, hi = areas[0] * W * H, areas[1] * W * H
        h, h_max = round((lo / ratio) ** 0.5), round((hi / ratio) ** 0.5)
        if round(h_max * ratio) > W:
            h_max = int((W + 0.5 - 1e-7) / ratio)
            if round(h_max * ratio) > W:
                h_max -= 1
        h_max = min(h_max, H)
        h = min(h, h_max)
        if h < h_max:
            h += int(g.integers(0, h_max - h + 1))
        w = round(h * ratio)
        if w * h < lo:
            h += 1
            w = round(h * ratio)
        if w * h > hi:
            h -= 1
            w = round(h * ratio)
        if not (lo <= w * h <= hi and 0 < w <= W and 0 < h <= H):
            continue
        y = int(g.integers(0, H - h)) if h < H else 0
        x = int(g.integers(0, W - w)) if w < W else 0
        for x0, y0, x1, y1 in counted:
            inter = max(0, min(x1, x + w) - max(x0, x)) * max(0, min(y1, y + h) - max(y0, y))
            if inter / ((x1 - x0) * (y1 - y0)) >= covered:
                return y, x, h, w
    return 0, 0, H, W


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.floats(0.0, 1.0),
    st.tuples(st.floats(0.3, 1.0), st.floats(1.0, 3.0)),
    st.tuples(st.floats(0.01, 0.5), st.floats(0.5, 1.0)),
    st.integers(0, 4),
)
def test_the_ssd_crop_makes_exactly_its_documented_draws(seed, covered, ratios, areas, k):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, k, 40, 60) if k else np.zeros((0, 4), np.float32)
    a, b = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    got = bx.sample_distorted_bounding_box(
        (40, 60),
        boxes,
        rng=a,
        min_object_covered=covered,
        aspect_ratio_range=ratios,
        area_range=areas,
        max_attempts=20,
    )
    expected = documented_window((40, 60), boxes.tolist(), b, covered, ratios, areas, 20)
    assert got == expected
    assert a.random() == b.random()  # the same numbers consumed
    # random_crop makes exactly these draws and crops there
    c, d = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    out, _, _ = bx.random_crop(
        np.zeros((40, 60, 1), np.uint8),
        boxes,
        rng=c,
        min_object_covered=covered,
        aspect_ratio_range=ratios,
        area_range=areas,
        max_attempts=20,
    )
    bx.sample_distorted_bounding_box(
        (40, 60),
        boxes,
        rng=d,
        min_object_covered=covered,
        aspect_ratio_range=ratios,
        area_range=areas,
        max_attempts=20,
    )
    assert out.shape[:2] == got[2:] and c.random() == d.random()


@pytest.mark.parametrize("size", [(50, 70), (100, 33), (17, 120)])
def test_letterbox_at_any_scale_keeps_each_box_edge_within_a_pixel(size):
    rng = np.random.default_rng(sum(size))
    boxes = random_boxes(rng, 4, 30, 45, step=3)
    image = masks(boxes, 30, 45)
    out, out_boxes = bx.letterbox(image, boxes, size, method="nearest")
    for c in range(4):
        ys, xs = np.nonzero(out[..., c] > 127)
        drawn = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(drawn, out_boxes[c], atol=1.0)


def test_clip_takes_the_image_size_as_ints_and_keeps_each_box_s_bits():
    boxes = np.array([[-3, -0.0, 12, 7], [2, 3, 4, 5]], np.float32)
    clipped = bx.clip(boxes, 6, 10)
    assert clipped.tolist() == [[0.0, -0.0, 10.0, 6.0], [2.0, 3.0, 4.0, 5.0]]
    assert np.signbit(clipped[0, 1])  # np.clip's -0.0, as before
    for bad in (None, 6.0, "6", np.array([6, 7]), -1):
        with pytest.raises(InvalidArgumentError, match="clip: height"):
            bx.clip(boxes, bad, 10)
