"""Ops that move data without arithmetic: reshape, permute, indexing, concat, stack, split."""
from __future__ import annotations

import builtins
import math
import numbers

from ..checks import integers, size
from ..engine import Function, Tensor, bounds_of, location, pass_bounds
from ..errors import ArgumentError, ArgumentTypeError, DTypeError, IndexRangeError, ShapeError
from ._common import INTEGER_DTYPES, dim_alias, normalize_axis


class Reshape(Function):
    def forward(self, a, shape):
        self.source = a.shape
        return self.xp.reshape(a, shape)

    def backward(self, g):
        return self.xp.reshape(g, self.source)


class Permute(Function):
    def forward(self, a, dims):
        self.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return self.xp.permute_dims(a, dims)

    def backward(self, g):
        return self.xp.permute_dims(g, self.inverse)


class GetItem(Function):
    label = "getitem"

    def forward(self, a, key, advanced, take=None):
        self.shape, self.dtype, self.key, self.advanced = a.shape, a.dtype, key, advanced
        if take is None:  # an IndexError here becomes apply()'s IndexRangeError, still an IndexError (for row in x)
            return a[key]
        # Adjacent integer arrays / ints among slices. The standard allows index arrays only when every axis gets
        # an integer or an integer array, so: slice first, fold the indexed axes into one, then take().
        xp, (start, count, axis) = self.xp, take  # key entries start..start+count index array axes axis..
        a = a[tuple(builtins.slice(None) if start <= i < start + count else p for i, p in enumerate(key))]
        sizes = tuple(a.shape[axis:axis + count])
        flat = 0
        for index, n in zip(key[start:start + count], sizes):
            if isinstance(index, int):
                index = index + n if index < 0 else index
            else:
                index = xp.where(index < 0, index + n, index)
            flat = flat * n + index
        lead, rest = tuple(a.shape[:axis]), tuple(a.shape[axis + count:])
        a = xp.reshape(a, lead + (math.prod(sizes),) + rest)
        out = xp.take(a, xp.reshape(flat, (-1,)), axis=axis)
        return xp.reshape(out, lead + tuple(flat.shape) + rest)

    def backward(self, g):
        if self.advanced:  # integer arrays may repeat an index: those gradients must add up
            return self.parents[0].backend.index_add(self.shape, self.dtype, self.key, g)
        xp, key = self.xp, self.key
        out = xp.zeros(self.shape, dtype=self.dtype)
        if None in key:  # the standard cannot assign through new axes: drop them from the key and from g
            key = tuple(p for p in key if p is not None)
            g = xp.reshape(g, tuple(out[key].shape))
        out[key] = g
        return out


