"""Feed-forward layers with PyTorch's names, shapes and default initialisation."""
from __future__ import annotations

import math

from ..errors import ArgumentError
from .. import backend as _backend
from .. import ops
from ..checks import probability, size
from ..engine import Tensor
from . import init
from .module import Module, Parameter


def _empty(shape: tuple, dtype, device) -> Parameter:
    return Parameter(_backend.get_backend("cpu").xp.zeros(shape, dtype=dtype or _backend.get_default_dtype()),
                     device=device)


class Linear(Module):
    """``y = x Wᵀ + b`` with ``weight`` (out_features, in_features), initialised U(-1/√in, 1/√in) as PyTorch does.

    >>> import tinygrad_rnn as tr
    >>> tr.nn.Linear(3, 2)(tr.zeros(5, 3)).shape
    (5, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None, device="cpu"):
        super().__init__()
        in_features, out_features = size(in_features, "in_features", "Linear"), size(out_features, "out_features",
                                                                                     "Linear")
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = init.uniform_(_empty((out_features, in_features), dtype, device), -bound, bound)
        if bias:
            self.bias = init.uniform_(_empty((out_features,), dtype, device), -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table of ``num_embeddings`` rows of size ``embedding_dim``, initialised N(0, 1); the row
    ``padding_idx`` starts at zero and receives no gradient.

    >>> import tinygrad_rnn as tr
    >>> tr.nn.Embedding(10, 4, padding_idx=0)(tr.tensor([[0, 3]])).shape
    (1, 2, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, dtype=None,
                 device="cpu"):
        super().__init__()
        num_embeddings = size(num_embeddings, "num_embeddings", "Embedding")
        embedding_dim = size(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            padding_idx = size(padding_idx, "padding_idx", "Embedding", minimum=-num_embeddings)
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ArgumentError(f"Embedding: padding_idx {padding_idx} is outside [0, {num_embeddings})")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx % num_embeddings if padding_idx is not None else None
        self.weight = init.normal_(_empty((num_embeddings, embedding_dim), dtype, device))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx, ...] = 0

    def forward(self, indices) -> Tensor:
        return ops.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class Dropout(Module):
    """Zero elements with probability ``p`` while training (scaling the rest by 1/(1-p)); identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = probability(p, "p", "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return ops.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Activation(Module):
    function = None

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x)


class Tanh(_Activation):
    function = staticmethod(ops.tanh)


class Sigmoid(_Activation):
    function = staticmethod(ops.sigmoid)


class ReLU(_Activation):
    function = staticmethod(ops.relu)


class Softmax(Module):
    """``softmax`` along ``dim`` as a module (``dim`` is required, as in :func:`tinygrad_rnn.softmax`).

    >>> import tinygrad_rnn as tr
    >>> tr.nn.Softmax(dim=1)(tr.zeros(1, 2)).tolist()
    [[0.5, 0.5]]
    """

    function = staticmethod(ops.softmax)

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    function = staticmethod(ops.log_softmax)
