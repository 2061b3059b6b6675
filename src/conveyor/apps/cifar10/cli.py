"""``conveyor cifar10 train|eval``: the tutorial's ``cifar10_train.py`` and
``cifar10_eval.py`` flags, each also spelt with dashes (``--train-dir``).

Without ``--data_dir`` training uses the embedded digits and the short-run defaults of
:data:`DIGITS_DEFAULTS` (a few hundred steps, a cosine decay); with it, the tutorial's
(a million steps at 0.1, its staircase decay; the ResNet's step schedule).

``train --nproc N`` trains data-parallel: the command re-runs itself as ``N`` workers
under ``torch.distributed.run`` (torchrun: c10d rendezvous, one ``gloo`` or ``nccl``
process group), each on its shard of the data with ``--batch_size`` the global batch.
``--nnodes M --node_rank R --master_addr HOST --master_port P`` on each of ``M``
machines trains them together; node 0 hosts the rendezvous at ``HOST:P``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from conveyor.apps import _cli
from conveyor.apps._cli import LAUNCH, MASTER_PORT

__all__ = [
    "DIGITS_DEFAULTS",
    "LAUNCH",
    "MASTER_PORT",
    "launch_command",
    "main",
    "parser",
    "train_config",
]

#: what training on the embedded digits defaults to: ~25 epochs of their 1,497 images
#: through a tutorial network of half the width, on a fixed seed (a reproducible run)
DIGITS_DEFAULTS: dict[str, Any] = {
    "max_steps": 300,
    "schedule": "cosine",
    "lrn_rate": 0.02,
    "width": 32,
    "checkpoint_steps": 100,
    "histogram_frequency": 100,
    "seed": 0,
}

_flag = _cli.flag


def parser(prog: str = "conveyor cifar10") -> argparse.ArgumentParser:
    """The ``cifar10`` command line (``train``, ``eval``, ``features``, ``finetune``,
    ``download``)."""
    top = argparse.ArgumentParser(
        prog=prog, description="Train and evaluate CIFAR-10 models (TensorFlow's tutorial)."
    )
    sub = top.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train a model (cifar10_train.py), then report precision @ 1",
        description="Train a CIFAR-10 model, checkpointing to --train_dir; without "
        "--data_dir, on the embedded digits, then print precision @ 1 on their test set.",
    )
    _flag(
        t,
        "data_dir",
        default=None,
        help="folder holding cifar-10-batches-bin/ (default: the embedded digits, no download)",
    )
    _flag(
        t,
        "train_dir",
        default="/tmp/cifar10_train",
        help="where checkpoints and TensorBoard event files are written (default %(default)s)",
    )
    _flag(
        t,
        "max_steps",
        type=int,
        default=None,
        help="train up to this global step (default 1,000,000; 300 on the embedded digits)",
    )
    _flag(
        t,
        "batch_size",
        type=int,
        default=128,
        help="images per step, the global batch: with --nproc/--nnodes each of the "
        "processes takes an equal share (default %(default)s)",
    )
    _flag(
        t,
        "model",
        choices=("tutorial", "resnet"),
        default="tutorial",
        help="the tutorial's network (24x24 crops) or the ResNet (32x32)",
    )
    _flag(
        t,
        "num_residual_units",
        type=int,
        default=5,
        help="ResNet units per stage: 6n+2 layers (5 = ResNet-32), 9n+2 with --use_bottleneck",
    )
    _flag(
        t,
        "use_bottleneck",
        action="store_true",
        help="ResNet bottleneck units (1x1, 3x3, 1x1) instead of plain ones",
    )
    _flag(
        t,
        "lrn_rate",
        type=float,
        default=None,
        help="initial learning rate (default 0.1; 0.02 on the embedded digits)",
    )
    _flag(
        t,
        "min_lrn_rate",
        type=float,
        default=0.0001,
        help="the ResNet schedule's floor (default %(default)s)",
    )
    _flag(
        t,
        "schedule",
        choices=("tutorial", "resnet", "cosine"),
        default=None,
        help="learning-rate schedule (default: the model's; cosine on the embedded digits)",
    )
    _flag(
        t,
        "optimizer",
        choices=("mom", "sgd"),
        default="mom",
        help="SGD with momentum 0.9 (mom) or plain SGD",
    )
    _flag(
        t,
        "recipe",
        choices=("tutorial", "standard", "digits"),
        default=None,
        help="input augmentation (default: digits without --data_dir, else the model's)",
    )
    _flag(
        t,
        "width",
        type=int,
        default=None,
        help="the tutorial model's channels per convolution (default 64; 32 on the embedded digits)",
    )
    _cli.add_loop_flags(
        t,
        log_frequency=10,
        histogram_frequency=(
            None,
            "steps between weight histograms (default 1000; 100 on the embedded digits)",
        ),
        checkpoint_steps=(
            None,
            "steps between checkpoints (default 1000; 100 on the embedded digits)",
        ),
        seed=(
            None,
            "seed of the initialisation and every input draw: the same seed trains the "
            "same run (default: drawn; 0 on the embedded digits)",
        ),
        torch_threads_help="torch.set_num_threads (default: the CPU count less one, left to "
        "the input pipeline)",
    )
    _cli.add_distributed_flags(t)

    e = sub.add_parser(
        "eval",
        help="evaluate checkpoints (cifar10_eval.py): precision @ 1",
        description="Evaluate the newest checkpoint's moving-average weights on the whole "
        "test set, once or every time a new checkpoint appears.",
    )
    _flag(
        e,
        "checkpoint_dir",
        default="/tmp/cifar10_train",
        help="where the trainer writes checkpoints (default %(default)s)",
    )
    _flag(
        e,
        "eval_dir",
        default="/tmp/cifar10_eval",
        help="where Precision @ 1 summaries are written (default %(default)s)",
    )
    _flag(
        e,
        "data_dir",
        default=None,
        help="folder holding cifar-10-batches-bin/ (default: the checkpoint's own data)",
    )
    _flag(
        e,
        "eval_data",
        choices=("test", "train_eval"),
        default="test",
        help="the test set, or the training images undistorted (default %(default)s)",
    )
    _flag(
        e,
        "num_examples",
        type=int,
        default=None,
        help="evaluate only the first this many images (default: all of them)",
    )
    _flag(
        e,
        "eval_interval_secs",
        type=float,
        default=300.0,
        help="seconds between looks for a new checkpoint (default %(default)s)",
    )
    _flag(e, "run_once", action="store_true", help="evaluate once and exit")
    _flag(e, "batch_size", type=int, default=256, help="images per batch (default %(default)s)")
    _flag(e, "device", default=None, help="as for train")
    _flag(e, "no_summaries", action="store_true", help="write no TensorBoard event files")

    f = sub.add_parser(
        "features",
        help="save a trained model's bottleneck features of the train and test sets",
        description="Run every training and test image once, undistorted, through the "
        "newest checkpoint's moving-average weights and save the activations before the "
        "classifier, with the labels (.npz, or .safetensors by the name).",
    )
    _flag(
        f,
        "checkpoint_dir",
        default="/tmp/cifar10_train",
        help="where the trainer wrote checkpoints, or one checkpoint file (default %(default)s)",
    )
    _flag(
        f,
        "data_dir",
        default=None,
        help="folder holding cifar-10-batches-bin/ (default: the checkpoint's own data)",
    )
    _flag(
        f,
        "output",
        default="/tmp/cifar10_features.npz",
        help="the features file: .npz, or .safetensors (default %(default)s)",
    )
    _flag(f, "batch_size", type=int, default=256, help="images per batch (default %(default)s)")
    _flag(f, "device", default=None, help="as for train")

    h = sub.add_parser(
        "finetune",
        help="train a dense head on saved features, then report precision @ 1",
        description="Train a linear head (or one hidden layer) on the training features "
        "of a features file alone and print its precision @ 1 on the test features.",
    )
    _flag(
        h,
        "features",
        default="/tmp/cifar10_features.npz",
        help="a file written by `conveyor cifar10 features` (default %(default)s)",
    )
    _flag(h, "hidden", type=int, default=0, help="hidden units; 0: a linear head (default 0)")
    _flag(h, "epochs", type=int, default=30, help="passes over the features (default 30)")
    _flag(h, "batch_size", type=int, default=128, help="rows per step (default %(default)s)")
    _flag(h, "lrn_rate", type=float, default=0.1, help="initial learning rate, cosine decay")
    _flag(h, "weight_decay", type=float, default=1e-4, help="L2 on the head's weights")
    _flag(h, "seed", type=int, default=0, help="initialisation and shuffle (default 0)")
    _flag(h, "device", default=None, help="as for train")

    d = sub.add_parser(
        "download",
        help="fetch and extract cifar-10-binary.tar.gz into --data_dir, unless it is there",
        description="Fetch the CIFAR-10 binary archive (170,052,171 bytes) into --data_dir "
        "if its files are missing: resumed when interrupted, checked against the published "
        "MD5 before anything is extracted, extracted all or nothing. Then train with "
        "`conveyor cifar10 train --data_dir DIR`.",
    )
    _flag(d, "data_dir", default="/tmp/cifar10_data", help="where cifar-10-batches-bin/ goes")
    _flag(d, "url", default=None, help="a mirror of the archive (default: the Toronto URL)")
    _flag(d, "md5", default=None, help="the archive's MD5 to check (default: the published one)")
    _flag(
        d,
        "no_progress",
        action="store_true",
        help="no progress bar (the bar needs tqdm: the datasets or train extra)",
    )
    return top


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`~conveyor.apps.cifar10.train.TrainConfig` of parsed ``train`` flags:
    the flags given, else :data:`DIGITS_DEFAULTS` on the embedded digits, else the
    tutorial's defaults."""
    from conveyor.apps.cifar10.train import TrainConfig

    preset = DIGITS_DEFAULTS if args.data_dir is None else {}

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(args, name)
        return value if value is not None else preset.get(name, fallback)

    torch_threads = _cli.torch_threads(args.torch_threads)
    return TrainConfig(
        train_dir=args.train_dir,
        data_dir=args.data_dir,
        model=args.model,
        recipe=args.recipe,
        max_steps=pick("max_steps", 1_000_000),
        batch_size=args.batch_size,
        num_residual_units=args.num_residual_units,
        use_bottleneck=args.use_bottleneck,
        optimizer=args.optimizer,
        lrn_rate=pick("lrn_rate", 0.1),
        min_lrn_rate=args.min_lrn_rate,
        width=pick("width", 64),
        schedule=pick("schedule", None),
        log_frequency=args.log_frequency,
        histogram_frequency=pick("histogram_frequency", 1000),
        checkpoint_steps=pick("checkpoint_steps", 1000),
        checkpoint_secs=args.checkpoint_secs,
        keep_checkpoints=args.keep_checkpoints,
        seed=pick("seed", None),
        resume=args.resume,
        threads=args.threads,
        torch_threads=torch_threads,
        device=args.device,
        progress=args.progress,
        summaries=not args.no_summaries,
        evaluate=not args.no_eval,
    )


