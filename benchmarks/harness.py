"""Each library in its own process, compared pair by pair: the method every CPU benchmark here shares.

A benchmark script is both parent and worker. ``python benchmarks/X.py --only LIB`` is a worker: it imports one
library (the others are blocked), times its versions and prints one ``RESULT {json}`` line (:func:`emit`). The
parent (the script without ``--only``) starts the workers one after another, every library once per round, for
``--rounds`` rounds (A B A B ...: :func:`alternate`), pairs round i's A with round i's B, takes each ratio pair by
pair (:func:`pair_ratios`) and reports the median and spread of the ratios and of each side (:func:`summarise`,
:func:`pair_table`), from each worker's median call and from its mean call (all time counted: the throughput).
``--check`` runs the correctness checks (same loss and gradients from the same weights) in a
process of its own, with no timing.

Threads are what a user of each library would have: its defaults, or with ``--threads N`` one count for both set
the same way — ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` in every worker's environment
and ``torch.set_num_threads(N)`` in PyTorch's. Nothing else about the thread pools is touched: one library per
process means no pool waits on another's.

Imports nothing heavy: a worker blocks the libraries it must not load (:func:`start`) before importing any.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_PREFIX = "RESULT "
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# the modules each worker may load; a worker blocks the others' so that one library's pools stay out of its process
LIBRARY_MODULES = {"tinygrad": (), "torch": ("torch",), "autograd": ("autograd",), "mygrad": ("mygrad",),
                   "numpy": ()}
BLOCKABLE = ("torch", "autograd", "mygrad")


# ---------------------------------------------------------------------------------------------------------------
# the flags every benchmark takes
def parser(doc: str, libs: tuple, rounds: int, out: str) -> argparse.ArgumentParser:
    """A benchmark's argument parser with the flags every one takes: ``--only``, ``--check``, ``--rounds``,
    ``--threads``, ``--worker-timeout``, ``--quick`` and ``--out`` (``out``: its results file)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats, one round (smoke test)")
    parser.add_argument("--out", help=f"also write the report (Markdown) to this file, e.g. {out}")
    parser.add_argument("--only", choices=libs, help="worker mode: time this library alone, print one RESULT line")
    parser.add_argument("--check", action="store_true", help="only the correctness checks (both libraries, one "
                        "process, no timing)")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds of worker processes, every library once a "
                        f"round (default {rounds}, --quick 1)")
    parser.add_argument("--threads", type=int, default=None, help="one thread count for every library, set the "
                        "same way for each (default: each library's own default)")
    parser.add_argument("--worker-timeout", type=float, default=600.0, help="seconds per worker process")
    return parser


def size_options(parser: argparse.ArgumentParser, full: dict, quick: dict) -> None:
    """One integer option per size (``--decode-batch`` for ``decode_batch``), unset by default: :func:`sizes` fills
    it in from ``full`` or, with ``--quick``, from ``quick``."""
    for key, value in full.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, default=None,
                            help=f"default {value} (--quick {quick[key]})")


def sizes(args, full: dict, quick: dict) -> dict:
    """The sizes of :func:`size_options`: those given on the command line, the others the defaults of the mode."""
    return {key: getattr(args, key) or (quick if args.quick else full)[key] for key in full}


def option_from_argv(name: str, argv: list | None = None) -> str | None:
    """The value of ``name`` in ``argv`` (``--only torch`` or ``--only=torch``), read before argparse runs."""
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def start(argv: list | None = None) -> str | None:
    """What a benchmark does before any other import: in a worker (``--only LIB``), make the other libraries
    unimportable (their ``import`` raises ImportError, so :func:`import_torch` gives None); put this checkout first
    on ``sys.path``. Returns LIB, or None outside a worker."""
    only = option_from_argv("--only", argv)
    if only is not None:
        for module in BLOCKABLE:
            if module not in LIBRARY_MODULES.get(only, ()):
                sys.modules[module] = None
    sys.path.insert(0, REPO)
    return only


