"""Image decoding and encoding with TensorFlow's ``tf.io`` semantics.

Arrays are ``HWC`` (``height, width, channels``); GIF animations are ``NHWC``. The
``channels`` argument means what it means in TensorFlow: ``0`` keeps the channels the
file stores, ``1`` asks for grayscale, ``3`` for RGB and ``4`` for RGBA.

JPEG goes through `simplejpeg <https://gitlab.com/jfolz/simplejpeg>`_, which embeds
libjpeg-turbo (TensorFlow's JPEG library) and decodes without holding the GIL, so decoding
threads run in parallel. Its settings are chosen to give TensorFlow's pixels exactly:
TensorFlow's default ``dct_method`` is libjpeg's fast integer IDCT, with fancy upsampling.
PNG, GIF and BMP go through Pillow, whose decoders also release the GIL; 16-bit PNG
samples are kept whole. Both come with ``pip install "conveyor[image]"`` and are imported
on first use: without them the codecs raise an :class:`ImportError` that says so.

Every failure on bad input raises :class:`~conveyor.core.errors.InvalidArgumentError`,
never a codec's own exception.

    >>> image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    >>> decode_png(encode_png(image)).tolist() == image.tolist()
    True
    >>> decode_image(encode_png(image), channels=1).shape
    (2, 3, 1)
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np

from conveyor._optional import require
from conveyor.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "decode_bmp",
    "decode_gif",
    "decode_image",
    "decode_jpeg",
    "decode_png",
    "encode_jpeg",
    "encode_png",
    "extract_jpeg_shape",
    "is_jpeg",
]

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_GIF_MAGIC = b"GIF8"
_BMP_MAGIC = b"BM"
_UNKNOWN_FORMAT = "Unknown image file format. One of JPEG, PNG, GIF, BMP required."

# libpng's fixed-point RGB→gray weights as TensorFlow sets them (0.299, 0.587): the
# coefficients are truncated to 1/32768 units and blue takes the remainder.
_GRAY_RED = 29900 * 32768 // 100000
_GRAY_GREEN = 58700 * 32768 // 100000
_GRAY_BLUE = 32768 - _GRAY_RED - _GRAY_GREEN

# What the codecs raise on bad input (Pillow's UnidentifiedImageError is an OSError).
_CODEC_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    MemoryError,
)


def _simplejpeg(feature: str) -> Any:
    """simplejpeg, imported on first use (``conveyor[image]``)."""
    return require("simplejpeg", feature)


def _pillow(feature: str) -> Any:
    """Pillow's ``PIL.Image``, imported on first use (``conveyor[image]``)."""
    return require("PIL.Image", feature)


def _pillow_errors(pil: Any) -> tuple[type[BaseException], ...]:
    # Images that Pillow refuses as decompression bombs are still bad input, not a crash.
    return (*_CODEC_ERRORS, pil.DecompressionBombError)


def _contents(contents: Any) -> bytes:
    if isinstance(contents, bytes):
        return contents
    if isinstance(contents, bytearray | memoryview | np.bytes_):
        return bytes(contents)
    if isinstance(contents, np.ndarray) and contents.ndim == 0:
        return _contents(contents.item())
    raise InvalidArgumentError(
        f"contents must be the encoded image as bytes, got {type(contents).__name__}"
    )


def _sniff(data: bytes) -> str | None:
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data.startswith(_GIF_MAGIC):
        return "gif"
    if data.startswith(_BMP_MAGIC):
        return "bmp"
    return None


def _check_channels(channels: int, allowed: tuple[int, ...] = (0, 1, 3, 4)) -> int:
    channels = int(channels)
    if channels not in allowed:
        raise InvalidArgumentError(
            f"`channels` must be {', '.join(map(str, allowed[:-1]))} or {allowed[-1]} "
            f"but got {channels}"
        )
    return channels


def is_jpeg(contents: Any) -> bool:
    """Return whether ``contents`` starts like a JPEG file, as ``tf.io.is_jpeg``.

    >>> is_jpeg(b"\\xff\\xd8\\xff\\xe0"), is_jpeg(b"\\x89PNG\\r\\n\\x1a\\n")
    (True, False)
    """
    return _contents(contents).startswith(_JPEG_MAGIC)


