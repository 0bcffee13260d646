#!/usr/bin/env python
"""Training throughput of a character-level LSTM language model: tinygrad_rnn against PyTorch, in one run.

One training step is what a char-LM spends its time on: Embedding (V = 100, E = 64) → LSTM (H = 256) → Linear
(H → V) over a batch of B = 32 chunks of T = 100 characters, cross-entropy over all T·B positions, backward, one
Adam step. Throughput = T·B / (seconds per step), in characters ("tokens") per second. Versions, all float32 with the
same initial weights (PyTorch's, loaded into tinygrad_rnn by name):

- tinygrad_rnn, ``nn.LSTM`` with the fused cell (one node per step — the default);
- tinygrad_rnn, ``nn.LSTM(fused=False)`` (every gate its own node: the granularity for pictures, for reference);
- PyTorch ``nn.LSTM`` (one call over the whole sequence; its CPU kernel loops in C++);
- PyTorch, a Python loop over ``nn.LSTMCell`` (the same unrolled loop tinygrad_rnn runs).

Before timing, the first step's loss and gradients of every version are checked against PyTorch ``nn.LSTM``'s.

Threads: two for everyone, set before NumPy and PyTorch load (an explicit environment setting wins): PyTorch gets
``torch.set_num_threads(2)``; NumPy's BLAS (OpenBLAS) gets ``OPENBLAS_NUM_THREADS=2`` (and OMP/MKL likewise). That is
as fair as it gets and not perfectly symmetric: NumPy runs its elementwise ufuncs on one thread whatever the setting,
while PyTorch also spreads large elementwise kernels over its threads; the matmuls — most of the work here — use
two threads on both sides. Idle threads of both pools sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``,
``OPENBLAS_THREAD_TIMEOUT=4``), because the versions alternate step by step on the same cores.

    .venv/bin/python benchmarks/charlm.py                                   # full sizes, prints the table
    .venv/bin/python benchmarks/charlm.py --out benchmarks/RESULTS_charlm.md
    .venv/bin/python benchmarks/charlm.py --quick                           # tiny sizes, a few seconds (smoke test)
    .venv/bin/python benchmarks/charlm.py --profile                         # + cProfile of tinygrad_rnn's step

PyTorch is optional: without it only tinygrad_rnn is timed and the ratios show as "n/a".
"""
from __future__ import annotations

import os

import threads as thread_pools  # benchmarks/ is on sys.path when a script in it runs

# Two threads for every BLAS / OpenMP pool, idle workers asleep, set before NumPy or PyTorch load them.
THREADS = 2
thread_pools.pin(THREADS)

import argparse
import gc
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import tinygrad_rnn as tr
from environment import command_line, cpu_line, library_origin, measure, numpy_blas, publish, utc_date

try:
    import torch

    TORCH_THREADS_AT_IMPORT = torch.get_num_threads()
except ImportError:  # pragma: no cover - optional
    torch = None

# the project's throughput aims, recorded in the report as met / not met
AIM_VS_CELL_LOOP = 1.1
AIM_VS_NN_LSTM = 0.7

FULL = dict(vocab=100, embed=64, hidden=256, batch=32, steps=100)
QUICK = dict(vocab=20, embed=8, hidden=16, batch=4, steps=10)


# ---------------------------------------------------------------------------------------------------------------
# the models: the same attribute names on both sides, so one state dict fits all
class TinyCharLM(tr.nn.Module):
    """Embedding → LSTM → Linear in tinygrad_rnn; ``fused`` picks the LSTM's granularity."""

    def __init__(self, vocab: int, embed: int, hidden: int, fused: bool = True):
        super().__init__()
        self.embed = tr.nn.Embedding(vocab, embed)
        self.lstm = tr.nn.LSTM(embed, hidden, fused=fused)
        self.out = tr.nn.Linear(hidden, vocab)

    def forward(self, tokens: tr.Tensor) -> tr.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.out(out)


def torch_models(vocab: int, embed: int, hidden: int):
    """PyTorch's ``nn.LSTM`` model and the ``nn.LSTMCell`` loop model, with the same weights."""
    nn = torch.nn

    class LayerLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.out(out)

    class CellLoopLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.cell = nn.LSTMCell(embed, hidden)
            self.out = nn.Linear(hidden, vocab)

        def forward(self, tokens):
            x = self.embed(tokens)
            h = c = x.new_zeros(x.shape[1], hidden)
            outputs = []
            for t in range(x.shape[0]):
                h, c = self.cell(x[t], (h, c))
                outputs.append(h)
            return self.out(torch.stack(outputs))

    layer = LayerLM()
    loop = CellLoopLM()
    state = layer.state_dict()
    loop.load_state_dict({k.replace("lstm.", "cell.").replace("_l0", ""): v for k, v in state.items()})
    return layer, loop