class Concat(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        self.bounds = []
        start = 0
        for a in arrays:
            self.bounds.append((start, start + a.shape[axis]))
            start += a.shape[axis]
        return self.xp.concat(arrays, axis=axis)

    def backward(self, g):
        lead = (builtins.slice(None),) * self.axis
        return tuple(g[lead + (builtins.slice(s, e), ...)] for s, e in self.bounds)


class Stack(Function):
    def forward(self, *arrays, axis):
        self.axis, self.count = axis, len(arrays)
        return self.xp.stack(arrays, axis=axis)

    def backward(self, g):
        lead = (builtins.slice(None),) * self.axis
        return tuple(g[lead + (i, ...)] for i in range(self.count))


class Split(Function):
    """One node, several outputs: the pieces of ``a`` along ``axis``."""

    multi_output = True

    def forward(self, a, sizes, axis):
        self.shape, self.dtype, self.axis = a.shape, a.dtype, axis
        lead = (builtins.slice(None),) * axis
        self.slices, start = [], 0
        for n in sizes:
            self.slices.append(lead + (builtins.slice(start, start + n), ...))
            start += n
        return tuple(a[s] for s in self.slices)

    def backward(self, grads):
        xp = self.xp
        pieces = [g if g is not None else xp.zeros(self._piece_shape(s), dtype=self.dtype)
                  for g, s in zip(grads, self.slices)]
        return xp.concat(pieces, axis=self.axis)

    def _piece_shape(self, index) -> tuple:
        piece = index[self.axis]
        return self.shape[:self.axis] + (piece.stop - piece.start,) + self.shape[self.axis + 1:]


class Unbind(Function):
    """One node, one output per index along ``axis``, that axis removed: how a layer walks a sequence in time.
    Indexing ``x[t]`` for every t would instead make T nodes whose backward each builds a full-size zero array."""

    multi_output = True

    def forward(self, a, axis):
        self.shape, self.dtype, self.axis = a.shape, a.dtype, axis
        lead = (builtins.slice(None),) * axis
        return tuple(a[lead + (i, ...)] for i in range(a.shape[axis]))

    def gradient_slot(self, index):
        """Row ``index`` of one buffer for the whole input's gradient, handed out once per output: where every
        step's consumer writes its gradient there, backward returns the buffer instead of stacking copies. A
        second request (a second consumer, or a second pass over a retained graph) gets None, so no row is ever
        written twice while an earlier gradient still looks at it."""
        if self.axis != 0:  # rows of another axis would be strided; the kernels write dense arrays
            return None
        slots = self.__dict__.setdefault("slots", {})
        if index in slots:
            return None
        if not slots:
            self.buffer = self.xp.empty(self.shape, dtype=self.dtype)
        slots[index] = slot = self.buffer[index, ...]
        return slot

    def backward(self, grads):
        xp = self.xp
        slots = self.__dict__.get("slots")
        if slots is not None and len(slots) == len(grads) and all(g is slots[i] for i, g in enumerate(grads)):
            return self.buffer
        piece = self.shape[:self.axis] + self.shape[self.axis + 1:]
        return xp.stack([g if g is not None else xp.zeros(piece, dtype=self.dtype) for g in grads], axis=self.axis)


# -- the functions users call -----------------------------------------------------------------------------------
def reshape(a: Tensor, *shape) -> Tensor:
    """Same data, new shape (one entry may be -1). ``x.reshape(2, 3)`` or ``x.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for n in shape:
        if n.__class__ is not int and (isinstance(n, bool) or not isinstance(n, numbers.Integral)):
            raise ArgumentTypeError(f"reshape: the new shape must be ints, got {n!r} ({type(n).__name__}) in "
                                    f"{shape} for a tensor of shape {a.shape}{location()}")
    shape = tuple(int(n) for n in shape)
    known = 1
    for n in shape:
        known *= n if n != -1 else 1
    count = a.numel()
    if shape.count(-1) > 1 or (-1 not in shape and known != count) or (-1 in shape and (known == 0 or count % known)):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {a.shape} ({count} elements) into {shape}"
                         f"{location()}")
    if shape == a.shape:
        return a
    return pass_bounds(Reshape.apply(a, shape=shape), a, rows_kept=shape[-1:] == a.shape[-1:])


def permute(a: Tensor, *dims) -> Tensor:
    """Reorder the axes: ``x.permute(1, 0, 2)``."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    dims = tuple(normalize_axis(d, a.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(a.ndim)):
        raise ShapeError(f"permute: {dims} is not a permutation of the {a.ndim} axes of a tensor of shape {a.shape}"
                         f"{location()}")
    return Permute.apply(a, dims=dims)


def transpose(a: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Swap two axes (the last two by default)."""
    dims = list(range(a.ndim))
    i, j = normalize_axis(dim0, a.ndim, "transpose"), normalize_axis(dim1, a.ndim, "transpose")
    dims[i], dims[j] = dims[j], dims[i]
    return Permute.apply(a, dims=tuple(dims))


def _index_part(part, like: Tensor):
    """One entry of an index and its bounds: tensors and lists of ints become integer arrays of ``like``'s backend
    (with the bounds their host copy had, where reads cost a sync)."""
    if isinstance(part, Tensor):
        if part.dtype not in INTEGER_DTYPES + ("bool",):
            raise ArgumentTypeError(f"getitem: an index tensor must hold integers or bools, got {part.dtype}")
        return part.data, True, bounds_of(part)
    if isinstance(part, (list, tuple)) or hasattr(part, "__array__") or hasattr(part, "__dlpack__"):
        array, bounds = like.backend.asarray_known(part)
        return array, True, bounds
    if part is None or part is Ellipsis or isinstance(part, (int, builtins.slice)):
        return part, False, None
    raise ArgumentTypeError(f"getitem: cannot index with {type(part).__name__}")


def getitem(a: Tensor, key) -> Tensor:
    """``a[key]``: ints, slices, None, Ellipsis, and integer (or bool) index arrays as NumPy reads them."""
    parts = key if isinstance(key, tuple) else (key,)
    converted = [_index_part(p, a) for p in parts]
    advanced = builtins.any(flag for _, flag, _ in converted)
    parts = tuple(p for p, _, _ in converted)
    if not advanced:
        if not builtins.any(p is Ellipsis for p in parts) and builtins.sum(p is not None for p in parts) < a.ndim:
            parts = parts + (Ellipsis,)  # the Array API wants an index to name every axis; NumPy implies the rest
        return _picked(GetItem.apply(a, key=parts, advanced=False), a, parts)
    backend = a.backend
    arrays = [i for i, (_, flag, _) in enumerate(converted) if flag]
    if len(parts) == 1 and backend.dtype_name(parts[0]) == "bool":
        return _picked(GetItem.apply(a, key=parts, advanced=True), a, (None,))  # a mask must be the sole index
    if not builtins.any(p is Ellipsis for p in parts) and builtins.sum(p is not None for p in parts) < a.ndim:
        parts = parts + (Ellipsis,)
    group = [i for i, p in enumerate(parts) if i in arrays or isinstance(p, int)]
    take = None
    if (group == list(range(group[0], group[-1] + 1))
            and builtins.all(p is Ellipsis or isinstance(p, builtins.slice)
                             for i, p in enumerate(parts) if i not in group)
            and builtins.all(backend.dtype_name(parts[i]) != "bool" for i in arrays)):
        first = a.ndim - (len(parts) - group[0]) if Ellipsis in parts[:group[0]] else group[0]
        take = (group[0], len(group), first)
        _check_index_range(a, [parts[i] for i in group], [converted[i][2] for i in group], first)
    return _picked(GetItem.apply(a, key=parts, advanced=True, take=take), a, parts)


def _picked(out: Tensor, a: Tensor, parts: tuple) -> Tensor:
    """``out`` (values picked from ``a``) with ``a``'s bounds; its rows along the last axis are ``a``'s when the key
    leaves that axis whole (e.g. beam search picking batch rows of a mask)."""
    explicit = [p for p in parts if p is not None and p is not Ellipsis]
    last_whole = len(explicit) < a.ndim and parts[-1] is Ellipsis or (
        len(explicit) == a.ndim and isinstance(parts[-1], builtins.slice) and parts[-1] == builtins.slice(None))
    return pass_bounds(out, a, rows_kept=last_whole)


def _check_index_range(a: Tensor, indices, bounds, first_axis: int) -> None:
    """Out-of-range integer indices raise (folded into one axis, they would silently pick another element). Index
    arrays whose host bounds prove them in range are not read back."""
    xp = a.backend.xp
    for axis, index, known in zip(builtins.range(first_axis, first_axis + len(indices)), indices, bounds):
        n = a.shape[axis]
        if isinstance(index, int):
            bad = not -n <= index < n
        elif known is not None and known.inside(-n, n):
            bad = False
        else:
            bad = builtins.bool(math.prod(index.shape)) and builtins.bool(
                xp.any(xp.logical_or(index < -n, index >= n)))
        if bad:
            raise IndexRangeError(f"getitem: index out of range for dim {axis} of size {n} of a tensor of shape "
                                  f"{a.shape}{location()}")


def concat(tensors, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    if axis is not None:
        dim = dim_alias("concat", dim, axis, default=0)[0]
    tensors = _same_dtype(tensors, "concat")
    axis = normalize_axis(dim, tensors[0].ndim, "concat")
    return _joined(Concat.apply(*tensors, axis=axis), tensors, rows_kept=axis != tensors[0].ndim - 1)


cat = concat


def stack(tensors, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors of one shape along a new axis."""
    if axis is not None:
        dim = dim_alias("stack", dim, axis, default=0)[0]
    tensors = _same_dtype(tensors, "stack")
    axis = normalize_axis(dim, tensors[0].ndim + 1, "stack")
    return _joined(Stack.apply(*tensors, axis=axis), tensors, rows_kept=axis != tensors[0].ndim)


def _joined(out: Tensor, tensors: list, rows_kept: bool) -> Tensor:
    """``out`` with the union of the bounds of the tensors it joins, when every one of them has bounds."""
    if out.grad_fn is not None:  # in the graph: floats, which never carry bounds
        return out
    known = [bounds_of(t) for t in tensors]
    if known and builtins.all(b is not None for b in known):
        bounds = known[0]
        for other in known[1:]:
            bounds = bounds.union(other)
        filled = rows_kept and builtins.all(b.rows_filled for b in known)
        out._bounds = bounds._replace(rows_filled=filled)
    return out


def _same_dtype(tensors, label: str) -> list:
    if isinstance(tensors, Tensor):
        raise ArgumentTypeError(f"{label}: tensors must be a list or tuple of Tensors, got one Tensor of shape "
                                f"{tensors.shape}; write {label}([a, b, ...]){location()}")
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{label}: tensors is empty; it needs at least one tensor{location()}")
    # raw dtype objects compare in nanoseconds; names are built only to decide and word a mismatch. Tensors on
    # another backend take the slow path too (a NumPy and an array_api_strict dtype warn when compared), and
    # with equal names go on to apply(), which names the devices
    try:
        first = tensors[0]
        backend, dtype = first.backend, first.data.dtype
        for t in tensors:
            if t.backend is not backend or t.data.dtype != dtype:
                break
        else:
            return tensors
    except AttributeError:  # not a Tensor: said once here instead of checked per element on every call
        kinds = sorted({type(t).__name__ for t in tensors if not isinstance(t, Tensor)})
        raise ArgumentTypeError(f"{label}: tensors must all be Tensors, got {', '.join(kinds)}{location()}") from None
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise DTypeError(f"{label}: dtypes differ ({', '.join(sorted(dtypes))}) for shapes "
                         f"{', '.join(str(t.shape) for t in tensors)}{location()}; convert with .to(dtype) first")
    return tensors


def split(a: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``a`` along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes."""
    axis = normalize_axis(dim, a.ndim, "split")
    length = a.shape[axis]
    if isinstance(split_size_or_sections, numbers.Integral) and not isinstance(split_size_or_sections, bool):
        step = int(split_size_or_sections)
        if step < 1:
            raise ArgumentError(f"split: split_size must be >= 1, got {step} (tensor of shape {a.shape})")
        sizes = [builtins.min(step, length - s) for s in range(0, length, step)]
    else:
        if not isinstance(split_size_or_sections, (list, tuple)):
            raise ArgumentTypeError(f"split: split_size_or_sections must be an int or a list of ints, got "
                                    f"{split_size_or_sections!r} ({type(split_size_or_sections).__name__})")
        sizes = integers(split_size_or_sections, "split_size_or_sections", "split")
        if builtins.sum(sizes) != length or builtins.any(n < 0 for n in sizes):
            raise ShapeError(f"split: sizes {sizes} do not add up to {length}, the length of dim {dim} of shape "
                             f"{a.shape}{location()}")
    return tuple(pass_bounds(piece, a, rows_kept=axis != a.ndim - 1)
                 for piece in Split.apply(a, sizes=tuple(sizes), axis=axis))


def unbind(a: Tensor, dim: int = 0, *, axis: int | None = None) -> tuple:
    """The slices of ``a`` along ``dim``, that axis removed, as ``torch.unbind`` — from one graph node.

    >>> import tinygrad_rnn as tr
    >>> [t.shape for t in tr.unbind(tr.zeros(3, 2), 0)]
    [(2,), (2,), (2,)]
    """
    axis = normalize_axis(dim if axis is None else dim_alias("unbind", dim, axis, default=0)[0], a.ndim, "unbind")
    pieces = Unbind.apply(a, axis=axis)
    if bounds_of(a) is None:  # the common case (a sequence of floats in time) returns at once
        return pieces
    return tuple(pass_bounds(piece, a, rows_kept=axis != a.ndim - 1) for piece in pieces)


def chunk(a: Tensor, chunks: int, dim: int = 0, *, axis: int | None = None) -> tuple:
    """``chunks`` pieces of (nearly) equal size along ``dim``, as ``torch.chunk``."""
    dim = dim_alias("chunk", dim, axis, default=0)[0]
    chunks = size(chunks, "chunks", "chunk")
    length = a.shape[normalize_axis(dim, a.ndim, "chunk")]
    return split(a, builtins.max(-(-length // chunks), 1), dim)


class Expand(Function):
    def forward(self, a, shape):
        return self.xp.broadcast_to(a, shape)

    def backward(self, g):
        return g  # the backward pass sums it back over the stretched axes (autograd.unbroadcast)


class Repeat(Function):
    """``torch.repeat`` (NumPy's ``tile``): backward folds each repeated axis into (copies, size), sums copies."""

    def forward(self, a, repeats):
        self.shape, self.repeats = a.shape, repeats
        return self.xp.tile(a, repeats)

    def backward(self, g):
        xp = self.xp
        folded = xp.reshape(g, builtins.sum(((r, n) for r, n in zip(self.repeats, self.shape)), ()))
        return xp.sum(folded, axis=tuple(range(0, 2 * len(self.shape), 2)))


class Clone(Function):
    def forward(self, a):
        return self.xp.asarray(a, copy=True)

    def backward(self, g):
        return g


def squeeze(a: Tensor, dim=None, *, axis=None) -> Tensor:
    """``a`` without its size-1 dims (or only ``dim``, an int or a tuple, where it has size 1), as ``torch.squeeze``."""
    dim = dim_alias("squeeze", dim, axis)[0]
    if dim is None:
        axes = [d for d, n in enumerate(a.shape) if n == 1]
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        axes = [normalize_axis(d, a.ndim, "squeeze") for d in dims] if a.ndim else []
    return reshape(a, *(n for d, n in enumerate(a.shape) if not (d in axes and n == 1)))


def unsqueeze(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """``a`` with a new size-1 dim at ``dim`` (``-1``: last), as ``torch.unsqueeze``."""
    dim = _required_dim("unsqueeze", a, dim, axis)
    axis = normalize_axis(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, *a.shape[:axis], 1, *a.shape[axis:])


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims ``start_dim`` to ``end_dim`` merged into one, as ``torch.flatten``."""
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = normalize_axis(start_dim, a.ndim, "flatten"), normalize_axis(end_dim, a.ndim, "flatten")
    if start > end:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    return reshape(a, *a.shape[:start], math.prod(a.shape[start:end + 1]), *a.shape[end + 1:])


def expand(a: Tensor, *sizes) -> Tensor:
    """``a`` broadcast to ``sizes`` (-1 keeps a dim) without copying, as ``torch.Tensor.expand``."""
    sizes = _sizes_arg(sizes, "expand")
    lead = len(sizes) - a.ndim
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {a.shape}, which has {a.ndim} dims"
                         f"{location()}")
    shape = tuple(a.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    if builtins.any(n < 0 for n in shape) or builtins.any(
            m != 1 and m != n for m, n in zip(a.shape, shape[lead:])):
        raise ShapeError(f"expand: cannot expand shape {a.shape} to {sizes} (only size-1 dims stretch){location()}")
    return a if shape == a.shape else Expand.apply(a, shape=shape)


def repeat(a: Tensor, *repeats) -> Tensor:
    """``a`` tiled ``repeats[d]`` times along each dim (leading new dims where ``repeats`` is longer), as
    ``torch.Tensor.repeat``."""
    repeats = _sizes_arg(repeats, "repeat")
    if len(repeats) < a.ndim:
        raise ShapeError(f"repeat: {len(repeats)} repeats {repeats} for a tensor of shape {a.shape}; give at least "
                         f"one per dim{location()}")
    if builtins.any(r < 0 for r in repeats):
        raise ArgumentError(f"repeat: repeats must be >= 0, got {repeats}")
    a = reshape(a, *((1,) * (len(repeats) - a.ndim) + a.shape))
    return Repeat.apply(a, repeats=repeats)


def _required_dim(label: str, a: Tensor, dim, axis) -> int:
    """``dim`` (or its alias ``axis``) of a function that needs one."""
    dim = dim_alias(label, dim, axis)[0]
    if dim is None:
        raise ArgumentTypeError(f"{label}: dim is required (tensor of shape {a.shape}){location()}")
    return dim


def _sizes_arg(sizes: tuple, label: str) -> tuple:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(integers(sizes, "sizes", label))


def clone(a: Tensor) -> Tensor:
    """A copy of ``a`` in the graph (the gradient passes through), as ``torch.clone``."""
    return Clone.apply(a)
