"""What every benchmark records beside its numbers: where the library came from, the BLAS, the date, the command;
and the one way they all take those numbers (:func:`measure`).

Pure functions, no import-time settings: each benchmark script sets its own thread counts before NumPy loads.
"""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Timing:
    """Seconds per call over the repeats (wall clock): every sample, the best, the median and the total; and where
    CPU time was measured too, its samples (``cpu``) and their total (``cpu_total``), else None."""

    def __init__(self, samples: list, cpu: list | None = None):
        self.samples = samples
        self.best = min(samples)
        self.median = statistics.median(samples)
        self.total = sum(samples)
        self.cpu = cpu
        self.cpu_total = None if cpu is None else sum(cpu)


def measure(bodies: dict, repeats: int, warmup: int, inner: dict | None = None, *, cpu: bool = False,
            alternate: bool = False) -> dict:
    """Time every ``bodies[name]()``: ``warmup`` calls each, then ``repeats`` rounds in which each body in turn
    runs ``inner[name]`` calls (one call each without ``inner``). Returns a Timing (seconds per call) per name.

    Wall time is ``time.perf_counter``; with ``cpu``, ``time.process_time`` (every thread of the process) is taken
    around it as well. With ``alternate``, every other round runs the bodies in reverse order, so who goes first
    alternates.

    The bodies take turns within each round, so a noisy spell on a shared machine hits every library alike and
    the ratios stay honest. The garbage collector stays on, as it is for a user: a library whose graph is made of
    Python objects pays for its collections, and the mean of the samples (``harness.result``) counts
    them."""
    for body in bodies.values():
        for _ in range(warmup):
            body()
    names = list(bodies)
    wall = {name: [] for name in names}
    cpu_samples = {name: [] for name in names} if cpu else None
    clock, cpu_clock = time.perf_counter, time.process_time
    for round_ in range(repeats):
        for name in (names[::-1] if alternate and round_ % 2 else names):
            body, n = bodies[name], inner[name] if inner else 1
            start_cpu = cpu_clock() if cpu else 0.0
            start = clock()
            for _ in range(n):
                body()
            elapsed = clock() - start
            wall[name].append(elapsed / n)
            if cpu:
                cpu_samples[name].append((cpu_clock() - start_cpu) / n)
    return {name: Timing(wall[name], cpu_samples[name] if cpu else None) for name in names}


def inner_for(body, target_s: float) -> int:
    """How many calls make one repeat last about ``target_s``."""
    start = time.perf_counter()
    body()
    one = max(time.perf_counter() - start, 1e-7)
    return max(1, int(target_s / one))


def library_origin(module) -> str:
    """Where ``module`` (tinygrad_rnn) was imported from, and the git state of that checkout."""
    where = os.path.dirname(os.path.abspath(module.__file__))
    try:
        top = os.path.dirname(where)
        commit = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "tinygrad_rnn"], capture_output=True,
                               text=True, check=True).stdout.strip()
        state = f"git {commit}" + (", with uncommitted changes under tinygrad_rnn/" if dirty else ", clean")
    except (OSError, subprocess.CalledProcessError):
        state = "not a git checkout"
    return f"`{os.path.relpath(where, REPO) if where.startswith(REPO) else where}` ({state})"


def numpy_blas() -> str:
    """NumPy's BLAS and version, and for OpenBLAS the kernels it runs: ``scipy-openblas 0.3.31 (SkylakeX
    kernels)``, with ``OPENBLAS_CORETYPE`` where it is set (it overrides OpenBLAS's choice; the kernels it picks for
    a CPU can differ by 1.3-1.5x on the small products of a recurrent step, see RESULTS_charlm.md)."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        text = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):  # older NumPy: no mode="dicts"
        return "?"
    core = openblas_core()
    if core is not None:
        forced = os.environ.get("OPENBLAS_CORETYPE")
        text += f" ({core} kernels{f', OPENBLAS_CORETYPE={forced}' if forced else ''})"
    return text


def openblas_core() -> str | None:
    """The kernel set (core name) of the OpenBLAS that NumPy loaded, as OpenBLAS reports it; None where NumPy's BLAS
    is not a bundled OpenBLAS."""
    import ctypes
    import glob

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)  # the copy NumPy already loaded: the same handle
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
                     "openblas_get_corename"):
            get = getattr(lib, name, None)
            if get is not None:
                get.restype = ctypes.c_char_p
                core = get()
                return core.decode() if core else None
    return None


def utc_date() -> str:
    # datetime.UTC needs Python 3.11; the package supports 3.10
    return datetime.now(timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")  # noqa: UP017


def command_line() -> str:
    """The command that ran this script, with the interpreter relative to here where it can be."""
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        if not rel.startswith(".."):
            exe = rel
    except ValueError:
        pass
    return shlex.join([exe] + sys.argv)


def cpu_line() -> str:
    """``- CPU: <model>; N logical cores, M usable by this process; <OS>`` for a results file."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return (f"- CPU: {cpu}; {os.cpu_count()} logical cores, {usable} usable by this process; "
            f"{platform.system()} {platform.release()} {platform.machine()}")


def publish(lines: list, out: str | None, script: str) -> int:
    """Print the report (``lines`` joined) and, with ``out``, write it there (:func:`write_report`); the script's
    exit status."""
    text = "\n".join(lines)
    print(text)
    if out:
        write_report(out, text, script)
        print(f"wrote {out}")
    return 0


def write_report(path: str, text: str, script: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping the hand-written notes below ``script``'s marker."""
    existing = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            existing = f.read()
    marker = f"\n<!-- notes below are kept by benchmarks/{script} -->\n"
    notes = existing[existing.index(marker):] if marker in existing else ""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + notes)
    os.replace(tmp, path)
