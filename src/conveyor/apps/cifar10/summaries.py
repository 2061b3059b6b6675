"""TensorBoard summaries of training and evaluation: real event files, written with
``torch.utils.tensorboard`` (``pip install "conveyor[train]"`` brings TensorBoard).

Training writes, under ``train_dir``:

====================================  ==============================================
tag                                   what
====================================  ==============================================
``total_loss``                        cross entropy plus weight decay, per step logged
``cross_entropy``                     the cross entropy alone
``learning_rate``                     the rate of that step
``global_step/sec``                   steps per second since the last summary
``examples/sec``                      training images per second since then
``input/stall_percent``               % of that time the loop waited for a batch
``input/queue_fill/<stage>``          each pipeline stage's output queue fill, 0..1
``weights/<parameter>``               histograms, at a lower frequency
``input/augmented_images``            a grid of augmented training images, once
====================================  ==============================================

Evaluation writes ``Precision @ 1`` under ``eval_dir``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from conveyor._optional import require

__all__ = ["Summaries", "image_grid", "tag_of"]


def tag_of(name: str) -> str:
    """A stage or parameter name as a TensorBoard tag (letters, digits, ``_.-/``)."""
    return re.sub(r"[^A-Za-z0-9_.\-/]+", "_", name).strip("_") or "stage"


def image_grid(images: torch.Tensor, columns: int = 8) -> torch.Tensor:
    """NCHW images as one CHW grid, each image rescaled to 0..1 by its own range (the
    inputs are standardized, not pixel values)."""
    images = images.detach().float().cpu()
    n, c, h, w = images.shape
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    images = (images - low) / (high - low).clamp_min(1e-8)
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    grid = torch.zeros(c, rows * h, columns * w)
    for i in range(n):
        y, x = divmod(i, columns)
        grid[:, y * h : (y + 1) * h, x * w : (x + 1) * w] = images[i]
    return grid


class Summaries:
    """An event file writer for one folder.

    Raises:
        ImportError: TensorBoard is not installed (the message names ``conveyor[train]``).
    """

    def __init__(self, log_dir: str | Path) -> None:
        require("tensorboard", "TensorBoard summaries")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)

    def pipeline(self, stats: Any, step: int) -> None:
        """Each stage's output queue fill from a :class:`~conveyor.pipeline.stats.PipelineStats`."""
        for stage in stats.stages:
            self.writer.add_scalar(
                f"input/queue_fill/{tag_of(stage.name)}", float(stage.output_fill), step
            )

    def histograms(self, model: nn.Module, step: int) -> None:
        for name, parameter in model.named_parameters():
            self.writer.add_histogram(f"weights/{tag_of(name)}", parameter.detach().cpu(), step)

    def images(self, tag: str, images: torch.Tensor, step: int, count: int = 16) -> None:
        self.writer.add_image(tag, image_grid(images[:count]), step, dataformats="CHW")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
