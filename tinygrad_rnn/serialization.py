"""Saving and loading state dicts as ``.npz`` — written atomically, read without pickle.

>>> import os, tempfile, tinygrad_rnn as tr
>>> layer = tr.nn.Linear(2, 3)
>>> path = os.path.join(tempfile.mkdtemp(), "layer.npz")
>>> tr.save(layer.state_dict(), path)
>>> fresh = tr.nn.Linear(2, 3); _ = fresh.load_state_dict(tr.load(path))
>>> bool((fresh.weight.numpy() == layer.weight.numpy()).all())
True
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .engine import Tensor


def save(state: dict, path: str) -> None:
    """Write a mapping of names to tensors or arrays to ``path`` (.npz). A temporary file in the same folder is
    renamed over ``path`` only once it is complete, so an interrupted save never leaves a broken file."""
    arrays = {name: (value.numpy() if isinstance(value, Tensor) else np.asarray(value))
              for name, value in state.items()}
    for name, array in arrays.items():
        if array.dtype.hasobject:  # np.savez would pickle it, and load() refuses pickles
            raise TypeError(f"save: {name!r} is not an array of numbers (got {type(state[name]).__name__}); "
                            "only tensors and numeric arrays go into .npz")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make a checkpoint private to its writer
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: str) -> dict:
    """Read a file written by :func:`save` into a dict of NumPy arrays (pickled objects are refused)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
