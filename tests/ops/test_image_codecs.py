"""conveyor.ops.image_codecs: TensorFlow's image decoders and encoders, pixel for pixel."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from conveyor.core.errors import InvalidArgumentError, OpError
from conveyor.ops import image_codecs
from conveyor.ops.image_codecs import (
    decode_bmp,
    decode_gif,
    decode_image,
    decode_jpeg,
    decode_png,
    encode_jpeg,
    encode_png,
    extract_jpeg_shape,
    is_jpeg,
)
from fixtures import golden_data as golden

IMAGES = golden.GOLDEN / "images"
CASES = golden.manifest()["images"]


def image_bytes(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def gradient(height: int, width: int, channels: int, dtype=np.uint8) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    top = np.iinfo(dtype).max
    planes = [(x * 7919 + y * 104729 + c * 15485863) % (top + 1) for c in range(channels)]
    return np.stack(planes, axis=-1).astype(dtype)


# --- golden: TensorFlow's pixels ------------------------------------------------------


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['op']}-{c['file']}-{sorted(c['kwargs'].items())}" for c in CASES]
)
def test_decoders_return_tensorflows_pixels_exactly(case):
    kwargs = dict(case["kwargs"])
    if "dtype" in kwargs:
        kwargs["dtype"] = np.dtype(kwargs["dtype"])
    decode = getattr(image_codecs, case["op"])
    if "error" in case:
        with pytest.raises(InvalidArgumentError):
            decode(image_bytes(case["file"]), **kwargs)
        return
    golden.assert_same_array(
        decode(image_bytes(case["file"]), **kwargs), golden.expected(case["result"])
    )


# --- JPEG ----------------------------------------------------------------------------


def test_jpeg_channels_zero_keeps_grayscale_as_one_channel():
    assert decode_jpeg(image_bytes("tf_gray.jpg")).shape == (24, 40, 1)
    assert decode_jpeg(image_bytes("tf_gray.jpg"), channels=3).shape == (24, 40, 3)


def test_jpeg_refuses_four_and_two_channels_as_tensorflow_does():
    with pytest.raises(InvalidArgumentError, match=r"^JPEG does not support 4 channels$"):
        decode_jpeg(image_bytes("tf_q95_420.jpg"), channels=4)
    with pytest.raises(InvalidArgumentError, match="must be 0, 1, 3 or 4 but got 2"):
        decode_jpeg(image_bytes("tf_q95_420.jpg"), channels=2)
    with pytest.raises(InvalidArgumentError, match="ratio must be 1, 2, 4, or 8, got 3"):
        decode_jpeg(image_bytes("tf_q95_420.jpg"), ratio=3)


def test_flat_gray_image_survives_jpeg_round_trip_exactly():
    flat = np.full((16, 24, 1), 131, dtype=np.uint8)
    assert np.array_equal(decode_jpeg(encode_jpeg(flat, quality=90)), flat)
    rgb = np.full((16, 16, 3), (200, 200, 200), dtype=np.uint8)
    assert np.array_equal(decode_jpeg(encode_jpeg(rgb, chroma_downsampling=False)), rgb)


def test_encode_jpeg_options_change_the_file_not_its_size():
    image = gradient(24, 32, 3)
    plain = encode_jpeg(image)
    progressive = encode_jpeg(image, progressive=True, optimize_size=True, xmp_metadata="<x/>")
    assert plain != progressive
    assert b"\xff\xc2" in progressive  # start of a progressive frame
    assert decode_jpeg(progressive).shape == decode_jpeg(plain).shape == (24, 32, 3)


def test_encode_jpeg_rejects_alpha_and_bad_quality():
    with pytest.raises(InvalidArgumentError, match="1, 3 channels, got 4"):
        encode_jpeg(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(InvalidArgumentError, match=r"quality must be in \[0,100\], got 101"):
        encode_jpeg(np.zeros((2, 2, 3), np.uint8), quality=101)
    with pytest.raises(InvalidArgumentError, match="needs 1 channels"):
        encode_jpeg(np.zeros((2, 2, 3), np.uint8), format="grayscale")


def test_jpeg_helpers_sniff_and_read_the_header():
    data = image_bytes("tf_q90_odd.jpg")
    assert is_jpeg(data) and not is_jpeg(image_bytes("tf_u8_c3.png"))
    assert extract_jpeg_shape(data).tolist() == [33, 45, 3]
    assert extract_jpeg_shape(image_bytes("tf_gray.jpg")).tolist() == [24, 40, 1]


def test_truncated_jpeg_is_an_error_unless_recovery_is_asked_for():
    data = image_bytes("truncated.jpg")
    with pytest.raises(InvalidArgumentError, match="jpeg::Uncompress failed"):
        decode_jpeg(data)
    assert decode_jpeg(data, try_recover_truncated=True).shape == (48, 64, 3)


def test_jpeg_decoding_threads_run_concurrently_and_agree():
    data = image_bytes("tf_q95_420.jpg")
    expected = decode_jpeg(data)
    results: list[bool] = []

    def work() -> None:
        results.extend(np.array_equal(decode_jpeg(data), expected) for _ in range(50))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 200


# --- PNG ------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_round_trip_is_exact_for_every_channel_count_and_depth(channels, dtype):
    image = gradient(7, 9, channels, dtype)
    decoded = decode_png(encode_png(image), dtype=dtype)
    golden.assert_same_array(decoded, image)


def test_png_depth_conversion_keeps_the_high_byte_and_widens_by_257():
    wide = np.array([[[0x1234, 0xFFFF, 0x00FF]]], dtype=np.uint16)
    assert decode_png(encode_png(wide)).tolist() == [[[0x12, 0xFF, 0x00]]]
    narrow = np.array([[[1, 2, 255]]], dtype=np.uint8)
    assert decode_png(encode_png(narrow), dtype=np.uint16).tolist() == [[[257, 514, 65535]]]


def test_png_rgb_to_gray_uses_libpngs_truncated_fixed_point_weights():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [7, 7, 7]]], np.uint8)
    # (9797 * r + 19234 * g + 3737 * b) >> 15, gray pixels copied.
    assert decode_png(encode_png(rgb), channels=1)[0, :, 0].tolist() == [76, 149, 29, 18, 7]


def test_png_compression_levels_change_size_not_pixels():
    image = gradient(32, 32, 3)
    stored, smallest = encode_png(image, compression=0), encode_png(image, compression=9)
    assert len(stored) > len(smallest)
    assert np.array_equal(decode_png(stored), decode_png(smallest))
    with pytest.raises(InvalidArgumentError, match=r"compression should be in \[-1,9\], got 10"):
        encode_png(image, compression=10)


def test_encode_png_rejects_float_images_and_missing_channel_axis():
    with pytest.raises(InvalidArgumentError, match="dtype must be uint8 or uint16"):
        encode_png(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="must be rank 3"):
        encode_png(np.zeros((2, 2), np.uint8))


def test_decode_png_and_decode_jpeg_also_accept_each_others_format():
    png, jpeg = image_bytes("tf_u8_c3.png"), image_bytes("tf_q95_420.jpg")
    assert np.array_equal(decode_jpeg(png), decode_png(png))
    assert np.array_equal(decode_png(jpeg), decode_jpeg(jpeg))


# --- decode_image, GIF, BMP -----------------------------------------------------------


def test_decode_image_sniffs_the_format():
    assert decode_image(image_bytes("tf_u8_c2.png")).shape == (12, 17, 2)
    assert decode_image(image_bytes("tf_q75_444.jpg")).shape == (29, 37, 3)
    assert decode_image(image_bytes("pil_rgb.bmp")).shape == (16, 20, 3)
    assert decode_image(image_bytes("pil_animated.gif")).shape == (3, 12, 15, 3)


def test_gif_frames_are_four_dimensional_unless_animations_are_not_expanded():
    frames = decode_gif(image_bytes("pil_animated.gif"))
    first = decode_image(image_bytes("pil_animated.gif"), expand_animations=False)
    assert frames.shape == (3, 12, 15, 3) and np.array_equal(first, frames[0])
    assert decode_image(image_bytes("pil_still.gif")).shape == (1, 12, 15, 3)


def test_decode_image_float32_is_scaled_to_unit_range_from_sixteen_bits_for_png():
    png = decode_image(image_bytes("tf_u8_c3.png"), dtype=np.float32)
    wide = decode_png(image_bytes("tf_u8_c3.png"), dtype=np.uint16)
    assert png.dtype == np.float32
    assert np.array_equal(png, wide.astype(np.float32) * np.float32(1 / 65535))
    jpeg = decode_image(image_bytes("tf_gray.jpg"), dtype=np.float32)
    narrow = decode_jpeg(image_bytes("tf_gray.jpg"))
    assert np.array_equal(jpeg, narrow.astype(np.float32) * np.float32(1 / 255))


def test_thirty_two_bit_bmp_keeps_its_alpha_byte():
    rgba = np.asarray(Image.open(io.BytesIO(image_bytes("pil_rgba.bmp"))).convert("RGBA"))
    decoded = decode_bmp(image_bytes("pil_rgba.bmp"))
    assert decoded.shape == (8, 10, 4)
    assert np.array_equal(decoded[..., :3], rgba[..., :3])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "^Input is empty.$"),
        (b"hello world", "^Unknown image file format. One of JPEG, PNG, GIF, BMP required.$"),
    ],
)
def test_decode_image_rejects_empty_and_unknown_bytes(data, message):
    with pytest.raises(InvalidArgumentError, match=message):
        decode_image(data)


def test_decode_image_refuses_four_channel_jpeg_and_gray_gif():
    with pytest.raises(InvalidArgumentError, match="JPEG does not support 4 channels"):
        decode_image(image_bytes("tf_q95_420.jpg"), channels=4)
    with pytest.raises(InvalidArgumentError, match="channels must be 0 or 3 for GIF, got 1"):
        decode_image(image_bytes("pil_still.gif"), channels=1)


# --- robustness -----------------------------------------------------------------------

_SAMPLES = {
    name: image_bytes(name)
    for name in ("tf_q90_odd.jpg", "tf_u8_c4.png", "tf_u16_c3.png", "pil_still.gif", "pil_rgb.bmp")
}


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(_SAMPLES)),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
    st.sampled_from([decode_image, decode_jpeg, decode_png]),
)
def test_bit_flipped_images_decode_or_raise_invalid_argument(name, positions, decode):
    corrupted = bytearray(_SAMPLES[name])
    for position in positions:
        bit = position % (len(corrupted) * 8)
        corrupted[bit // 8] ^= 1 << (bit % 8)
    try:
        decode(bytes(corrupted))
    except OpError as error:
        assert isinstance(error, InvalidArgumentError)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(_SAMPLES)), st.integers(0, 3000), st.binary(max_size=16))
def test_truncated_or_padded_images_decode_or_raise_invalid_argument(name, cut, tail):
    data = _SAMPLES[name]
    try:
        decode_image(data[: cut % (len(data) + 1)] + tail)
    except OpError as error:
        assert isinstance(error, InvalidArgumentError)
