"""The training loop: TBPTT windows, clipping and logging, schedules, checkpoints and exact resume."""
import json
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.train import (EarlyStopping, ReduceLROnPlateau, Trainer, constant_lr, cosine_lr, evaluate, step_lr,
                                tbptt_windows)


def test_tbptt_windows_cover_every_step_once_and_reach_back_k2():
    for length, k1, k2 in [(10, 4, 6), (10, 5, 5), (7, 3, 3), (9, 2, 9), (5, 5, 5), (12, 1, 4)]:
        windows = tbptt_windows(length, k1, k2)
        previous_end = 0
        for i, (start, split, end) in enumerate(windows):
            assert end - previous_end == min(k1, length - previous_end)  # k1 new steps each update
            assert start == max(0, end - k2) and start <= split <= end  # backpropagate through the last k2
            assert split == (windows[i + 1][0] if i + 1 < len(windows) else end)
            previous_end = end
        assert previous_end == length
    assert tbptt_windows(6, 6, 6) == [(0, 6, 6)]  # full BPTT
    with pytest.raises(ValueError, match="k1 <= k2"):
        tbptt_windows(10, 5, 3)


class _LM(tr.nn.Module):
    def __init__(self, vocab=5, hidden=8):
        super().__init__()
        self.rnn = tr.nn.LSTM(vocab, hidden)
        self.drop = tr.nn.Dropout(0.2)
        self.out = tr.nn.Linear(hidden, vocab)


def _run(model, x, state):
    outputs, state = model.rnn(x, state)
    return model.out(model.drop(outputs)), state


def _loss(outputs, targets):
    return tr.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def _sequence(length=40, vocab=5):
    ids = np.arange(length + 1) % vocab  # a cyclic sequence: learnable
    return tr.tensor(np.eye(vocab, dtype="float32")[ids[:-1]][:, None, :]), tr.tensor(ids[1:][:, None])


def _fresh(**kwargs):
    tr.manual_seed(0)
    model = _LM()
    return model, Trainer(model, tr.optim.Adam(model.parameters(), lr=0.02), progress=False, **kwargs)


def test_tbptt_learns_and_cuts_the_graph_behind_each_window():
    x, y = _sequence()
    model, trainer = _fresh(clip_norm=5.0)
    losses = trainer.fit_tbptt(_run, x, y, _loss, k1=5, k2=10, epochs=8)
    assert len(losses) == 8 * 8 and losses[-1] < 0.5 * losses[0]
    h, c = trainer.carry
    assert h.is_leaf and not h.requires_grad and c.is_leaf


def test_tbptt_carries_the_state_at_the_next_windows_start():
    # k2 > k1: the early windows all start at step 0, so the state carried into them must be None, not the state
    # where the previous window ended; later ones must get exactly the state at their start, detached
    x, y = _sequence(20)
    tr.manual_seed(0)
    model = _LM()
    model.drop.p = 0.0
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.0), progress=False)
    calls = []

    def recording_run(model, inputs, state):
        calls.append((len(inputs), state))
        return _run(model, inputs, state)

    trainer.fit_tbptt(recording_run, x, y, _loss, k1=5, k2=10, epochs=2)
    windows = tbptt_windows(20, 5, 10)
    assert [start for start, _, _ in windows] == [0, 0, 5, 10]
    expected = [(b - a, a) for start, split, end in windows for a, b in ((start, split), (split, end)) if b > a]
    assert [n for n, _ in calls] == [n for n, _ in expected] * 2
    first_calls = iter(calls)
    for start, split, end in windows * 2:  # the state handed to each window's first run
        _, state = next(first_calls)
        if split > start and end > split:
            next(first_calls)
        if start == 0:
            assert state is None
            continue
        with tr.no_grad():
            _, reference = _run(model, x[:start], None)
        for carried, ref in zip(state, reference, strict=True):
            assert carried.is_leaf and not carried.requires_grad
            np.testing.assert_allclose(carried.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_full_bptt_equals_one_manual_update():
    x, y = _sequence(12)
    model, trainer = _fresh()
    trainer.model.eval()  # no dropout, so the manual step can repeat it
    model.drop.p = 0.0
    reference, _ = _fresh()
    reference.drop.p = 0.0
    trainer.fit_tbptt(_run, x, y, _loss, k1=12, k2=12)
    optimizer = tr.optim.Adam(reference.parameters(), lr=0.02)
    out, _ = _run(reference, x, None)
    _loss(out, y).backward()
    tr.optim.clip_grad_norm_(reference.parameters(), float("inf"))
    optimizer.step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, err_msg=name)


