#!/usr/bin/env python
"""The prepared device check (``make gpu-check``): one run on a lent GPU machine, everything it learns in one folder.

Stages, in this order, each in its own process with its own time limit (a hang cannot eat the budget):

1. ``smoke``: one elementwise op, one matmul and one random draw on ``device="cuda"``; the GPU's name and the
   CuPy / CUDA runtime / driver versions. A failed smoke stage stops the run (nothing later could work).
2. ``tests``: ``pytest -k cuda tests`` (the suite's ``device`` fixture runs every engine test on "cuda"), plus
   ``tests/test_cuda_kernels.py`` where it exists; junit XML and the log kept. Failures are recorded, the run goes on.
3. ``agreement``: the same weights (the CPU model's state dict loaded into a copy moved with ``Module.to``) and the
   same batch on the CPU and on the device: loss and every parameter gradient of RNN (tanh, relu), LSTM (plain,
   peepholes, coupled, the 1997 cell), GRU (reset after / before), fused and explicit, multi-layer bidirectional
   with lengths; a Seq2Seq with attention under teacher forcing; Adam and SGD-momentum steps; clip_grad_norm_'s
   norm. Errors are max |device − cpu| / max |cpu|; float64 must agree to 1e-10, float32 to 1e-5. The CPU side runs
   the array code (the reference), not the compiled CPU loops, whose own tanh would add its 3e-7 to the gap.
4. ``dtype``: float32 stays float32 through a training step (parameters, gradients, optimiser state, loss, norm).
5. ``syncs``: device→host reads during one training step (forward + ``Trainer.update``) of a char-LM LSTM and of
   a Seq2Seq, counted by wrapping every point where CuPy reads the device, with the first frame inside
   tinygrad_rnn of each read; then one step under ``cupyx.allow_synchronize(False)``. The aim is zero.
6. ``bench``: ``benchmarks/gpu.py`` (each library in its own process, alternated, ratios pair by pair).

Everything lands in ``--out`` (default ``out/gpu-check``): ``summary.md`` (ready to paste into the README or
benchmarks/RESULTS*.md), ``summary.json``, ``agreement.json``, ``junit.xml``, ``pytest.log``, ``gpu-check.log``
(what was printed) and ``cache-and-logs.tar.gz`` (CuPy's kernel cache and every stage's log) — seven files, so
the whole folder comes back from a lent machine. A rerun with that tarball in ``--out`` (or ``--cache-from``) does
not compile CuPy's kernels again.

    python3 benchmarks/gpu_check.py                       # on the GPU machine (make gpu-check)
    python3 benchmarks/gpu_check.py --out "$OUT"
    python3 benchmarks/gpu_check.py --device cpu --quick  # dry run of every stage's code path on this machine
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PACKAGE = os.path.join(REPO, "tinygrad_rnn") + os.sep
STAGES = ("smoke", "tests", "agreement", "dtype", "syncs", "bench")
LIMITS = {"smoke": 60, "tests": 180, "agreement": 90, "dtype": 45, "syncs": 60, "bench": 240}  # seconds
FLOORS = {"smoke": 15, "tests": 30, "agreement": 20, "dtype": 10, "syncs": 15, "bench": 45}  # kept for later stages
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
TARBALL = "cache-and-logs.tar.gz"
SPLIT_CACHE = "cupy-cache.tar.gz"  # where the kernel cache goes when the one tarball would be too big to return


# ---------------------------------------------------------------------------------------------------------------
# helpers for the stages (run inside a stage's own process)
def where(exc: BaseException | None = None, stack=None) -> str:
    """The innermost frame inside tinygrad_rnn of a traceback (or of ``stack``), else the innermost outside this
    file; ``path:line in function``."""
    frames = traceback.extract_tb(exc.__traceback__) if exc is not None else stack
    frames = list(frames or [])
    for frame in reversed(frames):
        if frame.filename.startswith(PACKAGE):
            return f"{os.path.relpath(frame.filename, REPO)}:{frame.lineno} in {frame.name}"
    for frame in reversed(frames):
        if os.path.abspath(frame.filename) != os.path.abspath(__file__):
            return f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
    return "?"


def failure(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}"[:400], "where": where(exc)}


def target_device(device: str) -> str:
    """The device compared with the CPU: "cuda", or for a dry run array_api_strict (else the CPU itself)."""
    if device != "cpu":
        return device
    try:
        import array_api_strict  # noqa: F401

        return "array_api_strict"
    except ImportError:
        return "cpu"


def host(tensor_or_array, device: str):
    import numpy as np

    import tinygrad_rnn as tr

    data = getattr(tensor_or_array, "data", tensor_or_array)
    return np.asarray(tr.backend.get_backend(device).to_numpy(data), dtype=np.float64)


def rel_error(got, ref) -> float:
    import numpy as np

    scale = float(np.abs(ref).max()) if np.size(ref) else 0.0
    diff = float(np.abs(got - ref).max()) if np.size(ref) else 0.0
    return diff / scale if scale > 0 else diff


# ---------------------------------------------------------------------------------------------------------------
# 1. smoke
def stage_smoke(args) -> dict:
    import numpy as np

    import tinygrad_rnn as tr

    info: dict = {"python": platform.python_version(), "numpy": np.__version__, "tinygrad_rnn": tr.__version__}
    device = args.device
    if device == "cuda":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        info.update(gpu=name.decode() if isinstance(name, bytes) else str(name), cupy=cupy.__version__,
                    cuda_runtime=_cuda_version(cupy.cuda.runtime.runtimeGetVersion()),
                    cuda_driver=_cuda_version(cupy.cuda.runtime.driverGetVersion()),
                    memory_gib=round(props.get("totalGlobalMem", 0) / 2**30, 1),
                    compute_capability=f"{props.get('major', '?')}.{props.get('minor', '?')}")
    a_np = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    a = tr.tensor(a_np, device=device)
    checks = {}
    checks["elementwise"] = rel_error(host((a * 2 + 1).tanh(), device), np.tanh(a_np.astype(np.float64) * 2 + 1))
    checks["matmul"] = rel_error(host(a @ a.transpose(0, 1), device), a_np.astype(np.float64) @ a_np.T)
    tr.manual_seed(0)
    draw = host(tr.randn(1000, device=device), device)
    checks["randn_mean"], checks["randn_std"] = float(draw.mean()), float(draw.std())
    ok = checks["elementwise"] < 1e-6 and checks["matmul"] < 1e-6 and abs(draw.mean()) < 0.2 and \
        abs(draw.std() - 1) < 0.2 and a.device == device
    if device == "cuda":
        import cupy

        cupy.cuda.Device().synchronize()
    return {"status": "ok" if ok else "failed", "info": info, "checks": checks}


def _cuda_version(number: int) -> str:
    return f"{number // 1000}.{number % 1000 // 10}"


# ---------------------------------------------------------------------------------------------------------------
# 3. agreement
def _layer_case(kind: str, fused: bool, layers: int = 1, bidirectional: bool = False, lengths: bool = False,
                **options):
    """A function (dtype, device) -> errors for one recurrent layer configuration."""
    def run(dtype: str, device: str) -> dict:
        import numpy as np

        import tinygrad_rnn as tr

        steps, batch, inputs, hidden = 5, 3, 4, 6
        cls = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[kind]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((steps, batch, inputs))
        directions = 2 if bidirectional else 1
        weight_out = rng.standard_normal((steps, batch, directions * hidden))
        weight_h = rng.standard_normal((layers * directions, batch, hidden))
        lens = [steps, steps - 2, 2] if lengths else None

        def build():
            return cls(inputs, hidden, num_layers=layers, bidirectional=bidirectional, fused=fused, **options)

        def loss(model, dev):
            out, final = model(tr.tensor(x.astype(dtype), device=dev), lengths=lens)
            h_n = final[0] if isinstance(final, tuple) else final
            total = (out * tr.tensor(weight_out.astype(dtype), device=dev)).sum() + \
                (h_n * tr.tensor(weight_h.astype(dtype), device=dev)).sum()
            if isinstance(final, tuple):  # LSTM: c_n too
                total = total + (final[1] * tr.tensor(weight_h.astype(dtype), device=dev)).sum()
            return total

        return _compare_model(build, loss, dtype, device)

    return run


def _twin(build, dtype: str, device: str):
    """A model on the CPU and its copy on ``device`` holding the same weights (state dict via Module.to)."""
    import tinygrad_rnn as tr

    tr.manual_seed(0)
    ref = build().to(dtype)
    tr.manual_seed(1)  # other initial weights: only load_state_dict can make them equal
    other = build().to(dtype).to(device)
    other.load_state_dict(ref.state_dict())
    return ref, other


def _compare_model(build, loss, dtype: str, device: str) -> dict:
    ref, other = _twin(build, dtype, device)
    l_ref, l_dev = loss(ref, "cpu"), loss(other, device)
    l_ref.backward()
    l_dev.backward()
    return _compare(ref, other, device, {"loss": (host(l_dev, device), host(l_ref, "cpu"))})


def _compare(ref, other, device: str, extra: dict, what: str = "grad") -> dict:
    errors = {name: rel_error(got, expected) for name, (got, expected) in extra.items()}
    mine = dict(other.named_parameters())
    worst, worst_name = 0.0, None
    for name, p in ref.named_parameters():
        q = mine[name]
        a, b = (p.grad, q.grad) if what == "grad" else (p.data, q.data)
        if (a is None) != (b is None):
            raise AssertionError(f"{name}: {what} is {'missing' if b is None else 'present'} on {device} only")
        if a is None:
            continue
        if q.dtype != p.dtype:
            raise AssertionError(f"{name}: dtype {q.dtype} on {device}, {p.dtype} on cpu")
        err = rel_error(host(b, device), host(a, "cpu"))
        if err >= worst:
            worst, worst_name = err, name
    errors[what if what == "grad" else "params"] = worst
    errors["worst"] = worst_name
    return errors


def _seq2seq_case(dtype: str, device: str) -> dict:
    import numpy as np

    import tinygrad_rnn as tr

    rng = np.random.default_rng(0)
    batch, src_len, tgt_len = 3, 6, 5
    lens = [6, 4, 3]
    src = rng.integers(3, 13, size=(batch, src_len)).astype(np.int64)
    for row, n in enumerate(lens):
        src[row, n:] = 0
    tgt = rng.integers(3, 11, size=(batch, tgt_len + 1)).astype(np.int64)
    tgt[:, 0] = 1  # <sos>
    tgt_out = tgt[:, 1:].copy()
    tgt_out[2, 3:] = -100  # a shorter target: padding ignored by the loss

    def build():
        return tr.nn.Seq2Seq(13, 11, embed_size=5, hidden_size=6, bidirectional=True, attention="additive")

    def loss(model, dev):
        return model.loss(tr.tensor(src, device=dev), lens, tr.tensor(tgt[:, :-1], device=dev),
                          tr.tensor(tgt_out, device=dev), teacher_forcing=1.0)

    return _compare_model(build, loss, dtype, device)


def _optim_case(kind: str):
    def run(dtype: str, device: str) -> dict:
        import numpy as np

        import tinygrad_rnn as tr

        rng = np.random.default_rng(0)
        x = rng.standard_normal((4, 3, 4))
        weight = rng.standard_normal((4, 3, 6))

        def build():
            return tr.nn.LSTM(4, 6)

        def loss(model, dev):
            out, _ = model(tr.tensor(x.astype(dtype), device=dev))
            return (out * tr.tensor(weight.astype(dtype), device=dev)).sum()

        ref, other = _twin(build, dtype, device)
        extra = {}
        if kind == "clip_grad_norm_":
            for model, dev in ((ref, "cpu"), (other, device)):
                loss(model, dev).backward()
            n_ref = tr.optim.clip_grad_norm_(ref.parameters(), 0.1)
            n_dev = tr.optim.clip_grad_norm_(other.parameters(), 0.1)
            extra["norm"] = (host(n_dev, device), host(n_ref, "cpu"))
            return _compare(ref, other, device, extra, "grad")  # the clipped gradients too

        def make(model):
            if kind == "adam":  # eps 1e-3: the first steps are ~sign(grad); eps keeps the comparison continuous
                return tr.optim.Adam(model.parameters(), lr=1e-2, eps=1e-3)
            return tr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        optimizers = {id(ref): make(ref), id(other): make(other)}
        for _ in range(2):  # two steps: the second uses the optimiser state the first left
            for model, dev in ((ref, "cpu"), (other, device)):
                optimizers[id(model)].zero_grad()
                loss(model, dev).backward()
                optimizers[id(model)].step()
        return _compare(ref, other, device, extra, "params")

    return run


def agreement_cases(quick: bool) -> list:
    """(name, function) pairs; each function runs for float64 and float32."""
    cases = []
    layer_configs = [
        ("RNN tanh", "rnn", {"nonlinearity": "tanh"}), ("RNN relu", "rnn", {"nonlinearity": "relu"}),
        ("LSTM", "lstm", {}), ("LSTM peephole", "lstm", {"peephole": True}),
        ("LSTM coupled", "lstm", {"coupled": True}), ("LSTM 1997 (no forget gate)", "lstm", {"forget_gate": False}),
        ("GRU reset_after", "gru", {"reset_after": True}), ("GRU reset_before", "gru", {"reset_after": False}),
        ("LSTM 2 layers bidirectional, lengths", "lstm", {"layers": 2, "bidirectional": True, "lengths": True}),
        ("GRU 2 layers bidirectional, lengths", "gru", {"layers": 2, "bidirectional": True, "lengths": True}),
        ("RNN bidirectional, lengths", "rnn", {"bidirectional": True, "lengths": True}),
    ]
    for label, kind, options in layer_configs:
        for fused in (True, False):
            cases.append((f"{label}, {'fused' if fused else 'explicit'}", _layer_case(kind, fused, **options)))
    cases.append(("Seq2Seq bi-LSTM + additive attention, teacher forcing", _seq2seq_case))
    cases += [("Adam, 2 steps (params)", _optim_case("adam")), ("SGD momentum, 2 steps (params)", _optim_case("sgd")),
              ("clip_grad_norm_ (norm, clipped grads)", _optim_case("clip_grad_norm_"))]
    return cases


def stage_agreement(args) -> dict:
    from tinygrad_rnn.ops import recurrent

    device = target_device(args.device)
    compiled = recurrent.set_compiled_loops(False)
    try:
        rows = _agreement_rows(args, device)
    finally:
        recurrent.set_compiled_loops(compiled)
    with open(os.path.join(args.out, "agreement.json"), "w", encoding="utf-8") as f:
        json.dump({"reference": "cpu", "device": device, "rows": rows}, f, indent=1)
    failed = [r for r in rows if not r["pass"]]
    return {"status": "ok" if not failed else "failed", "device": device, "cases": len(rows),
            "failed": len(failed), "rows": rows}


def _agreement_rows(args, device: str) -> list:
    rows = []
    for name, run in agreement_cases(args.quick):
        for dtype in ("float64", "float32"):
            row = {"case": name, "dtype": dtype, "tolerance": TOLERANCE[dtype]}
            try:
                errors = run(dtype, device)
                row.update(errors)
                numbers = [v for k, v in errors.items() if k != "worst"]
                row["max_error"] = max(numbers)
                row["pass"] = row["max_error"] <= TOLERANCE[dtype]
            except Exception as exc:  # noqa: BLE001 - recorded, the other cases go on
                row.update(failure(exc), max_error=None)
                row["pass"] = False
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# 4. dtype
def _charlm(device: str, sizes: dict):
    import tinygrad_rnn as tr

    class CharLM(tr.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = tr.nn.Embedding(sizes["vocab"], sizes["embed"])
            self.lstm = tr.nn.LSTM(sizes["embed"], sizes["hidden"])
            self.out = tr.nn.Linear(sizes["hidden"], sizes["vocab"])

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.out(out)

    tr.manual_seed(0)
    return CharLM().to(device)


def _training_problems(device: str, quick: bool):
    """(name, model, optimiser, loss function) of the char-LM-like LSTM model and of a Seq2Seq."""
    import numpy as np

    import tinygrad_rnn as tr
    from tinygrad_rnn.tasks.g2p import MODEL

    sizes = dict(vocab=20, embed=8, hidden=16, batch=4, steps=12) if quick or device != "cuda" else \
        dict(vocab=100, embed=64, hidden=256, batch=32, steps=100)
    rng = np.random.default_rng(0)
    tokens_np = rng.integers(0, sizes["vocab"], size=(sizes["steps"], sizes["batch"])).astype(np.int64)
    tokens = tr.tensor(tokens_np, device=device)
    targets = tr.tensor(np.roll(tokens_np, -1, axis=0).reshape(-1), device=device)
    lm = _charlm(device, sizes)

    def lm_loss():
        return tr.cross_entropy(lm(tokens).reshape(-1, sizes["vocab"]), targets)

    options = {**MODEL, **({"embed_size": 8, "hidden_size": 16} if quick or device != "cuda" else {})}
    tr.manual_seed(0)
    s2s = tr.nn.Seq2Seq(30, 45, **options).to(device)
    batch, src_len, tgt_len = (4, 7, 6) if quick or device != "cuda" else (64, 9, 8)
    src_np = rng.integers(3, 30, size=(batch, src_len)).astype(np.int64)
    lens = [src_len - (i % 3) for i in range(batch)]
    for row, n in enumerate(lens):
        src_np[row, n:] = 0
    tgt_np = rng.integers(3, 45, size=(batch, tgt_len + 1)).astype(np.int64)
    tgt_np[:, 0] = 1
    src, tgt_in, tgt_out = (tr.tensor(a, device=device) for a in (src_np, tgt_np[:, :-1], tgt_np[:, 1:].copy()))
    lengths = np.array(lens, dtype=np.int64)  # host lengths, as Batch.tensors gives the G2P task: masks are built there

    def s2s_loss():
        return s2s.loss(src, lengths, tgt_in, tgt_out)

    return [("char-LM LSTM, Adam", lm, tr.optim.Adam(lm.parameters(), lr=1e-3), lm_loss, sizes),
            ("Seq2Seq (G2P model), SGD momentum", s2s, tr.optim.SGD(s2s.parameters(), lr=0.1, momentum=0.9),
             s2s_loss, {"batch": batch, "src": src_len, "tgt": tgt_len, **options})]


def stage_dtype(args) -> dict:
    import tinygrad_rnn as tr
    from tinygrad_rnn.train import Trainer

    device = target_device(args.device)
    backend = tr.backend.get_backend(device)
    results = []
    for name, model, optimizer, loss_fn, _ in _training_problems(device, True):
        trainer = Trainer(model, optimizer, clip_norm=1.0, progress=False)
        bad = []
        try:
            record = trainer.update(loss_fn())

            def check(label, array, bad=bad):
                dtype = backend.dtype_name(array)
                if dtype != "float32":
                    bad.append(f"{label}: {dtype}")
                if device != "cpu" and not backend.is_array(array):
                    bad.append(f"{label}: a {type(array).__module__}.{type(array).__name__}, not on {device}")

            check("loss", record["loss"].data)
            check("grad_norm", record["grad_norm"].data)
            for pname, p in model.named_parameters():
                check(pname, p.data)
                if p.grad is not None:
                    check(f"{pname}.grad", p.grad)
            params = dict(model.named_parameters())
            names = {id(p): n for n, p in params.items()}
            for pid, state in optimizer.state.items():
                for key, value in state.items():
                    if hasattr(value, "shape"):
                        check(f"optimizer {names.get(pid, pid)}.{key}", value)
            results.append({"model": name, "pass": not bad, "offenders": bad[:20]})
        except Exception as exc:  # noqa: BLE001
            results.append({"model": name, "pass": False, **failure(exc)})
    return {"status": "ok" if all(r["pass"] for r in results) else "failed", "device": device, "models": results}


# ---------------------------------------------------------------------------------------------------------------
# 5. host syncs
class ReadCounter:
    """Wraps the callables that read the device (or wait on it) and counts their calls while ``counting``; a read
    made inside another counted read is not counted again. Each read keeps its location (see :func:`where`)."""

    def __init__(self, points: list):
        self.points, self.reads, self.counting, self.depth, self.saved, self.unpatched = points, [], False, 0, [], []
        self.phase = None

    def __enter__(self):
        for owner, attr, label in self.points:
            original = getattr(owner, attr, None)
            if original is None:
                continue
            try:
                setattr(owner, attr, self._wrap(original, label))
                self.saved.append((owner, attr, original))
            except (TypeError, AttributeError) as exc:
                self.unpatched.append(f"{label} ({type(exc).__name__})")
        return self

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self.saved):
            setattr(owner, attr, original)
        self.saved = []

    def _wrap(self, original, label):
        counter = self

        def wrapped(*a, **k):
            if counter.counting and counter.depth == 0:
                counter.reads.append({"what": label, "where": where(stack=traceback.extract_stack()[:-1]),
                                      "phase": counter.phase})
            counter.depth += 1
            try:
                return original(*a, **k)
            finally:
                counter.depth -= 1

        wrapped.__name__ = getattr(original, "__name__", label)
        return wrapped


def read_points(device: str) -> list:
    import tinygrad_rnn as tr

    backend_cls = type(tr.backend.get_backend(device))
    points = [(backend_cls, m, f"{backend_cls.__name__}.{m}") for m in ("to_numpy", "item", "all_finite")]
    if device == "cuda":
        import cupy

        points += cupy_read_points(cupy)
    elif device == "array_api_strict":
        import array_api_strict

        array = type(array_api_strict.asarray(0))
        points += [(array, m, f"array_api_strict.Array.{m}") for m in
                   ("__bool__", "__float__", "__int__", "__index__", "__complex__")]
    return points


def cupy_read_points(cupy) -> list:
    """Where CuPy reads the device or waits for it, as (owner, attribute, label). ``cupy.cuda.Device`` is an
    immutable type in CuPy 14: it lands in the counter's ``unpatched`` list (allow_synchronize still sees it)."""
    points = [(cupy.ndarray, m, f"cupy.ndarray.{m}") for m in
              ("get", "item", "tolist", "__bool__", "__float__", "__int__", "__complex__", "__repr__", "__str__")]
    return points + [(cupy, "asnumpy", "cupy.asnumpy"),
                     (cupy.cuda.Stream, "synchronize", "cupy.cuda.Stream.synchronize"),
                     (cupy.cuda.Device, "synchronize", "cupy.cuda.Device.synchronize"),
                     (cupy.cuda.runtime, "deviceSynchronize", "cupy.cuda.runtime.deviceSynchronize"),
                     (cupy.cuda.runtime, "streamSynchronize", "cupy.cuda.runtime.streamSynchronize")]


