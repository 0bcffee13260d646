"""Tensor's operators and PyTorch-named methods, installed onto :class:`~tinygrad_rnn.engine.Tensor` by
``install_tensor_methods()`` when the ops package loads (as Chainer's ``install_variable_arithmetics``): the engine
defines the tensor and the tape and imports nothing above itself; the ops build on it and give it its methods.

Where a method's signature is its op's (``x.tanh()`` is ``tr.tanh(x)``, ``x + y`` is ``tr.add(x, y)``) the op
itself is the method, so an operator costs no frame beyond the op's own.

>>> import tinygrad_rnn as tr
>>> x = tr.tensor([[1.0, -2.0]])
>>> (x * 2 + 1).abs().sum().item()  # |3| + |-3|
6.0
"""
from __future__ import annotations

from .. import backend as _backend
from ..engine import Size, Tensor, device_copy, location
from ..errors import GraphError, IndexRangeError, ShapeError
from . import _common, elementwise, index, nn, reduce, shape
from .matmul import bmm, matmul  # the package's name matmul is the function, not the module

# op functions whose first argument is the tensor and whose other arguments are the method's
_SAME_SIGNATURE = {
    "__add__": elementwise.add, "__sub__": elementwise.sub, "__mul__": elementwise.mul,
    "__truediv__": elementwise.div, "__floordiv__": elementwise.floor_divide, "__pow__": elementwise.pow,
    "__neg__": elementwise.neg, "__abs__": elementwise.abs, "__matmul__": matmul,
    "__getitem__": shape.getitem, "__setitem__": index.setitem,
    "exp": elementwise.exp, "log": elementwise.log, "sqrt": elementwise.sqrt, "tanh": elementwise.tanh,
    "sigmoid": elementwise.sigmoid, "relu": elementwise.relu, "abs": elementwise.abs, "pow": elementwise.pow,
    "maximum": elementwise.maximum, "minimum": elementwise.minimum, "clamp": elementwise.clamp,
    "clip": elementwise.clamp, "matmul": matmul, "bmm": bmm,
    "masked_fill": index.masked_fill, "gather": index.gather, "topk": index.topk,
    "sum": reduce.sum, "mean": reduce.mean, "max": reduce.max, "min": reduce.min, "amax": reduce.amax,
    "amin": reduce.amin, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "reshape": shape.reshape, "view": shape.reshape, "flatten": shape.flatten, "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze, "expand": shape.expand, "repeat": shape.repeat, "clone": shape.clone,
    "transpose": shape.transpose, "permute": shape.permute, "chunk": shape.chunk, "unbind": shape.unbind,
    "softmax": nn.softmax, "log_softmax": nn.log_softmax,
}

# the reflected operators: ``2 - x`` calls ``x.__rsub__(2)``
_REFLECTED = {"__radd__": elementwise.add, "__rsub__": elementwise.sub, "__rmul__": elementwise.mul,
              "__rtruediv__": elementwise.div, "__rfloordiv__": elementwise.floor_divide,
              "__rpow__": elementwise.pow, "__rmatmul__": matmul}

# elementwise comparisons, as in PyTorch: tokens != pad is a mask
_COMPARISONS = {"__eq__": "equal", "__ne__": "not_equal", "__lt__": "less", "__le__": "less_equal",
                "__gt__": "greater", "__ge__": "greater_equal"}

_DTYPE_METHODS = {"float": "float32", "double": "float64", "long": "int64", "int": "int32", "bool": "bool"}


def _reflected(op, name: str):
    def method(self, other):
        return op(other, self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}(other, self)``."
    return method


def _comparison(how: str, name: str):
    def method(self, other):
        return elementwise.compare(self, other, how)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Elementwise ``{how}``: a bool tensor outside the graph."
    return method


def _to_dtype(dtype: str, name: str):
    def method(self) -> Tensor:
        return to(self, dtype)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``self.to({dtype!r})``, as ``torch.Tensor.{name}``."
    return method


# -- the methods that are more than their op -------------------------------------------------------------------------
def to(self: Tensor, target) -> Tensor:
    """A copy on another device (``"cpu"``, ``"cuda"``, ``"array_api_strict"``) or, differentiably, in another dtype
    (``"float64"``). Returns ``self`` when nothing changes, as PyTorch does."""
    if target in _backend.DTYPES:
        return self if target == self.dtype else elementwise.cast(self, target)
    return device_copy(self, target)


