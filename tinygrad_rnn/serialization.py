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

import gc
import json
import os
import tempfile
from contextlib import contextmanager

import numpy as np

from . import backend as _backend
from .engine import Tensor


@contextmanager
def without_gc():
    """The cyclic garbage collector paused in the ``with`` block (and restored after, if it was on): for parsing or
    building hundreds of thousands of small lists, dicts and tuples, none of them garbage, which the collector would
    otherwise rescan over and over, most of the time spent.

    >>> import gc
    >>> with without_gc():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def atomic_path(path: str, prefix: str = ".tmp-", before_rename=None):
    """A temporary path beside ``path`` to write in the ``with`` block. Only when the block succeeds is the file
    synced and renamed over ``path``; otherwise it is removed, so ``path`` is never left half-written. The
    temporary file's name starts with ``prefix``; ``before_rename()``, if given, runs once it is synced.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read()
    'done'
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=os.path.splitext(path)[1])
    os.close(handle)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private to its writer
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save(state: dict, path: str) -> None:
    """Write a mapping of names to tensors or arrays to ``path`` (.npz). A temporary file in the same folder is
    renamed over ``path`` only once it is complete, so an interrupted save never leaves a broken file."""
    # a device array (a parameter's .data on CuPy) comes through its backend: CuPy refuses np.asarray
    arrays = {name: (value.numpy() if isinstance(value, Tensor) else _backend.to_host(value))
              for name, value in state.items()}
    for name, array in arrays.items():
        if array.dtype.hasobject:  # np.savez would pickle it, and load() refuses pickles
            raise TypeError(f"save: {name!r} is not an array of numbers (got {type(state[name]).__name__}); "
                            "only tensors and numeric arrays go into .npz")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def save_json(payload, path: str) -> None:
    """Write ``payload`` as indented JSON to ``path``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True, ensure_ascii=False)


def load(path: str) -> dict:
    """Read a file written by :func:`save` into a dict of NumPy arrays (pickled objects are refused)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
