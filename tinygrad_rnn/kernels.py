"""Hand-written CUDA kernels for CuPy: the gate math of a recurrent step, softmax cross-entropy, the optimiser
updates and the squared gradient norm, each one launch.

On a GPU a small recurrent step costs kernel launches, not arithmetic: written with array functions the LSTM
step launches about twenty elementwise kernels forward and twenty-five backward, Adam a dozen per parameter.
Here each of those is one kernel (Chainer's design). The fused ops (``ops.recurrent``, ``ops.nn``, ``optim``)
run the same arithmetic in array code on every other backend; :class:`CudaKernels` has the same methods as
their array-code twins, and the CuPy backend hands it to them.

The source is plain CUDA C with no headers, compiled once per floating dtype (``T`` is float or double), so
NVRTC compiles it on any machine, GPU or not (``compile_ptx``), and a C++ compiler can run it on the host for
tests (``tests/cuda_emulator.py``). Every loop is grid-stride and every index ``long long``.

>>> "lstm_forward" in KERNELS and "float" in module_source("float32")
True
"""
from __future__ import annotations

import re

import numpy as np

KERNELS = ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
           "gru_cho_gates", "gru_cho_cell", "gru_cho_backward_n", "gru_cho_backward_r", "cross_entropy",
           "adam_update", "sgd_update", "sum_squares")

# flag bits of the LSTM kernels
LSTM_BIAS, LSTM_PEEPHOLE, LSTM_COUPLED, LSTM_FORGET, LSTM_GRAD_H, LSTM_GRAD_C = 1, 2, 4, 8, 16, 32
ACTIVATIONS = {"tanh": 0, "relu": 1, "sigmoid": 2}
THREADS = 256  # threads per block; sum_squares's shared-memory tree needs a power of two
MAX_BLOCKS = 4096

_MATH = {"float32": ("float", "f"), "float64": ("double", "")}

