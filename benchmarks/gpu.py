#!/usr/bin/env python
"""GPU throughput: tinygrad_rnn on CuPy against PyTorch on CUDA, each library in its own process.

Cases (each library runs every case in one process; the processes alternate A B A B, ``--pairs`` of them, and
every ratio is taken pair by pair, then its median and spread over the pairs reported):

- ``charlm``: a char-LM training step, Embedding → LSTM → Linear → cross-entropy over all T·B positions, backward,
  Adam, T = 100, V = 100, at two sizes (H = 256, B = 32, E = 64 and H = 1024, B = 128, E = 256): tinygrad_rnn's
  fused ``nn.LSTM`` against PyTorch ``nn.LSTM`` (cuDNN) and a PyTorch ``nn.LSTMCell`` Python loop (the models of
  ``benchmarks/charlm.py``); tokens/s.
- ``tiny``: the tiny RNN of ``benchmarks/ops.py`` (1000 steps, H = 32, batch 1, a loop of primitive ops
  ``h = tanh(x_t @ W_xh + h @ W_hh + b)``, loss = sum of the last h, forward + backward): tinygrad_rnn's loop against
  PyTorch's same loop and ``nn.RNN``; iterations/s.
- ``g2p``: a G2P training update of the task's default model (``tasks.g2p.build_model``) on real CMUdict batches
  of 64 words through ``Trainer.update`` (clip 5, Adam 2e-3), against the same model in PyTorch eager (the twin in
  ``benchmarks/g2p.py``), the same batches and initial weights; words/s.

Timing: warm-up iterations first (excluded: they compile CuPy's kernels and fill both memory pools); then
``--repeats`` rounds of ``--inner`` iterations, the device synchronised (``cupy.cuda.Device().synchronize()``,
``torch.cuda.synchronize()``) before and after each round, ``time.perf_counter``; the median round per process. No
loss is read back inside a timed round. With ``--device cpu`` the same code runs on the CPU on both sides (a dry run
of the plumbing; the numbers mean nothing for a GPU).

    python3 benchmarks/gpu.py                                  # on a GPU machine, ~2-3 minutes
    python3 benchmarks/gpu.py --out benchmarks/RESULTS_gpu.md --json out/gpu.json
    python3 benchmarks/gpu.py --device cpu --quick             # dry run: tiny sizes, seconds

Needs PyTorch, and ``cmudict`` for the g2p case (``--cases charlm,tiny`` without it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
import harness  # noqa: E402  (the RESULT-line protocol of the CPU benchmarks)
from environment import Timing, command_line, cpu_line, library_origin, publish, utc_date  # noqa: E402

LIBS = ("tinygrad_rnn", "PyTorch")
CASES = ("charlm", "tiny", "g2p")
CHARLM_SIZES = {"full": [dict(vocab=100, embed=64, hidden=256, batch=32, steps=100),
                         dict(vocab=100, embed=256, hidden=1024, batch=128, steps=100)],
                "quick": [dict(vocab=20, embed=8, hidden=16, batch=4, steps=10),
                          dict(vocab=20, embed=16, hidden=32, batch=8, steps=10)]}
TINY_SIZES = {"full": dict(steps=1000, hidden=32), "quick": dict(steps=50, hidden=8)}  # ops.py's tiny RNN
G2P_SIZES = {"full": dict(embed=64, hidden=256, batch=64), "quick": dict(embed=8, hidden=16, batch=8)}
LR, CLIP = 2e-3, 5.0
# the project's aims, printed beside the ratios: (case, our version, their version, at least this ratio)
AIMS = [("charlm H=256", "tinygrad_rnn fused LSTM", "PyTorch LSTMCell loop", 2.0),
        ("charlm H=256", "tinygrad_rnn fused LSTM", "PyTorch nn.LSTM (cuDNN)", 0.35),
        ("g2p", "tinygrad_rnn Trainer.update", "PyTorch eager", 1.0)]


# ---------------------------------------------------------------------------------------------------------------
# inside a worker: one library, every case
def synchronizer(lib: str, device: str):
    if device != "cuda":
        return lambda: None
    if lib == "tinygrad_rnn":
        import cupy

        return lambda: cupy.cuda.Device().synchronize()
    import torch

    return torch.cuda.synchronize


def time_rounds(body, sync, warmup: int, repeats: int, inner: int) -> Timing:
    """``warmup`` calls, then ``repeats`` rounds of ``inner`` calls, synchronised at both ends of every round;
    seconds per call."""
    for _ in range(warmup):
        body()
    sync()
    samples = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(inner):
            body()
        sync()
        samples.append((time.perf_counter() - start) / inner)
    return Timing(samples)


def _tiny_loop(tensor, xs, w_xh, w_hh, bias, h0):
    """The tiny RNN's forward+backward as a loop of primitive ops, for either library: ``tensor(array, grad)``
    makes one of its tensors on the benchmark's device."""
    txs = [tensor(x) for x in xs]
    params = [tensor(a, True) for a in (w_xh, w_hh, bias)]
    th0 = tensor(h0)

    def loop():
        for p in params:
            p.grad = None
        hidden = th0
        for x in txs:
            hidden = (x @ params[0] + hidden @ params[1] + params[2]).tanh()
        hidden.sum().backward()

    return loop


