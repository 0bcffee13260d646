"""Module and Parameter: a tree of named parameters, PyTorch's names and semantics.

Calling a module opens a graph scope named after its attribute (the root after its class), so every
node its forward makes is stamped ``encoder/lstm/...`` and can be found again in a traced graph.

>>> import tinygrad_rnn as tr
>>> class Net(tr.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = tr.nn.Linear(3, 2)
...     def forward(self, x):
...         return self.fc(x)
>>> [name for name, _ in Net().named_parameters()]
['fc.weight', 'fc.bias']
"""
from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from .. import backend as _backend
from ..engine import Tensor, no_grad, scope, to_in_place, zero_grads
from ..errors import ArgumentTypeError, DTypeError, StateDictError


class Parameter(Tensor):
    """A leaf tensor that a Module registers as trainable (``requires_grad=True`` by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, dtype: str | None = None, device=None):
        if isinstance(data, Tensor):
            device = device or data.device
            data = data.backend.to_numpy(data.data)
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device or "cpu")

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer. Subclasses call ``super().__init__()`` and assign parameters and sub-modules
    as attributes; ``forward`` does the work and ``module(x)`` calls it inside the module's scope."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_scope_path", (type(self).__name__,))

    # -- registration ---------------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before assigning "
                                 f"attributes (while setting {name!r})")
        keep = self._parameters if isinstance(value, Parameter) else self._modules if isinstance(value, Module) \
            else None
        for registry in (self._parameters, self._buffers, self._modules):
            if registry is not keep:  # re-assigning keeps its slot, so the order stays PyTorch's
                registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
            if value.name is None:  # a fresh parameter; one already named elsewhere (tied weights) keeps its name
                value.name = name
        elif isinstance(value, Module):
            self._modules[name] = value
            value._set_scope_path(self._child_scope_prefix() + (name,))
            # prefix the names of the parameters first reached through this child (the order named_parameters()
            # lists them in), so a parameter shared with an earlier attribute keeps the name it is listed under
            for dotted, parameter in self.named_parameters():
                if dotted.startswith(name + "."):
                    parameter.name = dotted
        object.__setattr__(self, name, value)

    def _child_scope_prefix(self) -> tuple:
        """Scope levels a child's own name is appended to when it is called (none: this module opens its own)."""
        return ()

    def _set_scope_path(self, path: tuple) -> None:
        object.__setattr__(self, "_scope_path", path)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Keep a tensor that is state but not trained (saved in ``state_dict``, moved by ``to``)."""
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        if parameter is None:
            object.__setattr__(self, name, None)
            self._parameters.pop(name, None)
        else:
            setattr(self, name, parameter)

    # -- traversal ------------------------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """``(dotted name, Module)`` for this module and every sub-module, depth first in assignment order
        (PyTorch's order: ``""``, ``"body"``, ``"body.0"``, ``"head"``, ...): each once, under the first name it is
        reached by, unless ``remove_duplicate=False``, which lists a shared sub-module under every name."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))  # iterative, so a deep stack of layers cannot hit the recursion limit

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, registry: str, remove_duplicate: bool = True):
        seen = set()
        # PyTorch lists a module's own members before its children's, depth first
        for prefix, module in self.named_modules(remove_duplicate=remove_duplicate):
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, remove_duplicate: bool = True):
        """``(dotted name, Parameter)`` pairs in PyTorch's order, each parameter once (under the first name it is
        reached by) unless ``remove_duplicate=False``, which lists a shared or tied parameter under every name."""
        return self._named_members("_parameters", remove_duplicate)

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self, remove_duplicate: bool = True):
        return self._named_members("_buffers", remove_duplicate)

    def buffers(self):
        return (b for _, b in self.named_buffers())

    # -- running ----------------------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        with scope(*self._scope_path):
            return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> "Module":
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, target) -> "Module":
        """Move every parameter and buffer, in place, to a device (``"cuda"``) or dtype (``"float64"``).

        As in PyTorch: a dtype applies to floating tensors only (an integer or bool buffer keeps its dtype), and a
        gradient is moved or cast along with its tensor (kept as it is where the tensor does not change).
        """
        if target in _backend.DTYPES and target not in _backend.FLOAT_DTYPES:
            raise DTypeError(f"Module.to: only floating dtypes are accepted, got {target!r} ({_backend.FLOAT_DTYPES})")
        with no_grad():
            for tensor in list(self.parameters()) + [b for b in self.buffers() if b is not None]:
                if target in _backend.DTYPES and tensor.dtype not in _backend.FLOAT_DTYPES:
                    continue
                to_in_place(tensor, target)
        return self

    def double(self) -> "Module":
        return self.to("float64")

    def float(self) -> "Module":
        return self.to("float32")

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every sub-module (children first) and on this one, like ``torch.nn.Module.apply``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- saving -----------------------------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Every parameter and buffer by dotted name, as detached tensors sharing the data. A shared or tied
        parameter appears under each of its names, as in PyTorch, so state dicts load across the two."""
        state = OrderedDict((n, p.detach()) for n, p in self.named_parameters(remove_duplicate=False))
        state.update((n, b.detach()) for n, b in self.named_buffers(remove_duplicate=False))
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> "IncompatibleKeys":
        """Copy values (tensors, NumPy or CuPy arrays, PyTorch tensors, or what :func:`tinygrad_rnn.load` read from
        a ``.npz`` or ``.safetensors``) into the parameters and buffers by name, cast to each one's dtype.

        Returns ``IncompatibleKeys(missing_keys, unexpected_keys)`` as PyTorch does. Everything is checked before
        anything is copied: with ``strict`` a missing or unexpected key, and always a shape mismatch, raise one
        :class:`~tinygrad_rnn.errors.StateDictError` listing them all, and the module is left as it was.

        >>> import tinygrad_rnn as tr
        >>> tr.nn.Linear(2, 3).load_state_dict({"weight": tr.zeros(3, 2)}, strict=False)
        IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
        """
        if isinstance(state_dict, str) or not hasattr(state_dict, "keys"):
            hint = " (a path: load the file first, model.load_state_dict(tr.load(path)))" \
                if isinstance(state_dict, str) else ""
            raise ArgumentTypeError(f"load_state_dict for {type(self).__name__}: state_dict must be a mapping of "
                                    f"names to arrays (what state_dict() returns), got "
                                    f"{type(state_dict).__name__}{hint}")
        own = OrderedDict(self.named_parameters(remove_duplicate=False))
        own.update(self.named_buffers(remove_duplicate=False))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values = {name: _to_host(state_dict[name]) for name in own if name in state_dict}
        wrong = [f"{name}: {tuple(value.shape)} in the state dict, {own[name].shape} in the model"
                 for name, value in values.items() if tuple(value.shape) != own[name].shape]
        problems = [f"{what} {keys}" for what, keys in (("missing keys", missing), ("unexpected keys", unexpected))
                    if strict and keys]
        if wrong:
            problems.append("shape mismatch for " + "; ".join(wrong))
        if problems:
            raise StateDictError(f"load_state_dict for {type(self).__name__}: {', '.join(problems)} (nothing was "
                                 "loaded)")
        for name, value in values.items():
            target = own[name]
            target.data = target.backend.asarray(value, target.dtype)
        return IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` found missing in, and left unused from, the state dict (PyTorch's named tuple)."""

    missing_keys: list
    unexpected_keys: list


