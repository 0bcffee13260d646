"""The explorer: one self-contained, offline HTML page per unrolled graph, laid out by Graphviz in the page.

``explore(graph)`` reads a traced graph (``tinygrad_rnn.graph``) into a compact model — every node with its kind,
label, scope, step, shape, dtype, value statistics and ‖grad‖, the edges, the cell-level groups (one per cell call
per step) — and writes it as JSON into a page with the explorer's script and the vendored Graphviz WebAssembly build
(``viz/explorer/vendor``). The page builds the DOT of what is expanded (a window of steps, the rest folded into
"… k steps …" nodes; each step one box per layer, or its ops), lays it out with Graphviz and wires the clicks. No
request leaves the page. In Jupyter an :class:`Explorer` shows itself inline (an ``<iframe srcdoc>``).

>>> import tinygrad_rnn as tr
>>> out, _ = tr.nn.LSTM(2, 3, fused=False)(tr.zeros(4, 1, 2))
>>> page = explore(tr.graph.trace(out.sum())).html()
>>> page.startswith("<!doctype html>") and "Viz.instance" in page
True
"""
from __future__ import annotations

import html
import json
import math
from importlib import resources

import tinygrad_rnn as tr
from tinygrad_rnn.errors import ArgumentError, GraphError
from tinygrad_rnn.graph import Graph, Node
from tinygrad_rnn.serialization import atomic_path

from ..colours import page_look


_LEAVES = ("param", "input", "const")
BEFORE, AFTER = -1, -2  # the slot of a node outside time: before the first step, after (behind) a step
STATES = ("h", "c")  # the states whose ‖∂L/∂·‖ per step the strip shows


class _Strings:
    """A table of the strings the model repeats (kinds, labels, scopes, shapes): each is written once."""

    def __init__(self):
        self.items: list = []
        self._index: dict = {}

    def __call__(self, text) -> int:
        text = "" if text is None else str(text)
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _finite(value: float | None) -> float | None:
    """``value``, or None where it is not a finite number: JSON has no inf or nan (an overflowed gradient shows as
    none kept, rather than breaking the page)."""
    return value if value is not None and math.isfinite(value) else None


def _int(step) -> int | None:
    """A step as a plain int (a step opened with an offset carries its place on the timeline too)."""
    return None if step is None else int(step)


def _round(value: float | None, digits: int = 4):
    """A float kept to ``digits`` significant digits (the file stays small), None and non-finite as None."""
    return float(f"{value:.{digits}g}") if value is not None and math.isfinite(value) else None


def _slots(graph: Graph) -> dict:
    """Node id -> its place on the timeline (``Node.time``: a decoder's steps follow the encoder's), or for a node
    outside time BEFORE / AFTER: before where it feeds a step (a projection of all steps' inputs, even one made from
    a lower layer's outputs), after where a step lies behind it (a stack of all steps' outputs, the loss), else
    before. One long edge back from a stack beats one from every step."""
    slot, behind = {}, {}
    for n in graph.nodes:
        preds = graph.predecessor_ids(n.id)
        behind[n.id] = n.kind not in _LEAVES and any(behind[p] or slot[p] >= 0 for p in preds)
        feeds = any(graph[s].step is not None for s in graph.successor_ids(n.id))
        slot[n.id] = n.time if n.step is not None else (AFTER if behind[n.id] and not feeds else BEFORE)
    return slot


def _handed_on(cells: Graph, group: Node) -> float | None:
    """A group's ‖grad‖ as the static pictures colour it: the largest among the tensors it hands on."""
    return max((n for n in (s.grad_norm for s in cells.successors(group)) if n is not None), default=None)


