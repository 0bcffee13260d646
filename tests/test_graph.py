"""The read-only graph view (its DOT rendering: test_viz_dot.py)."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tests.helpers import host, unrolled_rnn


def test_trace_is_topological_and_tagged():
    W, h = unrolled_rnn()
    g = tr.graph.trace(h)
    position = {n.id: i for i, n in enumerate(g.nodes)}
    assert all(position[a] < position[b] for a, b in g.edges)
    hs = g.find(name="h")
    assert [n.step for n in hs] == [0, 1, 2, 3] and all(n.scope == "rnn" for n in hs)
    assert g.node_of(W).kind == "param" and g.node_of(W).label == "W_hh"
    assert g.steps == [0, 1, 2, 3] and g.scopes == ["rnn"]
    # x needs no gradient, so x[t] is no node: only ops on the gradient's path are recorded
    assert {n.label for n in g.ops} == {"matmul", "add", "tanh"}
    assert len(g.find(scope="rnn", step=2, kind="op")) == 3
    tanh = g.find(label="tanh", step=1)[0]
    assert (tanh.shape, tanh.dtype) == ((1, 3), "float32")  # an op node carries its output's shape and dtype


def test_paths_between_tensors():
    W, h = unrolled_rnn()
    g = tr.graph.trace(h)
    h_nodes = g.find(name="h")
    on_path = g.path_nodes(h_nodes[0], h_nodes[3])
    assert [n.step for n in on_path if n.name == "h"] == [0, 1, 2, 3]
    assert g.path_nodes(h_nodes[3], h_nodes[0]) == []  # edges run forward in time
    shortest = g.shortest_path(g.node_of(W), h_nodes[3])
    assert shortest[0].label == "W_hh" and shortest[-1] is h_nodes[3]
    only_tanh = g.path_nodes(h_nodes[0], h_nodes[3], through=lambda n: n.label in ("tanh", "matmul", "add", "h", ""))
    assert only_tanh and all(n.label != "W_hh" for n in only_tanh)
    assert len(g.path_edges(h_nodes[0], h_nodes[1])) == 6  # h0 → matmul → · → add → · → tanh → h1


def test_trace_after_backward_exposes_leaf_and_retained_gradients():
    W, h = unrolled_rnn()
    h.retain_grad()
    h.sum().backward()
    g = tr.graph.trace(h)
    np.testing.assert_array_equal(host(g.node_of(W).grad), host(W.grad))
    np.testing.assert_array_equal(host(g.node_of(h).grad), np.ones(h.shape))  # ∂ sum(h) / ∂h
    assert g.find(name="h", step=0)[0].grad is None  # not retained


def test_node_stats_summarise_the_values_on_every_backend(device):
    values = np.array([[0.5, -2.0, 1.5], [3.0, 0.0, -1.0]])
    x = tr.tensor(values, requires_grad=True, dtype="float64", device=device)
    g = tr.graph.trace((x * 2).tanh())
    stats = g.node_of(x).stats()
    expected = {"min": values.min(), "max": values.max(), "mean": values.mean(), "std": values.std(),
                "norm": np.linalg.norm(values)}
    assert stats.keys() == expected.keys()
    assert all(isinstance(v, float) and v == pytest.approx(expected[k]) for k, v in stats.items())
    assert next(n for n in g.nodes if n.kind == "op").stats() is None  # an op has no values of its own
    assert next(n for n in g.nodes if n.kind == "const").stats() is None


def test_a_graph_traced_before_backward_keeps_every_gradient_once_marked():
    W, h = unrolled_rnn()
    loss = h.sum()
    g = tr.graph.trace(loss)
    marked = g.retain_grads()
    assert marked == tr.graph.retain_grads(loss) > 0  # the module function: trace, then the same marking
    loss.backward()
    assert all(n.grad is not None for n in g.nodes if n.kind == "tensor")


def test_a_part_of_a_collapsed_graph_does_not_resolve_to_a_group_it_left_out():
    tr.manual_seed(0)
    out, _ = tr.nn.LSTM(2, 3, fused=False)(tr.zeros(3, 1, 2))
    g = tr.graph.trace(out)
    first = g.collapse("cell").until(0)
    late = next(n for n in g.nodes if n.step == 2 and n.kind == "op")  # inside the group of step 2, left out
    with pytest.raises(KeyError, match=rf"successors: the node .* id {late.id}\) is not in this graph"):
        first.successors(late)
    with pytest.raises(KeyError, match=rf"no node '{late.id}' in this graph"):
        first.successors(late.id)
    early = next(n for n in g.nodes if n.step == 0 and n.kind == "op")
    assert first.successors(early) == first.successors(first.member_of[early.id])  # a kept group still resolves


def test_save_and_load_state_dict_atomically(tmp_path):
    layer = tr.nn.Linear(3, 2)
    path = tmp_path / "sub" / "layer.npz"
    tr.save(layer.state_dict(), str(path))
    assert [p.name for p in path.parent.iterdir()] == ["layer.npz"]  # no temporary file left behind
    fresh = tr.nn.Linear(3, 2)
    fresh.load_state_dict(tr.load(str(path)))
    np.testing.assert_array_equal(fresh.weight.numpy(), layer.weight.numpy())
    np.testing.assert_array_equal(fresh.bias.numpy(), layer.bias.numpy())


def test_save_refuses_what_would_need_pickle(tmp_path):
    import pytest

    with pytest.raises(TypeError, match="'state'"):
        tr.save({"state": {0: {"step": 1}}}, str(tmp_path / "bad.npz"))
    assert not any(tmp_path.iterdir())




def _hand_written_bptt(x, h0, w_ih, w_hh, b, upstream):
    """Each step's contribution to the gradient of W_hh and b_hh of h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b) for
    the loss Σ_t upstream_t · h_t, by hand in NumPy: dW_hh(t) = g_tᵀ h_{t-1}, g_t the gradient at the tanh's input."""
    hs = [h0]
    for x_t in x:
        hs.append(np.tanh(x_t @ w_ih.T + hs[-1] @ w_hh.T + b))
    d_weight, d_bias, carry = {}, {}, np.zeros_like(h0)
    for t in range(len(x) - 1, -1, -1):
        g = (upstream[t] + carry) * (1 - hs[t + 1] ** 2)
        d_weight[t], d_bias[t] = g.T @ hs[t], g.sum(axis=0)
        carry = g @ w_hh
    return d_weight, d_bias


