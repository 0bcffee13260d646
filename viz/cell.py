"""One LSTM or GRU cell drawn as the lectures draw it, gate by gate, as DOT source with fixed node positions.

The cell-state path of the LSTM (c_{t−1} → ⊙f → + → c_t) runs along the top as a thick "highway" in one colour,
the hidden path (→ o ⊙ tanh(c_t) → h_t) in another, and the gate inputs are thin. The GRU's highway is the state
kept, h_{t−1} → ⊙z → + → h_t, and its second path the candidate n → ⊙(1 − z) → +. Nodes sit at fixed positions
(Graphviz's ``neato`` layout, chosen inside the DOT source), so the picture has the lectures' shape whatever
renders it.

With ``graph=`` — the traced graph of a real step of an unfused cell (``LSTMCell(fused=False)`` names its
tensors ``i f g o c h``, ``GRUCell(fused=False)`` ``r z n h``) after a backward with every gradient kept
(``tinygrad_rnn.graph.retain_grads``) — each edge is labelled with ‖∂L/∂(the tensor it carries)‖.
:func:`tinygrad_rnn.analysis.cell_step_graph` makes such a graph (importable from here too, for
``write_cell(grads=True)``). Reads ``tinygrad_rnn.graph`` only: it draws and computes nothing.

>>> dot = lstm_cell_dot()
>>> "c_prev -> mul_f" in dot and "mul_f -> add" in dot and dot == lstm_cell_dot()
True
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from tinygrad_rnn.analysis import cell_step_graph
from tinygrad_rnn.graph import Graph, Node

from .dot import _attrs, write_source

# the two paths and the gate wiring; the highway has the colour viz.dot gives a highlighted path
HIGHWAY = {"color": "#c2185b", "penwidth": "4.5"}
HIDDEN = {"color": "#1f5fa8", "penwidth": "2.6"}
GATE = {"color": "#8a8a8a", "penwidth": "1.1"}
PEEPHOLE = {"color": "#c2185b", "penwidth": "1.1", "style": "dashed"}
_PATHS = {"highway": HIGHWAY, "hidden": HIDDEN, "gate": GATE, "peephole": PEEPHOLE}

_SHAPES = {
    "state": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fbe3ee", "color": "#c2185b"},
    "hidden": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dae8fc", "color": "#1f5fa8"},
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#eeeeee", "color": "#666666"},
    "sigma": {"shape": "box", "style": "filled", "fillcolor": "#fff2cc", "color": "#b58900"},
    "tanh": {"shape": "box", "style": "filled", "fillcolor": "#e1d5e7", "color": "#7b4f9d"},
    "op": {"shape": "circle", "style": "filled", "fillcolor": "white", "color": "#444444", "fontsize": "18",
           "width": "0.42", "fixedsize": "true"},
    "mix": {"shape": "box", "style": "filled", "fillcolor": "#f5f5f5", "color": "#888888"},
    "small_op": {"shape": "circle", "style": "filled", "fillcolor": "white", "color": "#444444", "fontsize": "12",
                 "width": "0.42", "fixedsize": "true"},
    "junction": {"shape": "point", "width": "0.07", "color": "#1f5fa8"},
    "note": {"shape": "plaintext"},
}


@dataclass(frozen=True)
class _Part:
    """A node of the drawing: its id, HTML label, kind (``_SHAPES``) and position in inches."""

    id: str
    label: str
    kind: str
    x: float
    y: float


@dataclass(frozen=True)
class _Wire:
    """An edge of the drawing, the path it belongs to, and which tensor of the traced step it carries."""

    source: str
    target: str
    path: str
    carries: str


def _sub(name: str, index: str) -> str:
    return f"{name}<SUB>{index}</SUB>"


def _gate(letter: str, function: str) -> str:
    return f'<FONT POINT-SIZE="9" COLOR="#555555">{letter}</FONT><BR/>{function}'


# -- the LSTM -------------------------------------------------------------------------------------------------------
def _lstm_parts(forget_gate: bool, coupled: bool) -> list:
    parts = [
        _Part("c_prev", _sub("c", "t−1"), "state", 0.0, 3.4),
        _Part("add", "+", "op", 3.8, 3.4),
        _Part("c_t", _sub("c", "t"), "state", 7.2, 3.4),
        _Part("mul_ig", "⊙", "op", 3.8, 2.45),
        _Part("i", _gate("input i", "σ"), "sigma", 2.85, 1.45),
        _Part("g", _gate("candidate g", "tanh"), "tanh", 3.8, 1.45),
        _Part("o", _gate("output o", "σ"), "sigma", 4.85, 1.45),
        _Part("tanh_c", "tanh", "tanh", 5.9, 2.45),
        _Part("mul_o", "⊙", "op", 5.9, 1.45),
        _Part("h_prev", _sub("h", "t−1"), "hidden", 0.0, 0.3),
        _Part("x", _sub("x", "t"), "input", 1.4, -0.5),
        _Part("mix", f"W·[{_sub('h', 't−1')}; {_sub('x', 't')}] + b", "mix", 3.35, 0.3),
        _Part("h_t", _sub("h", "t"), "hidden", 7.2, 0.3),
    ]
    if forget_gate:
        parts += [_Part("mul_f", "⊙", "op", 1.9, 3.4),
                  _Part("f", _gate("forget f", "1 − i" if coupled else "σ"), "sigma", 1.9, 1.45)]
    return parts


def _lstm_wires(forget_gate: bool, coupled: bool, peephole: bool) -> list:
    wires = [
        _Wire("i", "mul_ig", "gate", "i"), _Wire("g", "mul_ig", "gate", "g"), _Wire("mul_ig", "add", "gate", "ig"),
        _Wire("add", "c_t", "highway", "c"), _Wire("add", "tanh_c", "hidden", "c"),
        _Wire("tanh_c", "mul_o", "hidden", "tanh_c"), _Wire("o", "mul_o", "hidden", "o"),
        _Wire("mul_o", "h_t", "hidden", "h"),
        _Wire("h_prev", "mix", "hidden", "h_prev"), _Wire("x", "mix", "gate", "x"),
        _Wire("mix", "i", "gate", "a_i"), _Wire("mix", "g", "gate", "a_g"), _Wire("mix", "o", "gate", "a_o"),
    ]
    if forget_gate:
        wires += [_Wire("c_prev", "mul_f", "highway", "c_prev"), _Wire("mul_f", "add", "highway", "fc"),
                  _Wire("f", "mul_f", "gate", "f"),
                  _Wire("i", "f", "gate", "i") if coupled else _Wire("mix", "f", "gate", "a_f")]
    else:  # the 1997 cell: c_t = c_{t−1} + i⊙g, nothing is forgotten
        wires.append(_Wire("c_prev", "add", "highway", "c_prev"))
    if peephole:
        wires += [_Wire("c_prev", "i", "peephole", "c_prev"), _Wire("add", "o", "peephole", "c")]
        if forget_gate and not coupled:
            wires.append(_Wire("c_prev", "f", "peephole", "c_prev"))
    return wires


def _lstm_caption(forget_gate: bool, coupled: bool, peephole: bool) -> str:
    state = "f⊙c<SUB>t−1</SUB> + i⊙g" if forget_gate else "c<SUB>t−1</SUB> + i⊙g (1997: no forget gate)"
    extras = ([" f = 1 − i (coupled)."] if coupled else []) + ([" Dashed: peepholes."] if peephole else [])
    return (f"LSTM cell (PyTorch gate order i, f, g, o): c<SUB>t</SUB> = {state}, "
            f"h<SUB>t</SUB> = o⊙tanh(c<SUB>t</SUB>).{''.join(extras)}<BR/>"
            f'<FONT COLOR="{HIGHWAY["color"]}">thick: the cell-state highway</FONT>   '
            f'<FONT COLOR="{HIDDEN["color"]}">blue: the hidden path</FONT>   '
            f'<FONT COLOR="#777777">thin: gate inputs</FONT>')


# -- the GRU --------------------------------------------------------------------------------------------------------
def _gru_parts(reset_after: bool) -> list:
    reset = "r⊙(W<SUB>hn</SUB>h + b<SUB>hn</SUB>)" if reset_after else "r⊙h<SUB>t−1</SUB>"
    return [
        _Part("h_prev", _sub("h", "t−1"), "state", 0.0, 3.4),
        _Part("mul_z", "⊙", "op", 1.9, 3.4),
        _Part("add", "+", "op", 5.5, 3.4),
        _Part("h_t", _sub("h", "t"), "state", 7.6, 3.4),
        _Part("z", _gate("update z", "σ"), "sigma", 1.9, 1.45),
        _Part("one_minus", "1 −", "small_op", 3.5, 2.45),
        _Part("mul_n", "⊙", "op", 5.5, 2.45),
        _Part("r", _gate("reset r", "σ"), "sigma", 3.1, 1.45),
        _Part("mul_r", "⊙", "op", 4.35, 1.45),
        _Part("n", _gate("candidate n", "tanh"), "tanh", 5.5, 1.45),
        # h_{t−1} drops down the left edge to the gate inputs, clear of the gates (the lectures' drawing)
        _Part("h_down", "", "junction", 0.0, 0.3),
        _Part("x", _sub("x", "t"), "input", 1.4, -0.5),
        _Part("mix", f"W·[{_sub('h', 't−1')}; {_sub('x', 't')}] + b", "mix", 3.1, 0.3),
        _Part("reset_note", f'<FONT POINT-SIZE="9" COLOR="#555555">{reset}</FONT>', "note", 4.35, 1.0),
    ]


def _gru_wires(reset_after: bool) -> list:
    wires = [
        _Wire("h_prev", "mul_z", "highway", "h_prev"), _Wire("mul_z", "add", "highway", "zh"),
        _Wire("add", "h_t", "highway", "h"),
        _Wire("z", "mul_z", "gate", "z"), _Wire("z", "one_minus", "gate", "z"),
        _Wire("one_minus", "mul_n", "gate", "one_minus_z"),
        _Wire("n", "mul_n", "hidden", "n"), _Wire("mul_n", "add", "hidden", "zn"),
        _Wire("h_prev", "h_down", "hidden", ""), _Wire("h_down", "mix", "hidden", "h_prev"),
        _Wire("x", "mix", "gate", "x"), _Wire("mix", "z", "gate", "a_z"), _Wire("mix", "r", "gate", "a_r"),
        _Wire("mix", "n", "gate", "a_n_input"),
        _Wire("r", "mul_r", "gate", "r"), _Wire("mul_r", "n", "hidden", "reset"),
    ]
    # reset after the matmul (PyTorch): r scales W_hn h + b_hn; before it (Cho et al.): r scales h_{t−1} itself
    wires.append(_Wire("mix", "mul_r", "hidden", "a_n_hidden") if reset_after else
                 _Wire("h_down", "mul_r", "hidden", "h_prev"))
    return wires


def _gru_caption(reset_after: bool) -> str:
    form = "reset after the matmul (PyTorch)" if reset_after else "reset before the matmul (Cho et al.)"
    return (f"GRU cell (gates r, z, n), PyTorch's form: h<SUB>t</SUB> = (1 − z)⊙n + z⊙h<SUB>t−1</SUB>; {form}.<BR/>"
            "z = 1 keeps the old state, as in lecture 004; lecture 003's z is this 1 − z.<BR/>"
            f'<FONT COLOR="{HIGHWAY["color"]}">thick: the state kept, z⊙h<SUB>t−1</SUB></FONT>   '
            f'<FONT COLOR="{HIDDEN["color"]}">blue: the candidate path</FONT>   '
            f'<FONT COLOR="#777777">thin: gate inputs</FONT>')


# -- finding the drawn tensors in a traced step -----------------------------------------------------------------------
def _named(graph: Graph, name: str, step, scope) -> Node | None:
    found = graph.find(name=name, step=step, scope=scope, kind="tensor")
    if len(found) > 1:
        where = sorted({(n.scope, n.step) for n in found}, key=str)
        raise ValueError(f"cell drawing: {len(found)} tensors named {name!r} (scope, step: {where}); pass step= "
                         "and scope= to pick one cell step")
    return found[0] if found else None


def _inputs(graph: Graph, tensor: Node | None) -> list:
    """The tensors the op that made ``tensor`` read (empty for a leaf or a missing tensor)."""
    if tensor is None:
        return []
    ops = graph.predecessors(tensor)
    return graph.predecessors(ops[0]) if ops else []


def _other(graph: Graph, product: Node | None, known: Node | None) -> Node | None:
    """The input of ``product``'s op that is not ``known``."""
    rest = [n for n in _inputs(graph, product) if known is None or n.id != known.id]
    return rest[0] if len(rest) == 1 else None


