"""The one-cell drawings: the lectures' gates and paths, gradient labels that are the traced step's, files."""
import re
import shutil

import numpy as np
import pytest

import tinygrad_rnn as tr
from viz import cell as viz_cell
from viz import dot as viz_dot


def _edges(dot: str) -> dict:
    """(source, target) → the edge's attributes, parsed from DOT lines like ``a -> b [k="v", ...];``."""
    edges = {}
    for source, target, attrs in re.findall(r"^\s+(\w+) -> (\w+) \[(.*)\];$", dot, flags=re.M):
        edges[(source, target)] = dict(re.findall(r'(\w+)="([^"]*)"', attrs))
    return edges


def _nodes(dot: str) -> set:
    return set(re.findall(r"^\s+(\w+) \[label=", dot, flags=re.M))


def test_lstm_drawing_has_the_gates_and_two_distinct_paths():
    dot = viz_cell.lstm_cell_dot()
    assert dot == viz_cell.lstm_cell_dot()  # deterministic
    assert {"x", "h_prev", "c_prev", "i", "f", "g", "o", "mul_f", "mul_ig", "add", "tanh_c", "mul_o", "c_t",
            "h_t"} <= _nodes(dot)
    edges = _edges(dot)
    highway = [edges[e] for e in (("c_prev", "mul_f"), ("mul_f", "add"), ("add", "c_t"))]
    hidden = [edges[e] for e in (("add", "tanh_c"), ("tanh_c", "mul_o"), ("o", "mul_o"), ("mul_o", "h_t"))]
    gates = [edges[("mix", gate)] for gate in "ifgo"]
    for path, style in ((highway, viz_cell.HIGHWAY), (hidden, viz_cell.HIDDEN), (gates, viz_cell.GATE)):
        assert all(e["color"] == style["color"] and e["penwidth"] == style["penwidth"] for e in path)
    assert len({viz_cell.HIGHWAY["color"], viz_cell.HIDDEN["color"], viz_cell.GATE["color"]}) == 3
    assert float(viz_cell.HIGHWAY["penwidth"]) > float(viz_cell.HIDDEN["penwidth"]) > float(viz_cell.GATE["penwidth"])
    assert "layout=neato" in dot and 'pos="0.00,3.40!"' in dot  # pinned: c_{t−1} on the top row


def test_lstm_variants_change_the_drawing():
    old = _edges(viz_cell.lstm_cell_dot(forget_gate=False))
    assert ("c_prev", "add") in old and not any("f" in e for e in old)  # 1997: c_t = c_{t−1} + i⊙g
    peepholes = _edges(viz_cell.lstm_cell_dot(peephole=True))
    assert {e for e, a in peepholes.items() if a.get("style") == "dashed"} == {("c_prev", "i"), ("c_prev", "f"),
                                                                               ("add", "o")}
    assert ("i", "f") in _edges(viz_cell.lstm_cell_dot(coupled=True))


def test_gru_drawing_says_which_z_convention():
    dot = viz_cell.gru_cell_dot()
    assert {"r", "z", "n", "one_minus", "mul_z", "mul_n", "mul_r", "add", "h_prev", "h_t", "x"} <= _nodes(dot)
    edges = _edges(dot)
    assert edges[("h_prev", "mul_z")]["color"] == viz_cell.HIGHWAY["color"]
    assert edges[("mul_n", "add")]["color"] == viz_cell.HIDDEN["color"]
    assert "(1 − z)⊙n + z⊙h" in dot and "lecture 003's z is this 1 − z" in dot
    assert ("mix", "mul_r") in edges and ("h_down", "mul_r") in _edges(viz_cell.gru_cell_dot(reset_after=False))


def _label(dot: str, source: str, target: str) -> str:
    return _edges(dot)[(source, target)]["label"]


