"""tinygrad_rnn.nn: Module bookkeeping, Linear, Embedding, Dropout and the initialisers.

Every numeric check compares against a closed form, a NumPy reference or PyTorch (skipped where PyTorch is not
installed) — never against the library itself.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from helpers import host as _host
from tinygrad_rnn import nn


# -- helpers ------------------------------------------------------------------------------------------------------


def _set(t: tr.Tensor, values) -> None:
    """Overwrite a tensor's values from NumPy, keeping its device and dtype."""
    t.data = tr.tensor(np.asarray(values), dtype=t.dtype, device=t.device).data


class Net(nn.Module):
    """fc1 -> tanh -> Sequential(Linear, Tanh) -> ModuleList of two heads, with a buffer."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.body = nn.Sequential(nn.Linear(4, 5), nn.Tanh())
        self.heads = nn.ModuleList([nn.Linear(5, 2), nn.Linear(5, 1, bias=False)])
        self.scale = nn.Parameter(tr.ones(1))

    def forward(self, x):
        h = self.body(self.act(self.fc1(x)))
        return [head(h) * self.scale for head in self.heads]


NET_NAMES = ["scale", "fc1.weight", "fc1.bias", "body.0.weight", "body.0.bias", "heads.0.weight", "heads.0.bias",
             "heads.1.weight"]


# =================================================================================================================
# Module
# =================================================================================================================
def test_named_parameters_order_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    # PyTorch's order: a module's own parameters first, then its children's, depth first in assignment order
    assert names == NET_NAMES
    assert len(list(net.parameters())) == len(NET_NAMES)
    shapes = {n: p.shape for n, p in net.named_parameters()}
    assert shapes["fc1.weight"] == (4, 3) and shapes["body.0.bias"] == (5,) and shapes["heads.1.weight"] == (1, 5)
    for name, p in net.named_parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf
        assert p.name == name


def test_named_parameters_match_torch_order():
    torch = pytest.importorskip("torch")

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(3, 4)
            self.act = torch.nn.Tanh()
            self.body = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh())
            self.heads = torch.nn.ModuleList([torch.nn.Linear(5, 2), torch.nn.Linear(5, 1, bias=False)])
            self.scale = torch.nn.Parameter(torch.ones(1))

    assert [n for n, _ in Net().named_parameters()] == [n for n, _ in TorchNet().named_parameters()]
    assert [n for n, _ in Net().named_modules()] == [n for n, _ in TorchNet().named_modules()]


def test_parameter_names_of_deeper_nesting():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = Net()

    outer = Outer()
    assert [n for n, _ in outer.named_parameters()] == ["net." + n for n in NET_NAMES]
    for name, p in outer.named_parameters():
        assert p.name == name


def test_named_modules_and_children():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "body", "heads"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "body", "body.0", "body.1", "heads",
                                                   "heads.0", "heads.1"]
    assert len(net.body) == 2 and isinstance(net.body[1], nn.Tanh)
    assert len(net.heads) == 2 and [type(m) for m in net.heads] == [nn.Linear, nn.Linear]


def test_shared_parameters_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a  # the same module twice
            self.w = nn.Parameter(tr.zeros(3))
            self.v = self.w  # the same parameter twice

    m = Tied()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["w", "a.weight", "a.bias"]
    assert len({id(p) for p in m.parameters()}) == 3
    for name, p in m.named_parameters():
        assert p.name == name
    assert [n for n, _ in m.named_modules()] == ["", "a"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == ["", "a", "b"]  # PyTorch's, too
    # the state dict lists a shared parameter under every name, as PyTorch's does
    assert list(m.state_dict()) == ["w", "v", "a.weight", "a.bias", "b.weight", "b.bias"]
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == list(m.state_dict())


class TiedLM(nn.Module):
    """Embedding and output layer sharing one matrix (Press & Wolf, 2017), tied after both are attached."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(6, 4)
        self.out = nn.Linear(4, 6)
        self.out.weight = self.emb.weight

    def forward(self, idx):
        return self.out(self.emb(idx))


