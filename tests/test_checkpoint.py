"""Checkpoints survive a kill at any moment of their writing, and a pair that is not whole is refused by name.

A child process trains, writing a checkpoint every 3 updates, and dies (``os._exit``, no clean-up) at one step of
its second write; a fresh process then resumes from what is on disk and must reach the same losses as a run that was
never interrupted.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import checkpoint
from tinygrad_rnn.train import Trainer, read_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, EVERY = 10, 3


def _trainer(folder=None) -> Trainer:
    tr.manual_seed(4)
    model = tr.nn.Sequential(tr.nn.Linear(3, 5), tr.nn.Dropout(0.3), tr.nn.Linear(5, 1))  # dropout: the RNG resumes
    kwargs = {"checkpoint_dir": str(folder), "checkpoint_every": EVERY,
              "log_path": os.path.join(str(folder), "metrics.jsonl")} if folder else {}
    return Trainer(model, tr.optim.Adam(model.parameters(), lr=0.05), progress=False, config={"n": 1}, **kwargs)


def _batch(step: int):
    rng = np.random.default_rng(step)
    return tr.tensor(rng.normal(size=(4, 3)).astype("float32")), tr.tensor(rng.normal(size=(4, 1)).astype("float32"))


def _loss(model, batch):
    return tr.mse_loss(model(batch[0]), batch[1])


def killed_run(folder: str, stage: str, write: int) -> None:
    """Train, dying at ``stage`` of checkpoint write number ``write`` (run in a child process)."""
    writes = {"count": 0}

    def after(reached):
        if reached == checkpoint.STAGES[0]:
            writes["count"] += 1
        if reached == stage and writes["count"] == write:
            os._exit(17)

    checkpoint._after = after
    _trainer(folder).fit(_batch, _loss, steps=STEPS)


@pytest.fixture(scope="module")
def uninterrupted():
    return _trainer().fit(_batch, _loss, steps=STEPS)


# the step a resume continues from after a kill at each stage of the second write (step 6): the previous checkpoint
# until the new pair is complete beside it, the new one from then on
RESUMES_AT = {"npz written": 3, "npz ready": 3, "json written": 3, "pair ready": 6, "npz in place": 6}


@pytest.mark.parametrize("stage", checkpoint.STAGES)
def test_a_kill_at_any_step_of_a_checkpoint_write_resumes_exactly(tmp_path, stage, uninterrupted):
    code = (f"from tests.test_checkpoint import killed_run; killed_run({str(tmp_path)!r}, {stage!r}, 2)")
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == 17, child.stderr[-3000:]
    assert any(name.startswith(".last.") for name in os.listdir(tmp_path))  # the killed write left its files
    resumed = _trainer(tmp_path)
    assert resumed.resume(str(tmp_path / "last")) == RESUMES_AT[stage]
    losses = resumed.fit(_batch, _loss, steps=STEPS)
    assert losses == uninterrupted[RESUMES_AT[stage]:]
    assert sorted(os.listdir(tmp_path)) == ["last.json", "last.npz", "metrics.jsonl"]  # the next write cleaned up
    assert [r["step"] for r in read_log(str(tmp_path / "metrics.jsonl"))] == list(range(1, STEPS + 1))


def test_a_kill_inside_the_first_write_leaves_nothing_to_resume_or_a_whole_pair(tmp_path):
    for stage, expected in (("json written", False), ("pair ready", True)):
        folder = tmp_path / stage.replace(" ", "_")
        folder.mkdir()
        code = f"from tests.test_checkpoint import killed_run; killed_run({str(folder)!r}, {stage!r}, 1)"
        assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 17
        assert checkpoint.exists(str(folder / "last")) == expected
        if expected:
            assert _trainer().resume(str(folder / "last")) == 3


def test_a_torn_log_line_is_dropped_on_resume_but_named_when_read(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit(_batch, _loss, steps=4)
    log = tmp_path / "metrics.jsonl"
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"step": 5, "lo')  # a kill while logging update 5
    with pytest.raises(tr.DataFileError, match=r"metrics.jsonl line 5 is cut short"):
        read_log(str(log))
    resumed = _trainer(tmp_path)
    resumed.resume(str(tmp_path / "last"))
    resumed.fit(_batch, _loss, steps=STEPS)
    assert [r["step"] for r in read_log(str(log))] == list(range(1, STEPS + 1))
    log.write_text('{"step": 1}\n[1, 2]\n{"step": 3}\n')
    with pytest.raises(tr.DataFileError, match="line 2 holds a JSON list"):
        read_log(str(log))
    log.write_text('{"step": 1}\n{"st\n{"step": 3}\n')
    with pytest.raises(tr.DataFileError, match="line 2 is not valid JSON"):
        read_log(str(log), torn_tail=True)


def _pair(tmp_path, name="ck"):
    trainer = _trainer()
    trainer.fit(_batch, _loss, steps=2)
    trainer.save_checkpoint(str(tmp_path / name))
    return str(tmp_path / name)


BROKEN = {
    "an empty .npz": (".npz", b"", r"ck\.npz is empty \(0 bytes\)"),
    "a truncated .npz": (".npz", lambda raw: raw[: len(raw) // 2], r"ck\.npz \([\d,]+ bytes\) is not the file"),
    "a corrupted .npz": (".npz", lambda raw: raw[:100] + bytes(b ^ 0xFF for b in raw[100:140]) + raw[140:],
                         r"ck\.npz .*not written together"),
    "broken JSON": (".json", lambda raw: raw[:-20], r"ck\.json is not valid JSON \(line \d+ column \d+"),
    "an empty JSON": (".json", b"", r"ck\.json is empty"),
    "[] as JSON": (".json", b"[]", r"ck\.json holds a JSON list"),
    "a JSON without its keys": (".json", b'{"step": 2}', r"ck\.json lacks the keys \['config'"),
    "binary as JSON": (".json", b"\xff\xfe\x00", r"ck\.json is not text"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_checkpoint_is_refused_naming_the_file(tmp_path, case):
    path = _pair(tmp_path)
    suffix, change, message = BROKEN[case]
    target = tmp_path / ("ck" + suffix)
    target.write_bytes(change(target.read_bytes()) if callable(change) else change)
    trainer = _trainer()
    before = [p.numpy().copy() for p in trainer.model.parameters()]
    with pytest.raises(tr.CheckpointError, match=message) as info:
        trainer.resume(path)
    assert isinstance(info.value, tr.TinygradRNNError) and isinstance(info.value, ValueError)
    after = [p.numpy() for p in trainer.model.parameters()]
    assert trainer.step == 0 and all((a == b).all() for a, b in zip(after, before, strict=True))


def test_a_pair_not_written_together_is_refused_and_another_models_json_named(tmp_path):
    first = _pair(tmp_path, "a")
    trainer = _trainer()
    trainer.fit(_batch, _loss, steps=5)
    trainer.save_checkpoint(str(tmp_path / "b"))
    os.replace(tmp_path / "b.npz", tmp_path / "a.npz")  # a's JSON beside b's arrays: both of this model and config
    with pytest.raises(tr.CheckpointError, match=r"a\.npz .*not written together.*a\.json records, of step 2"):
        _trainer().resume(first)
    model = tr.nn.Linear(3, 1)
    checkpoint.save_training(str(tmp_path / "c"), model, tr.optim.SGD(model.parameters(), lr=0.1), 0)
    with pytest.raises(tr.CheckpointError, match=r"c\.json is a checkpoint of a Linear, not of a Sequential"):
        _trainer().resume(str(tmp_path / "c"))
    with pytest.raises(tr.CheckpointError, match=r"c\.json is a checkpoint of a Linear, not of a Seq2Seq"):
        checkpoint.load_training(str(tmp_path / "c"), model="Seq2Seq")


def test_a_checkpoint_from_before_the_digest_still_loads_and_checks_its_step(tmp_path):
    path = _pair(tmp_path)
    meta = json.loads((tmp_path / "ck.json").read_text())
    del meta["npz_sha256"], meta["format"]
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    assert _trainer().resume(path) == 2
    meta["step"] = 7
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(tr.CheckpointError, match="holds step 2 but .*step 7"):
        _trainer().resume(path)
