"""Plots and the gradflow command: files are written, headless, with the numbers they show."""
import json

import numpy as np

import viz
from tinygrad_rnn import cli
from tinygrad_rnn.analysis import LagCurve
from tinygrad_rnn.tasks import gradflow


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plots_write_pictures(tmp_path):
    curve = LagCurve(list(range(5)), 0.5 ** np.arange(5.0))
    assert _is_png(viz.plots.plot_gradient_vs_lag({"halving": curve}, str(tmp_path / "lag.png")))
    assert _is_png(viz.plots.plot_heatmap(np.eye(3), str(tmp_path / "sub" / "heat.png"), xticklabels=list("abc"),
                                          yticklabels=list("xyz")))
    svg = viz.plots.plot_curves({"loss": [3, 2, 1]}, str(tmp_path / "loss.svg"), log=True)
    assert open(svg).read().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lag.png", "loss.svg", "sub"]  # no temporary files


def test_gradflow_command_prints_diagnoses_and_writes_plot_and_numbers(tmp_path, capsys):
    assert cli.main(["gradflow", "--cell", "rnn,lstm", "--steps", "12", "--hidden", "8", "--init", "orthogonal",
                     "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "rnn (orthogonal init)" in printed and "lstm (orthogonal init, forget bias 1)" in printed
    numbers = json.loads((tmp_path / "gradflow.json").read_text())
    assert all(len(entry["norms"]) == 12 and entry["norms"][0] > 0 for entry in numbers.values())
    assert _is_png(tmp_path / "gradflow.png")


def test_gradflow_run_returns_the_curves_without_writing():
    result = gradflow.run(["gru"], steps=6, hidden=4, out_dir=None, log=lambda *_: None)
    (entry,) = result.values()
    assert entry["lags"] == list(range(6)) and entry["diagnosis"].split(":")[0] in ("vanishing", "exploding", "stable")
