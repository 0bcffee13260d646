"""Saving and loading state dicts as ``.npz`` or ``.safetensors`` — written atomically, read without pickle.

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
import zipfile
from contextlib import contextmanager

import numpy as np

from . import backend as _backend
from .engine import Tensor
from .errors import DataFileError


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
    """Write a mapping of names to tensors or arrays to ``path``: safetensors where ``path`` ends in
    ``.safetensors`` (what PyTorch's ``safetensors.torch.load_file`` reads), ``.npz`` otherwise. A temporary file in
    the same folder is renamed over ``path`` only once it is complete, so an interrupted save never leaves a broken
    file. Dtypes are kept as they are (float32 stays float32, float64 float64)."""
    # a device array (a parameter's .data on CuPy) comes through its backend: CuPy refuses np.asarray
    arrays = {name: (value.numpy() if isinstance(value, Tensor) else _backend.to_host(value))
              for name, value in state.items()}
    for name, array in arrays.items():
        if array.dtype.hasobject:  # np.savez would pickle it, and load() refuses pickles
            raise TypeError(f"save: {name!r} is not an array of numbers (got {type(state[name]).__name__}); "
                            "only tensors and numeric arrays go into .npz or .safetensors")
    if os.fspath(path).endswith(".safetensors"):
        safetensors = _safetensors()
        with atomic_path(path) as tmp:
            safetensors.numpy.save_file({name: np.ascontiguousarray(a) for name, a in arrays.items()}, tmp)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def save_json(payload, path: str) -> None:
    """Write ``payload`` as indented JSON to ``path``, atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True, ensure_ascii=False)


def load(path: str) -> dict:
    """Read a file written by :func:`save` (``.npz`` or ``.safetensors``, told apart by their contents) into a dict
    of NumPy arrays. Nothing is unpickled: a PyTorch ``.pt`` file (a pickle) is refused with how to export it.

    float16, float32 and float64 come back as saved; bfloat16 (which NumPy lacks) comes back as float32, exactly:
    a bfloat16 is the upper half of a float32.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK"):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(name.endswith(".pkl") for name in names):
            raise _pytorch_pickle(path)
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    if head[:1] == b"\x80":  # a pickle's protocol byte: PyTorch's format before 1.6
        raise _pytorch_pickle(path)
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header
        return _load_safetensors(path)
    raise DataFileError(f"load: {path} is neither .npz nor .safetensors (it starts with {head[:8]!r})")


def _safetensors():
    """The safetensors package, with its NumPy API loaded."""
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("reading or writing .safetensors needs the safetensors package: pip install safetensors "
                          "(or save to .npz instead)") from None
    return safetensors


def _pytorch_pickle(path: str) -> DataFileError:
    return DataFileError(
        f"load: {path} is a PyTorch pickle (what torch.save writes); tinygrad_rnn never unpickles, since a pickle "
        "can run code as it is read. Export the weights to safetensors in PyTorch:\n"
        "    from safetensors.torch import save_file\n"
        "    save_file(model.state_dict(), \"m.safetensors\")\n"
        "then model.load_state_dict(tr.load(\"m.safetensors\")) here.")


def _load_safetensors(path: str) -> dict:
    safetensors = _safetensors()
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        with safetensors.safe_open(path, framework="numpy") as f:
            return {name: _bfloat16(path, 8 + size, header[name]) if header[name]["dtype"] == "BF16"
                    else f.get_tensor(name) for name in f.keys()}
    except (ValueError, safetensors.SafetensorError) as exc:  # ValueError: broken JSON in the header
        raise DataFileError(f"load: cannot read {path}: truncated, corrupted or not a .safetensors file "
                            f"({type(exc).__name__}: {exc})") from None


def _bfloat16(path: str, start: int, entry: dict) -> np.ndarray:
    """A BF16 entry as float32: its 16 bits are the upper half of the float32 of the same value."""
    begin, stop = entry["data_offsets"]
    with open(path, "rb") as f:
        f.seek(start + begin)
        raw = np.frombuffer(f.read(stop - begin), dtype="<u2")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])
