"""Chaining augmentation steps into one batched function of ``(images, rng)``.

A step is a callable taking the images: ``step(images, *, rng)`` for a random op, or
``step(images)`` for a deterministic one. Parameters are bound with
:func:`functools.partial` — the one way to configure a step::

    from functools import partial

    augment = Compose([
        partial(random_crop, size=(24, 24)),
        random_flip_left_right,
        partial(random_brightness, max_delta=63),
        partial(random_contrast, lower=0.2, upper=1.8),
        per_image_standardization,
    ])
    pipe = pipe.map(augment, batched=True, rng=True)   # calls augment(images, rng)

Every random step draws from the same generator, one after another, so the whole chain
is reproducible from the generator's state.

    >>> from functools import partial
    >>> from conveyor.image.geometry import random_crop, random_flip_left_right
    >>> augment = Compose([partial(random_crop, size=(2, 2)), random_flip_left_right])
    >>> augment
    Compose([random_crop(size=(2, 2)), random_flip_left_right])
    >>> augment(np.zeros((8, 4, 4, 3), np.uint8), np.random.default_rng(0)).shape
    (8, 2, 2, 3)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from conveyor.errors import InvalidArgumentError
from conveyor.image._checks import check_rng

__all__ = ["Compose"]


def _takes_rng(step: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: no rng then
        return False
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        or (p.name == "rng" and p.kind is not inspect.Parameter.POSITIONAL_ONLY)
        for p in parameters
    )


def _describe(step: Callable[..., Any]) -> str:
    if isinstance(step, functools.partial):
        arguments = [repr(a) for a in step.args]
        arguments += [f"{k}={v!r}" for k, v in step.keywords.items()]
        return f"{_describe(step.func)}({', '.join(arguments)})"
    name = getattr(step, "__name__", None)
    if isinstance(name, str) and name != "<lambda>":
        return name
    return repr(step)


class Compose:
    """Apply augmentation steps in order, each to the previous one's output.

    Args:
        steps: callables; a step whose signature has an ``rng`` keyword (or ``**kwargs``)
            is called ``step(images, rng=rng)``, any other ``step(images)``.

    Raises:
        InvalidArgumentError: a step is not callable.

    >>> from conveyor.image.color import adjust_brightness
    >>> from functools import partial
    >>> Compose([partial(adjust_brightness, delta=1.0)])(np.zeros((1, 1, 1), np.float32), rng=np.random.default_rng())
    array([[[1.]]], dtype=float32)
    """

    def __init__(self, steps: Iterable[Callable[..., Any]]) -> None:
        self.steps: tuple[Callable[..., Any], ...] = tuple(steps)
        for index, step in enumerate(self.steps):
            if not callable(step):
                raise InvalidArgumentError(
                    f"Compose: steps[{index}] must be callable, got {step!r}; bind "
                    f"parameters with functools.partial(op, ...)"
                )
        self._takes_rng = tuple(_takes_rng(step) for step in self.steps)

    def __call__(self, images: Any, rng: np.random.Generator) -> Any:
        """Run every step on ``images`` (one image or a batch), drawing from ``rng``.

        Raises:
            InvalidArgumentError: ``rng`` is not a ``numpy.random.Generator``; or
                whatever a step raises.
        """
        check_rng(rng, "Compose")
        for step, takes_rng in zip(self.steps, self._takes_rng):
            images = step(images, rng=rng) if takes_rng else step(images)
        return images

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Compose([{', '.join(_describe(step) for step in self.steps)}])"