def test_resume_continues_with_the_same_losses(tmp_path):
    x, y = _sequence()
    _, uninterrupted = _fresh()
    expected = uninterrupted.fit_tbptt(_run, x, y, _loss, k1=5, k2=10, epochs=2)
    _, first = _fresh(checkpoint_dir=str(tmp_path), checkpoint_every=6)
    done = first.fit_tbptt(_run, x, y, _loss, k1=5, k2=10, epochs=1)  # 8 updates, a checkpoint after 6
    tr.manual_seed(99)  # the resumed process starts with other random numbers
    _, second = _fresh()
    assert second.resume(str(tmp_path / "last")) == 6
    rest = second.fit_tbptt(_run, x, y, _loss, k1=5, k2=10, epochs=2)
    assert done[:6] == expected[:6] and rest == expected[6:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.npz"]  # no temporary files left


def test_fit_logs_pre_clip_norm_lr_schedule_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    data = [(tr.tensor(rng.normal(size=(4, 3)).astype("float32")), tr.tensor(rng.normal(size=(4, 1)).astype("float32")))
            for _ in range(10)]

    def loss_fn(model, batch):
        return tr.mse_loss(model(batch[0]), batch[1])

    def trainer(**kwargs):
        tr.manual_seed(1)
        model = tr.nn.Linear(3, 1)
        return Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), clip_norm=0.01,
                       schedule=step_lr(0.1, every=4, gamma=0.5), progress=False, **kwargs)

    log = tmp_path / "metrics.jsonl"
    full = trainer(log_path=str(log)).fit(lambda step: data[step], loss_fn, steps=10)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 11))
    assert [r["lr"] for r in records] == [0.1] * 4 + [0.05] * 4 + [0.025] * 2
    assert all(r["grad_norm"] > 0.01 for r in records)  # logged before clipping to 0.01

    first = trainer(checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=3)
    first.fit(lambda step: data[step], loss_fn, steps=4)
    second = trainer()
    assert second.resume(str(tmp_path / "ck" / "last")) == 3
    assert second.fit(lambda step: data[step], loss_fn, steps=10) == full[3:]


def test_resume_refuses_a_checkpoint_of_another_model_or_a_torn_pair(tmp_path):
    model, trainer = _fresh(config={"hidden": 8})
    trainer.save_checkpoint(str(tmp_path / "a"))
    _, other = _fresh(config={"hidden": 16})
    with pytest.raises(ValueError, match="config"):
        other.resume(str(tmp_path / "a"))
    trainer.step = 3
    trainer.save_checkpoint(str(tmp_path / "b"))
    (tmp_path / "b.npz").replace(tmp_path / "c.npz")
    (tmp_path / "a.json").replace(tmp_path / "c.json")
    with pytest.raises(ValueError, match="not written together"):
        _fresh(config={"hidden": 8})[1].resume(str(tmp_path / "c"))


def test_schedules_and_evaluate():
    assert constant_lr(0.3)(100) == 0.3
    schedule = cosine_lr(1.0, total=10, min_lr=0.1, warmup=2)
    assert schedule(0) == 0.5 and schedule(1) == 1.0 and schedule(2) == 1.0
    assert schedule(10) == pytest.approx(0.1) and schedule(6) == pytest.approx(0.55)
    model = tr.nn.Linear(2, 1)
    batches = [(tr.ones(3, 2), tr.zeros(3, 1))] * 2
    value = evaluate(model, batches, lambda m, b: tr.mse_loss(m(b[0]), b[1]))
    assert value == pytest.approx(tr.mse_loss(model(tr.ones(3, 2)), tr.zeros(3, 1)).item())
    assert model.training


