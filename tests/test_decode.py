"""Greedy decoding, sampling and beam search against toy models that implement the decoding interface.

Two models: a step-dependent table (the next-token distribution depends on the previous token and the step, with
impossible tokens) and a tiny randomly initialised attention RNN written with tr ops. Beam search is checked against
exhaustive search over every output up to max_len, against greedy (width 1 is greedy exactly), across batching, and
on the lectures' "nose"/"knows" example.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.decode import BeamResult, DecodeResult, Hypothesis, TableModel, beam_search, greedy, sample

PAD, SOS, EOS = 0, 1, 2


class StepTable:
    """P(next | previous token, step) from a fixed random table, with fake attention weights that depend on the
    previous token and the step, so that following a hypothesis back through the beam can be checked."""

    def __init__(self, seed: int, vocab: int = 5, steps: int = 6, zeros: float = 0.15):
        rng = np.random.default_rng(seed)
        logits = rng.normal(0.0, 1.5, size=(steps, vocab, vocab))
        logits[..., [PAD, SOS]] = -np.inf  # never generated
        logits[rng.random(logits.shape) < zeros] = -np.inf
        logits[..., EOS] = np.where(np.isfinite(logits[..., EOS]), logits[..., EOS], 0.0)  # one finite token a row
        self.table = logits
        self.sos_index, self.eos_index, self.pad_index = SOS, EOS, PAD
        self.calls = []

    def encode(self, src, src_lengths):
        lengths = np.full(src.shape[0], src.shape[1]) if src_lengths is None else np.asarray(src_lengths)
        return src, lengths

    def initial_state(self, encoded):
        return np.zeros(encoded[0].shape[0], dtype=np.int64)

    def decode_step(self, tokens, state, encoded):
        self.calls.append(len(state))
        prev = tokens.numpy()
        logits = self.table[np.minimum(state, len(self.table) - 1), prev]
        return tr.tensor(logits, device=tokens.device), state + 1, tr.tensor(self.attention(prev, state, encoded))

    @staticmethod
    def attention(prev, state, encoded):
        src, lengths = encoded
        width = src.shape[1]
        raw = np.outer((prev + 1) * (state + 1), np.arange(width) * 0.1)
        raw[np.arange(width)[None, :] >= np.asarray(lengths)[:, None]] = -np.inf
        w = np.exp(raw - raw.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)

    def select(self, state, encoded, index):
        return state[index], (encoded[0][index], encoded[1][index])


class TinyAttentionRNN(tr.nn.Module):
    """Embedding → tanh RNN encoder (padded steps keep the state) → tanh RNN decoder with dot-product attention."""

    def __init__(self, seed: int, vocab: int = 5, hidden: int = 6, device: str = "cpu", dropout: float = 0.0):
        super().__init__()
        tr.manual_seed(seed)
        self.embed = tr.nn.Embedding(vocab, hidden)
        self.encoder = tr.nn.RNNCell(hidden, hidden)
        self.decoder = tr.nn.RNNCell(hidden, hidden)
        self.out = tr.nn.Linear(2 * hidden, vocab)
        self.drop = tr.nn.Dropout(dropout)
        for p in self.parameters():  # larger weights: peakier, more varied distributions
            p.data = p.data * 3.0
        self.to("float64")
        self.to(device)
        self.sos_index, self.eos_index, self.pad_index = SOS, EOS, PAD
        self.seen = []

    def encode(self, src, src_lengths):
        batch, width = src.shape
        lengths = np.full(batch, width) if src_lengths is None else np.asarray(src_lengths)
        mask = np.arange(width)[None, :] < lengths[:, None]
        h = tr.zeros(batch, self.encoder.hidden_size, dtype="float64", device=src.device)
        outputs = []
        for t in range(width):
            step_mask = tr.tensor(mask[:, t:t + 1], device=src.device)
            h = tr.where(step_mask, self.encoder(self.embed(src[:, t]), h), h)
            outputs.append(h)
        return tr.stack(outputs, dim=1), tr.tensor(mask, device=src.device), h

    def initial_state(self, encoded):
        return encoded[2]

    def decode_step(self, tokens, state, encoded):
        self.seen.append((self.training, tr.is_grad_enabled()))
        outputs, mask, _ = encoded
        batch, width, hidden = outputs.shape
        h = self.decoder(self.drop(self.embed(tokens)), state)
        scores = tr.where(mask, (outputs * h.reshape(batch, 1, hidden)).sum(-1), -1e9)
        weights = tr.softmax(scores, dim=-1)
        context = (weights.reshape(batch, width, 1) * outputs).sum(1)
        return self.out(tr.cat([h, context], dim=-1)), h, weights

    def select(self, state, encoded, index):
        outputs, mask, final = encoded
        return state[index], (outputs[index], mask[index], final[index])


def _batch(seed: int, rows: int = 4, width: int = 5, vocab: int = 5):
    """A padded batch of random sources of random lengths."""
    rng = np.random.default_rng(1000 + seed)
    lengths = rng.integers(1, width + 1, size=rows)
    src = rng.integers(3, vocab, size=(rows, width))
    src[np.arange(width)[None, :] >= lengths[:, None]] = PAD
    return tr.tensor(src), lengths


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def exhaustive(model, src, max_len: int, alpha: float = 0.0) -> list:
    """Every complete output of a one-row source: (tokens, summed log-prob, normalised), best first. Complete:
    ending in <eos> within max_len steps, or max_len tokens without it (as beam search finishes them)."""
    outputs = []
    with tr.no_grad():
        encoded = model.encode(src, None)
        state = model.initial_state(encoded)
        prefixes, last = [([], 0.0)], [model.sos_index]
        for t in range(1, max_len + 1):
            logits, state, _ = model.decode_step(tr.tensor(np.array(last, dtype=np.int64)), state, encoded)
            logp = _log_softmax(logits.numpy().astype(np.float64))
            grown, parents = [], []
            for i, (seq, score) in enumerate(prefixes):
                for v in np.flatnonzero(np.isfinite(logp[i])):
                    total = score + logp[i, v]
                    if v == model.eos_index:
                        outputs.append((seq, total, total / t ** alpha))
                    elif t == max_len:
                        outputs.append((seq + [int(v)], total, total / t ** alpha))
                    else:
                        grown.append((seq + [int(v)], total))
                        parents.append(i)
            if not grown:
                break
            state, encoded = model.select(state, encoded, parents)
            prefixes, last = grown, [seq[-1] for seq, _ in grown]
    return sorted(outputs, key=lambda o: -o[2])


# -- (a) exhaustive search ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-0.5, 0.0, 0.6, 1.0])  # a negative penalty favours shorter outputs
@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_finds_the_exhaustive_best_and_nbest(seed, alpha):
    max_len, vocab = 3, 5
    for model in (TinyAttentionRNN(seed), StepTable(seed)):
        src = tr.tensor([[3, 4, 3]])
        truth = exhaustive(model, src, max_len, alpha)
        out = beam_search(model, src, beam_width=vocab ** (max_len - 1), max_len=max_len, length_penalty=alpha,
                          nbest=5)
        assert [h.tokens for h in out.hypotheses[0]] == [seq for seq, _, _ in truth[:5]]
        np.testing.assert_allclose([h.score for h in out.hypotheses[0]], [s for _, s, _ in truth[:5]], rtol=1e-12)
        np.testing.assert_allclose([h.normalised_score for h in out.hypotheses[0]], [n for _, _, n in truth[:5]],
                                   rtol=1e-12)
        assert out.tokens[0] == truth[0][0]


def test_beam_width_just_big_enough_for_the_table_is_exact_at_length_four():
    model = StepTable(7, vocab=5)
    src = tr.tensor([[3, 3]])
    truth = exhaustive(model, src, 4)
    out = beam_search(model, src, beam_width=5 ** 3, max_len=4, nbest=3)
    assert [h.tokens for h in out.hypotheses[0]] == [seq for seq, _, _ in truth[:3]]


def test_reported_scores_are_the_models_log_probabilities():
    for seed in range(6):
        model = TinyAttentionRNN(seed)
        src, lengths = _batch(seed)
        for alpha in (0.0, 0.8):
            out = beam_search(model, src, lengths, beam_width=3, max_len=8, length_penalty=alpha, nbest=2)
            check_scores(model, src, lengths, out, alpha, max_len=8)


def check_scores(model, src, lengths, result: BeamResult, alpha: float, max_len: int) -> None:
    """Each hypothesis' score is its log-probability under the model (recomputed by teacher forcing, <eos>
    included where it ended in one: fewer than max_len tokens), and its normalised score is score / length**alpha."""
    for b, hyps in enumerate(result.hypotheses):
        for h in hyps:
            ended = len(h.tokens) < max_len
            score = teacher_forced(model, src[b:b + 1, :int(lengths[b])], h.tokens + ([EOS] if ended else []))
            assert math.isclose(h.score, score, rel_tol=1e-9, abs_tol=1e-12)
            length = len(h.tokens) + ended
            assert math.isclose(h.normalised_score, score / length ** alpha, rel_tol=1e-9, abs_tol=1e-12)


def teacher_forced(model, src, targets: list) -> float:
    """log P(targets | src), feeding the targets one by one."""
    total = 0.0
    with tr.no_grad():
        encoded = model.encode(src, None)
        state = model.initial_state(encoded)
        prev = model.sos_index
        for token in targets:
            logits, state, _ = model.decode_step(tr.tensor(np.array([prev], dtype=np.int64)), state, encoded)
            total += _log_softmax(logits.numpy().astype(np.float64))[0, token]
            prev = token
    return total


# -- (b) width 1 is greedy --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_beam_width_one_is_greedy_exactly(seed):
    for model in (TinyAttentionRNN(seed), StepTable(seed)):
        src, lengths = _batch(seed)
        g = greedy(model, src, lengths, max_len=7)
        b = beam_search(model, src, lengths, beam_width=1, max_len=7)
        assert b.tokens == g.tokens
        assert b.scores == g.scores  # the same float additions in the same order
        assert b.finished == g.finished
        for wg, wb in zip(g.weights, b.weights, strict=True):
            np.testing.assert_array_equal(wg, wb)


def test_greedy_stops_rows_at_eos_and_the_batch_when_all_are_done():
    model = StepTable(3)
    src, lengths = _batch(3, rows=6)
    out = greedy(model, src, lengths, max_len=50)
    assert all(out.finished)  # eos always has finite probability in the table, and greedy takes it eventually
    assert len(model.calls) == max(len(t) for t in out.tokens) + 1  # stopped as soon as the last row ended
    assert model.calls == sorted(model.calls, reverse=True)  # finished rows left the batch
    assert model.calls[0] == 6 and model.calls[-1] == sum(len(t) == max(map(len, out.tokens)) for t in out.tokens)
    for b, w in enumerate(out.weights):
        assert w.shape == (len(out.tokens[b]) + 1, lengths[b])  # one row per step with <eos>, cut to the source
        np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_greedy_runs_into_max_len_without_eos():
    probs = np.array([[0, 0, 1.0], [0, 1, 0], [0, .1, .9]])  # <sos>, <eos>, "a": "a" forever
    out = greedy(TableModel(probs), tr.tensor([[0]]), max_len=4)
    assert out.tokens == [[2, 2, 2, 2]] and out.finished == [False]
    assert math.isclose(out.scores[0], 3 * math.log(0.9))
    assert isinstance(out, DecodeResult) and out.weights == [None]


# -- (c) beam against greedy -----------------------------------------------------------------------------------------
def _path_pruned(tree, tokens: list) -> bool:
    """Whether the output ``tokens`` (with its <eos> or max_len ending) lost its place in the beam at some step."""
    node = tree.nodes[0]
    for token in tokens:
        node = next((n for n in tree.nodes if n.parent == node.id and n.token == token), None)
        if node is None or node.status == "pruned":
            return True
    return False


def test_beam_score_beats_or_equals_greedy_unless_greedys_path_was_pruned():
    """A wider beam is not a theorem of improvement: greedy's prefix can be pushed out of the beam by K better
    prefixes that all end worse. Whenever the beam ends below greedy, greedy's path must have been pruned (the tree
    shows where); otherwise the beam's best is at least greedy's output."""
    wins = losses = 0
    for seed in range(25):
        model = TinyAttentionRNN(seed, vocab=6)
        src, lengths = _batch(seed, rows=3, vocab=6)
        g = greedy(model, src, lengths, max_len=10)
        b = beam_search(model, src, lengths, beam_width=4, max_len=10)
        for row, (gs, bs) in enumerate(zip(g.scores, b.scores, strict=True)):
            wins += bs > gs + 1e-9
            if bs < gs - 1e-12:
                losses += 1
                tree = beam_search(model, src, lengths, beam_width=4, max_len=10, record_tree=True,
                                   tree_row=row).tree
                assert _path_pruned(tree, g.tokens[row] + ([EOS] if g.finished[row] else []))
    assert wins > 5 * max(losses, 1)  # the beam mostly finds better outputs


# -- (d) n-best ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-0.7, 0.0, 0.7])
def test_nbest_is_sorted_distinct_and_complete(alpha):
    for seed in range(5):
        model = TinyAttentionRNN(seed)
        src, lengths = _batch(seed)
        out = beam_search(model, src, lengths, beam_width=5, max_len=9, length_penalty=alpha, nbest=4)
        for b, hyps in enumerate(out.hypotheses):
            assert len(hyps) == 4 and all(isinstance(h, Hypothesis) for h in hyps)
            norms = [h.normalised_score for h in hyps]
            assert norms == sorted(norms, reverse=True)
            assert len({tuple(h.tokens) for h in hyps}) == 4
            assert out.tokens[b] == hyps[0].tokens and out.scores[b] == hyps[0].score
            assert all(EOS not in h.tokens for h in hyps)
        check_scores(model, src, lengths, out, alpha, max_len=9)


def test_length_penalty_favours_longer_outputs():
    # <sos> → <eos> (.55) or "a" (.45); "a" → "a" (.9) / <eos> (.1) ... a long path "a a <eos>" ends with .8
    probs = [[0, .55, .45, 0], [0, 1, 0, 0], [0, .05, 0, .95], [0, .8, 0, .2]]
    model = TableModel(probs)
    plain = beam_search(model, tr.tensor([[0]]), beam_width=2, max_len=6)
    long = beam_search(model, tr.tensor([[0]]), beam_width=2, max_len=6, length_penalty=1.0)
    assert plain.tokens == [[]] and long.tokens == [[2, 3]]
    assert math.isclose(long.hypotheses[0][0].normalised_score, math.log(.45 * .95 * .8) / 3)


def test_a_negative_length_penalty_favours_shorter_outputs():
    # <sos> → <eos> (.4) or "a" (.6); "a" → <eos> (.9): "a" wins on probability, <eos> alone once length counts
    probs = [[0, .4, .6, 0], [0, 1, 0, 0], [0, .9, 0, .1], [0, 1, 0, 0]]
    model = TableModel(probs)
    plain = beam_search(model, tr.tensor([[0]]), beam_width=2, max_len=6)
    short = beam_search(model, tr.tensor([[0]]), beam_width=2, max_len=6, length_penalty=-1.0)
    assert plain.tokens == [[2]] and short.tokens == [[]]
    assert math.isclose(short.hypotheses[0][0].normalised_score, math.log(.4))


# -- (e) batching ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_batched_decoding_equals_decoding_each_row_alone(seed):
    for model in (TinyAttentionRNN(seed), StepTable(seed)):
        src, lengths = _batch(seed, rows=5)
        runs = [lambda s, n, m=model: greedy(m, s, n, max_len=8),
                lambda s, n, m=model: beam_search(m, s, n, beam_width=3, max_len=8, nbest=3, length_penalty=0.5)]
        for run in runs:
            together = run(src, lengths)
            for b in range(5):
                alone = run(src[b:b + 1, :int(lengths[b])], lengths[b:b + 1])
                assert alone.tokens[0] == together.tokens[b]
                assert math.isclose(alone.scores[0], together.scores[b], rel_tol=1e-12)
                np.testing.assert_allclose(alone.weights[0], together.weights[b], rtol=1e-12, atol=1e-15)
                if isinstance(together, BeamResult):
                    assert [h.tokens for h in alone.hypotheses[0]] == [h.tokens for h in together.hypotheses[b]]


def test_one_decode_step_per_time_step_for_every_hypothesis_and_one_start_per_row():
    model = StepTable(5)
    src, lengths = _batch(5, rows=3)
    out = beam_search(model, src, lengths, beam_width=4, max_len=5)
    assert model.calls[0] == 3  # one <sos> hypothesis per row, not K copies
    assert all(n <= 3 * 4 for n in model.calls)
    assert len(model.calls) <= 5 and len(out.tokens) == 3


def test_attention_weights_of_the_best_follow_its_own_path():
    model = StepTable(11)
    src, lengths = _batch(11, rows=4)
    out = beam_search(model, src, lengths, beam_width=3, max_len=6)
    for b in range(4):
        tokens = out.tokens[b] + ([EOS] if out.finished[b] else [])
        prev = np.array([SOS] + tokens[:-1])
        steps = np.arange(len(tokens))
        expected = StepTable.attention(prev, steps, (src[b:b + 1].numpy().repeat(len(tokens), 0),
                                                     np.full(len(tokens), lengths[b])))
        np.testing.assert_allclose(out.weights[b], expected[:, :lengths[b]], rtol=1e-12)


# -- (f) the lectures' "nose" / "knows" -----------------------------------------------------------------------------
def test_nose_knows_greedy_is_trapped_by_a_flat_next_step_and_a_beam_of_two_is_not():
    words = ["<pad>", "<sos>", "<eos>", "he", "nose", "knows", "something", "a", "b", "c", "d"]
    w = {s: i for i, s in enumerate(words)}
    probs = np.zeros((len(words), len(words)))
    probs[w["<sos>"], [w["he"], w["a"]]] = .9, .1
    probs[w["he"], [w["nose"], w["knows"], w["a"]]] = .5, .4, .1
    probs[w["nose"], [w["a"], w["b"], w["c"], w["d"], w["<eos>"]]] = .25, .21, .21, .21, .12  # flat: nowhere to go
    probs[w["knows"], [w["something"], w["<eos>"]]] = .9, .1  # peaky: "he knows something"
    for s in ("something", "a", "b", "c", "d", "<eos>", "<pad>"):
        probs[w[s], w["<eos>"]] = 1.0
    model = TableModel(probs, sos_index=w["<sos>"], eos_index=w["<eos>"], pad_index=w["<pad>"])
    src = tr.tensor([[3]])
    g = greedy(model, src)
    assert [words[i] for i in g.tokens[0]] == ["he", "nose", "a"]
    assert math.isclose(g.scores[0], math.log(.9 * .5 * .25))
    b = beam_search(model, src, beam_width=2, record_tree=True)
    assert [words[i] for i in b.tokens[0]] == ["he", "knows", "something"]
    assert math.isclose(b.scores[0], math.log(.9 * .4 * .9))
    assert b.scores[0] > g.scores[0]
    assert [words[model_token(b.tree, i)] for i in b.tree.best] == ["<sos>", "he", "knows", "something", "<eos>"]


def model_token(tree, node_id: int) -> int:
    return tree.nodes[node_id].token


# -- the recorded tree -----------------------------------------------------------------------------------------------
def test_tree_records_every_expansion_with_kept_pruned_and_finished():
    model = StepTable(2, vocab=6)
    src, lengths = _batch(2, rows=3, vocab=6)
    width = 3
    out = beam_search(model, src, lengths, beam_width=width, max_len=5, record_tree=True, tree_row=1)
    tree = out.tree
    assert tree.row == 1 and tree.beam_width == width and [n.id for n in tree.nodes] == list(range(len(tree.nodes)))
    root = tree.nodes[0]
    assert root.status == "root" and root.parent is None and root.token == SOS
    by_step: dict = {}
    for node in tree.nodes[1:]:
        by_step.setdefault(node.step, []).append(node)
        parent = tree.nodes[node.parent]
        assert parent.step == node.step - 1 and parent.status in ("root", "kept")
        assert node.score <= parent.score
        step_logp = _log_softmax(model.table[min(parent.step, len(model.table) - 1), parent.token][None])[0]
        assert math.isclose(node.score, parent.score + step_logp[node.token], rel_tol=1e-12, abs_tol=1e-12)
    for nodes in by_step.values():
        kept = [n for n in nodes if n.status == "kept"]
        open_ends = sum(n.token != EOS for n in nodes)  # the possible continuations (zero-probability ones left out)
        assert len(kept) in (0, min(width, open_ends))  # the beam width while that many exist (0: stopped)
        survivors = [n for n in nodes if n.status != "pruned"]
        pruned = [n for n in nodes if n.status == "pruned"]
        if kept and pruned:  # every pruned non-<eos> expansion scores no better than the worst one kept
            assert max(n.score for n in pruned if n.token != EOS) <= min(n.score for n in kept) + 1e-12
        assert all(n.token == EOS or n.step == 5 for n in nodes if n.status == "finished")
        assert survivors
    best = [tree.nodes[i] for i in tree.best]
    assert best[0] is root and best[-1].status == "finished"
    assert math.isclose(best[-1].score, out.scores[1])
    assert [n.token for n in best[1:]] == out.tokens[1] + ([EOS] if out.finished[1] else [])


def test_no_tree_unless_asked():
    assert beam_search(StepTable(0), tr.tensor([[3]]), beam_width=2).tree is None


# -- (g) sampling ----------------------------------------------------------------------------------------------------
def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    model = TinyAttentionRNN(0)
    src, lengths = _batch(0, rows=6)
    a = sample(model, src, lengths, max_len=10, seed=123)
    b = sample(model, src, lengths, max_len=10, seed=123)
    assert a.tokens == b.tokens and a.scores == b.scores
    others = [sample(model, src, lengths, max_len=10, seed=s).tokens for s in range(5)]
    assert any(o != a.tokens for o in others)
    generator = np.random.default_rng(5)
    assert sample(model, src, lengths, seed=generator).tokens == sample(model, src, lengths, seed=5).tokens


def test_low_temperature_and_top_k_one_are_greedy():
    for seed in range(4):
        model = TinyAttentionRNN(seed)
        src, lengths = _batch(seed)
        g = greedy(model, src, lengths, max_len=8)
        k1 = sample(model, src, lengths, max_len=8, top_k=1, seed=seed)
        assert k1.tokens == g.tokens and k1.scores == g.scores
        cold = sample(model, src, lengths, max_len=8, temperature=1e-4, seed=seed)
        assert cold.tokens == g.tokens
        np.testing.assert_allclose(cold.scores, g.scores, rtol=1e-12)


def test_temperature_sharpens_towards_greedy():
    model = TinyAttentionRNN(1)
    src = tr.tensor([[3, 4]] * 2000)
    with tr.no_grad():
        logits, _, _ = model.decode_step(tr.tensor([SOS]), model.initial_state(model.encode(src[:1], None)),
                                         model.encode(src[:1], None))
    logp = _log_softmax(logits.numpy())[0]
    top = int(logp.argmax())
    agreements = []
    for temperature in (3.0, 1.0, 0.3, 0.03, 0.003):
        out = sample(model, src, max_len=1, temperature=temperature, seed=0)
        agreement = np.mean([t[:1] == [top] or (not t and top == EOS) for t in out.tokens])
        tempered = np.exp((logp - logp.max()) / temperature)
        assert abs(agreement - tempered[top] / tempered.sum()) < 0.03
        agreements.append(agreement)
    assert agreements == sorted(agreements) and agreements[-1] == 1.0


def test_sample_draws_from_the_tempered_top_k_distribution():
    probs = np.array([[0, .1, .2, .3, .4], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0]])
    model = TableModel(probs)
    src = tr.tensor([[0]] * 20000)

    def frequencies(**kwargs):
        out = sample(model, src, max_len=1, seed=0, **kwargs)
        first = np.array([t[0] if t else 1 for t in out.tokens])
        return np.bincount(first, minlength=5)[1:] / len(first), out

    f, out = frequencies()
    np.testing.assert_allclose(f, [.1, .2, .3, .4], atol=0.015)
    drawn = np.array([t[0] if t else 1 for t in out.tokens])
    np.testing.assert_allclose(out.scores, np.log(probs[0, drawn]))  # the model's own log-probabilities
    f, _ = frequencies(top_k=2)
    np.testing.assert_allclose(f, [0, 0, 3 / 7, 4 / 7], atol=0.015)
    f, _ = frequencies(temperature=2.0)
    tempered = np.sqrt([.1, .2, .3, .4])
    np.testing.assert_allclose(f, tempered / tempered.sum(), atol=0.015)


# -- mode, graph and devices -------------------------------------------------------------------------------------------
def test_decoding_runs_in_eval_mode_without_a_graph_and_restores_the_mode():
    model = TinyAttentionRNN(0, dropout=0.5)
    src, lengths = _batch(0)
    assert model.training
    first = beam_search(model, src, lengths, beam_width=2, max_len=5)
    assert model.training and model.seen and set(model.seen) == {(False, False)}
    assert beam_search(model, src, lengths, beam_width=2, max_len=5).tokens == first.tokens  # no dropout noise
    model.eval()
    greedy(model, src, lengths, max_len=3)
    assert not model.training


def test_decoders_work_on_every_device(device):
    cpu, other = TinyAttentionRNN(4), TinyAttentionRNN(4, device=device)
    src, lengths = _batch(4)
    moved = src.to(device)
    for run in (lambda m, s: greedy(m, s, lengths, max_len=6),
                lambda m, s: sample(m, s, lengths, max_len=6, top_k=3, seed=2),
                lambda m, s: beam_search(m, s, lengths, beam_width=3, max_len=6, nbest=2)):
        a, b = run(cpu, src), run(other, moved)
        assert a.tokens == b.tokens
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-9)
        for wa, wb in zip(a.weights, b.weights, strict=True):
            assert isinstance(wb, np.ndarray)
            np.testing.assert_allclose(wa, wb, rtol=1e-9, atol=1e-12)


# -- (h) errors -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(beam_width=0), r"beam_width must be an int >= 1, got 0"),
    (dict(beam_width=2.5), r"beam_width must be an int >= 1, got 2\.5"),
    (dict(max_len=0), r"max_len must be an int >= 1, got 0"),
    (dict(beam_width=2, nbest=3), r"nbest = 3 is larger than beam_width = 2"),
    (dict(nbest=0), r"nbest must be an int >= 1, got 0"),
    (dict(record_tree=True, tree_row=4), r"tree_row = 4 is outside the batch of 2 rows"),
])
def test_beam_search_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        beam_search(StepTable(0), tr.tensor([[3, 4], [3, 0]]), [2, 1], **kwargs)


def test_empty_or_malformed_sources_are_rejected_by_every_decoder():
    model = StepTable(0)
    for decode in (greedy, sample, beam_search):
        name = decode.__name__
        with pytest.raises(ValueError, match=rf"{name}: empty source: src_lengths\[1\] = 0"):
            decode(model, tr.tensor([[3, 4], [0, 0]]), [2, 0])
        with pytest.raises(ValueError, match=rf"{name}: src must have shape \(B, S\)"):
            decode(model, tr.tensor([3, 4]), None)
        with pytest.raises(ValueError, match=rf"{name}: empty source: src has shape \(1, 0\)"):
            decode(model, tr.tensor(np.zeros((1, 0), dtype=np.int64)), None)
        with pytest.raises(ValueError, match=rf"{name}: src_lengths must hold one length per row"):
            decode(model, tr.tensor([[3, 4]]), [2, 2])
        with pytest.raises(ValueError, match=rf"{name}: src_lengths\[0\] = 3 is longer than src"):
            decode(model, tr.tensor([[3, 4]]), [3])
        with pytest.raises(ValueError, match=rf"{name}: max_len must be an int >= 1, got -1"):
            decode(model, tr.tensor([[3]]), None, max_len=-1)


def test_sample_rejects_bad_temperature_and_top_k():
    model = StepTable(0)
    for temperature in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"sample: temperature must be > 0"):
            sample(model, tr.tensor([[3]]), temperature=temperature)
    for top_k in (0, -2, 1.5):
        with pytest.raises(ValueError, match=rf"sample: top_k must be an int >= 1 or None, got {top_k}"):
            sample(model, tr.tensor([[3]]), top_k=top_k)


def test_table_model_checks_its_table():
    with pytest.raises(ValueError, match="square"):
        TableModel([[1.0, 0.0]])
    with pytest.raises(ValueError, match="distribution"):
        TableModel([[0.5, 0.4], [0, 1]])
