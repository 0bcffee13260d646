"""Every op in ``tinygrad_rnn.ops``: forward values against NumPy (or closed form) and backward against central finite
differences (``tr.gradcheck``, float64), on shapes drawn by hypothesis, broadcasting included, on every ``device``.

Values are kept away from the points where an op is not differentiable (abs/relu at 0, ties of max/maximum/minimum,
log/sqrt/pow of non-positives), where finite differences and any subgradient legitimately disagree; the tie rules
themselves get closed-form tests.
"""
from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn as tr

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


# -- helpers --------------------------------------------------------------------------------------------------------
def leaf(values, device, requires_grad=True) -> tr.Tensor:
    return tr.tensor(np.asarray(values, dtype=np.float64), dtype="float64", device=device, requires_grad=requires_grad)


def check(fn, *inputs) -> None:
    assert tr.gradcheck(fn, list(inputs))


def close(tensor, expected, rtol=1e-10, atol=1e-12) -> None:
    got = tensor.numpy() if isinstance(tensor, tr.Tensor) else np.asarray(tensor)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def grad_of(t: tr.Tensor) -> np.ndarray:
    assert t.grad is not None
    return t.backend.to_numpy(t.grad)


def away_from_zero(rng, shape, low=0.2, high=2.0) -> np.ndarray:
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


def distinct(rng, shape) -> np.ndarray:
    """Values at least 0.1 apart from each other (no ties for max), in random order."""
    n = math.prod(shape)
    values = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(0, 0.01)
    return values.reshape(shape)


def axes_strategy(ndim: int):
    """``None``, one int (possibly negative) or a non-empty tuple of distinct axes (possibly negative)."""
    if ndim == 0:
        return st.none()
    one = st.integers(-ndim, ndim - 1)
    many = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda d: d % ndim).map(tuple)
    return st.one_of(st.none(), one, many)


# -- elementwise binary, with broadcasting -----------------------------------------------------------------------------
BINARY = {
    "add": (tr.add, np.add),
    "sub": (tr.sub, np.subtract),
    "mul": (tr.mul, np.multiply),
    "div": (tr.div, np.divide),
    "maximum": (tr.maximum, np.maximum),
    "minimum": (tr.minimum, np.minimum),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), seed=seeds,
       which=st.sampled_from(["both", "a", "b"]))
def test_binary_broadcasting(device, name, shapes, seed, which):
    op, reference = BINARY[name]
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    if name in ("maximum", "minimum"):  # two grids offset by 0.25: no ties anywhere after broadcasting
        a = rng.integers(-4, 4, size=shape_a) * 0.5 + 0.25
        b = rng.integers(-4, 4, size=shape_b) * 0.5
    else:
        a = rng.standard_normal(shape_a)
        b = away_from_zero(rng, shape_b, 0.5, 2.0) if name == "div" else rng.standard_normal(shape_b)
    ta, tb = leaf(a, device, which in ("both", "a")), leaf(b, device, which in ("both", "b"))
    out = op(ta, tb)
    assert out.shape == shapes.result_shape
    close(out, reference(a, b))
    check(op, ta, tb)


@pytest.mark.parametrize("op, grad_a, grad_b", [
    (tr.maximum, [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]),
    (tr.minimum, [0.5, 0.0, 1.0], [0.5, 1.0, 0.0]),
])
def test_maximum_minimum_split_ties_evenly(device, op, grad_a, grad_b):
    a, b = leaf([1.0, 2.0, 3.0], device), leaf([1.0, 0.0, 5.0], device)
    op(a, b).sum().backward()
    close(grad_of(a), grad_a)
    close(grad_of(b), grad_b)


# -- elementwise unary ------------------------------------------------------------------------------------------------
UNARY = {
    "neg": (tr.neg, np.negative, "any"),
    "exp": (tr.exp, np.exp, "any"),
    "log": (tr.log, np.log, "positive"),
    "sqrt": (tr.sqrt, np.sqrt, "positive"),
    "tanh": (tr.tanh, np.tanh, "any"),
    "sigmoid": (tr.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), "any"),
    "relu": (tr.relu, lambda x: np.maximum(x, 0.0), "nonzero"),
    "abs": (tr.abs, np.abs, "nonzero"),
}


def _unary_values(rng, shape, domain):
    if domain == "positive":
        return rng.uniform(0.3, 3.0, size=shape)
    if domain == "nonzero":
        return away_from_zero(rng, shape)
    return rng.standard_normal(shape) * 1.5


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(device, name, shape, seed):
    op, reference, domain = UNARY[name]
    x = _unary_values(np.random.default_rng(seed), shape, domain)
    t = leaf(x, device)
    close(op(t), reference(x), rtol=1e-9)
    check(op, t)


@pytest.mark.parametrize("name", ["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs"])
def test_unary_method_matches_function(device, name):
    x = leaf([0.5, 1.5, 2.5], device)
    close(getattr(x, name)() if name != "neg" else -x, UNARY[name][0](x).numpy())


def test_sigmoid_saturates_without_overflow(device):
    x = leaf([-800.0, -50.0, 0.0, 50.0, 800.0], device)
    y = tr.sigmoid(x)
    y.sum().backward()
    close(y, [0.0, 1.0 / (1.0 + math.exp(50.0)), 0.5, 1.0 / (1.0 + math.exp(-50.0)), 1.0], atol=1e-15)
    assert np.all(np.isfinite(grad_of(x)))
    close(grad_of(x)[2], 0.25)


@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3, 1, 0, -1, 0.5, 1.5, -2.5]))
def test_pow_scalar_exponent_on_positives(device, shape, seed, exponent):
    x = np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)
    t = leaf(x, device)
    close(tr.pow(t, exponent), x ** exponent)
    close(t ** exponent, x ** exponent)
    check(lambda a: a ** exponent, t)