def extract_jpeg_shape(contents: Any) -> np.ndarray:
    """Return ``[height, width, channels]`` of a JPEG without decoding its pixels.

    Args:
        contents: the JPEG file's bytes.

    Returns:
        An ``int32`` array ``[height, width, channels]`` (channels as stored: 1, 3 or 4).

    Raises:
        InvalidArgumentError: the bytes are not a readable JPEG.
    """
    data = _contents(contents)
    height, width, colorspace = _jpeg_header(data)
    return np.array([height, width, _jpeg_native_channels(colorspace)], dtype=np.int32)


def _jpeg_header(data: bytes) -> tuple[int, int, str]:
    if not data.startswith(_JPEG_MAGIC):
        raise InvalidArgumentError(_UNKNOWN_FORMAT if _sniff(data) is None else "Not a JPEG file.")
    try:
        header = _simplejpeg("decoding JPEG").decode_jpeg_header
        height, width, colorspace, _ = header(data)
    except _CODEC_ERRORS as error:
        raise InvalidArgumentError(f"jpeg::Uncompress failed. Invalid JPEG data: {error}") from None
    return height, width, colorspace


def _jpeg_native_channels(colorspace: str) -> int:
    if colorspace == "Gray":
        return 1
    if colorspace in ("CMYK", "YCCK"):
        return 4
    return 3


def _has_adobe_marker(data: bytes) -> bool:
    # libjpeg's saw_Adobe_marker: an APP14 segment (FF EE, 2-byte length) saying "Adobe".
    position = data.find(b"\xff\xee", 2)
    while position != -1:
        if data[position + 4 : position + 9] == b"Adobe":
            return True
        position = data.find(b"\xff\xee", position + 2)
    return False


def decode_jpeg(
    contents: Any,
    channels: int = 0,
    ratio: int = 1,
    fancy_upscaling: bool = True,
    try_recover_truncated: bool = False,
    acceptable_fraction: float = 1.0,
    dct_method: str = "",
    name: str | None = None,
) -> np.ndarray:
    """Decode a JPEG into a ``uint8`` ``HWC`` array, as ``tf.io.decode_jpeg``.

    Pixels equal TensorFlow's for the same arguments: the same libjpeg-turbo, the same
    IDCT (``""`` and ``"INTEGER_FAST"`` select the fast integer IDCT, TensorFlow's
    default; ``"INTEGER_ACCURATE"`` the slow accurate one) and the same upsampling. PNG
    bytes are decoded too, as TensorFlow 2 does.

    Args:
        contents: the encoded image bytes.
        channels: 0 (as stored: 1 for grayscale, 3 for colour, 4 for CMYK), 1
            (grayscale, libjpeg's luma channel) or 3 (RGB).
        ratio: downscaling factor applied while decoding: 1, 2, 4 or 8.
        fancy_upscaling: smooth chroma upsampling (libjpeg's default); ``False`` is
            faster and blockier.
        try_recover_truncated: decode what a truncated or slightly corrupt file holds
            instead of failing (libjpeg's warnings are then ignored).
        acceptable_fraction: accepted for TensorFlow compatibility; with
            ``try_recover_truncated`` any recoverable amount is accepted.
        dct_method: ``""``, ``"INTEGER_FAST"`` or ``"INTEGER_ACCURATE"``.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        A ``uint8`` array of shape ``[height, width, channels]``.

    Raises:
        InvalidArgumentError: the bytes are not a decodable JPEG (or PNG); ``channels``,
            ``ratio`` or ``dct_method`` is not a supported value.
    """
    del name, acceptable_fraction
    channels = _check_channels(channels)
    if channels == 4:
        raise InvalidArgumentError("JPEG does not support 4 channels")
    data = _contents(contents)
    kind = _sniff(data)
    if kind != "jpeg":
        return _decode_non_jpeg(kind, data, channels, np.uint8, "DecodeJpeg")
    return _decode_jpeg(data, channels, ratio, fancy_upscaling, try_recover_truncated, dct_method)


