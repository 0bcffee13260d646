"""DOT for a traced graph: one cluster per time step, time left to right, module scopes nested inside.

Reads ``tinygrad_rnn.graph`` only. As in the lectures' unrolled figures, variables are boxes, parameters shaded
boxes and operations ellipses; output is deterministic (same graph, byte-identical DOT).

Three levels of detail: ``"op"`` (every primitive), ``"cell"`` (one box per cell call per step, the ``h`` / ``c``
passed between them kept) and ``"layer"`` (one box per layer for all its steps). A graph too big for ``dot`` to lay
out in reasonable time is drawn at the next level, with a warning.

Time runs along dot's *rank* axis (``rankdir=LR``), and invisible anchor nodes between consecutive steps hold
every node of step t on lower ranks than every node of step t + 1. Ranks are hard constraints in dot (its order
within a rank is only a heuristic), so the step clusters come out in time order for any graph. An edge that runs
against time (into a projection shared by all steps, say) is drawn without constraining the layout.

>>> import tinygrad_rnn as tr
>>> h = (tr.tensor([1.0], requires_grad=True) * 2).tanh()
>>> "digraph" in to_dot(tr.graph.trace(h))
True
"""
from __future__ import annotations

import html
import math
import os
import re
import shutil
import subprocess
import warnings

from tinygrad_rnn.errors import GraphError
from tinygrad_rnn.graph import LEVELS, Graph, Node
from tinygrad_rnn.serialization import atomic_path

from .colours import HIGHLIGHT, NO_GRADIENT, STYLE, darker, ramp

# dot lays out ~3,000 drawn nodes of an unrolled LSTM in 1-3 s, 5,000 in ~10 s, 7,000 in ~40 s (its layout is
# superlinear; benchmarks/viz.py measures it): beyond this a graph is drawn collapsed, not handed to dot to choke on
MAX_NODES = 3000

_OUTLINE_WIDTH = "2"  # a gradient drawing's category outlines, thick enough to read beside a strong fill
_FUSED = ("rnn_cell", "lstm_cell", "gru_cell")  # the labels of the fused cell steps: one node for all the gates
_ANONYMOUS = dict(fontsize="8", height="0.2", margin="0.04,0.02", color="#999999", fontcolor="#555555")
_COPY = dict(fontsize="8", height="0.25", margin="0.05,0.02")
_STUB = dict(shape="box", style="dotted,rounded", color="#888888", fontcolor="#555555")
# one fill per shared parameter, so that its copies in every step read as one thing
_PALETTE = ("#c7e9c0", "#dadaeb", "#fdd0a2", "#c6dbef", "#fcc5c0", "#d9f0d3", "#e5d8bd", "#ccebc5", "#fde0ef",
            "#d0d1e6")
_LEAVES = ("param", "input", "const")
_CUT = "#d62728"
_BACKWARD = "#b0b0b0"


def _quote(text) -> str:
    """Text inside a DOT double-quoted string (backslash, quote and newline escaped). Every drawing in ``viz``
    quotes through here."""
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shape(node: Node) -> str:
    return "×".join(str(d) for d in node.shape) or "scalar"


def _attrs(attrs: dict) -> str:
    """DOT attributes from a dict of plain values, each quoted: ``shape="box", tooltip="say \\"hi\\""``.

    >>> _attrs({"shape": "box", "tooltip": 'say "hi"'})
    'shape="box", tooltip="say \\\\"hi\\\\""'
    """
    return ", ".join(f'{k}="{_quote(v)}"' for k, v in attrs.items())


def _steps_text(steps) -> str:
    """``0–3, 5, 7–9``: a sorted set of steps as runs.

    >>> _steps_text([0, 1, 2, 3, 5, 7, 8, 9])
    '0–3, 5, 7–9'
    """
    runs, steps = [], sorted(steps)
    for s in steps:
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}–{b}" if b > a else f"{a}" for a, b in runs)


class _GradientScale:
    """Maps each node's ‖grad‖ to a colour and an edge width on a log scale: a tensor's own, an op's first
    output's, a cell group's largest among the tensors it hands on; and a shared parameter's copy inside step t
    to that step's share of its gradient (``Graph.grad_shares``), where the graph was marked to keep them."""

    def __init__(self, graph: Graph, plan: _Plan):
        self.norms = {}
        self.shares: dict = {}  # (parameter id, step) -> ‖that step's share of its gradient‖
        self.unshared = []  # parameters drawn inside steps whose per-step shares were not kept
        for node in graph.nodes:
            if node.kind == "op":
                norm = next((s.grad_norm for s in graph.successors(node) if s.output_index in (0, None)), None)
            elif node.kind == "group":
                norm = max((n for n in (s.grad_norm for s in graph.successors(node)) if n is not None), default=None)
            else:
                norm = node.grad_norm
            if norm is not None and norm > 0:
                self.norms[node.id] = norm
            if node.kind == "param" and plan.steps_of(node.id):
                self._add_shares(graph, node)
        logs = [math.log10(n) for n in (*self.norms.values(), *self.shares.values()) if n > 0]
        self.low, self.high = (min(logs), max(logs)) if logs else (0.0, 0.0)

    def _add_shares(self, graph: Graph, node: Node) -> None:
        try:
            shares = graph.grad_shares(node)
        except GraphError:  # not marked before the backward: its copies in the steps show no colour
            if node.id in self.norms:
                self.unshared.append(node.id)
            return
        self.shares.update(((node.id, step), norm) for step, norm in shares.items() if step is not None)

    def position(self, node_id: str, step=None):
        """Where ``node_id``'s ‖grad‖ lies on the scale (0 smallest, 1 largest), or None without one; with ``step``,
        where its share of step ``step`` lies (a shared parameter's copy inside that step)."""
        norm = self.norms.get(node_id) if step is None else self.shares.get((node_id, step))
        return self._place(norm)

    def _place(self, norm):
        if norm is None or norm <= 0:
            return None
        return 0.5 if self.high == self.low else (math.log10(norm) - self.low) / (self.high - self.low)

    def legend_rows(self) -> list:
        """Rows of the legend table: the fill scale from the smallest ‖grad‖ to the largest, and no gradient."""
        rows = ['<TR><TD COLSPAN="2" ALIGN="LEFT"><B>fill: ‖grad‖</B> (log scale; wider edge: more gradient)</TD>'
                '</TR>']
        if self.norms or self.shares:
            for u in (1.0, 0.75, 0.5, 0.25, 0.0):
                rows.append(_swatch(ramp(u), f"{10 ** (self.low + u * (self.high - self.low)):.2g}"))
        rows.append(_swatch(NO_GRADIENT, "no gradient (none kept, or zero)"))
        if self.shares:
            rows.append(_swatch("#ffffff", "a shared parameter inside step t: step t's share of its gradient "
                                "(its tooltip gives all steps' too)", STYLE["param"]["color"]))
        if self.unshared:
            rows.append(_swatch(NO_GRADIENT, "shared parameters inside the steps: their per-step shares were not "
                                "kept (graph.retain_grads() before backward keeps them)", STYLE["param"]["color"]))
        return rows


