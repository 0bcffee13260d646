#!/usr/bin/env python
"""Is a GRU step faster than an LSTM step? The fused GRU and LSTM layers, forward + backward, at the same H and B,
in tinygrad_rnn and in PyTorch (``nn.GRU`` / ``nn.LSTM``), each library in its own process (the method of
``benchmarks/harness.py``).

One call = a one-layer layer (input size = H) over T = 50 steps of a (T, B, H) float32 input, loss = the sum of
all outputs, backward to the weights; the time per step is the call's / T. Sizes H ∈ {64, 256}, B ∈ {1, 32}.
A GRU step does three gates' work (r, z, n) where an LSTM does four (i, f, g, o) and carries one state instead of
two, so the lecture's claim predicts about 3/4 of the LSTM's matmul work; what the step costs besides the matmuls
(the gate arithmetic, the per-step node) decides how much of that shows.

``--check`` compares both libraries' outputs and gradients from the same weights, in a process of its own.

    .venv/bin/python benchmarks/gru_lstm.py                        # 5 rounds, prints the tables
    .venv/bin/python benchmarks/gru_lstm.py --out benchmarks/RESULTS_gru_lstm.md
    .venv/bin/python benchmarks/gru_lstm.py --quick                # tiny sizes, one round (smoke test)
    .venv/bin/python benchmarks/gru_lstm.py --check --quick        # correctness only
"""
from __future__ import annotations

import sys

import harness  # benchmarks/ is on sys.path when a script in it runs

harness.start()  # a worker loads its own library only; this checkout first on sys.path

import gc

import numpy as np

import tinygrad_rnn as tr
from environment import inner_for, measure

torch = harness.import_torch()  # None in the other workers

LIBS = ("tinygrad", "torch")
NAMES = {"tinygrad": "tinygrad_rnn", "torch": "PyTorch"}
CELLS = ("GRU", "LSTM")
FULL = dict(sizes=[(64, 1), (64, 32), (256, 1), (256, 32)], steps=50, repeats=7, target=0.2)
QUICK = dict(sizes=[(8, 1), (8, 4)], steps=5, repeats=2, target=0.005)


def version(lib: str, cell: str, hidden: int, batch: int) -> str:
    return f"{NAMES[lib]} {cell} H={hidden} B={batch}"


def comparisons(sizes: list) -> list:
    """Per size: GRU ÷ LSTM time within each library, then tinygrad_rnn ÷ PyTorch time for each cell."""
    out = []
    for hidden, batch in sizes:
        out += [(version(lib, "GRU", hidden, batch), version(lib, "LSTM", hidden, batch), "time") for lib in LIBS]
        out += [(version("tinygrad", cell, hidden, batch), version("torch", cell, hidden, batch), "time")
                for cell in CELLS]
    return out