def stage_syncs(args) -> dict:
    from tinygrad_rnn.train import Trainer

    device = args.device if args.device == "cuda" else target_device(args.device)
    if device == "cpu":
        return {"status": "skipped", "reason": "no device: NumPy reads nothing back"}
    sync = _sync(device)
    models = []
    for name, model, optimizer, loss_fn, sizes in _training_problems(device, args.quick):
        trainer = Trainer(model, optimizer, clip_norm=1.0, progress=False)
        entry = {"model": name, "sizes": sizes}
        try:
            trainer.update(loss_fn())  # warm-up: kernels compiled, pools filled
        except Exception as exc:  # noqa: BLE001 - the counted step below meets it again and keeps what it read
            entry["warmup_error"] = failure(exc)
        sync()
        with ReadCounter(read_points(device)) as counter:
            try:
                counter.counting, counter.phase = True, "forward"
                loss = loss_fn()
                counter.phase = "update"
                trainer.update(loss)
                counter.counting = False
                sync()
                entry["loss"] = float(loss.item())
            except Exception as exc:  # noqa: BLE001 - the reads up to the failure still count
                counter.counting = False
                entry.update(failure(exc), failed_in=counter.phase)
        entry.update(reads=len(counter.reads), locations=_tally(counter.reads), unpatched=counter.unpatched,
                     by_phase={p: sum(r["phase"] == p for r in counter.reads) for p in ("forward", "update")})
        if device == "cuda" and "error" not in entry:
            try:
                entry["allow_synchronize_false"] = _no_sync_step(trainer, loss_fn)
            except Exception as exc:  # noqa: BLE001
                entry["allow_synchronize_false"] = {"synchronized": None, **failure(exc)}
            sync()
        models.append(entry)
    worst = [m["reads"] for m in models]
    status = "failed" if any("error" in m for m in models) else (
        "ok" if device != "cuda" or max(worst) == 0 else "reads")
    if device == "cuda" and status == "ok" and any(m.get("allow_synchronize_false", {}).get("synchronized")
                                                  for m in models):
        status = "reads"
    return {"status": status, "device": device, "models": models,
            "note": None if device == "cuda" else "array_api_strict is a host library: its reads cost nothing and "
            "some (index_add's round trip) are by design; the numbers check the counting, not the library"}


