"""Pictures of a detector's predictions: each image with its true boxes in green and
the predicted boxes above a score threshold in red, each labelled with its class and
score, written as PNGs (``conveyor detection predict``).

Files: ``<output>/<image id, six digits>.png`` (``000001.png``) for each image (upscaled ``scale`` times, nearest
neighbour, so small images stay legible) and ``<output>/grid.png``, the first 16 side by
side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from conveyor.apps.detection import data
from conveyor.apps.detection.eval import detect, load_ema_model
from conveyor.errors import InvalidArgumentError, NotFoundError
from conveyor.image import boxes as bx
from conveyor.ops.image_codecs import encode_png

__all__ = ["TRUE_COLOR", "PREDICTED_COLOR", "PredictResult", "draw", "drawn_batch", "predict"]

TRUE_COLOR = (0, 230, 0)
PREDICTED_COLOR = (255, 40, 40)


def draw(
    image: np.ndarray,
    true_boxes: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    names: list[str] | None = None,
    scale: int = 3,
) -> np.ndarray:
    """``image`` (HWC, 0..255) upscaled ``scale`` times with the true boxes drawn in
    :data:`TRUE_COLOR` and the predictions in :data:`PREDICTED_COLOR`, each prediction
    captioned ``name score`` (Pillow's default font); ``uint8``."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise InvalidArgumentError(f"scale must be a positive int, got {scale!r}")
    img = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    t = max(1, scale // 2 + 1)
    img = bx.draw_boxes(
        img, np.asarray(true_boxes, np.float32).reshape(-1, 4) * scale, TRUE_COLOR, t
    )
    pred = np.asarray(boxes, np.float32).reshape(-1, 4) * scale
    img = bx.draw_boxes(img, pred, PREDICTED_COLOR, t)
    if len(pred):
        from PIL import Image, ImageDraw

        canvas = Image.fromarray(img)
        pen = ImageDraw.Draw(canvas)
        for (x0, y0, _, _), score, label in zip(pred.tolist(), np.ravel(scores), np.ravel(labels)):
            name = names[int(label)] if names is not None else str(int(label))
            pen.text((x0 + 2, max(y0 - 11, 0)), f"{name} {score:.2f}", fill=PREDICTED_COLOR)
        img = np.asarray(canvas)
    return img


def drawn_batch(batch: dict[str, Any], count: int = 8) -> torch.Tensor:
    """A training batch's first ``count`` images with their boxes drawn, NCHW float
    0..1 (for a TensorBoard image summary)."""
    images = batch["image"][:count].cpu().numpy()
    out = []
    for i, img in enumerate(images):
        k = int(batch["num_boxes"][i])
        drawn = bx.draw_boxes(
            np.clip(img, 0, 255).astype(np.uint8),
            batch["boxes"][i, :k].cpu().numpy(),
            TRUE_COLOR,
        )
        out.append(drawn)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def _grid(images: list[np.ndarray], columns: int = 4) -> np.ndarray:
    h, w, c = images[0].shape
    rows = -(-len(images) // columns)
    grid = np.full((rows * (h + 4) + 4, columns * (w + 4) + 4, c), 255, np.uint8)
    for i, img in enumerate(images):
        y, x = divmod(i, columns)
        grid[4 + y * (h + 4) : 4 + y * (h + 4) + h, 4 + x * (w + 4) : 4 + x * (w + 4) + w] = img
    return grid


@dataclass
class PredictResult:
    """What :func:`predict` wrote: the image files, the grid, the checkpoint's step."""

    files: list[Path]
    grid: Path
    global_step: int


def predict(
    checkpoint_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    data_dir: str | None = None,
    split: str | None = None,
    count: int = 16,
    score_threshold: float = 0.5,
    scale: int = 3,
    device: str | None = None,
) -> PredictResult:
    """Draw the checkpoint's (moving-average) detections on the first ``count`` images
    of ``split`` (default: its run's ``eval_split``) and write them to ``output``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(f"count must be a positive int, got {count!r}")
    if not 0.0 <= score_threshold <= 1.0:
        raise InvalidArgumentError(f"score_threshold must be in [0, 1], got {score_threshold}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config, step = load_ema_model(checkpoint_path, dev)
    root = data.local_root(data_dir if data_dir is not None else config.data_dir)
    _, dataset, records = detect(
        model,
        root,
        split or config.eval_split,
        image_size=config.image_size,
        batch_size=min(count, 16),
        device=dev,
        limit=count,
        keep_images=True,
    )
    if not records:
        raise NotFoundError(f"no images in the split {split or config.eval_split!r} of {root}")
    names = [c["name"] for c in dataset.coco.loadCats(dataset.category_ids)]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files, drawn = [], []
    for r in records[:count]:
        keep = r["scores"] >= score_threshold
        img = draw(
            r["image"],
            r["true_boxes"],
            r["boxes"][keep],
            r["scores"][keep],
            r["labels"][keep],
            names,
            scale,
        )
        path = out / f"{r['image_id']:06d}.png"
        path.write_bytes(encode_png(img))
        files.append(path)
        drawn.append(img)
    grid = out / "grid.png"
    grid.write_bytes(encode_png(_grid(drawn[:16])))
    return PredictResult(files, grid, step)