_SOURCE = r"""
typedef @T@ T;
#define GRID_LOOP(k, n) for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < (n); \
                             k += (long long)blockDim.x * gridDim.x)

__device__ __forceinline__ T sigm(T a) { return (T)0.5 + (T)0.5 * tanh@F@((T)0.5 * a); }

__device__ __forceinline__ T activate(T a, int kind) {
    if (kind == 0) return tanh@F@(a);
    if (kind == 1) return a > (T)0 ? a : (T)0;
    return sigm(a);
}

/* act(gx + hw + b) over (B, H); hw (h W_hh^T) may be out itself */
extern "C" __global__ void rnn_forward(const T* gx, const T* hw, const T* b, T* out, long long n, long long H,
                                       int has_bias, int kind) {
    GRID_LOOP(k, n) {
        T a = gx[k] + hw[k];
        if (has_bias) a += b[k % H];
        out[k] = activate(a, kind);
    }
}

/* the gradient of the pre-activation from the gradient g of out = act(pre) */
extern "C" __global__ void rnn_backward(const T* g, const T* out, T* da, long long n, int kind) {
    GRID_LOOP(k, n) {
        T y = out[k];
        da[k] = kind == 0 ? g[k] * ((T)1 - y * y) : kind == 1 ? (y > (T)0 ? g[k] : (T)0) : g[k] * y * ((T)1 - y);
    }
}

/* One LSTM step over (B, H), gates i f g o in blocks of H along a row of 4H. acts (B, 4H) receives the
   activated gates (f = 1 - i when coupled, 0 without a forget gate) and may be hw itself: each thread reads
   its four gate slots before it writes them. */
extern "C" __global__ void lstm_forward(const T* gx, const T* hw, const T* b, const T* c, const T* w_ci,
                                        const T* w_cf, const T* w_co, T* h_new, T* c_new, T* acts, T* tanh_c,
                                        long long n, long long H, int flags) {
    const bool bias = flags & 1, peephole = flags & 2, coupled = flags & 4, forget = flags & 8;
    GRID_LOOP(k, n) {
        const long long j = k % H, slot = (k / H) * 4 * H + j;
        T a_i = gx[slot] + hw[slot], a_f = gx[slot + H] + hw[slot + H];
        T a_g = gx[slot + 2 * H] + hw[slot + 2 * H], a_o = gx[slot + 3 * H] + hw[slot + 3 * H];
        if (bias) { a_i += b[j]; a_f += b[H + j]; a_g += b[2 * H + j]; a_o += b[3 * H + j]; }
        const T c_old = c[k];
        if (peephole) {
            a_i += w_ci[j] * c_old;
            if (forget && !coupled) a_f += w_cf[j] * c_old;
        }
        const T i = sigm(a_i), g = tanh@F@(a_g);
        T f = (T)0, cn;
        if (coupled) { f = (T)1 - i; cn = f * c_old + i * g; }
        else if (forget) { f = sigm(a_f); cn = f * c_old + i * g; }
        else cn = c_old + i * g;
        if (peephole) a_o += w_co[j] * cn;
        const T o = sigm(a_o), tc = tanh@F@(cn);
        acts[slot] = i; acts[slot + H] = f; acts[slot + 2 * H] = g; acts[slot + 3 * H] = o;
        c_new[k] = cn; tanh_c[k] = tc; h_new[k] = o * tc;
    }
}

/* Its backward: d_gates (B, 4H) for the pre-activations and dc_prev (B, H); grad_h / grad_c are read only when
   flags says they exist (an unused output gets no gradient) */
extern "C" __global__ void lstm_backward(const T* grad_h, const T* grad_c, const T* c, const T* acts,
                                         const T* c_new, const T* tanh_c, const T* w_ci, const T* w_cf,
                                         const T* w_co, T* d_gates, T* dc_prev, long long n, long long H,
                                         int flags) {
    const bool peephole = flags & 2, coupled = flags & 4, forget = flags & 8, has_h = flags & 16,
               has_c = flags & 32;
    GRID_LOOP(k, n) {
        const long long j = k % H, slot = (k / H) * 4 * H + j;
        const T i = acts[slot], f = acts[slot + H], g = acts[slot + 2 * H], o = acts[slot + 3 * H];
        const T c_old = c[k], tc = tanh_c[k];
        T dc = has_c ? grad_c[k] : (T)0, da_o = (T)0;
        if (has_h) {
            const T gh = grad_h[k];
            dc += gh * o * ((T)1 - tc * tc);
            da_o = gh * tc * o * ((T)1 - o);
            if (peephole) dc += da_o * w_co[j];
        }
        T di = dc * g, da_f = (T)0, dcp;
        if (coupled) { di -= dc * c_old; dcp = dc * f; }
        else if (forget) { da_f = dc * c_old * f * ((T)1 - f); dcp = dc * f; }
        else dcp = dc;
        const T da_i = di * i * ((T)1 - i);
        if (peephole) {
            dcp += da_i * w_ci[j];
            if (forget && !coupled) dcp += da_f * w_cf[j];
        }
        d_gates[slot] = da_i; d_gates[slot + H] = da_f; d_gates[slot + 2 * H] = dc * i * ((T)1 - g * g);
        d_gates[slot + 3 * H] = da_o;
        dc_prev[k] = dcp;
    }
}

/* A GRU step in PyTorch's reset-after form: gh = h W_hh^T, b = b_hh; acts (B, 3H) gets r z n and may be gh
   itself; h_n = (gh + b)'s n block is kept for the backward */
extern "C" __global__ void gru_forward(const T* gx, const T* gh, const T* b, const T* h, T* out, T* acts,
                                       T* h_n, long long n, long long H, int has_bias) {
    GRID_LOOP(k, n) {
        const long long j = k % H, slot = (k / H) * 3 * H + j;
        T a_r = gx[slot] + gh[slot], a_z = gx[slot + H] + gh[slot + H], hn = gh[slot + 2 * H];
        if (has_bias) { a_r += b[j]; a_z += b[H + j]; hn += b[2 * H + j]; }
        const T r = sigm(a_r), z = sigm(a_z), nn = tanh@F@(gx[slot + 2 * H] + r * hn), hh = h[k];
        acts[slot] = r; acts[slot + H] = z; acts[slot + 2 * H] = nn;
        h_n[k] = hn; out[k] = nn + z * (hh - nn);
    }
}

/* Its backward: d_gx = (da_r, da_z, da_n), d_gh = (da_r, da_z, da_n * r), dh = g z (the caller adds d_gh W_hh) */
extern "C" __global__ void gru_backward(const T* g, const T* h, const T* acts, const T* h_n, T* d_gx, T* d_gh,
                                        T* dh, long long n, long long H) {
    GRID_LOOP(k, n) {
        const long long j = k % H, slot = (k / H) * 3 * H + j;
        const T r = acts[slot], z = acts[slot + H], nn = acts[slot + 2 * H], gg = g[k];
        const T da_n = gg * ((T)1 - z) * ((T)1 - nn * nn), da_z = gg * (h[k] - nn) * z * ((T)1 - z);
        const T da_r = da_n * h_n[k] * r * ((T)1 - r);
        d_gx[slot] = da_r; d_gx[slot + H] = da_z; d_gx[slot + 2 * H] = da_n;
        d_gh[slot] = da_r; d_gh[slot + H] = da_z; d_gh[slot + 2 * H] = da_n * r;
        dh[k] = gg * z;
    }
}

/* The Cho et al. form, first half: r and z from gx and g_rz = h W_rz^T (B, 2H), and h_r = r h. rz (B, 2H) may
   be g_rz itself */
extern "C" __global__ void gru_cho_gates(const T* gx, const T* g_rz, const T* b, const T* h, T* rz, T* h_r,
                                         long long n, long long H, int has_bias) {
    GRID_LOOP(k, n) {
        const long long j = k % H, row = k / H, slot = row * 3 * H + j, pair = row * 2 * H + j;
        T a_r = gx[slot] + g_rz[pair], a_z = gx[slot + H] + g_rz[pair + H];
        if (has_bias) { a_r += b[j]; a_z += b[H + j]; }
        const T r = sigm(a_r);
        rz[pair] = r; rz[pair + H] = sigm(a_z); h_r[k] = r * h[k];
    }
}

/* Second half: n = tanh(gx_n + h_r W_n^T + b_n) from hn = h_r W_n^T (n_out may be hn), h' = n + z (h - n) */
extern "C" __global__ void gru_cho_cell(const T* gx, const T* hn, const T* b, const T* rz, const T* h, T* out,
                                        T* n_out, long long n, long long H, int has_bias) {
    GRID_LOOP(k, n) {
        const long long j = k % H, row = k / H;
        T a_n = gx[row * 3 * H + 2 * H + j] + hn[k];
        if (has_bias) a_n += b[2 * H + j];
        const T nn = tanh@F@(a_n), z = rz[row * 2 * H + H + j];
        n_out[k] = nn; out[k] = nn + z * (h[k] - nn);
    }
}

/* Backward of the second half: da_z, da_n into d_gx's z and n blocks, da_n also alone (for da_n W_n), dh = g z */
extern "C" __global__ void gru_cho_backward_n(const T* g, const T* h, const T* rz, const T* nn_, T* d_gx,
                                              T* da_n, T* dh, long long n, long long H) {
    GRID_LOOP(k, n) {
        const long long j = k % H, row = k / H, slot = row * 3 * H + j;
        const T z = rz[row * 2 * H + H + j], nn = nn_[k], gg = g[k];
        const T dn = gg * ((T)1 - z) * ((T)1 - nn * nn);
        d_gx[slot + H] = gg * (h[k] - nn) * z * ((T)1 - z); d_gx[slot + 2 * H] = dn;
        da_n[k] = dn; dh[k] = gg * z;
    }
}

/* Backward of the first half, from d_hr = da_n W_n: da_r into d_gx's r block, dh += d_hr r */
extern "C" __global__ void gru_cho_backward_r(const T* d_hr, const T* h, const T* rz, T* d_gx, T* dh, long long n,
                                              long long H) {
    GRID_LOOP(k, n) {
        const long long j = k % H, row = k / H;
        const T r = rz[row * 2 * H + j], d = d_hr[k];
        d_gx[row * 3 * H + j] = d * h[k] * r * ((T)1 - r);
        dh[k] += d * r;
    }
}

/* Softmax cross-entropy over rows (N, C), one block a row: the loss of each row, its weight (0 where the target
   is ignore_index) and the gradient softmax - onehot of the unreduced loss (zero on ignored rows). The block's
   threads stride over the classes and reduce the maximum, then the sum of exponentials, in shared memory
   (blockDim a power of two, at most 256). A target outside [0, C) (the op checks before) gives a NaN loss rather
   than reading out of bounds; C > 0 (the op checks). */
extern "C" __global__ void cross_entropy(const T* logits, const long long* target, T* loss, T* weight, T* dlogits,
                                         long long N, long long C, long long ignore_index) {
    __shared__ T part[256];
    for (long long row = blockIdx.x; row < N; row += gridDim.x) {
        const T* x = logits + row * C;
        T* d = dlogits + row * C;
        const long long t = target[row];
        if (t == ignore_index) {  /* the same branch for the whole block */
            for (long long q = threadIdx.x; q < C; q += blockDim.x) d[q] = (T)0;
            if (threadIdx.x == 0) { loss[row] = (T)0; weight[row] = (T)0; }
            continue;
        }
        T top = x[0];
        for (long long q = threadIdx.x; q < C; q += blockDim.x) top = x[q] > top ? x[q] : top;
        part[threadIdx.x] = top;
        __syncthreads();
        for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {
            if (threadIdx.x < w && part[threadIdx.x + w] > part[threadIdx.x]) part[threadIdx.x] = part[threadIdx.x + w];
            __syncthreads();
        }
        top = part[0];
        __syncthreads();  /* every thread has read the maximum before part holds the sums */
        T s = (T)0;
        for (long long q = threadIdx.x; q < C; q += blockDim.x) s += exp@F@(x[q] - top);
        part[threadIdx.x] = s;
        __syncthreads();
        for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {
            if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
            __syncthreads();
        }
        const T total = part[0];
        for (long long q = threadIdx.x; q < C; q += blockDim.x)
            d[q] = exp@F@(x[q] - top) / total - (q == t ? (T)1 : (T)0);
        if (threadIdx.x == 0) {
            loss[row] = t < 0 || t >= C ? nan@F@("") : log@F@(total) - (x[t] - top);
            weight[row] = (T)1;
        }
        __syncthreads();  /* part is reused by the next row */
    }
}

/* One Adam step (L2 weight decay added to the gradient). Everything it writes is new (p_new and the moments
   m_new, v_new): a graph or a state_dict may still hold the old arrays. first: the moments start from zero and
   m, v are not read */
extern "C" __global__ void adam_update(const T* p, const T* grad, const T* m, const T* v, T* p_new, T* m_new,
                                       T* v_new, long long n, double beta1, double beta2, double step_size,
                                       double bias2_sqrt, double eps, double weight_decay, int first) {
    GRID_LOOP(k, n) {
        const T g = weight_decay != 0.0 ? grad[k] + (T)weight_decay * p[k] : grad[k];
        const T mk = first ? (T)(1 - beta1) * g : (T)beta1 * m[k] + (T)(1 - beta1) * g;
        const T vk = first ? (T)(1 - beta2) * g * g : (T)beta2 * v[k] + (T)(1 - beta2) * g * g;
        m_new[k] = mk; v_new[k] = vk;
        p_new[k] = p[k] - (T)step_size * mk / (sqrt@F@(vk) / (T)bias2_sqrt + (T)eps);
    }
}

/* One SGD step with optional (Nesterov) momentum and L2 weight decay, the momentum buffer into buf_new. first:
   the buffer starts as the gradient and buf is not read */
extern "C" __global__ void sgd_update(const T* p, const T* grad, const T* buf, T* p_new, T* buf_new, long long n,
                                      double lr, double momentum, double dampening, double weight_decay,
                                      int nesterov, int first) {
    GRID_LOOP(k, n) {
        T g = weight_decay != 0.0 ? grad[k] + (T)weight_decay * p[k] : grad[k];
        if (momentum != 0.0) {
            const T b = first ? g : (T)momentum * buf[k] + (T)(1 - dampening) * g;
            buf_new[k] = b;
            g = nesterov ? g + (T)momentum * b : b;
        }
        p_new[k] = p[k] - (T)lr * g;
    }
}

/* total += sum of x^2 in double: a block's threads reduce in shared memory, then one atomic add a block */
extern "C" __global__ void sum_squares(const T* x, double* total, long long n) {
    __shared__ double part[256];
    double s = 0.0;
    GRID_LOOP(k, n) { const double v = (double)x[k]; s += v * v; }
    part[threadIdx.x] = s;
    __syncthreads();
    for (unsigned w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(total, part[0]);
}
"""


