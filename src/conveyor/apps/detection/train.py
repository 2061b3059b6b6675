"""Training the Faster R-CNN detector (:mod:`conveyor.apps.detection.model`), fed by
conveyor.

:func:`train` takes a :class:`TrainConfig` and returns a :class:`TrainResult`. It trains
through the applications' shared loop (:mod:`conveyor.apps.loop`), so it has the CIFAR-10
system's log lines, TensorBoard summaries (each loss, the learning rate, steps and
examples per second, the input stall, the pipeline's queues, weight histograms, the
first batch's images), checkpoints (``model.ckpt-<step>.pt`` with the moving average
and the input's position), ``resume``, signal handling and data parallelism under
``torch.distributed.run`` (each rank reads its shard of every epoch's order, in batches
of ``batch_size / N``).

A step is SGD with momentum on the sum of the detector's four losses and its weight
decay, at a learning rate that warms up linearly over ``warmup_steps`` and then decays
along a cosine to zero at ``max_steps``. After training, rank 0 evaluates the moving
average of the weights on ``eval_split`` with COCO's evaluator
(:mod:`conveyor.apps.detection.eval`) and logs AP, AP50 and AP75.

The defaults train on the embedded detection set (1,000 images of digits on 128 x 128
canvases) for 1,200 steps of 8 images: about four minutes on two CPU cores, to an AP50
near 0.99 (``docs/detection.md`` has the measured runs).
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

import conveyor.torch as ct
from conveyor.apps import loop
from conveyor.apps.cifar10.ema import MOVING_AVERAGE_DECAY, ExponentialMovingAverage
from conveyor.apps.detection import data
from conveyor.apps.detection.model import DetectorConfig, FasterRCNN
from conveyor.core.errors import InvalidArgumentError
from conveyor.datasets import detection

__all__ = ["TrainConfig", "TrainResult", "build_model", "learning_rate_at", "train"]


@dataclass
class TrainConfig:
    """Everything a detector's training run is given.

    Attributes:
        train_dir: checkpoints and event files go here.
        data_dir: a folder of COCO-format splits (:func:`~conveyor.apps.detection.data.split_files`);
            ``None``: the embedded detection set.
        train_split, eval_split: the splits trained on and evaluated on.
        recipe: the augmentation (:data:`~conveyor.apps.detection.data.RECIPES`);
            ``None``: ``"digits"`` on the embedded set, ``"flip"`` otherwise.
        image_size: images are letterboxed to this square (the embedded set's 128 are
            used as they are).
        num_classes: object classes; ``None``: the training split's category count.
        num_residual_units, use_bottleneck: the ResNet backbone's.
        max_steps: steps to train to (a resumed run continues up to it).
        batch_size: images per step, the global batch when distributed.
        lrn_rate: the peak learning rate; warmup_steps: its linear warm-up.
        momentum, weight_decay: SGD's momentum; the L2 rate of every weight.
        ema_decay: the moving average's largest decay.
        log_frequency, histogram_frequency, checkpoint_steps, checkpoint_secs,
        keep_checkpoints, seed, resume, threads, torch_threads, device, progress,
        summaries, evaluate, handle_signals: as the CIFAR-10
            :class:`~conveyor.apps.cifar10.train.TrainConfig` has them.
    """

    train_dir: str = "/tmp/detection_train"
    data_dir: str | None = None
    train_split: str = "train"
    eval_split: str = "test"
    recipe: str | None = None
    image_size: int = detection.IMAGE_SIZE
    num_classes: int | None = None
    num_residual_units: int = 1
    use_bottleneck: bool = False
    max_steps: int = 1200
    batch_size: int = 8
    lrn_rate: float = 0.02
    warmup_steps: int = 100
    momentum: float = 0.9
    weight_decay: float = 1e-4
    ema_decay: float = MOVING_AVERAGE_DECAY
    log_frequency: int = 20
    histogram_frequency: int = 400
    checkpoint_steps: int | None = 400
    checkpoint_secs: float | None = 600.0
    keep_checkpoints: int = 5
    seed: int | None = 0
    resume: bool = False
    threads: int = 2
    torch_threads: int | None = None
    device: str | None = None
    progress: bool | None = None
    summaries: bool = True
    evaluate: bool = True
    handle_signals: bool = True

    def __post_init__(self) -> None:
        if self.recipe is not None and self.recipe not in data.RECIPES:
            raise InvalidArgumentError(f"recipe must be one of {data.RECIPES}, got {self.recipe!r}")
        for name in (
            "max_steps",
            "batch_size",
            "log_frequency",
            "histogram_frequency",
            "threads",
            "image_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
        if self.image_size % 4:
            raise InvalidArgumentError(
                f"image_size must be a multiple of 4 (the backbone's stride), got {self.image_size}"
            )
        if self.warmup_steps < 0:
            raise InvalidArgumentError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

    @property
    def input_recipe(self) -> str:
        if self.recipe is not None:
            return self.recipe
        return "digits" if self.data_dir is None else "flip"

    def detector(self) -> DetectorConfig:
        """The model's :class:`~conveyor.apps.detection.model.DetectorConfig`."""
        if self.num_classes is None:
            raise InvalidArgumentError("num_classes is not known yet: train() fills it in")
        return DetectorConfig(
            num_classes=self.num_classes,
            num_residual_units=self.num_residual_units,
            use_bottleneck=self.use_bottleneck,
            weight_decay=self.weight_decay,
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from :meth:`as_dict`'s values (a checkpoint's); unknown keys are
        ignored."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class TrainResult:
    """What a run did (the CIFAR-10 ``TrainResult``'s fields, with COCO's metrics).

    Attributes:
        global_step, loss, checkpoint, examples_per_sec, input_stall, interrupted,
        seconds: as the CIFAR-10 result's.
        losses: the last step's losses by name.
        metrics: ``{"AP", "AP50", "AP75", ...}`` of the moving average on
            ``eval_split`` (``config.evaluate``; else ``None``).
    """

    global_step: int
    loss: float
    checkpoint: Path | None
    examples_per_sec: float
    input_stall: float
    losses: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] | None = None
    interrupted: str | None = None
    seconds: float = 0.0
    stats: Any = field(default=None, repr=False)


