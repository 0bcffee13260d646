"""tinygrad_rnn.optim: SGD and Adam against closed forms and torch.optim, optimizer checkpoints, gradient clipping.

Gradients are mostly set by hand from a closed-form quadratic, so the optimiser is tested on its own: the same
weights and gradients go into torch.optim (skipped where PyTorch is not installed) in float64.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import nn, optim


# -- helpers ------------------------------------------------------------------------------------------------------
def _host(array) -> np.ndarray:
    """A NumPy copy of a backend array (NumPy, array_api_strict, CuPy)."""
    if hasattr(array, "get"):
        return array.get()
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np.array(array)
    return np.from_dlpack(array).copy()


def _grad_array(values, like: tr.Tensor):
    """A gradient array for ``like`` on its device and dtype."""
    return tr.tensor(np.asarray(values), dtype=like.dtype, device=like.device).data


# The problem every comparison runs: f(w) = ½ Σ a ⊙ (w - c)², so ∇f = a ⊙ (w - c), with a per-element curvature.
SHAPES = [(3, 4), (4,)]


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal(s) for s in SHAPES]
    a = [rng.uniform(0.5, 3.0, s) for s in SHAPES]
    c = [rng.standard_normal(s) for s in SHAPES]
    return w0, a, c


def _run_ours(make_opt, steps: int, device: str = "cpu", seed: int = 0):
    w0, a, c = _problem(seed)
    params = [tr.tensor(w, dtype="float64", requires_grad=True, device=device) for w in w0]
    opt = make_opt(params)
    for _ in range(steps):
        opt.zero_grad()
        for p, ai, ci in zip(params, a, c):
            p.grad = _grad_array(ai * (p.numpy() - ci), p)
        opt.step()
    return [p.numpy() for p in params]


def _run_torch(torch, make_opt, steps: int, seed: int = 0):
    w0, a, c = _problem(seed)
    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in w0]
    opt = make_opt(params)
    for _ in range(steps):
        opt.zero_grad()
        for p, ai, ci in zip(params, a, c):
            p.grad = torch.tensor(ai * (p.detach().numpy() - ci))
        opt.step()
    return [p.detach().numpy() for p in params]


SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.05, momentum=0.9, weight_decay=0.05, nesterov=True),
    dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.1),
]
ADAM_CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.02, betas=(0.0, 0.9), weight_decay=0.01),
]


# =================================================================================================================
# Closed forms (no PyTorch needed)
# =================================================================================================================
def test_sgd_one_step_closed_form(device):
    w0, a, c = _problem(1)
    w = tr.tensor(w0[0], dtype="float64", requires_grad=True, device=device)
    g = a[0] * (w0[0] - c[0])
    w.grad = _grad_array(g, w)
    opt = optim.SGD([w], lr=0.3)
    opt.step()
    np.testing.assert_allclose(w.numpy(), w0[0] - 0.3 * g, rtol=1e-14, atol=1e-14)
    assert w.dtype == "float64" and w.device == device and w.is_leaf and w.requires_grad


def test_sgd_momentum_and_weight_decay_closed_form(device):
    """Two steps of v = μv + (1-τ)(g + λw), w -= lr·v written out by hand (the first step has no dampening)."""
    lr, mu, tau, lam = 0.1, 0.9, 0.25, 0.01
    w = tr.tensor([1.0, -2.0], dtype="float64", requires_grad=True, device=device)
    opt = optim.SGD([w], lr=lr, momentum=mu, dampening=tau, weight_decay=lam)
    g1, g2 = np.array([0.5, 1.0]), np.array([-1.0, 2.0])
    w.grad = _grad_array(g1, w)
    opt.step()
    v = g1 + lam * np.array([1.0, -2.0])
    w1 = np.array([1.0, -2.0]) - lr * v
    np.testing.assert_allclose(w.numpy(), w1, rtol=1e-14)
    w.grad = _grad_array(g2, w)
    opt.step()
    v = mu * v + (1 - tau) * (g2 + lam * w1)
    np.testing.assert_allclose(w.numpy(), w1 - lr * v, rtol=1e-14)


def test_sgd_nesterov_closed_form():
    lr, mu = 0.1, 0.9
    w = tr.tensor([1.0], dtype="float64", requires_grad=True)
    opt = optim.SGD([w], lr=lr, momentum=mu, nesterov=True)
    w.grad = _grad_array([2.0], w)
    opt.step()  # buf = 2, step = g + μ·buf = 3.8
    np.testing.assert_allclose(w.numpy(), [1.0 - lr * 3.8], rtol=1e-14)
    w.grad = _grad_array([1.0], w)
    opt.step()  # buf = 0.9·2 + 1 = 2.8, step = 1 + 0.9·2.8 = 3.52
    np.testing.assert_allclose(w.numpy(), [1.0 - lr * 3.8 - lr * 3.52], rtol=1e-14)


def test_adam_first_step_moves_by_lr_times_sign(device):
    lr = 0.01
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((5, 4))
    g = rng.standard_normal((5, 4)) * np.array([1e-3, 1.0, 10.0, 1e3])  # any scale: Adam normalises it away
    w = tr.tensor(w0, dtype="float64", requires_grad=True, device=device)
    w.grad = _grad_array(g, w)
    optim.Adam([w], lr=lr).step()
    # m̂ = g, v̂ = g², step = lr·g/(|g| + eps)
    np.testing.assert_allclose(w.numpy(), w0 - lr * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.abs(w.numpy() - w0), lr, rtol=1e-4)


def test_adam_two_steps_closed_form():
    lr, b1, b2, eps, wd = 0.1, 0.8, 0.9, 1e-8, 0.1
    w = tr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    opt = optim.Adam([w], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    x = np.array([1.0, 2.0])
    m = v = np.zeros(2)
    for t, g in enumerate([np.array([0.5, -1.0]), np.array([2.0, 0.1])], start=1):
        w.grad = _grad_array(g, w)
        opt.step()
        g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(w.numpy(), x, rtol=1e-13)


def test_sgd_converges_on_quadratic(device):
    w0, a, c = _problem(3)
    final = _run_ours(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5), 200, device, seed=3)
    for wf, ci in zip(final, c):
        np.testing.assert_allclose(wf, ci, atol=1e-6)


def test_float32_parameters_stay_float32(device):
    w = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    b = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    w.grad = _grad_array([0.1, 0.2], w)
    b.grad = _grad_array([0.1, 0.2], b)
    optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1).step()
    optim.Adam([b], lr=0.1, weight_decay=0.1).step()
    assert w.dtype == "float32" and b.dtype == "float32"
    assert w.device == device and b.device == device


def test_parameters_without_grad_are_skipped():
    w = tr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    u = tr.tensor([3.0], dtype="float64", requires_grad=True)
    w.grad = _grad_array([1.0, 1.0], w)
    opt = optim.Adam([w, u], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(u.numpy(), [3.0])
    assert not np.allclose(w.numpy(), [1.0, 2.0])


def test_zero_grad():
    w = tr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = _grad_array([1.0, 1.0], w)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(_host(w.grad), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None


def test_param_groups_have_their_own_lr():
    a = tr.tensor([1.0], dtype="float64", requires_grad=True)
    b = tr.tensor([1.0], dtype="float64", requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad = _grad_array([1.0], a)
    b.grad = _grad_array([1.0], b)
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9])
    np.testing.assert_allclose(b.numpy(), [0.5])


def test_trains_a_module_through_backward(device):
    """An end-to-end step: gradients from the engine's backward, update checked against the closed form."""
    lin = nn.Linear(3, 1).to(device).double()
    x = np.random.default_rng(4).standard_normal((8, 3))
    y = np.random.default_rng(5).standard_normal((8, 1))
    w0, b0 = lin.weight.numpy(), lin.bias.numpy()
    opt = optim.SGD(lin.parameters(), lr=0.1)
    loss = tr.mse_loss(lin(tr.tensor(x, device=device)), tr.tensor(y, device=device))
    loss.backward()
    opt.step()
    r = x @ w0.T + b0 - y  # d/dW mean(r²) = 2 rᵀx / N
    np.testing.assert_allclose(lin.weight.numpy(), w0 - 0.1 * 2 * r.T @ x / 8, rtol=1e-12)
    np.testing.assert_allclose(lin.bias.numpy(), b0 - 0.1 * 2 * r.sum(0) / 8, rtol=1e-12)


