"""DOT for a traced graph: one cluster per time step (time left to right), module scopes nested inside.

Reads ``tinygrad_rnn.graph`` only. Variables and parameters are drawn as boxes, operations as ellipses, as
in the lectures' unrolled figures; output is deterministic (same graph, byte-identical DOT).

>>> import tinygrad_rnn as tr
>>> h = (tr.tensor([1.0], requires_grad=True) * 2).tanh()
>>> "digraph" in to_dot(tr.graph.trace(h))
True
"""
from __future__ import annotations

import os
import shutil
import subprocess

from tinygrad_rnn.graph import Graph, Node

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


def to_dot(graph: Graph, title: str | None = None) -> str:
    """The DOT source of ``graph``; nodes of one time step share a cluster, scopes nest inside it."""
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
        lines.extend(_scoped(members, indent, f"t{step_index}"))
        if step_index is not None:
            lines.append("  }")
    if len(graph.steps) > 1:  # invisible anchors on one rank keep the time clusters in order, left to right
        anchors = " -> ".join(f"anchor_t{t}" for t in graph.steps)
        lines.append(f"  {{ rank=same; {anchors} [style=invis]; }}")
    for a, b in graph.edges:
        # an edge from one step into the next must not push the later step upwards: time runs left to right
        crosses_time = graph[a].step is not None and graph[b].step is not None and graph[a].step != graph[b].step
        lines.append(f"  {a} -> {b}{' [constraint=false]' if crosses_time else ''};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _scoped(members: list, indent: str, prefix: str) -> list:
    """Nodes nested in clusters by scope path."""
    tree: dict = {}
    for node in members:
        level = tree
        for part in node.scope.split("/") if node.scope else []:
            level = level.setdefault(part, {})
        level.setdefault(None, []).append(node)
    return _emit(tree, indent, prefix)


def _emit(tree: dict, indent: str, prefix: str) -> list:
    lines = [f"{indent}{n.id} [label=\"{_label(n)}\", {_attrs(_STYLE[n.kind])}];" for n in tree.get(None, [])]
    for i, name in enumerate(sorted(k for k in tree if k is not None)):
        cluster = f"{prefix}_{i}"
        lines.append(f'{indent}subgraph cluster_{cluster} {{ label="{_quote(name)}"; style="dashed"; color="#bbbbbb";')
        lines.extend(_emit(tree[name], indent + "  ", cluster))
        lines.append(f"{indent}}}")
    return lines


def dot_available() -> bool:
    return shutil.which("dot") is not None


INSTALL_DOT = "Graphviz's dot is not installed, so only the DOT source was written; install it with " \
              "'sudo apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS)"


def write(graph: Graph, path: str, formats=("svg",), title: str | None = None) -> list:
    """Write ``path`` (.dot) atomically and, where ``dot`` exists, each format beside it; return the paths."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    source = to_dot(graph, title)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(source)
    os.replace(tmp, path)
    written = [path]
    if dot_available():
        stem = os.path.splitext(path)[0]
        for fmt in formats:
            out = f"{stem}.{fmt}"
            subprocess.run(["dot", f"-T{fmt}", path, "-o", out + ".tmp"], check=True, timeout=120)
            os.replace(out + ".tmp", out)
            written.append(out)
    return written
