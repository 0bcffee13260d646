"""DOT for a traced graph: one cluster per time step (time left to right), module scopes nested inside.

Reads ``tinygrad_rnn.graph`` only. Variables and parameters are drawn as boxes, operations as ellipses, as
in the lectures' unrolled figures; output is deterministic (same graph, byte-identical DOT).

>>> import tinygrad_rnn as tr
>>> h = (tr.tensor([1.0], requires_grad=True) * 2).tanh()
>>> "digraph" in to_dot(tr.graph.trace(h))
True
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess

from tinygrad_rnn.graph import Graph, Node
from tinygrad_rnn.serialization import atomic_path

_STYLE = {
    "op": dict(shape="ellipse", style="filled", fillcolor="#fff2cc", color="#b58900"),
    "param": dict(shape="box", style="filled,bold", fillcolor="#d5e8d4", color="#2e7d32"),
    "input": dict(shape="box", style="filled,rounded", fillcolor="#dae8fc", color="#1f5fa8"),
    "const": dict(shape="plaintext", fontcolor="#555555"),
    "tensor": dict(shape="box", style="rounded", color="#555555"),
}


def _quote(text: str) -> str:
    """Text inside a DOT double-quoted string."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label(node: Node) -> str:
    if node.kind in ("op", "const"):
        return _quote(node.label)
    shape = "×".join(str(d) for d in node.shape) or "scalar"
    return f"{_quote(node.name)}\\n{shape}" if node.name else shape


def _attrs(attrs: dict) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in attrs.items())


# blue (small) → pale yellow → red (large): the colours of ‖grad‖ on a log scale
_RAMP = ((0x2c, 0x7b, 0xb6), (0xff, 0xff, 0xbf), (0xd7, 0x19, 0x1c))


def _ramp(u: float) -> str:
    u = min(max(u, 0.0), 1.0) * (len(_RAMP) - 1)
    k = min(int(u), len(_RAMP) - 2)
    a, b, frac = _RAMP[k], _RAMP[k + 1], u - k
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b))


class _GradientScale:
    """Maps each node's ‖grad‖ (an op's: its first output's) to a colour and an edge width on a log scale."""

    def __init__(self, graph: Graph):
        self.norms = {}
        for node in graph.nodes:
            norm = node.grad_norm if node.kind != "op" else next(
                (s.grad_norm for s in graph.successors(node) if s.output_index in (0, None)), None)
            if norm is not None and norm > 0:
                self.norms[node.id] = norm
        logs = [math.log10(n) for n in self.norms.values()]
        self.low, self.high = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def position(self, node_id: str):
        norm = self.norms.get(node_id)
        if norm is None:
            return None
        return 0.5 if self.high == self.low else (math.log10(norm) - self.low) / (self.high - self.low)

    def legend(self) -> list:
        if not self.norms:
            return []
        lines = ['  subgraph cluster_legend { label="‖grad‖ (log scale)"; style="rounded"; color="#999999";']
        for k, u in enumerate((0.0, 0.5, 1.0)):
            value = 10 ** (self.low + u * (self.high - self.low))
            lines.append(f'    legend_{k} [label="{value:.2g}", shape=box, style=filled, fillcolor="{_ramp(u)}"];')
        lines.append("    legend_0 -> legend_1 -> legend_2 [style=invis];")
        lines.append("  }")
        return lines


_HIGHLIGHT = "#c2185b"


class _Look:
    """How each node and edge is drawn: the kind's style, the gradient colour, the highlighted path."""

    def __init__(self, graph: Graph, grads: bool, highlight):
        self.graph = graph
        self.scale = _GradientScale(graph) if grads else None
        self.highlighted = {n.id if isinstance(n, Node) else n for n in (highlight or ())}

    def node(self, node: Node) -> dict:
        style = dict(_STYLE[node.kind])
        where = self.scale.position(node.id) if self.scale is not None else None
        if where is not None:
            style["style"] = "filled" + ("" if node.kind == "op" else ",rounded")
            style["fillcolor"] = _ramp(where)
        if node.id in self.highlighted:
            style.update(color=_HIGHLIGHT, penwidth="3")
        return style

    def edge(self, a: str, b: str) -> list:
        graph = self.graph
        # an edge from one step into the next must not push the later step upwards: time runs left to right
        crosses_time = graph[a].step is not None and graph[b].step is not None and graph[a].step != graph[b].step
        attrs = ["constraint=false"] if crosses_time else []
        where = self.scale.position(a if graph[a].kind != "op" else b) if self.scale else None
        if a in self.highlighted and b in self.highlighted:
            attrs.append(f'penwidth="3.5", color="{_HIGHLIGHT}"')
        elif where is not None:
            attrs.append(f'penwidth="{0.5 + 3.5 * where:.2f}", color="{_ramp(where)}"')
        return attrs