def _tiny_problem(steps: int, hidden: int):
    # ops.py's rnn_problem: the same draws, so the same numbers on every side
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, 1, hidden)).astype(np.float32)
    scale = 1.0 / np.sqrt(hidden)
    w_xh, w_hh = (rng.uniform(-scale, scale, (hidden, hidden)).astype(np.float32) for _ in range(2))
    b = rng.uniform(-scale, scale, (hidden,)).astype(np.float32)
    return xs, w_xh, w_hh, b, np.zeros((1, hidden), np.float32)


def _g2p_batches(batch: int, count: int):
    from tinygrad_rnn.data import bucket_batches, load_g2p

    data = load_g2p(seed=0)
    batches = []
    for b in bucket_batches(data.pairs("train"), batch, src_vocab=data.src_vocab, tgt_vocab=data.tgt_vocab, seed=0):
        batches.append(b)
        if len(batches) == count:
            break
    return data, batches


def _g2p_model(data, sizes: dict):
    """tinygrad_rnn's G2P model on the CPU, from seed 0 (both workers build it: the PyTorch one copies it)."""
    import tinygrad_rnn as tr
    from tinygrad_rnn.tasks import g2p as task

    tr.manual_seed(0)
    return task.build_model(data.src_vocab, data.tgt_vocab, embed_size=sizes["embed"], hidden_size=sizes["hidden"])


def _guarded(out: dict, label: str, run) -> None:
    """``out[label] = run()``, or the error it raised: one broken case does not cost the others their numbers."""
    import traceback

    try:
        out[label] = run()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "tinygrad_rnn" in f.filename]
        at = f" at {os.path.relpath(frames[-1].filename, REPO)}:{frames[-1].lineno}" if frames else ""
        out[label] = {"error": f"{type(exc).__name__}: {exc}"[:300] + at}


