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
import numbers

from . import backend as _backend
from .checks import number
from .engine import Tensor, no_grad, wrap, zero_grads
from .errors import ArgumentError, ArgumentTypeError, DeviceError
from .ops.recurrent import compiled_loops


def _what(value) -> str:
    return f"a Tensor of shape {value.shape}" if isinstance(value, Tensor) else f"{type(value).__name__} {value!r:.60}"


class Optimizer:
    """Holds parameter groups (a list of parameters, or of dicts with their own hyper-parameters) and state."""

    def __init__(self, params, defaults: dict):
        who = type(self).__name__
        if isinstance(params, Tensor) or not hasattr(params, "__iter__"):
            raise ArgumentTypeError(f"{who}: params must be an iterable of tensors (model.parameters()) or of "
                                    f"parameter groups (dicts), got {_what(params)}")
        params = list(params)
        if not params:
            raise ArgumentError(f"{who}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            if not isinstance(group, dict) or "params" not in group:
                raise ArgumentTypeError(f"{who}: a parameter group must be a dict with a 'params' entry, got "
                                        f"{_what(group)}")
            for name in ("lr", "momentum", "dampening", "weight_decay", "eps"):
                if name in group:
                    number(group[name], name, who, low=0.0)
        self.defaults = defaults
        self.param_groups = []
        seen = set()
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                # as torch.optim: a frozen parameter (requires_grad=False) is accepted and simply never stepped
                if not isinstance(p, Tensor):
                    raise ArgumentTypeError(f"{type(self).__name__}: can only optimise tensors, got {type(p).__name__}")
                if not p.is_leaf:
                    raise ArgumentError(f"{type(self).__name__}: cannot optimise a non-leaf tensor (shape {p.shape}); "
                                        "optimise the leaf it was computed from")
                if id(p) in seen:
                    raise ArgumentError(f"{type(self).__name__}: a parameter (shape {p.shape}) is listed twice; it "
                                        "would be stepped twice per step()")
                seen.add(id(p))
            self.param_groups.append(group)
        self.state: dict[int, dict] = {}

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads((p for _, p in self._params()), set_to_none)

    @no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient. As in PyTorch a parameter keeps its dtype and device: state
        left on another device or in another dtype (``Module.to`` after a step) follows the parameter first."""
        for group, p in self._params():
            if p.grad is not None:
                state = self.state.setdefault(id(p), {})
                if state:
                    _follow_parameter(state, p)
                data = p.data
                updated = self._update(data, p.grad, state, group, p.backend)
                if updated.dtype != data.dtype:  # e.g. a float64 gradient set by hand on a float32 parameter
                    updated = p.backend.xp.astype(updated, data.dtype)
                p.data = updated

    def _update(self, data, grad, state: dict, group: dict, backend):
        """The new value of a parameter's ``data``; ``backend`` is the parameter's, whose ``xp`` is the array
        namespace (CuPy's arrays cannot be asked for theirs)."""
        raise NotImplementedError

    # -- saving -----------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Hyper-parameters and per-parameter state, keyed by parameter position, made of nothing but host NumPy
        arrays and plain Python values (numbers, strings, bools, None, lists, dicts; a tuple such as Adam's
        ``betas`` becomes a list): arrays can go into an ``.npz`` and everything else into JSON."""
        index = {id(p): i for i, (_, p) in enumerate(self._params())}
        params = [p for _, p in self._params()]
        state = {}
        for key, values in self.state.items():
            p = params[index[key]]
            state[index[key]] = {k: (_owner(v, p).to_numpy(v) if hasattr(v, "shape") else _plain(v, f"state {k!r}"))
                                 for k, v in values.items()}
        groups = [{k: _plain(v, f"param_groups {k!r}") for k, v in g.items() if k != "params"}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ArgumentTypeError(f"{type(self).__name__}.load_state_dict: state_dict must be a dict with 'state' "
                                    f"and 'param_groups' (what state_dict() returns), got {_what(state_dict)}")
        params = [p for _, p in self._params()]
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ArgumentError("load_state_dict: the number of parameter groups differs")
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            for k, v in saved.items():
                # state_dict() writes tuples (Adam's betas) as lists; give the group back the type it had
                group[k] = tuple(v) if isinstance(v, list) and isinstance(group.get(k), tuple) else v
        self.state = {}
        for key, values in state_dict["state"].items():
            p = params[int(key)]
            self.state[id(p)] = {k: (p.backend.asarray(v, p.dtype) if hasattr(v, "shape") else v)
                                 for k, v in values.items()}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, as ``torch.optim.SGD``."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        for name, value in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                            ("weight_decay", weight_decay)):
            number(value, name, "SGD", low=0.0)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, data, grad, state, group, backend):
        kernels = _kernels(backend, data, grad)
        if kernels is not None:
            return kernels.sgd(data, grad, state, group["lr"], group["momentum"], group["dampening"],
                               group["weight_decay"], group["nesterov"])
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * data
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            # the first buffer is a copy: backward accumulates into p.grad in place, which must not reach it
            buf = backend.xp.asarray(grad, copy=True) if buf is None \
                else momentum * buf + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        return data - group["lr"] * grad


class Adam(Optimizer):
    """Kingma & Ba (2015), bias-corrected, with L2 ``weight_decay`` added to the gradient as ``torch.optim.Adam``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        number(lr, "lr", "Adam", low=0.0), number(eps, "eps", "Adam", low=0.0)
        number(weight_decay, "weight_decay", "Adam", low=0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ArgumentTypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        for k, beta in enumerate(betas):
            number(beta, f"betas[{k}]", "Adam", 0.0, 1.0, open_high=True)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, data, grad, state, group, backend):
        xp = backend.xp
        beta1, beta2 = group["betas"]
        step = state.get("step", 0) + 1
        kernels = _kernels(backend, data, grad)
        if kernels is not None:
            state["step"] = step
            return kernels.adam(data, grad, state, beta1, beta2, group["lr"] / (1 - beta1 ** step),
                                math.sqrt(1 - beta2 ** step), group["eps"], group["weight_decay"])
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * data
        m = state.get("exp_avg")
        v = state.get("exp_avg_sq")
        # both moments are new arrays (products), never p.grad itself, which backward may grow in place
        m = (1 - beta1) * grad if m is None else beta1 * m + (1 - beta1) * grad
        v = (1 - beta2) * grad * grad if v is None else beta2 * v + (1 - beta2) * grad * grad
        state.update(step=step, exp_avg=m, exp_avg_sq=v)
        step_size = group["lr"] / (1 - beta1 ** step)
        denominator = xp.sqrt(v) / math.sqrt(1 - beta2 ** step) + group["eps"]
        return data - step_size * m / denominator


def _kernels(backend, data, grad):
    """The backend's update kernels (CuPy) or, on NumPy, the compiled CPU loops, where they serve this parameter;
    else None for the array code."""
    kernels = backend.kernels
    if kernels is None:
        kernels = compiled_loops(backend.xp)
    if kernels is not None and kernels.handles(data) and grad.dtype == data.dtype:
        return kernels
    return None


def _backend_of(array):
    """The backend whose array library made ``array``, or None (a value of no backend this machine can run)."""
    for device in _backend.DEVICES:
        try:
            backend = _backend.get_backend(device)
        except DeviceError:  # its library or hardware is missing here, so the array is not its
            continue
        if backend.owns(array):
            return backend
    return None


def _owner(array, p: Tensor):
    """The backend of a state array: ``p``'s (the usual case, answered first) or the one it was made on."""
    backend = p.backend
    if type(array) is type(p.data) or backend.is_array(array):
        return backend
    return _backend_of(array) or backend


def _follow_parameter(state: dict, p: Tensor) -> None:
    """Move and cast ``state``'s arrays to ``p``'s backend and dtype where they differ (``Module.to`` moved ``p``
    after earlier steps), so that an update never changes ``p``'s dtype or device, as in PyTorch."""
    backend, data = p.backend, p.data
    for key, value in state.items():
        if not hasattr(value, "shape"):
            continue
        source = _owner(value, p)
        if source is not backend:
            state[key] = backend.asarray(source.to_numpy(value), p.dtype)
        elif value.dtype != data.dtype:
            state[key] = backend.xp.astype(value, data.dtype)


def _plain(value, where: str):
    """``value`` as plain Python (bool, int, float, str, None, list, dict) for a checkpoint's JSON part."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, where) for k, v in value.items()}
    if getattr(value, "shape", None) == () and hasattr(value, "dtype"):  # a 0-d array or a NumPy bool
        kind = str(value.dtype)
        return bool(value) if "bool" in kind else float(value) if "float" in kind else int(value)
    raise ArgumentTypeError(f"Optimizer.state_dict: {where} holds a {type(value).__name__}, which a checkpoint cannot "
                            "store; use numbers, strings, bools, lists or dicts")


def _with_grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def grad_norm(parameters, norm_type: float = 2.0) -> Tensor:
    """The global norm of all the gradients as a 0-d tensor on their device (no host sync); nothing is changed.

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([3.0, 4.0], requires_grad=True); w.grad = w.data.copy()
    >>> grad_norm([w]).item()
    5.0
    """
    number(norm_type, "norm_type", "grad_norm", low=0.0, open_low=True)
    params = _with_grads(parameters)
    if not params:
        return Tensor(0.0)
    backend = params[0].backend
    xp, grads = backend.xp, [p.grad for p in params]
    kernels = backend.kernels
    if norm_type == 2 and kernels is not None and all(kernels.handles(g) for g in grads):
        # one launch per gradient into one float64 total; the norm takes the gradients' dtype, as below
        dtype = xp.float64 if any(g.dtype == xp.float64 for g in grads) else xp.float32
        total = xp.astype(xp.sqrt(kernels.sum_squares(grads)), dtype)
    elif norm_type == math.inf:
        total = xp.max(xp.abs(params[0].grad))
        for p in params[1:]:
            total = xp.maximum(total, xp.max(xp.abs(p.grad)))
    else:
        flats = [_summable(backend, g) for g in grads]
        if norm_type == 2:  # one dot product per gradient where the namespace has vecdot (see _summable)
            dot = getattr(xp, "vecdot", None)
            total = xp.sqrt(sum(dot(f, f) if dot is not None else xp.sum(f * f) for f in flats))
        else:
            total = sum(xp.sum(xp.abs(f) ** norm_type) for f in flats) ** (1.0 / norm_type)
    return wrap(total, params[0].backend)


def _summable(backend, grad):
    """``grad`` flattened, float16 widened to float32: powers of float16 elements summed in float16 overflow once
    the norm passes ~256. Flat, a 2-norm is one dot product of the array with itself (NumPy's vecdot is BLAS's: 37
    µs for 0.6 M float32 elements against 346 for abs, power and sum; G2P's 2 M parameters ~1.3 ms an update less)."""
    flat = backend.xp.reshape(grad, (-1,))
    return backend.xp.astype(flat, backend.xp.float32) if backend.dtype_name(flat) == "float16" else flat


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale all gradients together so their global norm is at most ``max_norm``; return the norm *before*
    clipping as a 0-d tensor (it stays on the device until you ask for ``.item()``). Each ``.grad`` is scaled in
    place, as in PyTorch: one you assign yourself must be writable and not shared with another tensor.

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([3.0, 4.0], requires_grad=True); w.grad = w.data.copy()
    >>> clip_grad_norm_([w], 1.0).item(), [round(g, 3) for g in w.grad.tolist()]
    (5.0, [0.6, 0.8])
    """
    number(max_norm, "max_norm", "clip_grad_norm_", low=0.0)
    number(norm_type, "norm_type", "clip_grad_norm_", low=0.0, open_low=True)
    params = _with_grads(parameters)
    total = grad_norm(params, norm_type)
    if not params or max_norm == math.inf:
        return total
    xp = params[0].backend.xp
    coefficient = xp.minimum(max_norm / (total.data + 1e-6), 1.0)
    for p in params:
        grad = p.grad
        # the total of mixed float32/float64 gradients is float64; each gradient keeps its own dtype, as in PyTorch
        scale = coefficient if coefficient.dtype == grad.dtype else xp.astype(coefficient, grad.dtype)
        # in place, as PyTorch's (the backward pass copies a leaf's first gradient, so the leaf owns it); the
        # assignment still scales a gradient a user set to a NumPy scalar, which *= cannot change in place
        p.grad *= scale
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value]."""
    number(clip_value, "clip_value", "clip_grad_value_", low=0.0)
    for p in _with_grads(parameters):
        xp = p.backend.xp
        p.grad = xp.asarray(xp.clip(p.grad, -clip_value, clip_value))  # NumPy clips a 0-d array into a scalar
