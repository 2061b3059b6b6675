"""``conveyor detection train|eval|predict``: the detector's commands, with the
conventions of ``conveyor cifar10`` (the same flag names, each also spelt with dashes;
checkpoints, TensorBoard, ``--resume``, ``--nproc``/``--nnodes`` data parallelism).

Without ``--data_dir`` everything runs on the embedded detection set (made on first
use, offline): ``conveyor detection train`` trains for about four minutes on two CPU
cores and prints COCO's AP, AP50 and AP75 on its test images; ``conveyor detection
eval --run_once`` prints COCO's whole table for the newest checkpoint; ``conveyor
detection predict`` writes PNGs of its predictions beside the true boxes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from conveyor.apps import _cli

__all__ = ["launch_command", "main", "parser", "train_config"]

_flag = _cli.flag


def parser(prog: str = "conveyor detection") -> argparse.ArgumentParser:
    """The ``detection`` command line (``train``, ``eval``, ``predict``)."""
    top = argparse.ArgumentParser(
        prog=prog,
        description="Train, evaluate and draw a Faster R-CNN detector (COCO-format data; "
        "the embedded digits-on-canvas set by default).",
    )
    sub = top.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train the detector, then report COCO AP, AP50 and AP75",
        description="Train a Faster R-CNN (ResNet backbone, RPN, RoI Align, box head), "
        "checkpointing to --train_dir; without --data_dir on the embedded detection set, "
        "then print COCO's AP on its test split.",
    )
    _flag(
        t,
        "data_dir",
        default=None,
        help="a folder of COCO-format splits: instances_<split>.json (or "
        "annotations/instances_<split>.json) and <split>/ images (default: the embedded "
        "detection set, made offline)",
    )
    _flag(
        t,
        "train_dir",
        default="/tmp/detection_train",
        help="where checkpoints and TensorBoard event files are written (default %(default)s)",
    )
    _flag(t, "train_split", default="train", help="the split trained on (default %(default)s)")
    _flag(t, "eval_split", default="test", help="the split evaluated on (default %(default)s)")
    _flag(
        t,
        "max_steps",
        type=int,
        default=1200,
        help="train up to this global step (default %(default)s: about 4 minutes on 2 cores)",
    )
    _flag(
        t,
        "batch_size",
        type=int,
        default=8,
        help="images per step, the global batch: with --nproc/--nnodes each of the "
        "processes takes an equal share (default %(default)s)",
    )
    _flag(
        t,
        "image_size",
        type=int,
        default=128,
        help="images are letterboxed to this square, a multiple of 4 (default %(default)s)",
    )
    _flag(
        t,
        "recipe",
        choices=("digits", "flip", "none"),
        default=None,
        help="augmentation: digits (brightness, contrast; no flips: a mirrored digit is "
        "another digit), flip (a horizontal flip that moves the boxes, then the same), "
        "none (default: digits on the embedded set, flip otherwise)",
    )
    _flag(
        t,
        "num_residual_units",
        type=int,
        default=1,
        help="backbone ResNet units per stage (default %(default)s)",
    )
    _flag(t, "use_bottleneck", action="store_true", help="bottleneck backbone units")
    _flag(t, "lrn_rate", type=float, default=0.02, help="peak learning rate (default %(default)s)")
    _flag(
        t,
        "warmup_steps",
        type=int,
        default=100,
        help="linear warm-up steps before the cosine decay (default %(default)s)",
    )
    _flag(t, "weight_decay", type=float, default=1e-4, help="L2 rate (default %(default)s)")
    _cli.add_loop_flags(
        t,
        log_frequency=20,
        histogram_frequency=(400, "steps between weight histograms (default %(default)s)"),
        checkpoint_steps=(400, "steps between checkpoints (default %(default)s)"),
        seed=(0, "seed of the initialisation and every input draw (default %(default)s)"),
        torch_threads_help="torch.set_num_threads (default: the CPU count)",
    )
    _cli.add_distributed_flags(t)

    e = sub.add_parser(
        "eval",
        help="evaluate checkpoints with COCO's evaluator: AP, AP50, AP75 and the rest",
        description="Evaluate the newest checkpoint's moving-average weights on a whole "
        "split with pycocotools' COCOeval and print its standard table, once or every "
        "time a new checkpoint appears.",
    )
    _flag(
        e,
        "checkpoint_dir",
        default="/tmp/detection_train",
        help="where the trainer writes checkpoints (default %(default)s)",
    )
    _flag(
        e,
        "eval_dir",
        default="/tmp/detection_eval",
        help="where AP summaries are written (default %(default)s)",
    )
    _flag(e, "data_dir", default=None, help="the data folder (default: the checkpoint's own)")
    _flag(e, "split", default=None, help="the split (default: the checkpoint's eval split)")
    _flag(
        e,
        "eval_interval_secs",
        type=float,
        default=300.0,
        help="seconds between looks for a new checkpoint (default %(default)s)",
    )
    _flag(e, "run_once", action="store_true", help="evaluate once and exit")
    _flag(e, "batch_size", type=int, default=16, help="images per batch (default %(default)s)")
    _flag(e, "device", default=None, help="as for train")
    _flag(e, "no_summaries", action="store_true", help="write no TensorBoard event files")

    p = sub.add_parser(
        "predict",
        help="write PNGs of a checkpoint's detections beside the true boxes",
        description="Draw the newest checkpoint's detections (red, with class and score) "
        "and the true boxes (green) on the first --count images of a split; write one PNG "
        "per image and a grid.png of the first 16.",
    )
    _flag(
        p,
        "checkpoint_dir",
        default="/tmp/detection_train",
        help="where the trainer wrote checkpoints, or one checkpoint file (default %(default)s)",
    )
    _flag(p, "data_dir", default=None, help="the data folder (default: the checkpoint's own)")
    _flag(p, "split", default=None, help="the split (default: the checkpoint's eval split)")
    _flag(
        p,
        "output",
        default="/tmp/detection_predictions",
        help="where the PNGs go (default %(default)s)",
    )
    _flag(p, "count", type=int, default=16, help="images drawn (default %(default)s)")
    _flag(
        p,
        "score_threshold",
        type=float,
        default=0.5,
        help="detections drawn score at least this (default %(default)s)",
    )
    _flag(p, "scale", type=int, default=3, help="upscaling of the pictures (default %(default)s)")
    _flag(p, "device", default=None, help="as for train")
    return top


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`~conveyor.apps.detection.train.TrainConfig` of parsed ``train`` flags."""
    from conveyor.apps.detection.train import TrainConfig

    return TrainConfig(
        train_dir=args.train_dir,
        data_dir=args.data_dir,
        train_split=args.train_split,
        eval_split=args.eval_split,
        recipe=args.recipe,
        image_size=args.image_size,
        num_residual_units=args.num_residual_units,
        use_bottleneck=args.use_bottleneck,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lrn_rate=args.lrn_rate,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        log_frequency=args.log_frequency,
        histogram_frequency=args.histogram_frequency,
        checkpoint_steps=args.checkpoint_steps,
        checkpoint_secs=args.checkpoint_secs,
        keep_checkpoints=args.keep_checkpoints,
        seed=args.seed,
        resume=args.resume,
        threads=args.threads,
        torch_threads=_cli.torch_threads(args.torch_threads, leave=0),
        device=args.device,
        progress=args.progress,
        summaries=not args.no_summaries,
        evaluate=not args.no_eval,
    )


