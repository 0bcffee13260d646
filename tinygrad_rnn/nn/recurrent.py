"""Recurrent layers, unrolled explicitly: RNN, LSTM and GRU with PyTorch's arguments, shapes and parameter names.

Every time step of every layer and direction leaves its own nodes: a layer opens the scope ``l{k}`` (or
``l{k}_reverse``) and each step ``tr.step(t)``, t being the position in the sequence, so
``trace(out).find(name="f", scope="LSTM/l1", step=17)`` is the forget gate of layer 2 at step 17.
Variable lengths come as ``lengths`` (one per batch row): a padded step leaves the state unchanged, outputs
zeros and sends no gradient — what PyTorch's packed sequences do.

>>> import tinygrad_rnn as tr
>>> lstm = tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
>>> out, (h, c) = lstm(tr.zeros(5, 2, 3))
>>> out.shape, h.shape, sorted(lstm.state_dict())[:2]
((5, 2, 8), (4, 2, 4), ['bias_hh_l0', 'bias_hh_l0_reverse'])
"""
from __future__ import annotations

import inspect

from .. import ops
from ..checks import integers, probability, size
from ..engine import Tensor, location, scope, step, time_axis
from ..errors import ArgumentTypeError, ShapeError
from .cells import GRUCell, LSTMCell, RNNCell
from .module import Module


def check_lengths(lengths, batch: int, steps: int, who: str) -> list[int]:
    """``lengths`` (a list or a Tensor, one per batch row) as Python ints, each in [1, ``steps``], or a
    ShapeError naming ``who``; None means every row fills all ``steps`` positions. Lengths belong on the host (a
    list or NumPy array): a Tensor on a device is read back here, which costs a sync."""
    if lengths is None:
        return [steps] * batch
    values = integers(lengths.tolist() if hasattr(lengths, "tolist") else lengths, "lengths", who)
    if len(values) != batch:
        raise ShapeError(f"{who}: {len(values)} lengths for a batch of {batch} rows{location()}")
    empty = [row for row, n in enumerate(values) if n < 1]
    if empty:
        raise ShapeError(f"{who}: row(s) {empty} are empty or negative (lengths {values} hold "
                         f"{[values[row] for row in empty]} there); every sequence needs a length >= 1{location()}")
    if values and max(values) > steps:
        raise ShapeError(f"{who}: lengths {values} exceed the {steps} positions of the batch{location()}")
    return values


