"""Finite-difference gradient checks in float64.

>>> import tinygrad_rnn as tr
>>> x = tr.tensor([0.3, -1.2], dtype="float64", requires_grad=True)
>>> tr.gradcheck(lambda x: (x * x).tanh(), [x])
True
"""
from __future__ import annotations

import numpy as np

from .errors import ArgumentError, DTypeError, TinygradRNNError
from .engine import Tensor, no_grad, tensor


class GradcheckError(TinygradRNNError, AssertionError):
    """Analytic and numerical gradients disagree."""


def _outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _analytic_gradients(total: Tensor, wanted: list) -> list:
    """d total / d each wanted input, as host arrays, leaving every leaf's ``.grad`` as it was."""
    from .autograd import reachable

    # the leaves backward() can write to: inputs of the nodes total depends on, with requires_grad and no node
    leaves = {} if total.is_leaf else {parent: None for fn in reachable(total.grad_fn) for parent in fn.parents
                                       if parent.is_leaf and parent.requires_grad}
    kept = [(leaf, leaf.grad) for leaf in leaves]
    for leaf in leaves:
        leaf.grad = None
    try:
        total.backward()
        return [np.array(t.backend.to_numpy(t.grad)) if t.grad is not None else np.zeros(t.shape) for t in wanted]
    finally:
        for leaf, grad in kept:
            leaf.grad = grad


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Compare the backward pass of ``fn(*inputs)`` with central finite differences.

    ``inputs`` are tensors; those with ``requires_grad`` are checked and must be float64. The outputs
    (one tensor or several) are contracted with fixed random weights into one scalar, whose gradient is
    then checked element by element: a wrong gradient anywhere in the Jacobian shows up unless it is
    exactly orthogonal to the random weights.
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ArgumentError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != "float64":
            raise DTypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64")
    rng = np.random.default_rng(seed)
    outputs = _outputs(fn(*inputs))
    weights = [rng.standard_normal(o.shape) for o in outputs]

    def contracted(values) -> float:
        return float(sum(np.sum(o.numpy() * w) for o, w in zip(_outputs(values), weights)))

    total = None
    for o, w in zip(outputs, weights):
        if not o.requires_grad:
            continue
        term = (o * tensor(w, dtype=o.dtype, device=o.device)).sum()
        total = term if total is None else total + term
    if total is None:
        raise ArgumentError("gradcheck: no output depends on an input that requires grad")
    analytic = _analytic_gradients(total, [inputs[i] for i in checked])
    for i, grad in zip(checked, analytic):
        t = inputs[i]
        numeric = np.zeros(t.shape)
        saved = t.data
        flat = t.backend.to_numpy(saved).reshape(-1)
        try:  # the input gets its own data back even when fn raises on a probe
            for k in range(flat.size):
                values = []
                for delta in (eps, -eps):
                    probe = flat.copy()
                    probe[k] += delta
                    t.data = t.backend.asarray(probe.reshape(t.shape), "float64")
                    with no_grad():
                        values.append(contracted(fn(*inputs)))
                numeric.reshape(-1)[k] = (values[0] - values[1]) / (2 * eps)
        finally:
            t.data = saved
        if not np.allclose(grad, numeric, atol=atol, rtol=rtol):
            worst = int(np.argmax(np.abs(grad - numeric)))
            index = np.unravel_index(worst, t.shape) if t.shape else ()
            message = (f"gradcheck: input {i} (shape {t.shape}) disagrees at index {tuple(int(j) for j in index)}: "
                       f"analytic {grad.reshape(-1)[worst]:.8g} vs numerical {numeric.reshape(-1)[worst]:.8g} "
                       f"(max abs difference {np.max(np.abs(grad - numeric)):.3g})")
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
