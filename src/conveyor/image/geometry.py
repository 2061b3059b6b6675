"""Geometric image ops: crops, pads, flips, resizing, cutout, translation, rotation, zoom.

Every op takes one image ``(H, W, C)`` or a batch ``(N, H, W, C)`` of ``uint8`` or
``float32`` and returns the same rank; a single image is processed exactly as a batch of
one. Geometric ops keep the dtype, except :func:`resize` with ``method="bilinear"``,
which returns ``float32`` as ``tf.image.resize`` does.

A random op is a documented draw from its ``rng`` followed by its deterministic form
(``random_crop`` = the draws, then :func:`crop_to_bounding_box` with one offset per
image). The draws are a contract: for a batch of N, each op makes exactly the vectorised
draws its docstring lists, in that order, so other implementations can reproduce them.

    >>> images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    >>> random_crop(images, (2, 2), rng=np.random.default_rng(0)).shape
    (2, 2, 2, 1)
    >>> flip_left_right(images)[0, 0, :, 0]
    array([3, 2, 1, 0], dtype=uint8)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError
from conveyor.image import _kernels
from conveyor.image._checks import (
    as_batch,
    check_int,
    check_number,
    check_rng,
    per_image,
    per_image_bool,
    per_image_int,
    restore,
)

__all__ = [
    "central_crop",
    "crop_to_bounding_box",
    "cutout",
    "cutout_at",
    "flip_left_right",
    "flip_up_down",
    "pad_and_random_crop",
    "pad_to_bounding_box",
    "random_crop",
    "random_flip_left_right",
    "random_flip_up_down",
    "random_rotate",
    "random_translate",
    "random_zoom",
    "resize",
    "resize_with_crop_or_pad",
    "rotate",
    "translate",
    "zoom",
]

_INTERPOLATIONS = ("nearest", "bilinear")


def _window(batch: np.ndarray, oy: np.ndarray, ox: np.ndarray, h: int, w: int) -> np.ndarray:
    """The ``h`` x ``w`` window at ``(oy[i], ox[i])`` of each image, as a new array."""
    n = batch.shape[0]
    if n == 0 or ((oy == oy[0]).all() and (ox == ox[0]).all()):
        y, x = (int(oy[0]), int(ox[0])) if n else (0, 0)
        return batch[:, y : y + h, x : x + w].copy()
    rows = oy[:, None] + np.arange(h)
    cols = ox[:, None] + np.arange(w)
    return batch[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _fill_value(fill: Any, dtype: np.dtype, op: str) -> Any:
    value = check_number(fill, "fill", op)
    if dtype == np.uint8 and not (0 <= value <= 255 and value == int(value)):
        raise InvalidArgumentError(
            f"{op}: fill must be an integer in [0, 255] for uint8 images, got {fill!r}"
        )
    return dtype.type(value)


# -- crops and pads ---------------------------------------------------------------------


def crop_to_bounding_box(
    images: Any,
    offset_height: Any,
    offset_width: Any,
    target_height: int,
    target_width: int,
) -> np.ndarray:
    """Crop a ``target_height`` x ``target_width`` window, as ``tf.image.crop_to_bounding_box``.

    The window's top-left corner is ``(offset_height, offset_width)``; unlike
    TensorFlow's, the offsets may differ per image.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        offset_height: the top row of the window: an int, or one int per image.
        offset_width: the left column of the window: an int, or one int per image.
        target_height: the window's height, > 0.
        target_width: the window's width, > 0.

    Returns:
        A new array ``(N, target_height, target_width, C)`` (or without ``N``), same dtype.

    Raises:
        InvalidArgumentError: a negative offset, a size <= 0, or a window that does not
            fit inside the image.

    >>> image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    >>> crop_to_bounding_box(image, 1, 2, 2, 2)[..., 0]
    array([[ 6,  7],
           [10, 11]], dtype=uint8)
    >>> crop_to_bounding_box(np.stack([image, image]), [0, 2], [0, 1], 1, 2)[..., 0].tolist()
    [[[0, 1]], [[9, 10]]]
    """
    op = "crop_to_bounding_box"
    batch, single = as_batch(images, op)
    n, height, width, _ = batch.shape
    h = check_int(target_height, "target_height", op, low=1)
    w = check_int(target_width, "target_width", op, low=1)
    oy = per_image_int(offset_height, n, "offset_height", op)
    ox = per_image_int(offset_width, n, "offset_width", op)
    if (oy < 0).any() or (ox < 0).any():
        raise InvalidArgumentError(
            f"{op}: offset_height and offset_width must be >= 0, got {offset_height!r} "
            f"and {offset_width!r}"
        )
    if n and (oy.max() + h > height or ox.max() + w > width):
        raise InvalidArgumentError(
            f"{op}: a {h}x{w} window at offset ({offset_height!r}, {offset_width!r}) does "
            f"not fit in images of shape {batch.shape[1:]}: need offset + target size <= "
            f"image size"
        )
    return restore(_window(batch, oy, ox, h, w), single)


def pad_to_bounding_box(
    images: Any,
    offset_height: int,
    offset_width: int,
    target_height: int,
    target_width: int,
) -> np.ndarray:
    """Zero-pad to ``target_height`` x ``target_width``, as ``tf.image.pad_to_bounding_box``.

    The image is placed with its top-left corner at ``(offset_height, offset_width)``
    of a zero image; the offsets are the same for every image.

    Returns:
        A new array ``(N, target_height, target_width, C)`` (or without ``N``), same dtype.

    Raises:
        InvalidArgumentError: a negative offset, or a target smaller than offset + image.

    >>> pad_to_bounding_box(np.ones((1, 2, 1), np.uint8), 1, 0, 3, 3)[..., 0]
    array([[0, 0, 0],
           [1, 1, 0],
           [0, 0, 0]], dtype=uint8)
    """
    op = "pad_to_bounding_box"
    batch, single = as_batch(images, op)
    n, height, width, channels = batch.shape
    oy = check_int(offset_height, "offset_height", op)
    ox = check_int(offset_width, "offset_width", op)
    th = check_int(target_height, "target_height", op, low=1)
    tw = check_int(target_width, "target_width", op, low=1)
    if th < oy + height or tw < ox + width:
        raise InvalidArgumentError(
            f"{op}: target ({th}, {tw}) must be at least offset ({oy}, {ox}) + image "
            f"size ({height}, {width})"
        )
    out = np.zeros((n, th, tw, channels), batch.dtype)
    out[:, oy : oy + height, ox : ox + width] = batch
    return restore(out, single)


def _random_offsets(
    shape: tuple[int, ...], size: Any, rng: Any, op: str
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Check ``size`` against images of ``shape`` (N, H, W, C) and draw the offsets."""
    rng = check_rng(rng, op)
    n, height, width, channels = shape
    if isinstance(size, int | np.integer) or not isinstance(size, Sequence | np.ndarray):
        raise InvalidArgumentError(
            f"{op}: size must be (height, width) or (height, width, channels), got {size!r}"
        )
    dims = [check_int(v, "size", op, low=1) for v in size]
    if len(dims) not in (2, 3):
        raise InvalidArgumentError(
            f"{op}: size must be (height, width) or (height, width, channels), got {size!r}"
        )
    if len(dims) == 3 and dims[2] != channels:
        raise InvalidArgumentError(
            f"{op}: size {tuple(dims)} asks for {dims[2]} channels but the images have "
            f"{channels} (shape {tuple(shape[1:])}); crops keep every channel"
        )
    h, w = dims[0], dims[1]
    if h > height or w > width:
        raise InvalidArgumentError(
            f"{op}: size {tuple(dims)} is larger than the images (shape {tuple(shape[1:])})"
        )
    oy = rng.integers(0, height - h + 1, size=n)
    ox = rng.integers(0, width - w + 1, size=n)
    return oy, ox, h, w


