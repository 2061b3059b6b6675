"""Colour image ops: brightness, contrast, saturation, hue, gamma, grayscale, standardization.

The dtype rule is TensorFlow's (``tf.image.adjust_*``): a ``float32`` image is adjusted
as it is, in whatever scale it uses, and comes back ``float32`` without clipping (the
CIFAR-10 tutorial casts to float32 0..255 and uses ``max_delta=63``); a ``uint8`` image
is converted to float32 in [0, 1] (``x * float32(1/255)``), adjusted, and converted back
as ``tf.image.convert_image_dtype(..., saturate=True)`` does (``x * 255.5``, clamped to
[0, 255], truncated), so it comes back ``uint8``. :func:`per_image_standardization` and
:func:`normalize` always return ``float32`` of the input's values (``uint8`` means
0..255). Means and variances accumulate in float64; per-pixel arithmetic is float32 in
TensorFlow's order, so TensorFlow's results are matched to float32 rounding.

Random ops draw one parameter per image (documented in each docstring; the draws are
a contract) and apply the deterministic ``adjust_*`` form with those parameters.

    >>> image = np.array([[[0.25, 0.5, 0.75]]], np.float32)
    >>> adjust_brightness(image, 0.125)
    array([[[0.375, 0.625, 0.875]]], dtype=float32)
    >>> adjust_brightness(np.array([[[250, 10, 3]]], np.uint8), 0.1)
    array([[[255,  35,  28]]], dtype=uint8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError
from conveyor.image._checks import (
    as_batch,
    check_channels,
    check_number,
    check_rng,
    from_float,
    per_image,
    restore,
    to_float,
)

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_gamma",
    "adjust_hue",
    "adjust_saturation",
    "grayscale_to_rgb",
    "normalize",
    "per_image_standardization",
    "random_brightness",
    "random_contrast",
    "random_hue",
    "random_saturation",
    "rgb_to_grayscale",
]

# TensorFlow's luma weights (tf.image.rgb_to_grayscale).
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)


def _column(values: np.ndarray) -> np.ndarray:
    """Per-image float64 parameters as float32 ``(N, 1, 1, 1)``, for broadcasting."""
    return values.astype(np.float32).reshape(-1, 1, 1, 1)


def _bounds(lower: Any, upper: Any, op: str) -> tuple[float, float]:
    low = check_number(lower, "lower", op)
    high = check_number(upper, "upper", op)
    # TensorFlow's rule for random_contrast and random_saturation.
    if high <= low:
        raise InvalidArgumentError(f"{op}: upper must be > lower, got lower={low}, upper={high}")
    if low < 0:
        raise InvalidArgumentError(f"{op}: lower must be >= 0, got {low}")
    return low, high


# -- brightness and contrast ------------------------------------------------------------


def adjust_brightness(images: Any, delta: Any) -> np.ndarray:
    """Add ``delta`` to every component, as ``tf.image.adjust_brightness``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        delta: a number, or one per image; in the float scale (for ``uint8``, a fraction
            of 255).

    Returns:
        The same shape and dtype: ``float32`` unclipped, ``uint8`` saturated.

    >>> adjust_brightness(np.zeros((2, 1, 1, 1), np.float32), [1.0, -63.0])[:, 0, 0, 0]
    array([  1., -63.], dtype=float32)
    """
    op = "adjust_brightness"
    batch, single = as_batch(images, op)
    deltas = _column(per_image(delta, batch.shape[0], "delta", op))
    return restore(from_float(to_float(batch) + deltas, batch.dtype), single)


def random_brightness(images: Any, max_delta: float, *, rng: np.random.Generator) -> np.ndarray:
    """Adjust brightness by a random delta per image, as ``tf.image.random_brightness``.

    Draws, for N images: ``delta = rng.uniform(-max_delta, max_delta, size=N)``; the
    result is ``adjust_brightness(images, delta)``.

    Raises:
        InvalidArgumentError: ``max_delta`` < 0; ``rng`` is not a Generator.

    >>> out = random_brightness(np.full((2, 1, 1, 1), 100.0, np.float32), 63, rng=np.random.default_rng(0))
    >>> out.shape, out.dtype
    ((2, 1, 1, 1), dtype('float32'))
    """
    op = "random_brightness"
    batch, single = as_batch(images, op)
    limit = check_number(max_delta, "max_delta", op, low=0.0)
    delta = check_rng(rng, op).uniform(-limit, limit, size=batch.shape[0])
    return restore(adjust_brightness(batch, delta), single)


def adjust_contrast(images: Any, contrast_factor: Any) -> np.ndarray:
    """Scale each channel's deviation from its mean, as ``tf.image.adjust_contrast``.

    For each image and channel, with ``mean`` over height and width:
    ``(x - mean) * contrast_factor + mean``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        contrast_factor: a number, or one per image.

    Returns:
        The same shape and dtype: ``float32`` unclipped, ``uint8`` saturated.

    >>> image = np.array([[[0.0], [2.0]], [[4.0], [6.0]]], np.float32)   # mean 3
    >>> adjust_contrast(image, 2.0)[..., 0]
    array([[-3.,  1.],
           [ 5.,  9.]], dtype=float32)
    """
    op = "adjust_contrast"
    batch, single = as_batch(images, op)
    factor = _column(per_image(contrast_factor, batch.shape[0], "contrast_factor", op))
    values = to_float(batch)
    mean = np.mean(values, axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    return restore(from_float((values - mean) * factor + mean, batch.dtype), single)


def random_contrast(
    images: Any, lower: float, upper: float, *, rng: np.random.Generator
) -> np.ndarray:
    """Adjust contrast by a random factor per image, as ``tf.image.random_contrast``.

    Draws, for N images: ``factor = rng.uniform(lower, upper, size=N)``; the result is
    ``adjust_contrast(images, factor)``.

    Raises:
        InvalidArgumentError: ``upper <= lower`` or ``lower < 0`` (TensorFlow's rule).
    """
    op = "random_contrast"
    batch, single = as_batch(images, op)
    low, high = _bounds(lower, upper, op)
    factor = check_rng(rng, op).uniform(low, high, size=batch.shape[0])
    return restore(adjust_contrast(batch, factor), single)


# -- saturation and hue: TensorFlow's CPU kernels, vectorised ---------------------------


def _saturate(rgb: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """TensorFlow's AdjustSaturation kernel: RGB -> HSV, ``s * scale`` clamped to
    [0, 1], HSV -> RGB, in float32 (its ``+ 2.0 / 6.0`` is a double addition)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = np.maximum(r, np.maximum(g, b))
    spread = v - np.minimum(r, np.minimum(g, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, spread / v, np.float32(0))
        norm = np.float32(1) / (np.float32(6) * spread)
        hue_r = norm * (g - b)
        hue_g = ((norm * (b - r)).astype(np.float64) + 2.0 / 6.0).astype(np.float32)
        hue_b = ((norm * (r - g)).astype(np.float64) + 4.0 / 6.0).astype(np.float32)
    h = np.where(r == v, hue_r, np.where(g == v, hue_g, hue_b))
    h = np.where(spread <= 0, np.float32(0), h)
    h = np.where(h < 0, h + np.float32(1), h)
    s = np.minimum(np.float32(1), np.maximum(np.float32(0), s * scale[..., 0]))
    c = s * v
    m = v - c
    dh = h * np.float32(6)
    category = dh.astype(np.int64)
    x = c * (np.float32(1) - np.abs(np.fmod(dh, np.float32(2)) - np.float32(1)))
    zero = np.zeros_like(c)
    cases = [category == k for k in range(6)]
    rr = np.select(cases, [c, x, zero, zero, x, c], zero)
    gg = np.select(cases, [x, c, c, x, zero, zero], zero)
    bb = np.select(cases, [zero, zero, x, c, c, x], zero)
    return np.stack([rr + m, gg + m, bb + m], axis=-1)


def _shift_hue(rgb: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """TensorFlow's AdjustHue kernel: hue in [0, 6) from the ordering of r, g, b,
    shifted by ``6 * delta`` and wrapped, then back to RGB; float32 throughout."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    r_lt_g = r < g
    # The six orderings, as the kernel's branches test them.
    cases = [
        ~r_lt_g & (b < g),  # 0: b < g <= r
        r_lt_g & (b < r),  # 1: b < r < g
        r_lt_g & ~(b < r) & ~(b > g),  # 2: r <= b <= g
        r_lt_g & ~(b < r) & (b > g),  # 3: r < g < b
        ~r_lt_g & ~(b < g) & (b > r),  # 4: g <= r < b
    ]
    v_max = np.select(cases, [r, g, g, b, b], r)
    v_mid = np.select(cases, [g, r, b, g, r], b)
    v_min = np.select(cases, [b, b, r, r, g], g)
    category = np.select(cases, [0, 1, 2, 3, 4], 5).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (v_mid - v_min) / (v_max - v_min)
    odd = np.fmod(category, np.float32(2)) == 1
    h = category + np.where(odd, np.float32(1) - ratio, ratio)
    h = np.where(v_max == v_min, np.float32(0), h)
    h = h + delta[..., 0] * np.float32(6)
    six = np.float32(6)
    h = np.where(h < 0, h + six, h)  # h >= -6 here, so once is enough
    h = np.where(h >= six, h - six, h)
    h = np.where(h >= six, h - six, h)  # h <= 12 (h + 6 may round up to 6)
    category = h.astype(np.int64)
    ratio = h - category.astype(np.float32)
    ratio = np.where(category % 2 == 1, np.float32(1) - ratio, ratio)
    v_mid = v_min + ratio * (v_max - v_min)
    cases = [category == k for k in range(5)]
    rr = np.select(cases, [v_max, v_mid, v_min, v_min, v_mid], v_max)
    gg = np.select(cases, [v_mid, v_max, v_max, v_mid, v_min], v_min)
    bb = np.select(cases, [v_min, v_min, v_mid, v_max, v_max], v_mid)
    return np.stack([rr, gg, bb], axis=-1)


def adjust_saturation(images: Any, saturation_factor: Any) -> np.ndarray:
    """Multiply the HSV saturation by ``saturation_factor``, as ``tf.image.adjust_saturation``.

    Each pixel goes to HSV, its saturation is multiplied and clamped to [0, 1], and it
    goes back to RGB, as TensorFlow's CPU kernel computes it.

    Args:
        images: RGB: ``(H, W, 3)`` or ``(N, H, W, 3)``, ``uint8`` or ``float32``.
        saturation_factor: a number, or one per image (>= 0 in practice).

    Returns:
        The same shape and dtype.

    Raises:
        InvalidArgumentError: the images do not have 3 channels.

    >>> adjust_saturation(np.array([[[0.2, 0.4, 0.6]]], np.float32), 0.5)
    array([[[0.4, 0.5, 0.6]]], dtype=float32)
    """
    op = "adjust_saturation"
    batch, single = as_batch(images, op)
    check_channels(batch, op)
    factor = _column(per_image(saturation_factor, batch.shape[0], "saturation_factor", op))
    return restore(from_float(_saturate(to_float(batch), factor), batch.dtype), single)


def random_saturation(
    images: Any, lower: float, upper: float, *, rng: np.random.Generator
) -> np.ndarray:
    """Adjust saturation by a random factor per image, as ``tf.image.random_saturation``.

    Draws, for N images: ``factor = rng.uniform(lower, upper, size=N)``; the result is
    ``adjust_saturation(images, factor)``.

    Raises:
        InvalidArgumentError: ``upper <= lower`` or ``lower < 0`` (TensorFlow's rule).
    """
    op = "random_saturation"
    batch, single = as_batch(images, op)
    check_channels(batch, op)
    low, high = _bounds(lower, upper, op)
    factor = check_rng(rng, op).uniform(low, high, size=batch.shape[0])
    return restore(adjust_saturation(batch, factor), single)


def adjust_hue(images: Any, delta: Any) -> np.ndarray:
    """Rotate the hue by ``delta`` (a fraction of the colour circle), as ``tf.image.adjust_hue``.

    Args:
        images: RGB: ``(H, W, 3)`` or ``(N, H, W, 3)``, ``uint8`` or ``float32``.
        delta: in [-1, 1]: a number, or one per image.

    Returns:
        The same shape and dtype.

    Raises:
        InvalidArgumentError: the images do not have 3 channels; ``delta`` outside [-1, 1].

    >>> adjust_hue(np.array([[[1.0, 0.0, 0.0]]], np.float32), 1 / 3)   # red -> green
    array([[[0., 1., 0.]]], dtype=float32)
    """
    op = "adjust_hue"
    batch, single = as_batch(images, op)
    check_channels(batch, op)
    deltas = per_image(delta, batch.shape[0], "delta", op)
    if (np.abs(deltas) > 1).any():
        raise InvalidArgumentError(f"{op}: delta must be in the interval [-1, 1], got {delta!r}")
    return restore(from_float(_shift_hue(to_float(batch), _column(deltas)), batch.dtype), single)


def random_hue(images: Any, max_delta: float, *, rng: np.random.Generator) -> np.ndarray:
    """Adjust hue by a random delta per image, as ``tf.image.random_hue``.

    Draws, for N images: ``delta = rng.uniform(-max_delta, max_delta, size=N)``; the
    result is ``adjust_hue(images, delta)``.

    Raises:
        InvalidArgumentError: ``max_delta`` outside [0, 0.5].
    """
    op = "random_hue"
    batch, single = as_batch(images, op)
    check_channels(batch, op)
    limit = check_number(max_delta, "max_delta", op, low=0.0, high=0.5)
    delta = check_rng(rng, op).uniform(-limit, limit, size=batch.shape[0])
    return restore(adjust_hue(batch, delta), single)


def adjust_gamma(images: Any, gamma: Any = 1, gain: Any = 1) -> np.ndarray:
    """Gamma correction ``gain * x ** gamma``, as ``tf.image.adjust_gamma``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        gamma: >= 0: a number, or one per image.
        gain: a number, or one per image.

    Returns:
        The same shape and dtype.

    Raises:
        InvalidArgumentError: a negative ``gamma``.

    >>> adjust_gamma(np.array([[[0.25, 1.0, 4.0]]], np.float32), 0.5)
    array([[[0.5, 1. , 2. ]]], dtype=float32)
    """
    op = "adjust_gamma"
    batch, single = as_batch(images, op)
    n = batch.shape[0]
    gammas = per_image(gamma, n, "gamma", op)
    if (gammas < 0).any():
        raise InvalidArgumentError(f"{op}: gamma must be a non-negative number, got {gamma!r}")
    gains = _column(per_image(gain, n, "gain", op))
    adjusted = gains * np.power(to_float(batch), _column(gammas))
    return restore(from_float(adjusted, batch.dtype), single)


# -- grayscale, standardization ---------------------------------------------------------


def rgb_to_grayscale(images: Any) -> np.ndarray:
    """Luma ``0.2989 R + 0.5870 G + 0.1140 B``, as ``tf.image.rgb_to_grayscale``.

    Returns:
        ``(..., H, W, 1)``: the channel axis is kept, with one channel; same dtype.

    Raises:
        InvalidArgumentError: the images do not have 3 channels.

    >>> rgb_to_grayscale(np.array([[[255, 0, 0], [255, 255, 255]]], np.uint8))[..., 0]
    array([[ 76, 255]], dtype=uint8)
    """
    op = "rgb_to_grayscale"
    batch, single = as_batch(images, op)
    check_channels(batch, op)
    gray = np.tensordot(to_float(batch).astype(np.float64), _GRAY_WEIGHTS.astype(np.float64), 1)
    return restore(from_float(gray.astype(np.float32)[..., None], batch.dtype), single)


def grayscale_to_rgb(images: Any) -> np.ndarray:
    """Repeat the one channel three times, as ``tf.image.grayscale_to_rgb``.

    Raises:
        InvalidArgumentError: the images do not have 1 channel.

    >>> grayscale_to_rgb(np.array([[[7]]], np.uint8))
    array([[[7, 7, 7]]], dtype=uint8)
    """
    op = "grayscale_to_rgb"
    batch, single = as_batch(images, op)
    if batch.shape[-1] != 1:
        raise InvalidArgumentError(f"{op}: images must have 1 channel, got shape {batch.shape[1:]}")
    return restore(np.repeat(batch, 3, axis=-1), single)


def per_image_standardization(images: Any) -> np.ndarray:
    """Scale each image to mean 0 and variance 1, as ``tf.image.per_image_standardization``.

    ``(x - mean) / max(stddev, 1 / sqrt(H * W * C))`` with the mean and the (population)
    standard deviation over all of one image's components; the floor keeps a constant
    image finite (it becomes zeros). ``uint8`` values are used as they are (0..255).

    Returns:
        ``float32``, the same shape.

    >>> per_image_standardization(np.array([[[0], [2]], [[4], [6]]], np.uint8))[..., 0]
    array([[-1.3416408, -0.4472136],
           [ 0.4472136,  1.3416408]], dtype=float32)
    >>> per_image_standardization(np.full((2, 2, 1), 9, np.uint8))[..., 0]
    array([[0., 0.],
           [0., 0.]], dtype=float32)
    """
    op = "per_image_standardization"
    batch, single = as_batch(images, op)
    values = batch.astype(np.float64)
    mean = np.mean(values, axis=(1, 2, 3), keepdims=True)
    std = np.std(values, axis=(1, 2, 3), keepdims=True)
    floor = 1.0 / np.sqrt(float(np.prod(batch.shape[1:])))
    return restore(((values - mean) / np.maximum(std, floor)).astype(np.float32), single)


def _per_channel(value: Any, channels: int, name: str, op: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64) if np.ndim(value) else None
    if array is None:
        return np.full(channels, check_number(value, name, op), np.float64)
    if array.shape != (channels,):
        raise InvalidArgumentError(
            f"{op}: {name} must be a number or {channels} numbers (one per channel), got "
            f"shape {array.shape}"
        )
    return array


def normalize(images: Any, mean: Any, std: Any) -> np.ndarray:
    """``(x - mean) / std`` per channel, in the input's value scale.

    ``uint8`` images are not rescaled: their mean and std are in 0..255 units (CIFAR-10's
    are about ``(125.3, 123.0, 113.9)`` and ``(63.0, 62.1, 66.7)``).

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        mean: a number, or one per channel.
        std: > 0: a number, or one per channel.

    Returns:
        ``float32``, the same shape.

    Raises:
        InvalidArgumentError: ``mean``/``std`` of the wrong length; a ``std`` <= 0.

    >>> normalize(np.array([[[100, 50]]], np.uint8), [50, 50], [25, 10])
    array([[[2., 0.]]], dtype=float32)
    """
    op = "normalize"
    batch, single = as_batch(images, op)
    channels = batch.shape[-1]
    means = _per_channel(mean, channels, "mean", op)
    stds = _per_channel(std, channels, "std", op)
    if not (stds > 0).all():
        raise InvalidArgumentError(f"{op}: std must be > 0, got {std!r}")
    return restore(((batch.astype(np.float64) - means) / stds).astype(np.float32), single)
