"""Evaluating CIFAR-10 checkpoints (the tutorial's ``cifar10_eval.py``).

:func:`evaluate_checkpoint` loads a checkpoint's moving-average weights into the model
its configuration describes, runs the whole test set through it exactly once (or its
first ``num_examples`` images) and returns precision @ 1: the share of images whose
highest logit is the true label. :func:`eval_loop` does that for the newest checkpoint
of ``checkpoint_dir``, writes ``Precision @ 1`` summaries to ``eval_dir``, and — unless
``run_once`` — waits ``eval_interval_secs`` and evaluates again whenever a newer
checkpoint has appeared.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import conveyor.torch as ct
from conveyor.apps.cifar10 import checkpoint, data
from conveyor.apps.loop import watch_checkpoints
from conveyor.datasets import embedded

__all__ = [
    "EvalConfig",
    "EvalResult",
    "eval_loop",
    "evaluate_checkpoint",
    "evaluate_model",
    "load_ema_model",
]


@dataclass
class EvalConfig:
    """An evaluation run.

    Attributes:
        checkpoint_dir: where the trainer writes checkpoints (its ``train_dir``).
        eval_dir: where ``Precision @ 1`` summaries go.
        data_dir: the CIFAR-10 folder; ``None``: the one the checkpoint trained on
            (the embedded digits when it trained on them).
        eval_data: ``"test"`` or ``"train_eval"`` (the training images, undistorted).
        num_examples: evaluate only the first this many images; ``None``: all.
        eval_interval_secs: how often to look for a new checkpoint.
        run_once: evaluate the newest checkpoint once and return.
        max_evaluations: stop after this many evaluations (``None``: never, in loop mode).
        stop_at_step: stop once a checkpoint of at least this global step has been
            evaluated (the trainer's ``max_steps``; ``None``: never, in loop mode).
        batch_size: images per batch.
        device: as :class:`~conveyor.apps.cifar10.train.TrainConfig`.
        summaries: write TensorBoard event files.
    """

    checkpoint_dir: str = "/tmp/cifar10_train"
    eval_dir: str = "/tmp/cifar10_eval"
    data_dir: str | None = None
    eval_data: str = "test"
    num_examples: int | None = None
    eval_interval_secs: float = 300.0
    run_once: bool = False
    max_evaluations: int | None = None
    stop_at_step: int | None = None
    batch_size: int = 256
    device: str | None = None
    summaries: bool = True


@dataclass
class EvalResult:
    """One evaluation: the checkpoint, its global step, and ``correct`` of ``total``."""

    checkpoint: Path
    global_step: int
    correct: int
    total: int

    @property
    def precision(self) -> float:
        return self.correct / self.total if self.total else 0.0


@torch.no_grad()
def evaluate_model(
    model: nn.Module, pipe: Any, device: torch.device | str, num_examples: int | None = None
) -> tuple[int, int]:
    """Run every batch of ``pipe`` (or its first ``num_examples`` images) through
    ``model`` in eval mode; returns ``(correct, total)``."""
    model.eval()
    correct = total = 0
    for images, labels in ct.loader(pipe, device=device):
        if num_examples is not None and total + len(labels) > num_examples:
            keep = num_examples - total
            images, labels = images[:keep], labels[:keep]
        predictions = model(images).argmax(dim=1)
        correct += int((predictions == labels.long()).sum())
        total += len(labels)
        if num_examples is not None and total >= num_examples:
            break
    return correct, total


def load_ema_model(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[nn.Module, Any, int]:
    """The model of the checkpoint at ``path`` with its moving-average weights, in eval
    mode on ``device``; returns ``(model, its TrainConfig, global step)``.

    Raises:
        NotFoundError, DataLossError: as :func:`conveyor.apps.cifar10.checkpoint.load`.
    """
    from conveyor.apps.cifar10.train import TrainConfig, build_model

    state = checkpoint.load(path)
    known = set(TrainConfig.__dataclass_fields__)
    config = TrainConfig(**{k: v for k, v in state["config"].items() if k in known})
    model = build_model(config)
    model.load_state_dict(state["ema"]["shadow"])
    model.to(device).eval()
    return model, config, int(state["global_step"])


def evaluate_checkpoint(
    path: str | Path,
    data_dir: Any = None,
    *,
    eval_data: bool = True,
    num_examples: int | None = None,
    batch_size: int = 256,
    device: str | None = None,
) -> EvalResult:
    """Precision @ 1 of the moving-average weights of the checkpoint at ``path``.

    Raises:
        NotFoundError, DataLossError: as :func:`conveyor.apps.cifar10.checkpoint.load`.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config, step = load_ema_model(path, dev)
    if data_dir is None:
        data_dir = config.data_dir
    recipe = config.input_recipe
    root = embedded() if data_dir is None else data.local_data_dir(data_dir)
    pipe = data.eval_inputs(recipe, root, batch_size, eval_data=eval_data)
    correct, total = evaluate_model(model, pipe, dev, num_examples)
    return EvalResult(Path(path), step, correct, total)


def eval_loop(
    config: EvalConfig,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EvalResult]:
    """Evaluate the newest checkpoint of ``config.checkpoint_dir`` once
    (``run_once``), or every time a newer one appears, looking every
    ``eval_interval_secs``; returns the evaluations made.

    Prints ``<time>: precision @ 1 = P`` for each and writes it as ``Precision @ 1``
    to ``eval_dir`` at the checkpoint's global step. Loop mode runs until
    ``max_evaluations`` evaluations or a checkpoint of ``stop_at_step`` (forever when
    both are ``None``; stop it with Ctrl-C).
    """
    say = log or (lambda line: print(line, flush=True))

    def evaluate(newest: Path, summaries: Any) -> EvalResult:
        result = evaluate_checkpoint(
            newest,
            config.data_dir,
            eval_data=config.eval_data == "test",
            num_examples=config.num_examples,
            batch_size=config.batch_size,
            device=config.device,
        )
        say(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}: step {result.global_step}, "
            f"precision @ 1 = {result.precision:.3f}"
        )
        if summaries is not None:
            summaries.scalars({"Precision @ 1": result.precision}, result.global_step)
            summaries.flush()
        return result

    return watch_checkpoints(config, evaluate, say, sleep)
