"""DOT for a beam search's forking tree: every expansion of one row, pruned to the Top-K at each step.

Reads the :class:`tinygrad_rnn.decode.BeamTree` that ``beam_search(..., record_tree=True)`` returns. Time runs
left to right, one column per step. Kept hypotheses are solid, pruned ones grey and dashed, finished ones
(ended in ``<eos>``, or still in the beam at ``max_len``) double-bordered, and the path of the best hypothesis is
bold. Each node shows its token and the path's summed log-probability. The output is deterministic: the same tree
gives byte-identical DOT. ``viz.Drawing(beam_tree_dot(tree))`` shows it inline in Jupyter (SVG where ``dot``
exists, else the source and how to install ``dot``).

>>> import tinygrad_rnn as tr
>>> from tinygrad_rnn.decode import TableModel, beam_search
>>> model = TableModel([[0, .1, .5, .4], [0, 1, 0, 0], [0, .5, .3, .2], [0, .9, .1, 0]])
>>> tree = beam_search(model, tr.tensor([[0]]), beam_width=2, record_tree=True).tree
>>> source = beam_tree_dot(tree, ["<sos>", "<eos>", "nose", "knows"])
>>> source.startswith("digraph beam {") and 'label="knows\\\\n-0.92"' in source
True
"""
from __future__ import annotations

from collections.abc import Callable, Sequence


from .dot import _attrs, _quote, write_source

_GREY = "#9e9e9e"
_BEST = "#c2185b"
_LOOK = {
    "root": dict(shape="box", style="rounded"),
    "kept": dict(shape="ellipse", style="solid"),
    "finished": dict(shape="ellipse", style="solid", peripheries="2"),
    "pruned": dict(shape="ellipse", style="dashed", color=_GREY, fontcolor=_GREY),
}


def _symbols(vocab_decode) -> Callable[[int], str]:
    if vocab_decode is None:
        return str
    if callable(vocab_decode):
        return lambda token: str(vocab_decode(token))
    names: Sequence = vocab_decode
    return lambda token: str(names[token]) if 0 <= token < len(names) else str(token)


def beam_tree_dot(tree, vocab_decode: Callable[[int], str] | Sequence[str] | None = None, title: str | None = None,
                  max_pruned: int | None = None) -> str:
    """The DOT source of a beam-search tree.

    ``vocab_decode`` turns token ids into symbols: a callable or a sequence of names (ids by default).
    ``max_pruned`` keeps the picture readable for larger vocabularies: only the best ``max_pruned`` pruned children
    of each node are drawn, the rest summed up in one "+N more" node.
    """
    symbol = _symbols(vocab_decode)
    best = set(tree.best)
    shown, hidden = _visible(tree, max_pruned)
    lines = ["digraph beam {", '  rankdir=LR; node [fontname="Helvetica", fontsize=10];',
             '  edge [color="#555555", arrowsize=0.6];']
    heading = title if title is not None else \
        f"beam search, row {tree.row}: width {tree.beam_width}, length penalty {tree.length_penalty:g}"
    lines.append(f'  labelloc=t; label="{_quote(heading)}";')
    steps: dict = {}
    for node in tree.nodes:
        if node.id not in shown:
            continue
        steps.setdefault(node.step, []).append(f"n{node.id}")
        look = dict(_LOOK[node.status])
        if node.id in best:
            look.update(style="bold", color=_BEST, penwidth="2.5")
        label = f"{_quote(symbol(node.token))}\\n{node.score:.2f}"
        lines.append(f'  n{node.id} [label="{label}", {_attrs(look)}];')
    for parent, count in sorted(hidden.items()):
        step = tree.nodes[parent].step + 1
        steps.setdefault(step, []).append(f"more{parent}")
        lines.append(f'  more{parent} [label="+{count} more", shape=plaintext, fontcolor="{_GREY}"];')
    for step in sorted(steps):  # one column per step
        lines.append(f"  {{ rank=same; {'; '.join(steps[step])}; }}")
    for node in tree.nodes:
        if node.parent is None or node.id not in shown:
            continue
        if node.id in best and node.parent in best:
            look = dict(style="bold", color=_BEST, penwidth="2.5")
        elif node.status == "pruned":
            look = dict(style="dashed", color=_GREY)
        else:
            look = {}
        lines.append(f"  n{node.parent} -> n{node.id}{' [' + _attrs(look) + ']' if look else ''};")
    for parent in sorted(hidden):
        lines.append(f'  n{parent} -> more{parent} [style="dotted", color="{_GREY}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _visible(tree, max_pruned: int | None) -> tuple[set, dict]:
    """The ids to draw and, per parent, how many pruned children were left out."""
    if max_pruned is None:
        return {node.id for node in tree.nodes}, {}
    children: dict = {}
    for node in tree.nodes:
        if node.status == "pruned":
            children.setdefault(node.parent, []).append(node)
    shown = {node.id for node in tree.nodes if node.status != "pruned"}
    hidden = {}
    for parent, pruned in children.items():
        pruned.sort(key=lambda n: (-n.score, n.id))
        shown.update(n.id for n in pruned[:max_pruned])
        if len(pruned) > max_pruned:
            hidden[parent] = len(pruned) - max_pruned
    return shown, hidden


def write_beam_tree(tree, path: str, formats=("svg",), vocab_decode=None, title: str | None = None,
                    max_pruned: int | None = None) -> list:
    """Write ``path`` (.dot) atomically and, where Graphviz's ``dot`` exists, each format beside it (as
    ``viz.write`` does for graphs); return the paths written."""
    return write_source(beam_tree_dot(tree, vocab_decode, title, max_pruned), path, formats)