# ---------------------------------------------------------------------------------------------------------------
# one training step per version
def tinygrad_step(model: TinyCharLM, tokens: tr.Tensor, targets: tr.Tensor, vocab: int):
    optimizer = tr.optim.Adam(model.parameters(), lr=1e-3)
    flat_targets = targets.reshape(-1)

    def step():
        optimizer.zero_grad()
        loss = tr.cross_entropy(model(tokens).reshape(-1, vocab), flat_targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_step(model, tokens, targets, vocab: int):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    flat_targets = targets.reshape(-1)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tokens).reshape(-1, vocab), flat_targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def check_first_step(tiny_models: dict, torch_layer, torch_loop, tokens_np, vocab: int) -> dict:
    """Loss and gradients of every version against PyTorch ``nn.LSTM`` for one forward+backward (no update)."""
    targets_np = np.roll(tokens_np, -1, axis=0)
    ref_loss = torch.nn.functional.cross_entropy(
        torch_layer(torch.from_numpy(tokens_np)).reshape(-1, vocab), torch.from_numpy(targets_np).reshape(-1))
    torch_layer.zero_grad()
    ref_loss.backward()
    reference = {k: p.grad.numpy().copy() for k, p in torch_layer.named_parameters()}
    torch_layer.zero_grad()
    errors = {}

    def compare(name: str, loss: float, grads: dict) -> None:
        np.testing.assert_allclose(loss, ref_loss.item(), rtol=1e-5, err_msg=f"{name}: loss differs")
        worst = 0.0
        for key, ref in reference.items():
            scale = float(np.abs(ref).max()) or 1.0
            np.testing.assert_allclose(grads[key], ref, rtol=1e-3, atol=1e-4 * scale,
                                       err_msg=f"{name}: gradient of {key} differs")
            worst = max(worst, float(np.abs(grads[key] - ref).max()) / scale)
        errors[name] = worst

    for name, model in tiny_models.items():
        model.zero_grad()
        loss = tr.cross_entropy(model(tr.tensor(tokens_np)).reshape(-1, vocab), tr.tensor(targets_np).reshape(-1))
        loss.backward()
        compare(name, loss.item(), {k: p.grad for k, p in model.named_parameters()})
        model.zero_grad()
    loss = torch.nn.functional.cross_entropy(
        torch_loop(torch.from_numpy(tokens_np)).reshape(-1, vocab), torch.from_numpy(targets_np).reshape(-1))
    torch_loop.zero_grad()
    loss.backward()
    renamed = {k.replace("cell.", "lstm.") + ("_l0" if k.startswith("cell.") else ""): p.grad.numpy()
               for k, p in torch_loop.named_parameters()}
    compare("PyTorch LSTMCell loop", loss.item(), renamed)
    torch_loop.zero_grad()
    return errors


