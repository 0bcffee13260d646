"""A read-only view of a traced graph: what ``viz`` draws and what gradient-flow analysis walks.

``trace(root)`` returns a :class:`Graph` of two kinds of node — ops and the tensors that flow between them
(parameters, inputs, constants and intermediates) — and the edges tensor → op (an input) and op → tensor
(an output), in a deterministic topological order: the same computation traced twice gives the same ids.
Every node carries the scope path and time step stamped on it when it was made, and the tensor's name.

>>> import tinygrad_rnn as tr
>>> W = tr.tensor([[0.5]], requires_grad=True, name="W")
>>> h = tr.tensor([[1.0]], name="h0")
>>> for t in range(2):
...     with tr.step(t):
...         h = (h @ W).tanh().named("h")
>>> g = tr.graph.trace(h)
>>> [n.step for n in g.find(name="h")]
[0, 1]
>>> len(g.path_nodes(g.node_of(W), g.node_of(h))) > 0
True

``Graph.collapse("cell")`` / ``("layer")`` gives a smaller graph whose nodes are groups (one per cell call per step,
or one per layer), and ``Graph.until(t)`` the part of the graph up to step t: what ``viz`` draws for big graphs and
for step-by-step frames. ``graph.cut_edges`` lists where a state was detached (truncated BPTT) and used again.
"""
from __future__ import annotations

import difflib
from collections import deque

from . import graph_collapse
from .autograd import inputs_as_made
from .engine import Tensor, grad_shares_of
from .engine import retain_grads as _mark_for_gradients
from .errors import ArgumentTypeError, GraphError, MissingKeyError
from .graph_collapse import LEVELS
from .graph_node import Node
from .nn.module import Parameter

__all__ = ["LEVELS", "Graph", "Node", "retain_grads", "trace"]

_LEAF_KINDS = ("param", "input", "const")


