"""The checkpoint format: a pair of files, ``NAME.npz`` (every array) and ``NAME.json`` (the rest, and the SHA-256
of its ``.npz``), that survives a kill at any moment of its writing.

A write never touches the pair in place until a complete new pair exists beside it:

1. the arrays go to a temporary file, synced and renamed to ``.NAME.next.npz``;
2. the JSON, holding that file's digest, likewise to ``.NAME.next.json`` — the new pair is now complete;
3. ``.NAME.next.npz`` is renamed over ``NAME.npz``, then ``.NAME.next.json`` over ``NAME.json``.

A kill before step 2 ends leaves the previous pair as it was (and orphaned temporary files, removed by the next
write); a kill inside step 3 leaves a complete new pair, read from where it stands (``.NAME.next.json`` with
either ``.npz``) and put in place by the next write. :func:`load` takes the newest pair whose JSON names its
``.npz``'s digest, so a ``.npz`` and a ``.json`` not written together are never used together: that, a truncated
or corrupted file, broken JSON or the JSON of something else raise :class:`~tinygrad_rnn.errors.CheckpointError`
naming the file. No pickle: arrays are read with ``allow_pickle=False``.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "last")
>>> save(path, {"w": np.arange(3.0)}, {"step": 2})
>>> ck = load(path)
>>> ck.meta["step"], ck.arrays["w"].tolist()
(2, [0.0, 1.0, 2.0])
>>> sorted(os.listdir(os.path.dirname(path)))
['last.json', 'last.npz']
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from . import backend as _backend
from .engine import Tensor
from .errors import CheckpointError
from .serialization import atomic_path

FORMAT = 1  # bumped when the layout changes; a checkpoint without it predates the digest (read, step-checked)

# The steps of a write, in order. Tests make a writer die after each (``_after`` is called with its name).
STAGES = ("npz written", "npz ready", "json written", "pair ready", "npz in place")
_after = None


def _reached(stage: str) -> None:
    if _after is not None:
        _after(stage)


@dataclass
class Checkpoint:
    """A verified pair: its arrays (NumPy), its JSON and where they were read from."""

    path: str
    arrays: dict
    meta: dict
    npz: str
    json: str


# -- file names -----------------------------------------------------------------------------------------------------
def _next(path: str, suffix: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.next{suffix}")


def _candidates(path: str) -> list[tuple[str, str]]:
    """(json, npz) pairs that may hold the checkpoint, newest first: a finished write's, then a write killed after
    its new pair was complete (step 3 half done, or not begun)."""
    return [(_next(path, ".json"), _next(path, ".npz")), (_next(path, ".json"), path + ".npz"),
            (path + ".json", path + ".npz")]


def exists(path: str) -> bool:
    """Whether a checkpoint (complete or not) is at ``path``: a JSON of it, in place or written beside it."""
    return os.path.exists(path + ".json") or os.path.exists(_next(path, ".json"))


def digest(file: str) -> str:
    sha = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


# -- writing --------------------------------------------------------------------------------------------------------
def _write(target: str, write, stage: str) -> None:
    """``write(file)`` into a temporary file beside ``target`` (named after it, so :func:`_settle` finds it if a
    kill leaves it), synced, then renamed to ``target``."""
    with atomic_path(target, prefix=f"{os.path.basename(target)}.tmp-", before_rename=lambda: _reached(stage)) \
            as tmp, open(tmp, "wb") as f:
        write(f)


def _sync_folder(folder: str) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:  # a platform without directory handles: the renames are still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _settle(path: str) -> None:
    """Before a write: finish a write killed after its new pair was complete, then remove what killed writes left."""
    found = _newest(path)
    if found is not None and found[0] == _next(path, ".json"):
        if found[1] != path + ".npz":
            os.replace(found[1], path + ".npz")
        os.replace(found[0], path + ".json")
    folder, name = os.path.split(path)
    for orphan in glob.glob(os.path.join(glob.escape(folder or "."), f".{glob.escape(name)}.*")):
        if orphan.endswith((".next.npz", ".next.json")) or ".tmp-" in orphan:
            os.remove(orphan)


def save(path: str, arrays: dict, meta: dict) -> None:
    """Write the pair ``path.npz`` (``arrays``: names to NumPy arrays of numbers) and ``path.json`` (``meta``, any
    JSON-able dict, plus the format and the ``.npz``'s digest) so that a kill at any moment leaves a readable pair:
    the previous one, or this one once complete (see the module docstring)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    _settle(path)
    for name, array in arrays.items():
        if np.asarray(array).dtype.hasobject:  # np.savez would pickle it, and load refuses pickles
            raise TypeError(f"checkpoint.save: {name!r} is not an array of numbers; only numeric arrays go into "
                            ".npz")
    next_npz, next_json = _next(path, ".npz"), _next(path, ".json")
    _write(next_npz, lambda f: np.savez(f, **arrays), "npz written")
    _reached("npz ready")
    payload = {**meta, "format": FORMAT, "npz_sha256": digest(next_npz)}
    text = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    _write(next_json, lambda f: f.write(text), "json written")
    _sync_folder(folder)
    _reached("pair ready")
    os.replace(next_npz, path + ".npz")
    _reached("npz in place")
    os.replace(next_json, path + ".json")
    _sync_folder(folder)


# -- reading --------------------------------------------------------------------------------------------------------
def _read_json(file: str) -> dict:
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise CheckpointError(f"checkpoint: cannot read {file} ({exc.strerror or exc})") from None
    if not raw.strip():
        raise CheckpointError(f"checkpoint: {file} is empty ({len(raw)} bytes), not a checkpoint's JSON")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"checkpoint: {file} is not text (not UTF-8), not a checkpoint's JSON") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint: {file} is not valid JSON (line {exc.lineno} column {exc.colno}: "
                              f"{exc.msg}); truncated or edited?") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint: {file} holds a JSON {type(meta).__name__}, not a checkpoint's JSON "
                              "object")
    return meta


