"""The backward pass: an iterative walk over the tape, newest node first.

Every node carries ``seq``, a counter stamped at creation; a node is always newer than the nodes that made
its inputs, so sorting the reachable nodes by ``seq`` (newest first) is a topological order. There is no
recursion, so a 10,000-step unrolled graph walks like a 10-step one. Gradients arriving at one tensor from
several uses add up — which is how a weight shared by every time step gets the sum of its per-step gradients.

>>> import tinygrad_rnn as tr
>>> w = tr.tensor(2.0, requires_grad=True)
>>> h = tr.tensor(1.0)
>>> for t in range(3):
...     h = h * w
>>> h.backward()
>>> w.grad.item()  # d(w^3)/dw
12.0
"""
from __future__ import annotations

from operator import attrgetter, is_

from . import engine as _t
from .errors import AnomalyError, DeviceError, DTypeError, GraphError, ShapeError

_by_seq = attrgetter("seq")


class DeferredProduct:
    """A leaf weight's gradient ``a.mT @ g``, not computed yet.

    An op may return one for an input that is a leaf (a weight). The backward pass gathers every pair a
    weight receives — one per time step in an unrolled recurrence — and computes their sum as one matmul
    over the concatenated pairs at the end, instead of one tiny matmul and one addition per step.
    """

    __slots__ = ("a", "g")

    def __init__(self, a, g):
        self.a, self.g = a, g


def weight_grad(parent, a, g):
    """The gradient ``a.mT @ g`` of the input ``parent`` of an op: deferred when it is a leaf weight (see
    :class:`DeferredProduct`), computed when it is not, None when it needs no gradient."""
    if not parent.requires_grad:
        return None
    return DeferredProduct(a, g) if parent.grad_fn is None else a.mT @ g


def unbroadcast(grad, shape: tuple, xp):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape`` again."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        lead = grad.shape[:extra]
        if lead.count(1) == extra:  # only size-1 axes were added (a bias on a batch of one): no sum needed
            grad = grad[(0,) * extra + (...,)]  # an index: a fraction of xp.reshape's cost (a Python wrapper in NumPy)
            if grad.shape == shape:  # the common case (a bias): skip the stretched-axes scan below
                return grad
        else:
            grad = xp.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = xp.sum(grad, axis=stretched, keepdims=True)
    return grad


def _seed_gradient(root: "_t.Tensor", grad):
    xp = root.backend.xp
    if grad is None:
        if root.numel() != 1:
            raise GraphError(f"backward: a tensor of shape {root.shape} is not a scalar; pass its gradient "
                             f"(an array or Tensor of shape {root.shape}) to backward(grad)")
        return xp.ones(root.data.shape, dtype=root.data.dtype)
    if isinstance(grad, _t.Tensor):
        if grad.backend is not root.backend:
            raise DeviceError(f"backward: the gradient lives on {grad.device}, the tensor on {root.device}")
        grad = grad.data
    else:
        grad = root.backend.asarray(grad, root.dtype)
    if tuple(grad.shape) != root.shape:
        raise ShapeError(f"backward: gradient of shape {tuple(grad.shape)} does not match the tensor's shape "
                         f"{root.shape}")
    if grad.dtype != root.data.dtype:
        raise DTypeError(f"backward: gradient dtype {root.backend.dtype_name(grad)} does not match the tensor's "
                         f"{root.dtype}")
    return grad


def reachable(root_fn: "_t.Function", writes: list | None = None) -> "list[_t.Function]":
    """Every node the root node depends on through tensors that require grad, newest first: the order the backward
    pass runs them in (``gradcheck`` reads the leaves a backward would write to from it).

    Once arrays were written in place (``writes``: the ``(counter stamp, array)`` of each written array still
    alive), each node's inputs are first routed
    to the tensors as they were when the node was made (a write gives its tensor a new node; ops made before it read
    the tensor's earlier self), and a node that saved an array written after it was made raises, as PyTorch's
    version counter makes it (its backward would compute with the new values). A node made after the newest write
    read nothing that was written since, so it skips both: a buffer written once before training costs nothing.

    >>> import tinygrad_rnn as tr
    >>> x = tr.tensor([1.0], requires_grad=True)
    >>> [fn.op_label() for fn in reachable((x * 2).tanh().grad_fn)]
    ['tanh', 'mul']
    """
    newest = max(stamp for stamp, _ in writes) if writes else -1
    seen = {root_fn}  # nodes hash by identity
    stack = [root_fn]
    nodes = []
    push, mark = stack.append, seen.add
    while stack:
        fn = stack.pop()
        nodes.append(fn)
        if fn.seq < newest:
            fn.parents = inputs_as_made(fn)
            _check_saved(fn, writes)
        for parent in fn.parents:
            pf = parent.grad_fn
            if pf is not None and pf not in seen:
                mark(pf)
                push(pf)
    nodes.sort(key=_by_seq, reverse=True)
    return nodes


