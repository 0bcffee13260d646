#!/usr/bin/env python
"""Per-op overhead of tinygrad_rnn, side by side with PyTorch eager, HIPS autograd and mygrad, each library in its
own process (the method of ``benchmarks/harness.py``).

What is timed is always forward + backward (``time.perf_counter``, warm-up first, the median of N repeats). Three
groups:

1. one small elementwise op (add, mul, tanh, sigmoid) on (1, 32) and (64, 256) float32, then ``.sum().backward()``;
2. one matmul, (1, 32) @ (32, 32) and (64, 256) @ (256, 256), then ``.sum().backward()``;
3. the one that matters: a 1000-step tanh RNN, H = 32, batch 1, written as a loop of primitive ops
   ``h = tanh(x_t @ W_xh + h @ W_hh + b)``, loss = sum of the last h, forward + backward. Versions: tinygrad_rnn,
   PyTorch eager (the same ops), PyTorch ``nn.RNN`` (one call), HIPS autograd, mygrad, and hand-written NumPy BPTT
   (the floor, a worker of its own). ``--check`` checks every version's gradients against the NumPy BPTT
   gradients (assert_allclose), in a process of its own.

Ratios are what matter: every time is also given relative to PyTorch's primitive loop (and to ``nn.RNN``), pair
by pair.

    .venv/bin/python benchmarks/ops.py                      # full run, 5 rounds, prints the tables
    .venv/bin/python benchmarks/ops.py --out benchmarks/RESULTS.md
    .venv/bin/python benchmarks/ops.py --quick              # seconds: fewer steps and repeats, one round
    .venv/bin/python benchmarks/ops.py --check --quick      # the gradient check only

PyTorch, HIPS autograd and mygrad are optional: a library that is not installed gets no worker and shows as "n/a".
"""
from __future__ import annotations

import os
import sys

import harness  # benchmarks/ is on sys.path when a script in it runs

harness.start()  # a worker loads its own library only; this checkout first on sys.path

import gc
import importlib.util

import numpy as np

# --tinygrad DIR benchmarks another copy of the library (a prototype, another checkout) against the same baselines.
LIB_ROOT = os.path.abspath(harness.option_from_argv("--tinygrad") or harness.REPO)
sys.path.insert(0, LIB_ROOT)
import tinygrad_rnn as tr
from environment import inner_for, measure

torch = harness.import_torch()  # None in the other workers
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
HIDDEN = 32
AIM_VS_LOOP = 0.6  # the project's aim: at most this × PyTorch's primitive loop
LIBS = ("tinygrad_rnn", "PyTorch", "HIPS autograd", "mygrad")
# the workers (harness.LIBRARY_MODULES names) and the prefix of the versions each one times
WORKERS = {"tinygrad": "tinygrad_rnn", "torch": "PyTorch", "autograd": "HIPS autograd", "mygrad": "mygrad",
           "numpy": "NumPy"}
WORKER_MODULES = {"torch": "torch", "autograd": "autograd", "mygrad": "mygrad"}
RNN_OURS = "tinygrad_rnn loop"
RNN_COMPARISONS = [(RNN_OURS, "PyTorch loop", "time"), (RNN_OURS, "PyTorch nn.RNN", "time"),
                   ("HIPS autograd loop", "PyTorch loop", "time"), ("mygrad loop", "PyTorch loop", "time"),
                   ("NumPy hand BPTT", "PyTorch loop", "time")]


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


def _primitive_loop(problem, tensor, parameter, host) -> tuple:
    """The same loop of primitive ops for any library whose tensors spell @, + and .tanh() alike: its body and its
    gradients function."""
    xs, w_xh, w_hh, b, h0 = problem
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


def _torch_nn_rnn(problem) -> tuple:
    """PyTorch's nn.RNN holding the same weights, one call over the sequence: its body and its gradients function."""
    xs, w_xh, w_hh, b, h0 = problem
    rnn = torch.nn.RNN(xs.shape[2], w_hh.shape[0], nonlinearity="tanh")
    with torch.no_grad():  # the same numbers: nn.RNN computes x W_ih^T + b_ih + h W_hh^T + b_hh
        rnn.weight_ih_l0.copy_(torch.tensor(w_xh.T))
        rnn.weight_hh_l0.copy_(torch.tensor(w_hh.T))
        rnn.bias_ih_l0.copy_(torch.tensor(b))
        rnn.bias_hh_l0.zero_()
    seq = torch.tensor(xs)  # (T, batch, input)
    ph0_3d = torch.tensor(h0[None])

    def body():
        rnn.zero_grad(set_to_none=True)
        _, h_n = rnn(seq, ph0_3d)
        h_n.sum().backward()

    return body, lambda: (body(), (rnn.weight_ih_l0.grad.numpy().T, rnn.weight_hh_l0.grad.numpy().T,
                                   rnn.bias_ih_l0.grad.numpy()))[1]


