"""What several op modules share: turning operands into tensors of one dtype and normalising axes."""
from __future__ import annotations

import numbers

from ..errors import ArgumentTypeError, DeviceError, DTypeError, IndexRangeError
from ..engine import Tensor, bounds_of, constant, location


def operands(label: str, a, b) -> tuple[Tensor, Tensor]:
    """Both operands as tensors: a Python number becomes a weak scalar; two tensors must share a dtype."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise ArgumentTypeError(f"{label}: at least one operand must be a Tensor")
        return constant(a, b, label), b
    if not isinstance(b, Tensor):
        return a, constant(b, a, label)
    if a._backend is not b._backend:  # before the dtypes: two libraries' dtypes never compare equal
        raise DeviceError(f"{label}: inputs live on different devices ({a.device} with shape {a.shape}, {b.device} "
                          f"with shape {b.shape}){location()}; move one with .to(device)")
    if a.data.dtype != b.data.dtype:
        raise DTypeError(f"{label}: dtypes differ ({a.dtype} with shape {a.shape}, {b.dtype} with shape {b.shape})"
                         f"{location()}; tinygrad_rnn never upcasts silently — convert one with .to(dtype)")
    return a, b


def normalize_axis(axis: int, ndim: int, label: str) -> int:
    if axis.__class__ is not int and (isinstance(axis, bool) or not isinstance(axis, numbers.Integral)):
        raise ArgumentTypeError(f"{label}: dim must be an int, got {axis!r} ({type(axis).__name__}){location()}")
    if not -ndim <= axis < max(ndim, 1):
        raise IndexRangeError(f"{label}: dim {axis} is out of range for a tensor with {ndim} dimensions{location()}")
    return axis % max(ndim, 1)


def normalize_axes(dim, ndim: int, label: str):
    """``None`` (all axes) or a sorted tuple of non-negative axes."""
    if dim is None:
        return None
    if not isinstance(dim, (numbers.Integral, tuple, list)):
        raise ArgumentTypeError(f"{label}: dim must be an int, a tuple of ints or None, got {dim!r} "
                                f"({type(dim).__name__}){location()}")
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted(normalize_axis(d, ndim, label) for d in dims))


def as_tensor_like(value, like: Tensor, label: str) -> Tensor:
    """``value`` (a Tensor, array or list, e.g. indices or a mask) as a tensor on ``like``'s device."""
    if isinstance(value, Tensor):
        if value._backend is not like._backend:
            raise DeviceError(f"{label}: inputs live on different devices ({like.device} and {value.device})"
                              f"{location()}")
        return value
    return Tensor(value, device=like.device)


INTEGER_DTYPES = ("int64", "int32", "int16", "int8", "uint8")


def any_outside(t: Tensor, low: int, high: int, allowed: int | None = None) -> bool:
    """Whether an element of the integer tensor ``t`` lies outside ``[low, high)`` (``allowed`` excepted), the price
    of an index check that would otherwise silently pick another element. Answered from the bounds ``t``'s host copy
    had where they prove it inside; otherwise (on the CPU, where reading is free, or for indices nobody knows the
    bounds of) by one read of the data."""
    if not t.numel():
        return False
    bounds = bounds_of(t)
    if bounds is not None and bounds.inside(low, high, allowed):
        return False
    xp, data = t._backend.xp, t.data
    outside = xp.logical_or(data < low, data >= high)
    if allowed is not None:
        outside = xp.logical_and(outside, data != allowed)
    return bool(xp.any(outside))


def outside_values(t: Tensor, low: int, high: int, allowed: int | None = None, shown: int = 5) -> str:
    """The first few values of ``t`` outside ``[low, high)`` as text, for the message of a failed index check (an
    error path: the read it costs is paid only when the check already failed)."""
    host = t._backend.to_numpy(t.data).reshape(-1)
    bad = [int(v) for v in host[(host < low) | (host >= high)] if allowed is None or v != allowed]
    return ", ".join(str(v) for v in bad[:shown]) + (", ..." if len(bad) > shown else "")