def build_model(config: TrainConfig) -> FasterRCNN:
    """The detector ``config`` describes (``num_classes`` known)."""
    return FasterRCNN(config.detector())


def learning_rate_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up from ``lrn_rate / warmup_steps`` over ``warmup_steps``, then a
    cosine decay from ``lrn_rate`` to zero at ``max_steps``.

    >>> c = TrainConfig(max_steps=200, warmup_steps=100, lrn_rate=0.02)
    >>> [round(learning_rate_at(c, s), 4) for s in (0, 49, 99, 100, 150, 200)]
    [0.0002, 0.01, 0.02, 0.02, 0.01, 0.0]
    """
    if step < config.warmup_steps:
        return config.lrn_rate * (step + 1) / config.warmup_steps
    span = max(config.max_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / span, 1.0)
    return config.lrn_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def train(config: TrainConfig, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train as ``config`` says; see the module's docstring.

    Args:
        config: the run.
        log: where log lines go (default: printed to stdout).

    Raises:
        NotFoundError: the data folder or a split is missing.
    """
    with loop.signals_caught(config.handle_signals) as stop:
        owned = loop.init_distributed(config.device)
        try:
            return _train(loop.agreed_seed(config), log, stop)
        finally:
            if owned:
                torch.distributed.barrier()
                torch.distributed.destroy_process_group()


def _train(
    config: TrainConfig, log: Callable[[str], None] | None, stop: loop.StopFlag
) -> TrainResult:
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    rank, size = loop.world()
    device = loop.device_for(config.device)
    root = data.local_root(config.data_dir)
    train_set = data.dataset(root, config.train_split)
    if config.evaluate:  # found now, not after the training
        eval_set = data.dataset(root, config.eval_split)
        if list(eval_set.category_ids) != list(train_set.category_ids):
            raise InvalidArgumentError(
                f"the {config.eval_split!r} split's categories {list(eval_set.category_ids)} "
                f"are not the {config.train_split!r} split's {list(train_set.category_ids)}"
            )
    if config.num_classes is None:
        config = dataclasses.replace(config, num_classes=train_set.num_classes)
    batch_size, shard = config.batch_size, None
    if size > 1:
        if batch_size % size:
            raise InvalidArgumentError(
                f"batch_size {batch_size} (the global batch) must divide evenly among "
                f"{size} processes"
            )
        batch_size, shard = batch_size // size, (rank, size)

    model = build_model(config).to(device)
    module: nn.Module = model
    if size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        module = DistributedDataParallel(model, device_ids=ids)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lrn_rate, momentum=config.momentum)
    ema = ExponentialMovingAverage(model, config.ema_decay)
    pipe = data.train_inputs(
        root,
        batch_size,
        split=config.train_split,
        recipe=config.input_recipe,
        image_size=config.image_size,
        seed=config.seed,
        threads=config.threads,
        shard=shard,
    )
    loader = ct.loader(pipe, pin_memory=device.type == "cuda", device=device)

    def step(batch: dict[str, torch.Tensor], lr: float) -> dict[str, torch.Tensor]:
        for group in optimizer.param_groups:
            group["lr"] = lr
        images = batch["image"].permute(0, 3, 1, 2)  # NHWC -> NCHW (channels-last memory)
        targets = FasterRCNN.targets_of(batch["boxes"], batch["labels"], batch["num_boxes"])
        losses = module(images, targets)
        total = sum(losses.values()) + model.weight_decay_loss()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return {
            "total_loss": total.detach(),
            **{f"loss/{k}": v.detach() for k, v in losses.items()},
        }

    def first_batch(summaries: Any, batch: dict[str, torch.Tensor], at: int) -> None:
        from conveyor.apps.detection.predict import drawn_batch

        summaries.images("input/boxes", drawn_batch(batch), at)

    def evaluate(averaged: nn.Module) -> tuple[dict[str, float], str]:
        from conveyor.apps.detection.eval import evaluate_model

        averaged.eval()
        found = evaluate_model(
            averaged, root, config.eval_split, image_size=config.image_size, device=device
        )
        return found.metrics, found.line()

    parts = loop.Parts(
        model=model,
        optimizer=optimizer,
        ema=ema,
        loader=loader,
        step=step,
        learning_rate=lambda at: learning_rate_at(config, at),
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
        losses=result.losses,
        metrics=result.metrics,
        interrupted=result.interrupted,
        seconds=result.seconds,
        stats=result.stats,
    )
