"""Array backends: one object per device, the only place that knows which array library runs.

The engine writes its array code against ``backend.xp``, using only names that NumPy >= 2, CuPy and the
Python Array API standard share (``xp.matmul``, ``xp.tanh``, ``xp.concat``, ``xp.permute_dims`` ...).
What the standard lacks — scatter-add, random numbers, host copies — is a method here, written once per
backend. ``array_api_strict`` stands in for "an array that is not NumPy" in the test suite: code that
runs under it runs on CuPy.

>>> b = get_backend("cpu")
>>> b.to_numpy(b.xp.tanh(b.asarray([0.0], "float32"))).tolist()
[0.0]
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, DeviceError

DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
FLOAT_DTYPES = ("float16", "float32", "float64")

_default_dtype = "float32"
_seed_generation = 0  # bumped by manual_seed so every backend reseeds lazily


def set_default_dtype(name: str) -> None:
    """Set the floating dtype new tensors get from Python floats and the initialisers (``float32`` or ``float64``).

    >>> set_default_dtype("float64"); set_default_dtype("float32")
    """
    global _default_dtype
    if name not in FLOAT_DTYPES:
        raise ArgumentTypeError(f"set_default_dtype: {name!r} is not a floating dtype; choose one of {FLOAT_DTYPES}")
    _default_dtype = name


def get_default_dtype() -> str:
    return _default_dtype


class Bounds(NamedTuple):
    """What the host copy of an integer (or bool) tensor said about its values before they moved to a device, where
    reading them would cost a sync: every value lies in [low, high]; every value other than ``low`` is at least
    ``above_low`` and every value other than ``high`` at most ``below_high`` (None: there is no other value), so one
    sentinel at either end (cross_entropy's ignore_index) can be set aside; ``rows_filled``: every row along the last
    axis holds a nonzero (True) element (a mask with a real position in each row). Bounds may be wider than the
    values (argmax knows only [0, n)): they prove values inside a range, never outside it."""

    low: int
    high: int
    above_low: int | None
    below_high: int | None
    rows_filled: bool = False

    def inside(self, low: int, high: int, allowed: int | None = None) -> bool:
        """Whether every value (``allowed`` excepted) is known to lie in [low, high)."""
        lo = self.above_low if allowed == self.low else self.low
        hi = self.below_high if allowed == self.high else self.high
        return lo is None or hi is None or (low <= lo and hi < high)

    def union(self, other: "Bounds") -> "Bounds":
        """Bounds of the values of both (rows_filled is the caller's to say: it depends on how they are joined)."""
        low, high = min(self.low, other.low), max(self.high, other.high)
        above = [b.above_low if b.low == low else b.low for b in (self, other)]
        below = [b.below_high if b.high == high else b.high for b in (self, other)]
        above, below = [v for v in above if v is not None], [v for v in below if v is not None]
        return Bounds(low, high, min(above) if above else None, max(below) if below else None)


def host_bounds(host: np.ndarray) -> Bounds | None:
    """The :class:`Bounds` of a host array of integers or bools (None for floats and empty arrays); reading the host
    is free, so this is where index checks get the data they need."""
    if host.dtype.kind not in "iub" or not host.size:
        return None
    low, high = int(host.min()), int(host.max())
    rest = host[host != low]
    above = int(rest.min()) if rest.size else None
    rest = host[host != high]
    below = int(rest.max()) if rest.size else None
    rows = bool(host.any(axis=-1).all()) if host.ndim else bool(host)
    return Bounds(low, high, above, below, rows)


class Backend:
    """An array namespace plus what the Array API standard leaves out."""

    name = "?"
    xp = None
    kernels = None  # hand-written kernels for the fused ops (tinygrad_rnn.kernels); None: their array code serves
    reads_are_free = False  # reading an array back costs a device sync: index checks use host Bounds instead

    def __init__(self) -> None:
        self._seeded_generation = -1
        # dtype object -> name, filled on first sight. Per backend, not module-wide: an array_api_strict dtype
        # hashes like its NumPy twin, and comparing the two on a hash collision warns
        self._dtype_names: dict = {}

    # -- dtypes and conversion -------------------------------------------------
    def dtype(self, name: str):
        if name not in DTYPES:
            raise ArgumentTypeError(f"unknown dtype {name!r}; choose one of {DTYPES}")
        return getattr(self.xp, name)

    def dtype_name(self, array) -> str:
        dtype = array.dtype
        name = self._dtype_names.get(dtype)
        if name is None:  # parsing the dtype's text costs microseconds, and Tensor.dtype runs on most ops
            name = self._dtype_names[dtype] = np.dtype(str(dtype).rsplit(".", 1)[-1]).name
        return name

    def asarray(self, data, dtype: str | None = None):
        """Copy ``data`` (nested lists, scalars, NumPy or this backend's arrays) into a new array of this backend.

        Python numbers take the default float dtype (or int64, bool); arrays keep theirs, as ``torch.tensor`` does.
        """
        if self.is_array(data):  # this backend's own array: copied where it lives, not through the host
            name = dtype or self.dtype_name(data)
            if name not in DTYPES:
                raise ArgumentTypeError(f"tensor: dtype {name!r} is not supported; choose one of {DTYPES}")
            return self._copy(data, self.dtype(name))
        return self._from_host(self._host(data, dtype))

    def asarray_known(self, data, dtype: str | None = None) -> tuple:
        """``(asarray(data, dtype), bounds)``: where reading this backend costs a sync and ``data`` comes from the
        host, the :class:`Bounds` its host copy had (integer and bool data), else None."""
        if self.reads_are_free or self.is_array(data):
            return self.asarray(data, dtype), None
        host = self._host(data, dtype)
        return self._from_host(host), host_bounds(host)

    def _host(self, data, dtype: str | None) -> np.ndarray:
        try:
            host = to_host(data)
        except (ValueError, TypeError) as exc:  # ragged nested lists, objects NumPy cannot hold
            raise ArgumentError(f"tensor: cannot make a tensor from this {type(data).__name__} ({exc})") from exc
        if host.dtype.kind == "O":
            raise ArgumentTypeError(f"tensor: cannot make a tensor from a {type(data).__name__} (holding "
                                    f"{_kinds(data)}); give numbers, nested lists of one length, or an array")
        if dtype is None:
            dtype = host.dtype.name
            if not hasattr(data, "dtype"):
                dtype = {"f": _default_dtype, "i": "int64", "u": "int64"}.get(host.dtype.kind, dtype)
        if dtype not in DTYPES:
            raise ArgumentTypeError(f"tensor: dtype {dtype!r} is not supported; choose one of {DTYPES}")
        return np.array(host, dtype=dtype, copy=True, order="C")

    def _from_host(self, host: np.ndarray):
        return self.xp.asarray(host)

    def _copy(self, array, dtype):
        return self.xp.astype(array, dtype, copy=True)

    def is_array(self, data) -> bool:
        return False

    def owns(self, data) -> bool:
        """Whether ``data`` is an array of this backend's library (asked by type, never by ``__array_namespace__``,
        which CuPy's arrays lack)."""
        return self.is_array(data)

    def to_numpy(self, array) -> np.ndarray:
        return np.asarray(array)

    def item(self, array):
        return self.to_numpy(array).item()

    def all_finite(self, array) -> bool:
        return bool(self.xp.all(self.xp.isfinite(array)))

    # -- what the standard lacks -------------------------------------------------
    def index_add(self, shape: tuple, dtype, key, values):
        """A zero array of ``shape`` with ``values`` added at ``key``; repeated indices accumulate."""
        raise NotImplementedError

    def index_put(self, array, key, values) -> None:
        """``array[key] = values`` in place (``key`` may hold integer arrays, which the standard cannot assign)."""
        array[key] = values

    def index_take(self, array, key):
        """``array[key]`` for a key that may mix integer arrays with slices (the standard reads only all-array keys)."""
        return array[key]

    def may_share_memory(self, a, b) -> bool:
        return bool(self.xp.may_share_memory(a, b))

    def memory_owner(self, array):
        """The array whose memory ``array`` looks into (itself unless it is a view of one of this backend's)."""
        base = getattr(array, "base", None)
        return base if self.owns(base) else array

    def concat_rows(self, arrays: list):
        """``xp.concat(arrays, axis=0)``, but a view instead of a copy where the arrays are consecutive, equal
        blocks of one dense array, in order (the steps' gradients in ``engine.gradient_slot``'s buffer).

        >>> import numpy as np
        >>> buffer = np.arange(6.0).reshape(3, 2)
        >>> joined = get_backend("cpu").concat_rows([buffer[0:1], buffer[1:2]])
        >>> joined.tolist(), np.shares_memory(joined, buffer)
        ([[0.0, 1.0], [2.0, 3.0]], True)
        """
        view = self._rows_view(arrays) if self.address is not None and arrays else None
        return self.xp.concat(arrays, axis=0) if view is None else view

    address = None  # where an array's memory starts, for backends that can tell (the standard cannot)

    def _rows_view(self, arrays: list):
        first, address = arrays[0], self.address
        owner = self.memory_owner(first)
        # the owner must be an array of this backend holding the same dtype (not bytes, not a dtype view of one);
        # an array that owns its memory is no one's row and fails the loop's `base` test
        if owner.dtype != first.dtype or first.ndim == 0 or not (owner.flags.c_contiguous and first.flags.c_contiguous):
            return None
        start, size = address(first), first.nbytes
        for i, a in enumerate(arrays):
            # one owner, not just adjacent addresses: two arrays can lie side by side in separate allocations
            if (a.base is not owner or a.shape != first.shape or a.dtype != first.dtype or not a.flags.c_contiguous
                    or address(a) != start + i * size):
                return None
        offset = (start - address(owner)) // first.itemsize
        rows = owner.reshape(-1)[offset:offset + len(arrays) * first.size]
        return rows.reshape((len(arrays) * first.shape[0],) + first.shape[1:])

    def argsort(self, array, axis: int, descending: bool):
        """Indices (int64) that sort ``array`` along ``axis``, ties in their original order."""
        return self.xp.astype(self.xp.argsort(array, axis=axis, descending=descending, stable=True), self.xp.int64)

    def _rng(self):
        if self._seeded_generation != _seed_generation:
            self._reseed(_manual_seed)
            self._seeded_generation = _seed_generation
        return self._generator

    # random numbers come from a NumPy generator on the host unless a backend has its own (CuPy)
    def _reseed(self, seed):
        self._generator = np.random.default_rng(seed)

    def uniform(self, shape: tuple, low: float, high: float, dtype: str):
        return self._from_host(self._rng().uniform(low, high, size=shape).astype(dtype))

    def normal(self, shape: tuple, mean: float, std: float, dtype: str):
        return self._from_host(self._rng().normal(mean, std, size=shape).astype(dtype))

    def rng_state(self):
        """The generator's state as plain JSON-able data (None where the backend cannot export it)."""
        return self._rng().bit_generator.state

    def set_rng_state(self, state) -> None:
        self._rng().bit_generator.state = state

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


class NumpyBackend(Backend):
    name = "cpu"
    xp = np
    reads_are_free = True

    def _from_host(self, host):
        return host

    def owns(self, data) -> bool:
        return isinstance(data, (np.ndarray, np.generic))

    @staticmethod
    def address(array) -> int:
        return array.__array_interface__["data"][0]

    def index_add(self, shape, dtype, key, values):
        return _host_index_add(np.zeros(shape, dtype=dtype), key, values)

    def argsort(self, array, axis, descending):
        return _argsort_negated(np, array, axis, descending)



class StrictBackend(Backend):
    """``array_api_strict``: the test backend that proves the engine uses the standard and nothing else."""

    name = "array_api_strict"

    def __init__(self) -> None:
        super().__init__()
        import array_api_strict

        self.xp = array_api_strict
        self._array_type = array_api_strict.asarray(0).__class__

    def is_array(self, data) -> bool:
        return isinstance(data, self._array_type)

    def to_numpy(self, array):
        if isinstance(array, self._array_type):
            return np.from_dlpack(array).copy()
        return np.asarray(array)

    def index_add(self, shape, dtype, key, values):
        # The standard has no scatter-add: round-trip through the host. Test backend only, so speed is moot.
        out = np.zeros(shape, dtype=self.dtype_name(values))
        return self.xp.asarray(_host_index_add(out, self._host_key(key), self.to_numpy(values)))

    def _host_key(self, key):
        return tuple(self.to_numpy(k) if self.is_array(k) else k for k in key) if isinstance(key, tuple) else (
            self.to_numpy(key) if self.is_array(key) else key)

    def _integer_arrays(self, key) -> bool:
        parts = key if isinstance(key, tuple) else (key,)
        return any(self.is_array(p) and self.dtype_name(p) != "bool" for p in parts)

    def index_put(self, array, key, values):
        if not self._integer_arrays(key):
            array[key] = values
            return
        host = self.to_numpy(array)  # the standard assigns no integer arrays: through the host (test backend only)
        host[self._host_key(key)] = self.to_numpy(values) if self.is_array(values) else values
        array[...] = self.xp.asarray(host)

    def index_take(self, array, key):
        if not self._integer_arrays(key):
            return array[key]
        return self.xp.asarray(self.to_numpy(array)[self._host_key(key)])

    def may_share_memory(self, a, b) -> bool:
        return bool(np.may_share_memory(a._array, b._array))  # the NumPy arrays inside: the standard cannot ask



class CupyBackend(Backend):
    name = "cuda"

    def __init__(self, cupy) -> None:
        super().__init__()
        from .kernels import CudaKernels

        self.xp = cupy
        self.kernels = CudaKernels(cupy)

    def is_array(self, data) -> bool:
        return isinstance(data, self.xp.ndarray)

    def _copy(self, array, dtype):
        return array.astype(dtype, copy=True)

    @staticmethod
    def address(array) -> int:
        return array.data.ptr

    def to_numpy(self, array):
        if isinstance(array, self.xp.ndarray):
            return array.get()
        return np.asarray(array)

    def index_add(self, shape, dtype, key, values):
        import cupyx

        out = self.xp.zeros(shape, dtype=dtype)
        cupyx.scatter_add(out, key, values)
        return out

    def argsort(self, array, axis, descending):
        return _argsort_negated(self.xp, array, axis, descending)

    def _reseed(self, seed):
        self._generator = self.xp.random.RandomState(seed)

    # RandomState draws float32 or float64 only (float16 raises): draw in one of those and cast, as the CPU
    # backend casts its float64 draws
    def uniform(self, shape, low, high, dtype):
        return self._cast_draw(self._rng().uniform(low, high, size=shape, dtype=_draw_dtype(dtype)), dtype)

    def normal(self, shape, mean, std, dtype):
        return self._cast_draw(self._rng().normal(mean, std, size=shape, dtype=_draw_dtype(dtype)), dtype)

    def _cast_draw(self, array, dtype: str):
        return array if dtype == _draw_dtype(dtype) else array.astype(dtype)

    def rng_state(self):
        return None  # CuPy's RandomState has no exportable state: a resumed GPU run redraws its dropout masks

    def set_rng_state(self, state) -> None:
        if state is not None:
            raise ArgumentError("set_rng_state: CuPy's generator state cannot be restored")


_ROW_SUM_MIN_WIDTH = 16  # below it np.add.at's per-element loop beats sorting the rows


def _host_index_add(out: np.ndarray, key, values) -> np.ndarray:
    """``out`` with ``values`` added at ``key``, repeated indices accumulating (``np.add.at``).

    An embedding's gradient is the common case: a 1-D integer key picking whole rows, most of them many times.
    ``np.add.at`` adds such rows element by element (about 20 ns each); sorting the key and summing each run of
    equal rows with ``np.add.reduceat`` does the same in a few vectorised passes, 5x faster for 3,200 rows of 64.

    >>> _host_index_add(np.zeros((3, 2)), np.array([2, 0, 2]), np.ones((3, 2))).tolist()
    [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    """
    rows = isinstance(key, np.ndarray) and key.ndim == 1 and key.dtype.kind in "iu" and key.size > 0
    if not (rows and values.shape[:1] == key.shape and values[0].size >= _ROW_SUM_MIN_WIDTH):
        np.add.at(out, key, values)
        return out
    if key.dtype.kind == "i" and key.min() < 0:  # negative indices count from the end, as in indexing
        key = np.where(key < 0, key + out.shape[0], key)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_key[1:] != sorted_key[:-1])))
    out[sorted_key[starts]] += np.add.reduceat(values[order], starts, axis=0)
    return out


