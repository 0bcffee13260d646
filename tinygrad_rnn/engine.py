"""Tensor, Function (an op node of the tape) and the state that stamps every node as it is made.

A ``Function`` subclass is one op: ``forward`` takes arrays and returns an array (or a tuple of arrays when
``multi_output``), ``backward`` takes the output gradient(s) and returns one gradient per input (or ``None``
for an input that needs none). ``Function.apply`` runs the forward and, when any input requires a gradient,
records the node: its input tensors, a creation counter (``seq``, already a topological order), the scope
path and the time step current at that moment. Broadcasting is undone in one place, the backward pass,
so no op reduces its own gradients back to its inputs' shapes.

The public surface the rest of the library, ``viz`` and users build on: ``Tensor`` with its read-only slots
``backend``, ``grad_fn`` and ``output_index``; :func:`wrap` (a leaf around an array of a backend, no copy),
:func:`to_in_place` (a device move or cast of the tensor itself, for ``Module.to``), :func:`zero_grads` (what the
modules' and optimisers' ``zero_grad`` do), :func:`device_error` (the error for inputs on several devices),
:func:`retain_grads`, :func:`keep_grad_shares` and :func:`grad_shares_of` (what a backward keeps for drawing and
analysis), and the tags (``scope``, ``step``, ``location``). Only ``autograd`` and the ops' own machinery use what is
private here: ``_wrap`` (the constructor that sets ``grad_fn`` and ``output_index``: ops/elementwise, ops/index,
ops/random), ``_grad_enabled`` and the in-place write fields
``_bounds``, ``_history``, ``_detached_from`` (ops/index's ``__setitem__``), ``_write_log``, ``_anomaly``,
``_check_finite``, ``_hooks``, ``_retains_grad`` and ``_grad_shares`` (autograd).

>>> import tinygrad_rnn as tr
>>> x = tr.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.tolist()
[2.0, 4.0]
"""
from __future__ import annotations

import itertools
import math
import numbers
import weakref

import numpy as _np

from . import backend as _backend
from .errors import (ArgumentError, ArgumentTypeError, DeviceError, DTypeError, GraphError, IndexRangeError,
                     ShapeError, TinygradRNNError)

# ---------------------------------------------------------------------------------------------------------------
# Graph-building state: read once per op, so it lives in plain module globals rather than context objects.
_grad_enabled = True
_scope: tuple = ()
_step = None
_anomaly = False
_time_axis = None  # the axis of every step, for ops a recurrent layer applies to all steps at once (time_axis)
_counter = itertools.count()
# Arrays written in place (``t[key] = value``): id -> (counter stamp of the last write, weak reference). Empty until
# the first write, so a backward pass checks the saved buffers and routes around writes only once writes happened.
_write_log: dict = {}


class no_grad:
    """Context manager (and decorator) under which ops record no graph.

    >>> import tinygrad_rnn as tr
    >>> with tr.no_grad():
    ...     y = tr.tensor([1.0], requires_grad=True) * 2
    >>> y.requires_grad
    False
    """

    _enabled = False

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, self._enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)

        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


class enable_grad(no_grad):
    """Context manager that turns graph recording back on inside a ``no_grad`` block."""

    _enabled = True


def is_grad_enabled() -> bool:
    return _grad_enabled


class scope:
    """Stamp every node made inside with more levels of scope path: ``scope("encoder")``, or several at once,
    ``scope("encoder", "lstm")`` (what a module nested in a list opens on every call).

    >>> import tinygrad_rnn as tr
    >>> with tr.scope("encoder", "lstm"):
    ...     y = (tr.tensor([1.0], requires_grad=True) * 2)
    >>> y.scope, tr.current_scope()
    ('encoder/lstm', '')
    """

    __slots__ = ("names", "_previous")

    def __init__(self, *names: str):
        for name in names:
            if not name or "/" in str(name):
                raise ArgumentError(f"scope: name {name!r} must be non-empty and contain no '/'")
        self.names = tuple(str(name) for name in names)

    def __enter__(self):
        global _scope
        self._previous = _scope
        _scope = _scope + self.names
        return self

    def __exit__(self, *exc):
        global _scope
        _scope = self._previous


