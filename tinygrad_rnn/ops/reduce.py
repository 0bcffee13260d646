"""Reductions over axes: sum, mean, max. Backward spreads the gradient back over the reduced axes. ``argmax`` reduces
too, to indices, and has no gradient."""
from __future__ import annotations

from ..backend import Bounds
from ..engine import Function, Tensor, no_grad
from ..errors import ArgumentError, ArgumentTypeError
from ._common import normalize_axes, normalize_axis
from .elementwise import maximum


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


class Max(Function):
    """The largest value over the axes; the gradient is shared evenly among tied maxima."""

    def forward(self, a, axes, keepdims):
        xp = self.xp
        self.shape, self.axes, self.keepdims = a.shape, axes, keepdims
        kept = xp.max(a, axis=axes, keepdims=True)
        self.a, self.kept = a, kept  # the tie shares are backward's work: a forward without backward never needs them
        return kept if keepdims else xp.reshape(kept, _reduced_shape(a.shape, axes))

    def backward(self, g):
        xp, a = self.xp, self.a
        if not self.keepdims:
            g = xp.reshape(g, _keepdims_shape(self.shape, self.axes))
        winners = xp.astype(a == self.kept, a.dtype)
        return g * (winners / xp.sum(winners, axis=self.axes, keepdims=True))


class ArgMax(Function):
    """Where the largest value lies along one axis (or in the flattened array): int64 indices, outside the graph."""

    def forward(self, a, axis, keepdims):
        xp = self.xp
        return xp.astype(xp.argmax(a, axis=axis, keepdims=keepdims), xp.int64)


def _reduce(cls, label: str, a: Tensor, dim, keepdim: bool) -> Tensor:
    if keepdim is not False and keepdim is not True:
        _check_keepdim(keepdim, label)
    return cls.apply(a, axes=normalize_axes(dim, a.ndim, label), keepdims=bool(keepdim))


def _check_keepdim(keepdim, label: str) -> None:
    if not isinstance(keepdim, (bool, int)) or isinstance(keepdim, Tensor):
        raise ArgumentTypeError(f"{label}: keepdim must be a bool, got {type(keepdim).__name__}")


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001  (PyTorch's name)
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return _reduce(Sum, "sum", a, dim, keepdim)


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _reduce(Mean, "mean", a, dim, keepdim)


def max(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """The maximum over ``dim`` (values only; the gradient splits evenly between ties, like ``torch.amax``), or,
    as ``torch.max(a, b)``, the elementwise maximum of ``a`` and the tensor ``b`` given as ``dim``."""
    if isinstance(dim, Tensor):
        if keepdim is not False:
            raise ArgumentTypeError(f"max: with a tensor as the second argument (the elementwise maximum of shapes "
                                    f"{a.shape} and {dim.shape}) there is no keepdim, got {keepdim!r}")
        return maximum(a, dim)
    if a.numel() == 0:
        raise ArgumentError(f"max: cannot reduce an empty tensor of shape {a.shape}")
    return _reduce(Max, "max", a, dim, keepdim)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The int64 index of the largest value along ``dim`` (None: in the flattened tensor), the first among ties, as
    ``torch.argmax``. Indices carry no gradient: the result is never part of the graph.

    >>> import tinygrad_rnn as tr
    >>> tr.argmax(tr.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]]), dim=-1).tolist()
    [1, 0]
    """
    if a.numel() == 0:
        raise ArgumentError(f"argmax: cannot reduce an empty tensor of shape {a.shape}")
    axis = None if dim is None or a.ndim == 0 else normalize_axis(dim, a.ndim, "argmax")
    with no_grad():
        out = ArgMax.apply(a, axis=axis, keepdims=bool(keepdim))
    if not a._backend.reads_are_free:  # an index into the reduced axis: known to lie in [0, n) without a read
        n = a.numel() if axis is None else a.shape[axis]
        out._bounds = Bounds(0, n - 1, 0, n - 1)
    return out
