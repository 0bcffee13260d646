"""Tensors of random numbers from the seeded generator (``tr.manual_seed``), drawn on the tensor's own device.

The backend draws the array where it will live, and the tensor wraps it as it is: on a GPU the numbers never pass
through the host (as ``tr.tensor(array)``, which copies, would make them).

>>> import tinygrad_rnn as tr
>>> _ = tr.manual_seed(0)
>>> a = rand(2, 3)
>>> _ = tr.manual_seed(0)
>>> bool((a.numpy() == rand(2, 3).numpy()).all()), a.shape, a.dtype
(True, (2, 3), 'float32')
"""
from __future__ import annotations

from ..errors import ArgumentTypeError
from .. import backend as _backend
from ..checks import sizes
from ..engine import Tensor, _wrap


def _draw(what: str, shape: tuple, dtype, requires_grad: bool, device, *params) -> Tensor:
    shape = sizes(shape, what)
    dtype = dtype or _backend.get_default_dtype()
    if dtype not in _backend.FLOAT_DTYPES:
        raise ArgumentTypeError(f"{what}: random numbers come as a float dtype {_backend.FLOAT_DTYPES}, not {dtype!r}")
    backend = _backend.get_backend(device)
    draw = backend.uniform if what == "rand" else backend.normal
    return _wrap(draw(tuple(shape), *params, dtype), requires_grad, backend, None, 0)


def rand(*shape, dtype=None, requires_grad: bool = False, device="cpu") -> Tensor:
    """Uniform samples in [0, 1) (float32 unless ``dtype`` says)."""
    return _draw("rand", shape, dtype, requires_grad, device, 0.0, 1.0)


def randn(*shape, dtype=None, requires_grad: bool = False, device="cpu") -> Tensor:
    """Standard normal samples (float32 unless ``dtype`` says)."""
    return _draw("randn", shape, dtype, requires_grad, device, 0.0, 1.0)