def size(self: Tensor, dim: int | None = None):
    """The shape as a :class:`Size` (a tuple), or the length of ``dim``, as ``torch.Tensor.size``."""
    if dim is None:
        return Size(self.data.shape)
    if not self.ndim:
        raise IndexRangeError(f"size: dim {dim!r} of a 0-d tensor, which has no dimensions")
    return self.data.shape[_common.normalize_axis(dim, self.ndim, "size")]


def split(self: Tensor, split_size, dim: int = 0) -> tuple:
    return shape.split(self, split_size, dim)


def expand_as(self: Tensor, other: Tensor) -> Tensor:
    return shape.expand(self, other.shape)


def contiguous(self: Tensor) -> Tensor:
    return self  # every array here is laid out for its op already


def t(self: Tensor) -> Tensor:
    """The transpose of a matrix (a vector or scalar as it is), as ``torch.Tensor.t``."""
    if self.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got shape {self.shape}; use transpose(d0, d1)")
    return shape.transpose(self, 0, 1) if self.ndim == 2 else self


def T(self: Tensor) -> Tensor:  # noqa: N802  (PyTorch's name)
    return shape.permute(self, *reversed(range(self.ndim)))


def type(self: Tensor, dtype: str) -> Tensor:  # noqa: A001  (PyTorch's name)
    return to(self, dtype)


def cpu(self: Tensor) -> Tensor:
    return to(self, "cpu")


def cuda(self: Tensor) -> Tensor:
    return to(self, "cuda")


def fill_(self: Tensor, value) -> Tensor:
    """Write ``value`` into every element, in place (``t[...] = value``: versioned, and in the graph)."""
    self[...] = value
    return self


def zero_(self: Tensor) -> Tensor:
    return fill_(self, 0)


def unsqueeze_(self: Tensor, dim: int) -> Tensor:
    """``unsqueeze`` in place, for a tensor outside the graph (a new shape, the same memory)."""
    return _reshaped_in_place(self, shape.unsqueeze(self, dim), "unsqueeze_")


def squeeze_(self: Tensor, dim=None) -> Tensor:
    return _reshaped_in_place(self, shape.squeeze(self, dim), "squeeze_")


def _reshaped_in_place(self: Tensor, out: Tensor, who: str) -> Tensor:
    if self.grad_fn is not None or self.requires_grad:
        raise GraphError(f"{who}: a tensor in the graph (shape {self.shape}) cannot change its shape in place; "
                         f"write x = x.{who[:-1]}(...) instead{location()}")
    self.data = out.data
    bounds = getattr(out, "_bounds", None)  # the new shape's: unsqueeze(-1) makes rows of one
    if bounds is not None:
        self._bounds = bounds
    elif getattr(self, "_bounds", None) is not None:
        del self._bounds
    return self


def unbind_detached(self: Tensor) -> list:
    """This detached tensor's slices along axis 0, each linked back to where its own part was cut: when it was
    detached from a stack (a layer's final states, one per layer), slice k to the stack's input k, so a drawing
    shows every layer's cut even after the stack is gone."""
    parts = list(shape.unbind(self, 0))
    links = getattr(self, "_detached_from", None)
    if links is not None:
        per_part = links[1:] if len(links) == 1 + len(parts) else None
        for k, part in enumerate(parts):
            part._detached_from = (per_part[k],) if per_part else links
    return parts


_OWN_METHODS = (to, size, split, expand_as, contiguous, t, type, cpu, cuda, fill_, zero_, unsqueeze_, squeeze_,
                unbind_detached)


def install_tensor_methods(cls: type = Tensor) -> None:
    """Give ``cls`` its operators and methods; run once, by ``tinygrad_rnn.ops`` as it loads."""
    for name, op in _SAME_SIGNATURE.items():
        setattr(cls, name, op)
    for name, op in _REFLECTED.items():
        setattr(cls, name, _reflected(op, name))
    for name, how in _COMPARISONS.items():
        setattr(cls, name, _comparison(how, name))
    for name, dtype in _DTYPE_METHODS.items():
        setattr(cls, name, _to_dtype(dtype, name))
    for method in _OWN_METHODS:
        setattr(cls, method.__name__, method)
    cls.T = property(T)
