"""Matrix products: matmul (1-D, 2-D, batched, NumPy's rules) and linear (``x @ W.T + b`` as one node)."""
from __future__ import annotations

import math

from ..errors import ShapeError
from ..autograd import weight_grad
from ..engine import Function, Tensor, location
from . import _common


def _folded(xp, a):
    """``a`` as one (rows, features) matrix. NumPy multiplies a stack of matrices by one matrix with one GEMM per
    matrix of the stack: at (100, 32, 64) @ (64, 1024), on this repository's 2-core machine, 1.7× (busy) to 7× (quiet)
    slower than one GEMM over the 3200 rows."""
    return a if a.ndim == 2 else xp.reshape(a, (math.prod(a.shape[:-1]), a.shape[-1]))  # -1 fails at size 0


def _unfolded(xp, a, lead: tuple):
    """A folded product back to the leading axes ``lead`` of the operand that was folded."""
    return a if len(lead) == 2 else xp.reshape(a, lead[:-1] + (a.shape[-1],))


def _contract(a, b):
    """``a @ b`` for operands of two or more axes; where the contracted axis has length 1 (an outer product: the
    gradient an attention context sends its memory, or an energy layer its input), the broadcast product ``a * b``:
    the same values (one product each, nothing summed; only a zero's sign may differ) in a quarter of BLAS's time or
    less, as NumPy makes one BLAS call per matrix of a stack ((64, 10, 1) @ (64, 1, 512): 367 µs against 87;
    (640, 1) @ (1, 256): 186 against 45)."""
    return a * b if a.shape[-1] == 1 else a @ b


class Matmul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        if b.ndim == 2 and a.ndim > 2:  # a stack times one matrix (a projection of every step): one GEMM
            self.shape_a = a.shape
            self.a = _folded(self.xp, a)  # kept folded: a strided stack would be copied again in backward
            return _unfolded(self.xp, self.a @ b, a.shape)
        return self.xp.matmul(a, b)

    def backward(self, g):
        xp, a, b = self.xp, self.a, self.b
        want_a, want_b = self.parents[0].requires_grad, self.parents[1].requires_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case; a stack times a matrix was folded in forward
            if g.ndim == 2:  # two matrices (a recurrent step's product): nothing was folded; _contract inlined
                ga = (g * b.mT if g.shape[1] == 1 else g @ b.mT) if want_a else None
                return ga, weight_grad(self.parents[1], a, g)
            g2 = _folded(xp, g)
            return ((_unfolded(xp, _contract(g2, b.mT), self.shape_a) if want_a else None),
                    weight_grad(self.parents[1], a, g2))
        if a.ndim == 1 and b.ndim == 1:  # a dot product: g is 0-d, which expand_dims(axis=-2) cannot take
            return (g * b if want_a else None), (g * a if want_b else None)
        # NumPy's rule: a 1-D left operand is a row (1, k), a 1-D right operand a column (k, 1)
        a2 = xp.expand_dims(a, axis=0) if a.ndim == 1 else a
        b2 = xp.expand_dims(b, axis=-1) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, axis=-2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, axis=-1)
        ga = _contract(g2, b2.mT) if want_a else None
        gb = _contract(a2.mT, g2) if want_b else None
        if gb is not None and b.ndim == 1:
            gb = gb[..., 0]
        return ga, gb  # leading (batch) axes are summed away by the backward pass


class Linear(Function):
    def forward(self, x, weight, bias=None):
        self.shape_x, self.weight = x.shape, weight
        self.x = _folded(self.xp, x)  # every step of a (T, B, features) input in one GEMM; a 1-D x is one row
        out = _contract(self.x, weight.mT)
        if bias is not None:  # in place: out is this op's own, and a (T·B, 4H) copy would be a pass more
            out += bias
        return _unfolded(self.xp, out, self.shape_x)

    def backward(self, g):
        xp = self.xp
        g2 = _folded(xp, g)
        gx = _unfolded(xp, _contract(g2, self.weight), self.shape_x) if self.parents[0].requires_grad else None
        gw = weight_grad(self.parents[1], g2, self.x)
        if len(self.parents) == 2:
            return gx, gw
        return gx, gw, xp.sum(g2, axis=0)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` by NumPy's rules (1-D operands, batched stacks broadcast).

    >>> import tinygrad_rnn as tr
    >>> (tr.tensor([[1.0, 2.0]]) @ tr.tensor([[3.0], [4.0]])).item()
    11.0
    """
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype is b.data.dtype):  # elementwise._binary
        a, b = _common.operands("matmul", a, b)
    sa, sb = a.data.shape, b.data.shape  # raw shapes: this check runs on every recurrent step
    if not sa or not sb or sa[-1] != (sb[0] if len(sb) == 1 else sb[-2]):
        raise _mismatch(a, b)
    return Matmul.apply(a, b)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of (B, n, m) and (B, m, p), as ``torch.bmm`` (both must be 3-D; :func:`matmul`
    broadcasts)."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ShapeError(f"bmm: needs two 3-D tensors with one batch size, got shapes {input.shape} and {mat2.shape}"
                         f"{location()}")
    return matmul(input, mat2)


def _mismatch(a: Tensor, b: Tensor) -> ShapeError:
    if a.ndim == 0 or b.ndim == 0:
        return ShapeError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}"
                          f"{location()}")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    return ShapeError(f"matmul: inner dimensions differ ({a.shape[-1]} vs {k_b}) for shapes {a.shape} @ {b.shape}"
                      f"{location()}")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` in one node, with PyTorch's layout: ``weight`` is (out_features, in_features)."""
    label = "linear"
    x, weight = _common.operands(label, x, weight)
    sx, sw = x.data.shape, weight.data.shape
    if len(sw) != 2 or not sx or sx[-1] != sw[1]:
        raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expects (..., {weight.shape[1] if weight.ndim == 2 else '?'})){location()}")
    if bias is None:
        return Linear.apply(x, weight)
    x, bias = _common.operands(label, x, bias)  # an integer bias meets x in x's dtype, as x @ weight.T + bias
    if bias.data.shape != (sw[0],):
        raise ShapeError(f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}"
                         f"{location()}")
    return Linear.apply(x, weight, bias)