class _RecurrentLayer(Module):
    cell_type = RNNCell
    has_cell_state = False

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, fused: bool = True,
                 dtype=None, device="cpu", **cell_options):
        super().__init__()
        who = type(self).__name__
        input_size, hidden_size = size(input_size, "input_size", who), size(hidden_size, "hidden_size", who)
        num_layers, dropout = size(num_layers, "num_layers", who), probability(dropout, "dropout", who)
        known = inspect.signature(self.cell_type.__init__).parameters
        unknown = sorted(set(cell_options) - set(known))
        if unknown:
            raise ArgumentTypeError(f"{who}: unknown option(s) {unknown}; its cells ({self.cell_type.__name__}) "
                                    f"take {[n for n in known if n not in ('self', 'input_size', 'hidden_size')]}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional, self.fused = bidirectional, fused
        self.num_directions = 2 if bidirectional else 1
        cells = []
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                cell = self.cell_type(width, hidden_size, bias=bias, fused=fused, dtype=dtype, device=device,
                                      **cell_options)
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, parameter in list(cell._parameters.items()):
                    if parameter is not None:
                        setattr(self, name + suffix, parameter)  # PyTorch's flat names: weight_ih_l0_reverse
                        parameter.name = name + suffix
                for name, buffer in list(cell._buffers.items()):
                    if buffer is not None:  # state that is not trained (a leaky cell's fixed alpha): alpha_l0
                        self.register_buffer(name + suffix, buffer)
                cells.append(cell)
        self._cells = cells  # a plain list: the cells' parameters and buffers are registered above, flat-named

    def _cell(self, layer: int, direction: int):
        cell = self._cells[layer * self.num_directions + direction]
        cell.fused = self.fused
        return cell

    # -- checks ---------------------------------------------------------------------------------------------------
    def _check_input(self, x: Tensor) -> tuple[Tensor, bool]:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise ArgumentTypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(batch, seq, feature)" if self.batch_first else "(seq, batch, feature)"
            raise ShapeError(f"{name}: input of shape {x.shape} does not fit input_size={self.input_size} (expects "
                             f"{layout} or (seq, feature)){location()}")
        if x.shape[1 if self.batch_first and x.ndim == 3 else 0] == 0:
            raise ShapeError(f"{name}: input of shape {x.shape} has no time steps; the sequence length must be > 0"
                             f"{location()}")
        if x.ndim == 2:
            return ops.reshape(x, x.shape[0], 1, self.input_size), True
        return (ops.transpose(x, 0, 1) if self.batch_first else x), False

    def _initial(self, hx, batch: int, unbatched: bool, what: str):
        if hx is None:
            return [None] * (self.num_layers * self.num_directions)
        if not isinstance(hx, Tensor):
            raise ArgumentTypeError(f"{type(self).__name__}: initial {what} must be a Tensor, got "
                                    f"{type(hx).__name__}{location()}")
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if unbatched and hx.ndim == 2:
            hx = ops.reshape(hx, expected)
        if hx.shape != expected:
            raise ShapeError(f"{type(self).__name__}: initial {what} of shape {hx.shape} does not fit (expects "
                             f"{expected}){location()}")
        # a state cut by truncated BPTT: each layer's slice keeps the link to that layer's final state
        return hx.unbind_detached() if hx.is_leaf else list(ops.unbind(hx, 0))

    def _masks(self, lengths, steps: int, batch: int, like: Tensor):
        """Per step a (batch, 1) bool mask of the rows still inside their sequence, or None for full lengths."""
        if lengths is None:
            return None
        values = check_lengths(lengths, batch, steps, type(self).__name__)
        if min(values) == steps:
            return None
        positions = ops.reshape(Tensor(values, device=like.device), batch, 1)
        return [positions > t for t in range(steps)]

    # -- the unrolled loop ------------------------------------------------------------------------------------------
    def forward(self, input: Tensor, hx=None, lengths=None):
        with time_axis(0):  # these ops see every step at once: anomaly mode finds the step on axis 0
            x, unbatched = self._check_input(input)
        steps, batch = x.shape[0], x.shape[1]
        if self.has_cell_state:
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                got = f"a {type(hx).__name__}" + (f" of {len(hx)}" if isinstance(hx, (tuple, list)) else "")
                raise ArgumentTypeError(f"{type(self).__name__}: hx must be a pair (h_0, c_0), got {got}")
            h0, c0 = (None, None) if hx is None else hx
            initial = list(zip(self._initial(h0, batch, unbatched, "h"), self._initial(c0, batch, unbatched, "c")))
        else:
            initial = self._initial(hx, batch, unbatched, "hx")
        first_step = x.detach()[0]  # a (batch, features) stand-in that tells a cell the batch size, dtype, device
        masks = self._masks(lengths, steps, batch, x)
        layer_input, finals = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell = self._cell(layer, direction)
                with scope(f"l{layer}" + ("_reverse" if direction else "")):
                    # the input's share of every gate, for all steps in one matmul; per step only the recurrence
                    with time_axis(0):
                        gates = cell.project(layer_input)
                    projected = ops.unbind(gates, 0)
                    start = cell.initial_state(initial[index], first_step)
                    states, final = self._run(cell, projected, start, masks, reverse=bool(direction))
                outputs.append(states)
                finals.append(final)
            # each direction's steps stacked once, the directions joined on the feature axis in one concat
            stacked = [ops.stack(states, dim=0) for states in outputs]
            layer_input = ops.concat(stacked, dim=2) if len(stacked) > 1 else stacked[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = ops.dropout(layer_input, self.dropout, True)
        output = ops.transpose(layer_input, 0, 1) if self.batch_first else layer_input
        if unbatched:
            output = ops.reshape(output, steps, output.shape[-1])
        return output, self._final_states(finals, unbatched)

    def _run(self, cell, projected: list, state, masks, reverse: bool):
        """One layer, one direction: the outputs per step (in time order) and the final state."""
        order = range(len(projected) - 1, -1, -1) if reverse else range(len(projected))
        outputs = [None] * len(projected)
        for t in order:
            with step(t):
                new = cell.step(projected[t], state)
                if masks is not None:
                    new = self._hold(new, state, masks[t])
                state = new
                h = new[0] if self.has_cell_state else new
                outputs[t] = h if masks is None else ops.where(masks[t], h, 0.0)
        return outputs, state

    def _hold(self, new, old, mask: Tensor):
        """Where a row's sequence has ended, keep its old state: no gradient passes through the new one.

        The held state stays unnamed: the cell already named its own step's ``h`` (and ``c``), and one tensor
        per name, scope and step keeps ``find(name="h", step=t)`` to one node and the cell's gates wired to it.
        Its gradient is the held state's on the rows still inside their sequence and zero on the padded rows,
        where there is no step: what a run of each sequence alone, unpadded, gives.
        """
        if self.has_cell_state:
            return tuple(ops.where(mask, n, o) for n, o in zip(new, old, strict=True))
        return ops.where(mask, new, old)

    def _final_states(self, finals: list, unbatched: bool):
        def stacked(states):
            out = ops.stack(states, dim=0)
            return ops.reshape(out, out.shape[0], out.shape[2]) if unbatched else out

        if self.has_cell_state:
            return stacked([h for h, _ in finals]), stacked([c for _, c in finals])
        return stacked(finals)

    def extra_repr(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name, default in
                        (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                         ("bidirectional", False), ("fused", True)) if getattr(self, name) != default)
        return f"{self.input_size}, {self.hidden_size}{extra}"


class RNN(_RecurrentLayer):
    """A stack of tanh (or relu / sigmoid) RNN layers, PyTorch's ``nn.RNN``: ``output, h_n = rnn(x, h_0)``."""

    cell_type = RNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 **kwargs):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity=nonlinearity, **kwargs)


class LSTM(_RecurrentLayer):
    """A stack of LSTM layers, PyTorch's ``nn.LSTM``: ``output, (h_n, c_n) = lstm(x, (h_0, c_0))``. Cell options
    (``forget_bias``, ``peephole``, ``coupled``, ``forget_gate``) go to every ``LSTMCell``."""

    cell_type = LSTMCell
    has_cell_state = True


class GRU(_RecurrentLayer):
    """A stack of GRU layers, PyTorch's ``nn.GRU``: ``output, h_n = gru(x, h_0)``; ``reset_after=False`` for
    the Cho et al. form."""

    cell_type = GRUCell