def _autograd_loop(problem) -> tuple:
    """HIPS autograd's grad of the loop (tracing included in every call): its body, which is its gradients
    function."""
    xs, w_xh, w_hh, b, h0 = problem

    def loss(w_xh_, w_hh_, b_):
        h = h0
        for x in xs:
            h = anp.tanh(anp.matmul(x, w_xh_) + anp.matmul(h, w_hh_) + b_)
        return anp.sum(h)

    gradients = agrad(loss, argnum=(0, 1, 2))
    body = lambda: gradients(w_xh, w_hh, b)
    return body, body


def _mygrad_loop(problem) -> tuple:
    """mygrad's loop of primitive ops: its body and its gradients function."""
    xs, w_xh, w_hh, b, h0 = problem
    mxs = [mg.tensor(x, constant=True) for x in xs]
    mw_xh, mw_hh, mb = (mg.tensor(a) for a in (w_xh, w_hh, b))
    mh0 = mg.tensor(h0, constant=True)

    def body():
        h = mh0
        for x in mxs:
            h = mg.tanh(mg.matmul(x, mw_xh) + mg.matmul(h, mw_hh) + mb)
        mg.sum(h).backward()

    return body, lambda: (body(), (mw_xh.grad, mw_hh.grad, mb.grad))[1]


def rnn_bodies(xs, w_xh, w_hh, b, h0) -> tuple[dict, dict]:
    """Forward+backward closures of the RNN per version, and a function per version returning its gradients."""
    problem = xs, w_xh, w_hh, b, h0
    versions = {"tinygrad_rnn loop": _primitive_loop(problem, tr.tensor, lambda a: tr.tensor(a, requires_grad=True),
                                                     lambda g: g)}
    if torch is not None:
        versions["PyTorch loop"] = _primitive_loop(problem, torch.tensor,
                                                   lambda a: torch.tensor(a, requires_grad=True), lambda g: g.numpy())
        versions["PyTorch nn.RNN"] = _torch_nn_rnn(problem)
    if autograd is not None:
        versions["HIPS autograd loop"] = _autograd_loop(problem)
    if mg is not None:
        versions["mygrad loop"] = _mygrad_loop(problem)
    versions["NumPy hand BPTT"] = (lambda: numpy_bptt(*problem), lambda: numpy_bptt(*problem)[1])
    return {name: body for name, (body, _) in versions.items()}, {name: g for name, (_, g) in versions.items()}


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
# the worker and the check
def small_cases() -> list:
    """(label, shapes, op, a, b) of groups 1 and 2."""
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
    return cases


def small_key(lib: str, label: str, shapes: str) -> str:
    return f"{lib} | {label} {shapes}"


def worker(args, steps: int) -> int:
    """Time this process's library (``args.only``): the small ops, then the RNN versions; one RESULT line."""
    harness.apply_threads(torch, args.threads)
    mine = WORKERS[args.only]
    results = {}
    gc.collect()
    for label, shapes, op, a, b in small_cases() if args.only != "numpy" else ():
        bodies = {lib: body for lib, body in op_bodies(op, a, b).items() if lib == mine}
        timings = measure(bodies, args.repeats, args.warmup,
                          {lib: inner_for(body, args.target) for lib, body in bodies.items()})
        results.update({small_key(lib, label, shapes): harness.result(t.samples) for lib, t in timings.items()})
    bodies, _ = rnn_bodies(*rnn_problem(steps, HIDDEN))
    bodies = {name: body for name, body in bodies.items() if name.startswith(mine)}
    gc.collect()
    timings = measure(bodies, args.rnn_repeats, 1 if args.quick else 2)
    results.update({name: harness.result(t.samples, steps, "steps") for name, t in timings.items()})
    return harness.emit(args.only, results, threads=harness.threads_note(torch), versions=harness.versions(torch))


def check(steps: int) -> int:
    """Every version's RNN gradients against hand-written BPTT, in this one process."""
    problem = rnn_problem(steps, HIDDEN)
    _, grads = rnn_bodies(*problem)
    errors = check_rnn_gradients(grads, numpy_bptt(*problem)[1])
    print(f"check passed ({steps}-step RNN, H = {HIDDEN}): gradients against hand-written NumPy BPTT, largest "
          "error relative to the gradient's max: " + ", ".join(f"{v} {e:.1e}" for v, e in errors.items()))
    return 0


def available_workers() -> tuple:
    """The workers whose library is installed (tinygrad_rnn's and NumPy's always are)."""
    return tuple(w for w in WORKERS if w not in WORKER_MODULES or importlib.util.find_spec(WORKER_MODULES[w]))


# ---------------------------------------------------------------------------------------------------------------
# reporting
def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 1000 else f"{us:.1f}" if us >= 10 else f"{us:.2f}"