def to_dot(graph: Graph, title: str | None = None, grads: bool = False, highlight=None) -> str:
    """The DOT source of ``graph``; nodes of one time step share a cluster, scopes nest inside it.

    With ``grads`` (after a backward; see ``tinygrad_rnn.graph.retain_grads`` to keep every tensor's gradient),
    nodes are filled by ‖grad‖ on a log scale — blue small, red large — and edges drawn wider where more gradient
    flows, so vanishing and exploding gradients show as a fade or a blaze across the time clusters.
    ``highlight`` (nodes or ids, e.g. ``graph.path_nodes(c0, c5)`` for the cell-state highway) is drawn in bold
    colour, with the edges between its nodes.
    """
    look = _Look(graph, grads, highlight)
    lines = ["digraph unrolled {", '  rankdir=BT; newrank=true; node [fontname="Helvetica", fontsize=10];',
             '  edge [color="#666666", arrowsize=0.6];']
    if title:
        lines.append(f'  labelloc=t; label="{_quote(title)}";')
    # group nodes: (step, scope path) -> nodes; parameters and inputs without a step sit outside time clusters
    groups: dict = {}
    for node in graph.nodes:
        groups.setdefault(node.step, []).append(node)
    for step_index in [None] + graph.steps:
        members = groups.get(step_index, [])
        indent = "  "
        if step_index is not None:
            lines.append(f'  subgraph cluster_t{step_index} {{ label="t = {step_index}"; style="rounded"; '
                         'color="#999999";')
            indent = "    "
            lines.append(f'{indent}anchor_t{step_index} [shape=point, style=invis];')
        lines.extend(_scoped(members, indent, f"t{step_index}", look))
        if step_index is not None:
            lines.append("  }")
    if len(graph.steps) > 1:  # invisible anchors on one rank keep the time clusters in order, left to right
        anchors = " -> ".join(f"anchor_t{t}" for t in graph.steps)
        lines.append(f"  {{ rank=same; {anchors} [style=invis]; }}")
    for a, b in graph.edges:
        attrs = look.edge(a, b)
        lines.append(f"  {a} -> {b}{' [' + ', '.join(attrs) + ']' if attrs else ''};")
    if look.scale is not None:
        lines.extend(look.scale.legend())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _scoped(members: list, indent: str, prefix: str, look: _Look) -> list:
    """Nodes nested in clusters by scope path."""
    tree: dict = {}
    for node in members:
        level = tree
        for part in node.scope.split("/") if node.scope else []:
            level = level.setdefault(part, {})
        level.setdefault(None, []).append(node)
    return _emit(tree, indent, prefix, look)


def _emit(tree: dict, indent: str, prefix: str, look: _Look) -> list:
    lines = [f"{indent}{n.id} [label=\"{_label(n)}\", {_attrs(look.node(n))}];" for n in tree.get(None, [])]
    for i, name in enumerate(sorted(k for k in tree if k is not None)):
        cluster = f"{prefix}_{i}"
        lines.append(f'{indent}subgraph cluster_{cluster} {{ label="{_quote(name)}"; style="dashed"; color="#bbbbbb";')
        lines.extend(_emit(tree[name], indent + "  ", cluster, look))
        lines.append(f"{indent}}}")
    return lines


def dot_available() -> bool:
    return shutil.which("dot") is not None


INSTALL_DOT = "Graphviz's dot is not installed, so only the DOT source was written; install it with " \
              "'sudo apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS)"


def write(graph: Graph, path: str, formats=("svg",), title: str | None = None, grads: bool = False,
          highlight=None) -> list:
    """Write ``path`` (.dot) atomically and, where ``dot`` exists, each format beside it; return the paths."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(to_dot(graph, title, grads, highlight))
    written = [path]
    if dot_available():
        stem = os.path.splitext(path)[0]
        for fmt in formats:
            out = f"{stem}.{fmt}"
            with atomic_path(out) as tmp:
                subprocess.run(["dot", f"-T{fmt}", path, "-o", tmp], check=True, timeout=120)
            written.append(out)
    return written
