"""Attention: a query reads a memory of (key, value) pairs through softmax weights.

a_i = α(q, k_i), b = softmax(a_1..a_n) over the unmasked positions, o = Σ_i b_i v_i. Four scoring functions α:

- ``DotAttention``: ⟨q, k⟩ (Luong's "dot"),
- ``ScaledDotAttention``: ⟨q, k⟩ / √d (the transformer's),
- ``GeneralAttention``: qᵀ W k (Luong's "general", bilinear),
- ``AdditiveAttention``: vᵀ tanh(W_k k + W_q q) (Bahdanau's MLP).

Every module is called as ``context, weights = attention(query, keys, values=None, mask=None)`` with query (B, Dq),
keys (B, S, Dk), values (B, S, Dv) — the keys when left out — and mask (B, S) bool, False where a position is
padding. Masked positions get exactly zero weight and no gradient. Each call names its nodes ``scores``,
``weights`` and ``context``, so a traced graph shows them.

A decoder attends to the same memory at every step, so the part of the scores that depends on the keys alone can be
computed once per sequence: ``keys_proj = attention.project_keys(keys)``, then
``attention(query, keys, values, mask, projected_keys=keys_proj)`` at every step.

>>> import tinygrad_rnn as tr
>>> attention = tr.nn.make_attention("additive", query_size=4, key_size=6, hidden=8)
>>> mask = tr.tensor([[True] * 5, [True] * 3 + [False] * 2])
>>> context, weights = attention(tr.randn(2, 4), tr.randn(2, 5, 6), mask=mask)
>>> context.shape, weights.shape, weights.numpy()[1, 3:].tolist()
((2, 6), (2, 5), [0.0, 0.0])
"""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..checks import size
from ..engine import Tensor, bounds_of, location, scope
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..ops._common import as_tensor_like
from .layers import Linear
from .module import Module

KINDS = ("dot", "scaled_dot", "general", "additive")


def _mask_fill(dtype: str) -> float:
    """A score that softmax turns into exactly 0: finite (so ``detect_anomaly`` stays quiet) but far below any real
    score, and still representable in float16."""
    return -min(1e9, float(np.finfo(dtype).max) / 2)