def _reading(graph: Graph, candidates: list, source: Node | None) -> Node | None:
    """The one of ``candidates`` whose op read ``source``."""
    if source is None:
        return None
    return next((c for c in candidates if any(n.id == source.id for n in _inputs(graph, c))), None)


def _linear_input(graph: Graph, start: Node | None, weight: str) -> Node | None:
    """Walking up from ``start`` through tensors of its own time step, the first input of the first op that reads
    a parameter named ``weight…`` (``weight_hh`` finds h_{t−1}, ``weight_ih`` x_t), or None — as when a layer
    projected every step's input at once, outside the steps."""
    seen, frontier = set(), [start] if start is not None else []
    while frontier:
        inputs = _inputs(graph, frontier.pop(0))
        if any(n.kind == "param" and (n.name or "").startswith(weight) for n in inputs):
            return inputs[0]
        for n in inputs:
            if n.id not in seen and n.kind == "tensor" and n.step == start.step:
                seen.add(n.id)
                frontier.append(n)
    return None


def _first(nodes: list) -> Node | None:
    return nodes[0] if nodes else None


def _except(nodes: list, node: Node | None) -> Node | None:
    return _first([n for n in nodes if node is None or n.id != node.id])


def _lstm_carriers(graph: Graph, step=None, scope=None) -> dict:
    """Drawing key → traced tensor node, for one unfused LSTM step."""
    found = {name: _named(graph, name, step, scope) for name in ("i", "f", "g", "o", "c", "h")}
    if found["c"] is None or found["h"] is None:
        raise ValueError("cell drawing: no tensors named 'c' and 'h' in the graph; trace a step of "
                         "LSTMCell(fused=False) (a fused step hides its gates)")
    c, h, f, i = found["c"], found["h"], found["f"], found["i"]
    terms = _inputs(graph, c)  # c_t = f⊙c_{t−1} + i⊙g, or c_{t−1} + i⊙g without a forget gate
    ig, fc = _reading(graph, terms, i), _reading(graph, terms, f)
    carriers = {**found, "ig": ig, "fc": fc, "c_prev": _other(graph, fc, f) if f is not None else _except(terms, ig),
                "tanh_c": _other(graph, h, found["o"]),
                "h_prev": _linear_input(graph, found["g"], "weight_hh"),
                "x": _linear_input(graph, found["g"], "weight_ih")}
    for gate in ("i", "f", "g", "o"):
        inputs = _inputs(graph, found[gate])
        carriers[f"a_{gate}"] = inputs[0] if len(inputs) == 1 else None  # a coupled f = 1 − i has no input of its own
    return carriers