def worker_tinygrad(device: str, cases: list, mode: str, plan: dict) -> dict:
    sys.modules["torch"] = None  # this process is tinygrad_rnn's alone: charlm.py below then sees no PyTorch
    import tinygrad_rnn as tr
    from charlm import TinyCharLM
    from tinygrad_rnn.train import Trainer

    sync = synchronizer("tinygrad_rnn", device)
    out: dict = {}

    def charlm(sizes):
        v, e, h, b, t = (sizes[k] for k in ("vocab", "embed", "hidden", "batch", "steps"))
        rng = np.random.default_rng(0)
        tokens_np = rng.integers(0, v, size=(t, b)).astype(np.int64)
        tr.manual_seed(0)
        model = TinyCharLM(v, e, h, fused=True).to(device)
        optimizer = tr.optim.Adam(model.parameters(), lr=1e-3)
        tokens = tr.tensor(tokens_np, device=device)
        targets = tr.tensor(np.roll(tokens_np, -1, axis=0).reshape(-1), device=device)

        def step():
            optimizer.zero_grad()
            loss = tr.cross_entropy(model(tokens).reshape(-1, v), targets)
            loss.backward()
            optimizer.step()

        return {"tinygrad_rnn fused LSTM": _result(time_rounds(step, sync, **plan["charlm"]), t * b, "tokens")}

    def tiny():
        loop = _tiny_loop(lambda a, grad=False: tr.tensor(a, requires_grad=grad, device=device),
                          *_tiny_problem(**TINY_SIZES[mode]))
        return {"tinygrad_rnn loop": _result(time_rounds(loop, sync, **plan["tiny"]), 1, "iterations")}

    def g2p():
        sizes = G2P_SIZES[mode]
        warmup, inner, repeats = plan["g2p"]["warmup"], plan["g2p"]["inner"], plan["g2p"]["repeats"]
        data, batches = _g2p_batches(sizes["batch"], warmup + inner * repeats)
        model = _g2p_model(data, sizes).to(device)
        trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=LR), clip_norm=CLIP, progress=False)
        tensors = [b.tensors(device=device) for b in batches]
        order = iter(range(len(tensors)))

        def update():
            b = tensors[next(order)]
            trainer.update(model.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"]))

        words = _words_per_update(batches, warmup)
        return {"tinygrad_rnn Trainer.update": _result(time_rounds(update, sync, **plan["g2p"]), words, "words")}

    return _run_cases(out, cases, mode, charlm, tiny, g2p)


def worker_torch(device: str, cases: list, mode: str, plan: dict) -> dict:
    import torch

    from charlm import torch_models

    dev = torch.device(device)
    sync = synchronizer("PyTorch", device)
    torch.manual_seed(0)
    out: dict = {}

    def charlm(sizes):
        v, e, h, b, t = (sizes[k] for k in ("vocab", "embed", "hidden", "batch", "steps"))
        rng = np.random.default_rng(0)
        tokens_np = rng.integers(0, v, size=(t, b)).astype(np.int64)
        tokens = torch.from_numpy(tokens_np).to(dev)
        targets = torch.from_numpy(np.roll(tokens_np, -1, axis=0).reshape(-1)).to(dev)
        layer, loop = torch_models(v, e, h)
        results = {}
        for name, model in (("PyTorch nn.LSTM (cuDNN)" if device == "cuda" else "PyTorch nn.LSTM", layer),
                            ("PyTorch LSTMCell loop", loop)):
            model.to(dev)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, optimizer=optimizer):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(tokens).reshape(-1, v), targets)
                loss.backward()
                optimizer.step()

            results[name] = _result(time_rounds(step, sync, **plan["charlm"]), t * b, "tokens")
        return results

    def tiny():
        xs, w_xh, w_hh, bias, h0 = problem = _tiny_problem(**TINY_SIZES[mode])
        loop = _tiny_loop(lambda a, grad=False: torch.tensor(a, requires_grad=grad, device=dev), *problem)
        rnn = torch.nn.RNN(xs.shape[2], xs.shape[2], nonlinearity="tanh").to(dev)
        seq, h0_3d = torch.tensor(xs, device=dev), torch.tensor(h0[None], device=dev)

        def layer():
            rnn.zero_grad(set_to_none=True)
            _, h_n = rnn(seq, h0_3d)
            h_n.sum().backward()

        return {"PyTorch loop": _result(time_rounds(loop, sync, **plan["tiny"]), 1, "iterations"),
                "PyTorch nn.RNN": _result(time_rounds(layer, sync, **plan["tiny"]), 1, "iterations")}

    return _run_cases(out, cases, mode, charlm, tiny, lambda: _torch_g2p(dev, sync, mode, plan))


