"""The transforms of a traced graph: smaller graphs made from it for drawing, each a new :class:`Graph`.

- :func:`collapse` — one group node per cell call per step (``"cell"``) or per scope (``"layer"``);
- :func:`until` — the graph as it stood after a time step (the frames of a step-by-step picture);
- :func:`subgraph` — the nodes with given ids and the edges between them.

``Graph.collapse``, ``Graph.until`` and ``Graph.subgraph`` call these; the view itself only answers queries. They
read a graph through its public surface (nodes, edges, ``predecessor_ids`` / ``successor_ids``, ``windows()``) and
build the result with the graph's own class.

>>> import tinygrad_rnn as tr
>>> out, _ = tr.nn.GRU(2, 3)(tr.zeros(4, 1, 2))
>>> g = tr.graph.trace(out)
>>> len(collapse(g, "layer")) < len(collapse(g, "cell")) < len(g), until(g, 1).steps
(True, [0, 1])
"""
from __future__ import annotations

import heapq

from .errors import ArgumentError
from .graph_node import Node

LEVELS = ("op", "cell", "layer")


def subgraph(graph, ids):
    """The nodes of ``graph`` whose ids are in ``ids`` (kept in the graph's order) and the edges between them."""
    keep = set(ids)
    nodes = [n for n in graph.nodes if n.id in keep]
    return type(graph)(nodes, [(a, b) for a, b in graph.edges if a in keep and b in keep],
                       {k: v for k, v in graph.tensor_ids.items() if v in keep},
                       [(a, b) for a, b in graph.cut_edges if a in keep and b in keep], graph.level, graph.parent,
                       graph.member_of)


def until(graph, step: int):
    """``graph`` as it stood after time step ``step`` (a position on the timeline, ``Node.time``): the nodes of
    steps ≤ ``step``, the nodes without a step that those need, and those computed from the steps so far only."""
    latest = {}  # node id -> the latest step it depends on (None: none)
    keep = set()
    for n in graph.nodes:
        before = [latest[p] for p in graph.predecessor_ids(n.id) if latest[p] is not None]
        latest[n.id] = max(before + ([n.time] if n.step is not None else []), default=None)
        at = n.time if n.step is not None else latest[n.id]
        if at is not None and at <= step:
            keep.add(n.id)
    stack = list(keep)
    while stack:  # what the kept nodes need from outside time: walk back through nodes without a step
        for p in graph.predecessor_ids(stack.pop()):
            if p not in keep and graph[p].step is None:
                keep.add(p)
                stack.append(p)
    return subgraph(graph, keep)


def collapse(graph, level: str):
    """A smaller graph of group nodes at ``level`` (``"cell"`` or ``"layer"``; ``"op"`` gives ``graph`` itself),
    as ``Graph.collapse`` describes."""
    if level not in LEVELS:
        raise ArgumentError(f"collapse: level {level!r} is not one of {', '.join(LEVELS)}")
    if level == "op":
        return graph
    keys = _group_keys(graph, level)
    groups: dict = {}  # group key -> its new id
    member_of, nodes, members = {}, [], {}
    for n in graph.nodes:
        key = keys[n.id]
        if key is None:
            member_of[n.id] = n.id
            nodes.append(n)
            continue
        if key not in groups:
            groups[key] = f"g{len(groups)}"
            members[key] = []
            nodes.append(key)  # a placeholder, replaced once all members are known
        member_of[n.id] = groups[key]
        members[key].append(n.id)
    nodes = [n if isinstance(n, Node) else _group_node(graph, groups[n], n, members[n], level) for n in nodes]
    # a kept tensor also used inside the group that made it (c_t feeds tanh in its own cell) draws no edge back
    made_by = {n.id: member_of[graph.predecessor_ids(n.id)[0]] for n in graph.nodes
               if n.kind == "tensor" and keys[n.id] is None and graph.predecessor_ids(n.id)}
    edges = _mapped([(a, b) for a, b in graph.edges if made_by.get(a) != member_of[b]], member_of)
    nodes = _topological(nodes, edges)
    tensor_ids = {k: v for k, v in graph.tensor_ids.items() if member_of.get(v) == v}
    return type(graph)(nodes, edges, tensor_ids, _mapped(graph.cut_edges, member_of), level, graph, member_of)