def _groups(graph: Graph, slot: dict) -> tuple:
    """The cell-level groups (``Graph.collapse("cell")``) as columns, and node index -> group index (-1: none)."""
    cells = graph.collapse("cell")
    groups = [n for n in cells.nodes if n.kind == "group"]
    number = {g.id: k for k, g in enumerate(groups)}
    member = [number.get(cells.member_of[n.id], -1) for n in graph.nodes]

    def group_slot(g: Node) -> int:
        if g.step is not None:
            return g.time
        feeds = any(graph[s].step is not None for i in g.members for s in graph.successor_ids(i))
        return AFTER if not feeds and any(slot[i] == AFTER for i in g.members) else BEFORE

    columns = {"label": [g.label for g in groups], "scope": [g.scope for g in groups],
               "step": [_int(g.step) for g in groups], "slot": [group_slot(g) for g in groups],
               "grad": [_finite(_handed_on(cells, g)) for g in groups]}
    return columns, member


def _strip(graph: Graph) -> list:
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ per step of each scope that names them: ``[{scope, name, norms: {time: norm}}]``,
    keyed by the place on the timeline, as the page draws them."""
    series: dict = {}
    for n in graph.nodes:
        if n.kind == "tensor" and n.name in STATES and n.step is not None:
            series.setdefault((n.scope, n.name), {})[n.time] = _finite(n.grad_norm)
    return [{"scope": scope, "name": name, "norms": {str(t): v for t, v in sorted(norms.items())}}
            for (scope, name), norms in sorted(series.items()) if any(v is not None for v in norms.values())]


def _paths(graph: Graph) -> dict:
    """The named paths the page can highlight: each LSTM layer's cell-state highway and the hidden path."""
    from tinygrad_rnn.tasks.graph import highlighted

    index = {n.id: k for k, n in enumerate(graph.nodes)}
    found = {"cell-state highway": highlighted(graph, "highway") if graph.find(name="c", kind="tensor") else [],
             "hidden path": highlighted(graph, "hidden")}
    return {name: sorted(index[n.id] for n in nodes) for name, nodes in found.items() if nodes}


def _shares(graph: Graph) -> dict:
    """Shared weight's node index -> {step: ‖that step's share of its gradient‖} (``Graph.grad_shares``; what it
    got outside any step under ``"outside"``), for the parameters marked before the backward."""
    out = {}
    for k, n in enumerate(graph.nodes):
        if n.kind == "param":
            try:
                parts = graph.grad_shares(n)
            except GraphError:  # not marked with retain_grads() before the backward: nothing was recorded
                continue
            out[str(k)] = {("outside" if t is None else str(t)): _round(v, 6) for t, v in parts.items()}
    return out


def _node_columns(graph: Graph, strings: _Strings, slot: dict) -> dict:
    columns: dict = {key: [] for key in ("kind", "label", "name", "scope", "step", "slot", "shape", "dtype", "grad",
                                         "stats")}
    for n in graph.nodes:
        stats = n.stats() if n.kind != "op" else None
        for key, value in (("kind", strings(n.kind)), ("label", strings(n.label)), ("name", strings(n.name)),
                           ("scope", strings(n.scope)), ("step", _int(n.step)), ("slot", slot[n.id]),
                           ("shape", strings("×".join(map(str, n.shape)) or "scalar")),
                           ("dtype", strings(n.dtype)), ("grad", _finite(n.grad_norm)),
                           ("stats", [_round(v) for v in stats.values()] if stats else None)):
            columns[key].append(value)
    return columns


def model(graph: Graph, title: str | None = None, grads: bool = True, window=None) -> dict:
    """The JSON-ready model of ``graph`` that the page draws from (see the module's docstring).

    >>> import tinygrad_rnn as tr
    >>> out, _ = tr.nn.RNN(2, 3)(tr.zeros(5, 1, 2))
    >>> m = model(tr.graph.trace(out))
    >>> len(m["kind"]) == len(tr.graph.trace(out)), m["steps"]
    (True, [0, 4])
    """
    if graph.level != "op":
        graph = graph.parent if graph.parent is not None else graph
    strings, slot = _Strings(), _slots(graph)
    columns = _node_columns(graph, strings, slot)
    if not grads:
        columns["grad"] = [None] * len(graph.nodes)
    groups, member = _groups(graph, slot)
    groups = {**groups, "label": [strings(s) for s in groups["label"]], "scope": [strings(s) for s in groups["scope"]]}
    index = {n.id: k for k, n in enumerate(graph.nodes)}
    steps = graph.times  # the timeline: a decoder's steps after the encoder's
    return {"title": title or "", "strings": strings.items, **columns, "group": member,
            "edges": [index[x] for edge in graph.edges for x in edge], "groups": groups,
            "steps": [steps[0], steps[-1]] if steps else [0, 0], "window": list(window) if window else None,
            "strip": _strip(graph) if grads else [], "paths": _paths(graph), "shares": _shares(graph) if grads else {},
            "look": page_look()}


