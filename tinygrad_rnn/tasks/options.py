"""What every command line of the tasks shares: a parser whose errors are one line and exit status 2, help texts
that show each option's default, and option types that refuse bad values before any work starts.

>>> parser = Parser(prog="demo")
>>> _ = parser.add_argument("--lr", type=positive_float, default=0.1, help="learning rate")
>>> parser.parse_args(["--lr", "0.5"]).lr
0.5
"""
from __future__ import annotations

import argparse
import math
import re

_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")  # :func:`x` and :class:`~a.b` as plain x
_LITERAL = re.compile(r"``([^`]*)``")


def plain(text: str | None) -> str | None:
    """``text`` without reStructuredText markup (``literal``, :func:`role`), as a terminal should show it."""
    return None if text is None else _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


def _shown(default) -> bool:
    """Whether a default says something (0 does; None, a store_true's False and SUPPRESS do not)."""
    return default is not None and default is not False and default is not argparse.SUPPRESS


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions keep their line breaks; every option's help ends with its default, unless the help says it."""

    def _get_help_string(self, action) -> str:
        text = (action.help or "").strip()
        if "default" in text or not _shown(action.default) or not action.option_strings:
            return text
        return (text + " " if text else "") + "(default: %(default)s)"



class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with ``Formatter`` and one-line errors: ``prog: error: what (see --help)``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        kwargs["description"] = plain(kwargs.get("description"))
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        kwargs["help"] = plain(kwargs.get("help"))
        if kwargs["help"] is None and _shown(kwargs.get("default")):
            kwargs["help"] = "(default: %(default)s)"  # argparse shows no default for an option without help
        return super().add_argument(*args, **kwargs)

    def error(self, message: str):
        message = " ".join(str(message).split())  # one line, whatever the message held
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind, what: str, ok) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if (kind is float and not math.isfinite(value)) or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, "an int >= 1", lambda v: v >= 1)


def nonnegative_int(text: str) -> int:
    return _number(text, int, "an int >= 0", lambda v: v >= 0)


def positive_float(text: str) -> float:
    return _number(text, float, "a finite number > 0", lambda v: v > 0)


def nonnegative_float(text: str) -> float:
    return _number(text, float, "a finite number >= 0", lambda v: v >= 0)


def finite_float(text: str) -> float:
    return _number(text, float, "a finite number", lambda v: True)


def probability(text: str) -> float:
    return _number(text, float, "a number in [0, 1]", lambda v: 0 <= v <= 1)


def positive_ints(text: str) -> tuple[int, ...]:
    """Comma-separated ints >= 1, at least one: ``10,50,100``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"must be comma-separated ints >= 1 like 10,50,100, got {text!r}")
    return tuple(_number(p, int, "comma-separated ints >= 1 like 10,50,100", lambda v: v >= 1) for p in parts)


def names(choices) -> callable:
    """A type for comma-separated names among ``choices`` (at least one): ``rnn,lstm``."""
    def parse(text: str) -> tuple[str, ...]:
        parts = tuple(p.strip() for p in text.split(",") if p.strip())
        unknown = [p for p in parts if p not in choices]
        if unknown or not parts:
            raise argparse.ArgumentTypeError(f"must be comma-separated names among {','.join(choices)}, got "
                                             f"{text!r}")
        return parts

    parse.__name__ = "names"
    return parse


def device(text: str) -> str:
    """A device this machine can use: ``cpu``, ``cuda`` (where CuPy and a GPU work) or ``array_api_strict``."""
    from .. import backend
    from ..errors import DeviceError

    if text not in backend.DEVICES:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; choose one of {', '.join(backend.DEVICES)}")
    try:
        backend.get_backend(text)
    except DeviceError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def run_main(parser: Parser, argv, run) -> int:
    """Parse ``argv`` and call ``run(args)``; a library error about the user's input (a bad argument, a missing
    device) becomes the parser's one-line error, exit status 2, not a traceback."""
    from ..errors import ArgumentError, ArgumentTypeError, DeviceError

    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ArgumentError, ArgumentTypeError, DeviceError) as error:
        parser.error(str(error))