def _live_writes() -> list:
    """``(stamp, array)`` of the written arrays still alive (the dead ones leave the log first)."""
    _t.prune_write_log()
    return [(stamp, ref()) for stamp, ref in _t._write_log.values()]


def inputs_as_made(fn) -> tuple:
    """``fn``'s inputs as they were when it was made: after an in-place write into one of them, its earlier self
    (what the op read), which is also what a drawing must connect it to."""
    if not _t._write_log:
        return fn.parents
    return tuple(_as_made(parent, fn.seq) for parent in fn.parents)


def _as_made(tensor, seq: int):
    """``tensor`` as it was when the node stamped ``seq`` took it as an input: its self before the first in-place
    write that came later, or itself."""
    for stamp, before in getattr(tensor, "_history", None) or ():
        if stamp > seq:
            return before
    return tensor


def _check_saved(fn, writes) -> None:
    if fn.xp is None:  # released: the walk raises its own error when it gets there
        return
    backend = fn.parents[0].backend
    saved = [v for value in fn.__dict__.values() for v in (value if isinstance(value, (tuple, list)) else (value,))
             if backend.owns(v)]
    for stamp, array in writes:
        if stamp > fn.seq and any(backend.may_share_memory(v, array) for v in saved):
            raise GraphError(f"backward: an array that '{fn.op_label()}'{_t.where_text(fn.scope, fn.step)} saved "
                             f"for its gradient (shape {tuple(array.shape)}) was written in place after the op ran "
                             "(t[...] = value); write into a copy (t.clone()) or before the op uses it")


def _released_error(fn) -> GraphError:
    return GraphError(f"backward: the graph through '{fn.op_label()}'{_t.where_text(fn.scope, fn.step)} was "
                      "released by an earlier backward(); call the first backward with retain_graph=True "
                      "to go through it again")


def _run_hooks(tensor, grad):
    for hook in getattr(tensor, "_hooks", None) or ():
        replaced = hook(grad)
        if replaced is not None:  # checked only then: a hook that only looks costs nothing more
            grad = _replacement(tensor, hook, grad, replaced)
    if getattr(tensor, "_retains_grad", False):  # a copy, as PyTorch's: the array may be another's gradient too
        tensor.grad = tensor.backend.xp.asarray(grad, copy=True) if tensor.grad is None else tensor.grad + grad
    return grad


def _replacement(tensor, hook, grad, replaced):
    """The array a hook's return stands for, which must be what it replaces: an array or Tensor of the tensor's
    device with the gradient's shape and dtype (PyTorch refuses a hook that changes either, too)."""
    backend = tensor.backend
    if isinstance(replaced, _t.Tensor):
        if replaced.backend is not backend:
            raise DeviceError(f"register_hook: the hook {_hook_name(hook)} of {_tensor_text(tensor)} returned a "
                              f"gradient on {replaced.device}, the tensor lives on {tensor.device}")
        replaced = replaced.data
    elif not (hasattr(replaced, "shape") and hasattr(replaced, "dtype")):
        raise DTypeError(f"register_hook: the hook {_hook_name(hook)} of {_tensor_text(tensor)} returned a "
                         f"{type(replaced).__name__}; return None or a gradient: an array or Tensor of shape "
                         f"{tuple(grad.shape)} and dtype {backend.dtype_name(grad)}")
    elif backend.name != "cpu" and not backend.is_array(replaced):
        raise DeviceError(f"register_hook: the hook {_hook_name(hook)} of {_tensor_text(tensor)} returned a "
                          f"{type(replaced).__module__}.{type(replaced).__name__}, not an array of {tensor.device}")
    if tuple(replaced.shape) != tuple(grad.shape):
        raise ShapeError(f"register_hook: the hook {_hook_name(hook)} of {_tensor_text(tensor)} returned a gradient "
                         f"of shape {tuple(replaced.shape)} for one of shape {tuple(grad.shape)}")
    if replaced.dtype != grad.dtype:
        raise DTypeError(f"register_hook: the hook {_hook_name(hook)} of {_tensor_text(tensor)} returned a gradient "
                         f"of dtype {backend.dtype_name(replaced)} for one of dtype {backend.dtype_name(grad)}")
    return replaced


