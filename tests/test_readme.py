"""The README's code blocks that promise a result run and give it."""
import re
from pathlib import Path

import tinygrad_rnn as tr

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(containing: str) -> str:
    """The README's one ```python block that contains ``containing``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    blocks = [b for b in blocks if containing in b]
    assert len(blocks) == 1, f"{len(blocks)} README blocks contain {containing!r}"
    return blocks[0]


def _run(code: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)  # a block may write under out/
    tr.manual_seed(0)
    scope = {"tr": tr}
    exec(compile(code, str(README), "exec"), scope)
    return scope


def test_the_first_graph_block_traces_and_prints_a_summary(tmp_path, monkeypatch, capsys):
    scope = _run(_block("print(g)"), tmp_path, monkeypatch)
    assert "steps: 0–19 (20)" in capsys.readouterr().out and scope["g"].find(name="h", step=3)


def test_the_gradient_flow_block_defines_its_loss_and_measures_one_layer(tmp_path, monkeypatch):
    scope = _run(_block("analysis.gradient_norms(loss"), tmp_path, monkeypatch)
    flow = scope["flows"]["LSTM/l1"]
    assert list(flow.steps) == list(range(30)) and len(flow.norms) == 30 and flow.norms[-1] > 0


def test_the_seq2seq_block_finds_the_attention_weights_of_decoder_step_3(tmp_path, monkeypatch):
    scope = _run(_block('name="weights", step=3)'), tmp_path, monkeypatch)
    found = tr.graph.trace(scope["loss"]).find(scope="Seq2Seq/decoder/attention", name="weights", step=3)
    assert len(found) == 1 and found[0].step == 3 and found[0].time == 3 + 3  # after the encoder's 3 steps


def test_the_gradient_colour_block_gives_each_steps_share_of_the_shared_weight(tmp_path, monkeypatch):
    scope = _run(_block("print(g)") + _block("g.grad_shares("), tmp_path, monkeypatch)
    g, W_hh = scope["g"], scope["W_hh"]
    shares = g.grad_shares(g.node_of(W_hh))
    assert list(shares) == list(range(20)) and shares[0] == 0.0 < shares[19]
    assert (tmp_path / "out" / "rnn_grads.dot").exists()
