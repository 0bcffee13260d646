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
from helpers import host as _host
from tinygrad_rnn import nn, optim


# -- helpers ------------------------------------------------------------------------------------------------------


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
        for p, ai, ci in zip(params, a, c, strict=True):
            p.grad = _grad_array(ai * (p.numpy() - ci), p)
        opt.step()
    return [p.numpy() for p in params]


def _run_torch(torch, make_opt, steps: int, seed: int = 0):
    w0, a, c = _problem(seed)
    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in w0]
    opt = make_opt(params)
    for _ in range(steps):
        opt.zero_grad()
        for p, ai, ci in zip(params, a, c, strict=True):
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
    for wf, ci in zip(final, c, strict=True):
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
    for o, r in zip(ours, ref, strict=True):
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
    for (name, p), (name_ref, p_ref) in zip(net.named_parameters(), ref.named_parameters(), strict=True):
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
        for p, ai, ci in zip(params, a, c, strict=True):
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
    for p, e in zip(params, expected, strict=True):
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
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_allclose(_host(p.grad), g * coefficient, rtol=1e-12)
    clipped = math.sqrt(sum(float((_host(p.grad) ** 2).sum()) for p in params))
    assert clipped == pytest.approx(1.0, abs=1e-5)


def test_clip_grad_norm_scales_each_gradient_in_place_and_float32_norms_stay_accurate(device):
    """As PyTorch's: a parameter keeps its gradient array, scaled where it was; the 2-norm of float32 gradients
    (one dot product per gradient) stays within float32 rounding of the float64 norm, 0-d gradients included."""
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((300, 400)).astype(np.float32), np.float32(rng.standard_normal(())),
             rng.standard_normal((7, 1, 10)).astype(np.float32)]
    params = []
    for g in grads:
        p = tr.tensor(np.zeros(np.shape(g), np.float32), requires_grad=True, device=device)
        p.grad = _grad_array(g, p)
        params.append(p)
    params[2].grad = params[2].grad[..., ::2]  # a strided view, as a user may assign
    grads[2] = grads[2][..., ::2]
    arrays = [p.grad for p in params]
    total = math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads))
    assert optim.grad_norm(params).item() == pytest.approx(total, rel=1e-6)
    norm = optim.clip_grad_norm_(params, 1.0)
    assert norm.item() == pytest.approx(total, rel=1e-6) and norm.dtype == "float32"
    for p, before, g in zip(params, arrays, grads, strict=True):
        assert p.grad is before
        np.testing.assert_allclose(_host(p.grad), np.asarray(g, np.float64) / total, rtol=1e-5)


def test_grad_norm_of_float16_gradients_does_not_overflow():
    p = tr.tensor(np.zeros(4000, np.float16), requires_grad=True)
    p.grad = np.full(4000, 5.0, np.float16)  # norm 316: its squares' sum, 1e5, is past float16's 65504
    assert optim.grad_norm([p]).item() == pytest.approx(math.sqrt(4000) * 5, rel=1e-3)
    assert optim.grad_norm([p], norm_type=3).item() == pytest.approx(4000 ** (1 / 3) * 5, rel=1e-3)  # 5e5 cubed


def test_clip_grad_norm_scales_a_0d_parameters_gradient_that_is_a_numpy_scalar():
    """NumPy arithmetic on a 0-d array gives a scalar, which ``*=`` cannot scale in place: such a gradient (from
    ``zero_grad(set_to_none=False)`` before this was fixed, ``clip_grad_value_``, or assigned) must still be scaled."""
    w, v = tr.tensor(0.0, requires_grad=True), tr.tensor([0.0], requires_grad=True)
    w.grad, v.grad = np.float32(30.0), np.array([40.0], np.float32)
    optim.clip_grad_norm_([w, v], 1.0)
    assert float(w.grad) == pytest.approx(0.6, rel=1e-5) and float(v.grad[0]) == pytest.approx(0.8, rel=1e-5)
    w.grad = np.array(2.0, np.float32)
    optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
    assert isinstance(w.grad, np.ndarray) and w.grad.shape == () and float(w.grad) == 0.0
    module = tr.nn.Module()
    module.w = tr.nn.Parameter(tr.tensor(1.0))
    module.w.grad = np.array(2.0, np.float32)
    module.zero_grad(set_to_none=False)
    assert isinstance(module.w.grad, np.ndarray) and module.w.grad.shape == () and float(module.w.grad) == 0.0
    w.grad = np.array(3.0, np.float32)
    optim.clip_grad_value_([w], 1.0)  # NumPy clips a 0-d array into a scalar: kept an array
    assert isinstance(w.grad, np.ndarray) and w.grad.shape == () and float(w.grad) == 1.0