# -- where each node goes -------------------------------------------------------------------------------------------
_HOME = ("home",)


def _timed(slot: tuple) -> bool:
    return len(slot) == 3


class _Plan:
    """Each node's *slot* — before time, one time step, after time — and the stand-ins drawn inside steps.

    A slot is ``(window, 0)`` before time, ``(window, 1, time)`` inside it, ``(window, 2)`` after it; ``time`` is
    the node's place on the graph's timeline (``Node.time``: a decoder's step t after its encoder's S steps is at
    S + t), ``step_at`` the step number it is labelled with. A *window*
    is a part of the graph joined to the rest only through leaves — a truncated-BPTT window, whose state was
    detached — so that two windows whose steps are both numbered from 0 come out one after the other. A node
    without a step sits before time unless a step lies behind it; a slice of an all-steps result that one step
    alone uses sits in that step. Whatever lives outside time and meets several steps is drawn once outside, and
    inside each step that it meets as a small stand-in (a shared weight: a shaded copy; the projection of all
    steps' inputs, or a stack of all steps' outputs: a stub with its name): long edges fanning across the whole
    picture would be unreadable, and slow dot down.
    """

    def __init__(self, graph: Graph, timed: bool):
        self.graph = graph
        self.slot: dict = {}
        self.step_at: dict = {}  # (window, time) -> the step number drawn there
        window = self._windows() if timed else {}
        behind = {}
        for n in graph.nodes:
            if n.kind in _LEAVES:
                continue
            preds = graph.predecessor_ids(n.id)
            w = window.get(n.id, 0)
            behind[n.id] = any(behind.get(p) or _timed(self.slot.get(p, ())) for p in preds)
            if timed and n.step is not None:
                self.slot[n.id] = (w, 1, n.time)
                self.step_at.setdefault((w, n.time), int(n.step))
            else:
                self.slot[n.id] = (w, 2) if behind[n.id] else (w, 0)
        self._slices_into_steps()
        self.stand_ins: dict = {}  # node id -> {(slot, scope) or _HOME: drawn id}
        self.links: dict = {}  # drawn id of a stand-in -> the ids of the nodes it links to
        self.bundle_of: dict = {}  # (slot, scope) -> drawn id of the parameters' stand-in there
        self.bundles: dict = {}  # that drawn id -> the parameters' ids, in order of use
        self._place_leaves()
        self._stub_fans()
        timed_slots = [s for s in self.slot.values() if _timed(s)]
        self.windows_collide = len({(s[0], s[2]) for s in timed_slots}) > len({s[2] for s in timed_slots})

    def _windows(self) -> dict:
        """Node id -> its window, counting only the windows that have time steps (for their labels)."""
        parts = self.graph.windows()
        timed = sorted({parts[n.id] for n in self.graph.nodes if n.step is not None})
        dense = {w: k for k, w in enumerate(timed)}
        return {i: dense.get(w, 0) for i, w in parts.items()}

    def _slices_into_steps(self) -> None:
        graph, slot = self.graph, self.slot
        for n in graph.nodes:
            if n.kind == "tensor" and not _timed(slot[n.id]):
                users = {slot[u] for u in graph.successor_ids(n.id)}
                if len(users) == 1 and _timed(next(iter(users))):
                    slot[n.id] = users.pop()

    def _stand_in(self, node_id: str, key, other: str) -> str:
        uses = self.stand_ins.setdefault(node_id, {})
        if key not in uses:
            uses[key] = node_id if key == _HOME else f"{node_id}_{len(uses)}"
        self.links.setdefault(uses[key], set()).add(other)
        return uses[key]

    def _place_leaves(self) -> None:
        """Leaves by their users: once outside time, and inside each step and scope that uses them; there the
        parameters of one step and scope share one stand-in, a small table (W_hh and b_hh side by side)."""
        graph = self.graph
        for a, b in graph.edges:
            if graph[a].kind in _LEAVES:
                where = self.slot[b]
                key = (where, graph[b].scope) if _timed(where) else _HOME
                if key != _HOME and graph[a].kind == "param":
                    bundle = self.bundle_of.setdefault(key, f"params_{len(self.bundle_of)}")
                    if a not in self.bundles.setdefault(bundle, []):
                        self.bundles[bundle].append(a)
                    self.stand_ins.setdefault(a, {})[key] = bundle
                    self.links.setdefault(bundle, set()).add(b)
                else:
                    self._stand_in(a, key, b)
                if not _timed(where):
                    self.slot[a] = min(self.slot.get(a, where), where)
        for n in graph.nodes:  # a leaf nothing uses (a traced parameter on its own) still shows
            if n.kind in _LEAVES and n.id not in self.stand_ins:
                self._stand_in(n.id, _HOME, n.id)
                self.slot[n.id] = (0, 0)

    def _stub_fans(self) -> None:
        graph, slot = self.graph, self.slot
        fans: dict = {}
        for a, b in graph.edges:
            for outside, inside in ((a, b), (b, a)):
                if graph[outside].kind not in _LEAVES and not _timed(slot[outside]) and _timed(slot[inside]):
                    fans.setdefault(outside, set()).add(slot[inside])
        self.stubbed = [node_id for node_id, steps in fans.items() if len(steps) > 1]
        for node_id, steps in fans.items():
            if len(steps) > 1:
                self._stand_in(node_id, _HOME, node_id)
                for a, b in graph.edges:
                    inside = b if a == node_id else a if b == node_id else None
                    if inside is not None and _timed(slot[inside]):
                        self._stand_in(node_id, (slot[inside], graph[inside].scope), inside)

    def ends(self, a: str, b: str) -> tuple:
        """The drawn ids of an edge's ends: a stand-in inside the other end's step where there is one."""
        return self._drawn(a, b), self._drawn(b, a)

    def _drawn(self, node_id: str, other: str) -> str:
        uses = self.stand_ins.get(node_id)
        if uses is None:
            return node_id
        where = self.slot[other]
        return uses.get((where, self.graph[other].scope), uses.get(_HOME, node_id)) if _timed(where) \
            else uses.get(_HOME, node_id)

    def steps_of(self, node_id: str) -> list:
        """The steps at which ``node_id`` has a stand-in."""
        return sorted({self.step_of(key[0]) for key in self.stand_ins.get(node_id, {}) if key != _HOME})

    def step_of(self, slot: tuple) -> int:
        """The step number of a slot inside time (its node's own recurrence's count)."""
        return self.step_at[(slot[0], slot[2])]

    def members(self) -> dict:
        """slot -> [(drawn id, node, scope it is drawn in, stand-in or not, scope its step was opened in)], in graph
        order. A stand-in's step scope is that of the nodes it stands beside."""
        out: dict = {}
        placed = set()
        opened: dict = {}  # slot -> the scopes its steps were opened in
        for n in self.graph.nodes:
            if n.step_scope is not None and _timed(self.slot.get(n.id, ())):
                opened.setdefault(self.slot[n.id], set()).add(n.step_scope)

        def step_scope(slot, scope: str):  # of a node without a step of its own drawn in a step: its neighbours'
            inside = [s for s in opened.get(slot, ()) if scope == s or scope.startswith(s + "/") or not s]
            return max(inside, key=len, default=None)

        for n in self.graph.nodes:
            uses = self.stand_ins.get(n.id, {})
            if n.kind not in _LEAVES and _HOME not in uses:
                slot = self.slot[n.id]
                where = n.step_scope if n.step_scope is not None or not _timed(slot) else step_scope(slot, n.scope)
                out.setdefault(slot, []).append((n.id, n, n.scope, False, where))
            for key, drawn in uses.items():
                if drawn in placed:  # a parameters' table, already placed by its first parameter
                    continue
                placed.add(drawn)
                if key == _HOME:
                    out.setdefault(self.slot[n.id], []).append((drawn, n, n.scope if n.kind not in _LEAVES else "",
                                                                False, None))
                else:
                    out.setdefault(key[0], []).append((drawn, n, key[1], True, step_scope(*key)))
        return {slot: out[slot] for slot in sorted(out)}


