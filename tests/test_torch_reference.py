"""Compositions of ops against PyTorch: the same float64 inputs through tinygrad_rnn and through torch, comparing the
values and the gradients of every input.

Each model below is written once against a tiny namespace (``TR`` or ``TORCH``) that maps the op names to each
library, so the two computations cannot drift apart; the namespaces themselves are one line per op.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-11


class TR:
    linear, matmul, tanh, sigmoid, relu, exp, log, sqrt, abs = (tr.linear, tr.matmul, tr.tanh, tr.sigmoid, tr.relu,
                                                                tr.exp, tr.log, tr.sqrt, tr.abs)
    softmax, log_softmax, maximum, minimum, where = tr.softmax, tr.log_softmax, tr.maximum, tr.minimum, tr.where
    concat, stack, split, chunk, mse_loss, dropout = tr.concat, tr.stack, tr.split, tr.chunk, tr.mse_loss, tr.dropout

    @staticmethod
    def cross_entropy(x, t, **kw):
        return tr.cross_entropy(x, t, **kw)

    @staticmethod
    def embedding(idx, w, padding_idx=None):
        return tr.embedding(idx, w, padding_idx=padding_idx)

    @staticmethod
    def amax(x, dim=None, keepdim=False):
        return tr.amax(x, dim, keepdim)

    @staticmethod
    def mean(x, dim=None, keepdim=False):
        return tr.mean(x, dim, keepdim)

    @staticmethod
    def sum(x, dim=None, keepdim=False):
        return tr.sum(x, dim, keepdim)

    @staticmethod
    def permute(x, *dims):
        return tr.permute(x, *dims)

    @staticmethod
    def reshape(x, *shape):
        return tr.reshape(x, *shape)

    @staticmethod
    def mask(array, like):
        return tr.tensor(array, device=like.device)


class TORCH:
    linear, matmul, tanh, sigmoid, relu, exp, log, sqrt, abs = (F.linear, torch.matmul, torch.tanh, torch.sigmoid,
                                                                torch.relu, torch.exp, torch.log, torch.sqrt, torch.abs)
    maximum, minimum, where, mse_loss = torch.maximum, torch.minimum, torch.where, F.mse_loss
    concat, stack, split, chunk = torch.cat, torch.stack, torch.split, torch.chunk

    @staticmethod
    def softmax(x, dim):
        return torch.softmax(x, dim)

    @staticmethod
    def log_softmax(x, dim):
        return torch.log_softmax(x, dim)

    @staticmethod
    def cross_entropy(x, t, **kw):
        return F.cross_entropy(x, t, **kw)

    @staticmethod
    def embedding(idx, w, padding_idx=None):
        return F.embedding(idx, w, padding_idx=padding_idx)

    @staticmethod
    def amax(x, dim=None, keepdim=False):
        return x.amax() if dim is None else x.amax(dim, keepdim)

    @staticmethod
    def mean(x, dim=None, keepdim=False):
        return x.mean() if dim is None else x.mean(dim, keepdim)

    @staticmethod
    def sum(x, dim=None, keepdim=False):
        return x.sum() if dim is None else x.sum(dim, keepdim)

    @staticmethod
    def permute(x, *dims):
        return x.permute(*dims)

    @staticmethod
    def reshape(x, *shape):
        return x.reshape(*shape)

    @staticmethod
    def mask(array, like):
        return torch.as_tensor(array)


def run_both(model, params: dict, data: dict, device: str):
    """``model(ns, params, data)`` in both libraries; returns the (value, {name: grad}) pairs."""
    ours = {k: tr.tensor(v, dtype="float64", requires_grad=True, device=device) for k, v in params.items()}
    theirs = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    # integer arrays (indices, targets, lengths) become each library's tensors; names ending in _np stay NumPy
    def convert(make):
        return {k: make(v) if isinstance(v, np.ndarray) and v.dtype.kind in "iu" and not k.endswith("_np") else v
                for k, v in data.items()}

    out_tr = model(TR, ours, convert(lambda v: tr.tensor(v, device=device)))
    out_torch = model(TORCH, theirs, convert(torch.as_tensor))
    out_tr.backward()
    out_torch.backward()
    return ((out_tr.item(), {k: t.backend.to_numpy(t.grad) if t.grad is not None else None for k, t in ours.items()}),
            (out_torch.item(), {k: t.grad.numpy() if t.grad is not None else None for k, t in theirs.items()}))


def assert_match(ours, theirs):
    (value, grads), (ref_value, ref_grads) = ours, theirs
    np.testing.assert_allclose(value, ref_value, rtol=RTOL, atol=ATOL)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        ref = ref_grads[name]
        if ref is None:  # torch saw no path to this input: ours must give nothing or zeros
            assert grads[name] is None or np.all(grads[name] == 0), name
            continue
        assert grads[name] is not None, f"no gradient reached {name}"
        np.testing.assert_allclose(grads[name], ref, rtol=RTOL, atol=ATOL, err_msg=f"gradient of {name}")


# -- models ----------------------------------------------------------------------------------------------------------
def mlp_classifier(ns, p, d):
    """Two layers with a gate, softmax/log_softmax heads, cross-entropy with ignored targets, an mse term."""
    x = p["x"]
    h = ns.tanh(ns.linear(x, p["W1"], p["b1"]))
    g = ns.sigmoid(ns.linear(x, p["Wg"]))
    h = h * g + ns.maximum(h, g - 0.5) - ns.minimum(ns.relu(h), 0.25 * g)
    logits = ns.linear(h, p["W2"], p["b2"])
    loss = ns.cross_entropy(logits, d["targets"], ignore_index=-100)
    probs = ns.softmax(logits, -1)
    loss = loss + 0.5 * ns.mean(probs[:, 0]) - 0.1 * ns.mean(ns.amax(ns.log_softmax(logits, 1), dim=1))
    loss = loss + ns.mse_loss(ns.mean(h, 0), p["target_vec"])
    return loss + ns.sum(ns.abs(p["W1"])) * 1e-3 + ns.sum(p["W2"] ** 2) * 1e-3


def gated_rnn_lm(ns, p, d):
    """A GRU-like recurrence over embedded, padded sequences: embedding (padding_idx), concat, split, where-masking
    of finished sequences, stack, batched matmul, (N, C, d) cross-entropy ignoring the padding, attention pooling."""
    tokens, lengths = d["tokens"], d["lengths"]
    steps = d["tokens_np"].shape[1]
    hidden = p["h0"].shape[-1]
    h = p["h0"]
    hs = []
    for t in range(steps):
        x_t = ns.embedding(tokens[:, t], p["E"], padding_idx=0)
        gates = ns.linear(ns.concat([x_t, h], -1), p["W"], p["b"])
        z, n = ns.split(gates, hidden, -1)
        z, n = ns.sigmoid(z), ns.tanh(n)
        h_new = z * h + (1 - z) * n
        alive = ns.mask((t < lengths)[:, None], h)
        h = ns.where(alive, h_new, h)
        hs.append(h)
    states = ns.stack(hs, 1)  # (B, T, H)
    logits = ns.matmul(states, ns.permute(p["Wout"], 1, 0))  # (B, T, V)
    loss = ns.cross_entropy(ns.permute(logits, 0, 2, 1), d["next"], ignore_index=0)
    scores = ns.matmul(states, p["q"])  # batched @ 1-D: (B, T)
    attn = ns.softmax(scores, -1)
    context = ns.sum(attn[:, :, None] * states, 1)
    pooled = ns.amax(states, dim=1)
    final = context + pooled + states[:, -1]
    left, right = ns.chunk(final, 2, -1)
    picked = final[d["rows"]]  # integer-array indexing with a repeated row
    return loss + ns.mean(left * right) + 0.1 * ns.sum(picked) + ns.mean(ns.log_softmax(logits, -1)[..., 1])


def elementwise_chain(ns, p, d):
    """The unary ops, pow, division, broadcasting and reshapes in one expression."""
    a, b, c = p["a"], p["b"], p["c"]  # (3, 4), (4,), (2, 3, 1)
    y = ns.sqrt(ns.exp(a) + 1) / (1 + ns.abs(b)) ** 1.5 + ns.log(ns.sigmoid(a) + b * b)
    y = y - ns.minimum(ns.relu(a), b) * c  # broadcast to (2, 3, 4)
    y = ns.reshape(ns.permute(y, 2, 0, 1), 4, 6)
    y = ns.matmul(y, ns.reshape(y, 6, 4)) / 10.0
    return ns.sum(ns.tanh(y)) + ns.mean(2.0 - 1.0 / (1.0 + y * y))


# -- data --------------------------------------------------------------------------------------------------------------
def mlp_case(rng):
    n, d, hidden, classes = rng.integers(2, 6), rng.integers(1, 5), rng.integers(2, 6), rng.integers(2, 5)
    targets = rng.integers(0, classes, size=n)
    targets[rng.random(n) < 0.3] = -100
    targets[0] = 0  # at least one counted target
    params = {"x": rng.standard_normal((n, d)), "W1": rng.standard_normal((hidden, d)),
              "b1": rng.standard_normal(hidden),
              "Wg": rng.standard_normal((hidden, d)), "W2": rng.standard_normal((classes, hidden)),
              "b2": rng.standard_normal(classes), "target_vec": rng.standard_normal(hidden)}
    return params, {"targets": targets}


def rnn_case(rng):
    batch, steps, vocab, emb, hidden = rng.integers(2, 4), rng.integers(2, 5), rng.integers(3, 7), 3, 4
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    tokens = rng.integers(1, vocab, size=(batch, steps))
    tokens[np.arange(steps)[None, :] >= lengths[:, None]] = 0  # padding after each sequence's end
    nxt = np.concatenate([tokens[:, 1:], np.zeros((batch, 1), dtype=tokens.dtype)], axis=1)
    params = {"E": rng.standard_normal((vocab, emb)), "W": rng.standard_normal((2 * hidden, emb + hidden)) * 0.5,
              "b": rng.standard_normal(2 * hidden), "Wout": rng.standard_normal((vocab, hidden)),
              "q": rng.standard_normal(hidden), "h0": rng.standard_normal((batch, hidden)) * 0.1}
    return params, {"tokens": tokens, "tokens_np": tokens, "lengths": lengths, "next": nxt, "rows": np.array([0, 1, 0])}


def chain_case(rng):
    return {"a": rng.standard_normal((3, 4)), "b": rng.uniform(0.3, 1.5, size=4) * rng.choice([-1, 1], size=4),
            "c": rng.standard_normal((2, 3, 1))}, {}


@pytest.mark.parametrize("seed", range(4))
def test_mlp_classifier_matches_torch(device, seed):
    params, data = mlp_case(np.random.default_rng(seed))
    assert_match(*run_both(mlp_classifier, params, data, device))


@pytest.mark.parametrize("seed", range(4))
def test_gated_rnn_lm_matches_torch(device, seed):
    params, data = rnn_case(np.random.default_rng(100 + seed))
    ours, theirs = run_both(gated_rnn_lm, params, data, device)
    assert_match(ours, theirs)
    assert np.all(ours[1]["E"][0] == 0.0)  # the padding row of the embedding gets no gradient


@pytest.mark.parametrize("seed", range(4))
def test_elementwise_chain_matches_torch(device, seed):
    params, data = chain_case(np.random.default_rng(200 + seed))
    assert_match(*run_both(elementwise_chain, params, data, device))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("layout", ["1d", "2d", "nd"])
def test_cross_entropy_matches_torch(device, reduction, ignore_index, layout):
    rng = np.random.default_rng(7)
    shapes = {"1d": ((5,), ()), "2d": ((4, 5), (4,)), "nd": ((3, 5, 2, 2), (3, 2, 2))}
    x_shape, t_shape = shapes[layout]
    x = rng.standard_normal(x_shape) * 2
    target = rng.integers(0, 5, size=t_shape)
    if layout != "1d":
        target.reshape(-1)[::3] = ignore_index
        target.reshape(-1)[1] = 2
    else:
        target = np.array(3)
    upstream = rng.standard_normal(t_shape) if reduction == "none" else np.array(1.0)

    def model(ns, p, d):
        out = ns.cross_entropy(p["x"], d["t"], ignore_index=ignore_index, reduction=reduction)
        return ns.sum(out * ns.mask(upstream, out))

    assert_match(*run_both(model, {"x": x}, {"t": target}, device))


def test_embedding_matches_torch(device):
    rng = np.random.default_rng(9)
    idx = np.array([[1, 2, 1], [0, 0, 3]])

    def model(ns, p, d):
        out = ns.embedding(d["idx"], p["w"], padding_idx=0)
        return ns.sum(ns.tanh(out) * ns.mask(d["up"], out))

    params, data = {"w": rng.standard_normal((4, 3))}, {"idx": idx, "up": rng.standard_normal((2, 3, 3))}
    assert_match(*run_both(model, params, data, device))