def _decode_jpeg(
    data: bytes,
    channels: int,
    ratio: int = 1,
    fancy_upscaling: bool = True,
    try_recover_truncated: bool = False,
    dct_method: str = "",
) -> np.ndarray:
    if ratio not in (1, 2, 4, 8):
        raise InvalidArgumentError(f"ratio must be 1, 2, 4, or 8, got {ratio}")
    if dct_method not in ("", "INTEGER_FAST", "INTEGER_ACCURATE"):
        raise InvalidArgumentError(
            f"dct_method must be one of '', 'INTEGER_FAST', 'INTEGER_ACCURATE', got {dct_method!r}"
        )
    height, width, colorspace = _jpeg_header(data)
    cmyk = colorspace in ("CMYK", "YCCK")
    if channels == 0:
        # TensorFlow keeps at most 3 channels: CMYK files come out as RGB.
        channels = min(_jpeg_native_channels(colorspace), 3)
    if cmyk and channels == 1:
        raise InvalidArgumentError("jpeg::Uncompress failed. Unsupported color conversion request.")
    scale = {}
    if ratio != 1:
        # libjpeg scales by 1/ratio, rounding sizes up; asking for at least those sizes
        # makes simplejpeg pick exactly that scale.
        scale = {
            "min_height": -(-height // ratio),
            "min_width": -(-width // ratio),
            "min_factor": float(ratio),
        }
    options = {
        "colorspace": "CMYK" if cmyk else ("GRAY" if channels == 1 else "RGB"),
        "fastdct": dct_method != "INTEGER_ACCURATE",
        "fastupsample": not fancy_upscaling,
        "strict": not try_recover_truncated,
        **scale,
    }
    decode = _simplejpeg("decoding JPEG").decode_jpeg
    try:
        if try_recover_truncated:
            # Without strict decoding libjpeg's recoverable errors become warnings. (The
            # warnings filter is process-wide, so only this rare path touches it.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = decode(data, **options)
        else:
            image = decode(data, **options)
    except _CODEC_ERRORS as error:
        raise InvalidArgumentError(
            f"jpeg::Uncompress failed. Invalid JPEG data or crop window. ({error})"
        ) from None
    if cmyk and channels == 3:
        image = _cmyk_to_rgb(image, _has_adobe_marker(data))
    return image


def _cmyk_to_rgb(image: np.ndarray, adobe: bool) -> np.ndarray:
    # TensorFlow's own conversion: Adobe files store inverted CMYK.
    c, m, y, k = (image[..., i].astype(np.int32) for i in range(4))
    rgb: tuple[np.ndarray, ...]
    if adobe:
        rgb = (k * c // 255, k * m // 255, k * y // 255)
    else:
        rgb = tuple((255 - k) * (255 - v) // 255 for v in (c, m, y))
    return np.stack(rgb, axis=-1).astype(np.uint8)


def _decode_non_jpeg(
    kind: str | None, data: bytes, channels: int, dtype: Any, op: str
) -> np.ndarray:
    if not data:
        raise InvalidArgumentError("Input is empty.")
    if kind is None:
        raise InvalidArgumentError(_UNKNOWN_FORMAT)
    if kind == "jpeg":
        return _convert_dtype(_decode_jpeg(data, channels), np.dtype(dtype))
    if kind == "png":
        return _decode_png(data, channels, np.dtype(dtype))
    if kind == "bmp":
        return _convert_dtype(_decode_bmp(data, channels), np.dtype(dtype))
    raise InvalidArgumentError(
        f"Trying to decode GIF with {op} op. Use `decode_gif` or `decode_image` instead."
    )


# ---------------------------------------------------------------------------------------
# PNG


def _png_header(data: bytes) -> tuple[int, int, int]:
    """Return ``(bit_depth, color_type, interlace)`` from the IHDR chunk."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise InvalidArgumentError("Invalid PNG. Failed to initialize decoder.")
    return data[24], data[25], data[28]


def _open(data: bytes, what: str) -> Image.Image:
    pil = _pillow(f"decoding {what}")
    try:
        return pil.open(io.BytesIO(data))
    except _pillow_errors(pil) as error:
        raise InvalidArgumentError(f"Invalid {what}: {error}") from None


def _load(image: Image.Image, what: str) -> None:
    try:
        image.load()
    except _pillow_errors(_pillow(f"decoding {what}")) as error:
        raise InvalidArgumentError(f"Invalid {what} data: {error}") from None


class _Samples:
    """Decoded PNG samples at the file's own depth, before TensorFlow's conversions.

    Attributes:
        array: ``HWC`` samples (``uint8`` or ``uint16``), alpha last when there is one.
        stored: the channel count ``channels=0`` returns. A ``tRNS`` colour key yields an
            alpha channel in ``array`` that only a request for alpha returns, except for
            palette images, whose transparency counts as stored.
        filler: the alpha of an added opaque channel. libpng fills at the file's bit
            depth, so for 1/2/4-bit images it is ``2**depth - 1``, not 255.
    """

    def __init__(self, array: np.ndarray, stored: int, filler: int):
        self.array = array
        self.stored = stored
        self.filler = filler


def _png_samples(data: bytes) -> _Samples:
    bit_depth, color_type, _ = _png_header(data)
    image = _open(data, "PNG")
    if image.format != "PNG":
        raise InvalidArgumentError("Invalid PNG. Failed to initialize decoder.")
    transparency = image.info.get("transparency")
    opaque = 65535 if bit_depth == 16 else 255
    filler = opaque if bit_depth >= 8 else 2**bit_depth - 1
    if bit_depth == 16 and color_type in (2, 4, 6):
        array = _png_wide_color(data, color_type, transparency)
        return _Samples(array, {2: 3, 4: 2, 6: 4}[color_type], opaque)
    _load(image, "PNG")
    mode = image.mode
    if mode == "P":
        array = np.asarray(image.convert("RGBA" if transparency is not None else "RGB"))
        return _Samples(array, array.shape[-1], filler)
    if mode == "1":
        image = image.convert("L")
        mode = "L"
    array = np.asarray(image)
    if mode in ("I", "I;16", "I;16B", "I;16L"):
        array = array.astype(np.uint16)
    if array.ndim == 2:
        array = array[:, :, None]
    stored = array.shape[-1]
    if transparency is not None and mode not in ("LA", "RGBA"):
        # A tRNS colour key becomes an alpha channel (libpng's tRNS-to-alpha).
        key = np.asarray(transparency, dtype=np.int64).reshape(-1)
        if stored == 1 and bit_depth < 8:
            key = key * (255 // (2**bit_depth - 1))
        alpha = np.where(np.all(array == key.astype(array.dtype), axis=-1), 0, opaque)
        array = np.concatenate([array, alpha[..., None].astype(array.dtype)], axis=-1)
    return _Samples(array, stored, filler)


def _png_wide_color(data: bytes, color_type: int, transparency: Any) -> np.ndarray:
    # Pillow keeps only the high byte of 16-bit colour samples. The PNG's bytes are
    # decoded twice with rawmodes that unpack the high and the low byte of each sample.
    def decode(rawmode: str) -> np.ndarray:
        image = _open(data, "PNG")
        image.tile = [tile._replace(args=rawmode) for tile in image.tile]  # type: ignore[attr-defined]
        _load(image, "PNG")
        return np.asarray(image)

    if color_type == 4:
        # Gray+alpha at 16 bits is four bytes a pixel: read them as 8-bit RGBA verbatim.
        raw = np.ascontiguousarray(decode("RGBA"))
        return raw.view(">u2").astype(np.uint16)
    channels = "RGB" if color_type == 2 else "RGBA"
    high = decode(f"{channels};16B").astype(np.uint16)
    low = decode(f"{channels};16L").astype(np.uint16)
    array = (high << 8) | low
    if color_type == 2 and transparency is not None:
        key = np.asarray(transparency, dtype=np.uint16).reshape(-1)
        alpha = np.where(np.all(array == key, axis=-1), 0, 65535).astype(np.uint16)
        array = np.concatenate([array, alpha[..., None]], axis=-1)
    return array


def _rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    # libpng's png_do_rgb_to_gray without gamma: a fixed-point weighted sum that is
    # truncated for 8-bit samples and rounded for 16-bit ones; gray pixels (r == g == b)
    # are copied exactly.
    wide = rgb.astype(np.int64)
    r, g, b = wide[..., 0], wide[..., 1], wide[..., 2]
    rounding = 16384 if rgb.dtype == np.uint16 else 0
    gray = (_GRAY_RED * r + _GRAY_GREEN * g + _GRAY_BLUE * b + rounding) >> 15
    gray = np.where((r == g) & (g == b), r, gray)
    return gray.astype(rgb.dtype)[..., None]


def _set_channels(array: np.ndarray, channels: int, stored: int, filler: int) -> np.ndarray:
    """Convert ``HWC`` samples to ``channels`` (0: ``stored``) as libpng does for TF.

    ``array`` may hold one channel more than ``stored``: the alpha of a colour key.
    """
    have = array.shape[-1]
    channels = channels or stored
    color_channels = 1 if stored <= 2 else 3
    has_alpha = have in (2, 4)
    if channels == have:
        return array
    color = array[..., :3] if color_channels == 3 else np.repeat(array[..., :1], 3, axis=-1)
    alpha = array[..., -1:] if has_alpha else np.full_like(array[..., :1], filler)
    if channels == 1:
        return array[..., :1] if color_channels == 1 else _rgb_to_gray(color)
    if channels == 3:
        return np.ascontiguousarray(color)
    return np.concatenate([color, alpha], axis=-1)


def _convert_dtype(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Scale samples between uint8, uint16 and float32 as TensorFlow's image decoders do."""
    if array.dtype == dtype:
        return array
    if dtype == np.uint16 and array.dtype == np.uint8:
        return array.astype(np.uint16) * np.uint16(257)
    if dtype == np.uint8 and array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    if dtype == np.float32:
        scale = np.float32(1.0 / np.iinfo(array.dtype).max)
        return array.astype(np.float32) * scale
    raise InvalidArgumentError(f"image dtype must be uint8, uint16 or float32, got {dtype}")


def _decode_png(data: bytes, channels: int, dtype: np.dtype) -> np.ndarray:
    decoded = _png_samples(data)
    samples = _set_channels(decoded.array, channels, decoded.stored, decoded.filler)
    if dtype == np.float32:
        # TensorFlow decodes to 16 bits before scaling to [0, 1].
        return _convert_dtype(_convert_dtype(samples, np.dtype(np.uint16)), dtype)
    return _convert_dtype(samples, dtype)


def decode_png(
    contents: Any, channels: int = 0, dtype: Any = np.uint8, name: str | None = None
) -> np.ndarray:
    """Decode a PNG into an ``HWC`` array, as ``tf.io.decode_png``.

    Palette images are expanded to RGB (RGBA with a transparency chunk), 1/2/4-bit gray
    is scaled to 8 bits, a ``tRNS`` colour key becomes an alpha channel. Samples are
    converted as libpng converts them for TensorFlow: 16→8 bits keeps the high byte,
    8→16 bits multiplies by 257, colour→gray uses libpng's fixed-point weights
    (0.299, 0.587, 0.114), gray→colour copies the gray value, and a missing alpha channel
    is opaque. JPEG bytes are decoded too, as TensorFlow 2 does.

    Args:
        contents: the encoded image bytes.
        channels: 0 (as stored: 1, 2, 3 or 4), 1, 3 or 4.
        dtype: ``np.uint8`` or ``np.uint16``.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        An array of shape ``[height, width, channels]`` and type ``dtype``.

    Raises:
        InvalidArgumentError: the bytes are not a decodable PNG (or JPEG); ``channels``
            or ``dtype`` is not supported.

    >>> gray = np.array([[[0], [255]]], dtype=np.uint8)
    >>> decode_png(encode_png(gray), channels=3).tolist()
    [[[0, 0, 0], [255, 255, 255]]]
    """
    del name
    channels = _check_channels(channels)
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16):
        raise InvalidArgumentError(f"decode_png dtype must be uint8 or uint16, got {dtype}")
    data = _contents(contents)
    kind = _sniff(data)
    if kind != "png":
        return _decode_non_jpeg(kind, data, channels, dtype, "DecodePng")
    return _decode_png(data, channels, dtype)


# ---------------------------------------------------------------------------------------
# GIF and BMP


def decode_gif(contents: Any, name: str | None = None) -> np.ndarray:
    """Decode every frame of a GIF into a ``uint8`` ``[frames, height, width, 3]`` array.

    Frames are full canvases in RGB, composed by Pillow's GIF decoder.

    Args:
        contents: the GIF file's bytes.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        A ``uint8`` array of shape ``[num_frames, height, width, 3]``.

    Raises:
        InvalidArgumentError: the bytes are not a decodable GIF.
    """
    del name
    data = _contents(contents)
    if not data.startswith(_GIF_MAGIC):
        raise InvalidArgumentError(_UNKNOWN_FORMAT if _sniff(data) is None else "Not a GIF file.")
    image = _open(data, "GIF")
    sequence = require("PIL.ImageSequence", "decoding GIF")
    frames = []
    try:
        for frame in sequence.Iterator(image):
            frames.append(np.asarray(frame.convert("RGB")))
    except _pillow_errors(_pillow("decoding GIF")) as error:
        raise InvalidArgumentError(f"Invalid GIF data: {error}") from None
    return np.stack(frames)


def _decode_bmp(data: bytes, channels: int) -> np.ndarray:
    if channels not in (0, 3, 4):
        raise InvalidArgumentError(f"`channels` must be 0, 3 or 4 for BMP, but got {channels}")
    image = _open(data, "BMP")
    if image.format not in ("BMP", "DIB"):
        raise InvalidArgumentError("Invalid BMP.")
    tile = image.tile[0] if len(image.tile) == 1 else None  # type: ignore[attr-defined]
    if tile is not None and tile.codec_name == "raw" and tile.args[0] == "BGRX":
        # Pillow drops the fourth byte of 32-bit pixels; TensorFlow returns it as alpha.
        array = _bmp_bgra(data, image.size, tile.offset, tile.args[1], tile.args[2])
    else:
        _load(image, "BMP")
        if image.mode not in ("RGB", "RGBA", "L"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return _set_channels(array, channels, array.shape[-1], 255)


def _bmp_bgra(
    data: bytes, size: tuple[int, int], offset: int, stride: int, orientation: int
) -> np.ndarray:
    width, height = size
    end = offset + stride * height
    if stride < width * 4 or len(data) < end:
        raise InvalidArgumentError(f"Invalid BMP data: {len(data)} bytes, {end} needed")
    rows = np.frombuffer(data, dtype=np.uint8, count=stride * height, offset=offset)
    pixels = rows.reshape(height, stride)[:, : width * 4].reshape(height, width, 4)
    if orientation < 0:
        pixels = pixels[::-1]
    return np.ascontiguousarray(pixels[..., [2, 1, 0, 3]])


def decode_bmp(contents: Any, channels: int = 0, name: str | None = None) -> np.ndarray:
    """Decode a BMP into a ``uint8`` ``HWC`` array, as ``tf.io.decode_bmp``.

    Args:
        contents: the BMP file's bytes.
        channels: 0 (as stored: 4 for 32-bit files, whose fourth byte is alpha), 3 or 4.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        A ``uint8`` array of shape ``[height, width, channels]``.

    Raises:
        InvalidArgumentError: the bytes are not a decodable BMP, or ``channels`` is 1.
    """
    del name
    channels = _check_channels(channels)
    data = _contents(contents)
    if not data.startswith(_BMP_MAGIC):
        raise InvalidArgumentError(_UNKNOWN_FORMAT if _sniff(data) is None else "Not a BMP file.")
    return _decode_bmp(data, channels)


def decode_image(
    contents: Any,
    channels: int | None = None,
    dtype: Any = np.uint8,
    name: str | None = None,
    expand_animations: bool = True,
) -> np.ndarray:
    """Decode a JPEG, PNG, GIF or BMP, chosen by its first bytes, as ``tf.io.decode_image``.

    Args:
        contents: the encoded image bytes.
        channels: ``None``/0 (as stored), 1, 3 or 4 (4 is refused for JPEG, as in
            TensorFlow; GIF is always RGB).
        dtype: ``np.uint8``, ``np.uint16`` or ``np.float32`` (scaled to ``[0, 1]``).
            A 16-bit PNG keeps its precision in uint16; 8-bit data is widened by 257
            (PNG) or 256 (JPEG, GIF, BMP), as TensorFlow does.
        name: accepted for TensorFlow compatibility; unused.
        expand_animations: if ``True`` a GIF gives all frames ``[N, H, W, 3]``; if
            ``False`` only its first frame ``[H, W, 3]``.

    Returns:
        A ``HWC`` array (``NHWC`` for an expanded GIF) of type ``dtype``.

    Raises:
        InvalidArgumentError: empty or unrecognised bytes ("Unknown image file
            format"), corrupt data, or an unsupported ``channels``/``dtype``.

    >>> decode_image(b"not an image")
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: Unknown image file format. One of JPEG, PNG, GIF, BMP required.
    """
    del name
    channels = _check_channels(0 if channels is None else channels)
    dtype = np.dtype(dtype)
    if dtype not in (np.uint8, np.uint16, np.float32):
        raise InvalidArgumentError(
            f"decode_image dtype must be uint8, uint16 or float32, got {dtype}"
        )
    data = _contents(contents)
    kind = _sniff(data)
    if kind == "png":
        return _decode_png(data, channels, dtype)
    if kind == "jpeg":
        if channels == 4:
            raise InvalidArgumentError("JPEG does not support 4 channels")
        return _scale_8bit(_decode_jpeg(data, channels), dtype)
    if kind == "gif":
        if channels not in (0, 3):
            raise InvalidArgumentError(f"channels must be 0 or 3 for GIF, got {channels}")
        frames = decode_gif(data)
        return _scale_8bit(frames if expand_animations else frames[0], dtype)
    if kind == "bmp":
        return _scale_8bit(_decode_bmp(data, channels), dtype)
    if not data:
        raise InvalidArgumentError("Input is empty.")
    raise InvalidArgumentError(_UNKNOWN_FORMAT)


def _scale_8bit(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # Non-PNG formats are 8-bit; TensorFlow converts them with convert_image_dtype,
    # which widens uint8 to uint16 by a shift (x256), unlike libpng's x257.
    if dtype == np.uint16:
        return array.astype(np.uint16) << np.uint16(8)
    return _convert_dtype(array, dtype)


# ---------------------------------------------------------------------------------------
# Encoding


def _check_image(image: Any, allowed: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3:
        raise InvalidArgumentError(
            f"{what}: image must be rank 3 [height, width, channels], got shape {list(array.shape)}"
        )
    if array.shape[-1] not in allowed:
        raise InvalidArgumentError(
            f"{what}: image must have {', '.join(map(str, allowed))} channels, got "
            f"{array.shape[-1]}"
        )
    if 0 in array.shape[:2]:
        raise InvalidArgumentError(f"{what}: image is empty, shape {list(array.shape)}")
    return array


def encode_png(image: Any, compression: int = -1, name: str | None = None) -> bytes:
    """Encode a ``uint8`` or ``uint16`` ``HWC`` array as PNG, as ``tf.io.encode_png``.

    Args:
        image: array of shape ``[height, width, channels]`` with 1 (gray), 2 (gray +
            alpha), 3 (RGB) or 4 (RGBA) channels, dtype ``uint8`` or ``uint16``.
        compression: zlib level 0-9, or -1 for zlib's default.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        The PNG file's bytes.

    Raises:
        InvalidArgumentError: wrong rank, channel count, dtype or compression level.

    >>> encode_png(np.zeros((1, 1, 1), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    del name
    array = _check_image(image, (1, 2, 3, 4), "encode_png")
    if array.dtype not in (np.uint8, np.uint16):
        raise InvalidArgumentError(
            f"encode_png: image dtype must be uint8 or uint16, got {array.dtype}"
        )
    compression = int(compression)
    if not -1 <= compression <= 9:
        raise InvalidArgumentError(f"compression should be in [-1,9], got {compression}")
    height, width, channels = array.shape
    if array.dtype == np.uint8:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
        pixels = array[..., 0] if channels == 1 else array
        buffer = io.BytesIO()
        _pillow("encode_png").fromarray(np.ascontiguousarray(pixels), mode).save(
            buffer, format="PNG", compress_level=6 if compression == -1 else compression
        )
        return buffer.getvalue()
    # Pillow cannot write 16-bit colour; the PNG is assembled here from big-endian rows,
    # each preceded by filter type 0, compressed by zlib.
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = np.empty((height, 1 + width * channels * 2), dtype=np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = array.astype(">u2").reshape(height, -1).view(np.uint8)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        _PNG_MAGIC
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compression))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


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
) -> bytes:
    """Encode a ``uint8`` ``HWC`` array as JPEG, as ``tf.io.encode_jpeg``.

    Args:
        image: ``uint8`` array ``[height, width, channels]`` with 1 or 3 channels.
        format: ``""`` (from the channel count), ``"grayscale"`` (needs 1 channel) or
            ``"rgb"`` (needs 3).
        quality: libjpeg quality, 0-100.
        progressive: write a progressive JPEG.
        optimize_size: optimise Huffman tables (smaller file, slower).
        chroma_downsampling: 4:2:0 chroma subsampling when ``True``, 4:4:4 otherwise.
        density_unit: ``"in"`` or ``"cm"``, for the JFIF density fields.
        x_density: horizontal pixels per density unit.
        y_density: vertical pixels per density unit.
        xmp_metadata: an XMP packet to embed, when not empty.
        name: accepted for TensorFlow compatibility; unused.

    Returns:
        The JPEG file's bytes.

    Raises:
        InvalidArgumentError: wrong rank, channel count, dtype, format or quality.

    >>> gray = np.full((8, 8, 1), 128, np.uint8)
    >>> decode_jpeg(encode_jpeg(gray)).shape
    (8, 8, 1)
    """
    del name
    array = _check_image(image, (1, 3), "encode_jpeg")
    if array.dtype != np.uint8:
        raise InvalidArgumentError(f"encode_jpeg: image dtype must be uint8, got {array.dtype}")
    if format not in ("", "grayscale", "rgb"):
        raise InvalidArgumentError(f"format must be '', 'grayscale' or 'rgb', got {format!r}")
    expected = {"grayscale": 1, "rgb": 3}.get(format)
    if expected is not None and array.shape[-1] != expected:
        raise InvalidArgumentError(
            f"format {format!r} needs {expected} channels, got {array.shape[-1]}"
        )
    quality = int(quality)
    if not 0 <= quality <= 100:
        raise InvalidArgumentError(f"quality must be in [0,100], got {quality}")
    if density_unit not in ("in", "cm"):
        raise InvalidArgumentError(f"density_unit must be 'in' or 'cm', got {density_unit!r}")
    array = np.ascontiguousarray(array)
    gray = array.shape[-1] == 1
    plain = (
        not progressive
        and not optimize_size
        and density_unit == "in"
        and (x_density, y_density) == (300, 300)
        and not xmp_metadata
    )
    if plain:
        # simplejpeg is the fast path; Pillow (the same libjpeg-turbo) takes the options
        # simplejpeg does not offer.
        return _simplejpeg("encode_jpeg").encode_jpeg(
            array,
            quality=max(quality, 1),
            colorspace="GRAY" if gray else "RGB",
            colorsubsampling="Gray" if gray else ("420" if chroma_downsampling else "444"),
        )
    pil = _pillow("encode_jpeg").fromarray(array[..., 0] if gray else array, "L" if gray else "RGB")
    options: dict[str, Any] = {
        "quality": max(quality, 1),
        "progressive": progressive,
        "optimize": optimize_size,
        "dpi": (x_density, y_density)
        if density_unit == "in"
        else (x_density * 2.54, y_density * 2.54),
    }
    if not gray:
        options["subsampling"] = 2 if chroma_downsampling else 0
    if xmp_metadata:
        options["xmp"] = xmp_metadata.encode("utf-8")
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", **options)
    return buffer.getvalue()