@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3, 4]))
def test_pow_integer_exponent_on_negatives(device, shape, seed, exponent):
    x = away_from_zero(np.random.default_rng(seed), shape)
    t = leaf(x, device)
    close(t.pow(exponent), x ** exponent)
    check(lambda a: tr.pow(a, exponent), t)


# -- Python scalars, dtypes, operators ---------------------------------------------------------------------------------
SCALAR_CASES = [
    ("x * 2", lambda x: x * 2, lambda x: x * 2, lambda x: 2 + 0 * x),
    ("2 * x", lambda x: 2 * x, lambda x: 2 * x, lambda x: 2 + 0 * x),
    ("x + 1.5", lambda x: x + 1.5, lambda x: x + 1.5, lambda x: 1 + 0 * x),
    ("1.5 + x", lambda x: 1.5 + x, lambda x: 1.5 + x, lambda x: 1 + 0 * x),
    ("x - 1", lambda x: x - 1, lambda x: x - 1, lambda x: 1 + 0 * x),
    ("2 - x", lambda x: 2 - x, lambda x: 2 - x, lambda x: -1 + 0 * x),
    ("x / 4", lambda x: x / 4, lambda x: x / 4, lambda x: 0.25 + 0 * x),
    ("1 / x", lambda x: 1 / x, lambda x: 1 / x, lambda x: -1 / x ** 2),
    ("3.0 / x", lambda x: 3.0 / x, lambda x: 3.0 / x, lambda x: -3.0 / x ** 2),
    ("x ** 2", lambda x: x ** 2, lambda x: x ** 2, lambda x: 2 * x),
    ("maximum(x, 0.7)", lambda x: tr.maximum(x, 0.7), lambda x: np.maximum(x, 0.7), lambda x: (x > 0.7) * 1.0),
    ("minimum(1, x)", lambda x: tr.minimum(1, x), lambda x: np.minimum(1, x), lambda x: (x < 1) * 1.0),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("label, fn, value, derivative", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_python_scalar_operands(device, dtype, label, fn, value, derivative):
    x = np.array([0.5, 1.25, 2.0, -1.5], dtype=dtype)
    t = tr.tensor(x, requires_grad=True, device=device)
    out = fn(t)
    assert out.dtype == dtype, f"{label} turned {dtype} into {out.dtype}"
    close(out, value(x.astype(np.float64)), rtol=1e-6 if dtype == "float32" else 1e-12)
    out.sum().backward()
    assert t.backend.dtype_name(t.grad) == dtype
    close(grad_of(t), derivative(x.astype(np.float64)), rtol=1e-6 if dtype == "float32" else 1e-12)


def test_python_scalar_gradcheck(device):
    x = leaf([0.5, 1.25, 2.0], device)
    check(lambda a: (2 - a) * 3 + 1 / a - a / 2 + 0.5 ** 2, x)


def test_integer_tensor_with_int_scalar_stays_integer(device):
    t = tr.tensor([1, 2, 3], device=device)
    assert (t * 2).dtype == "int64"
    assert (t * 2).tolist() == [2, 4, 6]


def test_float32_is_the_default(device):
    assert tr.tensor([1.0, 2.0], device=device).dtype == "float32"
    assert tr.tensor(1.5, device=device).dtype == "float32"
    assert tr.tensor([[1, 2]], device=device).dtype == "int64"
    assert tr.tensor(np.zeros(2), device=device).dtype == "float64"  # an array keeps its dtype, as torch.tensor does
    assert tr.zeros(2, 3, device=device).dtype == "float32"
    assert tr.randn(2, device=device).dtype == "float32"


FLOAT32_OPS = [
    ("add", lambda x, w: x + w), ("sub", lambda x, w: x - 0.5), ("mul", lambda x, w: x * 0.5),
    ("div", lambda x, w: x / (w.abs() + 1)), ("pow", lambda x, w: x ** 2),
    ("pow_half", lambda x, w: (x.abs() + 1) ** 0.5),
    ("exp", lambda x, w: x.exp()), ("log", lambda x, w: (x.abs() + 1).log()),
    ("sqrt", lambda x, w: (x.abs() + 1).sqrt()),
    ("tanh", lambda x, w: x.tanh()), ("sigmoid", lambda x, w: x.sigmoid()), ("relu", lambda x, w: x.relu()),
    ("maximum", lambda x, w: tr.maximum(x, w)), ("where", lambda x, w: tr.where(x > 0, x, 0.0)),
    ("matmul", lambda x, w: x @ w.T), ("linear", lambda x, w: tr.linear(x, w, w[:, 0])),
    ("sum", lambda x, w: x.sum(0)), ("mean", lambda x, w: x.mean()), ("max", lambda x, w: x.max(1).values),
    ("amin", lambda x, w: x.amin(1)),
    ("softmax", lambda x, w: x.softmax(-1)), ("log_softmax", lambda x, w: x.log_softmax(-1)),
    ("cross_entropy", lambda x, w: tr.cross_entropy(x, tr.tensor([0, 2], device=x.device))),
    ("mse_loss", lambda x, w: tr.mse_loss(x, w)), ("dropout", lambda x, w: tr.dropout(x, 0.5)),
    ("getitem", lambda x, w: x[1:, [0, 0]]), ("concat", lambda x, w: tr.concat([x, w], 1)),
    ("stack", lambda x, w: tr.stack([x, w])), ("split", lambda x, w: tr.split(x, 2, 1)[0]),
    ("reshape", lambda x, w: x.reshape(-1)), ("permute", lambda x, w: x.T),
    ("embedding", lambda x, w: tr.embedding(tr.tensor([1, 0], device=x.device), w)),
]


@pytest.mark.parametrize("label, fn", FLOAT32_OPS, ids=[c[0] for c in FLOAT32_OPS])
def test_float32_stays_float32(device, label, fn):
    rng = np.random.default_rng(0)
    x = tr.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True, device=device)
    w = tr.tensor(rng.standard_normal((2, 3)).astype(np.float32) + 3.0, requires_grad=True, device=device)
    out = fn(x, w)
    assert out.dtype == "float32", f"{label} gave {out.dtype}"
    out.sum().backward()
    for t in (x, w):
        if t.grad is not None:
            assert t.backend.dtype_name(t.grad) == "float32", f"{label}: gradient is {t.backend.dtype_name(t.grad)}"


def test_operators_map_to_ops(device):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (2, 3))
    m = rng.standard_normal((3, 4))
    x, y, w = leaf(a, device), leaf(b, device), leaf(m, device)
    cases = [
        (x + y, "add", a + b), (x - y, "sub", a - b), (x * y, "mul", a * b), (x / y, "div", a / b),
        (-x, "neg", -a), (x ** 2, "pow", a ** 2), (x @ w, "matmul", a @ m), (x[1], "getitem", a[1]),
        (x[..., ::2], "getitem", a[..., ::2]), (x[:, [2, 0, 2]], "getitem", a[:, [2, 0, 2]]), (abs(-x), "abs", a),
        (x.T, "permute", a.T), (x.sum(), "sum", a.sum()), (x.amax(0), "max", a.max(0)),
    ]
    for out, label, expected in cases:
        assert out.grad_fn is not None and out.grad_fn.op_label() == label, (label, out.grad_fn)
        close(out, expected)
    assert tr.cat is tr.concat
    lt = x < y
    assert lt.dtype == "bool" and not lt.requires_grad and lt.tolist() == (a < b).tolist()
    assert (x >= 1.0).tolist() == (a >= 1.0).tolist()


