"""conveyor.image.geometry: TensorFlow's crops, pads, flips and resizing exactly, and the
random ops as their documented draws followed by their deterministic forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conveyor.errors import InvalidArgumentError
from conveyor.image import geometry as geo
from fixtures.image_golden_data import cases, tensorflow_version

GEOMETRY_OPS = {
    "central_crop",
    "crop_to_bounding_box",
    "flip_left_right",
    "flip_up_down",
    "pad_to_bounding_box",
    "resize",
    "resize_with_crop_or_pad",
}


def grid(n: int = 1, h: int = 7, w: int = 9, c: int = 1, dtype=np.uint8) -> np.ndarray:
    """Images whose every component is distinct (mod 256 for uint8)."""
    return (np.arange(n * h * w * c) % 256).astype(dtype).reshape(n, h, w, c)


def g(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- TensorFlow's own results ------------------------------------------------------------


def test_the_golden_fixture_was_written_by_tensorflow_2_21():
    assert tensorflow_version() == "2.21.0"


@pytest.mark.parametrize(
    ("key", "op", "image", "kwargs", "expected"),
    cases(GEOMETRY_OPS),
    ids=[c[0] for c in cases(GEOMETRY_OPS)],
)
def test_geometric_ops_equal_tensorflow_exactly(key, op, image, kwargs, expected):
    got = getattr(geo, op)(image, **kwargs)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


# -- crops and pads ----------------------------------------------------------------------


def test_crop_to_bounding_box_takes_the_window_at_the_offset():
    image = grid(h=4, w=5)[0]
    np.testing.assert_array_equal(
        geo.crop_to_bounding_box(image, 1, 2, 2, 3)[..., 0], [[7, 8, 9], [12, 13, 14]]
    )


def test_crop_to_bounding_box_takes_one_offset_per_image():
    images = grid(n=3, h=4, w=4)
    out = geo.crop_to_bounding_box(images, [0, 1, 2], [2, 0, 1], 2, 2)
    for i, (y, x) in enumerate([(0, 2), (1, 0), (2, 1)]):
        np.testing.assert_array_equal(out[i], images[i, y : y + 2, x : x + 2])


def test_crop_returns_a_new_array():
    images = grid(n=2)
    out = geo.crop_to_bounding_box(images, 0, 0, 7, 9)
    out[...] = 0
    assert images.any()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 0, 8, 2), r"does not fit in images of shape \(7, 9, 1\)"),
        ((0, 7, 2, 3), r"does not fit"),
        ((-1, 0, 2, 2), r"offset_height and offset_width must be >= 0"),
        ((0, 0, 0, 2), r"target_height must be >= 1, got 0"),
        ((0.5, 0, 2, 2), r"offset_height must be integers"),
        (([0, 1, 2], 0, 2, 2), r"offset_height must be an int or 2 ints .* got shape \(3,\)"),
    ],
)
def test_crop_to_bounding_box_refuses_bad_windows(args, match):
    with pytest.raises(InvalidArgumentError, match=match):
        geo.crop_to_bounding_box(grid(n=2), *args)


@pytest.mark.parametrize(
    ("fraction", "top", "left"),
    # H = 7, W = 9: start = int((size - size * fraction) / 2), kept = size - 2 * start.
    [(0.5, 1, 2), (0.875, 0, 0), (0.3, 2, 3), (1.0, 0, 0), (0.1, 3, 4)],
)
def test_central_crop_uses_tensorflows_offsets(fraction, top, left):
    images = grid(n=2)
    np.testing.assert_array_equal(
        geo.central_crop(images, fraction), images[:, top : 7 - top, left : 9 - left]
    )


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.01])
def test_central_crop_refuses_a_fraction_outside_0_1(fraction):
    with pytest.raises(InvalidArgumentError, match=r"central_fraction must be within \(0, 1\]"):
        geo.central_crop(grid(), fraction)


def test_resize_with_crop_or_pad_crops_an_odd_excess_with_the_extra_at_the_end():
    # 5 -> 2: diff -3, crop offset 3 // 2 = 1 (rows 1, 2 stay; 0 and 3, 4 go).
    image = grid(h=5, w=5)[0]
    np.testing.assert_array_equal(
        geo.resize_with_crop_or_pad(image, 2, 2)[..., 0], [[6, 7], [11, 12]]
    )


def test_resize_with_crop_or_pad_pads_an_odd_shortfall_with_the_extra_at_the_end():
    # 1 -> 4: diff 3, 3 // 2 = 1 zero before and 2 after.
    image = np.full((1, 1, 1), 9, np.uint8)
    np.testing.assert_array_equal(
        geo.resize_with_crop_or_pad(image, 4, 4)[..., 0],
        [[0, 0, 0, 0], [0, 9, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
    )


def test_resize_with_crop_or_pad_splits_an_even_difference_equally():
    image = grid(h=4, w=4)[0]
    np.testing.assert_array_equal(
        geo.resize_with_crop_or_pad(image, 2, 2)[..., 0], [[5, 6], [9, 10]]
    )
    one = np.full((1, 1, 1), 9, np.uint8)
    np.testing.assert_array_equal(
        geo.resize_with_crop_or_pad(one, 3, 3)[..., 0], [[0, 0, 0], [0, 9, 0], [0, 0, 0]]
    )


def test_resize_with_crop_or_pad_crops_one_axis_and_pads_the_other():
    image = grid(h=2, w=6)[0]  # rows [0..5], [6..11]
    np.testing.assert_array_equal(
        geo.resize_with_crop_or_pad(image, 4, 2)[..., 0], [[0, 0], [2, 3], [8, 9], [0, 0]]
    )


def test_pad_to_bounding_box_places_the_image_at_the_offset():
    out = geo.pad_to_bounding_box(np.ones((2, 1, 2, 1), np.float32), 1, 0, 3, 3)
    np.testing.assert_array_equal(out[1, ..., 0], [[0, 0, 0], [1, 1, 0], [0, 0, 0]])
    assert out.dtype == np.float32
    with pytest.raises(InvalidArgumentError, match=r"target \(3, 1\) must be at least"):
        geo.pad_to_bounding_box(np.ones((1, 2, 1), np.float32), 1, 0, 3, 1)


# -- flips -------------------------------------------------------------------------------


def test_flips_mirror_the_width_and_the_height():
    image = np.array([[[1], [2]], [[3], [4]]], np.uint8)
    np.testing.assert_array_equal(geo.flip_left_right(image)[..., 0], [[2, 1], [4, 3]])
    np.testing.assert_array_equal(geo.flip_up_down(image)[..., 0], [[3, 4], [1, 2]])


def test_flips_take_one_switch_per_image():
    images = grid(n=3, h=2, w=3)
    out = geo.flip_left_right(images, [True, False, True])
    np.testing.assert_array_equal(out[0], images[0, :, ::-1])
    np.testing.assert_array_equal(out[1], images[1])
    np.testing.assert_array_equal(out[2], images[2, :, ::-1])
    with pytest.raises(InvalidArgumentError, match=r"flip must be a bool or bools"):
        geo.flip_up_down(images, [1, 0, 1])


@pytest.mark.parametrize("kernels", [True, False], ids=["kernel", "numpy"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_left_right_flips_of_any_layout_equal_numpys_mirror(dtype, kernels, monkeypatch):
    from conveyor.image import _kernels

    if not kernels:
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
    records = grid(n=5, h=4, w=7, c=3, dtype=dtype)
    layouts = {
        "contiguous": records,
        "channels as planes": np.ascontiguousarray(records.transpose(0, 3, 1, 2)).transpose(
            0, 2, 3, 1
        ),
        "every other column": grid(n=5, h=4, w=14, c=3, dtype=dtype)[:, :, ::2],
        "mirrored already": records[:, :, ::-1],
    }
    which = np.array([True, False, True, True, False])
    for name, images in layouts.items():
        out = geo.flip_left_right(images, which)
        expected = np.where(which[:, None, None, None], images[:, :, ::-1], images)
        assert out.dtype == dtype, name
        np.testing.assert_array_equal(out, expected, err_msg=name)
        np.testing.assert_array_equal(geo.flip_left_right(images[1]), images[1, :, ::-1])


# -- resize ------------------------------------------------------------------------------


def test_resize_bilinear_of_2x2_to_4x4_uses_half_pixel_centres():
    # Sample rows/columns at (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped.
    image = np.array([[[0.0], [1.0]], [[2.0], [3.0]]], np.float32)
    np.testing.assert_array_equal(
        geo.resize(image, (4, 4))[..., 0],
        [
            [0.0, 0.25, 0.75, 1.0],
            [0.5, 0.75, 1.25, 1.5],
            [1.5, 1.75, 2.25, 2.5],
            [2.0, 2.25, 2.75, 3.0],
        ],
    )


def test_resize_nearest_takes_floor_of_the_half_pixel_centre_and_keeps_the_dtype():
    image = np.array([[[0], [1]], [[2], [3]]], np.uint8)
    out = geo.resize(image, (4, 4), method="nearest")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(
        out[..., 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    )


def test_resize_bilinear_returns_float32_of_the_uint8_values():
    out = geo.resize(np.full((2, 2, 1), 200, np.uint8), (3, 3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full((3, 3, 1), 200.0, np.float32))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size": (4,)}, r"size must be \(height, width\), got \(4,\)"),
        ({"size": (0, 4)}, r"size must be >= 1, got 0"),
        ({"size": (4, 4), "method": "area"}, r"method must be one of 'nearest', 'bilinear'"),
    ],
)
def test_resize_refuses_bad_sizes_and_unknown_methods(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        geo.resize(grid(), **kwargs)


# -- the random ops: draws + deterministic form ------------------------------------------

N, H, W, C = 6, 7, 9, 3


def _crop(x, r):
    return geo.crop_to_bounding_box(
        x, r.integers(0, H - 3 + 1, size=N), r.integers(0, W - 4 + 1, size=N), 3, 4
    )


def _pad_crop(x, r):
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    oy = r.integers(0, H + 4 - 5 + 1, size=N)
    ox = r.integers(0, W + 4 - 6 + 1, size=N)
    return geo.crop_to_bounding_box(padded, oy, ox, 5, 6)


# name -> (random op with its rng, the same from draws made by hand)
RANDOM = {
    "random_crop": (
        lambda x, r: geo.random_crop(x, (3, 4), rng=r),
        _crop,
    ),
    "random_crop_hwc": (
        lambda x, r: geo.random_crop(x, (3, 4, C), rng=r),
        _crop,
    ),
    "pad_and_random_crop": (
        lambda x, r: geo.pad_and_random_crop(x, 2, (5, 6), rng=r),
        _pad_crop,
    ),
    "random_flip_left_right": (
        lambda x, r: geo.random_flip_left_right(x, rng=r),
        lambda x, r: geo.flip_left_right(x, r.random(N) < 0.5),
    ),
    "random_flip_up_down": (
        lambda x, r: geo.random_flip_up_down(x, rng=r),
        lambda x, r: geo.flip_up_down(x, r.random(N) < 0.5),
    ),
    "cutout": (
        lambda x, r: geo.cutout(x, 4, rng=r, fill=7),
        lambda x, r: geo.cutout_at(
            x, r.integers(0, H, size=N), r.integers(0, W, size=N), 4, fill=7
        ),
    ),
    "random_translate": (
        lambda x, r: geo.random_translate(x, (2, 3), rng=r),
        lambda x, r: geo.translate(x, r.integers(-2, 3, size=N), r.integers(-3, 4, size=N)),
    ),
    "random_rotate": (
        lambda x, r: geo.random_rotate(x, 30, rng=r),
        lambda x, r: geo.rotate(x, r.uniform(-30, 30, size=N)),
    ),
    "random_zoom": (
        lambda x, r: geo.random_zoom(x, 0.8, 1.25, rng=r),
        lambda x, r: geo.zoom(x, r.uniform(0.8, 1.25, size=N)),
    ),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_op_is_its_documented_draws_then_its_deterministic_form(name, dtype):
    random_op, by_hand = RANDOM[name]
    images = grid(n=N, h=H, w=W, c=C, dtype=dtype)
    r1, r2 = g(5), g(5)
    got = random_op(images, r1)
    np.testing.assert_array_equal(got, by_hand(images, r2))
    assert got.dtype == dtype
    # Exactly those draws: both generators are left in the same state.
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_op_on_one_image_equals_the_batch_of_one(name):
    random_op, _ = RANDOM[name]
    image = grid(h=H, w=W, c=C)[0]
    r1, r2 = g(11), g(11)
    single = random_op(image, r1)
    assert single.ndim == 3
    np.testing.assert_array_equal(single, random_op(image[None], r2)[0])
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_op_draws_independently_for_each_image(name):
    random_op, _ = RANDOM[name]
    images = np.repeat(grid(h=H, w=W, c=C), 16, axis=0)
    out = random_op(images, g(2))
    assert len({o.tobytes() for o in out}) > 1


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_op_refuses_anything_but_a_generator(name):
    random_op, _ = RANDOM[name]
    with pytest.raises(InvalidArgumentError, match=r"rng must be a numpy.random.Generator"):
        random_op(grid(h=H, w=W, c=C), np.random.RandomState(0))


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    crop=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_crop_of_one_image_equals_the_batch_of_one_for_any_size(h, w, crop, seed):
    crop = (min(crop[0], h), min(crop[1], w))
    image = grid(h=h, w=w, c=2)[0]
    np.testing.assert_array_equal(
        geo.random_crop(image, crop, rng=g(seed)),
        geo.random_crop(image[None], crop, rng=g(seed))[0],
    )


def test_random_crop_draws_each_offset_from_its_whole_range():
    images = np.repeat(grid(h=4, w=4), 400, axis=0)
    out = geo.random_crop(images, (2, 2), rng=g(0))
    corners = {int(o[0, 0, 0]) for o in out}
    assert corners == {y * 4 + x for y in range(3) for x in range(3)}


@pytest.mark.parametrize(
    ("size", "match"),
    [
        ((8, 4), r"size \(8, 4\) is larger than the images \(shape \(7, 9, 3\)\)"),
        ((3, 4, 1), r"asks for 1 channels but the images have 3"),
        ((3,), r"size must be \(height, width\) or \(height, width, channels\)"),
        (3, r"size must be \(height, width\)"),
        ((0, 4), r"size must be >= 1, got 0"),
    ],
)
def test_random_crop_refuses_bad_sizes(size, match):
    with pytest.raises(InvalidArgumentError, match=match):
        geo.random_crop(grid(h=H, w=W, c=C), size, rng=g())


def test_pad_and_random_crop_shows_the_zero_border_and_refuses_negative_padding():
    images = np.full((64, 4, 4, 1), 9, np.uint8)
    out = geo.pad_and_random_crop(images, 2, (4, 4), rng=g(0))
    assert (out == 0).any() and (out == 9).any()
    with pytest.raises(InvalidArgumentError, match=r"padding must be >= 0, got -1"):
        geo.pad_and_random_crop(images, -1, (4, 4), rng=g(0))


# -- cutout, translate, rotate, zoom ------------------------------------------------------


def test_cutout_at_blanks_the_square_clipped_to_the_image():
    out = geo.cutout_at(np.ones((2, 5, 5, 2), np.uint8), [2, 0], [2, 4], 3, fill=0)
    np.testing.assert_array_equal(out[0, 1:4, 1:4], 0)
    assert out[0].sum() == 2 * (25 - 9)
    # Centre (0, 4), size 3: rows -1..1 and columns 3..5, clipped to rows 0..1, cols 3..4.
    np.testing.assert_array_equal(out[1, :2, 3:], 0)
    assert out[1].sum() == 2 * (25 - 4)


def test_cutout_at_an_even_size_starts_size_over_two_before_the_centre():
    out = geo.cutout_at(np.ones((1, 6, 1), np.float32), 0, 3, 4, fill=0.5)
    np.testing.assert_array_equal(out[0, :, 0], [1, 0.5, 0.5, 0.5, 0.5, 1])


def test_cutout_fill_must_fit_uint8():
    with pytest.raises(InvalidArgumentError, match=r"fill must be an integer in \[0, 255\]"):
        geo.cutout(grid(), 2, rng=g(), fill=300)


def test_translate_shifts_content_and_fills_the_uncovered_pixels():
    image = grid(h=3, w=3)[0]  # [[0 1 2] [3 4 5] [6 7 8]]
    np.testing.assert_array_equal(
        geo.translate(image, 1, -1, fill=99)[..., 0], [[99, 99, 99], [1, 2, 99], [4, 5, 99]]
    )
    np.testing.assert_array_equal(geo.translate(image, 5, 0, fill=3), np.full((3, 3, 1), 3))


def test_rotate_by_quarter_turns_equals_numpy_rot90():
    images = grid(n=2, h=5, w=5, c=2)
    np.testing.assert_array_equal(geo.rotate(images, 90), np.rot90(images, 1, axes=(1, 2)))
    np.testing.assert_array_equal(geo.rotate(images, -90), np.rot90(images, -1, axes=(1, 2)))
    np.testing.assert_array_equal(
        geo.rotate(images, [180, 0]), np.stack([images[0, ::-1, ::-1], images[1]])
    )
    np.testing.assert_array_equal(geo.rotate(images, 0, interpolation="bilinear"), images)


def test_rotate_bilinear_fills_outside_and_keeps_float32():
    out = geo.rotate(np.ones((1, 8, 8, 1), np.float32), 45, interpolation="bilinear", fill=0)
    assert out.dtype == np.float32
    assert out[0, 0, 0, 0] == 0 and out[0, 3, 3, 0] == 1 and 0 < out[0, 0, 1, 0] < 1
    with pytest.raises(InvalidArgumentError, match=r"interpolation must be one of"):
        geo.rotate(out, 10, interpolation="cubic")


def test_zoom_in_magnifies_the_centre():
    image = np.zeros((5, 5, 1), np.float32)
    image[2, 2] = 1
    np.testing.assert_array_equal(geo.zoom(image, 1.0), image)
    out = geo.zoom(image, 3.0, interpolation="nearest")
    np.testing.assert_array_equal(out[1:4, 1:4], 1)
    assert out.sum() == 9


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: geo.random_zoom(grid(), 1.2, 0.8, rng=g()), r"need 0 < lower <= upper"),
        (lambda: geo.zoom(grid(), 0), r"factor must be > 0"),
        (lambda: geo.random_rotate(grid(), -5, rng=g()), r"max_degrees must be >= 0"),
        (lambda: geo.random_translate(grid(), (1, 2, 3), rng=g()), r"max_shift must be"),
        (lambda: geo.cutout(grid(), -2, rng=g()), r"size must be >= 0, got -2"),
    ],
)
def test_random_geometry_refuses_bad_parameters(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()


# -- shapes and dtypes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((7, 9), np.uint8), r"must be one image \(H, W, C\) or a batch"),
        (np.zeros((1, 1, 7, 9, 3), np.uint8), r"got shape \(1, 1, 7, 9, 3\)"),
        (np.zeros((7, 9, 3), np.float64), r"images must be uint8 or float32, got float64"),
        (np.zeros((7, 9, 3), np.int32), r"images must be uint8 or float32, got int32"),
    ],
)
def test_geometric_ops_refuse_wrong_ranks_and_dtypes(images, match):
    with pytest.raises(InvalidArgumentError, match=match):
        geo.flip_left_right(images)
    with pytest.raises(InvalidArgumentError, match=match):
        geo.random_crop(images, (1, 1), rng=g())


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_geometric_ops_keep_the_dtype_and_rank(dtype):
    image = grid(h=6, w=6, c=3, dtype=dtype)[0]
    for out in [
        geo.central_crop(image, 0.5),
        geo.resize_with_crop_or_pad(image, 4, 8),
        geo.resize(image, (3, 3), method="nearest"),
        geo.flip_up_down(image),
        geo.translate(image, 1, 1),
        geo.rotate(image, 30, interpolation="bilinear"),
        geo.zoom(image, 1.5),
        geo.cutout_at(image, 1, 1, 2),
    ]:
        assert out.dtype == dtype and out.ndim == 3


def test_ops_accept_read_only_inputs_and_never_write_to_them():
    images = grid(n=4, h=H, w=W, c=C)
    images.flags.writeable = False
    for name in RANDOM:
        RANDOM[name][0](images, g(1))
    geo.flip_left_right(images)
    assert images.sum() == grid(n=4, h=H, w=W, c=C).sum()
