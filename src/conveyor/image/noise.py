"""Noise ops: additive Gaussian noise and salt-and-pepper noise.

Like the colour ops, Gaussian noise works in the float scale: ``float32`` images get the
noise added as they are (unclipped), ``uint8`` images are converted to [0, 1], noised and
converted back saturated (see :mod:`conveyor.image.color`). Salt and pepper set whole
pixels (every channel) to the dtype's extremes and keep the dtype.

Each random op is its documented draws (a contract, as for every op of
:mod:`conveyor.image`) followed by a deterministic form taking the drawn values.

    >>> image = np.full((1, 2, 2, 1), 0.5, np.float32)
    >>> add_noise(image, np.full((1, 2, 2, 1), 0.25, np.float32))[0, ..., 0]
    array([[0.75, 0.75],
           [0.75, 0.75]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError
from conveyor.image._checks import as_batch, check_number, check_rng, from_float, restore, to_float

__all__ = ["add_noise", "random_gaussian_noise", "random_salt_pepper", "salt_pepper"]


def add_noise(images: Any, noise: Any) -> np.ndarray:
    """Add ``noise`` (in the float scale) to the images.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        noise: an array broadcastable to the images' shape (for ``uint8`` images, in
            units of 1/255).

    Returns:
        The same shape and dtype: ``float32`` unclipped, ``uint8`` saturated.

    >>> add_noise(np.array([[[250]]], np.uint8), 0.1)
    array([[[255]]], dtype=uint8)
    """
    op = "add_noise"
    batch, single = as_batch(images, op)
    values = np.asarray(noise, dtype=np.float32)
    shape = batch.shape[1:] if single else batch.shape
    try:
        fits = np.broadcast_shapes(values.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise InvalidArgumentError(
            f"{op}: noise of shape {values.shape} does not broadcast to the images' shape {shape}"
        )
    added = to_float(restore(batch, single)) + values
    return from_float(added, batch.dtype)


def random_gaussian_noise(images: Any, stddev: float, *, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` to every component.

    Draws, for N images of ``(H, W, C)``:
    ``noise = rng.standard_normal((N, H, W, C), dtype=np.float32)`` (one value per
    component, images in order); the result is
    ``add_noise(images, np.float32(stddev) * noise)``. ``stddev`` is in the float scale
    (for ``uint8`` images a fraction of 255; for CIFAR-style float 0..255 images, in
    those units).

    Raises:
        InvalidArgumentError: ``stddev`` < 0; ``rng`` is not a Generator.

    >>> out = random_gaussian_noise(np.zeros((2, 3, 3, 1), np.float32), 0.1, rng=np.random.default_rng(0))
    >>> out.shape, out.dtype
    ((2, 3, 3, 1), dtype('float32'))
    """
    op = "random_gaussian_noise"
    batch, single = as_batch(images, op)
    sigma = np.float32(check_number(stddev, "stddev", op, low=0.0))
    noise = check_rng(rng, op).standard_normal(batch.shape, dtype=np.float32)
    return restore(add_noise(batch, sigma * noise), single)


def salt_pepper(images: Any, salt: Any, pepper: Any) -> np.ndarray:
    """Set the pixels of ``salt`` to the maximum and those of ``pepper`` to 0.

    The maximum is 255 for ``uint8`` and 1.0 for ``float32``; every channel of a chosen
    pixel is set, and pepper wins where both masks are set.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        salt: bool mask of the pixels, ``(H, W)`` or ``(N, H, W)`` as the images.
        pepper: bool mask, the same shape.

    Returns:
        A new array, same shape and dtype.

    Raises:
        InvalidArgumentError: a mask that is not bool or not of the images' pixel shape.

    >>> salt_pepper(np.full((1, 3, 1), 9, np.uint8), [[True, False, False]], [[False, False, True]])[..., 0]
    array([[255,   9,   0]], dtype=uint8)
    """
    op = "salt_pepper"
    batch, single = as_batch(images, op)
    masks = []
    for name, mask in (("salt", salt), ("pepper", pepper)):
        array = np.asarray(mask)
        pixels = batch.shape[1:3] if single else batch.shape[:3]
        if array.dtype != np.bool_ or array.shape != pixels:
            raise InvalidArgumentError(
                f"{op}: {name} must be a bool array of shape {pixels} (one per pixel), got "
                f"{array.dtype} of shape {array.shape}"
            )
        masks.append(array[None] if single else array)
    high = batch.dtype.type(255 if batch.dtype == np.uint8 else 1.0)
    out = np.where(masks[0][..., None], high, batch)
    out = np.where(masks[1][..., None], batch.dtype.type(0), out)
    return restore(out, single)


def random_salt_pepper(images: Any, amount: float, *, rng: np.random.Generator) -> np.ndarray:
    """Turn a fraction ``amount`` of the pixels white or black, half each on average.

    Draws, for N images of ``(H, W, C)``: ``u = rng.random((N, H, W))`` (one value per
    pixel); the result is ``salt_pepper(images, u >= 1 - amount / 2, u < amount / 2)``.

    Raises:
        InvalidArgumentError: ``amount`` outside [0, 1]; ``rng`` is not a Generator.

    >>> out = random_salt_pepper(np.full((1, 4, 4, 3), 0.5, np.float32), 0.2, rng=np.random.default_rng(0))
    >>> sorted(set(out.ravel().tolist())) <= [0.0, 0.5, 1.0]
    True
    """
    op = "random_salt_pepper"
    batch, single = as_batch(images, op)
    fraction = check_number(amount, "amount", op, low=0.0, high=1.0)
    u = check_rng(rng, op).random(batch.shape[:3])
    half = fraction / 2
    return restore(salt_pepper(batch, u >= 1 - half, u < half), single)