def launch_command(args: argparse.Namespace, argv: Sequence[str]) -> list[str]:
    """The ``torch.distributed.run`` command line that runs ``argv`` (the ``train``
    command's arguments) as ``--nproc`` workers on this node of ``--nnodes``."""
    return _cli.launch_command(args, argv, "cifar10")


def _train(args: argparse.Namespace, argv: Sequence[str], error: Any, exit_on_signal: bool) -> int:
    from conveyor.apps.cifar10.train import train

    if _cli.launching(args):
        return _cli.launch(args, argv, error, "cifar10", parser().parse_args)
    result = train(train_config(args))
    return _cli.finish_training(result.interrupted, exit_on_signal)


def _eval(args: argparse.Namespace) -> int:
    from conveyor.apps.cifar10.eval import EvalConfig, eval_loop

    config = EvalConfig(
        **_cli.eval_options(args), eval_data=args.eval_data, num_examples=args.num_examples
    )
    return _cli.run_eval(eval_loop, config)


def _features(args: argparse.Namespace) -> int:
    from conveyor.apps.cifar10.features import extract_features, save_features

    found = extract_features(
        args.checkpoint_dir, args.data_dir, batch_size=args.batch_size, device=args.device
    )
    path = save_features(found, args.output)
    print(
        f"step {found.global_step}: {len(found.train_labels)} training and "
        f"{len(found.test_labels)} test features of {found.dim} written to {path}",
        flush=True,
    )
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from conveyor.apps.cifar10.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lrn_rate=args.lrn_rate,
        weight_decay=args.weight_decay,
        seed=args.seed,
        device=args.device,
    )
    result = finetune(args.features, config)
    print(
        f"precision @ 1 = {result.precision:.3f} ({result.correct} of {result.total} test "
        f"features; {result.steps} steps in {result.seconds:.1f} s)",
        flush=True,
    )
    return 0


def main(
    argv: Sequence[str] | None = None,
    prog: str = "conveyor cifar10",
    exit_on_signal: bool = True,
) -> int:
    """Run ``train``, ``eval``, ``features``, ``finetune`` or ``download``; returns the
    exit status. When a signal stopped
    training the process exits at once with ``128 + signal`` (after the checkpoint),
    unless ``exit_on_signal`` is false: then that status is returned."""
    p = parser(prog)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args.command == "train":
        return _train(args, argv, p.error, exit_on_signal)
    if args.command == "features":
        return _features(args)
    if args.command == "finetune":
        return _finetune(args)
    if args.command == "download":
        return _download(args)
    return _eval(args)


def _download(args: argparse.Namespace) -> int:
    from conveyor.datasets import cifar10

    path = cifar10.download(
        args.data_dir, url=args.url, md5=args.md5, progress=not args.no_progress
    )
    print(f"CIFAR-10 is in {path / cifar10.FOLDER}")
    return 0