def random_crop(images: Any, size: Sequence[int], *, rng: np.random.Generator) -> np.ndarray:
    """Crop a window of ``size`` at a random place in each image, as ``tf.image.random_crop``.

    Each image of a batch gets its own offset (TensorFlow's ``random_crop`` of a batch
    would need ``size`` to include the batch and crop every image at one place).

    Draws, for N images of ``(H, W, C)``: ``oy = rng.integers(0, H - h + 1, size=N)``, then
    ``ox = rng.integers(0, W - w + 1, size=N)``; the result is
    ``crop_to_bounding_box(images, oy, ox, h, w)``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        size: ``(h, w)`` or ``(h, w, c)``; ``c`` must equal ``C``.
        rng: the generator to draw from.

    Returns:
        ``(N, h, w, C)`` (or without ``N``), same dtype.

    Raises:
        InvalidArgumentError: ``size`` is malformed or larger than the images; ``rng``
            is not a ``numpy.random.Generator``.

    >>> image = np.arange(25, dtype=np.uint8).reshape(5, 5, 1)
    >>> random_crop(image, (2, 2, 1), rng=np.random.default_rng(1)).shape
    (2, 2, 1)
    """
    op = "random_crop"
    batch, single = as_batch(images, op)
    oy, ox, h, w = _random_offsets(batch.shape, size, rng, op)
    return restore(_window(batch, oy, ox, h, w), single)


