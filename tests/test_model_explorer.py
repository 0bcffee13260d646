"""viz.model_explorer: the graph JSON and node data Model Explorer reads, checked for structure here and, where
Model Explorer 0.1.34, Chromium and Playwright are installed, loaded into its server and rendered in headless
Chromium."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest

import tinygrad_rnn as tr
from tests.helpers import BROWSERS
from viz import model_explorer

STEPS, LAYERS = 3, 2


@pytest.fixture(scope="module")
def lstm_graph():
    """A 2-layer op-level LSTM over 3 steps, every tensor's gradient kept."""
    tr.manual_seed(0)
    lstm = tr.nn.LSTM(2, 3, num_layers=LAYERS, fused=False)
    out, _ = lstm(tr.randn(STEPS, 1, 2))
    loss = (out * out).sum()
    graph = tr.graph.trace(loss)
    graph.retain_grads()
    loss.backward()
    return graph, loss, out  # the tensors keep the graph's nodes alive


@pytest.fixture(scope="module")
def exported(lstm_graph, tmp_path_factory):
    paths = model_explorer.write(lstm_graph[0], str(tmp_path_factory.mktemp("me") / "lstm.json"))
    with open(paths[0], encoding="utf-8") as f:
        collection = json.load(f)
    with open(paths[1], encoding="utf-8") as f:
        data = json.load(f)
    return paths, collection, data


def test_files_and_collection(exported):
    paths, collection, data = exported
    assert [os.path.basename(p) for p in paths] == ["lstm.json", "lstm.log10_grad.json"]
    assert collection["label"] == "lstm" and [g["id"] for g in collection["graphs"]] == ["lstm"]
    assert list(data) == ["lstm"]
    assert not [f for f in os.listdir(os.path.dirname(paths[0])) if f.startswith(".tmp-")]


def test_nodes_edges_and_outputs_match_the_graph(lstm_graph, exported):
    graph = lstm_graph[0]
    nodes = exported[1]["graphs"][0]["nodes"]
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) and ids == [n.id for n in graph.nodes]
    by_id = {n["id"]: n for n in nodes}
    seen = Counter()
    for n in nodes:
        inputs = [e["targetNodeInputId"] for e in n["incomingEdges"]]
        assert inputs == [str(k) for k in range(len(inputs))], n["id"]
        for e in n["incomingEdges"]:
            source = by_id[e["sourceNodeId"]]  # a KeyError here is an edge to a node that does not exist
            assert e["sourceNodeOutputId"] in {o["id"] for o in source["outputsMetadata"]}, (source["id"], n["id"])
            seen[(e["sourceNodeId"], n["id"])] += 1
        assert n["label"] and {a["key"] for a in n["attrs"]} >= {"kind", "shape"}
    assert seen == Counter(graph.edges)
    unbind = next(n for n in graph.ops if n.label == "unbind")  # one op, one output per step
    assert [o["id"] for o in by_id[unbind.id]["outputsMetadata"]] == [str(k) for k in range(STEPS)]


def test_namespaces_are_scope_then_step(lstm_graph, exported):
    graph = lstm_graph[0]
    by_id = {n["id"]: n for n in exported[1]["graphs"][0]["nodes"]}
    forget = graph.find(name="f", scope="LSTM/l1", step=2)
    assert len(forget) == 1 and by_id[forget[0].id]["namespace"] == "LSTM/l1/t=2"
    for n in graph.nodes:
        expected = "/".join(([n.scope] if n.scope else []) + ([f"t={n.step}"] if n.step is not None else []))
        assert by_id[n.id]["namespace"] == expected
    assert {ns for ns in (n["namespace"] for n in by_id.values()) if "t=" in ns} == {
        f"LSTM/l{k}/t={t}" for k in range(LAYERS) for t in range(STEPS)}