def test_clip_grad_norm_leaves_grads_when_under(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    norm = optim.clip_grad_norm_(params, 100.0)
    assert norm.item() == pytest.approx(total, rel=1e-12)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_array_equal(_host(p.grad), g)


def test_clip_grad_norm_inf(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    norm = optim.clip_grad_norm_(params, 2.0, norm_type=math.inf)
    assert norm.item() == pytest.approx(7.0)
    for p, g in zip(params, grads, strict=True):
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
    for r, g in zip(ref, grads, strict=True):
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
    for p, r in zip(params, ref, strict=True):
        np.testing.assert_allclose(_host(p.grad), r.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_value(device):
    grads = _clip_grads()
    params = _with_grads(grads, device)
    assert tr.nn.utils.clip_grad_value_(params, 0.5) is None
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_array_equal(_host(p.grad), np.clip(g, -0.5, 0.5))
        assert p.grad.shape == g.shape


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    grads = _clip_grads()
    params = _with_grads(grads)
    ref = _torch_with_grads(torch, grads)
    optim.clip_grad_value_(params, 0.3)
    torch.nn.utils.clip_grad_value_(ref, 0.3)
    for p, r in zip(params, ref, strict=True):
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


# =================================================================================================================
# Regressions: state that follows Module.to, aliasing with in-place gradient accumulation, mixed-dtype clipping,
# checkpointable state dicts
# =================================================================================================================
OPTIMIZERS_WITH_STATE = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.95), weight_decay=0.01),
]
OPTIMIZER_IDS = ["sgd-momentum", "sgd-nesterov", "adam"]


def _state_arrays(opt):
    return [v for values in opt.state.values() for v in values.values() if hasattr(v, "shape")]


def _linear_loss(lin, x):
    return (lin(x) ** 2).sum()


@pytest.mark.parametrize("make_opt", OPTIMIZERS_WITH_STATE, ids=OPTIMIZER_IDS)
def test_state_follows_module_to_dtype(device, make_opt):
    """A step in float64, then Module.to('float32'): the next step keeps the parameters float32 (it made them
    float64 again, and the next forward raised DTypeError), with the state cast as load_state_dict casts it."""
    tr.manual_seed(0)
    lin = nn.Linear(3, 2).to(device).double()
    opt = make_opt(lin.parameters())
    x = tr.tensor(np.random.default_rng(0).standard_normal((4, 3)), device=device)
    _linear_loss(lin, x.double()).backward()
    opt.step()
    opt.zero_grad()
    saved = copy.deepcopy(opt.state_dict())

    lin.to("float32")
    _linear_loss(lin, x.float()).backward()
    grads = [_host(p.grad) for p in lin.parameters()]
    before = [p.numpy() for p in lin.parameters()]
    opt.step()
    for p in lin.parameters():
        assert p.dtype == "float32" and p.device == device and p.is_leaf and p.requires_grad
    assert all(tr.tensor(_host(a)).dtype == "float32" for a in _state_arrays(opt))
    assert lin(x.float()).dtype == "float32"  # the forward after the step works

    # the same step from a float32 copy whose optimizer loaded the float64 state (load_state_dict casts it)
    ref = nn.Linear(3, 2).to(device).float()
    ref.load_state_dict(dict(zip(["weight", "bias"], before, strict=True)))
    ref_opt = make_opt(ref.parameters())
    ref_opt.load_state_dict(saved)
    for p, g in zip(ref.parameters(), grads, strict=True):
        p.grad = _grad_array(g, p)
    ref_opt.step()
    for p, r in zip(lin.parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), r.numpy())


