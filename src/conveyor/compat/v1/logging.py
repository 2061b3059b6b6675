"""``tf.logging``: the ``tensorflow`` logger of the standard library's :mod:`logging`,
printing ``INFO:tensorflow:message`` lines to stderr as TensorFlow 1 does."""

from __future__ import annotations

import logging as _logging
import sys
from typing import Any

from conveyor.compat.v1._missing import missing_names

__all__ = [
    "DEBUG",
    "INFO",
    "WARN",
    "WARNING",
    "ERROR",
    "FATAL",
    "set_verbosity",
    "get_verbosity",
    "debug",
    "info",
    "warn",
    "warning",
    "error",
    "fatal",
    "log",
    "log_every_n",
    "log_first_n",
    "vlog",
]

DEBUG = _logging.DEBUG
INFO = _logging.INFO
WARN = _logging.WARN
WARNING = _logging.WARNING
ERROR = _logging.ERROR
FATAL = _logging.FATAL

_logger = _logging.getLogger("tensorflow")
_counts: dict[Any, int] = {}


def _handler() -> None:
    if not _logger.handlers:
        handler = _logging.StreamHandler(sys.stderr)
        handler.setFormatter(_logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
        _logger.addHandler(handler)
        _logger.propagate = False


def set_verbosity(v: int) -> None:
    """Log messages at level ``v`` and above (``tf.logging.set_verbosity``)."""
    _handler()
    _logger.setLevel(v)


def get_verbosity() -> int:
    return _logger.getEffectiveLevel()


def log(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
    _handler()
    _logger.log(level, msg, *args, **kwargs)


def debug(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(DEBUG, msg, *args, **kwargs)


def info(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(INFO, msg, *args, **kwargs)


def warning(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(WARNING, msg, *args, **kwargs)


warn = warning


def error(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(ERROR, msg, *args, **kwargs)


def fatal(msg: Any, *args: Any, **kwargs: Any) -> None:
    log(FATAL, msg, *args, **kwargs)


def vlog(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
    log(level, msg, *args, **kwargs)


def log_every_n(level: int, msg: Any, n: int, *args: Any) -> None:
    key = (msg, "every")
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    if count % n == 0:
        log(level, msg, *args)


def log_first_n(level: int, msg: Any, n: int, *args: Any) -> None:
    key = (msg, "first")
    count = _counts.get(key, 0)
    _counts[key] = count + 1
    if count < n:
        log(level, msg, *args)


__getattr__ = missing_names(__name__, "tf.logging", "the standard library's logging")
