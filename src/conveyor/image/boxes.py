"""Box-aware geometric ops: an image and its bounding boxes, transformed together.

**The box format.** Boxes are a ``(k, 4)`` ``float32`` array of ``[x0, y0, x1, y1]`` in
absolute pixels of the image they belong to, ``k >= 0``. Pixel ``(row i, column j)``
covers the square ``[j, j + 1) x [i, i + 1)``, so a box with integer corners covers the
pixels ``image[y0:y1, x0:x1]``, and the whole image is ``[0, 0, W, H]``. COCO stores
``[x, y, width, height]``; :func:`xywh_to_xyxy` converts (the COCO reader does it on
read), :func:`xyxy_to_xywh` converts back (for a prediction file).

**One image at a time.** Each op takes one image ``(H, W, C)`` (``uint8`` or ``float32``,
any number of channels) and its boxes, and returns new arrays; the inputs are never
written. Images in a detection stream differ in size and box count, so the ops run per
element: ``pipe.map(augment, rng=True)`` without ``batched``. Photometric ops do not move
pixels: apply the ``conveyor.image`` ops to the image alone.

**Every geometric op moves the boxes exactly as it moves the pixels**: a box drawn as a
filled rectangle into a mask, transformed with the image, is the rectangle of the
transformed box (``tests/image/test_boxes.py`` checks it for every op).

**Ops that may drop boxes** (the crops) also return ``keep``, the ``int64`` indices of
the boxes that remain, in order: index every per-box array with it
(``labels = labels[keep]``).

**Random ops** take a keyword-only ``rng`` and make the documented draws, then call
their deterministic form, as the ``conveyor.image`` ops do; ``random_flip_left_right``
makes exactly the draw of ``conveyor.image.random_flip_left_right`` for one image, so
the two flip the same images for generators in the same state.

    >>> import numpy as np
    >>> image = np.zeros((4, 6, 3), np.uint8)
    >>> boxes = np.array([[1, 0, 3, 2]], np.float32)
    >>> flip_left_right(image, boxes)[1].tolist()
    [[3.0, 0.0, 5.0, 2.0]]
    >>> resize(image, boxes, (8, 12), method="nearest")[1].tolist()
    [[2.0, 0.0, 6.0, 4.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError
from conveyor.image import _kernels, geometry
from conveyor.image._checks import as_batch, check_int, check_number, check_rng

__all__ = [
    "area",
    "clip",
    "crop_to_bounding_box",
    "draw_boxes",
    "flip_left_right",
    "flip_up_down",
    "letterbox",
    "letterbox_geometry",
    "pad_to_bounding_box",
    "random_crop",
    "random_flip_left_right",
    "random_flip_up_down",
    "resize",
    "sample_distorted_bounding_box",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]

_MIN_AREA = 1.0  # TensorFlow's kMinArea: boxes (and crops) under one pixel do not count


# -- arguments --------------------------------------------------------------------------


def _image(image: Any, op: str) -> np.ndarray:
    batch, single = as_batch(image, op, "image")
    if not single:
        raise InvalidArgumentError(
            f"{op}: takes one image (H, W, C) and its boxes, got a batch of shape "
            f"{batch.shape}; map the op over the elements"
        )
    return batch[0]


def _boxes(boxes: Any, op: str) -> np.ndarray:
    array = np.asarray(boxes)
    if array.ndim != 2 or array.shape[1] != 4:
        if array.size == 0 and array.ndim <= 2:
            return np.zeros((0, 4), np.float32)
        raise InvalidArgumentError(
            f"{op}: boxes must have shape (k, 4) ([x0, y0, x1, y1] per row), got {array.shape}"
        )
    if array.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"{op}: boxes must be numbers, got dtype {array.dtype}")
    return array.astype(np.float32)


def _size(size: Any, op: str) -> tuple[int, int]:
    if isinstance(size, int | np.integer) or len(size) != 2:
        raise InvalidArgumentError(f"{op}: size must be (height, width), got {size!r}")
    return check_int(size[0], "size", op, low=1), check_int(size[1], "size", op, low=1)


def _range(value: Any, name: str, op: str, low: float, high: float | None) -> tuple[float, float]:
    if isinstance(value, int | float) or len(value) != 2:
        raise InvalidArgumentError(f"{op}: {name} must be a pair (lower, upper), got {value!r}")
    lo = check_number(value[0], name, op)
    hi = check_number(value[1], name, op)
    if not (low < lo <= hi) or (high is not None and hi > high):
        bound = f"{low} < lower <= upper" + (f" <= {high}" if high is not None else "")
        raise InvalidArgumentError(f"{op}: {name} must satisfy {bound}, got {value!r}")
    return lo, hi


# -- conversions and measures -----------------------------------------------------------


def xywh_to_xyxy(boxes: Any) -> np.ndarray:
    """COCO's ``[x, y, width, height]`` boxes as ``[x0, y0, x1, y1]`` (``float32``).

    >>> xywh_to_xyxy([[10, 20, 5, 4]]).tolist()
    [[10.0, 20.0, 15.0, 24.0]]
    """
    b = _boxes(boxes, "xywh_to_xyxy")
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_xywh(boxes: Any) -> np.ndarray:
    """``[x0, y0, x1, y1]`` boxes as COCO's ``[x, y, width, height]`` (``float32``).

    >>> xyxy_to_xywh([[10, 20, 15, 24]]).tolist()
    [[10.0, 20.0, 5.0, 4.0]]
    """
    b = _boxes(boxes, "xyxy_to_xywh")
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def area(boxes: Any) -> np.ndarray:
    """Each box's area, 0 for an empty or inverted one (``float32``, shape ``(k,)``)."""
    return _area(_boxes(boxes, "area"))


