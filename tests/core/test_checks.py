"""The core's shared argument rules: timeouts and counts."""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from conveyor.core._checks import check_count, check_timeout
from conveyor.errors import InvalidArgumentError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (2, 2.0),
        (0.25, 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(3), 3.0),
        (Fraction(1, 4), 0.25),
        (None, None),
        (float("inf"), None),
        (threading.TIMEOUT_MAX, None),
        (10**400, None),
    ],
)
def test_a_timeout_is_none_for_forever_or_float_seconds(value, seconds):
    assert check_timeout(value) == seconds


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (float("nan"), "nan"),
        (-1e-9, "-1e-09"),
        (-(10**400), "-" + "1" + "0" * 400),
        (float("-inf"), "-inf"),
        (True, "True"),
        (np.bool_(False), "np.False_"),
        ("1", "'1'"),
        (1j, "1j"),
    ],
)
def test_a_bad_timeout_is_refused_naming_the_argument_and_value(value, shown):
    with pytest.raises(InvalidArgumentError) as info:
        check_timeout(value, "stop_grace_period_secs")
    assert str(info.value) == (
        f"stop_grace_period_secs must be None or a number of seconds >= 0, got {shown}"
    )


def test_a_count_is_an_int_and_positive_when_asked():
    assert check_count(np.uint8(3), "n") == 3 and type(check_count(np.int64(3), "n")) is int
    assert check_count(0, "n") == 0
    with pytest.raises(InvalidArgumentError, match=r"^n must be >= 0, got -1$"):
        check_count(-1, "n")
    with pytest.raises(InvalidArgumentError, match=r"^capacity must be > 0, got 0$"):
        check_count(0, "capacity", positive=True)
    for bad in (True, 2.0, "3", None):
        with pytest.raises(InvalidArgumentError, match=rf"^n must be an int, got {bad!r}$"):
            check_count(bad, "n")
