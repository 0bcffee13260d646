"""Training loops: full and truncated BPTT, clipping, schedules, a progress bar, JSONL metrics, checkpoints, resume.

A :class:`Trainer` owns a model and an optimiser and runs updates. ``fit`` takes one batch per update from
``batches(step)`` — a function of the update index, so a resumed run sees exactly the batches it would have
seen — and a ``loss_fn(model, batch)``. ``fit_tbptt`` trains on one long sequence with truncated BPTT(k1, k2):
every k1 new steps it backpropagates through the last k2, the state carried forward and cut behind. Both log
every update (loss, the gradient norm *before* clipping, learning rate) to a JSONL file and can write
checkpoints — ``NAME.npz`` with the weights, optimiser arrays and carried state, ``NAME.json`` with the step,
configuration, optimiser settings and random-number state, each written atomically — from which ``resume``
continues with the same losses as a run that was never interrupted.

>>> import tinygrad_rnn as tr
>>> tr.manual_seed(0)
>>> model = tr.nn.Linear(1, 1)
>>> trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False)
>>> data = (tr.tensor([[1.0], [2.0]]), tr.tensor([[2.0], [4.0]]))
>>> losses = trainer.fit(lambda step: data, lambda m, b: tr.mse_loss(m(b[0]), b[1]), steps=50)
>>> losses[-1] < 0.01 * losses[0]
True
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager

from .errors import ArgumentError
from . import backend as _backend
from . import ops
from .engine import Tensor, no_grad
from .optim import clip_grad_norm_, clip_grad_value_, grad_norm
from . import checkpoint
from .errors import CheckpointError, DataFileError
from .serialization import atomic_path


# -- learning-rate schedules: functions of the update index -------------------------------------------------------
def constant_lr(lr: float) -> Callable[[int], float]:
    return lambda step: lr


def step_lr(lr: float, every: int, gamma: float = 0.5) -> Callable[[int], float]:
    """``lr`` times ``gamma`` for every ``every`` updates done (PyTorch's StepLR)."""
    return lambda step: lr * gamma ** (step // every)


def cosine_lr(lr: float, total: int, min_lr: float = 0.0, warmup: int = 0) -> Callable[[int], float]:
    """Linear warm-up for ``warmup`` updates, then cosine decay from ``lr`` to ``min_lr`` at ``total``."""
    def schedule(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))

    return schedule


# -- learning-rate decay and stopping driven by a metric -----------------------------------------------------------
class ReduceLROnPlateau:
    """Multiply every group's learning rate by ``factor`` when a metric has gone more than ``patience`` checks
    without improving (PyTorch's rule: with patience 2 the third bad check in a row reduces it).

    The metric improves when it beats the best so far by more than ``threshold`` (relative, in ``mode``'s
    direction); learning rates never go below ``min_lr``. ``state_dict`` / ``load_state_dict`` keep it across a
    resume.

    >>> import tinygrad_rnn as tr
    >>> opt = tr.optim.SGD(tr.nn.Linear(1, 1).parameters(), lr=1.0)
    >>> plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> [plateau.step(v) for v in (3.0, 2.0, 2.0, 2.0)], opt.param_groups[0]["lr"]
    ([False, False, False, True], 0.5)
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.5, patience: int = 2,
                 threshold: float = 1e-4, min_lr: float = 0.0):
        if mode not in ("min", "max"):
            raise ArgumentError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if not 0.0 < factor < 1.0:
            raise ArgumentError(f"ReduceLROnPlateau: factor must lie in (0, 1), got {factor}")
        self.optimizer, self.mode, self.factor = optimizer, mode, factor
        self.patience, self.threshold, self.min_lr = patience, threshold, min_lr
        self.best, self.bad_checks = None, 0

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - abs(self.best) * self.threshold
        return value > self.best + abs(self.best) * self.threshold

    def step(self, value: float) -> bool:
        """Record one check of the metric; returns whether the learning rate was reduced."""
        if self._improves(value):
            self.best, self.bad_checks = value, 0
            return False
        self.bad_checks += 1
        if self.bad_checks <= self.patience:
            return False
        self.bad_checks = 0
        reduced = False
        for group in self.optimizer.param_groups:
            lr = max(group["lr"] * self.factor, self.min_lr)
            reduced |= lr < group["lr"]
            group["lr"] = lr
        return reduced

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_checks": self.bad_checks}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_checks = state["best"], state["bad_checks"]


class EarlyStopping:
    """Says when to stop: ``patience`` checks in a row without improving on the best value (``mode`` "min" or
    "max"). ``best`` and ``best_check`` say where the best was; keep the weights from there yourself.

    >>> stop = EarlyStopping(patience=2)
    >>> [stop.step(v) for v in (0.5, 0.4, 0.45, 0.41)], stop.best, stop.best_check
    ([False, False, False, True], 0.4, 1)
    """

    def __init__(self, patience: int = 3, mode: str = "min", min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ArgumentError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        if patience < 1:
            raise ArgumentError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.patience, self.mode, self.min_delta = patience, mode, min_delta
        self.best, self.best_check, self.checks = None, -1, 0

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (without recording it)."""
        if self.best is None:
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def step(self, value: float) -> bool:
        """Record one check; returns True when training should stop (as :attr:`should_stop` says from then on)."""
        if self.improved(value):
            self.best, self.best_check = value, self.checks
        self.checks += 1
        return self.should_stop

    @property
    def should_stop(self) -> bool:
        """Whether the last ``patience`` checks (or more) brought no improvement."""
        return self.checks > 0 and self.checks - 1 - self.best_check >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_check": self.best_check, "checks": self.checks}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_check, self.checks = state["best"], state["best_check"], state["checks"]


# -- truncated BPTT windows ---------------------------------------------------------------------------------------
def tbptt_windows(length: int, k1: int, k2: int) -> list[tuple[int, int, int]]:
    """``(start, split, end)`` for each update of TBPTT(k1, k2) over ``length`` steps.

    Update n adds the steps up to ``end`` (k1 new ones, fewer at the end) and backpropagates through
    ``[start, end)``, the last k2 steps. The next window starts at ``split``: the state there, reached inside
    this window, is carried forward with its graph cut. k1 = k2 = length is full BPTT.

    >>> tbptt_windows(10, 4, 6)  # the second update backpropagates through steps 2..7, the third 4..9
    [(0, 2, 4), (2, 4, 8), (4, 10, 10)]
    """
    if not 1 <= k1 <= k2:
        raise ArgumentError(f"tbptt: need 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    ends = list(range(k1, length, k1)) + [length] if length > 0 else []
    starts = [max(0, end - k2) for end in ends]
    splits = starts[1:] + [length]  # each window splits where the next one starts; the last runs to its end
    return list(zip(starts, splits, ends))


def _read(values: list) -> list[float]:
    """Python floats of 0-d tensors (and numbers), read from each device in one transfer."""
    out = [v for v in values]
    by_backend: dict = {}
    for k, v in enumerate(values):
        if isinstance(v, Tensor):
            by_backend.setdefault(v.backend, []).append(k)
    for backend, places in by_backend.items():
        xp = backend.xp
        # float64 holds every float32 or float16 value exactly, so each float is the one .item() would give
        stacked = xp.stack([xp.astype(xp.reshape(values[k].data, ()), xp.float64) for k in places])
        for k, value in zip(places, backend.to_numpy(stacked).tolist()):
            out[k] = value
    return out


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_log(path: str, torn_tail: bool = False) -> list[dict]:
    """The records of a metrics log written by :class:`Trainer` (one JSON object per line). A line that is not one
    raises :class:`~tinygrad_rnn.errors.DataFileError` naming the file and the line; with ``torn_tail`` a last line
    cut short (no newline: a run killed while writing it) is dropped instead, as ``resume`` does."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            last = number == len(lines)  # no newline after it
            if last and torn_tail:
                break
            why = "cut short (a run killed while writing it?)" if last else "not valid JSON"
            raise DataFileError(f"metrics log: {path} line {number} is {why} ({exc}); resuming the run "
                                "(--resume) drops a cut-short last line") from None
        if not isinstance(record, dict):
            raise DataFileError(f"metrics log: {path} line {number} holds a JSON {type(record).__name__}, not a "
                                "record (a JSON object)")
        records.append(record)
    return records


def _empty(loss: float, norm: float) -> bool:
    """An update with nothing to score: every target ignored (an all-padding batch), so the mean loss is 0/0, NaN,
    and the gradients zeros (their norm 0). A NaN loss with a non-zero norm is a diverging run, not this."""
    return math.isnan(loss) and norm == 0.0


def _loggable(record: dict) -> dict:
    """A read record as the log writes it: an update with no target has no loss (null, and ``no_targets``), so
    no NaN reads as progress, nor breaks a strict JSON reader."""
    if _empty(record["loss"], record["grad_norm"]):
        return {**record, "loss": None, "no_targets": True}
    return record


def _losses(records: list) -> list[float]:
    """The losses of ``records`` (pairs of 0-d loss and norm, read from the device in one transfer); warns once
    when some updates had no target to score."""
    values = _read([v for pair in records for v in pair])
    losses, norms = values[0::2], values[1::2]
    empty = sum(_empty(loss, norm) for loss, norm in zip(losses, norms))
    if empty:
        warnings.warn(f"Trainer: {empty} of {len(losses)} updates had no target to score (every target "
                      "ignored: an all-padding batch); their mean loss is NaN (0/0, logged as null) and their "
                      "gradients zero",
                      RuntimeWarning, stacklevel=4)  # the caller of fit or fit_tbptt (through _loop)
    return losses


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_detach(s) for s in state)
    return state.detach()


class Trainer:
    """Runs updates of ``model`` with ``optimizer``; see the module docstring.

    ``clip_norm`` / ``clip_value`` clip the gradients (the norm before clipping is logged either way);
    ``schedule(step) -> lr`` sets every group's learning rate before each update; ``log_path`` receives one
    JSON line per update; ``checkpoint_dir`` and ``checkpoint_every`` write checkpoints; ``config`` is any
    JSON-able description stored in them (and checked on resume).
    """

    def __init__(self, model, optimizer, *, clip_norm: float | None = None, clip_value: float | None = None,
                 schedule: Callable[[int], float] | None = None, log_path: str | None = None,
                 checkpoint_dir: str | None = None, checkpoint_every: int | None = None, config: dict | None = None,
                 progress: bool = True, log_every: int = 1):
        self.model, self.optimizer = model, optimizer
        self.clip_norm, self.clip_value, self.schedule = clip_norm, clip_value, schedule
        self.log_path, self.checkpoint_dir, self.checkpoint_every = log_path, checkpoint_dir, checkpoint_every
        self.config, self.progress, self.log_every = config or {}, progress, log_every
        self.step = 0  # updates done
        self.carry = None  # the state fit_tbptt carries between windows
        self.extra: dict = {}  # the caller's loop state, from the checkpoint resumed

    # -- one update -------------------------------------------------------------------------------------------------
    def update(self, loss: Tensor) -> dict:
        """Backward, clip, step, and the record for it: the loss and the pre-clip norm as 0-d tensors, still on the
        device. Nothing here reads the device: ``fit`` reads a record when the log or the progress bar shows it,
        and the losses it returns all together at the end."""
        if self.schedule is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.schedule(self.step)
        self.optimizer.zero_grad()
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        norm = clip_grad_norm_(params, self.clip_norm) if self.clip_norm is not None else grad_norm(params)
        if self.clip_value is not None:
            clip_grad_value_(params, self.clip_value)
        self.optimizer.step()
        self.step += 1
        # the loss detached: fit keeps every record's loss until it reads them, and the graph must not live that long
        return {"step": self.step, "loss": loss.detach(), "grad_norm": norm,
                "lr": self.optimizer.param_groups[0]["lr"]}

    def _record(self, record: dict, log, bar) -> Tensor:
        """Log and show one update's record, reading its tensors from the device only when the log writes it or the
        progress bar is due to show it; returns the loss, still on the device (``fit`` reads them all at the end)."""
        record["time"] = round(time.time(), 3)
        logged = log is not None and self.step % self.log_every == 0
        shown = bar is not None and not bar.disable and time.monotonic() - self._shown >= bar.mininterval
        if logged or shown:
            record = {**record, **dict(zip(("loss", "grad_norm"), _read([record["loss"], record["grad_norm"]])))}
        if logged:
            log.write(json.dumps(_loggable(record)) + "\n")
            log.flush()
        if bar is not None:
            bar.update(1)
        if shown:
            self._shown = time.monotonic()
            bar.set_postfix(loss=f"{record['loss']:.4f}", grad_norm=f"{record['grad_norm']:.3g}", refresh=False)
        if self.checkpoint_dir and self.checkpoint_every and self.step % self.checkpoint_every == 0:
            self.save_checkpoint(os.path.join(self.checkpoint_dir, "last"))
        return record["loss"], record["grad_norm"]

    def _loop(self, steps: int, description: str, loss_of_update: Callable[[], Tensor],
              stop: Callable[[Trainer], bool] | None = None, show_total: bool = True) -> list[float]:
        """The scaffolding ``fit`` and ``fit_tbptt`` share: open the log and the progress bar, run updates until
        ``steps`` are done (counting those before a resume) or ``stop(trainer)`` says so, close both, and return
        the new losses. ``loss_of_update()`` makes the loss of the next update, in train mode."""
        bar = self._progress_bar(steps if show_total else None, description)  # first: a missing tqdm leaks no log
        log = None
        if self.log_path:
            os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
            self._keep_log_until(self.step)
            log = open(self.log_path, "a", encoding="utf-8")
        self._shown = -math.inf  # when the bar last showed a read loss: it asks at most once per mininterval
        records = []
        try:
            while self.step < steps:
                self.model.train()
                records.append(self._record(self.update(loss_of_update()), log, bar))
                if stop is not None and stop(self):
                    break
        finally:
            if bar is not None:
                bar.close()
            if log is not None:
                log.close()
        return _losses(records)

    def _progress_bar(self, total: int | None, description: str):
        """A tqdm bar, or None with ``progress=False``: tqdm is imported only for a bar that is shown."""
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=self.step, desc=description, unit="update", leave=False, mininterval=0.5)

    def _keep_log_until(self, step: int) -> None:
        """Drop the log's records after ``step``: a fresh run starts an empty log, and a resumed one does not repeat
        the updates done after its checkpoint was written (they are done again, and logged again)."""
        if not os.path.exists(self.log_path):
            return
        # a last line cut short is what a kill while logging leaves; its update comes after any checkpoint
        kept = [r for r in read_log(self.log_path, torn_tail=True) if r.get("step", 0) <= step]
        with atomic_path(self.log_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)

    # -- training -----------------------------------------------------------------------------------------------------
    def fit(self, batches: Callable[[int], object], loss_fn: Callable, steps: int,
            after_update: Callable[[Trainer], bool] | None = None, show_total: bool = True) -> list[float]:
        """Run updates until ``steps`` are done (counting those before a resume); returns the new losses.

        ``after_update(trainer)`` runs after every update (evaluate, checkpoint, watch the clock); when it returns
        True training stops there. ``show_total=False`` keeps the progress bar to the count and the rate, for a
        run that a clock or early stopping will end long before ``steps``.
        """
        return self._loop(steps, "training", lambda: loss_fn(self.model, batches(self.step)), after_update,
                          show_total)

    def fit_tbptt(self, run: Callable, inputs, targets, loss_fn: Callable, k1: int, k2: int,
                  epochs: int = 1) -> list[float]:
        """Truncated BPTT(k1, k2) over a long sequence, ``epochs`` times.

        ``run(model, inputs[a:b], state) -> (outputs, state)`` runs the model over a stretch of time (time on
        axis 0 of ``inputs`` and ``outputs``); ``loss_fn(outputs, targets[a:b])`` scores the new steps. The state
        starts as None at each epoch. With k1 = k2 = len(inputs) it is full BPTT.
        """
        windows = tbptt_windows(len(inputs), k1, k2)

        def window_loss() -> Tensor:
            index = self.step % len(windows)
            start, split, end = windows[index]
            new = end - (windows[index - 1][2] if index else 0)  # steps this update adds
            state = self.carry if index else None
            # the next window starts at ``split``: carry the state there, with its graph cut. When
            # split == start (early windows with k2 > k1) that is this window's own starting state.
            outputs, next_carry = [], _detach(state)
            if split > start:
                out, state = run(self.model, inputs[start:split], state)
                outputs.append(out)
                next_carry = _detach(state)  # the cut: the next window's backward stops here
            if end > split:
                out, state = run(self.model, inputs[split:end], state)
                outputs.append(out)
            scored = ops.concat(outputs, dim=0) if len(outputs) > 1 else outputs[0]
            loss = loss_fn(scored[end - start - new:], targets[end - new:end])
            self.carry = next_carry
            return loss

        return self._loop(epochs * len(windows), f"TBPTT(k1={k1}, k2={k2})", window_loss)

    # -- checkpoints ---------------------------------------------------------------------------------------------------
    def save_checkpoint(self, path: str, extra: dict | None = None) -> None:
        """Write the pair ``path.npz`` (weights, optimiser arrays, carried state) and ``path.json`` (the rest, with
        the ``.npz``'s digest) in the format of :mod:`tinygrad_rnn.checkpoint`: a kill at any moment of the write
        leaves a readable pair, the previous one or this one. ``extra`` is any JSON-able state of the caller's loop
        (epoch, schedulers, vocabularies); ``resume`` hands it back as ``trainer.extra``."""
        checkpoint.save_training(path, self.model, self.optimizer, self.step, carry=self.carry, config=self.config,
                                 extra=extra)

    def resume(self, path: str | checkpoint.Checkpoint) -> int:
        """Load a checkpoint written by :meth:`save_checkpoint` (its path, or the pair already read by
        :func:`tinygrad_rnn.checkpoint.load_training`); returns the step it continues from. A checkpoint of another
        model or config, or one that is not whole, raises :class:`~tinygrad_rnn.errors.CheckpointError` naming the
        file before anything is loaded."""
        ck = path if isinstance(path, checkpoint.Checkpoint) else checkpoint.load_training(path)
        checkpoint.check_model(ck, type(self.model).__name__)
        meta = ck.meta
        if meta["config"] != self.config:
            keys = sorted(set(meta["config"]) | set(self.config), key=str)
            differ = {k: (meta["config"].get(k), self.config.get(k)) for k in keys
                      if meta["config"].get(k) != self.config.get(k)}
            shown = "; ".join(f"{k}: {_short(saved)} there, {_short(ours)} here" for k, (saved, ours) in differ.items())
            raise CheckpointError(f"resume: the checkpoint {ck.json} has another config than this run ({shown})")
        checkpoint.load_weights(ck, self.model)
        self.optimizer.load_state_dict(checkpoint.optimizer_state(ck))
        device = next(iter(self.model.parameters())).device
        self.carry = checkpoint.carried_state(ck, device)
        _backend.set_rng_state(meta["rng"])
        self.step = meta["step"]
        self.extra = meta.get("extra", {})
        return self.step


@contextmanager
def eval_mode(model):
    """``model`` in eval mode (dropout off) inside the block, back in the mode it had afterwards.

    >>> import tinygrad_rnn as tr
    >>> net = tr.nn.Dropout(0.5)
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@no_grad()
def evaluate(model, batches, loss_fn: Callable) -> float:
    """The mean of ``loss_fn(model, batch)`` over ``batches``, in eval mode and without building graphs."""
    with eval_mode(model):
        values = [loss_fn(model, batch).item() for batch in batches]
    return sum(values) / max(len(values), 1)
