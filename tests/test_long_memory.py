"""Leaky-integrator units (``LeakyRNNCell``, ``LeakyRNN``) and echo-state networks on every ``device``.

References are independent of the library: leaky recurrences and reservoir states written out in NumPy, ridge
regression by ``numpy.linalg.lstsq`` / ``solve``, finite differences (``tr.gradcheck``), and ``RNNCell`` (α = 1).
"""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.nn import init

ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


def _t(values, device, requires_grad=False) -> tr.Tensor:
    return tr.tensor(np.asarray(values, dtype=np.float64), dtype="float64", device=device,
                     requires_grad=requires_grad)


def _leaky_cell(device, input_size=3, hidden_size=4, seed=0, **kwargs) -> tuple:
    """A float64 cell with random weights; returns it and its parameters as NumPy arrays."""
    cell = tr.nn.LeakyRNNCell(input_size, hidden_size, dtype="float64", **kwargs).to(device)
    rng = np.random.default_rng(seed)
    values = {name: rng.standard_normal(p.shape) * 0.6 for name, p in cell.named_parameters() if name != "alpha"}
    cell.load_state_dict(values, strict=False)
    return cell, values


def np_leaky(p, alpha, xs, h0, nonlinearity="tanh"):
    """h' = (1 − α)⊙h + α⊙act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), step by step."""
    act, h, hs = ACTIVATIONS[nonlinearity], h0, []
    for x in xs:
        pre = x @ p["weight_ih"].T + h @ p["weight_hh"].T
        if "bias_ih" in p:
            pre = pre + p["bias_ih"] + p["bias_hh"]
        h = (1.0 - alpha) * h + alpha * act(pre)
        hs.append(h)
    return hs


def _unroll(cell, xs, h0):
    h, hs = h0, []
    for t in range(xs.shape[0]):
        with tr.step(t):
            h = cell(xs[t], h)
        hs.append(h)
    return hs


# =================================================================================================================
# LeakyRNNCell
# =================================================================================================================
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("nonlinearity", list(ACTIVATIONS))
@pytest.mark.parametrize("alpha", [0.3, [0.05, 0.3, 0.7, 1.0]], ids=["scalar", "per_unit"])
def test_leaky_cell_matches_numpy(device, alpha, nonlinearity, fused):
    cell, p = _leaky_cell(device, alpha=alpha, nonlinearity=nonlinearity, fused=fused)
    rng = np.random.default_rng(1)
    xs, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 4)) * 0.5
    hs = _unroll(cell, _t(xs, device), _t(h0, device))
    for t, (h, expected) in enumerate(zip(hs, np_leaky(p, np.asarray(alpha), xs, h0, nonlinearity), strict=True)):
        assert h.device == device and h.dtype == "float64" and h.name == "h"
        np.testing.assert_allclose(h.numpy(), expected, rtol=1e-12, atol=1e-13, err_msg=f"step {t}")


