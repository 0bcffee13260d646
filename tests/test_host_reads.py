"""A training step reads nothing back from the device: counted on ``array_api_strict``, the stand-in for a GPU.

Every way an array_api_strict array reaches the host (``bool``, ``float``, ``int``, ``__index__``, ``__array__``,
``__dlpack__`` — which the backend's ``to_numpy`` uses — and ``__complex__``) is counted while a Trainer update of a
small LSTM language model and of a small Seq2Seq runs. The inputs are made from host data the way a training loop makes
them (``tr.tensor`` of NumPy arrays, lengths kept on the host), so every index check can be answered from the bounds
the host copy had.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.data import make_batch, toy_pairs, Vocab
from tinygrad_rnn.train import Trainer

DEVICE = "array_api_strict"
READS = ("__bool__", "__float__", "__int__", "__index__", "__array__", "__dlpack__", "__complex__")


@pytest.fixture
def reads(monkeypatch):
    """A list that grows by the method's name whenever an array_api_strict array is read on the host."""
    strict = pytest.importorskip("array_api_strict")
    array_type = type(strict.asarray(0))
    seen: list[str] = []
    paused = []
    for name in READS:
        original = getattr(array_type, name)

        def counted(self, *args, __original=original, __name=name, **kwargs):
            if not paused:
                seen.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(array_type, name, counted)
    # The standard has no scatter-add, so the strict backend's index_add (embedding and advanced-index gradients)
    # goes through the host; CuPy's is cupyx.scatter_add, on the device. Its reads are the test backend's, not ours.
    index_add = tr.backend.StrictBackend.index_add

    def on_the_device(self, *args):
        paused.append(True)
        try:
            return index_add(self, *args)
        finally:
            paused.pop()

    monkeypatch.setattr(tr.backend.StrictBackend, "index_add", on_the_device)
    return seen


class _LanguageModel(tr.nn.Module):
    def __init__(self, vocab=7, hidden=8):
        super().__init__()
        self.embedding = tr.nn.Embedding(vocab, 6)
        self.rnn = tr.nn.LSTM(6, hidden, num_layers=2, dropout=0.1)
        self.out = tr.nn.Linear(hidden, vocab)

    def loss(self, tokens, targets):
        outputs, _ = self.rnn(self.embedding(tokens))
        logits = self.out(outputs)
        return tr.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _language_model_batch(step):
    ids = (np.arange(6 * 3).reshape(6, 3) + step) % 7
    return tr.tensor(ids, device=DEVICE), tr.tensor((ids + 1) % 7, device=DEVICE)


def test_a_language_model_update_reads_nothing_back(reads):
    tr.manual_seed(0)
    model = _LanguageModel().to(DEVICE)
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.01), clip_norm=1.0, progress=False)
    for step in range(2):  # the first update too: Adam's state is made on the device
        batch = _language_model_batch(step)
        del reads[:]
        record = trainer.update(model.loss(*batch))
        assert reads == [], f"update {step + 1} read the device: {reads}"
    assert isinstance(record["loss"], tr.Tensor) and isinstance(record["grad_norm"], tr.Tensor)


@pytest.fixture
def seq2seq_batch():
    pairs = toy_pairs()
    src_vocab, tgt_vocab = Vocab.build(p[0] for p in pairs), Vocab.build(p[1] for p in pairs)
    batch = make_batch(pairs, [0, 1, 2], src_vocab, tgt_vocab)
    assert len(set(batch.src_lengths.tolist())) > 1 and (batch.tgt_out == -100).any()  # padding on both sides
    return src_vocab, tgt_vocab, batch


@pytest.mark.parametrize("options", [{"attention": "additive", "bidirectional": True},
                                     {"attention": "dot", "reverse_input": True, "cell": "gru"}],
                         ids=["additive-bidirectional", "dot-reversed-gru"])
def test_a_seq2seq_update_reads_nothing_back(reads, seq2seq_batch, options):
    src_vocab, tgt_vocab, batch = seq2seq_batch
    tr.manual_seed(0)
    model = tr.nn.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_size=6, hidden_size=8, dropout=0.1,
                          **options).to(DEVICE)
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.01), clip_norm=1.0, progress=False)
    for step in range(2):
        b = batch.tensors(DEVICE)  # as the G2P task makes them: lengths stay on the host
        del reads[:]
        trainer.update(model.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"]))
        assert reads == [], f"update {step + 1} read the device: {reads}"


def test_a_beam_search_step_of_select_reads_nothing_back(reads, seq2seq_batch):
    src_vocab, tgt_vocab, batch = seq2seq_batch
    tr.manual_seed(0)
    model = tr.nn.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_size=6, hidden_size=8).to(DEVICE)
    model.eval()
    with tr.no_grad():
        encoded = model.encode(tr.tensor(batch.src, device=DEVICE), batch.src_lengths)
        state = model.initial_state(encoded)
        del reads[:]
        state, expanded = model.select(state, encoded, np.repeat(np.arange(3), 3))  # 3 rows → 9 beams
        logits, state, _ = model.decode_step(tr.tensor(np.full(9, model.sos_index), device=DEVICE), state,
                                             expanded)
        best = tr.argmax(logits, dim=-1)
        state, expanded = model.select(state, expanded, np.array([2, 0, 1] * 3) + np.repeat(np.arange(3) * 3, 3))
        model.decode_step(best, state, expanded)
    assert reads == []