def import_torch():
    """PyTorch, or None where it is blocked (another library's worker) or not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------------------------------------------
# the worker side
def threads_note(torch=None) -> str:
    """What the thread pools of this process were told: the environment, and PyTorch's count if it is loaded."""
    env = ", ".join(f"{k}={os.environ[k]}" for k in THREAD_VARS if k in os.environ) or "no thread variables set"
    if torch is not None:
        env += f"; torch.get_num_threads() = {torch.get_num_threads()}"
    return env


def result(seconds: list, units: float = 1.0, unit: str = "iterations") -> dict:
    """One version's measurement: seconds per call of every sample, their median (``seconds``: the typical call)
    and mean (``mean``: total time over calls, what a training run's throughput sees, with the garbage collector's
    occasional full collections that a median leaves out), and ``units / median`` per s."""
    median = statistics.median(seconds)
    return {"seconds": median, "mean": statistics.fmean(seconds), "samples": list(seconds), "rate": units / median,
            "unit": unit}


def emit(lib: str, results: dict, **extra) -> int:
    """Print the worker's one RESULT line (``results``: version name → :func:`result`); the exit status."""
    print(RESULT_PREFIX + json.dumps({"lib": lib, "results": results, **extra}), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the parent side
def worker_env(threads: int | None) -> dict:
    """The environment of a worker: this one, with the thread variables set to ``threads`` when given."""
    env = dict(os.environ)
    if threads is not None:
        env.update({var: str(threads) for var in THREAD_VARS})
    return env


def spawn(command: list, timeout: float, env: dict | None = None, cwd: str | None = None) -> dict:
    """Run one worker; its parsed RESULT line plus ``wall`` (seconds), or ``{"error": ..., "wall": ...}``."""
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {"error": f"worker ran past {timeout:.0f} s: {' '.join(command[1:])}",
                "wall": time.perf_counter() - started}
    wall = time.perf_counter() - started
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX) and done.returncode == 0:
            found = json.loads(line[len(RESULT_PREFIX):])
            found["wall"] = wall
            return found
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    return {"error": f"worker exited {done.returncode}: " + " | ".join(tail), "wall": wall}


def alternate(commands: dict, rounds: int, timeout: float, env: dict | None = None, log=print) -> list:
    """``rounds`` rounds, each running every ``commands[lib]`` once in the given order (A B A B ...); a list of
    ``{lib: spawn(...)}``, one per round."""
    runs = []
    for i in range(rounds):
        round_ = {}
        for lib, command in commands.items():
            round_[lib] = spawn(command, timeout, env)
            state = round_[lib].get("error") or f"{round_[lib]['wall']:.1f} s"
            log(f"  round {i + 1}/{rounds} {lib}: {state}")
        runs.append(round_)
    return runs


# the two statistics of a worker's samples every report gives: the typical call and the throughput
MEDIAN, MEAN = "seconds", "mean"
# the last row of a pair table, from the means: every call's time counted, as a training run's throughput counts it
MEAN_ROW = "median of the means"


def seconds_of(round_: dict, statistic: str = MEDIAN) -> dict:
    """Every version's seconds per call in one round (its median, or with ``statistic=MEAN`` its mean), whichever
    library's worker measured it."""
    return {name: r[statistic] for run in round_.values() for name, r in run.get("results", {}).items()}


def pair_ratios(runs: list, ours: str, theirs: str, sense: str, statistic: str = MEDIAN) -> list:
    """Round by round, ``ours`` against ``theirs``: with ``sense="time"`` our seconds / theirs (lower is better for
    us), with ``"speed"`` their seconds / ours (our rate / theirs: higher is better), from the workers' medians or
    (``statistic=MEAN``) means. None where a side is missing."""
    ratios = []
    for round_ in runs:
        seconds = seconds_of(round_, statistic)
        if ours not in seconds or theirs not in seconds:
            ratios.append(None)
            continue
        ratios.append(seconds[ours] / seconds[theirs] if sense == "time" else seconds[theirs] / seconds[ours])
    return ratios


