"""The benchmarks' shared method (benchmarks/harness.py) on fake workers: alternation, pairing, ratios, spread, the
thread settings; and every benchmark's ``--check`` mode and one-round ``--quick`` run. No time is asserted."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "benchmarks")
sys.path.append(BENCH)  # last: benchmarks/viz.py must not shadow the viz package
import harness  # noqa: E402

# seconds a fake worker reports per call, by library and by how many times that library has run before
FAKE_SECONDS = {"ours": [1.0, 2.0, 4.0], "theirs": [2.0, 2.0, 1.0]}
# each library's mean call as a multiple of its median (ours pays for rare slow calls, as a collector pause is)
FAKE_MEAN = {"ours": 1.5, "theirs": 1.0}


def fake_worker(tmp_path):
    """A worker script that logs its library, then reports FAKE_SECONDS[lib][its n-th run] for version lib."""
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        lib, log = sys.argv[1], sys.argv[2]
        with open(log, "a") as f:
            f.write(lib + "\\n")
        with open(log) as f:
            n = f.read().split().count(lib) - 1
        if lib == "broken":
            sys.exit(3)
        seconds = {FAKE_SECONDS!r}[lib][n]
        print("noise before the result")
        print("RESULT " + json.dumps({{"lib": lib, "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                                      "results": {{lib: {{"seconds": seconds, "mean": {FAKE_MEAN!r}[lib] * seconds,
                                                          "rate": 10 / seconds}}}}}}))
    """))
    log = tmp_path / "order.log"
    return lambda lib: [sys.executable, str(script), lib, str(log)], log


def test_alternate_runs_every_library_once_a_round_in_order_and_pairs_rounds(tmp_path):
    command, log = fake_worker(tmp_path)
    lines = []
    runs = harness.alternate({"ours": command("ours"), "theirs": command("theirs")}, 3, timeout=60,
                             env=harness.worker_env(2), log=lines.append)
    assert log.read_text().split() == ["ours", "theirs"] * 3
    assert len(runs) == 3 and len(lines) == 6
    assert [harness.seconds_of(r) for r in runs] == [{"ours": 1.0, "theirs": 2.0}, {"ours": 2.0, "theirs": 2.0},
                                                     {"ours": 4.0, "theirs": 1.0}]
    assert all(run["threads"] == "2" for r in runs for run in r.values())  # --threads reaches every worker
    assert harness.pair_ratios(runs, "ours", "theirs", "time") == [0.5, 1.0, 4.0]
    assert harness.pair_ratios(runs, "ours", "theirs", "speed") == [2.0, 1.0, 0.25]
    summary = harness.summarise(runs, [("ours", "theirs", "speed")])
    speed = summary["ratios"][harness.label("ours", "theirs", "speed")]
    assert (speed["median"], speed["min"], speed["max"], speed["n"]) == (1.0, 0.25, 2.0, 3)
    assert (speed["q1"], speed["q3"]) == (0.625, 1.5)
    assert summary["seconds"]["ours"]["median"] == 2.0 and summary["seconds"]["theirs"]["median"] == 2.0
    table = harness.pair_table(runs, ["ours", "theirs"], [("ours", "theirs", "speed")])
    rows = table.splitlines()
    assert rows[2].startswith("| 1 | 1,000 | 2,000 | 2.00× |") and rows[4].endswith("| 0.25× |")
    assert "**1.00×**" in rows[5] and "0.25× – 2.00×" in rows[6]
    # the last row: the means (ours 1.5, 3, 6 s against 2, 2, 1 s), their median over rounds and ratio of means
    assert rows[8] == f"| **{harness.MEAN_ROW}** | **3,000** | **2,000** | **0.67×** |"
    assert harness.pair_ratios(runs, "ours", "theirs", "time", harness.MEAN) == [0.75, 1.5, 6.0]


def test_an_aim_is_met_only_where_the_median_run_and_the_mean_run_both_meet_it(tmp_path):
    command, _ = fake_worker(tmp_path)
    runs = harness.alternate({"ours": command("ours"), "theirs": command("theirs")}, 3, timeout=60, log=lambda s: 0)
    summary = harness.summarise(runs, [("ours", "theirs", "time")])
    line = harness.aim_line("ours at most 1.2× the time", summary, ("ours", "theirs", "time"), lambda r: r <= 1.2)
    # median run 1.00× meets it, mean run 1.50× does not
    assert line == ("- ours at most 1.2× the time: **NOT met** (median run 1.00× over 3 pairs, 0.50–4.00×; "
                    "mean run 1.50×, 0.75–6.00×)")
    met = harness.aim_line("ours at most 2×", summary, ("ours", "theirs", "time"), lambda r: r <= 2.0)
    assert "**met**" in met
    assert harness.aim_line("x", summary, ("ours", "nobody", "time"), lambda r: True) == "- x: n/a"