def test_leaky_cell_unbatched_and_without_bias(device):
    cell, p = _leaky_cell(device, alpha=0.4, bias=False)
    assert cell.bias_ih is None and "bias_ih" not in p
    x = np.random.default_rng(2).standard_normal(3)
    h = cell(_t(x, device))  # no state: zeros
    assert h.shape == (4,)
    np.testing.assert_allclose(h.numpy(), np_leaky(p, 0.4, [x], np.zeros(4))[0], rtol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_alpha_one_is_the_plain_rnn_cell(device, nonlinearity):
    leaky, p = _leaky_cell(device, alpha=1.0, nonlinearity=nonlinearity)
    plain = tr.nn.RNNCell(3, 4, nonlinearity=nonlinearity).to(device).double()
    plain.load_state_dict(p)
    rng = np.random.default_rng(3)
    xs, h0 = _t(rng.standard_normal((6, 2, 3)), device), _t(rng.standard_normal((2, 4)), device)
    for h_leaky, h_plain in zip(_unroll(leaky, xs, h0), _unroll(plain, xs, h0), strict=True):
        np.testing.assert_allclose(h_leaky.numpy(), h_plain.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("learn_alpha", [False, True], ids=["fixed_alpha", "learned_alpha"])
def test_leaky_cell_gradcheck(device, learn_alpha, fused):
    cell, _ = _leaky_cell(device, hidden_size=3, alpha=[0.2, 0.5, 0.9], learn_alpha=learn_alpha, fused=fused)
    params = list(cell.parameters())
    assert any(q is cell.alpha for q in params) is learn_alpha and all(q.dtype == "float64" for q in params)
    rng = np.random.default_rng(4)
    x = _t(rng.standard_normal((3, 2, 3)), device, requires_grad=True)
    h0 = _t(rng.standard_normal((2, 3)) * 0.5, device, requires_grad=True)
    assert tr.gradcheck(lambda x, h0, *ps: _unroll(cell, x, h0), [x, h0, *params])


def test_alpha_is_a_buffer_or_a_parameter():
    fixed = tr.nn.LeakyRNNCell(2, 3, alpha=0.25)
    assert "alpha" in dict(fixed.named_buffers()) and "alpha" not in dict(fixed.named_parameters())
    assert not fixed.alpha.requires_grad and fixed.alpha.tolist() == [0.25] * 3 and "alpha" in fixed.state_dict()
    learned = tr.nn.LeakyRNNCell(2, 3, alpha=tr.tensor([0.5, 0.25, 1.0]), learn_alpha=True)
    assert dict(learned.named_parameters())["alpha"].requires_grad and learned.alpha.tolist() == [0.5, 0.25, 1.0]
    assert fixed.double().alpha.dtype == "float64"
    assert "learn_alpha=True" in repr(learned)


def test_learned_alpha_receives_the_gradient_of_the_mix():
    """∂h'/∂α = h̃ − h: checked by hand on one step."""
    cell, p = _leaky_cell("cpu", input_size=2, hidden_size=2, alpha=0.5, learn_alpha=True)
    x, h0 = np.array([[0.3, -0.2]]), np.array([[0.1, 0.4]])
    cell(_t(x, "cpu"), _t(h0, "cpu")).sum().backward()
    candidate = np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h0 @ p["weight_hh"].T + p["bias_hh"])
    np.testing.assert_allclose(cell.alpha.grad, (candidate - h0)[0], rtol=1e-12)


@pytest.mark.parametrize("alpha, match", [(0.0, r"\(0, 1\]"), (1.5, r"\(0, 1\]"), ([0.5, 0.5], "hidden_size=3")])
def test_leaky_cell_rejects_bad_alpha(alpha, match):
    with pytest.raises((ValueError, tr.ShapeError), match=match):
        tr.nn.LeakyRNNCell(2, 3, alpha=alpha)
    with pytest.raises(ValueError, match="nonlinearity"):
        tr.nn.LeakyRNNCell(2, 3, nonlinearity="gelu")


def _pulse_response(alpha: float, steps: int = 30) -> tuple[list, float]:
    """‖h_t‖ after a unit pulse at t = 0 (zeros after), and ‖∂ sum(h_T) / ∂h_0‖, for one fixed contracting W."""
    tr.manual_seed(5)
    cell = tr.nn.LeakyRNNCell(1, 8, alpha=alpha, bias=False).double()
    init.set_spectral_radius_(cell.weight_hh, 0.5)
    xs = np.zeros((steps, 1, 1))
    xs[0] = 1.0
    h0 = _t(np.zeros((1, 8)), "cpu", requires_grad=True)
    hs = _unroll(cell, _t(xs, "cpu"), h0)
    hs[-1].sum().backward()
    return [float(np.linalg.norm(h.numpy())) for h in hs], float(np.linalg.norm(h0.grad))


def test_small_alpha_remembers_a_pulse_longer():
    """A leaky unit decays like (1 − α)ᵗ, a plain tanh cell with ρ(W) = 0.5 like 0.5ᵗ or faster."""
    leaky, grad_leaky = _pulse_response(0.1)
    plain, grad_plain = _pulse_response(1.0)
    assert plain[0] > leaky[0]  # the leaky unit takes in only α of the pulse ...
    for t in (20, 29):  # ... but keeps it: larger in absolute terms and relative to what it took in
        assert leaky[t] > 1000 * plain[t], (t, leaky[t], plain[t])
        assert leaky[t] / leaky[0] > 1000 * plain[t] / plain[0]
    assert all(later < earlier for earlier, later in pairwise(leaky))  # it still forgets, only slowly
    assert grad_leaky > 1e4 * grad_plain  # and the gradient through time vanishes far more slowly


# =================================================================================================================
# LeakyRNN
# =================================================================================================================
def test_leaky_layer_unrolls_the_cell_with_steps_and_scopes(device):
    tr.manual_seed(6)
    layer = tr.nn.LeakyRNN(3, 4, alpha=[0.1, 0.2, 0.5, 1.0], learn_alpha=True).to(device).double()
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "alpha_l0"]
    p = {n[:-3]: v.numpy() for n, v in layer.state_dict().items()}
    rng = np.random.default_rng(7)
    xs, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((1, 2, 4))
    out, h_n = layer(_t(xs, device), _t(h0, device))
    assert out.shape == (5, 2, 4) and h_n.shape == (1, 2, 4)
    expected = np_leaky(p, p["alpha"], xs, h0[0])
    np.testing.assert_allclose(out.numpy(), np.stack(expected), rtol=1e-12)
    np.testing.assert_allclose(h_n.numpy()[0], expected[-1], rtol=1e-12)
    graph = tr.graph.trace(out.sum())
    assert sorted(n.step for n in graph.find(name="h", scope="LeakyRNN/l0")) == list(range(5))
    assert len(graph.find(name="h_tilde", scope="LeakyRNN/l0", step=3)) == 1
    out.sum().backward()
    assert layer.alpha_l0.grad is not None and layer.alpha_l0.grad.shape == (4,)


