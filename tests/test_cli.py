"""The command line and the main job."""
import subprocess
import sys

import tinygrad_rnn as tr
from tinygrad_rnn import cli
from tinygrad_rnn.tasks import char_rnn


def test_char_rnn_learns_the_sentences_and_writes_the_graph(tmp_path):
    result = char_rnn.run(seconds=3.0, out_dir=str(tmp_path), log=lambda *_: None)
    assert result["losses"][-1] < 0.5 * result["losses"][0]
    assert (tmp_path / "char_rnn_unrolled.dot").exists()
    assert (tmp_path / "char_rnn_gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["completions"]["i lo"].startswith("i lo")


def test_cli_entry_points(tmp_path):
    assert cli.main(["char-rnn", "--seconds", "0.5", "--out", str(tmp_path)]) == 0
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "--version"], capture_output=True, text=True,
                         check=True)
    assert tr.__version__ in out.stdout


def test_task_commands_hand_their_options_to_the_task(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--help"])
    assert exit_info.value.code == 0 and "--condition" in capsys.readouterr().out
    assert cli.main(["sentiment", "--quick", "--variant", "onehot"]) == 0
    assert "training accuracy 100%" in capsys.readouterr().out
