"""Attention modules: closed-form NumPy references for every scoring function (and PyTorch's
scaled_dot_product_attention where installed), float64 gradient checks, exact zeros at masked positions, errors."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.nn.attention import KINDS

from helpers import host

B, S, DQ, DK, DV, HIDDEN = 3, 5, 4, 6, 2, 7
LENGTHS = [5, 3, 1]


def sizes(kind: str) -> tuple[int, int]:
    """Dot-product scores need one size for query and keys."""
    return (DK, DK) if kind in ("dot", "scaled_dot") else (DQ, DK)


def make(kind: str, dtype: str = "float64", device: str = "cpu"):
    tr.manual_seed(0)
    query_size, key_size = sizes(kind)
    module = tr.nn.make_attention(kind, query_size, key_size, hidden=HIDDEN)
    module.to(dtype)
    return module.to(device) if device != "cpu" else module


def data(kind: str, dtype: str = "float64", device: str = "cpu", seed: int = 1):
    rng = np.random.default_rng(seed)
    query_size, key_size = sizes(kind)

    def leaf(*shape):
        return tr.tensor(rng.standard_normal(shape), dtype=dtype, device=device, requires_grad=True)

    mask = tr.tensor(np.arange(S)[None, :] < np.array(LENGTHS)[:, None], device=device)
    return leaf(B, query_size), leaf(B, S, key_size), leaf(B, S, DV), mask


def reference_scores(kind: str, module, q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """α(q, k_s) for every row and position, written out from the formulas."""
    if kind == "dot":
        return np.einsum("bd,bsd->bs", q, k)
    if kind == "scaled_dot":
        return np.einsum("bd,bsd->bs", q, k) / np.sqrt(q.shape[1])
    if kind == "general":
        W = host(module.key_layer.weight)  # (Dq, Dk): qᵀ W k
        return np.einsum("bq,qk,bsk->bs", q, W, k)
    W_k, W_q = host(module.key_layer.weight), host(module.query_layer.weight)
    v = host(module.energy_layer.weight)[0]
    hidden = np.tanh(np.einsum("hk,bsk->bsh", W_k, k) + np.einsum("hq,bq->bh", W_q, q)[:, None, :])
    return hidden @ v


def reference(kind: str, module, q, k, v, mask) -> tuple[np.ndarray, np.ndarray]:
    scores = reference_scores(kind, module, q, k)
    scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = e / e.sum(axis=1, keepdims=True)
    return np.einsum("bs,bsv->bv", weights, v), weights


@pytest.mark.parametrize("kind", KINDS)
def test_matches_the_closed_form(kind, device):
    module = make(kind, device=device)
    query, keys, values, mask = data(kind, device=device)
    context, weights = module(query, keys, values, mask)
    expected_context, expected_weights = reference(kind, module, host(query), host(keys), host(values), host(mask))
    np.testing.assert_allclose(host(weights), expected_weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(context), expected_context, rtol=1e-12, atol=1e-14)
    assert context.shape == (B, DV) and weights.shape == (B, S)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masked_positions_get_exactly_zero_weight_and_no_gradient(kind, dtype):
    module = make(kind, dtype)
    query, keys, values, mask = data(kind, dtype)
    context, weights = module(query * 50.0, keys, values, mask)  # large scores: no overflow, no NaN either
    w = host(weights)
    m = host(mask)
    assert np.all(w[~m] == 0.0)
    assert np.all(np.isfinite(w))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6 if dtype == "float32" else 1e-14)
    context.sum().backward()
    for leaf in (keys, values):
        grad = host(leaf.grad)
        assert np.all(grad[~m] == 0.0) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("kind", KINDS)
def test_no_mask_weights_sum_to_one_and_values_default_to_keys(kind):
    module = make(kind)
    query, keys, _, _ = data(kind)
    context, weights = module(query, keys)
    np.testing.assert_allclose(host(weights).sum(axis=1), 1.0, rtol=1e-14)
    expected = np.einsum("bs,bsk->bk", host(weights), host(keys))
    np.testing.assert_allclose(host(context), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_query_keys_values_and_parameters(kind):
    module = make(kind)
    query, keys, values, mask = data(kind)
    parameters = list(module.parameters())

    def fn(query, keys, values, *_):
        return module(query, keys, values, mask)

    assert tr.gradcheck(fn, [query, keys, values, *parameters])


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_through_precomputed_keys(kind):
    module = make(kind)
    query, keys, values, mask = data(kind)

    def fn(query, keys, values, *_):
        return module(query, keys, values, mask, projected_keys=module.project_keys(keys))

    assert tr.gradcheck(fn, [query, keys, values, *module.parameters()])


@pytest.mark.parametrize("kind", KINDS)
def test_precomputed_keys_give_the_same_numbers(kind):
    module = make(kind)
    query, keys, values, mask = data(kind)
    direct = module(query, keys, values, mask)
    projected = module.project_keys(keys)
    assert projected.shape[:2] == (B, S)
    again = module(query, keys, values, mask, projected_keys=projected)
    for a, b in zip(direct, again, strict=True):
        np.testing.assert_array_equal(host(a), host(b))


def test_scaled_dot_matches_pytorch():
    torch = pytest.importorskip("torch")
    module = make("scaled_dot")
    query, keys, values, mask = data("scaled_dot")
    context, _ = module(query, keys, values, mask)
    expected = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(host(query))[:, None, :], torch.from_numpy(host(keys)), torch.from_numpy(host(values)),
        attn_mask=torch.from_numpy(host(mask))[:, None, :])[:, 0, :]
    np.testing.assert_allclose(host(context), expected.numpy(), rtol=1e-12, atol=1e-14)


def test_scaling_divides_the_dot_scores_by_root_d():
    query, keys, values, mask = data("dot")
    plain = tr.nn.DotAttention()(query * (1.0 / np.sqrt(DK)), keys, values, mask)
    scaled = tr.nn.ScaledDotAttention()(query, keys, values, mask)
    np.testing.assert_allclose(host(scaled[1]), host(plain[1]), rtol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_nodes_are_named_scores_weights_context_in_the_module_scope(kind):
    module = make(kind)
    query, keys, values, mask = data(kind)
    context, weights = module(query, keys, values, mask)
    graph = tr.graph.trace(context)
    scope = type(module).__name__
    for name in ("scores", "weights", "context"):
        assert len(graph.find(name=name, scope=scope)) == 1, name
    assert weights.name == "weights"


def test_project_keys_opens_the_attention_scope():
    module = make("additive")
    _, keys, _, _ = data("additive")
    assert module.project_keys(keys).scope == "AdditiveAttention/key_layer"


def test_make_attention_kinds_and_errors():
    assert isinstance(tr.nn.make_attention("dot", 4, 4), tr.nn.DotAttention)
    assert isinstance(tr.nn.make_attention("scaled_dot", 4, 4), tr.nn.ScaledDotAttention)
    assert isinstance(tr.nn.make_attention("general", 4, 6), tr.nn.GeneralAttention)
    additive = tr.nn.make_attention("additive", 4, 6)
    assert isinstance(additive, tr.nn.AdditiveAttention) and additive.hidden_size == 4
    assert tr.nn.make_attention("additive", 4, 6, hidden=9).energy_layer.weight.shape == (1, 9)
    with pytest.raises(ValueError, match="unknown attention kind 'mlp'"):
        tr.nn.make_attention("mlp", 4, 4)
    with pytest.raises(ValueError, match="query_size == key_size"):
        tr.nn.make_attention("dot", 4, 6)


def test_parameter_names():
    assert [n for n, _ in tr.nn.AdditiveAttention(4, 6, 8).named_parameters()] == \
        ["key_layer.weight", "query_layer.weight", "energy_layer.weight"]
    assert [n for n, _ in tr.nn.GeneralAttention(4, 6).named_parameters()] == ["key_layer.weight"]
    assert list(tr.nn.DotAttention().parameters()) == []


def test_bad_inputs_raise_clear_errors():
    module = make("additive")
    query, keys, values, mask = data("additive")
    with pytest.raises(tr.ShapeError, match=r"AdditiveAttention: query batch 2 differs from keys batch 3"):
        module(query[:2], keys, values, mask)
    with pytest.raises(tr.ShapeError, match=r"AdditiveAttention: keys of shape \(3, 5, 4\)"):
        module(query, keys[:, :, :4], values, mask)
    with pytest.raises(tr.ShapeError, match="query of shape"):
        module(keys, keys, values, mask)
    with pytest.raises(tr.ShapeError, match="values of shape"):
        module(query, keys, values[:, :4], mask)
    with pytest.raises(tr.ShapeError, match="mask of shape"):
        module(query, keys, values, np.ones((B, 4), dtype=bool))
    with pytest.raises(tr.DTypeError, match="bool"):
        module(query, keys, values, np.ones((B, S), dtype=np.int64))
    with pytest.raises(tr.ShapeError, match="hold no position"):
        module(query, keys[:, :0], values[:, :0])
    empty_row = np.ones((B, S), dtype=bool)
    empty_row[1] = False
    with pytest.raises(tr.ShapeError, match=r"every position of batch row\(s\) \[1\] is masked"):
        module(query, keys, values, empty_row)
    with pytest.raises(tr.ShapeError, match="need one size"):
        tr.nn.DotAttention()(tr.zeros(B, 3), tr.zeros(B, S, 4))


def test_a_mask_is_checked_on_every_call_also_when_its_data_is_replaced():
    module = make("dot")
    query, keys, values, mask = data("dot")
    module(query, keys, values, mask)
    module(query, keys, values, mask)
    bad = np.array(host(mask))
    bad[0] = False
    mask.data = tr.tensor(bad).data  # the same tensor object, now holding an array with an all-padding row
    with pytest.raises(tr.ShapeError, match=r"batch row\(s\) \[0\] is masked"):
        module(query, keys, values, mask)
    with pytest.raises(tr.ShapeError, match=r"batch row\(s\) \[0\] is masked"):
        module(query, keys, values, tr.tensor(bad))  # and a new tensor, of course


def test_a_reused_mask_is_shape_checked_against_every_keys():
    module = make("dot")
    query, keys, values, mask = data("dot")
    module(query, keys, values, mask)
    shorter = keys[:, :S - 1]
    with pytest.raises(tr.ShapeError, match=rf"mask of shape \({B}, {S}\) does not fit keys of shape "
                                            rf"\({B}, {S - 1}, {DK}\)"):
        module(query, shorter, shorter, mask)
    with pytest.raises(tr.ShapeError, match=rf"mask of shape \({B}, {S}\) does not fit keys"):
        module(query[:2], keys[:2], values[:2], mask)
    module(query, keys, values, mask)  # still fine with the keys it fits