def test_leaky_layer_keeps_a_fixed_alpha_as_a_buffer_under_flat_names():
    layer = tr.nn.LeakyRNN(2, 3, num_layers=2, bidirectional=True, alpha=0.3, batch_first=True)
    buffers = dict(layer.named_buffers())
    assert sorted(buffers) == ["alpha_l0", "alpha_l0_reverse", "alpha_l1", "alpha_l1_reverse"]
    assert not any(n.startswith("alpha") for n, _ in layer.named_parameters())
    layer.double()
    assert all(b.dtype == "float64" for b in buffers.values()) and layer._cells[3].alpha.dtype == "float64"
    out, h_n = layer(tr.zeros(4, 6, 2, dtype="float64"), lengths=[6, 3, 6, 1])
    assert out.shape == (4, 6, 6) and h_n.shape == (4, 4, 3)
    state = layer.state_dict()
    state["alpha_l1"] = tr.tensor([0.9, 0.8, 0.7], dtype="float64")
    layer.load_state_dict(state)
    assert layer._cells[2].alpha.tolist() == [0.9, 0.8, 0.7]  # the cell uses the loaded buffer


def test_leaky_layer_fused_matches_explicit():
    tr.manual_seed(8)
    explicit = tr.nn.LeakyRNN(3, 4, alpha=0.3).double()
    fused = tr.nn.LeakyRNN(3, 4, alpha=0.3, fused=True).double()
    fused.load_state_dict(explicit.state_dict())
    xs = _t(np.random.default_rng(9).standard_normal((6, 2, 3)), "cpu")
    np.testing.assert_allclose(fused(xs)[0].numpy(), explicit(xs)[0].numpy(), rtol=1e-12)


# =================================================================================================================
# EchoStateNetwork
# =================================================================================================================
def _esn(device, **kwargs) -> tr.nn.EchoStateNetwork:
    options = dict(spectral_radius=0.9, seed=3, dtype="float64", device=device)
    options.update(kwargs)
    return tr.nn.EchoStateNetwork(options.pop("input_size", 1), options.pop("reservoir_size", 40),
                                  options.pop("output_size", 1), **options)


@pytest.mark.parametrize("radius, density", [(0.9, 1.0), (1.5, 0.2), (0.3, 0.5)])
def test_reservoir_has_the_requested_spectral_radius(device, radius, density):
    esn = _esn(device, spectral_radius=radius, density=density, input_scaling=0.5, input_size=2)
    weight = esn.weight.numpy()
    assert np.max(np.abs(np.linalg.eigvals(weight))) == pytest.approx(radius, rel=1e-10)
    assert abs(np.mean(weight != 0) - density) < 0.05
    assert esn.weight_in.shape == (40, 2) and np.max(np.abs(esn.weight_in.numpy())) <= 0.5
    assert [n for n, _ in esn.named_parameters()] == ["readout.weight", "readout.bias"]
    assert {n for n, _ in esn.named_buffers()} == {"weight_in", "weight"}
    assert not esn.weight.requires_grad and esn.weight.device == device


