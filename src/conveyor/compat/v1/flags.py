"""``tf.app.flags`` / ``tf.flags``: command-line flags in the shape of absl's, without
absl: ``DEFINE_*`` declares, ``FLAGS.name`` reads (parsing ``sys.argv`` on first use)
and may be assigned."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from conveyor.compat.v1._missing import missing_names

__all__ = [
    "FLAGS",
    "FlagValues",
    "DEFINE_string",
    "DEFINE_integer",
    "DEFINE_float",
    "DEFINE_boolean",
    "DEFINE_bool",
    "DEFINE_list",
    "DEFINE_enum",
]


class _Flag:
    __slots__ = ("boolean", "default", "help", "name", "parse", "value")

    def __init__(
        self, name: str, default: Any, help: str, parse: Callable[[str], Any], boolean: bool
    ) -> None:
        self.name = name
        self.default = default
        self.help = help
        self.parse = parse
        self.boolean = boolean
        self.value = default


class UnrecognizedFlagError(AttributeError):
    """A flag that was never defined."""


class FlagValues:
    """The defined flags and their values."""

    def __init__(self) -> None:
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_parsed", False)

    def _define(self, flag: _Flag) -> None:
        if flag.name in self._flags:
            raise ValueError(f"The flag {flag.name!r} is defined twice.")
        self._flags[flag.name] = flag

    def __call__(self, argv: Sequence[str]) -> list[str]:
        """Parse ``argv`` (``argv[0]`` is the program); return the unparsed arguments."""
        argv = list(argv)
        rest = argv[:1]
        i = 1
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                rest.extend(argv[i:])
                break
            if not arg.startswith("-") or arg == "-":
                rest.append(arg)
                continue
            body = arg.lstrip("-")
            name, eq, value = body.partition("=")
            flag = self._flags.get(name)
            if flag is None and name.startswith("no") and not eq:
                negated = self._flags.get(name[2:])
                if negated is not None and negated.boolean:
                    negated.value = False
                    continue
            if flag is None:
                rest.append(arg)
                continue
            if flag.boolean and not eq:
                flag.value = True
                continue
            if not eq:
                if i >= len(argv):
                    raise ValueError(f"Flag --{name} needs a value")
                value = argv[i]
                i += 1
            flag.value = flag.parse(value)
        object.__setattr__(self, "_parsed", True)
        return rest

    def is_parsed(self) -> bool:
        return bool(self._parsed)

    def mark_as_parsed(self) -> None:
        object.__setattr__(self, "_parsed", True)

    def __getattr__(self, name: str) -> Any:
        flags = object.__getattribute__(self, "_flags")
        if name not in flags:
            raise UnrecognizedFlagError(name)
        if not self._parsed:
            self(sys.argv)
        return flags[name].value

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._flags:
            raise UnrecognizedFlagError(name)
        self._flags[name].value = value

    def __contains__(self, name: str) -> bool:
        return name in self._flags

    def flag_values_dict(self) -> dict[str, Any]:
        return {n: f.value for n, f in self._flags.items()}


FLAGS = FlagValues()


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "t", "1", "yes", "y"):
        return True
    if lowered in ("false", "f", "0", "no", "n"):
        return False
    raise ValueError(f"Non-boolean argument to boolean flag: {text!r}")


def DEFINE_string(
    name: str, default: str | None, help: str, flag_values: FlagValues = FLAGS, **kwargs: Any
) -> None:
    flag_values._define(_Flag(name, default, help, str, False))


def DEFINE_integer(
    name: str,
    default: int | None,
    help: str,
    lower_bound: int | None = None,
    upper_bound: int | None = None,
    flag_values: FlagValues = FLAGS,
    **kwargs: Any,
) -> None:
    flag_values._define(_Flag(name, default, help, int, False))


def DEFINE_float(
    name: str,
    default: float | None,
    help: str,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    flag_values: FlagValues = FLAGS,
    **kwargs: Any,
) -> None:
    flag_values._define(_Flag(name, default, help, float, False))


def DEFINE_boolean(
    name: str, default: bool | None, help: str, flag_values: FlagValues = FLAGS, **kwargs: Any
) -> None:
    flag_values._define(_Flag(name, default, help, _parse_bool, True))


DEFINE_bool = DEFINE_boolean


def DEFINE_list(
    name: str, default: Any, help: str, flag_values: FlagValues = FLAGS, **kwargs: Any
) -> None:
    if isinstance(default, str):
        default = [s for s in default.split(",") if s]
    flag_values._define(_Flag(name, default, help, lambda s: [x for x in s.split(",") if x], False))


def DEFINE_enum(
    name: str,
    default: str | None,
    enum_values: Sequence[str],
    help: str,
    flag_values: FlagValues = FLAGS,
    **kwargs: Any,
) -> None:
    def parse(text: str) -> str:
        if text not in enum_values:
            raise ValueError(f"value should be one of <{'|'.join(enum_values)}>")
        return text

    flag_values._define(_Flag(name, default, help, parse, False))


__getattr__ = missing_names(__name__, "tf.flags", "argparse")