_stamps: dict = {}  # (t, offset, scope path) -> its Step


class Step(int):
    """The time step stamped on the nodes made inside ``tr.step(t)``: the int ``t``, counted on its own recurrence's
    time axis (a decoder's first step is 0), that also knows where it lies on the graph's one timeline
    (``time = offset + t``: a decoder's steps come after its encoder's) and the scope path it was opened in (what
    a drawing keeps in one column). One is made per step, not per op."""

    def __new__(cls, t: int, offset: int = 0, scope: tuple = ()):
        self = super().__new__(cls, t)
        self.offset, self.scope = offset, scope
        return self

    @property
    def time(self) -> int:
        return self.offset + int(self)


def _integer(value, what: str) -> int:
    if value.__class__ is not int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ArgumentTypeError(f"step: {what} must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


class step:
    """Stamp every node made inside with the time step ``t`` of an unrolled recurrence.

    Each recurrence counts its own steps from 0; ``offset`` places them on the graph's one timeline, after
    another recurrence's (a seq2seq decoder opens ``tr.step(t, offset=S)`` after an encoder of S steps): nodes
    keep ``step == t``, and drawings put them in column ``offset + t``.

    >>> import tinygrad_rnn as tr
    >>> h = tr.tensor([0.0], requires_grad=True)
    >>> with tr.step(3):
    ...     h = (h + 1).tanh()
    >>> h.step
    3
    >>> with tr.step(0, offset=4):
    ...     h = (h + 1).tanh()
    >>> h.step, h.step.time
    (0, 4)
    """

    __slots__ = ("t", "offset", "_previous")

    def __init__(self, t: int, offset: int = 0):
        if t.__class__ is int and offset.__class__ is int:  # the common case, once per step of every layer
            self.t, self.offset = t, offset
        else:
            self.t, self.offset = _integer(t, "the time step"), _integer(offset, "offset")

    def __enter__(self):
        global _step
        key = (self.t, self.offset, _scope)
        stamp = _stamps.get(key)
        if stamp is None:  # one Step per step, offset and scope, made once: the next sequence reuses it
            stamp = _stamps[key] = Step(*key)
        self._previous, _step = _step, stamp
        return self

    def __exit__(self, *exc):
        global _step
        _step = self._previous


def current_scope() -> str:
    return "/".join(_scope)


def current_step():
    return _step


class detect_anomaly:
    """Stop at the first op whose forward or backward produces NaN or Inf, naming the op, scope and step.

    Every op then checks its outputs on the host, so this is for debugging, not for training runs.

    >>> import tinygrad_rnn as tr
    >>> with tr.detect_anomaly():
    ...     ok = tr.tensor([1.0]).log()
    """

    def __enter__(self):
        global _anomaly
        self._previous, _anomaly = _anomaly, True

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self._previous


class time_axis:
    """Ops made inside cover every time step at once, on axis ``axis`` of their outputs (a recurrent layer's input
    projection): anomaly mode then names the first step, and batch row, whose slice holds NaN or Inf. Nothing else
    reads it, so outside anomaly mode it costs one assignment per layer.

    >>> import tinygrad_rnn as tr
    >>> x = tr.tensor([[1.0], [float("nan")]])  # (steps, batch): step 1 is NaN
    >>> with tr.detect_anomaly(), tr.scope("RNN"), time_axis(0):
    ...     try:
    ...         _ = x * 2
    ...     except tr.AnomalyError as e:
    ...         print(str(e).split(" produced")[0])
    detect_anomaly: mul in scope 'RNN' at step 1 (batch row 0)
    """

    def __init__(self, axis: int):
        self.axis = axis

    def __enter__(self):
        global _time_axis
        self._previous, _time_axis = _time_axis, self.axis

    def __exit__(self, *exc):
        global _time_axis
        _time_axis = self._previous


def where_text(scope_path: tuple, step_index) -> str:
    """`` in scope 'a/b' at step 3`` (or less, or nothing) for error messages."""
    text = f" in scope '{'/'.join(scope_path)}'" if scope_path else ""
    return text + (f" at step {step_index}" if step_index is not None else "")


def location() -> str:
    """Where graph building stands now, for error messages raised before an op runs."""
    return where_text(_scope, _step)


def shape_of(value) -> tuple:
    return tuple(getattr(value, "shape", ()))


# ---------------------------------------------------------------------------------------------------------------
class Function:
    """One op of the tape. Structure lives in slots; whatever ``forward`` saves for ``backward`` lives in the
    instance ``__dict__`` and is dropped by ``release()`` after the backward pass, leaving the graph's shape
    readable (for ``tinygrad_rnn.graph``) but its buffers freed."""

    # parents, seq, scope, step and xp are set on every recorded node; outputs (weak references) only on
    # multi-output nodes, whose unused outputs no consumer would otherwise lead a trace to
    __slots__ = ("parents", "outputs", "seq", "scope", "step", "xp", "__dict__", "__weakref__")
    multi_output = False
    label: str | None = None
    hooked = None  # {output index: weak reference to the tensor} once a hook or retain_grad watches an output
    pending = None  # the gradient(s) gathered for this node's outputs during a backward pass

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def op_label(cls) -> str:
        return cls.label or cls.__name__.lower()

    def release(self) -> None:
        self.__dict__.clear()
        self.xp = None  # how run_backward tells a released node

    def gradient_slot(self, index: int):
        """An empty array where the consumer of output ``index`` may write that output's gradient, for this
        node's backward to find in place, or None (the default: the consumer allocates). See ``gradient_slot``."""
        return None

    @classmethod
    def apply(cls, *inputs: "Tensor", **params):
        fn = cls()  # no Function defines __init__: a call of the class is the cheapest way to make one
        first = inputs[0]
        backend = first.backend
        fn.xp = backend.xp
        try:  # the common calls spelled out: a loop, a list comprehension and **{} cost time on every op
            if len(inputs) == 2 and not params:
                second = inputs[1]
                if second.backend is not backend:
                    raise device_error(cls.op_label(), inputs)
                requires_grad = (first.requires_grad or second.requires_grad) and _grad_enabled
                out = fn.forward(first.data, second.data)
            elif len(inputs) == 1 and not params:
                requires_grad = first.requires_grad and _grad_enabled
                out = fn.forward(first.data)
            else:
                if any(t.backend is not backend for t in inputs):
                    raise device_error(cls.op_label(), inputs)
                requires_grad = _grad_enabled and any(t.requires_grad for t in inputs)
                out = fn.forward(*[t.data for t in inputs], **params)
        except TinygradRNNError:
            raise
        except Exception as exc:
            raise op_error(cls.op_label(), inputs, params, exc) from exc
        if _anomaly:
            _check_finite(cls.op_label(), "forward", out if cls.multi_output else (out,), backend, _scope, _step,
                          _time_axis)
        if requires_grad:
            fn.parents = inputs
            fn.seq = next(_counter)
            fn.scope = _scope
            fn.step = _step
        else:
            fn = None
        if cls.multi_output:
            outputs = tuple(_wrap(o, requires_grad, backend, fn, i) for i, o in enumerate(out))
            if fn is not None:
                fn.outputs = tuple(weakref.ref(o) for o in outputs)
            return outputs
        # _wrap inlined: this line runs once per op
        t = _new_tensor(Tensor)
        t.data = out
        t.grad = None
        t.requires_grad = requires_grad
        t.grad_fn = fn
        t.output_index = 0
        t.name = None
        t.backend = backend
        return t


def gradient_slot(t: "Tensor"):
    """Where a backward may write the gradient it returns for its input ``t``: an empty array of ``t``'s shape
    that the op that made ``t`` takes without a copy (``Unbind`` hands out the rows of one buffer, so the steps'
    gradients are stacked by being written), or None. A backward that gets one and returns its gradient
    elsewhere costs nothing but the lost copy.

    >>> import tinygrad_rnn as tr
    >>> steps = tr.ops.unbind(tr.zeros(3, 2, requires_grad=True), 0)
    >>> gradient_slot(steps[1]).shape, gradient_slot(steps[1])   # handed out once
    ((2,), None)
    """
    fn = t.grad_fn
    return None if fn is None else fn.gradient_slot(t.output_index)


def device_error(label: str, inputs) -> DeviceError:
    """The error for an op whose input tensors live on more than one device, naming each input's device and shape."""
    where = ", ".join(f"{t.device} with shape {t.shape}" for t in inputs)
    return DeviceError(f"{label}: inputs live on different devices ({where}){where_text(_scope, _step)}; move one "
                       "with .to(device)")


def op_error(label: str, inputs, params, exc: Exception) -> TinygradRNNError:
    """Turn an array library's complaint into our error naming the op, the shapes, scope and step."""
    shapes = " and ".join(str(shape_of(t.data)) for t in inputs)
    extra = "".join(f", {k}={v!r}" for k, v in params.items() if not hasattr(v, "shape"))
    kind = DTypeError if isinstance(exc, TypeError) else IndexRangeError if isinstance(exc, IndexError) else ShapeError
    return kind(f"{label}: cannot apply to shape{'s' if len(inputs) > 1 else ''} {shapes}{extra}"
                f"{where_text(_scope, _step)} ({exc})")


def _check_finite(label: str, phase: str, arrays, backend, scope_path, step_index, axis=None) -> None:
    from .errors import AnomalyError

    for k, a in enumerate(arrays):
        if a is not None and hasattr(a, "shape") and not backend.all_finite(a):
            which = f" output {k}" if len(arrays) > 1 else ""
            where, note = where_text(scope_path, step_index), ""
            if step_index is None and axis is not None and len(shape_of(a)) > axis:
                # an op over every step at once: its time axis tells the first step holding NaN or Inf
                bad = _np.moveaxis(~_np.isfinite(backend.to_numpy(a)), axis, 0)
                first = _np.argwhere(bad)[0]
                row = f" (batch row {int(first[1])})" if len(first) > 1 else ""
                where = where_text(scope_path, int(first[0])) + row
                note = f"; this op covers every step at once (on axis {axis}), step {int(first[0])} is the first " \
                       "whose slice holds NaN or Inf"
            raise AnomalyError(f"detect_anomaly: {label}{where} produced NaN or Inf in its {phase}{which} (shape "
                               f"{shape_of(a)}{note})")


# ---------------------------------------------------------------------------------------------------------------
class Tensor:
    """An array with an optional gradient and a link to the op that made it.

    Use ``tr.tensor(...)`` to make one. ``data`` and ``grad`` are arrays of the tensor's backend (NumPy, CuPy or
    array_api_strict). Scope, step and op are read from the node that made it. ``backend`` (its array namespace
    ``backend.xp``, dtypes, random numbers, host copies), ``grad_fn`` (the :class:`Function` node that made it, None
    for a leaf) and ``output_index`` (which output of that node it is) are plain slots, read-only by contract: code
    outside the engine reads them and never assigns them (``to_in_place`` moves a tensor in place). A slot is read
    in a fifth of a property's time, on paths run per op and per step. Its operators and PyTorch-named methods
    (``+``, ``@``, ``.tanh()``, ``.sum()``, ``.to()`` ...) are the ops', installed by
    ``tinygrad_rnn.ops.tensor_methods``.

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([[1.0, 2.0]], requires_grad=True)
    >>> y = (w @ tr.tensor([[3.0], [4.0]])).sum()
    >>> y.item()
    11.0
    """

    # _bounds (unset unless known): the host Bounds of an integer tensor on a device whose reads cost a sync
    # _grad_shares (unset unless marked by Graph.retain_grads): step -> ‖that step's share of a leaf's gradient‖
    # _version and _history (unset until a write): the number of in-place writes, and for each write its counter
    # stamp and the tensor as it was before (what ops made earlier still lead to)
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "output_index", "name", "backend", "_hooks",
                 "_retains_grad", "_detached_from", "_bounds", "_grad_shares", "_version", "_history", "__weakref__")
    __array_priority__ = 1000  # so that ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad: bool = False, dtype: str | None = None, device="cpu",
                 name: str | None = None):
        backend = _backend.get_backend(device)
        self.data, bounds = backend.asarray_known(data, dtype)
        if bounds is not None:  # integers from the host on a device: index checks need not read them back
            self._bounds = bounds
        self.backend = backend
        self.grad_fn = None
        self.output_index = 0
        self.grad = None
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # -- basic properties -----------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return len(self.data.shape)

    @property
    def dtype(self) -> str:
        return self.backend.dtype_name(self.data)

    @property
    def device(self) -> "device":
        name = self.backend.name
        found = _devices.get(name)
        if found is None:
            found = _devices[name] = device(name)
        return found

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def scope(self) -> str:
        return "/".join(self.grad_fn.scope) if self.grad_fn is not None else ""

    @property
    def step(self):
        return self.grad_fn.step if self.grad_fn is not None else None

    def dim(self) -> int:
        return len(self.data.shape)

    def numel(self) -> int:
        return math.prod(self.data.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise ArgumentTypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        label = f", grad_fn={self.grad_fn.op_label()}" if self.grad_fn is not None else ""
        name = f", name={self.name!r}" if self.name else ""
        return f"tensor({self.numpy()!r}{extra}{label}{name}, device={self.device!r})"

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ArgumentError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    # by identity, in C: == is elementwise (installed with the ops), and every leaf's gradient is gathered in a dict
    # keyed by its tensor, where a Python __hash__ cost a call per weight per step
    __hash__ = object.__hash__

    def __float__(self) -> float:
        return float(self._one("float"))

    def __int__(self) -> int:
        return int(self._one("int"))

    def __index__(self) -> int:
        if self.dtype in _backend.FLOAT_DTYPES:  # every other dtype holds integers (bool too, as in PyTorch)
            raise ArgumentTypeError(f"only integer tensors of a single element can be used as an index, this one is "
                                    f"{self.dtype} (shape {self.shape})")
        return int(self._one("index"))

    def _one(self, what: str):
        if self.numel() != 1:
            raise ArgumentError(f"{what}(): tensor of shape {self.shape} has {self.numel()} elements, not one")
        return self.backend.item(self.data)

    __array_ufunc__ = None  # NumPy defers to Tensor's operators (array * t) instead of converting t

    def __array__(self, dtype=None, copy=None):
        """The data on the host, so ``np.asarray(t)`` and matplotlib take a tensor (outside the graph)."""
        host = self.backend.to_numpy(self.data)
        return host if dtype is None else host.astype(dtype)

    # -- host access and copies -----------------------------------------------------------------------------------
    def numpy(self):
        """The data as a NumPy array on the host, outside the graph: a copy for GPU and strict tensors, the array
        itself for CPU tensors (as ``torch.Tensor.numpy`` shares memory)."""
        return self.backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.numel() != 1:
            raise ArgumentError(f"item: tensor of shape {self.shape} has {self.numel()} elements, not one")
        return self.backend.item(self.data)

    def detach(self) -> "Tensor":
        """The same data as a new leaf that requires no gradient: where truncated BPTT cuts the graph."""
        t = pass_bounds(_wrap(self.data, False, self.backend, None, 0, self.name), self)
        if self.grad_fn is not None:
            # weak links back, so a drawing can show where the graph was cut: to this tensor and, for when it is
            # gone (a layer's stacked final state nobody keeps), to the tensors it was made from
            t._detached_from = (weakref.ref(self),) + tuple(weakref.ref(p) for p in self.grad_fn.parents)
        return t

    def detached_origin(self) -> "Tensor | None":
        """The tensor this one was ``detach()``-ed from, or, when that is gone, the first still alive of those it
        was made from; None for a tensor that was never detached or whose origins are all gone."""
        for ref in getattr(self, "_detached_from", None) or ():  # unset on the hot path: only detach() sets it
            origin = ref()
            if origin is not None:
                return origin
        return None

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype not in _backend.FLOAT_DTYPES:
            raise DTypeError(f"requires_grad: only floating tensors can require gradients, this one is {self.dtype} "
                             f"(shape {self.shape})")
        if self.grad_fn is not None and not requires_grad:
            raise GraphError("requires_grad_(False) on a non-leaf tensor: use .detach() instead")
        self.requires_grad = bool(requires_grad)
        return self

    # -- autodiff --------------------------------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (and retained non-leaves'), walking the graph
        newest node first. ``grad`` is required unless the tensor holds one element."""
        from .autograd import run_backward

        run_backward(self, grad, retain_graph)

    def register_hook(self, hook) -> "HookHandle":
        """Call ``hook(grad)`` with this tensor's gradient (an array) as it flows; a non-None return replaces it.
        Returns a handle whose ``remove()`` takes the hook off again, as in PyTorch."""
        if not callable(hook):
            raise ArgumentTypeError(f"register_hook: hook must be callable (grad -> grad or None), got "
                                    f"{type(hook).__name__}")
        if not self.requires_grad:
            raise GraphError("register_hook: this tensor does not require grad, so no gradient will reach it")
        self._watch()
        self._hooks.append(hook)
        return HookHandle(self._hooks, hook)

    def retain_grad(self) -> "Tensor":
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (how ‖∂L/∂h_t‖ is measured)."""
        if not self.requires_grad:
            raise GraphError("retain_grad: this tensor does not require grad")
        if self.grad_fn is not None:
            self._watch()
            self._retains_grad = True
        return self

    @property
    def retains_grad(self) -> bool:
        return getattr(self, "_retains_grad", False)

    def _watch(self) -> None:
        if getattr(self, "_hooks", None) is None:
            self._hooks = []
        if self.grad_fn is not None:
            if self.grad_fn.hooked is None:
                self.grad_fn.hooked = {}
            self.grad_fn.hooked[self.output_index] = weakref.ref(self)

    def named(self, name: str) -> "Tensor":
        """Set ``name`` (shown in graphs, found by ``Graph.find``) and return ``self``."""
        self.name = name
        return self

class HookHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints with ``numel()``.

    >>> import tinygrad_rnn as tr
    >>> tr.zeros(2, 3).size(), tr.zeros(2, 3).size(-1)
    (tr.Size([2, 3]), 3)
    """

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self) -> str:
        return f"tr.Size({list(self)})"


class device(str):
    """A device name that also answers ``.type`` and ``.index``, as ``torch.device``: ``tr.device("cuda")``,
    ``x.device.type``. It is the string itself, so ``x.device == "cpu"`` holds.

    >>> import tinygrad_rnn as tr
    >>> tr.device("cuda:0").type, tr.tensor([1.0]).device == "cpu"
    ('cuda', True)
    """

    def __new__(cls, type: str, index: int | None = None):  # noqa: A002  (PyTorch's name)
        name = str(type) if index is None else f"{type}:{index}"
        _backend.canonical_device(name)
        return super().__new__(cls, name)

    @property
    def type(self) -> str:
        return self.split(":")[0]

    @property
    def index(self):
        return int(self.split(":")[1]) if ":" in self else None


_devices: dict = {}  # backend name -> its device object


def _wrap(data, requires_grad: bool, backend, fn, idx: int, name=None) -> Tensor:
    """Make a Tensor around an existing array without copying: the fast path every op takes."""
    t = _new_tensor(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t.grad_fn = fn
    t.output_index = idx
    t.name = name
    t.backend = backend
    return t


_new_tensor = object.__new__


def wrap(data, backend: _backend.Backend, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A leaf tensor around an array of ``backend`` as it is, without a copy or a check: for arrays made with
    ``backend.xp`` (a zero state, a gradient norm), where ``tr.tensor`` would copy.

    >>> import tinygrad_rnn as tr
    >>> x = tr.tensor([1.0, 2.0])
    >>> wrap(x.backend.xp.zeros((2,), dtype=x.data.dtype), x.backend).tolist()
    [0.0, 0.0]
    """
    return _wrap(data, requires_grad, backend, None, 0, name)


def zero_grads(tensors, set_to_none: bool = True) -> None:
    """What ``Module.zero_grad`` and ``Optimizer.zero_grad`` do to their parameters: drop each gradient, or with
    ``set_to_none=False`` replace it by zeros of its shape (an array: NumPy's ``grad * 0`` of a 0-d array is a
    scalar, which no later in-place update can change).

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor(2.0, requires_grad=True); w.grad = w.data.copy()
    >>> zero_grads([w], set_to_none=False); w.grad.shape, float(w.grad)
    ((), 0.0)
    """
    for t in tensors:
        t.grad = None if set_to_none or t.grad is None else t.backend.xp.zeros_like(t.grad)


def to_in_place(t: Tensor, target) -> Tensor:
    """Move ``t`` itself to a device (``"cuda"``) or cast it to a dtype (``"float64"``), its gradient along:
    what ``Module.to`` does to every parameter, whose identity optimisers and hooks hold. Returns ``t``.

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([1.0], requires_grad=True)
    >>> to_in_place(w, "float64") is w, w.dtype
    (True, 'float64')
    """
    with no_grad():  # a cast records no node: the tensor stays the leaf it was
        moved = t.to(target)
    if moved is not t:
        grad = t.grad
        if grad is not None:
            if target in _backend.DTYPES:
                grad = t.backend.xp.astype(grad, t.backend.dtype(target))
            else:
                grad = moved.backend.asarray(t.backend.to_numpy(grad))
        t.data, t.backend, t.grad = moved.data, moved.backend, grad
    return t


def keep_grad_shares(leaf: Tensor) -> None:
    """From the next backward on, keep the size of each time step's share of ``leaf``'s gradient
    (:func:`grad_shares_of`); a leaf already marked keeps what it has."""
    if getattr(leaf, "_grad_shares", None) is None:
        leaf._grad_shares = {}  # the backward pass fills it (autograd's _step_norms)


def grad_shares_of(leaf: Tensor) -> dict | None:
    """Step -> ‖that step's share of ``leaf``'s gradient‖ (0-d arrays) from the last backward, or None for a leaf
    not marked with :func:`keep_grad_shares`."""
    return getattr(leaf, "_grad_shares", None)


def retain_grads(tensors) -> int:
    """Mark ``tensors`` so that the next backward keeps what it gives them: ``retain_grad()`` on each one made by an
    op, and :func:`keep_grad_shares` on each leaf. Returns how many non-leaves were marked. ``Graph.retain_grads``
    marks a traced graph's tensors and parameters with it.

    >>> import tinygrad_rnn as tr
    >>> w = tr.tensor([1.0], requires_grad=True)
    >>> y = (w * 2).tanh()
    >>> retain_grads([w, y])
    1
    >>> y.backward(tr.tensor([1.0]))
    >>> y.grad.tolist(), sorted(grad_shares_of(w))
    ([1.0], [None])
    """
    marked = 0
    for t in tensors:
        if t.grad_fn is None:
            keep_grad_shares(t)
        elif t.requires_grad:
            t.retain_grad()
            marked += 1
    return marked


def tensor(data, requires_grad: bool = False, dtype: str | None = None, device="cpu",
           name: str | None = None) -> Tensor:
    """Make a leaf tensor (a copy of ``data``) on ``device``; Python floats become float32 unless ``dtype`` says.

    >>> import tinygrad_rnn as tr
    >>> tr.tensor([1.0, 2.0]).dtype
    'float32'
    >>> tr.tensor([1.0], dtype="float64", requires_grad=True).requires_grad
    True
    """
    if isinstance(data, Tensor):  # from another device through the host, on its own device as a copy in place
        if data.backend is _backend.get_backend(device):
            copy = Tensor(data.data, requires_grad=requires_grad, dtype=dtype, device=device, name=name)
            return pass_bounds(copy, data) if copy.data.dtype == data.data.dtype else copy
        data = data.backend.to_numpy(data.data)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device, name=name)


