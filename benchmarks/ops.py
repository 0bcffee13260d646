#!/usr/bin/env python
"""Per-op overhead of tinygrad_rnn, side by side with PyTorch eager, HIPS autograd and mygrad, in one run.

What is timed is always forward + backward (``time.perf_counter``, warm-up first, best of N repeats; the median
is printed next to it). Three groups:

1. one small elementwise op (add, mul, tanh, sigmoid) on (1, 32) and (64, 256) float32, then ``.sum().backward()``;
2. one matmul, (1, 32) @ (32, 32) and (64, 256) @ (256, 256), then ``.sum().backward()``;
3. the one that matters: a 1000-step tanh RNN, H = 32, batch 1, written as a loop of primitive ops
   ``h = tanh(x_t @ W_xh + h @ W_hh + b)``, loss = sum of the last h, forward + backward. Versions: tinygrad_rnn,
   PyTorch eager (the same ops), PyTorch ``nn.RNN`` (one call), HIPS autograd, mygrad, and hand-written NumPy BPTT
   (the floor). Every version's gradients are checked against the NumPy BPTT gradients (assert_allclose), so the
   benchmark also proves tinygrad_rnn correct.

Ratios are what matter: every time is also given relative to PyTorch's primitive loop (and to ``nn.RNN``).
Everything runs single-threaded (see ``threads.py``): the arrays are tiny, and NumPy is single-threaded at these
sizes anyway, so one thread for every library is the fair comparison.

    .venv/bin/python benchmarks/ops.py                      # full run, prints the tables
    .venv/bin/python benchmarks/ops.py --out benchmarks/RESULTS.md
    .venv/bin/python benchmarks/ops.py --quick              # a few seconds: fewer steps and repeats (smoke test)

PyTorch, HIPS autograd and mygrad are optional: a library that is not installed shows as "n/a".
"""
from __future__ import annotations

import os

# One thread for every BLAS / OpenMP pool, set before NumPy or PyTorch load them (an explicit setting wins).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if the environment sets them, are left alone and recorded.
import threads as thread_pools  # noqa: E402  (benchmarks/ is on sys.path when a script in it runs)

thread_pools.pin(1, sleep_idle=False)

