"""The beam-search tree picture: deterministic DOT with kept, pruned, finished and best-path styles, written files."""
from __future__ import annotations

from itertools import pairwise

import os
import re
import shutil
import subprocess
import sys

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.decode import TableModel, beam_search
from viz.beam import beam_tree_dot, write_beam_tree

WORDS = ["<pad>", "<sos>", "<eos>", "he", "nose", "knows", "something", 'say "hi"']
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model() -> TableModel:
    w = {s: i for i, s in enumerate(WORDS)}
    probs = np.zeros((len(WORDS), len(WORDS)))
    probs[w["<sos>"], [w["he"], w['say "hi"'], w["<eos>"]]] = .8, .15, .05
    probs[w["he"], [w["nose"], w["knows"], w["<eos>"], w['say "hi"']]] = .5, .4, .05, .05
    probs[w["nose"], 2:] = 1 / 6
    probs[w["knows"], [w["something"], w["<eos>"]]] = .9, .1
    for s in ("<pad>", "<eos>", "something", 'say "hi"'):
        probs[w[s], w["<eos>"]] = 1.0
    return TableModel(probs, sos_index=1, eos_index=2, pad_index=0)


def _tree():
    return beam_search(_model(), tr.tensor([[3]]), beam_width=2, max_len=5, record_tree=True).tree


def _node_lines(source: str) -> dict:
    """Node id → its attribute text."""
    return dict(re.findall(r"^  (n\d+) \[(.*)\];$", source, flags=re.M))


def test_dot_is_deterministic_across_runs_and_processes():
    first = beam_tree_dot(_tree(), WORDS)
    assert first == beam_tree_dot(_tree(), WORDS)
    script = ("import tinygrad_rnn as tr, sys; sys.path.insert(0, 'tests'); import test_viz_beam as t; "
              "sys.stdout.write(t.beam_tree_dot(t._tree(), t.WORDS))")
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120, check=True)
        assert out.stdout == first


def test_styles_show_kept_pruned_finished_and_the_best_path():
    tree = _tree()
    source = beam_tree_dot(tree, WORDS)
    nodes = _node_lines(source)
    assert len(nodes) == len(tree.nodes)
    assert source.startswith("digraph beam {") and "rankdir=LR" in source
    best = set(tree.best)
    for node in tree.nodes:
        attrs = nodes[f"n{node.id}"]
        if node.id in best:
            assert 'style="bold"' in attrs
        elif node.status == "pruned":
            assert 'style="dashed"' in attrs and 'color="#9e9e9e"' in attrs
        elif node.status == "kept":
            assert 'style="solid"' in attrs and "peripheries" not in attrs
        if node.status == "finished":
            assert 'peripheries="2"' in attrs
        assert f"\\n{node.score:.2f}" in attrs  # token and score
    statuses = {n.status for n in tree.nodes}
    assert {"root", "kept", "pruned", "finished"} <= statuses
    # the best path: "he knows something <eos>", its edges bold too
    assert [WORDS[tree.nodes[i].token] for i in tree.best] == ["<sos>", "he", "knows", "something", "<eos>"]
    for a, b in pairwise(tree.best):
        assert re.search(rf'^  n{a} -> n{b} \[style="bold"', source, flags=re.M)
    assert 'label="say \\"hi\\"\\n' in source  # symbols are quoted for DOT


def test_one_column_per_step_left_to_right():
    tree = _tree()
    source = beam_tree_dot(tree)
    ranks = re.findall(r"\{ rank=same; (.*?); \}", source)
    steps = sorted({n.step for n in tree.nodes})
    assert len(ranks) == len(steps)
    for step, members in zip(steps, ranks, strict=True):
        assert sorted(members.split("; ")) == sorted(f"n{n.id}" for n in tree.nodes if n.step == step)
    assert 'label="3\\n' in source  # token ids without a vocabulary


def test_vocab_decode_callable_and_max_pruned_summary():
    tree = _tree()
    source = beam_tree_dot(tree, lambda token: WORDS[token].upper(), title="nose / knows", max_pruned=1)
    assert 'label="nose / knows"' in source and 'label="KNOWS\\n' in source
    more = re.findall(r'more(\d+) \[label="\+(\d+) more"', source)
    assert more
    for parent, count in more:
        pruned = [n for n in tree.nodes if n.parent == int(parent) and n.status == "pruned"]
        assert int(count) == len(pruned) - 1
        assert f"  n{parent} -> more{parent}" in source
    assert len(_node_lines(source)) == len(tree.nodes) - sum(int(c) for _, c in more)


def test_written_files_exist(tmp_path):
    path = str(tmp_path / "pics" / "beam.dot")
    written = write_beam_tree(_tree(), path, vocab_decode=WORDS)
    assert written[0] == path and open(path, encoding="utf-8").read() == beam_tree_dot(_tree(), WORDS)
    if shutil.which("dot"):
        assert written == [path, str(tmp_path / "pics" / "beam.svg")]
        assert "<svg" in open(written[1], encoding="utf-8").read()
    else:
        assert written == [path]
    assert sorted(os.listdir(tmp_path / "pics")) == sorted(os.path.basename(p) for p in written)  # no temp files
