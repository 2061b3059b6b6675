"""Argument rules shared by the image ops, so every op refuses a bad argument the same way.

Every op takes one image ``(H, W, C)`` or a batch ``(N, H, W, C)`` of ``uint8`` or
``float32``; :func:`as_batch` owns that rule and :func:`restore` undoes the batching, so
a single image is processed exactly as a batch of one. Per-image parameters (a scalar
or one value per image) go through :func:`per_image`; generators through
:func:`check_rng`. Each raises :class:`~conveyor.errors.InvalidArgumentError` naming
the op, the argument and what it got.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError

__all__ = [
    "IMAGE_DTYPES",
    "as_batch",
    "check_channels",
    "check_int",
    "check_number",
    "check_rng",
    "from_float",
    "per_image",
    "per_image_bool",
    "per_image_int",
    "restore",
    "to_float",
]

IMAGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))

# TensorFlow's convert_image_dtype: uint8 -> float multiplies by float32(1 / 255);
# float -> uint8 multiplies by 255.5 (255 + 0.5, "to avoid rounding problems in the
# cast"), clamps to [0, 255] and truncates.
_FROM_UINT8 = np.float32(1.0 / 255.0)
_TO_UINT8 = np.float32(255.5)


def as_batch(images: Any, op: str, name: str = "images") -> tuple[np.ndarray, bool]:
    """Return ``(batch, single)``: ``images`` as an ``(N, H, W, C)`` array, and whether
    it was one ``(H, W, C)`` image.

    Raises:
        InvalidArgumentError: not rank 3 or 4, or not ``uint8``/``float32``.

    >>> batch, single = as_batch(np.zeros((4, 5, 3), np.uint8), "op")
    >>> batch.shape, single
    ((1, 4, 5, 3), True)
    >>> as_batch(np.zeros((4, 5), np.uint8), "flip_left_right")
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: flip_left_right: images must be one image (H, W, C) or a batch (N, H, W, C), got shape (4, 5)
    """
    array = np.asarray(images)
    if array.ndim not in (3, 4):
        raise InvalidArgumentError(
            f"{op}: {name} must be one image (H, W, C) or a batch (N, H, W, C), "
            f"got shape {array.shape}"
        )
    if array.dtype not in IMAGE_DTYPES:
        raise InvalidArgumentError(
            f"{op}: {name} must be uint8 or float32, got {array.dtype}; convert with "
            f"images.astype(np.float32) first"
        )
    if array.ndim == 3:
        return array[None], True
    return array, False


def restore(batch: np.ndarray, single: bool) -> np.ndarray:
    """Undo :func:`as_batch`: the one image of a batch made from a single image."""
    return batch[0] if single else batch


def check_rng(rng: Any, op: str) -> np.random.Generator:
    """Check that ``rng`` is a :class:`numpy.random.Generator`.

    >>> check_rng(42, "random_crop")
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: random_crop: rng must be a numpy.random.Generator (np.random.default_rng(seed)), got int
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError(
            f"{op}: rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_channels(batch: np.ndarray, op: str, channels: int = 3) -> None:
    """Refuse images whose last axis is not ``channels`` long (RGB ops need 3)."""
    if batch.shape[-1] != channels:
        raise InvalidArgumentError(
            f"{op}: images must have {channels} channels (RGB), got shape "
            f"{batch.shape[1:]} with {batch.shape[-1]}"
        )


def check_number(
    value: Any,
    name: str,
    op: str,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """A finite real number (not a bool) within ``[low, high]`` where those are given."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{op}: {name} must be a number, got {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise InvalidArgumentError(f"{op}: {name} must be finite, got {value!r}")
    if low is not None and number < low:
        raise InvalidArgumentError(f"{op}: {name} must be >= {low}, got {value!r}")
    if high is not None and number > high:
        raise InvalidArgumentError(f"{op}: {name} must be <= {high}, got {value!r}")
    return number


def check_int(value: Any, name: str, op: str, low: int = 0) -> int:
    """An integer (Python or NumPy, not a bool or a float) >= ``low``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InvalidArgumentError(f"{op}: {name} must be an int, got {value!r}")
    if value < low:
        raise InvalidArgumentError(f"{op}: {name} must be >= {low}, got {value}")
    return int(value)


def per_image(value: Any, n: int, name: str, op: str) -> np.ndarray:
    """A per-image parameter as ``n`` float64 values: a scalar is used for every image.

    >>> per_image(0.5, 3, "delta", "adjust_brightness")
    array([0.5, 0.5, 0.5])
    >>> per_image([0.1, 0.2], 3, "delta", "adjust_brightness")
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: adjust_brightness: delta must be a scalar or 3 values (one per image), got shape (2,)
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"{op}: {name} must be numbers, got {value!r}")
    if array.ndim == 0:
        array = np.full(n, array, dtype=np.float64)
    elif array.shape != (n,):
        raise InvalidArgumentError(
            f"{op}: {name} must be a scalar or {n} values (one per image), got shape {array.shape}"
        )
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise InvalidArgumentError(f"{op}: {name} must be finite, got {value!r}")
    return values


def per_image_int(value: Any, n: int, name: str, op: str) -> np.ndarray:
    """A per-image integer parameter (an offset) as ``n`` int64 values."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise InvalidArgumentError(f"{op}: {name} must be integers, got {value!r}")
    if array.ndim == 0:
        return np.full(n, array, dtype=np.int64)
    if array.shape != (n,):
        raise InvalidArgumentError(
            f"{op}: {name} must be an int or {n} ints (one per image), got shape {array.shape}"
        )
    return array.astype(np.int64)


def per_image_bool(value: Any, n: int, name: str, op: str) -> np.ndarray:
    """A per-image switch (flip or not) as ``n`` bools."""
    array = np.asarray(value)
    if array.dtype != np.bool_:
        raise InvalidArgumentError(f"{op}: {name} must be a bool or bools, got {value!r}")
    if array.ndim == 0:
        return np.full(n, bool(array))
    if array.shape != (n,):
        raise InvalidArgumentError(
            f"{op}: {name} must be a bool or {n} bools (one per image), got shape {array.shape}"
        )
    return array


def to_float(batch: np.ndarray) -> np.ndarray:
    """``float32`` in TensorFlow's float scale: ``uint8`` is scaled into [0, 1]
    (``x * float32(1/255)``, as ``tf.image.convert_image_dtype``); ``float32`` is
    returned as it is."""
    if batch.dtype == np.uint8:
        return batch.astype(np.float32) * _FROM_UINT8
    return batch


def from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Back to ``dtype`` from :func:`to_float`'s scale: ``uint8`` as
    ``convert_image_dtype(..., saturate=True)`` (``x * 255.5``, clamped to [0, 255],
    truncated); ``float32`` unclipped."""
    if dtype == np.uint8:
        scaled = values.astype(np.float32, copy=False) * _TO_UINT8
        return np.clip(scaled, 0.0, 255.0).astype(np.uint8)
    return values.astype(np.float32, copy=False)
