"""conveyor.image.color: TensorFlow's colour adjustments, its dtype rule, and the random
ops as their documented draws followed by the adjust_* forms."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.errors import InvalidArgumentError
from conveyor.image import color
from fixtures.image_golden_data import cases

COLOR_OPS = {
    "adjust_brightness",
    "adjust_contrast",
    "adjust_gamma",
    "adjust_hue",
    "adjust_saturation",
    "grayscale_to_rgb",
    "per_image_standardization",
    "rgb_to_grayscale",
}
GOLDEN = cases(COLOR_OPS)


def g(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def pixels(*rgb: tuple[float, float, float]) -> np.ndarray:
    return np.array([rgb], np.float32)  # (1, n, 3): one image, one row


# -- TensorFlow's own results ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "op", "image", "kwargs", "expected"), GOLDEN, ids=[c[0] for c in GOLDEN]
)
def test_colour_ops_equal_tensorflow(key, op, image, kwargs, expected):
    got = getattr(color, op)(image, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype == np.uint8:
        # Each uint8 result is float32 arithmetic truncated to an integer; the float32
        # results below are within a rounding of TensorFlow's, which could flip a
        # truncation, so one level is allowed (none differs in the fixture today).
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    else:
        # Brightness, saturation and hue are bit-exact (the same float32 operations in
        # the same order). Means and variances differ by float32 rounding: TensorFlow
        # accumulates them in float32, conveyor in float64 (so a contrast result near
        # the mean can differ by a few ulps of the mean); pow (gamma) and the grayscale
        # dot product round differently too. Allowed: 1e-6 of the images' value range,
        # 1e-6 for [0, 1] images and 2.6e-4 (8 float32 ulps of 255) for 0..255 ones.
        scale = max(1.0, float(np.abs(image).max()))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize(
    "case", [c for c in GOLDEN if c[1] in {"adjust_brightness", "adjust_saturation", "adjust_hue"}]
)
def test_brightness_saturation_and_hue_are_bit_exact(case):
    _, op, image, kwargs, expected = case
    np.testing.assert_array_equal(getattr(color, op)(image, **kwargs), expected)


# -- brightness and contrast by hand -----------------------------------------------------


def test_adjust_brightness_on_float32_adds_delta_unclipped():
    image = np.array([[[250.0, 10.0, 3.0]]], np.float32)
    np.testing.assert_array_equal(color.adjust_brightness(image, 63.0), [[[313.0, 73.0, 66.0]]])
    np.testing.assert_array_equal(color.adjust_brightness(image, -63.0), [[[187.0, -53.0, -60.0]]])


def test_adjust_brightness_on_uint8_works_in_0_1_and_saturates():
    # TensorFlow's docs example: 250/255 + 0.1 > 1 -> 255; (10/255 + 0.1) * 255.5 = 35.6 -> 35.
    image = np.array([[[250, 10, 3]]], np.uint8)
    np.testing.assert_array_equal(color.adjust_brightness(image, 0.1), [[[255, 35, 28]]])
    np.testing.assert_array_equal(color.adjust_brightness(image, -0.5), [[[122, 0, 0]]])


def test_adjust_brightness_takes_one_delta_per_image():
    out = color.adjust_brightness(np.zeros((3, 1, 1, 1), np.float32), [1.0, 2.0, -3.0])
    np.testing.assert_array_equal(out.ravel(), [1.0, 2.0, -3.0])


def test_adjust_contrast_scales_around_each_channels_mean_over_height_and_width():
    # Channel 0: 0, 2, 4, 6 (mean 3); channel 1: 10, 10, 10, 30 (mean 15).
    image = np.array([[[0, 10], [2, 10]], [[4, 10], [6, 30]]], np.float32)
    out = color.adjust_contrast(image, 2.0)
    np.testing.assert_array_equal(out[..., 0], [[-3, 1], [5, 9]])
    np.testing.assert_array_equal(out[..., 1], [[5, 5], [5, 45]])
    np.testing.assert_array_equal(color.adjust_contrast(image, 0.0)[..., 1], np.full((2, 2), 15))


def test_adjust_contrast_of_a_batch_uses_each_images_own_mean():
    images = np.array([[[[0.0]], [[2.0]]], [[[10.0]], [[20.0]]]], np.float32)  # (2, 2, 1, 1)
    out = color.adjust_contrast(images, [3.0, 0.5])
    np.testing.assert_array_equal(out[..., 0, 0], [[-2.0, 4.0], [12.5, 17.5]])


# -- saturation and hue by hand ----------------------------------------------------------


def test_adjust_saturation_scales_hsv_saturation():
    # (0.2, 0.4, 0.6): v = 0.6, s = 2/3, hue 7/12. Half the saturation: (0.4, 0.5, 0.6).
    image = pixels((0.2, 0.4, 0.6), (1.0, 0.0, 0.0), (0.5, 0.5, 0.5))
    np.testing.assert_allclose(
        color.adjust_saturation(image, 0.5)[0],
        [[0.4, 0.5, 0.6], [1.0, 0.5, 0.5], [0.5, 0.5, 0.5]],
        atol=1e-6,
    )
    np.testing.assert_allclose(
        color.adjust_saturation(image, 0.0)[0],
        [[0.6, 0.6, 0.6], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5]],
        atol=1e-6,
    )
    # Saturation is clamped at 1: doubling (0.2, 0.4, 0.6) gives s = 1, (0, 0.3, 0.6).
    np.testing.assert_allclose(
        color.adjust_saturation(image, 2.0)[0, 0], [0.0, 0.3, 0.6], atol=1e-6
    )


def test_adjust_hue_rotates_the_colour_circle():
    image = pixels((1.0, 0.0, 0.0), (0.2, 0.4, 0.6), (0.5, 0.5, 0.5))
    np.testing.assert_allclose(
        color.adjust_hue(image, 1 / 3)[0], [[0, 1, 0], [0.6, 0.2, 0.4], [0.5, 0.5, 0.5]], atol=1e-6
    )
    np.testing.assert_allclose(color.adjust_hue(image, 0.5)[0, 0], [0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(color.adjust_hue(image, -1 / 3)[0, 0], [0, 0, 1], atol=1e-6)
    # Hue 7/12 + 1/6 = 3/4: sector 4, (v_mid, v_min, v_max) = (0.4, 0.2, 0.6).
    np.testing.assert_allclose(color.adjust_hue(image, 1 / 6)[0, 1], [0.4, 0.2, 0.6], atol=1e-6)
    np.testing.assert_allclose(color.adjust_hue(image, 1.0), image, atol=1e-6)


def test_hue_and_saturation_need_three_channels():
    images = np.zeros((2, 3, 3, 4), np.float32)
    for call in (
        lambda: color.adjust_hue(images, 0.1),
        lambda: color.adjust_saturation(images, 0.1),
        lambda: color.random_hue(images, 0.1, rng=g()),
        lambda: color.rgb_to_grayscale(images),
    ):
        with pytest.raises(InvalidArgumentError, match=r"must have 3 channels .* \(3, 3, 4\)"):
            call()


def test_adjust_hue_refuses_a_delta_outside_minus_1_1():
    with pytest.raises(InvalidArgumentError, match=r"delta must be in the interval \[-1, 1\]"):
        color.adjust_hue(pixels((1, 0, 0)), 1.5)


# -- gamma, grayscale, standardization, normalize ----------------------------------------


def test_adjust_gamma_is_gain_times_x_to_the_gamma():
    image = np.array([[[0.25, 1.0, 4.0]]], np.float32)
    np.testing.assert_array_equal(color.adjust_gamma(image, 0.5, 3.0), [[[1.5, 3.0, 6.0]]])
    # uint8: 64/255 squared, back via * 255.5: 16.1 -> 16.
    np.testing.assert_array_equal(color.adjust_gamma(np.array([[[64]]], np.uint8), 2), [[[16]]])
    with pytest.raises(InvalidArgumentError, match=r"gamma must be a non-negative number"):
        color.adjust_gamma(image, -1)


def test_rgb_to_grayscale_uses_tensorflows_weights_and_keeps_a_channel_axis():
    image = pixels((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 1.0, 1.0))
    out = color.rgb_to_grayscale(np.stack([image, image]))
    assert out.shape == (2, 1, 4, 1)
    np.testing.assert_allclose(out[1, 0, :, 0], [0.2989, 0.5870, 0.1140, 0.9999], rtol=1e-6)
    # uint8: 0.2989 * 255.5 = 76.4 -> 76.
    assert color.rgb_to_grayscale(np.array([[[255, 0, 0]]], np.uint8))[0, 0, 0] == 76


def test_per_image_standardization_uses_the_mean_and_std_of_the_whole_image():
    image = np.array([[[0, 2], [4, 6]]], np.uint8)  # mean 3, std sqrt(5)
    out = color.per_image_standardization(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), np.array([-3, -1, 1, 3]) / np.sqrt(5), rtol=1e-6)


def test_per_image_standardization_floors_the_std_at_one_over_sqrt_of_the_size():
    # 4 components: floor 0.5. std of (0, 0, 0, 0.5) is 0.2165 < 0.5, so divide by 0.5.
    image = np.array([[[0.0], [0.0]], [[0.0], [0.5]]], np.float32)
    np.testing.assert_allclose(
        color.per_image_standardization(image).ravel(), [-0.25, -0.25, -0.25, 0.75], rtol=1e-6
    )
    constant = np.full((3, 4, 5, 3), 200, np.uint8)
    np.testing.assert_array_equal(color.per_image_standardization(constant), 0)


def test_per_image_standardization_standardizes_each_image_of_a_batch_alone():
    images = np.stack([np.full((2, 2, 1), 5.0), np.arange(4.0).reshape(2, 2, 1)]).astype(np.float32)
    out = color.per_image_standardization(images)
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_allclose(out[1].ravel(), (np.arange(4) - 1.5) / np.std(np.arange(4)))


def test_normalize_works_per_channel_in_the_inputs_value_scale():
    image = np.array([[[100, 50, 0]]], np.uint8)
    np.testing.assert_array_equal(
        color.normalize(image, [50, 50, 10], [25, 10, 5]), [[[2.0, 0.0, -2.0]]]
    )
    np.testing.assert_array_equal(
        color.normalize(image.astype(np.float32) / 100, 0.5, 0.5), [[[1.0, 0.0, -1.0]]]
    )
    with pytest.raises(InvalidArgumentError, match=r"mean must be a number or 3 numbers"):
        color.normalize(image, [1, 2], 1)
    with pytest.raises(InvalidArgumentError, match=r"std must be > 0"):
        color.normalize(image, 0, [1, 0, 1])


# -- dtype rule --------------------------------------------------------------------------

ADJUST = {
    "adjust_brightness": lambda x: color.adjust_brightness(x, 0.1),
    "adjust_contrast": lambda x: color.adjust_contrast(x, 1.5),
    "adjust_saturation": lambda x: color.adjust_saturation(x, 1.5),
    "adjust_hue": lambda x: color.adjust_hue(x, 0.1),
    "adjust_gamma": lambda x: color.adjust_gamma(x, 1.5),
    "rgb_to_grayscale": color.rgb_to_grayscale,
}


@pytest.mark.parametrize("name", sorted(ADJUST))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_colour_ops_return_the_input_dtype(name, dtype):
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 3, 3)).astype(dtype)
    assert ADJUST[name](images).dtype == dtype


@pytest.mark.parametrize("name", sorted(ADJUST))
def test_colour_ops_refuse_other_dtypes_naming_them(name):
    with pytest.raises(InvalidArgumentError, match=r"images must be uint8 or float32, got float64"):
        ADJUST[name](np.zeros((2, 2, 3)))


def test_standardization_and_normalize_return_float32_for_uint8():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert color.per_image_standardization(image).dtype == np.float32
    assert color.normalize(image, 0, 1).dtype == np.float32
    np.testing.assert_array_equal(color.normalize(image, 0, 1), image)  # not rescaled


# -- random ops: draws + deterministic form ----------------------------------------------

N = 5
RANDOM = {
    "random_brightness": (
        lambda x, r: color.random_brightness(x, 0.3, rng=r),
        lambda x, r: color.adjust_brightness(x, r.uniform(-0.3, 0.3, size=N)),
    ),
    "random_contrast": (
        lambda x, r: color.random_contrast(x, 0.2, 1.8, rng=r),
        lambda x, r: color.adjust_contrast(x, r.uniform(0.2, 1.8, size=N)),
    ),
    "random_saturation": (
        lambda x, r: color.random_saturation(x, 0.5, 1.5, rng=r),
        lambda x, r: color.adjust_saturation(x, r.uniform(0.5, 1.5, size=N)),
    ),
    "random_hue": (
        lambda x, r: color.random_hue(x, 0.2, rng=r),
        lambda x, r: color.adjust_hue(x, r.uniform(-0.2, 0.2, size=N)),
    ),
}


def _images(n: int = N, dtype=np.float32) -> np.ndarray:
    images = np.random.default_rng(7).random((n, 4, 5, 3), dtype=np.float32)
    return (images * 255).astype(np.uint8) if dtype == np.uint8 else images


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_colour_op_is_its_documented_draw_then_adjust(name, dtype):
    random_op, by_hand = RANDOM[name]
    images = _images(dtype=dtype)
    r1, r2 = g(3), g(3)
    got = random_op(images, r1)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, by_hand(images, r2))
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_colour_op_on_one_image_equals_the_batch_of_one(name):
    random_op, _ = RANDOM[name]
    image = _images(1)[0]
    r1, r2 = g(9), g(9)
    single = random_op(image, r1)
    assert single.shape == image.shape
    np.testing.assert_array_equal(single, random_op(image[None], r2)[0])
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_colour_op_draws_independently_for_each_image(name):
    random_op, _ = RANDOM[name]
    out = random_op(np.repeat(_images(1), 8, axis=0), g(1))
    assert len({o.tobytes() for o in out}) == 8


def test_random_brightness_with_cifars_float_0_255_images_moves_by_up_to_63():
    images = np.full((500, 1, 1, 1), 128.0, np.float32)
    out = color.random_brightness(images, 63, rng=g(0)).ravel() - 128
    assert out.min() >= -63 and out.max() <= 63 and out.max() - out.min() > 100


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: color.random_brightness(x, -1, rng=g()), r"max_delta must be >= 0"),
        (lambda x: color.random_contrast(x, 1.5, 0.5, rng=g()), r"upper must be > lower"),
        (lambda x: color.random_contrast(x, 0.5, 0.5, rng=g()), r"upper must be > lower"),
        (lambda x: color.random_contrast(x, -0.5, 1.0, rng=g()), r"lower must be >= 0"),
        (lambda x: color.random_saturation(x, 2, 1, rng=g()), r"upper must be > lower"),
        (lambda x: color.random_hue(x, 0.6, rng=g()), r"max_delta must be <= 0.5"),
        (lambda x: color.random_hue(x, 0.1, rng=1), r"rng must be a numpy.random.Generator"),
        (lambda x: color.random_contrast(x, "a", 1, rng=g()), r"lower must be a number"),
        (lambda x: color.adjust_brightness(x, [0.1, 0.2]), r"delta must be a scalar or 5 values"),
    ],
)
def test_random_colour_ops_refuse_bad_parameters_naming_them(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call(_images())