def test_tied_weights_names():
    m = TiedLM()
    assert m.out.weight is m.emb.weight
    assert [(n, p.name) for n, p in m.named_parameters()] == [("emb.weight", "emb.weight"),
                                                              ("out.bias", "out.bias")]
    assert list(m.state_dict()) == ["emb.weight", "out.weight", "out.bias"]


def test_tied_weights_load_pytorch_state_dict():
    torch = pytest.importorskip("torch")

    class TorchTiedLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(6, 4)
            self.out = torch.nn.Linear(4, 6)
            self.out.weight = self.emb.weight

    torch.manual_seed(0)
    ref = TorchTiedLM().double()
    m = TiedLM().double()
    assert list(m.state_dict()) == list(ref.state_dict())
    m.load_state_dict(ref.state_dict())  # strict: no missing or unexpected keys
    assert m.out.weight is m.emb.weight
    idx = np.array([[1, 5, 0]])
    expected = ref.out(ref.emb(torch.tensor(idx))).detach().numpy()
    np.testing.assert_allclose(m(tr.tensor(idx)).numpy(), expected, rtol=1e-12, atol=1e-12)
    # and back: PyTorch accepts ours
    ref2 = TorchTiedLM().double()
    ref2.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(ref2.emb.weight.detach().numpy(), m.emb.weight.numpy())


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.body[0].training and not net.heads[1].training


def test_zero_grad_and_requires_grad_(device):
    net = Net().to(device)
    x = tr.randn(2, 3, device=device)
    sum(o.sum() for o in net(x)).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    sum(o.sum() for o in net(x)).backward()
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad is not None and np.all(_host(p.grad) == 0)
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    y = net(x)[0]
    assert not y.requires_grad
    net.requires_grad_(True)
    assert all(p.requires_grad for p in net.parameters())


def test_to_float64_converts_every_parameter_and_buffer(device):
    net = Net()
    net.register_buffer("running", tr.zeros(3))
    net.fc1.register_buffer("count", tr.ones(2))
    before = {n: p.numpy() for n, p in net.named_parameters()}
    ids = [id(p) for p in net.parameters()]
    assert net.to(device).to("float64") is net
    assert [id(p) for p in net.parameters()] == ids  # in place: an optimizer built earlier still sees them
    for name, p in net.named_parameters():
        assert p.dtype == "float64" and p.device == device and p.requires_grad and p.is_leaf
        np.testing.assert_allclose(p.numpy(), before[name].astype(np.float64), rtol=0, atol=0)
    assert all(b.dtype == "float64" and b.device == device for b in net.buffers())
    out = net(tr.randn(2, 3, dtype="float64", device=device))
    assert all(o.dtype == "float64" for o in out)
    net.float()
    assert all(p.dtype == "float32" for p in net.parameters())
    net.double()
    assert all(p.dtype == "float64" for p in net.parameters())


def test_to_keeps_and_converts_gradients(device):
    """Module.to dropped every .grad, even when nothing changed; PyTorch keeps it and converts it with the tensor."""
    tr.manual_seed(0)
    net = Net()
    x = tr.randn(2, 3)
    sum(o.sum() for o in net(x)).backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert net.to("float32") is net  # nothing changes: the very same gradient arrays stay
    assert all(p.grad is grads[n] for n, p in net.named_parameters())
    net.to(device)
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == grads[name].shape
        assert tr.tensor(_host(p.grad)).dtype == "float32"
        np.testing.assert_array_equal(_host(p.grad), grads[name])
        assert p.grad.__array_namespace__() is p.data.__array_namespace__()  # on the parameter's device
    net.to("float64")
    for name, p in net.named_parameters():
        assert tr.tensor(_host(p.grad)).dtype == "float64" and p.dtype == "float64"
        np.testing.assert_array_equal(_host(p.grad), grads[name].astype(np.float64))
    # the next backward accumulates into the converted gradient
    sum(o.sum() for o in net(x.to(device).double())).backward()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(_host(p.grad), 2 * grads[name].astype(np.float64), rtol=1e-5, atol=1e-6)
    net.to("cpu")
    assert all(isinstance(p.grad, np.ndarray) for p in net.parameters())


