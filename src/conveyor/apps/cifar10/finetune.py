"""A dense head trained on bottleneck features alone (seed 001's transfer-learning
recipe, second half): ``conveyor cifar10 finetune``.

:func:`finetune` reads the features :mod:`conveyor.apps.cifar10.features` saved,
standardizes them by the training rows' mean and standard deviation (folded into the
head, so it takes raw features), and trains :func:`build_head` — a linear layer, or one
hidden layer of ReLUs and a linear layer — with cross entropy, SGD with momentum, weight
decay and a cosine learning-rate decay, on shuffled batches fed by a conveyor pipeline.
It returns the head and its precision @ 1 on the test features.

The network that made the features is not needed: the head is a few thousand weights
trained in seconds, which is the recipe's point — a trained network's last activations
are a representation a small model can learn a task from.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import conveyor.torch as ct
from conveyor.apps.cifar10.eval import evaluate_model
from conveyor.apps.cifar10.features import Features, load_features
from conveyor.core.errors import InvalidArgumentError
from conveyor.pipeline import from_arrays

__all__ = ["FinetuneConfig", "FinetuneResult", "build_head", "finetune"]


@dataclass
class FinetuneConfig:
    """A head's training run.

    Attributes:
        hidden: units of the hidden layer; ``0``: a linear head.
        epochs: passes over the training features.
        batch_size: feature rows per step.
        lrn_rate: the initial learning rate (cosine decay to 0 over the run).
        momentum: SGD's momentum.
        weight_decay: L2 on the head's weights (SGD's ``weight_decay``).
        num_classes: outputs; ``None``: one more than the largest label seen.
        seed: the initialisation's and the shuffle's seed.
        device: ``"cpu"``, ``"cuda"``…; ``None``: CUDA when available.
    """

    hidden: int = 0
    epochs: int = 30
    batch_size: int = 128
    lrn_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    num_classes: int | None = None
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.hidden, int) or self.hidden < 0:
            raise InvalidArgumentError(f"hidden must be an int >= 0, got {self.hidden!r}")


@dataclass
class FinetuneResult:
    """The trained head (on the CPU, eval mode), its test figures and the run's."""

    head: nn.Module
    correct: int
    total: int
    steps: int
    seconds: float

    @property
    def precision(self) -> float:
        return self.correct / self.total if self.total else 0.0


class _Standardize(nn.Module):
    """``(x - mean) / std`` with the training features' statistics, kept as buffers
    (they travel with the head's ``state_dict``)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_head(
    dim: int, num_classes: int = 10, hidden: int = 0, mean: Any = None, std: Any = None
) -> nn.Sequential:
    """The dense head: standardization (when ``mean`` and ``std`` are given), then a
    linear layer (``hidden=0``) or ``Linear(dim, hidden)``, ReLU, ``Linear(hidden,
    num_classes)``."""
    layers: list[nn.Module] = []
    if mean is not None and std is not None:
        layers.append(_Standardize(torch.as_tensor(mean).float(), torch.as_tensor(std).float()))
    if hidden:
        layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
    else:
        layers.append(nn.Linear(dim, num_classes))
    return nn.Sequential(*layers)


def finetune(
    features: Features | str | os.PathLike[str], config: FinetuneConfig | None = None
) -> FinetuneResult:
    """Train a head on ``features`` (a :class:`~conveyor.apps.cifar10.features.Features`
    or the path of a file of them) and evaluate it on their test rows.

    Raises:
        NotFoundError, DataLossError: as
            :func:`~conveyor.apps.cifar10.features.load_features`.
    """
    config = config or FinetuneConfig()
    if not isinstance(features, Features):
        features = load_features(features)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    x, y = features.train_features, features.train_labels
    num_classes = config.num_classes or int(max(y.max(), features.test_labels.max())) + 1
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-6)  # a feature constant on the training set
    torch.manual_seed(config.seed)
    head = build_head(features.dim, num_classes, config.hidden, mean, std).to(device)
    optimizer = torch.optim.SGD(
        head.parameters(),
        lr=config.lrn_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    pipe = (
        from_arrays((x, y), shuffle=True, seed=config.seed, epochs=config.epochs)
        .batch(config.batch_size)
        .with_options(deterministic=True, seed=config.seed)
    )
    # the epochs run on as one stream of rows: a batch may span two of them
    total_steps = math.ceil(config.epochs * len(y) / config.batch_size)
    step = 0
    t0 = time.perf_counter()
    head.train()
    for rows, labels in ct.loader(pipe, device=device):
        lr = config.lrn_rate * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(head(rows), labels.long())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
    seconds = time.perf_counter() - t0
    test = from_arrays((features.test_features, features.test_labels)).batch(256)
    correct, total = evaluate_model(head, test, device)
    return FinetuneResult(head.cpu().eval(), correct, total, step, seconds)
