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
from .ops import (ValuesIndices, abs, add, amax, amin, argmax, argmin, bmm, cast, cat, chunk, clamp, clip, clone,
                  concat, cross_entropy, div, dropout, embedding, exp, expand, flatten, floor_divide, gather, linear,
                  log, log_softmax, masked_fill, matmul, max, maximum, mean, min, minimum, mse_loss, mul, neg,
                  nll_loss, permute, pow, rand, randn, relu, repeat, reshape, sigmoid, softmax, split, sqrt, squeeze,
                  stack, sub, sum, tanh, topk, transpose, unbind, unsqueeze, where)
from .engine import (Function, Size, Tensor, current_scope, current_step, detect_anomaly, device, enable_grad,
                     is_grad_enabled, no_grad, scope, step, tensor)
from .creation import (FloatTensor, LongTensor, arange, empty, empty_like, from_numpy, full, full_like, ones, ones_like,
                       zeros, zeros_like)

from . import graph, nn, optim  # noqa: E402  (they build on the engine above)
from . import analysis, data, decode, metrics, train  # noqa: E402  (and these on nn and optim)
from . import utils  # noqa: E402
from .generator import Generator  # noqa: E402
from .serialization import load, save, save_json  # noqa: E402
from . import checkpoint, cuda  # noqa: E402
from .errors import CheckpointError, DataFileError  # noqa: E402

# dtypes are their names; PyTorch's aliases too (tr.long, tr.float), bound last so nothing above reads them
float16, float32, float64 = "float16", "float32", "float64"
int8, int16, int32, int64, uint8, bool_ = "int8", "int16", "int32", "int64", "uint8", "bool"
half, float, double, int, long, bool = float16, float32, float64, int32, int64, bool_  # noqa: A001

__version__ = "0.1.0"