def inputs(steps: int, hidden: int, batch: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((steps, batch, hidden)).astype(np.float32)


def layer_body(lib: str, cell: str, x_np: np.ndarray, layer=None):
    """A closure running ``layer(x)``, ``out.sum().backward()`` with the gradients reset first; and the layer."""
    hidden = x_np.shape[2]
    if lib == "tinygrad":
        layer = layer or getattr(tr.nn, cell)(hidden, hidden)
        x = tr.tensor(x_np)
    else:
        layer = layer or getattr(torch.nn, cell)(hidden, hidden)
        x = torch.from_numpy(x_np)

    def body():
        layer.zero_grad()
        out, _ = layer(x)
        out.sum().backward()
        return out

    return body, layer


def worker(args, plan: dict) -> int:
    """Time both cells at every size in this process's library; one RESULT line."""
    harness.apply_threads(torch, args.threads)
    if args.only == "tinygrad":
        tr.manual_seed(0)
    else:
        torch.manual_seed(0)
    results = {}
    for hidden, batch in plan["sizes"]:
        x = inputs(plan["steps"], hidden, batch)
        bodies = {version(args.only, cell, hidden, batch): layer_body(args.only, cell, x)[0] for cell in CELLS}
        gc.collect()
        inner = {name: inner_for(body, plan["target"]) for name, body in bodies.items()}
        timings = measure(bodies, plan["repeats"], 2, inner)
        results.update({name: harness.result(t.samples, plan["steps"], "steps") for name, t in timings.items()})
    return harness.emit(args.only, results, threads=harness.threads_note(torch), versions=harness.versions(torch))


def check(plan: dict) -> int:
    """Outputs and weight gradients of tinygrad_rnn's fused layers against PyTorch's from the same weights."""
    if torch is None:
        raise SystemExit("gru_lstm.py --check needs PyTorch (the reference)")
    worst = {}
    for hidden, batch in plan["sizes"]:
        x = inputs(plan["steps"], hidden, batch)
        for cell in CELLS:
            torch.manual_seed(0)
            theirs_body, theirs = layer_body("torch", cell, x)
            ours_body, ours = layer_body("tinygrad", cell, x)
            ours.load_state_dict(theirs.state_dict())
            np.testing.assert_allclose(ours_body().numpy(), theirs_body().detach().numpy(), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{cell} H={hidden} B={batch}: outputs differ")
            grads = dict(ours.named_parameters())
            for key, p in theirs.named_parameters():
                expected = p.grad.numpy()
                scale = float(np.abs(expected).max()) or 1.0
                np.testing.assert_allclose(grads[key].grad, expected, rtol=1e-3, atol=1e-4 * scale,
                                           err_msg=f"{cell} H={hidden} B={batch}: gradient of {key} differs")
                error = float(np.abs(grads[key].grad - expected).max()) / scale
                worst[cell] = max(worst.get(cell, 0.0), error)
    print(f"check passed: fused GRU and LSTM layers, outputs and every weight gradient against PyTorch's from the "
          f"same weights at {plan['sizes']}, T = {plan['steps']}; largest gradient error relative to the gradient's "
          "max: " + ", ".join(f"{cell} {e:.1e}" for cell, e in worst.items()))
    return 0


def answer(summary: dict, sizes: list) -> list:
    """One line per size: GRU ÷ LSTM in each library, and each library's µs per step."""
    lines = []
    for hidden, batch in sizes:
        parts = []
        for lib in LIBS:
            ratio = summary["ratios"].get(harness.label(version(lib, "GRU", hidden, batch),
                                                        version(lib, "LSTM", hidden, batch), "time"))
            steps = [summary["seconds"].get(version(lib, cell, hidden, batch)) for cell in CELLS]
            if ratio is None or None in steps:
                parts.append(f"{NAMES[lib]} n/a")
                continue
            parts.append(f"{NAMES[lib]} GRU ÷ LSTM {ratio['median']:.2f}× [{ratio['min']:.2f} – {ratio['max']:.2f}]")
        lines.append(f"- H = {hidden}, B = {batch}: " + "; ".join(parts))
    return lines


def report(session: dict, plan: dict) -> list:
    runs = session["runs"]
    pairs = comparisons(plan["sizes"])
    summary = harness.summarise(runs, pairs)
    lines = harness.report_head("tinygrad_rnn benchmark: a GRU step against an LSTM step", session,
                                f"times both cells at every size, each call repeated for ~{plan['target'] * 1e3:g} "
                                f"ms, the median and the mean of {plan['repeats']} repeats")
    lines += [f"- one call: a one-layer fused layer (input size = H) over T = {plan['steps']} steps, loss = sum of "
              "all outputs, backward; tinygrad_rnn `nn.GRU` / `nn.LSTM` (fused, the default) against PyTorch's; "
              "float32", "", "## Answer: GRU ÷ LSTM time per step (lower: the GRU is faster)", "",
              *answer(summary, plan["sizes"]), ""]
    for hidden, batch in plan["sizes"]:
        names = [version(lib, cell, hidden, batch) for lib in LIBS for cell in CELLS]
        here = [c for c in pairs if c[0] in names]
        lines += [f"## H = {hidden}, B = {batch}: ms per call ({plan['steps']} steps), ratios of time", "",
                  harness.pair_table(runs, names, here, short=lambda n: n.rsplit(" H=", 1)[0]), ""]
    return lines


def main(argv=None) -> int:
    parser = harness.parser(__doc__, LIBS, rounds=5, out="benchmarks/RESULTS_gru_lstm.md")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    return harness.dispatch(args, __file__, LIBS, lambda: check(plan), lambda: worker(args, plan),
                            lambda session: report(session, plan), argv)


if __name__ == "__main__":
    sys.exit(main())
