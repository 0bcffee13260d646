"""Optimisers (SGD with momentum and weight decay, Adam) and gradient clipping, with PyTorch's semantics.

Updates build new arrays instead of writing into old ones, so a graph that saved a parameter's previous
value for a later backward still sees that value. Norms stay on the device: nothing here waits on the host.

>>> import tinygrad_rnn as tr
>>> w = tr.tensor([1.0], requires_grad=True)
>>> opt = tr.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.8
"""
from __future__ import annotations

import math

from .engine import Tensor, _wrap, no_grad


class Optimizer:
    """Holds parameter groups (a list of parameters, or of dicts with their own hyper-parameters) and state."""

    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups = []
        seen = set()
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                # as torch.optim: a frozen parameter (requires_grad=False) is accepted and simply never stepped
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: can only optimise tensors, got {type(p).__name__}")
                if not p.is_leaf:
                    raise ValueError(f"{type(self).__name__}: cannot optimise a non-leaf tensor (shape {p.shape}); "
                                     "optimise the leaf it was computed from")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter (shape {p.shape}) is listed twice; it "
                                     "would be stepped twice per step()")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self, set_to_none: bool = True) -> None:
        for _, p in self._params():
            p.grad = None if set_to_none or p.grad is None else p.grad * 0

    @no_grad()
    def step(self) -> None:
        for group, p in self._params():
            if p.grad is not None:
                state = self.state.setdefault(id(p), {})
                p.data = self._update(p.data, p.grad, state, group)

    def _update(self, data, grad, state: dict, group: dict):
        raise NotImplementedError

    # -- saving -----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter state (host NumPy arrays and numbers), keyed by parameter position."""
        index = {id(p): i for i, (_, p) in enumerate(self._params())}
        params = [p for _, p in self._params()]
        state = {}
        for key, values in self.state.items():
            p = params[index[key]]
            state[index[key]] = {k: (p._backend.to_numpy(v) if hasattr(v, "shape") else v) for k, v in values.items()}
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        params = [p for _, p in self._params()]
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ValueError("load_state_dict: the number of parameter groups differs")
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            group.update(saved)
        self.state = {}
        for key, values in state_dict["state"].items():
            p = params[int(key)]
            self.state[id(p)] = {k: (p._backend.asarray(v, p.dtype) if hasattr(v, "shape") else v)
                                 for k, v in values.items()}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as ``torch.optim.SGD``."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0 (got {lr}, {momentum}, {weight_decay})")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, data, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            buf = grad if buf is None else momentum * buf + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        return data - group["lr"] * grad


class Adam(Optimizer):
    """Kingma & Ba (2015), bias-corrected, with L2 ``weight_decay`` added to the gradient as ``torch.optim.Adam``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, data, grad, state, group):
        xp = _namespace(data)
        beta1, beta2 = group["betas"]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * data
        step = state.get("step", 0) + 1
        m = state.get("exp_avg")
        v = state.get("exp_avg_sq")
        m = (1 - beta1) * grad if m is None else beta1 * m + (1 - beta1) * grad
        v = (1 - beta2) * grad * grad if v is None else beta2 * v + (1 - beta2) * grad * grad
        state.update(step=step, exp_avg=m, exp_avg_sq=v)
        step_size = group["lr"] / (1 - beta1 ** step)
        denominator = xp.sqrt(v) / math.sqrt(1 - beta2 ** step) + group["eps"]
        return data - step_size * m / denominator


def _namespace(array):
    return array.__array_namespace__()


def _with_grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale all gradients together so their global norm is at most ``max_norm``; return the norm *before*
    clipping as a 0-d tensor (it stays on the device until you ask for ``.item()``).

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([3.0, 4.0], requires_grad=True); w.grad = w.data.copy()
    >>> clip_grad_norm_([w], 1.0).item(), [round(g, 3) for g in w.grad.tolist()]
    (5.0, [0.6, 0.8])
    """
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    first = params[0]
    xp = first._backend.xp
    if norm_type == math.inf:
        norms = [xp.max(xp.abs(p.grad)) for p in params]
        total = norms[0]
        for n in norms[1:]:
            total = xp.maximum(total, n)
    else:
        total = sum(xp.sum(xp.abs(p.grad) ** norm_type) for p in params) ** (1.0 / norm_type)
    coefficient = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for p in params:
        p.grad = p.grad * coefficient
    return _wrap(total, False, first._backend, None, 0)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    for p in _with_grads(parameters):
        xp = p._backend.xp
        p.grad = xp.clip(p.grad, -clip_value, clip_value)
