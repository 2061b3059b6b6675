"""Argument checks shared by the core, so every call refuses a bad argument the same way.

Each rule has one owner here: a timeout (``check_timeout``), a count such as a capacity
or a batch size (``check_count``) and a set of exception classes
(``check_exception_types``). Each raises
:class:`~conveyor.core.errors.InvalidArgumentError` naming the argument and its value.
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import Any, cast

import numpy as np

from conveyor.core.errors import InvalidArgumentError

__all__ = ["check_count", "check_exception_types", "check_timeout"]


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """Normalise a timeout in seconds: ``None`` waits forever, else a finite float >= 0.

    ``None`` and ``inf`` mean "wait forever" and return ``None``; so does a finite
    value longer than the platform can wait (``threading.TIMEOUT_MAX``, centuries).
    NaN, negative numbers, bools and non-numbers are refused.

    Args:
        value: the argument as the caller gave it.
        name: the argument's name, for the error message.

    Returns:
        ``None`` (no deadline) or the seconds as a float.

    Raises:
        InvalidArgumentError: ``value`` is not ``None`` or a number >= 0.

    >>> check_timeout(None), check_timeout(float("inf")), check_timeout(2)
    (None, None, 2.0)
    >>> check_timeout(float("nan"))
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: timeout must be None or a number of seconds >= 0, got nan
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{name} must be None or a number of seconds >= 0, got {value!r}"
        )
    try:
        seconds = float(value)
    except OverflowError:  # only an int can lie beyond the float range
        seconds = math.inf if cast(int, value) > 0 else -math.inf
    if not seconds >= 0:  # also refuses NaN
        raise InvalidArgumentError(
            f"{name} must be None or a number of seconds >= 0, got {value!r}"
        )
    if seconds >= threading.TIMEOUT_MAX:
        return None
    return seconds


def check_count(value: Any, name: str, positive: bool = False) -> int:
    """Check an integer count (a capacity, a batch size): an int >= 0, or > 0 if ``positive``.

    NumPy integers are accepted; bools and floats (even ``2.0``) are not.

    Raises:
        InvalidArgumentError: ``value`` is not an int, or is too small.

    >>> check_count(3, "n")
    3
    >>> check_count(0, "capacity", positive=True)
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: capacity must be > 0, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidArgumentError(f"{name} must be an int, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidArgumentError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value}")
    return int(value)


def check_exception_types(value: Any, name: str) -> tuple[type[BaseException], ...]:
    """Check exception classes (one, or an iterable of them): the tuple ``except`` takes.

    Checked when given, so a bad entry cannot surface later, inside a thread, as
    Python's own ``TypeError`` from an ``except`` clause.

    Raises:
        InvalidArgumentError: ``value`` is not an exception class or an iterable of them.

    >>> check_exception_types(KeyError, "types")
    (<class 'KeyError'>,)
    >>> check_exception_types([KeyError, "oops"], "types")
    Traceback (most recent call last):
    ...
    conveyor.core.errors.InvalidArgumentError: types must be exception classes, got 'oops' in [<class 'KeyError'>, 'oops']
    """
    if isinstance(value, type):
        value = (value,)
    try:
        types = tuple(value)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be exception classes, got {value!r}") from None
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise InvalidArgumentError(f"{name} must be exception classes, got {t!r} in {value!r}")
    return types
