"""One node of a traced graph (:class:`Node`): an op, a tensor, or in a collapsed graph a group of them.

Its own module so that both the view (``tinygrad_rnn.graph``) and the transforms that make new graphs from it
(``tinygrad_rnn.graph_collapse``) can build nodes without importing each other.

>>> import tinygrad_rnn as tr
>>> g = tr.graph.trace(tr.tensor([1.0], requires_grad=True).tanh())
>>> [(n.kind, n.label) for n in g.nodes]
[('param', ''), ('op', 'tanh'), ('tensor', '')]
"""
from __future__ import annotations

import weakref

from .engine import Tensor


class Node:
    """One node of a traced graph.

    ``kind`` is ``op`` or, for tensors, ``param`` (a leaf that requires grad), ``input`` (a leaf that does
    not), ``const`` (a Python number in an expression) or ``tensor`` (made by an op); in a collapsed graph,
    ``group`` (``members`` holds the ids of the nodes it stands for). ``label`` is the op's label, the tensor's
    name or the group's title; ``output_index`` tells which output of its op a tensor is.
    """

    __slots__ = ("id", "kind", "label", "shape", "dtype", "scope", "step", "name", "output_index", "_tensor",
                 "_function", "members")

    def __init__(self, id, kind, label, shape, dtype, scope, step, name=None, output_index=None, tensor=None,
                 function=None, members=None):
        self.id, self.kind, self.label, self.shape, self.dtype = id, kind, label, shape, dtype
        self.scope, self.step, self.name, self.output_index = scope, step, name, output_index
        self._tensor = weakref.ref(tensor) if tensor is not None else None
        self._function = function
        self.members = members

    @property
    def is_op(self) -> bool:
        return self.kind == "op"

    @property
    def tensor(self) -> Tensor | None:
        """The live tensor behind a tensor node (None for ops, or once the tensor is gone)."""
        return self._tensor() if self._tensor is not None else None

    @property
    def time(self) -> int | None:
        """Where the node lies on the graph's one timeline: its step, plus the offset the step was opened with
        (``tr.step(t, offset=S)``: a seq2seq decoder's step t is at S + t, after the encoder's S steps). Drawings
        and :meth:`Graph.until` go by it; ``step`` and :meth:`Graph.find` by the step of the node's own recurrence."""
        return getattr(self.step, "time", self.step)

    @property
    def step_scope(self) -> str | None:
        """The scope the node's step was opened in (``Seq2Seq`` for every op of a decoder step, ``LSTM/l0`` for a
        layer's): a drawing puts a step's nodes in one column of that scope. None outside any step."""
        scope = getattr(self.step, "scope", None)
        return "/".join(scope) if scope is not None else None

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
        xp = t.backend.xp
        return float(xp.sqrt(xp.sum(xp.astype(t.grad, xp.float64) ** 2)))

    def stats(self) -> dict | None:
        """Summary of the tensor's values — ``min``, ``max``, ``mean``, ``std`` and ``norm`` (‖value‖) as Python
        floats, computed in float64 — or None for an op, a constant, an empty tensor, or once the tensor is gone.

        >>> import tinygrad_rnn as tr
        >>> x = tr.tensor([3.0, -4.0], requires_grad=True)
        >>> tr.graph.trace(x).nodes[0].stats()
        {'min': -4.0, 'max': 3.0, 'mean': -0.5, 'std': 3.5, 'norm': 5.0}
        """
        t = self.tensor
        if t is None or not hasattr(t.data, "shape") or t.data.size == 0:
            return None
        xp = t.backend.xp
        v = xp.astype(t.data, xp.float64)
        return {"min": float(xp.min(v)), "max": float(xp.max(v)), "mean": float(xp.mean(v)),
                "std": float(xp.std(v)), "norm": float(xp.sqrt(xp.sum(v * v)))}

    def __repr__(self) -> str:
        where = f" scope={self.scope!r}" if self.scope else ""
        when = f" step={self.step}" if self.step is not None else ""
        return f"Node({self.id} {self.kind} {self.label!r} {self.shape}{where}{when})"