def test_plateau_halves_the_rate_after_patience_and_respects_min_lr():
    opt = tr.optim.Adam(tr.nn.Linear(2, 2).parameters(), lr=0.1)
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=0.03)
    reductions = [plateau.step(v) for v in (1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9)]
    assert reductions == [False, False, False, False, True, False, False, True, False, False]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.03)  # 0.1 → 0.05 → 0.03 (floor), not 0.025
    again = ReduceLROnPlateau(opt, mode="max", patience=0)
    again.load_state_dict(plateau.state_dict() | {"best": 2.0})
    assert again.step(1.0) and not again.step(3.0)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(opt, factor=1.5)


def test_early_stopping_counts_checks_since_the_best():
    stop = EarlyStopping(patience=3, mode="max")
    decisions = [stop.step(v) for v in (0.1, 0.3, 0.2, 0.3, 0.25)]
    assert decisions == [False, False, False, False, True] and (stop.best, stop.best_check) == (0.3, 1)
    restored = EarlyStopping(patience=3, mode="max")
    restored.load_state_dict(stop.state_dict())
    assert restored.step(0.5) is False and restored.best_check == 5


def test_checkpoint_carries_the_loops_extra_state(tmp_path):
    model = tr.nn.Linear(1, 1)
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False)
    trainer.save_checkpoint(str(tmp_path / "ck"), extra={"epoch": 3, "plateau": {"best": 0.2, "bad_checks": 1}})
    fresh = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False)
    fresh.resume(str(tmp_path / "ck"))
    assert fresh.extra == {"epoch": 3, "plateau": {"best": 0.2, "bad_checks": 1}}


def test_fit_stops_when_after_update_says_so():
    model = tr.nn.Linear(1, 1)
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.01), progress=False)
    data = (tr.tensor([[1.0]]), tr.tensor([[2.0]]))
    seen = []
    losses = trainer.fit(lambda step: data, lambda m, b: tr.mse_loss(m(b[0]), b[1]), steps=100,
                         after_update=lambda t: seen.append(t.step) or t.step == 7)
    assert len(losses) == 7 and seen == list(range(1, 8)) and trainer.step == 7


def test_log_starts_fresh_and_a_resume_does_not_repeat_records(tmp_path):
    data = (tr.tensor([[1.0]]), tr.tensor([[2.0]]))

    def trainer():
        tr.manual_seed(0)
        model = tr.nn.Linear(1, 1)
        return Trainer(model, tr.optim.SGD(model.parameters(), lr=0.01), progress=False,
                       log_path=str(tmp_path / "log.jsonl"), checkpoint_dir=str(tmp_path), checkpoint_every=3)

    def steps():
        return [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]

    loss = lambda m, b: tr.mse_loss(m(b[0]), b[1])  # noqa: E731
    trainer().fit(lambda step: data, loss, steps=5)
    trainer().fit(lambda step: data, loss, steps=4)  # a fresh run into the same folder: its own log only
    assert steps() == [1, 2, 3, 4]
    resumed = trainer()
    resumed.resume(str(tmp_path / "last"))  # written at update 3: update 4 is done again, and logged once
    resumed.fit(lambda step: data, loss, steps=6)
    assert steps() == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("direction", ["to_cpu", "from_cpu"])
def test_a_checkpoint_moves_between_devices(tmp_path, device, direction):
    """A checkpoint written on one device (a GPU) resumes on another (the CPU) and the other way round: the same
    weights, optimiser moments and next loss."""
    if device == "cpu":
        pytest.skip("needs a second device")
    source, target = (device, "cpu") if direction == "to_cpu" else ("cpu", device)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 1)).astype("float32")

    def trainer(on):
        tr.manual_seed(1)
        model = tr.nn.Linear(3, 1).to(on)
        return Trainer(model, tr.optim.Adam(model.parameters(), lr=0.1), progress=False)

    def batches(on):
        return lambda step: (tr.tensor(x, device=on), tr.tensor(y, device=on))

    def loss_fn(model, batch):
        return tr.mse_loss(model(batch[0]), batch[1])

    first = trainer(source)
    first.fit(batches(source), loss_fn, steps=3)
    first.save_checkpoint(str(tmp_path / "ck"))
    second = trainer(target)
    assert second.resume(str(tmp_path / "ck")) == 3
    assert all(p.device == target for p in second.model.parameters())
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    after_first = first.fit(batches(source), loss_fn, steps=5)
    after_second = second.fit(batches(target), loss_fn, steps=5)
    np.testing.assert_allclose(after_second, after_first, rtol=1e-6)


