"""Draw docs/images/detection.png: embedded detection images with their boxes.

The first row: training images of the embedded detection set as read back from their
files and COCO annotations (``CocoDetection``), each box outlined with its label. The
second row: the same images after the SSD crop and a resize back to 128 x 128
(``conveyor.image.boxes``), the boxes moved with the pixels. The picture is saved with
a 256-colour palette to keep it small.

    python docs/make_detection_figures.py [--output PATH] [--data-dir DIR] [--seed N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from conveyor.datasets import detection
from conveyor.datasets.coco import CocoDetection
from conveyor.image import boxes as bx

HERE = Path(__file__).resolve().parent
SAMPLES = 5
GAP = 6
BACKGROUND = (236, 236, 236)
BOX = (255, 224, 0)


def augment(element: dict, rng: np.random.Generator) -> dict:
    # No flip: a mirrored digit is no digit (docs/image.md, "Augmentation must keep the
    # label true").
    image, boxes, keep = bx.random_crop(
        element["image"], element["boxes"], rng=rng, min_object_covered=0.5, area_range=(0.3, 1.0)
    )
    image, boxes = bx.resize(image, boxes, (128, 128))
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return {"image": image, "boxes": boxes, "labels": element["labels"][keep]}


def cell(element: dict, names: tuple[str, ...], scale: int) -> Image.Image:
    image = bx.draw_boxes(element["image"], element["boxes"], color=BOX)
    picture = Image.fromarray(image).resize(
        (image.shape[1] * scale, image.shape[0] * scale), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(picture)
    for (x0, y0, _x1, _y1), label in zip(element["boxes"].tolist(), element["labels"].tolist()):
        draw.text((x0 * scale + 2, max(0, y0 * scale - 11)), names[label], fill=BOX)
    return picture


def draw(output: Path, data_dir: Path | None, seed: int, scale: int) -> None:
    root = detection.embedded_detection(data_dir, n_train=16, n_test=1, seed=seed)
    ds = CocoDetection(detection.annotation_file(root), detection.image_dir(root))
    names = tuple(str(i) for i in range(10))  # the labels 0..9 are the digits
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(SAMPLES):
        element = ds.element(i)
        rows.append((cell(element, names, scale), cell(augment(element, rng), names, scale)))
    side = 128 * scale
    canvas = Image.new(
        "RGB", (SAMPLES * side + (SAMPLES + 1) * GAP, 2 * side + 3 * GAP), BACKGROUND
    )
    for i, (top, bottom) in enumerate(rows):
        x = GAP + i * (side + GAP)
        canvas.paste(top, (x, GAP))
        canvas.paste(bottom, (x, 2 * GAP + side))
    output.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(256).save(output, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=HERE / "images" / "detection.png")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="where the set is written (default: cache)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="pixels per image pixel")
    args = parser.parse_args(argv)
    draw(args.output, args.data_dir, args.seed, args.scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