def _torch_g2p(dev, sync, mode: str, plan: dict) -> dict:
    """PyTorch's twin of the g2p seq2seq model (benchmarks/g2p.py), with our initial weights, one update timed."""
    import torch

    import g2p as g2p_bench  # benchmarks/g2p.py: the PyTorch twin of the model

    from tinygrad_rnn.tasks import g2p as task

    sizes = G2P_SIZES[mode]
    warmup, inner, repeats = plan["g2p"]["warmup"], plan["g2p"]["inner"], plan["g2p"]["repeats"]
    data, batches = _g2p_batches(sizes["batch"], warmup + inner * repeats)
    ours = _g2p_model(data, sizes)
    theirs = g2p_bench.torch_seq2seq(len(data.src_vocab), len(data.tgt_vocab), sizes["embed"], sizes["hidden"],
                                     task.MODEL["dropout"], pad_index=data.tgt_vocab.pad_index)
    g2p_bench.copy_weights(ours, theirs)
    theirs.to(dev)
    optimizer = torch.optim.Adam(theirs.parameters(), lr=LR)
    # the lengths stay on the host: pack_padded_sequence wants them there
    tensors = [{k: (v if k == "src_lengths" else v.to(dev)) for k, v in g2p_bench.torch_batch(b).items()}
               for b in batches]
    order = iter(range(len(tensors)))

    def update():
        b = tensors[next(order)]
        optimizer.zero_grad()
        loss = theirs.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), CLIP)
        optimizer.step()

    words = _words_per_update(batches, warmup)
    return {"PyTorch eager": _result(time_rounds(update, sync, **plan["g2p"]), words, "words")}


def _run_cases(out: dict, cases: list, mode: str, charlm, tiny, g2p) -> dict:
    """Run the asked-for cases of one library's worker into ``out``, each guarded so one failure spares the rest."""
    if "charlm" in cases:
        for sizes in CHARLM_SIZES[mode]:
            _guarded(out, f"charlm H={sizes['hidden']}", lambda sizes=sizes: charlm(sizes))
    if "tiny" in cases:
        _guarded(out, "tiny RNN", tiny)
    if "g2p" in cases:
        _guarded(out, "g2p", g2p)
    return out


def _words_per_update(batches, warmup: int) -> float:
    timed = batches[warmup:]
    return sum(b.size for b in timed) / len(timed)


def _result(timing: Timing, units: float, unit: str) -> dict:
    return {"seconds": timing.median, "samples": timing.samples, "rate": units / timing.median, "unit": unit}


def versions(lib: str, device: str) -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__}
    if lib == "tinygrad_rnn":
        import tinygrad_rnn as tr

        info["tinygrad_rnn"] = tr.__version__
        if device == "cuda":
            import cupy

            info["cupy"] = cupy.__version__
    else:
        import torch

        info["torch"] = torch.__version__
        if device == "cuda":
            info["cudnn"] = torch.backends.cudnn.version()
    return info


def run_worker(args) -> int:
    cases = args.cases.split(",")
    mode = "quick" if args.quick else "full"
    plan = plan_for(args)
    run = worker_tinygrad if args.worker == "tinygrad_rnn" else worker_torch
    started = time.perf_counter()
    results = run(args.device, cases, mode, plan)
    return harness.emit(args.worker, results, versions=versions(args.worker, args.device),
                        elapsed=time.perf_counter() - started)


def plan_for(args) -> dict:
    """Warm-up, rounds and iterations per round of every case (the flags, or the defaults of the mode)."""
    q = args.quick
    defaults = {"charlm": (1, 2, 1) if q else (3, 5, 1), "tiny": (1, 2, 1) if q else (2, 5, 1),
                "g2p": (1, 2, 1) if q else (3, 4, 5)}
    plan = {}
    for case, (warmup, repeats, inner) in defaults.items():
        plan[case] = {"warmup": warmup if args.warmup is None else args.warmup, "repeats": args.repeats or repeats,
                      "inner": args.inner or inner}
    return plan


