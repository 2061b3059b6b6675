"""An exponential moving average of a model's weights, as TensorFlow's
``tf.train.ExponentialMovingAverage(decay, num_updates=global_step)``.

Each update, with the global step ``n``::

    decay_n = min(decay, (1 + n) / (10 + n))
    shadow  = decay_n * shadow + (1 - decay_n) * weight

so early in training the average follows the weights closely and later it averages
over about ``1 / (1 - decay)`` steps. The shadows cover the floating-point parameters;
buffers (batch norm's running statistics, themselves averages) are copied as they are.
Evaluation loads the shadows into the model (:meth:`ExponentialMovingAverage.copy_to`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ExponentialMovingAverage", "decay_at"]

#: cifar10.py's MOVING_AVERAGE_DECAY
MOVING_AVERAGE_DECAY = 0.9999


def decay_at(decay: float, step: int) -> float:
    """The decay used at global step ``step``: ``min(decay, (1 + step) / (10 + step))``.

    >>> decay_at(0.9999, 0), decay_at(0.9999, 90), decay_at(0.5, 90)
    (0.1, 0.91, 0.5)
    """
    return min(decay, (1.0 + step) / (10.0 + step))


class ExponentialMovingAverage:
    """Shadow copies of ``model``'s parameters and buffers, starting as their values.

    Args:
        model: the model whose weights are averaged.
        decay: the largest decay (the tutorial's 0.9999).

    Not thread-safe; call :meth:`update` after each optimizer step.
    """

    def __init__(self, model: nn.Module, decay: float = MOVING_AVERAGE_DECAY) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay!r}")
        self.decay = float(decay)
        self.shadow: dict[str, torch.Tensor] = {
            name: value.detach().clone() for name, value in _averaged(model).items()
        }

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> float:
        """Move every shadow towards ``model``'s weights with :func:`decay_at`
        ``(decay, step)``; returns that decay."""
        decay = decay_at(self.decay, step)
        parameters = _parameter_names(model)
        for name, value in _averaged(model).items():
            shadow = self.shadow[name]
            if name in parameters and value.is_floating_point():
                shadow.mul_(decay).add_(value.detach(), alpha=1.0 - decay)
            else:
                shadow.copy_(value)
        return decay

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the shadows into ``model`` (for evaluation)."""
        model.load_state_dict(self.shadow, strict=True)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise KeyError(f"the EMA state does not match the model: {sorted(missing)}")
        for name, value in state["shadow"].items():
            self.shadow[name].copy_(value)


def _averaged(model: nn.Module) -> dict[str, torch.Tensor]:
    return dict(model.state_dict(keep_vars=True))


def _parameter_names(model: nn.Module) -> set[str]:
    return {name for name, _ in model.named_parameters()}