def _tally(reads: list) -> list:
    counts: dict = {}
    for r in reads:
        key = (r["what"], r["where"])
        counts[key] = counts.get(key, 0) + 1
    return [{"what": w, "where": loc, "count": n} for (w, loc), n in sorted(counts.items(), key=lambda kv: -kv[1])]


def _no_sync_step(trainer, loss_fn) -> dict:
    import warnings

    import cupyx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # allow_synchronize is deprecated (it can miss syncs), still there in 14.2
        try:
            with cupyx.allow_synchronize(False):
                trainer.update(loss_fn())
        except cupyx.DeviceSynchronized as exc:
            return {"synchronized": True, "where": where(exc)}
    return {"synchronized": False}


def _sync(device: str):
    if device == "cuda":
        import cupy

        return lambda: cupy.cuda.Device().synchronize()
    return lambda: None


# ---------------------------------------------------------------------------------------------------------------
# the parent: run the stages, keep their results, write the summary
def run_limited(command: list, timeout: float, log_path: str, env: dict) -> tuple[int | None, float]:
    """Run ``command`` in its own process group, its output into ``log_path``; kill the group at ``timeout``.
    Returns (exit status or None on time-out, seconds)."""
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        # SIGINT back to its default in the child: a job started in the background inherits it ignored, and a
        # Python that starts with SIGINT ignored never raises KeyboardInterrupt (pytest would not write its XML)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                   start_new_session=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # the group we started (the stage and its children): an interrupt first, so pytest still writes its
            # junit XML and summary, then a kill
            # (twice: code under test may catch one KeyboardInterrupt, as a training loop that saves on Ctrl-C does)
            for wait in (5, 10):
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
            else:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            code = None
    return code, time.perf_counter() - started


