"""The explorer in a real browser (Playwright driving Debian's Chromium): it opens at a bounded overview, expands a
step and collapses it, lands on a search match, shows a node's numbers as the traced graph has them, toggles the
gradient overlay, moves its time window, highlights a path — with nothing on the console and no request but the
file itself. One browser serves the whole module."""
import math
import os

import pytest

pytest.importorskip("playwright", reason="pip install playwright (the dev extra) to drive Chromium through the "
                                         "explorer")

import tinygrad_rnn as tr  # noqa: E402
import viz  # noqa: E402
from tests.helpers import Watched, launch_chromium  # noqa: E402
from tinygrad_rnn.tasks.graph import build  # noqa: E402
from viz import colours  # noqa: E402

STEPS = 7


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """A 2-layer op-level LSTM after backward (every tensor's gradient kept) and its explorer page on disk."""
    graph, _ = build("lstm", steps=STEPS, layers=2, fused=False)
    path = tmp_path_factory.mktemp("explore") / "lstm.html"
    viz.explore(graph, title="2-layer LSTM").save(str(path))
    return graph, path


@pytest.fixture
def opened(browser, traced):
    watched = Watched(browser)
    page = watched.open(str(traced[1]))
    yield watched, page
    assert watched.console == []
    assert watched.requests == [traced[1].resolve().as_uri()]  # nothing but the file itself
    watched.page.close()


def renders(page) -> int:
    return int(page.evaluate("document.body.dataset.renders"))


def click_and_wait(page, selector: str) -> None:
    before = renders(page)
    page.click(selector)
    page.wait_for_function(f"Number(document.body.dataset.renders) > {before}")


def group_of(graph, name: str, scope: str, step: int) -> int:
    """The index of the cell group (as the page numbers them) holding the tensor ``name`` at ``scope``, ``step``."""
    cells = graph.collapse("cell")
    groups = [n.id for n in cells.nodes if n.kind == "group"]
    op = graph.predecessors(graph.find(name=name, scope=scope, step=step)[0])[0]
    return groups.index(cells.member_of[op.id])


def label_of(page, key: str) -> str:
    """The text a drawn node shows (its SVG <text> lines)."""
    return page.evaluate(f"[...document.querySelectorAll('#{key} text')].map(t => t.textContent).join(' ')")


def index_of(graph, node) -> int:
    return [n.id for n in graph.nodes].index(node.id)


def test_opens_at_a_bounded_overview_with_time_folded(opened, traced):
    _, page = opened
    drawn = int(page.evaluate("document.body.dataset.drawn"))
    assert 0 < drawn < len(traced[0]) / 3
    first, last = int(page.evaluate("document.body.dataset.from")), int(page.evaluate("document.body.dataset.to"))
    assert first == 0 and last < STEPS - 1  # a window of steps, the rest folded
    assert f"… {STEPS - 1 - last} steps …" in page.inner_text("#canvas")
    assert "‖∂L/∂h‖" in page.inner_text("#canvas")  # the strip's numbers beside the steps


def test_the_overview_draws_as_many_nodes_for_ten_times_the_steps(browser, opened, tmp_path):
    _, page = opened
    long_graph, _ = build("lstm", steps=10 * STEPS, layers=2, fused=False)
    watched = Watched(browser)
    longer = watched.open(viz.explore(long_graph).save(str(tmp_path / "long.html")))
    assert longer.evaluate("document.body.dataset.drawn") == page.evaluate("document.body.dataset.drawn")
    assert watched.console == []
    watched.page.close()


def test_a_step_expands_to_its_ops_and_collapses_back(opened, traced):
    graph, _ = traced
    _, page = opened
    g = group_of(graph, "f", "LSTM/l1", 0)
    click_and_wait(page, f"#G{g}")
    assert page.query_selector(f"#G{g}") is None and page.query_selector(f"#C{g}") is not None
    ops = {label_of(page, f"N{index_of(graph, n)}") for n in graph.find(scope="LSTM/l1", step=0, kind="op")}
    assert {"sigmoid", "tanh", "mul", "add"} <= ops
    click_and_wait(page, f"#C{g} > text")  # the step's label collapses it
    assert page.query_selector(f"#G{g}") is not None and page.query_selector(f"#C{g}") is None


def test_a_layer_collapses_into_one_box_and_opens_again(opened, traced):
    _, page = opened
    lane = page.evaluate("G.lanes.get('LSTM/l1')")
    drawn = int(page.evaluate("document.body.dataset.drawn"))
    click_and_wait(page, f"#L{lane} > text")  # the lane's name
    assert page.query_selector(f"#S{lane}") is not None and int(page.evaluate("document.body.dataset.drawn")) < drawn
    click_and_wait(page, f"#S{lane}")
    assert page.query_selector(f"#S{lane}") is None and int(page.evaluate("document.body.dataset.drawn")) == drawn


