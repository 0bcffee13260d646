"""Ops that pick or write elements by index: gather, topk, masked_fill, and ``t[key] = value``.

An assignment ``t[key] = value`` writes into ``t``'s array in place, as PyTorch does, and makes ``t`` the output of a
``setitem`` node whose inputs are ``t`` as it was before and ``value``: the gradient reaches ``value`` through the
written region and ``t``'s earlier self through the rest. Ops made before the write still lead to that earlier self
(``autograd`` routes them by the write's counter stamp), and an op that saved an array the write changed makes the
next backward through it raise, as PyTorch's version counter does.
"""
from __future__ import annotations

import builtins

from .. import engine
from ..backend import FLOAT_DTYPES
from ..engine import Function, Tensor, _wrap, location
from ..errors import ArgumentError, ArgumentTypeError, DeviceError, DTypeError, GraphError, IndexRangeError, ShapeError
from ._common import INTEGER_DTYPES, as_tensor_like, dim_alias, normalize_axis
from .elementwise import where


class Gather(Function):
    """``out[..., i, ...] = a[..., index[..., i, ...], ...]`` along ``axis``; backward adds the gradient back at the
    picked positions (an index picked twice receives both)."""

    def forward(self, a, index, axis):
        xp = self.xp
        self.shape, self.dtype, self.axis, self.index = a.shape, a.dtype, axis, index
        lead = tuple(builtins.slice(None) if d == axis else builtins.slice(0, n) for d, n in enumerate(index.shape))
        return xp.take_along_axis(a[lead], index, axis=axis)

    def backward(self, g):
        xp, index = self.xp, self.index
        key = tuple(index if d == self.axis else
                    xp.reshape(xp.arange(n, dtype=index.dtype), tuple(n if k == d else 1 for k in range(index.ndim)))
                    for d, n in enumerate(index.shape))
        key = tuple(xp.broadcast_to(k, tuple(index.shape)) for k in key)
        return self.parents[0].backend.index_add(self.shape, self.dtype, key, g), None


class SetItem(Function):
    label = "setitem"

    def forward(self, a, value=None, key=None, scalar=None, backend=None):
        self.key, self.backend = key, backend
        backend.index_put(a, key, scalar if value is None else value)
        return a

    def backward(self, g):
        backend = self.backend
        rest = self.xp.asarray(g, copy=True)
        backend.index_put(rest, self.key, 0)
        if len(self.parents) == 1 or not self.parents[1].requires_grad:
            return rest
        return rest, backend.index_take(g, self.key)


