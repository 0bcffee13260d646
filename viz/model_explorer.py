"""A traced graph as Google's Model Explorer reads it: its graph JSON and, where gradients were kept, its node data.

Model Explorer (``pip install tinygrad_rnn[model-explorer]``, then ``model-explorer graph.json
--node_data_paths graph.log10_grad.json``) lays out very large graphs in the browser, folds them by namespace and
colours nodes by per-node data. Every node of the traced graph — ops and the tensors between them — becomes one of
its nodes with the same id; its namespace is its scope path with the time step as the last layer
(``LSTM/l0/t=17``), so a layer opens into one group per step, and a layer's groups are laid out left to right
(``groupNodeConfigs``), the layers of a stack one above the other. The node data is log10 ‖grad‖ of each tensor that
kept a gradient, on the blue–yellow–red scale of the static pictures.

>>> import json, os, tempfile
>>> import tinygrad_rnn as tr
>>> x = tr.tensor([1.0], requires_grad=True, name="x")
>>> h = x
>>> with tr.scope("rnn"):
...     for t in range(2):
...         with tr.step(t):
...             h = (h * 2).tanh().named("h")
>>> h.sum().backward()
>>> paths = write(h, os.path.join(tempfile.mkdtemp(), "rnn.json"))
>>> [os.path.basename(p) for p in paths]
['rnn.json', 'rnn.log10_grad.json']
>>> graph = json.load(open(paths[0]))["graphs"][0]
>>> sorted({n["namespace"] for n in graph["nodes"]})
['', 'rnn/t=0', 'rnn/t=1']
>>> [c["namespaceRegex"] for c in graph["groupNodeConfigs"]]
['^rnn(/section_[0-9]+_of_[0-9]+)?$']
"""
from __future__ import annotations

import json
import math
import os
import re

from tinygrad_rnn import ArgumentTypeError, Tensor
from tinygrad_rnn.graph import Graph, Node, trace
from tinygrad_rnn.serialization import atomic_path, without_gc

from .colours import ramp

# Model Explorer splits a group of more than its threshold of children (1,000 by default) into artificial groups
# named like this inside it; a layer's regex must match those too, or a long layer's sections would stack up
_SECTION = "(/section_[0-9]+_of_[0-9]+)?"
_LEFT_RIGHT = 1  # GroupNodeConfig.layoutDirection: 0 top-bottom (the default), 1 left-right
_GRADIENT_STOPS = (0.0, 0.5, 1.0)  # stop 0 is the smallest value in the data, stop 1 the largest


def namespace(node: Node) -> str:
    """The node's Model Explorer namespace: its scope path, then ``t=<step>`` if it has a step.

    >>> from tinygrad_rnn.graph import Node
    >>> namespace(Node("n7", "op", "sigmoid", (1, 3), "float32", "LSTM/l1", 17))
    'LSTM/l1/t=17'
    """
    parts = [node.scope] if node.scope else []
    if node.step is not None:
        parts.append(f"t={node.step}")
    return "/".join(parts)


def _regex_escape(text: str) -> str:
    """``text`` as a literal in the regex Model Explorer compiles with JavaScript's ``new RegExp(...)``: only the
    characters special there are escaped (``re.escape`` escapes more, such as spaces and ``-``, relying on Python's
    leniency with escapes that mean nothing)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


def _shape_attrs(node: Node) -> list:
    attrs = [{"key": "shape", "value": str(list(node.shape))}]
    return attrs + ([{"key": "dtype", "value": str(node.dtype)}] if node.dtype is not None else [])


def _attrs(node: Node, norm: float | None) -> list:
    attrs = [{"key": "kind", "value": node.kind}, *_shape_attrs(node)]
    attrs += [{"key": key, "value": str(value)} for key, value in
              (("name", node.name), ("scope", node.scope), ("step", node.step)) if value not in (None, "")]
    if norm is not None:
        attrs.append({"key": "‖grad‖", "value": f"{norm:.6g}"})
    return attrs


def _node(graph: Graph, node: Node, norm: float | None) -> dict:
    """One Model Explorer node. An op's outputs are numbered by the tensors' ``output_index`` (an edge op → tensor
    leaves that output); a tensor has one output, ``"0"``. Inputs are numbered in the op's argument order."""
    edges = [{"sourceNodeId": p.id, "sourceNodeOutputId": str(node.output_index or 0) if p.is_op else "0",
              "targetNodeInputId": str(k)} for k, p in enumerate(graph.predecessors(node))]
    if node.is_op:
        outputs = [{"id": str(t.output_index or 0), "attrs": _shape_attrs(t)} for t in graph.successors(node)]
    else:
        outputs = [{"id": "0", "attrs": _shape_attrs(node)}]
    return {"id": node.id, "label": node.label or node.kind, "namespace": namespace(node),
            "attrs": _attrs(node, norm), "incomingEdges": edges, "outputsMetadata": outputs}