class _Attention(Module):
    """What every scoring function shares: the input checks, masking, softmax and the weighted sum."""

    def __init__(self, query_size: int | None, key_size: int | None):
        super().__init__()
        who = type(self).__name__
        if query_size is not None:
            query_size = size(query_size, "query_size", who)
        if key_size is not None:
            key_size = size(key_size, "key_size", who)
        self.query_size, self.key_size = query_size, key_size

    # -- what a scoring function defines --------------------------------------------------------------------------
    def _project(self, keys: Tensor) -> Tensor:
        return keys

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Raw scores (B, S) of a query (B, Dq) against keys as ``project_keys`` returned them."""
        raise NotImplementedError

    # -- the public calls -------------------------------------------------------------------------------------------
    def project_keys(self, keys: Tensor) -> Tensor:
        """The part of the scores that depends on the keys alone (B, S, ·): compute it once per sequence and pass
        it as ``projected_keys`` at every step. The identity for dot-product scores."""
        self._check_keys(keys)
        with scope(*self._scope_path):
            return self._project(keys)

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask=None,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(context (B, Dv), weights (B, S))`` of ``query`` (B, Dq) over ``keys`` (B, S, Dk) and ``values``
        (B, S, Dv) (the keys when None); ``mask`` (B, S) bool is False at padding, which gets weight 0."""
        name = type(self).__name__
        for what, value in (("query", query), ("keys", keys), ("values", values), ("projected_keys", projected_keys)):
            if value is not None and not isinstance(value, Tensor):
                raise ArgumentTypeError(f"{name}: {what} must be a Tensor, got {type(value).__name__}{location()}")
        values = keys if values is None else values
        self._check_keys(keys)
        batch, length = keys.shape[0], keys.shape[1]
        if query.ndim != 2 or (self.query_size is not None and query.shape[1] != self.query_size):
            raise ShapeError(f"{name}: query of shape {query.shape} does not fit (expects (batch, "
                             f"{self.query_size or 'query_size'})){location()}")
        if query.shape[0] != batch:
            raise ShapeError(f"{name}: query batch {query.shape[0]} differs from keys batch {batch} (query "
                             f"{query.shape}, keys {keys.shape}){location()}")
        if values.ndim != 3 or values.shape[:2] != (batch, length):
            raise ShapeError(f"{name}: values of shape {values.shape} do not fit keys of shape {keys.shape} (expects "
                             f"({batch}, {length}, value_size)){location()}")
        if projected_keys is None:
            projected_keys = self._project(keys)
        elif projected_keys.ndim != 3 or projected_keys.shape[:2] != (batch, length):
            raise ShapeError(f"{name}: projected_keys of shape {projected_keys.shape} do not fit keys of shape "
                             f"{keys.shape}{location()}")
        if mask is not None:
            mask = self._check_mask(mask, keys)
        return self.attend(query, projected_keys, values, mask)

    def attend(self, query: Tensor, projected_keys: Tensor, values: Tensor, mask: Tensor | None):
        """``forward`` without its checks: scores, masked softmax, weighted sum."""
        scores = self.score(query, projected_keys).named("scores")
        logits = scores if mask is None else ops.where(mask, scores, _mask_fill(scores.dtype))
        weights = ops.softmax(logits, dim=-1).named("weights")
        batch, length = weights.shape
        context = ops.matmul(ops.reshape(weights, batch, 1, length), values)
        return ops.reshape(context, batch, values.shape[2]).named("context"), weights

    # -- checks -----------------------------------------------------------------------------------------------------
    def _check_keys(self, keys: Tensor) -> None:
        name = type(self).__name__
        if keys.ndim != 3 or (self.key_size is not None and keys.shape[2] != self.key_size):
            raise ShapeError(f"{name}: keys of shape {keys.shape} do not fit (expects (batch, length, "
                             f"{self.key_size or 'key_size'})){location()}")
        if keys.shape[1] == 0:
            raise ShapeError(f"{name}: keys of shape {keys.shape} hold no position to attend to{location()}")

    def _check_mask(self, mask, keys: Tensor) -> Tensor:
        """``mask`` as a tensor, checked against ``keys``: bool, one entry per position, and no row all padding (that
        test reads the mask back from the device unless its host copy's bounds already say so — as for the encoder's
        mask, made from lengths on the host —, so a decoder checks its memory once per sequence, in ``check_memory``,
        and then calls ``attend`` at every step)."""
        name = type(self).__name__
        mask = as_tensor_like(mask, keys, name)
        if mask.dtype != "bool":
            raise DTypeError(f"{name}: mask must be a bool tensor (False at padding), got {mask.dtype}{location()}")
        if mask.shape != keys.shape[:2]:
            raise ShapeError(f"{name}: mask of shape {mask.shape} does not fit keys of shape {keys.shape} (expects "
                             f"{keys.shape[:2]}){location()}")
        known = bounds_of(mask)
        if known is not None and known.rows_filled:  # its host copy had a real position in every row
            return mask
        counts = ops.sum(ops.cast(mask, "int64"), dim=1).tolist()  # real positions per row
        rows = [row for row, count in enumerate(counts) if count == 0]
        if rows:
            raise ShapeError(f"{name}: every position of batch row(s) {rows} is masked; each row needs at least one "
                             f"position to attend to (mask of shape {mask.shape}){location()}")
        return mask

    def check_memory(self, keys: Tensor, mask=None) -> Tensor | None:
        """Check keys (B, S, Dk) and their mask once for a whole sequence of ``attend`` calls; returns the mask as a
        tensor (or None)."""
        self._check_keys(keys)
        return None if mask is None else self._check_mask(mask, keys)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}"


def _dot(query: Tensor, keys: Tensor) -> Tensor:
    """⟨q_b, k_bs⟩ for every row b and position s: (B, D) and (B, S, D) → (B, S)."""
    batch, size = query.shape
    if keys.shape[2] != size:
        raise ShapeError(f"dot-product attention: query of shape {query.shape} and keys of shape {keys.shape} need "
                         f"one size; use 'general' or 'additive' attention for different sizes{location()}")
    return ops.reshape(ops.matmul(keys, ops.reshape(query, batch, size, 1)), batch, keys.shape[1])


class DotAttention(_Attention):
    """Dot-product scores ⟨q, k⟩; query and keys have one size (``size``, or any when None).

    >>> import tinygrad_rnn as tr
    >>> context, weights = tr.nn.DotAttention()(tr.tensor([[1.0, 0.0]]), tr.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    >>> round(float(weights.numpy()[0, 0]), 4), context.shape
    (0.7311, (1, 2))
    """

    def __init__(self, size: int | None = None):
        super().__init__(size, size)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return _dot(query, projected_keys)