def parse_junit(path: str) -> dict:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["time"] = round(sum(float(s.get("time", 0)) for s in suites), 1)
    failed = []
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                message = (node.get("message") or "").strip().splitlines()
                failed.append(f"{case.get('classname')}::{case.get('name')}: {message[0][:160] if message else tag}")
    counts["failed_tests"] = failed
    return counts


def stage_command(name: str, args) -> list:
    python = sys.executable
    if name == "tests":
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", "tests"]
        if os.path.exists(os.path.join(REPO, "tests", "test_cuda_kernels.py")):
            command.append("tests/test_cuda_kernels.py")
        return command + [f"--junitxml={os.path.join(args.out, 'junit.xml')}", "-o", "junit_family=xunit2"]
    if name == "bench":
        command = [python, os.path.join(HERE, "gpu.py"), "--device", args.device,
                   "--json", os.path.join(args.logs, "bench.json"), "--out", os.path.join(args.logs, "bench.md")]
        return command + (["--quick"] if args.quick else []) + (["--pairs", str(args.pairs)] if args.pairs else [])
    command = [python, os.path.abspath(__file__), "--stage", name, "--device", args.device, "--out", args.out]
    return command + (["--quick"] if args.quick else [])


def run_stage(name: str, args, timeout: float, env: dict) -> dict:
    log_path = os.path.join(args.out, "pytest.log") if name == "tests" else os.path.join(args.logs, f"{name}.log")
    command = stage_command(name, args)
    if name == "bench":
        command += ["--budget", str(max(int(timeout) - 15, 20))]
    code, seconds = run_limited(command, timeout, log_path, env)
    result: dict = {}
    if name == "tests":
        junit = os.path.join(args.out, "junit.xml")
        result = {"status": "ok" if code == 0 else "failed"}
        if os.path.exists(junit):
            try:
                result.update(parse_junit(junit))
                if code == 5 or (result["tests"] and result["tests"] == result["skipped"]):
                    result["status"] = "skipped" if args.device != "cuda" else "failed"
            except ET.ParseError as exc:
                result["junit_error"] = str(exc)
        result["summary_line"] = _last_line(log_path)
    elif name == "bench":
        path = os.path.join(args.logs, "bench.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                bench = json.load(f)
            result = {"status": "ok" if code == 0 else "failed", "table": bench["table"], "aims": bench["aims"],
                      "pairs": bench["pairs"], "errors": [r["error"] for p in bench["runs"] for r in p.values()
                                                          if "error" in r]}
            result["errors"] += [f"{case}, {lib}: {text}" for case, entry in bench["table"].items()
                                 for lib, text in entry.get("errors", {}).items()]
    else:
        path = os.path.join(args.logs, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                result = json.load(f)
    if code is None:
        result["status"] = "timeout"
    elif not result:
        result = {"status": "crashed", "exit": code, "log_tail": _tail(log_path, 8)}
    result["elapsed_s"] = round(seconds, 1)
    result["limit_s"] = round(timeout)
    return result


def _last_line(path: str) -> str:
    lines = _tail(path, 3)
    return lines[-1] if lines else ""


def _tail(path: str, n: int) -> list:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip() for line in f.readlines()[-n:]]
    except OSError:
        return []


def restore_cache(args) -> str:
    """Unpack CuPy's kernel cache from an earlier run's tarball (``--cache-from`` or the one in ``--out``)."""
    source = args.cache_from or next((os.path.join(args.out, name) for name in (TARBALL, SPLIT_CACHE)
                                      if os.path.exists(os.path.join(args.out, name))), "")
    if not os.path.exists(source):
        return "none (first run: kernels compile)"
    with tarfile.open(source) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("cupy-cache/") and m.isfile()
                   and ".." not in m.name.split("/")]
        try:
            tar.extractall(args.out, members=members, filter="data")
        except TypeError:  # a Python without extraction filters
            tar.extractall(args.out, members=members)
    return f"{len(members)} files from {os.path.relpath(source, REPO) if source.startswith(REPO) else source}"


