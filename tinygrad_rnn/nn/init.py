"""Initialisers, in place and outside the graph, with PyTorch's names: ``uniform_``, ``normal_``, ``xavier_*``,
``orthogonal_``, ``zeros_``, ``ones_``, ``constant_``. They draw from the generator ``tr.manual_seed`` seeds.

>>> import tinygrad_rnn as tr
>>> w = tr.nn.init.orthogonal_(tr.zeros(4, 4))
>>> round((w @ w.T).sum().item(), 4)  # W Wᵀ = I
4.0
"""
from __future__ import annotations

import math

from ..backend import get_backend
from ..checks import number
from ..engine import Tensor, wrap
from ..errors import ArgumentError, ArgumentTypeError


def _fill(tensor: Tensor, data) -> Tensor:
    tensor.data = data
    return tensor


def _check_tensor(tensor, who: str, matrix: bool = False) -> None:
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"{who}: tensor must be a Tensor (e.g. a Parameter), got {type(tensor).__name__}")
    if matrix and tensor.ndim < 2:
        raise ArgumentError(f"{who}: needs at least 2 dimensions (fan in and fan out), got shape {tensor.shape}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    _check_tensor(tensor, "uniform_")
    if not number(a, "a", "uniform_") <= number(b, "b", "uniform_"):
        raise ArgumentError(f"uniform_: needs a <= b, got a={a!r}, b={b!r}")
    return _fill(tensor, tensor.backend.uniform(tensor.shape, a, b, tensor.dtype))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    _check_tensor(tensor, "normal_")
    number(mean, "mean", "normal_"), number(std, "std", "normal_", low=0.0)
    return _fill(tensor, tensor.backend.normal(tensor.shape, mean, std, tensor.dtype))


def constant_(tensor: Tensor, value: float) -> Tensor:
    _check_tensor(tensor, "constant_")
    xp = tensor.backend.xp
    return _fill(tensor, xp.full(tensor.shape, value, dtype=tensor.data.dtype))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def _fans(tensor: Tensor, who: str) -> tuple[int, int]:
    _check_tensor(tensor, who, matrix=True)
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2014): a (semi-)orthogonal matrix from the QR decomposition of a Gaussian one, signs fixed
    so the result is uniformly distributed; tensors of more than 2 dimensions are flattened after the first."""
    _check_tensor(tensor, "orthogonal_", matrix=True)
    xp = tensor.backend.xp
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    flat = tensor.backend.normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, "float64")
    q, r = xp.linalg.qr(flat)
    diagonal = xp.sum(r * xp.eye(r.shape[0], dtype=r.dtype), axis=0)
    q = q * xp.sign(diagonal)
    if rows < cols:
        q = q.mT
    return _fill(tensor, xp.astype(xp.reshape(q * gain, tensor.shape), tensor.data.dtype))


def set_forget_bias_(cell, value: float = 1.0):
    """Give an LSTM cell's forget gate the total initial bias ``value``: the f block (the second quarter, in
    PyTorch's i, f, g, o layout) of ``bias_ih`` becomes ``value`` and that of ``bias_hh`` zero. A positive
    forget bias keeps the cell state, and the gradient through it, alive early in training (Gers et al., 2000).

    >>> import tinygrad_rnn as tr
    >>> cell = tr.nn.LSTMCell(2, 3); _ = set_forget_bias_(cell, 2.0)
    >>> (cell.bias_ih + cell.bias_hh).numpy()[3:6].tolist()
    [2.0, 2.0, 2.0]
    """
    if hasattr(cell, "_cells") and getattr(cell, "has_cell_state", False):  # an LSTM layer: every cell of it
        for each in cell._cells:
            set_forget_bias_(each, value)
        return cell
    if getattr(cell, "gates", None) != 4 or not hasattr(cell, "bias_ih"):
        raise ArgumentTypeError(f"set_forget_bias_: needs an LSTMCell or LSTM (gates i, f, g, o), got "
                                f"{type(cell).__name__}")
    if cell.bias_ih is None:
        raise ArgumentError(f"set_forget_bias_: this {type(cell).__name__} has no biases (bias=False)")
    n = cell.hidden_size
    for bias, fill in ((cell.bias_ih, value), (cell.bias_hh, 0.0)):
        bias.data[n:2 * n] = fill
    return cell


# -- recurrent initialisation: identity, Gaussian, spectral radius ------------------------------------------------
def identity_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """``gain`` on the main diagonal, zeros elsewhere (``torch.nn.init.eye_``; rectangular shapes too). As the
    recurrent matrix of a ReLU RNN it makes the untrained cell copy its state (Le et al., 2015, "IRNN").

    >>> import tinygrad_rnn as tr
    >>> identity_(tr.zeros(2, 3), gain=0.5).tolist()
    [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]
    """
    if tensor.ndim != 2:
        raise ArgumentError(f"identity_: needs a matrix, got shape {tensor.shape}")
    xp = tensor.backend.xp
    return _fill(tensor, xp.eye(*tensor.shape, dtype=tensor.data.dtype) * gain)


def scaled_normal_(tensor: Tensor, scale: float = 1.0) -> Tensor:
    """N(0, scale²/fan_in), fan_in = ``tensor.shape[1]``: the classic Gaussian recurrent init. A square n×n
    matrix drawn so has its eigenvalues spread nearly uniformly over the disc of radius ``scale`` (the circular
    law), so ``scale`` sets the spectral radius — below 1 gradients vanish through time, above 1 they explode.

    >>> import tinygrad_rnn as tr
    >>> tr.manual_seed(0); w = scaled_normal_(tr.zeros(400, 400, dtype="float64"), scale=2.0)
    >>> round(float(w.numpy().std() * 20), 1)  # ≈ scale: std = 2/√400
    2.0
    """
    fan_in, _ = _fans(tensor, "scaled_normal_")
    return normal_(tensor, 0.0, scale / math.sqrt(fan_in) if fan_in else 0.0)


def _square(tensor: Tensor, label: str) -> None:
    if tensor.ndim != 2 or tensor.shape[0] != tensor.shape[1]:
        raise ArgumentError(f"{label}: needs a square matrix, got shape {tensor.shape}")


def _eigenvalues(tensor: Tensor) -> tuple:
    """``(xp, eigenvalues)`` of a square matrix, in float64 (complex in general), on the device if it can."""
    backend = tensor.backend
    data = backend.xp.astype(tensor.data, backend.xp.float64)
    eigvals = getattr(getattr(backend.xp, "linalg", None), "eigvals", None)
    if eigvals is not None:
        try:
            return backend.xp, eigvals(data)
        except RuntimeError:  # array_api_strict lists eigvals but refuses it under an API version before 2025.12
            pass
    # A general (non-symmetric) eigensolver is not in every namespace (CuPy >= 14 has cupy.linalg.eigvals;
    # array_api_strict refuses it before the 2025.12 standard): without one the matrix goes to the host once, to
    # NumPy (the "cpu" backend's xp), through the backend's to_numpy.
    host = get_backend("cpu").xp
    return host, host.linalg.eigvals(backend.to_numpy(data))


def spectral_radius(tensor: Tensor) -> float:
    """The largest |eigenvalue| of a square matrix: the rate at which a linear recurrence h ← W h grows (> 1)
    or forgets (< 1), which is what echo-state networks tune and what orthogonal init pins at 1.

    >>> import tinygrad_rnn as tr
    >>> round(spectral_radius(tr.tensor([[0.0, 2.0], [-2.0, 0.0]])), 12)  # eigenvalues ±2i
    2.0
    """
    _square(tensor, "spectral_radius")
    if tensor.shape[0] == 0:
        return 0.0
    xp, values = _eigenvalues(tensor)
    return float(xp.max(xp.abs(values)))


def set_spectral_radius_(tensor: Tensor, radius: float) -> Tensor:
    """Rescale a square recurrent matrix so that its spectral radius is ``radius`` (every eigenvalue is scaled
    by the same factor, so the spectrum keeps its shape). A matrix whose eigenvalues are all zero cannot be.

    >>> import tinygrad_rnn as tr
    >>> w = set_spectral_radius_(tr.tensor([[0.0, 2.0], [-2.0, 0.0]], dtype="float64"), 0.9)
    >>> round(spectral_radius(w), 12), [round(v, 12) for v in w.tolist()[0]]
    (0.9, [0.0, 0.9])
    """
    if radius < 0:
        raise ArgumentError(f"set_spectral_radius_: radius must be >= 0, got {radius}")
    current = spectral_radius(tensor)
    if current == 0.0:
        raise ArgumentError(f"set_spectral_radius_: the matrix of shape {tensor.shape} has spectral radius 0 "
                            "(all eigenvalues zero), so no rescaling can give it another one")
    return _fill(tensor, tensor.data * (radius / current))


RECURRENT_SCHEMES = ("orthogonal", "identity", "gaussian")


def _init_block(block: Tensor, scheme: str, gain: float) -> Tensor:
    if scheme == "orthogonal":
        return orthogonal_(block, gain)
    if scheme == "identity":
        return identity_(block, gain)
    return scaled_normal_(block, gain)


def _init_blockwise(weight: Tensor, scheme: str, gain: float, name: str) -> None:
    """Initialise each H×H gate block of a stacked (gates·H, H) recurrent matrix on its own: an orthogonal
    (gates·H)×H matrix as a whole would have blocks that are not orthogonal, and the identity only one eye."""
    rows, hidden = weight.shape if weight.ndim == 2 else (0, 0)
    if weight.ndim != 2 or hidden == 0 or rows % hidden:
        raise ArgumentError(f"recurrent_init_: {name} of shape {weight.shape} is not a stack of square "
                            "(hidden, hidden) blocks")
    xp = weight.backend.xp
    blocks = []
    for _ in range(rows // hidden):
        scratch = wrap(xp.zeros((hidden, hidden), dtype=weight.data.dtype), weight.backend)
        blocks.append(_init_block(scratch, scheme, gain).data)
    _fill(weight, xp.concat(blocks, axis=0))


def recurrent_init_(module, scheme: str, gain: float = 1.0):
    """Initialise every recurrent matrix (each parameter named ``weight_hh*``, as in ``weight_hh_l1_reverse``)
    of a cell, a layer or a whole model with ``"orthogonal"`` (Saxe et al., 2014), ``"identity"`` (Le et al.,
    2015) or ``"gaussian"`` (N(0, gain²/H), ``scaled_normal_``), block by block for LSTM (i, f, g, o) and
    GRU (r, z, n) gates. Input weights and biases are left as they are.

    >>> import tinygrad_rnn as tr
    >>> lstm = recurrent_init_(tr.nn.LSTMCell(2, 3), "identity")
    >>> lstm.weight_hh.numpy()[3:6].tolist()  # the forget-gate block
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if scheme not in RECURRENT_SCHEMES:
        raise ArgumentError(f"recurrent_init_: scheme must be one of {RECURRENT_SCHEMES}, got {scheme!r}")
    found = [(name, p) for name, p in module.named_parameters() if name.rsplit(".", 1)[-1].startswith("weight_hh")]
    if not found:
        raise ArgumentError(f"recurrent_init_: {type(module).__name__} has no recurrent weight (no parameter named "
                            "weight_hh*)")
    for name, weight in found:
        _init_blockwise(weight, scheme, gain, name)
    return module
