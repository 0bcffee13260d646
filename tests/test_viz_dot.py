"""The DOT drawing of traced graphs: levels, collapse, time order, shared parameters, cuts, frames, files, the CLI."""
import re
import subprocess
import warnings

import pytest

import tinygrad_rnn as tr
from tests.helpers import unrolled_rnn
import viz
from tinygrad_rnn.errors import GraphError
from tinygrad_rnn.graph import Graph, Node
from tinygrad_rnn.tasks import graph as graph_task
from viz import colours, dot

needs_dot = pytest.mark.skipif(not dot.dot_available(), reason="Graphviz's dot is not installed")
HIGHWAY = ("add", "mul", "lstm_cell")


def _lstm(steps=5, layers=2, fused=False, seed=0, grads=False):
    """A traced 2-layer LSTM with a loss on the last step, and the per-step c tensors of layer 0."""
    tr.manual_seed(seed)
    lstm = tr.nn.LSTM(3, 4, num_layers=layers, fused=fused)
    out, _ = lstm(tr.randn(steps, 2, 3))
    loss = (out[-1] * out[-1]).sum()
    if grads:
        tr.graph.retain_grads(loss)
        loss.backward()
    return tr.graph.trace(loss)


def _clusters(source: str) -> list:
    """The cluster tree of a DOT source as nested (label, [children]) pairs, visible clusters only."""
    root, stack = [], []
    for line in source.splitlines():
        match = re.match(r'\s*subgraph cluster_\w+ \{ label="([^"]*)"; style="(\w+)"', line)
        if match:
            node = (match.group(1), [], match.group(2) != "invis")
            (stack[-1][1] if stack else root).append(node)
            stack.append(node)
        elif line.strip() == "}" and stack:
            stack.pop()
    return root


def _find(tree: list, label: str) -> tuple:
    for node in tree:
        if node[0] == label:
            return node
        found = _find(node[1], label)
        if found:
            return found
    return None


def _step_order(source: str, steps_of: dict) -> list:
    """Steps sorted by the mean x position dot gives their nodes (``dot -Tplain``)."""
    plain = subprocess.run(["dot", "-Tplain"], input=source, capture_output=True, text=True, check=True).stdout
    xs: dict = {}
    for line in plain.splitlines():
        fields = line.split()
        if fields[0] == "node" and fields[1] in steps_of:
            xs.setdefault(steps_of[fields[1]], []).append(float(fields[2]))
    means = {t: sum(v) / len(v) for t, v in xs.items()}
    return sorted(means, key=means.get)


# -- clusters and levels --------------------------------------------------------------------------------------------
def test_op_level_has_a_lane_per_layer_with_a_cluster_per_step():
    source = dot.to_dot(_lstm(5))
    lstm = _find(_clusters(source), "LSTM")
    for layer in ("l0", "l1"):
        lane = _find(lstm[1], layer)
        assert [c[0] for c in lane[1]] == [f"t = {t}" for t in range(5)]
    assert "(shared)" in source and "used at steps 0–4" in source  # one legend line per shared weight


def test_highway_is_exactly_the_cell_states_and_is_drawn_at_op_and_cell_level():
    g = _lstm(6)
    cs = sorted(g.find(name="c", scope="LSTM/l0"), key=lambda n: n.step)
    highway = g.path_nodes(cs[0], cs[-1], through=lambda n: n.name == "c" or (n.kind == "tensor" and not n.name)
                           or n.label in HIGHWAY)
    assert [n.step for n in highway if n.name == "c"] == [0, 1, 2, 3, 4, 5]
    assert {n.label for n in highway if n.kind == "op"} == {"add", "mul"}
    assert len([n for n in highway if n.kind == "op"]) == 2 * 5  # f⊙c and the sum, at each of 5 later steps
    op_source = dot.to_dot(g, highlight=highway)
    bold = [line for line in op_source.splitlines() if "->" in line and colours.HIGHLIGHT in line]
    assert len(bold) == len(g.path_edges(cs[0], cs[-1], through=lambda n: n in highway))
    cells = g.collapse("cell")
    cell_source = dot.to_dot(cells, highlight=highway)
    assert all(f'{c.id} [label="c' in cell_source for c in cs)
    assert all(colours.HIGHLIGHT in line for line in cell_source.splitlines() if any(line.strip().startswith(
        f"{c.id} [") for c in cs))