@pytest.mark.parametrize("make_opt", OPTIMIZERS_WITH_STATE, ids=OPTIMIZER_IDS)
def test_state_follows_module_to_device(device, make_opt):
    """Steps on the CPU, Module.to(device), more steps, back to the CPU: the state moves with the parameters
    (array_api_strict raised a raw TypeError) and training goes on as if it had never moved."""
    w0, a, c = _problem(9)

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = [nn.Parameter(tr.tensor(w, dtype="float64")) for w in w0]
            for i, p in enumerate(self.params):
                setattr(self, f"w{i}", p)

    def run(moves):
        model = Quadratic()
        opt = make_opt(model.parameters())
        for target in moves:
            if target is not None:
                model.to(target)
            for _ in range(2):
                for p, ai, ci in zip(model.params, a, c, strict=True):
                    p.grad = _grad_array(ai * (p.numpy() - ci), p)
                opt.step()
                opt.zero_grad()
            for p in model.params:
                assert p.device == (target or "cpu") and p.dtype == "float64"
        for p in model.params:
            assert p.device == "cpu"
        return [p.numpy() for p in model.params], opt

    expected, _ = run([None, None, None])
    moved, opt = run([None, device, "cpu"])
    for m, e in zip(moved, expected, strict=True):
        np.testing.assert_allclose(m, e, rtol=1e-12, atol=1e-14)
    assert all(isinstance(v, np.ndarray) for v in _state_arrays(opt))


def test_state_dict_after_module_to_device_before_a_step(device):
    """state_dict() right after Module.to (the state still where the last step left it) gives host arrays."""
    lin = nn.Linear(2, 2).double()
    opt = optim.Adam(lin.parameters(), lr=0.1)
    _linear_loss(lin, tr.ones(1, 2, dtype="float64")).backward()
    opt.step()
    expected = opt.state_dict()
    lin.to(device)
    state = opt.state_dict()
    assert len(state["state"]) == len(expected["state"]) == 2  # weight and bias, so the loop below checks both
    for i, values in state["state"].items():
        for k, v in values.items():
            assert isinstance(v, np.ndarray) if k != "step" else v == 1
            if k != "step":
                np.testing.assert_array_equal(v, expected["state"][i][k])


def test_sgd_momentum_buffer_is_not_the_gradient():
    """The first momentum buffer was p.grad itself; backward without zero_grad grows p.grad in place, which
    changed the buffer behind the optimizer's back. w = [1, 2], f = Σw², three backward+step rounds."""
    w = tr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    buf = opt.state[id(w)]["momentum_buffer"]
    assert buf is not w.grad
    np.testing.assert_allclose(_host(buf), [2.0, 4.0])
    (w * w).sum().backward()  # accumulates into w.grad in place
    np.testing.assert_allclose(_host(buf), [2.0, 4.0])
    opt.step()
    (w * w).sum().backward()
    opt.step()
    # by hand, as torch.optim.SGD: g accumulates (no zero_grad), v = 0.9 v + g, w -= 0.1 v
    w_ref, g_acc, v = np.array([1.0, 2.0]), np.zeros(2), None
    for _ in range(3):
        g_acc = g_acc + 2 * w_ref
        v = g_acc.copy() if v is None else 0.9 * v + g_acc
        w_ref = w_ref - 0.1 * v
    np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-6)
    np.testing.assert_allclose(w.numpy(), [-0.638, -1.276], atol=1e-6)