def test_a_failing_worker_is_an_error_and_its_pairs_are_left_out(tmp_path):
    command, _ = fake_worker(tmp_path)
    runs = harness.alternate({"ours": command("ours"), "broken": command("broken")}, 2, timeout=60, log=lambda s: 0)
    assert [e.split(":")[0] for e in harness.errors(runs)] == ["round 1, broken", "round 2, broken"]
    assert "exited 3" in runs[0]["broken"]["error"]
    assert harness.pair_ratios(runs, "ours", "broken", "time") == [None, None]
    assert harness.summarise(runs, [("ours", "broken", "time")])["ratios"] == {}
    assert harness.spread([None, 3.0]) == {"median": 3.0, "min": 3.0, "max": 3.0, "q1": 3.0, "q3": 3.0, "n": 1}


def test_worker_env_sets_one_count_for_every_pool_or_leaves_the_defaults(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert "OMP_NUM_THREADS" not in harness.worker_env(None)
    env = harness.worker_env(3)
    assert [env[v] for v in harness.THREAD_VARS] == ["3", "3", "3"]
    assert not {"OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT"} & set(env) - set(os.environ)


def test_passthrough_keeps_what_workers_take_and_drops_the_parents_options():
    argv = ["--quick", "--out", "r.md", "--rounds=3", "--threads", "2", "--worker-timeout", "9", "--hidden", "8"]
    assert harness.passthrough(argv) == ["--quick", "--threads", "2", "--hidden", "8"]


def test_a_worker_cannot_load_the_other_library():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import harness; harness.start(); import torch")
    done = subprocess.run([sys.executable, "-c", code, BENCH, "--only", "tinygrad"], capture_output=True, text=True)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr and "torch" in done.stderr
    done = subprocess.run([sys.executable, "-c", code.replace("import torch", "print('free')"), BENCH],
                          capture_output=True, text=True)
    assert done.stdout.strip() == "free"  # outside a worker nothing is blocked


def test_quiet_note_says_when_figures_are_not_to_be_trusted():
    assert "a quiet machine" in harness.quiet_note(0.1, {"others": 0.01, "steal": 0.0})
    assert "not to be trusted" in harness.quiet_note(0.1, {"others": 0.04, "steal": 0.02})
    # the workers' own threads raise the load average: only the time other processes took counts
    assert "a quiet machine" in harness.quiet_note(1.9, {"others": 0.0, "steal": 0.0})
    assert "not to be trusted" in harness.quiet_note(0.5, None)
    assert "a quiet machine" in harness.quiet_note(0.1, None)


def _clock(wall, busy, ours, steal=0.0, cores=2):
    return {"wall": wall, "busy": busy, "ours": ours, "steal": steal, "cores": cores}


def test_others_share_subtracts_this_process_and_its_children():
    share = harness.others_share(_clock(0, 100, 10), _clock(10, 115, 22, steal=1.0))
    assert share["others"] == pytest.approx(3 / 20) and share["steal"] == pytest.approx(1 / 20)
    assert harness.others_share(None, _clock(1, 1, 1)) is None


@pytest.mark.skipif(harness.cpu_clock() is None, reason="no /proc/stat")
def test_a_busy_child_counts_as_ours_not_as_another_job():
    start = harness.cpu_clock()
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.5\n"
                    "while time.process_time() < end: pass"], check=True)
    end = harness.cpu_clock()
    assert end["ours"] - start["ours"] >= 0.45  # the child's busy half second is ours once it is reaped
    assert end["busy"] - start["busy"] >= 0.4  # and the machine's busy time (/proc/stat) saw it too


# -- the benchmarks themselves ------------------------------------------------------------------------------------
SCRIPTS = ["ops.py", "charlm.py", "g2p.py", "gru_lstm.py"]