def pack(args) -> None:
    """CuPy's kernel cache and the stages' logs into one tarball, the folders removed: the output stays at seven
    files, no folder, as a lent machine returns at most eight files of at most 16 MiB. Should the tarball pass
    15 MiB, the logs go into one of their own (``logs.tar.gz``) and the cache alone into ``cupy-cache.tar.gz``, so
    that the logs come back even where the cache is too big to."""
    def write(name: str, folders: tuple) -> str:
        tmp = os.path.join(args.out, name + ".tmp")
        with tarfile.open(tmp, "w:gz") as tar:
            for folder in folders:
                path = os.path.join(args.out, folder)
                if os.path.isdir(path):
                    tar.add(path, arcname=folder)
        os.replace(tmp, os.path.join(args.out, name))
        return os.path.join(args.out, name)

    if os.path.getsize(write(TARBALL, ("cupy-cache", "logs"))) > 15 * 2**20:
        os.remove(os.path.join(args.out, TARBALL))
        write("logs.tar.gz", ("logs",))
        write(SPLIT_CACHE, ("cupy-cache",))
    for folder in ("cupy-cache", "logs"):
        shutil.rmtree(os.path.join(args.out, folder), ignore_errors=True)


class Printer:
    """Prints and keeps every line for gpu-check.log."""

    def __init__(self):
        self.lines = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def orchestrate(args) -> int:
    started = time.perf_counter()
    os.makedirs(args.logs, exist_ok=True)
    say = Printer()
    env = dict(os.environ)
    env["CUPY_CACHE_DIR"] = os.path.join(args.out, "cupy-cache")
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env.pop("TINYGRAD_RNN_REQUIRE", None)
    cache = restore_cache(args)
    say(f"gpu-check: device {args.device}{' (dry run)' if args.device != 'cuda' else ''}, out {args.out}, "
        f"kernel cache: {cache}")
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {}
    for index, name in enumerate(STAGES):
        if name in skip:
            results[name] = {"status": "skipped", "reason": "--skip"}
            say(f"[{name}] skipped (--skip)")
            continue
        left = args.budget - (time.perf_counter() - started)
        reserve = sum(FLOORS[s] for s in STAGES[index + 1:] if s not in skip)
        timeout = max(min(LIMITS[name] * (0.5 if args.quick else 1), left - reserve), FLOORS[name])
        result = run_stage(name, args, timeout, env)
        results[name] = result
        say(f"[{name}] {result['status']} in {result['elapsed_s']:.1f} s (limit {result['limit_s']} s)"
            f"{stage_note(name, result)}")
        if name == "smoke" and result["status"] != "ok":
            say("smoke stage failed: the later stages cannot work; stopping")
            for later in STAGES[index + 1:]:
                results[later] = {"status": "not run", "reason": "smoke failed"}
            break
    summary = build_summary(args, results, time.perf_counter() - started)
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, default=str)
    markdown = summary_markdown(summary)
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(markdown)
    say(f"total {summary['elapsed_s']:.0f} s; wrote {args.out}/summary.md, summary.json")
    with open(os.path.join(args.logs, "gpu-check.log"), "w", encoding="utf-8") as f:
        f.write("\n".join(say.lines) + "\n")
    shutil.copy(os.path.join(args.logs, "gpu-check.log"), os.path.join(args.out, "gpu-check.log"))
    if not args.keep_folders:
        pack(args)
    print()
    print(markdown)
    return 0 if results.get("smoke", {}).get("status") == "ok" else 1