def _argsort_negated(xp, array, axis: int, descending: bool):
    """NumPy's and CuPy's argsort have no ``descending``: sort the negated values (stably, so ties keep their order),
    in a signed dtype so that unsigned and bool values negate."""
    if descending:
        array = -(array if array.dtype.kind in "fi" else array.astype(xp.int64))
    stable = {"kind": "stable"} if xp is np else {}  # CuPy's sort is stable and takes no kind
    return xp.argsort(array, axis=axis, **stable).astype(xp.int64)


def _kinds(data) -> str:
    """The type names inside ``data`` (a container), for an error message."""
    items = list(data.values()) if isinstance(data, dict) else data if isinstance(data, (list, tuple)) else [data]
    return ", ".join(sorted({type(v).__name__ for v in items})) or "nothing"


def to_host(data) -> np.ndarray:
    """``data`` as a host array: another backend's array through that backend's ``to_numpy`` (CuPy refuses the
    implicit conversion ``np.asarray`` would ask for), anything else through ``np.asarray``."""
    if not isinstance(data, np.ndarray):
        for backend in list(_backends.values()):
            if not backend.reads_are_free and backend.is_array(data):
                return backend.to_numpy(data)
    return np.asarray(data)


def _draw_dtype(dtype: str) -> str:
    return "float64" if dtype == "float64" else "float32"


