"""The char-LM and long-range tasks: data generators, the sampler, quick runs (the benchmark: test_benchmarks.py)."""
import json
import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.tasks import charlm, long_range



def quiet(*args, **kwargs):
    pass


# -- char-LM ------------------------------------------------------------------------------------------------------
def test_encode_decode_round_trip_and_unknown_symbol():
    text = "def f(x):\n\treturn x  # ok\n"
    assert charlm.decode(charlm.encode(text)) == text
    assert charlm.encode("é") == [charlm.UNK_ID]
    assert charlm.VOCAB_SIZE == 98


def test_corpus_splits_by_file_and_streams_are_contiguous():
    corpus = charlm.load_corpus(30_000, 5_000)
    assert len(corpus["train"]) == 30_000 and len(corpus["held_out"]) == 5_000
    assert not set(corpus["train_files"]) & set(corpus["held_out_files"])
    assert corpus["train_files"] == sorted(corpus["train_files"])
    data = charlm.streams(corpus["train"], 4).numpy()
    assert data.shape == (7_500, 4)
    np.testing.assert_array_equal(data[:, 1], corpus["train"][7_500:15_000])  # stream 1 continues in time


def test_a_standard_library_without_training_text_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no training text"):
        charlm.load_corpus(100, 10, stdlib=str(tmp_path))
    (tmp_path / "a.py").write_text("x = 1\n")
    assert charlm.decode(charlm.load_corpus(100, 10, stdlib=str(tmp_path))["train"]) == "x = 1\n"


def test_unigram_bits_is_the_entropy_of_a_matching_distribution():
    ids = np.array([0, 0, 1, 1] * 100)
    assert charlm.unigram_bits(ids, ids, vocab=2) == pytest.approx(1.0)


def test_charlm_quick_run_beats_uniform_and_samples():
    result = charlm.run(quick=True, log=quiet)
    assert math.isfinite(result["bpc"])
    assert result["bpc"] < math.log2(charlm.VOCAB_SIZE) == pytest.approx(result["uniform_bpc"])
    assert 0 < result["unigram_bpc"] < result["uniform_bpc"]
    assert result["updates"] > 0 and result["train_seconds"] > 0
    assert len(result["samples"]) == 3
    for text in result["samples"].values():
        assert isinstance(text, str) and text.startswith(charlm.PROMPT) and len(text) > len(charlm.PROMPT)


def test_charlm_main_with_a_gru_writes_json(tmp_path):
    assert charlm.main(["--quick", "--cell", "gru", "--steps", "3", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "charlm.json").read_text())
    assert written["cell"] == "gru" and written["updates"] == 3 and len(written["losses"]) == 3
    weights = tr.load(str(tmp_path / "charlm.npz"))
    assert weights and all(np.isfinite(v).all() for v in weights.values())


def test_bits_per_char_is_the_mean_cross_entropy_in_bits_and_refuses_nothing_to_score():
    tr.manual_seed(0)
    model = charlm.CharLM(charlm.VOCAB_SIZE, 4, 8, "lstm")
    ids = np.arange(2, 42) % charlm.VOCAB_SIZE
    data = charlm.streams(ids, 4).numpy()  # (10, 4)
    with tr.no_grad():
        logits, _ = model(tr.tensor(data[:-1]))
    rows = logits.numpy().reshape(-1, charlm.VOCAB_SIZE).astype(np.float64)
    log_probs = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))  # small logits: no overflow
    expected = -log_probs[np.arange(len(rows)), data[1:].reshape(-1)].mean() / np.log(2)
    assert abs(charlm.bits_per_char(model, ids, batch=4, chunk=3) - expected) < 1e-5  # chunks carry the state
    for few, batch in ((np.array([5]), 1), (np.arange(33), 32)):  # one character a stream: nothing to score
        with pytest.raises(ValueError, match="no position to score"):
            charlm.bits_per_char(model, few, batch=batch)


def test_an_empty_prompt_or_too_little_held_out_text_is_refused_before_training():
    model = charlm.CharLM(charlm.VOCAB_SIZE, 4, 8, "lstm")
    with pytest.raises(ValueError, match="prompt is empty"):
        charlm.generate(model, "")
    logged = []
    with pytest.raises(ValueError, match="prompt is empty"):
        charlm.run(quick=True, steps=2, prompt="", log=logged.append)
    with pytest.raises(ValueError, match="no position to score"):
        charlm.run(quick=True, steps=2, held_out_chars=1, log=logged.append)
    assert not any("trained" in line for line in logged)


