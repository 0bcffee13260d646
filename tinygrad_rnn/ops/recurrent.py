"""Fused recurrent steps: the recurrent part of an RNN, LSTM or GRU step as one node with a hand-written backward.

A step takes ``gx``, the input's share of every gate (x W_ihᵀ + b_ih), already computed: a layer computes it
for all time steps in one matmul before the loop, so that per step only the recurrent matmul and the gate
math remain. Each is the same arithmetic as the cell written with primitive ops (``fused=False``), so the
two granularities give the same numbers. The LSTM step has two outputs, h and c, so cell-level pictures and
per-step gradients still see both. Gradients of leaf recurrent weights are handed back as
``DeferredProduct``: a weight shared by every step gets one matmul per backward instead of one per step.
Inputs are batched, (B, features).
"""
from __future__ import annotations

from ..autograd import weight_grad
from ..engine import Function
from .elementwise import sigmoid_array as _sigmoid


def _activate(xp, kind: str, a):
    if kind == "tanh":
        return xp.tanh(a)
    if kind == "relu":
        return xp.maximum(a, 0)
    return _sigmoid(xp, a)


def _activation_backward(xp, kind: str, out, g):
    if kind == "tanh":
        return g * (1 - out * out)
    if kind == "relu":
        return xp.where(out > 0, g, 0)
    return g * out * (1 - out)


def _take(arrays: list, count: int, present: bool):
    return tuple(arrays.pop(0) for _ in range(count)) if present else (None,) * count


class RNNStep(Function):
    """h' = act(gx + h W_hhᵀ + b_hh); inputs (gx, h, W_hh[, b_hh])."""

    label = "rnn_cell"

    def forward(self, gx, h, w_hh, *bias, nonlinearity):
        pre = gx + h @ w_hh.mT
        if bias:
            pre = pre + bias[0]
        self.h, self.w_hh, self.kind = h, w_hh, nonlinearity
        self.out = _activate(self.xp, nonlinearity, pre)
        return self.out

    def backward(self, g):
        xp, parents = self.xp, self.parents
        da = _activation_backward(xp, self.kind, self.out, g)
        grads = (da, da @ self.w_hh if parents[1].requires_grad else None, weight_grad(parents[2], da, self.h))
        return grads + (xp.sum(da, axis=0),) if len(parents) > 3 else grads


class LSTMStep(Function):
    """(h', c') of an LSTM step, gates i, f, g, o; inputs (gx, h, c, W_hh[, b_hh][, w_ci[, w_cf], w_co]),
    w_cf only where the cell has a forget gate of its own (neither coupled nor the 1997 cell)."""

    label = "lstm_cell"
    multi_output = True

    def forward(self, gx, h, c, w_hh, *extra, bias, peephole, coupled, forget_gate):
        xp = self.xp
        rest = list(extra)
        b_hh, = _take(rest, 1, bias)
        own_forget = forget_gate and not coupled
        w_ci, = _take(rest, 1, peephole)
        w_cf, = _take(rest, 1, peephole and own_forget)
        w_co, = _take(rest, 1, peephole)
        gates = gx + h @ w_hh.mT
        if bias:
            gates = gates + b_hh
        n = h.shape[-1]
        a_i, a_f, a_g, a_o = (gates[:, k * n:(k + 1) * n] for k in range(4))
        if peephole:
            a_i = a_i + w_ci * c
            if own_forget:
                a_f = a_f + w_cf * c
        i = _sigmoid(xp, a_i)
        f = 1 - i if coupled else _sigmoid(xp, a_f) if forget_gate else None
        g = xp.tanh(a_g)
        c_new = (c if f is None else f * c) + i * g
        if peephole:
            a_o = a_o + w_co * c_new
        o = _sigmoid(xp, a_o)
        tanh_c = xp.tanh(c_new)
        self.saved = (h, c, w_hh, w_ci, w_cf, w_co, i, f, g, o, c_new, tanh_c)
        self.flags = (bias, peephole, coupled, forget_gate)
        return o * tanh_c, c_new

    def backward(self, grads):
        xp, parents = self.xp, self.parents
        h, c, w_hh, w_ci, w_cf, w_co, i, f, g, o, c_new, tanh_c = self.saved
        bias, peephole, coupled, forget_gate = self.flags
        grad_h, grad_c = grads
        # zeros only where a gate gets no gradient (h' or c' unused, no forget gate of its own): most steps need none
        if grad_h is not None:
            dc = grad_h * o * (1 - tanh_c * tanh_c)
            if grad_c is not None:
                dc = grad_c + dc
            da_o = grad_h * tanh_c * o * (1 - o)
            if peephole:
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
        if peephole:
            dc_prev = dc_prev + da_i * w_ci
            if w_cf is not None:
                dc_prev = dc_prev + da_f * w_cf
        d_gates = xp.concat([da_i, da_f, da_g, da_o], axis=1)
        out = [d_gates, d_gates @ w_hh if parents[1].requires_grad else None, dc_prev,
               weight_grad(parents[3], d_gates, h)]
        if bias:
            out.append(xp.sum(d_gates, axis=0))
        if peephole:
            out.append(xp.sum(da_i * c, axis=0))
            if w_cf is not None:
                out.append(xp.sum(da_f * c, axis=0))
            out.append(xp.sum(da_o * c_new, axis=0))
        return tuple(out)