def test_fit_frees_each_update_graph_while_it_keeps_the_losses():
    """fit reads its losses at the end; what it keeps until then must not hold the graphs (on a GPU, every step's
    activations)."""
    import gc
    import weakref

    model = tr.nn.Linear(3, 1)
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False)
    outputs = []

    def loss_fn(m, batch):
        gc.collect()
        alive.append(sum(ref() is not None for ref in outputs))  # of the earlier updates' outputs, while fit runs
        out = m(batch[0])
        outputs.append(weakref.ref(out))
        return tr.mse_loss(out, batch[1])

    alive = []
    data = (tr.tensor(np.ones((4, 3), "float32")), tr.tensor(np.zeros((4, 1), "float32")))
    losses = trainer.fit(lambda step: data, loss_fn, steps=5)
    assert len(losses) == 5 and all(isinstance(v, float) for v in losses)
    assert alive == [0] * 5


def test_an_all_padding_batch_gives_zero_gradients_a_warning_and_no_nan_in_the_log(tmp_path):
    """A batch whose every target is padding is valid input: the mean loss is NaN (0/0, as in PyTorch), the
    gradients are zeros, the weights stay finite, the log has no NaN loss and the Trainer says so once."""
    tr.manual_seed(0)
    model = tr.nn.Linear(3, 4)
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.1), clip_norm=1.0, progress=False,
                      log_path=str(tmp_path / "metrics.jsonl"))
    x = tr.tensor(np.ones((2, 3), "float32"))
    targets = [tr.tensor([1, 2]), tr.tensor([-100, -100]), tr.tensor([3, -100]), tr.tensor([-100, -100])]
    with pytest.warns(RuntimeWarning, match="2 of 4 updates had no target to score") as caught:
        losses = trainer.fit(lambda step: targets[step], lambda m, t: tr.cross_entropy(m(x), t), steps=4)
    assert len([w for w in caught if "no target" in str(w.message)]) == 1
    assert [np.isnan(v) for v in losses] == [False, True, False, True]
    assert all(np.isfinite(p.numpy()).all() for p in model.parameters())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] is None for r in records] == [False, True, False, True]
    assert records[1]["no_targets"] and records[1]["grad_norm"] == 0.0


def test_the_no_target_warning_points_at_the_caller_of_fit():
    model = tr.nn.Linear(3, 4)
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False)
    x = tr.tensor(np.ones((2, 3), "float32"))
    with pytest.warns(RuntimeWarning, match="no target to score") as caught:
        trainer.fit(lambda step: tr.tensor([-100, -100]), lambda m, t: tr.cross_entropy(m(x), t), steps=1)
    assert caught[0].filename == __file__


def test_no_progress_bar_needs_no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # any ``import tqdm`` now raises ImportError
    x, y = _sequence(10)
    model, trainer = _fresh()
    assert len(trainer.fit(lambda step: None, lambda m, b: _loss(_run(m, x, None)[0], y), steps=2)) == 2
    model, trainer = _fresh()
    assert len(trainer.fit_tbptt(_run, x, y, _loss, k1=5, k2=5)) == 2


def test_the_progress_bar_counts_the_updates(capsys):
    x, y = _sequence(10)
    model, trainer = _fresh()
    trainer.progress = True
    trainer.fit_tbptt(_run, x, y, _loss, k1=5, k2=5, epochs=2)
    assert "TBPTT(k1=5, k2=5)" in capsys.readouterr().err