def run_script(tmp_path, script: str, *args: str):
    pytest.importorskip("torch", reason="the benchmarks compare with PyTorch")
    done = subprocess.run([sys.executable, os.path.join(BENCH, script), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_check_mode_passes_small(tmp_path, script):
    assert "check passed" in run_script(tmp_path, script, "--check", "--quick")


@pytest.mark.parametrize("script, version", [("ops.py", "tinygrad_rnn loop"), ("charlm.py", "PyTorch nn.LSTM"),
                                             ("g2p.py", "PyTorch greedy"), ("gru_lstm.py", "PyTorch GRU")])
def test_quick_run_alternates_workers_and_reports_pairs(tmp_path, script, version):
    out = tmp_path / "RESULTS.md"
    # one thread each: quick on a busy machine, and the setting must reach both workers
    stdout = run_script(tmp_path, script, "--quick", "--rounds", "1", "--threads", "1", "--out", str(out))
    text = out.read_text()
    assert "round 1/1 tinygrad" in stdout and "round 1/1 torch" in stdout
    assert "OMP_NUM_THREADS=1" in text and "torch.get_num_threads() = 1" in text
    assert version in text and "each library in its own process" in text and "**median**" in text
    assert "Errors" not in text


@pytest.mark.parametrize("cell, step", [("lstm", "LSTMStep"), ("gru", "GRUStep")])
def test_profile_step_names_every_part_of_a_training_step(tmp_path, cell, step):
    done = subprocess.run([sys.executable, os.path.join(BENCH, "profile_step.py"), "--quick", "--cell", cell],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines() if line.startswith("| ")}
    assert {"forward + loss", "backward", "Adam step", "whole step", "Adam (every parameter)"} <= rows
    assert any(row.startswith(f"{step}.forward") for row in rows) and any(row.startswith(f"{step}.backward")
                                                                          for row in rows)
    assert "| whole step |" in done.stdout and "| 100% |" in done.stdout


def test_gate_fusion_checks_every_way_it_times_against_numpy(tmp_path):
    done = subprocess.run([sys.executable, os.path.join(BENCH, "gate_fusion.py"), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| NumPy (ArrayGates.lstm_cell) |" in done.stdout and "0.0e+00 |" in done.stdout


# -- instruction counts (benchmarks/instructions.py) --------------------------------------------------------------
def test_instruction_counts_are_read_from_cachegrind_and_differenced():
    import instructions

    assert instructions.instructions_of("==12== \n==12== I   refs:      562,359,847\n") == 562_359_847
    assert instructions.instructions_of("==7== I refs: 1,000") == 1000  # older and newer valgrinds space it apart
    with pytest.raises(RuntimeError, match="no instruction count"):
        instructions.instructions_of("==12== ERROR SUMMARY: 0 errors")
    assert instructions.per_run((100, 700), (2, 6)) == 150.0  # start-up and warm-up cancel


@pytest.mark.parametrize("only, version", [("tinygrad", "tinygrad_rnn loop"), ("numpy", "NumPy hand BPTT")])
@pytest.mark.parametrize("collector", [[], ["--no-gc"]])
def test_an_instruction_worker_runs_its_version(tmp_path, only, version, collector):
    done = subprocess.run([sys.executable, os.path.join(BENCH, "instructions.py"), "--only", only, "--version",
                           version, "--runs", "2", "--steps", "3", *collector], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_more_runs_count_more_instructions_under_valgrind():
    import shutil

    import instructions

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    counts = [instructions.count("numpy", "NumPy hand BPTT", runs, 20, True, None) for runs in (1, 4)]
    assert counts[1] > counts[0] > 10_000_000  # a Python process with NumPy loaded runs tens of millions
    assert 0 < instructions.per_run(tuple(counts), (1, 4)) < counts[0]


def test_reports_name_the_openblas_kernels_and_a_forced_choice():
    """OpenBLAS's kernels for a CPU can differ by 1.3-1.5x on a recurrent step's products: a report says which
    ran, and that OPENBLAS_CORETYPE chose them where it did."""
    import platform

    import environment

    if environment.openblas_core() is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("NumPy's BLAS here is not a bundled OpenBLAS for x86-64 (which has a Haswell kernel set)")
    assert f"({environment.openblas_core()} kernels" in environment.numpy_blas()
    code = f"import sys; sys.path.insert(0, {BENCH!r}); import environment; print(environment.numpy_blas())"
    forced = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "OPENBLAS_CORETYPE": "Haswell"}).stdout
    assert "(Haswell kernels, OPENBLAS_CORETYPE=Haswell)" in forced