def _hook_name(hook) -> str:
    return repr(getattr(hook, "__qualname__", None) or type(hook).__name__)


def _tensor_text(tensor) -> str:
    """``tensor 'h' (made by tanh in scope 'RNN/l0' at step 3, shape (2, 4))`` for error messages."""
    fn = tensor.grad_fn
    name = f"tensor {tensor.name!r}" if tensor.name else "a tensor"
    made = (f"made by {fn.op_label()}{_t.where_text(fn.scope, fn.step)}, " if fn is not None
            else "a leaf, ")
    return f"{name} ({made}shape {tensor.shape}, dtype {tensor.dtype})"


def _accumulate_leaf(leaf, grad, xp) -> None:
    if getattr(leaf, "_hooks", None):
        grad = _run_hooks(leaf, grad)
    if leaf.grad is None:
        # an op may hand the same array to two inputs (add does); a leaf must own its gradient, which then
        # accumulates in place, as in PyTorch
        leaf.grad = xp.asarray(grad, copy=True)
    else:
        leaf.grad += grad


def run_backward(root: "_t.Tensor", grad=None, retain_graph: bool = False) -> None:
    if not root.requires_grad:
        raise GraphError(f"backward: this tensor (shape {root.shape}) does not require grad; no input of the ops "
                         "that made it has requires_grad=True (or it was made under no_grad)")
    seed = _seed_gradient(root, grad)
    root_fn = root.grad_fn
    if root_fn is None:
        _accumulate_leaf(root, seed, root.backend.xp)
        return
    nodes = reachable(root_fn, _live_writes() if _t._write_log else None)
    if root_fn.multi_output:
        _deliver(root_fn, root.output_index, seed)
    else:
        root_fn.pending = seed
    try:
        leaf_gradients = _walk(nodes, retain_graph, _t._anomaly)
    except BaseException:
        for fn in nodes:  # a failed pass (a released graph, a raising hook) must leave nothing half-delivered
            if fn.pending is not None:
                fn.pending = None
        raise
    _finish_leaves(leaf_gradients, _t._anomaly)


def _walk(nodes: list, retain_graph: bool, anomaly: bool) -> dict:
    """Run every node's backward, newest first, handing each input its gradient: a non-leaf's is added to what its
    node holds, a leaf's is gathered (returned: leaf -> [sum of its array contributions, its DeferredProducts,
    (step, contribution) pairs if marked]) for :func:`_finish_leaves`. This loop runs once per op of the graph,
    so it is spelled out for speed: locals for what every node reads, the release inlined."""
    leaf_gradients = {}
    deferred = DeferredProduct
    for fn in nodes:
        pending = fn.pending
        if pending is None:
            continue
        fn.pending = None
        xp = fn.xp
        if xp is None:  # released; leaves receive nothing before the walk ends, so raising changes no .grad
            raise _released_error(fn)
        if fn.hooked:
            pending = _hooked_gradients(fn, pending)
        grads = fn.backward(pending)
        if type(grads) is not tuple:
            grads = (grads,)
        if anomaly:
            _t._check_finite(fn.op_label(), "backward", grads, fn.parents[0].backend, fn.scope, fn.step)
        for parent, g in zip(fn.parents, grads):
            if g is None or not parent.requires_grad:
                continue
            pf = parent.grad_fn
            if pf is None:
                entry = leaf_gradients.get(parent)
                if entry is None:
                    entry = leaf_gradients[parent] = [None, [], _share_list(parent)]
                if type(g) is deferred:
                    entry[1].append(g)
                else:
                    if g.shape != parent.data.shape:
                        g = unbroadcast(g, parent.data.shape, xp)
                    entry[0] = g if entry[0] is None else entry[0] + g
                if entry[2] is not None:  # all that a leaf nobody marked pays per contribution: this check
                    entry[2].append((fn.step, g))
                continue
            if g.shape != parent.data.shape:
                g = unbroadcast(g, parent.data.shape, xp)
            if pf.multi_output:
                _deliver(pf, parent.output_index, g)
            else:
                held = pf.pending
                pf.pending = g if held is None else held + g
        if not retain_graph:  # Function.release, inlined
            fn.__dict__.clear()
            fn.xp = None
    return leaf_gradients