def note_write(t: Tensor) -> int:
    """Record an in-place write into ``t``'s array about to happen: bump ``t``'s version, forget its host bounds, log
    the array for the backward pass's check of saved buffers (the array it is a view of, if it is one: that one
    outlives a temporary view, and PyTorch counts versions per storage too). Returns the write's counter stamp."""
    stamp = next(_counter)
    t._version = getattr(t, "_version", 0) + 1
    if getattr(t, "_bounds", None) is not None:
        del t._bounds
    written = t.backend.memory_owner(t.data)
    try:
        ref = weakref.ref(written)
    except TypeError:  # an array type without weak references: kept alive while logged
        ref = (lambda array: lambda: array)(written)
    if len(_write_log) > 64:
        prune_write_log()
    _write_log[id(written)] = (stamp, ref)
    return stamp


def prune_write_log() -> None:
    """Drop the logged arrays that are gone (a dead array's tensor is gone, and with it every op that could have
    read it), so the log stays small and, once none is left, backward walks as if nothing was written."""
    for key in [key for key, (_, ref) in _write_log.items() if ref() is None]:
        del _write_log[key]


def bounds_of(t: Tensor):
    """The host :class:`~tinygrad_rnn.backend.Bounds` ``t`` carries, or None (unknown, or reads are free)."""
    return getattr(t, "_bounds", None) if t.grad_fn is None else None  # integer tensors never enter the graph