@pytest.mark.parametrize("name, config", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.0, 0.9), weight_decay=0.1)),
], ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()))
def test_steps_without_zero_grad_match_torch(device, name, config):
    """Gradients from backward that accumulate across steps (no zero_grad), against torch.optim."""
    torch = pytest.importorskip("torch")
    w0 = np.array([1.0, 2.0, -0.5])
    w = tr.tensor(w0, dtype="float64", requires_grad=True, device=device)
    w_ref = torch.tensor(w0, requires_grad=True)
    opt = getattr(optim, name)([w], **config)
    opt_ref = getattr(torch.optim, name)([w_ref], **config)
    for _ in range(4):
        (w * w * w).sum().backward()
        opt.step()
        (w_ref * w_ref * w_ref).sum().backward()
        opt_ref.step()
    np.testing.assert_allclose(w.numpy(), w_ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_host(w.grad), w_ref.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_clip_grad_norm_mixed_dtypes_keeps_each_dtype(device, norm_type):
    """float32 and float64 gradients clipped together: the float64 total made the float32 gradient float64, and
    the next step then made its parameter float64."""
    g32, g64 = np.array([3.0, 4.0]), np.array([[12.0]])
    p32 = tr.tensor([0.0, 0.0], dtype="float32", requires_grad=True, device=device)
    p64 = tr.tensor([[0.0]], dtype="float64", requires_grad=True, device=device)
    p32.grad, p64.grad = _grad_array(g32, p32), _grad_array(g64, p64)
    norm = optim.clip_grad_norm_([p32, p64], 1.0, norm_type=norm_type)
    total = 13.0 if norm_type == 2.0 else 12.0
    assert norm.item() == pytest.approx(total, rel=1e-6)
    assert tr.tensor(_host(p32.grad)).dtype == "float32" and tr.tensor(_host(p64.grad)).dtype == "float64"
    np.testing.assert_allclose(_host(p32.grad), g32 / (total + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(_host(p64.grad), g64 / (total + 1e-6), rtol=1e-12)
    optim.SGD([p32, p64], lr=1.0).step()
    assert p32.dtype == "float32" and p64.dtype == "float64"


def test_step_keeps_parameter_dtype_with_a_wider_gradient():
    """A float64 gradient set by hand on a float32 parameter: the update is cast back, as torch's in-place one."""
    w = tr.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    w.grad = np.array([1.0, 1.0], dtype=np.float64)
    opt = optim.SGD([w], lr=0.5, momentum=0.9)
    opt.step()
    opt.step()
    assert w.dtype == "float32"
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.5 - 0.95, 2.0 - 0.5 - 0.95], rtol=1e-6)


@pytest.mark.parametrize("make_opt", OPTIMIZERS_WITH_STATE, ids=OPTIMIZER_IDS)
def test_state_dict_is_plain_data_for_a_checkpoint(device, make_opt):
    """Arrays are host NumPy arrays (for an .npz) and everything else plain Python that json can write."""
    import json

    params = [tr.tensor(w, dtype="float64", requires_grad=True, device=device) for w in _problem(3)[0]]
    # extra keys of a group (a NumPy number, a string) are kept, as in torch.optim
    opt = make_opt([{"params": params[:1], "lr": 0.05, "max_norm": np.float32(0.5), "name": "first"},
                    {"params": params[1:]}])
    for _ in range(2):
        for p in params:
            p.grad = _grad_array(np.ones(p.shape), p)
        opt.step()
    state = opt.state_dict()
    text = json.dumps(state["param_groups"])
    assert json.loads(text) == state["param_groups"]
    assert state["param_groups"][0]["max_norm"] == 0.5 and type(state["param_groups"][0]["max_norm"]) is float
    assert state["param_groups"][0]["name"] == "first"
    if "betas" in state["param_groups"][0]:
        assert state["param_groups"][0]["betas"] == [0.8, 0.95]

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        else:
            yield value

    found = list(leaves(state["state"]))
    assert found and all(type(v) is np.ndarray or type(v) in (int, float) for v in found)
    assert all(isinstance(k, int) for k in state["state"])

    # a round trip through JSON and NumPy (keys as strings, betas as a list) resumes exactly
    arrays = {f"{i}/{k}": v for i, values in state["state"].items() for k, v in values.items()
              if isinstance(v, np.ndarray)}
    numbers = {str(i): {k: v for k, v in values.items() if not isinstance(v, np.ndarray)}
               for i, values in state["state"].items()}
    restored_state = json.loads(json.dumps(numbers))
    for key, v in arrays.items():
        i, k = key.split("/")
        restored_state[i][k] = v.copy()
    restored = {"state": restored_state, "param_groups": json.loads(text)}

    def continue_from(opt_, params_):
        for p in params_:
            p.grad = _grad_array(np.full(p.shape, 0.5), p)
        opt_.step()
        return [p.numpy() for p in params_]

    copies = [tr.tensor(p.numpy(), dtype="float64", requires_grad=True, device=device) for p in params]
    other = make_opt([{"params": copies[:1], "lr": 1.0}, {"params": copies[1:]}])
    other.load_state_dict(restored)
    assert [{k: v for k, v in g.items() if k != "params"} for g in other.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    if "betas" in other.param_groups[0]:
        assert isinstance(other.param_groups[0]["betas"], tuple)
    for a, b in zip(continue_from(other, copies), continue_from(opt, params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_rejects_values_a_checkpoint_cannot_store():
    w = tr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [w], "callback": object()}], lr=0.1)
    with pytest.raises(TypeError, match="callback"):
        opt.state_dict()