def small_op_table(runs: list, cases: list) -> str:
    """Per op: each library's median µs over the rounds, and its time ÷ PyTorch's, median [min – max] of pairs."""
    header = ["op", "shapes"] + [f"{lib} µs" for lib in LIBS] + [f"{lib} ÷ PyTorch" for lib in LIBS
                                                                 if lib != "PyTorch"]
    rows = []
    for label, shapes in cases:
        keys = {lib: small_key(lib, label, shapes) for lib in LIBS}
        summary = harness.summarise(runs, [(keys[lib], keys["PyTorch"], "time") for lib in LIBS if lib != "PyTorch"])
        row = [label, shapes]
        for lib in LIBS:
            stats = summary["seconds"].get(keys[lib])
            row.append(fmt_us(stats["median"]) if stats else "n/a")
        for lib in LIBS:
            if lib != "PyTorch":
                stats = summary["ratios"].get(harness.label(keys[lib], keys["PyTorch"], "time"))
                row.append(f"{stats['median']:.2f}× [{stats['min']:.2f} – {stats['max']:.2f}]" if stats else "n/a")
        rows.append(row)
    return harness.markdown_table(header, rows)


def aims(summary: dict, steps: int) -> list[str]:
    lines = []
    for theirs, met, text in (("PyTorch loop", lambda r: r <= AIM_VS_LOOP,
                               f"at most {AIM_VS_LOOP}× PyTorch's primitive loop"),
                              ("PyTorch nn.RNN", lambda r: r < 1.0, "below nn.RNN")):
        lines.append(harness.aim_line(f"tinygrad_rnn loop {text}", summary, (RNN_OURS, theirs, "time"), met,
                                      " the time"))
    ours, floor = summary["seconds"].get(RNN_OURS), summary["seconds"].get("NumPy hand BPTT")
    if ours and floor:
        lines.append(f"- floor, hand-written NumPy BPTT: {floor['median'] / steps * 1e6:.1f} µs/step (median); "
                     f"tinygrad_rnn {(ours['median'] - floor['median']) / steps * 1e6:.1f} µs/step above it")
    return lines


def report(session: dict, args, steps: int) -> list[str]:
    runs = session["runs"]
    cases = [(label, shapes) for label, shapes, *_ in small_cases()]
    summary = harness.summarise(runs, RNN_COMPARISONS)
    versions = [v for v in summary["seconds"] if " | " not in v]
    comparisons = [c for c in RNN_COMPARISONS if c[0] in versions and c[1] in versions]
    lines = harness.report_head("tinygrad_rnn benchmarks: per-op overhead against PyTorch, HIPS autograd and "
                                "mygrad", session,
                                f"times every small op ({args.warmup} warm-up calls, then the median of "
                                f"{args.repeats} repeats of ~{args.target * 1e3:g} ms each) and every RNN version "
                                f"of its library (the median and the mean of {args.rnn_repeats} runs)")
    lines += ["", "## 1. One small elementwise op, forward + `.sum().backward()`", "",
              ("Time per iteration in µs, the median over the rounds of each worker's median; ratio = time ÷ "
               "PyTorch's in the same round, median [min – max] over the pairs (lower is better). HIPS autograd "
               "runs `grad(f)(x, y)`, which includes tracing; sigmoid there is `autograd.scipy.special.expit`."), "",
              small_op_table(runs, [c for c in cases if c[0] != "matmul"]), "",
              "## 2. One matmul, forward + `.sum().backward()`", "",
              small_op_table(runs, [c for c in cases if c[0] == "matmul"]), "",
              f"## 3. {steps}-step tanh RNN, H = {HIDDEN}, batch 1, float32, forward + backward", "",
              ("`h = tanh(x_t @ W_xh + h @ W_hh + b)` (5 primitive ops a step; `b` of shape (H,) broadcasts), "
               "loss = sum of the last h, gradients for W_xh, W_hh, b. `nn.RNN` is one call over the whole "
               "sequence. Per round: ms per run; ratios are time ÷ time in the same round (lower is better for the "
               "first). Gradients are checked against hand-written NumPy BPTT by `--check`."), "",
              harness.pair_table(runs, versions, comparisons), "", "### Aims", "", *aims(summary, steps), ""]
    return lines


# ---------------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = harness.parser(__doc__, tuple(WORKERS), rounds=5, out="benchmarks/RESULTS.md")
    parser.add_argument("--steps", type=int, default=None, help="RNN length (default 1000, --quick 50)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement "
                        "(default 9, RNN 15; --quick 3)")
    parser.add_argument("--tinygrad", metavar="DIR", help="import tinygrad_rnn from DIR (a directory holding the "
                        "tinygrad_rnn package, e.g. a prototype copy) instead of this checkout")
    args = parser.parse_args(argv)
    steps = args.steps or (50 if args.quick else 1000)
    args.rnn_repeats = args.repeats or (3 if args.quick else 15)
    args.repeats = args.repeats or (3 if args.quick else 9)
    args.target = 0.002 if args.quick else 0.05  # seconds per repeat of a small op
    args.warmup = 2 if args.quick else 5
    return harness.dispatch(args, __file__, available_workers(), lambda: check(steps), lambda: worker(args, steps),
                            lambda session: report(session, args, steps), argv)


if __name__ == "__main__":
    sys.exit(main())
