"""Compiled loops on CPU: each fused recurrent step's gate math, and each optimiser update, as one numba loop.

Written with NumPy, the gate math of an LSTM step is about a dozen passes forward and twenty backward, each
reading and writing whole (B, H) arrays, and five of them call NumPy's float32 ``tanh``, which only machines
with AVX-512 get vectorised (elsewhere it costs about 7 ns an element, against 0.2 ns for a multiply). Here each
step forward and each step backward is one loop over B·H that keeps every gate in registers, and its ``tanh`` is
a rational approximation (the one Eigen and XLA use, accurate to about 3e-7 relative in float32) that LLVM
vectorises; the C library's scalar ``tanhf``, which numba would call otherwise, is slower than NumPy's.

The loops are the twins, argument for argument, of the CUDA kernels in ``tinygrad_rnn.kernels``, and
:class:`CompiledLoops` hands them to the fused ops and the optimisers with the same methods and the same
``saved`` layout as ``kernels.CudaKernels``. An Adam step written with NumPy is a dozen passes over every
parameter; its loop is one (2 M parameters: about 9 ms instead of 18). They run for float32 only; float64 (the
gradient checks) and everything else keep the array code of ``ops.recurrent.ArrayGates`` and ``optim``, which
is the reference both are tested against. NaN and ±inf go through as they do in NumPy: no fast-math flag that
assumes them away is set. The compiled loops are cached on disk (numba's ``cache=True``), so only the first run
on a machine compiles them (a few seconds).

>>> import numpy as np
>>> gates = CompiledLoops(np)
>>> a = np.array([[-1e9, -1.0, 0.0, 1.0, np.nan]], dtype=np.float32)
>>> out = gates.rnn_cell(a, np.zeros_like(a), None, "tanh")
>>> bool(np.allclose(out[0, :4], np.tanh(a[0, :4]), rtol=3e-7, atol=0)), bool(np.isnan(out[0, 4]))
(True, True)
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from .kernels import (ACTIVATIONS, LSTM_BIAS, LSTM_COUPLED, LSTM_FORGET, LSTM_GRAD_C, LSTM_GRAD_H, LSTM_PEEPHOLE,
                      lstm_flags)
from .ops.recurrent import ArrayGates

# error_model="numpy": a float division by zero gives inf instead of raising, which is what lets LLVM vectorise a
# loop with a division in it; "contract" lets it fuse a multiply and an add into one FMA, and nothing more
_jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})

_LIMIT = np.float32(7.90531110763549805)  # where the rational approximation below stops
_P = tuple(np.float32(v) for v in (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
                                    5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
                                    4.89352455891786e-03))
_Q = tuple(np.float32(v) for v in (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                                    4.89352518554385e-03))
_P13, _P11, _P9, _P7, _P5, _P3, _P1 = _P
_Q6, _Q4, _Q2, _Q0 = _Q
_ZERO, _HALF, _ONE = np.float32(0.0), np.float32(0.5), np.float32(1.0)


@numba.njit(inline="always", error_model="numpy", fastmath={"contract"})
def _tanh(x):
    # beyond the polynomials' range the result is ±1 (as float32's tanh from about ±9 on); NaN fails both tests
    # and goes through the polynomials as NaN
    if x > _LIMIT:
        return _ONE
    if x < -_LIMIT:
        return -_ONE
    x2 = x * x
    p = ((((((_P13 * x2 + _P11) * x2 + _P9) * x2 + _P7) * x2 + _P5) * x2 + _P3) * x2 + _P1) * x
    q = ((_Q6 * x2 + _Q4) * x2 + _Q2) * x2 + _Q0
    return p / q


@numba.njit(inline="always", error_model="numpy", fastmath={"contract"})
def _sigmoid(a):
    return _HALF + _HALF * _tanh(_HALF * a)


@numba.njit(inline="always", error_model="numpy", fastmath={"contract"})
def _activate(a, kind):
    if kind == 0:
        return _tanh(a)
    if kind == 1:
        return a if a > 0 or a != a else _ZERO  # NaN stays NaN, as in NumPy's maximum(a, 0)
    return _sigmoid(a)


# Each loop is built for one combination of the cell's flags, which the closure turns into constants: a branch on
# a flag inside the loop, even one that never changes, keeps LLVM from vectorising it. numba caches each variant.
@functools.cache
def rnn_forward(has_bias: bool, kind: int):
    """act(gx + hw + b) over (B, H) into ``out``."""
    @_jit
    def loop(gx, hw, b, out):
        for row in range(hw.shape[0]):
            for j in range(hw.shape[1]):
                a = gx[row, j] + hw[row, j]
                if has_bias:
                    a += b[j]
                out[row, j] = _activate(a, kind)
    return loop


@functools.cache
def rnn_backward(kind: int):
    @_jit
    def loop(g, out, da):
        for row in range(out.shape[0]):
            for j in range(out.shape[1]):
                y, gg = out[row, j], g[row, j]
                if kind == 0:
                    da[row, j] = gg * (_ONE - y * y)
                elif kind == 1:
                    da[row, j] = gg if y > 0 else _ZERO
                else:
                    da[row, j] = gg * y * (_ONE - y)
    return loop


@functools.cache
def lstm_forward(flags: int):
    """One LSTM step over (B, H): gates from gx + hw (+ b, + peepholes), into h_new, c_new, tanh(c_new) and the
    activated gates ``i f g o``, each (B, H)."""
    bias, peephole = flags & LSTM_BIAS != 0, flags & LSTM_PEEPHOLE != 0
    coupled, forget = flags & LSTM_COUPLED != 0, flags & LSTM_FORGET != 0

    @_jit
    def loop(gx, hw, b, c, w_ci, w_cf, w_co, h_new, c_new, tanh_c, gate_i, gate_f, gate_g, gate_o):
        n = c.shape[1]
        for row in range(c.shape[0]):
            for j in range(n):
                a_i, a_f = gx[row, j] + hw[row, j], gx[row, n + j] + hw[row, n + j]
                a_g, a_o = gx[row, 2 * n + j] + hw[row, 2 * n + j], gx[row, 3 * n + j] + hw[row, 3 * n + j]
                if bias:
                    a_i += b[j]
                    a_f += b[n + j]
                    a_g += b[2 * n + j]
                    a_o += b[3 * n + j]
                c_old = c[row, j]
                if peephole:
                    a_i += w_ci[j] * c_old
                    if forget and not coupled:
                        a_f += w_cf[j] * c_old
                i, g = _sigmoid(a_i), _tanh(a_g)
                f = _ZERO
                if coupled:
                    f = _ONE - i
                    cn = f * c_old + i * g
                elif forget:
                    f = _sigmoid(a_f)
                    cn = f * c_old + i * g
                else:
                    cn = c_old + i * g
                if peephole:
                    a_o += w_co[j] * cn
                o, tc = _sigmoid(a_o), _tanh(cn)
                gate_i[row, j], gate_f[row, j], gate_g[row, j], gate_o[row, j] = i, f, g, o
                c_new[row, j], tanh_c[row, j], h_new[row, j] = cn, tc, o * tc
    return loop


@functools.cache
def lstm_backward(flags: int):
    """The gates' gradients ``d_i d_f d_g d_o`` and dc_prev, each (B, H), from the gradients of h' and c'; a flag
    says which of the two exist."""
    peephole, coupled = flags & LSTM_PEEPHOLE != 0, flags & LSTM_COUPLED != 0
    forget, has_h, has_c = flags & LSTM_FORGET != 0, flags & LSTM_GRAD_H != 0, flags & LSTM_GRAD_C != 0

    @_jit
    def loop(grad_h, grad_c, c, tanh_c, gate_i, gate_f, gate_g, gate_o, w_ci, w_cf, w_co, d_i, d_f, d_g, d_o,
             dc_prev):
        n = c.shape[1]
        for row in range(c.shape[0]):
            for j in range(n):
                i, f, g, o = gate_i[row, j], gate_f[row, j], gate_g[row, j], gate_o[row, j]
                c_old, tc = c[row, j], tanh_c[row, j]
                dc = grad_c[row, j] if has_c else _ZERO
                da_o = _ZERO
                if has_h:
                    gh = grad_h[row, j]
                    dc += gh * o * (_ONE - tc * tc)
                    da_o = gh * tc * o * (_ONE - o)
                    if peephole:
                        dc += da_o * w_co[j]
                di, da_f = dc * g, _ZERO
                if coupled:
                    di -= dc * c_old
                    dcp = dc * f
                elif forget:
                    da_f = dc * c_old * f * (_ONE - f)
                    dcp = dc * f
                else:
                    dcp = dc
                da_i = di * i * (_ONE - i)
                if peephole:
                    dcp += da_i * w_ci[j]
                    if forget and not coupled:
                        dcp += da_f * w_cf[j]
                d_i[row, j], d_f[row, j], d_g[row, j], d_o[row, j] = da_i, da_f, dc * i * (_ONE - g * g), da_o
                dc_prev[row, j] = dcp
    return loop


@functools.cache
def gru_forward(has_bias: bool):
    """PyTorch's reset-after GRU step over (B, H), into h' (``out``), the gates ``r z n`` and W_hn h + b_hn."""
    @_jit
    def loop(gx, gh, b, h, out, h_n, gate_r, gate_z, gate_n):
        n = h.shape[1]
        for row in range(h.shape[0]):
            for j in range(n):
                a_r, a_z = gx[row, j] + gh[row, j], gx[row, n + j] + gh[row, n + j]
                hn = gh[row, 2 * n + j]
                if has_bias:
                    a_r += b[j]
                    a_z += b[n + j]
                    hn += b[2 * n + j]
                r, z = _sigmoid(a_r), _sigmoid(a_z)
                nn = _tanh(gx[row, 2 * n + j] + r * hn)
                gate_r[row, j], gate_z[row, j], gate_n[row, j] = r, z, nn
                h_n[row, j], out[row, j] = hn, nn + z * (h[row, j] - nn)
    return loop


@_jit
def gru_backward(g, h, h_n, gate_r, gate_z, gate_n, d_r, d_z, d_n, d_hn, dh):
    """The gates' gradients (``d_n`` for gx's n block, ``d_hn`` for gh's), each (B, H), and dh's share."""
    n = h.shape[1]
    for row in range(h.shape[0]):
        for j in range(n):
            r, z, nn, gg = gate_r[row, j], gate_z[row, j], gate_n[row, j], g[row, j]
            da_n = gg * (_ONE - z) * (_ONE - nn * nn)
            da_z = gg * (h[row, j] - nn) * z * (_ONE - z)
            da_r = da_n * h_n[row, j] * r * (_ONE - r)
            d_r[row, j], d_z[row, j], d_n[row, j], d_hn[row, j] = da_r, da_z, da_n, da_n * r
            dh[row, j] = gg * z


@functools.cache
def adam_update(first: bool, decay: bool):
    """One Adam step over flat arrays into p_new, m_new, v_new (all new: a state_dict or a graph may hold the old
    ones); on the ``first`` step the moments start from zero and m, v are not read."""
    @_jit
    def loop(p, g, m, v, p_new, m_new, v_new, beta1, beta2, step_size, bias2_sqrt, eps, weight_decay):
        b1, b2, c1, c2 = np.float32(beta1), np.float32(beta2), np.float32(1 - beta1), np.float32(1 - beta2)
        size, root, tiny, wd = np.float32(step_size), np.float32(bias2_sqrt), np.float32(eps), np.float32(weight_decay)
        for k in range(p.size):
            gk = g[k] + wd * p[k] if decay else g[k]
            if first:
                mk, vk = c1 * gk, c2 * gk * gk
            else:
                mk, vk = b1 * m[k] + c1 * gk, b2 * v[k] + c2 * gk * gk
            m_new[k], v_new[k] = mk, vk
            p_new[k] = p[k] - size * mk / (np.sqrt(vk) / root + tiny)
    return loop


@functools.cache
def sgd_update(momentum: bool, nesterov: bool, first: bool, decay: bool):
    """One SGD step over flat arrays into p_new and, with momentum, buf_new; on the ``first`` step the buffer
    starts as the gradient and buf is not read."""
    @_jit
    def loop(p, g, buf, p_new, buf_new, lr, mu, dampening, weight_decay):
        rate, mu_, keep, wd = np.float32(lr), np.float32(mu), np.float32(1 - dampening), np.float32(weight_decay)
        for k in range(p.size):
            gk = g[k] + wd * p[k] if decay else g[k]
            if momentum:
                bk = gk if first else mu_ * buf[k] + keep * gk
                buf_new[k] = bk
                gk = gk + mu_ * bk if nesterov else bk
            p_new[k] = p[k] - rate * gk
    return loop


class CompiledLoops(ArrayGates):
    """The fused steps' gate math and the optimisers' updates as compiled loops for float32 NumPy arrays; other
    dtypes, and Cho's GRU, go to the array code it inherits (the optimisers ask ``handles`` first). Same methods and
    ``saved`` layout as ``kernels.CudaKernels``.

    >>> import numpy as np
    >>> CompiledLoops(np).handles(np.zeros(1, np.float32)), CompiledLoops(np).handles(np.zeros(1))
    (True, False)
    """

    def handles(self, array) -> bool:
        return array.dtype == np.float32

    @staticmethod
    def _or(array, fallback):
        """``array``, or ``fallback`` in the place of an argument the loop's flags say it ignores."""
        return fallback if array is None else array

    def rnn_cell(self, gx, hw, bias, kind: str):
        if not self.handles(hw):
            return super().rnn_cell(gx, hw, bias, kind)
        out = np.empty_like(hw)
        rnn_forward(bias is not None, ACTIVATIONS[kind])(gx, hw, self._or(bias, hw[0]), out)
        return out

    def rnn_cell_backward(self, g, out, kind: str, into=None):
        if not self.handles(out):
            return super().rnn_cell_backward(g, out, kind, into)
        da = np.empty_like(out) if into is None else into
        rnn_backward(ACTIVATIONS[kind])(g, out, da)
        return da

    def lstm_cell(self, gx, hw, bias, c, peepholes: tuple, coupled: bool, forget_gate: bool):
        """(h', c', saved) of an LSTM step from hw (B, 4H) = h W_hhᵀ."""
        if not self.handles(c):
            return super().lstm_cell(gx, hw, bias, c, peepholes, coupled, forget_gate)
        w_ci, w_cf, w_co = peepholes
        row = c[0]
        flags = lstm_flags(bias is not None, w_ci is not None, coupled, forget_gate)
        h_new, c_new, tanh_c, gates = np.empty_like(c), np.empty_like(c), np.empty_like(c), _blocks(4, c)
        lstm_forward(flags)(gx, hw, self._or(bias, row), c, self._or(w_ci, row), self._or(w_cf, row),
                            self._or(w_co, row), h_new, c_new, tanh_c, *gates)
        return h_new, c_new, (c, gates, tanh_c)

    def lstm_cell_backward(self, grad_h, grad_c, saved, peepholes: tuple, coupled: bool, forget_gate: bool,
                           into=None):
        """(d_gates (B, 4H), dc_prev) from the gradients of h' and c' (either may be None); d_gates goes to
        ``into`` where one is given."""
        c = saved[0]
        if not self.handles(c):
            return super().lstm_cell_backward(grad_h, grad_c, saved, peepholes, coupled, forget_gate, into)
        _, gates, tanh_c = saved
        w_ci, w_cf, w_co = peepholes
        row = c[0]
        flags = lstm_flags(False, w_ci is not None, coupled, forget_gate)
        flags |= (LSTM_GRAD_H if grad_h is not None else 0) | (LSTM_GRAD_C if grad_c is not None else 0)
        d_gates, dc_prev = _blocks(4, c), np.empty_like(c)
        lstm_backward(flags)(self._or(grad_h, c), self._or(grad_c, c), c, tanh_c, *gates, self._or(w_ci, row),
                             self._or(w_cf, row), self._or(w_co, row), *d_gates, dc_prev)
        return np.concatenate(d_gates, axis=1, out=into), dc_prev

    def gru_cell(self, gx, gh, bias, h):
        """PyTorch's reset-after GRU step from gh = h W_hhᵀ: (h', saved)."""
        if not self.handles(h):
            return super().gru_cell(gx, gh, bias, h)
        out, h_n, gates = np.empty_like(h), np.empty_like(h), _blocks(3, h)
        gru_forward(bias is not None)(gx, gh, self._or(bias, h[0]), h, out, h_n, *gates)
        return out, (h, gates, h_n)

    def gru_cell_backward(self, g, saved, into=None):
        """(d_gx (B, 3H), d_gh (B, 3H), dh without its recurrent-matmul share); d_gx goes to ``into`` where given."""
        if not self.handles(saved[0]):
            return super().gru_cell_backward(g, saved, into)
        h, gates, h_n = saved
        d_r, d_z, d_n, d_hn = _blocks(4, h)
        dh = np.empty_like(h)
        gru_backward(g, h, h_n, *gates, d_r, d_z, d_n, d_hn, dh)
        return np.concatenate((d_r, d_z, d_n), axis=1, out=into), np.concatenate((d_r, d_z, d_hn), axis=1), dh

    def adam(self, data, grad, state: dict, beta1: float, beta2: float, step_size: float, bias2_sqrt: float,
             eps: float, weight_decay: float):
        """The parameter after one Adam step; state's exp_avg / exp_avg_sq become new arrays."""
        p, g = data.reshape(-1), grad.reshape(-1)
        first = "exp_avg" not in state
        new, m, v = np.empty_like(p), np.empty_like(p), np.empty_like(p)
        adam_update(first, weight_decay != 0)(
            p, g, g if first else state["exp_avg"].reshape(-1), g if first else state["exp_avg_sq"].reshape(-1),
            new, m, v, float(beta1), float(beta2), float(step_size), float(bias2_sqrt), float(eps),
            float(weight_decay))
        state["exp_avg"], state["exp_avg_sq"] = m.reshape(data.shape), v.reshape(data.shape)
        return new.reshape(data.shape)

    def sgd(self, data, grad, state: dict, lr: float, momentum: float, dampening: float, weight_decay: float,
            nesterov: bool):
        """The parameter after one SGD step; with momentum, state's momentum_buffer becomes a new array."""
        p, g = data.reshape(-1), grad.reshape(-1)
        first = "momentum_buffer" not in state
        new = np.empty_like(p)
        buf = np.empty_like(p) if momentum else new  # without momentum the loop writes no buffer
        sgd_update(momentum != 0, bool(nesterov), first, weight_decay != 0)(
            p, g, g if first else state["momentum_buffer"].reshape(-1), new, buf, float(lr), float(momentum),
            float(dampening), float(weight_decay))
        if momentum:
            state["momentum_buffer"] = buf.reshape(data.shape)
        return new.reshape(data.shape)


def _blocks(count: int, like):
    """``count`` arrays shaped like ``like``, one per gate: a loop that wrote every gate into one (B, k·H) array
    would not be vectorised (LLVM cannot rule out that the gates' columns overlap), so each gate is its own
    contiguous block and the gradients are concatenated after."""
    return tuple(np.empty((count,) + like.shape, dtype=like.dtype))
