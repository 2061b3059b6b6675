"""Training a CIFAR-10 model (the tutorial's ``cifar10_train.py``), fed by conveyor.

:func:`train` takes a :class:`TrainConfig` and returns a :class:`TrainResult`. It is
built from seams that a distributed or benchmarking caller can reuse or replace:

- :func:`build_model` and :func:`build_optimizer` — the network of ``config.model``
  (:mod:`conveyor.apps.cifar10.models`) and SGD (momentum 0.9 for ``"mom"``) over it.
- :func:`learning_rate_at` — the schedule: the tutorial's staircase decay (x0.1 every
  350 epochs) for the tutorial model, ``resnet_main``'s step schedule for the ResNet,
  or, for short runs (the embedded digits), a cosine decay to zero over ``max_steps``.
- :func:`build_inputs` — the training pipeline of the recipe
  (:mod:`conveyor.apps.cifar10.data`), fed through :func:`conveyor.torch.loader`. When
  ``torch.distributed`` is initialised it is this rank's share, sharded at the source:
  rank ``r`` of ``N`` reads and augments only the records ``r, r + N, …`` of each
  epoch's permutation, in batches of ``batch_size / N``.
- :func:`train_step` — one step: cross entropy plus the model's weight decay, backward,
  the optimizer's step. It takes the module to run, so a ``DistributedDataParallel``
  wrapper can be passed in its place.
- :func:`checkpoint_state` / :func:`restore_state` — what a checkpoint holds and how a
  run resumes from it (:mod:`conveyor.apps.cifar10.checkpoint`; both are
  :mod:`conveyor.apps.loop`'s).
- ``is_main`` (rank 0, or the only process): only it logs, writes summaries and
  checkpoints, and evaluates.

Data parallel: launched by ``torch.distributed.run`` (``conveyor cifar10 train
--nproc N``), every worker finds ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in its
environment, and :func:`train` initialises the process group from it (``nccl`` on
CUDA, ``gloo`` on CPU), wraps the model in ``DistributedDataParallel`` and trains on
its own shard. ``batch_size`` is the global batch: the ``N`` processes take
``batch_size / N`` images each and DDP averages their gradients, so a step is the step
of one process on the union of their batches. The logged loss is the mean over ranks
(the global batch's); the ranks agree every step on whether to stop (a signal on any
of them) or checkpoint (``checkpoint_secs`` on rank 0's clock), and a checkpoint holds
every rank's input position, so ``--resume`` continues each shard where it was.

The loop is the applications' shared one (:mod:`conveyor.apps.loop`): it keeps a
global step and an exponential moving average of the weights
(:mod:`conveyor.apps.cifar10.ema`), logs ``step N, loss = L (X examples/sec; Y
sec/batch)`` every ``log_frequency`` steps (a tqdm bar too, on a terminal), writes
TensorBoard summaries (:mod:`conveyor.apps.cifar10.summaries`), and checkpoints every
``checkpoint_steps`` steps or ``checkpoint_secs`` seconds and at the end. SIGINT and
SIGTERM finish the current step, write a checkpoint, stop the input pipeline's threads
and return (``TrainResult.interrupted`` names the signal).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import conveyor.torch as ct
from conveyor.apps import loop
from conveyor.apps.cifar10 import data, models
from conveyor.apps.cifar10.ema import MOVING_AVERAGE_DECAY, ExponentialMovingAverage
from conveyor.apps.loop import (
    StopFlag,
    agreed_seed,
    checkpoint_state,
    device_for,
    init_distributed,
    restore_state,
    signals_caught,
    world,
)
from conveyor.core.errors import InvalidArgumentError
from conveyor.datasets import embedded

__all__ = [
    "TrainConfig",
    "TrainResult",
    "build_inputs",
    "build_model",
    "build_optimizer",
    "checkpoint_state",
    "learning_rate_at",
    "restore_state",
    "train",
    "train_step",
]

#: the tutorial's NUM_EPOCHS_PER_DECAY and LEARNING_RATE_DECAY_FACTOR
NUM_EPOCHS_PER_DECAY = 350.0
LEARNING_RATE_DECAY_FACTOR = 0.1


@dataclass
class TrainConfig:
    """Everything a training run is given. ``None`` fields take the model's default.

    Attributes:
        train_dir: checkpoints and event files go here.
        data_dir: the CIFAR-10 folder; ``None`` trains on the embedded digits.
        model: ``"tutorial"`` or ``"resnet"``.
        recipe: the input recipe (:mod:`conveyor.apps.cifar10.data`); ``None``:
            ``digits`` on the embedded data, else ``tutorial`` for the tutorial model
            and ``standard`` for the ResNet.
        max_steps: steps to train to (a resumed run continues up to it).
        batch_size: images per step: the global batch, divided evenly among the
            processes when distributed.
        num_residual_units, use_bottleneck, relu_leakiness, optimizer: the ResNet's
            :class:`~conveyor.apps.cifar10.models.HParams`.
        lrn_rate: the initial learning rate (0.1).
        min_lrn_rate: the ResNet schedule's floor.
        schedule: ``"tutorial"``, ``"resnet"`` or ``"cosine"``; ``None``: the model's.
        weight_decay: the decay rate; ``None``: 0.004 (tutorial fc layers) or 0.0002.
        momentum: for ``optimizer="mom"``.
        width: the tutorial model's convolution channels (64).
        ema_decay: the moving average's largest decay.
        log_frequency: steps between log lines and scalar summaries.
        histogram_frequency: steps between weight histograms.
        checkpoint_steps, checkpoint_secs: checkpoint when either has passed
            (``None`` turns one off); always at the end.
        keep_checkpoints: the newest checkpoints kept.
        seed: the seed of the weights' initialisation and of every input draw;
            ``None`` draws one (recorded in the checkpoint's data state).
        resume: continue from the newest checkpoint in ``train_dir``, if any.
        threads: input pipeline threads.
        torch_threads: ``torch.set_num_threads`` (``None`` leaves torch's default).
        device: ``"cpu"``, ``"cuda"``…; ``None``: CUDA when available.
        progress: a tqdm bar; ``None``: when stdout is a terminal.
        summaries: write TensorBoard event files.
        evaluate: after training, compute precision @ 1 on the test set (EMA weights).
        handle_signals: stop cleanly on SIGINT/SIGTERM (only from the main thread).
    """

    train_dir: str = "/tmp/cifar10_train"
    data_dir: str | None = None
    model: str = "tutorial"
    recipe: str | None = None
    max_steps: int = 1_000_000
    batch_size: int = 128
    num_residual_units: int = 5
    use_bottleneck: bool = False
    relu_leakiness: float = 0.1
    optimizer: str = "mom"
    lrn_rate: float = 0.1
    min_lrn_rate: float = 0.0001
    schedule: str | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    width: int = 64
    ema_decay: float = MOVING_AVERAGE_DECAY
    log_frequency: int = 10
    histogram_frequency: int = 1000
    checkpoint_steps: int | None = 1000
    checkpoint_secs: float | None = 600.0
    keep_checkpoints: int = 5
    seed: int | None = None
    resume: bool = False
    threads: int = 2
    torch_threads: int | None = None
    device: str | None = None
    progress: bool | None = None
    summaries: bool = True
    evaluate: bool = True
    handle_signals: bool = True

    def __post_init__(self) -> None:
        if self.model not in ("tutorial", "resnet"):
            raise InvalidArgumentError(f"model must be 'tutorial' or 'resnet', got {self.model!r}")
        if self.recipe is not None and self.recipe not in data.RECIPES:
            raise InvalidArgumentError(f"recipe must be one of {data.RECIPES}, got {self.recipe!r}")
        if self.schedule not in (None, "tutorial", "resnet", "cosine"):
            raise InvalidArgumentError(
                f"schedule must be 'tutorial', 'resnet' or 'cosine', got {self.schedule!r}"
            )
        for name in ("max_steps", "batch_size", "log_frequency", "histogram_frequency", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")

    @property
    def input_recipe(self) -> str:
        if self.recipe is not None:
            return self.recipe
        if self.data_dir is None:
            return "digits"
        return "tutorial" if self.model == "tutorial" else "standard"

    @property
    def lr_schedule(self) -> str:
        if self.schedule is not None:
            return self.schedule
        return "tutorial" if self.model == "tutorial" else "resnet"

    def hparams(self) -> models.HParams:
        """The ResNet's :class:`~conveyor.apps.cifar10.models.HParams` of this config."""
        return models.HParams(
            batch_size=self.batch_size,
            num_classes=10,
            min_lrn_rate=self.min_lrn_rate,
            lrn_rate=self.lrn_rate,
            num_residual_units=self.num_residual_units,
            use_bottleneck=self.use_bottleneck,
            weight_decay_rate=0.0002 if self.weight_decay is None else self.weight_decay,
            relu_leakiness=self.relu_leakiness,
            optimizer=self.optimizer,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What a run did.

    Attributes:
        global_step: the steps taken, counting those of a resumed run.
        loss: the total loss of the last step.
        checkpoint: the last checkpoint written (``None`` if none).
        examples_per_sec: training throughput of this run.
        input_stall: the share of this run's loop time spent waiting for data.
        precision: precision @ 1 on the test set with the EMA weights
            (``config.evaluate``; else ``None``).
        interrupted: the name of the signal that stopped the run, or ``None``.
        seconds: the wall time of the loop.
    """

    global_step: int
    loss: float
    checkpoint: Path | None
    examples_per_sec: float
    input_stall: float
    precision: float | None = None
    interrupted: str | None = None
    seconds: float = 0.0
    stats: Any = field(default=None, repr=False)


# -- the seams ------------------------------------------------------------------------


def build_model(config: TrainConfig) -> nn.Module:
    """The network ``config`` names, for the image size of its recipe."""
    if config.model == "tutorial":
        return models.TutorialNet(
            image_size=data.image_size(config.input_recipe),
            weight_decay=0.004 if config.weight_decay is None else config.weight_decay,
            width=config.width,
        )
    return models.ResNet(config.hparams())


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD over ``model``'s parameters: with momentum for ``optimizer="mom"`` (the
    weight decay is a term of the loss, as in TensorFlow, not the optimizer's)."""
    momentum = config.momentum if config.optimizer == "mom" else 0.0
    return torch.optim.SGD(model.parameters(), lr=config.lrn_rate, momentum=momentum)


def learning_rate_at(config: TrainConfig, step: int, batches_per_epoch: float) -> float:
    """The learning rate of global step ``step`` under ``config.lr_schedule``."""
    schedule = config.lr_schedule
    if schedule == "resnet":
        return models.learning_rate(step, config.lrn_rate, config.min_lrn_rate)
    if schedule == "cosine":
        return config.lrn_rate * 0.5 * (1.0 + math.cos(math.pi * min(step / config.max_steps, 1.0)))
    decay_steps = max(int(batches_per_epoch * NUM_EPOCHS_PER_DECAY), 1)
    return config.lrn_rate * LEARNING_RATE_DECAY_FACTOR ** (step // decay_steps)


def build_inputs(config: TrainConfig, data_dir: Any) -> Any:
    """The training pipeline (infinite, seeded, deterministic), this rank's share.

    Under ``torch.distributed`` rank ``r`` of ``N`` gets ``shard=(r, N)`` — its records
    of each epoch's permutation, taken at the source before augmentation — in batches
    of ``config.batch_size // N`` (the global batch must divide evenly)."""
    rank, size = world()
    shard = None
    batch_size = config.batch_size
    if size > 1:
        if batch_size % size:
            raise InvalidArgumentError(
                f"batch_size {batch_size} (the global batch) must divide evenly among "
                f"{size} processes"
            )
        batch_size //= size
        shard = (rank, size)
    return data.train_inputs(
        config.input_recipe,
        data_dir,
        batch_size,
        seed=config.seed,
        threads=config.threads,
        shard=shard,
    )


def train_step(
    module: nn.Module,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    lr: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step at learning rate ``lr``; ``module`` runs the batch (``model`` itself or
    a wrapper of it), ``model`` gives the weight decay. Returns the detached total loss
    and cross entropy."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = module(images)
    cross_entropy = F.cross_entropy(logits, labels.long())
    total = cross_entropy + model.weight_decay_loss()  # type: ignore[operator]
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total.detach(), cross_entropy.detach()


def train(config: TrainConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train as ``config`` says; see the module's docstring.

    Args:
        config: the run.
        log: where log lines go (default: printed to stdout).

    Returns:
        A :class:`TrainResult`.
    """
    # Caught from the start: a signal while the run sets up stops it at its first step.
    with signals_caught(config.handle_signals) as stop:
        owned = init_distributed(config.device)
        try:
            return _train(agreed_seed(config), log, stop)
        finally:
            if owned:
                # Every rank done with the group before any tears its connections down.
                torch.distributed.barrier()
                torch.distributed.destroy_process_group()


def _train(config: TrainConfig, log: Callable[[str], None] | None, stop: StopFlag) -> TrainResult:
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    _, size = world()
    device = device_for(config.device)
    data_dir = embedded() if config.data_dir is None else data.local_data_dir(config.data_dir)

    model = build_model(config).to(device)
    module: nn.Module = model
    if size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        module = DistributedDataParallel(model, device_ids=ids)
    optimizer = build_optimizer(model, config)
    ema = ExponentialMovingAverage(model, config.ema_decay)
    pipe = build_inputs(config, data_dir)
    loader = ct.loader(pipe, pin_memory=device.type == "cuda", device=device)
    records = sum(len(r) for r in data.cifar10.load_records(data_dir))
    batches_per_epoch = records / config.batch_size

    def step(batch: Any, lr: float) -> dict[str, torch.Tensor]:
        images, labels = batch
        total, cross_entropy = train_step(module, model, optimizer, images, labels, lr)
        return {"total_loss": total, "cross_entropy": cross_entropy}

    def first_batch(summaries: Any, batch: Any, at: int) -> None:
        summaries.images("input/augmented_images", batch[0], at)

    def evaluate(averaged: nn.Module) -> tuple[dict[str, float], str]:
        from conveyor.apps.cifar10.eval import evaluate_model

        eval_pipe = data.eval_inputs(config.input_recipe, data_dir, 256, threads=1)
        correct, total = evaluate_model(averaged, eval_pipe, device)
        precision = correct / total
        line = f"precision @ 1 = {precision:.3f} ({correct} of {total} test images)"
        return {"Precision @ 1": precision}, line

    parts = loop.Parts(
        model=model,
        optimizer=optimizer,
        ema=ema,
        loader=loader,
        step=step,
        learning_rate=lambda at: learning_rate_at(config, at, batches_per_epoch),
        on_first_batch=first_batch,
        evaluate=evaluate if config.evaluate else None,
        averaged=lambda: build_model(config).to(device),
    )
    result = loop.run(config, parts, stop, log)
    return TrainResult(
        global_step=result.global_step,
        loss=result.loss,
        checkpoint=result.checkpoint,
        examples_per_sec=result.examples_per_sec,
        input_stall=result.input_stall,
        precision=None if result.metrics is None else result.metrics["Precision @ 1"],
        interrupted=result.interrupted,
        seconds=result.seconds,
        stats=result.stats,
    )