def _part(name: str) -> str:
    return resources.files("viz.explorer").joinpath(name).read_text(encoding="utf-8")


def _script_json(data: dict) -> str:
    """JSON safe inside a ``<script>`` element: no ``</`` can close it early."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


class Explorer:
    """The explorer of one graph: :meth:`html` is the page, :meth:`save` writes it, Jupyter shows it inline.

    >>> import os, tempfile
    >>> import tinygrad_rnn as tr
    >>> e = explore(tr.graph.trace((tr.tensor([1.0], requires_grad=True) * 2).tanh()), title="tiny")
    >>> path = e.save(os.path.join(tempfile.mkdtemp(), "tiny.html"))
    >>> "<title>tiny</title>" in open(path, encoding="utf-8").read()
    True
    """

    def __init__(self, data: dict, height: int = 640):
        self.model = data
        self.height = height

    def html(self) -> str:
        """The whole page: the model as JSON, the explorer's style and script, and Graphviz's, all inline."""
        title = html.escape(self.model["title"] or "unrolled graph")
        return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{title}</title>\n<style>{_part('explorer.css')}</style></head>\n<body>\n"
                f"{_part('explorer.html')}\n"
                f'<script type="application/json" id="model">{_script_json(self.model)}</script>\n'
                f"<script>{_part('vendor/viz-global.js')}</script>\n<script>{_part('explorer.js')}</script>\n"
                "</body></html>\n")

    def save(self, path: str) -> str:
        """Write the page to ``path`` atomically; returns the path."""
        page = self.html()
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        return path

    def iframe(self, height: int | None = None) -> str:
        """The page as an ``<iframe srcdoc>``: what a notebook or another page embeds without a server."""
        return (f'<iframe srcdoc="{html.escape(self.html(), quote=True)}" style="width: 100%; '
                f'height: {height or self.height}px; border: 1px solid #ddd;" title="graph explorer"></iframe>')

    def _repr_html_(self) -> str:
        return self.iframe()


def explore(graph_or_tensor, grads: bool = True, title: str | None = None, window=None,
            height: int = 640) -> Explorer:
    """The explorer of a traced graph (or of the graph behind a tensor): an :class:`Explorer` to save or show.

    ``grads`` shows the ‖grad‖ each node has (trace, ``Graph.retain_grads()``, backward, then explore, for every
    tensor to have one); ``window=(a, b)`` opens with the places a..b of the timeline shown (``Graph.times``: the
    steps, where no recurrence follows another; default: as many as fit the screen). The page searches and shows
    each node's own step (``t=3`` in a decoder is its step 3, as ``Graph.find(step=3)``).

    >>> import tinygrad_rnn as tr
    >>> x = tr.tensor([1.0, 2.0], requires_grad=True)
    >>> explore((x * x).sum()).model["kind"][:1] == [0]
    True
    """
    graph = tr.graph.trace(graph_or_tensor) if isinstance(graph_or_tensor, tr.Tensor) else graph_or_tensor
    if window is not None and (len(window) != 2 or window[0] > window[1]):
        raise ArgumentError(f"explore: window must be (first step, last step) with first ≤ last, "
                                      f"got {window!r}")
    return Explorer(model(graph, title, grads, window), height)