# =================================================================================================================
# Against torch.optim
# =================================================================================================================
@pytest.mark.parametrize("name, config", [("SGD", c) for c in SGD_CONFIGS] + [("Adam", c) for c in ADAM_CONFIGS],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_optimizer_matches_torch(device, name, config):
    torch = pytest.importorskip("torch")
    ours = _run_ours(lambda ps: getattr(optim, name)(ps, **config), 6, device)
    ref = _run_torch(torch, lambda ps: getattr(torch.optim, name)(ps, **config), 6)
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-14)


def test_adam_trains_a_model_like_torch():
    """A small model, gradients from each library's own backward, float64, 5 Adam steps."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 2))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    net.load_state_dict(ref.state_dict())
    opt = optim.Adam(net.parameters(), lr=0.05, weight_decay=0.01)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=0.05, weight_decay=0.01)
    for _ in range(5):
        opt.zero_grad()
        tr.mse_loss(net(tr.tensor(x)), tr.tensor(y)).backward()
        opt.step()
        opt_ref.zero_grad()
        torch.nn.functional.mse_loss(ref(torch.tensor(x)), torch.tensor(y)).backward()
        opt_ref.step()
    for (name, p), (name_ref, p_ref) in zip(net.named_parameters(), ref.named_parameters()):
        assert name == name_ref
        np.testing.assert_allclose(p.numpy(), p_ref.detach().numpy(), rtol=1e-10, atol=1e-12)


# =================================================================================================================
# Optimizer checkpoints
# =================================================================================================================
@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.05, betas=(0.7, 0.95), weight_decay=0.01),
], ids=["sgd-momentum", "sgd-nesterov", "adam"])
def test_optimizer_state_dict_resume_is_exact(device, make_opt):
    w0, a, c = _problem(7)

    def grads(params):
        for p, ai, ci in zip(params, a, c):
            p.grad = _grad_array(ai * (p.numpy() - ci), p)

    def fresh(values):
        return [tr.tensor(v, dtype="float64", requires_grad=True, device=device) for v in values]

    def steps(params, opt, count):
        for _ in range(count):
            grads(params)
            opt.step()

    # uninterrupted: 6 steps
    params = fresh(w0)
    steps(params, make_opt(params), 6)
    expected = [p.numpy() for p in params]

    # interrupted after 3 steps: save weights and optimizer state, rebuild everything, load, continue
    params = fresh(w0)
    opt = make_opt(params)
    steps(params, opt, 3)
    saved_weights = [p.numpy() for p in params]
    saved_state = copy.deepcopy(opt.state_dict())
    del opt, params

    params = fresh(saved_weights)
    opt = make_opt(params)
    opt.load_state_dict(saved_state)
    steps(params, opt, 3)
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.numpy(), e)

    # a fresh optimizer *without* the loaded state does differ (the test can tell)
    params = fresh(saved_weights)
    opt = make_opt(params)
    for _ in range(3):
        grads(params)
        opt.step()
    assert not np.array_equal(params[0].numpy(), expected[0])


def test_optimizer_state_dict_restores_hyperparameters():
    w = tr.tensor([1.0], dtype="float64", requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    opt.param_groups[0]["lr"] = 0.01  # e.g. a learning-rate schedule changed it
    state = opt.state_dict()
    other = optim.SGD([tr.tensor([1.0], dtype="float64", requires_grad=True)], lr=0.1, momentum=0.5)
    other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 0.01 and other.param_groups[0]["momentum"] == 0.5


def test_optimizer_state_dict_is_a_snapshot():
    w = tr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = _grad_array([1.0, -1.0], w)
    opt.step()
    state = opt.state_dict()
    m_before = np.array(state["state"][0]["exp_avg"], copy=True)
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["exp_avg"], m_before)
    assert state["state"][0]["step"] == 1


def test_load_state_dict_wrong_group_count():
    w = tr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [tr.tensor([1.0], requires_grad=True)]}], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([w], lr=0.1).load_state_dict(opt.state_dict())


# =================================================================================================================
# Gradient clipping
# =================================================================================================================
def _with_grads(grads, device="cpu"):
    params = []
    for g in grads:
        p = tr.tensor(np.zeros_like(g), dtype="float64", requires_grad=True, device=device)
        p.grad = _grad_array(g, p)
        params.append(p)
    return params


def _clip_grads():
    rng = np.random.default_rng(8)
    return [rng.standard_normal((3, 4)), rng.standard_normal(5), np.array([[-7.0]])]


def test_clip_grad_norm_scales_when_over(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    norm = optim.clip_grad_norm_(params, 1.0)
    assert isinstance(norm, tr.Tensor) and norm.shape == () and norm.device == device
    assert norm.item() == pytest.approx(total, rel=1e-12)
    coefficient = 1.0 / (total + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(_host(p.grad), g * coefficient, rtol=1e-12)
    clipped = math.sqrt(sum(float((_host(p.grad) ** 2).sum()) for p in params))
    assert clipped == pytest.approx(1.0, abs=1e-5)


def test_clip_grad_norm_leaves_grads_when_under(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    norm = optim.clip_grad_norm_(params, 100.0)
    assert norm.item() == pytest.approx(total, rel=1e-12)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(_host(p.grad), g)


def test_clip_grad_norm_inf(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    norm = optim.clip_grad_norm_(params, 2.0, norm_type=math.inf)
    assert norm.item() == pytest.approx(7.0)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(_host(p.grad), g * 2.0 / (7.0 + 1e-6), rtol=1e-12)
    assert max(float(np.abs(_host(p.grad)).max()) for p in params) == pytest.approx(2.0, abs=1e-6)


def test_clip_grad_norm_single_tensor_skips_missing_grads_and_utils_alias():
    p = tr.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    p.grad = _grad_array([3.0, 4.0], p)
    q = tr.tensor([1.0], dtype="float64", requires_grad=True)  # no grad: ignored
    norm = tr.nn.utils.clip_grad_norm_([p, q], 1.0)
    assert norm.item() == pytest.approx(5.0)
    np.testing.assert_allclose(_host(p.grad), [0.6, 0.8], rtol=1e-6)
    assert q.grad is None
    p.grad = _grad_array([3.0, 4.0], p)
    assert tr.nn.utils.clip_grad_norm_(p, 10.0).item() == pytest.approx(5.0)  # a lone tensor is accepted
    assert optim.clip_grad_norm_([q], 1.0).item() == 0.0


def _torch_with_grads(torch, grads):
    ref = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for r, g in zip(ref, grads):
        r.grad = torch.tensor(g)
    return ref


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 50.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    grads = _clip_grads()
    params = _with_grads(grads)
    ref = _torch_with_grads(torch, grads)
    norm = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    norm_ref = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=norm_type)
    assert norm.item() == pytest.approx(norm_ref.item(), rel=1e-12)
    for p, r in zip(params, ref):
        np.testing.assert_allclose(_host(p.grad), r.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_value(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    assert tr.nn.utils.clip_grad_value_(params, 0.5) is None
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(_host(p.grad), np.clip(g, -0.5, 0.5))
        assert p.grad.shape == g.shape


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    grads = _clip_grads()
    params = _with_grads(grads)
    ref = _torch_with_grads(torch, grads)
    optim.clip_grad_value_(params, 0.3)
    torch.nn.utils.clip_grad_value_(ref, 0.3)
    for p, r in zip(params, ref):
        np.testing.assert_array_equal(_host(p.grad), r.grad.numpy())


# =================================================================================================================
# Errors
# =================================================================================================================
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_empty_parameter_list(cls):
    with pytest.raises(ValueError, match="empty"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        cls(iter([]), lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_negative_lr(cls):
    with pytest.raises(ValueError):
        cls([tr.tensor([1.0], requires_grad=True)], lr=-0.1)


def test_invalid_hyperparameters():
    w = [tr.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError):
        optim.SGD(w, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError):
        optim.SGD(w, lr=0.1, nesterov=True)  # Nesterov needs momentum
    with pytest.raises(ValueError):
        optim.SGD(w, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.Adam(w, betas=(1.0, 0.999))
    with pytest.raises(ValueError):
        optim.Adam(w, eps=-1.0)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_non_leaf_parameters_rejected(cls):
    w = tr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="leaf"):  # torch.optim: ValueError("can't optimize a non-leaf Tensor")
        cls([w * 2], lr=0.1)
    with pytest.raises(TypeError):
        cls([np.zeros(3)], lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_duplicate_parameters_rejected(cls):
    w = tr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="twice"):
        cls([w, w], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        cls([{"params": [w]}, {"params": [w], "lr": 0.5}], lr=0.1)


def test_frozen_parameters_are_accepted_and_not_stepped():
    """As torch.optim: optimise model.parameters() with part of the model frozen (requires_grad=False)."""
    net = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2)).double()
    net[0].requires_grad_(False)
    frozen = net[0].weight.numpy()
    trained = net[1].weight.numpy()
    opt = optim.SGD(net.parameters(), lr=0.5)
    net(tr.tensor([[1, 2]])).sum().backward()
    assert net[0].weight.grad is None
    opt.step()
    np.testing.assert_array_equal(net[0].weight.numpy(), frozen)
    assert not np.array_equal(net[1].weight.numpy(), trained)
