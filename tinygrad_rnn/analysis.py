"""Gradient flow through time, numbers first: the measurements behind the vanishing/exploding-gradient pictures.

- :func:`gradient_norms` — backward through a loss and read ‖∂L/∂h_t‖ for every step's tensor named ``h``
  (or ``c``) in a scope: the gradient's size as it travels back through the unrolled graph.
- :func:`gradient_vs_lag` — ‖∂l_T/∂h_{T−δ}‖ for δ = 0…T−1 on a recurrent layer, the loss a fixed random
  projection of the last output, with a one-line diagnosis ("vanishing: ×0.71 per step, 1/e after 2.9 steps").
- :func:`step_jacobians` — the exact Jacobians ∂s_t/∂s_{t−1} of a cell's state (h, or (h, c) for an LSTM) along a
  sequence, their spectral radii and singular values, and the norms of their products.
- :func:`cell_step_graph` — one step of an unfused LSTM or GRU cell, backpropagated with every gradient kept:
  the traced graph ``viz.cell`` labels with gradient norms, gate by gate.

The analysis works on host copies (``Tensor.numpy()``) of what the engine computed; it never touches a
tensor's array directly.

>>> import tinygrad_rnn as tr
>>> tr.manual_seed(0)
>>> curve = gradient_vs_lag(tr.nn.RNN(4, 8), tr.randn(30, 2, 4))
>>> curve.lags[:3], curve.diagnosis().split(":")[0] in ("vanishing", "exploding", "stable")
([0, 1, 2], True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .engine import Tensor, no_grad, tensor
from .errors import ArgumentError, MissingKeyError
from .graph import Graph, trace
from .nn import GRUCell, LSTMCell


@dataclass
class GradientFlow:
    """Per-step gradient norms of the tensors named ``name`` in ``scope``: ``norms[k]`` belongs to ``steps[k]``."""

    scope: str
    name: str
    steps: list
    norms: np.ndarray


def gradient_norms(loss: Tensor, name: str = "h", scope: str | None = None) -> dict:
    """Run ``loss.backward()`` and return, per scope, the norm of ∂loss/∂t for every step's tensor named ``name``.

    Norms are taken over the whole tensor (all batch rows and units). Returns ``{scope: GradientFlow}``; pass
    ``scope`` (e.g. ``"LSTM/l1"``) to keep one layer and direction.
    """
    if not loss.requires_grad:
        raise ArgumentError("gradient_norms: the loss has no graph (made under no_grad, or from tensors that need no "
                            "gradient)")
    graph = trace(loss)
    nodes = [n for n in graph.find(name=name, scope=scope, kind="tensor") if n.step is not None]
    if not nodes:
        near = sorted({f"{n.name}@{n.scope}" for n in graph.nodes if n.name and n.step is not None})[:10]
        raise MissingKeyError(f"gradient_norms: no tensor named {name!r} with a time step"
                              f"{f' in scope {scope!r}' if scope else ''}; named tensors here: {near}")
    watched, seen = [], set()
    for node in nodes:
        tensor = node.tensor
        if tensor is not None:
            if (node.scope, node.step) in seen:  # their norms would add up to a number that belongs to neither
                raise ArgumentError(f"gradient_norms: two tensors named {name!r} in scope {node.scope!r} at step "
                                    f"{node.step}; name one tensor per scope and step")
            seen.add((node.scope, node.step))
            tensor.retain_grad()
            watched.append((node.scope, node.step, tensor))
    loss.backward()
    flows: dict = {}
    for where, step, tensor in watched:
        grad = np.zeros(tensor.shape) if tensor.grad is None else tensor.backend.to_numpy(tensor.grad)
        flows.setdefault(where, {})[step] = float(np.sum(np.asarray(grad, dtype=np.float64) ** 2))
    return {where: GradientFlow(where, name, sorted(per_step), np.sqrt([per_step[s] for s in sorted(per_step)]))
            for where, per_step in sorted(flows.items())}


@dataclass
class LagCurve:
    """‖∂l_T/∂h_{T−δ}‖ against the lag δ."""

    lags: list
    norms: np.ndarray

    def rate(self) -> float:
        """The factor by which the gradient norm changes per step back in time (a least-squares fit of log‖·‖
        against δ over the lags where it is nonzero)."""
        lags = np.asarray(self.lags, dtype=np.float64)
        keep = self.norms > 0
        if keep.sum() < 2:
            return 0.0
        slope = np.polyfit(lags[keep], np.log(self.norms[keep]), 1)[0]
        return float(math.exp(slope))

    def diagnosis(self) -> str:
        """One line: vanishing, exploding or stable, with the factor per step and the e-folding length."""
        factor = self.rate()
        if factor == 0.0:
            return "vanishing: the gradient is zero beyond the first step"
        if abs(math.log(factor)) < 0.01:
            return f"stable: ×{factor:.3f} per step"
        steps = 1.0 / abs(math.log(factor))
        if factor < 1:
            return f"vanishing: ×{factor:.2f} per step, 1/e after {steps:.1f} steps"
        return f"exploding: ×{factor:.2f} per step, ×e after {steps:.1f} steps"


def gradient_vs_lag(layer, inputs: Tensor, seed: int = 0) -> LagCurve:
    """The gradient-vs-lag curve of a recurrent layer (``RNN``, ``LSTM``, ``GRU``, ``LeakyRNN``, stacked or
    bidirectional: the last layer's forward direction is measured) on ``inputs`` (T, B, I): the loss is a fixed
    random unit projection of the last step's output, l_T = ⟨v, y_T⟩."""
    output, _ = layer(inputs)
    width = layer.hidden_size
    v = np.random.default_rng(seed).standard_normal((output.shape[1], width))
    v /= np.linalg.norm(v)
    last = output[-1][:, :width]  # the forward direction of the last layer
    loss = (last * Tensor(v, dtype=output.dtype, device=output.device)).sum()
    scope = "/".join(layer._scope_path) + f"/l{layer.num_layers - 1}"  # where the layer put its last layer
    flow = gradient_norms(loss, "h", scope)[scope]
    steps = inputs.shape[0]
    lags = [steps - 1 - s for s in flow.steps][::-1]
    return LagCurve(lags, flow.norms[::-1])


@dataclass
class StepJacobians:
    """∂s_t/∂s_{t−1} for t = 1…T (batch row 0), with s = h, or [h; c] for an LSTM."""

    jacobians: np.ndarray  # (T, n, n)

    @property
    def spectral_radii(self) -> np.ndarray:
        return np.array([np.max(np.abs(np.linalg.eigvals(j))) for j in self.jacobians])

    @property
    def singular_values(self) -> np.ndarray:
        return np.array([np.linalg.svd(j, compute_uv=False) for j in self.jacobians])

    def product_norms(self) -> np.ndarray:
        """‖J_T J_{T−1} ⋯ J_{T−δ+1}‖₂ for δ = 1…T: how a gradient at the last step shrinks or grows going back."""
        product = np.eye(self.jacobians.shape[1])
        norms = []
        for j in self.jacobians[::-1]:
            product = product @ j
            norms.append(np.linalg.norm(product, 2))
        return np.array(norms)


def step_jacobians(cell, inputs: Tensor, state=None) -> StepJacobians:
    """Exact Jacobians of ``cell``'s state update along ``inputs`` (T, B, I), by backpropagating each state unit
    through one step of the same ops the cell runs (batch row 0)."""
    steps = inputs.shape[0]
    with no_grad():
        projected = [cell.project(inputs[t]) for t in range(steps)]
        state = cell.initial_state(state, inputs[0])
    # the probes differentiate with respect to the state only: the cell's parameters are frozen meanwhile, so
    # their gradients are neither computed nor touched
    frozen = [p for p in cell.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad = False
    try:
        return StepJacobians(_jacobians(cell, projected, state))
    finally:
        for p in frozen:
            p.requires_grad = True


def _jacobians(cell, projected: list, state) -> np.ndarray:
    jacobians = []
    steps = len(projected)
    for t in range(steps):
        previous = tuple(s.detach().requires_grad_() for s in _as_tuple(state))
        new = _as_tuple(cell.step(projected[t], previous if len(previous) > 1 else previous[0]))
        size = sum(s.shape[1] for s in new)
        rows = []
        for out in new:
            for unit in range(out.shape[1]):
                for p in previous:
                    p.grad = None
                seed = np.zeros(out.shape)
                seed[0, unit] = 1.0
                out.backward(Tensor(seed, dtype=out.dtype, device=out.device), retain_graph=True)
                rows.append(np.concatenate([_row0(p) for p in previous]))
        jacobians.append(np.array(rows).reshape(size, size))
        state = tuple(s.detach() for s in new) if len(new) > 1 else new[0].detach()
    return np.array(jacobians)


def _as_tuple(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def _row0(tensor: Tensor) -> np.ndarray:
    if tensor.grad is None:
        return np.zeros(tensor.shape[1])
    return np.asarray(tensor.backend.to_numpy(tensor.grad), dtype=np.float64)[0]


def cell_step_graph(kind: str, cell=None, inputs=None, seed: int = 0) -> Graph:
    """One step of an unfused ``cell`` (a fresh 3 → 4 float64 ``LSTMCell`` / ``GRUCell`` when None; drawn from
    the generator ``tr.manual_seed`` seeds) on ``inputs`` x_t (B, I) (random when None), from a random state,
    backpropagated with every gradient kept; returns its traced graph. The loss stands for the later steps: a
    fixed random ⟨u, h_t⟩ (+ ⟨w, c_t⟩ for an LSTM), so gradient arrives through both outputs, as inside BPTT.

    >>> g = cell_step_graph("gru")
    >>> g.find(name="z")[0].grad_norm > 0
    True
    """
    if kind not in ("lstm", "gru"):
        raise ArgumentError(f"cell_step_graph: kind must be 'lstm' or 'gru', got {kind!r}")
    if cell is None:
        cell = (LSTMCell if kind == "lstm" else GRUCell)(3, 4, fused=False, dtype="float64")
    if cell.fused:
        raise ArgumentError(f"cell_step_graph: the cell is fused (one node per step); build it with fused=False to "
                            f"see its gates, e.g. tr.nn.{type(cell).__name__}(..., fused=False)")
    rng = np.random.default_rng(seed)
    dtype = cell.weight_hh.dtype
    x = inputs if inputs is not None else tensor(rng.standard_normal((2, cell.input_size)), dtype=dtype,
                                                 requires_grad=True)
    batch = x.shape[0]

    def random_state(name: str) -> Tensor:
        return tensor(rng.standard_normal((batch, cell.hidden_size)), dtype=dtype, requires_grad=True, name=name)

    state = (random_state("h_prev"), random_state("c_prev")) if kind == "lstm" else random_state("h_prev")
    out = cell.step(cell.project(x), state)
    outputs = out if isinstance(out, tuple) else (out,)
    loss = sum((o * tensor(rng.standard_normal(o.shape), dtype=dtype)).sum() for o in outputs)
    graph = trace(loss)  # traced once: marked for gradients, then drawn
    graph.retain_grads()
    loss.backward()
    return graph
