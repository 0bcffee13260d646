"""Weights both ways: ``tr.save`` / ``tr.load`` in ``.npz`` and ``.safetensors``, models trained here loaded into
the equivalent ``torch.nn`` modules (and PyTorch's into ours) with the same outputs, PyTorch pickles refused, and
``load_state_dict`` checking everything before it copies anything."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=2e-6)  # float32 through two libraries' matmuls: the same numbers up to summation order


# -- files ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_and_load_keep_every_dtype(tmp_path, suffix):
    state = {"f16": np.arange(3, dtype=np.float16), "f32": RNG.standard_normal((2, 3)).astype(np.float32),
             "f64": RNG.standard_normal(4), "i64": np.arange(5), "mask": np.array([True, False]),
             "tensor": tr.tensor([[1.0, 2.0]], dtype="float64")}
    path = tmp_path / f"weights{suffix}"
    tr.save(state, str(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    loaded = tr.load(str(path))
    assert sorted(loaded) == sorted(state)
    for name, value in state.items():
        expected = value.numpy() if isinstance(value, tr.Tensor) else value
        assert loaded[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(loaded[name], expected)


def test_a_failed_safetensors_write_leaves_the_old_file(tmp_path, monkeypatch):
    import safetensors.numpy

    path = tmp_path / "m.safetensors"
    tr.save({"w": np.ones(3, np.float32)}, str(path))

    def dies_halfway(arrays, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x10\x00")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        tr.save({"w": np.zeros(3, np.float32)}, str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    assert tr.load(str(path))["w"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("zipped", [True, False], ids=["zip archive", "legacy pickle"])
def test_load_refuses_a_pytorch_pickle_and_says_how_to_export(tmp_path, zipped):
    torch = pytest.importorskip("torch")
    path = tmp_path / "m.pt"
    torch.save(torch.nn.Linear(2, 3).state_dict(), path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(tr.DataFileError) as info:
        tr.load(str(path))
    text = str(info.value)
    assert "m.pt" in text and "pickle" in text
    assert 'save_file(model.state_dict(), "m.safetensors")' in text and "safetensors.torch" in text


def test_load_names_a_broken_or_foreign_file(tmp_path):
    good = tmp_path / "m.safetensors"
    tr.save({"w": np.ones((4, 4), np.float32)}, str(good))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(good.read_bytes()[:40])
    with pytest.raises(tr.DataFileError, match="broken.safetensors.*truncated"):
        tr.load(str(broken))
    text = tmp_path / "notes.txt"
    text.write_text("hello, world")
    with pytest.raises(tr.DataFileError, match="notes.txt is neither .npz nor .safetensors"):
        tr.load(str(text))


def test_pytorch_half_precision_from_safetensors(tmp_path):
    """bfloat16 comes back as float32, exactly (NumPy has no bfloat16); float16 as float16; both load into a
    float32 model with the outputs of PyTorch's float32 copy."""
    torch = pytest.importorskip("torch")
    import safetensors.torch

    torch.manual_seed(0)
    for half, kept in ((torch.bfloat16, "float32"), (torch.float16, "float16")):
        ref = torch.nn.Linear(4, 3).to(half)
        path = str(tmp_path / f"{str(half)[6:]}.safetensors")
        safetensors.torch.save_file(ref.state_dict(), path)
        loaded = tr.load(path)
        assert str(loaded["weight"].dtype) == kept
        np.testing.assert_array_equal(loaded["weight"], ref.weight.float().detach().numpy())
        ours = nn.Linear(4, 3)
        ours.load_state_dict(loaded)
        x = RNG.standard_normal((2, 4)).astype(np.float32)
        np.testing.assert_allclose(ours(tr.tensor(x)).numpy(), ref.float()(torch.from_numpy(x)).detach().numpy(),
                                   **TOL)
        ours.load_state_dict(ref.state_dict())  # a bfloat16 / float16 PyTorch tensor directly
        assert ours.weight.dtype == "float32"
        np.testing.assert_array_equal(ours.weight.numpy(), ref.weight.float().detach().numpy())


