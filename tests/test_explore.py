"""The explorer's Python side: the model read from the traced graph, the page (self-contained, safe to embed), the
file-size bound, the vendored Graphviz build and its refresh script, and the CLI's ``graph --explore``."""
import html
import io
import json
import os
import re
import tarfile
from importlib import resources

import pytest

import tinygrad_rnn as tr
import viz
from tinygrad_rnn.cli import main
from tinygrad_rnn.errors import ArgumentError
from tinygrad_rnn.tasks.graph import build
from viz.explorer import refresh_vendor


@pytest.fixture(scope="module")
def lstm():
    graph, _ = build("lstm", steps=5, layers=2, fused=False)
    return graph, viz.explore(graph, title="LSTM")


def model_of(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="model">(.*?)</script>', page, re.S).group(1))


def test_the_model_holds_every_node_with_the_graphs_own_numbers(lstm):
    graph, explorer = lstm
    m = explorer.model
    strings = m["strings"]
    assert len(m["kind"]) == len(graph) and len(m["edges"]) == 2 * len(graph.edges)
    for k, node in enumerate(graph.nodes):
        assert (strings[m["kind"][k]], strings[m["scope"][k]], m["step"][k]) == (node.kind, node.scope, node.step)
        assert m["grad"][k] == node.grad_norm  # the very float, None where none was kept
    cells = graph.collapse("cell")
    assert len(m["groups"]["label"]) == sum(n.kind == "group" for n in cells.nodes)
    assert {(s["scope"], s["name"]) for s in m["strip"]} == {(f"LSTM/l{k}", n) for k in (0, 1) for n in ("c", "h")}
    h = next(s for s in m["strip"] if s == {**s, "scope": "LSTM/l1", "name": "h"})
    assert h["norms"]["3"] == graph.find(name="h", scope="LSTM/l1", step=3)[0].grad_norm
    assert set(m["paths"]) == {"cell-state highway", "hidden path"}
    weight = [n.id for n in graph.nodes].index(graph.find(name="weight_hh_l1")[0].id)
    assert m["shares"][str(weight)]["2"] == pytest.approx(graph.grad_shares(graph.nodes[weight])[2], rel=1e-5)


def test_without_grads_the_model_carries_no_gradient(lstm):
    graph, _ = lstm
    m = viz.explore(graph, grads=False).model
    assert set(m["grad"]) == {None} and m["strip"] == [] and m["shares"] == {}


def test_the_page_is_self_contained_and_cannot_be_closed_early_by_a_title():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    explorer = viz.explore((x * x).sum(), title="</script><script>alert(1)</script>")
    page = explorer.html()
    assert page.count("</script>") == 3  # the model, Graphviz, the explorer: nothing else closes a script
    assert model_of(page)["title"] == "</script><script>alert(1)</script>"
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch
    frame = explorer._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and html.unescape(frame.split('"')[1]) == page


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # float32 overflow, and the stats of an inf
def test_an_overflowed_gradient_leaves_the_page_whole():
    x = tr.tensor([1e30, 1.0], requires_grad=True)
    y = (x * x * x).sum()  # in float32 its gradient 3x² overflows
    g = tr.graph.trace(y)
    g.retain_grads()
    y.backward()
    assert g.node_of(x).grad_norm == float("inf")
    m = model_of(viz.explore(g).html())  # JSON has no inf: the norm shows as none kept
    assert m["grad"][[n.id for n in g.nodes].index(g.node_of(x).id)] is None


def test_a_bad_window_is_an_error_naming_it():
    x = tr.tensor([1.0], requires_grad=True)
    with pytest.raises(ArgumentError, match=r"explore: window .* got \(3, 1\)"):
        viz.explore(x * 2, window=(3, 1))


def test_the_file_of_a_1000_step_two_layer_lstm_stays_under_10_mb(tmp_path):
    """Measured on 100 steps and scaled by the node count: the page is the fixed parts plus so much per node."""
    small, _ = build("lstm", steps=100, layers=2, fused=False)
    tiny, _ = build("lstm", steps=2, layers=2, fused=False)
    size = os.path.getsize(viz.explore(small).save(str(tmp_path / "small.html")))
    base = os.path.getsize(viz.explore(tiny).save(str(tmp_path / "tiny.html")))
    per_node = (size - base) / (len(small) - len(tiny))
    nodes_1000 = len(tiny) + (len(small) - len(tiny)) * (1000 - 2) / (100 - 2)  # the graph grows by steps
    assert base + per_node * nodes_1000 < 10e6


def test_the_vendored_build_is_the_pinned_one_and_ships_with_its_licences():
    folder = resources.files("viz.explorer").joinpath("vendor")
    pin = refresh_vendor.read_pin(str(folder))
    assert pin["package"] == "@viz-js/viz" and pin["version"]
    assert refresh_vendor.integrity(folder.joinpath("viz-global.js").read_bytes()) == pin["file-integrity"]
    assert "MIT License" in folder.joinpath("LICENSE-viz-js.txt").read_text(encoding="utf-8")
    assert "Eclipse Public License - v 2.0" in folder.joinpath("LICENSE-graphviz-EPL-2.0.txt").read_text("utf-8")
    with open(os.path.join(os.path.dirname(__file__), "..", "setup.cfg"), encoding="utf-8") as f:
        assert "viz.explorer = *.js, *.css, *.html, vendor/*" in f.read()  # pip install . ships them


def fake_registry(build_bytes: bytes, integrity=None):
    """A registry that serves one version of the package: its metadata and a tarball holding ``build_bytes``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(refresh_vendor.BUILD)
        info.size = len(build_bytes)
        archive.addfile(info, io.BytesIO(build_bytes))
    tarball = buffer.getvalue()
    meta = {"dist": {"tarball": "https://registry.example/viz-9.9.9.tgz",
                     "integrity": integrity or refresh_vendor.integrity(tarball)}}
    return lambda url: tarball if url.endswith(".tgz") else json.dumps(meta).encode()


def test_refresh_vendor_checks_the_integrity_before_it_changes_anything(tmp_path):
    (tmp_path / "VERSION").write_text("package: @viz-js/viz\nversion: 3.31.0\nintegrity: sha512-old\n")
    (tmp_path / "viz-global.js").write_text("old build")
    with pytest.raises(ValueError, match="integrity"):
        refresh_vendor.refresh("9.9.9", str(tmp_path), get=fake_registry(b"new build", integrity="sha512-wrong"))
    assert (tmp_path / "viz-global.js").read_text() == "old build"
    pin = refresh_vendor.refresh("9.9.9", str(tmp_path), get=fake_registry(b"new build"))
    assert (tmp_path / "viz-global.js").read_bytes() == b"new build"
    assert refresh_vendor.read_pin(str(tmp_path)) == pin and pin["version"] == "9.9.9"
    assert pin["file-integrity"] == refresh_vendor.integrity(b"new build")


def test_the_graph_command_writes_the_explorer(tmp_path, capsys):
    assert main(["graph", "--cell", "gru", "--steps", "3", "--grads", "--explore", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "graph_gru.html").read_text(encoding="utf-8")
    assert model_of(page)["steps"] == [0, 2] and "Viz.instance" in page
    assert f"wrote {tmp_path / 'graph_gru.html'}" in capsys.readouterr().out