def launch_command(args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
    """The ``torch.distributed.run`` command line that runs ``argv`` (the ``train``
    command's arguments) as ``--nproc`` workers."""
    return _cli.launch_command(args, argv, "detection")


def _train(args: argparse.Namespace, argv: Sequence[str], error: Any, exit_on_signal: bool) -> int:
    from conveyor.apps.detection.train import train

    if _cli.launching(args):
        return _cli.launch(args, argv, error, "detection", parser().parse_args)
    result = train(train_config(args))
    if result.metrics is not None:
        print(
            f"COCO AP = {result.metrics['AP']:.3f}, AP50 = {result.metrics['AP50']:.3f}, "
            f"AP75 = {result.metrics['AP75']:.3f} on the {args.eval_split} split",
            flush=True,
        )
    return _cli.finish_training(result.interrupted, exit_on_signal)


def _eval(args: argparse.Namespace) -> int:
    from conveyor.apps.detection.eval import EvalConfig, eval_loop

    config = EvalConfig(**_cli.eval_options(args), split=args.split)
    return _cli.run_eval(eval_loop, config)


def _predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from conveyor.apps.cifar10 import checkpoint
    from conveyor.apps.detection.predict import predict
    from conveyor.errors import NotFoundError

    source = Path(args.checkpoint_dir)
    path = source if source.is_file() else checkpoint.latest(source)
    if path is None:
        raise NotFoundError(
            f"no checkpoint found in {source}: train first (conveyor detection train)"
        )
    result = predict(
        path,
        args.output,
        data_dir=args.data_dir,
        split=args.split,
        count=args.count,
        score_threshold=args.score_threshold,
        scale=args.scale,
        device=args.device,
    )
    print(
        f"step {result.global_step}: {len(result.files)} pictures in {Path(args.output)} "
        f"(and {result.grid.name})",
        flush=True,
    )
    return 0


def main(
    argv: Sequence[str] | None = None,
    prog: str = "conveyor detection",
    exit_on_signal: bool = True,
) -> int:
    """Run ``train``, ``eval`` or ``predict``; returns the exit status (``128 + signal``
    when a signal stopped training: the process exits at once after its checkpoint
    unless ``exit_on_signal`` is false)."""
    p = parser(prog)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args.command == "train":
        return _train(args, argv, p.error, exit_on_signal)
    if args.command == "predict":
        return _predict(args)
    return _eval(args)