def test_sampler_respects_top_k():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 20)).astype(np.float32)
    top3 = [set(np.argsort(-row)[:3].tolist()) for row in logits]
    seen = [set(), set(), set()]
    draw_rng = np.random.default_rng(1)
    for _ in range(300):  # a high temperature flattens the distribution: every survivor gets drawn
        for row, pick in enumerate(charlm.sample_logits(tr.tensor(logits), temperature=10.0, top_k=3, rng=draw_rng)):
            seen[row].add(pick)
    assert seen == top3
    single = {charlm.sample_logits(tr.tensor(logits[0]), 10.0, top_k=1, rng=s) for s in range(20)}
    assert single == {int(np.argmax(logits[0]))}


def test_sampler_temperature_to_zero_is_argmax():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((50, 30)).astype(np.float32)
    argmax = logits.argmax(axis=-1).tolist()
    assert charlm.sample_logits(tr.tensor(logits), temperature=0) == argmax
    assert charlm.sample_logits(tr.tensor(logits), temperature=1e-6, rng=0) == argmax
    assert charlm.sample_logits(tr.tensor(logits), temperature=1e-6, top_k=5, rng=0) == argmax


def test_sampler_follows_the_softmax_at_temperature_one():
    logits = tr.tensor([0.0, math.log(3.0)])  # probabilities 1/4, 3/4
    rng = np.random.default_rng(3)
    picks = [charlm.sample_logits(logits, rng=rng) for _ in range(4000)]
    assert np.mean(picks) == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError):
        charlm.sample_logits(logits, temperature=-1.0)


# -- adding problem and copy memory -------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [2, 7, 100])
def test_adding_problem_has_one_marker_per_half_and_the_marked_sum(length):
    x, y = long_range.adding_problem(length, 256, seed=4)
    x, y = x.numpy(), y.numpy()
    assert x.shape == (length, 256, 2) and y.shape == (256, 1) and x.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert set(np.unique(markers).tolist()) <= {0.0, 1.0}
    half = length // 2
    np.testing.assert_array_equal(markers[:half].sum(axis=0), 1)
    np.testing.assert_array_equal(markers[half:].sum(axis=0), 1)
    assert values.min() >= 0 and values.max() < 1
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-6)


def test_adding_problem_baseline_is_one_sixth_and_seeds_repeat():
    _, y = long_range.adding_problem(10, 20_000, seed=5)
    assert np.mean((y.numpy() - 1.0) ** 2) == pytest.approx(long_range.ADDING_BASELINE, abs=0.01)
    a, b = long_range.adding_problem(10, 4, seed=(1, 2)), long_range.adding_problem(10, 4, seed=(1, 2))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())


def test_copy_task_layout():
    symbols, length, delay = 6, 4, 9
    tokens, targets = long_range.copy_task(delay, 32, symbols=symbols, length=length, seed=6)
    tokens, targets = tokens.numpy(), targets.numpy()
    assert tokens.shape == (2 * length + delay + 1, 32) and targets.shape == (length, 32)
    assert tokens.dtype == np.int64 and targets.dtype == np.int64
    payload = tokens[:length]
    assert payload.min() >= 1 and payload.max() <= symbols  # symbols only, no blank or delimiter
    np.testing.assert_array_equal(targets, payload - 1)
    np.testing.assert_array_equal(tokens[length:length + delay], 0)  # the delay: blanks
    np.testing.assert_array_equal(tokens[length + delay], symbols + 1)  # the delimiter
    np.testing.assert_array_equal(tokens[length + delay + 1:], 0)  # recall: blanks, the answer is the output


def test_long_range_quick_run_returns_numbers():
    results = long_range.run(quick=True, log=quiet)
    assert [(r["cell"], r["T"]) for r in results["adding"]] == [("rnn", 10), ("lstm", 10), ("gru", 10)]
    for row in results["adding"]:
        assert math.isfinite(row["test_mse"]) and row["seconds"] > 0
        assert row["baseline_mse"] == pytest.approx(1 / 6, abs=0.03)
    assert {(r["cell"], r["forget_bias"]) for r in results["copy"]} == {
        ("rnn", 1.0), ("lstm", 1.0), ("gru", 1.0), ("lstm", long_range.QUICK["copy_forget_bias"])}
    for row in results["copy"]:
        assert math.isfinite(row["test_ce"]) and 0 <= row["accuracy"] <= 1
        assert row["baseline_ce"] == pytest.approx(math.log(long_range.QUICK["symbols"]))
    # even the quick run learns something of the short copy task (deterministic given the seed)
    assert min(row["test_ce"] for row in results["copy"]) < 0.9 * results["copy"][0]["baseline_ce"]
    table = long_range.format_adding(results["adding"])
    assert "baseline" in table and "lstm" in table


def test_long_range_main_parses_options(tmp_path):
    argv = ["--quick", "--task", "adding", "--cell", "lstm", "--lengths", "6", "--steps", "3", "--out", str(tmp_path)]
    assert long_range.main(argv) == 0
    assert (tmp_path / "long_range.json").exists()
    with pytest.raises(SystemExit):
        long_range.main(["--quick", "--cell", "transformer"])