# -- how each node and edge looks ---------------------------------------------------------------------------------
class _Look:
    """How each node and edge is drawn: the kind's style, shared parameters' colours, the gradient colour, the
    highlighted path, and what is hidden (the steps a frame has not reached yet)."""

    def __init__(self, graph: Graph, plan: _Plan, grads: bool, highlight, hidden=frozenset()):
        self.graph, self.plan, self.hidden = graph, plan, hidden
        self.scale = _GradientScale(graph, plan) if grads else None
        self.highlighted = _highlighted(graph, highlight)
        # drawn id of a leaf's copy inside a step (a parameters' table too) -> that step's slot
        self.copy_slot = {drawn: key[0] for uses in plan.stand_ins.values() for key, drawn in uses.items()
                          if key != _HOME}
        shared = [n for n in graph.nodes if n.kind == "param"
                  and len({key[0] for key in plan.stand_ins.get(n.id, {}) if key != _HOME}) > 1]
        self.shared = {n.id: _PALETTE[k % len(_PALETTE)] for k, n in enumerate(shared)}

    def where(self, node_id: str, drawn: str):
        """The place of a drawn node's ‖grad‖ on the scale (None: no gradient to show). A shared parameter's copy
        inside step t shows step t's share of its gradient, never the whole of it."""
        slot = self.copy_slot.get(drawn)
        if slot is None or self.graph[node_id].kind != "param":
            return self.scale.position(node_id)
        if node_id in self.scale.unshared:  # its shares were not kept: the whole gradient only where used once
            return None if node_id in self.shared else self.scale.position(node_id)
        return self.scale.position(node_id, self.plan.step_of(slot))

    def share_text(self, node_id: str, drawn: str) -> str:
        slot = self.copy_slot.get(drawn)
        if self.scale is None or slot is None:
            return ""
        share = self.scale.shares.get((node_id, self.plan.step_of(slot)))
        if share is None:
            return ""
        total = self.scale.norms.get(node_id)
        return f" · step {self.plan.step_of(slot)}'s share of ‖grad‖ {share:.3g}" + (
            f" (all steps' {total:.3g})" if total is not None else "")

    def label(self, node: Node, stand_in: bool) -> str:
        if stand_in and node.kind not in _LEAVES:  # a stub of something outside time: its name suffices
            if node.kind == "group":
                return _quote(f"{self._contents(node)} ({node.label.replace(' · all steps', '')}, all steps)")
            return _quote(f"{node.label or node.name or _shape(node)} (all steps)")
        if node.kind == "op" or node.kind == "const":
            steps = self.plan.steps_of(node.id)
            return _quote(node.label) + (f"\\nsteps {_steps_text(steps)}" if steps else "")
        if node.kind == "group":
            return f"{_quote(node.label)}\\n{_quote(self._contents(node))}"
        name = node.name or ("" if node.kind == "tensor" else node.kind)
        if stand_in and node.id in self.shared:
            name += " (shared)"
        return f"{_quote(name)}\\n{_shape(node)}" if name else _shape(node)

    def bundle(self, drawn: str) -> str:
        """The attributes of a step's table of parameters: one row per parameter, in its shared colour (or its
        gradient's), each named with its shape."""
        rows = []
        for param_id in self.plan.bundles[drawn]:
            node = self.graph[param_id]
            colour = self.shared.get(param_id, STYLE["param"]["fillcolor"])
            where = self.where(param_id, drawn) if self.scale is not None else None
            if self.scale is not None:
                colour = ramp(where) if where is not None else NO_GRADIENT
            text = html.escape(f"{node.name}{' (shared)' if param_id in self.shared else ''} {_shape(node)}")
            if where is not None and (where < 0.15 or where > 0.85):
                text = f'<FONT COLOR="#ffffff">{text}</FONT>'
            border = HIGHLIGHT if param_id in self.highlighted else STYLE["param"]["color"]
            rows.append(f'<TR><TD BGCOLOR="{colour}" COLOR="{border}" BORDER="1">{text}</TD></TR>')
        table = f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="1" CELLPADDING="2">{"".join(rows)}</TABLE>'
        style = ', style="invis"' if drawn in self.hidden else ""
        names = ", ".join((self.graph[i].name or i) + self.share_text(i, drawn) for i in self.plan.bundles[drawn])
        return f'label=<{table}>, shape=plain, fontsize=8, tooltip="{_quote(names)}"{style}'

    def _contents(self, node: Node) -> str:
        """A group's ops in brief: their labels where few, else a count."""
        parent = self.graph.parent
        ops = [parent[i].label for i in node.members if parent[i].kind == "op"] if parent is not None else []
        labels = list(dict.fromkeys(ops))
        return ", ".join(labels) if 0 < len(labels) <= 3 else f"{len(ops)} ops"

    def node(self, node: Node, drawn_id: str, stand_in: bool) -> dict:
        style = dict(STYLE[node.kind] if not stand_in or node.kind in _LEAVES else _STUB)
        if node.kind == "tensor" and not node.name:
            style.update(_ANONYMOUS)
        if stand_in:
            style.update(_COPY)
        if self.scale is None:
            if node.id in self.shared:
                style["fillcolor"] = self.shared[node.id]
        elif "fillcolor" in style:  # the category stays in shape and outline; the fill is the gradient's
            where = self.where(node.id, drawn_id)
            style["fillcolor"] = ramp(where) if where is not None else NO_GRADIENT
            if where is not None and (where < 0.15 or where > 0.85):  # dark ends of the scale: light text
                style["fontcolor"] = "#ffffff"
            if node.kind != "tensor":
                style["penwidth"] = _OUTLINE_WIDTH
        if node.id in self.highlighted:
            style.update(color=HIGHLIGHT, penwidth="3")
        style["tooltip"] = _tooltip(node, self.scale) + self.share_text(node.id, drawn_id)
        if drawn_id in self.hidden:
            style["style"] = "invis"
        return style

    def edge(self, a: str, b: str, drawn: tuple, constrained: bool) -> list:
        graph = self.graph
        attrs = [] if constrained else [f'constraint=false, color="{_BACKWARD}"']
        where = (self.where(a, drawn[0]) if graph[a].kind not in ("op", "group") else self.scale.position(b)) \
            if self.scale else None
        if a in self.highlighted and b in self.highlighted:
            attrs.append(f'penwidth="3.5", color="{HIGHLIGHT}"')
        elif where is not None:
            attrs.append(f'penwidth="{0.5 + 3.5 * where:.2f}", color="{darker(ramp(where))}"')
        if drawn[0] in self.hidden or drawn[1] in self.hidden:
            attrs.append("style=invis")
        return attrs