_SCALARS = {"long long": np.int64, "int": np.int32, "double": np.float64}


def signatures(source: str = _SOURCE) -> dict[str, tuple]:
    """Each kernel's parameters in ``source`` as ``"array"`` or the NumPy scalar type a launch must pass.

    >>> signatures()["sum_squares"]
    ('array', 'array', <class 'numpy.int64'>)
    """
    found = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source):
        kinds = []
        for param in params.split(","):
            declared = " ".join(param.split()[:-1]).replace("const ", "")
            kinds.append("array" if "*" in param else _SCALARS[declared])
        found[name] = tuple(kinds)
    return found


def module_source(dtype: str) -> str:
    """The CUDA source of every kernel for ``dtype`` ("float32" or "float64")."""
    if dtype not in _MATH:
        raise TypeError(f"CUDA kernels: no kernels for {dtype!r}; they exist for {tuple(_MATH)}")
    c_type, suffix = _MATH[dtype]
    return _SOURCE.replace("@T@", c_type).replace("@F@", suffix)


def compile_ptx(source: str, arch: str = "compute_90", options: tuple = ()) -> tuple[bytes, str]:
    """Compile ``source`` with NVRTC (no GPU or driver needed); return (PTX or cubin, the compiler's log).
    ``arch`` "sm_90" with ``--ptxas-options=-v`` gives machine code and a log with registers and spills.
    Raises RuntimeError with the log when the source does not compile."""
    from cupy.cuda import nvrtc

    program = nvrtc.createProgram(source, "tinygrad_rnn.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(program, [f"-arch={arch}", *options])
        except nvrtc.NVRTCError as exc:
            raise RuntimeError(f"NVRTC could not compile the kernels ({exc}):\n{nvrtc.getProgramLog(program)}") \
                from exc
        log = nvrtc.getProgramLog(program)
        code = nvrtc.getCUBIN(program) if arch.startswith("sm_") else nvrtc.getPTX(program)
        return code, log
    finally:
        nvrtc.destroyProgram(program)


def lstm_flags(bias: bool, peephole: bool, coupled: bool, forget_gate: bool) -> int:
    """The LSTM kernels' flag bits for a cell (the gradient bits are the backward's to add)."""
    return ((LSTM_BIAS if bias else 0) | (LSTM_PEEPHOLE if peephole else 0) | (LSTM_COUPLED if coupled else 0)
            | (LSTM_FORGET if forget_gate else 0))


def _blocks(n: int) -> int:
    return max(1, min(MAX_BLOCKS, -(-n // THREADS)))


class CudaKernels:
    """The fused ops' kernels on one array library. ``load(source)`` returns a module whose
    ``get_function(name)`` gives a kernel called as ``kernel((blocks,), (threads,), args)``: ``cupy.RawModule`` on
    a GPU, a host build of the same source in the tests.

    >>> CudaKernels.__name__
    'CudaKernels'
    """

    def __init__(self, xp, load=None):
        self.xp = xp
        self._load = load or (lambda source: xp.RawModule(code=source))
        self._functions: dict = {}

    def handles(self, array) -> bool:
        """Whether the kernels exist for ``array``'s dtype (float32, float64); float16 takes the array code."""
        return array.dtype == self.xp.float32 or array.dtype == self.xp.float64

    # -- launching --------------------------------------------------------------------------------------------------
    def _kernel(self, name: str, dtype: str):
        function = self._functions.get((name, dtype))
        if function is None:
            module = self._functions.get(dtype)
            if module is None:
                module = self._functions[dtype] = self._load(module_source(dtype))
            function = self._functions[(name, dtype)] = module.get_function(name)
        return function

    def _launch(self, name: str, like, n: int, *args, blocks: int | None = None) -> None:
        """Run ``name`` for the dtype of ``like`` over ``n`` elements (``blocks`` of THREADS threads, or enough for
        one thread an element); Python ints go as long long (int for the flag and kind arguments the caller wraps
        in np.int32), floats as double."""
        if n == 0:
            return
        dtype = np.dtype(str(like.dtype)).name
        converted = tuple(np.int64(a) if type(a) is int else np.float64(a) if type(a) is float else a for a in args)
        self._kernel(name, dtype)((blocks or _blocks(n),), (THREADS,), converted)

    def _dense(self, a):
        return self.xp.ascontiguousarray(a)

    def _or(self, array, fallback):
        """``array`` made dense, or ``fallback`` in the place of an argument the kernel's flags say it ignores."""
        return fallback if array is None else self.xp.ascontiguousarray(array)

    def _empty(self, shape, like):
        return self.xp.empty(shape, dtype=like.dtype)

    # -- recurrent steps --------------------------------------------------------------------------------------------
    def rnn_cell(self, gx, hw, bias, kind: str):
        """act(gx + hw + b): hw = h W_hhᵀ is overwritten with the result."""
        gx = self._dense(gx)
        self._launch("rnn_forward", hw, hw.size, gx, hw, self._or(bias, gx), hw, hw.size, hw.shape[-1],
                     np.int32(bias is not None), np.int32(ACTIVATIONS[kind]))
        return hw

    def rnn_cell_backward(self, g, out, kind: str, into=None):
        da = self._empty(out.shape, out) if into is None else into
        self._launch("rnn_backward", out, out.size, self._dense(g), out, da, out.size, np.int32(ACTIVATIONS[kind]))
        return da

    def lstm_cell(self, gx, hw, bias, c, peepholes: tuple, coupled: bool, forget_gate: bool):
        """(h', c', saved) of an LSTM step; hw (B, 4H) = h W_hhᵀ becomes the activated gates."""
        w_ci, w_cf, w_co = peepholes
        flags = lstm_flags(bias is not None, w_ci is not None, coupled, forget_gate)
        c = self._dense(c)
        h_new, c_new, tanh_c = (self._empty(c.shape, c) for _ in range(3))
        self._launch("lstm_forward", c, c.size, self._dense(gx), hw, self._or(bias, c), c, self._or(w_ci, c),
                     self._or(w_cf, c), self._or(w_co, c), h_new, c_new, hw, tanh_c, c.size, c.shape[-1],
                     np.int32(flags))
        return h_new, c_new, (c, hw, c_new, tanh_c)

    def lstm_cell_backward(self, grad_h, grad_c, saved, peepholes: tuple, coupled: bool, forget_gate: bool,
                           into=None):
        """(d_gates (B, 4H), dc_prev) from the gradients of h' and c' (either may be None); d_gates goes to
        ``into`` (dense, from ``engine.gradient_slot``) where one is given."""
        c, acts, c_new, tanh_c = saved
        w_ci, w_cf, w_co = peepholes
        flags = lstm_flags(False, w_ci is not None, coupled, forget_gate)
        flags |= (LSTM_GRAD_H if grad_h is not None else 0) | (LSTM_GRAD_C if grad_c is not None else 0)
        d_gates, dc_prev = self._empty(acts.shape, c) if into is None else into, self._empty(c.shape, c)
        self._launch("lstm_backward", c, c.size, self._or(grad_h, c), self._or(grad_c, c), c, acts,
                     c_new, tanh_c, self._or(w_ci, c), self._or(w_cf, c), self._or(w_co, c), d_gates, dc_prev,
                     c.size, c.shape[-1],
                     np.int32(flags))
        return d_gates, dc_prev

    def gru_cell(self, gx, gh, bias, h):
        """PyTorch's reset-after GRU step from gh = h W_hhᵀ (overwritten with r z n): (h', saved)."""
        h = self._dense(h)
        out, h_n = self._empty(h.shape, h), self._empty(h.shape, h)
        self._launch("gru_forward", h, h.size, self._dense(gx), gh, self._or(bias, h), h, out, gh, h_n,
                     h.size, h.shape[-1],
                     np.int32(bias is not None))
        return out, (h, gh, h_n)

    def gru_cell_backward(self, g, saved, into=None):
        """(d_gx (B, 3H), d_gh (B, 3H), dh without its recurrent-matmul share); d_gx goes to ``into`` where given."""
        h, acts, h_n = saved
        d_gx = self._empty(acts.shape, h) if into is None else into
        d_gh, dh = self._empty(acts.shape, h), self._empty(h.shape, h)
        self._launch("gru_backward", h, h.size, self._dense(g), h, acts, h_n, d_gx, d_gh, dh, h.size, h.shape[-1])
        return d_gx, d_gh, dh

    def gru_cho_gates(self, gx, g_rz, bias, h):
        """Cho et al.'s GRU, first half: (rz (B, 2H), h_r = r h) from g_rz = h W_rzᵀ (overwritten)."""
        h = self._dense(h)
        h_r = self._empty(h.shape, h)
        self._launch("gru_cho_gates", h, h.size, self._dense(gx), g_rz, self._or(bias, h), h, g_rz, h_r,
                     h.size, h.shape[-1],
                     np.int32(bias is not None))
        return g_rz, h_r

    def gru_cho_cell(self, gx, hn, bias, rz, h):
        """Second half: (h', n) from hn = h_r W_nᵀ (overwritten with n)."""
        h = self._dense(h)  # a kernel reads flat memory: a sliced or expanded state must be copied
        out = self._empty(h.shape, h)
        self._launch("gru_cho_cell", h, h.size, self._dense(gx), hn, self._or(bias, h), rz, h, out, hn,
                     h.size, h.shape[-1],
                     np.int32(bias is not None))
        return out, hn

    def gru_cho_cell_backward(self, g, h, rz, n):
        """(d_gx with its z and n blocks filled, da_n, dh = g z)."""
        h = self._dense(h)
        d_gx = self._empty((h.shape[0], 3 * h.shape[1]), h)
        da_n, dh = self._empty(h.shape, h), self._empty(h.shape, h)
        self._launch("gru_cho_backward_n", h, h.size, self._dense(g), h, rz, n, d_gx, da_n, dh, h.size, h.shape[-1])
        return d_gx, da_n, dh

    def gru_cho_gates_backward(self, d_hr, h, rz, d_gx, dh):
        """(d_gx, dh) with d_gx's r block filled and d_hr r added to dh, both in place."""
        h = self._dense(h)
        self._launch("gru_cho_backward_r", h, h.size, self._dense(d_hr), h, rz, d_gx, dh, h.size, h.shape[-1])
        return d_gx, dh

    # -- loss and optimisers ----------------------------------------------------------------------------------------
    def cross_entropy(self, logits, target, ignore_index: int):
        """(losses (N,), weights (N,), softmax - onehot (N, C) zero on ignored rows)."""
        xp = self.xp
        logits = self._dense(logits)
        target = self._dense(target if target.dtype == xp.int64 else target.astype(xp.int64))
        rows, classes = logits.shape
        loss, weight = self._empty((rows,), logits), self._empty((rows,), logits)
        dlogits = self._empty(logits.shape, logits)
        self._launch("cross_entropy", logits, rows, logits, target, loss, weight, dlogits, rows, classes,
                     int(ignore_index), blocks=min(rows, MAX_BLOCKS))  # one block a row
        return loss, weight, dlogits

    def adam(self, data, grad, state: dict, beta1: float, beta2: float, step_size: float, bias2_sqrt: float,
             eps: float, weight_decay: float):
        """The parameter after one Adam step; state's exp_avg / exp_avg_sq become new arrays."""
        data, grad = self._dense(data), self._dense(grad)
        first = "exp_avg" not in state
        new, m, v = (self._empty(data.shape, data) for _ in range(3))
        self._launch("adam_update", data, data.size, data, grad, state.get("exp_avg", grad),
                     state.get("exp_avg_sq", grad), new, m, v, data.size, float(beta1), float(beta2),
                     float(step_size), float(bias2_sqrt), float(eps), float(weight_decay), np.int32(first))
        state["exp_avg"], state["exp_avg_sq"] = m, v
        return new

    def sgd(self, data, grad, state: dict, lr: float, momentum: float, dampening: float, weight_decay: float,
            nesterov: bool):
        """The parameter after one SGD step; with momentum, state's momentum_buffer becomes a new array."""
        data, grad = self._dense(data), self._dense(grad)
        first = "momentum_buffer" not in state
        new = self._empty(data.shape, data)
        buf = self._empty(data.shape, data) if momentum else new  # without momentum the kernel writes no buffer
        self._launch("sgd_update", data, data.size, data, grad, state.get("momentum_buffer", grad), new, buf,
                     data.size, float(lr), float(momentum), float(dampening), float(weight_decay),
                     np.int32(nesterov), np.int32(first))
        if momentum:
            state["momentum_buffer"] = buf
        return new

    def sum_squares(self, arrays):
        """Σ x² over every array, as a 0-d float64 array on the device: one launch per array, no host read."""
        total = self.xp.zeros((), dtype=self.xp.float64)
        for a in arrays:
            self._launch("sum_squares", a, a.size, self._dense(a), total, a.size)
        return total

