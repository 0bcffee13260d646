"""The HTML report: relative picture links, frame players, atomic writes, and a headless browser that loads it."""
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import open_in_browser
from viz import plots
from viz.report import Report

CHROMIUM = "/usr/bin/chromium"


def _picture(path) -> str:
    return plots.plot_curves({"loss": np.linspace(2.0, 0.5, 20)}, str(path), title="loss")


def test_report_links_pictures_relatively_and_escapes_text(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    report = Report("Run <1>")
    report.section("Numbers", "loss < 1 & falling")
    report.figure(_picture(pictures / "a.png"), "the loss")
    report.frames([_picture(pictures / f"f{t}.png") for t in range(3)], "unrolling")
    page = open(report.write(str(tmp_path / "report.html")), encoding="utf-8").read()
    assert 'src="pictures/a.png"' in page and 'src="pictures/f2.png"' in page
    assert "Run &lt;1&gt;" in page and "loss &lt; 1 &amp; falling" in page
    assert report.pictures() == [str(pictures / name) for name in ("a.png", "f0.png", "f1.png", "f2.png")]


def test_missing_picture_is_an_error_and_leaves_no_page(tmp_path):
    report = Report("Run")
    report.figure(str(tmp_path / "nowhere.svg"), "absent")
    with pytest.raises(FileNotFoundError, match="nowhere.svg"):
        report.write(str(tmp_path / "report.html"))
    assert not (tmp_path / "report.html").exists()
    with pytest.raises(ValueError, match="no frames"):
        report.frames([], "empty")


def test_report_loads_in_headless_chromium_with_every_picture_and_no_console_errors(tmp_path):
    report = Report("Run")
    report.figure(_picture(tmp_path / "a.png"), "the loss")
    report.frames([_picture(tmp_path / f"f{t}.png") for t in range(2)], "unrolling")
    seen = open_in_browser(report.write(str(tmp_path / "report.html")))
    assert seen["console_errors"] == []
    assert seen["pictures"] == 3 and seen["broken"] == []


def test_headless_check_notices_a_broken_picture(tmp_path):
    report = Report("Run")
    report.figure(_picture(tmp_path / "a.png"), "soon gone")
    page = report.write(str(tmp_path / "report.html"))
    (tmp_path / "a.png").unlink()
    seen = open_in_browser(page)
    assert seen["pictures"] == 1 and seen["broken"] == ["a.png"]


def test_headless_check_reports_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><body><script>console.error('boom'); undefinedCall();</script>"
                    "</body></html>", encoding="utf-8")
    seen = open_in_browser(str(page))
    assert len(seen["console_errors"]) == 2 and "boom" in seen["console_errors"][0]
    assert "undefinedCall is not defined" in seen["console_errors"][1]


def test_wide_pictures_scroll_at_their_height_with_a_link_to_the_picture_alone(tmp_path):
    report = Report("Run")
    report.figure(_picture(tmp_path / "graph.png"), "an unrolled graph", wide=True)
    report.figure(_picture(tmp_path / "loss.png"), "a curve")
    page = open(report.write(str(tmp_path / "report.html")), encoding="utf-8").read()
    assert page.count('class="wide"') == 1 and '<a href="graph.png">open the picture alone</a>' in page
    assert '<figure><img src="loss.png"' in page


