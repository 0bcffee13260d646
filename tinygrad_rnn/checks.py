"""Argument checks for the edges of the library (constructors, layer entry, public functions), never the op loop.

Each returns the value in its plain Python form or raises an ``ArgumentError`` / ``ArgumentTypeError`` whose
message names the function (``who``), the argument and what it got:

>>> size(0, "hidden_size", "LSTM")
Traceback (most recent call last):
...
tinygrad_rnn.errors.ArgumentError: LSTM: hidden_size must be an int >= 1, got 0
"""
from __future__ import annotations

import math
import numbers

from .errors import ArgumentError, ArgumentTypeError


def size(value, name: str, who: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (a layer size, a count); bools and floats are refused, not truncated."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{who}: {name} must be an int >= {minimum}, got {value!r} "
                                f"({type(value).__name__})")
    if value < minimum:
        raise ArgumentError(f"{who}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def sizes(shape: tuple, who: str) -> tuple:
    """A shape given as ``(2, 3)`` or ``((2, 3),)`` (``zeros(2, 3)``, ``zeros((2, 3))``) as a tuple of ints >= 0."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise (ArgumentError if isinstance(n, numbers.Integral) else ArgumentTypeError)(
                f"{who}: sizes must be ints >= 0, got {n!r} in the shape {shape}")
    return tuple(int(n) for n in shape)


def number(value, name: str, who: str, low: float | None = None, high: float | None = None,
           open_low: bool = False, open_high: bool = False) -> float:
    """``value`` as a float inside [low, high] (ends open where asked); NaN, strings and tensors are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{who}: {name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    below = low is not None and (value <= low if open_low else value < low)
    above = high is not None and (value >= high if open_high else value > high)
    if math.isnan(value) or below or above:
        raise ArgumentError(f"{who}: {name} must be {_range(low, high, open_low, open_high)}, got {value!r}")
    return value


def _range(low, high, open_low: bool, open_high: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if low is not None:
        return f"{'>' if open_low else '>='} {low}"
    if high is not None:
        return f"{'<' if open_high else '<='} {high}"
    return "a number, not NaN"


def probability(value, name: str, who: str) -> float:
    return number(value, name, who, 0.0, 1.0)


def choice(value, name: str, who: str, options) -> str:
    if value not in options:
        raise ArgumentError(f"{who}: {name} must be one of {tuple(options)}, got {value!r}")
    return value


def integers(values, name: str, who: str) -> list[int]:
    """A sequence (list, tuple, NumPy array, a tensor's ``tolist()``) of whole numbers as Python ints. A string,
    a fractional value (``2.5`` is not silently truncated to 2) or a nested list is refused."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ArgumentTypeError(f"{who}: {name} must be a sequence of ints, got {values!r} "
                                f"({type(values).__name__})")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v != int(v):
            raise ArgumentError(f"{who}: {name} must hold whole numbers, got {v!r} in {_short(values)}")
        out.append(int(v))
    return out


def _short(values) -> str:
    values = list(values)
    return repr(values) if len(values) <= 8 else repr(values[:8])[:-1] + ", ...]"