def _group_configs(graph: Graph) -> list:
    """Left to right inside every scope that holds time steps (the root, ``^$``, where steps have no scope)."""
    layers = sorted({n.scope for n in graph.nodes if n.step is not None})
    return [{"namespaceRegex": f"^{_regex_escape(scope)}{_SECTION if scope else ''}$",
             "layoutDirection": _LEFT_RIGHT} for scope in layers]


def _norms(graph: Graph, grads: bool) -> dict:
    """Node id -> ‖grad‖ (None where none was kept), read once: each read is a reduction over the gradient."""
    return {n.id: n.grad_norm for n in graph.nodes} if grads else {}


def to_json(graph: Graph, title: str = "tinygrad_rnn", grads: bool = True) -> dict:
    """The graph collection ``{"label": title, "graphs": [one graph]}`` that Model Explorer loads from a file;
    its graph's id is ``title``. With ``grads``, a node that kept a gradient shows ‖grad‖ among its attributes."""
    return _collection(graph, title, _norms(graph, grads))


def _collection(graph: Graph, title: str, norms: dict) -> dict:
    nodes = [_node(graph, n, norms.get(n.id)) for n in graph.nodes]
    return {"label": title, "graphs": [{"id": title, "nodes": nodes, "groupNodeConfigs": _group_configs(graph)}]}


def node_data(graph: Graph, title: str = "tinygrad_rnn") -> dict | None:
    """``{title: {"results": {node id: {"value": log10 ‖grad‖}}, "gradient": [...]}}``, Model Explorer's node data
    for the graph of :func:`to_json`; None where no node kept a gradient. A gradient of exactly zero has no log
    and is left out (its node still says ‖grad‖ = 0 among its attributes)."""
    return _node_data(_norms(graph, True), title)


def _node_data(norms: dict, title: str) -> dict | None:
    results = {i: {"value": math.log10(v)} for i, v in norms.items() if v is not None and v > 0}
    if not results:
        return None
    gradient = [{"stop": s, "bgColor": ramp(s)} for s in _GRADIENT_STOPS]
    return {title: {"results": results, "gradient": gradient}}


def _write_json(data: dict, path: str) -> None:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # json.dump streams through pure Python: 6x
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def write(graph: Graph | Tensor, path: str, grads: bool = True, title: str | None = None) -> list:
    """Write ``graph`` (a traced :class:`~tinygrad_rnn.graph.Graph`, or a tensor to trace) as Model Explorer's graph
    JSON at ``path`` and, with ``grads`` where some node kept a gradient, its node data beside it
    (``<stem>.log10_grad.json``); returns the paths written. ``title`` names the graph (default: the file's stem).
    Both files are written atomically.

    >>> import os, tempfile
    >>> import tinygrad_rnn as tr
    >>> lstm = tr.nn.LSTM(2, 3, num_layers=2)
    >>> out, _ = lstm(tr.zeros(4, 1, 2))
    >>> g = tr.graph.trace(out.sum())
    >>> [os.path.basename(p) for p in write(g, os.path.join(tempfile.mkdtemp(), "lstm.json"))]  # no backward yet
    ['lstm.json']
    """
    if isinstance(graph, Tensor):
        graph = trace(graph)
    elif not isinstance(graph, Graph):
        raise ArgumentTypeError(f"model_explorer.write: graph must be a tinygrad_rnn.graph.Graph or a Tensor, got "
                                f"{type(graph).__name__}")
    stem = os.path.splitext(path)[0]
    title = title or os.path.basename(stem) or "tinygrad_rnn"
    with without_gc():  # millions of small dicts and lists, no cycle among them: 3x faster
        norms = _norms(graph, grads)
        _write_json(_collection(graph, title, norms), path)
        data = _node_data(norms, title) if grads else None
    if data is None:
        return [path]
    data_path = stem + ".log10_grad.json"
    _write_json(data, data_path)
    return [path, data_path]