# ---------------------------------------------------------------------------------------------------------------
# the parent: alternate the workers, take ratios pair by pair
def spawn(lib: str, args, timeout: float) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--device", args.device, "--cases",
               args.cases] + (["--quick"] if args.quick else [])
    for flag in ("warmup", "repeats", "inner"):
        if getattr(args, flag) is not None:
            command += [f"--{flag}", str(getattr(args, flag))]
    found = harness.spawn(command, timeout, cwd=REPO)
    if "error" in found:
        found["error"] = f"{lib} {found['error']}"
    return found


def summarise(runs: list[dict]) -> dict:
    """Per case: each version's median rate over the processes, and every (ours / theirs) ratio taken pair by
    pair (a pair = one tinygrad_rnn process and the PyTorch process after it)."""
    cases: dict = {}
    for pair in runs:
        ours, theirs = pair.get("tinygrad_rnn", {}), pair.get("PyTorch", {})
        names = list(ours.get("results", {}))
        names += [c for c in theirs.get("results", {}) if c not in names]
        for case in names:
            entry = cases.setdefault(case, {"rates": {}, "ratios": {}, "unit": None})
            mine = ours.get("results", {}).get(case, {})
            other = theirs.get("results", {}).get(case, {})
            for lib, got in (("tinygrad_rnn", mine), ("PyTorch", other)):
                if "error" in got:
                    entry.setdefault("errors", {})[lib] = got["error"]
            mine, other = ({} if "error" in d else d for d in (mine, other))
            for name, r in {**mine, **other}.items():
                entry["rates"].setdefault(name, []).append(r["rate"])
                entry["unit"] = r["unit"]
            for our_name, r_ours in mine.items():
                for their_name, r_theirs in other.items():
                    entry["ratios"].setdefault(f"{our_name} / {their_name}", []).append(r_ours["rate"]
                                                                                      / r_theirs["rate"])
    table = {}
    for case, entry in cases.items():
        table[case] = {"unit": entry["unit"], "errors": entry.get("errors", {}),
                       "rates": {n: statistics.median(v) for n, v in entry["rates"].items()},
                       "ratios": {n: {"median": statistics.median(v), "min": min(v), "max": max(v), "pairs": v}
                                  for n, v in entry["ratios"].items()}}
    return table


def aims_met(table: dict) -> list[dict]:
    out = []
    for case, ours, theirs, aim in AIMS:
        key = f"{ours} / {theirs}"
        if case == "charlm H=256" and case not in table:  # --quick sizes: the smaller char-LM stands in
            case = next((c for c in table if c.startswith("charlm")), case)
        ratio = table.get(case, {}).get("ratios", {}).get(key)
        if ratio is None and "cuDNN" in theirs:
            ratio = table.get(case, {}).get("ratios", {}).get(f"{ours} / PyTorch nn.LSTM")
        out.append({"case": case, "versus": theirs, "aim": aim,
                    "ratio": None if ratio is None else ratio["median"],
                    "met": None if ratio is None else ratio["median"] >= aim})
    return out


