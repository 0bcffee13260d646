"""Style is checked with the suite: ruff (configured in ruff.toml) over the code, tests, benchmarks and examples."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "tinygrad_rnn",
                             "viz", "tests", "benchmarks", "examples"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_benchmark_quick_mode_runs_and_checks_its_gradients(tmp_path):
    pytest.importorskip("torch")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ops.py"), "--quick"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "tinygrad_rnn loop" in result.stdout
