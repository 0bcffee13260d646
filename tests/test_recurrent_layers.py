"""RNN, LSTM and GRU layers against PyTorch (state dicts load, same numbers) and their unrolled graphs."""
import numpy as np
import pytest

import tinygrad_rnn as tr

T, B, IN, H = 5, 3, 4, 6
CASES = [(name, layers, bidirectional, lengths) for name in ("RNN", "LSTM", "GRU") for layers in (1, 2)
         for bidirectional in (False, True) for lengths in (None, [5, 3, 2])]


def _torch_run(torch, module, x, w, lengths, weight_hn):
    xp = torch.tensor(x, requires_grad=True)
    if lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xp, torch.tensor(lengths), enforce_sorted=False)
        out, hn = module(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    else:
        out, hn = module(xp)
    h = hn[0] if isinstance(hn, tuple) else hn
    ((out * torch.tensor(w)).sum() + (h * torch.tensor(weight_hn)).sum()).backward()
    return out.detach().numpy(), h.detach().numpy(), xp.grad.numpy(), dict(module.named_parameters())


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("name, layers, bidirectional, lengths", CASES)
def test_layer_matches_torch(device, name, layers, bidirectional, lengths, fused):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(layers * 10 + bidirectional)
    ours = getattr(tr.nn, name)(IN, H, num_layers=layers, bidirectional=bidirectional, fused=fused).double()
    ours.to(device)
    ref = getattr(torch.nn, name)(IN, H, num_layers=layers, bidirectional=bidirectional).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    directions = 2 if bidirectional else 1
    x, w = rng.normal(size=(T, B, IN)), rng.normal(size=(T, B, H * directions))
    weight_hn = rng.normal(size=(layers * directions, B, H))
    xt = tr.tensor(x, requires_grad=True, device=device)
    out, hn = ours(xt, lengths=lengths)
    h = hn[0] if isinstance(hn, tuple) else hn
    ((out * tr.tensor(w, device=device)).sum() + (h * tr.tensor(weight_hn, device=device)).sum()).backward()
    out_ref, h_ref, x_grad_ref, params_ref = _torch_run(torch, ref, x, w, lengths, weight_hn)
    close = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), out_ref, **close)
    np.testing.assert_allclose(h.numpy(), h_ref, **close)
    np.testing.assert_allclose(tr.tensor(xt.grad, device=device).numpy(), x_grad_ref, **close)
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(tr.tensor(p.grad, device=device).numpy(), params_ref[pname].grad.numpy(),
                                   **close, err_msg=pname)


def test_parameter_names_follow_torch():
    torch = pytest.importorskip("torch")
    ours = tr.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ref = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert all(p.name == n for n, p in ours.named_parameters())


def test_batch_first_initial_state_and_unbatched_input():
    rng = np.random.default_rng(0)
    lstm = tr.nn.LSTM(IN, H, num_layers=2).double()
    first = tr.nn.LSTM(IN, H, num_layers=2, batch_first=True).double()
    first.load_state_dict(lstm.state_dict())
    x = rng.normal(size=(T, B, IN))
    h0, c0 = rng.normal(size=(2, B, H)), rng.normal(size=(2, B, H))
    out, (h, c) = lstm(tr.tensor(x), (tr.tensor(h0), tr.tensor(c0)))
    out_bf, (h_bf, c_bf) = first(tr.tensor(x.transpose(1, 0, 2)), (tr.tensor(h0), tr.tensor(c0)))
    np.testing.assert_allclose(out_bf.numpy().transpose(1, 0, 2), out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(c_bf.numpy(), c.numpy(), rtol=1e-12)
    single, (h1, _) = lstm(tr.tensor(x[:, 0]), (tr.tensor(h0[:, 0]), tr.tensor(c0[:, 0])))
    assert single.shape == (T, H) and h1.shape == (2, H)
    np.testing.assert_allclose(single.numpy(), out.numpy()[:, 0], rtol=1e-12)


def test_padded_steps_keep_the_state_and_send_no_gradient():
    rng = np.random.default_rng(1)
    gru = tr.nn.GRU(IN, H).double()
    x = tr.tensor(rng.normal(size=(T, 2, IN)), requires_grad=True)
    out, h = gru(x, lengths=[5, 2])
    np.testing.assert_array_equal(out.numpy()[2:, 1], 0.0)
    np.testing.assert_allclose(h.numpy()[0, 1], out.numpy()[1, 1], rtol=1e-12)  # the state after its last step
    (out.sum() + h.sum()).backward()
    np.testing.assert_array_equal(x.grad[2:, 1], 0.0)
    assert np.abs(x.grad[:2, 1]).min() > 0


def test_two_layer_lstm_graph_has_every_gate_of_every_step():
    lstm = tr.nn.LSTM(IN, H, num_layers=2, fused=False)
    out, _ = lstm(tr.zeros(5, 1, IN))
    g = tr.graph.trace(out)
    for gate in "ifgoch":
        for layer in ("LSTM/l0", "LSTM/l1"):
            nodes = g.find(name=gate, scope=layer)
            assert sorted(n.step for n in nodes) == list(range(5)), (gate, layer)
    assert len(g.find(name="f", scope="LSTM/l1", step=3)) == 1
    fused, _ = tr.nn.LSTM(IN, H, num_layers=2)(tr.zeros(5, 1, IN))
    gf = tr.graph.trace(fused)
    assert len(gf.find(label="lstm_cell")) == 10 and gf.find(name="f") == []


@pytest.mark.parametrize("bad, match", [
    (lambda m: m(tr.zeros(5, 3, 7)), r"LSTM: input of shape \(5, 3, 7\) does not fit input_size=4"),
    (lambda m: m(tr.zeros(5, 3, IN), (tr.zeros(1, 3, H), tr.zeros(1, 3, H))), r"initial h of shape \(1, 3, 6\)"),
    (lambda m: m(tr.zeros(5, 3, IN), lengths=[5, 6, 1]), r"LSTM: lengths \[5, 6, 1\] exceed the 5 positions"),
    (lambda m: m(tr.zeros(5, 3, IN), lengths=tr.tensor([5, 0, 1])), r"LSTM: row\(s\) \[1\] are empty"),
    (lambda m: m(tr.zeros(5, 3, IN), lengths=[5, 1]), r"LSTM: 2 lengths for a batch of 3 rows"),
])
def test_bad_input_names_the_layer_and_shapes(bad, match):
    with pytest.raises(tr.ShapeError, match=match):
        bad(tr.nn.LSTM(IN, H, num_layers=2))


def test_dropout_between_layers_only_while_training():
    tr.manual_seed(0)
    rnn = tr.nn.RNN(IN, H, num_layers=2, dropout=0.5).double()
    x = tr.tensor(np.random.default_rng(2).normal(size=(T, B, IN)))
    a, _ = rnn(x)
    b, _ = rnn(x)
    assert not np.allclose(a.numpy(), b.numpy())
    rnn.eval()
    np.testing.assert_array_equal(rnn(x)[0].numpy(), rnn(x)[0].numpy())