def _gru_carriers(graph: Graph, step=None, scope=None) -> dict:
    """Drawing key → traced tensor node, for one unfused GRU step."""
    found = {name: _named(graph, name, step, scope) for name in ("r", "z", "n", "h")}
    if found["h"] is None or found["n"] is None:
        raise ValueError("cell drawing: no tensors named 'n' and 'h' in the graph; trace a step of "
                         "GRUCell(fused=False) (a fused step hides its gates)")
    r, z, n, h = found["r"], found["z"], found["n"], found["h"]
    zh, zn = _reading(graph, _inputs(graph, h), z), _reading(graph, _inputs(graph, h), n)
    terms = _inputs(graph, _first(_inputs(graph, n)))  # the sum inside n's tanh
    reset = _reading(graph, terms, r)  # reset after the matmul: r⊙(W_hn h + b_hn) is one of the terms
    if reset is not None:
        input_part, hidden_part = _except(terms, reset), _other(graph, reset, r)
    else:  # reset before it: one term is W_hn (r⊙h_{t−1}) + b_hn
        term = next((t for t in terms if _reading(graph, _inputs(graph, t), r) is not None), None)
        reset, input_part, hidden_part = _reading(graph, _inputs(graph, term), r), _except(terms, term), None
    return {**found, "zh": zh, "zn": zn, "h_prev": _other(graph, zh, z), "one_minus_z": _other(graph, zn, n),
            "a_r": _first(_inputs(graph, r)), "a_z": _first(_inputs(graph, z)), "a_n_input": input_part,
            "a_n_hidden": hidden_part, "reset": reset, "x": _linear_input(graph, r, "weight_ih")}


