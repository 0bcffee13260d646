"""Every user error on the command line is one line on stderr naming the option, and exit status 2: no traceback,
no silent start, no work done first. Run in-process through ``cli.main`` (fast); one subprocess checks the real
entry point."""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys

import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import cli
from tinygrad_rnn.tasks import options

BAD = [
    ([], "required: command"),
    (["--bogus"], "--bogus"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["demo", "--seconds", "0"], "--seconds"),
    (["demo", "--seconds", "nan"], "--seconds"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--updates", "0"], "--updates"),
    (["demo", "--updates", "2.5"], "--updates"),
    (["demo", "--updates", "5", "--seconds", "3"], "not allowed with argument --updates"),
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
    (["charlm", "--prompt", ""], "--prompt"),
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
    (["g2p", "train", "--updates", "-5"], "--updates"),
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


def _parser_of(argv, monkeypatch) -> options.Parser:
    """The parser a command line would be parsed with (caught as it starts parsing, before any work)."""
    seen = []

    def caught(self, args=None, namespace=None):
        seen.append(self)
        raise SystemExit(0)

    with monkeypatch.context() as patch:
        patch.setattr(options.Parser, "parse_args", caught)
        with pytest.raises(SystemExit):
            cli.main(argv)
    parser = seen[0]
    for name in argv[1:]:  # g2p train: the subcommand's own parser
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_help_shows_every_default_and_no_markup(argv, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r":[a-z]+:`", text), text
    # every option whose default says something (not None, not a flag's False) shows it
    parser = _parser_of(argv[:1] if argv[0] != "g2p" else argv, monkeypatch)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or not options._shown(action.default) or action.help == argparse.SUPPRESS:
            continue
        assert "default" in formatter._expand_help(action), action.option_strings


def test_the_entry_point_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "charlm", "--steps", "-5"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "argument --steps: must be an int >= 1, got '-5'" in out.stderr


# -- files the commands read: a checkpoint pair and the metrics log beside it ------------------------------------------
def _rewrite_json(name: str, change) -> callable:
    """Damage that edits NAME.json's content (its .npz digest stays right, so the pair still reads as one)."""
    def damage(folder):
        meta = json.loads((folder / f"{name}.json").read_text())
        change(meta)
        (folder / f"{name}.json").write_text(json.dumps(meta))

    return damage


def _write(file: str, change) -> callable:
    def damage(folder):
        path = folder / file
        path.write_bytes(change(path.read_bytes()) if callable(change) else change)

    return damage


def _other_model(name: str) -> callable:
    def damage(folder):
        model = tr.nn.Linear(2, 2)
        tr.checkpoint.save_training(str(folder / name), model, tr.optim.SGD(model.parameters(), lr=0.1), 0)

    return damage


def _weights_missing(name: str) -> callable:
    """A whole pair (the digest right) whose .npz lacks one of the model's weights."""
    def damage(folder):
        ck = tr.checkpoint.load(str(folder / name))
        arrays = {k: v for k, v in ck.arrays.items() if k != "model/decoder.out.bias"}
        tr.checkpoint.save(str(folder / name), arrays, {k: v for k, v in ck.meta.items()
                                                         if k not in ("format", "npz_sha256")})

    return damage


def _flip(raw: bytes) -> bytes:
    middle = len(raw) // 2
    return raw[:middle] + bytes(b ^ 0xFF for b in raw[middle:middle + 64]) + raw[middle + 64:]


def _config_lacks(key: str):
    return lambda meta: meta["config"].pop(key)


RESUME = "g2p train --resume"  # it compares a checkpoint's config with its own before building anything from it
# (what is wrong, the damage done to a folder holding the pair NAME, the file the message names, what it says)
BROKEN = [
    ("0-byte .npz", lambda n: _write(f"{n}.npz", b""), ".npz", "is empty (0 bytes)"),
    ("truncated .npz", lambda n: _write(f"{n}.npz", lambda raw: raw[: len(raw) // 3]), ".npz",
     "not written together, or the .npz was truncated"),
    ("corrupted .npz", lambda n: _write(f"{n}.npz", _flip), ".npz", "not written together, or the .npz was truncated"),
    ("an .npz without a weight", _weights_missing, ".npz", "does not fit this Seq2Seq"),
    ("0-byte JSON", lambda n: _write(f"{n}.json", b""), ".json", "is empty"),
    ("broken JSON", lambda n: _write(f"{n}.json", lambda raw: raw[:-25]), ".json", "is not valid JSON (line"),
    ("[] as JSON", lambda n: _write(f"{n}.json", b"[]"), ".json", "holds a JSON list"),
    ("JSON without its keys", lambda n: _write(f"{n}.json", b'{"dev": 1}'), ".json", "lacks the keys"),
    ("another model's JSON", _other_model, ".json", "is a checkpoint of a Linear, not of a Seq2Seq"),
    ("a G2P JSON without its vocabulary", lambda n: _rewrite_json(n, _config_lacks("src_vocab")), ".json",
     {"": "is not a G2P checkpoint: its config lacks ['src_vocab']", RESUME: "has another config than this run"}),
    ("a G2P JSON with a model it cannot build", lambda n: _rewrite_json(n, lambda m: m["config"]["model"].update(
        hidden_size="big")), ".json", {"": "holds a model or vocabulary this version cannot build",
                                       RESUME: "has another config than this run (model: "}),
]

# every command that reads a checkpoint, and the name of the pair it reads (FOLDER: where the run is)
READERS = {
    "g2p eval": (["g2p", "eval", "--checkpoint", "FOLDER/best", "--limit", "5"], "best"),
    "g2p pronounce": (["g2p", "pronounce", "--checkpoint", "FOLDER/best", "cat"], "best"),
    RESUME: (["g2p", "train", "--out", "FOLDER", "--quick", "--resume", "--updates", "31"], "last"),
    "report --checkpoint": (["report", "--checkpoint", "FOLDER/best", "--out", "FOLDER/report", "--quick"], "best"),
}


@pytest.fixture(scope="module")
def g2p_run(tmp_path_factory):
    from tinygrad_rnn.tasks import g2p

    folder = tmp_path_factory.mktemp("g2p_run")
    # 30 updates: the metrics log (a line every 10) has three lines
    g2p.train(out_dir=str(folder), quick=True, updates=30, progress=False, log=lambda *_: None)
    return folder


def _copy_run(source, target):
    shutil.copytree(source, target)
    return target


def _one_line_naming(argv, file: str, words: str, capsys) -> None:
    code, err = run_cli(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err and len(lines) == 1, (argv, err)
    assert file in lines[0] and words in lines[0], (argv, lines[0])


@pytest.mark.parametrize("case", [b[0] for b in BROKEN])
@pytest.mark.parametrize("reader", READERS)
def test_a_broken_checkpoint_is_one_line_naming_the_file(g2p_run, tmp_path, capsys, reader, case):
    _, damage, suffix, words = next(b for b in BROKEN if b[0] == case)
    argv, name = READERS[reader]
    folder = _copy_run(g2p_run, tmp_path / "run")
    damage(name)(folder)
    if isinstance(words, dict):
        words = words.get(reader, words[""])
    _one_line_naming([a.replace("FOLDER", str(folder)) for a in argv], str(folder / name) + suffix, words, capsys)


LOGS = [  # (what is wrong with metrics.jsonl, what is done to it, the commands that refuse it, what they say)
    ("a half-written last line", lambda text: text[: text.rindex('"loss"') + 3], ("report --checkpoint",),
     "line 3 is cut short"),
    ("a half-written line inside", lambda text: text.replace('"loss"', '"lo', 1), READERS, "line 1 is not valid JSON"),
    ("a line that is not a record", lambda text: "[1, 2]\n" + text, READERS, "line 1 holds a JSON list"),
]


@pytest.mark.parametrize("case", [c[0] for c in LOGS])
@pytest.mark.parametrize("reader", ["report --checkpoint", RESUME])
def test_a_broken_metrics_log_is_one_line_naming_the_file(g2p_run, tmp_path, capsys, reader, case):
    _, change, refused_by, words = next(c for c in LOGS if c[0] == case)
    folder = _copy_run(g2p_run, tmp_path / "run")
    log = folder / "metrics.jsonl"
    log.write_text(change(log.read_text()))
    argv = [a.replace("FOLDER", str(folder)) for a in READERS[reader][0]]
    if reader in refused_by:
        _one_line_naming(argv, str(log), words, capsys)
    else:  # resume drops a last line cut short: a kill while logging leaves one, and its update is done again
        code, _ = run_cli(argv, capsys)
        assert code == 0 and all(json.loads(line) for line in log.read_text().splitlines())
