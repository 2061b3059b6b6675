"""Draw docs/images/augmentations.png: the embedded digits under each recipe and op.

One row per recipe or op — the originals, the fused recipes, then single ops of
``conveyor.image`` — and one column per sample, every row over the same eight digits
with its own seeded generator. uint8 results are shown as they are; float results (the
recipes' standardized or normalized values) are rescaled to 0..255 per image. Outputs
smaller than the originals (a 24x24 crop) are centred in their cell.

    python docs/make_figures.py [--output PATH] [--data-dir DIR] [--seed N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from conveyor import image
from conveyor.datasets import cifar10, embedded
from conveyor.image import recipes

HERE = Path(__file__).resolve().parent
SAMPLES = 8
CELL = 32  # pixels of one image before scaling
GAP = 4
LABEL_WIDTH = 190
BACKGROUND = (236, 236, 236)

Row = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# A digits recipe: shifts, small rotations and cutout, but no flip (a mirrored digit is
# another digit, or none).
_digits_train = image.Compose(
    [
        partial(image.pad_and_random_crop, padding=4, size=(32, 32)),
        partial(image.random_rotate, max_degrees=15),
        partial(image.cutout, size=10),
    ]
)


def _op(fn: Callable[..., np.ndarray], **kwargs: object) -> Row:
    """One ``conveyor.image`` op as a row."""
    return lambda images, rng: fn(images, rng=rng, **kwargs)


ROWS: dict[str, Row] = {
    "original": lambda images, rng: images,
    "tutorial_train()": recipes.tutorial_train(),
    "standard_train(cutout=12)": recipes.standard_train(cutout=12),
    "digits: crop, rotate, cutout": _digits_train,
    "random_crop(24, 24)": _op(image.random_crop, size=(24, 24)),
    "random_flip_left_right": _op(image.random_flip_left_right),
    "random_brightness(0.4)": _op(image.random_brightness, max_delta=0.4),
    "random_contrast(0.2, 1.8)": _op(image.random_contrast, lower=0.2, upper=1.8),
    "random_rotate(30)": _op(image.random_rotate, max_degrees=30),
    "random_zoom(0.7, 1.3)": _op(image.random_zoom, lower=0.7, upper=1.3),
    "random_gaussian_noise(0.15)": _op(image.random_gaussian_noise, stddev=0.15),
}


def _displayable(batch: np.ndarray) -> np.ndarray:
    """``(n, h, w, c)`` as uint8 for display: floats rescaled per image to 0..255."""
    if batch.dtype == np.uint8:
        return batch
    lo = batch.min(axis=(1, 2, 3), keepdims=True)
    hi = batch.max(axis=(1, 2, 3), keepdims=True)
    return np.round((batch - lo) / np.maximum(hi - lo, 1e-6) * 255).astype(np.uint8)


def _samples(data_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Eight training digits, the first of each of the digits 0..7."""
    root = embedded(data_dir)
    records = np.concatenate([np.asarray(r) for r in cifar10.load_records(root)])
    labels = cifar10.labels_of(records)
    first = [int(np.flatnonzero(labels == d)[0]) for d in range(SAMPLES)]
    return np.ascontiguousarray(cifar10.images_of(records[first])), labels[first]


def draw(output: Path, data_dir: Path | None = None, seed: int = 0, scale: int = 2) -> Path:
    """Write the grid to ``output`` (a PNG) and return its path."""
    images, labels = _samples(data_dir)
    side = CELL * scale
    width = LABEL_WIDTH + SAMPLES * (side + GAP) + GAP
    height = len(ROWS) * (side + GAP) + GAP + 16
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    pen = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for k, label in enumerate(labels):
        pen.text((LABEL_WIDTH + k * (side + GAP) + side // 2 - 3, 2), str(label), (0, 0, 0), font)
    for r, (name, row) in enumerate(ROWS.items()):
        top = 16 + GAP + r * (side + GAP)
        pen.text((6, top + side // 2 - 6), name, (0, 0, 0), font)
        batch = _displayable(row(images, np.random.default_rng([seed, r])))
        for k, picture in enumerate(batch):
            h, w = picture.shape[:2]
            tile = Image.fromarray(picture).resize((w * scale, h * scale), Image.NEAREST)
            left = LABEL_WIDTH + k * (side + GAP)
            canvas.paste(tile, (left + (side - w * scale) // 2, top + (side - h * scale) // 2))
    output.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(output, optimize=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Draw the augmentation grid of docs/image.md from the embedded digits."
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "images" / "augmentations.png",
        help="the PNG to write (default: docs/images/augmentations.png)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where to expand the embedded digits (default: conveyor's cache folder)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of every row (default 0)")
    parser.add_argument("--scale", type=int, default=2, help="pixels per image pixel (default 2)")
    args = parser.parse_args(argv)
    print(draw(args.output, args.data_dir, args.seed, args.scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