# -- DOT ------------------------------------------------------------------------------------------------------------
def _node_line(part: _Part) -> str:
    style = _SHAPES[part.kind]
    return f'  {part.id} [label=<{part.label}>, pos="{part.x:.2f},{part.y:.2f}!", {_attrs(style)}];'


def _edge_line(wire: _Wire, norms: dict | None) -> str:
    attrs = dict(_PATHS[wire.path])
    if wire.target.endswith("_down"):  # the first half of a wire bent at a junction: no arrowhead there
        attrs["arrowhead"] = "none"
    norm = norms.get(wire.carries) if norms else None
    if norm is not None:  # the gradient this edge carries back
        attrs.update(label=f"{norm:.3g}", fontcolor=attrs["color"], fontsize="9")
    return f"  {wire.source} -> {wire.target} [{_attrs(attrs)}];"


def _dot(name: str, parts: list, wires: list, caption: str, norms: dict | None, title: str | None) -> str:
    heading = f"<B>{html.escape(title)}</B><BR/>" if title else ""
    note = "<BR/>edge labels: ‖∂L/∂(the tensor on the edge)‖ after one backward" if norms else ""
    lines = [f"digraph {name} {{",
             # fixed positions (in inches): the lectures' layout, not one a layout engine would find
             '  graph [layout=neato, splines=spline, overlap=true, outputorder=edgesfirst, pad=0.3,',
             f'         labelloc=b, fontname="Helvetica", fontsize=11, label=<{heading}{caption}{note}>];',
             '  node [fontname="Helvetica", fontsize=12, margin="0.08,0.04", height=0.3];',
             '  edge [arrowsize=0.7, fontname="Helvetica"];']
    lines += [_node_line(p) for p in parts]
    lines += [_edge_line(w, norms) for w in wires]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _grad_norms(carriers: dict) -> dict:
    return {key: node.grad_norm for key, node in carriers.items() if node is not None and node.grad_norm is not None}