def test_dot_is_byte_identical_across_two_traces_at_every_level():
    for level in dot.LEVELS:
        for fused in (False, True):
            first = dot.to_dot(_lstm(4, fused=fused, grads=True), level=level, grads=True)
            assert first == dot.to_dot(_lstm(4, fused=fused, grads=True), level=level, grads=True)


@pytest.mark.parametrize("fused", [False, True])
def test_cell_level_has_one_box_per_cell_per_step_and_keeps_h_and_c(fused):
    g = _lstm(5, fused=fused)
    cells = g.collapse("cell")
    for layer in ("l0", "l1"):
        boxes = [n for n in cells.nodes if n.kind == "group" and n.scope == f"LSTM/{layer}" and n.step is not None]
        assert [n.label for n in boxes] == [f"LSTM {layer} · t={t}" for t in range(5)]
        for t, box in enumerate(boxes):
            h, c = (cells.find(name=name, scope=f"LSTM/{layer}", step=t)[0] for name in ("h", "c"))
            assert {h.id, c.id} <= {s.id for s in cells.successors(box)}  # made by the cell of step t
            if t + 1 < 5:
                assert boxes[t + 1] in cells.successors(h) and boxes[t + 1] in cells.successors(c)
    source = dot.to_dot(cells, level="cell")
    assert source.count('[label="LSTM l0 · t=') == 5 and "sigmoid" not in source


def test_layer_level_has_no_step_clusters():
    g = _lstm(5)
    layers = g.collapse("layer")
    assert [n.label for n in layers.nodes if n.kind == "group" and n.scope.startswith("LSTM/")] == \
        ["LSTM l0 · t=0–4", "LSTM l1 · t=0–4"]
    assert {n.label for n in layers.nodes if n.kind == "param"} == {n.label for n in g.nodes if n.kind == "param"}
    source = dot.to_dot(g, level="layer")
    assert "t = " not in source and "cluster_t" not in source


def test_collapse_maps_every_node_and_leaves_no_group_feeding_itself():
    tr.manual_seed(0)
    out, _ = tr.nn.GRU(3, 4, num_layers=2, bidirectional=True, fused=False)(tr.randn(4, 2, 3))
    g = tr.graph.trace(out.sum())
    for level in ("cell", "layer"):
        small = g.collapse(level)
        assert set(small.member_of) == {n.id for n in g.nodes}
        assert all(a != b for a, b in small.edges) and len(set(small.edges)) == len(small.edges)
        position = {n.id: i for i, n in enumerate(small.nodes)}
        assert all(position[a] < position[b] for a, b in small.edges)  # still a topological order: no cycle
        assert small.path_nodes(g.nodes[0], g.nodes[-1])  # nodes of the full graph map to their groups


# -- big graphs ------------------------------------------------------------------------------------------------------
def _synthetic(steps: int) -> Graph:
    """A 4-node-per-step recurrence built as Graph objects directly (no arrays): h_t = tanh(h_{t-1} @ W)."""
    nodes = [Node("w", "param", "W", (8, 8), "float32", "", None, "W"), Node("h0", "input", "h0", (1, 8), "float32",
                                                                             "", None, "h0")]
    edges, h = [], "h0"
    for t in range(steps):
        ids = [f"m{t}", f"a{t}", f"t{t}", f"h{t + 1}"]
        nodes += [Node(ids[0], "op", "matmul", (1, 8), "float32", "rnn", t), Node(ids[1], "tensor", "", (1, 8),
                                                                                  "float32", "rnn", t),
                  Node(ids[2], "op", "tanh", (1, 8), "float32", "rnn", t), Node(ids[3], "tensor", "h", (1, 8),
                                                                                "float32", "rnn", t, "h")]
        edges += [(h, ids[0]), ("w", ids[0]), (ids[0], ids[1]), (ids[1], ids[2]), (ids[2], ids[3])]
        h = ids[3]
    return Graph(nodes, edges, {})