def report(table: dict, aims: list, runs: list, args, elapsed: float) -> list[str]:
    vers = {}
    for pair in runs:
        for r in pair.values():
            vers.update(r.get("versions", {}))
    lines = ["# tinygrad_rnn benchmark: GPU throughput against PyTorch", "",
             f"- date: {utc_date()}", f"- device: {args.device}" + (f" ({gpu_name()})" if args.device == "cuda" else
                                                                     " (a dry run: the numbers say nothing of a GPU)"),
             cpu_line(), f"- versions: {', '.join(f'{k} {v}' for k, v in vers.items())}",
             f"- command: `{command_line()}` (whole run {elapsed:.0f} s, {len(runs)} pairs of processes)",
             "- method: each library in its own process, the processes alternated A B A B; per process warm-up "
             "first, then rounds synchronised at both ends, the median round; ratios (ours / theirs, higher is "
             "better for tinygrad_rnn) taken pair by pair, median and [min – max] over the pairs", ""]
    lines += ["| case | version | rate (median of processes) | ratio tinygrad_rnn / this, median [min – max] |",
              "|---|---|---:|---:|"]
    for case, entry in table.items():
        for name, rate in entry["rates"].items():
            ratio = next((r for key, r in entry["ratios"].items() if key.endswith(" / " + name)), None)
            ratio_text = "—" if ratio is None else f"{ratio['median']:.2f}× [{ratio['min']:.2f} – {ratio['max']:.2f}]"
            lines.append(f"| {case} | {name} | {rate:,.1f} {entry['unit']}/s | {ratio_text} |")
    lines += ["", "Aims:", ""]
    for a in aims:
        verdict = "n/a" if a["met"] is None else ("met" if a["met"] else "NOT met")
        ratio = "n/a" if a["ratio"] is None else f"{a['ratio']:.2f}×"
        lines.append(f"- {a['case']}: tinygrad_rnn ≥ {a['aim']}× {a['versus']}: **{verdict}** ({ratio})")
    errors = [f"- pair {i + 1}: {r['error']}" for i, pair in enumerate(runs) for r in pair.values() if "error" in r]
    errors += [f"- {case}, {lib}: {text}" for case, entry in table.items() for lib, text in entry["errors"].items()]
    if errors:
        lines += ["", "Errors:", "", *errors]
    return lines + [""]


def gpu_name() -> str:
    try:
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception as exc:  # noqa: BLE001 - only a label
        return f"? ({type(exc).__name__})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="cuda (default), or cpu for a dry run of the plumbing")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few iterations (smoke test)")
    parser.add_argument("--pairs", type=int, default=None, help="pairs of processes (default 3, --quick 1)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up iterations per case (default 3/2/3)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default 5/5/4)")
    parser.add_argument("--inner", type=int, default=None, help="iterations per round (default 1; g2p 5)")
    parser.add_argument("--worker-timeout", type=float, default=120.0, help="seconds per worker process")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run: no new pair is "
                        "started that would not fit (at least one pair runs)")
    parser.add_argument("--out", help="also write the report (Markdown) here, e.g. benchmarks/RESULTS_gpu.md")
    parser.add_argument("--json", help="write the results (JSON) here")
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {CASES}")
    if args.worker:
        return run_worker(args)
    pairs = args.pairs or (1 if args.quick else 3)
    started = time.perf_counter()
    runs = []
    for i in range(pairs):
        left = args.budget - (time.perf_counter() - started) if args.budget else None
        longest = max((sum(r["wall"] for r in pair.values()) for pair in runs), default=0.0)
        if left is not None and runs and left < 1.2 * longest:
            print(f"  bench: {left:.0f} s of --budget left, a pair takes ~{longest:.0f} s: stopping after {len(runs)} "
                  "pairs", flush=True)
            break
        pair = {}
        for lib in LIBS:  # A B A B
            timeout = args.worker_timeout
            if args.budget:
                timeout = max(min(timeout, args.budget - (time.perf_counter() - started)), 5.0)
            pair[lib] = spawn(lib, args, timeout)
            state = pair[lib].get("error") or f"{pair[lib]['wall']:.1f} s"
            print(f"  bench pair {i + 1}/{pairs} {lib}: {state}", flush=True)
        runs.append(pair)
    table = summarise(runs)
    aims = aims_met(table)
    elapsed = time.perf_counter() - started
    lines = report(table, aims, runs, args, elapsed)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": args.device, "pairs": len(runs), "table": table, "aims": aims, "runs": runs,
                       "origin": library_origin_text(), "elapsed": elapsed}, f, indent=1)
    publish(lines, args.out, "gpu.py")
    ok = all("error" not in r for pair in runs for r in pair.values()) and not any(e["errors"]
                                                                                 for e in table.values())
    return 0 if ok else 1


def library_origin_text() -> str:
    import tinygrad_rnn as tr

    return library_origin(tr)


if __name__ == "__main__":
    sys.exit(main())