# ---------------------------------------------------------------------------------------------------------------
# timing
def profile_step(step, rounds: int = 3, top: int = 14) -> list[str]:
    """cProfile of ``rounds`` tinygrad_rnn steps: the functions with the most own time (tottime)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())  # own time of everything
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    lines = ["| function | calls / step | own ms / step | share |", "|---|---:|---:|---:|"]
    for (filename, line, name), (_, calls, tottime, _, _) in rows:
        where = os.path.relpath(filename, REPO) if filename.startswith(REPO) else os.path.basename(filename)
        label = f"`{name}` ({where}:{line})" if line else f"`{name}`"
        lines.append(f"| {label} | {calls / rounds:.0f} | {tottime / rounds * 1e3:.1f} | {tottime / total:.0%} |")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# the report
def machine_info() -> list[str]:
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}",
                f"tinygrad_rnn {getattr(tr, '__version__', '?')}",
                f"torch {torch.__version__}" if torch else "torch n/a"]
    env_text = thread_pools.environment_line()
    threads = (f"torch.set_num_threads({THREADS}) (torch.get_num_threads() was {TORCH_THREADS_AT_IMPORT} at "
               f"import, now {torch.get_num_threads()})") if torch else "torch n/a"
    return [f"- tinygrad_rnn: {library_origin(tr)}",
            cpu_line(),
            f"- versions: {', '.join(versions)}",
            f"- threads: {THREADS} for both libraries; {threads}; env: {env_text or 'none set'}; NumPy's "
            "elementwise ufuncs are single-threaded whatever the setting",
            f"- BLAS under NumPy: {numpy_blas()}"]










def results_table(timings: dict, tokens: int) -> str:
    """Markdown: ms per step, tokens/s, and ratios of tokens/s to the two PyTorch versions (higher is better)."""
    loop = timings.get("PyTorch LSTMCell loop")
    layer = timings.get("PyTorch nn.LSTM")
    rows = [("version", "ms / step, best (median)", "tokens / s (best)", "× LSTMCell loop", "× nn.LSTM")]
    for name, timing in timings.items():
        rate = tokens / timing.best
        rows.append((name, f"{timing.best * 1e3:.1f} ({timing.median * 1e3:.1f})", f"{rate:,.0f}",
                     f"{loop.best / timing.best:.2f}×" if loop else "n/a",
                     f"{layer.best / timing.best:.2f}×" if layer else "n/a"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def aims(timings: dict) -> tuple[list[str], dict]:
    ours = timings["tinygrad_rnn fused LSTM"].best
    lines, ratios = [], {}
    for label, key, aim in (("LSTMCell loop's", "PyTorch LSTMCell loop", AIM_VS_CELL_LOOP),
                            ("nn.LSTM's", "PyTorch nn.LSTM", AIM_VS_NN_LSTM)):
        if key not in timings:
            lines.append(f"- ≥ {aim}× PyTorch {label} tokens/s: n/a (PyTorch is not installed)")
            continue
        ratio = timings[key].best / ours
        ratios[key] = ratio
        verdict = "met" if ratio >= aim else "NOT met"
        lines.append(f"- tinygrad_rnn (fused) at ≥ {aim}× PyTorch {label} tokens/s: **{verdict}** ({ratio:.2f}×)")
    return lines, ratios


# ---------------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (smoke test, seconds)")
    parser.add_argument("--out", help="also write the report (Markdown) to this file: benchmarks/RESULTS_charlm.md")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per version (default 20, --quick 2)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of tinygrad_rnn's fused step")
    parser.add_argument("--no-explicit", action="store_true", help="skip the fused=False version (it is slow)")
    for key, value in FULL.items():
        parser.add_argument(f"--{key}", type=int, default=None, help=f"default {value} (--quick {QUICK[key]})")
    args = parser.parse_args(argv)
    sizes = {key: getattr(args, key) or (QUICK if args.quick else FULL)[key] for key in FULL}
    repeats = args.repeats or (2 if args.quick else 20)
    warmup = 1 if args.quick else 2
    started = time.perf_counter()

    vocab, embed, hidden, batch, steps = (sizes[k] for k in ("vocab", "embed", "hidden", "batch", "steps"))
    rng = np.random.default_rng(0)
    tokens_np = rng.integers(0, vocab, size=(steps, batch)).astype(np.int64)
    targets_np = np.roll(tokens_np, -1, axis=0)  # next-character targets (the data is random: only speed counts)

    tr.manual_seed(0)
    tiny = {"tinygrad_rnn fused LSTM": TinyCharLM(vocab, embed, hidden, fused=True)}
    if not args.no_explicit:
        tiny["tinygrad_rnn explicit LSTM (fused=False)"] = TinyCharLM(vocab, embed, hidden, fused=False)
    bodies, errors = {}, {}
    if torch is not None:
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        layer, loop = torch_models(vocab, embed, hidden)
        for model in tiny.values():
            model.load_state_dict(layer.state_dict())
        errors = check_first_step(tiny, layer, loop, tokens_np, vocab)
    tokens, targets = tr.tensor(tokens_np), tr.tensor(targets_np)
    for name, model in tiny.items():
        bodies[name] = tinygrad_step(model, tokens, targets, vocab)
    if torch is not None:
        t_tokens, t_targets = torch.from_numpy(tokens_np), torch.from_numpy(targets_np)
        bodies["PyTorch nn.LSTM"] = torch_step(layer, t_tokens, t_targets, vocab)
        bodies["PyTorch LSTMCell loop"] = torch_step(loop, t_tokens, t_targets, vocab)
    gc.collect()
    gc.freeze()  # the objects made so far (two frameworks' modules) would otherwise inflate every full collection
    timings = measure(bodies, repeats, warmup)
    profile = profile_step(bodies["tinygrad_rnn fused LSTM"], rounds=1 if args.quick else 3) if args.profile else []
    elapsed = time.perf_counter() - started

    aim_lines, ratios = aims(timings)
    check = ", ".join(f"{name} {err:.1e}" for name, err in errors.items()) or "skipped (no PyTorch)"
    report = [
        "# tinygrad_rnn benchmark: char-LM training throughput against PyTorch",
        "",
        f"- date: {utc_date()}",
        *machine_info(),
        f"- command: `{command_line()}` (whole run {elapsed:.1f} s)",
        (f"- sizes: vocabulary V = {vocab}, embedding E = {embed}, LSTM H = {hidden}, batch B = {batch}, chunk "
         f"T = {steps} ({batch * steps} tokens per step), float32, one layer"),
        (f"- method: one training step = zero_grad, forward, cross-entropy over all T·B positions, backward, Adam "
         f"step; `time.perf_counter`, {warmup} warm-up steps each, then best of {repeats} steps with the versions "
         "taking turns; median in parentheses; tokens/s from the best; garbage collector on, with the objects that "
         "exist before timing frozen (`gc.freeze()`)."),
        (f"- check: first step's loss (rtol 1e-5) and every parameter's gradient against PyTorch nn.LSTM with the same "
         f"weights; largest gradient error relative to the gradient's max: {check}"),
        "",
        results_table(timings, batch * steps),
        "",
        "### Aims",
        "",
        *aim_lines,
        "",
    ]
    if profile:
        report += ["### Profile of tinygrad_rnn's fused step (cProfile, own time per step; cProfile adds overhead)",
                   "", *profile, ""]
    return publish(report, args.out, "charlm.py")


if __name__ == "__main__":
    sys.exit(main())
