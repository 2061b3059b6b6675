"""Evaluating detectors with COCO's evaluator (``pycocotools.cocoeval.COCOeval``).

:func:`detect` runs a split through a model once, in file order, and returns its
detections in COCO's result format, in each image's own pixels. :func:`coco_metrics`
scores them against the split's annotation file — the twelve numbers of COCO's
standard table (AP at IoU 0.50:0.95, 0.50 and 0.75; by object size; AR at 1, 10 and
100 detections), with crowd regions ignored as COCO ignores them. :func:`evaluate_checkpoint`
does both for a checkpoint's moving-average weights, and :func:`eval_loop` for the
newest checkpoint of a folder, once or whenever a newer one appears, writing AP, AP50
and AP75 to TensorBoard at the checkpoint's step.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from conveyor._optional import require
from conveyor.apps.cifar10 import checkpoint
from conveyor.apps.detection import data
from conveyor.apps.loop import watch_checkpoints

__all__ = [
    "METRICS",
    "EvalConfig",
    "EvalResult",
    "coco_metrics",
    "detect",
    "eval_loop",
    "evaluate_checkpoint",
    "evaluate_model",
    "load_ema_model",
]

#: the names of ``COCOeval.stats``, in its order
METRICS = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


@dataclass
class EvalResult:
    """A model's scores on a split.

    Attributes:
        metrics: :data:`METRICS` to values (-1 where COCO has none: no object of a size).
        table: COCO's standard table, as ``COCOeval.summarize`` prints it.
        detections: the detections scored, in COCO's result format.
        images: the images run.
        global_step: the checkpoint's step (``None`` for a model).
        checkpoint: its path.
    """

    metrics: dict[str, float]
    table: str
    detections: list[dict[str, Any]] = field(repr=False)
    images: int
    global_step: int | None = None
    checkpoint: Path | None = None

    def line(self) -> str:
        m = self.metrics
        return f"AP = {m['AP']:.3f}, AP50 = {m['AP50']:.3f}, AP75 = {m['AP75']:.3f}"


@torch.no_grad()
def detect(
    model: nn.Module,
    root: str | os.PathLike[str],
    split: str,
    *,
    image_size: int = 128,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    limit: int | None = None,
    keep_images: bool = False,
) -> tuple[list[dict[str, Any]], Any, list[dict[str, Any]]]:
    """The model's detections on ``split``: ``(COCO results, the dataset, per-image
    records)``. A record holds an image's id, its true boxes and labels and its
    detections (in the fitted image's pixels), and with ``keep_images`` the fitted
    image itself (float32 HWC); boxes in the results are in the original image's
    pixels. ``limit`` stops after that many images."""
    pipe, dataset = data.eval_inputs(root, batch_size, split=split, image_size=image_size)
    model.eval()
    results: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for batch in pipe:
        images = torch.from_numpy(batch["image"]).to(device).permute(0, 3, 1, 2)
        found = model(images)
        ids, boxes, scores, labels = [], [], [], []
        for i, d in enumerate(found):
            b = d["boxes"].cpu().numpy()
            k = int(batch["num_boxes"][i])
            ids.append(int(batch["image_id"][i]))
            info = dataset.coco.imgs[ids[-1]]
            # into the image's own pixels, clipped to it (not to the letterboxed canvas)
            own = data.unframe(b, batch["frame"][i])
            own[:, 0::2] = own[:, 0::2].clip(0, info["width"])
            own[:, 1::2] = own[:, 1::2].clip(0, info["height"])
            boxes.append(own)
            scores.append(d["scores"].cpu().numpy())
            labels.append(d["labels"].cpu().numpy())
            records.append(
                {
                    "image_id": ids[-1],
                    "image": batch["image"][i] if keep_images else None,
                    "true_boxes": batch["boxes"][i, :k],
                    "true_labels": batch["labels"][i, :k],
                    "boxes": b,
                    "scores": scores[-1],
                    "labels": labels[-1],
                }
            )
        results += dataset.results(ids, boxes, scores, labels)
        if limit is not None and len(records) >= limit:
            break
    return results, dataset, records


def coco_metrics(dataset: Any, results: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """COCO's bounding-box metrics of ``results`` against ``dataset``'s annotations:
    ``(METRICS to values, the printed table)``. No detections at all score 0."""
    cocoeval = require("pycocotools.cocoeval", "COCO evaluation", extra="detection")
    coco = dataset.coco
    if not results:
        return dict.fromkeys(METRICS, 0.0), "no detections\n"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        evaluator = cocoeval.COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.params.imgIds = sorted(coco.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        evaluator.summarize()
    return dict(zip(METRICS, (float(v) for v in evaluator.stats))), table.getvalue()


def evaluate_model(
    model: nn.Module,
    root: str | os.PathLike[str],
    split: str,
    *,
    image_size: int = 128,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> EvalResult:
    """COCO's metrics of ``model`` on every image of ``split``."""
    results, dataset, records = detect(
        model, root, split, image_size=image_size, batch_size=batch_size, device=device
    )
    metrics, table = coco_metrics(dataset, results)
    return EvalResult(metrics, table, results, len(records))


def load_ema_model(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[nn.Module, Any, int]:
    """The detector of the checkpoint at ``path`` with its moving-average weights, in
    eval mode on ``device``; returns ``(model, its TrainConfig, global step)``.

    Raises:
        NotFoundError, DataLossError: as :func:`conveyor.apps.cifar10.checkpoint.load`.
    """
    from conveyor.apps.detection.train import TrainConfig, build_model

    state = checkpoint.load(path)
    config = TrainConfig.from_dict(state["config"])
    model = build_model(config)
    model.load_state_dict(state["ema"]["shadow"])
    model.to(device).eval()
    return model, config, int(state["global_step"])


def evaluate_checkpoint(
    path: str | os.PathLike[str],
    data_dir: str | None = None,
    *,
    split: str | None = None,
    batch_size: int = 16,
    device: str | None = None,
) -> EvalResult:
    """COCO's metrics of the checkpoint's moving-average weights on ``split`` (default:
    its training run's ``eval_split``) of ``data_dir`` (default: its run's)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config, step = load_ema_model(path, dev)
    root = data.local_root(data_dir if data_dir is not None else config.data_dir)
    found = evaluate_model(
        model,
        root,
        split or config.eval_split,
        image_size=config.image_size,
        batch_size=batch_size,
        device=dev,
    )
    found.global_step, found.checkpoint = step, Path(path)
    return found


@dataclass
class EvalConfig:
    """An evaluation run (the CIFAR-10 ``EvalConfig``'s conventions).

    Attributes:
        checkpoint_dir: where the training run writes checkpoints.
        eval_dir: TensorBoard event files of the evaluations.
        data_dir: the data folder; ``None``: the training run's.
        split: the split; ``None``: the training run's ``eval_split``.
        eval_interval_secs: how often to look for a newer checkpoint.
        run_once: evaluate the newest checkpoint and stop.
        max_evaluations, stop_at_step: when loop mode ends (``None``: never).
        batch_size: images per forward pass.
        device: ``None``: CUDA when available.
        summaries: write the event files.
    """

    checkpoint_dir: str = "/tmp/detection_train"
    eval_dir: str = "/tmp/detection_eval"
    data_dir: str | None = None
    split: str | None = None
    eval_interval_secs: float = 300.0
    run_once: bool = False
    max_evaluations: int | None = None
    stop_at_step: int | None = None
    batch_size: int = 16
    device: str | None = None
    summaries: bool = True


def eval_loop(
    config: EvalConfig,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EvalResult]:
    """Evaluate the newest checkpoint of ``config.checkpoint_dir`` once (``run_once``)
    or each time a newer one appears; prints COCO's table and ``step N: AP = …`` for
    each, and writes ``AP``, ``AP50``, ``AP75`` to ``eval_dir``."""
    say = log or (lambda line: print(line, flush=True))

    def evaluate(newest: Path, summaries: Any) -> EvalResult:
        found = evaluate_checkpoint(
            newest,
            config.data_dir,
            split=config.split,
            batch_size=config.batch_size,
            device=config.device,
        )
        found.detections = []  # a split's worth per checkpoint: not kept
        say(found.table.rstrip())
        say(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: step {found.global_step}, "
            f"{found.line()} ({found.images} images)"
        )
        if summaries is not None:
            picked = {k: found.metrics[k] for k in ("AP", "AP50", "AP75")}
            summaries.scalars(picked, int(found.global_step or 0))
            summaries.flush()
        return found

    return watch_checkpoints(config, evaluate, say, sleep)