def test_a_big_graph_is_collapsed_with_a_warning_and_never_handed_to_dot_whole(tmp_path, monkeypatch):
    big = _synthetic(25_000)
    assert len(big) > 100_000
    with pytest.warns(UserWarning, match=r"drawn at layer level.*100002 at op level, 50002 at cell level"):
        source = dot.to_dot(big)
    assert source.count("->") < 10 and "rnn · t=0–24999" in source
    with pytest.warns(UserWarning, match="drawn at cell level"):
        assert "rnn · t=3" in dot.to_dot(_synthetic(40), max_nodes=150)
    calls = []
    monkeypatch.setattr(dot.subprocess, "run", lambda *a, **k: calls.append(a))
    with pytest.warns(UserWarning, match="not handed to dot"):
        files = dot.write(big, str(tmp_path / "big.dot"), max_nodes=2)
    assert files == [str(tmp_path / "big.dot")] and calls == []


# -- truncated BPTT cuts ---------------------------------------------------------------------------------------------
def _two_windows(layer=False):
    """Two truncated-BPTT windows of 3 steps; the state is detached between them, as Trainer.fit_tbptt does."""
    tr.manual_seed(0)
    model = tr.nn.LSTM(3, 4, fused=False) if layer else tr.nn.LSTMCell(3, 4, fused=False)
    x = tr.randn(6, 2, 3)
    state, losses = None, []
    for start in (0, 3):
        if layer:
            out, state = model(x[start:start + 3], state)
            loss = out.sum()
        else:
            for t in range(start, start + 3):
                with tr.step(t):
                    state = model(x[t], state)
            loss = state[0].sum()
        loss.backward()
        losses.append(loss)
        state = tuple(s.detach() for s in state)
    return losses


def test_a_detached_state_is_drawn_as_a_cut_between_windows():
    losses = _two_windows()
    g = tr.graph.trace(*losses)
    assert [(g[a].name, g[a].step, g[b].kind) for a, b in g.cut_edges] == [("h", 2, "input"), ("c", 2, "input")]
    source = dot.to_dot(g)
    cuts = [line for line in source.splitlines() if "style=dashed" in line and dot._CUT in line]
    assert len(cuts) == 2 and source.count('xlabel="✂ detached"') == 1  # one label for the two state tensors
    assert tr.graph.trace(losses[1]).cut_edges == []  # the window before is not traced: nothing to draw
    assert len(g.collapse("cell").cut_edges) == 2
    assert "✂ detached" in dot.to_dot(g, level="layer")


def test_a_layers_detached_state_is_cut_per_layer_slice():
    losses = _two_windows(layer=True)
    g = tr.graph.trace(*losses)
    # the carried (h, c) stacks are gone by now; each layer's slice links to that layer's last h and c
    assert [(g[a].name, g[a].step, g[b].kind) for a, b in g.cut_edges] == [("h", 2, "input"), ("c", 2, "input")]
    assert dot.to_dot(g).count("✂ detached") == 1


def test_windows_of_a_layer_numbered_from_zero_come_one_after_the_other():
    g = tr.graph.trace(*_two_windows(layer=True))
    source = dot.to_dot(g, level="cell")
    assert "t = 0 · window 1" in source and "t = 0 · window 2" in source
    if dot.dot_available():
        cells = g.collapse("cell")
        slot = dot._Plan(cells, timed=True).slot  # (window, 1, step) for a node inside time
        steps = {n.id: 3 * slot[n.id][0] + n.step for n in cells.nodes if n.kind == "group" and n.step is not None}
        assert _step_order(source, steps) == list(range(6))


# -- time order ------------------------------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("level", ["op", "cell"])
def test_step_clusters_come_out_in_time_order(level, fused):
    g = _lstm(10, fused=fused).collapse(level)
    steps = {n.id: n.step for n in g.nodes if n.step is not None}
    assert _step_order(dot.to_dot(g, level=level), steps) == list(range(10))


