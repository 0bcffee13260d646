"""Encoder–decoder (seq2seq) models: an encoder reads the source, a decoder — a conditional language model fed its
previous token — writes the target, optionally attending to every encoder output.

- ``Encoder``: embedding, then a stacked ``LSTM`` / ``GRU`` / ``RNN`` layer over the padded batch (``lengths`` keep
  padding out of the states). ``reverse_input=True`` reads each source backwards within its own length — the
  lectures' "reverse the source" trick; padding stays at the end. It returns an :class:`Encoded`.
- ``Decoder``: one cell per layer (``LSTMCell`` / ``GRUCell`` / ``RNNCell``) stepped by hand. With attention
  (Bahdanau style) the query is the previous top-layer hidden state, the step's input is
  [embedding(y_{t-1}); context] and the logits are ``out([h_t; context])``. Without attention the encoder's summary
  (its final top-layer state) starts the decoder (``context="init"``) and, with ``context="input"``, is also
  concatenated to every step's input.
- ``Seq2Seq``: both, with the calls a decoding loop (greedy or beam search) needs: ``encode``, ``initial_state``,
  ``decode_step`` and ``select``; ``forward`` (teacher forcing, or scheduled sampling) and ``loss`` for training.

The whole model unrolls into one graph: nodes are stamped ``Seq2Seq/encoder/...`` and ``Seq2Seq/decoder/...``, the
encoder's with their source position t and the decoder's with their output step t, each counted from 0 (so
``find(scope="Seq2Seq/decoder", step=3)`` is the fourth output step). On the graph's timeline (``Node.time``) the
decoder's step t lies at S + t, S the batch's padded source length: the decoder starts where the encoder ends, as in
the lectures' delayed seq2seq model — so a drawing reads encoder then decoder, left to right.

>>> import tinygrad_rnn as tr
>>> model = tr.nn.Seq2Seq(src_vocab_size=10, tgt_vocab_size=12, embed_size=8, hidden_size=16)
>>> src, tgt_in = tr.tensor([[5, 6, 7], [8, 9, 0]]), tr.tensor([[1, 4, 5], [1, 6, 0]])
>>> logits, weights = model(src, [3, 2], tgt_in)
>>> logits.shape, weights.shape
((2, 3, 12), (2, 3, 3))
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import ops
from ..checks import probability, size
from ..engine import Tensor, location, scope, step
from ..errors import ArgumentError, ShapeError
from .attention import KINDS, make_attention
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear
from .module import Module, ModuleList
from .recurrent import GRU, LSTM, RNN, check_lengths

CELLS = {"lstm": (LSTM, LSTMCell), "gru": (GRU, GRUCell), "rnn": (RNN, RNNCell)}
# the encoder's and decoder's LSTMs start with the forget gate open (bias 1, Gers et al. 2000), as the lectures'
# models do; nn.LSTM on its own starts like PyTorch's
CELL_OPTIONS = {"lstm": {"forget_bias": 1.0}}
CONTEXTS = ("init", "input")


class Encoded(NamedTuple):
    """What the encoder hands the decoder; every field has the batch on axis 0 except ``final`` (axis 1).

    - ``memory`` (B, S, H_mem): the encoder's top-layer outputs, zero at padding, positions in the source's
      *original* order even with ``reverse_input`` (so attention weights line up with the source as given);
      H_mem = hidden_size, doubled when bidirectional.
    - ``mask`` (B, S) bool: True at the real source positions (the same under reversal, which keeps padding last).
    - ``final``: the encoder's final state in PyTorch's layout and in the decoder's size: ``(h,)`` or, for an LSTM,
      ``(h, c)``, each (num_layers, B, hidden_size).
    - ``keys``: the attention's projected keys (B, S, ·), computed once per sequence, or None.
    """

    memory: Tensor
    mask: Tensor
    final: tuple
    keys: Tensor | None = None


def _check_sizes(who: str, dropout: float, **sizes: int) -> None:
    """Sizes >= 1 and a dropout in [0, 1], checked before any layer is built so the error names ``who``."""
    for name, value in sizes.items():
        size(value, name, who)
    probability(dropout, "dropout", who)


def _cell_types(cell: str, who: str):
    if cell not in CELLS:
        raise ArgumentError(f"{who}: cell must be one of {tuple(CELLS)}, got {cell!r}")
    return CELLS[cell]


def _reverse_order(lengths: list[int], steps: int) -> np.ndarray:
    """(B, S) positions that read each row backwards within its length and leave padding where it is; applying it
    twice is the identity, so the same order undoes it."""
    order = np.tile(np.arange(steps), (len(lengths), 1))
    for row, n in enumerate(lengths):
        order[row, :n] = np.arange(n - 1, -1, -1)
    return order


def reverse_padded(tokens, lengths) -> Tensor:
    """Each row of ``tokens`` (B, S) reversed within its own length; the padding after it stays in place.

    >>> import tinygrad_rnn as tr
    >>> reverse_padded(tr.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), [3, 2]).tolist()
    [[3, 2, 1, 0], [5, 4, 0, 0]]
    """
    tokens = tokens if isinstance(tokens, Tensor) else Tensor(np.asarray(tokens))
    if tokens.ndim != 2:
        raise ShapeError(f"reverse_padded: tokens of shape {tokens.shape} are not a (batch, length) batch")
    values = check_lengths(lengths, tokens.shape[0], tokens.shape[1], "reverse_padded")
    return _reorder(tokens, _reverse_order(values, tokens.shape[1]))


def _reorder(rows: Tensor, order: np.ndarray) -> Tensor:
    """``rows[b, order[b, s]]`` for every row b and position s (trailing axes come along), on ``rows``' device."""
    device = rows.device
    batch = Tensor(np.arange(order.shape[0])[:, None], device=device)
    return ops.getitem(rows, (batch, Tensor(order, device=device)))