def stage_note(name: str, r: dict) -> str:
    if "error" in r:
        return f": {r['error']} at {r.get('where')}"
    if r["status"] in ("crashed",):
        return ": " + " | ".join(r.get("log_tail", [])[-3:])
    if name == "smoke" and "info" in r:
        i = r["info"]
        return ": " + ", ".join(f"{k} {v}" for k, v in i.items())
    if name == "tests" and "tests" in r:
        failed = r.get("failed_tests", [])
        text = f": {r['passed']} passed, {r['failures']} failed, {r['errors']} errors, {r['skipped']} skipped"
        return text + "".join(f"\n    FAILED {t}" for t in failed[:12]) + (
            f"\n    ... {len(failed) - 12} more in junit.xml" if len(failed) > 12 else "")
    if name == "agreement" and "rows" in r:
        bad = [x for x in r["rows"] if not x["pass"]]
        return f": {r['cases'] - r['failed']}/{r['cases']} within tolerance on {r['device']}" + "".join(
            f"\n    {x['case']} {x['dtype']}: " + (x.get("error", "") + f" at {x.get('where')}" if "error" in x
                                                  else f"error {x['max_error']:.2e} ({x.get('worst')})")
            for x in bad[:12])
    if name == "dtype" and "models" in r:
        return "".join(f"\n    {m['model']}: " + ("float32 throughout" if m["pass"] else
                                                  m.get("error", "") + "; ".join(m.get("offenders", [])))
                       for m in r["models"])
    if name == "syncs" and "models" in r:
        return "".join(f"\n    {m['model']}: {m.get('reads')} reads" + (f" ({m['error']} at {m['where']})"
                                                                          if "error" in m else "") +
                       "".join(f"\n      {x['count']}× {x['what']} at {x['where']}" for x in m.get("locations", [])[:6])
                       for m in r["models"])
    if name == "bench" and "aims" in r:
        return "".join(f"\n    {a['case']} vs {a['versus']}: " + ("n/a" if a["ratio"] is None else
                                                                 f"{a['ratio']:.2f}× (aim ≥ {a['aim']})")
                       for a in r["aims"])
    return ""


