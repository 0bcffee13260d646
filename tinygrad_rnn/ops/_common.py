"""What several op modules share: turning operands into tensors of one dtype and normalising axes."""
from __future__ import annotations

import numbers

import numpy as _np  # dtype names only (result_type of two integer dtypes): no array passes through it

from ..backend import FLOAT_DTYPES, get_default_dtype
from ..errors import ArgumentError, ArgumentTypeError, DeviceError, DTypeError, IndexRangeError
from ..engine import Tensor, bounds_of, constant, device_error, location


def operands(label: str, a, b) -> tuple[Tensor, Tensor]:
    """Both operands as tensors of one dtype: a Python number becomes a weak scalar (a float one makes an integer
    tensor the default float), an integer or bool tensor meets a float tensor in the float's dtype and another
    integer tensor in the wider integer dtype, as in PyTorch; two float dtypes raise.

    The binary ops (``elementwise._binary``) and matmul call it only for operands that are not two tensors whose
    arrays share one dtype object."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise ArgumentTypeError(f"{label}: at least one operand must be a Tensor")
        b = _number_partner(b, a)
        return constant(a, b, label), b
    if not isinstance(b, Tensor):
        a = _number_partner(a, b)
        return a, constant(b, a, label)
    if a.backend is not b.backend:  # before the dtypes: two libraries' dtypes never compare equal
        raise device_error(label, (a, b))
    dtype = a.data.dtype
    if dtype is not b.data.dtype and dtype != b.data.dtype:  # NumPy's dtypes are singletons: `is` decides it cheapest
        return _promoted(label, a, b)
    return a, b


def _number_partner(t: Tensor, number):
    """``t``, in the default float dtype when it holds integers and ``number`` is a float (``ints * 0.5``)."""
    if t.requires_grad or isinstance(number, int) or t.backend.dtype_name(t.data) in FLOAT_DTYPES:
        return t  # the common cases, in the order that decides them cheapest
    if isinstance(number, float) or getattr(number, "shape", None) == () and isinstance(number.item(), float):
        return t.to(get_default_dtype())  # a float, or a NumPy float scalar
    return t


def _promoted(label: str, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    floats = [t.dtype for t in (a, b) if t.dtype in FLOAT_DTYPES]
    if len(floats) == 2:
        raise DTypeError(f"{label}: dtypes differ ({a.dtype} with shape {a.shape}, {b.dtype} with shape {b.shape})"
                         f"{location()}; tinygrad_rnn never converts between float dtypes silently — convert one "
                         "with .to(dtype)")
    target = floats[0] if floats else _np.result_type(a.dtype, b.dtype).name
    return a.to(target), b.to(target)


def float_operand(a: Tensor) -> Tensor:
    """``a``, or for an integer or bool tensor ``a`` in the default float dtype: what PyTorch gives ``tanh``,
    ``exp``, ``/`` ... of integers."""
    if a.requires_grad or a.backend.dtype_name(a.data) in FLOAT_DTYPES:  # only floats require grad: no lookup
        return a
    return a.to(get_default_dtype())


def dim_alias(label: str, dim, axis, keepdim=False, keepdims=None, default=None):
    """``(dim, keepdim)`` from PyTorch's spellings: ``dim``/``keepdim`` or their NumPy aliases ``axis``/``keepdims``,
    which PyTorch takes wherever it takes ``dim`` (``default``: dim's default, which an ``axis`` may replace)."""
    if axis is not None:
        if dim is not None and dim is not default:
            raise ArgumentError(f"{label}: give dim or axis, not both (dim={dim!r}, axis={axis!r})")
        dim = axis
    if keepdims is not None:
        if keepdim is not False:
            raise ArgumentError(f"{label}: give keepdim or keepdims, not both")
        keepdim = keepdims
    return dim, keepdim


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
        if value.backend is not like.backend:
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
    xp, data = t.backend.xp, t.data
    outside = xp.logical_or(data < low, data >= high)
    if allowed is not None:
        outside = xp.logical_and(outside, data != allowed)
    return bool(xp.any(outside))


def outside_values(t: Tensor, low: int, high: int, allowed: int | None = None, shown: int = 5) -> str:
    """The first few values of ``t`` outside ``[low, high)`` as text, for the message of a failed index check (an
    error path: the read it costs is paid only when the check already failed)."""
    host = t.backend.to_numpy(t.data).reshape(-1)
    bad = [int(v) for v in host[(host < low) | (host >= high)] if allowed is None or v != allowed]
    return ", ".join(str(v) for v in bad[:shown]) + (", ..." if len(bad) > shown else "")
