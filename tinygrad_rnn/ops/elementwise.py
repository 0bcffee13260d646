"""Elementwise ops. Each forward broadcasts as NumPy does; the backward pass sums gradients back to each
input's shape in one place (``autograd.unbroadcast``), so none of these reduce anything themselves."""
from __future__ import annotations

import math

from ..backend import FLOAT_DTYPES
from ..engine import Function, Tensor, _wrap, location, no_grad
from ..errors import ArgumentError, ArgumentTypeError, DTypeError
from ._common import float_operand, operands


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = g * self.b if self.parents[0].requires_grad else None
        gb = g * self.a if self.parents[1].requires_grad else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.b = b
        self.out = a / b
        return self.out

    def backward(self, g):
        ga = g / self.b
        gb = -ga * self.out if self.parents[1].requires_grad else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    def forward(self, a, exponent):
        self.a, self.exponent = a, exponent
        return a ** exponent

    def backward(self, g):
        if self.exponent == 0:  # d(a**0)/da = 0 everywhere, also at a = 0 where a**-1 is inf
            return self.xp.zeros_like(g)
        return g * self.exponent * self.a ** (self.exponent - 1)


class RPow(Function):
    """``base ** a`` for a Python number ``base``."""

    def forward(self, a, base):
        self.log_base = math.log(base) if base > 0 else math.nan
        self.out = base ** a
        return self.out

    def backward(self, g):
        return g * self.out * self.log_base


class Exp(Function):
    def forward(self, a):
        self.out = self.xp.exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    def forward(self, a):
        self.a = a
        return self.xp.log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    def forward(self, a):
        self.out = self.xp.sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Tanh(Function):
    def forward(self, a):
        self.out = self.xp.tanh(a)
        return self.out

    def backward(self, g):
        out = self.out
        return g * (1 - out * out)


def sigmoid_array(xp, a):
    """σ(a) on an array; the tanh form never overflows, unlike 1 / (1 + exp(-a)) for large negative a."""
    return 0.5 + 0.5 * xp.tanh(0.5 * a)


class Sigmoid(Function):
    def forward(self, a):
        self.out = sigmoid_array(self.xp, a)
        return self.out

    def backward(self, g):
        out = self.out
        return g * out * (1 - out)


class Relu(Function):
    def forward(self, a):
        self.out = self.xp.maximum(a, 0)
        return self.out

    def backward(self, g):
        return self.xp.where(self.out > 0, g, 0)


class Abs(Function):
    def forward(self, a):
        self.a = a
        return self.xp.abs(a)

    def backward(self, g):
        return g * self.xp.sign(self.a)


class _Extremum(Function):
    """maximum / minimum: the gradient goes to the winner, split evenly on ties (as PyTorch does)."""

    def forward(self, a, b):
        self.a, self.b = a, b  # the winners' weights are backward's work: a forward without backward never needs them
        return self.xp.maximum(a, b) if self.choose_max else self.xp.minimum(a, b)

    def backward(self, g):
        xp, a, b = self.xp, self.a, self.b
        wins = a > b if self.choose_max else a < b
        dtype = a.dtype if hasattr(a, "dtype") else b.dtype
        ga = g * (xp.astype(wins, dtype) + 0.5 * xp.astype(a == b, dtype))
        return ga, g - ga


class Maximum(_Extremum):
    choose_max = True


class Minimum(_Extremum):
    choose_max = False


class Where(Function):
    def forward(self, condition, a, b):
        self.condition = condition
        return self.xp.where(condition, a, b)

    def backward(self, g):
        xp, c = self.xp, self.condition
        return None, xp.where(c, g, 0), xp.where(c, 0, g)


class Clamp(Function):
    """``a`` limited to [low, high]; the gradient passes where ``low <= a <= high`` (ends included, as PyTorch)."""

    def forward(self, a, low, high):
        self.a, self.low, self.high = a, low, high
        return self.xp.clip(a, low, high)

    def backward(self, g):
        xp, a = self.xp, self.a
        inside = xp.ones(a.shape, dtype=xp.bool) if self.low is None else a >= self.low
        if self.high is not None:
            inside = xp.logical_and(inside, a <= self.high)
        return xp.where(inside, g, 0)


class Cast(Function):
    def forward(self, a, dtype):
        self.source = a.dtype
        return self.xp.astype(a, getattr(self.xp, dtype))

    def backward(self, g):
        return self.xp.astype(g, self.source)


# -- the functions users call -----------------------------------------------------------------------------------
def _binary(op: type[Function], label: str, doc: str | None = None):
    """The function users call for the binary op ``op``: its operands through :func:`operands`, except two tensors
    whose arrays share one dtype object, which need nothing from it (``Function.apply`` compares their devices):
    on a recurrent step's ops the call skipped is about a tenth of the forward."""

    def binary(a, b) -> Tensor:
        if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype is b.data.dtype):
            a, b = operands(label, a, b)
        return op.apply(a, b)

    binary.__name__ = binary.__qualname__ = label
    binary.__doc__ = doc
    return binary


