#!/usr/bin/env python
"""Instructions a run of the tiny RNN costs, counted by Valgrind's cachegrind: which way a change to the engine moves
its per-op overhead, on a machine too unsteady for wall time to tell.

The problem is ``benchmarks/ops.py``'s third group (a 1000-step tanh RNN, H = 32, batch 1, primitive ops, forward +
backward). Each version runs in a process of its own under ``valgrind --tool=cachegrind``, twice: with a few runs
and with more; the difference of the two counts, divided by the difference of the runs, is what one run costs
(start-up, imports and warm-up cancel). Counts are nearly exact from one call to the next (the garbage collector's
timing moves them by about 1%), where a wall-clock ratio on a shared VM moved by 0.5× – 1.0× between rounds.

Instructions are not time: NumPy's and PyTorch's compiled loops retire more instructions a cycle than CPython's
interpreter, so a count compares only with a count of the same code — this checkout against an earlier revision
(``--against``), with the garbage collector and without, above the floor of hand-written NumPy BPTT. Speeds, and
the aims, are ``benchmarks/ops.py``'s.

    .venv/bin/python benchmarks/instructions.py                   # this checkout, with and without gc; NumPy
    .venv/bin/python benchmarks/instructions.py --against HEAD~3  # and a git revision (a worktree of it)
    .venv/bin/python benchmarks/instructions.py --torch           # PyTorch's loop and nn.RNN too (slow)
    .venv/bin/python benchmarks/instructions.py --quick           # 50 steps, fewer runs: a smoke test

Needs ``valgrind`` (Debian: ``apt-get install valgrind``); without it the script says so and exits with status 2.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile

import harness  # benchmarks/ is on sys.path when a script in it runs

SCRIPT = os.path.abspath(__file__)
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
# (runs in the first process, runs in the second): the count of one run is their difference's share
RUNS, QUICK_RUNS = (2, 6), (1, 3)
# the versions (ops.rnn_bodies's names) each worker runs
VERSIONS = {"tinygrad": ("tinygrad_rnn loop",), "numpy": ("NumPy hand BPTT",),
            "torch": ("PyTorch loop", "PyTorch nn.RNN")}


def instructions_of(valgrind_output: str) -> int:
    """The ``I refs`` total of a cachegrind run's report (``==123== I   refs:      562,359,847``)."""
    found = re.search(r"I\s+refs:\s+([\d,]+)", valgrind_output)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{valgrind_output[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_run(counts: tuple, runs: tuple) -> float:
    """Instructions of one run from the counts of two processes that ran ``runs[0]`` and ``runs[1]`` runs."""
    return (counts[1] - counts[0]) / (runs[1] - runs[0])


# ---------------------------------------------------------------------------------------------------------------
# the worker: one version, a number of runs, under valgrind
def worker(only: str, version: str, runs: int, steps: int, collector: bool) -> int:
    import ops  # after harness.start(): this worker's library only, from --tinygrad DIR where given

    body = ops.rnn_bodies(*ops.rnn_problem(steps, ops.HIDDEN))[0][version]
    for _ in range(2):  # warm-up, the same in both processes
        body()
    gc.collect()
    if not collector:
        gc.disable()
    for _ in range(runs):
        body()
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the parent
def count(only: str, version: str, runs: int, steps: int, collector: bool, library: str | None) -> int:
    command = [*VALGRIND, sys.executable, SCRIPT, "--only", only, "--version", version, "--runs", str(runs),
               "--steps", str(steps)] + ([] if collector else ["--no-gc"]) + (["--tinygrad", library] if library
                                                                                 else [])
    done = subprocess.run(command, capture_output=True, text=True, env=harness.worker_env(1), timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return instructions_of(done.stderr)


def worktree(revision: str) -> str:
    """A detached git worktree of ``revision`` in a temporary directory (removed by :func:`drop_worktree`)."""
    path = tempfile.mkdtemp(prefix="tinygrad_rnn-")
    subprocess.run(["git", "-C", harness.REPO, "worktree", "add", "--detach", "-f", path, revision], check=True,
                   capture_output=True)
    return path


def drop_worktree(path: str) -> None:
    subprocess.run(["git", "-C", harness.REPO, "worktree", "remove", "--force", path], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def measure_all(args, steps: int, runs: tuple, log=print) -> list:
    """``[(row label, millions of instructions a run with the collector, without it or None)]``."""
    rows = []
    sides = [("tinygrad", "", None)]
    against = worktree(args.against) if args.against else None
    try:
        if against:
            sides.append(("tinygrad", f" at {args.against}", against))
        sides += [("numpy", "", None)] + ([("torch", "", None)] if args.torch else [])
        for only, suffix, library in sides:
            for version in VERSIONS[only]:
                found = []
                for collector in (True, False) if only == "tinygrad" else (True,):
                    log(f"counting {version}{suffix}{'' if collector else ' without gc'} ...")
                    counts = tuple(count(only, version, n, steps, collector, library) for n in runs)
                    found.append(per_run(counts, runs) / 1e6)
                rows.append((version + suffix, found[0], found[1] if len(found) > 1 else None))
    finally:
        if against:
            drop_worktree(against)
    return rows


def report(rows: list, steps: int, runs: tuple, against: str | None) -> list[str]:
    from environment import command_line, cpu_line, library_origin, utc_date

    import tinygrad_rnn

    ours, floor = rows[0], next(r for r in rows if r[0] == "NumPy hand BPTT")
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    table = [[label, f"{with_gc:.1f}", f"{without:.1f}" if without else "—",
              f"{(with_gc - without) / with_gc:.0%}" if without else "—", f"{with_gc * 1e3 / steps:.1f}"]
             for label, with_gc, without in rows]
    lines = [f"# tinygrad_rnn: instructions of a {steps}-step tanh RNN run, counted by cachegrind", "",
             f"- date: {utc_date()}", f"- tinygrad_rnn: {library_origin(tinygrad_rnn)}", cpu_line(),
             f"- versions: {', '.join(f'{k} {v}' for k, v in harness.versions().items())}, {valgrind}",
             f"- command: `{command_line()}`",
             f"- method: each version in a process of its own under `{' '.join(VALGRIND)}`, once with {runs[0]} "
             f"runs and once with {runs[1]} (after the same two warm-up runs); one run = the difference of the "
             f"counts ÷ {runs[1] - runs[0]}; one thread (OMP/OpenBLAS/MKL_NUM_THREADS=1)", "",
             harness.markdown_table(["version", "M instructions a run", "without the garbage collector",
                                     "the collector's share", "k instructions a step"], table), ""]
    lines.append(f"- tinygrad_rnn: {(ours[1] - floor[1]) * 1e3 / steps:.1f} k instructions a step above the floor "
                 f"(hand-written NumPy BPTT, {floor[1] * 1e3 / steps:.1f} k)")
    if against:
        then = rows[1]
        lines.append(f"- this checkout ÷ {against}: {ours[1] / then[1]:.3f} with the collector, "
                     f"{ours[2] / then[2]:.3f} without ({ours[1] - then[1]:+.1f} M a run)")
    lines.append("- instructions are not time: compare only counts of the same code (see the script's docstring)")
    return lines + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="also count a git revision of this repository")
    parser.add_argument("--torch", action="store_true", help="also count PyTorch's loop and nn.RNN (minutes)")
    parser.add_argument("--quick", action="store_true", help=f"50 steps, {QUICK_RUNS[0]} and {QUICK_RUNS[1]} runs")
    parser.add_argument("--steps", type=int, default=None, help="RNN length (default 1000, --quick 50)")
    parser.add_argument("--out", help="also write the report to this file (e.g. benchmarks/RESULTS_instructions.md)")
    # the worker's flags
    parser.add_argument("--only", choices=tuple(VERSIONS), help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-gc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tinygrad", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = args.steps or (50 if args.quick else 1000)
    if args.only:
        return worker(args.only, args.version, args.runs, steps, not args.no_gc)
    if shutil.which("valgrind") is None:
        print("instructions.py needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    runs = QUICK_RUNS if args.quick else RUNS
    rows = measure_all(args, steps, runs, log=lambda text: print(text, file=sys.stderr))
    from environment import publish

    return publish(report(rows, steps, runs, args.against), args.out, os.path.basename(SCRIPT))


if __name__ == "__main__":
    harness.start()
    sys.exit(main())