class Graph:
    """Nodes in topological order, edges as ``(source_id, target_id)``, and queries over them.

    ``cut_edges`` are ``(origin_id, detached_id)`` pairs: a tensor was detached (``Tensor.detach()``, as truncated
    BPTT does) and the detached copy used again; no gradient crosses them. A collapsed graph has ``level``
    ``"cell"`` or ``"layer"``, the graph it came from as ``parent`` and ``member_of`` (parent id → own id).
    ``tensor_ids`` maps ``id(tensor)`` to the node id of every traced tensor (what :meth:`node_of` looks up).

    The view answers queries and changes nothing: :meth:`collapse`, :meth:`until` and :meth:`subgraph` make new
    graphs (``tinygrad_rnn.graph_collapse``), and :meth:`retain_grads` marks the tensors through the engine.
    """

    def __init__(self, nodes: list, edges: list, tensor_ids: dict, cut_edges=(), level: str = "op",
                 parent: Graph | None = None, member_of: dict | None = None):
        self.nodes = nodes
        self.edges = edges
        self._by_id = {n.id: n for n in nodes}
        self.tensor_ids = tensor_ids
        self.cut_edges = list(cut_edges)
        self.level, self.parent, self.member_of = level, parent, member_of
        self._successors = {n.id: [] for n in nodes}
        self._predecessors = {n.id: [] for n in nodes}
        for a, b in edges:
            self._successors[a].append(b)
            self._predecessors[b].append(a)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        level = f", {self.level} level" if self.level != "op" else ""
        return f"<Graph: {len(self.nodes)} nodes, {len(self.ops)} ops, {len(self.steps)} steps{level}>"

    def __str__(self) -> str:
        """A summary: ``print(graph)`` says how big it is, which scopes and steps it has and what its roots are.

        >>> import tinygrad_rnn as tr
        >>> out, _ = tr.nn.RNN(2, 3)(tr.zeros(4, 1, 2))
        >>> print(trace(out.sum()))
        Graph: 25 nodes: 8 ops, 17 tensors (parameters 4, inputs 2, constants 0)
          ops: linear 1, unbind 1, rnn_cell 4, stack 1, sum 1
          scopes: RNN, RNN/l0
          steps: 0–3 (4)
          roots: sum → () float32
        """
        kinds = {kind: sum(n.kind == kind for n in self.nodes) for kind in ("param", "input", "const")}
        counts: dict = {}
        for n in self.ops:
            counts[n.label] = counts.get(n.label, 0) + 1
        steps, times = self.steps, self.times
        lines = [f"Graph: {len(self.nodes)} nodes: {len(self.ops)} ops, {len(self.nodes) - len(self.ops)} tensors ("
                 f"parameters {kinds['param']}, inputs {kinds['input']}, constants {kinds['const']})"
                 + (f", collapsed to {self.level} level" if self.level != "op" else ""),
                 "  ops: " + (", ".join(f"{label} {k}" for label, k in counts.items()) or "none"),
                 "  scopes: " + (", ".join(self.scopes) or "none"),
                 "  steps: " + _runs(steps) + (f"; on the timeline {_runs(times)} (steps opened with an offset, "
                                               "a decoder's, follow the others)" if times != steps else ""),
                 "  roots: " + ", ".join(f"{self._made_by(n)} → {n.shape} {n.dtype or ''}".rstrip()
                                          for n in self.nodes if self._is_root(n))]
        return "\n".join(lines)

    def _is_root(self, node: Node) -> bool:
        """Nothing in the graph uses it, and it is not a second output nobody asked for (a last step's c)."""
        return not self._successors[node.id] and node.output_index in (None, 0)

    def _made_by(self, node: Node) -> str:
        producer = self._predecessors[node.id]
        return node.name or (self._by_id[producer[0]].label if producer else node.kind)

    def __getitem__(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def __iter__(self):
        return iter(self.nodes)

    @property
    def ops(self) -> list:
        return [n for n in self.nodes if n.kind == "op"]

    @property
    def steps(self) -> list:
        """The time steps present, in order (each recurrence counts its own: see :attr:`Node.time`)."""
        return sorted({int(n.step) for n in self.nodes if n.step is not None})

    @property
    def times(self) -> list:
        """The positions on the graph's timeline present, in order: the steps, where no step has an offset."""
        return sorted({n.time for n in self.nodes if n.step is not None})

    @property
    def scopes(self) -> list:
        return sorted({n.scope for n in self.nodes if n.scope})

    def node_of(self, tensor: Tensor) -> Node:
        """The node of a tensor that took part in the traced computation."""
        node = self._by_id.get(self.tensor_ids.get(id(tensor), ""))
        if node is None or node.tensor is not tensor:
            where = _where(tensor.scope, tensor.step)
            raise MissingKeyError(f"node_of: the tensor (shape {tensor.shape}, name {tensor.name!r}{where}) is not in "
                                  f"this graph{'' if self.level == 'op' else f' (collapsed to {self.level} level)'}"
                                  f"{self._nearby(tensor.name, tensor.scope, tensor.step)}")
        return node

    def _nearby(self, name, scope: str, step) -> str:
        """What exists near a missing node, for an error message: the names at its scope and step, close names."""
        here = sorted({n.name for n in self.nodes if n.name and n.scope == scope and n.step == step})
        text = f"; named tensors{_where(scope, step) or ' at the top level'}: {', '.join(here)}" if here else ""
        close = difflib.get_close_matches(name, sorted({n.name for n in self.nodes if n.name}), n=5) if name else []
        if close and name not in here:
            text += f"; names like {name!r}: {', '.join(close)}"
        return text

    def _resolve(self, node, where: str) -> str:
        """The id of ``node`` (a Node or an id) in this graph; a node of the graph this one was collapsed from
        maps to the group or node that stands for it. Anything else is a KeyError saying what exists nearby."""
        node_id = node.id if isinstance(node, Node) else node
        known = self._by_id.get(node_id)
        if known is not None and (not isinstance(node, Node) or known is node or _same(known, node)):
            return node_id
        stand_in = self.member_of.get(node_id) if self.member_of is not None else None
        if stand_in in self._by_id and (  # a part (until, subgraph) may have left the group out
                not isinstance(node, Node) or self.parent is None or self.parent._by_id.get(node_id) is node):
            return stand_in
        if isinstance(node, Node):
            nearby = self._nearby(node.name, node.scope, node.step)
            raise MissingKeyError(f"{where}: the node {node.label or node.kind!r} ({node.kind}"
                                  f"{_where(node.scope, node.step)}, id {node_id}) is not in this graph{nearby}")
        close = difflib.get_close_matches(str(node_id), list(self._by_id), n=3)
        raise MissingKeyError(f"{where}: no node {node_id!r} in this graph of {len(self.nodes)} nodes"
                              + (f"; ids like it: {', '.join(close)}" if close else ""))

    def find(self, name: str | None = None, scope: str | None = None, step: int | None = None,
             kind: str | None = None, label: str | None = None) -> list:
        """Nodes matching every given field. ``scope`` matches that scope and everything nested inside it.

        ``g.find(name="f", scope="lstm/l1", step=17)`` — the forget gate of layer 2 at step 17.
        """
        def scope_matches(node_scope: str) -> bool:
            return scope is None or node_scope == scope or node_scope.startswith(scope + "/")

        return [n for n in self.nodes
                if (name is None or n.name == name) and scope_matches(n.scope)
                and (step is None or n.step == step) and (kind is None or n.kind == kind)
                and (label is None or n.label == label)]

    def successors(self, node: Node | str) -> list:
        """The nodes ``node`` feeds (a Node of this graph or of the one it was collapsed from, or an id)."""
        return [self._by_id[i] for i in self._successors[self._resolve(node, "successors")]]

    def predecessors(self, node: Node | str) -> list:
        """The nodes that feed ``node``, in the order of the op's inputs for an op."""
        return [self._by_id[i] for i in self._predecessors[self._resolve(node, "predecessors")]]

    def successor_ids(self, node_id: str) -> tuple:
        """The ids of the nodes the node with id ``node_id`` of this graph feeds: the fast lookup for a walk over
        every node, where :meth:`successors` would resolve each id and make a list of nodes.

        >>> import tinygrad_rnn as tr
        >>> g = trace(tr.tensor([1.0], requires_grad=True).tanh())
        >>> g.successor_ids("n0"), g.predecessor_ids("n2")
        (('n1',), ('n1',))
        """
        return tuple(self._successors[node_id])

    def predecessor_ids(self, node_id: str) -> tuple:
        """The ids of the nodes that feed the node with id ``node_id`` of this graph (see :meth:`successor_ids`)."""
        return tuple(self._predecessors[node_id])

    def windows(self) -> dict:
        """Node id -> the number of its *window*: the parts of the graph joined to each other only through leaves
        (parameters, inputs), numbered in the order they were made. Two truncated-BPTT windows are two parts —
        the state passed between them was detached — even where both number their steps from 0. A leaf is in
        window 0.

        >>> import tinygrad_rnn as tr
        >>> w = tr.tensor([2.0], requires_grad=True)
        >>> g = tr.graph.trace((w * 3).tanh(), (w * 4).tanh())
        >>> sorted(set(g.windows().values()))
        [0, 1]
        """
        parent = {n.id: n.id for n in self.nodes if n.kind not in _LEAF_KINDS}
        position = {n.id: k for k, n in enumerate(self.nodes)}.__getitem__

        def root(i: str) -> str:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for a, b in self.edges:
            if a in parent and b in parent:
                ra, rb = root(a), root(b)
                if ra != rb:  # the older part names both
                    parent[max(ra, rb, key=position)] = min(ra, rb, key=position)
        numbers: dict = {}
        return {n.id: numbers.setdefault(root(n.id), len(numbers)) if n.id in parent else 0 for n in self.nodes}

    def _reach(self, start: str, neighbours: dict, allowed) -> set:
        seen = {start}
        queue = deque([start])
        while queue:
            for nxt in neighbours[queue.popleft()]:
                if nxt not in seen and allowed(self._by_id[nxt]):
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def path_nodes(self, source: Node | str, target: Node | str, through=None) -> list:
        """Every node on some directed path from ``source`` to ``target`` (both included), in topological order.

        ``through(node) -> bool`` restricts the intermediate nodes (e.g. to the cell-state tensors and the ops
        between them). ``through`` may also be a name: then every named tensor between ``source`` and ``target``
        must carry it (ops and unnamed tensors may lie between them) — ``through="c"`` from c₀ to c_T is an LSTM's
        cell-state highway, without the paths through h and the gates. There can be exponentially many paths in an
        unrolled LSTM; their union is linear.
        """
        if isinstance(through, str):
            name = through
            allowed = lambda node: node.name is None or node.name == "" or node.name == name  # noqa: E731
        elif through is None or callable(through):
            allowed = through or (lambda node: True)
        else:
            raise ArgumentTypeError(f"path_nodes: through must be a name (str) or a predicate node -> bool, got "
                                    f"{type(through).__name__}")
        src, dst = self._resolve(source, "path_nodes"), self._resolve(target, "path_nodes")
        forward = self._reach(src, self._successors, lambda n: n.id == dst or allowed(n))
        if dst not in forward:
            return []
        backward = self._reach(dst, self._predecessors, lambda n: n.id == src or allowed(n))
        on_path = forward & backward
        return [n for n in self.nodes if n.id in on_path]

    def path_edges(self, source: Node | str, target: Node | str, through=None) -> list:
        """The edges between nodes of ``path_nodes`` — what a highlighted path draws."""
        on_path = {n.id for n in self.path_nodes(source, target, through)}
        return [(a, b) for a, b in self.edges if a in on_path and b in on_path]

    def shortest_path(self, source: Node | str, target: Node | str) -> list:
        """One shortest directed path from ``source`` to ``target`` as a list of nodes (empty if none)."""
        src, dst = self._resolve(source, "shortest_path"), self._resolve(target, "shortest_path")
        previous = {src: None}
        queue = deque([src])
        while queue:
            current = queue.popleft()
            if current == dst:
                path = []
                while current is not None:
                    path.append(self._by_id[current])
                    current = previous[current]
                return path[::-1]
            for nxt in self._successors[current]:
                if nxt not in previous:
                    previous[nxt] = current
                    queue.append(nxt)
        return []

    # -- the gradients a backward keeps -----------------------------------------------------------------------------
    def retain_grads(self) -> int:
        """Call ``retain_grad()`` on every non-leaf tensor of this graph that requires grad (and is still alive),
        so that after the next backward every one of its nodes has a gradient to show; returns how many were
        marked. The parameters (leaves that require grad) are marked too: from then on each backward also keeps
        the size of each step's share of their gradient (:meth:`grad_shares`). Trace once, mark, backward, then
        draw the same graph. The marking itself is the engine's (``tinygrad_rnn.engine.retain_grads``); this
        method stays on the view because scripts, the README and the report call ``g.retain_grads()``:

        >>> import tinygrad_rnn as tr
        >>> x = tr.tensor([1.0], requires_grad=True)
        >>> y = (x * 2).tanh()
        >>> g = trace(y)
        >>> g.retain_grads()
        2
        >>> y.backward(tr.tensor([1.0]))
        >>> all(n.grad_norm is not None for n in g.nodes if n.kind == "tensor")
        True
        """
        return _mark_for_gradients(self._markable())

    def _markable(self):
        """The live tensors a backward can give a gradient to: those made by ops, and the parameters."""
        for node in self.nodes:
            t = node.tensor
            if t is not None and (node.kind == "param" or node.kind == "tensor" and t.requires_grad):
                yield t

    def grad_shares(self, node: Node | str) -> dict:
        """Step -> ‖that step's contribution to the gradient of the parameter ``node``‖, from the last backward
        that reached it. A weight reused at every step of an unrolled graph receives one contribution per step
        (``h_{t-1}ᵀ g_t`` for W_hh) and its ``.grad`` is their sum; this tells which steps it came from. Steps are
        the nodes' step numbers (``find(step=t)``); what the parameter received outside any step (a projection of
        all steps' inputs at once, a loss's own ops) is under the key ``None``, so the contributions of all keys
        add up to the gradient of that backward (before any hook on the parameter replaced it). A weight used by
        two recurrences that both count from 0 (an embedding tied between an encoder and a decoder) has their
        step t's contributions summed under t.

        Only parameters of a graph marked with :meth:`retain_grads` (or ``tr.graph.retain_grads``) *before* the
        backward record their shares; anything else is a :class:`GraphError`.

        >>> import tinygrad_rnn as tr
        >>> w = tr.tensor(1.0, requires_grad=True, dtype="float64")
        >>> h = tr.tensor(1.0, dtype="float64")
        >>> for t in range(3):
        ...     with tr.step(t):
        ...         h = h * w + 1.0
        >>> g = trace(h)
        >>> _ = g.retain_grads()
        >>> h.backward()
        >>> g.grad_shares(g.node_of(w))  # h_3 = w^3 + w^2 + w + 1: step t's share is ∂h_3/∂h_{t+1} · h_t
        {0: 1.0, 1: 2.0, 2: 3.0}
        """
        found = self[self._resolve(node, "grad_shares")]
        t = found.tensor
        shares = grad_shares_of(t) if found.kind == "param" and t is not None else None
        if shares is None:
            what = "is not a parameter" if found.kind != "param" else (
                "is gone" if t is None else "was not marked before the backward")
            raise GraphError(f"grad_shares: the node {found.label or found.kind!r} ({found.kind}, id {found.id}) "
                             f"{what}; per-step shares are kept for the parameters of a graph marked with "
                             "retain_grads() before backward()")
        order = sorted(shares, key=lambda step: (step is None, step or 0))  # in time order, outside time last
        return {step: float(shares[step]) for step in order}

    # -- smaller graphs (made by tinygrad_rnn.graph_collapse) ----------------------------------------------------------
    def subgraph(self, ids) -> Graph:
        """The nodes whose ids are in ``ids`` (kept in this graph's order) and the edges between them."""
        return graph_collapse.subgraph(self, ids)

    def until(self, step: int) -> Graph:
        """The graph as it stood after time step ``step`` (a position on the timeline, :attr:`Node.time`): the nodes
        of steps ≤ ``step``, the nodes without a step
        that those need (inputs, parameters, a projection of all steps at once), and the nodes without a step
        computed from the steps so far and nothing later (a loss after the last step).

        >>> import tinygrad_rnn as tr
        >>> h = tr.tensor([1.0], requires_grad=True)
        >>> for t in range(3):
        ...     with tr.step(t):
        ...         h = (h * 2).named("h")
        >>> g = tr.graph.trace(h.sum())
        >>> g.until(0).steps, len(g.until(2)) == len(g)
        ([0], True)
        """
        return graph_collapse.until(self, step)

    def collapse(self, level: str) -> Graph:
        """A smaller graph for drawing: ``"cell"`` makes one group node per cell call per time step (everything a
        scope such as ``LSTM/l0`` made at step t), keeping the named tensors that pass between groups (``h``,
        ``c``), the parameters, inputs and outputs; ``"layer"`` makes one group per scope for all its steps,
        keeping parameters, inputs and outputs. ``"op"`` returns the graph itself.

        Ops outside any scope and step stay as they are. The code a module runs around its sub-modules (a stack
        of a layer's outputs, say) is split where it runs before and after them, so that no group feeds itself
        through another. Edges are deduplicated; ids are deterministic (groups ``g0``, ``g1``, … in order).

        >>> import tinygrad_rnn as tr
        >>> lstm = tr.nn.LSTM(2, 3, fused=False)
        >>> out, _ = lstm(tr.zeros(4, 1, 2))
        >>> g = tr.graph.trace(out)
        >>> cells = g.collapse("cell")
        >>> [n.label for n in cells.nodes if n.kind == "group" and n.step == 2]
        ['LSTM l0 · t=2']
        >>> [n.name for n in cells.nodes if n.step == 2 and n.kind == "tensor"]
        ['c', 'h']
        >>> len(g.collapse("layer")) < len(cells) < len(g)
        True
        """
        return graph_collapse.collapse(self, level)


def _runs(steps: list) -> str:
    """``0–3 (4)``, ``5`` or ``none``: a sorted list of steps in brief."""
    if len(steps) > 1:
        return f"{steps[0]}–{steps[-1]} ({len(steps)})"
    return str(steps[0]) if steps else "none"


def _where(scope: str, step) -> str:
    return (f" in scope {scope!r}" if scope else "") + (f" at step {step}" if step is not None else "")


def _same(a: Node, b: Node) -> bool:
    """Two nodes of two traces of the same computation (ids are deterministic, so they may be used across)."""
    return (a.kind, a.label, a.scope, a.step, a.shape) == (b.kind, b.label, b.scope, b.step, b.shape)


def _tensor_kind(t: Tensor) -> str:
    if t.grad_fn is not None:
        return "tensor"
    if not hasattr(t.data, "shape"):
        return "const"
    return "param" if t.requires_grad or isinstance(t, Parameter) else "input"


def _tensor_node(node_id: str, t: Tensor, output_index=None) -> Node:
    kind = _tensor_kind(t)
    fn = t.grad_fn
    scope = "/".join(fn.scope) if fn is not None else ""
    step = fn.step if fn is not None else None
    if kind == "const":
        return Node(node_id, kind, repr(t.data), (), None, scope, step)
    return Node(node_id, kind, t.name or "", tuple(t.shape), t.dtype, scope, step, t.name, output_index, t)


def retain_grads(*roots: Tensor) -> int:
    """Call ``retain_grad()`` on every non-leaf tensor behind ``roots`` that requires grad, so that after the next
    backward every node of the traced graph has a gradient to show; returns how many were marked.

    >>> import tinygrad_rnn as tr
    >>> x = tr.tensor([1.0], requires_grad=True)
    >>> y = (x * 2).tanh()
    >>> retain_grads(y)
    2

    This traces ``roots`` only to mark them; to draw the graph as well, trace once and call
    :meth:`Graph.retain_grads` on it.
    """
    return trace(*roots).retain_grads()


def trace(*roots: Tensor) -> Graph:
    """The graph that produced ``roots`` (one or more tensors), walked without recursion.

    Works before and after ``backward()``: the backward pass frees saved buffers, not the graph's shape.
    A parameter alone is a one-node graph; a tensor that carries no graph (made under ``no_grad()``, detached,
    or a plain input) is a :class:`GraphError`. Where a root of one truncated-BPTT window and a root of the next
    are traced together, ``cut_edges`` links each detached state to where it was cut from.
    """
    if roots and all(t.grad_fn is None and not t.requires_grad for t in roots):
        raise GraphError(_no_graph(roots[0]))
    functions, produced = {}, {}  # produced: (id of node, output index) -> tensor, how outputs are found
    cut = _walk(list(roots), functions, produced)
    while cut:  # a detached state's origin hanging off the graph (a layer's final state) is part of the picture
        origin = cut.pop()
        trial_functions, trial_produced = {}, {}
        more = _walk([origin], trial_functions, trial_produced, known=functions)
        if any(p.grad_fn is not None and id(p.grad_fn) in functions
               for f in trial_functions.values() for p in f.parents):
            functions.update(trial_functions)
            for key, t in trial_produced.items():
                produced.setdefault(key, t)
            cut.extend(more)
    for fn in functions.values():  # a multi-output node's unused outputs are reachable only through it
        for index, ref in enumerate(getattr(fn, "outputs", ())):
            out = ref()
            if out is not None:
                produced.setdefault((id(fn), index), out)

    nodes, edges, tensor_ids = [], [], {}

    def add_tensor(t: Tensor, output_index=None) -> str:
        key = id(t)
        if key not in tensor_ids:
            tensor_ids[key] = f"n{len(nodes)}"
            nodes.append(_tensor_node(tensor_ids[key], t, output_index))
        return tensor_ids[key]

    for fn in sorted(functions.values(), key=lambda f: f.seq):
        inputs = [add_tensor(p) for p in inputs_as_made(fn)]
        op_id = f"n{len(nodes)}"
        first = produced.get((id(fn), 0))  # an op node shows the shape and dtype of its (first) output
        shape, dtype = (first.shape, first.dtype) if first is not None else ((), None)
        nodes.append(Node(op_id, "op", fn.op_label(), shape, dtype, "/".join(fn.scope), fn.step, function=fn))
        edges.extend((i, op_id) for i in inputs)
        for index in range(len(getattr(fn, "outputs", ())) or 1):
            out = produced.get((id(fn), index))
            if out is not None:
                edges.append((op_id, add_tensor(out, index)))
    for r in roots:
        add_tensor(r)
    return Graph(nodes, edges, tensor_ids, _cut_edges(nodes, tensor_ids))


def _walk(stack: list, functions: dict, produced: dict, known: dict | None = None) -> list:
    """Add the ops behind the tensors on ``stack`` to ``functions`` (stopping at those in ``known`` too); return
    the origins of the detached tensors met on the way that are not traced yet."""
    known = known if known is not None else functions
    origins = []
    while stack:
        t = stack.pop()
        fn = t.grad_fn
        if fn is None:
            origin = t.detached_origin()
            if origin is not None and id(origin.grad_fn) not in known and id(origin.grad_fn) not in functions:
                origins.append(origin)
            continue
        produced.setdefault((id(fn), t.output_index), t)
        if id(fn) in functions or id(fn) in known:
            continue
        functions[id(fn)] = fn
        stack.extend(inputs_as_made(fn))
    return origins


def _cut_edges(nodes: list, tensor_ids: dict) -> list:
    """(origin, detached) pairs where a detached tensor and the tensor it was detached from are both traced."""
    cuts = []
    for node in nodes:
        t = node.tensor if node.kind == "input" else None
        origin = t.detached_origin() if t is not None else None
        if origin is not None and id(origin) in tensor_ids:
            cuts.append((tensor_ids[id(origin)], node.id))
    return cuts


def _no_graph(t: Tensor) -> str:
    what = f"trace: this tensor (shape {t.shape}{f', name {t.name!r}' if t.name else ''}) has no graph: "
    origin = t.detached_origin()
    if origin is not None:
        return (what + f"it was detached (.detach()) from the output of '{origin.grad_fn.op_label()}'"
                f"{_where(origin.scope, origin.step)}; trace that tensor instead")
    return (what + "it was made under no_grad() or is detached, or is an input that requires no gradient; "
            "only a computation that involves a tensor with requires_grad=True leaves a graph to trace")
