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
"""
from __future__ import annotations

import weakref
from collections import deque

from .engine import Tensor
from .nn.module import Parameter

KINDS = ("op", "param", "input", "const", "tensor")


class Node:
    """One node of a traced graph.

    ``kind`` is ``op`` or, for tensors, ``param`` (a leaf that requires grad), ``input`` (a leaf that does
    not), ``const`` (a Python number in an expression) or ``tensor`` (made by an op). ``label`` is the op's
    label or the tensor's name; ``output_index`` tells which output of its op a tensor is.
    """

    __slots__ = ("id", "kind", "label", "shape", "dtype", "scope", "step", "name", "output_index", "_tensor",
                 "_function")

    def __init__(self, id, kind, label, shape, dtype, scope, step, name=None, output_index=None, tensor=None,
                 function=None):
        self.id, self.kind, self.label, self.shape, self.dtype = id, kind, label, shape, dtype
        self.scope, self.step, self.name, self.output_index = scope, step, name, output_index
        self._tensor = weakref.ref(tensor) if tensor is not None else None
        self._function = function

    @property
    def is_op(self) -> bool:
        return self.kind == "op"

    @property
    def tensor(self) -> Tensor | None:
        """The live tensor behind a tensor node (None for ops, or once the tensor is gone)."""
        return self._tensor() if self._tensor is not None else None

    @property
    def grad(self):
        """The tensor's gradient array after a backward (leaves, and tensors with ``retain_grad()``), else None."""
        t = self.tensor
        return t.grad if t is not None else None

    @property
    def grad_norm(self) -> float | None:
        """‖grad‖ (over all elements) as a Python float, or None where no gradient was kept."""
        t = self.tensor
        if t is None or t.grad is None:
            return None
        xp = t._backend.xp
        return float(xp.sqrt(xp.sum(xp.astype(t.grad, xp.float64) ** 2)))

    def __repr__(self) -> str:
        where = f" scope={self.scope!r}" if self.scope else ""
        when = f" step={self.step}" if self.step is not None else ""
        return f"Node({self.id} {self.kind} {self.label!r} {self.shape}{where}{when})"


class Graph:
    """Nodes in topological order, edges as ``(source_id, target_id)``, and queries over them."""

    def __init__(self, nodes: list, edges: list, tensor_ids: dict):
        self.nodes = nodes
        self.edges = edges
        self._by_id = {n.id: n for n in nodes}
        self._tensor_ids = tensor_ids
        self._successors = {n.id: [] for n in nodes}
        self._predecessors = {n.id: [] for n in nodes}
        for a, b in edges:
            self._successors[a].append(b)
            self._predecessors[b].append(a)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def __iter__(self):
        return iter(self.nodes)

    @property
    def ops(self) -> list:
        return [n for n in self.nodes if n.kind == "op"]

    @property
    def steps(self) -> list:
        """The time steps present, in order."""
        return sorted({n.step for n in self.nodes if n.step is not None})

    @property
    def scopes(self) -> list:
        return sorted({n.scope for n in self.nodes if n.scope})

    def node_of(self, tensor: Tensor) -> Node:
        """The node of a tensor that took part in the traced computation."""
        node = self._by_id.get(self._tensor_ids.get(id(tensor), ""))
        if node is None or node.tensor is not tensor:
            raise KeyError(f"node_of: the tensor (shape {tensor.shape}, name {tensor.name!r}) is not in this graph")
        return node

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
        return [self._by_id[i] for i in self._successors[_id(node)]]

    def predecessors(self, node: Node | str) -> list:
        return [self._by_id[i] for i in self._predecessors[_id(node)]]

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
        between them). There can be exponentially many paths in an unrolled LSTM; their union is linear.
        """
        allowed = through or (lambda node: True)
        src, dst = _id(source), _id(target)
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
        src, dst = _id(source), _id(target)
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


def _id(node) -> str:
    return node.id if isinstance(node, Node) else node


def _tensor_kind(t: Tensor) -> str:
    if t._fn is not None:
        return "tensor"
    if not hasattr(t.data, "shape"):
        return "const"
    return "param" if t.requires_grad or isinstance(t, Parameter) else "input"


def _tensor_node(node_id: str, t: Tensor, output_index=None) -> Node:
    kind = _tensor_kind(t)
    fn = t._fn
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
    """
    marked = 0
    for node in trace(*roots).nodes:
        t = node.tensor
        if node.kind == "tensor" and t is not None and t.requires_grad:
            t.retain_grad()
            marked += 1
    return marked


def trace(*roots: Tensor) -> Graph:
    """The graph that produced ``roots`` (one or more tensors), walked without recursion.

    Works before and after ``backward()``: the backward pass frees saved buffers, not the graph's shape.
    """
    functions = {}
    produced = {}  # (id of node, output index) -> tensor: how single-output nodes' outputs are found
    stack = list(roots)
    while stack:
        t = stack.pop()
        fn = t._fn
        if fn is None:
            continue
        produced.setdefault((id(fn), t._idx), t)
        if id(fn) in functions:
            continue
        functions[id(fn)] = fn
        stack.extend(fn.parents)
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
        inputs = [add_tensor(p) for p in fn.parents]
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
    return Graph(nodes, edges, tensor_ids)