def test_operators_gradcheck(device):
    rng = np.random.default_rng(2)
    x, y = leaf(rng.uniform(0.5, 2.0, (2, 3)), device), leaf(rng.uniform(0.5, 2.0, (3,)), device)
    m = leaf(rng.standard_normal((3, 2)), device)
    check(lambda x, y, m: ((x + y) * (x - y) / y - x ** 3) @ m + (-x)[:, :2] + abs(x[1]) @ m, x, y, m)


def test_accumulates_gradient_of_reused_input(device):
    x = leaf([1.0, -2.0, 3.0], device)
    (x * x + x).sum().backward()
    close(grad_of(x), [3.0, -3.0, 7.0])


# -- matmul ------------------------------------------------------------------------------------------------------------
MATMUL_KINDS = ["1x1", "2x2", "1x2", "2x1", "bxb", "1xb", "bx1", "2xb", "bx2"]


@pytest.mark.parametrize("kind", MATMUL_KINDS)
@given(m=st.integers(1, 3), k=st.integers(1, 4), n=st.integers(1, 3), seed=seeds,
       batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=2, max_side=3),
       which=st.sampled_from(["both", "a", "b"]))
def test_matmul(device, kind, m, k, n, batch, seed, which):
    rng = np.random.default_rng(seed)
    batch_a, batch_b = batch.input_shapes
    left, right = kind.split("x")
    shape_a = {"1": (k,), "2": (m, k), "b": batch_a + (m, k)}[left]
    shape_b = {"1": (k,), "2": (k, n), "b": batch_b + (k, n)}[right]
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    ta, tb = leaf(a, device, which in ("both", "a")), leaf(b, device, which in ("both", "b"))
    close(tr.matmul(ta, tb), np.matmul(a, b))
    check(tr.matmul, ta, tb)


# (a shape, b shape, which input's gradient contracts a length-1 axis): attention's context (B, 1, S) @ (B, S, D)
# sends its memory an outer product, a score column (.., N = 1) its input one; the stack case is folded to 2-D
LENGTH_ONE_CONTRACTIONS = [((4, 1, 3), (4, 3, 5), "b"), ((4, 2, 3), (4, 3, 1), "a"), ((3, 4), (4, 1), "a"),
                           ((2, 3, 4), (4, 1), "a"), ((1, 4), (3, 4, 2), "b")]