def test_fit_reads_the_losses_once_at_the_end_and_the_log_once_per_interval(reads, tmp_path):
    tr.manual_seed(0)
    model = _LanguageModel().to(DEVICE)
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), progress=False)
    losses = trainer.fit(_language_model_batch, lambda m, b: m.loss(*b), steps=6)
    assert len(reads) == 1 and len(losses) == 6 and all(isinstance(v, float) for v in losses)
    del reads[:]
    log = tmp_path / "log.jsonl"
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=0.1), progress=False, log_path=str(log),
                      log_every=3)
    losses = trainer.fit(_language_model_batch, lambda m, b: m.loss(*b), steps=6)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    assert len(reads) == 2 + 1  # one per logged record (its loss and norm together), one for the losses at the end
    assert [r["loss"] for r in records] == [losses[2], losses[5]]


def test_index_checks_keep_their_errors_with_host_bounds_and_read_only_unknown_indices(reads):
    weight = tr.randn(5, 3, device=DEVICE)
    with pytest.raises(tr.IndexRangeError, match=r"embedding: indices \(shape \(2,\)\) must lie in \[0, 5\)"):
        tr.embedding(tr.tensor([1, 5], device=DEVICE), weight)
    logits = tr.zeros(2, 4, device=DEVICE)
    with pytest.raises(tr.IndexRangeError, match=r"cross_entropy: target values must lie in \[0, 4\)"):
        tr.cross_entropy(logits, tr.tensor([-100, 4], device=DEVICE))
    with pytest.raises(tr.IndexRangeError, match="getitem: index out of range for dim 0 of size 5"):
        weight[tr.tensor([0, 7], device=DEVICE)]
    del reads[:]
    tr.cross_entropy(logits, tr.tensor([[-100, 3]], device=DEVICE).reshape(-1))  # ignore_index set aside
    tr.embedding(tr.concat([tr.tensor([0], device=DEVICE), tr.argmax(weight, dim=1)]), weight)
    assert reads == []
    computed = tr.cast(weight[:, 0] > 0.0, "int64")  # made on the device: nobody knows its bounds
    tr.embedding(computed, weight)
    assert reads == ["__bool__"]


def test_on_the_cpu_index_tensors_carry_no_bounds_and_checks_read_as_before():
    t = tr.tensor([1, 2, 3])
    assert tr.engine.bounds_of(t) is None and tr.engine.bounds_of(tr.argmax(tr.zeros(2, 3), dim=1)) is None
    strict = tr.tensor([[1, 2, 3], [0, 0, 4]], device=DEVICE)
    assert tr.engine.bounds_of(strict) == tr.backend.Bounds(0, 4, 1, 3, True)
    assert tr.engine.bounds_of(strict.to("cpu")) is None
    assert tr.engine.bounds_of(strict.to("cpu").to(DEVICE)) == tr.engine.bounds_of(strict)
    mask = tr.tensor([[True, False], [False, False]], device=DEVICE)
    assert not tr.engine.bounds_of(mask).rows_filled and tr.engine.bounds_of(mask[:1]).rows_filled is False
    picked = tr.tensor([[True, False], [False, True]], device=DEVICE)[tr.tensor([1, 1, 0], device=DEVICE)]
    assert tr.engine.bounds_of(picked).rows_filled and not tr.engine.bounds_of(picked.reshape(-1)).rows_filled


def test_bounds_set_one_sentinel_aside_and_join_exactly():
    Bounds = tr.backend.Bounds
    targets = tr.backend.host_bounds(np.array([-100, 3, 0, -100]))
    assert targets == Bounds(-100, 3, 0, 0, True)
    assert targets.inside(0, 4, allowed=-100) and not targets.inside(0, 4) and not targets.inside(0, 3, -100)
    joined = targets.union(tr.backend.host_bounds(np.array([7, 2])))
    assert joined[:4] == (-100, 7, 0, 3)
    assert tr.backend.host_bounds(np.array([-100, -100])).inside(0, 1, allowed=-100)


def test_save_takes_a_device_array_through_its_backend(tmp_path, monkeypatch):
    strict = pytest.importorskip("array_api_strict")
    array_type = type(strict.asarray(0))
    monkeypatch.setattr(array_type, "__array__", lambda self, *a, **k: pytest.fail("np.asarray of a device array"))
    w = tr.tensor([[1.0, 2.0]], device=DEVICE)
    tr.save({"w": w.data}, str(tmp_path / "w.npz"))
    assert tr.load(str(tmp_path / "w.npz"))["w"].tolist() == [[1.0, 2.0]]