def test_each_layer_is_laid_out_left_to_right(exported):
    configs = exported[1]["graphs"][0]["groupNodeConfigs"]
    assert [c["layoutDirection"] for c in configs] == [1] * LAYERS
    regexes = [re.compile(c["namespaceRegex"]) for c in configs]
    assert [bool(r.search("LSTM/l0")) for r in regexes] == [True, False]
    assert regexes[1].search("LSTM/l1/section_2_of_3")  # Model Explorer's split of a layer with many steps
    assert not any(r.search(ns) for r in regexes for ns in ("LSTM", "LSTM/l0/t=1", "LSTM/l01", ""))


def test_steps_without_a_scope_lay_out_the_root_left_to_right_and_scopes_are_literal():
    x = tr.tensor([0.5], requires_grad=True)
    h = x
    for t in range(2):
        with tr.step(t):
            h = h.tanh()
    with tr.scope("a.b (x)"), tr.step(0):
        h = h * 2
    configs = model_explorer.to_json(tr.graph.trace(h))["graphs"][0]["groupNodeConfigs"]
    patterns = [c["namespaceRegex"] for c in configs]
    assert patterns[0] == "^$"
    assert re.search(patterns[1], "a.b (x)") and not re.search(patterns[1], "aXb (x)")


def test_node_data_is_log10_of_each_grad_norm(lstm_graph, exported):
    graph = lstm_graph[0]
    results = exported[2]["lstm"]["results"]
    norms = {n.id: n.grad_norm for n in graph.nodes if n.grad_norm}
    assert set(results) == set(norms) and len(norms) > len(graph.nodes) // 3
    for node_id, norm in norms.items():
        assert results[node_id]["value"] == pytest.approx(math.log10(norm), rel=1e-12, abs=1e-12)
    stops = exported[2]["lstm"]["gradient"]
    assert stops[0]["stop"] == 0 and stops[-1]["stop"] == 1 and all(s["bgColor"].startswith("#") for s in stops)
    by_id = {n["id"]: n for n in exported[1]["graphs"][0]["nodes"]}
    weight = graph.find(name="weight_hh_l1")[0]
    attrs = {a["key"]: a["value"] for a in by_id[weight.id]["attrs"]}
    assert float(attrs["‖grad‖"]) == pytest.approx(weight.grad_norm, rel=1e-5)
    assert attrs["kind"] == "param" and attrs["shape"] == "[12, 3]" and attrs["dtype"] == "float32"


def test_a_zero_gradient_is_left_out_of_the_node_data(tmp_path):
    w = tr.tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (w * 0).sum()
    y.backward()
    paths = model_explorer.write(y, str(tmp_path / "zero.json"))
    assert len(paths) == 1  # the one gradient kept is zero: no data to colour by
    node = next(n for n in json.load(open(paths[0]))["graphs"][0]["nodes"] if n["label"] == "w")
    assert {"key": "‖grad‖", "value": "0"} in node["attrs"]


def test_without_gradients_only_the_graph_is_written(lstm_graph, tmp_path):
    paths = model_explorer.write(lstm_graph[0], str(tmp_path / "g.json"), grads=False)
    assert paths == [str(tmp_path / "g.json")]
    nodes = json.load(open(paths[0]))["graphs"][0]["nodes"]
    assert not any(a["key"] == "‖grad‖" for n in nodes for a in n["attrs"])


def test_a_tensor_is_traced_and_anything_else_refused(tmp_path):
    h = (tr.tensor(np.ones((1, 2), dtype="float32"), requires_grad=True) * 2).tanh()
    paths = model_explorer.write(h, str(tmp_path / "t.json"), title="tiny")
    assert json.load(open(paths[0]))["graphs"][0]["id"] == "tiny"
    with pytest.raises(tr.ArgumentTypeError, match=r"model_explorer.write: graph must be .* got list"):
        model_explorer.write([h], str(tmp_path / "bad.json"))


