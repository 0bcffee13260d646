#!/usr/bin/env python
"""Where the time of one char-LM training step goes (forward + backward + Adam), in shares, not speeds.

The model and sizes are ``benchmarks/charlm.py``'s (Embedding V = 100, E = 64 → LSTM or GRU H = 256 → Linear,
B = 32, T = 100, Adam). Chosen functions are wrapped with a wall-clock timer (inclusive time, so a row's time
holds the rows called inside it), and their shares of the whole step are printed as a Markdown table. The gate
arithmetic is timed on its own (the ``lstm_cell`` / ``gru_cell`` methods of whichever gates the backend hands
the fused ops); the matmuls of a step are what ``LSTMStep.forward`` / ``backward`` spend beyond them, and the
weight gradients of all steps are the one matmul per weight of ``autograd._finish_leaves``.

    .venv/bin/python benchmarks/profile_step.py                  # LSTM
    .venv/bin/python benchmarks/profile_step.py --cell gru
    .venv/bin/python benchmarks/profile_step.py --quick          # tiny sizes, two steps (smoke test)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn import autograd, backend, optim  # noqa: E402
from tinygrad_rnn.ops import recurrent  # noqa: E402
from tinygrad_rnn.ops.matmul import Linear  # noqa: E402

SIZES = dict(vocab=100, embed=64, hidden=256, batch=32, steps=100)
QUICK_SIZES = dict(vocab=10, embed=4, hidden=8, batch=2, steps=5)


class Timers:
    """Inclusive wall time per wrapped function, summed over the calls."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        inner = getattr(owner, name)
        seconds, calls, clock = self.seconds, self.calls, time.perf_counter
        seconds[label], calls[label] = 0.0, 0

        def timed(*args, **kwargs):
            start = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[label] += clock() - start
                calls[label] += 1

        setattr(owner, name, timed)

    def reset(self) -> None:
        for label in self.seconds:
            self.seconds[label], self.calls[label] = 0.0, 0


def build(cell: str, sizes: dict):
    tr.manual_seed(0)
    layer = tr.nn.LSTM if cell == "lstm" else tr.nn.GRU
    embed, rnn = tr.nn.Embedding(sizes["vocab"], sizes["embed"]), layer(sizes["embed"], sizes["hidden"])
    out = tr.nn.Linear(sizes["hidden"], sizes["vocab"])
    params = [*embed.parameters(), *rnn.parameters(), *out.parameters()]
    rng = __import__("numpy").random.default_rng(0)
    tokens_np = rng.integers(0, sizes["vocab"], size=(sizes["steps"], sizes["batch"]))
    tokens, targets = tr.tensor(tokens_np), tr.tensor(tokens_np[::-1].copy()).reshape(-1)
    return embed, rnn, out, params, tokens, targets


def instrument(timers: Timers, cell: str) -> None:
    gates = type(recurrent.gates_for(backend.get_backend("cpu").xp, tr.zeros(1).data))
    step = recurrent.LSTMStep if cell == "lstm" else recurrent.GRUStep
    timers.wrap(step, "forward", f"{step.__name__}.forward (h W_hhᵀ + gate math)")
    timers.wrap(step, "backward", f"{step.__name__}.backward (d_gates W_hh + gate math)")
    timers.wrap(gates, f"{cell}_cell", f"  of which gate math forward ({gates.__name__}.{cell}_cell)")
    timers.wrap(gates, f"{cell}_cell_backward", f"  of which gate math backward ({gates.__name__}."
                                                f"{cell}_cell_backward)")
    timers.wrap(Linear, "forward", "Linear.forward (input projection, read-out)")
    timers.wrap(Linear, "backward", "Linear.backward")
    timers.wrap(autograd, "_finish_leaves", "weight gradients of all steps, one matmul per weight")
    timers.wrap(optim.Adam, "_update", "Adam (every parameter)")


def run(cell: str, repeats: int, sizes: dict = SIZES) -> list[str]:
    """The step's parts as Markdown table rows: median milliseconds over ``repeats`` steps after two warm-ups."""
    timers = Timers()
    instrument(timers, cell)
    embed, rnn, out, params, tokens, targets = build(cell, sizes)
    adam = tr.optim.Adam(params, lr=1e-3)
    phases = {"forward + loss": [], "backward": [], "Adam step": [], "whole step": []}
    totals: dict[str, list] = {label: [] for label in timers.seconds}
    clock = time.perf_counter
    for i in range(repeats + 2):
        timers.reset()
        t0 = clock()
        adam.zero_grad()
        hidden, _ = rnn(embed(tokens))
        loss = tr.cross_entropy(out(hidden).reshape(-1, sizes["vocab"]), targets)
        t1 = clock()
        loss.backward()
        t2 = clock()
        adam.step()
        t3 = clock()
        if i < 2:
            continue  # warm-up
        for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            phases[name].append(seconds)
        for label, seconds in timers.seconds.items():
            totals[label].append(seconds)
    whole = statistics.median(phases["whole step"])
    lines = [f"{cell.upper()} step, B = {sizes['batch']}, T = {sizes['steps']}, H = {sizes['hidden']}: median "
             f"{whole * 1e3:.1f} ms over {repeats} steps", "", "| part | ms / step | share |", "|---|---:|---:|"]
    for name, samples in list(phases.items()) + list(totals.items()):
        ms = statistics.median(samples) * 1e3
        lines.append(f"| {name} | {ms:.1f} | {ms / (whole * 1e3):.0%} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, two steps (smoke test)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    print("\n".join(run(args.cell, 2 if args.quick else args.repeats, QUICK_SIZES if args.quick else SIZES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