def _to_host(value):
    """NumPy view of an array-like from anywhere (our tensors, NumPy, CuPy, PyTorch, lists)."""
    if isinstance(value, Tensor):
        return value.numpy()
    if hasattr(value, "detach"):  # a PyTorch tensor; NumPy has no bfloat16, whose every value is a float32
        value = value.detach().cpu()
        value = (value.float() if str(value.dtype) == "torch.bfloat16" else value).numpy()
    if hasattr(value, "get") and not hasattr(value, "keys"):  # a CuPy array
        value = value.get()
    return _backend.get_backend("cpu").to_numpy(value)


class Sequential(Module):
    """Modules applied one after another; children are named ``0``, ``1``, ...

    >>> import tinygrad_rnn as tr
    >>> net = tr.nn.Sequential(tr.nn.Linear(2, 3), tr.nn.Tanh())
    >>> net(tr.tensor([[1.0, 2.0]])).shape
    (1, 3)
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            setattr(self, str(i), module)

    def __getitem__(self, index: int) -> Module:
        return list(self.children())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x


class ModuleList(Module):
    """A list of modules registered as children ``0``, ``1``, ... (for stacked layers).

    A list is never called itself, so its children open its scope level for it: the nodes of ``self.layers[1]``
    are stamped ``Net/layers/1``, matching the parameter names ``layers.1.*``.
    """

    def __init__(self, modules=()):
        super().__init__()
        object.__setattr__(self, "_attached_path", ())
        for module in modules:
            self.append(module)

    def _child_scope_prefix(self) -> tuple:
        return self._attached_path

    def _set_scope_path(self, path: tuple) -> None:
        super()._set_scope_path(path)
        object.__setattr__(self, "_attached_path", path)
        for name, child in self.named_children():
            child._set_scope_path(path + (name,))

    def append(self, module: Module) -> "ModuleList":
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self.children())[index]

    def __iter__(self):
        return iter(list(self.children()))

    def __len__(self) -> int:
        return len(self._modules)
