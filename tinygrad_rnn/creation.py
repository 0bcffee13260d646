"""Functions that make new leaf tensors, in PyTorch's names: zeros, ones, full, empty, arange, the ``*_like`` forms and
``from_numpy``. Values are made on the host and moved once, as ``tr.tensor`` does.

>>> import tinygrad_rnn as tr
>>> tr.full((2,), 7.0).tolist(), tr.arange(3).tolist(), tr.zeros_like(tr.ones(2, 1)).shape
([7.0, 7.0], [0, 1, 2], (2, 1))
"""
from __future__ import annotations

import numpy

from . import checks
from .backend import get_default_dtype
from .engine import Tensor, tensor
from .errors import ArgumentTypeError


def zeros(*size, dtype: str | None = None, requires_grad: bool = False, device="cpu") -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says): ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _filled(size, 0.0, dtype, requires_grad, device, "zeros")


def ones(*size, dtype: str | None = None, requires_grad: bool = False, device="cpu") -> Tensor:
    return _filled(size, 1.0, dtype, requires_grad, device, "ones")


def empty(*size, dtype: str | None = None, requires_grad: bool = False, device="cpu") -> Tensor:
    """As ``torch.empty``; here its values are zeros (never uninitialised memory)."""
    return _filled(size, 0.0, dtype, requires_grad, device, "empty")


def full(size, fill_value, dtype: str | None = None, requires_grad: bool = False, device="cpu") -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; its dtype follows the value (float32, int64, bool) unless
    ``dtype`` says, as in PyTorch."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = _dtype_of(fill_value, "full")
    return _filled((size,) if isinstance(size, (tuple, list)) else (size,), fill_value, dtype, requires_grad, device,
                   "full")


def zeros_like(input: Tensor, dtype: str | None = None, requires_grad: bool = False, device=None) -> Tensor:
    """Zeros of ``input``'s shape, dtype and device (unless given)."""
    return full_like(input, 0, dtype, requires_grad, device)


def ones_like(input: Tensor, dtype: str | None = None, requires_grad: bool = False, device=None) -> Tensor:
    return full_like(input, 1, dtype, requires_grad, device)


def empty_like(input: Tensor, dtype: str | None = None, requires_grad: bool = False, device=None) -> Tensor:
    return full_like(input, 0, dtype, requires_grad, device)


def full_like(input: Tensor, fill_value, dtype: str | None = None, requires_grad: bool = False,
              device=None) -> Tensor:
    _check_tensor(input, "full_like")
    return _filled((input.shape,), fill_value, dtype or input.dtype, requires_grad, device or input.device,
                   "full_like")


def arange(start, end=None, step=1, dtype: str | None = None, requires_grad: bool = False, device="cpu") -> Tensor:
    """``start, start + step, ...`` below ``end`` (``arange(n)``: 0 to n - 1): int64 when every bound is an int,
    else the default float, as ``torch.arange``."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, step)) else \
            get_default_dtype()
    values = numpy.arange(start, end, step, dtype="float64" if dtype not in ("int64", "int32") else dtype)
    return tensor(values, dtype=dtype, requires_grad=requires_grad, device=device)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A CPU tensor of a NumPy array, keeping its dtype (``torch.from_numpy``; here a copy, not shared memory)."""
    if not isinstance(array, numpy.ndarray):
        raise ArgumentTypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return tensor(array)


def LongTensor(*data) -> Tensor:  # noqa: N802  (PyTorch's legacy constructor)
    """``torch.LongTensor``: an int64 tensor of ``data`` (a list, an array, a tensor), or of zeros of a size given as
    ints (``LongTensor(2, 3)``).

    >>> import tinygrad_rnn as tr
    >>> tr.LongTensor([3, 1]).dtype, tr.LongTensor(2, 3).shape
    ('int64', (2, 3))
    """
    return _legacy(data, "int64", "LongTensor")


def FloatTensor(*data) -> Tensor:  # noqa: N802
    """``torch.FloatTensor``: a float32 tensor of ``data``, or of zeros of a size given as ints."""
    return _legacy(data, "float32", "FloatTensor")


def _legacy(data: tuple, dtype: str, who: str) -> Tensor:
    if all(isinstance(d, int) and not isinstance(d, bool) for d in data):
        return _filled(data, 0, dtype, False, "cpu", who)
    if len(data) != 1:
        raise ArgumentTypeError(f"{who}: expected one sequence of values or a size as ints, got {len(data)} "
                                f"arguments ({', '.join(type(d).__name__ for d in data)})")
    value = data[0]
    if isinstance(value, Tensor):
        return value.detach().to(dtype) if value.dtype != dtype else value.detach()
    return tensor(numpy.asarray(value), dtype=dtype)


def _filled(size: tuple, value, dtype, requires_grad: bool, device, who: str) -> Tensor:
    shape = checks.sizes(size, who)
    return tensor(numpy.full(shape, value, dtype=dtype or get_default_dtype()), requires_grad=requires_grad,
                  device=device)


def _dtype_of(value, who: str) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return get_default_dtype()
    raise ArgumentTypeError(f"{who}: fill_value must be a Python number or bool, got {type(value).__name__}")


def _check_tensor(value, who: str) -> None:
    if not isinstance(value, Tensor):
        raise ArgumentTypeError(f"{who}: input must be a Tensor, got {type(value).__name__}")