def test_to_dtype_casts_only_floating_tensors(device):
    """As PyTorch: Module.to(dtype) leaves integer and bool buffers alone (it cast them too)."""
    lin = nn.Linear(2, 2)
    lin.register_buffer("steps", tr.tensor([3, 4]))
    lin.register_buffer("mask", tr.tensor([True, False]))
    lin.register_buffer("running", tr.zeros(2))
    lin.to(device).double()
    assert lin.steps.dtype == "int64" and lin.mask.dtype == "bool" and lin.running.dtype == "float64"
    assert all(b.device == device for b in lin.buffers())
    np.testing.assert_array_equal(lin.steps.numpy(), [3, 4])
    np.testing.assert_array_equal(lin.mask.numpy(), [True, False])
    lin.float()
    assert lin.steps.dtype == "int64" and lin.mask.dtype == "bool" and lin.running.dtype == "float32"
    # torch: "nn.Module.to only accepts floating point or complex dtypes"
    with pytest.raises(TypeError, match="floating"):
        lin.to("int32")
    assert lin.weight.dtype == "float32" and lin.steps.dtype == "int64"


def test_to_matches_torch_for_buffers_and_grads():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(2, 2)
    ref.register_buffer("steps", torch.tensor([3, 4]))
    ref(torch.ones(1, 2)).sum().backward()
    ref.double()
    lin = nn.Linear(2, 2)
    lin.register_buffer("steps", tr.tensor([3, 4]))
    lin.load_state_dict(ref.state_dict())
    lin(tr.ones(1, 2)).sum().backward()
    lin.double()
    assert lin.steps.dtype == str(ref.steps.dtype).replace("torch.", "")
    assert str(ref.weight.grad.dtype) == "torch.float64" and lin.weight.grad.dtype == np.float64
    np.testing.assert_array_equal(_host(lin.weight.grad), ref.weight.grad.numpy())