def _source_mask(lengths: list[int], steps: int, device) -> Tensor:
    return Tensor(np.arange(steps)[None, :] < np.asarray(lengths)[:, None], device=device)


class Encoder(Module):
    """Embedding and a stacked recurrent layer over a padded batch of token ids.

    ``forward(src (B, S) int, lengths)`` returns an :class:`Encoded`. When ``bidirectional``, each layer's two final
    states are merged into ``hidden_size`` by a learned bridge, tanh(W [h_fwd; h_bwd] + b) (``bridge_h``, and
    ``bridge_c`` for an LSTM's cell state), so a unidirectional decoder of the same size can start from them.
    ``dropout`` applies to the embeddings and between layers.

    >>> import tinygrad_rnn as tr
    >>> encoder = tr.nn.Encoder(10, 8, 16, num_layers=2, bidirectional=True)
    >>> encoded = encoder(tr.tensor([[4, 5, 6], [7, 8, 0]]), [3, 2])
    >>> encoded.memory.shape, [f.shape for f in encoded.final], encoded.mask.tolist()
    ((2, 3, 32), [(2, 2, 16), (2, 2, 16)], [[True, True, True], [True, True, False]])
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 bidirectional: bool = False, dropout: float = 0.0, reverse_input: bool = False,
                 padding_idx: int | None = 0):
        super().__init__()
        _check_sizes("Encoder", dropout, vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                     num_layers=num_layers)
        layer_type, _ = _cell_types(cell, "Encoder")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.bidirectional, self.reverse_input = bidirectional, reverse_input
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx)
        self.dropout = Dropout(dropout)
        self.rnn = layer_type(embed_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                              bidirectional=bidirectional, **CELL_OPTIONS.get(cell, {}))
        if bidirectional:
            self.bridge_h = Linear(2 * hidden_size, hidden_size)
            if cell == "lstm":
                self.bridge_c = Linear(2 * hidden_size, hidden_size)

    def forward(self, src: Tensor, lengths) -> Encoded:
        src = _as_tokens(src, self.embedding.weight, "Encoder", 2)
        batch, steps = src.shape
        if steps == 0:
            raise ShapeError(f"Encoder: the source batch of shape {src.shape} is empty{location()}")
        values = check_lengths(lengths, batch, steps, "Encoder")
        order = _reverse_order(values, steps) if self.reverse_input else None
        if order is not None:  # reverse_padded's reordering, with the lengths already checked
            src = _reorder(src, order)
        memory, final = self.rnn(self.dropout(self.embedding(src)), lengths=values)
        if order is not None:  # back to the source's own order (the order is its own inverse), so the memory and
            memory = _reorder(memory, order)  # its mask line up with the source as given
        final = final if isinstance(final, tuple) else (final,)
        if self.bidirectional:
            final = tuple(self._bridge(f, bridge) for f, bridge in zip(final, ("bridge_h", "bridge_c")))
        return Encoded(memory, _source_mask(values, steps, src.device), final)

    def _bridge(self, state: Tensor, bridge: str) -> Tensor:
        """(2L, B, H) in PyTorch's order (layer 0 forward, layer 0 backward, ...) → tanh(W [fwd; bwd] + b)."""
        layers, batch, size = self.num_layers, state.shape[1], self.hidden_size
        both = ops.reshape(ops.permute(ops.reshape(state, layers, 2, batch, size), 0, 2, 1, 3), layers, batch, 2 * size)
        return ops.tanh(getattr(self, bridge)(both))

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, reverse_input={self.reverse_input}"


