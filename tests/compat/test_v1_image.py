"""tf.image: graph nodes over conveyor.image and conveyor's codecs."""

import numpy as np
import pytest

import conveyor.compat.v1 as tf
from conveyor import image as cv_image


def _img(h=6, w=8, c=3):
    return np.arange(h * w * c, dtype=np.float32).reshape(h, w, c)


def test_random_ops_keep_shape_and_are_seeded():
    x = tf.constant(_img())
    ops = [
        tf.image.random_flip_left_right(x, seed=1),
        tf.image.random_flip_up_down(x, seed=2),
        tf.image.random_brightness(x, 0.5, seed=3),
        tf.image.random_contrast(x, 0.2, 1.8, seed=4),
        tf.image.random_saturation(x / 200.0, 0.5, 1.5, seed=5),
        tf.image.random_hue(x / 200.0, 0.2, seed=6),
    ]
    for op in ops:
        assert op.shape.as_list() == [6, 8, 3]
    with tf.Session() as s1, tf.Session() as s2:
        first = s1.run(ops)
        second = s2.run(ops)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_flip_matches_conveyor():
    x = tf.constant(_img())
    with tf.Session() as sess:
        np.testing.assert_array_equal(
            sess.run(tf.image.flip_left_right(x)), cv_image.flip_left_right(_img())
        )
        flips = {sess.run(tf.image.random_flip_left_right(x))[0, 0, 0] for _ in range(1)}
    assert flips <= {0.0, _img()[0, -1, 0]}


def test_per_image_standardization_crop_or_pad_central_crop():
    x = tf.constant(_img().astype(np.uint8))
    std = tf.image.per_image_standardization(x)
    assert std.dtype == tf.float32
    pad = tf.image.resize_image_with_crop_or_pad(x, 4, 10)
    assert pad.shape.as_list() == [4, 10, 3]
    cen = tf.image.central_crop(x, 0.5)
    with tf.Session() as sess:
        s, p, c = sess.run([std, pad, cen])
    np.testing.assert_allclose(s, cv_image.per_image_standardization(_img().astype(np.uint8)))
    assert abs(float(s.mean())) < 1e-5
    assert p.shape == (4, 10, 3) and c.shape == cv_image.central_crop(_img(), 0.5).shape
    assert cen.shape.as_list() == list(c.shape)


def test_argument_checks_are_tensorflows():
    x = tf.constant(_img())
    with pytest.raises(ValueError):
        tf.image.random_contrast(x, 1.0, 0.5)
    with pytest.raises(ValueError):
        tf.image.random_brightness(x, -1)
    with pytest.raises(ValueError):
        tf.image.random_hue(x, 0.6)
    with pytest.raises(ValueError):
        tf.image.central_crop(x, 0.0)


def test_png_and_jpeg_round_trips():
    pixels = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    png = tf.image.encode_png(pixels)
    back = tf.image.decode_png(png, channels=3)
    jpg = tf.image.decode_jpeg(tf.image.encode_jpeg(np.full((8, 8, 3), 100, np.uint8)))
    any_ = tf.image.decode_image(png)
    with tf.Session() as sess:
        data, b, j, a = sess.run([png, back, jpg, any_])
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(b, pixels)
    np.testing.assert_array_equal(a, pixels)
    assert j.shape == (8, 8, 3) and abs(int(j.mean()) - 100) <= 2