def spread(values: list) -> dict | None:
    """Median, min, max and the quartiles of the values that are there; None if none is."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "q1": q1, "q3": q3,
            "n": len(values)}


def summarise(runs: list, comparisons: list) -> dict:
    """``{"seconds": {version: spread}, "ratios": {label: {**spread, "pairs": [...]}}}`` from the workers' medians,
    and the same from their means under ``"mean_seconds"`` and ``"mean_ratios"``; ``comparisons`` holds
    ``(ours, theirs, sense)`` triples (see :func:`pair_ratios`), each labelled :func:`label`."""
    names = list(dict.fromkeys(name for round_ in runs for name in seconds_of(round_)))
    table = {}
    for prefix, statistic in (("", MEDIAN), ("mean_", MEAN)):
        per_round = [seconds_of(r, statistic) for r in runs]
        table[prefix + "seconds"] = {name: spread([s.get(name) for s in per_round]) for name in names}
        table[prefix + "ratios"] = {}
        for ours, theirs, sense in comparisons:
            pairs = pair_ratios(runs, ours, theirs, sense, statistic)
            stats = spread(pairs)
            if stats is not None:
                table[prefix + "ratios"][label(ours, theirs, sense)] = {**stats, "pairs": pairs, "sense": sense}
    return table


def label(ours: str, theirs: str, sense: str) -> str:
    return f"{ours} ÷ {theirs} ({'time' if sense == 'time' else 'speed'})"


def aim_line(text: str, summary: dict, comparison: tuple, met, per: str = "") -> str:
    """A report's line on one aim, the ratio of ``comparison`` (``(ours, theirs, sense)``) ``per`` what (e.g.
    " the time"): ``- text: **met**`` where ``met(ratio)`` holds for the median over the pairs of both the typical
    run's ratio (the workers' medians) and the throughput's (their means), else ``**NOT met**``; each with its
    spread over the pairs, n/a where the pair has no ratio."""
    key = label(*comparison)
    typical, throughput = summary["ratios"].get(key), summary["mean_ratios"].get(key)
    if typical is None or throughput is None:
        return f"- {text}: n/a"
    verdict = "met" if met(typical["median"]) and met(throughput["median"]) else "NOT met"
    return (f"- {text}: **{verdict}** (median run {typical['median']:.2f}×{per} over {typical['n']} pairs, "
            f"{typical['min']:.2f}–{typical['max']:.2f}×; mean run {throughput['median']:.2f}×, "
            f"{throughput['min']:.2f}–{throughput['max']:.2f}×)")


def errors(runs: list) -> list:
    return [f"round {i + 1}, {lib}: {run['error']}" for i, round_ in enumerate(runs) for lib, run in round_.items()
            if "error" in run]


# ---------------------------------------------------------------------------------------------------------------
# the report
def fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.3f}"


def fmt_spread(stats: dict | None, fmt=lambda v: f"{v:.2f}×") -> str:
    if stats is None:
        return "n/a"
    return f"{fmt(stats['median'])} [{fmt(stats['min'])} – {fmt(stats['max'])}; IQR {fmt(stats['q1'])} – " \
           f"{fmt(stats['q3'])}]"


def markdown_table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(str(c) for c in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def pair_table(runs: list, versions: list, comparisons: list, short=lambda name: name) -> str:
    """One row per round: each version's ms per call (its worker's median) and each ratio of that round; then
    median and spread over the rounds, and a last row from the workers' means (:data:`MEAN_ROW`: the median over
    the rounds of each mean, and of each ratio of means). ``short`` names a version in the header."""
    header = ["round"] + [f"{short(v)} ms" for v in versions]
    header += [f"{short(ours)} ÷ {short(theirs)} ({sense})" for ours, theirs, sense in comparisons]
    rows = []
    for i, round_ in enumerate(runs):
        seconds = seconds_of(round_)
        cells = [fmt_ms(seconds[v]) if v in seconds else "—" for v in versions]
        ratios = [pair_ratios([round_], *c)[0] for c in comparisons]
        rows.append([str(i + 1)] + cells + ["—" if r is None else f"{r:.2f}×" for r in ratios])
    summary = summarise(runs, comparisons)
    for name, pick, prefix in (("median", "median", ""), ("min – max", ("min", "max"), ""),
                               ("IQR", ("q1", "q3"), ""), (MEAN_ROW, "median", "mean_")):
        cells = [_cell(summary[prefix + "seconds"].get(v), pick, fmt_ms) for v in versions]
        cells += [_cell(summary[prefix + "ratios"].get(label(*c)), pick, lambda r: f"{r:.2f}×") for c in comparisons]
        rows.append([f"**{name}**"] + cells)
    return markdown_table(header, rows)


def _cell(stats: dict | None, pick, fmt) -> str:
    if stats is None:
        return "n/a"
    if isinstance(pick, str):
        return f"**{fmt(stats[pick])}**"
    return " – ".join(fmt(stats[k]) for k in pick)


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_clock() -> dict | None:
    """CPU seconds so far: the whole machine's busy and stolen time (Linux ``/proc/stat``), and this process's with
    its finished children's; None where ``/proc/stat`` is missing. Two readings tell how much of the cores other
    processes took between them (:func:`others_share`): the workers' own threads raise the load average, so the
    load average alone cannot."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    mine = os.times()
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick,
            "ours": mine.user + mine.system + mine.children_user + mine.children_system,
            "wall": time.perf_counter(), "cores": os.cpu_count() or 1}