@pytest.mark.parametrize("fused", [True, False])
def test_grad_shares_are_the_steps_contributions_and_add_up_to_the_gradient(device, fused):
    rng = np.random.default_rng(0)
    steps, batch, size = 5, 2, 3
    rnn = tr.nn.RNN(2, size, fused=fused, dtype="float64", device=device)
    x, h0, upstream = rng.normal(size=(steps, batch, 2)), rng.normal(size=(batch, size)), rng.normal(
        size=(steps, batch, size))
    out, _ = rnn(tr.tensor(x, device=device), tr.tensor(h0[None], device=device))
    loss = (out * tr.tensor(upstream, device=device)).sum()
    g = tr.graph.trace(loss)
    g.retain_grads()
    loss.backward()
    weights = {name: host(p.data) for name, p in rnn.named_parameters()}
    d_weight, d_bias = _hand_written_bptt(x, h0, weights["weight_ih_l0"], weights["weight_hh_l0"],
                                          weights["bias_ih_l0"] + weights["bias_hh_l0"], upstream)
    np.testing.assert_allclose(sum(d_weight.values()), host(rnn.weight_hh_l0.grad), rtol=1e-12)
    shares = g.grad_shares(g.node_of(rnn.weight_hh_l0))
    assert list(shares) == list(range(steps))  # one share per step, in time order
    np.testing.assert_allclose([shares[t] for t in range(steps)],
                               [np.linalg.norm(d_weight[t]) for t in range(steps)], rtol=1e-10)
    bias = g.grad_shares(g.node_of(rnn.bias_hh_l0))
    np.testing.assert_allclose([bias[t] for t in range(steps)], [np.linalg.norm(d_bias[t]) for t in range(steps)],
                               rtol=1e-10)
    # the input's projection runs once for all steps, outside any step: its one share is the whole gradient
    assert g.grad_shares(g.node_of(rnn.weight_ih_l0)) == pytest.approx(
        {None: float(np.linalg.norm(host(rnn.weight_ih_l0.grad)))}, rel=1e-12)


