"""Training throughput of the CIFAR-10 models by what feeds them.

The tutorial network (24x24 crops, the ``tutorial`` recipe) and ResNet-20 (32x32, the
``standard`` recipe) each take the same training step — :func:`train_step` of
:mod:`conveyor.apps.cifar10.train`, batches of 128, one model and optimizer per
network — from three feeds, in interleaved rounds (the feeds' order rotates each
round), on synthetic records in CIFAR-10's binary format:

* ``ideal`` — batches already augmented and in memory as tensors (``--cached``
  batches drawn from conveyor's pipeline beforehand, cycled): the step alone.
* ``conveyor`` — :func:`conveyor.torch.loader` over the pipeline ``train()`` builds
  (:func:`build_inputs`: the recipe's augmentation in conveyor's threads), as
  ``train()`` iterates it. Its input stall is the iterator's own figure
  (``stats()``: time the loop waited in ``next()`` over the wall time), taken over the
  timed steps.
* ``DataLoader`` — ``torch.utils.data.DataLoader(num_workers=2)`` over a dataset doing
  the same augmentation per image in torch ops (crop, flip, brightness, contrast and
  per-image standardization for the tutorial; pad 4, crop, flip and per-channel
  normalization for the ResNet), shuffled, default collate.

Each round starts a fresh iterator for each feed, discards ``--warmup`` steps (thread
and worker start-up), then times ``--steps`` steps. Reported: steps/s and images/s,
medians with min-max over the rounds, and each feed's ratio to the ideal measured in
the same round (median, min-max). The figures are meaningful as ratios only: the step
and the feed share the machine's cores.

Run: ``python benchmarks/train_step.py`` (``--rounds``, ``--steps``, ``--resnet_steps``,
``--models tutorial resnet20``, ``--torch_threads``).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

import numpy as np
import torch
import torch.utils.data as tud
from torch.nn import functional as F

import conveyor
import conveyor.torch as ct
from conveyor.apps.cifar10.train import (
    TrainConfig,
    build_inputs,
    build_model,
    build_optimizer,
    train_step,
)
from conveyor.datasets import cifar10, synthetic
from conveyor.image.recipes import CIFAR10_MEAN, CIFAR10_STD

BATCH = 128
FEEDS = ("ideal", "conveyor", "DataLoader")


# -- the DataLoader feed: the same augmentation in torch ops, per image ------------------


class TorchAugmented(tud.Dataset):
    """The training images (uint8, CHW), augmented one at a time as ``recipe`` does."""

    def __init__(self, data_dir: str, recipe: str) -> None:
        records = cifar10.load_records(data_dir)
        images = np.concatenate([cifar10.images_of(r) for r in records])
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        self.labels = torch.from_numpy(
            np.concatenate([cifar10.labels_of(r) for r in records]).astype(np.int64)
        )
        self.recipe = recipe
        self.mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float()
        if self.recipe == "tutorial":
            size = 24
        else:
            x = F.pad(x, (4, 4, 4, 4))
            size = 32
        oy, ox = (int(v) for v in torch.randint(0, x.shape[1] - size + 1, (2,)))
        x = x[:, oy : oy + size, ox : ox + size]
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        if self.recipe == "tutorial":
            x = x + torch.empty(()).uniform_(-63.0, 63.0)  # random_brightness
            mean = x.mean(dim=(1, 2), keepdim=True)  # random_contrast, per channel
            x = (x - mean) * torch.empty(()).uniform_(0.2, 1.8) + mean
            floor = 1.0 / math.sqrt(x.numel())  # per_image_standardization
            x = (x - x.mean()) / torch.clamp(x.std(unbiased=False), min=floor)
        else:
            x = (x - self.mean) / self.std
        return x.contiguous(), self.labels[i]


def dataloader_batches(dataset: TorchAugmented, seed: int) -> Iterator[Any]:
    """Batches of a ``DataLoader(num_workers=2)``, epoch after epoch."""
    generator = torch.Generator().manual_seed(seed)
    loader = tud.DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        num_workers=2,
        generator=generator,
    )
    while True:  # an epoch (78 batches of the default 10,000 records) outlasts a round
        yield from loader


# -- measurement ---------------------------------------------------------------------


@dataclass
class Figures:
    """One feed's rounds."""

    steps_per_sec: list[float] = field(default_factory=list)
    vs_ideal: list[float] = field(default_factory=list)
    stall: list[float] = field(default_factory=list)