class ScaledDotAttention(DotAttention):
    """Scaled dot-product scores ⟨q, k⟩ / √d, d the size of query and keys: the scale keeps the scores' spread,
    and so the softmax's sharpness, independent of d.

    >>> import tinygrad_rnn as tr
    >>> keys = tr.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    >>> _, weights = tr.nn.ScaledDotAttention(4)(tr.ones(1, 4), keys)  # scores 4 / √4 = 2 and 0
    >>> [round(float(w), 4) for w in weights.numpy()[0]]
    [0.8808, 0.1192]
    """

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return _dot(query, projected_keys) * (1.0 / math.sqrt(query.shape[1]))


class GeneralAttention(DotAttention):
    """Bilinear scores qᵀ W k with ``key_layer.weight`` = W (query_size, key_size); ``project_keys`` computes W k.

    >>> import tinygrad_rnn as tr
    >>> context, weights = tr.nn.GeneralAttention(3, 5)(tr.zeros(2, 3), tr.randn(2, 4, 5))
    >>> context.shape, weights.numpy().sum(axis=1).round(6).tolist()
    ((2, 5), [1.0, 1.0])
    """

    def __init__(self, query_size: int, key_size: int, dtype=None, device="cpu"):
        _Attention.__init__(self, query_size, key_size)
        self.key_layer = Linear(key_size, query_size, bias=False, dtype=dtype, device=device)

    def _project(self, keys: Tensor) -> Tensor:
        return self.key_layer(keys)


class AdditiveAttention(_Attention):
    """Additive (MLP, Bahdanau) scores vᵀ tanh(W_k k + W_q q) with ``key_layer`` = W_k (hidden, key_size),
    ``query_layer`` = W_q (hidden, query_size) and ``energy_layer`` = vᵀ (1, hidden), none with a bias.
    ``project_keys`` computes W_k k, the larger half of the work, once per sequence.

    >>> import tinygrad_rnn as tr
    >>> attention = tr.nn.AdditiveAttention(3, 5, hidden_size=7)
    >>> context, weights = attention(tr.zeros(2, 3), tr.randn(2, 4, 5))
    >>> context.shape, attention.project_keys(tr.zeros(2, 4, 5)).shape
    ((2, 5), (2, 4, 7))
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int | None = None, dtype=None, device="cpu"):
        super().__init__(query_size, key_size)
        self.hidden_size = query_size if hidden_size is None else size(hidden_size, "hidden_size", type(self).__name__)
        self.key_layer = Linear(key_size, self.hidden_size, bias=False, dtype=dtype, device=device)
        self.query_layer = Linear(query_size, self.hidden_size, bias=False, dtype=dtype, device=device)
        self.energy_layer = Linear(self.hidden_size, 1, bias=False, dtype=dtype, device=device)

    def _project(self, keys: Tensor) -> Tensor:
        return self.key_layer(keys)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        batch, length, hidden = projected_keys.shape
        if hidden != self.hidden_size:
            raise ShapeError(f"AdditiveAttention: projected keys of shape {projected_keys.shape} do not fit "
                             f"hidden_size={self.hidden_size}{location()}")
        query = ops.reshape(self.query_layer(query), batch, 1, hidden)
        energy = self.energy_layer(ops.tanh(projected_keys + query))
        return ops.reshape(energy, batch, length)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden_size={self.hidden_size}"


def make_attention(kind: str, query_size: int, key_size: int, hidden: int | None = None, dtype=None,
                   device="cpu") -> _Attention:
    """The attention module named ``kind`` ("dot", "scaled_dot", "general", "additive") for queries of
    ``query_size`` and keys of ``key_size``; ``hidden`` is the additive MLP's width (default ``query_size``).

    >>> import tinygrad_rnn as tr
    >>> tr.nn.make_attention("general", 4, 6)
    GeneralAttention(query_size=4, key_size=6
      (key_layer): Linear(in_features=6, out_features=4, bias=False)
    )
    """
    if kind in ("dot", "scaled_dot"):
        if query_size != key_size:
            raise ArgumentError(f"make_attention({kind!r}): dot-product scores need query_size == key_size, got "
                                f"{query_size} and {key_size}; use 'general' or 'additive' for different sizes")
        return DotAttention(query_size) if kind == "dot" else ScaledDotAttention(query_size)
    if kind == "general":
        return GeneralAttention(query_size, key_size, dtype=dtype, device=device)
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, hidden, dtype=dtype, device=device)
    raise ArgumentError(f"make_attention: unknown attention kind {kind!r}; choose one of {KINDS}")
