"""tinygrad_rnn: reverse-mode autodiff on NumPy and CuPy in which recurrent networks unroll explicitly in the graph.

>>> import tinygrad_rnn as tr
>>> W = tr.tensor([[0.5]], requires_grad=True)
>>> h = tr.tensor([[1.0]])
>>> for t in range(3):
...     with tr.step(t):
...         h = (h @ W).tanh()
>>> h.backward()
>>> W.grad.shape
(1, 1)
"""
from . import backend, checks, errors
from .backend import cuda_available, get_default_dtype, manual_seed, set_default_dtype
from .errors import (AnomalyError, ArgumentError, ArgumentTypeError, DeviceError, DTypeError, GraphError,
                     IndexRangeError, MissingKeyError, ShapeError, StateDictError, TinygradRNNError)
from .gradcheck import GradcheckError, gradcheck
from .ops import (abs, add, argmax, cast, cat, chunk, concat, cross_entropy, div, dropout, embedding, exp, linear,
                  log, log_softmax, matmul, max, maximum, mean, minimum, mse_loss, mul, neg, permute, pow, rand, randn,
                  relu, reshape, sigmoid, softmax, split, sqrt, stack, sub, sum, tanh, transpose, unbind, where)
from .engine import (Function, Tensor, current_scope, current_step, detect_anomaly, enable_grad, is_grad_enabled,
                     no_grad, scope, step, tensor)

from . import graph, nn, optim  # noqa: E402  (they build on the engine above)
from . import analysis, data, decode, metrics, train  # noqa: E402  (and these on nn and optim)
from . import utils  # noqa: E402
from .generator import Generator  # noqa: E402
from .serialization import load, save, save_json  # noqa: E402
from . import checkpoint  # noqa: E402
from .errors import CheckpointError, DataFileError  # noqa: E402

float16, float32, float64 = "float16", "float32", "float64"
int32, int64, bool_ = "int32", "int64", "bool"


def zeros(*shape, dtype=None, requires_grad: bool = False, device="cpu") -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` says)."""
    return _filled(shape, 0.0, dtype, requires_grad, device)


def ones(*shape, dtype=None, requires_grad: bool = False, device="cpu") -> Tensor:
    return _filled(shape, 1.0, dtype, requires_grad, device)


def _filled(shape, value, dtype, requires_grad, device) -> Tensor:
    import numpy

    shape = checks.sizes(shape, "zeros" if value == 0.0 else "ones")
    return tensor(numpy.full(shape, value, dtype=dtype or get_default_dtype()), requires_grad=requires_grad,
                  device=device)


__version__ = "0.1.0"
