"""Every user error on the command line is one line on stderr naming the option, and exit status 2: no traceback,
no silent start, no work done first. Run in-process through ``cli.main`` (fast); one subprocess checks the real
entry point."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tinygrad_rnn import cli

BAD = [
    ([], "required: command"),
    (["--bogus"], "--bogus"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["demo", "--seconds", "0"], "--seconds"),
    (["demo", "--seconds", "nan"], "--seconds"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--bogus"], "--bogus"),
    (["char-rnn", "--seconds", "-1"], "--seconds"),
    (["char-rnn", "--bogus"], "--bogus"),
    (["sentiment", "--variant", "cnn"], "--variant"),
    (["sentiment", "--seed", "x"], "--seed"),
    (["generate", "--condition", "none"], "--condition"),
    (["tagging", "--steps", "-5"], "--steps"),
    (["tagging", "--hidden", "0"], "--hidden"),
    (["charlm", "--steps", "-5"], "--steps"),
    (["charlm", "--lr", "nan"], "--lr"),
    (["charlm", "--hidden", "0"], "--hidden"),
    (["charlm", "--chunk", "2.5"], "--chunk"),
    (["charlm", "--cell", "tcn"], "--cell"),
    (["long-range", "--lengths", "10,x"], "--lengths"),
    (["long-range", "--delays", "0"], "--delays"),
    (["long-range", "--cell", "tcn"], "--cell"),
    (["long-range", "--task", "sorting"], "--task"),
    (["long-range", "--lr", "-1"], "--lr"),
    (["long-range", "--steps", "0"], "--steps"),
    (["long-range", "--rnn-gain", "inf"], "--rnn-gain"),
    (["gradflow", "--cell", "tcn"], "--cell"),
    (["gradflow", "--steps", "0"], "--steps"),
    (["gradflow", "--hidden", "-3"], "--hidden"),
    (["gradflow", "--gain", "nan"], "--gain"),
    (["graph", "--steps", "0"], "--steps"),
    (["graph", "--formats", "bmp"], "--formats"),
    (["graph", "--level", "node"], "--level"),
    (["graph", "--highlight", "highway", "--cell", "gru"], "--highlight"),
    (["studies", "--only", "bogus"], "--only"),
    (["studies", "--seed", "-1"], "--seed"),
    (["report", "--checkpoint", "/nonexistent/ckpt"], "--checkpoint"),
    (["report", "--bogus"], "--bogus"),
    (["g2p"], "required: command"),
    (["g2p", "bogus"], "invalid choice: 'bogus'"),
    (["g2p", "train", "--lr", "nan"], "--lr"),
    (["g2p", "train", "--lr", "0"], "--lr"),
    (["g2p", "train", "--clip", "-1"], "--clip"),
    (["g2p", "train", "--clip", "0"], "--clip"),
    (["g2p", "train", "--minutes", "nan"], "--minutes"),
    (["g2p", "train", "--epochs", "0"], "--epochs"),
    (["g2p", "train", "--batch-size", "-2"], "--batch-size"),
    (["g2p", "train", "--hidden", "0"], "--hidden"),
    (["g2p", "train", "--dropout", "1.5"], "--dropout"),
    (["g2p", "train", "--teacher-forcing", "2"], "--teacher-forcing"),
    (["g2p", "train", "--device", "tpu"], "--device"),
    (["g2p", "train", "--cell", "tcn"], "--cell"),
    (["g2p", "train", "--bogus"], "--bogus"),
    (["g2p", "eval", "--beam", "0"], "--beam"),
    (["g2p", "eval", "--beam", "x"], "--beam"),
    (["g2p", "eval", "--limit", "0"], "--limit"),
    (["g2p", "eval", "--device", "tpu"], "--device"),
    (["g2p", "pronounce"], "words"),
    (["g2p", "pronounce", "cat", "--beam", "0"], "--beam"),
    (["g2p", "pronounce", "cat", "--beam", "2", "--nbest", "3"], "--nbest"),
    (["g2p", "pronounce", " "], "empty word"),
    (["g2p", "claims", "--minutes", "0"], "--minutes"),
]


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", BAD, ids=[" ".join(a) or "(nothing)" for a, _ in BAD])
def test_a_bad_command_line_is_one_line_and_exit_status_2(argv, needle, capsys):
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0] and "error:" in lines[0], lines[0]


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    code, err = run_cli(["g2p", "train", "--resume", "--quick", "--out", str(tmp_path / "empty")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--resume" in err and "no checkpoint" in err
    assert not (tmp_path / "empty").exists()  # refused before anything was written


COMMANDS = [[name] for name in cli.TASKS if name != "g2p"] + [["demo"]] + [
    ["g2p", sub] for sub in ("train", "eval", "claims", "pronounce")]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_help_shows_defaults_and_no_markup(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r":[a-z]+:`", text), text
    # an option line whose default says something shows it: "--seed SEED  (default: 0)"
    for option in ("--seed", "--device", "--minutes", "--epochs", "--lr", "--steps"):
        block = re.search(rf"^  {option}\b.*?(?=^  -|\Z)", text, re.S | re.M)
        if block and "[--" in text:
            assert "default" in block.group(0), (option, block.group(0))


def test_the_entry_point_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "charlm", "--steps", "-5"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "argument --steps: must be an int >= 1, got '-5'" in out.stderr