def pad_and_random_crop(
    images: Any, padding: int, size: Sequence[int], *, rng: np.random.Generator
) -> np.ndarray:
    """Zero-pad every side by ``padding`` pixels, then :func:`random_crop` to ``size``.

    The classic CIFAR-10 augmentation is ``pad_and_random_crop(x, 4, (32, 32), rng=g)``.
    Draws exactly as :func:`random_crop` on the padded ``(H + 2p, W + 2p)`` images:
    ``oy = rng.integers(0, H + 2p - h + 1, size=N)``, then
    ``ox = rng.integers(0, W + 2p - w + 1, size=N)``.

    Returns:
        ``(N, h, w, C)`` (or without ``N``), same dtype.

    Raises:
        InvalidArgumentError: ``padding`` < 0, or as :func:`random_crop`.

    >>> out = pad_and_random_crop(np.ones((2, 2, 1), np.uint8), 1, (2, 2), rng=np.random.default_rng(0))
    >>> out.shape
    (2, 2, 1)
    """
    op = "pad_and_random_crop"
    batch, single = as_batch(images, op)
    p = check_int(padding, "padding", op)
    n, height, width, channels = batch.shape
    oy, ox, h, w = _random_offsets((n, height + 2 * p, width + 2 * p, channels), size, rng, op)
    padded = np.pad(batch, ((0, 0), (p, p), (p, p), (0, 0)))
    return restore(_window(padded, oy, ox, h, w), single)


def central_crop(images: Any, central_fraction: float) -> np.ndarray:
    """Keep the central ``central_fraction`` of each side, as ``tf.image.central_crop``.

    With TensorFlow's arithmetic: the crop starts at
    ``int((H - H * central_fraction) / 2)`` (float64, truncated) and is
    ``H - 2 * start`` rows high; likewise for the width. ``central_fraction == 1``
    returns a copy of the images.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        central_fraction: in (0, 1].

    Returns:
        The central crop, same dtype.

    Raises:
        InvalidArgumentError: ``central_fraction`` not within (0, 1].

    >>> image = np.arange(25, dtype=np.uint8).reshape(5, 5, 1)
    >>> central_crop(image, 0.5)[..., 0]   # start int(1.25) = 1, size 5 - 2 = 3
    array([[ 6,  7,  8],
           [11, 12, 13],
           [16, 17, 18]], dtype=uint8)
    """
    op = "central_crop"
    batch, single = as_batch(images, op)
    fraction = check_number(central_fraction, "central_fraction", op)
    if not 0.0 < fraction <= 1.0:
        raise InvalidArgumentError(f"{op}: central_fraction must be within (0, 1], got {fraction}")
    _, height, width, _ = batch.shape
    top = int((float(height) - float(height) * fraction) / 2)
    left = int((float(width) - float(width) * fraction) / 2)
    out = batch[:, top : height - top, left : width - left].copy()
    return restore(out, single)