def _as_tokens(tokens, like: Tensor, who: str, ndim: int) -> Tensor:
    """Token ids as an integer tensor on ``like``'s device."""
    if not isinstance(tokens, Tensor):
        tokens = Tensor(np.asarray(tokens), device=like.device)
    elif tokens.backend is not like.backend:
        tokens = tokens.to(like.device)
    if tokens.ndim != ndim:
        layout = "(batch,)" if ndim == 1 else "(batch, length)"
        raise ShapeError(f"{who}: token ids of shape {tokens.shape} do not fit {layout}{location()}")
    return tokens


class Decoder(Module):
    """A conditional language model stepped one token at a time: ``forward(tokens (B,), state, encoded)`` is one
    step and returns ``(logits (B, V), state, weights (B, S) or None)``.

    The state is a tuple of (B, hidden_size) tensors, layer by layer: ``(h_0, c_0, h_1, c_1, ...)`` for an LSTM,
    ``(h_0, h_1, ...)`` otherwise. ``attention`` is None or a kind of ``make_attention`` (scoring the previous
    top-layer state against the encoder memory of ``memory_size``); ``context`` ("init" or "input") says how the
    encoder summary enters a decoder without attention. ``dropout`` applies to the embeddings and between layers.

    >>> import tinygrad_rnn as tr
    >>> decoder = tr.nn.Decoder(12, 8, 16, cell="gru", attention="dot")
    >>> encoded = tr.nn.Encoder(10, 8, 16, cell="gru")(tr.tensor([[4, 5, 6]]), [3])
    >>> logits, state, weights = decoder(tr.tensor([1]), decoder.initial_state(encoded), encoded)
    >>> logits.shape, len(state), weights.shape
    ((1, 12), 1, (1, 3))
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 attention: str | None = None, context: str = "init", dropout: float = 0.0,
                 memory_size: int | None = None, padding_idx: int | None = 0, attention_hidden: int | None = None):
        super().__init__()
        _check_sizes("Decoder", dropout, vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                     num_layers=num_layers)
        _, cell_type = _cell_types(cell, "Decoder")
        if context not in CONTEXTS:
            raise ArgumentError(f"Decoder: context must be one of {CONTEXTS}, got {context!r}")
        if attention is not None and attention not in KINDS:
            raise ArgumentError(f"Decoder: attention must be None or one of {KINDS}, got {attention!r}")
        self.cell, self.hidden_size, self.num_layers, self.context = cell, hidden_size, num_layers, context
        self.memory_size = memory_size or hidden_size
        self.per_layer = 2 if cell == "lstm" else 1  # tensors of state per layer
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx)
        self.dropout = Dropout(dropout)
        if attention is not None:
            self.attention = make_attention(attention, hidden_size, self.memory_size, attention_hidden)
            extra = self.memory_size
        else:
            self.attention = None
            extra = hidden_size if context == "input" else 0
        self.layers = ModuleList([cell_type(embed_size + extra if layer == 0 else hidden_size, hidden_size,
                                            **CELL_OPTIONS.get(cell, {})) for layer in range(num_layers)])
        self.out = Linear(hidden_size + (self.memory_size if attention is not None else 0), vocab_size)

    def prepare(self, encoded: Encoded) -> Encoded:
        """``encoded`` with the attention's projected keys filled in (once per sequence, not once per step)."""
        if self.attention is None or encoded.keys is not None:
            return encoded
        with scope(*self._scope_path):
            return encoded._replace(keys=self.attention.project_keys(encoded.memory))

    def initial_state(self, encoded: Encoded) -> tuple:
        """The decoder's first state, the encoder's final state split per layer."""
        expected = (self.num_layers, encoded.memory.shape[0], self.hidden_size)
        if len(encoded.final) != self.per_layer or any(f.shape != expected for f in encoded.final):
            raise ShapeError(f"Decoder: an encoder final state of shapes {[f.shape for f in encoded.final]} does not "
                             f"fit a {self.cell} decoder (expects {self.per_layer} of {expected}){location()}")
        if self.attention is not None:
            self.attention.check_memory(encoded.memory, encoded.mask)
        with scope(*self._scope_path):
            per_part = [ops.unbind(f, 0) for f in encoded.final]
        return tuple(part[layer] for layer in range(self.num_layers) for part in per_part)

    def forward(self, tokens: Tensor, state: tuple, encoded: Encoded):
        per = self.per_layer
        if len(state) != per * self.num_layers:
            raise ShapeError(f"Decoder: a state of {len(state)} tensors does not fit {self.num_layers} {self.cell} "
                             f"layer(s) (expects {per * self.num_layers}){location()}")
        tokens = _as_tokens(tokens, self.embedding.weight, "Decoder", 1)
        if tokens.shape[0] != state[0].shape[0]:
            raise ShapeError(f"Decoder: {tokens.shape[0]} tokens for a state of batch {state[0].shape[0]}"
                             f"{location()}")
        x = self.dropout(self.embedding(tokens))
        weights = context = None
        if self.attention is not None:
            query = state[(self.num_layers - 1) * per]  # the previous top-layer hidden state
            # the memory was checked once for the sequence (initial_state); a step only attends
            keys = encoded.keys if encoded.keys is not None else self.attention.project_keys(encoded.memory)
            with scope(*self.attention._scope_path):
                context, weights = self.attention.attend(query, keys, encoded.memory, encoded.mask)
            x = ops.concat([x, context], dim=1)
        elif self.context == "input":
            x = ops.concat([x, encoded.final[0][self.num_layers - 1]], dim=1)
        new_state = []
        for layer, cell in enumerate(self.layers):
            if layer:
                x = self.dropout(x)
            if per == 2:
                x, c = cell(x, state[2 * layer:2 * layer + 2])
                new_state += [x, c]
            else:
                x = cell(x, state[layer])
                new_state.append(x)
        logits = self.out(x if context is None else ops.concat([x, context], dim=1)).named("logits")
        return logits, tuple(new_state), weights

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, context={self.context!r}"


