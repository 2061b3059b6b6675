"""Operations on records: raw and CSV decoding, Example parsing, image codecs.

Names are imported on first use: parsing needs ``conveyor[io]`` (protobuf), the image
codecs ``conveyor[image]`` (simplejpeg, Pillow).
"""

from typing import TYPE_CHECKING

from conveyor._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["decode_raw", "decode_csv"], "conveyor.ops.decode"),
    **dict.fromkeys(
        [
            "parse_example",
            "parse_single_example",
            "FixedLenFeature",
            "VarLenFeature",
            "FixedLenSequenceFeature",
            "SparseTensorValue",
        ],
        "conveyor.ops.parsing",
    ),
    **dict.fromkeys(
        [
            "decode_jpeg",
            "decode_png",
            "decode_gif",
            "decode_bmp",
            "decode_image",
            "encode_jpeg",
            "encode_png",
            "is_jpeg",
            "extract_jpeg_shape",
        ],
        "conveyor.ops.image_codecs",
    ),
}

__all__ = sorted(_EXPORTS)

# The lazy names, for type checkers and IDEs, which cannot see through __getattr__
# (tests/test_exports.py keeps this list equal to _EXPORTS).
if TYPE_CHECKING:
    from conveyor.ops.decode import (
        decode_csv as decode_csv,
        decode_raw as decode_raw,
    )
    from conveyor.ops.image_codecs import (
        decode_bmp as decode_bmp,
        decode_gif as decode_gif,
        decode_image as decode_image,
        decode_jpeg as decode_jpeg,
        decode_png as decode_png,
        encode_jpeg as encode_jpeg,
        encode_png as encode_png,
        extract_jpeg_shape as extract_jpeg_shape,
        is_jpeg as is_jpeg,
    )
    from conveyor.ops.parsing import (
        FixedLenFeature as FixedLenFeature,
        FixedLenSequenceFeature as FixedLenSequenceFeature,
        SparseTensorValue as SparseTensorValue,
        VarLenFeature as VarLenFeature,
        parse_example as parse_example,
        parse_single_example as parse_single_example,
    )
else:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