def timed_steps(
    batches: Iterator[Any], step: Callable[[Any, Any], None], warmup: int, steps: int,
    stats: Callable[[], Any] | None = None,
) -> tuple[float, float | None]:  # fmt: skip
    """Run ``warmup`` untimed then ``steps`` timed steps; returns ``(steps/s, stall)``,
    the stall from ``stats()`` over the timed steps (``None`` without ``stats``)."""
    for _ in range(warmup):
        step(*next(batches))
    before = stats() if stats is not None else None
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*next(batches))
    seconds = time.perf_counter() - t0
    stall = None
    if stats is not None and before is not None:
        after = stats()
        waited = after.consumer_wait_seconds - before.consumer_wait_seconds
        stall = waited / max(after.wall_seconds - before.wall_seconds, 1e-9)
    return steps / seconds, stall


def bench_model(name: str, data_dir: str, args: argparse.Namespace) -> dict[str, Figures]:
    if name == "tutorial":
        config = TrainConfig(model="tutorial", data_dir=data_dir, batch_size=BATCH, seed=0)
        steps = args.steps
    else:
        config = TrainConfig(
            model="resnet", num_residual_units=3, data_dir=data_dir, batch_size=BATCH, seed=0
        )
        steps = args.resnet_steps
    config.threads = args.threads
    torch.manual_seed(0)
    model = build_model(config)
    optimizer = build_optimizer(model, config)
    model.train()

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        train_step(model, model, optimizer, images, labels, 0.01)

    # the ideal: augmented batches drawn beforehand, as tensors, cycled
    warm = ct.loader(build_inputs(config, data_dir), device="cpu")
    it = iter(warm)
    cached = [next(it) for _ in range(args.cached)]
    it.close()
    dataset = TorchAugmented(data_dir, config.input_recipe)

    figures = {feed: Figures() for feed in FEEDS}
    for round_ in range(args.rounds):
        order = FEEDS[round_ % 3 :] + FEEDS[: round_ % 3]
        rate: dict[str, float] = {}
        for feed in order:
            stats = None
            closer: Callable[[], None] | None = None
            if feed == "ideal":
                batches: Iterator[Any] = cycle(cached)
            elif feed == "conveyor":
                loader = ct.loader(build_inputs(config, data_dir), device="cpu")
                run = iter(loader)
                batches, stats, closer = run, loader.stats, loader.close
            else:
                batches = dataloader_batches(dataset, seed=round_)
                closer = batches.close  # type: ignore[attr-defined]
            try:
                rate[feed], stall = timed_steps(batches, step, args.warmup, steps, stats)
            finally:
                if closer is not None:
                    closer()
                del batches
                gc.collect()  # a DataLoader's workers are gone before the next feed runs
            figures[feed].steps_per_sec.append(rate[feed])
            if stall is not None:
                figures[feed].stall.append(stall)
        for feed in FEEDS:
            figures[feed].vs_ideal.append(rate[feed] / rate["ideal"])
        print(
            f"  {name} round {round_ + 1}: "
            + ", ".join(f"{feed} {rate[feed]:.2f} steps/s" for feed in FEEDS),
            flush=True,
        )
    return figures


def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    return f"{med:{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(name: str, figures: dict[str, Figures]) -> None:
    print(
        f"\n{name}, batches of {BATCH}: medians (min-max) over {len(figures['ideal'].steps_per_sec)} rounds"
    )
    print(f"{'feed':<12}{'steps/s':>24}{'images/s':>24}{'vs ideal':>24}{'input stall':>24}")
    for feed in FEEDS:
        f = figures[feed]
        images = [BATCH * s for s in f.steps_per_sec]
        stall = _spread([100 * s for s in f.stall], ".2f") + "%" if f.stall else ""
        print(
            f"{feed:<12}{_spread(f.steps_per_sec, '.2f'):>24}{_spread(images, '.0f'):>24}"
            f"{_spread(f.vs_ideal, '.3f'):>24}{stall:>24}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["tutorial", "resnet20"])
    p.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default 11)")
    p.add_argument("--steps", type=int, default=15, help="timed steps, tutorial (default 15)")
    p.add_argument("--resnet_steps", type=int, default=5, help="timed steps, ResNet-20 (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per round")
    p.add_argument("--cached", type=int, default=16, help="batches the ideal feed cycles")
    p.add_argument("--records", type=int, default=10_000, help="synthetic training records")
    p.add_argument("--threads", type=int, default=2, help="conveyor's pipeline threads")
    p.add_argument("--torch_threads", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    torch.set_num_threads(args.torch_threads)
    print(
        f"conveyor {conveyor.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, torch threads "
        f"{args.torch_threads}, pipeline threads {args.threads}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        synthetic(args.records, tmp, test_n=100)
        results = {m: bench_model(m, tmp, args) for m in args.models}
    for name, figures in results.items():
        report(name, figures)


if __name__ == "__main__":
    main()
