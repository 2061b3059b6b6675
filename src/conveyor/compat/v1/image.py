"""``tf.image``: graph nodes over :mod:`conveyor.image` and conveyor's image codecs.

The random ops take TensorFlow's ``seed=`` (with the graph seed, as TensorFlow's rule)
and draw from a generator owned by the session. A 4-D batch gets one draw per image,
as :mod:`conveyor.image` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor.compat.v1._dtypes import TensorShape, as_dtype
from conveyor.compat.v1._graph import RunContext, Tensor, convert_to_tensor, make_op
from conveyor.compat.v1._missing import missing_names
from conveyor.compat.v1._ops import random_crop as _random_crop, random_op
from conveyor.compat.v1._vectorize import Unbatchable, per_image

__all__ = [
    "random_flip_left_right",
    "random_flip_up_down",
    "random_brightness",
    "random_contrast",
    "random_saturation",
    "random_hue",
    "flip_left_right",
    "flip_up_down",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "per_image_standardization",
    "resize_image_with_crop_or_pad",
    "resize_with_crop_or_pad",
    "central_crop",
    "random_crop",
    "decode_jpeg",
    "decode_png",
    "decode_image",
    "encode_png",
    "encode_jpeg",
]


def _image(image: Any) -> Tensor:
    t = convert_to_tensor(image, name="image")
    if t.shape.ndims is not None and t.shape.ndims not in (3, 4):
        raise ValueError(f"'image' (shape {t.shape}) must be at least three-dimensional.")
    return t


def _cv() -> Any:
    from conveyor import image as cv_image

    return cv_image


def _same(op_type: str, image: Any, fn: Any, name: str | None = None, dtype: Any = None) -> Tensor:
    t = _image(image)
    op = make_op(op_type, [t], lambda run, v: fn(v[0]), [(dtype or t.dtype, t.shape)], name=name)
    op._batch = per_image(op._compute)
    return op.outputs[0]


def _per_image_draws(fn: Any) -> Any:
    def block(rng: Any, images: Any) -> Any:
        if np.ndim(images) != 4:
            raise Unbatchable()
        return fn(rng, images)

    return block


def _random(op_type: str, image: Any, fn: Any, seed: int | None) -> Tensor:
    t = _image(image)
    op = random_op(op_type, [t], fn, [(t.dtype, t.shape)], seed, batch_fn=_per_image_draws(fn))
    return op.outputs[0]


def _fusable(t: Tensor, what: tuple[Any, ...]) -> Tensor:
    """Mark ``t``'s op as a step conveyor's fused recipes implement (see ``_vectorize``)."""
    t.op._fuse = what  # type: ignore[attr-defined]
    return t


def _per_image_op(op_type: str, inputs: list[Any], compute: Any, outputs: list[Any]) -> Any:
    op = make_op(op_type, inputs, compute, outputs)
    op._batch = per_image(compute)
    return op


def random_flip_left_right(image: Any, seed: int | None = None) -> Tensor:
    """Flip left-right with probability 1/2 (``tf.image.random_flip_left_right``)."""
    return _fusable(
        _random(
            "RandomFlipLeftRight",
            image,
            lambda rng, x: _cv().random_flip_left_right(x, rng=rng),
            seed,
        ),
        ("flip_left_right",),
    )


def random_flip_up_down(image: Any, seed: int | None = None) -> Tensor:
    """Flip up-down with probability 1/2 (``tf.image.random_flip_up_down``)."""
    return _random(
        "RandomFlipUpDown", image, lambda rng, x: _cv().random_flip_up_down(x, rng=rng), seed
    )


def random_brightness(image: Any, max_delta: float, seed: int | None = None) -> Tensor:
    """Add a delta drawn from ``[-max_delta, max_delta]`` (``tf.image.random_brightness``).

    Raises:
        ValueError: ``max_delta`` < 0.
    """
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    return _fusable(
        _random(
            "RandomBrightness",
            image,
            lambda rng, x: _cv().random_brightness(x, max_delta, rng=rng),
            seed,
        ),
        ("brightness", float(max_delta)),
    )


def _check_range(lower: float, upper: float) -> None:
    if upper <= lower:
        raise ValueError("upper must be > lower.")
    if lower < 0:
        raise ValueError("lower must be non-negative.")


def random_contrast(image: Any, lower: float, upper: float, seed: int | None = None) -> Tensor:
    """Scale contrast by a factor from ``[lower, upper]`` (``tf.image.random_contrast``).

    Raises:
        ValueError: ``upper <= lower`` or ``lower < 0``.
    """
    _check_range(lower, upper)
    return _fusable(
        _random(
            "RandomContrast",
            image,
            lambda rng, x: _cv().random_contrast(x, lower, upper, rng=rng),
            seed,
        ),
        ("contrast", float(lower), float(upper)),
    )


def random_saturation(image: Any, lower: float, upper: float, seed: int | None = None) -> Tensor:
    """Scale saturation by a factor from ``[lower, upper]`` (``tf.image.random_saturation``)."""
    _check_range(lower, upper)
    return _random(
        "RandomSaturation",
        image,
        lambda rng, x: _cv().random_saturation(x, lower, upper, rng=rng),
        seed,
    )


def random_hue(image: Any, max_delta: float, seed: int | None = None) -> Tensor:
    """Shift hue by a delta from ``[-max_delta, max_delta]`` (``tf.image.random_hue``).

    Raises:
        ValueError: ``max_delta`` is not in ``[0, 0.5]``.
    """
    if max_delta > 0.5:
        raise ValueError("max_delta must be <= 0.5.")
    if max_delta < 0:
        raise ValueError("max_delta must be non-negative.")
    return _random("RandomHue", image, lambda rng, x: _cv().random_hue(x, max_delta, rng=rng), seed)


def flip_left_right(image: Any) -> Tensor:
    return _same("ReverseV2", image, lambda x: _cv().flip_left_right(x))


def flip_up_down(image: Any) -> Tensor:
    return _same("ReverseV2", image, lambda x: _cv().flip_up_down(x))


def adjust_brightness(image: Any, delta: float) -> Tensor:
    return _same("AdjustBrightness", image, lambda x: _cv().adjust_brightness(x, delta))


def adjust_contrast(images: Any, contrast_factor: float) -> Tensor:
    return _same("AdjustContrastv2", images, lambda x: _cv().adjust_contrast(x, contrast_factor))


def adjust_saturation(image: Any, saturation_factor: float, name: str | None = None) -> Tensor:
    return _same("AdjustSaturation", image, lambda x: _cv().adjust_saturation(x, saturation_factor))


def adjust_hue(image: Any, delta: float, name: str | None = None) -> Tensor:
    return _same("AdjustHue", image, lambda x: _cv().adjust_hue(x, delta))


def per_image_standardization(image: Any) -> Tensor:
    """Scale each image to mean 0 and variance 1 (``tf.image.per_image_standardization``);
    float32."""
    return _fusable(
        _same(
            "PerImageStandardization",
            image,
            lambda x: _cv().per_image_standardization(x),
            dtype="float32",
        ),
        ("standardize",),
    )


def resize_image_with_crop_or_pad(image: Any, target_height: int, target_width: int) -> Tensor:
    """Crop or pad to ``target_height`` by ``target_width``, centred
    (``tf.image.resize_image_with_crop_or_pad``)."""
    if target_height <= 0:
        raise ValueError("target_height must be > 0.")
    if target_width <= 0:
        raise ValueError("target_width must be > 0.")
    t = _image(image)
    dims = t.shape.as_list() if t.shape.ndims is not None else [None, None, None]
    shape = TensorShape([*dims[:-3], target_height, target_width, dims[-1]])
    return _fusable(
        _per_image_op(
            "ResizeWithCropOrPad",
            [t],
            lambda run, v: _cv().resize_with_crop_or_pad(v[0], target_height, target_width),
            [(t.dtype, shape)],
        ).outputs[0],
        ("crop_or_pad", int(target_height), int(target_width)),
    )


resize_with_crop_or_pad = resize_image_with_crop_or_pad


def central_crop(image: Any, central_fraction: float) -> Tensor:
    """The central ``central_fraction`` of the image (``tf.image.central_crop``).

    Raises:
        ValueError: ``central_fraction`` is not in ``(0, 1]``.
    """
    if central_fraction <= 0.0 or central_fraction > 1.0:
        raise ValueError("central_fraction must be within (0, 1]")
    t = _image(image)
    shape = TensorShape(None)
    if t.shape.is_fully_defined():
        probe = _cv().central_crop(
            np.zeros([int(d or 0) for d in t.shape.as_list()], np.uint8), central_fraction
        )
        shape = TensorShape(probe.shape)
    elif t.shape.ndims is not None:
        shape = TensorShape([*t.shape.as_list()[:-3], None, None, t.shape.as_list()[-1]])
    return _per_image_op(
        "CentralCrop",
        [t],
        lambda run, v: _cv().central_crop(v[0], central_fraction),
        [(t.dtype, shape)],
    ).outputs[0]


def random_crop(value: Any, size: Any, seed: int | None = None, name: str | None = None) -> Tensor:
    """As ``tf.random_crop``."""
    return _random_crop(value, size, seed=seed, name=name)


def _decoder(
    op_type: str, contents: Any, fn: Any, dtype: Any, shape: Any, name: str | None
) -> Tensor:
    t = convert_to_tensor(contents, dtype="string")

    def compute(run: RunContext, v: list[Any]) -> Any:
        return fn(np.asarray(v[0], dtype=object).reshape(()).item())

    return make_op(op_type, [t], compute, [(dtype, shape)], name=name).outputs[0]


def decode_jpeg(
    contents: Any,
    channels: int = 0,
    ratio: int = 1,
    fancy_upscaling: bool = True,
    try_recover_truncated: bool = False,
    acceptable_fraction: float = 1,
    dct_method: str = "",
    name: str | None = None,
) -> Tensor:
    """Decode a JPEG into a uint8 ``[h, w, c]`` tensor (``tf.image.decode_jpeg``)."""
    from conveyor.ops.image_codecs import decode_jpeg as _decode

    return _decoder(
        "DecodeJpeg",
        contents,
        lambda data: _decode(
            data,
            channels,
            ratio,
            fancy_upscaling,
            try_recover_truncated,
            acceptable_fraction,
            dct_method,
        ),
        "uint8",
        [None, None, channels or None],
        name,
    )


def decode_png(
    contents: Any, channels: int = 0, dtype: Any = "uint8", name: str | None = None
) -> Tensor:
    """Decode a PNG into a uint8 or uint16 ``[h, w, c]`` tensor (``tf.image.decode_png``)."""
    from conveyor.ops.image_codecs import decode_png as _decode

    dt = as_dtype(dtype)
    return _decoder(
        "DecodePng",
        contents,
        lambda data: _decode(data, channels, np.dtype(dt.as_numpy_dtype)),
        dt,
        [None, None, channels or None],
        name,
    )


def decode_image(
    contents: Any,
    channels: int | None = None,
    dtype: Any = "uint8",
    name: str | None = None,
    expand_animations: bool = True,
) -> Tensor:
    """Decode a BMP, GIF, JPEG or PNG (``tf.image.decode_image``)."""
    from conveyor.ops.image_codecs import decode_image as _decode

    dt = as_dtype(dtype)
    shape = None if expand_animations else [None, None, channels or None]
    return _decoder(
        "DecodeImage",
        contents,
        lambda data: _decode(
            data, channels, np.dtype(dt.as_numpy_dtype), expand_animations=expand_animations
        ),
        dt,
        shape,
        name,
    )


def _encoder(op_type: str, image: Any, fn: Any, name: str | None) -> Tensor:
    t = convert_to_tensor(image)

    def compute(run: RunContext, v: list[Any]) -> Any:
        out = np.empty((), dtype=object)
        out[()] = fn(np.asarray(v[0]))
        return out

    return make_op(op_type, [t], compute, [("string", [])], name=name).outputs[0]


def encode_png(image: Any, compression: int = -1, name: str | None = None) -> Tensor:
    """PNG-encode a ``[h, w, c]`` uint8/uint16 image (``tf.image.encode_png``)."""
    from conveyor.ops.image_codecs import encode_png as _encode

    return _encoder("EncodePng", image, lambda x: _encode(x, compression), name)


def encode_jpeg(
    image: Any,
    format: str = "",
    quality: int = 95,
    progressive: bool = False,
    optimize_size: bool = False,
    chroma_downsampling: bool = True,
    density_unit: str = "in",
    x_density: int = 300,
    y_density: int = 300,
    xmp_metadata: str = "",
    name: str | None = None,
) -> Tensor:
    """JPEG-encode a ``[h, w, c]`` uint8 image (``tf.image.encode_jpeg``)."""
    from conveyor.ops.image_codecs import encode_jpeg as _encode

    return _encoder(
        "EncodeJpeg",
        image,
        lambda x: _encode(
            x,
            format,
            quality,
            progressive,
            optimize_size,
            chroma_downsampling,
            density_unit,
            x_density,
            y_density,
            xmp_metadata,
        ),
        name,
    )


__getattr__ = missing_names(__name__, "tf.image", "conveyor.image, whose ops take NumPy batches")