_manual_seed = None
_backends: dict[str, Backend] = {}
DEVICES = ("cpu", "cuda", "array_api_strict")


def manual_seed(seed: int) -> None:
    """Seed every backend's random numbers (initialisers, dropout masks), like ``torch.manual_seed``.

    >>> manual_seed(0)
    """
    global _manual_seed, _seed_generation
    _manual_seed = int(seed)
    _seed_generation += 1


def draw_seed() -> int:
    """A seed drawn from the global host stream (seeded by :func:`manual_seed`), for a generator given none.

    >>> manual_seed(3); a = draw_seed(); manual_seed(3); a == draw_seed()
    True
    """
    return int(get_backend("cpu")._rng().integers(0, 2**63 - 1))


def canonical_device(device) -> str:
    device = str(device)
    if device.startswith("cuda:"):
        if device != "cuda:0":
            raise DeviceError(f"device {device!r}: only one GPU (cuda or cuda:0) is supported")
        device = "cuda"
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; choose one of {DEVICES}")
    return device


def get_backend(device="cpu") -> Backend:
    """The backend object for ``device`` ("cpu", "cuda", "array_api_strict"); errors say what is missing."""
    backend = _backends.get(device)
    if backend is not None:
        return backend
    device = canonical_device(device)
    if device not in _backends:
        _backends[device] = _make_backend(device)
    return _backends[device]


