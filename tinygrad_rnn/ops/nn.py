"""Ops for networks: softmax, log_softmax, fused cross-entropy, embedding lookup, dropout, mse."""
from __future__ import annotations

from ..backend import kernels_for
from ..errors import ArgumentError, DTypeError, IndexRangeError, ShapeError
from ..engine import Function, Tensor, location
from . import _common
from .elementwise import mul, sub
from .reduce import mean
from .reduce import sum as reduce_sum
from .shape import permute, reshape


class Softmax(Function):
    def forward(self, a, axis):
        xp = self.xp
        e = xp.exp(a - xp.max(a, axis=axis, keepdims=True))
        self.axis, self.out = axis, e / xp.sum(e, axis=axis, keepdims=True)
        return self.out

    def backward(self, g):
        out = self.out
        return out * (g - self.xp.sum(g * out, axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, a, axis):
        xp = self.xp
        shifted = a - xp.max(a, axis=axis, keepdims=True)
        self.axis = axis
        self.out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        return self.out

    def backward(self, g):
        xp = self.xp
        return g - xp.exp(self.out) * xp.sum(g, axis=self.axis, keepdims=True)


class CrossEntropy(Function):
    """log_softmax and the negative log-likelihood in one node: rows (N, C) of logits, targets (N,). On CuPy one
    kernel computes every row's loss and its gradient; elsewhere :func:`_cross_entropy_rows` in array code."""

    label = "cross_entropy"

    def forward(self, logits, target, ignore_index, reduction):
        xp = self.xp
        kernels = kernels_for(xp)
        if kernels is not None and kernels.handles(logits):
            losses, weight, self.dlogits = kernels.cross_entropy(logits, target, ignore_index)
        else:
            losses, weight, self.dlogits = _cross_entropy_rows(xp, logits, target, ignore_index)
        self.weight, self.reduction = weight, reduction
        if reduction == "none":
            return losses
        if reduction == "sum":
            return xp.sum(losses)
        # on the device (the target check before this op reads the host once). With every target ignored the
        # mean is 0/0, NaN, as in PyTorch, but the gradients are zeros: backward divides by at least 1 (the
        # weights are 0 or 1, so that changes nothing else), and ``where`` spares NumPy's 0/0 warning
        count = xp.sum(weight)
        self.divisor = xp.maximum(count, 1.0)
        return xp.where(count > 0, xp.sum(losses) / self.divisor, xp.nan)

    def backward(self, g):
        xp = self.xp
        if self.reduction == "none":
            scale = xp.expand_dims(g * self.weight, axis=1)
        elif self.reduction == "sum":
            scale = g * xp.expand_dims(self.weight, axis=1)
        else:
            scale = (g / self.divisor) * xp.expand_dims(self.weight, axis=1)
        return self.dlogits * scale, None


def _cross_entropy_rows(xp, logits, target, ignore_index: int):
    """Each row's loss, its weight (0 where the target is ``ignore_index``) and softmax − onehot, the gradient of
    the row's loss before weighting: the array-code twin of ``kernels.CudaKernels.cross_entropy``."""
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = xp.sum(exp, axis=1, keepdims=True)
    valid = target != ignore_index
    safe_target = xp.where(valid, target, 0)
    classes = xp.arange(logits.shape[1], dtype=target.dtype)
    onehot = xp.astype(xp.expand_dims(safe_target, axis=1) == classes, logits.dtype)
    picked = xp.sum(shifted * onehot, axis=1) - xp.log(total[:, 0])
    weight = xp.astype(valid, logits.dtype)
    return -picked * weight, weight, exp / total - onehot


class Embedding(Function):
    def forward(self, indices, weight, padding_idx):
        xp = self.xp
        self.flat = xp.reshape(indices, (-1,))
        self.weight_shape, self.dtype, self.padding_idx = weight.shape, weight.dtype, padding_idx
        rows = xp.take(weight, self.flat, axis=0)
        return xp.reshape(rows, tuple(indices.shape) + (weight.shape[1],))

    def backward(self, g):
        g = self.xp.reshape(g, (-1, self.weight_shape[1]))
        grad = self.parents[1]._backend.index_add(self.weight_shape, self.dtype, self.flat, g)
        if self.padding_idx is not None:
            grad[self.padding_idx, ...] = 0
        return None, grad


class Dropout(Function):
    def forward(self, a, mask):
        self.mask = mask
        return a * mask

    def backward(self, g):
        return g * self.mask


# -- the functions users call -----------------------------------------------------------------------------------
def softmax(a: Tensor, dim: int = -1) -> Tensor:
    return Softmax.apply(a, axis=_common.normalize_axis(dim, a.ndim, "softmax"))


def log_softmax(a: Tensor, dim: int = -1) -> Tensor:
    """``log(softmax(a))`` computed stably (shifted by the maximum)."""
    return LogSoftmax.apply(a, axis=_common.normalize_axis(dim, a.ndim, "log_softmax"))


def cross_entropy(input: Tensor, target, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy with PyTorch's shapes: ``input`` (N, C) or (C,) or (N, C, d1, ...), ``target`` the
    class indices (N,) / () / (N, d1, ...). Targets equal to ``ignore_index`` (padding) add no loss and no
    gradient; ``mean`` divides by the number of the others.

    >>> import tinygrad_rnn as tr
    >>> round(cross_entropy(tr.tensor([[0.0, 0.0]]), tr.tensor([1])).item(), 4)
    0.6931
    """
    if reduction not in ("mean", "sum", "none"):
        raise ArgumentError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    target = _common.as_tensor_like(target, input, "cross_entropy")
    if target.dtype not in _common.INTEGER_DTYPES:
        raise DTypeError(f"cross_entropy: target must hold integer class indices, got {target.dtype} (shape "
                         f"{target.shape}){location()}")
    if input.ndim == 0:
        raise ShapeError(f"cross_entropy: input must have a class dimension, got a 0-d tensor{location()}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    if target.shape != expected:
        raise ShapeError(f"cross_entropy: input of shape {input.shape} needs a target of shape {expected}, got "
                         f"{target.shape}{location()}")
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    if classes == 0:
        raise ShapeError(f"cross_entropy: input of shape {input.shape} has no classes (its class dimension is 0)"
                         f"{location()}")
    _check_targets(target, classes, ignore_index)
    rows = input
    if input.ndim == 1:
        rows = reshape(input, 1, classes)
    elif input.ndim > 2:  # PyTorch puts the class axis second; move it last and flatten the rest
        rows = reshape(permute(input, 0, *range(2, input.ndim), 1), -1, classes)
    losses = CrossEntropy.apply(rows, reshape(target, -1), ignore_index=ignore_index, reduction=reduction)
    if reduction == "none":
        return reshape(losses, *target.shape)
    return losses


def _check_targets(target: Tensor, classes: int, ignore_index: int) -> None:
    if _common.any_outside(target, 0, classes, allowed=ignore_index):
        bad = _common.outside_values(target, 0, classes, ignore_index)
        raise IndexRangeError(f"cross_entropy: target values must lie in [0, {classes}) or equal "
                              f"ignore_index={ignore_index}, got {bad} (target shape {target.shape}){location()}")


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input``; output ``input.shape + (dim,)``.
    Rows picked several times receive the sum of their gradients; ``padding_idx``'s row receives none."""
    input = _common.as_tensor_like(input, weight, "embedding")
    if input.dtype not in _common.INTEGER_DTYPES:
        raise DTypeError(f"embedding: indices must be integers, got {input.dtype} (shape {input.shape}){location()}")
    count = weight.shape[0]
    if _common.any_outside(input, 0, count):
        raise IndexRangeError(f"embedding: indices (shape {input.shape}) must lie in [0, {count}) for a weight of "
                              f"shape {weight.shape}, got {_common.outside_values(input, 0, count)}{location()}")
    if padding_idx is not None:
        if not -count <= padding_idx < count:
            raise IndexRangeError(f"embedding: padding_idx {padding_idx} is outside [0, {count}) for a weight of "
                                  f"shape {weight.shape}{location()}")
        padding_idx %= count
    return Embedding.apply(input, weight, padding_idx=padding_idx)


def dropout(a: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); the identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return a
    backend = a._backend
    keep = backend.uniform(a.shape, 0.0, 1.0, a.dtype) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = backend.xp.astype(keep, a.data.dtype) * scale
    return Dropout.apply(a, mask=mask)


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error; ``input`` and ``target`` must have the same shape."""
    target = _common.as_tensor_like(target, input, "mse_loss")
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ{location()}")
    diff = sub(input, target)
    squared = mul(diff, diff)
    if reduction == "mean":
        return mean(squared)
    if reduction == "sum":
        return reduce_sum(squared)
    if reduction == "none":
        return squared
    raise ArgumentError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
