"""conveyor.image.noise: Gaussian and salt-and-pepper noise as documented draws followed by
their deterministic forms, under the colour ops' dtype rule."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.errors import InvalidArgumentError
from conveyor.image import noise


def g(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


N, H, W, C = 4, 5, 6, 3


def _images(dtype=np.float32) -> np.ndarray:
    images = np.random.default_rng(7).random((N, H, W, C), dtype=np.float32)
    return (images * 255).astype(np.uint8) if dtype == np.uint8 else images


RANDOM = {
    "random_gaussian_noise": (
        lambda x, r: noise.random_gaussian_noise(x, 0.1, rng=r),
        lambda x, r: noise.add_noise(
            x, np.float32(0.1) * r.standard_normal(x.shape, dtype=np.float32)
        ),
    ),
    "random_salt_pepper": (
        lambda x, r: noise.random_salt_pepper(x, 0.3, rng=r),
        lambda x, r: (lambda u: noise.salt_pepper(x, u >= 1 - 0.15, u < 0.15))(
            r.random(x.shape[:3])
        ),
    ),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_noise_op_is_its_documented_draws_then_its_deterministic_form(name, dtype):
    random_op, by_hand = RANDOM[name]
    images = _images(dtype)
    r1, r2 = g(4), g(4)
    got = random_op(images, r1)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, by_hand(images, r2))
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_noise_op_on_one_image_equals_the_batch_of_one(name):
    random_op, _ = RANDOM[name]
    image = _images()[0]
    r1, r2 = g(8), g(8)
    single = random_op(image, r1)
    assert single.shape == image.shape
    np.testing.assert_array_equal(single, random_op(image[None], r2)[0])
    assert r1.bit_generator.state == r2.bit_generator.state


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_noise_op_draws_independently_for_each_image(name):
    random_op, _ = RANDOM[name]
    out = random_op(np.repeat(_images()[:1], 6, axis=0), g(1))
    assert len({o.tobytes() for o in out}) == 6


def test_gaussian_noise_is_unclipped_on_float32_and_saturated_on_uint8():
    floats = noise.random_gaussian_noise(np.zeros((1, 50, 50, 1), np.float32), 1.0, rng=g())
    assert floats.min() < -1 and floats.max() > 1
    assert abs(float(floats.mean())) < 0.1 and abs(float(floats.std()) - 1) < 0.1
    ints = noise.random_gaussian_noise(np.full((1, 50, 50, 1), 250, np.uint8), 0.1, rng=g())
    assert ints.dtype == np.uint8 and ints.max() == 255 and ints.min() < 250


def test_add_noise_uses_the_float_scale_and_checks_the_shape():
    image = np.array([[[100]]], np.uint8)
    # 100/255 + 0.1 = 0.49216; * 255.5 = 125.7 -> 125.
    np.testing.assert_array_equal(noise.add_noise(image, 0.1), [[[125]]])
    with pytest.raises(InvalidArgumentError, match=r"noise of shape \(2, 1, 1\) does not"):
        noise.add_noise(image, np.zeros((2, 1, 1), np.float32))


def test_salt_pepper_sets_whole_pixels_to_the_dtypes_extremes():
    salt = np.array([[[True, False], [False, False]]])
    pepper = np.array([[[False, True], [False, True]]])
    ints = noise.salt_pepper(np.full((1, 2, 2, 3), 9, np.uint8), salt, pepper)
    np.testing.assert_array_equal(ints[0, ..., 0], [[255, 0], [9, 0]])
    np.testing.assert_array_equal(ints[..., 0], ints[..., 2])
    floats = noise.salt_pepper(np.full((1, 2, 2, 3), 0.5, np.float32), salt, pepper)
    np.testing.assert_array_equal(floats[0, ..., 1], [[1.0, 0.0], [0.5, 0.0]])
    with pytest.raises(InvalidArgumentError, match=r"salt must be a bool array of shape"):
        noise.salt_pepper(floats, salt[0], pepper)


def test_salt_pepper_amount_0_changes_nothing_and_1_changes_every_pixel():
    images = _images(np.uint8)
    np.testing.assert_array_equal(noise.random_salt_pepper(images, 0.0, rng=g()), images)
    out = noise.random_salt_pepper(images, 1.0, rng=g())
    assert set(np.unique(out).tolist()) == {0, 255}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: noise.random_gaussian_noise(x, -1, rng=g()), r"stddev must be >= 0"),
        (lambda x: noise.random_salt_pepper(x, 1.5, rng=g()), r"amount must be <= 1.0"),
        (lambda x: noise.random_salt_pepper(x, 0.1, rng=None), r"rng must be a numpy"),
        (lambda x: noise.random_gaussian_noise(x.astype(np.float16), 1, rng=g()), r"float16"),
    ],
)
def test_noise_ops_refuse_bad_parameters_naming_them(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call(_images())
