"""``tr.cuda``, as ``torch.cuda``: whether the CuPy backend has a GPU to run on.

>>> import tinygrad_rnn as tr
>>> isinstance(tr.cuda.is_available(), bool)
True
"""
from __future__ import annotations

from .backend import cuda_available


def is_available() -> bool:
    """True when CuPy imports, sees a GPU and loads its CUDA libraries (``device="cuda"`` then works)."""
    return cuda_available()


def device_count() -> int:
    """1 when a GPU is usable (this library runs on one), else 0."""
    return int(cuda_available())