def resize_with_crop_or_pad(images: Any, target_height: int, target_width: int) -> np.ndarray:
    """Centrally crop and/or zero-pad to the target size, as ``tf.image.resize_with_crop_or_pad``.

    TensorFlow's offsets: with ``diff = target - size``, a crop starts at ``-diff // 2``
    and a pad puts ``diff // 2`` zeros before the image (floor division: an odd
    difference leaves the extra row at the bottom, the extra column at the right).

    Returns:
        ``(N, target_height, target_width, C)`` (or without ``N``), same dtype.

    Raises:
        InvalidArgumentError: a target <= 0.

    >>> image = np.arange(1, 5, dtype=np.uint8).reshape(1, 4, 1)
    >>> resize_with_crop_or_pad(image, 2, 3)[..., 0]   # crop 1 column (left), pad 1 row
    array([[1, 2, 3],
           [0, 0, 0]], dtype=uint8)
    """
    op = "resize_with_crop_or_pad"
    batch, single = as_batch(images, op)
    th = check_int(target_height, "target_height", op, low=1)
    tw = check_int(target_width, "target_width", op, low=1)
    n, height, width, channels = batch.shape
    dh, dw = th - height, tw - width
    crop_y, crop_x = max(-dh // 2, 0), max(-dw // 2, 0)
    pad_y, pad_x = max(dh // 2, 0), max(dw // 2, 0)
    h, w = min(th, height), min(tw, width)
    out = np.zeros((n, th, tw, channels), batch.dtype)
    out[:, pad_y : pad_y + h, pad_x : pad_x + w] = batch[
        :, crop_y : crop_y + h, crop_x : crop_x + w
    ]
    return restore(out, single)


# -- flips ------------------------------------------------------------------------------


def _flip(images: Any, flip: Any, axis: int, op: str) -> np.ndarray:
    batch, single = as_batch(images, op)
    which = per_image_bool(flip, batch.shape[0], "flip", op)
    if axis == 2 and _kernels.AVAILABLE and batch.dtype in _kernels.FLIP_DTYPES:
        # NumPy copies a mirrored row a pixel at a time, holding the GIL (50 µs for a
        # 128x128 RGB image); the kernel does the same copy without it in a few.
        out = np.empty(batch.shape, batch.dtype)
        _kernels.flip_width(batch, which, out)
        return restore(out, single)
    flipped = np.flip(batch, axis=axis)
    out = flipped.copy() if which.all() else np.where(which[:, None, None, None], flipped, batch)
    return restore(out, single)


def flip_left_right(images: Any, flip: Any = True) -> np.ndarray:
    """Mirror the width axis, as ``tf.image.flip_left_right``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        flip: ``True`` (every image), or one bool per image: which images to mirror.

    Returns:
        A new array, same shape and dtype.

    Raises:
        InvalidArgumentError: ``flip`` is not a bool or N bools.

    >>> image = np.array([[[1], [2]], [[3], [4]]], np.uint8)
    >>> flip_left_right(image)[..., 0]
    array([[2, 1],
           [4, 3]], dtype=uint8)
    >>> flip_left_right(np.stack([image, image]), [False, True])[:, 0, :, 0]
    array([[1, 2],
           [2, 1]], dtype=uint8)
    """
    return _flip(images, flip, 2, "flip_left_right")


def flip_up_down(images: Any, flip: Any = True) -> np.ndarray:
    """Mirror the height axis, as ``tf.image.flip_up_down``; ``flip`` as :func:`flip_left_right`.

    >>> flip_up_down(np.array([[[1], [2]], [[3], [4]]], np.uint8))[..., 0]
    array([[3, 4],
           [1, 2]], dtype=uint8)
    """
    return _flip(images, flip, 1, "flip_up_down")


def random_flip_left_right(images: Any, *, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image left to right with probability 1/2, as ``tf.image.random_flip_left_right``.

    Draws, for N images: ``flip = rng.random(N) < 0.5``; the result is
    ``flip_left_right(images, flip)``.

    >>> images = np.arange(8, dtype=np.uint8).reshape(4, 1, 2, 1)
    >>> random_flip_left_right(images, rng=np.random.default_rng(3)).shape
    (4, 1, 2, 1)
    """
    op = "random_flip_left_right"
    batch, single = as_batch(images, op)
    flip = check_rng(rng, op).random(batch.shape[0]) < 0.5
    return restore(_flip(batch, flip, 2, op), single)


def random_flip_up_down(images: Any, *, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image upside down with probability 1/2, as ``tf.image.random_flip_up_down``.

    Draws, for N images: ``flip = rng.random(N) < 0.5``; the result is
    ``flip_up_down(images, flip)``.
    """
    op = "random_flip_up_down"
    batch, single = as_batch(images, op)
    flip = check_rng(rng, op).random(batch.shape[0]) < 0.5
    return restore(_flip(batch, flip, 1, op), single)


# -- resizing ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _bilinear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # TensorFlow's half-pixel scaler, in float32 as its kernel computes it. Cached (the
    # same few sizes recur image after image), so read-only.
    scale = np.float32(in_size) / np.float32(out_size)
    where = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(where)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(where).astype(np.int64), in_size - 1)
    weights = (where - floor).astype(np.float32)
    for a in (lower, upper, weights):
        a.flags.writeable = False
    return lower, upper, weights


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    scale = np.float32(in_size) / np.float32(out_size)
    where = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale
    return np.clip(np.floor(where).astype(np.int64), 0, in_size - 1)


def resize(images: Any, size: Sequence[int], method: str = "bilinear") -> np.ndarray:
    """Resize to ``size = (height, width)``, as ``tf.image.resize`` (half-pixel centres,
    ``antialias=False``, ``preserve_aspect_ratio=False``).

    ``"bilinear"`` samples at ``(i + 0.5) * in / out - 0.5`` with TensorFlow's clamping
    and float32 interpolation, and returns ``float32`` (of the input's values: ``uint8``
    is not rescaled). ``"nearest"`` takes pixel ``floor((i + 0.5) * in / out)`` and keeps
    the dtype.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        size: ``(height, width)``, both > 0.
        method: ``"bilinear"`` or ``"nearest"``.

    Raises:
        InvalidArgumentError: a malformed ``size`` or an unknown ``method``.

    >>> image = np.array([[[0.0], [1.0]], [[2.0], [3.0]]], np.float32)
    >>> resize(image, (4, 4))[..., 0]
    array([[0.  , 0.25, 0.75, 1.  ],
           [0.5 , 0.75, 1.25, 1.5 ],
           [1.5 , 1.75, 2.25, 2.5 ],
           [2.  , 2.25, 2.75, 3.  ]], dtype=float32)
    """
    op = "resize"
    batch, single = as_batch(images, op)
    if isinstance(size, int | np.integer) or len(size) != 2:
        raise InvalidArgumentError(f"{op}: size must be (height, width), got {size!r}")
    th, tw = (check_int(v, "size", op, low=1) for v in size)
    _, height, width, _ = batch.shape
    if method == "nearest":
        ys, xs = _nearest_index(height, th), _nearest_index(width, tw)
        out = batch[:, ys][:, :, xs]
    elif method == "bilinear":
        source = batch.astype(np.float32)
        if (th, tw) == (height, width):
            out = source
        else:
            y0, y1, wy = _bilinear_weights(height, th)
            x0, x1, wx = _bilinear_weights(width, tw)
            wx = wx[None, None, :, None]
            top = source[:, y0]
            bottom = source[:, y1]
            top = top[:, :, x0] + (top[:, :, x1] - top[:, :, x0]) * wx
            bottom = bottom[:, :, x0] + (bottom[:, :, x1] - bottom[:, :, x0]) * wx
            out = top + (bottom - top) * wy[None, :, None, None]
    else:
        raise InvalidArgumentError(
            f"{op}: method must be one of {', '.join(map(repr, _INTERPOLATIONS))}, got {method!r}"
        )
    return restore(out, single)


# -- cutout and translation -------------------------------------------------------------


def cutout_at(images: Any, center_y: Any, center_x: Any, size: int, fill: float = 0) -> np.ndarray:
    """Set a ``size`` x ``size`` square centred at ``(center_y, center_x)`` to ``fill``.

    The square covers rows ``center_y - size // 2`` up to (not including)
    ``center_y - size // 2 + size``, clipped to the image, and likewise for columns;
    every channel is filled.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        center_y: the square's centre row: an int, or one int per image.
        center_x: the square's centre column: an int, or one int per image.
        size: the side of the square, >= 0.
        fill: the value written (an integer in [0, 255] for ``uint8``).

    Returns:
        A new array, same shape and dtype.

    >>> cutout_at(np.ones((4, 4, 1), np.uint8), 0, 3, 3)[..., 0]
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [1, 1, 1, 1],
           [1, 1, 1, 1]], dtype=uint8)
    """
    op = "cutout_at"
    batch, single = as_batch(images, op)
    n, height, width, _ = batch.shape
    side = check_int(size, "size", op)
    value = _fill_value(fill, batch.dtype, op)
    cy = per_image_int(center_y, n, "center_y", op)
    cx = per_image_int(center_x, n, "center_x", op)
    y0, x0 = cy - side // 2, cx - side // 2
    rows, cols = np.arange(height), np.arange(width)
    in_rows = (rows >= y0[:, None]) & (rows < (y0 + side)[:, None])
    in_cols = (cols >= x0[:, None]) & (cols < (x0 + side)[:, None])
    mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return restore(np.where(mask, value, batch), single)


def cutout(images: Any, size: int, *, rng: np.random.Generator, fill: float = 0) -> np.ndarray:
    """Cutout (DeVries & Taylor, 2017): blank a ``size`` x ``size`` square at a random
    centre of each image, clipped to the image.

    Draws, for N images of ``(H, W, C)``: ``cy = rng.integers(0, H, size=N)``, then
    ``cx = rng.integers(0, W, size=N)``; the result is
    ``cutout_at(images, cy, cx, size, fill)``.

    >>> out = cutout(np.ones((2, 8, 8, 3), np.uint8), 4, rng=np.random.default_rng(0))
    >>> out.shape, out.dtype
    ((2, 8, 8, 3), dtype('uint8'))
    """
    op = "cutout"
    batch, single = as_batch(images, op)
    check_int(size, "size", op)
    g = check_rng(rng, op)
    n, height, width, _ = batch.shape
    cy = g.integers(0, height, size=n)
    cx = g.integers(0, width, size=n)
    return restore(cutout_at(batch, cy, cx, size, fill), single)


def translate(images: Any, dy: Any, dx: Any, fill: float = 0) -> np.ndarray:
    """Shift each image's content ``dy`` rows down and ``dx`` columns right.

    ``out[y, x] = images[y - dy, x - dx]`` where that lies inside the image, else ``fill``.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        dy: rows to shift down (negative: up): an int, or one int per image.
        dx: columns to shift right (negative: left): an int, or one int per image.
        fill: the value of the uncovered pixels.

    Returns:
        A new array, same shape and dtype.

    >>> translate(np.arange(1, 5, dtype=np.uint8).reshape(1, 4, 1), 0, -1)[..., 0]
    array([[2, 3, 4, 0]], dtype=uint8)
    """
    op = "translate"
    batch, single = as_batch(images, op)
    n, height, width, _ = batch.shape
    value = _fill_value(fill, batch.dtype, op)
    sy = per_image_int(dy, n, "dy", op)
    sx = per_image_int(dx, n, "dx", op)
    # Pad by the largest shift (capped: a shift past the edge uncovers everything),
    # then crop the window that puts the content where it belongs.
    sy, sx = np.clip(sy, -height, height), np.clip(sx, -width, width)
    py = int(np.abs(sy).max()) if n else 0
    px = int(np.abs(sx).max()) if n else 0
    padded = np.pad(batch, ((0, 0), (py, py), (px, px), (0, 0)), constant_values=value)
    return restore(_window(padded, py - sy, px - sx, height, width), single)


def _max_shift(max_shift: Any, op: str) -> tuple[int, int]:
    if isinstance(max_shift, Sequence | np.ndarray) and not isinstance(max_shift, str):
        if len(max_shift) != 2:
            raise InvalidArgumentError(
                f"{op}: max_shift must be an int or (max_dy, max_dx), got {max_shift!r}"
            )
        return check_int(max_shift[0], "max_shift", op), check_int(max_shift[1], "max_shift", op)
    value = check_int(max_shift, "max_shift", op)
    return value, value


def random_translate(
    images: Any, max_shift: Any, *, rng: np.random.Generator, fill: float = 0
) -> np.ndarray:
    """Shift each image by a random whole number of pixels, up to ``max_shift``.

    ``max_shift`` is an int (both axes) or ``(max_dy, max_dx)``, each >= 0.
    Draws, for N images: ``dy = rng.integers(-max_dy, max_dy + 1, size=N)``, then
    ``dx = rng.integers(-max_dx, max_dx + 1, size=N)``; the result is
    ``translate(images, dy, dx, fill)``.

    >>> random_translate(np.ones((2, 4, 4, 1), np.uint8), 2, rng=np.random.default_rng(0)).shape
    (2, 4, 4, 1)
    """
    op = "random_translate"
    batch, single = as_batch(images, op)
    max_dy, max_dx = _max_shift(max_shift, op)
    g = check_rng(rng, op)
    n = batch.shape[0]
    dy = g.integers(-max_dy, max_dy + 1, size=n)
    dx = g.integers(-max_dx, max_dx + 1, size=n)
    return restore(translate(batch, dy, dx, fill), single)


# -- rotation and zoom: inverse-mapped sampling about the image centre -------------------


def _sample(
    batch: np.ndarray, matrices: np.ndarray, interpolation: str, fill: Any, op: str
) -> np.ndarray:
    """``out[y, x] = images[c + M @ ((y, x) - c)]`` with ``c`` the image centre and one
    2x2 matrix ``M`` per image (source coordinates of each output pixel); a source
    outside the image reads ``fill``."""
    if interpolation not in _INTERPOLATIONS:
        raise InvalidArgumentError(
            f"{op}: interpolation must be one of {', '.join(map(repr, _INTERPOLATIONS))}, "
            f"got {interpolation!r}"
        )
    value = _fill_value(fill, batch.dtype, op)
    n, height, width, _ = batch.shape
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    ry = (np.arange(height, dtype=np.float64) - cy)[None, :, None]
    rx = (np.arange(width, dtype=np.float64) - cx)[None, None, :]
    m = matrices[:, :, :, None, None]
    sy = m[:, 0, 0] * ry + m[:, 0, 1] * rx + cy
    sx = m[:, 1, 0] * ry + m[:, 1, 1] * rx + cx
    index = np.arange(n)[:, None, None]

    def read(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        got = batch[index, np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)]
        return np.where(inside[..., None], got, value)

    if interpolation == "nearest":
        return read(np.floor(sy + 0.5).astype(np.int64), np.floor(sx + 0.5).astype(np.int64))
    y0f, x0f = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0f)[..., None], (sx - x0f)[..., None]
    y0, x0 = y0f.astype(np.int64), x0f.astype(np.int64)
    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    mixed = top * (1 - wy) + bottom * wy
    if batch.dtype == np.uint8:
        return np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8)
    return mixed.astype(np.float32)


