"""Encoder–decoder models: shapes (the lectures' d2l example), gradients against finite differences, the decoding calls
against the training forward, padding and reversal, graph scopes, scheduled sampling, and the lectures' toy pairs
learned exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import host

import tinygrad_rnn as tr

PAD, SOS, EOS = 0, 1, 2


def batch(seed=0, batch_size=3, src_vocab=9, tgt_vocab=8, src_lengths=(5, 2, 4), tgt_lengths=(3, 4, 1)):
    """A padded batch: source ids, lengths, decoder inputs (<sos> first) and outputs (-100 at padding)."""
    rng = np.random.default_rng(seed)
    steps, t_steps = max(src_lengths), max(tgt_lengths) + 1
    src = np.full((batch_size, steps), PAD, dtype=np.int64)
    tgt_in = np.full((batch_size, t_steps), PAD, dtype=np.int64)
    tgt_out = np.full((batch_size, t_steps), -100, dtype=np.int64)
    for b, (n, m) in enumerate(zip(src_lengths, tgt_lengths, strict=True)):
        src[b, :n] = rng.integers(3, src_vocab, n)
        words = rng.integers(3, tgt_vocab, m)
        tgt_in[b, :m + 1] = [SOS, *words]
        tgt_out[b, :m + 1] = [*words, EOS]
    return tr.tensor(src), list(src_lengths), tr.tensor(tgt_in), tr.tensor(tgt_out)


def model(dtype="float64", seed=0, **options) -> tr.nn.Seq2Seq:
    tr.manual_seed(seed)
    config = dict(src_vocab_size=9, tgt_vocab_size=8, embed_size=5, hidden_size=6)
    config.update(options)
    return tr.nn.Seq2Seq(**config).to(dtype)


CONFIGS = [
    dict(cell="lstm", attention="additive"),
    dict(cell="gru", attention="general", num_layers=2),
    dict(cell="rnn", attention="dot"),
    dict(cell="lstm", attention="scaled_dot", reverse_input=True),
    dict(cell="lstm", attention=None, context="init", num_layers=2),
    dict(cell="gru", attention=None, context="input"),
    dict(cell="lstm", attention="additive", bidirectional=True, num_layers=2, reverse_input=True),
    dict(cell="gru", attention=None, context="input", bidirectional=True),
]


def ids(config: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in config.items())


# -- shapes ------------------------------------------------------------------------------------------------------------
def test_the_lectures_d2l_shapes():
    """Batch 4, 7 steps, vocabulary 10, 2 LSTM layers of 16: output (4, 7, 10); h and c each (2, 4, 16)."""
    tr.manual_seed(0)
    net = tr.nn.Seq2Seq(10, 10, embed_size=8, hidden_size=16, num_layers=2, attention=None)
    src = tr.tensor(np.random.default_rng(0).integers(3, 10, (4, 7)))
    encoded = net.encode(src, [7] * 4)
    assert encoded.memory.shape == (4, 7, 16)  # batch first, unlike d2l's time-major (7, 4, 16)
    assert len(encoded.final) == 2 and [f.shape for f in encoded.final] == [(2, 4, 16), (2, 4, 16)]
    state = net.initial_state(encoded)
    assert [s.shape for s in state] == [(4, 16)] * 4  # (h_0, c_0, h_1, c_1)
    logits, weights = net(src, [7] * 4, src)
    assert logits.shape == (4, 7, 10) and weights is None


@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_every_configuration_runs_and_trains_every_parameter(config):
    net = model("float32", **config)
    src, lengths, tgt_in, tgt_out = batch()
    logits, weights = net(src, lengths, tgt_in)
    assert logits.shape == (3, 5, 8)
    if config["attention"] is None:
        assert weights is None
    else:
        assert weights.shape == (3, 5, 5)
        w = host(weights)
        np.testing.assert_allclose(w.sum(axis=2), 1.0, rtol=1e-5)
        assert np.all(w[1, :, 2:] == 0.0)  # the second source has 2 tokens
    net.loss(src, lengths, tgt_in, tgt_out).backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not np.any(host(p.grad))]
    assert missing == []


def test_no_lengths_means_no_padding():
    net = model()
    src, _, tgt_in, _ = batch()
    full, _ = net(src, [5, 5, 5], tgt_in)
    none, _ = net(src, None, tgt_in)
    np.testing.assert_array_equal(host(none), host(full))
    assert host(net.encode(src, None).mask).all()


def test_bidirectional_memory_is_twice_as_wide_and_bridged():
    net = model(cell="lstm", bidirectional=True, num_layers=2)
    src, lengths, _, _ = batch()
    encoded = net.encode(src, lengths)
    assert encoded.memory.shape == (3, 5, 12)
    assert [f.shape for f in encoded.final] == [(2, 3, 6), (2, 3, 6)]
    assert net.encoder.bridge_h.weight.shape == (6, 12) and net.encoder.bridge_c.weight.shape == (6, 12)


@pytest.mark.parametrize("attention", ["dot", "scaled_dot"])
def test_dot_attention_over_a_bidirectional_encoder_says_why_it_cannot_be(attention):
    with pytest.raises(ValueError, match=rf"Seq2Seq: '{attention}' attention .* query \(hidden_size=6\) .* "
                                         r"bidirectional encoder's memory is 2·hidden_size=12 wide; use "
                                         r"bidirectional=False, or attention='general' or 'additive'"):
        model(bidirectional=True, attention=attention)
    model(bidirectional=True, attention="general")  # the suggested ways out work
    model(bidirectional=True, attention="additive")
    model(bidirectional=False, attention=attention)


def test_the_bridge_merges_each_layers_two_directions():
    net = model(cell="lstm", bidirectional=True, num_layers=2)
    src, lengths, _, _ = batch()
    encoded = net.encode(src, lengths)
    _, (h_n, c_n) = net.encoder.rnn(net.encoder.embedding(src), lengths=lengths)
    for state, bridge, got in ((h_n, net.encoder.bridge_h, encoded.final[0]), (c_n, net.encoder.bridge_c,
                                                                                encoded.final[1])):
        h = host(state)  # (layer 0 forward, layer 0 backward, layer 1 forward, layer 1 backward)
        both = np.concatenate([h[0::2], h[1::2]], axis=2)
        expected = np.tanh(both @ host(bridge.weight).T + host(bridge.bias))
        np.testing.assert_allclose(host(got), expected, rtol=1e-12, atol=1e-14)


def test_context_input_widens_the_first_decoder_layer():
    init, given = model(attention=None, context="init"), model(attention=None, context="input")
    assert init.decoder.layers[0].weight_ih.shape == (4 * 6, 5)
    assert given.decoder.layers[0].weight_ih.shape == (4 * 6, 5 + 6)
    attending = model(attention="additive", bidirectional=True)
    assert attending.decoder.layers[0].weight_ih.shape == (4 * 6, 5 + 12)
    assert attending.decoder.out.weight.shape == (8, 6 + 12)


@pytest.mark.parametrize("config", [CONFIGS[3], CONFIGS[6]], ids=ids)
def test_every_device_gives_the_cpu_numbers(config, device):
    reference, net = model(**config), model(**config).to(device)
    src, lengths, tgt_in, tgt_out = batch()
    expected = reference.loss(src, lengths, tgt_in, tgt_out)
    expected.backward()
    loss = net.loss(src.to(device), lengths, tgt_in.to(device), tgt_out.to(device))
    loss.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    for (name, p), q in zip(net.named_parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(host(p.grad), host(q.grad), rtol=1e-9, atol=1e-12, err_msg=name)
    tr.manual_seed(2)
    picked, _ = net.select(net.initial_state(net.encode(src, lengths)), net.encode(src, lengths), [1, 1])
    assert picked[0].device == loss.device
    tr.manual_seed(2)
    assert np.isfinite(net.loss(src, lengths, tgt_in, tgt_out, teacher_forcing=0.5).item())


# -- gradients ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[1], CONFIGS[5], CONFIGS[6]], ids=ids)
def test_loss_gradient_matches_finite_differences(config):
    """Two entries of every parameter tensor, by central differences in float64."""
    net = model(**config)
    src, lengths, tgt_in, tgt_out = batch()
    net.loss(src, lengths, tgt_in, tgt_out).backward()
    rng = np.random.default_rng(1)
    eps = 1e-6
    for name, p in net.named_parameters():
        flat = p.data.reshape(-1)
        for k in rng.choice(flat.size, size=min(2, flat.size), replace=False):
            if name.endswith("embedding.weight") and k // p.shape[1] == PAD:
                k = flat.size - 1  # the padding row takes no gradient, by design
            values = []
            for delta in (eps, -eps):
                saved = flat[k]
                flat[k] = saved + delta
                with tr.no_grad():
                    values.append(net.loss(src, lengths, tgt_in, tgt_out).item())
                flat[k] = saved
            numeric = (values[0] - values[1]) / (2 * eps)
            analytic = host(p.grad).reshape(-1)[k]
            assert abs(numeric - analytic) <= 1e-6 + 1e-4 * abs(numeric), (name, k, numeric, analytic)


def test_gradcheck_of_the_attention_and_bridge_parameters():
    net = model(cell="gru", attention="additive", bidirectional=True, reverse_input=True)
    src, lengths, tgt_in, tgt_out = batch()
    wanted = [net.encoder.bridge_h.weight, net.encoder.bridge_h.bias, *net.decoder.attention.parameters(),
              net.decoder.out.bias]
    assert tr.gradcheck(lambda *_: net.loss(src, lengths, tgt_in, tgt_out), wanted)


def test_loss_is_the_mean_cross_entropy_over_real_tokens():
    net = model()
    src, lengths, tgt_in, tgt_out = batch()
    logits, _ = net(src, lengths, tgt_in)
    x = host(logits)
    log_probs = x - x.max(axis=2, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=2, keepdims=True))
    target = host(tgt_out)
    real = target != -100
    expected = -np.mean(np.take_along_axis(log_probs, np.where(real, target, 0)[..., None], axis=2)[..., 0][real])
    np.testing.assert_allclose(net.loss(src, lengths, tgt_in, tgt_out).item(), expected, rtol=1e-12)


# -- the decoding calls ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[4], CONFIGS[5], CONFIGS[6]], ids=ids)
def test_decode_step_loop_equals_forward_exactly(config):
    net = model(**config)
    src, lengths, tgt_in, _ = batch()
    logits, weights = net(src, lengths, tgt_in)
    encoded = net.encode(src, lengths)
    state = net.initial_state(encoded)
    for t in range(tgt_in.shape[1]):
        step_logits, state, step_weights = net.decode_step(tgt_in[:, t], state, encoded)
        np.testing.assert_array_equal(host(step_logits), host(logits)[:, t])
        if weights is not None:
            np.testing.assert_array_equal(host(step_weights), host(weights)[:, t])


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[4], CONFIGS[6]], ids=ids)
def test_select_picks_and_reorders_rows_consistently(config):
    net = model(**config)
    src, lengths, tgt_in, _ = batch()
    encoded = net.encode(src, lengths)
    state = net.initial_state(encoded)
    _, state, _ = net.decode_step(tgt_in[:, 0], state, encoded)  # a state that differs from the initial one
    index = [2, 0, 0, 1, 2]
    picked_state, picked = net.select(state, encoded, index)
    assert [s.shape[0] for s in picked_state] == [5] * len(state)
    assert picked.memory.shape[0] == 5 and picked.mask.shape == (5, 5)
    assert all(f.shape[1] == 5 for f in picked.final)
    assert (picked.keys is None) == (encoded.keys is None)
    for a, b in zip(picked_state, state, strict=True):
        np.testing.assert_array_equal(host(a), host(b)[index])
    np.testing.assert_array_equal(host(picked.mask), host(encoded.mask)[index])
    tokens = np.array([3, 4, 5])
    logits, _, weights = net.decode_step(tr.tensor(tokens), state, encoded)
    picked_logits, _, picked_weights = net.decode_step(tr.tensor(tokens[index]), picked_state, picked)
    np.testing.assert_allclose(host(picked_logits), host(logits)[index], rtol=1e-13, atol=1e-15)
    if weights is not None:
        np.testing.assert_allclose(host(picked_weights), host(weights)[index], rtol=1e-13, atol=1e-15)
    again_state, _ = net.select(state, encoded, np.array(index))  # NumPy index, same rows
    np.testing.assert_array_equal(host(again_state[0]), host(picked_state[0]))


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[6]], ids=ids)
def test_the_query_is_the_previous_top_layer_state(config):
    net = model(**config)
    src, lengths, tgt_in, _ = batch()
    encoded = net.encode(src, lengths)
    state = net.initial_state(encoded)
    top = (net.decoder.num_layers - 1) * net.decoder.per_layer
    for t in range(3):
        _, expected = net.decoder.attention(state[top], encoded.memory, mask=encoded.mask)
        _, state, weights = net.decode_step(tgt_in[:, t], state, encoded)
        np.testing.assert_allclose(host(weights), host(expected), rtol=1e-13, atol=1e-15)


def test_decoding_runs_without_a_graph():
    net = model("float32").eval()
    src, lengths, _, _ = batch()
    with tr.no_grad():
        encoded = net.encode(src, lengths)
        logits, state, weights = net.decode_step(tr.tensor([SOS] * 3), net.initial_state(encoded), encoded)
    assert not logits.requires_grad and logits.shape == (3, 8) and weights.shape == (3, 5)


# -- padding and reversal ----------------------------------------------------------------------------------------------
def test_reverse_padded_reverses_within_each_length():
    tokens = tr.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    assert tr.nn.reverse_padded(tokens, [3, 2, 4]).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0], [9, 8, 7, 6]]
    assert tr.nn.reverse_padded([[1, 2]], [1]).tolist() == [[1, 2]]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reversed_input_reads_each_source_backwards_and_returns_memory_in_source_order(bidirectional):
    plain = model(bidirectional=bidirectional)
    reversed_ = model(bidirectional=bidirectional, reverse_input=True)
    reversed_.load_state_dict(plain.state_dict())
    src, lengths, _, _ = batch()
    backwards = tr.nn.reverse_padded(src, lengths)
    expected = plain.encode(backwards, lengths)
    got = reversed_.encode(src, lengths)
    memory, mask = host(expected.memory), host(expected.mask)
    for b, n in enumerate(lengths):  # position t of the source was read at position n-1-t
        np.testing.assert_array_equal(host(got.memory)[b, :n], memory[b, :n][::-1])
        np.testing.assert_array_equal(host(got.memory)[b, n:], 0.0)
    np.testing.assert_array_equal(host(got.mask), mask)
    for f, g in zip(got.final, expected.final, strict=True):
        np.testing.assert_array_equal(host(f), host(g))


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[3], CONFIGS[5], CONFIGS[6]], ids=ids)
def test_padding_does_not_change_a_rows_output(config):
    net = model(**config)
    src, lengths, tgt_in, _ = batch()
    logits, weights = net(src, lengths, tgt_in)
    row = 1  # two source tokens, padded to five
    n = lengths[row]
    alone, alone_weights = net(src[row:row + 1, :n], [n], tgt_in[row:row + 1])
    np.testing.assert_allclose(host(alone)[0], host(logits)[row], rtol=1e-12, atol=1e-13)
    if weights is not None:
        np.testing.assert_allclose(host(alone_weights)[0], host(weights)[row, :, :n], rtol=1e-12, atol=1e-13)


# -- the graph ---------------------------------------------------------------------------------------------------------
def test_one_graph_with_encoder_and_decoder_scopes_and_decoder_steps():
    net = model(num_layers=2)
    src, lengths, tgt_in, tgt_out = batch()
    graph = tr.graph.trace(net.loss(src, lengths, tgt_in, tgt_out))
    scopes = graph.scopes
    assert all(s == "Seq2Seq" or s.startswith(("Seq2Seq/encoder", "Seq2Seq/decoder")) for s in scopes)
    for expected in ("Seq2Seq/encoder/embedding", "Seq2Seq/encoder/rnn/l1", "Seq2Seq/decoder/layers/1",
                     "Seq2Seq/decoder/attention", "Seq2Seq/decoder/out"):
        assert expected in scopes, expected
    source, steps = src.shape[1], tgt_in.shape[1]
    for t in range(steps):  # the decoder counts its own steps from 0; on the timeline they follow the encoder's
        weights = graph.find(name="weights", scope="Seq2Seq/decoder/attention", step=t)
        assert len(weights) == 1 and weights[0].time == source + t
        assert len(graph.find(name="h", scope="Seq2Seq/decoder/layers/1", step=t)) == 1
        assert len(graph.find(name="logits", scope="Seq2Seq/decoder", step=t)) == 1
        # every op of a decoder step was made in the step opened at the model's scope: one column in a drawing
        assert {n.step_scope for n in graph.find(scope="Seq2Seq/decoder", step=t)} == {"Seq2Seq"}
    assert graph.find(name="h", scope="Seq2Seq/encoder/rnn/l0", step=source - 1)[0].time == source - 1
    assert not graph.find(scope="Seq2Seq/decoder", step=steps)
    assert graph.times == list(range(source + steps)) and graph.steps == list(range(max(source, steps)))
    # the keys are projected once per sequence, outside the decoder steps
    keys = graph.find(scope="Seq2Seq/decoder/attention/key_layer", kind="op")
    assert len(keys) == 1 and keys[0].step is None


# -- scheduled sampling ------------------------------------------------------------------------------------------------
def test_scheduled_sampling_is_reproducible_with_a_seed():
    net = model()
    src, lengths, tgt_in, tgt_out = batch()
    tr.manual_seed(5)
    first = host(net(src, lengths, tgt_in, teacher_forcing=0.5)[0])
    tr.manual_seed(5)
    again = host(net(src, lengths, tgt_in, teacher_forcing=0.5)[0])
    np.testing.assert_array_equal(first, again)
    tr.manual_seed(5)
    loss = net.loss(src, lengths, tgt_in, tgt_out, teacher_forcing=0.5)
    assert np.isfinite(loss.item())


def test_scheduled_sampling_feeds_each_row_gold_or_its_own_prediction():
    net = model()
    rng = np.random.default_rng(3)
    rows = 40
    src, lengths, tgt_in, _ = batch(batch_size=rows, src_lengths=tuple(rng.integers(1, 6, rows)),
                                    tgt_lengths=tuple(rng.integers(2, 5, rows)))
    gold = host(net(src, lengths, tgt_in, teacher_forcing=1.0)[0])[:, 1]
    free = host(net(src, lengths, tgt_in, teacher_forcing=0.0)[0])[:, 1]
    tr.manual_seed(7)
    mixed = host(net(src, lengths, tgt_in, teacher_forcing=0.5)[0])[:, 1]
    fed_gold = np.all(mixed == gold, axis=1)
    fed_own = np.all(mixed == free, axis=1)
    assert np.all(fed_gold | fed_own)  # step 1 saw either the gold token or the step-0 prediction
    assert 5 <= np.sum(fed_gold & ~fed_own) and 5 <= np.sum(fed_own & ~fed_gold)


def test_no_teacher_forcing_feeds_the_greedy_predictions():
    net = model()
    src, lengths, tgt_in, _ = batch()
    logits, _ = net(src, lengths, tgt_in, teacher_forcing=0.0)
    encoded = net.encode(src, lengths)
    state = net.initial_state(encoded)
    tokens = tgt_in[:, 0]
    for t in range(tgt_in.shape[1]):
        step_logits, state, _ = net.decode_step(tokens, state, encoded)
        np.testing.assert_array_equal(host(step_logits), host(logits)[:, t])
        tokens = tr.tensor(host(step_logits).argmax(axis=1))
    full, _ = net(src, lengths, tgt_in, teacher_forcing=1.0)
    assert not np.array_equal(host(full), host(logits))


# -- errors and config -------------------------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    net = model()
    src, lengths, tgt_in, tgt_out = batch()
    with pytest.raises(tr.ShapeError, match=r"Encoder: row\(s\) \[1\] are empty"):
        net.encode(src, [5, 0, 4])
    with pytest.raises(tr.ShapeError, match="Encoder: 2 lengths for a batch of 3 rows"):
        net.encode(src, [5, 2])
    with pytest.raises(tr.ShapeError, match="exceed the 5 positions"):
        net.encode(src, [6, 2, 4])
    with pytest.raises(tr.ShapeError, match=r"Encoder: token ids of shape \(5,\)"):
        net.encode(src[0], [5])
    with pytest.raises(tr.ShapeError, match="tgt_in of shape"):
        net(src, lengths, tgt_in[:2])
    with pytest.raises(tr.ShapeError, match="tgt_out of shape"):
        net.loss(src, lengths, tgt_in, tgt_out[:, :2])
    with pytest.raises(ValueError, match="teacher_forcing"):
        net(src, lengths, tgt_in, teacher_forcing=1.5)
    encoded = net.encode(src, lengths)
    with pytest.raises(tr.ShapeError, match="Decoder: 2 tokens for a state of batch 3"):
        net.decode_step(tr.tensor([1, 1]), net.initial_state(encoded), encoded)
    with pytest.raises(ValueError, match="cell must be one of"):
        model(cell="transformer")
    with pytest.raises(ValueError, match="context must be one of"):
        model(context="both")
    with pytest.raises(ValueError, match="attention must be None or one of"):
        model(attention="luong")


def test_config_is_json_and_rebuilds_the_model():
    net = model("float32", cell="gru", attention="general", bidirectional=True, reverse_input=True)
    config = json.loads(json.dumps(net.config()))
    assert config["cell"] == "gru" and config["attention"] == "general" and config["sos_index"] == SOS
    rebuilt = tr.nn.Seq2Seq.from_config(config).to("float32")
    assert rebuilt.config() == net.config()
    state = net.state_dict()
    assert list(rebuilt.state_dict()) == list(state)
    assert all(rebuilt.state_dict()[k].shape == v.shape for k, v in state.items())
    rebuilt.load_state_dict(state)
    src, lengths, tgt_in, _ = batch()
    logits, weights = net(src, lengths, tgt_in)
    again, again_weights = rebuilt(src, lengths, tgt_in)
    np.testing.assert_array_equal(host(again), host(logits))
    np.testing.assert_array_equal(host(again_weights), host(weights))


# -- the lectures' toy pairs -------------------------------------------------------------------------------------------
PAIRS = [("I ate an apple", "Ich habe einen Apfel gegessen"),
         ("i love my cat", "ich liebe meine katze"),
         ("Un exemple de RNN .", "An RNN example .")]


class Vocab:
    """Word ids with <pad>, <sos>, <eos> first."""

    def __init__(self, sentences):
        self.words = ["<pad>", "<sos>", "<eos>"] + sorted({w for s in sentences for w in s.split()})
        self.index = {w: i for i, w in enumerate(self.words)}

    def encode(self, sentence: str) -> list[int]:
        return [self.index[w] for w in sentence.split()]

    def decode(self, ids) -> str:
        return " ".join(self.words[i] for i in ids)


def toy_batch(src_vocab: Vocab, tgt_vocab: Vocab):
    sources = [src_vocab.encode(s) for s, _ in PAIRS]
    targets = [tgt_vocab.encode(t) for _, t in PAIRS]
    steps, t_steps = max(map(len, sources)), max(map(len, targets)) + 1
    src = np.full((len(PAIRS), steps), PAD, dtype=np.int64)
    tgt_in = np.full((len(PAIRS), t_steps), PAD, dtype=np.int64)
    tgt_out = np.full((len(PAIRS), t_steps), -100, dtype=np.int64)
    for b, (s, t) in enumerate(zip(sources, targets, strict=True)):
        src[b, :len(s)] = s
        tgt_in[b, :len(t) + 1] = [SOS, *t]
        tgt_out[b, :len(t) + 1] = [*t, EOS]
    return tr.tensor(src), [len(s) for s in sources], tr.tensor(tgt_in), tr.tensor(tgt_out)


def greedy(net: tr.nn.Seq2Seq, src, lengths, max_len: int = 10) -> list[list[int]]:
    with tr.no_grad():
        encoded = net.encode(src, lengths)
        state = net.initial_state(encoded)
        tokens = tr.tensor([net.sos_index] * len(lengths))
        out = []
        for _ in range(max_len):
            logits, state, _ = net.decode_step(tokens, state, encoded)
            tokens = tr.tensor(host(logits).argmax(axis=1))
            out.append(host(tokens))
    rows = []
    for row in np.array(out).T.tolist():
        rows.append(row[:row.index(net.eos_index)] if net.eos_index in row else row)
    return rows


@pytest.mark.parametrize("options", [dict(attention="additive"), dict(attention="additive", reverse_input=True),
                                     dict(attention=None, cell="gru", reverse_input=True)], ids=ids)
def test_the_lectures_toy_pairs_are_learned_exactly(options):
    src_vocab, tgt_vocab = Vocab([s for s, _ in PAIRS]), Vocab([t for _, t in PAIRS])
    src, lengths, tgt_in, tgt_out = toy_batch(src_vocab, tgt_vocab)
    tr.manual_seed(0)
    net = tr.nn.Seq2Seq(len(src_vocab.words), len(tgt_vocab.words), embed_size=16, hidden_size=32, **options)
    optimizer = tr.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(300):
        loss = net.loss(src, lengths, tgt_in, tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    net.eval()
    assert [tgt_vocab.decode(ids) for ids in greedy(net, src, lengths)] == [t for _, t in PAIRS]


def test_the_decoder_checks_the_memory_once_per_sequence_when_it_starts():
    net = model()
    src, lengths, _, _ = batch()
    encoded = net.encode(src, lengths)
    emptied = encoded._replace(mask=tr.tensor(np.zeros(encoded.mask.shape, dtype=bool)))
    with pytest.raises(tr.ShapeError, match=r"every position of batch row\(s\) \[0, 1, 2\] is masked"):
        net.initial_state(emptied)
    with pytest.raises(tr.ShapeError, match="mask of shape"):
        net.initial_state(encoded._replace(mask=tr.tensor(np.ones((3, 2), dtype=bool))))