def test_report_command_refuses_a_checkpoint_that_is_not_there(tmp_path, capsys):
    from tinygrad_rnn.tasks import report as report_task

    with pytest.raises(SystemExit) as exit_info:
        report_task.main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "missing.json" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_without_dot_the_report_has_the_explorer_and_names_the_dot_sources(tmp_path, monkeypatch):
    import viz
    from tinygrad_rnn.data import Vocab
    from tinygrad_rnn.tasks import g2p
    from tinygrad_rnn.tasks import report as report_task

    monkeypatch.setattr(viz.dot, "dot_available", lambda: False)
    monkeypatch.setattr(viz, "dot_available", lambda: False)
    monkeypatch.setattr(viz.dot, "_told", True)  # the install hint is the report's to give here
    src, tgt = Vocab.build(["cat"]), Vocab(["K", "AE", "T"])
    model = g2p.build_model(src, tgt, embed_size=4, hidden_size=4)
    report = Report("no dot")
    report_task.graph_pictures(model, src, tgt, str(tmp_path), report, log=lambda *_: None)
    sections = [part for part in report._parts if part[0] == "section"]
    # the explorer lays the graph out in the page, with dot or without; the static pictures are DOT sources
    assert report.pictures() == [str(tmp_path / f"seq2seq_{name}") for name in ("explorer.html", "op.dot", "cell.dot")]
    explorer = next(part for part in report._parts if part[0] == "explorer")
    assert explorer[2].endswith(f"(DOT sources only: {viz.INSTALL_DOT})") and len(sections) == 1  # the frames
    heading, text = sections[-1][1:3]
    assert heading.startswith("Unrolling frame by frame") and text.endswith(viz.INSTALL_DOT)
    assert f"{tmp_path}/seq2seq_frame0.dot" in text and (tmp_path / "seq2seq_frame0.dot").exists()


def _frames_of_a_long_lstm(tmp_path) -> list:
    import tinygrad_rnn as tr
    from viz import dot

    if not dot.dot_available():
        pytest.skip("Graphviz's dot is not installed")
    tr.manual_seed(0)
    out, _ = tr.nn.LSTM(2, 3, fused=False)(tr.randn(8, 1, 2))
    paths = dot.write_frames(tr.graph.trace(out.sum()), str(tmp_path), "lstm", formats=("svg",), level="op")
    return [p for p in paths if p.endswith(".svg")]


def test_each_frame_carries_where_its_newest_step_lies(tmp_path):
    frames = _frames_of_a_long_lstm(tmp_path)
    report = Report("Run")
    report.frames(frames, "unrolling", wide=True)
    page = open(report.write(str(tmp_path / "report.html")), encoding="utf-8").read()
    focus = [float(x) for x in re.findall(r'data-focus="([\d.]+)"', page)]
    assert len(focus) == 8 and focus == sorted(focus) and 0 < focus[0] < focus[-1] <= 1


def test_the_frame_player_scrolls_with_the_newest_step_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no {CHROMIUM}: sudo apt-get install chromium")
    report = Report("Run")
    report.frames(_frames_of_a_long_lstm(tmp_path), "unrolling", wide=True)
    page_path = report.write(str(tmp_path / "report.html"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(Path(page_path).resolve().as_uri())
        page.wait_for_function("document.body.dataset.pictures !== undefined")
        seen = []
        for _ in range(7):
            page.click("button[data-move='1']")
            seen.append(page.evaluate("""() => {
                const box = document.querySelector('.frames .scroll'), img = box.querySelector('img.shown');
                return [box.scrollLeft, box.clientWidth, Number(img.dataset.focus) * img.clientWidth];
            }"""))
        browser.close()
    scrolls = [left for left, _, _ in seen]
    assert scrolls[-1] > 0 and scrolls == sorted(scrolls)  # it follows the steps rightwards
    assert all(left <= x <= left + width for left, width, x in seen)  # the newest step's right edge is in view


def test_the_op_level_caption_says_which_cells_are_drawn_fused():
    import tinygrad_rnn as tr
    from tinygrad_rnn.tasks.report import _fused_note

    tr.manual_seed(0)
    model = tr.nn.Seq2Seq(src_vocab_size=9, tgt_vocab_size=9, embed_size=4, hidden_size=4)
    loss = model.loss(tr.tensor([[3, 4]]), [2], tr.tensor([[1, 5]]), tr.tensor([[5, 2]]))
    note = _fused_note(tr.graph.trace(loss))
    assert "The encoder's and the decoder's cells are fused" in note and "(lstm_cell)" in note
    out, _ = tr.nn.LSTM(2, 3, fused=False)(tr.zeros(2, 1, 2))
    assert _fused_note(tr.graph.trace(out)) == ""
