#!/usr/bin/env python
"""Training throughput of a character-level LSTM language model: tinygrad_rnn against PyTorch, each in its own
process (the method of ``benchmarks/harness.py``).

One training step is what a char-LM spends its time on: Embedding (V = 100, E = 64) → LSTM (H = 256) → Linear
(H → V) over a batch of B = 32 chunks of T = 100 characters, cross-entropy over all T·B positions, backward, one
Adam step. Throughput = T·B / (seconds per step), in characters ("tokens") per second. Versions, all float32:

- tinygrad_rnn, ``nn.LSTM`` with the fused cell (one node per step — the default);
- tinygrad_rnn, ``nn.LSTM(fused=False)`` (every gate its own node: the granularity for pictures, for reference);
- PyTorch ``nn.LSTM`` (one call over the whole sequence; its CPU kernel loops in C++);
- PyTorch, a Python loop over ``nn.LSTMCell`` (the same unrolled loop tinygrad_rnn runs).

``--check`` runs one forward+backward of every version from the same weights (PyTorch's, loaded into tinygrad_rnn
by name) and checks loss and gradients against PyTorch ``nn.LSTM``'s, in a process of its own.

    .venv/bin/python benchmarks/charlm.py                                   # full sizes, 5 rounds, prints the tables
    .venv/bin/python benchmarks/charlm.py --out benchmarks/RESULTS_charlm.md
    .venv/bin/python benchmarks/charlm.py --quick                           # tiny sizes, one round (smoke test)
    .venv/bin/python benchmarks/charlm.py --check                           # correctness only
    .venv/bin/python benchmarks/charlm.py --profile --rounds 1              # + cProfile of tinygrad_rnn's step

PyTorch is needed for the comparison and the check.
"""
from __future__ import annotations

import os
import sys

import harness  # benchmarks/ is on sys.path when a script in it runs

harness.start()  # a worker loads its own library only; this checkout first on sys.path

import gc

import numpy as np

import tinygrad_rnn as tr
from environment import measure

torch = harness.import_torch()  # None in the other workers

# the project's throughput aims, recorded in the report as met / not met
AIM_VS_CELL_LOOP = 2.0
AIM_VS_NN_LSTM = 1.0

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
        repo = harness.REPO
        where = os.path.relpath(filename, repo) if filename.startswith(repo) else os.path.basename(filename)
        label = f"`{name}` ({where}:{line})" if line else f"`{name}`"
        lines.append(f"| {label} | {calls / rounds:.0f} | {tottime / rounds * 1e3:.1f} | {tottime / total:.0%} |")
    return lines


# ---------------------------------------------------------------------------------------------------------------
# the workers and the check
LIBS = ("tinygrad", "torch")
OURS, NN_LSTM, CELL_LOOP = "tinygrad_rnn fused LSTM", "PyTorch nn.LSTM", "PyTorch LSTMCell loop"
EXPLICIT = "tinygrad_rnn explicit LSTM (fused=False)"
COMPARISONS = [(OURS, NN_LSTM, "speed"), (OURS, CELL_LOOP, "speed")]


def problem(sizes: dict):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, sizes["vocab"], size=(sizes["steps"], sizes["batch"])).astype(np.int64)
    return tokens, np.roll(tokens, -1, axis=0)  # next-character targets (random data: only speed counts)


def worker(args, sizes: dict) -> int:
    """Time this process's library (``args.only``) and print its RESULT line."""
    vocab, embed, hidden = sizes["vocab"], sizes["embed"], sizes["hidden"]
    tokens_np, targets_np = problem(sizes)
    extra = {}
    if args.only == "tinygrad":
        tr.manual_seed(0)
        models = {OURS: TinyCharLM(vocab, embed, hidden, fused=True)}
        if not args.no_explicit:
            models[EXPLICIT] = TinyCharLM(vocab, embed, hidden, fused=False)
        tokens, targets = tr.tensor(tokens_np), tr.tensor(targets_np)
        bodies = {name: tinygrad_step(model, tokens, targets, vocab) for name, model in models.items()}
    else:
        harness.apply_threads(torch, args.threads)
        torch.manual_seed(0)
        layer, loop = torch_models(vocab, embed, hidden)
        tokens, targets = torch.from_numpy(tokens_np), torch.from_numpy(targets_np)
        bodies = {NN_LSTM: torch_step(layer, tokens, targets, vocab), CELL_LOOP: torch_step(loop, tokens, targets,
                                                                                              vocab)}
    gc.collect()
    timings = measure(bodies, args.repeats, args.warmup)
    if args.profile and args.only == "tinygrad":
        extra["profile"] = profile_step(bodies[OURS], rounds=1 if args.quick else 3)
    tokens_per_step = sizes["batch"] * sizes["steps"]
    results = {name: harness.result(t.samples, tokens_per_step, "tokens") for name, t in timings.items()}
    return harness.emit(args.only, results, threads=harness.threads_note(torch), versions=harness.versions(torch),
                        **extra)


