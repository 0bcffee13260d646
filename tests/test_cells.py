"""Recurrent cells (``RNNCell``, ``LSTMCell``, ``GRUCell``) in both granularities, on every ``device``.

Every numeric check compares against an independent reference — PyTorch's cells (skipped where PyTorch is not
installed), closed-form NumPy equations written out below, or central finite differences (``tr.gradcheck``) — and the
fused step op against the explicit primitive-op graph, forward and backward, for every variant.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr
from helpers import host as _host

RTOL, ATOL = 1e-10, 1e-12

# name -> (kind, constructor keywords). Every variant the cells offer; fused and explicit must agree on each.
VARIANTS = {
    "rnn_tanh": ("rnn", dict(nonlinearity="tanh")),
    "rnn_relu": ("rnn", dict(nonlinearity="relu")),
    "rnn_sigmoid": ("rnn", dict(nonlinearity="sigmoid")),
    "rnn_tanh_nobias": ("rnn", dict(nonlinearity="tanh", bias=False)),
    "rnn_relu_nobias": ("rnn", dict(nonlinearity="relu", bias=False)),
    "rnn_sigmoid_nobias": ("rnn", dict(nonlinearity="sigmoid", bias=False)),
    "lstm": ("lstm", dict()),
    "lstm_peephole": ("lstm", dict(peephole=True)),
    "lstm_coupled": ("lstm", dict(coupled=True)),
    "lstm_no_forget_gate": ("lstm", dict(forget_gate=False)),
    "lstm_peephole_coupled": ("lstm", dict(peephole=True, coupled=True)),
    "lstm_nobias": ("lstm", dict(bias=False)),
    "gru": ("gru", dict()),
    "gru_cho": ("gru", dict(reset_after=False)),
    "gru_nobias": ("gru", dict(bias=False)),
    "gru_cho_nobias": ("gru", dict(reset_after=False, bias=False)),
}
CLASS_NAMES = {"rnn": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# -- helpers ------------------------------------------------------------------------------------------------------


def _close(got, expected, rtol=RTOL, atol=ATOL, what="") -> None:
    got = _host(got) if not isinstance(got, np.ndarray) else got
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)


def _grad(t: tr.Tensor) -> np.ndarray:
    """The gradient of a leaf on the host (zeros when no gradient reached it)."""
    return np.zeros(t.shape) if t.grad is None else _host(t.grad)


def make_cell(variant: str, input_size: int, hidden_size: int, fused: bool, device: str, **extra):
    kind, kwargs = VARIANTS[variant]
    cls = getattr(tr.nn, CLASS_NAMES[kind])
    return cls(input_size, hidden_size, fused=fused, **kwargs, **extra).to(device).double()


def randomize(cell, rng, scale=0.6) -> dict:
    """Give every parameter random float64 values (peepholes included, which may start at zero); return them."""
    values = {name: rng.standard_normal(p.shape) * scale for name, p in cell.named_parameters()}
    cell.load_state_dict(values)
    return values


def pair(variant, input_size, hidden_size, device, rng):
    """A fused and an explicit cell with the same random parameters."""
    fused = make_cell(variant, input_size, hidden_size, True, device)
    explicit = make_cell(variant, input_size, hidden_size, False, device)
    randomize(fused, rng)
    explicit.load_state_dict(fused.state_dict())
    return fused, explicit


def leaf(values, device) -> tr.Tensor:
    return tr.tensor(np.asarray(values, dtype=np.float64), dtype="float64", device=device, requires_grad=True)


def unroll(cell, kind, xs: tr.Tensor, h0, c0=None, steps=None):
    """Run ``cell`` over ``xs[t]`` inside ``tr.step(t)``; return the list of h's and the last c (LSTM) or None."""
    state = (h0, c0) if kind == "lstm" and h0 is not None else h0
    hs, c = [], None
    for t in range(xs.shape[0] if steps is None else steps):
        with tr.step(t):
            out = cell(xs[t], state)
        if kind == "lstm":
            h, c = out
            state = out
        else:
            h = state = out
        hs.append(h)
    return hs, c


