"""Gradient-flow measurements: per-step norms, gradient against lag, step Jacobians."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import analysis


def _inputs(steps, batch=2, features=4, scale=0.1, seed=0):
    return tr.tensor(np.random.default_rng(seed).normal(size=(steps, batch, features)) * scale)


def test_linear_rnn_gradient_against_lag_is_the_matrix_power():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 3)) * 0.6
    v = rng.normal(size=(1, 3))
    h = tr.zeros(1, 3, dtype="float64")
    with tr.scope("lin"):
        for t in range(8):
            with tr.step(t):
                h = (h @ tr.tensor(W.T) + tr.tensor(rng.normal(size=(1, 3)), requires_grad=True)).named("h")
    flow = analysis.gradient_norms((h * tr.tensor(v)).sum(), "h", "lin")["lin"]
    assert flow.steps == list(range(8))
    for lag in range(8):  # h_t = h_{t-1} Wᵀ, so ∂l/∂h_{T-δ} = v W^δ
        expected = np.linalg.norm(v @ np.linalg.matrix_power(W, lag))
        assert flow.norms[7 - lag] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("name, fused", [("LSTM", True), ("LSTM", False), ("GRU", True), ("RNN", False)])
def test_gradient_norms_with_lengths_count_each_step_once(name, fused):
    # one tensor per scope and step is named h: with lengths the norms are those of each sequence run alone, unpadded
    tr.manual_seed(0)
    layer = getattr(tr.nn, name)(4, 5, fused=fused).double()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2, 4))
    w, v = rng.normal(size=(6, 2, 5)), rng.normal(size=(1, 2, 5))

    def norms(rows, lengths=None):
        steps = max(lengths) if lengths else 6
        out, final = layer(tr.tensor(x[:steps, rows]), lengths=lengths)
        h = final[0] if isinstance(final, tuple) else final
        loss = (out * tr.tensor(w[:steps, rows])).sum() + (h * tr.tensor(v[:, rows])).sum()
        return analysis.gradient_norms(loss)[f"{name}/l0"]

    full = norms([0, 1])
    assert norms([0, 1], lengths=[6, 6]).norms == pytest.approx(full.norms, rel=1e-12)
    ragged = norms([0, 1], lengths=[6, 3])
    alone = [norms([0]).norms, norms([1], lengths=[3]).norms]
    expected = np.sqrt(alone[0] ** 2 + np.pad(alone[1], (0, 3)) ** 2)
    assert ragged.steps == list(range(6)) and ragged.norms == pytest.approx(expected, rel=1e-10)
    out, _ = layer(tr.tensor(x), lengths=[6, 3])
    assert all(len(tr.graph.trace(out).find(name="h", step=t)) == 1 for t in range(6))


def test_gradient_norms_refuse_two_tensors_of_one_name_in_one_step():
    h = tr.tensor(np.ones((1, 3)), requires_grad=True)
    with tr.scope("twice"), tr.step(0):
        a = (h * 2).named("h")
        b = (a * 3).named("h")
    with pytest.raises(ValueError, match="two tensors named 'h' in scope 'twice' at step 0"):
        analysis.gradient_norms(b.sum())


def test_small_tanh_weights_vanish_and_orthogonal_ones_do_not():
    tr.manual_seed(0)
    small = tr.nn.init.recurrent_init_(tr.nn.RNN(4, 32), "gaussian", gain=0.5).double()
    orthogonal = tr.nn.init.recurrent_init_(tr.nn.RNN(4, 32), "orthogonal", gain=1.0).double()
    x = _inputs(60)
    vanishing = analysis.gradient_vs_lag(small, x)
    kept = analysis.gradient_vs_lag(orthogonal, x)
    assert vanishing.rate() < 0.7 and vanishing.diagnosis().startswith("vanishing: ×0.")
    assert kept.rate() > 0.85
    assert kept.norms[50] > 1e6 * vanishing.norms[50]


def test_lstm_with_forget_bias_keeps_more_gradient_at_lag_50_than_a_tanh_rnn():
    tr.manual_seed(1)
    lstm = tr.nn.LSTM(4, 32, forget_bias=1.0).double()
    rnn = tr.nn.RNN(4, 32).double()  # PyTorch's default init
    x = _inputs(60)
    assert analysis.gradient_vs_lag(lstm, x).norms[50] > 100 * analysis.gradient_vs_lag(rnn, x).norms[50]


def test_gradient_vs_lag_works_for_gru_leaky_stacked_and_bidirectional_layers():
    x = _inputs(12)
    for layer in (tr.nn.GRU(4, 6), tr.nn.LeakyRNN(4, 6, alpha=0.2), tr.nn.LSTM(4, 6, num_layers=2, bidirectional=True),
                  tr.nn.GRU(4, 6, fused=False)):
        curve = analysis.gradient_vs_lag(layer.double(), x)
        assert curve.lags == list(range(12)) and curve.norms[0] == pytest.approx(1.0) and np.all(curve.norms >= 0)


def test_diagnosis_words_and_numbers():
    lags = list(range(10))
    halving, doubling = analysis.LagCurve(lags, 0.5 ** np.arange(10.0)), analysis.LagCurve(lags, 2.0 ** np.arange(10.0))
    assert halving.diagnosis() == "vanishing: ×0.50 per step, 1/e after 1.4 steps"
    assert doubling.diagnosis() == "exploding: ×2.00 per step, ×e after 1.4 steps"
    assert analysis.LagCurve(lags, np.ones(10)).diagnosis().startswith("stable")


def test_step_jacobians_of_a_tanh_cell_are_diag_times_w_hh():
    cell = tr.nn.RNNCell(3, 4).double()
    x = _inputs(5, features=3, scale=1.0)
    cell.weight_hh.grad = np.full((4, 4), 7.0)
    jac = analysis.step_jacobians(cell, x)
    np.testing.assert_array_equal(cell.weight_hh.grad, 7.0)  # the probes left the cell's gradients alone
    h = np.zeros((2, 4))
    W_ih, W_hh = cell.weight_ih.numpy(), cell.weight_hh.numpy()
    b = cell.bias_ih.numpy() + cell.bias_hh.numpy()
    for t in range(5):
        h = np.tanh(x.numpy()[t] @ W_ih.T + h @ W_hh.T + b)
        np.testing.assert_allclose(jac.jacobians[t], (1 - h[0] ** 2)[:, None] * W_hh, rtol=1e-10)
    assert jac.spectral_radii.shape == (5,) and jac.singular_values.shape == (5, 4)
    norms = jac.product_norms()
    assert norms[0] == pytest.approx(np.linalg.norm(jac.jacobians[-1], 2))
    assert norms[-1] == pytest.approx(np.linalg.norm(np.linalg.multi_dot(list(jac.jacobians[::-1])), 2))


def test_lstm_step_jacobians_cover_h_and_c():
    cell = tr.nn.LSTMCell(3, 4, forget_gate=False).double()
    jac = analysis.step_jacobians(cell, _inputs(3, features=3))
    assert jac.jacobians.shape == (3, 8, 8)
    # the 1997 cell's state only accumulates (c_t = c_{t-1} + i⊙g, the gates read h and x): ∂c_t/∂c_{t-1} = I
    for step_jacobian in jac.jacobians:
        np.testing.assert_allclose(step_jacobian[4:, 4:], np.eye(4), atol=1e-12)
    # with a forget gate it is diag(f), each f in (0, 1)
    gated = analysis.step_jacobians(tr.nn.LSTMCell(3, 4).double(), _inputs(3, features=3)).jacobians[0][4:, 4:]
    forget = np.diag(gated)
    assert np.allclose(gated, np.diag(forget), atol=1e-12) and np.all((0 < forget) & (forget < 1))


def test_bad_requests_say_what_exists():
    x = tr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="no graph"):
        analysis.gradient_norms(tr.tensor([1.0]).sum())
    with tr.step(0):
        y = (x * 2).named("y")
    with pytest.raises(KeyError, match=r"named tensors here: \['y@'\]"):
        analysis.gradient_norms(y.sum(), "h")