def test_search_lands_on_the_match_with_the_numbers_of_the_traced_graph(opened, traced):
    graph, _ = traced
    _, page = opened
    target = graph.find(name="f", scope="LSTM/l1", step=STEPS - 1)[0]
    page.fill("#search", f"f LSTM/l1 t={STEPS - 1}")
    assert page.inner_text("#matches") == "1 match"
    before = renders(page)
    page.press("#search", "Enter")
    page.wait_for_function(f"Number(document.body.dataset.renders) > {before}")
    key = f"N{index_of(graph, target)}"
    assert page.get_attribute(f"#{key}", "class") == "node match selected"
    assert int(page.evaluate("document.body.dataset.to")) == STEPS - 1  # the window moved to the match

    def field(name: str) -> str:
        return page.get_attribute(f'#details tr[data-field="{name}"]', "data-value") or \
            page.inner_text(f'#details tr[data-field="{name}"] td:last-child')

    assert field("shape") == "×".join(map(str, target.shape)) and field("scope") == "LSTM/l1"
    assert float(field("grad")) == target.grad_norm  # the very float the graph holds
    stats = target.stats()
    for k, key in enumerate(("min", "max", "mean", "std", "norm")):
        assert float(field(f"stat-{k}")) == pytest.approx(stats[key], rel=1e-3, abs=1e-12)


def test_clicking_a_shared_weight_shows_its_gradient(opened, traced):
    graph, _ = traced
    _, page = opened
    weight = graph.find(name="weight_hh_l0")[0]
    page.click(f"#N{index_of(graph, weight)}")
    assert page.inner_text('#details tr[data-field="kind"] td:last-child') == "tensor (param)"
    grad = float(page.get_attribute('#details tr[data-field="grad"]', "data-value"))
    assert math.isclose(grad, weight.grad_norm, rel_tol=0, abs_tol=0)
    shares = graph.grad_shares(weight)  # each step's share of it, listed for the steps in the window
    last = int(page.evaluate("document.body.dataset.to"))
    for t in range(last + 1):
        shown = float(page.get_attribute(f'#details tr[data-field="share-{t}"]', "data-value"))
        assert shown == pytest.approx(shares[t], rel=1e-5)
    assert page.query_selector(f'#details tr[data-field="share-{last + 1}"]') is None


def shape_attribute(page, key: str, name: str) -> str:
    """An attribute of a drawn node's outline (a polygon, a rounded box's path or an ellipse)."""
    return page.evaluate(f"document.querySelector('#{key} polygon, #{key} path, #{key} ellipse')"
                         f".getAttribute('{name}')")


def fill_of(page, key: str) -> str:
    return shape_attribute(page, key, "fill")


def outline_of(page, key: str) -> str:
    return shape_attribute(page, key, "stroke")


def test_the_gradient_overlay_toggles(opened, traced):
    graph, _ = traced
    _, page = opened
    weight = f"N{index_of(graph, graph.find(name='weight_hh_l0')[0])}"
    with_overlay = fill_of(page, weight)
    before = renders(page)
    page.uncheck("#overlay")
    page.wait_for_function(f"Number(document.body.dataset.renders) > {before}")
    assert fill_of(page, weight) == "#d5e8d4" != with_overlay  # the parameter's own colour, not its ‖grad‖'s
    assert fill_of(page, weight) == colours.STYLE["param"]["fillcolor"]  # the static drawings' colours
    assert outline_of(page, weight) == colours.STYLE["param"]["color"]


def test_a_node_without_gradient_has_the_static_drawings_no_gradient_fill(browser, tmp_path):
    x = tr.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).tanh().named("y")  # no backward: no node has a gradient
    graph = tr.graph.trace(y)
    watched = Watched(browser)
    page = watched.open(viz.explore(graph).save(str(tmp_path / "none.html")))
    key = f"N{index_of(graph, graph.find(name='y')[0])}"
    assert fill_of(page, key) == colours.NO_GRADIENT
    assert f'fillcolor="{colours.NO_GRADIENT}"' in viz.to_dot(graph, grads=True)
    assert watched.console == []
    watched.page.close()


def test_the_time_window_moves_and_a_fold_opens(opened, traced):
    _, page = opened
    last = int(page.evaluate("document.body.dataset.to"))
    fold = page.query_selector("g.node[id^=F][id$=a]").get_attribute("id")
    click_and_wait(page, f"#{fold}")
    assert int(page.evaluate("document.body.dataset.to")) == STEPS - 1 > last
    page.fill("#from", "2")
    page.fill("#to", "3")
    before = renders(page)
    page.press("#to", "Enter")
    page.dispatch_event("#to", "change")
    page.wait_for_function(f"Number(document.body.dataset.renders) > {before}")
    assert (page.evaluate("document.body.dataset.from"), page.evaluate("document.body.dataset.to")) == ("2", "3")
    assert "… 2 steps …" in page.inner_text("#canvas") and "… 3 steps …" in page.inner_text("#canvas")