def build_summary(args, results: dict, elapsed: float) -> dict:
    sys.path.insert(0, HERE)
    from environment import command_line, utc_date

    smoke = results.get("smoke", {})
    return {"date": utc_date(), "device": args.device, "dry_run": args.device != "cuda", "quick": args.quick,
            "command": command_line(), "git": _git(), "info": smoke.get("info", {}), "elapsed_s": round(elapsed, 1),
            "stages": results}


def _git() -> str:
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "tinygrad_rnn"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + (" (uncommitted changes under tinygrad_rnn/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"


def summary_markdown(s: dict) -> str:
    """The run's summary in Markdown: the head, then one section per stage that has something to show."""
    st = s["stages"]
    lines = _md_head(s)
    lines += _md_tests(st.get("tests", {}))
    lines += _md_agreement(st.get("agreement", {}))
    lines += _md_dtype(st.get("dtype", {}))
    lines += _md_syncs(st.get("syncs", {}))
    lines += _md_bench(st.get("bench", {}))
    return "\n".join(lines)


def _md_head(s: dict) -> list[str]:
    info, st = s["info"], s["stages"]
    gpu = info.get("gpu", "no GPU: a dry run on the CPU" if s["dry_run"] else "?")
    return [f"## GPU check ({s['date']})", "",
            f"- GPU: {gpu}" + (f", {info.get('memory_gib')} GiB, compute capability "
                               f"{info.get('compute_capability')}" if "gpu" in info else ""),
            "- versions: " + ", ".join(f"{k} {v}" for k, v in info.items()
                                       if k not in ("gpu", "memory_gib", "compute_capability")),
            f"- tinygrad_rnn: git {s['git']}; command `{s['command']}`; {s['elapsed_s']:.0f} s in all",
            "- stages: " + ", ".join(f"{n} {r.get('status')} ({r.get('elapsed_s', 0):.0f} s)" for n, r in st.items()),
            ""]


def _md_tests(t: dict) -> list[str]:
    if "tests" not in t:
        return []
    lines = [f"**Test suite on the device** (`pytest -k cuda`): {t['passed']} passed, {t['failures']} failed, "
             f"{t['errors']} errors, {t['skipped']} skipped of {t['tests']} ({t['time']:.0f} s)", ""]
    lines += [f"- FAILED {f}" for f in t.get("failed_tests", [])[:20]]
    return lines + ([""] if t.get("failed_tests") else [])


def _md_agreement(a: dict) -> list[str]:
    if "rows" not in a:
        return []
    lines = [f"**CPU vs {a['device']}** (same weights and batch; error = max |device − cpu| / max |cpu| over "
             "the loss and every parameter gradient, or the parameters after the steps; tolerance float64 "
             "1e-10, float32 1e-5)", "", "| case | float64 | float32 |", "|---|---:|---:|"]
    by_case: dict = {}
    for row in a["rows"]:
        by_case.setdefault(row["case"], {})[row["dtype"]] = row
    for case, rows in by_case.items():
        cells = [_md_agreement_cell(rows.get(dtype, {})) for dtype in ("float64", "float32")]
        lines.append(f"| {case} | {cells[0]} | {cells[1]} |")
    return lines + [""]


def _md_agreement_cell(row: dict) -> str:
    if "error" in row:
        return f"**{row['error'].split(':')[0]}** at {row.get('where')}"
    if row:
        return f"{row['max_error']:.1e}" + ("" if row["pass"] else " **FAIL**")
    return "—"


def _md_dtype(d: dict) -> list[str]:
    if "models" not in d:
        return []
    return ["**float32 through a training step**: " + "; ".join(
        f"{m['model']}: " + ("yes" if m["pass"] else "NO (" + (m.get("error") or ", ".join(m["offenders"][:5]))
                             + ")") for m in d["models"]), ""]


def _md_syncs(y: dict) -> list[str]:
    if "models" not in y:
        return [f"**Device→host reads**: skipped ({y.get('reason')})", ""] if y.get("status") == "skipped" else []
    lines = [f"**Device→host reads per training step** (forward + `Trainer.update`, on {y['device']}; aim 0):", ""]
    for m in y["models"]:
        failed = f"; stopped by {m['error']} at `{m['where']}` in the {m['failed_in']}" if "error" in m else ""
        locs = "; ".join(f"{x['count']}× {x['what']} at `{x['where']}`" for x in m["locations"][:8])
        nosync = m.get("allow_synchronize_false")
        extra = "" if nosync is None else ("; under `allow_synchronize(False)`: "
                                           + (f"synchronized at `{nosync['where']}`" if nosync["synchronized"]
                                              else "no sync detected"))
        phases = ", ".join(f"{n} in the {p}" for p, n in m["by_phase"].items())
        lines.append(f"- {m['model']}: **{m['reads']}** ({phases})" + (f": {locs}" if locs else "") + extra + failed)
    if y.get("note"):
        lines.append(f"- note: {y['note']}")
    return lines + [""]


def _md_bench(b: dict) -> list[str]:
    if "table" not in b:
        return []
    lines = [f"**Throughput** (`benchmarks/gpu.py`, {b['pairs']} pairs of processes; ratio = tinygrad_rnn's "
             "rate / the other's, pair by pair, median [min – max])", "",
             "| case | version | rate | tinygrad_rnn / this |", "|---|---|---:|---:|"]
    for case, entry in b["table"].items():
        for name, rate in entry["rates"].items():
            ratio = next((r for key, r in entry["ratios"].items() if key.endswith(" / " + name)), None)
            text = "—" if ratio is None else f"{ratio['median']:.2f}× [{ratio['min']:.2f} – {ratio['max']:.2f}]"
            lines.append(f"| {case} | {name} | {rate:,.0f} {entry['unit']}/s | {text} |")
    lines += ["", "Aims: " + "; ".join(
        f"{x['case']} ≥ {x['aim']}× {x['versus']}: " + ("n/a" if x["ratio"] is None else
                                                      f"{'met' if x['met'] else 'NOT met'} ({x['ratio']:.2f}×)")
        for x in b["aims"])]
    lines += [f"- bench error: {e[:300]}" for e in b.get("errors", [])]
    return lines + [""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("out", "gpu-check"), help="output folder (default out/gpu-check)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="cuda (default), or cpu: a dry run of every stage (PyTorch on the CPU as the peer; "
                        "agreement, dtype and syncs on array_api_strict)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and step counts")
    parser.add_argument("--skip", default="", help=f"comma-separated stages to skip ({','.join(STAGES[1:])})")
    parser.add_argument("--budget", type=float, default=470.0, help="seconds for all stages together (default 470)")
    parser.add_argument("--pairs", type=int, default=None, help="benchmark process pairs (default: gpu.py's)")
    parser.add_argument("--cache-from", help="a cache-and-logs.tar.gz of an earlier run: reuse its kernel cache")
    parser.add_argument("--keep-folders", action="store_true", help="leave cupy-cache/ and logs/ unpacked")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.out = os.path.abspath(args.out)
    args.logs = os.path.join(args.out, "logs")
    if args.stage:
        return run_one(args)
    unknown = set(filter(None, args.skip.split(","))) - set(STAGES[1:])
    if unknown:
        parser.error(f"--skip: unknown or unskippable stages {sorted(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    return orchestrate(args)


def run_one(args) -> int:
    """Inside a stage's process: run it, write its JSON, exit 0 unless it failed."""
    stage = {"smoke": stage_smoke, "agreement": stage_agreement, "dtype": stage_dtype, "syncs": stage_syncs}
    os.makedirs(args.logs, exist_ok=True)
    try:
        result = stage[args.stage](args)
    except Exception as exc:  # noqa: BLE001 - the parent reads it from the JSON
        traceback.print_exc()
        result = {"status": "failed", **failure(exc)}
    with open(os.path.join(args.logs, f"{args.stage}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)
    print(json.dumps(result, default=str)[:4000])
    return 0 if result["status"] in ("ok", "skipped") else 1


if __name__ == "__main__":
    sys.exit(main())