def rotate(
    images: Any, degrees: Any, interpolation: str = "nearest", fill: float = 0
) -> np.ndarray:
    """Rotate each image counter-clockwise by ``degrees`` about its centre.

    The centre is ``((H - 1) / 2, (W - 1) / 2)``; each output pixel reads the input at
    its inversely rotated position, ``"nearest"`` (rounded half up) or ``"bilinear"``
    (``uint8`` results rounded half up); positions outside the image read ``fill``.
    A quarter turn of a square image equals ``np.rot90`` exactly.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        degrees: the angle: a number, or one per image.
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill: the value outside the rotated image.

    Returns:
        A new array, same shape and dtype.

    >>> rotate(np.array([[[1], [2]], [[3], [4]]], np.uint8), 90)[..., 0]
    array([[2, 4],
           [1, 3]], dtype=uint8)
    """
    op = "rotate"
    batch, single = as_batch(images, op)
    theta = np.deg2rad(per_image(degrees, batch.shape[0], "degrees", op))
    cos, sin = np.cos(theta), np.sin(theta)
    # Source (dy, dx) of an output pixel: the output rotated back (clockwise, y down).
    matrices = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)
    return restore(_sample(batch, matrices, interpolation, fill, op), single)


def random_rotate(
    images: Any,
    max_degrees: float,
    *,
    rng: np.random.Generator,
    interpolation: str = "nearest",
    fill: float = 0,
) -> np.ndarray:
    """Rotate each image by a random angle in ``[-max_degrees, max_degrees)``.

    Draws, for N images: ``degrees = rng.uniform(-max_degrees, max_degrees, size=N)``;
    the result is ``rotate(images, degrees, interpolation, fill)``.

    >>> random_rotate(np.ones((2, 5, 5, 1), np.float32), 15, rng=np.random.default_rng(0)).dtype
    dtype('float32')
    """
    op = "random_rotate"
    batch, single = as_batch(images, op)
    limit = check_number(max_degrees, "max_degrees", op, low=0.0)
    degrees = check_rng(rng, op).uniform(-limit, limit, size=batch.shape[0])
    return restore(rotate(batch, degrees, interpolation, fill), single)


