"""Reductions over axes: sum, mean, amax/amin, and max/min, which over one dim return ``(values, indices)`` as in
PyTorch. Backward spreads the gradient back over the reduced axes. ``argmax``/``argmin`` reduce to indices and have no
gradient."""
from __future__ import annotations

from typing import NamedTuple

from ..backend import Bounds
from ..engine import Function, Tensor, no_grad
from ..errors import ArgumentError, ArgumentTypeError
from ._common import dim_alias, float_operand, normalize_axes, normalize_axis
from .elementwise import maximum, minimum


def _keepdims_shape(shape: tuple, axes) -> tuple:
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def _reduced_shape(shape: tuple, axes) -> tuple:
    return tuple(n for i, n in enumerate(shape) if axes is not None and i not in axes)


class Sum(Function):
    def forward(self, a, axes, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, axes, keepdims
        return self.xp.sum(a, axis=axes, keepdims=keepdims)

    def backward(self, g):
        xp = self.xp
        if not self.keepdims:
            g = xp.reshape(g, _keepdims_shape(self.shape, self.axes))
        return xp.broadcast_to(g, self.shape)


class Mean(Sum):
    def forward(self, a, axes, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, axes, keepdims
        out = self.xp.mean(a, axis=axes, keepdims=keepdims)
        self.count = a.size // out.size if out.size else 1
        return out

    def backward(self, g):
        return super().backward(g / self.count)


class Amax(Function):
    """The largest (``Amin``: smallest) value over the axes; the gradient is shared evenly among tied winners."""

    label = reduce = "max"  # drawn as "max": what torch.max(x) and x.max() make

    def forward(self, a, axes, keepdims):
        xp = self.xp
        self.shape, self.axes, self.keepdims = a.shape, axes, keepdims
        kept = getattr(xp, self.reduce)(a, axis=axes, keepdims=True)
        self.a, self.kept = a, kept  # the tie shares are backward's work: a forward without backward never needs them
        return kept if keepdims else xp.reshape(kept, _reduced_shape(a.shape, axes))

    def backward(self, g):
        xp, a = self.xp, self.a
        if not self.keepdims:
            g = xp.reshape(g, _keepdims_shape(self.shape, self.axes))
        winners = xp.astype(a == self.kept, a.dtype)
        return g * (winners / xp.sum(winners, axis=self.axes, keepdims=True))


class Amin(Amax):
    label = reduce = "min"


class ArgMax(Function):
    """Where the largest (``ArgMin``: smallest) value lies along one axis (or in the flattened array): int64 indices,
    outside the graph."""

    reduce = "argmax"

    def forward(self, a, axis, keepdims):
        xp = self.xp
        return xp.astype(getattr(xp, self.reduce)(a, axis=axis, keepdims=keepdims), xp.int64)


class ArgMin(ArgMax):
    reduce = "argmin"


class ValuesIndices(NamedTuple):
    """What ``max``/``min`` over a dim and ``topk`` return, as PyTorch's ``torch.return_types``: a tuple
    ``(values, indices)`` whose parts are also named."""

    values: Tensor
    indices: Tensor


def _reduce(cls, label: str, a: Tensor, dim, keepdim: bool) -> Tensor:
    if keepdim is not False and keepdim is not True:
        _check_keepdim(keepdim, label)
    return cls.apply(a, axes=normalize_axes(dim, a.ndim, label), keepdims=bool(keepdim))


def _check_keepdim(keepdim, label: str) -> None:
    if not isinstance(keepdim, (bool, int)) or isinstance(keepdim, Tensor):
        raise ArgumentTypeError(f"{label}: keepdim must be a bool, got {type(keepdim).__name__}")


def sum(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple, or None for all; ``axis``/``keepdims`` are accepted as in PyTorch)."""
    dim, keepdim = dim_alias("sum", dim, axis, keepdim, keepdims)
    return _reduce(Sum, "sum", a, dim, keepdim)


def mean(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The mean over ``dim``; an integer tensor's mean is in the default float dtype."""
    dim, keepdim = dim_alias("mean", dim, axis, keepdim, keepdims)
    return _reduce(Mean, "mean", float_operand(a), dim, keepdim)


def amax(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The largest value over ``dim`` (an int, a tuple, or None for all); the gradient splits evenly between ties.

    >>> import tinygrad_rnn as tr
    >>> tr.amax(tr.tensor([[1.0, 5.0], [7.0, 0.0]]), dim=1).tolist()
    [5.0, 7.0]
    """
    return _extremum_values(Amax, "amax", a, dim, keepdim, axis, keepdims)


def amin(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The smallest value over ``dim``, as :func:`amax`."""
    return _extremum_values(Amin, "amin", a, dim, keepdim, axis, keepdims)


def _extremum_values(cls, label: str, a: Tensor, dim, keepdim, axis, keepdims) -> Tensor:
    dim, keepdim = dim_alias(label, dim, axis, keepdim, keepdims)
    if a.numel() == 0:
        raise ArgumentError(f"{label}: cannot reduce an empty tensor of shape {a.shape}")
    return _reduce(cls, label, a, dim, keepdim)


def max(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """As ``torch.max``: without ``dim`` the largest value (a tensor; the gradient splits between ties); over one
    ``dim`` the pair ``(values, indices)`` (a named tuple, the gradient going to the picked index); with a tensor
    as the second argument, the elementwise maximum ``torch.max(a, b)``.

    >>> import tinygrad_rnn as tr
    >>> values, indices = tr.max(tr.tensor([[1.0, 5.0], [7.0, 0.0]]), 1)
    >>> values.tolist(), indices.tolist()
    ([5.0, 7.0], [1, 0])
    """
    return _extremum("max", Amax, ArgMax, maximum, a, dim, keepdim, axis, keepdims)


def min(a: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """As ``torch.min``: the smallest value, ``(values, indices)`` over one ``dim``, or ``torch.min(a, b)``."""
    return _extremum("min", Amin, ArgMin, minimum, a, dim, keepdim, axis, keepdims)


def _extremum(label: str, values_cls, index_cls, elementwise, a: Tensor, dim, keepdim, axis, keepdims):
    if isinstance(dim, Tensor):
        if keepdim is not False:
            raise ArgumentTypeError(f"{label}: with a tensor as the second argument (the elementwise {label}imum of "
                                    f"shapes {a.shape} and {dim.shape}) there is no keepdim, got {keepdim!r}")
        return elementwise(a, dim)
    dim, keepdim = dim_alias(label, dim, axis, keepdim, keepdims)
    if dim is None:
        if keepdim is not False:  # PyTorch refuses it too: the one value over everything has no kept dims
            raise ArgumentTypeError(f"{label}: keepdim={keepdim!r} needs a dim (tensor of shape {a.shape}); for "
                                    f"all dims kept use tr.a{label}(x, dim=tuple(range(x.ndim)), keepdim=True)")
        return _extremum_values(values_cls, label, a, None, False, None, None)
    if isinstance(dim, (tuple, list)):
        raise ArgumentTypeError(f"{label}: dim must be one int, got {dim!r}; for the {label}imum over several dims "
                                f"use tr.a{label}(x, dim={tuple(dim)!r}) (values only), as in PyTorch")
    if keepdim is not False and keepdim is not True:
        _check_keepdim(keepdim, label)
    from .index import gather

    axis = normalize_axis(dim, a.ndim, label)
    indices = _arg(index_cls, label, a, axis, True)  # raises for an empty tensor
    if a.ndim == 0:  # one element, its own maximum at index 0, as in PyTorch
        return ValuesIndices(a, indices)
    values = gather(a, axis, indices)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The int64 index of the largest value along ``dim`` (None: in the flattened tensor), the first among ties, as
    ``torch.argmax``. Indices carry no gradient: the result is never part of the graph.

    >>> import tinygrad_rnn as tr
    >>> tr.argmax(tr.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]]), dim=-1).tolist()
    [1, 0]
    """
    dim, keepdim = dim_alias("argmax", dim, axis, keepdim, keepdims)
    return _arg(ArgMax, "argmax", a, dim, keepdim)


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """The int64 index of the smallest value along ``dim``, as :func:`argmax`."""
    dim, keepdim = dim_alias("argmin", dim, axis, keepdim, keepdims)
    return _arg(ArgMin, "argmin", a, dim, keepdim)


def _arg(cls, label: str, a: Tensor, dim, keepdim) -> Tensor:
    if a.numel() == 0:
        raise ArgumentError(f"{label}: cannot reduce an empty tensor of shape {a.shape}")
    axis = None if dim is None or a.ndim == 0 else normalize_axis(dim, a.ndim, label)
    with no_grad():
        out = cls.apply(a, axis=axis, keepdims=bool(keepdim))
    if not a.backend.reads_are_free:  # an index into the reduced axis: known to lie in [0, n) without a read
        n = a.numel() if axis is None else a.shape[axis]
        out._bounds = Bounds(0, n - 1, 0, n - 1)
    return out