def test_the_cell_state_highway_and_the_paths_to_the_loss_light_up(opened, traced):
    graph, _ = traced
    _, page = opened
    before = renders(page)
    page.select_option("#highlight", "cell-state highway")
    page.wait_for_function(f"Number(document.body.dataset.renders) > {before}")
    c = graph.find(name="c", scope="LSTM/l0", step=1)[0]
    assert outline_of(page, f"N{index_of(graph, c)}") == "#c2185b"
    lit = page.evaluate("document.querySelectorAll('g.edge path[stroke=\"#c2185b\"]').length")
    assert lit > 0


def test_a_report_with_explorers_opens_with_every_one_working(browser, traced, tmp_path):
    from viz.report import Report

    graph, _ = traced
    report = Report("explorers")
    for name in ("first", "second"):
        page = viz.explore(graph, title=name).save(str(tmp_path / f"{name}.html"))
        report.explorer(page, f"the {name} explorer", links=[page])
    path = report.write(str(tmp_path / "report.html"))
    watched = Watched(browser)
    page = watched.open(path, ready='body[data-explorers="2"]')
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 2 and all(f.evaluate("Number(document.body.dataset.drawn)") > 0 for f in frames)
    assert watched.console == []
    assert sorted(watched.requests) == sorted((tmp_path / n).as_uri() for n in ("report.html", "first.html",
                                                                                 "second.html"))
    watched.page.close()


def test_an_executed_notebook_shows_the_explorer_inline(browser, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat nbclient ipykernel (the dev extra)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient ipykernel (the dev extra)")
    pytest.importorskip("ipykernel", reason="pip install ipykernel (the dev extra)")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import tinygrad_rnn as tr, viz\n"
        "out, _ = tr.nn.LSTM(3, 4, fused=False)(tr.randn(4, 1, 3, requires_grad=True))\n"
        "loss = out.sum(); g = tr.graph.trace(loss); _ = g.retain_grads(); loss.backward()\n"
        "viz.explore(g, title='in a notebook')")])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's packages
    nbclient.NotebookClient(notebook, timeout=120, resources={"metadata": {"path": root}}).execute()
    shown = notebook.cells[0].outputs[0]["data"]["text/html"]
    assert shown.startswith("<iframe srcdoc=")
    (tmp_path / "notebook_output.html").write_text(f"<!doctype html><html><body>{shown}</body></html>",
                                                    encoding="utf-8")
    watched = Watched(browser)
    page = watched.open(str(tmp_path / "notebook_output.html"), ready="iframe")
    frame = page.frames[1]
    frame.wait_for_selector("body[data-ready]", state="attached", timeout=60_000)
    assert frame.evaluate("document.title") == "in a notebook" and watched.console == []
    assert watched.requests == [(tmp_path / "notebook_output.html").as_uri()]
    watched.page.close()


def test_the_wheel_zooms_a_drag_pans_and_fit_fits(opened):
    _, page = opened
    fitted = float(page.evaluate("document.body.dataset.zoom"))
    page.mouse.move(400, 300)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"Number(document.body.dataset.zoom) > {fitted}")
    before = page.evaluate("document.getElementById('canvas').style.transform")
    page.mouse.down()
    page.mouse.move(300, 250, steps=5)
    page.mouse.up()
    assert page.evaluate("document.getElementById('canvas').style.transform") != before
    assert renders(page) == 1  # a drag is no click: nothing expanded
    page.click("#fit")
    assert float(page.evaluate("document.body.dataset.zoom")) == fitted


def test_every_path_from_a_chosen_node_to_the_loss_lights_up(opened, traced):
    graph, _ = traced
    _, page = opened
    h = graph.find(name="h", scope="LSTM/l1", step=0)[0]
    page.click(f"#N{index_of(graph, h)}")
    click_and_wait(page, '#details button[data-action="to-loss"]')
    assert page.input_value("#highlight") == "to-loss"
    later = graph.find(name="h", scope="LSTM/l1", step=1)[0]  # on the way from h_0 to the loss
    earlier = graph.find(name="h", scope="LSTM/l0", step=0)[0]  # behind h_0: on no path from it
    assert outline_of(page, f"N{index_of(graph, later)}") == "#c2185b"
    assert outline_of(page, f"N{index_of(graph, earlier)}") != "#c2185b"
