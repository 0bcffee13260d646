"""Fused recurrent steps: the recurrent part of an RNN, LSTM or GRU step as one node with a hand-written backward.

A step takes ``gx``, the input's share of every gate (x W_ihᵀ + b_ih), already computed: a layer computes it
for all time steps in one matmul before the loop, so that per step only the recurrent matmul and the gate
math remain. Each is the same arithmetic as the cell written with primitive ops (``fused=False``), so the
two granularities give the same numbers. The LSTM step has two outputs, h and c, so cell-level pictures and
per-step gradients still see both. Gradients of leaf recurrent weights are handed back as
``DeferredProduct``: a weight shared by every step gets one matmul per backward instead of one per step.
Inputs are batched, (B, features).

The gate math of a step has two implementations with the same methods: :class:`ArrayGates`, array code for
every backend, and on CuPy the backend's hand-written kernels (``tinygrad_rnn.kernels``), one launch per step
and direction. The ops do the matmuls themselves and hand the elementwise rest to whichever the backend has.
"""
from __future__ import annotations

import os

from ..autograd import weight_grad
from ..backend import is_numpy, kernels_for
from ..engine import Function, gradient_slot, location
from ..errors import DTypeError
from .elementwise import sigmoid_array as _sigmoid


class ArrayGates:
    """The elementwise part of every fused step in array code: the twin, method for method, of
    ``kernels.CudaKernels``. What a forward returns as ``saved`` only its own backward reads."""

    def __init__(self, xp):
        self.xp = xp

    def rnn_cell(self, gx, hw, bias, kind: str):
        pre = gx + hw
        if bias is not None:
            pre = pre + bias
        if kind == "tanh":
            return self.xp.tanh(pre)
        if kind == "relu":
            return self.xp.maximum(pre, 0)
        return _sigmoid(self.xp, pre)

    def rnn_cell_backward(self, g, out, kind: str, into=None):
        """The gradient of the pre-activation; ``into``, where given, is an array to write it to (what every
        backward here takes: see ``engine.gradient_slot``)."""
        if kind == "tanh":
            return _written(into, g * (1 - out * out))
        if kind == "relu":
            return _written(into, self.xp.where(out > 0, g, 0))
        return _written(into, g * out * (1 - out))

    def lstm_cell(self, gx, hw, bias, c, peepholes: tuple, coupled: bool, forget_gate: bool):
        xp = self.xp
        w_ci, w_cf, w_co = peepholes
        gates = gx + hw
        if bias is not None:
            gates = gates + bias
        n = c.shape[-1]
        a_i, a_f, a_g, a_o = (gates[:, k * n:(k + 1) * n] for k in range(4))
        if w_ci is not None:
            a_i = a_i + w_ci * c
            if w_cf is not None:
                a_f = a_f + w_cf * c
        i = _sigmoid(xp, a_i)
        f = 1 - i if coupled else _sigmoid(xp, a_f) if forget_gate else None
        g = xp.tanh(a_g)
        c_new = (c if f is None else f * c) + i * g
        if w_co is not None:
            a_o = a_o + w_co * c_new
        o = _sigmoid(xp, a_o)
        tanh_c = xp.tanh(c_new)
        return o * tanh_c, c_new, (c, i, f, g, o, c_new, tanh_c)

    def lstm_cell_backward(self, grad_h, grad_c, saved, peepholes: tuple, coupled: bool, forget_gate: bool,
                           into=None):
        xp = self.xp
        c, i, f, g, o, c_new, tanh_c = saved
        w_ci, w_cf, w_co = peepholes
        # zeros only where a gate gets no gradient (h' or c' unused, no forget gate of its own): most steps need none
        if grad_h is not None:
            dc = grad_h * o * (1 - tanh_c * tanh_c)
            if grad_c is not None:
                dc = grad_c + dc
            da_o = grad_h * tanh_c * o * (1 - o)
            if w_co is not None:
                dc = dc + da_o * w_co
        else:
            dc = grad_c if grad_c is not None else xp.zeros_like(c)
            da_o = xp.zeros_like(c)
        di = dc * g
        if coupled:  # f = 1 - i: the forget path's gradient lands on i; a_f's slot of the gates stays zero
            di = di - dc * c
            dc_prev = dc * f
            da_f = xp.zeros_like(c)
        elif forget_gate:
            da_f = dc * c * f * (1 - f)
            dc_prev = dc * f
        else:
            dc_prev = dc
            da_f = xp.zeros_like(c)
        da_i = di * i * (1 - i)
        da_g = dc * i * (1 - g * g)
        if w_ci is not None:
            dc_prev = dc_prev + da_i * w_ci
            if w_cf is not None:
                dc_prev = dc_prev + da_f * w_cf
        return _written(into, xp.concat([da_i, da_f, da_g, da_o], axis=1)), dc_prev

    def gru_cell(self, gx, gh, bias, h):
        if bias is not None:
            gh = gh + bias
        n_h = h.shape[-1]
        r = _sigmoid(self.xp, gx[:, :n_h] + gh[:, :n_h])
        z = _sigmoid(self.xp, gx[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        h_n = gh[:, 2 * n_h:]
        n = self.xp.tanh(gx[:, 2 * n_h:] + r * h_n)
        return n + z * (h - n), (h, r, z, n, h_n)

    def gru_cell_backward(self, g, saved, into=None):
        h, r, z, n, h_n = saved
        da_n = g * (1 - z) * (1 - n * n)
        da_z = g * (h - n) * z * (1 - z)
        da_r = da_n * h_n * r * (1 - r)
        concat = self.xp.concat
        return _written(into, concat([da_r, da_z, da_n], axis=1)), concat([da_r, da_z, da_n * r], axis=1), g * z

    def gru_cho_gates(self, gx, g_rz, bias, h):
        n_h = h.shape[-1]
        if bias is not None:
            g_rz = g_rz + bias[:2 * n_h]
        r = _sigmoid(self.xp, gx[:, :n_h] + g_rz[:, :n_h])
        z = _sigmoid(self.xp, gx[:, n_h:2 * n_h] + g_rz[:, n_h:])
        return (r, z), r * h

    def gru_cho_cell(self, gx, hn, bias, rz, h):
        n_h = h.shape[-1]
        if bias is not None:
            hn = hn + bias[2 * n_h:]
        n = self.xp.tanh(gx[:, 2 * n_h:] + hn)
        return n + rz[1] * (h - n), n

    def gru_cho_cell_backward(self, g, h, rz, n):
        z = rz[1]
        da_n = g * (1 - z) * (1 - n * n)
        return (g * (h - n) * z * (1 - z), da_n), da_n, g * z

    def gru_cho_gates_backward(self, d_hr, h, rz, d_gx, dh):
        r = rz[0]
        da_z, da_n = d_gx
        da_r = d_hr * h * r * (1 - r)
        return self.xp.concat([da_r, da_z, da_n], axis=1), dh + d_hr * r


def _one_batch(xp, *arrays) -> tuple:
    """The step's per-row inputs (gx, h[, c]) at one batch size: a single row shared by the batch (a projection
    or a state of batch 1) is broadcast to the others', as the unfused cell's ops broadcast it. The gate code
    reads every row of each, and the backward pass sums the broadcast rows' gradients back into the one."""
    batch = max(a.shape[0] for a in arrays)
    return tuple(a if a.shape[0] == batch else xp.broadcast_to(a, (batch,) + a.shape[1:]) for a in arrays)


def _one_dtype(label: str, names: str, *arrays) -> None:
    """The dtype rule of every op for the fused steps: two float dtypes among the inputs (named by ``names``, in
    order; None for an absent one) raise, as the unfused cell's ops would, instead of a result in whichever dtype
    the gate code picks. One comparison an input on every step: the message is built only when it raises."""
    dtype = arrays[0].dtype
    for a in arrays:
        if a is not None and a.dtype != dtype:
            listed = ", ".join(f"{name} {a.dtype}" for name, a in zip(names.split(), arrays) if a is not None)
            raise DTypeError(f"{label}: dtypes differ ({listed}){location()}; convert one with .to(dtype)")


def _slot(gx, batch: int):
    """``gx``'s gradient slot (``engine.gradient_slot``) where the step's gate gradient fits it, which is where
    ``gx`` has the step's batch size; one row broadcast over the batch gets its gradient summed, not a slot."""
    return gradient_slot(gx) if gx.shape[0] == batch else None


def _written(into, value):
    """``value``, copied into ``into`` where one is given (a gradient slot: the copy saves the stacking one)."""
    if into is None:
        return value
    into[...] = value
    return into


_gates: dict = {}
_compiled = {"enabled": os.environ.get("TINYGRAD_RNN_COMPILED_LOOPS", "1") != "0"}


def set_compiled_loops(enabled: bool) -> bool:
    """Whether NumPy float32 work runs as compiled loops (``tinygrad_rnn.cpu_kernels``, the default where numba is
    installed) — the fused steps' gate math and the optimisers' updates — or as the array code (the reference:
    :class:`ArrayGates` and ``optim``'s); returns the setting it replaces. The environment variable
    ``TINYGRAD_RNN_COMPILED_LOOPS=0`` sets the default to off.

    >>> previous = set_compiled_loops(False)   # the array code from here on
    >>> set_compiled_loops(previous)
    False
    """
    previous, _compiled["enabled"] = _compiled["enabled"], bool(enabled)
    _compiled.pop("loops", None)  # looked up again on next use: numba may have become importable, or not
    _gates.clear()
    return previous


def compiled_loops(xp):
    """The compiled CPU loops (``cpu_kernels.CompiledLoops``) when ``xp`` is NumPy, they are on and numba imports;
    else None. They take float32 only (``handles``)."""
    if not (_compiled["enabled"] and is_numpy(xp)):
        return None
    if "loops" not in _compiled:
        try:
            from ..cpu_kernels import CompiledLoops
        except ImportError:  # numba missing (or broken): the array code serves
            _compiled["loops"] = None
        else:
            _compiled["loops"] = CompiledLoops(xp)
    return _compiled["loops"]


def gates_for(xp, like):
    """The backend's kernels where it has them for ``like``'s dtype (CuPy), else, on NumPy, the compiled loops
    (which pass what they do not handle to the array code), else the array code for ``xp``."""
    kernels = kernels_for(xp)
    if kernels is not None and kernels.handles(like):
        return kernels
    gates = _gates.get(xp)
    if gates is None:
        gates = _gates[xp] = compiled_loops(xp) or ArrayGates(xp)
    return gates


def _take(arrays: list, count: int, present: bool):
    return tuple(arrays.pop(0) for _ in range(count)) if present else (None,) * count


class RNNStep(Function):
    """h' = act(gx + h W_hhᵀ + b_hh); inputs (gx, h, W_hh[, b_hh])."""

    label = "rnn_cell"

    def forward(self, gx, h, w_hh, *bias, nonlinearity):
        _one_dtype(self.label, "gx h w_hh b_hh", gx, h, w_hh, *bias)
        if gx.shape[0] != h.shape[0]:
            gx, h = _one_batch(self.xp, gx, h)
        self.gates = gates_for(self.xp, h)
        self.h, self.w_hh, self.kind = h, w_hh, nonlinearity
        self.out = self.gates.rnn_cell(gx, h @ w_hh.mT, bias[0] if bias else None, nonlinearity)
        return self.out

    def backward(self, g):
        xp, parents = self.xp, self.parents
        da = self.gates.rnn_cell_backward(g, self.out, self.kind, _slot(parents[0], self.out.shape[0]))
        grads = (da, da @ self.w_hh if parents[1].requires_grad else None, weight_grad(parents[2], da, self.h))
        return grads + (xp.sum(da, axis=0),) if len(parents) > 3 else grads


class LSTMStep(Function):
    """(h', c') of an LSTM step, gates i, f, g, o; inputs (gx, h, c, W_hh[, b_hh][, w_ci[, w_cf], w_co]),
    w_cf only where the cell has a forget gate of its own (neither coupled nor the 1997 cell)."""

    label = "lstm_cell"
    multi_output = True

    def forward(self, gx, h, c, w_hh, *extra, bias, peephole, coupled, forget_gate):
        rest = list(extra)
        b_hh, = _take(rest, 1, bias)
        w_ci, = _take(rest, 1, peephole)
        w_cf, = _take(rest, 1, peephole and forget_gate and not coupled)
        w_co, = _take(rest, 1, peephole)
        _one_dtype(self.label, "gx h c w_hh b_hh w_ci w_cf w_co", gx, h, c, w_hh, b_hh, w_ci, w_cf, w_co)
        if not gx.shape[0] == h.shape[0] == c.shape[0]:
            gx, h, c = _one_batch(self.xp, gx, h, c)
        self.gates = gates_for(self.xp, c)
        self.peepholes, self.flags = (w_ci, w_cf, w_co), (bias, peephole, coupled, forget_gate)
        h_new, c_new, self.saved = self.gates.lstm_cell(gx, h @ w_hh.mT, b_hh, c, self.peepholes, coupled,
                                                        forget_gate)
        self.h, self.c, self.c_new, self.w_hh = h, c, c_new, w_hh
        return h_new, c_new

    def backward(self, grads):
        xp, parents = self.xp, self.parents
        bias, peephole, coupled, forget_gate = self.flags
        d_gates, dc_prev = self.gates.lstm_cell_backward(*grads, self.saved, self.peepholes, coupled, forget_gate,
                                                         _slot(parents[0], self.c.shape[0]))
        out = [d_gates, d_gates @ self.w_hh if parents[1].requires_grad else None, dc_prev,
               weight_grad(parents[3], d_gates, self.h)]
        if bias:
            out.append(xp.sum(d_gates, axis=0))
        if peephole:  # the peephole weights' gradients: the gates' gradients times what each gate looked at
            n = dc_prev.shape[-1]
            out.append(xp.sum(d_gates[:, :n] * self.c, axis=0))
            if self.peepholes[1] is not None:
                out.append(xp.sum(d_gates[:, n:2 * n] * self.c, axis=0))
            out.append(xp.sum(d_gates[:, 3 * n:] * self.c_new, axis=0))
        return tuple(out)


class GRUStep(Function):
    """h' = (1 − z)⊙n + z⊙h; inputs (gx, h, W_hh[, b_hh]), gates r, z, n. ``reset_after`` is PyTorch's
    n = tanh(gx_n + r⊙(W_hn h + b_hn)); otherwise Cho et al.'s n = tanh(gx_n + W_hn (r⊙h) + b_hn)."""

    label = "gru_cell"

    def forward(self, gx, h, w_hh, *bias, reset_after):
        b_hh = bias[0] if bias else None
        _one_dtype(self.label, "gx h w_hh b_hh", gx, h, w_hh, b_hh)
        if gx.shape[0] != h.shape[0]:
            gx, h = _one_batch(self.xp, gx, h)
        gates = self.gates = gates_for(self.xp, h)
        self.h, self.w_hh, self.reset_after = h, w_hh, reset_after
        if reset_after:
            out, self.saved = gates.gru_cell(gx, h @ w_hh.mT, b_hh, h)
            return out
        n_h = h.shape[-1]
        rz, h_r = gates.gru_cho_gates(gx, h @ w_hh[:2 * n_h, :].mT, b_hh, h)
        out, n = gates.gru_cho_cell(gx, h_r @ w_hh[2 * n_h:, :].mT, b_hh, rz, h)
        self.saved = (rz, n, h_r)
        return out

    def backward(self, g):
        xp, parents, gates = self.xp, self.parents, self.gates
        h, w_hh = self.h, self.w_hh
        n_h = h.shape[-1]
        if self.reset_after:
            d_gx, d_gh, dh = gates.gru_cell_backward(g, self.saved, _slot(parents[0], h.shape[0]))
            if parents[1].requires_grad:
                dh = dh + d_gh @ w_hh
            grad_w_hh = weight_grad(parents[2], d_gh, h)
            grad_b_hh = xp.sum(d_gh, axis=0) if len(parents) > 3 else None
        else:
            rz, n, h_r = self.saved
            d_gx, da_n, dh = gates.gru_cho_cell_backward(g, h, rz, n)
            d_gx, dh = gates.gru_cho_gates_backward(da_n @ w_hh[2 * n_h:, :], h, rz, d_gx, dh)
            d_rz = d_gx[:, :2 * n_h]
            dh = dh + d_rz @ w_hh[:2 * n_h, :]
            grad_w_hh = (xp.concat([d_rz.mT @ h, da_n.mT @ h_r], axis=0) if parents[2].requires_grad else None)
            grad_b_hh = (xp.concat([xp.sum(d_rz, axis=0), xp.sum(da_n, axis=0)]) if len(parents) > 3 else None)
        out = (d_gx, dh, grad_w_hh)
        return out + (grad_b_hh,) if len(parents) > 3 else out
