"""Initialisers, in place and outside the graph, with PyTorch's names: ``uniform_``, ``normal_``, ``xavier_*``,
``orthogonal_``, ``zeros_``, ``ones_``, ``constant_``. They draw from the generator ``tr.manual_seed`` seeds.

>>> import tinygrad_rnn as tr
>>> w = tr.nn.init.orthogonal_(tr.zeros(4, 4))
>>> round((w @ w.T).sum().item(), 4)  # W Wᵀ = I
4.0
"""
from __future__ import annotations

import math

from ..engine import Tensor


def _fill(tensor: Tensor, data) -> Tensor:
    tensor.data = data
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return _fill(tensor, tensor._backend.uniform(tensor.shape, a, b, tensor.dtype))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(tensor, tensor._backend.normal(tensor.shape, mean, std, tensor.dtype))


def constant_(tensor: Tensor, value: float) -> Tensor:
    xp = tensor._backend.xp
    return _fill(tensor, xp.full(tensor.shape, value, dtype=tensor.data.dtype))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2014): a (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, signs fixed
    so the result is uniformly distributed; tensors of more than 2 dimensions are flattened after the first."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, got shape {tensor.shape}")
    xp = tensor._backend.xp
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    flat = tensor._backend.normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, "float64")
    q, r = xp.linalg.qr(flat)
    diagonal = xp.sum(r * xp.eye(r.shape[0], dtype=r.dtype), axis=0)
    q = q * xp.sign(diagonal)
    if rows < cols:
        q = q.mT
    return _fill(tensor, xp.astype(xp.reshape(q * gain, tensor.shape), tensor.data.dtype))


def set_forget_bias_(cell, value: float = 1.0):
    """Give an LSTM cell's forget gate the total initial bias ``value``: the f block (the second quarter, in
    PyTorch's i, f, g, o layout) of ``bias_ih`` becomes ``value`` and that of ``bias_hh`` zero. A positive
    forget bias keeps the cell state, and the gradient through it, alive early in training (Gers et al., 2000).

    >>> import tinygrad_rnn as tr
    >>> cell = tr.nn.LSTMCell(2, 3, forget_bias=0.0); _ = set_forget_bias_(cell, 2.0)
    >>> (cell.bias_ih + cell.bias_hh).numpy()[3:6].tolist()
    [2.0, 2.0, 2.0]
    """
    n = cell.hidden_size
    for bias, fill in ((cell.bias_ih, value), (cell.bias_hh, 0.0)):
        bias.data[n:2 * n] = fill
    return cell
