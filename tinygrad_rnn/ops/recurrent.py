"""Fused recurrent steps: a whole RNN, LSTM or GRU cell step as one node with a hand-written backward.

Each is the same arithmetic as the cell written with primitive ops (``fused=False``), so the two
granularities give the same numbers; the fused node is what makes long unrolls fast. The LSTM step has two
outputs, h and c, so cell-level pictures and per-step gradients still see both. Weight gradients of leaf
weights are handed back as ``DeferredProduct`` so that a weight shared by every step gets one matmul per
backward instead of one per step. Inputs are batched, (B, features); the cells add the batch axis.
"""
from __future__ import annotations

from ..autograd import DeferredProduct
from ..engine import Function


def _sigmoid(xp, a):
    return 0.5 + 0.5 * xp.tanh(0.5 * a)


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


def _weight_grad(parent, d, a):
    """``d.mT @ a`` — deferred when ``parent`` is a leaf weight, None when it needs no gradient."""
    if not parent.requires_grad:
        return None
    return DeferredProduct(d, a) if parent._fn is None else d.mT @ a


def _take(arrays: list, count: int, present: bool):
    return tuple(arrays.pop(0) for _ in range(count)) if present else (None,) * count


class RNNStep(Function):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); inputs (x, h, W_ih, W_hh[, b_ih, b_hh])."""

    label = "rnn_cell"

    def forward(self, x, h, w_ih, w_hh, *biases, nonlinearity):
        xp = self.xp
        pre = x @ w_ih.mT + h @ w_hh.mT
        if biases:
            pre = pre + biases[0] + biases[1]
        self.x, self.h, self.w_ih, self.w_hh, self.kind = x, h, w_ih, w_hh, nonlinearity
        self.out = _activate(xp, nonlinearity, pre)
        return self.out

    def backward(self, g):
        xp, parents = self.xp, self.parents
        da = _activation_backward(xp, self.kind, self.out, g)
        grads = (da @ self.w_ih if parents[0].requires_grad else None,
                 da @ self.w_hh if parents[1].requires_grad else None,
                 _weight_grad(parents[2], da, self.x), _weight_grad(parents[3], da, self.h))
        if len(parents) > 4:
            db = xp.sum(da, axis=0)
            grads += (db, db)
        return grads


class LSTMStep(Function):
    """(h', c') of an LSTM step, gates i, f, g, o; inputs (x, h, c, W_ih, W_hh[, b_ih, b_hh][, w_ci[, w_cf], w_co]),
    w_cf only where the cell has a forget gate of its own (neither coupled nor the 1997 cell)."""

    label = "lstm_cell"
    multi_output = True

    def forward(self, x, h, c, w_ih, w_hh, *extra, bias, peephole, coupled, forget_gate):
        xp = self.xp
        rest = list(extra)
        b_ih, b_hh = _take(rest, 2, bias)
        own_forget = forget_gate and not coupled
        w_ci, = _take(rest, 1, peephole)
        w_cf, = _take(rest, 1, peephole and own_forget)
        w_co, = _take(rest, 1, peephole)
        gates = x @ w_ih.mT + h @ w_hh.mT
        if bias:
            gates = gates + b_ih + b_hh
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
        self.saved = (x, h, c, w_ih, w_hh, w_ci, w_cf, w_co, i, f, g, o, c_new, tanh_c)
        self.flags = (bias, peephole, coupled, forget_gate)
        return o * tanh_c, c_new

    def backward(self, grads):
        xp, parents = self.xp, self.parents
        x, h, c, w_ih, w_hh, w_ci, w_cf, w_co, i, f, g, o, c_new, tanh_c = self.saved
        bias, peephole, coupled, forget_gate = self.flags
        grad_h, grad_c = grads
        zeros = xp.zeros_like(c)
        dc = grad_c if grad_c is not None else zeros
        da_o = zeros
        if grad_h is not None:
            dc = dc + grad_h * o * (1 - tanh_c * tanh_c)
            da_o = grad_h * tanh_c * o * (1 - o)
            if peephole:
                dc = dc + da_o * w_co
        di = dc * g
        da_f = zeros
        if coupled:  # f = 1 - i: the forget path's gradient lands on i
            di = di - dc * c
            dc_prev = dc * f
        elif forget_gate:
            da_f = dc * c * f * (1 - f)
            dc_prev = dc * f
        else:
            dc_prev = dc
        da_i = di * i * (1 - i)
        da_g = dc * i * (1 - g * g)
        if peephole:
            dc_prev = dc_prev + da_i * w_ci
            if w_cf is not None:
                dc_prev = dc_prev + da_f * w_cf
        d_gates = xp.concat([da_i, da_f, da_g, da_o], axis=1)
        out = [d_gates @ w_ih if parents[0].requires_grad else None,
               d_gates @ w_hh if parents[1].requires_grad else None,
               dc_prev,
               _weight_grad(parents[3], d_gates, x), _weight_grad(parents[4], d_gates, h)]
        if bias:
            db = xp.sum(d_gates, axis=0)
            out += [db, db]
        if peephole:
            out.append(xp.sum(da_i * c, axis=0))
            if w_cf is not None:
                out.append(xp.sum(da_f * c, axis=0))
            out.append(xp.sum(da_o * c_new, axis=0))
        return tuple(out)


class GRUStep(Function):
    """h' = (1 − z)⊙n + z⊙h; inputs (x, h, W_ih, W_hh[, b_ih, b_hh]), gates r, z, n. ``reset_after`` is
    PyTorch's n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)); otherwise Cho et al.'s n = tanh(W_in x + b_in +
    W_hn (r⊙h) + b_hn)."""

    label = "gru_cell"

    def forward(self, x, h, w_ih, w_hh, *biases, reset_after):
        xp = self.xp
        n_h = h.shape[-1]
        b_ih, b_hh = biases if biases else (None, None)
        gi = x @ w_ih.mT
        if b_ih is not None:
            gi = gi + b_ih
        if reset_after:
            gh = h @ w_hh.mT
            if b_hh is not None:
                gh = gh + b_hh
        else:
            gh = h @ w_hh[:2 * n_h, :].mT
            if b_hh is not None:
                gh = gh + b_hh[:2 * n_h]
        r = _sigmoid(xp, gi[:, :n_h] + gh[:, :n_h])
        z = _sigmoid(xp, gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        if reset_after:
            h_n = gh[:, 2 * n_h:]
            n = xp.tanh(gi[:, 2 * n_h:] + r * h_n)
            h_r = None
        else:
            h_r = r * h
            h_n = h_r @ w_hh[2 * n_h:, :].mT
            if b_hh is not None:
                h_n = h_n + b_hh[2 * n_h:]
            n = xp.tanh(gi[:, 2 * n_h:] + h_n)
        self.saved = (x, h, w_ih, w_hh, r, z, n, h_n, h_r)
        self.reset_after = reset_after
        return n + z * (h - n)

    def backward(self, g):
        xp, parents = self.xp, self.parents
        x, h, w_ih, w_hh, r, z, n, h_n, h_r = self.saved
        n_h = h.shape[-1]
        da_n = g * (1 - z) * (1 - n * n)
        da_z = g * (h - n) * z * (1 - z)
        dh = g * z
        if self.reset_after:
            da_r = da_n * h_n * r * (1 - r)
            d_gh = xp.concat([da_r, da_z, da_n * r], axis=1)
            if parents[1].requires_grad:
                dh = dh + d_gh @ w_hh
            grad_w_hh = _weight_grad(parents[3], d_gh, h)
            grad_b_hh = xp.sum(d_gh, axis=0) if len(parents) > 4 else None
        else:
            d_hr = da_n @ w_hh[2 * n_h:, :]
            da_r = d_hr * h * r * (1 - r)
            d_rz = xp.concat([da_r, da_z], axis=1)
            dh = dh + d_hr * r + d_rz @ w_hh[:2 * n_h, :]
            grad_w_hh = (xp.concat([d_rz.mT @ h, da_n.mT @ h_r], axis=0) if parents[3].requires_grad else None)
            grad_b_hh = (xp.concat([xp.sum(d_rz, axis=0), xp.sum(da_n, axis=0)]) if len(parents) > 4 else None)
        d_gi = xp.concat([da_r, da_z, da_n], axis=1)
        out = (d_gi @ w_ih if parents[0].requires_grad else None, dh,
               _weight_grad(parents[2], d_gi, x), grad_w_hh)
        if len(parents) > 4:
            out += (xp.sum(d_gi, axis=0), grad_b_hh)
        return out