def lstm_cell_dot(graph: Graph | None = None, *, step=None, scope=None, forget_gate: bool = True,
                  coupled: bool = False, peephole: bool = False, title: str | None = None) -> str:
    """DOT source of one LSTM cell: inputs x_t, h_{t−1}, c_{t−1}; gates i, f, o (σ) and g (tanh); ⊙ and +;
    tanh(c_t); outputs h_t and c_t. ``forget_gate=False`` draws the 1997 cell, ``coupled`` f = 1 − i,
    ``peephole`` the dashed peepholes from c. With ``graph`` (an unfused step after a backward with kept
    gradients, e.g. :func:`cell_step_graph`), every edge is labelled with its gradient norm; ``step`` / ``scope``
    pick the step when the graph holds several.

    >>> "f ->" not in lstm_cell_dot(forget_gate=False)
    True
    """
    norms = _grad_norms(_lstm_carriers(graph, step, scope)) if graph is not None else None
    return _dot("lstm_cell", _lstm_parts(forget_gate, coupled), _lstm_wires(forget_gate, coupled, peephole),
                _lstm_caption(forget_gate, coupled, peephole), norms, title)


def gru_cell_dot(graph: Graph | None = None, *, step=None, scope=None, reset_after: bool = True,
                 title: str | None = None) -> str:
    """DOT source of one GRU cell: gates r, z (σ), the candidate n (tanh), 1 − z, and the interpolation
    h_t = (1 − z)⊙n + z⊙h_{t−1} (PyTorch's form; the caption says which z convention). ``reset_after=False``
    draws the Cho et al. form, r applied to h_{t−1} before the matmul. ``graph`` as for :func:`lstm_cell_dot`.

    >>> "one_minus -> mul_n" in gru_cell_dot()
    True
    """
    norms = _grad_norms(_gru_carriers(graph, step, scope)) if graph is not None else None
    return _dot("gru_cell", _gru_parts(reset_after), _gru_wires(reset_after), _gru_caption(reset_after), norms, title)


# -- files ----------------------------------------------------------------------------------------------------------
def _check_kind(kind: str) -> None:
    if kind not in ("lstm", "gru"):
        raise ValueError(f"cell drawing: kind must be 'lstm' or 'gru', got {kind!r}")


def write_cell(kind: str, path: str, formats=("svg", "png"), cell=None, inputs=None, grads: bool = False,
               title: str | None = None) -> list:
    """Draw one ``kind`` ("lstm" or "gru") cell to ``path`` (.dot) and, where ``dot`` exists, each of
    ``formats`` beside it; returns the paths written. The cell's options (forget gate, coupling, peepholes,
    reset form) are drawn when ``cell`` is given; ``grads`` runs one step of it (:func:`cell_step_graph`) and
    labels the edges with their gradient norms.

    >>> import os, tempfile
    >>> paths = write_cell("lstm", os.path.join(tempfile.mkdtemp(), "cell.dot"), formats=())
    >>> [os.path.basename(p) for p in paths]
    ['cell.dot']
    """
    _check_kind(kind)
    graph = cell_step_graph(kind, cell, inputs) if grads else None
    if kind == "lstm":
        options = {} if cell is None else {"forget_gate": cell.forget_gate, "coupled": cell.coupled,
                                           "peephole": cell.peephole}
        source = lstm_cell_dot(graph, title=title, **options)
    else:
        source = gru_cell_dot(graph, title=title, reset_after=True if cell is None else cell.reset_after)
    return write_source(source, path, formats, png_dpi=110)  # a PNG sharp enough to read the edge labels
