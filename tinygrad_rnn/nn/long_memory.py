"""The long-memory family of the lectures beside the gated cells: leaky-integrator units and echo-state networks.

A leaky unit keeps a fraction 1 − α of its old state at every step, so along its own axis the step Jacobian is
about 1 − α and a gradient fades like (1 − α)ᵗ rather than like the plain cell's (often much smaller) ‖W f′‖ᵗ:
small α is a long time constant. An echo-state network keeps its recurrent weights random and fixed (the
reservoir, scaled to a chosen spectral radius) and trains only a linear readout, in closed form by ridge
regression — no gradient ever flows through time.

The lectures write the leaky average as μ' = α μ + (1 − α) h, α being the fraction kept; here α is the
fraction *written*, as the ESN literature's leak rate is (h' = (1 − α) h + α h̃), so α = 1 is the plain cell
and a small α remembers long.

>>> import tinygrad_rnn as tr
>>> out, h_n = tr.nn.LeakyRNN(3, 4, alpha=0.1)(tr.zeros(5, 2, 3))
>>> out.shape, h_n.shape
((5, 2, 4), (1, 2, 4))
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..backend import get_backend
from ..engine import Tensor, wrap, location, no_grad
from ..checks import size
from ..errors import ArgumentError, ShapeError
from . import init
from .cells import RNNCell
from .layers import Linear
from .module import Module, Parameter
from .recurrent import _RecurrentLayer


# -- leaky-integrator units ---------------------------------------------------------------------------------------
def _alpha_values(alpha, hidden_size: int) -> list[float]:
    """``alpha`` (a number, a sequence or a tensor of one value per unit) as ``hidden_size`` floats in (0, 1]."""
    if isinstance(alpha, Tensor):
        alpha = alpha.tolist()
    values = [float(alpha)] * hidden_size if isinstance(alpha, (int, float)) else [float(a) for a in alpha]
    if len(values) != hidden_size:
        raise ShapeError(f"LeakyRNNCell: alpha has {len(values)} values for hidden_size={hidden_size} (give one "
                         "number or one per unit)")
    if not all(0.0 < a <= 1.0 for a in values):
        raise ArgumentError(f"LeakyRNNCell: every alpha must lie in (0, 1], got {values}")
    return values


class LeakyRNNCell(RNNCell):
    """Leaky-integrator units: h' = (1 − α)⊙h + α⊙act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), one time constant α per
    unit, α ∈ (0, 1]; α = 1 is ``RNNCell``. The parameters are ``RNNCell``'s plus ``alpha`` (H,), a buffer, or a
    trained Parameter with ``learn_alpha=True`` (then used as it is: keep it in (0, 1], e.g. by clamping after
    each optimiser step).

    The step is primitive ops — the candidate ``h_tilde`` and the mixed state ``h`` are named nodes — unless
    ``fused=True``, which makes the candidate one fused ``RNNStep`` node (faster; same numbers).

    >>> import tinygrad_rnn as tr
    >>> cell = tr.nn.LeakyRNNCell(3, 2, alpha=[0.25, 1.0])
    >>> h = cell(tr.ones(5, 3), tr.ones(5, 2))
    >>> h.shape, h.name, cell.alpha.tolist()
    ((5, 2), 'h', [0.25, 1.0])
    """

    def __init__(self, input_size: int, hidden_size: int, alpha=0.5, nonlinearity: str = "tanh", bias: bool = True,
                 learn_alpha: bool = False, fused: bool = False, dtype=None, device="cpu"):
        super().__init__(input_size, hidden_size, bias, nonlinearity, fused, dtype, device)
        self.learn_alpha = learn_alpha
        values = _alpha_values(alpha, hidden_size)
        dtype = self.weight_hh.dtype
        if learn_alpha:
            self.alpha = Parameter(values, dtype=dtype, device=device)
        else:
            self.register_buffer("alpha", Tensor(values, dtype=dtype, device=device))

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        candidate = super().step(gx, h).named("h_tilde")  # the plain RNN cell's new state
        # h + α⊙(h̃ − h) is (1 − α)⊙h + α⊙h̃ in three ops instead of four (a step is only a handful of ops)
        return (h + self.alpha * (candidate - h)).named("h")

    def extra_repr(self) -> str:
        return super().extra_repr() + (", learn_alpha=True" if self.learn_alpha else "")


class LeakyRNN(_RecurrentLayer):
    """A stack of leaky-integrator layers with ``RNN``'s arguments and unrolling (scopes ``l0`` …, one
    ``tr.step(t)`` per step; ``num_layers``, ``bidirectional``, ``batch_first``, ``lengths``, initial state):
    ``output, h_n = leaky(x, h_0)``. ``alpha`` (one number or one per unit) is shared by every layer's cells;
    each holds its own copy, saved as ``alpha_l0`` …. ``fused`` defaults to False, as for ``LeakyRNNCell``.

    >>> import tinygrad_rnn as tr
    >>> sorted(tr.nn.LeakyRNN(2, 3, learn_alpha=True).state_dict())[:2]
    ['alpha_l0', 'bias_hh_l0']
    """

    cell_type = LeakyRNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, alpha=0.5,
                 nonlinearity: str = "tanh", learn_alpha: bool = False, fused: bool = False, **kwargs):
        super().__init__(input_size, hidden_size, num_layers, fused=fused, alpha=alpha, nonlinearity=nonlinearity,
                         learn_alpha=learn_alpha, **kwargs)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", learn_alpha=True" if self._cells[0].learn_alpha else "")


# -- echo-state networks ------------------------------------------------------------------------------------------
def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ArgumentError(f"EchoStateNetwork: {name} must lie in (0, 1], got {value}")


def _uniform_matrix(rng, rows: int, cols: int, bound: float, density: float = 1.0):
    """A rows×cols host array of U(−bound, bound) samples, each kept with probability ``density`` (else 0), from
    a private generator, so that a ``seed`` fixes the reservoir whatever else was drawn before (the backends
    expose only the one stream that ``tr.manual_seed`` seeds). The reservoir is made once, on the host."""
    values = rng.uniform(-bound, bound, size=(rows, cols))
    return values if density >= 1.0 else values * (rng.random((rows, cols)) < density)


class EchoStateNetwork(Module):
    """An echo-state network (Jaeger, 2001): a fixed random reservoir and a trained linear readout.

    x_t = (1 − leak)·x_{t−1} + leak·tanh(W_in u_t + W x_{t−1}),  y_t = W_out x_t + b_out.

    ``weight_in`` (R, I) is U(−1, 1)·``input_scaling``; ``weight`` (R, R) is U(−1, 1) with a fraction
    ``density`` of its entries kept, then rescaled to ``spectral_radius``. Both are buffers (saved, moved by
    ``to``, never trained). The readout ``readout.weight`` (O, R) = W_out and ``readout.bias`` (O,) = b_out
    are Parameters, zero until ``fit`` solves for them by ridge regression — or train them by gradient descent:
    ``forward`` builds graph nodes for the readout only. ``seed`` fixes the reservoir; without one it is drawn
    from the generator ``tr.manual_seed`` seeds.

    Below 1 the spectral radius makes the state forget its start (the echo-state property); the lectures use
    1.2 to 3 for longer memory, which tanh's contraction keeps bounded.

    >>> import math, tinygrad_rnn as tr
    >>> esn = tr.nn.EchoStateNetwork(1, 50, 1, washout=20, seed=0, dtype="float64")
    >>> wave = tr.tensor([[[math.sin(0.3 * t)]] for t in range(201)], dtype="float64")  # (T, B=1, I=1)
    >>> _ = esn.fit(wave[:-1], wave[1:])  # predict the next value
    >>> error = ((esn(wave[:-1]) - wave[1:])[20:] ** 2).mean().item()
    >>> error < 1e-6
    True
    """

    def __init__(self, input_size: int, reservoir_size: int, output_size: int, spectral_radius: float = 0.9,
                 input_scaling: float = 1.0, leak: float = 1.0, density: float = 1.0, ridge: float = 1e-6,
                 washout: int = 0, seed: int | None = None, dtype=None, device="cpu"):
        super().__init__()
        for name, value in (("input_size", input_size), ("reservoir_size", reservoir_size),
                            ("output_size", output_size)):
            size(value, name, "EchoStateNetwork")
        _check_unit_interval("leak", leak)
        _check_unit_interval("density", density)
        if spectral_radius <= 0 or ridge < 0 or washout < 0 or reservoir_size < 1:
            raise ArgumentError(f"EchoStateNetwork: needs spectral_radius > 0, ridge >= 0, washout >= 0 and "
                                f"reservoir_size >= 1 (got {spectral_radius}, {ridge}, {washout}, {reservoir_size})")
        self.input_size, self.reservoir_size, self.output_size = input_size, reservoir_size, output_size
        self.spectral_radius, self.input_scaling, self.leak = spectral_radius, input_scaling, leak
        self.density, self.ridge, self.washout = density, ridge, washout
        self.readout = Linear(reservoir_size, output_size, dtype=dtype, device=device)
        init.zeros_(self.readout.weight)
        init.zeros_(self.readout.bias)
        dtype = self.readout.weight.dtype
        weight_in, weight = self._reservoir(seed, self.readout.weight.backend)
        self.register_buffer("weight_in", Tensor(weight_in, dtype=dtype, device=device))
        self.register_buffer("weight", Tensor(weight, dtype=dtype, device=device))
        try:
            init.set_spectral_radius_(self.weight, spectral_radius)
        except ValueError as exc:
            raise ArgumentError(f"EchoStateNetwork: the drawn reservoir has no nonzero eigenvalue "
                                f"(density={density} keeps too few weights of {reservoir_size}²); raise density or "
                                "change the seed") from exc

    def _reservoir(self, seed: int | None, backend) -> tuple:
        """W_in and the sparse, not yet rescaled W, as host arrays."""
        if seed is None:  # follow tr.manual_seed: the private generator is seeded from the global stream
            seed = int(backend.item(backend.uniform((1,), 0.0, 2.0 ** 31, "float64")[0]))
        rng = np.random.default_rng(seed)
        weight_in = _uniform_matrix(rng, self.reservoir_size, self.input_size, self.input_scaling)
        return weight_in, _uniform_matrix(rng, self.reservoir_size, self.reservoir_size, 1.0, self.density)

    # -- the reservoir ----------------------------------------------------------------------------------------------
    def _check(self, inputs: Tensor, size: int, what: str) -> None:
        if inputs.ndim != 3 or inputs.shape[-1] != size:
            raise ShapeError(f"EchoStateNetwork: {what} of shape {inputs.shape} does not fit (expects (seq, batch, "
                             f"{size})){location()}")

    def states(self, inputs: Tensor, hx: Tensor | None = None) -> Tensor:
        """Every reservoir state x_1 … x_T, (T, B, R), from ``inputs`` (T, B, I) and ``hx`` (B, R) (zeros when
        None). Runs under ``no_grad``: the reservoir is fixed, so no graph is built and no gradient flows."""
        self._check(inputs, self.input_size, "inputs")
        with no_grad():
            drive = ops.linear(inputs, self.weight_in)  # every step's W_in u_t in one matmul
            xp = drive.backend.xp
            state = hx if hx is not None else wrap(xp.zeros(drive.shape[1:], dtype=drive.data.dtype),
                                                   drive.backend)
            if state.shape != drive.shape[1:]:
                raise ShapeError(f"EchoStateNetwork: hx of shape {state.shape} does not fit (expects "
                                 f"{drive.shape[1:]}){location()}")
            collected = []
            for t in range(inputs.shape[0]):
                update = ops.tanh(drive[t] + ops.linear(state, self.weight))
                state = update if self.leak == 1.0 else state + self.leak * (update - state)
                collected.append(state)
            return ops.stack(collected, dim=0)

    def forward(self, inputs: Tensor, hx: Tensor | None = None) -> Tensor:
        """The readout's predictions (T, B, output_size): a graph of the readout alone (the states are fixed)."""
        return self.readout(self.states(inputs, hx))

    # -- the readout ------------------------------------------------------------------------------------------------
    def fit(self, inputs: Tensor, targets: Tensor, hx: Tensor | None = None) -> "EchoStateNetwork":
        """Fit the readout to ``targets`` (T, B, O) by ridge regression on the states from step ``washout`` on
        (the earlier ones still remember the arbitrary start): W = (SᵀS + ridge·I)⁻¹ SᵀY with S the states and a
        column of ones for the bias, which is not shrunk. Closed form, in float64, without gradients."""
        self._check(inputs, self.input_size, "inputs")
        self._check(targets, self.output_size, "targets")
        if targets.shape[:2] != inputs.shape[:2]:
            raise ShapeError(f"EchoStateNetwork.fit: targets of shape {targets.shape} do not match inputs of shape "
                             f"{inputs.shape} in (seq, batch)")
        if self.washout >= inputs.shape[0]:
            raise ArgumentError(f"EchoStateNetwork.fit: washout={self.washout} leaves none of the {inputs.shape[0]} "
                                "steps to fit on")
        states = self.states(inputs, hx)
        solution = self._ridge(states.data[self.washout:, ...], targets.data[self.washout:, ...])
        xp, dtype = self.readout.weight.backend.xp, self.readout.weight.data.dtype
        self.readout.weight.data = xp.astype(solution[:-1, :].mT, dtype)
        self.readout.bias.data = xp.astype(solution[-1, :], dtype)
        return self

    def _ridge(self, states, targets):
        """The (R + 1, O) solution of the ridge normal equations, bias last, as a float64 backend array."""
        backend = self.readout.weight.backend
        xp = backend.xp
        rows = states.shape[0] * states.shape[1]
        s = xp.reshape(xp.astype(states, xp.float64), (rows, self.reservoir_size))
        y = xp.reshape(xp.astype(targets, xp.float64), (rows, self.output_size))
        s = xp.concat([s, xp.ones((rows, 1), dtype=xp.float64)], axis=1)
        penalty = xp.eye(self.reservoir_size + 1, dtype=xp.float64) * self.ridge
        penalty[-1, -1] = 0.0  # the bias is not shrunk: a huge ridge then predicts the mean target, not zero
        gram = xp.matmul(s.mT, s) + penalty
        rhs = xp.matmul(s.mT, y)
        solve = getattr(getattr(xp, "linalg", None), "solve", None)
        if solve is not None:
            return solve(gram, rhs)
        # a namespace without the linalg extension: solve the small (R + 1)² system on the host, with NumPy
        host = get_backend("cpu").xp
        return backend.asarray(host.linalg.solve(backend.to_numpy(gram), backend.to_numpy(rhs)), "float64")

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.reservoir_size}, {self.output_size}, spectral_radius="
                f"{self.spectral_radius}, leak={self.leak}, density={self.density}, ridge={self.ridge}, "
                f"washout={self.washout}")