import argparse
import gc
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _early_option(name: str):
    """An option that must act before the imports below (argparse runs later and documents it)."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


# --tinygrad DIR benchmarks another copy of the library (a prototype, another checkout) against the same baselines.
LIB_ROOT = os.path.abspath(_early_option("--tinygrad") or REPO)
sys.path.insert(0, LIB_ROOT)
import tinygrad_rnn as tr
from environment import command_line, cpu_line, library_origin, measure, numpy_blas, publish, utc_date

try:
    import torch

    TORCH_THREADS_AT_IMPORT = torch.get_num_threads()
except ImportError:  # pragma: no cover - optional
    torch = None
try:
    import autograd
    import autograd.numpy as anp
    from autograd import grad as agrad
    try:
        from autograd.scipy.special import expit as _aexpit
    except ImportError:  # no SciPy: sigmoid through tanh, still one primitive per step
        def _aexpit(x):
            return 0.5 * (anp.tanh(0.5 * x) + 1.0)
except ImportError:  # pragma: no cover - optional
    autograd = None
try:
    import mygrad as mg
    from mygrad.nnet.activations import sigmoid as _mg_sigmoid
except ImportError:  # pragma: no cover - optional
    mg = None

DTYPE = np.float32
LIBS = ("tinygrad_rnn", "PyTorch", "HIPS autograd", "mygrad")


# ---------------------------------------------------------------------------------------------------------------
# timing
def inner_for(body, target_s: float) -> int:
    """How many calls make one repeat last about ``target_s``."""
    start = time.perf_counter()
    body()
    one = max(time.perf_counter() - start, 1e-7)
    return max(1, int(target_s / one))


# ---------------------------------------------------------------------------------------------------------------
# 1 and 2: one op, forward + backward
UNARY = {"tanh", "sigmoid"}


def sum_backward_body(tensor, fn, a_np: np.ndarray, b_np: np.ndarray | None):
    """A closure running ``fn(a, b).sum().backward()`` on ``tensor(..., requires_grad=True)`` leaves made once from
    ``a_np`` and ``b_np`` (b is None for a unary op), their gradients reset first: tinygrad_rnn and PyTorch alike."""
    a = tensor(a_np, requires_grad=True)
    b = None if b_np is None else tensor(b_np, requires_grad=True)

    def body():
        a.grad = None
        if b is not None:
            b.grad = None
        fn(a, b).sum().backward()

    return body


def op_bodies(op: str, a_np: np.ndarray, b_np: np.ndarray | None) -> dict:
    """One forward+backward closure per library for ``op`` (add, mul, tanh, sigmoid, matmul)."""
    bodies = {}
    unary = op in UNARY

    # tinygrad_rnn and PyTorch spell every op the same way
    same_spelling = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "matmul": lambda a, b: a @ b,
                     "tanh": lambda a, b: a.tanh(), "sigmoid": lambda a, b: a.sigmoid()}[op]
    operands = (a_np, None if unary else b_np)
    bodies["tinygrad_rnn"] = sum_backward_body(tr.tensor, same_spelling, *operands)
    if torch is not None:
        bodies["PyTorch"] = sum_backward_body(torch.tensor, same_spelling, *operands)

    if autograd is not None:
        if unary:
            f = {"tanh": anp.tanh, "sigmoid": _aexpit}[op]
            g = agrad(lambda a: anp.sum(f(a)))
            bodies["HIPS autograd"] = lambda: g(a_np)
        else:
            f = {"add": anp.add, "mul": anp.multiply, "matmul": anp.matmul}[op]
            g = agrad(lambda a, b: anp.sum(f(a, b)), argnum=(0, 1))
            bodies["HIPS autograd"] = lambda: g(a_np, b_np)

    if mg is not None:
        ma = mg.tensor(a_np)
        mb = None if unary else mg.tensor(b_np)
        mg_fn = {"add": mg.add, "mul": mg.multiply, "matmul": mg.matmul,
                 "tanh": lambda a, b: mg.tanh(a), "sigmoid": lambda a, b: _mg_sigmoid(a)}[op]

        def mg_body():
            mg.sum(mg_fn(ma, mb)).backward()

        bodies["mygrad"] = mg_body
    return bodies


# ---------------------------------------------------------------------------------------------------------------
# 3: the RNN
def rnn_problem(steps: int, hidden: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, 1, hidden)).astype(DTYPE)
    scale = 1.0 / np.sqrt(hidden)
    w_xh = rng.uniform(-scale, scale, (hidden, hidden)).astype(DTYPE)
    w_hh = rng.uniform(-scale, scale, (hidden, hidden)).astype(DTYPE)
    b = rng.uniform(-scale, scale, (hidden,)).astype(DTYPE)
    h0 = np.zeros((1, hidden), DTYPE)
    return xs, w_xh, w_hh, b, h0


def numpy_bptt(xs, w_xh, w_hh, b, h0):
    """Hand-written BPTT: the forward keeps every h, the backward walks them back. Returns (loss, grads)."""
    hs = [h0]
    h = h0
    for x in xs:
        h = np.tanh(x @ w_xh + h @ w_hh + b)
        hs.append(h)
    loss = h.sum()
    g_xh = np.zeros_like(w_xh)
    g_hh = np.zeros_like(w_hh)
    g_b = np.zeros_like(b)
    dh = np.ones_like(h)
    w_hh_t = w_hh.T
    for t in range(len(xs) - 1, -1, -1):
        h = hs[t + 1]
        da = dh * (1 - h * h)
        g_xh += xs[t].T @ da
        g_hh += hs[t].T @ da
        g_b += da.sum(0)
        dh = da @ w_hh_t
    return loss, (g_xh, g_hh, g_b)


def rnn_bodies(xs, w_xh, w_hh, b, h0) -> tuple[dict, dict]:
    """Forward+backward closures of the RNN per version, and a function per version returning its gradients."""
    bodies, grads = {}, {}

    def primitive_loop(tensor, parameter, host):
        """The same loop of primitive ops for any library whose tensors spell @, + and .tanh() alike."""
        txs = [tensor(x) for x in xs]
        params = tuple(parameter(a) for a in (w_xh, w_hh, b))
        h0_ = tensor(h0)

        def body():
            for p in params:
                p.grad = None
            h = h0_
            w_xh_, w_hh_, b_ = params
            for x in txs:
                h = (x @ w_xh_ + h @ w_hh_ + b_).tanh()
            h.sum().backward()

        return body, lambda: (body(), tuple(host(p.grad) for p in params))[1]

    bodies["tinygrad_rnn loop"], grads["tinygrad_rnn loop"] = primitive_loop(
        tr.tensor, lambda a: tr.tensor(a, requires_grad=True), lambda g: g)

    if torch is not None:
        bodies["PyTorch loop"], grads["PyTorch loop"] = primitive_loop(
            torch.tensor, lambda a: torch.tensor(a, requires_grad=True), lambda g: g.numpy())

        hidden = w_hh.shape[0]
        rnn = torch.nn.RNN(xs.shape[2], hidden, nonlinearity="tanh")
        with torch.no_grad():  # the same numbers: nn.RNN computes x W_ih^T + b_ih + h W_hh^T + b_hh
            rnn.weight_ih_l0.copy_(torch.tensor(w_xh.T))
            rnn.weight_hh_l0.copy_(torch.tensor(w_hh.T))
            rnn.bias_ih_l0.copy_(torch.tensor(b))
            rnn.bias_hh_l0.zero_()
        seq = torch.tensor(xs)  # (T, batch, input)
        ph0_3d = torch.tensor(h0[None])

        def nn_body():
            rnn.zero_grad(set_to_none=True)
            _, h_n = rnn(seq, ph0_3d)
            h_n.sum().backward()

        bodies["PyTorch nn.RNN"] = nn_body
        grads["PyTorch nn.RNN"] = lambda: (nn_body(), (rnn.weight_ih_l0.grad.numpy().T, rnn.weight_hh_l0.grad.numpy().T,
                                                        rnn.bias_ih_l0.grad.numpy()))[1]

    if autograd is not None:
        def a_loss(w_xh_, w_hh_, b_):
            h = h0
            for x in xs:
                h = anp.tanh(anp.matmul(x, w_xh_) + anp.matmul(h, w_hh_) + b_)
            return anp.sum(h)

        a_grad = agrad(a_loss, argnum=(0, 1, 2))
        bodies["HIPS autograd loop"] = lambda: a_grad(w_xh, w_hh, b)
        grads["HIPS autograd loop"] = bodies["HIPS autograd loop"]

    if mg is not None:
        mxs = [mg.tensor(x, constant=True) for x in xs]
        mw_xh, mw_hh, mb = (mg.tensor(a) for a in (w_xh, w_hh, b))
        mh0 = mg.tensor(h0, constant=True)

        def mg_body():
            h = mh0
            for x in mxs:
                h = mg.tanh(mg.matmul(x, mw_xh) + mg.matmul(h, mw_hh) + mb)
            mg.sum(h).backward()

        bodies["mygrad loop"] = mg_body
        grads["mygrad loop"] = lambda: (mg_body(), (mw_xh.grad, mw_hh.grad, mb.grad))[1]

    bodies["NumPy hand BPTT"] = lambda: numpy_bptt(xs, w_xh, w_hh, b, h0)
    grads["NumPy hand BPTT"] = lambda: numpy_bptt(xs, w_xh, w_hh, b, h0)[1]
    return bodies, grads


def check_rnn_gradients(grads: dict, reference) -> dict:
    """Assert every version's (W_xh, W_hh, b) gradients match hand BPTT's; return the largest relative error."""
    errors = {}
    names = ("W_xh", "W_hh", "b")
    for version, get in grads.items():
        if version == "NumPy hand BPTT":
            continue
        got = get()
        worst = 0.0
        for name, g, ref in zip(names, got, reference):
            g = np.asarray(g, dtype=np.float64)
            scale = max(float(np.abs(ref).max()), 1e-12)
            worst = max(worst, float(np.abs(g - ref).max()) / scale)
            np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-5 * scale,
                                       err_msg=f"{version}: gradient of {name} differs from hand-written NumPy BPTT")
        errors[version] = worst
    return errors


# ---------------------------------------------------------------------------------------------------------------
# reporting
def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 1000 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}×"


def markdown_table(header, rows) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def small_op_table(results) -> str:
    """results: list of (label, shapes, {lib: Timing})."""
    header = ["op", "shapes"] + [f"{lib} µs" for lib in LIBS] + [f"{lib} / PyTorch" for lib in LIBS if lib != "PyTorch"]
    rows = []
    for label, shapes, timings in results:
        row = [label, shapes]
        for lib in LIBS:
            t = timings.get(lib)
            row.append(f"{fmt_us(t.best)} ({fmt_us(t.median)})" if t else "n/a")
        ref = timings.get("PyTorch")
        for lib in LIBS:
            if lib == "PyTorch":
                continue
            t = timings.get(lib)
            row.append(fmt_ratio(t.best / ref.best) if t and ref else "n/a")
        rows.append(row)
    return markdown_table(header, rows)


def rnn_table(timings: dict, steps: int) -> str:
    header = ["version", "ms / run, best (median)", "µs / step", "× PyTorch loop", "× nn.RNN"]
    loop, fused = timings.get("PyTorch loop"), timings.get("PyTorch nn.RNN")
    rows = []
    for version, t in timings.items():
        rows.append([version, f"{t.best * 1e3:.2f} ({t.median * 1e3:.2f})", f"{t.best / steps * 1e6:.1f}",
                     fmt_ratio(t.best / loop.best) if loop else "n/a",
                     fmt_ratio(t.best / fused.best) if fused else "n/a"])
    return markdown_table(header, rows)


def aims(timings: dict, steps: int) -> list[str]:
    ours = timings["tinygrad_rnn loop"].best
    floor = timings["NumPy hand BPTT"].best
    lines = []
    loop, fused = timings.get("PyTorch loop"), timings.get("PyTorch nn.RNN")
    if loop:
        r = ours / loop.best
        verdict = "met" if r <= 0.5 else "NOT met"
        lines.append(f"- tinygrad_rnn loop at most 0.5× PyTorch's primitive loop: **{verdict}** "
                     f"({r:.2f}×)")
    if fused:
        r = ours / fused.best
        lines.append(f"- tinygrad_rnn loop below nn.RNN: **{'met' if r < 1 else 'NOT met'}** ({r:.2f}× nn.RNN)")
    lines.append(f"- floor, hand-written NumPy BPTT: {floor / steps * 1e6:.1f} µs/step; tinygrad_rnn is "
                 f"{ours / floor:.2f}× the floor "
                 f"({(ours - floor) / steps * 1e6:.1f} µs/step of engine overhead over it)")
    return lines



def machine_info() -> list[str]:
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}",
                f"tinygrad_rnn {getattr(tr, '__version__', '?')}"]
    versions.append(f"torch {torch.__version__}" if torch else "torch n/a")
    if autograd is not None:
        from importlib.metadata import PackageNotFoundError, version
        try:
            versions.append(f"autograd {version('autograd')}")
        except PackageNotFoundError:
            versions.append("autograd ?")
    else:
        versions.append("autograd n/a")
    versions.append(f"mygrad {mg.__version__}" if mg else "mygrad n/a")
    env_text = thread_pools.environment_line()
    threads = (f"torch.set_num_threads(1) (torch.get_num_threads() was {TORCH_THREADS_AT_IMPORT} at import, "
               f"now {torch.get_num_threads()})") if torch else "torch n/a"
    return [f"- tinygrad_rnn: {library_origin(tr)}",
            cpu_line(),
            f"- versions: {', '.join(versions)}",
            f"- threads: single-threaded throughout; {threads}; env: {env_text or 'none set'}",
            f"- BLAS under NumPy: {numpy_blas()}"]










# ---------------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: 50 RNN steps, few repeats (smoke test)")
    parser.add_argument("--out", help="also write the report (Markdown) to this file, e.g. benchmarks/RESULTS.md")
    parser.add_argument("--steps", type=int, default=None, help="RNN length (default 1000, --quick 50)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 15, --quick 3)")
    parser.add_argument("--tinygrad", metavar="DIR", help="import tinygrad_rnn from DIR (a directory holding the "
                        "tinygrad_rnn package, e.g. a prototype copy) instead of this checkout")
    args = parser.parse_args(argv)

    steps = args.steps or (50 if args.quick else 1000)
    repeats = args.repeats or (3 if args.quick else 15)
    rnn_repeats = args.repeats or (3 if args.quick else 21)
    target = 0.002 if args.quick else 0.05  # seconds per repeat of a small op
    warmup = 2 if args.quick else 5
    hidden = 32
    if torch is not None:
        torch.set_num_threads(1)
    started = time.perf_counter()
    # Four frameworks' modules make every full collection of the cyclic GC cost ~0.1 s here, far more than in a
    # process that imports one of them, and it would land on whichever library happens to trigger it. Freezing
    # what exists now keeps the collector on (each library still pays for its own garbage) at a realistic price.
    gc.collect()
    gc.freeze()

    # 1 + 2: small ops
    rng = np.random.default_rng(1)
    cases = []
    for shape in ((1, 32), (64, 256)):
        for op in ("add", "mul", "tanh", "sigmoid"):
            a = rng.standard_normal(shape).astype(DTYPE)
            b = None if op in UNARY else rng.standard_normal(shape).astype(DTYPE)
            cases.append((op, f"{shape}" if op in UNARY else f"{shape} · {shape}", op, a, b))
    for m, k, n in ((1, 32, 32), (64, 256, 256)):
        a = rng.standard_normal((m, k)).astype(DTYPE)
        b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(DTYPE)
        cases.append(("matmul", f"({m}, {k}) @ ({k}, {n})", "matmul", a, b))
    small = []
    for label, shapes, op, a, b in cases:
        bodies = op_bodies(op, a, b)
        timings = measure(bodies, repeats, warmup, {lib: inner_for(body, target) for lib, body in bodies.items()})
        small.append((label, shapes, timings))
        gc.collect()
    elementwise = [r for r in small if r[0] != "matmul"]
    matmuls = [r for r in small if r[0] == "matmul"]

    # 3: RNN
    problem = rnn_problem(steps, hidden)
    bodies, grads = rnn_bodies(*problem)
    _, reference = numpy_bptt(*problem)
    errors = check_rnn_gradients(grads, reference)
    gc.collect()
    rnn = measure(bodies, rnn_repeats, 1 if args.quick else 2)
    elapsed = time.perf_counter() - started

    # report
    ops_per_step = 5
    check = ", ".join(f"{v} {e:.1e}" for v, e in errors.items())
    report = [
        "# tinygrad_rnn benchmarks: per-op overhead against PyTorch, HIPS autograd and mygrad",
        "",
        f"- date: {utc_date()}",
        *machine_info(),
        f"- command: `{command_line()}` (whole run {elapsed:.1f} s)",
        (f"- method: forward + backward per iteration, `time.perf_counter`, warm-up first, best of {repeats} repeats "
         f"(RNN: {rnn_repeats}), the libraries taking turns within each repeat; median in parentheses; garbage "
         "collector on, as for a user, with the objects that exist before timing (four frameworks' modules) frozen "
         "by `gc.freeze()` so that a full collection costs what it would with one framework loaded."),
        "",
        "## 1. One small elementwise op, forward + `.sum().backward()`",
        "",
        ("Time per iteration in µs, best (median); ratio = best / PyTorch's best (lower is better). "
         "HIPS autograd runs `grad(f)(x, y)`, which includes tracing; "
         "sigmoid there is `autograd.scipy.special.expit`."),
        "",
        small_op_table(elementwise),
        "",
        "## 2. One matmul, forward + `.sum().backward()`",
        "",
        small_op_table(matmuls),
        "",
        f"## 3. {steps}-step tanh RNN, H = {hidden}, batch 1, float32, forward + backward",
        "",
        (f"`h = tanh(x_t @ W_xh + h @ W_hh + b)` ({ops_per_step} primitive ops a step; `b` of shape (H,) broadcasts), "
         "loss = sum of the last h, gradients for W_xh, W_hh, b. `nn.RNN` is one call over the whole sequence. "
         "Gradients checked against hand-written NumPy BPTT (assert_allclose rtol 1e-4; "
         f"largest error relative to the gradient's max: {check})."),
        "",
        rnn_table(rnn, steps),
        "",
        "### Aims",
        "",
        *aims(rnn, steps),
        "",
    ]
    return publish(report, args.out, "ops.py")


if __name__ == "__main__":
    sys.exit(main())