def pass_bounds(out: Tensor, source: Tensor, rows_kept: bool = True) -> Tensor:
    """Give ``out``, whose values are some of ``source``'s rearranged, ``source``'s bounds; ``rows_kept=False``
    when its rows along the last axis are not ``source``'s. Returns ``out``."""
    bounds = bounds_of(source)
    if bounds is not None:
        out._bounds = bounds if rows_kept or not bounds.rows_filled else bounds._replace(rows_filled=False)
    return out


def constant(value, like: Tensor, label: str = "") -> Tensor:
    """A Python number as an operand next to ``like``: it stays a weak scalar, so ``x * 2`` keeps ``x``'s dtype
    (``ops._common.operands`` has already made an integer ``like`` float where the number is a float). A NumPy
    scalar counts as the Python number it holds, as in PyTorch."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(f"{label or 'operand'}: expected a Tensor or a Python number, got "
                                f"{type(value).__name__} (next to a tensor of shape {like.shape})")
    return _wrap(value, False, like.backend, None, 0)



def device_copy(t: Tensor, target) -> Tensor:
    """``t`` copied onto the device ``target`` (``"cpu"``, ``"cuda"``, ``"array_api_strict"``), outside the graph;
    ``t`` itself when it lives there already (``Tensor.to``'s device half)."""
    backend = _backend.get_backend(target)
    if backend is t.backend:
        return t
    if t.grad_fn is not None and t.requires_grad:
        raise GraphError(f"to({target!r}): this tensor (shape {t.shape}) was made by '{t.grad_fn.op_label()}'"
                         f"{where_text(t.grad_fn.scope, t.grad_fn.step)}; a device copy would cut the graph here — "
                         "move the parameters and inputs instead (module.to(device), tr.tensor(..., device=))")
    data, bounds = backend.asarray_known(t.backend.to_numpy(t.data))  # the host copy gives the bounds
    moved = _wrap(data, False, backend, None, 0, t.name)
    if bounds is not None:
        moved._bounds = bounds
    moved.requires_grad = t.requires_grad and t.is_leaf
    return moved