# -- frames ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["op", "cell"])
def test_frames_unroll_one_step_at_a_time(level):
    g = _lstm(4)
    for stable in (False, True):
        sources = dot.frames(g, level=level, stable=stable)
        assert len(sources) == 4
        for t, source in enumerate(sources):
            shown = {c[0] for c in _walk(_clusters(source)) if c[2] and c[0].startswith("t = ")}
            assert shown == {f"t = {s}" for s in range(t + 1)}
    assert "getitem" not in dot.frames(g, stable=False)[2] and "getitem" in dot.frames(g, stable=False)[3]
    stable = dot.frames(g, level=level)
    assert len({len(s.splitlines()) for s in stable}) == 1  # the same nodes every time: nothing jumps
    with pytest.raises(ValueError, match="layer level"):
        dot.frames(g, level="layer")


def _walk(tree):
    for node in tree:
        yield node
        yield from _walk(node[1])


def test_write_frames_names_one_file_per_step_and_format(tmp_path):
    files = dot.write_frames(_lstm(3, layers=1), str(tmp_path), "lstm", formats=("svg",), level="cell")
    expected = [f"lstm_frame{t}.{ext}" for t in range(3) for ext in (("dot", "svg") if dot.dot_available()
                                                                     else ("dot",))]
    assert [p.rsplit("/", 1)[1] for p in files] == expected


def test_a_drawing_is_planned_once(monkeypatch):
    made = []

    class Counted(dot._Plan):
        def __init__(self, *args, **kwargs):
            made.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(dot, "_Plan", Counted)
    g = _lstm(3, layers=1)
    dot.to_dot(g)
    assert len(made) == 1
    made.clear()
    assert len(dot.frames(g)) == 3 and len(made) == 1  # stable frames share the whole graph's layout


