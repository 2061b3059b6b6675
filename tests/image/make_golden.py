"""Write ``tests/fixtures/image_golden.npz``: what real TensorFlow's ``tf.image`` returns.

Not run by the tests (TensorFlow is never a dependency of conveyor or its tests); they
only read the fixture it writes. To regenerate it, with a throwaway environment outside
the repository::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy
    /tmp/tfvenv/bin/python tests/image/make_golden.py

The fixture holds the inputs (``input/<name>``), one output per case (``case/<key>``) and
the case table (``cases``, JSON: ``[key, op, input, kwargs]``). Every op of the table has
the same name and keyword arguments in ``tf.image`` and ``conveyor.image``, so
the tests (``tests/fixtures/image_golden_data.py``) call ``conveyor.image.<op>(input, **kwargs)`` and compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "image_golden.npz"


def inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20260101)
    u8 = rng.integers(0, 256, size=(2, 7, 9, 3), dtype=np.uint8)
    # Pixels where the hue/saturation kernels branch on ties: grays, two equal channels,
    # pure and saturated colours, black and white.
    special = np.array(
        [
            [0, 0, 0],
            [255, 255, 255],
            [128, 128, 128],
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [200, 200, 10],
            [10, 200, 200],
            [200, 10, 200],
            [90, 40, 40],
            [40, 90, 40],
            [40, 40, 90],
            [255, 254, 0],
            [1, 0, 0],
        ],
        np.uint8,
    )
    u8[0, 0, : len(special) // 2] = special[: len(special) // 2]
    u8[1, 6, : len(special) - len(special) // 2] = special[len(special) // 2 :]
    f32 = rng.random((2, 7, 9, 3), dtype=np.float32)
    f32[0, 0, :5] = special[:5] / np.float32(255)
    return {
        "u8": u8,
        "f32": f32,
        "f255": u8.astype(np.float32),  # the CIFAR tutorial's float32 0..255 images
        "u8_single": u8[1].copy(),
        "const": np.full((2, 4, 5, 3), 7, np.uint8),
        "gray_u8": u8[..., :1].copy(),
        "even": rng.integers(0, 256, size=(2, 8, 6, 2), dtype=np.uint8),
        "tiny": np.arange(2 * 2 * 2 * 1, dtype=np.float32).reshape(2, 2, 2, 1),
    }


CASES: list[tuple[str, str, str, dict]] = []


def case(op: str, source: str, **kwargs) -> None:
    parts = [op, source] + [f"{k}={v}" for k, v in kwargs.items()]
    CASES.append(("|".join(parts), op, source, kwargs))


for src in ("u8", "f32", "f255"):
    for delta in (0.1, -0.3) if src != "f255" else (63.0, -40.5):
        case("adjust_brightness", src, delta=delta)
    for factor in (1.8, 0.2, -0.5):
        case("adjust_contrast", src, contrast_factor=factor)
for src in ("u8", "f32"):
    for factor in (0.0, 0.3, 1.0, 2.5):
        case("adjust_saturation", src, saturation_factor=factor)
    for delta in (0.2, -0.45, 0.5, -1.0, 0.93):
        case("adjust_hue", src, delta=delta)
    case("adjust_gamma", src, gamma=0.5, gain=1.2)
    case("adjust_gamma", src, gamma=2.2)
    case("rgb_to_grayscale", src)
for src in ("u8", "f32", "f255", "const", "u8_single", "even"):
    case("per_image_standardization", src)
for src in ("u8", "even", "u8_single"):
    for fraction in (0.5, 0.875, 0.3, 0.33, 1.0):
        case("central_crop", src, central_fraction=fraction)
    for th, tw in ((4, 4), (10, 12), (5, 11), (8, 6), (7, 9), (1, 1)):
        case("resize_with_crop_or_pad", src, target_height=th, target_width=tw)
    case(
        "crop_to_bounding_box",
        src,
        offset_height=1,
        offset_width=2,
        target_height=4,
        target_width=3,
    )
    case(
        "pad_to_bounding_box",
        src,
        offset_height=1,
        offset_width=2,
        target_height=10,
        target_width=12,
    )
    case("flip_left_right", src)
    case("flip_up_down", src)
for src in ("u8", "f32", "even", "tiny", "u8_single"):
    for size in ((4, 4), (4, 5), (14, 17), (3, 3), (7, 9), (1, 13)):
        for method in ("bilinear", "nearest"):
            case("resize", src, size=list(size), method=method)
case("grayscale_to_rgb", "gray_u8")


def main() -> None:
    arrays = {f"input/{name}": value for name, value in inputs().items()}
    for key, op, source, kwargs in CASES:
        result = getattr(tf.image, op)(tf.constant(arrays[f"input/{source}"]), **kwargs)
        arrays[f"case/{key}"] = np.asarray(result)
    arrays["cases"] = np.array(json.dumps(CASES))
    arrays["tensorflow_version"] = np.array(tf.__version__)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(CASES)} cases to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