def _group_keys(graph, level: str) -> dict:
    """Node id -> the key of the group it joins at ``level``, or None where it stays a node of its own."""
    keys, window = {}, graph.windows()
    for n in graph.nodes:
        if n.kind == "op" and (n.scope or n.step is not None):  # (scope, step, window, phase)
            keys[n.id] = (n.scope, n.step if level == "cell" else None, window[n.id], None)
        elif n.kind == "op":
            keys[n.id] = None
    states = _states(graph, keys) if level == "cell" else set()
    for n in graph.nodes:
        if n.kind == "tensor":
            producer = graph.predecessor_ids(n.id)
            key = keys.get(producer[0]) if producer else None
            kept = not graph.successor_ids(n.id) or (n.scope, n.name) in states
            keys[n.id] = None if key is None or kept else key
        elif n.kind == "const":  # a Python number belongs to the op it appears in
            users = {keys.get(u) for u in graph.successor_ids(n.id)}
            keys[n.id] = users.pop() if len(users) == 1 else None
        elif n.kind != "op":
            keys[n.id] = None
    return _split_around_children(graph, keys)


def _states(graph, keys: dict) -> set:
    """(scope, name) of the named tensors that pass from one group to another: h, c."""
    states = set()
    for n in graph.nodes:
        if n.kind == "tensor" and n.name and graph.predecessor_ids(n.id):
            key = keys.get(graph.predecessor_ids(n.id)[0])
            if key is not None and any(keys.get(u) != key for u in graph.successor_ids(n.id)):
                states.add((n.scope, n.name))
    return states


def _split_around_children(graph, keys: dict) -> dict:
    """A group of a scope with sub-scopes (a module's own ops around its layers) split by how many group
    boundaries lie behind each member: its ops before a sub-module runs and after it become two groups."""
    scopes = {n.scope for n in graph.nodes if n.kind == "op" and n.scope}
    parents = {s.rsplit("/", 1)[0] for s in scopes if "/" in s}
    if not any(key is not None and key[0] in parents for key in keys.values()):
        return keys
    depth = {}
    for n in graph.nodes:
        key = keys[n.id]
        depth[n.id] = max((depth[p] + (keys[p] != key or key is None) for p in graph.predecessor_ids(n.id)),
                          default=0)
    for n in graph.nodes:  # a Python number has nothing behind it: it goes where the op it appears in goes
        if n.kind == "const" and graph.successor_ids(n.id):
            depth[n.id] = depth[graph.successor_ids(n.id)[0]]
    return {i: (key[:3] + (depth[i],) if key is not None and key[0] in parents else key)
            for i, key in keys.items()}


def _group_node(graph, group_id: str, key: tuple, member_ids: list, level: str) -> Node:
    scope, step, _, phase = key
    steps = sorted({graph[i].step for i in member_ids if graph[i].step is not None})
    title = " ".join(dict.fromkeys(scope.split("/")[-2:])) if scope else ""  # "LSTM l0", not "GRU GRU"
    if level == "cell":  # a layer's own ops outside its steps (the input projection) serve all of them
        when = f"t={step}" if step is not None else ("all steps" if phase is None and graph.steps else "")
    else:
        when = (f"t={steps[0]}–{steps[-1]}" if len(steps) > 1 else f"t={steps[0]}") if steps else ""
    label = " · ".join(part for part in (title, when) if part) or "(top level)"
    first = graph[member_ids[0]]
    return Node(group_id, "group", label, first.shape, first.dtype, scope, step, members=tuple(member_ids))


def _topological(nodes: list, edges: list) -> list:
    """``nodes`` in a topological order of ``edges``, each as early as its place in ``nodes`` allows (a group sits
    where its first member did, but a leaf only its later members use must come before it). Nodes on a cycle,
    should two scopes feed each other, keep their order at the end."""
    index = {n.id: k for k, n in enumerate(nodes)}
    waiting = {n.id: 0 for n in nodes}
    after: dict = {n.id: [] for n in nodes}
    for a, b in edges:
        waiting[b] += 1
        after[a].append(b)
    ready = [index[i] for i, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for b in after[node.id]:
            waiting[b] -= 1
            if waiting[b] == 0:
                heapq.heappush(ready, index[b])
    placed = {n.id for n in order}
    return order + [n for n in nodes if n.id not in placed]


def _mapped(edges, member_of: dict) -> list:
    """Edges between the nodes that stand for their ends, without self-loops or repeats, in first-seen order."""
    seen, out = set(), []
    for a, b in edges:
        pair = (member_of[a], member_of[b])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out