def _highlighted(graph: Graph, highlight) -> set:
    """Ids of ``highlight`` (nodes or ids of this graph or of the graph it was collapsed from) in ``graph``."""
    ids = {n.id if isinstance(n, Node) else n for n in (highlight or ())}
    if graph.member_of is not None:
        ids = {graph.member_of.get(i, i) for i in ids}
    return ids


def _tooltip(node: Node, scale) -> str:
    parts = [node.kind, node.label or node.name or ""]
    if node.kind != "group" and node.kind != "const":
        parts.append(_shape(node) + (f" {node.dtype}" if node.dtype else ""))
    if node.scope:
        parts.append(f"scope {node.scope}")
    if node.step is not None:
        parts.append(f"step {node.step}")
    if scale is not None and node.id in scale.norms:
        parts.append(f"‖grad‖ {scale.norms[node.id]:.3g}")
    return " · ".join(p for p in parts if p)


# -- the DOT source -------------------------------------------------------------------------------------------------
class _Writer:
    """Builds the DOT text of one drawing."""

    def __init__(self, graph: Graph, level: str, title, grads: bool, highlight, shown: set | None = None,
                 plan: _Plan | None = None):
        self.graph, self.level, self.title = graph, level, title
        self.plan = plan if plan is not None else _Plan(graph, timed=level != "layer")
        # a frame lays out the whole graph and hides what it has not reached, so that frames do not jump
        self.hidden = _hidden_ids(self.plan, shown) if shown is not None else frozenset()
        self.look = _Look(graph, self.plan, grads, highlight, self.hidden)

    def source(self) -> str:
        lines = ["digraph unrolled {",
                 '  rankdir=LR; newrank=true; ranksep=0.25; nodesep=0.12; forcelabels=true;',
                 '  node [fontname="Helvetica", fontsize=10]; edge [color="#666666", arrowsize=0.6];']
        if self.title:
            lines.append(f'  labelloc=t; label="{_quote(self.title)}"; fontname="Helvetica";')
        lines.extend(self._key())
        members = self.plan.members()
        lines.extend(self._clusters(members))
        lines.extend(self._edges(members))
        lines.extend(self._anchors(members))
        lines.extend(self._cuts())
        lines.append("}")
        return "\n".join(lines) + "\n"

    def _clusters(self, members: dict) -> list:
        """Scopes as clusters (a layer is a lane across the picture), and one cluster per time step inside the
        scope the step was opened in: a layer's steps inside its lane, so that a step's edges to the next step of
        the same layer stay inside the lane; a seq2seq decoder's steps inside the model, with the scopes of the
        step (attention, the layers, the output) nested in it — one column per decoder step."""
        tree: dict = {}
        for slot, nodes in members.items():
            for entry in nodes:
                level = tree
                for part in _tree_path(entry[2], entry[4], slot, self.level == "op"):
                    level = level.setdefault(part, {})
                level.setdefault(None, []).append(entry)
        return self._emit(tree, "  ", "s")

    def _emit(self, tree: dict, indent: str, prefix: str) -> list:
        look = self.look
        lines = [f'{indent}{drawn} [label="{look.label(node, is_copy)}", {_attrs(look.node(node, drawn, is_copy))}];'
                 if drawn not in self.plan.bundles else f"{indent}{drawn} [{look.bundle(drawn)}];"
                 for drawn, node, _, is_copy, _ in tree.get(None, [])]
        scopes = sorted(k for k in tree if isinstance(k, str))
        for i, key in enumerate(scopes + sorted(k for k in tree if isinstance(k, tuple))):
            hidden = _all_hidden(tree[key], self.hidden)
            if isinstance(key, tuple):
                window, step = key[0], self.plan.step_of(key)
                name = f"t{key[2]}" + (f"_w{window}" if window else "") + prefix
                label = f"t = {step}" + (f" · window {window + 1}" if self.plan.windows_collide else "")
                style, colour, size = "rounded", "#888888", 11
            else:
                name, label = f"{prefix}_{i}", key if self.level == "op" else ""
                style, colour, size = ("dashed" if self.level == "op" else "invis"), "#bbbbbb", 9
            style = "invis" if hidden else style
            where = " labeljust=c;" if isinstance(key, tuple) else " labeljust=l;"  # a lane's name at its start
            lines.append(f'{indent}subgraph cluster_{name} {{ label="{_quote(label)}"; style="{style}"; '
                         f'color="{colour}"; fontname="Helvetica"; fontsize={size};{where}')
            lines.extend(self._emit(tree[key], indent + "  ", name if isinstance(key, str) else prefix + f"_{i}"))
            lines.append(f"{indent}}}")
        return lines

    def _edges(self, members: dict) -> list:
        lines, plan, seen = [], self.plan, set()
        slot_of = {drawn: slot for slot, nodes in members.items() for drawn, *_ in nodes}
        for a, b in self.graph.edges:
            drawn = plan.ends(a, b)
            if drawn in seen:  # W_hh and b_hh into one linear: one edge from their table
                continue
            seen.add(drawn)
            # an edge against time (from a reverse layer's step to the one before, say) must not drag the layout
            constrained = slot_of[drawn[0]] <= slot_of[drawn[1]] or self.level == "layer"
            attrs = self.look.edge(a, b, drawn, constrained)
            lines.append(f"  {drawn[0]} -> {drawn[1]}{' [' + ', '.join(attrs) + ']' if attrs else ''};")
        return lines

    def _anchors(self, members: dict) -> list:
        """Invisible anchors between consecutive slots: every node of a slot ranks after the anchor before it and
        before the anchor after it, which puts the time steps in order along the rank axis."""
        if self.level == "layer" or len(members) < 2:
            return []
        inside_out, inside_in = set(), set()
        slot_of = {drawn: slot for slot, nodes in members.items() for drawn, *_ in nodes}
        for a, b in self.graph.edges:
            drawn_a, drawn_b = self.plan.ends(a, b)
            if slot_of[drawn_a] == slot_of[drawn_b]:
                inside_out.add(drawn_a)
                inside_in.add(drawn_b)
        lines, slots = [], list(members)
        for k, slot in enumerate(slots):
            if k < len(slots) - 1:
                lines.append(f"  anchor_{k} [shape=point, style=invis, width=0];")
            for drawn, *_ in members[slot]:
                if k < len(slots) - 1 and drawn not in inside_out:
                    lines.append(f"  {drawn} -> anchor_{k} [style=invis];")
                if k > 0 and drawn not in inside_in:
                    lines.append(f"  anchor_{k - 1} -> {drawn} [style=invis];")
        return lines

    def _cuts(self) -> list:
        """Truncated-BPTT cuts: dashed red from the tensor that was detached to each drawing of its detached copy."""
        lines, labelled = [], set()
        for origin, detached in self.graph.cut_edges:
            origin = self.plan.stand_ins.get(origin, {}).get(_HOME, origin)
            for key, drawn in self.plan.stand_ins.get(detached, {_HOME: detached}).items():
                hide = ", style=invis" if drawn in self.hidden or origin in self.hidden else ""
                label = ', xlabel="✂ detached", fontsize=9' if key not in labelled else ""  # one label per cut
                labelled.add(key)
                lines.append(f'  {origin} -> {drawn} [style=dashed, color="{_CUT}", fontcolor="{_CUT}", penwidth=1.5'
                             f'{label}, constraint=false{hide}];')
        return lines

    def _key(self) -> list:
        """One legend node, listing only what the picture holds: the categories (shape and outline; their fill too
        where no gradient is drawn), each shared parameter with the steps it is used at, the cut, the ‖grad‖
        fill scale with "no gradient", the highlighted path."""
        grads = self.look.scale is not None
        kinds = {n.kind for n in self.graph.nodes}
        fused = sorted({n.label for n in self.graph.nodes if n.kind == "op" and n.label in _FUSED})
        what = {"param": "parameter (bold box)", "input": "input (rounded box)",
                "tensor": "variable: a tensor an op made (box)", "op": "operation (ellipse)",
                "group": f"the operations of a {'cell at one step' if self.level == 'cell' else 'layer, all steps'}"
                         " (rounded box)"}
        rows = ['<TR><TD COLSPAN="2" ALIGN="LEFT"><B>outline: what a node is</B></TD></TR>'] if grads else []
        for kind in ("param", "input", "tensor", "op", "group"):
            if kind in kinds:
                fill = "#ffffff" if grads else STYLE[kind]["fillcolor"]
                rows.append(_swatch(fill, what[kind], STYLE[kind]["color"]))
        for label in fused:
            rows.append(_swatch("#ffffff" if grads else STYLE["op"]["fillcolor"],
                                f"{label}: a fused cell step, all its gates in one node (fused=False draws them)",
                                STYLE["op"]["color"]))
        if self.plan.stubbed:
            rows.append('<TR><TD BORDER="1" STYLE="dotted" WIDTH="14" HEIGHT="10"></TD><TD ALIGN="LEFT">'
                        'stand-in for an op of all steps, drawn once outside the steps</TD></TR>')
        for node_id, colour in self.look.shared.items():
            node = self.graph[node_id]
            rows.append(_swatch("#ffffff" if grads else colour, f"{node.name} {_shape(node)}: shared, used at steps "
                                f"{_steps_text(self.plan.steps_of(node_id))}", STYLE["param"]["color"]))
        if self.graph.cut_edges:
            rows.append(f'<TR><TD><FONT COLOR="{_CUT}">- - ✂</FONT></TD><TD ALIGN="LEFT">detached: truncated BPTT, '
                        'no gradient crosses</TD></TR>')
        if grads:
            rows.extend(self.look.scale.legend_rows())
        if self.look.highlighted:
            rows.append(f'<TR><TD><FONT COLOR="{HIGHLIGHT}"><B>━━</B></FONT></TD><TD ALIGN="LEFT">highlighted path'
                        '</TD></TR>')
        table = "".join(rows)
        return [f'  key [shape=plaintext, fontsize=9, label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">'
                f'<TR><TD COLSPAN="2"><B>legend</B></TD></TR>{table}</TABLE>>];']