def loss_of(hs, c, weights_h, weight_c, device):
    loss = None
    for h, w in zip(hs, weights_h, strict=True):
        term = (h * tr.tensor(w, dtype="float64", device=device)).sum()
        loss = term if loss is None else loss + term
    if c is not None and weight_c is not None:
        loss = loss + (c * tr.tensor(weight_c, dtype="float64", device=device)).sum()
    return loss


def run_with_grads(cell, kind, x_np, h0_np, c0_np, weights_h, weight_c, device):
    """Forward + backward of the weighted loss; return (h's, last c, {name: gradient})."""
    x = leaf(x_np, device)
    h0 = leaf(h0_np, device)
    c0 = leaf(c0_np, device) if kind == "lstm" else None
    cell.zero_grad()
    hs, c = unroll(cell, kind, x, h0, c0)
    loss_of(hs, c, weights_h, weight_c, device).backward()
    grads = {name: _grad(p) for name, p in cell.named_parameters()}
    grads["x"] = _grad(x)
    grads["h0"] = _grad(h0)
    if kind == "lstm":
        grads["c0"] = _grad(c0)
    return [_host(h) for h in hs], (_host(c) if c is not None else None), grads


# -- closed-form NumPy references ----------------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_step(variant, p, x, h, c=None):
    """One step of ``variant`` with parameters ``p`` (NumPy arrays under PyTorch's names), written out by hand."""
    kind, kw = VARIANTS[variant]
    bias = kw.get("bias", True)
    n_h = p["weight_hh"].shape[1]
    b_ih = p["bias_ih"] if bias else np.zeros(GATES[kind] * n_h)
    b_hh = p["bias_hh"] if bias else np.zeros(GATES[kind] * n_h)
    if kind == "rnn":
        pre = x @ p["weight_ih"].T + b_ih + h @ p["weight_hh"].T + b_hh
        act = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "sigmoid": _sigmoid}[kw["nonlinearity"]]
        return act(pre)
    if kind == "lstm":
        gates = x @ p["weight_ih"].T + b_ih + h @ p["weight_hh"].T + b_hh
        a_i, a_f, a_g, a_o = (gates[..., k * n_h:(k + 1) * n_h] for k in range(4))
        if kw.get("peephole"):
            a_i = a_i + p["weight_ci"] * c
            if not kw.get("coupled") and kw.get("forget_gate", True):  # w_cf exists only with a forget gate of its own
                a_f = a_f + p["weight_cf"] * c
        i = _sigmoid(a_i)
        f = 1.0 - i if kw.get("coupled") else _sigmoid(a_f)
        g = np.tanh(a_g)
        c_new = c + i * g if kw.get("forget_gate") is False else f * c + i * g
        if kw.get("peephole"):
            a_o = a_o + p["weight_co"] * c_new
        o = _sigmoid(a_o)
        return o * np.tanh(c_new), c_new
    # GRU, gates r, z, n
    w_ir, w_iz, w_in = (p["weight_ih"][k * n_h:(k + 1) * n_h] for k in range(3))
    w_hr, w_hz, w_hn = (p["weight_hh"][k * n_h:(k + 1) * n_h] for k in range(3))
    b_ir, b_iz, b_in = (b_ih[k * n_h:(k + 1) * n_h] for k in range(3))
    b_hr, b_hz, b_hn = (b_hh[k * n_h:(k + 1) * n_h] for k in range(3))
    r = _sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = _sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    if kw.get("reset_after", True):
        n = np.tanh(x @ w_in.T + b_in + r * (h @ w_hn.T + b_hn))
    else:
        n = np.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    return (1.0 - z) * n + z * h


def np_unroll(variant, p, xs, h0, c0=None):
    kind = VARIANTS[variant][0]
    h, c, hs = h0, c0, []
    for x in xs:
        if kind == "lstm":
            h, c = np_step(variant, p, x, h, c)
        else:
            h = np_step(variant, p, x, h)
        hs.append(h)
    return hs, c