# -- load_state_dict: one error, nothing changed ----------------------------------------------------------------------
def _values(module) -> dict:
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    tr.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2)
    before = _values(lstm)
    state = {k: np.zeros_like(v) for k, v in before.items()}  # new values for every key...
    del state["bias_hh_l0"]                                    # ...one missing
    state["weight_hh_l1"] = np.zeros((16, 5), np.float32)      # ...one of the wrong shape, late in the order
    state["bias_ih_l1"] = np.zeros(3, np.float32)              # ...another
    state["weight_ih_l2"] = np.zeros((16, 4), np.float32)      # ...and one the model lacks
    with pytest.raises(tr.StateDictError) as info:
        lstm.load_state_dict(state)
    text = str(info.value)
    for needle in ("LSTM", "missing keys ['bias_hh_l0']", "unexpected keys ['weight_ih_l2']",
                   "weight_hh_l1: (16, 5) in the state dict, (16, 4) in the model", "bias_ih_l1: (3,)",
                   "nothing was loaded"):
        assert needle in text
    for name, value in _values(lstm).items():  # the earlier parameters were not copied before the failure
        np.testing.assert_array_equal(value, before[name])
    # one class for the three kinds of problem, caught as the built-ins PyTorch users catch
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, tr.MissingKeyError) and isinstance(info.value, tr.ShapeError)
    with pytest.raises(tr.StateDictError, match="shape mismatch for weight_hh_l1") as info:
        lstm.load_state_dict(state, strict=False)  # non-strict still refuses a wrong shape, as PyTorch does
    assert "missing keys" not in str(info.value)
    for name, value in _values(lstm).items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_non_strict_reports_the_keys_as_pytorch():
    torch = pytest.importorskip("torch")
    state = {"weight": np.ones((3, 2), np.float32), "extra": np.zeros(1, np.float32)}
    result = nn.Linear(2, 3).load_state_dict(state, strict=False)
    expected = torch.nn.Linear(2, 3).load_state_dict({k: torch.from_numpy(v) for k, v in state.items()},
                                                     strict=False)
    assert result.missing_keys == expected.missing_keys == ["bias"]
    assert result.unexpected_keys == expected.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (["bias"], ["extra"])


def test_load_state_dict_of_a_path_says_to_load_it_first():
    with pytest.raises(tr.ArgumentTypeError, match=r"tr.load\(path\)"):
        nn.Linear(2, 3).load_state_dict("m.safetensors")