def zoom(images: Any, factor: Any, interpolation: str = "bilinear", fill: float = 0) -> np.ndarray:
    """Scale each image by ``factor`` about its centre, keeping its size.

    ``factor > 1`` zooms in (the centre is magnified, the border cut off); ``factor < 1``
    zooms out (the image shrinks, surrounded by ``fill``). Sampling as :func:`rotate`.

    Args:
        images: one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, ``uint8`` or ``float32``.
        factor: > 0: a number, or one per image.
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill: the value outside the scaled image.

    >>> zoom(np.arange(9, dtype=np.float32).reshape(3, 3, 1), 0.5)[..., 0]
    array([[0., 0., 0.],
           [0., 4., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    op = "zoom"
    batch, single = as_batch(images, op)
    scale = per_image(factor, batch.shape[0], "factor", op)
    if (scale <= 0).any():
        raise InvalidArgumentError(f"{op}: factor must be > 0, got {factor!r}")
    inverse = 1.0 / scale
    zero = np.zeros_like(inverse)
    matrices = np.stack([np.stack([inverse, zero], -1), np.stack([zero, inverse], -1)], 1)
    return restore(_sample(batch, matrices, interpolation, fill, op), single)


def random_zoom(
    images: Any,
    lower: float,
    upper: float,
    *,
    rng: np.random.Generator,
    interpolation: str = "bilinear",
    fill: float = 0,
) -> np.ndarray:
    """Zoom each image by a random factor in ``[lower, upper)``, ``0 < lower <= upper``.

    Draws, for N images: ``factor = rng.uniform(lower, upper, size=N)``; the result is
    ``zoom(images, factor, interpolation, fill)``.
    """
    op = "random_zoom"
    batch, single = as_batch(images, op)
    low = check_number(lower, "lower", op)
    high = check_number(upper, "upper", op)
    if not 0 < low <= high:
        raise InvalidArgumentError(f"{op}: need 0 < lower <= upper, got lower={low}, upper={high}")
    factor = check_rng(rng, op).uniform(low, high, size=batch.shape[0])
    return restore(zoom(batch, factor, interpolation, fill), single)