def test_seed_fixes_the_reservoir_and_manual_seed_governs_the_rest():
    same = [_esn("cpu", seed=11).weight.numpy() for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.allclose(same[0], _esn("cpu", seed=12).weight.numpy())
    drawn = []
    for _ in range(2):
        tr.manual_seed(13)
        drawn.append(_esn("cpu", seed=None).weight.numpy())
    np.testing.assert_array_equal(*drawn)
    single = _esn("cpu", seed=11, dtype="float32")  # the same draws, whatever the dtype
    assert single.weight.dtype == "float32" and single.readout.weight.dtype == "float32"
    np.testing.assert_allclose(single.weight.numpy(), same[0], rtol=1e-5, atol=1e-7)


def np_states(esn, u, leak):
    w_in, w = esn.weight_in.numpy(), esn.weight.numpy()
    x, out = np.zeros((u.shape[1], w.shape[0])), []
    for u_t in u:
        x = (1 - leak) * x + leak * np.tanh(u_t @ w_in.T + x @ w.T)
        out.append(x)
    return np.stack(out)


@pytest.mark.parametrize("leak", [1.0, 0.3])
def test_states_follow_the_reservoir_equation(device, leak):
    esn = _esn(device, leak=leak, input_size=2)
    u = np.random.default_rng(14).standard_normal((12, 3, 2))
    inputs = _t(u, device, requires_grad=True)
    states = esn.states(inputs)
    assert states.shape == (12, 3, 40) and not states.requires_grad and states.grad_fn is None
    np.testing.assert_allclose(states.numpy(), np_states(esn, u, leak), rtol=1e-12, atol=1e-14)
    again = esn.states(inputs[6:], hx=states[5])  # continuing from a state
    np.testing.assert_allclose(again.numpy(), states.numpy()[6:], rtol=1e-12, atol=1e-14)


def _delay_task(rng, steps: int, batch: int = 2, delay: int = 5) -> tuple[np.ndarray, np.ndarray]:
    u = rng.uniform(-0.5, 0.5, (steps, batch, 1))
    y = np.zeros_like(u)
    y[delay:] = u[:-delay]
    return u, y


def test_esn_recalls_the_input_five_steps_back(device):
    rng = np.random.default_rng(15)
    esn = _esn(device, reservoir_size=60, density=0.3, washout=30, seed=1)
    u, y = _delay_task(rng, 500)
    esn.fit(_t(u, device), _t(y, device))
    u_test, y_test = _delay_task(rng, 300)
    prediction = esn(_t(u_test, device)).numpy()
    mse = np.mean((prediction - y_test)[30:] ** 2)
    baseline = np.mean((y_test[30:] - y_test[30:].mean()) ** 2)  # predicting the mean
    assert mse < 0.1 * baseline, (mse, baseline)


def _design(states: np.ndarray, washout: int) -> np.ndarray:
    s = states[washout:].reshape(-1, states.shape[-1])
    return np.concatenate([s, np.ones((s.shape[0], 1))], axis=1)


def test_ridge_zero_is_least_squares(device):
    esn = _esn(device, reservoir_size=20, output_size=2, ridge=0.0, washout=10)
    rng = np.random.default_rng(16)
    u, y = rng.standard_normal((80, 2, 1)), rng.standard_normal((80, 2, 2))
    esn.fit(_t(u, device), _t(y, device))
    design = _design(esn.states(_t(u, device)).numpy(), 10)
    solution = np.linalg.lstsq(design, y[10:].reshape(-1, 2), rcond=None)[0]
    np.testing.assert_allclose(esn.readout.weight.numpy(), solution[:-1].T, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(esn.readout.bias.numpy(), solution[-1], rtol=1e-6, atol=1e-8)


def test_ridge_matches_the_normal_equations_with_an_unshrunk_bias(device):
    esn = _esn(device, reservoir_size=20, ridge=0.5, washout=5)
    rng = np.random.default_rng(17)
    u, y = rng.standard_normal((60, 3, 1)), rng.standard_normal((60, 3, 1))
    esn.fit(_t(u, device), _t(y, device))
    design = _design(esn.states(_t(u, device)).numpy(), 5)
    penalty = 0.5 * np.eye(21)
    penalty[-1, -1] = 0.0
    solution = np.linalg.solve(design.T @ design + penalty, design.T @ y[5:].reshape(-1, 1))
    np.testing.assert_allclose(esn.readout.weight.numpy(), solution[:-1].T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(esn.readout.bias.numpy(), solution[-1], rtol=1e-10, atol=1e-12)
    huge = _esn(device, reservoir_size=20, ridge=1e12, washout=5).fit(_t(u, device), _t(y, device))
    np.testing.assert_allclose(huge.readout.bias.numpy(), [y[5:].mean()], rtol=1e-6)  # the mean, not zero


def test_ridge_falls_back_to_the_host(monkeypatch):
    strict = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(18)
    u, y = rng.standard_normal((40, 2, 1)), rng.standard_normal((40, 2, 1))
    expected = _esn("cpu", ridge=0.1).fit(_t(u, "cpu"), _t(y, "cpu")).readout.weight.numpy()
    monkeypatch.delattr(strict.linalg, "solve")
    got = _esn("array_api_strict", ridge=0.1).fit(_t(u, "array_api_strict"), _t(y, "array_api_strict"))
    np.testing.assert_allclose(got.readout.weight.numpy(), expected, rtol=1e-12)


def test_washout_steps_are_left_out_of_the_fit():
    rng = np.random.default_rng(19)
    u, y = rng.standard_normal((50, 2, 1)), rng.standard_normal((50, 2, 1))
    spoiled = y.copy()
    spoiled[:8] = 1e6  # targets during the washout must not matter
    clean = _esn("cpu", washout=8).fit(_t(u, "cpu"), _t(y, "cpu"))
    washed = _esn("cpu", washout=8).fit(_t(u, "cpu"), _t(spoiled, "cpu"))
    np.testing.assert_allclose(washed.readout.weight.numpy(), clean.readout.weight.numpy(), rtol=1e-12)
    unwashed = _esn("cpu", washout=0).fit(_t(u, "cpu"), _t(spoiled, "cpu"))
    assert not np.allclose(unwashed.readout.weight.numpy(), clean.readout.weight.numpy())
    with pytest.raises(ValueError, match="washout"):
        _esn("cpu", washout=50).fit(_t(u, "cpu"), _t(y, "cpu"))


def test_fit_builds_no_graph():
    from tinygrad_rnn import engine

    esn = _esn("cpu", washout=3)
    rng = np.random.default_rng(20)
    inputs = _t(rng.standard_normal((20, 2, 1)), "cpu", requires_grad=True)
    targets = _t(rng.standard_normal((20, 2, 1)), "cpu", requires_grad=True)
    before = next(engine._counter)  # every recorded node takes the next number of this counter
    esn.fit(inputs, targets)
    assert next(engine._counter) == before + 1
    assert esn.readout.weight.grad is None and inputs.grad is None


def test_readout_is_trainable_and_fit_is_its_least_squares_optimum():
    """The closed form is a stationary point of the training MSE: the readout's gradient there is zero."""
    esn = _esn("cpu", ridge=0.0, washout=4)
    rng = np.random.default_rng(21)
    u, y = rng.standard_normal((40, 2, 1)), rng.standard_normal((40, 2, 1))
    inputs, targets = _t(u, "cpu"), _t(y, "cpu")
    esn.fit(inputs, targets)
    loss = ((esn(inputs) - targets)[4:] ** 2).mean()
    loss.backward()
    assert esn.readout.weight.grad is not None
    np.testing.assert_allclose(esn.readout.weight.grad, 0.0, atol=1e-8)
    np.testing.assert_allclose(esn.readout.bias.grad, 0.0, atol=1e-8)
    assert len(tr.graph.trace(loss).find(scope="EchoStateNetwork/readout", kind="op")) == 1


def test_esn_checks_its_arguments():
    with pytest.raises(ValueError, match="leak"):
        _esn("cpu", leak=0.0)
    with pytest.raises(ValueError, match="density"):
        _esn("cpu", density=1.5)
    with pytest.raises(ValueError, match="spectral_radius > 0"):
        _esn("cpu", spectral_radius=0.0)
    with pytest.raises(ValueError, match="no nonzero eigenvalue"):
        _esn("cpu", reservoir_size=3, density=1e-12)  # every recurrent weight dropped
    esn = _esn("cpu")
    with pytest.raises(tr.ShapeError, match=r"\(seq, batch, 1\)"):
        esn.states(tr.zeros(5, 2, dtype="float64"))
    with pytest.raises(tr.ShapeError, match="do not match"):
        esn.fit(tr.zeros(5, 2, 1, dtype="float64"), tr.zeros(4, 2, 1, dtype="float64"))