def check(sizes: dict) -> int:
    """The first step's loss and gradients of every version against PyTorch ``nn.LSTM``'s, from the same weights."""
    if torch is None:
        raise SystemExit("charlm.py --check needs PyTorch (the reference)")
    tokens_np, _ = problem(sizes)
    torch.manual_seed(0)
    layer, loop = torch_models(sizes["vocab"], sizes["embed"], sizes["hidden"])
    tiny = {OURS: TinyCharLM(sizes["vocab"], sizes["embed"], sizes["hidden"], fused=True),
            EXPLICIT: TinyCharLM(sizes["vocab"], sizes["embed"], sizes["hidden"], fused=False)}
    for model in tiny.values():
        model.load_state_dict(layer.state_dict())
    errors = check_first_step(tiny, layer, loop, tokens_np, sizes["vocab"])
    print("check passed: loss (rtol 1e-5) and every gradient against PyTorch nn.LSTM; largest gradient error "
          "relative to the gradient's max: " + ", ".join(f"{name} {err:.1e}" for name, err in errors.items()))
    return 0


def aims(summary: dict) -> list[str]:
    return [harness.aim_line(f"tinygrad_rnn (fused) at ≥ {aim}× {theirs}'s tokens/s", summary,
                             (OURS, theirs, "speed"), lambda r, aim=aim: r >= aim)
            for theirs, aim in ((CELL_LOOP, AIM_VS_CELL_LOOP), (NN_LSTM, AIM_VS_NN_LSTM))]


def report(session: dict, args, sizes: dict) -> list[str]:
    runs = session["runs"]
    summary = harness.summarise(runs, COMPARISONS)
    tokens = sizes["batch"] * sizes["steps"]
    versions = list(summary["seconds"])
    rates, mean_rates = ([f"{name} {tokens / stats['median']:,.0f}" for name, stats in summary[key].items()]
                         for key in ("seconds", "mean_seconds"))
    lines = harness.report_head("tinygrad_rnn benchmark: char-LM training throughput against PyTorch", session,
                                f"runs {args.warmup} warm-up steps of each of its versions, then {args.repeats} "
                                "timed steps (the versions taking turns), and reports the median step and the mean one")
    lines += [
        (f"- sizes: vocabulary V = {sizes['vocab']}, embedding E = {sizes['embed']}, LSTM H = {sizes['hidden']}, "
         f"batch B = {sizes['batch']}, chunk T = {sizes['steps']} ({tokens} tokens per step), float32, one layer; "
         "one training step = zero_grad, forward, cross-entropy over all T·B positions, backward, Adam step"),
        "", "Per round: ms per step of each version; ratios are tokens/s of tinygrad_rnn's fused LSTM ÷ the other's "
        "(higher is better for tinygrad_rnn).", "",
        harness.pair_table(runs, versions, COMPARISONS), "",
        f"Median tokens/s: {', '.join(rates)}; from the mean steps: {', '.join(mean_rates)}.", "",
        "### Aims", "", *aims(summary), ""]
    profile = next((run["profile"] for round_ in runs for run in round_.values() if "profile" in run), None)
    if profile:
        lines += ["### Profile of tinygrad_rnn's fused step (cProfile, own time per step; cProfile adds overhead)",
                  "", *profile, ""]
    return lines


# ---------------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = harness.parser(__doc__, LIBS, rounds=5, out="benchmarks/RESULTS_charlm.md")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per version and worker (default 10, "
                        "--quick 2)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per version (default 2, --quick 1)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of tinygrad_rnn's fused step")
    parser.add_argument("--no-explicit", action="store_true", help="skip the fused=False version (it is slow)")
    harness.size_options(parser, FULL, QUICK)
    args = parser.parse_args(argv)
    sizes = harness.sizes(args, FULL, QUICK)
    args.repeats = args.repeats or (2 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    return harness.dispatch(args, __file__, LIBS, lambda: check(sizes), lambda: worker(args, sizes),
                            lambda session: report(session, args, sizes), argv)


if __name__ == "__main__":
    sys.exit(main())