@pytest.mark.parametrize("sa, sb, which", LENGTH_ONE_CONTRACTIONS)
def test_matmul_gradients_that_contract_a_length_one_axis_are_numpys_products_exactly(device, sa, sb, which):
    """Those gradients are broadcast products instead of BLAS calls: the same values as NumPy's matmul, exactly."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    g = rng.standard_normal(np.matmul(a, b).shape).astype(np.float32)
    ta, tb = (tr.tensor(v, requires_grad=True, device=device) for v in (a, b))
    (tr.matmul(ta, tb) * tr.tensor(g, device=device)).sum().backward()
    if which == "a":
        want, got = np.matmul(g, np.swapaxes(b, -1, -2)), grad_of(ta)
    else:
        want, got = np.matmul(np.swapaxes(a, -1, -2), g), grad_of(tb)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n_in, n_out", [(3, 1), (1, 4)])
def test_linear_with_one_input_or_output_feature_is_numpys_product_exactly(device, n_in, n_out):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 5, n_in)).astype(np.float32), rng.standard_normal((n_out, n_in)).astype(np.float32)
    g = rng.standard_normal((2, 5, n_out)).astype(np.float32)
    tx, tw = (tr.tensor(v, requires_grad=True, device=device) for v in (x, w))
    out = tr.linear(tx, tw)
    (out * tr.tensor(g, device=device)).sum().backward()
    # the product that contracts the length-1 axis: the forward's for one input feature, the input gradient's for one
    # output feature (the other is an ordinary GEMM, whose sums NumPy's stacked matmul may order differently)
    got, want = (out.numpy(), np.matmul(x, w.T)) if n_in == 1 else (grad_of(tx), np.matmul(g, w))
    np.testing.assert_array_equal(got, want)


# -- reductions --------------------------------------------------------------------------------------------------------
REDUCTIONS = {"sum": (tr.sum, np.sum), "mean": (tr.mean, np.mean), "amax": (tr.amax, np.max), "amin": (tr.amin, np.min)}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data=st.data())
def test_reductions(device, name, shape, seed, keepdim, data):
    op, reference = REDUCTIONS[name]
    dim = data.draw(axes_strategy(len(shape)), label="dim")
    x = distinct(np.random.default_rng(seed), shape)
    t = leaf(x, device)
    close(op(t, dim, keepdim), reference(x, axis=dim, keepdims=keepdim))
    close(getattr(t, name)(dim=dim, keepdim=keepdim), reference(x, axis=dim, keepdims=keepdim))
    check(lambda a: op(a, dim, keepdim), t)


@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data=st.data())
def test_argmax(device, shape, seed, keepdim, data):
    dim = data.draw(st.none() if not shape else st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)),
                    label="dim")
    x = distinct(np.random.default_rng(seed), shape)
    t = leaf(x, device)
    for got in (tr.argmax(t, dim, keepdim), t.argmax(dim=dim, keepdim=keepdim)):
        assert got.dtype == "int64" and not got.requires_grad and got.grad_fn is None
        expected = np.argmax(x, axis=dim, keepdims=keepdim)
        assert got.shape == expected.shape and got.numpy().tolist() == expected.tolist()


def test_argmax_takes_the_first_of_ties_and_stays_outside_the_graph(device):
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0]], device)
    assert tr.argmax(x, dim=1).tolist() == [1, 0, 2]
    assert tr.argmax(x).tolist() == 8 and tr.argmax(x, dim=0, keepdim=True).tolist() == [[1, 0, 2]]
    assert tr.argmax(tr.tensor([4, 9, 9, 1], device=device)).item() == 1  # integer tensors too
    (x * tr.argmax(x, dim=1, keepdim=True).to("float64")).sum().backward()  # an index is a constant factor
    close(grad_of(x), [[1.0] * 3, [0.0] * 3, [2.0] * 3])
    with pytest.raises(ValueError, match="empty"):
        tr.argmax(tr.zeros(0, 3, device=device))
    with pytest.raises(tr.IndexRangeError, match="argmax: dim 2"):
        tr.argmax(x, dim=2)


def test_max_splits_gradient_between_ties(device):
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device)
    x.amax(dim=1).sum().backward()
    close(grad_of(x), [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = leaf([[1.0, 3.0], [3.0, 0.0]], device)
    y.max().backward()
    close(grad_of(y), [[0.0, 0.5], [0.5, 0.0]])


def test_mean_gradient_is_one_over_count(device):
    x = leaf(np.ones((2, 3, 4)), device)
    x.mean(dim=(0, 2)).sum().backward()
    close(grad_of(x), np.full((2, 3, 4), 1 / 8))


# -- shape ops ---------------------------------------------------------------------------------------------------------
@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape(device, shape, seed, data):
    n = math.prod(shape)
    targets = [(-1,), (n,), tuple(reversed(shape)), (1,) + shape + (1,), (n, 1), (1, -1)]
    if len(shape) >= 2:
        targets += [(shape[0], -1), (-1, shape[-1])]
    target = data.draw(st.sampled_from(targets), label="target")
    x = np.random.default_rng(seed).standard_normal(shape)
    t = leaf(x, device)
    close(tr.reshape(t, target), x.reshape(target))
    close(t.reshape(*target), x.reshape(target))
    close(t.view(target), x.reshape(target))
    close(t.flatten(), x.reshape(-1))
    check(lambda a: tr.reshape(a, target), t)
    check(lambda a: a.reshape(*target) * 2, t)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), seed=seeds, data=st.data())
def test_permute_and_transpose(device, shape, seed, data):
    ndim = len(shape)
    dims = tuple(data.draw(st.permutations(range(ndim)), label="dims"))
    d0 = data.draw(st.integers(-ndim, ndim - 1), label="dim0")
    d1 = data.draw(st.integers(-ndim, ndim - 1), label="dim1")
    x = np.random.default_rng(seed).standard_normal(shape)
    t = leaf(x, device)
    close(tr.permute(t, *dims), np.transpose(x, dims))
    close(t.permute(dims), np.transpose(x, dims))
    close(tr.transpose(t, d0, d1), np.swapaxes(x, d0, d1))
    close(t.T, x.T)
    check(lambda a: tr.permute(a, *dims), t)
    check(lambda a: tr.transpose(a, d0, d1), t)
    if ndim >= 2:
        close(t.transpose(), np.swapaxes(x, -2, -1))
        check(lambda a: a.transpose() * a.transpose(), t)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), seed=seeds, data=st.data())
def test_basic_indexing(device, shape, seed, data):
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True), label="index")
    x = np.random.default_rng(seed).standard_normal(shape)
    t = leaf(x, device)
    close(t[index], x[index])
    check(lambda a: a[index], t)


def test_slicing_gradient_closed_form(device):
    x = leaf(np.arange(12.0).reshape(3, 4), device)
    (x[1:, ::2] * 2).sum().backward()
    close(grad_of(x), [[0, 0, 0, 0], [2, 0, 2, 0], [2, 0, 2, 0]])


INDEX_FORMS = ["first", "second", "last", "2d", "tensor", "pair", "int_and_array", "negative"]


@pytest.mark.parametrize("form", INDEX_FORMS)
@given(shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), seed=seeds,
       count=st.integers(1, 6))
def test_integer_array_indexing(device, form, shape, seed, count):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    t = leaf(x, device)
    first = rng.integers(0, shape[0], size=count)
    first[-1] = first[0]  # at least one repeated index (when count > 1): its gradients must add up
    second = rng.integers(0, shape[1], size=count)
    if form == "first":
        key, np_key = first.tolist(), first
    elif form == "second":
        key, np_key = (slice(None), second.tolist()), (slice(None), second)
    elif form == "last":
        last = rng.integers(0, shape[-1], size=count)
        key, np_key = (Ellipsis, last.tolist()), (Ellipsis, last)
    elif form == "2d":
        block = rng.integers(0, shape[0], size=(2, count))
        key, np_key = block, block
    elif form == "tensor":
        key, np_key = tr.tensor(first, device=device), first
    elif form == "pair":
        key, np_key = (first.tolist(), second.tolist()), (first, second)
    elif form == "int_and_array":
        key, np_key = (0, second.tolist()), (0, second)
    else:  # negative indices count from the end
        neg = first - shape[0]
        key, np_key = neg.tolist(), neg
    close(t[key], x[np_key])
    check(lambda a: a[key], t)


MIXED_KEYS = [
    ("two_arrays_broadcast", (slice(None), [[0], [2]], [1, 3]), True),
    ("arrays_after_ellipsis", (Ellipsis, [1, 1], [0, 3]), True),
    ("scalar_array_and_list", (np.int64(1), [0, 2, 2]), True),
    ("slice_then_array", (slice(1, None), slice(None), [3, 0, 3]), True),
    ("arrays_apart", ([0, 1], slice(None), [1, 3]), False),  # NumPy moves the indexed axes first
    ("int_and_array_apart", (1, slice(None), [0, 0]), False),
]


@pytest.mark.parametrize("label, key, standard", MIXED_KEYS, ids=[k[0] for k in MIXED_KEYS])
def test_mixed_advanced_indexing(device, label, key, standard):
    if not standard and device == "array_api_strict":
        pytest.skip("the Array API standard has no index arrays separated by slices (NumPy and CuPy have)")
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    t = leaf(x, device)
    close(t[key], x[key])
    check(lambda a: a[key], t)


def test_repeated_index_gradient_accumulates(device):
    x = leaf([10.0, 20.0, 30.0], device)
    x[[0, 0, 2, 0]].sum().backward()
    close(grad_of(x), [3.0, 0.0, 1.0])
    y = leaf(np.zeros((2, 3)), device)
    (y[:, [1, 1]] * leaf([[1.0, 2.0], [3.0, 4.0]], device, False)).sum().backward()
    close(grad_of(y), [[0.0, 3.0, 0.0], [0.0, 7.0, 0.0]])


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, full=st.booleans())
def test_boolean_mask_indexing(device, shape, seed, full):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = rng.random(shape if full else shape[:1]) < 0.5
    t = leaf(x, device)
    close(t[tr.tensor(mask, device=device)], x[mask])
    close(t[mask], x[mask])  # a host mask works too
    check(lambda a: a[tr.tensor(mask, device=device)], t)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), count=st.integers(1, 3), seed=seeds,
       data=st.data())
def test_concat(device, shape, count, seed, data):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    lengths = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count), label="lengths")
    rng = np.random.default_rng(seed)
    arrays = []
    for n in lengths:
        s = list(shape)
        s[dim] = n
        arrays.append(rng.standard_normal(s))
    tensors = [leaf(a, device) for a in arrays]
    close(tr.concat(tensors, dim), np.concatenate(arrays, axis=dim))
    close(tr.cat(tensors, dim=dim), np.concatenate(arrays, axis=dim))
    check(lambda *ts: tr.concat(list(ts), dim), *tensors)


@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), count=st.integers(1, 3), seed=seeds,
       data=st.data())
def test_stack(device, shape, count, seed, data):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for _ in range(count)]
    tensors = [leaf(a, device) for a in arrays]
    close(tr.stack(tensors, dim), np.stack(arrays, axis=dim))
    check(lambda *ts: tr.stack(ts, dim=dim), *tensors)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), seed=seeds, data=st.data())
def test_split(device, shape, seed, data):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    length = shape[dim]
    if data.draw(st.booleans(), label="by_size"):
        spec = data.draw(st.integers(1, length + 1), label="split_size")
        bounds = list(range(spec, length, spec))
    else:
        bounds = sorted(data.draw(st.lists(st.integers(0, length), max_size=3), label="cuts"))
        spec = [b - a for a, b in zip([0] + bounds, bounds + [length], strict=True)]  # may hold empty pieces
    x = np.random.default_rng(seed).standard_normal(shape)
    expected = np.split(x, bounds, axis=dim)
    t = leaf(x, device)
    pieces = tr.split(t, spec, dim)
    assert isinstance(pieces, tuple) and len(pieces) == len(expected)
    for piece, want in zip(pieces, expected, strict=True):
        close(piece, want)
    method = t.split(spec, dim=dim)
    assert len(method) == len(expected)
    used = data.draw(st.lists(st.integers(0, len(expected) - 1), min_size=1, unique=True), label="used")
    check(lambda a: tr.split(a, spec, dim), t)  # every output used
    check(lambda a: tuple(tr.split(a, spec, dim)[i] for i in used), t)  # only some outputs used


def test_split_only_some_outputs_used_closed_form(device):
    x = leaf(np.arange(6.0), device)
    _, b, _ = tr.split(x, 2)
    (b * 3).sum().backward()  # a and c get no gradient from anywhere: their slices of x.grad are zero
    close(grad_of(x), [0.0, 0.0, 3.0, 3.0, 0.0, 0.0])
    y = leaf(np.arange(6.0), device)
    p, q, r = tr.split(y, [1, 3, 2])
    (p.sum() * 2 + r.sum()).backward()
    close(grad_of(y), [2.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    z = leaf(np.arange(6.0), device)
    p, q = tr.chunk(z, 2)
    (q * q).sum().backward()
    close(grad_of(z), [0.0, 0.0, 0.0, 6.0, 8.0, 10.0])


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), chunks=st.integers(1, 4), seed=seeds,
       data=st.data())
def test_chunk(device, shape, chunks, seed, data):
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    length = shape[dim]
    size = -(-length // chunks)  # torch.chunk: pieces of ceil(length / chunks), the last may be smaller
    x = np.random.default_rng(seed).standard_normal(shape)
    expected = np.split(x, list(range(size, length, size)), axis=dim)
    t = leaf(x, device)
    pieces = tr.chunk(t, chunks, dim)
    assert len(pieces) == len(expected) <= chunks
    for piece, want in zip(pieces, expected, strict=True):
        close(piece, want)
    assert len(t.chunk(chunks, dim=dim)) == len(expected)
    check(lambda a: tr.chunk(a, chunks, dim), t)
    check(lambda a: tr.chunk(a, chunks, dim)[-1], t)


# -- where ------------------------------------------------------------------------------------------------------------
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_where(device, shapes, seed):
    rng = np.random.default_rng(seed)
    shape_c, shape_a, shape_b = shapes.input_shapes
    cond = rng.random(shape_c) < 0.5
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    ta, tb, tc = leaf(a, device), leaf(b, device), tr.tensor(cond, device=device)
    assert tc.dtype == "bool"
    close(tr.where(tc, ta, tb), np.where(cond, a, b))
    close(tr.where(cond, ta, tb), np.where(cond, a, b))  # a host array as the condition
    check(lambda a, b: tr.where(tc, a, b), ta, tb)


def test_where_with_scalars_and_comparisons(device):
    x = leaf([-1.0, 2.0, -3.0, 4.0], device)
    y = tr.where(x > 0, x, 0.0)
    close(y, [0.0, 2.0, 0.0, 4.0])
    z = tr.where(x < 0, 1.5, x * x)
    close(z, [1.5, 4.0, 1.5, 16.0])
    (y + z).sum().backward()
    close(grad_of(x), [0.0, 1.0 + 4.0, 0.0, 1.0 + 8.0])
    check(lambda a: tr.where(a > 0, a * 3, -a), x)


# -- embedding ---------------------------------------------------------------------------------------------------------
@given(vocab=st.integers(1, 5), dim=st.integers(1, 4), index_shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
       seed=seeds)
def test_embedding(device, vocab, dim, index_shape, seed):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((vocab, dim))
    idx = rng.integers(0, vocab, size=index_shape)
    if idx.size > 1:
        idx.reshape(-1)[-1] = idx.reshape(-1)[0]  # a repeated row: its gradients must add up
    w = leaf(weight, device)
    indices = tr.tensor(idx, device=device)
    close(tr.embedding(indices, w), weight[idx])
    close(tr.embedding(idx.tolist(), w), weight[idx])
    check(lambda w: tr.embedding(indices, w), w)


@pytest.mark.parametrize("padding_idx", [0, 2, -1])
def test_embedding_padding_idx_gets_no_gradient(device, padding_idx):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((4, 3))
    idx = np.array([[0, 2, 2], [3, 1, 0]])
    upstream = rng.standard_normal((2, 3, 3))
    w = leaf(weight, device)
    out = tr.embedding(tr.tensor(idx, device=device), w, padding_idx=padding_idx)
    close(out, weight[idx])  # the padding row is still looked up as stored, as in PyTorch
    (out * leaf(upstream, device, False)).sum().backward()
    expected = np.zeros_like(weight)
    np.add.at(expected, idx, upstream)
    expected[padding_idx] = 0.0
    close(grad_of(w), expected)
    assert np.all(grad_of(w)[padding_idx] == 0.0)


# -- softmax family ----------------------------------------------------------------------------------------------------
def _np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds, data=st.data())
def test_softmax_family(device, name, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    expected = _np_log_softmax(x, dim)
    if name == "softmax":
        expected = np.exp(expected)
    t = leaf(x, device)
    op = getattr(tr, name)
    close(op(t, dim), expected)
    close(getattr(t, name)(dim), expected)
    check(lambda a: op(a, dim), t)


def test_softmax_is_stable_for_large_logits(device):
    x = leaf([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], device)
    close(tr.softmax(x, -1), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    close(tr.log_softmax(x, -1), [[0.0, -1000.0, -2000.0], [-math.log(3)] * 3])
    check(lambda a: tr.log_softmax(a, 1) * tr.softmax(a, 1), x)


# -- cross_entropy -----------------------------------------------------------------------------------------------------
def _np_cross_entropy(x, target, ignore_index, reduction):
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    rows = x[None] if x.ndim == 1 else np.moveaxis(x, 1, -1).reshape(-1, classes)
    flat = np.asarray(target).reshape(-1)
    valid = flat != ignore_index
    lsm = _np_log_softmax(rows, 1)
    losses = np.where(valid, -lsm[np.arange(len(flat)), np.where(valid, flat, 0)], 0.0)
    if reduction == "none":
        return losses.reshape(np.shape(target))
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / valid.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["1d", "2d", "nd"])
@given(n=st.integers(1, 4), classes=st.integers(2, 4), extra=hnp.array_shapes(min_dims=1, max_dims=2, max_side=3),
       ignore=st.sampled_from([None, -100, 0]), seed=seeds)
def test_cross_entropy(device, reduction, layout, n, classes, extra, ignore, seed):
    rng = np.random.default_rng(seed)
    x_shape = {"1d": (classes,), "2d": (n, classes), "nd": (n, classes) + extra}[layout]
    t_shape = {"1d": (), "2d": (n,), "nd": (n,) + extra}[layout]
    x = rng.standard_normal(x_shape) * 2
    target = rng.integers(0, classes, size=t_shape)
    kwargs = {}
    if ignore is not None:
        kwargs["ignore_index"] = ignore
        if ignore == -100:
            target = np.where(rng.random(t_shape) < 0.3, -100, target)
        flat = target.reshape(-1)
        if np.all(flat == ignore):  # keep one target counted, or 'mean' divides by zero (nan, as in PyTorch)
            flat[0] = 1
            target = flat.reshape(t_shape)
    t = leaf(x, device)
    tt = tr.tensor(target, device=device)
    out = tr.cross_entropy(t, tt, reduction=reduction, **kwargs)
    assert out.shape == (t_shape if reduction == "none" else ())
    close(out, _np_cross_entropy(x, target, ignore if ignore is not None else -100, reduction))
    check(lambda a: tr.cross_entropy(a, tt, reduction=reduction, **kwargs), t)


def test_cross_entropy_closed_form(device):
    x = leaf([[0.0, 0.0], [math.log(3.0), 0.0]], device)
    loss = tr.cross_entropy(x, tr.tensor([1, 0], device=device))
    close(loss, (math.log(2.0) + math.log(4.0 / 3.0)) / 2)
    loss.backward()
    close(grad_of(x), [[0.25, -0.25], [-0.125, 0.125]])
    y = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    tr.cross_entropy(y, [-100, -100], reduction="sum").backward()  # everything ignored: zero loss, zero grad
    close(grad_of(y), np.zeros((2, 2)))
    close(tr.cross_entropy(leaf([2.0, 1.0, 0.1], device, False), 0), _np_cross_entropy(
        np.array([2.0, 1.0, 0.1]), np.array(0), -100, "mean"))


def test_cross_entropy_with_every_target_ignored_has_zero_gradients(device):
    """An all-padding batch: the mean is 0/0, NaN, as in PyTorch, but the gradients are zeros, not NaN."""
    import warnings

    x = leaf([[1.0, 2.0, 0.5], [3.0, 4.0, -1.0]], device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy 0/0 warning either
        loss = tr.cross_entropy(x, tr.tensor([-100, -100], device=device))
        assert math.isnan(loss.item())
        loss.backward()
    close(grad_of(x), np.zeros((2, 3)))
    z = leaf(np.ones((2, 3, 4)), device)  # (N, C, d): the same through the n-d path
    tr.cross_entropy(z, tr.tensor(np.full((2, 4), 0), device=device), ignore_index=0).backward()
    close(grad_of(z), np.zeros((2, 3, 4)))


# -- mse_loss, dropout, linear, cast -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=shapes, seed=seeds, target_grad=st.booleans())
def test_mse_loss(device, reduction, shape, seed, target_grad):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    tx, ty = leaf(x, device), leaf(y, device, target_grad)
    squared = (x - y) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}[reduction]
    close(tr.mse_loss(tx, ty, reduction=reduction), expected)
    check(lambda a, b: tr.mse_loss(a, b, reduction=reduction), tx, ty)


@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds)
def test_dropout_train_gradcheck(device, p, shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)
    t = leaf(x, device)

    def fn(a):
        tr.manual_seed(seed)  # the same mask on every call, so finite differences see one function
        return tr.dropout(a, p, training=True)

    out = fn(t).numpy()
    kept = out != 0
    close(out[kept], x[kept] / (1 - p))  # survivors are scaled by 1/(1-p), the rest are zero
    check(fn, t)


def test_dropout_gradient_is_the_mask(device):
    tr.manual_seed(7)
    p = 0.3
    x = leaf(np.random.default_rng(0).uniform(0.5, 1.5, size=(50, 40)), device)
    out = tr.dropout(x, p)
    out.sum().backward()
    mask = out.numpy() / x.numpy()
    assert set(np.unique(np.round(mask, 12)).tolist()) <= {0.0, round(1 / (1 - p), 12)}
    close(grad_of(x), mask)
    assert abs((mask == 0).mean() - p) < 0.03  # deterministic for the seed; ~4 standard deviations of slack


def test_dropout_seed_reproducible_and_fresh_masks(device):
    x = leaf(np.ones((8, 8)), device)
    tr.manual_seed(11)
    first, second = tr.dropout(x, 0.5).numpy(), tr.dropout(x, 0.5).numpy()
    tr.manual_seed(11)
    again = tr.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_dropout_eval_and_edge_probabilities(device):
    x = leaf([[1.0, -2.0], [3.0, 4.0]], device)
    for out in (tr.dropout(x, 0.5, training=False), tr.dropout(x, 0.0)):
        close(out, x.numpy())
        x.grad = None
        (out * 2).sum().backward()
        close(grad_of(x), np.full((2, 2), 2.0))
    x.grad = None
    zero = tr.dropout(x, 1.0)
    close(zero, np.zeros((2, 2)))
    zero.sum().backward()
    close(grad_of(x), np.zeros((2, 2)))


@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), n_in=st.integers(1, 4), n_out=st.integers(1, 4),
       bias=st.booleans(), seed=seeds)
def test_linear(device, batch, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(batch + (n_in,)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    tx, tw, tb = leaf(x, device), leaf(w, device), leaf(b, device)
    if bias:
        close(tr.linear(tx, tw, tb), x @ w.T + b)
        check(tr.linear, tx, tw, tb)
    else:
        close(tr.linear(tx, tw), x @ w.T)
        check(tr.linear, tx, tw)


def test_linear_matches_matmul_plus_bias_gradients(device):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    g = rng.standard_normal((2, 3, 5))
    grads = []
    for fused in (True, False):
        tx, tw, tb = leaf(x, device), leaf(w, device), leaf(b, device)
        out = tr.linear(tx, tw, tb) if fused else tx @ tw.T + tb
        (out * leaf(g, device, False)).sum().backward()
        grads.append([grad_of(t) for t in (tx, tw, tb)])
    for fused, plain in zip(*grads, strict=True):
        close(fused, plain)
    close(grads[0][2], g.sum(axis=(0, 1)))


def test_cast_round_trip(device):
    x32 = tr.tensor([1.5, -2.25, 3.0], device=device)
    assert x32.to("float32") is x32  # nothing to do: the same tensor, as in PyTorch
    x64 = x32.to("float64")
    assert x64.dtype == "float64" and x64.device == device
    close(x64, [1.5, -2.25, 3.0])
    back = x64.to("float32")
    assert back.dtype == "float32"
    close(back, [1.5, -2.25, 3.0])
    assert x32.double().dtype == "float64" and x64.float().dtype == "float32"
    assert tr.cast(x32, "float64").dtype == "float64"


def test_cast_passes_gradient_back_in_the_source_dtype(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x.to("float32")
    assert y.dtype == "float32" and y.requires_grad
    (y * y * 3).sum().backward()
    assert x.backend.dtype_name(x.grad) == "float64"
    close(grad_of(x), [6.0, 12.0, 18.0])


# -- the names PyTorch code uses: max/min over a dim, topk, gather, masked_fill, clamp, shapes, t[key] = value --------
PYTORCH_NAMED_OPS = [
    ("max(dim).values", lambda x: x.max(1).values),
    ("min(dim, keepdim).values", lambda x: tr.min(x, 0, keepdim=True).values),
    ("amin over dims", lambda x: x.amin((0, 1))),
    ("topk", lambda x: x.topk(2, dim=1).values),
    ("topk smallest", lambda x: tr.topk(x, 1, dim=0, largest=False).values),
    ("gather", lambda x: tr.gather(x, 1, tr.tensor([[2, 0, 2], [1, 1, 0]], device=x.device))),
    ("masked_fill", lambda x: x.masked_fill(x > 0.3, -1.5)),
    ("clamp", lambda x: x.clamp(-0.45, 0.55)),
    ("clamp min only", lambda x: tr.clamp(x, min=0.05)),
    ("squeeze / unsqueeze", lambda x: x.unsqueeze(0).unsqueeze(-1).squeeze()),
    ("bmm", lambda x: tr.bmm(x.unsqueeze(0), x.t().unsqueeze(0))),
    ("repeat", lambda x: x.repeat(2, 1, 3)),
    ("expand", lambda x: x[:1].expand(3, -1)),
    ("flatten", lambda x: x.unsqueeze(1).flatten(1)),
    ("t", lambda x: x.t() @ x),
    ("clone", lambda x: x.clone() * x),
    ("2 ** x", lambda x: 2 ** x),
    ("nll_loss", lambda x: tr.nll_loss(x.log_softmax(1), tr.tensor([2, 0], device=x.device))),
    ("cross_entropy weight", lambda x: tr.cross_entropy(x, tr.tensor([2, 1], device=x.device),
                                                        weight=tr.tensor([0.2, 1.0, 3.0], dtype="float64",
                                                                         device=x.device))),
    ("cross_entropy label_smoothing", lambda x: tr.cross_entropy(x, tr.tensor([2, -100], device=x.device),
                                                                 label_smoothing=0.1, reduction="sum")),
]


@pytest.mark.parametrize("label, fn", PYTORCH_NAMED_OPS, ids=[c[0] for c in PYTORCH_NAMED_OPS])
def test_pytorch_named_ops_gradcheck(device, label, fn):
    x = leaf(distinct(np.random.default_rng(3), (2, 3)), device)
    check(fn, x)


def test_setitem_gradcheck(device):
    """``t[key] = value`` inside the graph: the gradient reaches ``value`` through the written region and ``t``'s
    earlier self through the rest (a slice, an int row, a mask, integer arrays)."""
    rng = np.random.default_rng(4)
    x, w = leaf(rng.standard_normal((3, 4)), device), leaf(rng.standard_normal((4,)), device)

    def written(a, v):
        y = a * 1.0
        y[1] = v.tanh()
        y[:, 2:] = v[:2] * 3.0
        y[y > 1.5] = 0.25
        y[tr.tensor([0, 2], device=a.device), tr.tensor([3, 0], device=a.device)] = v[1:3]
        return y * y

    check(written, x, w)


def test_linear_with_an_integer_bias_promotes_as_the_sum_does(device):
    x, w, b = leaf(np.ones((2, 3, 4)), device), leaf(np.ones((5, 4)), device), tr.tensor([1, 2, 3, 4, 5], device=device)
    out, plain = tr.linear(x, w, b), x @ w.T + b  # float64 times float64, plus int64: the float's dtype
    assert out.dtype == plain.dtype == "float64"
    close(out, plain.numpy())