def test_state_dict_round_trip_into_fresh_model(device):
    tr.manual_seed(0)
    net = Net().to(device)
    net.register_buffer("running", tr.tensor([1.0, 2.0, 3.0], device=device))
    state = net.state_dict()
    assert list(state) == NET_NAMES + ["running"]
    assert all(not v.requires_grad for v in state.values())

    tr.manual_seed(1)
    fresh = Net().to(device)
    fresh.register_buffer("running", tr.zeros(3, device=device))
    assert not np.allclose(fresh.fc1.weight.numpy(), net.fc1.weight.numpy())
    missing, unexpected = fresh.load_state_dict(state)
    assert missing == [] and unexpected == []
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[name].numpy())
    x = tr.randn(4, 3, device=device)
    for a, b in zip(net(x), fresh(x), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # the loaded values are copies: changing the source afterwards leaves the target alone
    _set(net.fc1.weight, np.zeros((4, 3)))
    assert np.any(fresh.fc1.weight.numpy() != 0)
    # loaded parameters are still trainable leaves
    assert all(p.requires_grad and p.is_leaf for p in fresh.parameters())


def test_load_state_dict_from_numpy_arrays():
    lin = nn.Linear(2, 3)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.array([1.0, -1.0, 0.5], dtype=np.float32)
    lin.load_state_dict({"weight": w, "bias": b})
    np.testing.assert_array_equal(lin.weight.numpy(), w)
    np.testing.assert_array_equal(lin(tr.tensor([[1.0, 2.0]])).numpy(), np.array([[1.0, 2.0]]) @ w.T + b)


def test_load_state_dict_errors():
    lin = nn.Linear(2, 3)
    good = {"weight": np.zeros((3, 2), np.float32), "bias": np.zeros(3, np.float32)}
    with pytest.raises(KeyError, match="bias"):
        lin.load_state_dict({"weight": good["weight"]})
    with pytest.raises(KeyError, match="extra"):
        lin.load_state_dict({**good, "extra": np.zeros(1, np.float32)})
    with pytest.raises(tr.ShapeError, match="weight"):
        lin.load_state_dict({"weight": np.zeros((2, 3), np.float32), "bias": good["bias"]})
    with pytest.raises(tr.ShapeError):
        lin.load_state_dict({"weight": good["weight"], "bias": np.zeros(4, np.float32)}, strict=False)
    # non-strict: report, load what matches
    w = np.ones((3, 2), np.float32)
    missing, unexpected = lin.load_state_dict({"weight": w, "extra": np.zeros(1)}, strict=False)
    assert missing == ["bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(lin.weight.numpy(), w)


def test_load_pytorch_state_dict_gives_same_outputs():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.Linear(5, 3)
    lin = nn.Linear(5, 3)
    lin.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    expected = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(lin(tr.tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_register_buffer_in_state_dict_not_parameters():
    lin = nn.Linear(2, 2)
    lin.register_buffer("mask", tr.tensor([1.0, 0.0]))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in lin.named_buffers()] == ["mask"]
    assert list(lin.state_dict()) == ["weight", "bias", "mask"]
    np.testing.assert_array_equal(lin.state_dict()["mask"].numpy(), [1.0, 0.0])
    wrapper = nn.Sequential(lin)
    assert list(wrapper.state_dict()) == ["0.weight", "0.bias", "0.mask"]
    other = nn.Sequential(nn.Linear(2, 2))
    other[0].register_buffer("mask", tr.zeros(2))
    other.load_state_dict(wrapper.state_dict())
    np.testing.assert_array_equal(other[0].mask.numpy(), [1.0, 0.0])


def test_module_call_opens_scope():
    net = Net()
    x = tr.randn(2, 3)
    with tr.scope("outer"):
        inside = net.fc1(x)
    assert inside.scope == "outer/fc1"  # a module's scope nests inside the one open at the call
    h = net.fc1(x)
    assert h.scope == "fc1"  # called on its own it is the root of its scope
    outs = net(x)
    # the multiply by `scale` happens in Net.forward itself; the heads' outputs carry their own scope
    assert outs[0].scope == "Net"
    # find the nodes inside: walk the graph back from the output
    scopes = set()
    stack, seen = [outs[0].grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        scopes.add("/".join(fn.scope))
        stack.extend(p.grad_fn for p in fn.parents)
    assert {"Net", "Net/fc1", "Net/act", "Net/body/0", "Net/body/1", "Net/heads/0"} <= scopes
    assert tr.current_scope() == ""


def test_module_list_children_scoped_by_list_name():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList([nn.Linear(2, 2)])
            self.dec = nn.ModuleList()
            self.dec.append(nn.Linear(2, 2))  # appended after the list was attached
            self.deep = nn.ModuleList([nn.ModuleList([nn.Linear(2, 2)])])

        def forward(self, x):
            return self.enc[0](x), self.dec[0](x), self.deep[0][0](x)

    m = Two()
    outs = m(tr.ones(1, 2))
    # two lists' children must not collide, and the path matches the parameter names enc.0.*, dec.0.*, deep.0.0.*
    assert [o.scope for o in outs] == ["Two/enc/0", "Two/dec/0", "Two/deep/0/0"]
    assert [n for n, _ in m.named_parameters()][::2] == ["enc.0.weight", "dec.0.weight", "deep.0.0.weight"]
    assert tr.current_scope() == ""


def test_scope_restored_after_error_in_forward():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 2)])

        def forward(self, x):
            return self.layers[0](x)

    with pytest.raises(tr.ShapeError, match="Bad/layers/0"):
        Bad()(tr.ones(1, 5))
    assert tr.current_scope() == ""


def test_module_scope_nests_inside_user_scope():
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    m = Small()
    assert m(tr.ones(1, 2)).scope == "Small/fc"
    with tr.scope("encoder"):
        assert m(tr.ones(1, 2)).scope == "encoder/Small/fc"
    assert tr.current_scope() == ""


# =================================================================================================================
# Linear
# =================================================================================================================
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("in_shape", [(4, 3), (2, 5, 3), (3,)])
def test_linear_closed_form(device, bias, in_shape):
    lin = nn.Linear(3, 6, bias=bias).to(device).double()
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3))
    b = rng.standard_normal(6)
    lin.load_state_dict({"weight": w, "bias": b} if bias else {"weight": w})
    assert (lin.bias is None) == (not bias)
    assert [n for n, _ in lin.named_parameters()] == (["weight", "bias"] if bias else ["weight"])
    x = rng.standard_normal(in_shape)
    y = lin(tr.tensor(x, device=device))
    expected = x @ w.T + (b if bias else 0.0)
    assert y.shape == expected.shape and y.dtype == "float64" and y.device == device
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_linear_gradients_closed_form(device):
    lin = nn.Linear(3, 2).to(device).double()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3))
    g = rng.standard_normal((2, 4, 2))
    xt = tr.tensor(x, requires_grad=True, device=device)
    y = lin(xt)
    (y * tr.tensor(g, device=device)).sum().backward()
    w = lin.weight.numpy()
    np.testing.assert_allclose(_host(xt.grad), g @ w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(lin.weight.grad), np.einsum("bto,bti->oi", g, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(lin.bias.grad), g.sum(axis=(0, 1)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(device, bias):
    tr.manual_seed(3)
    lin = nn.Linear(4, 3, bias=bias).to(device).double()
    x = tr.tensor(np.random.default_rng(3).standard_normal((2, 5, 4)), requires_grad=True, device=device)
    params = list(lin.parameters())
    assert all(p.dtype == "float64" for p in params)
    assert tr.gradcheck(lambda x, *ps: lin(x), [x, *params])


def test_linear_default_init_bounds():
    tr.manual_seed(4)
    lin = nn.Linear(16, 64)
    bound = 1 / math.sqrt(16)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert w.shape == (64, 16) and b.shape == (64,) and w.dtype == np.float32
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    # the bound is actually used, and the draws are spread out like a uniform (variance bound²/3)
    assert np.abs(w).max() > 0.95 * bound and np.abs(b).max() > 0.8 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.15 * bound ** 2 / 3
    assert abs(w.mean()) < 0.05 * bound


def test_linear_dtype_and_device_arguments(device):
    lin = nn.Linear(3, 2, dtype="float64", device=device)
    assert lin.weight.dtype == "float64" and lin.bias.dtype == "float64"
    assert lin.weight.device == device and lin.bias.device == device
    assert lin(tr.ones(1, 3, dtype="float64", device=device)).shape == (1, 2)


def test_linear_wrong_input_shape():
    with pytest.raises(tr.ShapeError):
        nn.Linear(3, 2)(tr.ones(4, 5))


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w, b, x = rng.standard_normal((4, 6)), rng.standard_normal(4), rng.standard_normal((3, 2, 6))
    lin = nn.Linear(6, 4).double()
    lin.load_state_dict({"weight": w, "bias": b})
    xt = tr.tensor(x, requires_grad=True)
    y = lin(xt)
    y.sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    wr, br = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    yr = torch.nn.functional.linear(xr, wr, br)
    yr.sum().backward()
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(xt.grad), xr.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(lin.weight.grad), wr.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_host(lin.bias.grad), br.grad.numpy(), rtol=1e-12, atol=1e-12)
    # the functional form too
    y2 = nn.functional.linear(tr.tensor(x), tr.tensor(w), tr.tensor(b))
    np.testing.assert_allclose(y2.numpy(), yr.detach().numpy(), rtol=1e-12, atol=1e-12)


# =================================================================================================================
# Embedding
# =================================================================================================================
def test_embedding_lookup(device):
    emb = nn.Embedding(7, 3).to(device)
    table = np.arange(21, dtype=np.float32).reshape(7, 3)
    emb.load_state_dict({"weight": table})
    idx = np.array([[0, 6, 2], [2, 2, 5]])
    out = emb(tr.tensor(idx, device=device))
    assert out.shape == (2, 3, 3) and out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), table[idx])
    np.testing.assert_array_equal(emb(tr.tensor(4, device=device)).numpy(), table[4])