def others_share(start: dict | None, end: dict | None) -> dict | None:
    """Between two :func:`cpu_clock` readings, the share of all cores' time that other processes used and that the
    hypervisor stole (``{"others", "steal"}``, 0–1); None without readings."""
    if start is None or end is None:
        return None
    span = max((end["wall"] - start["wall"]) * end["cores"], 1e-9)
    others = (end["busy"] - start["busy"]) - (end["ours"] - start["ours"])
    return {"others": max(others, 0.0) / span, "steal": max(end["steal"] - start["steal"], 0.0) / span}


def quiet_note(load_before: float, shares: dict | None, quiet: float = 0.05, quiet_load: float = 0.3) -> str:
    """The load line of a report: quiet, or a warning that these figures were measured under load. Quiet means
    other processes and the hypervisor together took under ``quiet`` of the cores' time during the run
    (``shares``, :func:`others_share`); where that cannot be read, a 1-minute load average under ``quiet_load``
    before the first round."""
    line = f"- load: 1-minute load average {load_before:.2f} before the first round"
    if shares is None:
        taken, limit, bound = load_before, quiet_load, f"{quiet_load:g}"
        line += " (the cores' use during the run is unknown here)"
    else:
        taken, limit, bound = shares["others"] + shares["steal"], quiet, f"{quiet:.0%}"
        line += (f"; during the run other processes used {shares['others']:.1%} of the cores' time and the "
                 f"hypervisor stole {shares['steal']:.1%}")
    if taken < limit:
        return line + f" (below {bound}: a quiet machine)"
    return line + (f" — **above {bound}: other jobs shared the cores, so these figures are not to be trusted; "
                   "re-measure on a quiet machine**")


def method_lines(rounds: int, threads: int | None, runs: list, what: str) -> list:
    """The report's method paragraph and thread line (``what``: what one worker measures)."""
    notes = dict.fromkeys(f"{lib}: {run['threads']}" for round_ in runs for lib, run in round_.items()
                          if "threads" in run)
    setting = (f"`--threads {threads}`: {', '.join(f'{v}={threads}' for v in THREAD_VARS)} in every worker's "
               f"environment and `torch.set_num_threads({threads})` in PyTorch's" if threads is not None else
               "each library's own defaults (no thread variable set by the benchmark)")
    return [f"- threads: {setting}; as seen by the workers: {'; '.join(notes) or 'n/a'}",
            (f"- method: each library in its own process (the others blocked from loading), {rounds} rounds of "
             f"worker processes, every library once a round in the same order (A B A B ...); a worker {what}; "
             "round i's processes form a pair, every ratio is taken pair by pair, and the tables give each round, "
             "then the median, min – max and interquartile range over the rounds of each side and of each ratio, "
             "from each worker's median call; the last row takes each worker's mean call instead (all time "
             "counted, as a training run's throughput counts it: a median leaves out the rare calls that hold a "
             "full collection of Python's garbage collector), and an aim is met only where both rows meet it. "
             "Correctness (same loss and gradients from the same weights) is checked by `--check`, in a process of "
             "its own.")]


