"""Ops for networks: softmax, log_softmax, fused cross-entropy, nll_loss, embedding lookup, dropout, mse."""
from __future__ import annotations

from ..backend import kernels_for
from ..checks import number
from ..errors import ArgumentError, DTypeError, IndexRangeError, ShapeError
from ..engine import Function, Tensor, location
from . import _common
from .elementwise import div, mul, neg, sub, where
from .reduce import mean
from .reduce import sum as reduce_sum
from .shape import getitem, permute, reshape


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
        grad = self.parents[1].backend.index_add(self.weight_shape, self.dtype, self.flat, g)
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
def softmax(input: Tensor, dim: int | None = None, dtype: str | None = None, *, axis: int | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (required: PyTorch's guess without it is deprecated and differs by
    rank); integers give the default float, ``dtype`` converts first."""
    return Softmax.apply(_softmax_input("softmax", input, dtype), axis=_softmax_axis("softmax", input, dim, axis))


def log_softmax(input: Tensor, dim: int | None = None, dtype: str | None = None, *,
                axis: int | None = None) -> Tensor:
    """``log(softmax(x))`` along ``dim`` (required), computed stably (shifted by the maximum)."""
    return LogSoftmax.apply(_softmax_input("log_softmax", input, dtype),
                            axis=_softmax_axis("log_softmax", input, dim, axis))


def _softmax_input(label: str, a: Tensor, dtype) -> Tensor:
    return _common.float_operand(a) if dtype is None else a.to(dtype)


def _softmax_axis(label: str, a: Tensor, dim, axis) -> int:
    dim = _common.dim_alias(label, dim, axis)[0]
    if dim is None:
        raise ArgumentError(f"{label}: dim is required (input of shape {a.shape}); PyTorch's choice without it is "
                            f"deprecated and depends on the rank — write {label}(x, dim=-1) for the last axis"
                            f"{location()}")
    return _common.normalize_axis(dim, a.ndim, label)


def cross_entropy(input: Tensor, target, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy with PyTorch's shapes and arguments: ``input`` (N, C) or (C,) or (N, C, d1, ...),
    ``target`` the class indices (N,) / () / (N, d1, ...). Targets equal to ``ignore_index`` (padding) add no loss
    and no gradient; ``mean`` divides by the number (with ``weight``, the summed weights) of the others.
    ``weight`` (C,) scales each class; ``label_smoothing`` ε mixes the target with the uniform distribution.

    >>> import tinygrad_rnn as tr
    >>> round(cross_entropy(tr.tensor([[0.0, 0.0]]), tr.tensor([1])).item(), 4)
    0.6931
    """
    rows, flat, classes = _class_rows("cross_entropy", input, target, ignore_index, reduction)
    label_smoothing = number(label_smoothing, "label_smoothing", "cross_entropy", 0.0, 1.0)
    if weight is None and label_smoothing == 0.0:  # one fused node (one kernel on CuPy)
        losses = CrossEntropy.apply(rows, flat, ignore_index=ignore_index, reduction=reduction)
    else:
        losses = _smoothed_nll(log_softmax(rows, 1), flat, _class_weight(weight, rows, classes, "cross_entropy"),
                               ignore_index, reduction, label_smoothing)
    return reshape(losses, *_target_shape(input)) if reduction == "none" else losses


def nll_loss(input: Tensor, target, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of log-probabilities ``input`` (what ``log_softmax`` gives), as
    ``torch.nn.functional.nll_loss``: the shapes, ``weight``, ``ignore_index`` and ``reduction`` of
    :func:`cross_entropy`, of which it is the second half.

    >>> import tinygrad_rnn as tr
    >>> nll_loss(tr.tensor([[-0.5, -2.0]]), tr.tensor([1])).item()
    2.0
    """
    rows, flat, classes = _class_rows("nll_loss", input, target, ignore_index, reduction)
    losses = _smoothed_nll(rows, flat, _class_weight(weight, rows, classes, "nll_loss"), ignore_index, reduction, 0.0)
    return reshape(losses, *_target_shape(input)) if reduction == "none" else losses


def _target_shape(input: Tensor) -> tuple:
    return input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()


def _class_rows(label: str, input: Tensor, target, ignore_index: int, reduction: str) -> tuple:
    """``input`` as rows (N', C), ``target`` as (N',) and C, after the checks both losses share."""
    if reduction not in ("mean", "sum", "none"):
        raise ArgumentError(f"{label}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    target = _common.as_tensor_like(target, input, label)
    if target.dtype not in _common.INTEGER_DTYPES:
        raise DTypeError(f"{label}: target must hold integer class indices, got {target.dtype} (shape "
                         f"{target.shape}){location()}")
    if input.ndim == 0:
        raise ShapeError(f"{label}: input must have a class dimension, got a 0-d tensor{location()}")
    expected = _target_shape(input)
    if target.shape != expected:
        raise ShapeError(f"{label}: input of shape {input.shape} needs a target of shape {expected}, got "
                         f"{target.shape}{location()}")
    classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    if classes == 0:
        raise ShapeError(f"{label}: input of shape {input.shape} has no classes (its class dimension is 0)"
                         f"{location()}")
    _check_targets(label, target, classes, ignore_index)
    rows = input
    if input.ndim == 1:
        rows = reshape(input, 1, classes)
    elif input.ndim > 2:  # PyTorch puts the class axis second; move it last and flatten the rest
        rows = reshape(permute(input, 0, *range(2, input.ndim), 1), -1, classes)
    return rows, reshape(target, -1), classes


def _class_weight(weight, rows: Tensor, classes: int, label: str):
    if weight is None:
        return None
    weight = _common.as_tensor_like(weight, rows, label)
    if weight.shape != (classes,):
        raise ShapeError(f"{label}: weight must have shape ({classes},), one per class, got {weight.shape}"
                         f"{location()}")
    return weight


def _smoothed_nll(logp: Tensor, target: Tensor, weight, ignore_index: int, reduction: str, smoothing: float):
    """Rows of log-probabilities against targets, in array code: each row's loss is w[y]·(−log p_y) mixed with
    ε·Σ_c w_c·(−log p_c)/C, ignored rows 0; ``mean`` divides by Σ w[y] over the rows not ignored, as PyTorch."""
    from .index import gather
    from .shape import squeeze, unsqueeze

    valid = target != ignore_index
    safe = where(valid, target, 0)
    kept = valid.to(logp.dtype)
    row_weight = kept if weight is None else mul(getitem(weight, safe), kept)
    losses = mul(neg(squeeze(gather(logp, 1, unsqueeze(safe, 1)), 1)), row_weight)
    if smoothing:
        spread = logp if weight is None else mul(logp, weight)
        uniform = mul(reduce_sum(spread, 1), kept)
        losses = sub(mul(losses, 1.0 - smoothing), mul(uniform, smoothing / logp.shape[1]))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return reduce_sum(losses)
    return div(reduce_sum(losses), reduce_sum(row_weight))


def _check_targets(label: str, target: Tensor, classes: int, ignore_index: int) -> None:
    if _common.any_outside(target, 0, classes, allowed=ignore_index):
        bad = _common.outside_values(target, 0, classes, ignore_index)
        raise IndexRangeError(f"{label}: target values must lie in [0, {classes}) or equal "
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
    backend = a.backend
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
