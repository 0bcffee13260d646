"""Plots and the gradflow command: files are written, headless, with the numbers they show."""
import json

import numpy as np
import pytest

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


def test_study_plots_write_pictures(tmp_path):
    halving, flat = LagCurve(list(range(5)), 0.5 ** np.arange(5.0)), LagCurve(list(range(5)), np.ones(5))
    plots = viz.plots
    pictures = [
        plots.plot_lag_panels({"tanh RNN": {"halving": halving}, "LSTM": {"flat": flat}, "GRU": {"flat": flat}},
                              str(tmp_path / "panels.png"), title="inits"),
        plots.plot_road_to_gating({"leaky": halving, "keeps all": flat},
                                  {"leaky": LagCurve(list(range(5)), 2 - 0.5 ** np.arange(5.0)),
                                   "keeps all": LagCurve(list(range(5)), np.arange(1.0, 6.0))},
                                  str(tmp_path / "road.png")),
        plots.plot_linear_forgetting({0.9: 0.9 ** np.arange(20.0), 1.1: 1.1 ** np.arange(20.0)},
                                     str(tmp_path / "linear.png"), fitted={0.9: 0.9, 1.1: 1.1}),
        plots.plot_clipping({"no clipping": [1.0, 50.0], "clipped": [1.0, 0.8, 0.6]},
                            {"no clipping": [3.0, 1e9], "clipped": [3.0, 0.5, 2.0]}, 1.0, str(tmp_path / "clip.png"),
                            clipped_norms={"clipped": [1.0, 0.5, 1.0]}, baseline=0.7),
        plots.plot_gate_heatmap({"i": np.random.default_rng(0).random((12, 4)), "f": np.full((12, 4), 0.9)},
                                str(tmp_path / "gates.png"), marks=[2, 7]),
        plots.plot_attention(np.full((2, 3), 1 / 3), ["hello", "world", "."], ["bonjour", "monde"],
                             str(tmp_path / "attention.png")),
        plots.plot_memory_capacity({"input scaling 0.1": {"n = 10": [(0.5, 0.4), (0.9, 0.6), (3.0, 0.0)]},
                                    "input scaling 1": {"n = 10": [(0.5, 0.2), (0.9, 0.3), (3.0, 0.1)]}},
                                   str(tmp_path / "memory.png"), claimed=(1.2, 3.0)),
    ]
    assert all(_is_png(path) for path in pictures)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.rsplit("/", 1)[-1] for p in pictures)


def test_plot_attention_checks_the_tokens_against_the_weights(tmp_path):
    with pytest.raises(ValueError, match="2 target × 3 source"):
        viz.plots.plot_attention(np.ones((3, 2)), ["a", "b", "c"], ["x", "y"], str(tmp_path / "a.png"))
    assert not list(tmp_path.iterdir())


def test_inline_shows_a_figure_as_png_and_closes_it(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    picture = viz.plots.inline(fig)
    assert picture._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert not plt.fignum_exists(fig.number)
    assert _is_png(picture.save(str(tmp_path / "fig.png")))