add = _binary(Add, "add", """``a + b`` with broadcasting. >>> (tr.tensor([1.0]) + 2).item()  # doctest: +SKIP""")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")


def div(a, b, *, rounding_mode: str | None = None) -> Tensor:
    """``a / b``; integers divide in the default float dtype, as in PyTorch. ``rounding_mode="floor"`` is ``a // b``."""
    if rounding_mode is not None:
        if rounding_mode != "floor":
            raise ArgumentError(f"div: rounding_mode must be None or 'floor', got {rounding_mode!r}")
        return floor_divide(a, b)
    a, b = operands("div", a, b)
    return Div.apply(_divided(a), _divided(b))


def _divided(t: Tensor) -> Tensor:
    return t if isinstance(t.data, (int, float)) else float_operand(t)  # a weak scalar stays one


def floor_divide(a, b) -> Tensor:
    """``a // b`` (rounded towards -inf, as ``torch.floor_divide`` and ``//``); outside the graph, as its gradient is
    zero wherever it exists."""
    a, b = operands("floor_divide", a, b)
    return _wrap(a.backend.xp.floor_divide(a.data, b.data), False, a.backend, None, 0)


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def pow(a, exponent) -> Tensor:
    """``a ** exponent`` for a Python number ``exponent`` (an integer tensor to a float power gives the default
    float), or ``base ** a`` for a Python number ``base`` (``2 ** x``)."""
    if not isinstance(a, Tensor) and isinstance(exponent, Tensor):
        return _rpow(a, exponent)
    if isinstance(exponent, Tensor) or isinstance(exponent, bool) or not isinstance(exponent, (int, float)):
        raise ArgumentTypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    if isinstance(exponent, float):
        a = float_operand(a)
    return Pow.apply(a, exponent=exponent)


def _rpow(base, a: Tensor) -> Tensor:
    if isinstance(base, bool) or not isinstance(base, (int, float)):
        raise ArgumentTypeError(f"pow: the base must be a Python number or a Tensor, got {type(base).__name__}")
    if isinstance(base, float) or a.requires_grad:
        a = float_operand(a)
    return RPow.apply(a, base=base)


def exp(a: Tensor) -> Tensor:
    return Exp.apply(float_operand(a))


def log(a: Tensor) -> Tensor:
    return Log.apply(float_operand(a))


def sqrt(a: Tensor) -> Tensor:
    return Sqrt.apply(float_operand(a))


def tanh(a: Tensor) -> Tensor:
    return Tanh.apply(float_operand(a))


def sigmoid(a: Tensor) -> Tensor:
    return Sigmoid.apply(float_operand(a))


def relu(a: Tensor) -> Tensor:
    return Relu.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001  (PyTorch's name)
    return Abs.apply(a)


maximum = _binary(Maximum, "maximum")
minimum = _binary(Minimum, "minimum")


def where(condition, a, b) -> Tensor:
    """``a`` where the boolean ``condition`` holds, else ``b`` (each may broadcast, ``a``/``b`` may be numbers)."""
    a, b = operands("where", a, b)
    from ._common import as_tensor_like

    condition = as_tensor_like(condition, a, "where")
    if condition.dtype != "bool":
        raise DTypeError(f"where: the condition must be a bool tensor, got {condition.dtype} (shape "
                         f"{condition.shape}){location()}")
    return Where.apply(condition, a, b)


def clamp(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """``input`` limited to [min, max] (either may be None), as ``torch.clamp`` (also ``tr.clip``).

    >>> import tinygrad_rnn as tr
    >>> tr.clamp(tr.tensor([-2.0, 0.5, 3.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    """
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
            raise ArgumentTypeError(f"clamp: {name} must be a Python number or None, got {type(bound).__name__} "
                                    f"(for tensor bounds use tr.maximum / tr.minimum){location()}")
    if min is None and max is None:
        raise ArgumentTypeError("clamp: at least one of min and max must be given")
    if isinstance(min, float) or isinstance(max, float):
        input = float_operand(input)
    return Clamp.apply(input, low=min, high=max)


clip = clamp


def cast(a: Tensor, dtype: str) -> Tensor:
    """``a`` in another dtype; differentiable between floating dtypes, outside the graph otherwise."""
    if dtype in FLOAT_DTYPES:
        return Cast.apply(a, dtype=dtype)
    with no_grad():
        return Cast.apply(a, dtype=dtype)


def compare(a, b, how: str) -> Tensor:
    """Elementwise comparison (``less``, ``greater`` ...): a bool tensor outside the graph."""
    a, b = operands(how, a, b)
    xp = a.backend.xp
    return _wrap(getattr(xp, how)(a.data, b.data), False, a.backend, None, 0)