# -- in Model Explorer itself ---------------------------------------------------------------------------------------
# Model Explorer draws on a WebGL canvas, so the graph it laid out is read from its layout worker's messages
# (0.1.34: eventType 1 the first layout, 3 a relayout after expanding; each holds the modelGraph, whose nodes carry
# nodeType 0 for ops, 1 for groups, and x, y inside their parent). The page's side panel is plain DOM.
_CATCH_WORKER = """
window.__layouts = [];
const NativeWorker = window.Worker;
window.Worker = function (url, options) {
  const worker = new NativeWorker(url, options);
  worker.addEventListener("message", (e) => { if (e.data && e.data.modelGraph) window.__layouts.push(e.data); });
  return worker;
};
window.Worker.prototype = NativeWorker.prototype;
"""
_GROUPS = """(() => { const graph = window.__layouts[window.__layouts.length - 1].modelGraph;
  return graph.nodes.filter(n => n.nodeType === 1).map(n => [n.id, n.x, n.y]); })()"""


def _browser_tools() -> tuple:
    """Chromium and Playwright, or a skip saying which is missing."""
    pytest.importorskip("model_explorer", reason="Model Explorer is not installed: make test installs it, or "
                        "pip install 'tinygrad_rnn[model-explorer]'")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless Chromium: make test installs Debian's chromium package where it can "
                    "(sudo apt-get install chromium)")
    return browser, sync_api


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(exported):
    """Model Explorer's server on a free 127.0.0.1 port with the exported graph and node data: its page URL."""
    browser, sync_api = _browser_tools()
    paths = exported[0]
    port = _free_port()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    # its command line, without PyTorch: importing torch (for the adapter of exported PyTorch programs, which a
    # JSON graph does not need) is most of the server's start-up
    start = "import sys; sys.modules['torch'] = None; from model_explorer.cmdline import main; main()"
    server = subprocess.Popen([sys.executable, "-c", start, paths[0], "--node_data_paths", paths[1],
                               "--host", "127.0.0.1", "--port", str(port), "--no_open_in_browser"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    url = None
    while url is None and server.poll() is None and time.monotonic() < deadline:
        url = next((line.strip() for line in list(lines) if line.startswith(f"http://127.0.0.1:{port}/")), None)
        time.sleep(0.2)
    try:
        assert url, f"Model Explorer's server printed no address: {''.join(lines)[-2000:]}"
        yield url, browser, sync_api
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_model_explorer_renders_the_export(served, lstm_graph, exported):
    url, browser, sync_api = served
    graph = lstm_graph[0]
    values = [r["value"] for r in exported[2]["lstm"]["results"].values()]
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser,
                                     args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            blocked, errors = [], []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # offline: only the server answers (Model Explorer asks Google for a web font, which it does without)
            page.route(lambda u: not u.startswith(url.split("?")[0]), lambda r: (blocked.append(r.request.url),
                                                                               r.abort()))
            page.add_init_script(_CATCH_WORKER)
            page.goto(url)
            page.wait_for_function("window.__layouts.length > 0", timeout=60_000)
            laid_out = page.evaluate("window.__layouts[0].modelGraph.nodes.filter(n => n.nodeType === 0)"
                                     ".map(n => n.id)")
            assert sorted(laid_out) == sorted(n.id for n in graph.nodes)
            page.wait_for_selector("text=Aggregated stats", timeout=30_000)  # the node data is loaded
            panel = page.inner_text("body")
            assert re.search(rf"op node count\s+{len(graph)}\b", panel)
            assert "lstm.log10_grad.json" in panel
            low, high = (float(re.search(rf"{k}\s+(-?[0-9.e+-]+)", panel).group(1)) for k in ("Min", "Max"))
            assert low == pytest.approx(min(values)) and high == pytest.approx(max(values))

            page.click("mat-icon.toolbar-icon:text('unfold_more_double')")  # "Expand all layers"
            page.wait_for_function("window.__layouts.length > 1", timeout=60_000)
            groups = {gid.removesuffix("___group___"): (x, y) for gid, x, y in page.evaluate(_GROUPS)}
            for k in range(LAYERS):
                xs = [groups[f"LSTM/l{k}/t={t}"][0] for t in range(STEPS)]
                assert xs == sorted(xs) and len(set(xs)) == STEPS, f"layer {k}: steps at x = {xs}"
            assert groups["LSTM/l0"][1] < groups["LSTM/l1"][1]  # layer 1 a lane below layer 0
            assert not errors, errors
            assert all("fonts.g" in u for u in blocked), blocked
        finally:
            chromium.close()
