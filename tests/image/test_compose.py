"""conveyor.image.compose: steps run in order on one generator, configured with
functools.partial, callable as fn(images, rng) by pipeline.map(..., rng=True)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from conveyor import image
from conveyor.errors import InvalidArgumentError
from conveyor.image import Compose


def g(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


CIFAR = Compose(
    [
        partial(image.random_crop, size=(24, 24)),
        image.random_flip_left_right,
        partial(image.random_brightness, max_delta=63),
        partial(image.random_contrast, lower=0.2, upper=1.8),
        image.per_image_standardization,
    ]
)


def _batch(n: int = 8) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, 32, 32, 3)).astype(np.float32)


def test_steps_run_in_order_drawing_from_one_generator():
    images = _batch()
    r = g(3)
    by_hand = image.random_crop(images, (24, 24), rng=r)
    by_hand = image.random_flip_left_right(by_hand, rng=r)
    by_hand = image.random_brightness(by_hand, 63, rng=r)
    by_hand = image.random_contrast(by_hand, 0.2, 1.8, rng=r)
    by_hand = image.per_image_standardization(by_hand)
    r2 = g(3)
    np.testing.assert_array_equal(CIFAR(images, r2), by_hand)
    assert r.bit_generator.state == r2.bit_generator.state


def test_rng_may_be_passed_by_position_or_keyword():
    images = _batch(2)
    np.testing.assert_array_equal(CIFAR(images, g(5)), CIFAR(images, rng=g(5)))


def test_one_image_is_augmented_as_the_batch_of_one():
    one = _batch(1)
    np.testing.assert_array_equal(CIFAR(one[0], g(6)), CIFAR(one, g(6))[0])


def test_repr_lists_the_steps_and_their_bound_parameters():
    assert repr(CIFAR) == (
        "Compose([random_crop(size=(24, 24)), random_flip_left_right, "
        "random_brightness(max_delta=63), random_contrast(lower=0.2, upper=1.8), "
        "per_image_standardization])"
    )
    assert len(CIFAR) == 5


def test_a_step_without_an_rng_keyword_is_called_with_the_images_only():
    seen = []

    def record(images):
        seen.append(images.shape)
        return images

    def noisy(images, **kwargs):
        seen.append(sorted(kwargs))
        return images

    Compose([record, noisy, lambda x: x + 1])(np.zeros((1, 2, 2, 1), np.float32), g())
    assert seen == [(1, 2, 2, 1), ["rng"]]


def test_compose_refuses_a_non_callable_step_and_a_non_generator():
    with pytest.raises(InvalidArgumentError, match=r"steps\[1\] must be callable"):
        Compose([image.flip_left_right, (image.random_crop, (2, 2))])
    with pytest.raises(InvalidArgumentError, match=r"Compose: rng must be a numpy"):
        CIFAR(_batch(1), 0)


@pytest.mark.timeout(60)
def test_compose_runs_as_a_batched_pipeline_map_with_rng():
    from conveyor import pipeline

    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3)).astype(np.uint8)
    augment = Compose(
        [partial(image.pad_and_random_crop, padding=4, size=(32, 32)), image.random_flip_left_right]
    )

    def run():
        pipe = pipeline.from_arrays(images).with_options(seed=1)
        pipe = pipe.map(augment, batched=True, rng=True)
        return np.stack(list(pipe.batch(16)))

    first, second = run(), run()
    assert first.shape == (4, 16, 32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first.reshape(64, 32, 32, 3), images)
