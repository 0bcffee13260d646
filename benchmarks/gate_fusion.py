#!/usr/bin/env python
"""Does a loop-fusing library make the fused LSTM step's gate math faster on CPU? Measured, not assumed.

The forward gate math of one LSTM step (B = 32, H = 256: the char-LM's sizes) four ways, same inputs, same
outputs (checked): the array code (``ops.recurrent.ArrayGates.lstm_cell``, about a dozen NumPy passes, the
reference), the library's compiled loop (``cpu_kernels.CompiledLoops.lstm_cell``, the default for float32 on
NumPy), a naive numba loop over B·H computing every gate at once with ``math.tanh``, and numexpr evaluating each
gate as one expression. Whichever of numba / numexpr is not installed is left out.

    .venv/bin/python benchmarks/gate_fusion.py            # pip install numexpr first, for all four rows
    .venv/bin/python benchmarks/gate_fusion.py --quick    # tiny sizes (smoke test)

The naive loop and numexpr fuse the passes but call the C library's scalar tanh for every element, where NumPy's
tanh is vectorised: on the 2-core Xeon (2026-12-04, numba 0.68.1, numexpr 2.14.2, NumPy 2.4.6) NumPy took 57 µs,
the naive loop 777 µs and numexpr 832 µs. The library's loop differs in three ways that each matter: its tanh is a
rational approximation that LLVM can vectorise (``cpu_kernels._tanh``); it compiles with ``error_model="numpy"``,
without which a loop holding a division is not vectorised at all; and it writes each gate to its own contiguous
block, so every load and store is unit-stride. Figures on the current machine: benchmarks/RESULTS_charlm.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygrad_rnn.ops.recurrent import ArrayGates  # noqa: E402


def best_microseconds(fn, repeats: int) -> float:
    fn()  # warm-up (numba compiles here)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def library_step():
    from tinygrad_rnn.cpu_kernels import CompiledLoops

    gates = CompiledLoops(np)
    return lambda *a: gates.lstm_cell(*a, (None, None, None), False, True)[:2]


def numba_step():
    import math

    import numba

    @numba.njit(fastmath=True)
    def step(gx, hw, bias, c, h_new, c_new):
        rows, n = c.shape
        for b in range(rows):
            for k in range(n):
                i = 0.5 + 0.5 * math.tanh(0.5 * (gx[b, k] + hw[b, k] + bias[k]))
                f = 0.5 + 0.5 * math.tanh(0.5 * (gx[b, n + k] + hw[b, n + k] + bias[n + k]))
                g = math.tanh(gx[b, 2 * n + k] + hw[b, 2 * n + k] + bias[2 * n + k])
                o = 0.5 + 0.5 * math.tanh(0.5 * (gx[b, 3 * n + k] + hw[b, 3 * n + k] + bias[3 * n + k]))
                c_new[b, k] = f * c[b, k] + i * g
                h_new[b, k] = o * math.tanh(c_new[b, k])

    def run(gx, hw, bias, c):
        h_new, c_new = np.empty_like(c), np.empty_like(c)
        step(gx, hw, bias, c, h_new, c_new)
        return h_new, c_new
    return run


def numexpr_step():
    import numexpr

    def run(gx, hw, bias, c):
        n = c.shape[1]
        pre = [gx[:, j * n:(j + 1) * n] + hw[:, j * n:(j + 1) * n] for j in range(4)]
        b = [bias[j * n:(j + 1) * n] for j in range(4)]
        sig = "0.5 + 0.5 * tanh(0.5 * (a + b))"
        i, f, o = (numexpr.evaluate(sig, {"a": pre[j], "b": b[j]}) for j in (0, 1, 3))
        c_new = numexpr.evaluate("f * c + i * tanh(a + b)", {"f": f, "c": c, "i": i, "a": pre[2], "b": b[2]})
        return numexpr.evaluate("o * tanh(c_new)", {"o": o, "c_new": c_new}), c_new
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (smoke test)")
    args = parser.parse_args(argv)
    batch, hidden, repeats = (2, 8, 3) if args.quick else (32, 256, 300)
    rng = np.random.default_rng(0)
    gx, hw = (rng.standard_normal((batch, 4 * hidden), dtype=np.float32) for _ in range(2))
    bias, c = rng.standard_normal(4 * hidden, dtype=np.float32), rng.standard_normal((batch, hidden), dtype=np.float32)
    gates = ArrayGates(np)
    reference = gates.lstm_cell(gx, hw, bias, c, (None, None, None), False, True)[:2]
    ways = {"NumPy (ArrayGates.lstm_cell)": lambda *a: gates.lstm_cell(*a, (None, None, None), False, True)[:2]}
    for name, make in (("library's compiled loop (CompiledLoops.lstm_cell)", library_step),
                       ("naive numba loop (math.tanh)", numba_step),
                       ("numexpr (one expression a gate)", numexpr_step)):
        try:
            ways[name] = make()
        except ImportError as exc:
            print(f"{name}: left out ({exc})")
    print(f"forward gate math of one LSTM step, B = {batch}, H = {hidden}, float32, best of {repeats}\n")
    print("| way | µs a step | largest difference from NumPy |\n|---|---:|---:|")
    for name, run in ways.items():
        difference = max(float(np.abs(got - want).max()) for got, want in zip(run(gx, hw, bias, c), reference))
        assert difference < 1e-5, f"{name} computes another step ({difference})"
        print(f"| {name} | {best_microseconds(lambda run=run: run(gx, hw, bias, c), repeats):.1f} | {difference:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