# ---------------------------------------------------------------------------------------------------------------
# one call for a script's parent mode, one for its report's head
PARENT_ONLY = ("--out", "--rounds", "--worker-timeout", "--json")


def passthrough(argv: list) -> list:
    """The parent's arguments a worker takes too: all but the parent-only options (and their values)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in PARENT_ONLY:
            skip = True
            continue
        if not arg.startswith(tuple(f"{o}=" for o in PARENT_ONLY)):
            out.append(arg)
    return out


def run_parent(script: str, args, libs: tuple, default_rounds: int, argv: list | None = None, log=print) -> dict:
    """Alternate ``script --only LIB`` workers (with the parent's other arguments) for ``args.rounds`` rounds;
    ``{"runs", "rounds", "load" (the 1-minute load average before), "cpu" (:func:`others_share` over the run),
    "elapsed", "threads"}``."""
    rounds = args.rounds or (1 if getattr(args, "quick", False) else default_rounds)
    rest = passthrough(sys.argv[1:] if argv is None else list(argv))
    commands = {lib: [sys.executable, os.path.abspath(script), "--only", lib, *rest] for lib in libs}
    before, clock, started = load_average(), cpu_clock(), time.perf_counter()
    runs = alternate(commands, rounds, args.worker_timeout, worker_env(args.threads), log)
    return {"runs": runs, "rounds": rounds, "load": before, "cpu": others_share(clock, cpu_clock()),
            "elapsed": time.perf_counter() - started, "threads": args.threads}


def dispatch(args, script: str, libs: tuple, check, worker, report, argv: list | None = None) -> int:
    """A benchmark's main after parsing: ``check()`` with ``--check``, ``worker()`` with ``--only``, else the parent
    (:func:`run_parent`, five rounds by default) and its report, ``report(session)``'s lines, published to
    ``args.out``; the exit status (1 if a worker failed)."""
    from environment import publish

    if args.check:
        return check()
    if args.only:
        return worker()
    session = run_parent(script, args, libs, default_rounds=5, argv=argv)
    problems = errors(session["runs"])
    lines = report(session) + (["### Errors", "", *(f"- {p}" for p in problems), ""] if problems else [])
    publish(lines, args.out, os.path.basename(script))
    return 1 if problems else 0


def apply_threads(torch, threads: int | None) -> None:
    """PyTorch's side of ``--threads`` (the environment variables are the parent's side)."""
    if torch is not None and threads is not None:
        torch.set_num_threads(threads)


def versions(torch=None) -> dict:
    import platform

    import numpy as np

    found = {"python": platform.python_version(), "numpy": np.__version__}
    if torch is not None:
        found["torch"] = torch.__version__
    if "tinygrad_rnn" in sys.modules:
        found["tinygrad_rnn"] = sys.modules["tinygrad_rnn"].__version__
    return found


def report_head(title: str, session: dict, what: str) -> list:
    """A report's first lines: title, date, library origin, CPU, load, versions, command, threads and method."""
    from environment import command_line, cpu_line, library_origin, numpy_blas, utc_date

    import tinygrad_rnn

    runs = session["runs"]
    found: dict = {}
    for round_ in runs:
        for run in round_.values():
            found.update(run.get("versions", {}))
    return [f"# {title}", "", f"- date: {utc_date()}", f"- tinygrad_rnn: {library_origin(tinygrad_rnn)}",
            cpu_line(), quiet_note(session["load"], session["cpu"]),
            f"- versions: {', '.join(f'{k} {v}' for k, v in found.items())}; BLAS under NumPy: {numpy_blas()}",
            f"- command: `{command_line()}` (whole run {session['elapsed']:.0f} s)",
            *method_lines(session["rounds"], session["threads"], runs, what)]