# =================================================================================================================
# Against PyTorch
# =================================================================================================================
TORCH_CASES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _torch_cell(torch, variant, input_size, hidden_size, cell):
    kind, kw = VARIANTS[variant]
    if kind == "rnn":
        ref = torch.nn.RNNCell(input_size, hidden_size, nonlinearity=kw["nonlinearity"])
    elif kind == "lstm":
        ref = torch.nn.LSTMCell(input_size, hidden_size)
    else:
        ref = torch.nn.GRUCell(input_size, hidden_size)
    ref = ref.double()
    ref.load_state_dict({k: torch.tensor(_host(v)) for k, v in cell.state_dict().items()})
    return ref


def _torch_run(torch, ref, kind, x_np, h0_np, c0_np, weights_h, weight_c):
    x = torch.tensor(x_np, requires_grad=True)
    h0 = torch.tensor(h0_np, requires_grad=True)
    c0 = torch.tensor(c0_np, requires_grad=True)
    state = (h0, c0) if kind == "lstm" else h0
    loss, hs, c = 0.0, [], None
    for t in range(x_np.shape[0]):
        out = ref(x[t], state)
        state = out
        h = out[0] if kind == "lstm" else out
        c = out[1] if kind == "lstm" else None
        hs.append(h.detach().numpy())
        loss = loss + (h * torch.tensor(weights_h[t])).sum()
    if kind == "lstm":
        loss = loss + (c * torch.tensor(weight_c)).sum()
    loss.backward()
    grads = {name: q.grad.numpy() for name, q in ref.named_parameters()}
    grads["x"], grads["h0"] = x.grad.numpy(), h0.grad.numpy()
    if kind == "lstm":
        grads["c0"] = c0.grad.numpy()
    return hs, (c.detach().numpy() if c is not None else None), grads


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("variant", TORCH_CASES)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_matches_torch(device, variant, fused, batched):
    torch = pytest.importorskip("torch")
    kind = VARIANTS[variant][0]
    B, T, IN, H = 3, 4, 5, 6
    rng = np.random.default_rng(100 + TORCH_CASES.index(variant))
    tr.manual_seed(0)
    cell = make_cell(variant, IN, H, fused, device)
    randomize(cell, rng)
    lead = (B,) if batched else ()
    x_np = rng.standard_normal((T, *lead, IN))
    h0_np = rng.standard_normal((*lead, H)) * 0.5
    c0_np = rng.standard_normal((*lead, H)) * 0.5
    weights_h = rng.standard_normal((T, *lead, H))
    weight_c = rng.standard_normal((*lead, H))
    hs, c, grads = run_with_grads(cell, kind, x_np, h0_np, c0_np, weights_h, weight_c, device)
    ref = _torch_cell(torch, variant, IN, H, cell)
    hs_ref, c_ref, grads_ref = _torch_run(torch, ref, kind, x_np, h0_np, c0_np, weights_h, weight_c)
    for t, (h, h_ref) in enumerate(zip(hs, hs_ref, strict=True)):
        _close(h, h_ref, what=f"h at step {t}")
    if kind == "lstm":
        _close(c, c_ref, what="c of the last step")
    assert set(grads) == set(grads_ref)
    for name in grads_ref:
        _close(grads[name], grads_ref[name], what=f"gradient of {name}")


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("variant", TORCH_CASES)
def test_default_state_matches_torch(device, variant, fused):
    """``hx=None`` is a zero state, batched and unbatched, as in PyTorch."""
    torch = pytest.importorskip("torch")
    kind = VARIANTS[variant][0]
    rng = np.random.default_rng(7)
    cell = make_cell(variant, 5, 6, fused, device)
    randomize(cell, rng)
    ref = _torch_cell(torch, variant, 5, 6, cell)
    for shape in [(3, 5), (5,)]:
        x_np = rng.standard_normal(shape)
        out = cell(tr.tensor(x_np, dtype="float64", device=device))
        out_ref = ref(torch.tensor(x_np))
        if kind == "lstm":
            assert isinstance(out, tuple) and len(out) == 2
            _close(out[0], out_ref[0].detach().numpy(), what="h")
            _close(out[1], out_ref[1].detach().numpy(), what="c")
        else:
            _close(out, out_ref.detach().numpy(), what="h")