def _make_backend(device: str) -> Backend:
    if device == "cpu":
        return NumpyBackend()
    if device == "array_api_strict":
        try:
            return StrictBackend()
        except ImportError as exc:
            raise DeviceError("device 'array_api_strict' needs the array-api-strict package: "
                              "pip install array-api-strict") from exc
    return _make_cupy_backend()


_INSTALL_BOTH = "pip install 'tinygrad_rnn[cuda13]' for CUDA 13 or 'tinygrad_rnn[cuda12]' for CUDA 12"


def _make_cupy_backend() -> "CupyBackend":
    """CuPy's backend, once three things are known to work: CuPy imports, a GPU is visible through the driver, and
    the CUDA libraries CuPy loads on first use are there (``import cupy`` succeeds without them; the first kernel
    would fail, far from here). Each missing piece has its own DeviceError."""
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(f"device 'cuda' needs CuPy, which is not installed: {_INSTALL_BOTH}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own runtime errors
        raise DeviceError(f"device 'cuda': CuPy is installed but no usable GPU or NVIDIA driver was found ({exc})"
                          ) from exc
    if count < 1:
        raise DeviceError("device 'cuda': CuPy is installed but no GPU is visible")
    _check_cuda_libraries(cupy)
    return CupyBackend(cupy)


def is_numpy(xp) -> bool:
    """Whether ``xp`` is NumPy itself (not a namespace that wraps it, as array_api_strict does).

    >>> is_numpy(np)
    True
    """
    return xp is np


def kernels_for(xp):
    """The hand-written kernels of the backend whose array namespace is ``xp``, or None where array code serves.

    >>> kernels_for(np) is None
    True
    """
    for backend in _backends.values():
        if backend.xp is xp:
            return backend.kernels
    return None


def _check_cuda_libraries(cupy) -> None:
    """Run one elementwise kernel (compiled by NVRTC), one matmul (cuBLAS) and one random draw (cuRAND) and read
    the results back, so that a missing library is reported now, with the install line of the extra that brings it."""
    def nvrtc():  # asked directly too: a kernel found in CuPy's on-disk cache compiles nothing
        cupy.cuda.nvrtc.getVersion()
        return cupy.asnumpy(cupy.ones((2, 2), dtype=cupy.float32) * 2 + 1)

    def cublas():
        a = cupy.ones((2, 2), dtype=cupy.float32)
        return cupy.asnumpy(a @ a)

    def curand():  # the initialisers and dropout draw through it
        return cupy.asnumpy(cupy.random.RandomState(0).uniform(0.0, 1.0, size=(2,), dtype=cupy.float32))

    for library, probe in (("NVRTC (libnvrtc, which compiles CuPy's kernels)", nvrtc),
                           ("cuBLAS (libcublas, for matrix products)", cublas),
                           ("cuRAND (libcurand, for random numbers)", curand)):
        try:
            probe()
        except Exception as exc:  # CuPy reports a missing shared library as a RuntimeError, an OSError or its own
            raise DeviceError(f"device 'cuda': a GPU is visible but CuPy cannot load {library} ({exc}); the CUDA "
                              f"libraries come with CuPy's [ctk] extra: {_install_line(cupy)}") from exc


def _install_line(cupy) -> str:
    """The ``pip install`` line of the extra that matches the CUDA runtime CuPy was built for, or both."""
    try:
        major = int(cupy.cuda.runtime.runtimeGetVersion()) // 1000
    except Exception:  # the runtime library itself may be what is missing
        return _INSTALL_BOTH
    if major in (12, 13):
        return f"pip install 'tinygrad_rnn[cuda{major}]' (CUDA {major})"
    return _INSTALL_BOTH


def get_rng_state() -> dict:
    """Every backend's generator state (JSON-able), for checkpoints that must resume with the same random numbers.

    >>> manual_seed(1); state = get_rng_state(); a = get_backend("cpu").normal((2,), 0, 1, "float64")
    >>> set_rng_state(state); bool((get_backend("cpu").normal((2,), 0, 1, "float64") == a).all())
    True
    """
    return {"seed": _manual_seed, "backends": {name: b.rng_state() for name, b in _backends.items()}}


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    global _manual_seed, _seed_generation
    _manual_seed = state["seed"]
    _seed_generation += 1
    for name, backend_state in state["backends"].items():
        get_backend(name).set_rng_state(backend_state)


def cuda_available() -> bool:
    """True when CuPy imports and sees a GPU."""
    try:
        get_backend("cuda")
    except DeviceError:
        return False
    return True