def _finish_leaves(leaf_gradients: dict, anomaly: bool) -> None:
    """Give every leaf its total once, so its hooks see one gradient per backward, as in PyTorch: the deferred
    weight gradients of all steps become one matmul over the concatenated pairs."""
    shared = _shared_joins(leaf_gradients)
    for leaf, (total, products, shares) in leaf_gradients.items():
        xp = leaf.backend.xp
        if shares is not None:
            leaf._grad_shares = _step_norms(shares, xp)
        if products:
            if len(products) == 1:  # one op's product (a Linear over all steps): a concat would only copy it
                summed = products[0].a.mT @ products[0].g
            else:  # in time order (the pass gathered them backwards): gradients in their slots join as one view
                products.reverse()
                concat = leaf.backend.concat_rows
                summed = _join([p.a for p in products], concat, shared).mT @ _join([p.g for p in products], concat,
                                                                                 shared)
            total = summed if total is None else total + summed
        if anomaly and not leaf.backend.all_finite(total):
            raise AnomalyError(f"detect_anomaly: the gradient of leaf {leaf.name or ''!r} (shape {leaf.shape}) "
                               "is NaN or Inf")
        _accumulate_leaf(leaf, total, xp)


def _shared_joins(leaf_gradients: dict) -> dict:
    """The steps' operands that more than one leaf may join, keyed by (count, first array's id, last array's id) in
    time order -> [joins left, the arrays joined first, their join]: an LSTM cell's W_ih and W_hh gradients both
    join its gate gradients, a tanh RNN's W_xh and W_hh both join the gradients of its pre-activations."""
    uses: dict = {}
    for _, products, _ in leaf_gradients.values():
        if len(products) > 1:  # gathered newest first: the last product is the first step's
            first, last = products[-1], products[0]
            for key in ((len(products), id(first.a), id(last.a)), (len(products), id(first.g), id(last.g))):
                uses[key] = uses.get(key, 0) + 1
    return {key: [count, None, None] for key, count in uses.items() if count > 1}


def _join(arrays: list, concat, shared: dict):
    """``concat(arrays)``, made once for the leaves that join these very arrays (the key found by
    :func:`_shared_joins` only says they may: the whole list is compared) and let go after the last of them."""
    entry = shared.get((len(arrays), id(arrays[0]), id(arrays[-1]))) if shared else None
    if entry is None:
        return concat(arrays)
    if entry[2] is None:
        entry[1], entry[2] = arrays, concat(arrays)
    elif not all(map(is_, arrays, entry[1])):  # the same ends around other arrays: joined on their own
        return concat(arrays)
    joined = entry[2]
    entry[0] -= 1
    if not entry[0]:
        entry[1] = entry[2] = None
    return joined


def _share_list(leaf):
    """Where a leaf marked by ``Graph.retain_grads`` collects its gradient contributions with their steps, for
    ``Graph.grad_shares``; None for every other leaf. A weight reused at every step gets one contribution per step,
    which the pass otherwise only sums (the deferred products in one matmul), so the steps' shares are lost."""
    return [] if getattr(leaf, "_grad_shares", None) is not None else None


def _step_norms(shares: list, xp) -> dict:
    """step (None: outside any step) -> ‖the sum of the contributions made at that step‖, as a 0-d float64
    array, read back only when ``Graph.grad_shares`` asks."""
    sums: dict = {}
    for step, g in shares:
        if type(g) is DeferredProduct:
            g = g.a.mT @ g.g
        sums[step] = g if step not in sums else sums[step] + g
    return {step: xp.sqrt(xp.sum(xp.astype(s, xp.float64) ** 2)) for step, s in sums.items()}


def _deliver(fn, index: int, grad) -> None:
    """Add ``grad`` to what output ``index`` of a multi-output ``fn`` has received so far."""
    if fn.pending is None:
        fn.pending = [None] * len(fn.outputs)
    held = fn.pending[index]
    fn.pending[index] = grad if held is None else held + grad


def _hooked_gradients(fn, pending):
    """Run the hooks (and retain_grad) of the watched outputs that still exist."""
    if not fn.multi_output:
        tensor = fn.hooked[0]()
        return pending if tensor is None else _run_hooks(tensor, pending)
    pending = list(pending)
    for index, ref in fn.hooked.items():
        tensor = ref()
        if tensor is not None and pending[index] is not None:
            pending[index] = _run_hooks(tensor, pending[index])
    return pending
