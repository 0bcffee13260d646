"""Thread pools pinned before NumPy or PyTorch load, and the line that records them. Imports nothing heavy: a
benchmark calls :func:`pin` first thing, before ``import numpy``.

Idle worker threads are told to sleep rather than spin: the libraries take turns within one process, and on two
cores PyTorch's spinning OpenMP workers stole the cores from OpenBLAS's (and back) — measured here, that alone made
a tiny step 100-500× slower for whichever library ran next.
"""
from __future__ import annotations

import os

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
WAIT_VARS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}  # libgomp; OpenBLAS: 2^4 cycles of spin
_PREFIXES = ("OPENBLAS", "OMP_", "MKL_")
_before: dict = {}


def pin(threads: int, sleep_idle: bool = True) -> None:
    """Every BLAS / OpenMP pool to ``threads`` threads (an explicit environment setting wins)."""
    _before.update({k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)})
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    if sleep_idle:
        for var, value in WAIT_VARS.items():
            os.environ.setdefault(var, value)


def environment_line() -> str:
    """The thread-related environment, each variable this process set marked as such."""
    return ", ".join(f"{k}={v}" + ("" if k in _before else " (set by this script)")
                     for k, v in sorted(os.environ.items()) if k.startswith(_PREFIXES))