def _tree_path(scope: str, step_scope, slot: tuple, split: bool) -> list:
    """The clusters a node sits in: its scope's parts (the whole scope as one at cell level, ``split`` False) with
    its step's slot after the parts of the scope the step was opened in (after all of them where unknown)."""
    if not _timed(slot):
        return (scope.split("/") if split else [scope]) if scope else []
    if step_scope is None or not (not step_scope or scope == step_scope or scope.startswith(step_scope + "/")):
        step_scope = scope
    outer = (step_scope.split("/") if split else [step_scope]) if step_scope else []
    rest = scope[len(step_scope):].strip("/")
    inner = (rest.split("/") if split else [rest]) if rest else []
    return outer + [slot] + inner


def _swatch(colour: str, text: str, outline: str | None = None) -> str:
    """A legend row: a small box filled with ``colour`` (outlined in ``outline``: a category) and its meaning."""
    border = f' COLOR="{outline}" BORDER="2"' if outline else ' BORDER="1"'
    return (f'<TR><TD BGCOLOR="{colour}"{border} WIDTH="14" HEIGHT="10"></TD>'
            f'<TD ALIGN="LEFT">{html.escape(text, quote=False)}</TD></TR>')


def _all_hidden(tree: dict, hidden) -> bool:
    return all(drawn in hidden for drawn, *_ in tree.get(None, [])) and all(
        _all_hidden(sub, hidden) for key, sub in tree.items() if key is not None)