def test_frames_too_big_for_dot_are_written_as_dot_only_with_a_warning(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(dot.subprocess, "run", lambda *a, **k: calls.append(a))
    with pytest.warns(UserWarning, match="not handed to dot"):
        files = dot.write_frames(_lstm(3, layers=1), str(tmp_path), "lstm", formats=("svg",), level="op",
                                 max_nodes=2)
    assert [p.rsplit("/", 1)[1] for p in files] == [f"lstm_frame{t}.dot" for t in range(3)] and calls == []
    with pytest.warns(UserWarning, match=r"more than 2 nodes.*at op level.*at cell level; the DOT source"):
        sources = dot.frames(_lstm(3, layers=1), max_nodes=2)  # cell level at most: frames need time steps
    assert len(sources) == 3 and "LSTM l0 · t=2" in sources[2]


# -- files, notebooks, errors ------------------------------------------------------------------------------------------
@needs_dot
def test_write_renders_every_format(tmp_path):
    files = dot.write(_lstm(2, layers=1), str(tmp_path / "g.dot"), formats=("svg", "png", "pdf"), level="cell")
    assert [f.rsplit(".", 1)[1] for f in files] == ["dot", "svg", "png", "pdf"]
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"


def test_without_dot_the_source_is_written_and_the_hint_given_once(tmp_path, monkeypatch):
    monkeypatch.setattr(dot, "dot_available", lambda: False)
    monkeypatch.setattr(dot, "_told", False)
    g = _lstm(2, layers=1)
    with pytest.warns(UserWarning, match="apt-get install graphviz"):
        assert dot.write(g, str(tmp_path / "a.dot")) == [str(tmp_path / "a.dot")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dot.write(g, str(tmp_path / "b.dot"))  # said once already
    drawing = dot.draw(g, level="cell")
    assert drawing._repr_svg_() is None
    assert drawing._repr_mimebundle_()["text/plain"].startswith(dot.INSTALL_DOT)


@needs_dot
def test_a_drawing_shows_itself_as_svg_in_a_notebook():
    drawing = dot.draw(_lstm(2, layers=1), level="cell", title="two steps")
    assert drawing._repr_mimebundle_()["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert "two steps" in drawing._repr_svg_() and str(drawing) == drawing.source


def test_a_drawing_too_big_for_dot_shows_its_source_and_is_never_rendered(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(dot.subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(dot, "dot_available", lambda: True)
    with pytest.warns(UserWarning, match="not handed to dot"):
        drawing = dot.draw(_lstm(2, layers=1), max_nodes=2)
    assert not drawing.render and drawing.svg() is None and drawing._repr_svg_() is None
    shown = drawing._repr_mimebundle_()
    assert list(shown) == ["text/plain"] and shown["text/plain"] == f"{dot.TOO_BIG}\n\n{drawing.source}"
    assert drawing.save(str(tmp_path / "big.dot")) == [str(tmp_path / "big.dot")] and calls == []
    assert dot.draw(_lstm(2, layers=1)).render


def test_tracing_a_tensor_without_a_graph_says_why():
    with tr.no_grad():
        y = tr.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(GraphError, match=r"has no graph: it was made under no_grad\(\) or is detached"):
        tr.graph.trace(y)
    h = (tr.tensor([1.0], requires_grad=True) * 2).tanh()
    with pytest.raises(GraphError, match="detached .* output of 'tanh'"):
        tr.graph.trace(h.detach())
    assert len(tr.graph.trace(tr.tensor([1.0], requires_grad=True))) == 1  # a parameter alone: one node


def test_unknown_path_ends_name_what_is_nearby():
    g = _lstm(3)
    with pytest.raises(KeyError, match="no node 'n99999'"):
        g.path_nodes("n99999", g.nodes[-1])
    other = _lstm(3, layers=1, seed=1)
    stranger = other.find(name="c", step=1)[0]
    stranger.label = "cc"  # not the same node any more
    with pytest.raises(KeyError, match=r"not in this graph; named tensors in scope 'LSTM/l0' at step 1: c, f, g"):
        g.path_nodes(stranger, g.nodes[-1])
    lonely = tr.tensor([1.0], requires_grad=True, name="cc")
    with pytest.raises(KeyError, match="names like 'cc': c"):
        g.node_of(lonely)


# -- moved here from test_graph.py: the drawing of the small hand-written RNN -----------------------------------------
def test_trace_is_deterministic_and_dot_is_byte_identical():
    first = viz.to_dot(tr.graph.trace(unrolled_rnn()[1]))
    assert first == viz.to_dot(tr.graph.trace(unrolled_rnn()[1]))
    assert "cluster_t0" in first and "cluster_t3" in first


def test_write_dot_file(tmp_path):
    files = viz.write(tr.graph.trace(unrolled_rnn()[1]), str(tmp_path / "g.dot"))
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    if viz.dot_available():
        assert (tmp_path / "g.svg").exists() and len(files) == 2


def test_dot_quotes_names_and_titles():
    h = (tr.tensor([1.0], requires_grad=True) * 2).named('say "hi"')
    with tr.scope('odd"scope'):
        h = h.tanh()
    source = viz.to_dot(tr.graph.trace(h), title='a "title"')
    assert 'say \\"hi\\"' in source and 'a \\"title\\"' in source and 'odd\\"scope' in source


def test_gradient_overlay_colours_nodes_by_gradient_norm_with_a_legend():
    W, h = unrolled_rnn(6)
    loss = h.sum()
    assert tr.graph.retain_grads(loss) > 0
    loss.backward()
    g = tr.graph.trace(loss)
    assert all(n.grad_norm is not None and n.grad_norm > 0 for n in g.find(name="h"))
    plain, overlay = viz.to_dot(g), viz.to_dot(g, grads=True)
    assert "fillcolor" in overlay and "‖grad‖" in overlay and "penwidth" in overlay
    assert "‖grad‖" not in plain
    assert overlay == viz.to_dot(tr.graph.trace(loss), grads=True)  # deterministic
    last, first = g.find(name="h", step=5)[0], g.find(name="h", step=0)[0]
    colour = {line.split()[0]: line for line in overlay.splitlines() if "fillcolor" in line}
    assert re.search('fillcolor="(#\\w+)"', colour[last.id])[1] != re.search('fillcolor="(#\\w+)"',
                                                                             colour[first.id])[1]


def test_highlighted_path_is_drawn_in_bold_colour():
    cell = tr.nn.LSTMCell(3, 4, fused=False)
    state, cs = None, []
    x = tr.randn(4, 1, 3)
    for t in range(4):
        with tr.step(t):
            state = cell(x[t], state)
        cs.append(state[1])
    g = tr.graph.trace(state[0])
    highway = g.path_nodes(g.node_of(cs[0]), g.node_of(cs[3]),
                           through=lambda n: n.name == "c" or (n.kind == "tensor" and not n.name)
                           or n.label in ("add", "mul"))
    assert [n.step for n in highway if n.name == "c"] == [0, 1, 2, 3]  # the cell-state highway c0 → c3
    source = viz.to_dot(g, highlight=highway)
    bold = [line for line in source.splitlines() if colours.HIGHLIGHT in line]
    assert len([line for line in bold if "->" in line]) == len(g.path_edges(g.node_of(cs[0]), g.node_of(cs[3]),
                                                                          through=lambda n: n in highway))
    assert any(g.node_of(cs[2]).id + " [" in line for line in bold)


# -- the command line -------------------------------------------------------------------------------------------------
def test_the_graph_command_writes_the_files_and_prints_them(tmp_path, capsys):
    from tinygrad_rnn import cli

    assert cli.main(["graph", "--cell", "lstm", "--steps", "3", "--layers", "2", "--level", "op", "--grads",
                     "--highlight", "highway", "--out", str(tmp_path), "--formats", "svg,png"]) == 0
    printed = capsys.readouterr().out.split("\n")
    expected = ["graph_lstm_op.dot"] + (["graph_lstm_op.svg", "graph_lstm_op.png"] if dot.dot_available() else [])
    assert [line.rsplit("/", 1)[1] for line in printed if line] == expected
    assert all((tmp_path / name).stat().st_size > 0 for name in expected)
    assert colours.HIGHLIGHT in (tmp_path / "graph_lstm_op.dot").read_text()
    files = graph_task.run("gru", 3, "cell", bidirectional=True, out_dir=str(tmp_path), formats=(),
                           log=lambda _: None)
    assert "GRU l0_reverse · t=2" in open(files[0]).read()


def test_cli_highlights_the_hidden_path_through_the_output_gates_and_the_backward_path():
    g, _ = graph_task.build("lstm", steps=4)
    hidden = graph_task.highlighted(g, "hidden")
    assert {n.name for n in hidden if n.name} == {"h", "o"}  # h₀ → gates → o ⊙ tanh(c) → h, no cell-state path
    assert sorted(n.step for n in hidden if n.name == "h") == [0, 1, 2, 3]
    backward = graph_task.highlighted(g, "backward")
    ends = [n for n in backward if not any(m in backward for m in g.predecessors(n))], \
        [n for n in backward if not any(m in backward for m in g.successors(n))]
    assert [(n.name, n.step) for n in ends[0]] == [("h", 0)] and [n.shape for n in ends[1]] == [()]
    assert {"f", "c", "o"} <= {n.name for n in backward}  # the gradient reaches h₀ through the gates and c


def _table_colour(source: str, tooltip: str) -> str:
    """The fill of the parameters' table whose tooltip holds ``tooltip``."""
    line = next(line for line in source.splitlines() if "params_" in line and tooltip in line)
    return re.search('BGCOLOR="(#\\w+)"', line)[1]


def test_a_shared_weight_inside_step_t_shows_step_ts_share_of_its_gradient_not_the_total():
    W, h = unrolled_rnn(4)
    loss = h.sum()
    g = tr.graph.trace(loss)
    g.retain_grads()
    loss.backward()
    shares, W_node = g.grad_shares(g.node_of(W)), g.node_of(W)
    source = viz.to_dot(g, grads=True)
    scale = dot._GradientScale(g, dot._Plan(g, timed=True))
    fills = {t: _table_colour(source, f"W_hh · step {t}'s share of ‖grad‖ {shares[t]:.3g}") for t in range(4)}
    assert fills[0] == colours.NO_GRADIENT  # h_0 = 0, so step 0 gives W_hh nothing: grey, not the total's red
    for t in (1, 2, 3):
        assert fills[t] == colours.ramp(scale.position(W_node.id, t))
    assert len(set(fills.values())) == 4
    assert f"step 2's share of ‖grad‖ {shares[2]:.3g} (all steps' {W_node.grad_norm:.3g})" in source
    assert "a shared parameter inside step t: step t's share of its gradient" in source


def test_without_kept_shares_a_shared_weights_copies_show_no_colour_and_the_legend_says_why():
    W, h = unrolled_rnn(3)
    loss = h.sum()
    g = tr.graph.trace(loss)
    loss.backward()  # not marked: W.grad is there, its per-step shares are not
    source = viz.to_dot(g, grads=True)
    tables = [line for line in source.splitlines() if "params_" in line and "label=<" in line]
    assert len(tables) == 3 and all(f'BGCOLOR="{colours.NO_GRADIENT}"' in line for line in tables)
    assert "their per-step shares were not kept" in source


def test_category_is_the_outline_and_the_gradient_the_fill_with_a_legend_of_what_is_drawn():
    x = tr.tensor([1.0], requires_grad=True, name="x")
    y = (x * 2).tanh()
    g = tr.graph.trace(y)
    g.retain_grads()
    y.backward(tr.tensor([1.0]))
    plain, overlay = viz.to_dot(g), viz.to_dot(g, grads=True)
    line = {n.kind: next(s for s in overlay.splitlines() if s.strip().startswith(f"{n.id} [")) for n in g.nodes}
    assert 'shape="box"' in line["param"] and 'style="filled,bold"' in line["param"]
    assert f'color="{colours.STYLE["param"]["color"]}"' in line["param"]
    assert 'shape="ellipse"' in line["op"] and f'color="{colours.STYLE["op"]["color"]}"' in line["op"]
    assert f'fillcolor="{colours.STYLE["param"]["fillcolor"]}"' not in line["param"]  # the fill is the gradient's
    for source in (plain, overlay):
        assert "parameter (bold box)" in source and "operation (ellipse)" in source
        assert "input (rounded box)" not in source and "the operations of a cell" not in source  # none drawn
    assert "outline: what a node is" in overlay and "no gradient (none kept, or zero)" in overlay
    assert "no gradient" not in plain


def test_the_legend_says_when_a_fused_cell_is_drawn_as_one_node():
    assert "lstm_cell: a fused cell step, all its gates in one node" in viz.to_dot(_lstm(3, 1, fused=True))
    assert "fused cell step" not in viz.to_dot(_lstm(3, 1, fused=False))


@pytest.mark.parametrize("level", ["op", "cell"])
def test_a_seq2seq_decoder_step_is_one_column_labelled_with_the_decoders_own_step(level):
    tr.manual_seed(0)
    model = tr.nn.Seq2Seq(src_vocab_size=9, tgt_vocab_size=9, embed_size=4, hidden_size=4, bidirectional=True)
    loss = model.loss(tr.tensor([[3, 4, 5]]), [3], tr.tensor([[1, 6, 7, 8]]), tr.tensor([[6, 7, 8, 2]]))
    g = tr.graph.trace(loss)
    source = viz.to_dot(g, level=level)
    for t in range(4):  # decoder step t lies at 3 + t on the timeline, after the encoder's 3 steps
        boxes = re.findall(rf'subgraph cluster_t{3 + t}s\w* {{ label="([^"]*)"', source)
        assert boxes == [f"t = {t}"], boxes
    for t in range(3):  # the encoder: one box per direction (a lane each) per step
        assert len(re.findall(rf"subgraph cluster_t{t}s", source)) == 2
    assert len(dot.frames(g, level="cell")) == 7  # one frame per place on the timeline


@needs_dot
def test_a_picture_dot_scales_down_is_reported_with_what_to_do_instead(tmp_path):
    chain = "digraph { rankdir=LR; " + " ".join(f"n{i} -> n{i + 1};" for i in range(1200)) + " }"
    with pytest.warns(UserWarning, match=r"dot scaled .*chain\.png down to 0\.\d+ of its size.*SVG.*viz\.explore"
                                         r".*level='cell' or 'layer'"):
        dot.write_source(chain, str(tmp_path / "chain.dot"), formats=("png",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an SVG is never scaled
        dot.write_source(chain, str(tmp_path / "chain.dot"), formats=("svg",))