def _area(b: np.ndarray) -> np.ndarray:
    # checked float32 boxes (the ops call this, not area, on what they checked already)
    return np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)


def clip(boxes: Any, height: int, width: int) -> np.ndarray:
    """Boxes clipped to the image ``[0, 0, width, height]`` (``float32``).

    Raises:
        InvalidArgumentError: boxes not ``(k, 4)`` numbers, or ``height`` / ``width``
            not ints >= 0.
    """
    height = check_int(height, "height", "clip")
    width = check_int(width, "width", "clip")
    return _clip(_boxes(boxes, "clip"), height, width)


def _clip(b: np.ndarray, height: int, width: int) -> np.ndarray:
    # checked float32 boxes, clipped into a new array
    out = b.copy()
    out[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    out[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    return out


# -- flips ------------------------------------------------------------------------------


def flip_left_right(image: Any, boxes: Any, flip: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mirror the width axis: ``x -> W - x`` (so ``[x0, y0, x1, y1]`` becomes
    ``[W - x1, y0, W - x0, y1]``).

    Returns:
        ``(image, boxes)``: new arrays, or copies of the inputs when ``flip`` is false.
    """
    op = "flip_left_right"
    img = _image(image, op)
    b = _boxes(boxes, op)
    if not flip:
        return img.copy(), b
    width = img.shape[1]
    out = np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], axis=1)
    return geometry.flip_left_right(img), out.astype(np.float32)


def flip_up_down(image: Any, boxes: Any, flip: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mirror the height axis: ``y -> H - y``; ``flip`` as :func:`flip_left_right`."""
    op = "flip_up_down"
    img = _image(image, op)
    b = _boxes(boxes, op)
    if not flip:
        return img.copy(), b
    height = img.shape[0]
    out = np.stack([b[:, 0], height - b[:, 3], b[:, 2], height - b[:, 1]], axis=1)
    return geometry.flip_up_down(img), out.astype(np.float32)


def random_flip_left_right(
    image: Any, boxes: Any, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left to right with probability 1/2.

    Draws: ``flip = rng.random(1)[0] < 0.5`` (the draw of
    ``conveyor.image.random_flip_left_right`` for one image); then
    ``flip_left_right(image, boxes, flip)``.
    """
    flip = bool(check_rng(rng, "random_flip_left_right").random(1)[0] < 0.5)
    return flip_left_right(image, boxes, flip)


def random_flip_up_down(
    image: Any, boxes: Any, *, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror upside down with probability 1/2.

    Draws: ``flip = rng.random(1)[0] < 0.5``; then ``flip_up_down(image, boxes, flip)``.
    """
    flip = bool(check_rng(rng, "random_flip_up_down").random(1)[0] < 0.5)
    return flip_up_down(image, boxes, flip)


# -- crops ------------------------------------------------------------------------------


def crop_to_bounding_box(
    image: Any,
    boxes: Any,
    offset_height: int,
    offset_width: int,
    target_height: int,
    target_width: int,
    min_visible: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop the window at ``(offset_height, offset_width)`` of the given size; boxes are
    shifted by the offset and clipped to the window.

    A box is kept when its clipped part has a positive width and height and at least
    ``min_visible`` of its area (the rule of the TensorFlow Object Detection API's
    ``random_crop_image``, ``overlap_thresh``); ``min_visible=0`` keeps every box that
    still shows a sliver.

    Returns:
        ``(image, boxes, keep)``: the window, the kept boxes clipped, and their indices.

    Raises:
        InvalidArgumentError: a window that does not fit in the image (as
            ``conveyor.image.crop_to_bounding_box``), or ``min_visible`` outside [0, 1].
    """
    op = "crop_to_bounding_box"
    img = _image(image, op)
    b = _boxes(boxes, op)
    visible = check_number(min_visible, "min_visible", op, low=0.0)
    if visible > 1:
        raise InvalidArgumentError(f"{op}: min_visible must be in [0, 1], got {min_visible!r}")
    out = geometry.crop_to_bounding_box(
        img, offset_height, offset_width, target_height, target_width
    )
    th, tw = out.shape[:2]
    shifted = b - np.array([offset_width, offset_height, offset_width, offset_height], np.float32)
    clipped = _clip(shifted, th, tw)
    before = _area(b)
    after = _area(clipped)
    ok = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    ok &= after >= np.float32(visible) * before
    keep = np.flatnonzero(ok).astype(np.int64)
    return out, clipped[keep], keep


def sample_distorted_bounding_box(
    image_shape: Sequence[int],
    boxes: Any,
    *,
    rng: np.random.Generator,
    min_object_covered: float = 0.1,
    aspect_ratio_range: Sequence[float] = (0.75, 1.33),
    area_range: Sequence[float] = (0.05, 1.0),
    max_attempts: int = 100,
) -> tuple[int, int, int, int]:
    """A random crop window that covers enough of some box, as
    ``tf.image.sample_distorted_bounding_box`` (the SSD crop).

    TensorFlow's algorithm: each attempt draws an aspect ratio (width / height) from
    ``aspect_ratio_range`` and a height for which the window's area is within
    ``area_range`` of the image's and its width ``round(ratio * height)`` fits; the
    window is placed uniformly at random. It is accepted when it covers at least
    ``min_object_covered`` of the area of *any one* box (boxes under one pixel of area
    do not count; without boxes, the whole image is the box). After ``max_attempts``
    failures the window is the whole image. Unlike TensorFlow's op, boxes are absolute
    ``[x0, y0, x1, y1]`` used as they are (TensorFlow truncates its normalised boxes to
    whole pixels first), and the arithmetic is float64.

    Draws, per attempt, in order (NumPy's generator, not TensorFlow's Philox):
    ``ratio = lo + (hi - lo) * rng.random()``; then, when the smallest admissible height
    ``h_min`` is below the largest ``h_max``, ``h = h_min + rng.integers(0, h_max - h_min + 1)``;
    then, if the window passes the area checks, ``y = rng.integers(0, H - h)`` when
    ``h < H`` and ``x = rng.integers(0, W - w)`` when ``w < W`` (TensorFlow's
    ``Uniform(H - h)``: the last offset is never drawn). An attempt that fails the area
    checks draws no offsets.

    Returns:
        ``(offset_height, offset_width, target_height, target_width)`` for
        :func:`crop_to_bounding_box`.

    Raises:
        InvalidArgumentError: ranges out of order, ``area_range`` outside (0, 1],
            ``min_object_covered < 0``, ``max_attempts < 1``.
    """
    op = "sample_distorted_bounding_box"
    gen = check_rng(rng, op)
    if len(image_shape) < 2:
        raise InvalidArgumentError(f"{op}: image_shape must be (H, W[, C]), got {image_shape!r}")
    height = check_int(image_shape[0], "image_shape", op, low=1)
    width = check_int(image_shape[1], "image_shape", op, low=1)
    b = _boxes(boxes, op)
    covered = check_number(min_object_covered, "min_object_covered", op, low=0.0)
    ar_lo, ar_hi = _range(aspect_ratio_range, "aspect_ratio_range", op, 0.0, None)
    area_lo, area_hi = _range(area_range, "area_range", op, 0.0, 1.0)
    attempts = check_int(max_attempts, "max_attempts", op, low=1)
    areas = _area(b).astype(np.float64)
    counted = b[areas >= _MIN_AREA].astype(np.float64).tolist()
    if not counted:
        counted = [[0.0, 0.0, float(width), float(height)]]
    # A few boxes an image: Python floats (float64, as NumPy's would be) cost less than
    # NumPy calls on arrays of four.
    targets = [(x0, y0, x1, y1, (x1 - x0) * (y1 - y0)) for x0, y0, x1, y1 in counted]
    for _ in range(attempts):
        ratio = ar_lo + (ar_hi - ar_lo) * gen.random()
        window = _random_window(height, width, area_lo, area_hi, ratio, gen)
        if window is None:
            continue
        y, x, h, w = window
        for x0, y0, x1, y1, whole in targets:
            ix = max(min(x1, x + w) - max(x0, x), 0.0)
            iy = max(min(y1, y + h) - max(y0, y), 0.0)
            if ix * iy / whole >= covered:
                return y, x, h, w
    return 0, 0, height, width


def _random_window(
    height: int, width: int, area_lo: float, area_hi: float, ratio: float, gen: np.random.Generator
) -> tuple[int, int, int, int] | None:
    """TensorFlow's GenerateRandomCrop, drawing from ``gen``: ``(y, x, h, w)`` or None."""
    min_area = area_lo * width * height
    max_area = area_hi * width * height
    h = round(math.sqrt(min_area / ratio))
    max_h = round(math.sqrt(max_area / ratio))
    if round(max_h * ratio) > width:
        max_h = int((width + 0.5 - 1e-7) / ratio)
        if round(max_h * ratio) > width:
            max_h -= 1
    max_h = min(max_h, height)
    h = min(h, max_h)
    if h < max_h:
        h += int(gen.integers(0, max_h - h + 1))
    w = round(h * ratio)
    a = float(w * h)
    if a < min_area:
        h += 1
        w = round(h * ratio)
        a = float(w * h)
    if a > max_area:
        h -= 1
        w = round(h * ratio)
        a = float(w * h)
    if a < min_area or a > max_area or w > width or h > height or w <= 0 or h <= 0:
        return None
    y = int(gen.integers(0, height - h)) if h < height else 0
    x = int(gen.integers(0, width - w)) if w < width else 0
    return y, x, h, w


def random_crop(
    image: Any,
    boxes: Any,
    *,
    rng: np.random.Generator,
    min_object_covered: float = 0.1,
    aspect_ratio_range: Sequence[float] = (0.75, 1.33),
    area_range: Sequence[float] = (0.05, 1.0),
    max_attempts: int = 100,
    min_visible: float = 0.3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The SSD crop: a window from :func:`sample_distorted_bounding_box`, then
    :func:`crop_to_bounding_box` with ``min_visible``.

    Draws: those of :func:`sample_distorted_bounding_box` (and nothing else).

    Returns:
        ``(image, boxes, keep)`` as :func:`crop_to_bounding_box`.
    """
    img = _image(image, "random_crop")
    y, x, h, w = sample_distorted_bounding_box(
        img.shape,
        boxes,
        rng=rng,
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
    )
    return crop_to_bounding_box(img, boxes, y, x, h, w, min_visible=min_visible)


# -- resizing and padding ---------------------------------------------------------------


def resize(
    image: Any, boxes: Any, size: Sequence[int], method: str = "bilinear"
) -> tuple[np.ndarray, np.ndarray]:
    """Resize to ``size = (height, width)`` with ``conveyor.image.resize`` (so
    ``"bilinear"`` returns ``float32``); boxes scale by ``width / W`` and ``height / H``.
    """
    op = "resize"
    img = _image(image, op)
    b = _boxes(boxes, op)
    th, tw = _size(size, op)
    height, width = img.shape[:2]
    scale = np.array([tw / width, th / height, tw / width, th / height], np.float64)
    return _resize_image(img, th, tw, method), (b * scale).astype(np.float32)


def _resize_image(img: np.ndarray, th: int, tw: int, method: str) -> np.ndarray:
    """``conveyor.image.resize`` of one image; bilinear through the compiled kernel
    (the same bits, without the GIL) when numba is there."""
    if method != "bilinear" or not _kernels.AVAILABLE or (th, tw) == img.shape[:2]:
        return geometry.resize(img, (th, tw), method)
    y0, y1, wy = geometry._bilinear_weights(img.shape[0], th)
    x0, x1, wx = geometry._bilinear_weights(img.shape[1], tw)
    out = np.empty((th, tw, img.shape[2]), np.float32)
    _kernels.resize_bilinear(img, y0, y1, wy, x0, x1, wx, out)
    return out


def letterbox_geometry(height: int, width: int, size: Sequence[int]) -> tuple[int, int, int, int]:
    """Where :func:`letterbox` puts an ``height x width`` image in ``size``.

    The scale is ``s = min(th / height, tw / width)``; the image becomes
    ``nh = max(1, round(height * s))`` by ``nw = max(1, round(width * s))`` pixels,
    placed at ``top = (th - nh) // 2``, ``left = (tw - nw) // 2``. A box maps as
    ``x -> x * nw / width + left``, ``y -> y * nh / height + top``; invert that to take
    predictions back to the original image.

    Returns:
        ``(nh, nw, top, left)``.

    >>> letterbox_geometry(50, 100, (128, 128))
    (64, 128, 32, 0)
    """
    op = "letterbox_geometry"
    th, tw = _size(size, op)
    height = check_int(height, "height", op, low=1)
    width = check_int(width, "width", op, low=1)
    s = min(th / height, tw / width)
    nh = min(th, max(1, round(height * s)))
    nw = min(tw, max(1, round(width * s)))
    return nh, nw, (th - nh) // 2, (tw - nw) // 2


def letterbox(
    image: Any,
    boxes: Any,
    size: Sequence[int],
    method: str = "bilinear",
    fill: float = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Resize keeping the aspect ratio to fit ``size``, centred on a ``fill`` background
    (:func:`letterbox_geometry` gives the placement); boxes scaled and shifted with it.

    The output dtype is :func:`resize`'s (``float32`` for ``"bilinear"``).
    """
    op = "letterbox"
    img = _image(image, op)
    b = _boxes(boxes, op)
    th, tw = _size(size, op)
    height, width = img.shape[:2]
    nh, nw, top, left = letterbox_geometry(height, width, (th, tw))
    scaled, sb = resize(img, b, (nh, nw), method)  # checks method
    out = np.full((th, tw, img.shape[2]), fill, scaled.dtype)
    out[top : top + nh, left : left + nw] = scaled
    sb = sb + np.array([left, top, left, top], np.float32)
    return out, sb


def pad_to_bounding_box(
    image: Any,
    boxes: Any,
    offset_height: int,
    offset_width: int,
    target_height: int,
    target_width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad to ``target_height x target_width`` with the image at
    ``(offset_height, offset_width)`` (``conveyor.image.pad_to_bounding_box``); boxes
    shift by the offset. Padding to a size is ``pad_to_bounding_box(img, b, 0, 0, h, w)``:
    the boxes stay where they are.
    """
    op = "pad_to_bounding_box"
    img = _image(image, op)
    b = _boxes(boxes, op)
    out = geometry.pad_to_bounding_box(
        img, offset_height, offset_width, target_height, target_width
    )
    shift = np.array([offset_width, offset_height, offset_width, offset_height], np.float32)
    return out, b + shift


# -- drawing ----------------------------------------------------------------------------


def draw_boxes(
    image: Any,
    boxes: Any,
    color: Sequence[int] | np.ndarray = (255, 0, 0),
    thickness: int = 1,
) -> np.ndarray:
    """A copy of ``image`` with each box's outline drawn, ``thickness`` pixels inside
    its edges (corners rounded to whole pixels, clipped to the image).

    Args:
        image: ``(H, W, C)`` ``uint8`` or ``float32``.
        boxes: ``(k, 4)`` ``[x0, y0, x1, y1]``.
        color: C values, or a ``(k, C)`` array: one colour per box.
        thickness: the outline's width in pixels, >= 1.

    >>> draw_boxes(np.zeros((4, 4, 1), np.uint8), [[0, 0, 3, 3]], color=[1])[..., 0].tolist()
    [[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    """
    op = "draw_boxes"
    img = _image(image, op).copy()
    b = _boxes(boxes, op)
    t = check_int(thickness, "thickness", op, low=1)
    height, width, channels = img.shape
    colors = np.asarray(color, img.dtype)
    if colors.ndim == 1:
        colors = np.broadcast_to(colors, (len(b), colors.shape[0]))
    if colors.shape != (len(b), channels):
        raise InvalidArgumentError(
            f"{op}: color must have {channels} values or shape ({len(b)}, {channels}), "
            f"got shape {np.asarray(color).shape}"
        )
    for (x0, y0, x1, y1), c in zip(np.rint(clip(b, height, width)).astype(int), colors):
        if x1 <= x0 or y1 <= y0:
            continue
        img[y0 : min(y0 + t, y1), x0:x1] = c
        img[max(y1 - t, y0) : y1, x0:x1] = c
        img[y0:y1, x0 : min(x0 + t, x1)] = c
        img[y0:y1, max(x1 - t, x0) : x1] = c
    return img
