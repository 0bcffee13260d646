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
