#!/usr/bin/env python
"""How long drawing an unrolled graph takes: tracing, collapsing, emitting DOT, and Graphviz's own layout.

A 1,000-step LSTM (H = 32, B = 4, input 32, one layer, loss on the last step) is traced after its backward pass,
with explicit gates (``fused=False``) and with the fused step, and drawn at each level — ``op``, ``cell``,
``layer`` — forcing the level (no automatic collapse) to time it. ``dot -Tsvg`` runs where the drawing has at most
``--dot-limit`` nodes; above that it would take minutes, and the table says so. A second table times ``dot`` on
smaller unrolled LSTMs against the number of nodes drawn: where the automatic collapse threshold
(``viz.dot.MAX_NODES``) comes from.

    .venv/bin/python benchmarks/viz.py --out benchmarks/RESULTS_viz.md
    .venv/bin/python benchmarks/viz.py --quick          # 100 steps, a few seconds (smoke test)
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

# this file is named like the viz package: take its folder off the path while the package is imported
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
import numpy as np  # noqa: E402

import tinygrad_rnn as tr  # noqa: E402
from viz import dot  # noqa: E402

sys.path.insert(0, HERE)
from environment import command_line, cpu_line, library_origin, publish, utc_date  # noqa: E402


def best(fn, repeats: int) -> tuple:
    """(best seconds of ``repeats`` calls, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def lstm_loss(steps: int, fused: bool, hidden: int = 32, batch: int = 4, layers: int = 1, inputs: int = 32):
    tr.manual_seed(0)
    layer = tr.nn.LSTM(inputs, hidden, num_layers=layers, fused=fused)
    out, _ = layer(tr.randn(steps, batch, inputs))
    loss = out[-1].sum()
    loss.backward()
    return loss


def drawn_nodes(graph, level: str) -> int:
    return dot._drawn_size(graph, level, limit=10**9)


def layout_seconds(source: str, timeout: float) -> str:
    start = time.perf_counter()
    try:
        subprocess.run(["dot", "-Tsvg", "-o", os.devnull], input=source, text=True, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"> {timeout:g} s (stopped)"
    return f"{time.perf_counter() - start:.2f} s"


def level_rows(steps: int, repeats: int, dot_limit: int, timeout: float) -> list:
    rows = []
    for fused in (False, True):
        loss = lstm_loss(steps, fused)
        trace_s, graph = best(lambda loss=loss: tr.graph.trace(loss), repeats)
        for level in dot.LEVELS:
            collapse_s, small = best(lambda graph=graph, level=level: graph.collapse(level), repeats)
            emit_s, source = best(lambda small=small, level=level: dot.to_dot(small, level=level, max_nodes=10**9),
                                  repeats)
            drawn = drawn_nodes(small, level)
            if not dot.dot_available():
                layout = "no dot"
            elif drawn > dot_limit:
                layout = f"skipped: {drawn:,} nodes would take minutes"
            else:
                layout = layout_seconds(source, timeout)
            rows.append((f"fused={fused}", f"{len(graph):,}", f"{trace_s * 1e3:.0f}", level, f"{len(small):,}",
                         f"{drawn:,}", f"{collapse_s * 1e3:.0f}", f"{emit_s * 1e3:.0f}", f"{len(source) / 1024:.0f}",
                         layout))
    return rows


def calibration_rows(sizes, timeout: float) -> list:
    rows = []
    for level, steps in sizes:
        graph = tr.graph.trace(lstm_loss(steps, fused=False, hidden=8, batch=2, layers=2, inputs=4)).collapse(level)
        source = dot.to_dot(graph, level=level, max_nodes=10**9)
        layout = layout_seconds(source, timeout) if dot.dot_available() else "no dot"
        rows.append((level, f"{steps}", f"{len(graph):,}", f"{drawn_nodes(graph, level):,}", layout))
    return rows


def table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def dot_version() -> str:
    if not dot.dot_available():
        return "not installed"
    out = subprocess.run(["dot", "-V"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs for trace / collapse / DOT")
    parser.add_argument("--dot-limit", type=int, default=8000, help="run dot only on drawings this small")
    parser.add_argument("--timeout", type=float, default=180.0, help="stop dot after this many seconds")
    parser.add_argument("--quick", action="store_true", help="100 steps, small calibration (a smoke test)")
    parser.add_argument("--out", help="write the Markdown report here (notes below the marker are kept)")
    args = parser.parse_args(argv)
    steps = 100 if args.quick else args.steps
    sizes = [("op", 5), ("cell", 20)] if args.quick else \
        [("op", 10), ("op", 20), ("op", 40), ("op", 60), ("op", 80), ("cell", 100), ("cell", 200), ("cell", 300)]
    start = time.perf_counter()
    levels = level_rows(steps, args.repeats, args.dot_limit, args.timeout)
    calibration = calibration_rows(sizes, args.timeout)
    lines = ["# tinygrad_rnn benchmark: drawing unrolled graphs", "",
             f"- date: {utc_date()}",
             f"- tinygrad_rnn: {library_origin(tr)}",
             cpu_line(),
             f"- versions: Python {platform.python_version()}, numpy {np.__version__}, Graphviz: {dot_version()}",
             f"- command: `{command_line()}` (whole run {time.perf_counter() - start:.1f} s)",
             f"- model: one-layer LSTM, H = 32, B = 4, input 32, {steps} steps, loss on the last step, after "
             "backward; times are the best of "
             f"{args.repeats} runs (`time.perf_counter`), `dot -Tsvg` once; `viz.dot.MAX_NODES` = {dot.MAX_NODES}",
             "- columns: graph nodes (op level) and the time to trace them; per level the nodes of the collapsed "
             "graph, the nodes drawn (with the per-step copies of shared weights and stubs), the time to collapse "
             "and to emit DOT, the DOT size, and dot's layout time", ""]
    lines += table(("LSTM", "nodes", "trace ms", "level", "level nodes", "drawn", "collapse ms", "DOT ms", "DOT KiB",
                    "dot layout"), levels)
    lines += ["", "### dot's layout time against the size of the drawing (2-layer LSTM, H = 8, B = 2, fused=False)",
              ""]
    lines += table(("level", "steps", "graph nodes", "drawn nodes", "dot -Tsvg"), calibration)
    return publish(lines + [""], args.out, "viz.py")


if __name__ == "__main__":
    raise SystemExit(main())