# -- levels and automatic collapse ---------------------------------------------------------------------------------
def _at_level(graph: Graph, level: str, max_nodes, coarsest: str = "layer") -> tuple:
    """The graph to draw and its level: ``level``, or the first coarser one, up to ``coarsest``, that draws at most
    ``max_nodes`` nodes (stand-ins included). Returns (graph, level, fits, plan): ``fits`` is False where even the
    ``coarsest`` level is bigger (frames stop at the cell level: the layer level has no steps to unroll); ``plan``
    is the chosen graph's :class:`_Plan`, made while counting (None where the graph alone is over the limit)."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    limit = MAX_NODES if max_nodes is None else max_nodes
    start = max(LEVELS.index(level), LEVELS.index(graph.level))
    base = graph.parent if graph.level != "op" and graph.parent is not None else graph
    sizes = []
    for chosen in LEVELS[start:LEVELS.index(coarsest) + 1]:
        drawn = graph if chosen == graph.level else base.collapse(chosen)
        size, plan = _drawn_size(drawn, chosen, limit)
        sizes.append(f"{len(drawn)} at {chosen} level")
        if size <= limit:
            break
    fits = size <= limit
    if len(sizes) > 1 or not fits:
        what = f"graph too big for dot to lay out in reasonable time (more than {limit} nodes to draw): "
        if fits:
            warnings.warn(what + f"drawn at {chosen} level; graph nodes: " + ", ".join(sizes), stacklevel=4)
        else:
            warnings.warn(what + "graph nodes: " + ", ".join(sizes) + "; the DOT source is written but not handed to "
                          "dot", stacklevel=4)
    return drawn, chosen, fits, plan


def _drawn_size(graph: Graph, level: str, limit: int) -> tuple:
    """How many nodes the drawing has, stand-ins included (never fewer than the graph's own nodes), and the plan
    that counted them (None where the graph's own nodes are already over ``limit``: no plan is made)."""
    if len(graph) > limit:
        return len(graph), None
    plan = _Plan(graph, timed=level != "layer")
    return sum(len(nodes) for nodes in plan.members().values()), plan


def _source(graph: Graph, title, grads, highlight, level, max_nodes) -> tuple:
    drawn, chosen, fits, plan = _at_level(graph, level, max_nodes)
    return _Writer(drawn, chosen, title, grads, highlight, plan=plan).source(), fits


def to_dot(graph: Graph, title: str | None = None, grads: bool = False, highlight=None, level: str = "op",
           max_nodes: int | None = None) -> str:
    """The DOT source of ``graph`` at ``level`` (``"op"``, ``"cell"`` or ``"layer"``); nodes of one time step
    share a cluster, time runs left to right, scopes nest inside a step.

    With ``grads`` (after a backward; see ``tinygrad_rnn.graph.retain_grads`` to keep every tensor's gradient),
    nodes are filled by ‖grad‖ on a log scale — blue small, red large — and edges drawn wider where more gradient
    flows, so vanishing and exploding gradients show as a fade or a blaze across the time clusters.
    ``highlight`` (nodes or ids, e.g. ``graph.path_nodes(c0, c5)`` for the cell-state highway) is drawn in bold
    colour, with the edges between its nodes. A graph of more than ``max_nodes`` nodes (default ``MAX_NODES``)
    is drawn at the next coarser level, with a warning.

    >>> import tinygrad_rnn as tr
    >>> out, _ = tr.nn.LSTM(2, 3, fused=False)(tr.zeros(3, 1, 2))
    >>> source = to_dot(tr.graph.trace(out), level="cell")
    >>> "LSTM l0 · t=2" in source and "cluster_t2" in source
    True
    """
    return _source(graph, title, grads, highlight, level, max_nodes)[0]


def frames(graph: Graph, level: str = "op", title: str | None = None, grads: bool = False, highlight=None,
           stable: bool = True, max_nodes: int | None = None) -> list:
    """One DOT source per time step t: the graph as it stood after step t (``Graph.until(t)``) — an unrolling
    to show one frame after another. With ``stable`` the later steps are laid out but invisible, so every frame
    has the same layout and size and nothing jumps; without it each frame holds only its part of the graph.
    A graph too big even at the cell level (the coarsest with time steps) is still returned, with a warning.

    >>> import tinygrad_rnn as tr
    >>> out, _ = tr.nn.RNN(2, 3)(tr.zeros(4, 1, 2))
    >>> len(frames(tr.graph.trace(out)))
    4
    """
    return _frames(graph, level, title, grads, highlight, stable, max_nodes)[0]


def _frames(graph: Graph, level, title, grads, highlight, stable, max_nodes) -> tuple:
    """:func:`frames`' sources, and whether they are small enough to hand to dot."""
    if level == "layer":
        raise ValueError("frames: the layer level has no time steps to unroll; use level='op' or 'cell'")
    if graph.level == "layer":  # a graph collapsed to layers: its frames are the cells of the graph behind it
        if graph.parent is None:
            raise ValueError("frames: a graph collapsed to layer level has no time steps to unroll")
        graph = graph.parent.collapse("cell")
    drawn, chosen, fits, plan = _at_level(graph, level, max_nodes, coarsest="cell")
    if stable and plan is None:  # every stable frame lays out the whole graph: plan it once
        plan = _Plan(drawn, timed=True)
    out = []
    for t in drawn.times:
        part = drawn.until(t)
        if stable:
            out.append(_Writer(drawn, chosen, title, grads, highlight, {n.id for n in part.nodes}, plan).source())
        else:
            out.append(_Writer(part, chosen, title, grads, highlight).source())
    return out, fits


def _hidden_ids(plan: _Plan, shown: set) -> frozenset:
    """Drawn ids of the nodes not in ``shown``, and of stand-ins whose links are none of them shown."""
    hidden = set()
    for n in plan.graph.nodes:
        uses = plan.stand_ins.get(n.id, {})
        if n.id not in shown:
            hidden.update(uses.values())
            hidden.add(n.id)
            continue
        hidden.update(drawn for key, drawn in uses.items()
                      if key != _HOME and not any(link in shown for link in plan.links[drawn]))
    return frozenset(hidden)


# -- files and notebooks ----------------------------------------------------------------------------------------------
def dot_available() -> bool:
    return shutil.which("dot") is not None


INSTALL_DOT = "Graphviz's dot is not installed, so only the DOT source was written; install it with " \
              "'sudo apt-get install graphviz' (Debian/Ubuntu) or 'brew install graphviz' (macOS)"
_told = False


def _tell_install() -> None:
    """Say once per process that dot is missing and how to get it."""
    global _told
    if not _told:
        _told = True
        warnings.warn(INSTALL_DOT, stacklevel=3)


def _render(dot_path: str, formats, timeout: float = 120.0, png_dpi: int | None = None) -> list:
    """``dot -T<fmt>`` for each format beside ``dot_path``, atomically; the paths written."""
    if not dot_available():
        _tell_install()
        return []
    written, stem = [], os.path.splitext(dot_path)[0]
    for fmt in formats:
        out = f"{stem}.{fmt}"
        resolution = [f"-Gdpi={png_dpi}"] if png_dpi and fmt == "png" else []
        try:
            with atomic_path(out) as tmp:
                run = subprocess.run(["dot", f"-T{fmt}", *resolution, dot_path, "-o", tmp], check=True,
                                     timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            warnings.warn(f"dot took more than {timeout:g} s on {dot_path}; draw it at a coarser level "
                          "(level='cell' or 'layer')", stacklevel=3)
            break
        _tell_scaled(out, run.stderr)
        written.append(out)
    return written


def _tell_scaled(path: str, stderr: str) -> None:
    """Pass on dot's "Scaling by 0.18 to fit": a bitmap wider than dot can write (32,767 px a side) is shrunk
    until its text cannot be read, and dot says so only on its stderr."""
    scaled = re.search(r"Scaling by ([0-9.]+)", stderr or "")
    if scaled:
        warnings.warn(f"dot scaled {path} down to {float(scaled.group(1)):.2g} of its size to fit the largest "
                      "bitmap it writes (32,767 px a side), so its text is hard to read: write SVG instead "
                      "(formats=('svg',)), open the graph in the explorer (viz.explore) or draw it at a coarser "
                      "level (level='cell' or 'layer')", stacklevel=4)


def write_source(source: str, path: str, formats=("svg",), render: bool = True, png_dpi: int | None = None) -> list:
    """Write DOT ``source`` to ``path`` atomically and, where ``dot`` exists (and ``render``), each of ``formats``
    beside it; return the paths. Every drawing in ``viz`` (graphs, cells, beam trees) is written through here.

    >>> import os, tempfile
    >>> write_source("digraph { a -> b }", os.path.join(tempfile.mkdtemp(), "ab.dot"), formats=())[0].endswith("ab.dot")
    True
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(source)
    return [path] + (_render(path, formats, png_dpi=png_dpi) if render and formats else [])


def write(graph: Graph, path: str, formats=("svg",), title: str | None = None, grads: bool = False,
          highlight=None, level: str = "op", max_nodes: int | None = None) -> list:
    """Write ``path`` (.dot) atomically and, where ``dot`` exists, each of ``formats`` (``"svg"``, ``"png"``,
    ``"pdf"``, …) beside it; return the paths. Without ``dot`` the DOT source is still written and a warning,
    once per process, says how to install it."""
    source, fits = _source(graph, title, grads, highlight, level, max_nodes)
    return write_source(source, path, formats, render=fits)


def write_frames(graph: Graph, out_dir: str, stem: str, formats=("svg", "png"), level: str = "op",
                 **options) -> list:
    """Write ``stem_frame{t}.dot`` and each format (``stem_frame0.svg`` …) under ``out_dir`` for every frame of
    :func:`frames`; return the paths, frame by frame. Frames too big for dot (see :func:`write`) are written as DOT
    only, with a warning."""
    options = {"title": None, "grads": False, "highlight": None, "stable": True, "max_nodes": None, **options}
    sources, fits = _frames(graph, level, **options)
    written = []
    for t, source in enumerate(sources):
        written.extend(write_source(source, os.path.join(out_dir, f"{stem}_frame{t}.dot"), formats, render=fits))
    return written


# a step's cluster in dot's SVG: its name (cluster_t<time>[_w<window>]s…, see _Writer._emit) and its outline
_STEP_CLUSTER = re.compile(r'<title>cluster_t(\d+)(?:_w\d+)?s[^<]*</title>\s*'
                           r'<(?:path|polygon)[^>]*?(?:d|points)="([^"]+)"')


def frame_focus(svg: str) -> float | None:
    """Where the newest step of a frame lies in its SVG (``svg``, the text): the right edge of the clusters of
    the latest step drawn, as a fraction of the picture's width — what a player scrolls to, so that the step just
    added is in view. None where no step is drawn (not a drawing of an unrolled graph).

    >>> frame_focus('<svg viewBox="0 0 200 50"><g transform="translate(4 46)"><title>cluster_t0s_1</title>'
    ...             '<polygon points="10,-5 96,-5 96,-40 10,-40"/></g></svg>')
    0.5
    """
    drawn: dict = {}
    for time, points in _STEP_CLUSTER.findall(svg):
        xs = [float(x) for x, _ in re.findall(r"(-?[\d.]+),(-?[\d.]+)", points)]
        drawn[int(time)] = max(drawn.get(int(time), -math.inf), *xs)
    box = re.search(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+)', svg)
    if not drawn or box is None or float(box.group(1)) <= 0:
        return None
    shift = re.search(r"translate\(([-\d.]+)", svg)
    return min(1.0, (drawn[max(drawn)] + (float(shift.group(1)) if shift else 0.0)) / float(box.group(1)))


TOO_BIG = "graph too big for dot to lay out in reasonable time, so it is not rendered; draw it at a coarser level " \
          "(level='cell' or 'layer') or pass a larger max_nodes"


class Drawing:
    """DOT source that shows itself: inline SVG in Jupyter where ``dot`` exists, else the source and how to get
    ``dot``. ``save(path, formats)`` writes it like :func:`write`. With ``render=False`` (a graph too big for
    ``dot``, as :func:`draw` decides) it is never handed to ``dot``: it shows its source, and saves only that.

    >>> import tinygrad_rnn as tr
    >>> d = draw(tr.graph.trace((tr.tensor([1.0], requires_grad=True) * 2).tanh()))
    >>> d.source.startswith("digraph")
    True
    """

    def __init__(self, source: str, render: bool = True):
        self.source = source
        self.render = render
        self._svg = None

    def __str__(self) -> str:
        return self.source

    def svg(self) -> str | None:
        """The drawing as SVG text (rendered once), or None without ``dot`` or where it is not to be rendered."""
        if self._svg is None and self.render and dot_available():
            self._svg = subprocess.run(["dot", "-Tsvg"], input=self.source, capture_output=True, text=True,
                                       check=True, timeout=120).stdout
        return self._svg

    def _repr_svg_(self):
        return self.svg()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        svg = self.svg()
        if svg is not None:
            return {"image/svg+xml": svg}
        return {"text/plain": f"{TOO_BIG if not self.render else INSTALL_DOT}\n\n{self.source}"}

    def save(self, path: str, formats=("svg",)) -> list:
        return write_source(self.source, path, formats, render=self.render)


def draw(graph: Graph, **options) -> Drawing:
    """:func:`to_dot`'s drawing as a :class:`Drawing`, for display in Jupyter (the same options). A graph too big
    for ``dot`` even at the layer level gives a Drawing that shows its source instead of rendering."""
    return Drawing(*_source(graph, **{"title": None, "grads": False, "highlight": None, "level": "op",
                                      "max_nodes": None, **options}))