def _matches(json_file: str, npz_file: str) -> bool:
    """Whether ``json_file`` reads and names ``npz_file``'s digest (quietly False otherwise)."""
    if not (os.path.exists(json_file) and os.path.exists(npz_file)):
        return False
    try:
        recorded = _read_json(json_file).get("npz_sha256")
    except CheckpointError:
        return False
    return recorded is not None and recorded == digest(npz_file)


def _newest(path: str) -> tuple[str, str] | None:
    for json_file, npz_file in _candidates(path):
        if _matches(json_file, npz_file):
            return json_file, npz_file
    return None


def _mismatch(json_file: str, npz_file: str, meta: dict) -> CheckpointError:
    size = os.path.getsize(npz_file)
    what = ("is empty (0 bytes)" if size == 0 else f"({size:,} bytes) is not the file {os.path.basename(json_file)} "
            "was written with: the pair was not written together, or the .npz was truncated or changed")
    return CheckpointError(f"checkpoint: {npz_file} {what} (its SHA-256 differs from the one {json_file} records, "
                           f"of step {meta.get('step', '?')})")


def _read_arrays(npz_file: str) -> dict:
    try:
        with np.load(npz_file, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint: {npz_file} is missing (its .json is there)") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, AttributeError) as exc:
        raise CheckpointError(f"checkpoint: cannot read {npz_file}: truncated, corrupted or not an .npz "
                              f"({type(exc).__name__}: {exc})") from None


def verify(path: str) -> tuple[str, str, dict]:
    """The (json, npz) files of the checkpoint at ``path`` that belong together and the JSON; raises
    :class:`CheckpointError` naming the file when there is none (missing, broken, or a pair not written together)."""
    found = _newest(path)
    if found is not None:
        return found[0], found[1], _read_json(found[0])
    json_file, npz_file = path + ".json", path + ".npz"
    if not os.path.exists(json_file):
        raise CheckpointError(f"checkpoint: no {json_file} (a checkpoint is named without its .npz/.json suffix)")
    meta = _read_json(json_file)
    if not os.path.exists(npz_file):
        raise CheckpointError(f"checkpoint: {npz_file} is missing (its .json is there)")
    if "npz_sha256" in meta:
        raise _mismatch(json_file, npz_file, meta)
    return json_file, npz_file, meta  # a checkpoint from before the digest: load checks its step instead


def load(path: str, required: tuple = ()) -> Checkpoint:
    """The checkpoint at ``path`` (named without its suffix), verified: its ``.npz`` is the one its JSON was written
    with, and the JSON has the keys ``required``. Raises :class:`CheckpointError` naming the file otherwise."""
    json_file, npz_file, meta = verify(path)
    missing = [key for key in required if key not in meta]
    if missing:
        raise CheckpointError(f"checkpoint: {json_file} lacks the keys {missing}: not the JSON of a checkpoint "
                              f"written by tinygrad_rnn's Trainer (it has {sorted(meta)[:8]})")
    arrays = _read_arrays(npz_file)
    if "npz_sha256" not in meta and "step" in meta and "step" in arrays:
        if int(arrays["step"]) != meta["step"]:
            raise CheckpointError(f"checkpoint: {npz_file} holds step {int(arrays['step'])} but {json_file} step "
                                  f"{meta['step']}; the pair was not written together")
    return Checkpoint(path, arrays, meta, npz_file, json_file)


# -- what a Trainer keeps: weights, optimiser, carried state, random numbers, the loop's state -----------------------
TRAINER_KEYS = ("step", "config", "param_groups", "optimizer_scalars", "carry", "rng", "model")


def _host(value) -> np.ndarray:
    # a device array (a parameter's .data on CuPy) comes through its backend: CuPy refuses np.asarray
    return value.numpy() if isinstance(value, Tensor) else _backend.to_host(value)


def _flatten_state(state, prefix: str = "carry") -> dict:
    if state is None:
        return {}
    if isinstance(state, tuple):
        out = {}
        for k, s in enumerate(state):
            out.update(_flatten_state(s, f"{prefix}/{k}"))
        return out
    return {prefix: state.numpy()}


def _state_layout(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return [_state_layout(s) for s in state]
    return "tensor"


def save_training(path: str, model, optimizer, step: int, carry=None, config: dict | None = None,
                  extra: dict | None = None) -> None:
    """A training run's checkpoint: ``path.npz`` holds the weights (``model/…``), the optimiser's arrays
    (``optim/<param index>/<name>``), the carried state (``carry/…``) and the step; ``path.json`` the step, the
    model's class name, ``config``, the optimiser's groups and scalars, the carry's layout, every backend's
    random-number state and ``extra`` (the caller's loop state)."""
    state = optimizer.state_dict()
    arrays = {f"model/{k}": _host(v) for k, v in model.state_dict().items()}
    scalars: dict = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if hasattr(value, "shape"):
                arrays[f"optim/{index}/{key}"] = _host(value)
            else:
                scalars.setdefault(str(index), {})[key] = value
    arrays.update(_flatten_state(carry))
    arrays["step"] = np.asarray(step, dtype=np.int64)
    save(path, arrays, {"step": step, "config": config or {}, "param_groups": state["param_groups"],
                        "optimizer_scalars": scalars, "carry": _state_layout(carry),
                        "rng": _backend.get_rng_state(), "model": type(model).__name__, "extra": extra or {}})


def load_training(path: str, model: str | None = None) -> Checkpoint:
    """A checkpoint written by :func:`save_training`, verified; with ``model`` (a class name) it must be of that
    model. Raises :class:`CheckpointError` naming the file otherwise."""
    ck = load(path, required=TRAINER_KEYS)
    if model is not None:
        check_model(ck, model)
    if not isinstance(ck.meta["config"], dict) or not isinstance(ck.meta["step"], int):
        raise CheckpointError(f"checkpoint: {ck.json} has a step or config of the wrong kind "
                              f"({type(ck.meta['step']).__name__}, {type(ck.meta['config']).__name__})")
    return ck


def check_model(ck: Checkpoint, model: str) -> None:
    """Raise :class:`CheckpointError` naming the file unless ``ck`` is a training checkpoint of a ``model`` (a
    class name)."""
    if ck.meta["model"] != model:
        raise CheckpointError(f"checkpoint: {ck.json} is a checkpoint of a {ck.meta['model']}, not of a {model}")


def model_state(ck: Checkpoint) -> dict:
    """The weights of a training checkpoint, by parameter name."""
    return {k[len("model/"):]: v for k, v in ck.arrays.items() if k.startswith("model/")}


def load_weights(ck: Checkpoint, model) -> None:
    """Copy a training checkpoint's weights into ``model``; a checkpoint of another shape or layout raises
    :class:`CheckpointError` naming the file."""
    try:
        model.load_state_dict(model_state(ck))
    except (KeyError, ValueError) as exc:
        text = exc.args[0] if exc.args else exc
        raise CheckpointError(f"checkpoint: {ck.npz} does not fit this {type(model).__name__}: {text}") from None


def optimizer_state(ck: Checkpoint) -> dict:
    """The optimiser's state dict of a training checkpoint (arrays on the host)."""
    state: dict = {}
    for key, value in ck.arrays.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in ck.meta["optimizer_scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": ck.meta["param_groups"]}


def carried_state(ck: Checkpoint, device: str):
    """The state ``Trainer.fit_tbptt`` carried between windows, rebuilt as tensors on ``device``."""
    def rebuild(layout, prefix: str):
        if layout is None:
            return None
        if isinstance(layout, list):
            return tuple(rebuild(item, f"{prefix}/{k}") for k, item in enumerate(layout))
        if prefix not in ck.arrays:
            raise CheckpointError(f"checkpoint: {ck.npz} lacks the carried state {prefix!r} its JSON names")
        return Tensor(ck.arrays[prefix], device=device)

    return rebuild(ck.meta["carry"], "carry")