# -- models trained here run in PyTorch, and PyTorch's here ----------------------------------------------------------
class TorchSeq2Seq:
    """``nn.Seq2Seq(cell="lstm", attention="additive", bidirectional=True, num_layers=2)`` written in PyTorch with
    the same parameter names, for full-length sources (no padding): embedding → bidirectional LSTM → tanh bridges of
    the final states; a decoder of LSTM cells fed [embedding(y_{t-1}); context], with additive attention queried by
    the previous top-layer h, and logits out([h_t; context])."""

    @staticmethod
    def build(src_vocab: int, tgt_vocab: int, embed: int, hidden: int, layers: int):
        import torch
        from torch import nn as tnn

        class Encoder(tnn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = tnn.Embedding(src_vocab, embed, padding_idx=0)
                self.rnn = tnn.LSTM(embed, hidden, layers, batch_first=True, bidirectional=True)
                self.bridge_h, self.bridge_c = tnn.Linear(2 * hidden, hidden), tnn.Linear(2 * hidden, hidden)

            def forward(self, src):
                memory, (h, c) = self.rnn(self.embedding(src))
                batch = src.shape[0]

                def bridge(state, layer):  # (2L, B, H), layer 0 forward, layer 0 backward, ... → (L, B, H)
                    both = state.view(layers, 2, batch, hidden).permute(0, 2, 1, 3).reshape(layers, batch, -1)
                    return torch.tanh(layer(both))

                return memory, bridge(h, self.bridge_h), bridge(c, self.bridge_c)

        class Attention(tnn.Module):
            def __init__(self):
                super().__init__()
                self.key_layer = tnn.Linear(2 * hidden, hidden, bias=False)
                self.query_layer = tnn.Linear(hidden, hidden, bias=False)
                self.energy_layer = tnn.Linear(hidden, 1, bias=False)

        class Decoder(tnn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = tnn.Embedding(tgt_vocab, embed, padding_idx=0)
                self.attention = Attention()
                self.layers = tnn.ModuleList([tnn.LSTMCell(embed + 2 * hidden if k == 0 else hidden, hidden)
                                              for k in range(layers)])
                self.out = tnn.Linear(3 * hidden, tgt_vocab)

        class Seq2Seq(tnn.Module):
            def __init__(self):
                super().__init__()
                self.encoder, self.decoder = Encoder(), Decoder()

            def forward(self, src, tgt_in):
                memory, h, c = self.encoder(src)
                dec, attention = self.decoder, self.decoder.attention
                state = [(h[k], c[k]) for k in range(layers)]
                keys, logits = attention.key_layer(memory), []
                for t in range(tgt_in.shape[1]):
                    query = attention.query_layer(state[-1][0]).unsqueeze(1)
                    weights = torch.softmax(attention.energy_layer(torch.tanh(keys + query)).squeeze(2), dim=-1)
                    context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
                    x = torch.cat([dec.embedding(tgt_in[:, t]), context], dim=1)
                    for k, cell in enumerate(dec.layers):
                        state[k] = cell(x, state[k])
                        x = state[k][0]
                    logits.append(dec.out(torch.cat([x, context], dim=1)))
                return torch.stack(logits, dim=1)

        return Seq2Seq()


def _ids(*shape, high=7):
    return RNG.integers(1, high, shape)


def _floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _recurrent(kind):
    return (lambda lib: getattr(lib.nn, kind)(3, 4, num_layers=2, bidirectional=True),
            lambda m, x: m(x), (_floats(5, 2, 3),))


def _cell(kind):
    state = (_floats(2, 4), _floats(2, 4)) if kind == "LSTMCell" else _floats(2, 4)
    return (lambda lib: getattr(lib.nn, kind)(3, 4),
            lambda m, x, *s: m(x, tuple(s) if len(s) == 2 else s[0]),
            (_floats(2, 3),) + (state if isinstance(state, tuple) else (state,)))


def _seq2seq_run(model, src, tgt_in):
    if isinstance(model, nn.Module):
        return model(src, [src.shape[1]] * src.shape[0], tgt_in)[0]
    return model(src, tgt_in)


# name: (build(lib), run(model, *inputs), inputs as NumPy)
MODELS = {
    "Linear": (lambda lib: lib.nn.Linear(5, 3), lambda m, x: m(x), (_floats(4, 5),)),
    "Embedding": (lambda lib: lib.nn.Embedding(10, 4), lambda m, x: m(x), (_ids(2, 3, high=10),)),
    **{kind: _recurrent(kind) for kind in ("RNN", "LSTM", "GRU")},
    **{kind: _cell(kind) for kind in ("RNNCell", "LSTMCell", "GRUCell")},
    "Seq2Seq": (None, _seq2seq_run, (_ids(2, 4), _ids(2, 3, high=9))),
}


def _build(name: str, lib):
    if name == "Seq2Seq":
        return nn.Seq2Seq(7, 9, embed_size=4, hidden_size=5, num_layers=2, bidirectional=True,
                          attention="additive") if lib is tr else TorchSeq2Seq.build(7, 9, 4, 5, 2)
    return MODELS[name][0](lib)


def _outputs(name: str, model, lib) -> list:
    """Every array the model returns (outputs and final states), as NumPy."""
    convert = tr.tensor if lib is tr else lib.from_numpy
    out = MODELS[name][1](model, *(convert(x) for x in MODELS[name][2]))
    flat, stack = [], [out]
    while stack:
        item = stack.pop(0)
        if isinstance(item, tuple):
            stack[:0] = list(item)
        else:
            flat.append(item.numpy() if lib is tr else item.detach().numpy())
    return flat


def _train_here(name: str, model) -> None:
    """A few SGD steps, so the weights are ones this library made, not an initialisation."""
    opt = tr.optim.SGD(model.parameters(), lr=0.1)
    inputs = [tr.tensor(x) for x in MODELS[name][2]]
    for _ in range(3):
        opt.zero_grad()
        out = MODELS[name][1](model, *inputs)
        first = out[0] if isinstance(out, tuple) else out
        (first * first).mean().backward()
        opt.step()


@pytest.mark.parametrize("name", list(MODELS))
def test_a_model_trained_here_runs_in_pytorch(tmp_path, name):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    tr.manual_seed(0)
    ours = _build(name, tr)
    initial = _values(ours)
    _train_here(name, ours)
    assert any(not np.array_equal(v, initial[k]) for k, v in _values(ours).items())
    path = tmp_path / "model.safetensors"
    tr.save(ours.state_dict(), str(path))
    theirs = _build(name, torch)
    theirs.load_state_dict(safetensors.torch.load_file(str(path)))  # strict: the same names and shapes
    for a, b in zip(_outputs(name, ours, tr), _outputs(name, theirs, torch), strict=True):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_pytorch_model_runs_here(tmp_path, name):
    torch = pytest.importorskip("torch")
    import safetensors.torch

    torch.manual_seed(0)
    theirs = _build(name, torch)
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(theirs.state_dict(), str(path))
    ours = _build(name, tr)
    assert ours.load_state_dict(tr.load(str(path))) == ([], [])
    for a, b in zip(_outputs(name, ours, tr), _outputs(name, theirs, torch), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
