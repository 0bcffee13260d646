"""Recurrent cells — one time step each — with PyTorch's parameter names, shapes and gate order.

Every cell runs at two granularities with the same numbers: ``fused=True`` (the default) makes one node per
step (``tinygrad_rnn.ops.recurrent``), ``fused=False`` builds the step from primitive ops so that every gate
is its own node in the graph. Either way the cell names what it makes — ``i f g o c h`` (LSTM), ``r z n h``
(GRU), ``h`` (RNN) — so a traced graph can be searched for "the forget gate at step 17".

>>> import tinygrad_rnn as tr
>>> cell = tr.nn.LSTMCell(3, 4)
>>> h, c = cell(tr.zeros(2, 3))
>>> h.shape, h.grad_fn is c.grad_fn
((2, 4), True)
"""
from __future__ import annotations

import math

from .. import ops
from ..checks import size
from ..engine import Tensor, wrap, location
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..ops.recurrent import GRUStep, LSTMStep, RNNStep
from . import init
from .layers import _empty
from .module import Module, Parameter

NONLINEARITIES = ("tanh", "relu", "sigmoid")


class _Cell(Module):
    """Parameters ``weight_ih`` (gates·H, I), ``weight_hh`` (gates·H, H), ``bias_ih``, ``bias_hh`` (gates·H,),
    all U(-1/√H, 1/√H) as in PyTorch; input checks shared by every cell."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, fused: bool, dtype, device):
        super().__init__()
        who = type(self).__name__
        input_size, hidden_size = size(input_size, "input_size", who), size(hidden_size, "hidden_size", who)
        self.input_size, self.hidden_size, self.bias, self.fused = input_size, hidden_size, bias, fused
        rows = self.gates * hidden_size
        self._bound = 1.0 / math.sqrt(hidden_size) if hidden_size else 0.0
        self.weight_ih = self._uniform((rows, input_size), dtype, device)
        self.weight_hh = self._uniform((rows, hidden_size), dtype, device)
        if bias:
            self.bias_ih = self._uniform((rows,), dtype, device)
            self.bias_hh = self._uniform((rows,), dtype, device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _uniform(self, shape, dtype, device) -> Parameter:
        return init.uniform_(_empty(shape, dtype, device), -self._bound, self._bound)

    def _recurrent(self) -> tuple:
        """What a fused step takes besides gx and the state: W_hh and, with biases, b_hh."""
        return (self.weight_hh, self.bias_hh) if self.bias else (self.weight_hh,)

    def project(self, x: Tensor) -> Tensor:
        """x W_ihᵀ + b_ih, the input's share of every gate: (..., I) → (..., gates·H). A layer calls it once for
        all time steps; ``step`` then adds the recurrent part."""
        return ops.linear(x, self.weight_ih, self.bias_ih)

    def forward(self, input: Tensor, hx=None):
        """One step: ``input`` (B, I) or (I,), ``hx`` the state as ``step`` takes it (None for zeros)."""
        x, unbatched = self._batched(input)
        new = self.step(self.project(x), self.initial_state(hx, x, unbatched))
        if isinstance(new, tuple):
            return tuple(_unbatch(t, unbatched) for t in new)
        return _unbatch(new, unbatched)

    def initial_state(self, state, x: Tensor, unbatched: bool = False):
        return self._state(state, x, unbatched)

    def step(self, gx: Tensor, state):
        raise NotImplementedError

    def _batched(self, x: Tensor) -> tuple[Tensor, bool]:
        """``x`` as (B, input_size), and whether it came without a batch axis."""
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: input must be a Tensor of shape (batch, "
                                    f"{self.input_size}), got {type(x).__name__}")
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: input of shape {x.shape} does not fit input_size="
                             f"{self.input_size} (expects (batch, {self.input_size}) or ({self.input_size},))"
                             f"{location()}")
        return (ops.reshape(x, 1, self.input_size), True) if x.ndim == 1 else (x, False)

    def _state(self, state: Tensor | None, x: Tensor, unbatched: bool, what: str = "hx") -> Tensor:
        batch = x.shape[0]
        if state is not None and not isinstance(state, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: {what} must be a Tensor of shape ({batch}, "
                                    f"{self.hidden_size}), got {type(state).__name__}{location()}")
        if state is None:  # zeros, as PyTorch: a leaf outside the graph
            xp = x.backend.xp
            return wrap(xp.zeros((batch, self.hidden_size), dtype=x.data.dtype), x.backend)
        if unbatched and state.ndim == 1:
            state = ops.reshape(state, 1, self.hidden_size)
        if state.shape != (batch, self.hidden_size):
            raise ShapeError(f"{type(self).__name__}: {what} of shape {state.shape} does not fit the input of shape "
                             f"{x.shape} (expects ({batch}, {self.hidden_size})){location()}")
        return state

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{extra}, fused={self.fused}"


def _unbatch(t: Tensor, unbatched: bool) -> Tensor:
    return ops.reshape(t, t.shape[-1]) if unbatched else t


class RNNCell(_Cell):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) with act ``tanh``, ``relu`` or ``sigmoid`` (the logistic cell
    σ(W[h; x]) of the sequence-classification lecture).

    >>> import tinygrad_rnn as tr
    >>> tr.nn.RNNCell(3, 4, nonlinearity="sigmoid")(tr.zeros(3)).shape
    (4,)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 fused: bool = True, dtype=None, device="cpu"):
        if nonlinearity not in NONLINEARITIES:
            raise ArgumentError(f"RNNCell: nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, fused, dtype, device)
        self.nonlinearity = nonlinearity

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        """h' from the projected input ``gx`` (B, H) and the state ``h`` (B, H)."""
        if self.fused:
            return RNNStep.apply(gx, h, *self._recurrent(), nonlinearity=self.nonlinearity).named("h")
        pre = gx + ops.linear(h, self.weight_hh, self.bias_hh)
        return getattr(ops, self.nonlinearity)(pre).named("h")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """An LSTM step, gates i, f, g, o in PyTorch's block layout:

    i = σ(W_i·[x, h] + b_i (+ w_ci⊙c)), f = σ(W_f·[x, h] + b_f (+ w_cf⊙c)), g = tanh(W_g·[x, h] + b_g),
    c' = f⊙c + i⊙g, o = σ(W_o·[x, h] + b_o (+ w_co⊙c')), h' = o⊙tanh(c').

    Every bias starts U(−1/√H, 1/√H), as PyTorch's; ``forget_bias=1.0`` (or any value) makes the forget gate's
    initial total bias that value instead (in ``bias_ih``; the f block of ``bias_hh`` starts at 0). ``peephole``
    adds the diagonal peepholes ``weight_ci``, ``weight_cf`` (only with a forget gate of its own) and
    ``weight_co``; ``coupled`` sets f = 1 − i; ``forget_gate=False`` is the 1997 cell, c' = c + i⊙g, whose state
    only accumulates. Without a forget gate of its own the f rows of the weights are unused (zero gradient), so
    the parameter shapes stay PyTorch's.
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, forget_bias: float | None = None,
                 peephole: bool = False, coupled: bool = False, forget_gate: bool = True, fused: bool = True,
                 dtype=None, device="cpu"):
        super().__init__(input_size, hidden_size, bias, fused, dtype, device)
        if coupled and not forget_gate:
            raise ArgumentError("LSTMCell: coupled=True (f = 1 − i) needs forget_gate=True")
        self.peephole, self.coupled, self.forget_gate = peephole, coupled, forget_gate
        if forget_bias is not None:
            if not bias:
                raise ArgumentError(f"LSTMCell: forget_bias={forget_bias!r} needs bias=True")
            init.set_forget_bias_(self, forget_bias)
        if peephole:  # w_cf only where f is a gate of its own
            self.weight_ci = self._uniform((hidden_size,), dtype, device)
            if forget_gate and not coupled:
                self.weight_cf = self._uniform((hidden_size,), dtype, device)
            self.weight_co = self._uniform((hidden_size,), dtype, device)

    def initial_state(self, state, x: Tensor, unbatched: bool = False) -> tuple[Tensor, Tensor]:
        if state is None:
            return self._state(None, x, unbatched, "h"), self._state(None, x, unbatched, "c")
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            got = f"a {type(state).__name__}" + (f" of {len(state)}" if isinstance(state, (tuple, list)) else "")
            raise ArgumentTypeError(f"{type(self).__name__}: hx must be a pair (h_0, c_0), got {got}{location()}")
        h, c = state
        return self._state(h, x, unbatched, "hx[0] (h_0)"), self._state(c, x, unbatched, "hx[1] (c_0)")

    def step(self, gx: Tensor, state: tuple) -> tuple[Tensor, Tensor]:
        """(h', c') from the projected input ``gx`` (B, 4H) and the state (h, c)."""
        h, c = state
        if self.fused:
            peepholes = self._peepholes() if self.peephole else ()
            h_new, c_new = LSTMStep.apply(gx, h, c, *self._recurrent(), *peepholes, bias=self.bias,
                                          peephole=self.peephole, coupled=self.coupled,
                                          forget_gate=self.forget_gate)
        else:
            h_new, c_new = self._explicit(gx, h, c)
        return h_new.named("h"), c_new.named("c")

    def _peepholes(self) -> tuple:
        """w_ci, w_cf (where f is a gate of its own) and w_co, in the fused step's order."""
        if "weight_cf" in self._parameters:
            return self.weight_ci, self.weight_cf, self.weight_co
        return self.weight_ci, self.weight_co

    def _explicit(self, gx: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        gates = gx + ops.linear(h, self.weight_hh, self.bias_hh)
        a_i, a_f, a_g, a_o = ops.chunk(gates, 4, dim=1)
        if self.peephole:
            a_i = a_i + self.weight_ci * c
            if "weight_cf" in self._parameters:
                a_f = a_f + self.weight_cf * c
        i = ops.sigmoid(a_i).named("i")
        g = ops.tanh(a_g).named("g")
        if not self.forget_gate:
            c_new = c + i * g
        else:
            f = (1 - i if self.coupled else ops.sigmoid(a_f)).named("f")
            c_new = f * c + i * g
        if self.peephole:
            a_o = a_o + self.weight_co * c_new
        o = ops.sigmoid(a_o).named("o")
        return o * ops.tanh(c_new), c_new

    def extra_repr(self) -> str:
        flags = "".join(f", {name}={getattr(self, name)}" for name, default in
                        (("peephole", False), ("coupled", False), ("forget_gate", True))
                        if getattr(self, name) != default)
        return super().extra_repr() + flags


class GRUCell(_Cell):
    """A GRU step, gates r, z, n, with PyTorch's convention h' = (1 − z)⊙n + z⊙h (some texts, the lectures'
    among them, swap z and 1 − z: the same cell with z's sign flipped).

    ``reset_after=True`` (PyTorch): n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)).
    ``reset_after=False`` (Cho et al., 2014): n = tanh(W_in x + b_in + W_hn (r⊙h) + b_hn).
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True,
                 fused: bool = True, dtype=None, device="cpu"):
        super().__init__(input_size, hidden_size, bias, fused, dtype, device)
        self.reset_after = reset_after

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        """h' from the projected input ``gx`` (B, 3H) and the state ``h``."""
        if self.fused:
            return GRUStep.apply(gx, h, *self._recurrent(), reset_after=self.reset_after).named("h")
        return self._explicit(gx, h).named("h")

    def _explicit(self, gx: Tensor, h: Tensor) -> Tensor:
        n_h = self.hidden_size
        gi_r, gi_z, gi_n = ops.chunk(gx, 3, dim=1)
        if self.reset_after:
            gh_r, gh_z, gh_n = ops.chunk(ops.linear(h, self.weight_hh, self.bias_hh), 3, dim=1)
        else:  # r multiplies h before W_hn: the r, z rows and the n rows are two products
            w_rz, w_n = ops.split(self.weight_hh, [2 * n_h, n_h], dim=0)
            b_rz, b_n = ops.split(self.bias_hh, [2 * n_h, n_h], dim=0) if self.bias else (None, None)
            gh_r, gh_z = ops.chunk(ops.linear(h, w_rz, b_rz), 2, dim=1)
        r = ops.sigmoid(gi_r + gh_r).named("r")
        z = ops.sigmoid(gi_z + gh_z).named("z")
        if self.reset_after:
            n = ops.tanh(gi_n + r * gh_n).named("n")
        else:
            n = ops.tanh(gi_n + ops.linear(r * h, w_n, b_n)).named("n")
        return (1 - z) * n + z * h

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")
