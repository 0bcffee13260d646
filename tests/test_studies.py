"""The gradient-flow studies in quick mode: the lectures' claims checked on the numbers, and the files written."""
import json

import numpy as np
import pytest

from tinygrad_rnn import cli
from tinygrad_rnn.tasks import studies


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("studies")
    lines = []
    return out, studies.run(str(out), quick=True, log=lines.append), lines


def test_every_study_writes_its_numbers_and_picture_and_says_so(quick):
    out, results, lines = quick
    assert list(results) == list(studies.STUDIES)
    for name, numbers in results.items():
        data, picture = (out / f"study_{name}.json"), (out / f"study_{name}.png")
        assert [str(data), str(picture)] == numbers["files"]
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert json.loads(data.read_text()).keys() == {k for k in numbers if k != "files"}
        assert any(line.startswith(f"{name}: ") and str(picture) in line for line in lines)


def test_inits_orthogonal_beats_small_gaussian_and_forget_bias_one_beats_zero(quick):
    numbers = quick[1]["inits"]
    lag, curves = numbers["lag"], numbers["curves"]

    def at(curve):
        return curve["norms"][curve["lags"].index(lag)]

    assert at(curves["rnn"]["orthogonal"]) > 100 * at(curves["rnn"]["gaussian N(0, 0.5²/H)"])
    assert at(curves["forget_bias"]["forget bias 1"]) >= at(curves["forget_bias"]["forget bias 0"])
    assert curves["rnn"]["gaussian N(0, 0.5²/H)"]["diagnosis"].startswith("vanishing")


def test_road_to_gating_a_unit_that_keeps_everything_accumulates_its_error(quick):
    numbers = quick[1]["road_to_gating"]
    label = {short: label for short, label, _ in studies.GATING_UNITS}
    keeps_all, keeps_most = numbers["curves"][label["keeps 1"]], numbers["curves"][label["keeps 0.9"]]
    half = numbers["steps"] // 2
    assert keeps_all["norms"][half] == pytest.approx(1.0, rel=1e-6)  # one error reaches back undiminished
    assert keeps_most["rate"] < 0.97 and keeps_most["norms"][half] < 0.5  # decays, at ≈ the fraction kept
    # with a loss at every step the errors pile up: δ + 1 of them at lag δ, never leaving the unit
    accumulated = numbers["accumulated"][label["keeps 1"]]
    np.testing.assert_allclose(accumulated["norms"], np.array(accumulated["lags"]) + 1.0, rtol=1e-6)
    assert numbers["accumulated"][label["keeps 0.9"]]["norms"][-1] < 0.5 * accumulated["norms"][-1]
    assert numbers["curves"][label["tanh RNN"]]["diagnosis"].startswith("vanishing")


def test_linear_forgetting_rate_is_the_top_eigenvalue(quick):
    runs = quick[1]["linear_forgetting"]["runs"]
    assert [r["top_eigenvalue"] for r in runs] == list(studies.EIGENVALUES)
    for run in runs:
        assert abs(run["fitted_rate"] - run["top_eigenvalue"]) <= 0.02 * run["top_eigenvalue"]
        tail = slice(quick[1]["linear_forgetting"]["burn_in"], None)
        np.testing.assert_allclose(run["norms"][tail], run["predicted"][tail], rtol=0.02)


def test_clipping_keeps_the_used_gradient_within_c(quick):
    numbers = quick[1]["clipping"]
    threshold = numbers["threshold"]
    clipped = numbers["runs"][f"clipped at C = {threshold:g}"]
    assert max(clipped["clipped_norms"]) <= threshold + 1e-6
    assert numbers["clipped_updates"] > 0 and max(clipped["grad_norms"]) > threshold  # clipping did act
    # where the norm was below C nothing changed
    below = [(b, a) for b, a in zip(clipped["grad_norms"], clipped["clipped_norms"], strict=True) if b < threshold]
    assert below and all(a == pytest.approx(b, rel=1e-5) for b, a in below)
    unclipped = numbers["runs"]["no clipping"]
    assert unclipped["diverged_at"] is not None or max(unclipped["grad_norms"]) > 1e3 * threshold


def test_gate_activations_are_in_the_unit_interval(quick):
    numbers = quick[1]["gates"]
    assert set(numbers["gates"]) == set(studies.GATES)
    for values in numbers["gates"].values():
        values = np.asarray(values)
        assert values.shape == (numbers["length"], numbers["hidden"])
        assert values.min() >= 0.0 and values.max() <= 1.0
    assert len(numbers["marks"]) == 2


def test_memory_capacity_is_at_most_the_reservoir_size_and_peaks_below_the_claimed_radii(quick):
    numbers = quick[1]["memory_capacity"]
    assert {run["spectral_radius"] for run in numbers["runs"]} == set(studies.SPECTRAL_RADII)
    for run in numbers["runs"]:
        assert all(0.0 <= mc <= 1.0 for mc in run["per_delay"]) and len(run["per_delay"]) == 2 * run["size"]
        assert run["capacity"] <= run["size"] + run["noise_floor"]
    # a nearly linear reservoir (small input) at r = 0.9 remembers; at r = 3 its own chaos has washed the input out
    by = {(run["size"], run["input_scaling"], run["spectral_radius"]): run["capacity"] for run in numbers["runs"]}
    for size in numbers["sizes"]:
        assert by[size, 0.01, 0.9] > 0.5 * size > 10 * by[size, 0.01, 3.0]


@pytest.mark.parametrize("radius", [0.5, 0.9])
def test_memory_capacity_of_one_linear_unit_is_the_closed_form(radius):
    # x_t = r·x_{t−1} + s·u_t with i.i.d. u: corr²(x_t, u_{t−k}) = r^2k (1 − r²), and the sum over k ≥ 1 is r²
    result = studies.memory_capacity(1, radius, input_scaling=1e-4, max_delay=6, train=8000, test=20_000)
    expected = [radius ** (2 * k) * (1 - radius ** 2) for k in range(1, 7)]
    np.testing.assert_allclose(result["per_delay"], expected, atol=0.015)
    assert result["capacity"] == pytest.approx(sum(expected), abs=0.03)


def test_command_line_runs_one_study_and_rejects_unknown_names(tmp_path, capsys):
    assert cli.main(["studies", "--quick", "--out", str(tmp_path), "--only", "linear_forgetting"]) == 0
    printed = capsys.readouterr().out
    assert "linear_forgetting: fitted rates" in printed and str(tmp_path / "study_linear_forgetting.png") in printed
    with pytest.raises(SystemExit):
        cli.main(["studies", "--only", "nonsense"])
    with pytest.raises(ValueError, match="unknown"):
        studies.run(None, only=["nonsense"])