def test_lstm_edge_labels_are_the_gradient_norms_of_the_traced_step():
    graph = viz_cell.cell_step_graph("lstm", seed=3)
    dot = viz_cell.lstm_cell_dot(graph)
    assert dot == viz_cell.lstm_cell_dot(graph)

    def norm(name):
        (node,) = graph.find(name=name)
        return node.grad_norm

    for edge, name in ((("f", "mul_f"), "f"), (("i", "mul_ig"), "i"), (("g", "mul_ig"), "g"), (("o", "mul_o"), "o"),
                       (("add", "c_t"), "c"), (("mul_o", "h_t"), "h"), (("c_prev", "mul_f"), "c_prev"),
                       (("h_prev", "mix"), "h_prev")):
        assert _label(dot, *edge) == f"{norm(name):.3g}"
    # independently: without peepholes c_{t−1} reaches the loss only through f⊙c_{t−1}, so ∂L/∂c_{t−1} = f⊙∂L/∂c_t
    (f,), (c,) = graph.find(name="f"), graph.find(name="c")
    assert _label(dot, "c_prev", "mul_f") == f"{np.linalg.norm(f.tensor.numpy() * c.grad):.3g}"
    assert all("label" in attrs for attrs in _edges(dot).values())  # every drawn tensor kept its gradient


def test_gru_edge_labels_and_a_step_picked_from_a_layer():
    graph = viz_cell.cell_step_graph("gru", cell=tr.nn.GRUCell(2, 3, fused=False, reset_after=False).double())
    dot = viz_cell.gru_cell_dot(graph, reset_after=False)
    (z,), (h,) = graph.find(name="z"), graph.find(name="h")
    assert _label(dot, "z", "mul_z") == f"{z.grad_norm:.3g}" and _label(dot, "add", "h_t") == f"{h.grad_norm:.3g}"

    tr.manual_seed(0)
    layer = tr.nn.GRU(3, 4, fused=False).double()
    out, _ = layer(tr.randn(3, 2, 3, dtype="float64"))
    loss = out.sum()
    tr.graph.retain_grads(loss)
    loss.backward()
    traced = tr.graph.trace(loss)
    with pytest.raises(ValueError, match="pass step= and scope="):
        viz_cell.gru_cell_dot(traced)
    dot = viz_cell.gru_cell_dot(traced, step=1, scope="GRU/l0")
    (previous,) = traced.find(name="h", step=0)  # inside a layer, h_{t−1} is the previous step's h
    assert _label(dot, "h_down", "mix") == f"{previous.grad_norm:.3g}"
    assert "label" not in _edges(dot)[("x", "mix")]  # the layer projected x outside the steps: nothing to show


def test_a_fused_cell_or_a_wrong_kind_is_refused_with_advice():
    with pytest.raises(ValueError, match="fused=False"):
        viz_cell.cell_step_graph("lstm", cell=tr.nn.LSTMCell(2, 3))
    with pytest.raises(ValueError, match="'lstm' or 'gru'"):
        viz_cell.write_cell("rnn", "unused.dot")


def test_write_cell_writes_dot_and_renders_where_dot_exists(tmp_path):
    written = viz_cell.write_cell("lstm", str(tmp_path / "cell.dot"), formats=("svg", "png"),
                                  cell=tr.nn.LSTMCell(2, 3, fused=False, peephole=True), grads=True)
    assert (tmp_path / "cell.dot").read_text().startswith("digraph lstm_cell")
    if shutil.which("dot"):
        assert written == [str(tmp_path / name) for name in ("cell.dot", "cell.svg", "cell.png")]
        assert "<svg" in (tmp_path / "cell.svg").read_text()
        assert (tmp_path / "cell.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert written == [str(tmp_path / "cell.dot")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_without_graphviz_the_dot_source_is_still_written_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(viz_dot, "dot_available", lambda: False)
    monkeypatch.setattr(viz_dot, "_told", False)
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        written = viz_cell.write_cell("gru", str(tmp_path / "gru.dot"))
    assert written == [str(tmp_path / "gru.dot")] and [p.name for p in tmp_path.iterdir()] == ["gru.dot"]