class GRUStep(Function):
    """h' = (1 − z)⊙n + z⊙h; inputs (gx, h, W_hh[, b_hh]), gates r, z, n. ``reset_after`` is PyTorch's
    n = tanh(gx_n + r⊙(W_hn h + b_hn)); otherwise Cho et al.'s n = tanh(gx_n + W_hn (r⊙h) + b_hn)."""

    label = "gru_cell"

    def forward(self, gx, h, w_hh, *bias, reset_after):
        xp = self.xp
        n_h = h.shape[-1]
        b_hh = bias[0] if bias else None
        if reset_after:
            gh = h @ w_hh.mT
            if b_hh is not None:
                gh = gh + b_hh
        else:
            gh = h @ w_hh[:2 * n_h, :].mT
            if b_hh is not None:
                gh = gh + b_hh[:2 * n_h]
        r = _sigmoid(xp, gx[:, :n_h] + gh[:, :n_h])
        z = _sigmoid(xp, gx[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        if reset_after:
            h_n = gh[:, 2 * n_h:]
            n = xp.tanh(gx[:, 2 * n_h:] + r * h_n)
            h_r = None
        else:
            h_r = r * h
            h_n = h_r @ w_hh[2 * n_h:, :].mT
            if b_hh is not None:
                h_n = h_n + b_hh[2 * n_h:]
            n = xp.tanh(gx[:, 2 * n_h:] + h_n)
        self.saved = (h, w_hh, r, z, n, h_n, h_r)
        self.reset_after = reset_after
        return n + z * (h - n)

    def backward(self, g):
        xp, parents = self.xp, self.parents
        h, w_hh, r, z, n, h_n, h_r = self.saved
        n_h = h.shape[-1]
        da_n = g * (1 - z) * (1 - n * n)
        da_z = g * (h - n) * z * (1 - z)
        dh = g * z
        if self.reset_after:
            da_r = da_n * h_n * r * (1 - r)
            d_gh = xp.concat([da_r, da_z, da_n * r], axis=1)
            if parents[1].requires_grad:
                dh = dh + d_gh @ w_hh
            grad_w_hh = weight_grad(parents[2], d_gh, h)
            grad_b_hh = xp.sum(d_gh, axis=0) if len(parents) > 3 else None
        else:
            d_hr = da_n @ w_hh[2 * n_h:, :]
            da_r = d_hr * h * r * (1 - r)
            d_rz = xp.concat([da_r, da_z], axis=1)
            dh = dh + d_hr * r + d_rz @ w_hh[:2 * n_h, :]
            grad_w_hh = (xp.concat([d_rz.mT @ h, da_n.mT @ h_r], axis=0) if parents[2].requires_grad else None)
            grad_b_hh = (xp.concat([xp.sum(d_rz, axis=0), xp.sum(da_n, axis=0)]) if len(parents) > 3 else None)
        out = (xp.concat([da_r, da_z, da_n], axis=1), dh, grad_w_hh)
        return out + (grad_b_hh,) if len(parents) > 3 else out