def test_embedding_default_init_is_standard_normal():
    tr.manual_seed(6)
    w = nn.Embedding(1000, 50).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02


@pytest.mark.parametrize("padding_idx", [0, 3, -1])
def test_embedding_padding_idx(device, padding_idx):
    tr.manual_seed(7)
    emb = nn.Embedding(5, 4, padding_idx=padding_idx).to(device).double()
    row = padding_idx % 5
    w = emb.weight.numpy()
    np.testing.assert_array_equal(w[row], 0.0)
    assert np.all(np.delete(w, row, axis=0) != 0)
    idx = np.array([[row, 1, row], [2, row, 1]])
    g = np.random.default_rng(7).standard_normal((2, 3, 4))
    out = emb(tr.tensor(idx, device=device))
    np.testing.assert_array_equal(out.numpy()[idx == row], 0.0)
    (out * tr.tensor(g, device=device)).sum().backward()
    expected = np.zeros((5, 4))
    np.add.at(expected, idx, g)
    expected[row] = 0.0
    np.testing.assert_allclose(_host(emb.weight.grad), expected, rtol=1e-12, atol=1e-12)


def test_embedding_repeated_indices_accumulate(device):
    emb = nn.Embedding(6, 3).to(device).double()
    idx = np.array([[1, 1, 4, 1], [0, 4, 5, 1]])
    g = np.random.default_rng(8).standard_normal((2, 4, 3))
    (emb(tr.tensor(idx, device=device)) * tr.tensor(g, device=device)).sum().backward()
    expected = np.zeros((6, 3))
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(_host(emb.weight.grad), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(_host(emb.weight.grad)[[2, 3]], 0.0)


@pytest.mark.parametrize("vocab, width, rows", [(6, 16, 40), (100, 64, 3200), (3, 32, 1), (50, 16, 7)])
def test_embedding_gradient_of_wide_rows_sums_each_rows_repeats(device, vocab, width, rows):
    """Rows of 16 and more take the backend's sorted-rows sum rather than np.add.at: the same total, every row."""
    tr.manual_seed(9)
    emb = nn.Embedding(vocab, width).to(device).double()
    rng = np.random.default_rng(vocab + rows)
    idx = rng.integers(0, vocab, size=(rows,))
    g = rng.standard_normal((rows, width))
    (emb(tr.tensor(idx, device=device)) * tr.tensor(g, device=device)).sum().backward()
    expected = np.zeros((vocab, width))
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(_host(emb.weight.grad), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", [np.array([3, -1, 0, 3, -5, 4]), np.array([2, 2, 2, 2, 2, 2], dtype=np.uint8),
                                 np.array([0, 1, 2, 3, 4, 0])])