class Seq2Seq(Module):
    """An encoder–decoder model, the calls of a decoding loop, and the training loss.

    Encoder and decoder share ``embed_size``, ``hidden_size``, ``num_layers`` and ``cell`` but no parameters. A
    bidirectional encoder's memory is 2·hidden_size wide ("dot" and "scaled_dot" attention then need "general" or
    "additive" instead) and its final states are bridged to hidden_size. ``attention`` is None or one of "dot",
    "scaled_dot", "general", "additive"; ``context`` ("init" or "input") only matters without attention.

    >>> import tinygrad_rnn as tr
    >>> model = tr.nn.Seq2Seq(8, 9, embed_size=4, hidden_size=6, attention=None, context="input")
    >>> encoded = model.encode(tr.tensor([[3, 4, 5]]), [3])
    >>> logits, state, weights = model.decode_step(tr.tensor([model.sos_index]), model.initial_state(encoded), encoded)
    >>> logits.shape, weights is None, model.config()["context"]
    ((1, 9), True, 'input')
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_size: int = 64, hidden_size: int = 128,
                 num_layers: int = 1, cell: str = "lstm", bidirectional: bool = False,
                 attention: str | None = "additive", context: str = "init", reverse_input: bool = False,
                 dropout: float = 0.0, pad_index: int = 0, sos_index: int = 1, eos_index: int = 2):
        super().__init__()
        _check_sizes("Seq2Seq", dropout, src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
                     embed_size=embed_size, hidden_size=hidden_size, num_layers=num_layers)
        _cell_types(cell, "Seq2Seq")
        if attention is not None and attention not in KINDS:
            raise ArgumentError(f"Seq2Seq: attention must be None or one of {KINDS}, got {attention!r}")
        for name, index, vocab in (("pad_index", pad_index, min(src_vocab_size, tgt_vocab_size)),
                                   ("sos_index", sos_index, tgt_vocab_size), ("eos_index", eos_index, tgt_vocab_size)):
            if size(index, name, "Seq2Seq", minimum=0) >= vocab:
                raise ArgumentError(f"Seq2Seq: {name}={index} is outside the vocabulary of {vocab} tokens "
                                    f"(src_vocab_size={src_vocab_size}, tgt_vocab_size={tgt_vocab_size})")
        if bidirectional and attention in ("dot", "scaled_dot"):
            raise ArgumentError(f"Seq2Seq: {attention!r} attention scores the decoder's query (hidden_size="
                                f"{hidden_size}) against the encoder memory by a dot product, but a bidirectional "
                                f"encoder's memory is 2·hidden_size={2 * hidden_size} wide; use bidirectional=False, "
                                f"or attention='general' or 'additive', which project between the two sizes")
        self._config = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, embed_size=embed_size,
                            hidden_size=hidden_size, num_layers=num_layers, cell=cell, bidirectional=bidirectional,
                            attention=attention, context=context, reverse_input=reverse_input, dropout=dropout,
                            pad_index=pad_index, sos_index=sos_index, eos_index=eos_index)
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.pad_index, self.sos_index, self.eos_index = pad_index, sos_index, eos_index
        self.encoder = Encoder(src_vocab_size, embed_size, hidden_size, num_layers, cell, bidirectional, dropout,
                               reverse_input, padding_idx=pad_index)
        self.decoder = Decoder(tgt_vocab_size, embed_size, hidden_size, num_layers, cell, attention, context,
                               dropout, memory_size=self.encoder.output_size, padding_idx=pad_index)

    @classmethod
    def from_config(cls, config: dict) -> "Seq2Seq":
        """A fresh model built from what :meth:`config` returned."""
        return cls(**config)

    def config(self) -> dict:
        """The constructor's arguments, JSON-able (what a checkpoint stores to rebuild the model)."""
        return dict(self._config)

    # -- the calls of a decoding loop -------------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths) -> Encoded:
        """Encode ``src`` (B, S) int64 of the given lengths (padding after them; None: no padding), an
        :class:`Encoded`."""
        with scope(*self._scope_path):
            return self._encode(src, src_lengths)

    def _encode(self, src, src_lengths) -> Encoded:
        return self.decoder.prepare(self.encoder(src, src_lengths))

    def initial_state(self, encoded: Encoded) -> tuple:
        """The decoder's first state: a tuple of (B, hidden_size) tensors, batch on axis 0 (see ``Decoder``)."""
        with scope(*self._scope_path):
            return self.decoder.initial_state(encoded)

    def decode_step(self, tokens: Tensor, state: tuple, encoded: Encoded):
        """One decoder step from the previous tokens (B,): ``(logits (B, V), state, weights (B, S) or None)``."""
        with scope(*self._scope_path):
            return self.decoder(tokens, state, encoded)

    def select(self, state: tuple, encoded: Encoded, index) -> tuple[tuple, Encoded]:
        """``state`` and ``encoded`` for the batch rows ``index`` (ints, repeats allowed), in that order: how beam
        search expands B rows to B·K and reorders its beams."""
        device = encoded.memory.device
        if isinstance(index, Tensor):
            index = index.to(device) if index.device != device else index
        else:
            index = Tensor(np.asarray(index, dtype=np.int64).reshape(-1), device=device)
        with scope(*self._scope_path):
            state = tuple(ops.getitem(s, index) for s in state)
            encoded = Encoded(ops.getitem(encoded.memory, index), ops.getitem(encoded.mask, index),
                              tuple(ops.getitem(f, (slice(None), index)) for f in encoded.final),
                              None if encoded.keys is None else ops.getitem(encoded.keys, index))
        return state, encoded

    # -- training -----------------------------------------------------------------------------------------------------
    def forward(self, src: Tensor, src_lengths, tgt_in: Tensor, teacher_forcing: float = 1.0):
        """Logits (B, T, V) for the decoder inputs ``tgt_in`` (B, T) (``<sos>`` first), and the attention weights
        (B, T, S) or None. With ``teacher_forcing`` < 1 (scheduled sampling) each row, at each step after the first,
        is fed its own greedy prediction instead of the gold token with probability 1 − teacher_forcing, drawn from
        the library's seeded generator (``tr.manual_seed``)."""
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ArgumentError(f"Seq2Seq: teacher_forcing must lie in [0, 1], got {teacher_forcing}")
        encoded = self._encode(src, src_lengths)
        tgt_in = _as_tokens(tgt_in, self.decoder.embedding.weight, "Seq2Seq", 2)
        batch = encoded.memory.shape[0]
        if tgt_in.shape[0] != batch or tgt_in.shape[1] == 0:
            raise ShapeError(f"Seq2Seq: tgt_in of shape {tgt_in.shape} does not fit a source batch of {batch} rows "
                             f"(expects ({batch}, steps ≥ 1)){location()}")
        state = self.decoder.initial_state(encoded)
        gold = ops.unbind(tgt_in, 1)
        logits, weights = [], []
        delay = encoded.memory.shape[1]  # the decoder counts its own steps; on the timeline they follow the encoder's
        for t, tokens in enumerate(gold):
            with step(t, offset=delay):
                if t and teacher_forcing < 1.0:
                    tokens = _scheduled(tokens, logits[-1], teacher_forcing)
                out, state, w = self.decoder(tokens, state, encoded)
            logits.append(out)
            weights.append(w)
        return ops.stack(logits, dim=1), (None if weights[0] is None else ops.stack(weights, dim=1))

    def loss(self, src: Tensor, src_lengths, tgt_in: Tensor, tgt_out: Tensor, teacher_forcing: float = 1.0) -> Tensor:
        """Cross-entropy of the logits against ``tgt_out`` (B, T) (-100 at padding), averaged over the real tokens."""
        with scope(*self._scope_path):
            logits, _ = self.forward(src, src_lengths, tgt_in, teacher_forcing)
            batch, steps, vocab = logits.shape
            tgt_out = _as_tokens(tgt_out, logits, "Seq2Seq.loss", 2)
            if tgt_out.shape != (batch, steps):
                raise ShapeError(f"Seq2Seq.loss: tgt_out of shape {tgt_out.shape} does not fit tgt_in's "
                                 f"{(batch, steps)}{location()}")
            return ops.cross_entropy(ops.reshape(logits, batch * steps, vocab), ops.reshape(tgt_out, batch * steps),
                                     ignore_index=-100)


def _scheduled(gold: Tensor, logits: Tensor, ratio: float) -> Tensor:
    """Per row, the gold token with probability ``ratio``, else the greedy prediction from ``logits``; one uniform
    draw per row from the seeded generator (none when ``ratio`` is 0)."""
    predicted = ops.argmax(logits, dim=-1)
    if predicted.dtype != gold.dtype:
        predicted = ops.cast(predicted, gold.dtype)
    if ratio <= 0.0:
        return predicted
    draw = ops.rand(gold.shape[0], dtype="float64", device=gold.device)
    return ops.where(draw < ratio, gold, predicted)
