"""Recurrent initialisers (``identity_``, ``scaled_normal_``, ``spectral_radius``, ``set_spectral_radius_``,
``recurrent_init_``) on every ``device``, checked against their defining properties and against NumPy's
eigenvalues."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr
from tinygrad_rnn.nn import init


def _matrix(values, device, dtype="float64") -> tr.Tensor:
    return tr.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, device=device)


def _blocks(weight: tr.Tensor) -> list[np.ndarray]:
    """The square (H, H) gate blocks of a stacked (gates·H, H) recurrent matrix, on the host."""
    host = weight.numpy()
    hidden = host.shape[1]
    return [host[k * hidden:(k + 1) * hidden] for k in range(host.shape[0] // hidden)]


# -- identity and Gaussian ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (2, 5), (5, 2)])
def test_identity_is_a_scaled_eye(device, shape):
    w = init.identity_(tr.zeros(*shape, dtype="float64", device=device), gain=0.7)
    assert w.device == device and w.dtype == "float64"
    np.testing.assert_array_equal(w.numpy(), 0.7 * np.eye(*shape))


def test_identity_needs_a_matrix():
    with pytest.raises(ValueError, match="matrix"):
        init.identity_(tr.zeros(3))


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_scaled_normal_std_is_scale_over_root_fan_in(device, scale):
    tr.manual_seed(1)
    w = init.scaled_normal_(tr.zeros(300, 400, dtype="float64", device=device), scale=scale).numpy()
    assert abs(w.mean()) < 0.01 * scale
    np.testing.assert_allclose(w.std(), scale / np.sqrt(400), rtol=0.03)  # fan_in = shape[1] = 400


def test_scaled_normal_keeps_the_dtype():
    assert init.scaled_normal_(tr.zeros(3, 3)).dtype == "float32"


# -- spectral radius ----------------------------------------------------------------------------------------------
@given(n=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_spectral_radius_matches_numpy(device, n, seed):
    a = np.random.default_rng(seed).standard_normal((n, n))
    expected = np.max(np.abs(np.linalg.eigvals(a)))
    assert init.spectral_radius(_matrix(a, device)) == pytest.approx(expected, rel=1e-10)
    assert init.spectral_radius(_matrix(a, device, "float32")) == pytest.approx(expected, rel=1e-4)


def test_spectral_radius_of_known_matrices():
    assert init.spectral_radius(tr.zeros(0, 0)) == 0.0
    assert init.spectral_radius(_matrix([[0.0, 1.0], [0.0, 0.0]], "cpu")) == 0.0  # nilpotent
    rotation = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    assert init.spectral_radius(_matrix(rotation, "cpu")) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="square"):
        init.spectral_radius(tr.zeros(2, 3))


def test_spectral_radius_falls_back_to_the_host(monkeypatch):
    """A namespace without linalg.eigvals (array_api_strict before 2025.12, CuPy before 14) takes the host path."""
    strict = pytest.importorskip("array_api_strict")
    a = np.random.default_rng(0).standard_normal((6, 6))
    expected = init.spectral_radius(_matrix(a, "cpu"))
    monkeypatch.delattr(strict.linalg, "eigvals")
    assert init.spectral_radius(_matrix(a, "array_api_strict")) == pytest.approx(expected, rel=1e-12)


def test_spectral_radius_uses_the_backends_eigvals_where_it_has_one(monkeypatch):
    """CuPy 14 has cupy.linalg.eigvals: a namespace that has it computes on the device, the matrix never read."""
    strict = pytest.importorskip("array_api_strict")
    calls = []
    eigvals = strict.linalg.eigvals

    def counted(x):
        calls.append(x.shape)
        return eigvals(x)

    monkeypatch.setattr(strict.linalg, "eigvals", counted)
    monkeypatch.setattr(tr.backend.StrictBackend, "to_numpy", lambda self, array: pytest.fail("read the matrix"))
    xp, _ = init._eigenvalues(_matrix(np.eye(3), "array_api_strict"))
    assert xp is strict and calls == [(3, 3)]


@pytest.mark.parametrize("radius", [0.5, 1.0, 2.5])
def test_set_spectral_radius_hits_the_target(device, radius):
    a = np.random.default_rng(int(radius * 10)).standard_normal((10, 10))
    w = init.set_spectral_radius_(_matrix(a, device), radius)
    assert init.spectral_radius(w) == pytest.approx(radius, rel=1e-10)
    eig_before = np.linalg.eigvals(a)
    np.testing.assert_allclose(w.numpy(), a * radius / np.max(np.abs(eig_before)), rtol=1e-12)  # one factor


def test_set_spectral_radius_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="spectral radius 0"):
        init.set_spectral_radius_(tr.zeros(3, 3), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        init.set_spectral_radius_(tr.ones(3, 3), -1.0)
    with pytest.raises(ValueError, match="square"):
        init.set_spectral_radius_(tr.ones(3, 2), 1.0)


# -- recurrent_init_ ----------------------------------------------------------------------------------------------
MODULES = {
    "rnn_cell": lambda: tr.nn.RNNCell(3, 5),
    "lstm_cell": lambda: tr.nn.LSTMCell(3, 5),
    "gru_cell": lambda: tr.nn.GRUCell(3, 5),
    "leaky_cell": lambda: tr.nn.LeakyRNNCell(3, 5),
    "lstm_2layer_bidirectional": lambda: tr.nn.LSTM(3, 5, num_layers=2, bidirectional=True),
    "gru_layer": lambda: tr.nn.GRU(3, 5),
}
GATES = {"rnn_cell": 1, "lstm_cell": 4, "gru_cell": 3, "leaky_cell": 1, "lstm_2layer_bidirectional": 4,
         "gru_layer": 3}


def _recurrent(module) -> dict:
    return {name: p for name, p in module.named_parameters() if name.rsplit(".", 1)[-1].startswith("weight_hh")}


@pytest.mark.parametrize("kind", list(MODULES))
def test_orthogonal_init_makes_each_gate_block_orthogonal(device, kind):
    tr.manual_seed(0)
    module = MODULES[kind]().to(device).double()
    others = {n: p.numpy() for n, p in module.named_parameters() if n not in _recurrent(module)}
    assert init.recurrent_init_(module, "orthogonal", gain=1.5) is module
    weights = _recurrent(module)
    assert len(weights) == (4 if kind == "lstm_2layer_bidirectional" else 1)
    for name, weight in weights.items():
        assert weight.device == device and weight.dtype == "float64"
        blocks = _blocks(weight)
        assert len(blocks) == GATES[kind]
        for k, block in enumerate(blocks):
            np.testing.assert_allclose(block @ block.T, 2.25 * np.eye(5), atol=1e-12, err_msg=f"{name} block {k}")
        if len(blocks) > 1:  # drawn one by one, not copies of each other
            assert not np.allclose(blocks[0], blocks[1])
    for name, value in others.items():  # input weights and biases are untouched
        np.testing.assert_array_equal(dict(module.named_parameters())[name].numpy(), value)


@pytest.mark.parametrize("kind", list(MODULES))
def test_identity_init_puts_an_eye_in_each_gate_block(device, kind):
    module = MODULES[kind]().to(device)
    init.recurrent_init_(module, "identity", gain=0.5)
    for weight in _recurrent(module).values():
        assert weight.dtype == "float32"
        np.testing.assert_array_equal(weight.numpy(), np.tile(0.5 * np.eye(5), (GATES[kind], 1)))


def test_gaussian_init_scales_each_block_by_its_fan_in(device):
    tr.manual_seed(2)
    module = tr.nn.GRUCell(4, 200).to(device).double()
    init.recurrent_init_(module, "gaussian", gain=1.2)
    for block in _blocks(module.weight_hh):
        np.testing.assert_allclose(block.std(), 1.2 / np.sqrt(200), rtol=0.03)
        assert np.max(np.abs(np.linalg.eigvals(block))) == pytest.approx(1.2, rel=0.1)  # the circular law


def test_recurrent_init_keeps_the_forget_bias_and_works_on_nested_models():
    class Net(tr.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = tr.nn.LSTM(2, 3)
            self.head = tr.nn.Linear(3, 1)

    net = Net()
    bias = net.encoder.bias_ih_l0.numpy().copy()
    init.recurrent_init_(net, "identity")
    np.testing.assert_array_equal(net.encoder.weight_hh_l0.numpy(), np.tile(np.eye(3), (4, 1)))
    np.testing.assert_array_equal(net.encoder.bias_ih_l0.numpy(), bias)


def test_recurrent_init_errors():
    with pytest.raises(ValueError, match="scheme"):
        init.recurrent_init_(tr.nn.RNNCell(2, 3), "xavier")
    with pytest.raises(ValueError, match="no recurrent weight"):
        init.recurrent_init_(tr.nn.Linear(2, 3), "orthogonal")