# =================================================================================================================
# Against closed-form NumPy equations
# =================================================================================================================
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_matches_numpy_equations(device, variant, fused):
    kind = VARIANTS[variant][0]
    B, T, IN, H = 3, 3, 4, 5
    rng = np.random.default_rng(200 + list(VARIANTS).index(variant))
    cell = make_cell(variant, IN, H, fused, device)
    p = randomize(cell, rng)
    xs = rng.standard_normal((T, B, IN))
    h0 = rng.standard_normal((B, H)) * 0.5
    c0 = rng.standard_normal((B, H)) * 0.5
    hs_ref, c_ref = np_unroll(variant, p, xs, h0, c0)
    hs, c = unroll(cell, kind, tr.tensor(xs, device=device), tr.tensor(h0, device=device),
                   tr.tensor(c0, device=device) if kind == "lstm" else None)
    for t in range(T):
        assert hs[t].dtype == "float64" and hs[t].device == device
        _close(hs[t], hs_ref[t], what=f"h at step {t}")
    if kind == "lstm":
        _close(c, c_ref, what="c")
    # unbatched input (I,) with an unbatched state (H,)
    state = (tr.tensor(h0[1], device=device), tr.tensor(c0[1], device=device)) if kind == "lstm" else \
        tr.tensor(h0[1], device=device)
    out = cell(tr.tensor(xs[0, 1], device=device), state)
    expected = np_step(variant, p, xs[0, 1], h0[1], c0[1]) if kind == "lstm" else np_step(variant, p, xs[0, 1],
                                                                                           h0[1])
    if kind == "lstm":
        _close(out[0], expected[0], what="unbatched h")
        _close(out[1], expected[1], what="unbatched c")
    else:
        _close(out, expected, what="unbatched h")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_zero_default_state(variant):
    kind = VARIANTS[variant][0]
    rng = np.random.default_rng(3)
    for fused in (True, False):
        cell = make_cell(variant, 3, 4, fused, "cpu")
        p = randomize(cell, rng)
        x = rng.standard_normal((2, 3))
        out = cell(tr.tensor(x))
        zeros = np.zeros((2, 4))
        if kind == "lstm":
            h_ref, c_ref = np_step(variant, p, x, zeros, zeros)
            _close(out[0], h_ref)
            _close(out[1], c_ref)
        else:
            _close(out, np_step(variant, p, x, zeros))


