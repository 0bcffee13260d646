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