@pytest.mark.parametrize("trailing", [(16,), (4, 5), (1,), (3,)])
def test_host_index_add_matches_np_add_at(key, trailing):
    """Negative and unsigned keys, rows wide enough for the sorted sum and rows too narrow for it."""
    from tinygrad_rnn.backend import _host_index_add
    values = np.random.default_rng(len(trailing)).standard_normal(key.shape + trailing)
    expected = np.zeros((5,) + trailing)
    np.add.at(expected, key, values)
    got = _host_index_add(np.zeros((5,) + trailing), key, values)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # a key that is no 1-D integer array (a tuple of index arrays) keeps np.add.at
    pairs = (np.array([0, 0, 1]), np.array([1, 1, 0]))
    got = _host_index_add(np.zeros((2, 2)), pairs, np.ones(3))
    np.testing.assert_array_equal(got, [[0.0, 2.0], [1.0, 0.0]])


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(6, 3, padding_idx=2).double()
    emb = nn.Embedding(6, 3, padding_idx=2).double()
    emb.load_state_dict(ref.state_dict())
    idx = np.array([[2, 1, 1], [5, 2, 0]])
    g = np.random.default_rng(9).standard_normal((2, 3, 3))
    out = emb(tr.tensor(idx))
    (out * tr.tensor(g)).sum().backward()
    out_ref = ref(torch.tensor(idx))
    (out_ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(_host(emb.weight.grad), ref.weight.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_embedding_errors():
    with pytest.raises(ValueError):
        nn.Embedding(5, 2, padding_idx=5)
    emb = nn.Embedding(5, 2)
    with pytest.raises(Exception, match="embedding"):
        emb(tr.tensor([0, 5]))
    with pytest.raises(tr.DTypeError):
        emb(tr.tensor([0.0, 1.0]))


# =================================================================================================================
# Dropout
# =================================================================================================================
def test_dropout_eval_is_identity(device):
    drop = nn.Dropout(0.5).to(device)
    drop.eval()
    x = tr.randn(50, 40, device=device)
    y = drop(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    assert nn.Dropout(0.0)(x).numpy().tolist() == x.numpy().tolist()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_train_statistics_and_scaling(device, p):
    tr.manual_seed(10)
    drop = nn.Dropout(p)
    assert drop.training
    x = tr.tensor(np.random.default_rng(1234).uniform(0.5, 1.5, size=(400, 250)), device=device)
    y = drop(x).numpy()
    xs = x.numpy()
    zero = y == 0
    # 100,000 Bernoulli draws: std of the fraction < 0.0016, so ±0.01 is over 6 standard deviations
    assert abs(zero.mean() - p) < 0.01
    np.testing.assert_allclose(y[~zero], xs[~zero] / (1 - p), rtol=1e-6)
    # the mean is preserved in expectation
    assert abs(y.mean() / xs.mean() - 1.0) < 0.03


def test_dropout_p_one_zeroes_everything(device):
    y = nn.Dropout(1.0)(tr.ones(10, 10, device=device))
    assert np.all(y.numpy() == 0)


def test_dropout_same_seed_same_mask(device):
    drop = nn.Dropout(0.5)
    x = tr.ones(30, 30, device=device)
    tr.manual_seed(11)
    a = drop(x).numpy()
    b = drop(x).numpy()
    tr.manual_seed(11)
    c = drop(x).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)  # a fresh mask on every call


def test_dropout_gradient_is_the_mask(device):
    tr.manual_seed(12)
    p = 0.3
    x = tr.tensor(np.random.default_rng(1212).uniform(1.0, 2.0, size=(20, 30)), requires_grad=True, device=device)
    y = nn.Dropout(p)(x)
    g = np.random.default_rng(13).standard_normal((20, 30))
    (y * tr.tensor(g, device=device)).sum().backward()
    mask = (y.numpy() != 0) / (1 - p)
    np.testing.assert_allclose(_host(x.grad), g * mask, rtol=1e-12, atol=1e-12)


def test_dropout_invalid_p():
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        nn.Dropout(-0.1)


# =================================================================================================================
# init
# =================================================================================================================
@pytest.mark.parametrize("shape", [(6, 6), (3, 8), (8, 3), (4, 2, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(device, shape, gain):
    tr.manual_seed(14)
    t = tr.zeros(*shape, dtype="float64", device=device)
    assert nn.init.orthogonal_(t, gain=gain) is t
    assert t.shape == shape and t.dtype == "float64" and t.device == device
    w = t.numpy().reshape(shape[0], -1)
    rows, cols = w.shape
    if rows <= cols:  # square or wide: orthonormal rows
        np.testing.assert_allclose(w @ w.T, gain ** 2 * np.eye(rows), atol=1e-10)
    if rows >= cols:  # square or tall: orthonormal columns
        np.testing.assert_allclose(w.T @ w, gain ** 2 * np.eye(cols), atol=1e-10)


def test_orthogonal_float32_and_needs_2d():
    w = nn.init.orthogonal_(tr.zeros(5, 5)).numpy()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, np.eye(5), atol=1e-5)
    with pytest.raises(ValueError):
        nn.init.orthogonal_(tr.zeros(5))


def test_orthogonal_is_not_always_the_same_matrix():
    tr.manual_seed(15)
    a = nn.init.orthogonal_(tr.zeros(4, 4)).numpy()
    b = nn.init.orthogonal_(tr.zeros(4, 4)).numpy()
    assert not np.allclose(a, b) and not np.allclose(np.abs(a), np.eye(4))


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier_uniform_bounds(device, gain):
    tr.manual_seed(16)
    t = nn.init.xavier_uniform_(tr.zeros(60, 40, device=device), gain=gain)
    w = t.numpy()
    bound = gain * math.sqrt(6.0 / (60 + 40))
    assert np.all(np.abs(w) <= bound + 1e-7)
    assert np.abs(w).max() > 0.98 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.1 * bound ** 2 / 3


def test_xavier_normal_std():
    tr.manual_seed(17)
    w = nn.init.xavier_normal_(tr.zeros(300, 200)).numpy()
    assert abs(w.std() - math.sqrt(2.0 / 500)) < 0.03 * math.sqrt(2.0 / 500)
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(tr.zeros(5))


def test_normal_mean_std(device):
    tr.manual_seed(18)
    t = tr.zeros(200, 500, device=device)
    assert nn.init.normal_(t, mean=2.0, std=0.5) is t
    w = t.numpy()
    assert w.dtype == np.float32
    # 100,000 draws: standard error of the mean 0.0016, of the std about 0.0011
    assert abs(w.mean() - 2.0) < 0.01 and abs(w.std() - 0.5) < 0.01


def test_uniform_range(device):
    tr.manual_seed(19)
    w = nn.init.uniform_(tr.zeros(100, 100, dtype="float64", device=device), -3.0, 1.0).numpy()
    assert w.min() >= -3.0 and w.max() <= 1.0 and w.min() < -2.95 and w.max() > 0.95
    assert abs(w.mean() + 1.0) < 0.05


def test_constant_zeros_ones(device):
    t = tr.randn(3, 4, dtype="float64", device=device)
    assert nn.init.constant_(t, 0.25) is t
    np.testing.assert_array_equal(t.numpy(), np.full((3, 4), 0.25))
    assert t.dtype == "float64" and t.device == device
    nn.init.zeros_(t)
    np.testing.assert_array_equal(t.numpy(), np.zeros((3, 4)))
    nn.init.ones_(t)
    np.testing.assert_array_equal(t.numpy(), np.ones((3, 4)))
    p = nn.Linear(2, 3).to(device).bias
    nn.init.constant_(p, -1.5)
    assert p.dtype == "float32" and np.all(p.numpy() == -1.5) and p.requires_grad


def test_manual_seed_reproducible_initialisation(device):
    def build():
        net = Net().to(device)
        extra = nn.init.orthogonal_(tr.zeros(4, 4, device=device)).numpy()
        return [p.numpy() for p in net.parameters()] + [extra]

    tr.manual_seed(20)
    a = build()
    tr.manual_seed(20)
    b = build()
    tr.manual_seed(21)
    c = build()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])


def test_manual_seed_reproducible_on_device(device):
    tr.manual_seed(22)
    a = nn.init.normal_(tr.zeros(5, 5, device=device)).numpy()
    tr.manual_seed(22)
    b = nn.init.normal_(tr.zeros(5, 5, device=device)).numpy()
    np.testing.assert_array_equal(a, b)


def test_functional_namespace():
    assert nn.functional.relu(tr.tensor([-1.0, 2.0])).numpy().tolist() == [0.0, 2.0]
    assert nn.utils.clip_grad_norm_ is tr.optim.clip_grad_norm_
    assert nn.utils.clip_grad_value_ is tr.optim.clip_grad_value_