def test_grad_shares_come_from_the_last_backward_and_only_where_marked():
    W, h = unrolled_rnn()
    loss = h.sum()
    g = tr.graph.trace(loss)
    with pytest.raises(tr.GraphError, match="grad_shares: the node 'W_hh' .* was not marked before the backward"):
        g.grad_shares(g.node_of(W))
    with pytest.raises(tr.GraphError, match="grad_shares: the node 'h' .* is not a parameter"):
        g.grad_shares(g.find(name="h", step=0)[0])
    g.retain_grads()
    assert g.grad_shares(g.node_of(W)) == {}  # marked, no backward yet
    loss.backward(retain_graph=True)
    first = g.grad_shares(g.node_of(W))
    assert sorted(first) == [0, 1, 2, 3] and first[0] == 0 < min(first[1], first[2], first[3])  # h0 @ W: h0 = 0
    (loss * 2).backward()  # .grad accumulates; the shares are this backward's, each twice the first's
    assert g.grad_shares(g.node_of(W)) == pytest.approx({t: 2 * s for t, s in first.items()})


def test_print_graph_gives_a_summary():
    W, h = unrolled_rnn()
    g = tr.graph.trace(h.sum())
    text = str(g)
    assert text.startswith(f"Graph: {len(g)} nodes: 13 ops") and "(parameters 1, inputs 5" in text
    assert "ops: " in text and "matmul 4" in text and "tanh 4" in text
    assert "scopes: rnn" in text and "steps: 0–3 (4)" in text and "roots: sum → () float32" in text
    assert repr(g) == f"<Graph: {len(g)} nodes, 13 ops, 4 steps>"
    assert "collapsed to cell level" in str(g.collapse("cell"))


def test_path_nodes_through_a_name_follows_the_tensors_of_that_name():
    tr.manual_seed(0)
    for fused in (False, True):
        lstm = tr.nn.LSTM(2, 3, fused=fused)
        out, _ = lstm(tr.randn(4, 1, 2))
        g = tr.graph.trace(out)
        c = g.find(name="c", kind="tensor")
        highway = g.path_nodes(c[0], c[-1], through="c")
        assert [n.step for n in highway if n.name == "c"] == [0, 1, 2, 3]
        assert not any(n.name in ("h", "i", "f", "g", "o") for n in highway)  # not through h and the gates
        assert len(g.path_nodes(c[0], c[-1])) > len(highway)
    with pytest.raises(tr.ArgumentTypeError, match="path_nodes: through must be a name"):
        g.path_nodes(c[0], c[-1], through=3)


def test_a_step_with_an_offset_keeps_its_own_number_and_places_it_on_the_timeline():
    x = tr.tensor([1.0], requires_grad=True)
    with tr.scope("enc"):
        for t in range(2):
            with tr.step(t):
                x = (x * 2).named("h")
    with tr.scope("dec"):
        for t in range(2):
            with tr.step(t, offset=2):
                x = (x * 3).named("h")
    g = tr.graph.trace(x)
    assert [(n.scope, n.step, n.time) for n in g.find(name="h")] == [("enc", 0, 0), ("enc", 1, 1), ("dec", 0, 2),
                                                                     ("dec", 1, 3)]
    assert g.steps == [0, 1] and g.times == [0, 1, 2, 3] and len(g.until(2).find(name="h")) == 3
    assert g.find(name="h", scope="dec", step=1)[0].step_scope == "dec"
    with pytest.raises(tr.ArgumentTypeError, match="step: offset must be an int, got 1.5"):
        tr.step(0, offset=1.5)


def test_a_write_in_place_is_a_setitem_node_and_earlier_ops_keep_their_input():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.0).named("y")
    early = (y + 1.0).named("early")  # made before the write: it read y as it was
    y[0] = 5.0
    g = tr.graph.trace(early, y)
    setitem = g.find(label="setitem")[0]
    add = g.find(label="add")[0]
    assert {n.label for n in g.ops} == {"mul", "add", "setitem"}
    (before,) = [a for a, b in g.edges if b == setitem.id]  # y as it was, made by mul
    assert before in [a for a, b in g.edges if b == add.id]
    assert [b for a, b in g.edges if a == g.find(label="mul")[0].id] == [before]