def gather(input: Tensor, dim: int | None = None, index=None, *, sparse_grad: bool = False,
           axis: int | None = None) -> Tensor:
    """``torch.gather``: ``out[i][j] = input[index[i][j]][j]`` for ``dim=0`` (and so on), ``index`` an int64 tensor
    with ``input``'s number of dimensions and no larger size on the other dims.

    >>> import tinygrad_rnn as tr
    >>> tr.gather(tr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, tr.tensor([[1], [0]])).tolist()
    [[2.0], [3.0]]
    """
    if sparse_grad:
        raise ArgumentError("gather: sparse_grad=True is not supported (gradients are dense arrays)")
    from .shape import _required_dim

    dim = _required_dim("gather", input, dim, axis)
    if index is None:
        raise ArgumentTypeError(f"gather: index is required (input of shape {input.shape}){location()}")
    index = as_tensor_like(index, input, "gather")
    if index.dtype not in INTEGER_DTYPES:
        raise DTypeError(f"gather: index must hold integers, got {index.dtype} (shape {index.shape}){location()}")
    axis = normalize_axis(dim, input.ndim, "gather")
    if index.ndim != input.ndim or builtins.any(i > n for d, (i, n) in enumerate(zip(index.shape, input.shape))
                                                if d != axis):
        raise ShapeError(f"gather: index of shape {index.shape} does not fit input of shape {input.shape} along dim "
                         f"{dim} (same number of dims, no larger size on the other dims){location()}")
    from ._common import any_outside, outside_values

    n = input.shape[axis]
    if any_outside(index, 0, n):
        raise IndexRangeError(f"gather: index values must lie in [0, {n}) for dim {dim} of shape {input.shape}, got "
                              f"{outside_values(index, 0, n)}{location()}")
    return Gather.apply(input, index, axis=axis)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *,  # noqa: A002
         axis: int | None = None):
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` and their int64 indices, as
    ``torch.topk``: a named tuple ``(values, indices)``, the values differentiable.

    >>> import tinygrad_rnn as tr
    >>> tr.topk(tr.tensor([1.0, 5.0, 3.0]), 2).indices.tolist()
    [1, 2]
    """
    from ..checks import size
    from .reduce import ValuesIndices

    dim = dim_alias("topk", dim, axis, default=-1)[0]
    if input.ndim == 0:  # one element: as a vector of one, then back
        normalize_axis(dim, 1, "topk")  # dim 0 or -1, as PyTorch allows
        values, indices = topk(input.reshape(1), k, 0, largest, sorted)
        return ValuesIndices(values.reshape(()), indices.reshape(())) if k else ValuesIndices(values, indices)
    axis = normalize_axis(dim, input.ndim, "topk")
    length = input.shape[axis]
    k = size(k, "k", "topk", minimum=0)
    if k > length:
        raise ArgumentError(f"topk: k={k} is larger than dim {dim} of shape {input.shape} ({length}){location()}")
    backend = input.backend
    order = backend.argsort(input.data, axis, descending=bool(largest))
    indices = _wrap(order[(builtins.slice(None),) * axis + (builtins.slice(0, k), ...)], False, backend, None, 0)
    return ValuesIndices(gather(input, axis, indices), indices)


def masked_fill(input: Tensor, mask, value) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor) where the bool ``mask`` (broadcast to ``input``) holds,
    as ``torch.masked_fill``; the gradient reaches ``input`` where the mask is False.

    >>> import tinygrad_rnn as tr
    >>> tr.masked_fill(tr.tensor([1.0, 2.0]), tr.tensor([True, False]), 0.0).tolist()
    [0.0, 2.0]
    """
    mask = as_tensor_like(mask, input, "masked_fill")
    if mask.dtype != "bool":
        raise DTypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype} (shape {mask.shape}){location()}")
    if isinstance(value, Tensor) and value.ndim:
        raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}{location()}")
    return where(mask, value, input)


# -- t[key] = value ---------------------------------------------------------------------------------------------------
def setitem(t: Tensor, key, value) -> None:
    """``t[key] = value`` in place (ints, slices, None, Ellipsis, integer arrays, a bool mask), differentiable."""
    from .shape import _index_part

    parts = _assignment_key(t, tuple(p for p, _, _ in (_index_part(p, t) for p in
                                                       (key if isinstance(key, tuple) else (key,)))))
    if hasattr(value, "item") and getattr(value, "shape", None) == () and not isinstance(value, Tensor):
        value = value.item()  # a NumPy scalar counts as the number it holds
    if not isinstance(value, (bool, int, float)):  # a number is written as it is, converted as PyTorch converts it
        value = _written_value(t, as_tensor_like(value, t, "setitem"))
    recording = engine._grad_enabled and (t.requires_grad or isinstance(value, Tensor) and value.requires_grad)
    if recording and t.grad_fn is None and t.requires_grad:
        raise GraphError(f"setitem: a leaf tensor that requires grad (shape {t.shape}) cannot be written in place "
                         "inside the graph; write it under tr.no_grad() or write into a copy (t.clone())")
    backend = t.backend
    viewed = _viewed_by(t) if recording else None
    if viewed is not None:
        raise GraphError(f"setitem: this tensor (shape {t.shape}) is a view of the input of "
                         f"'{viewed.op_label()}'{engine.where_text(viewed.scope, viewed.step)}; inside the graph a "
                         "write through a view is not supported (PyTorch would change the viewed tensor too) — index "
                         "that tensor itself (x[0, 1] = v, not x[0][1] = v) or write into a .clone()")
    elif recording and t.grad_fn is None and backend.memory_owner(t.data) is not t.data:
        # a view made outside the graph (buffer[i] of a buffer that needs no gradient): writing it writes the
        # buffer, whose node would not learn of the value, so its gradient would be cut without a word
        raise GraphError(f"setitem: this tensor (shape {t.shape}) is a view into another tensor's memory (made by "
                         "indexing or reshaping it), and writing a value that needs a gradient through it is not "
                         f"supported; index that tensor itself (x[0, 1] = v, not x[0][1] = v){location()}")
    stamp = engine.note_write(t)
    # outside the graph the op writes into t itself; inside it, into t's earlier self, whose place t then takes
    before = _wrap(t.data, t.requires_grad, backend, t.grad_fn, t.output_index, t.name) if recording else t
    if isinstance(value, Tensor):
        out = SetItem.apply(before, value, key=parts, backend=backend)
    else:
        out = SetItem.apply(before, key=parts, scalar=value, backend=backend)
    if recording:
        t._history = (getattr(t, "_history", None) or ()) + ((stamp, before),)
        t.grad_fn, t.output_index, t.requires_grad = out.grad_fn, 0, True


def _viewed_by(t: Tensor):
    """The op whose output ``t``'s array is a view of one of its inputs' arrays (reshape, getitem, permute ...), or
    None; earlier writes into ``t`` are looked through, as they keep its array."""
    fn, backend = t.grad_fn, t.backend
    while isinstance(fn, SetItem):
        fn = fn.parents[0].grad_fn
    if fn is not None and builtins.any(backend.owns(p.data) and backend.may_share_memory(t.data, p.data)
                                       for p in fn.parents):
        return fn
    return None


def _assignment_key(t: Tensor, parts: tuple) -> tuple:
    """The key in the form the standard assigns through: no new axes (they add nothing to a write), and a trailing
    Ellipsis where it names fewer axes than ``t`` has, unless it is a sole bool mask."""
    parts = tuple(p for p in parts if p is not None)
    if len(parts) == 1 and hasattr(parts[0], "dtype") and t.backend.dtype_name(parts[0]) == "bool":
        return parts
    if not builtins.any(p is Ellipsis for p in parts) and len(parts) < t.ndim:
        parts = parts + (Ellipsis,)
    return parts


def _written_value(t: Tensor, value: Tensor) -> Tensor:
    if value.backend is not t.backend:
        raise DeviceError(f"setitem: the value lives on {value.device}, the tensor on {t.device}{location()}")
    if value.dtype != t.dtype:
        if value.dtype not in FLOAT_DTYPES and t.dtype in FLOAT_DTYPES:
            return value.to(t.dtype)  # as PyTorch writes an integer tensor into a float one
        raise DTypeError(f"setitem: writing a {value.dtype} value (shape {value.shape}) into a {t.dtype} tensor "
                         f"(shape {t.shape}) would convert it silently; convert it with .to({t.dtype!r}){location()}")
    return value