# =================================================================================================================
# Fused against explicit, forward and backward
# =================================================================================================================
@pytest.mark.parametrize("variant", list(VARIANTS))
@given(batch=st.integers(1, 3), input_size=st.integers(1, 4), hidden_size=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_fused_matches_explicit(device, variant, batch, input_size, hidden_size, seed):
    kind = VARIANTS[variant][0]
    T = 3
    rng = np.random.default_rng(seed)
    fused, explicit = pair(variant, input_size, hidden_size, device, rng)
    x_np = rng.standard_normal((T, batch, input_size))
    h0_np = rng.standard_normal((batch, hidden_size)) * 0.5
    c0_np = rng.standard_normal((batch, hidden_size)) * 0.5
    weights_h = rng.standard_normal((T, batch, hidden_size))
    weight_c = rng.standard_normal((batch, hidden_size))
    hs_f, c_f, g_f = run_with_grads(fused, kind, x_np, h0_np, c0_np, weights_h, weight_c, device)
    hs_e, c_e, g_e = run_with_grads(explicit, kind, x_np, h0_np, c0_np, weights_h, weight_c, device)
    for t in range(T):
        _close(hs_f[t], hs_e[t], what=f"h at step {t}")
    if kind == "lstm":
        _close(c_f, c_e, what="c")
    assert set(g_f) == set(g_e)
    for name in g_e:
        _close(g_f[name], g_e[name], what=f"gradient of {name}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_step_on_a_projection_that_broadcasts_over_the_batch(variant):
    """Per-step inputs of one row against a state of five, in float32 (the compiled loops'): a fused step must not
    write its (5, gates·H) gradient into the one-row slot unbind offers for that input."""
    kind = VARIANTS[variant][0]
    rng = np.random.default_rng(3)
    fused, explicit = (make_cell(variant, 2, 4, f, "cpu").float() for f in (True, False))
    explicit.load_state_dict(fused.state_dict())
    gates = fused.weight_ih.shape[0]
    grads = []
    for cell in (fused, explicit):
        gx = tr.tensor(rng.standard_normal((3, 1, gates)).astype(np.float32), requires_grad=True)
        h = tr.tensor(np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4))
        state = (h, h * 0.5) if kind == "lstm" else h
        rng = np.random.default_rng(3)  # the same gx for both cells
        for step_input in tr.unbind(gx, 0):
            state = cell.step(step_input, state)
        (state[0] if kind == "lstm" else state).sum().backward()
        grads.append([gx.grad] + [p.grad for p in cell.parameters()])
    for got, expected in zip(*grads, strict=True):  # weight_ih and bias_ih get none: step takes the projection
        assert (got is None) == (expected is None)
        if got is not None:
            _close(got, expected, rtol=1e-5, atol=1e-5)


def test_a_fused_step_refuses_two_float_dtypes():
    cell = tr.nn.LSTMCell(2, 3)
    with pytest.raises(tr.DTypeError, match=r"lstm_cell: dtypes differ \(gx float64, h float32"):
        cell.step(tr.zeros(1, 12, dtype="float64"), (tr.zeros(1, 3), tr.zeros(1, 3)))


# =================================================================================================================
# Finite differences
# =================================================================================================================
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fused_gradcheck(device, variant):
    kind = VARIANTS[variant][0]
    rng = np.random.default_rng(300 + list(VARIANTS).index(variant))
    cell = make_cell(variant, 3, 2, True, device)
    randomize(cell, rng)
    x = leaf(rng.standard_normal((2, 2, 3)), device)
    h0 = leaf(rng.standard_normal((2, 2)) * 0.5, device)
    c0 = leaf(rng.standard_normal((2, 2)) * 0.5, device)
    params = list(cell.parameters())
    assert params and all(q.requires_grad and q.dtype == "float64" for q in params)

    def run(x, h0, c0, *ps):
        hs, c = unroll(cell, kind, x, h0, c0)
        return [*hs, c] if kind == "lstm" else hs

    assert tr.gradcheck(run, [x, h0, c0 if kind == "lstm" else tr.tensor(0.0, dtype="float64", device=device),
                              *params])


# =================================================================================================================
# Unused outputs of the fused LSTM step
# =================================================================================================================
@pytest.mark.parametrize("use", ["h", "c", "last_c", "last_h"])
@pytest.mark.parametrize("variant", ["lstm", "lstm_peephole", "lstm_coupled"])
def test_lstm_fused_with_an_unused_output(device, variant, use):
    rng = np.random.default_rng(400)
    fused, explicit = pair(variant, 3, 4, device, rng)
    x_np = rng.standard_normal((2, 2, 3))
    h0_np, c0_np = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    w = rng.standard_normal((2, 4))
    grads = []
    for cell in (fused, explicit):
        x, h0, c0 = leaf(x_np, device), leaf(h0_np, device), leaf(c0_np, device)
        cell.zero_grad()
        steps = 1 if use in ("h", "c") else 2
        hs, c = unroll(cell, "lstm", x, h0, c0, steps=steps)
        target = hs[-1] if use in ("h", "last_h") else c
        (target * tr.tensor(w, device=device)).sum().backward()
        grads.append({**{n: _grad(q) for n, q in cell.named_parameters()},
                      "x": _grad(x), "h0": _grad(h0), "c0": _grad(c0)})
    for name in grads[1]:
        _close(grads[0][name], grads[1][name], what=f"gradient of {name}")
    assert np.any(grads[0]["c0"] != 0)  # the cell state carries gradient in every case
    if use == "h":  # the output gate's rows got gradient; with only c used they get none
        assert np.any(grads[0]["weight_ih"][12:16] != 0)
    if use == "c":
        np.testing.assert_array_equal(grads[0]["weight_ih"][12:16], 0.0)


# =================================================================================================================
# Names, scopes and steps in the graph
# =================================================================================================================
def _lstm_run_3_steps(fused, **kwargs):
    rng = np.random.default_rng(500)
    cell = tr.nn.LSTMCell(3, 4, fused=fused, **kwargs).double()
    x = tr.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    state = None
    for t in range(3):
        with tr.step(t):
            state = cell(x[t], state)
    return state


def test_explicit_lstm_names_every_gate_per_step():
    h, c = _lstm_run_3_steps(fused=False)
    assert h.name == "h" and c.name == "c"
    assert h.step == 2 and h.scope == "LSTMCell"
    g = tr.graph.trace(h, c)
    for name in "ifgoch":
        for t in range(3):
            found = g.find(name=name, step=t)
            assert len(found) == 1, (name, t, found)
            assert found[0].scope == "LSTMCell" and found[0].kind == "tensor"
    f1 = g.find(name="f", step=1)
    assert len(f1) == 1 and f1[0].scope == "LSTMCell"
    assert g.find(name="f", scope="LSTMCell", step=1) == f1
    # the forget gate of step 1 lies on the path from c of step 0 to c of step 1
    c0_node, c1_node = g.find(name="c", step=0)[0], g.find(name="c", step=1)[0]
    assert any(n.name == "f" for n in g.path_nodes(g.find(name="f", step=1)[0], c1_node))
    assert g.path_nodes(c0_node, c1_node)
    assert h.grad_fn is not c.grad_fn


def test_explicit_lstm_coupled_and_no_forget_gate_names():
    h, c = _lstm_run_3_steps(fused=False, coupled=True)
    g = tr.graph.trace(h, c)
    assert len(g.find(name="f", step=1)) == 1  # f = 1 - i, still named
    h, c = _lstm_run_3_steps(fused=False, forget_gate=False)
    g = tr.graph.trace(h, c)
    assert g.find(name="f") == []
    assert len(g.find(name="i", step=1)) == 1 and len(g.find(name="c", step=1)) == 1


def test_fused_lstm_is_one_node_per_step():
    h, c = _lstm_run_3_steps(fused=True)
    assert h.grad_fn is c.grad_fn and h.grad_fn is not None
    assert h.name == "h" and c.name == "c"
    assert h.scope == "LSTMCell" and h.step == 2
    g = tr.graph.trace(h, c)
    assert g.find(name="f") == [] and g.find(name="i") == []
    ops = []
    for t in range(3):
        c_nodes, h_nodes = g.find(name="c", step=t), g.find(name="h", step=t)
        assert len(c_nodes) == 1 and len(h_nodes) == 1
        (op,) = g.predecessors(c_nodes[0])
        assert op.is_op and op.step == t and op.scope == "LSTMCell"
        assert [n.id for n in g.predecessors(h_nodes[0])] == [op.id]  # h and c come out of the same node
        assert {n.id for n in g.successors(op)} >= {c_nodes[0].id, h_nodes[0].id}
        ops.append(op.id)
    assert len(set(ops)) == 3


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_gru_and_rnn_names(fused):
    rng = np.random.default_rng(501)
    x = tr.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    for cls, names in [(tr.nn.GRUCell, "rzn"), (tr.nn.RNNCell, "")]:
        cell = cls(3, 4, fused=fused).double()
        h = None
        for t in range(3):
            with tr.step(t):
                h = cell(x[t], h)
        assert h.name == "h" and h.scope == cls.__name__ and h.step == 2
        g = tr.graph.trace(h)
        for t in range(3):
            assert len(g.find(name="h", step=t)) == 1
            for name in names:
                assert len(g.find(name=name, step=t)) == (0 if fused else 1), (cls.__name__, name, t)


def test_cell_scope_nests_inside_user_scope():
    cell = tr.nn.LSTMCell(3, 4)
    with tr.scope("encoder"):
        h, c = cell(tr.ones(2, 3))
    assert h.scope == "encoder/LSTMCell" and c.scope == "encoder/LSTMCell"
    assert tr.current_scope() == ""


# =================================================================================================================
# Initialisation
# =================================================================================================================
def _check_uniform(values, bound, what):
    assert np.all(np.abs(values) <= bound * (1 + 1e-6)), what
    assert np.abs(values).max() > 0.8 * bound, what  # the bound is actually used


@pytest.mark.parametrize("forget_bias", [1.0, 2.5, 0.0])
def test_lstm_forget_bias_and_default_bounds(forget_bias):
    tr.manual_seed(600)
    H, IN = 32, 8
    cell = tr.nn.LSTMCell(IN, H, forget_bias=forget_bias)
    bound = 1 / math.sqrt(H)
    shapes = {n: q.shape for n, q in cell.named_parameters()}
    assert shapes == {"weight_ih": (4 * H, IN), "weight_hh": (4 * H, H), "bias_ih": (4 * H,), "bias_hh": (4 * H,)}
    assert all(q.dtype == "float32" for q in cell.parameters())
    b_ih, b_hh = cell.bias_ih.numpy(), cell.bias_hh.numpy()
    np.testing.assert_array_equal(b_ih[H:2 * H], forget_bias)
    np.testing.assert_array_equal(b_hh[H:2 * H], 0.0)
    _check_uniform(np.concatenate([b_ih[:H], b_ih[2 * H:]]), bound, "bias_ih i, g, o")
    _check_uniform(np.concatenate([b_hh[:H], b_hh[2 * H:]]), bound, "bias_hh i, g, o")
    _check_uniform(cell.weight_ih.numpy(), bound, "weight_ih")
    w = cell.weight_hh.numpy()
    _check_uniform(w, bound, "weight_hh")
    assert abs(w.var() - bound ** 2 / 3) < 0.15 * bound ** 2 / 3 and abs(w.mean()) < 0.05 * bound


@pytest.mark.parametrize("make", [lambda: tr.nn.LSTMCell(8, 32), lambda: tr.nn.LSTM(8, 32, num_layers=2)])
def test_lstm_default_init_is_pytorchs_every_bias_uniform(make):
    """As ``torch.nn.LSTM``: the forget gate's bias starts like the others, U(−1/√H, 1/√H); forget bias 1 is one
    keyword away (``forget_bias=1.0``)."""
    tr.manual_seed(601)
    bound = 1 / math.sqrt(32)
    for name, q in make().named_parameters():
        if "bias" in name:
            _check_uniform(q.numpy(), bound, name)
            assert np.abs(q.numpy()[32:64]).max() <= bound * (1 + 1e-6), f"{name}: the forget block is not uniform"
    with pytest.raises(tr.ArgumentError, match="forget_bias"):
        tr.nn.LSTMCell(3, 4, bias=False, forget_bias=1.0)


def test_lstm_peephole_parameters():
    cell = tr.nn.LSTMCell(3, 5, peephole=True)
    names = [n for n, _ in cell.named_parameters()]
    assert names[:4] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert set(names[4:]) == {"weight_ci", "weight_cf", "weight_co"}
    assert all(getattr(cell, n).shape == (5,) for n in ("weight_ci", "weight_cf", "weight_co"))
    names = [n for n, _ in tr.nn.LSTMCell(3, 5, bias=False).named_parameters()]
    assert names == ["weight_ih", "weight_hh"]
    # w_cf only where there is a forget gate of its own
    for kwargs in (dict(coupled=True), dict(forget_gate=False)):
        names = [n for n, _ in tr.nn.LSTMCell(3, 5, peephole=True, **kwargs).named_parameters()]
        assert set(names[4:]) == {"weight_ci", "weight_co"}, kwargs


@pytest.mark.parametrize("cls, gates", [("RNNCell", 1), ("GRUCell", 3)])
def test_rnn_gru_default_bounds(cls, gates):
    tr.manual_seed(601)
    H, IN = 32, 8
    cell = getattr(tr.nn, cls)(IN, H)
    bound = 1 / math.sqrt(H)
    shapes = {n: q.shape for n, q in cell.named_parameters()}
    assert shapes == {"weight_ih": (gates * H, IN), "weight_hh": (gates * H, H), "bias_ih": (gates * H,),
                      "bias_hh": (gates * H,)}
    for name, q in cell.named_parameters():
        _check_uniform(q.numpy(), bound, name)
    assert [n for n, _ in getattr(tr.nn, cls)(IN, H, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]


def test_dtype_and_device_arguments(device):
    for cls in (tr.nn.RNNCell, tr.nn.LSTMCell, tr.nn.GRUCell):
        cell = cls(3, 4, dtype="float64", device=device)
        assert all(q.dtype == "float64" and q.device == device for q in cell.parameters())


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("variant", ["lstm", "gru", "rnn_tanh"])
def test_float32_cells(device, variant, fused):
    """Default dtype float32 in, float32 out, close to the float64 NumPy reference."""
    kind = VARIANTS[variant][0]
    rng = np.random.default_rng(602)
    cell = make_cell(variant, 3, 4, fused, device).float()
    p = {n: q.numpy().astype(np.float64) for n, q in cell.named_parameters()}
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out = cell(tr.tensor(x, device=device))
    zeros = np.zeros((2, 4))
    if kind == "lstm":
        assert out[0].dtype == "float32" and out[1].dtype == "float32"
        h_ref, c_ref = np_step(variant, p, x.astype(np.float64), zeros, zeros)
        _close(out[0], h_ref, rtol=1e-5, atol=1e-6)
        _close(out[1], c_ref, rtol=1e-5, atol=1e-6)
    else:
        assert out.dtype == "float32"
        _close(out, np_step(variant, p, x.astype(np.float64), zeros), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("variant", ["lstm_coupled", "lstm_no_forget_gate", "lstm_peephole_coupled"])
def test_unused_forget_rows_get_zero_gradient(device, variant, fused):
    rng = np.random.default_rng(603)
    H = 4
    cell = make_cell(variant, 3, H, fused, device)
    randomize(cell, rng)
    x = leaf(rng.standard_normal((3, 2, 3)), device)
    h0, c0 = leaf(rng.standard_normal((2, H)), device), leaf(rng.standard_normal((2, H)), device)
    hs, c = unroll(cell, "lstm", x, h0, c0)
    loss_of(hs, c, rng.standard_normal((3, 2, H)), rng.standard_normal((2, H)), device).backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        g = _grad(getattr(cell, name))
        np.testing.assert_array_equal(g[H:2 * H], 0.0, err_msg=name)
        assert np.all(np.any(g[:H] != 0, axis=tuple(range(1, g.ndim)))), name  # the input gate's rows do learn
    # the forget rows do not change the output either
    before = [_host(h) for h in hs] + [_host(c)]
    values = {n: _host(q) for n, q in cell.named_parameters()}
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        values[name][H:2 * H] = rng.standard_normal(values[name][H:2 * H].shape) * 5
    cell.load_state_dict(values)
    with tr.no_grad():
        hs2, c2 = unroll(cell, "lstm", x, h0, c0)
    for a, b in zip(before, [_host(h) for h in hs2] + [_host(c2)], strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


# =================================================================================================================
# Errors
# =================================================================================================================
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_wrong_input_size(cls, fused):
    cell = getattr(tr.nn, cls)(5, 6, fused=fused)
    with pytest.raises(tr.ShapeError, match=cls) as info:
        cell(tr.ones(3, 7))
    assert "(3, 7)" in str(info.value) and "5" in str(info.value)
    with pytest.raises(tr.ShapeError, match=cls):
        cell(tr.ones(7))
    assert tr.current_scope() == ""


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_wrong_state_shape(cls, fused):
    cell = getattr(tr.nn, cls)(5, 6, fused=fused)
    x = tr.ones(3, 5)
    good = tr.zeros(3, 6)
    for bad in (tr.zeros(3, 4), tr.zeros(2, 6)):
        states = [(bad, good), (good, bad)] if cls == "LSTMCell" else [bad]
        for state in states:
            with pytest.raises(tr.ShapeError, match=cls) as info:
                cell(x, state)
            message = str(info.value)
            assert str(tuple(bad.shape)) in message and "(3, 6)" in message, message
    assert tr.current_scope() == ""


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match="gelu"):
        tr.nn.RNNCell(3, 4, nonlinearity="gelu")


def test_coupled_without_forget_gate_is_rejected():
    with pytest.raises(ValueError, match="LSTMCell"):
        tr.nn.LSTMCell(3, 4, coupled=True, forget_gate=False)


def test_peephole_with_coupled_is_allowed():
    cell = tr.nn.LSTMCell(3, 4, peephole=True, coupled=True)
    h, c = cell(tr.ones(2, 3))
    assert h.shape == (2, 4) and c.shape == (2, 4)
