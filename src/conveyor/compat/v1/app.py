"""``tf.app``: ``flags`` and ``run``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from conveyor.compat.v1 import flags as flags
from conveyor.compat.v1._missing import missing_names

__all__ = ["flags", "run"]


def run(main: Callable[..., Any] | None = None, argv: Sequence[str] | None = None) -> NoReturn:
    """Parse the flags out of ``argv`` (default ``sys.argv``), call ``main`` (default
    ``__main__.main``) with what is left, and exit with its result (``tf.app.run``)."""
    rest = flags.FLAGS(sys.argv if argv is None else argv)
    if main is None:
        main = sys.modules["__main__"].main
    sys.exit(main(rest))


__getattr__ = missing_names(__name__, "tf.app", "argparse and a main function")
