"""Decoding encoder–decoder models: greedy, sampling (temperature, top-k) and beam search (batched, n-best).

Every decoder here works with any model that offers this interface (duck typing; ``tr.nn`` modules or not):

- ``model.encode(src, src_lengths) -> encoded`` — ``src`` a (B, S) int64 tensor;
- ``model.initial_state(encoded) -> state``;
- ``model.decode_step(tokens, state, encoded) -> (logits, state, weights)`` — ``tokens`` (N,) int64, ``logits``
  (N, V), ``weights`` the (N, S) attention weights or None;
- ``model.select(state, encoded, index) -> (state, encoded)`` — the rows ``index`` (a list of ints) of both, which
  is how one source row becomes K hypotheses, how beams are reordered and how finished rows leave the batch;
- ``model.sos_index``, ``model.eos_index``, ``model.pad_index``.

Decoding runs without a graph and, for a module, in eval mode. The model and its log-softmax run on the model's
device; the per-step bookkeeping (argmax, draws, ranking, back-pointers) runs in NumPy on a host copy of the (N, V)
log-probabilities, one copy per step. Scores are sums of log-probabilities (the lectures' products of
probabilities, without their underflow). Returned tokens leave out ``<sos>`` and ``<eos>``.

:class:`TableModel` is a toy with a fixed next-token table. The lectures' "he nose / he knows" situation: greedy
takes the locally best word, which leaves a flat next step, while a beam of two finds the better sentence:

>>> import tinygrad_rnn as tr
>>> model = TableModel([[0, .1, .5, .4, 0],      # after <sos>: <eos>, "nose", "knows"
...                     [0, 1, 0, 0, 0],         # after <eos>: only <eos> again
...                     [0, .25, .25, .25, .25], # after "nose": flat
...                     [0, .1, 0, 0, .9],       # after "knows": "something"
...                     [0, 1, 0, 0, 0]])        # after "something": the end
>>> src = tr.tensor([[0]])
>>> greedy(model, src).tokens, round(greedy(model, src).scores[0], 3)   # log(.5 × .25)
([[2]], -2.079)
>>> beam = beam_search(model, src, beam_width=2)
>>> beam.tokens, round(beam.scores[0], 3)                               # log(.4 × .9 × 1)
([[3, 4]], -1.022)
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .checks import integers, number
from .errors import ArgumentError, ArgumentTypeError
from . import ops
from .engine import Tensor, no_grad, tensor
from .train import eval_mode

__all__ = ["BeamNode", "BeamResult", "BeamTree", "DecodeResult", "Hypothesis", "TableModel", "beam_search", "draw",
           "greedy", "sample"]


# -- results ------------------------------------------------------------------------------------------------------
@dataclass
class DecodeResult:
    """One output per source row.

    ``tokens[b]`` the generated tokens without ``<sos>``/``<eos>``; ``scores[b]`` their summed log-probability
    (the ``<eos>`` step included where it was emitted); ``weights[b]`` the attention weights as a host array of
    shape (T_out, S_b) — one row per decoding step, the ``<eos>`` step included, cut to the row's source length —
    or None when the model returns none; ``finished[b]`` whether the row ended in ``<eos>`` (False: it ran into
    ``max_len``).
    """

    tokens: list[list[int]]
    scores: list[float]
    weights: list[np.ndarray | None]
    finished: list[bool] = field(default_factory=list)


class Hypothesis(NamedTuple):
    """One finished beam: its tokens (without ``<sos>``/``<eos>``), summed log-probability and the score it was
    ranked by (the sum divided by ``length ** length_penalty``)."""

    tokens: list[int]
    score: float
    normalised_score: float


@dataclass(slots=True)
class BeamNode:
    """One expansion of the recorded row: at ``step`` the token ``token`` appended to node ``parent`` (None for
    the ``<sos>`` root, step 0), ``score`` the path's summed log-probability; ``status`` is ``"root"``, ``"kept"``
    (in the beam after its step), ``"pruned"`` (outside the Top-K) or ``"finished"`` (ended in ``<eos>`` within the
    Top-K, or still in the beam at ``max_len``)."""

    id: int
    step: int
    token: int
    score: float
    parent: int | None
    status: str


@dataclass
class BeamTree:
    """The forking tree of one row's beam search, pruned to the Top-K at every step (``viz.beam`` draws it).

    ``nodes`` in creation order (``nodes[i].id == i``; expansions with probability zero are left out), ``best`` the
    ids on the path of the best hypothesis, root first.
    """

    row: int
    beam_width: int
    length_penalty: float
    eos_index: int
    nodes: list[BeamNode] = field(default_factory=list)
    best: list[int] = field(default_factory=list)

    def _add(self, step: int, token: int, score: float, parent: int | None, status: str) -> int:
        self.nodes.append(BeamNode(len(self.nodes), step, token, score, parent, status))
        return len(self.nodes) - 1


@dataclass
class BeamResult(DecodeResult):
    """:class:`DecodeResult` fields for the best hypothesis of each row, plus ``hypotheses[b]``, the row's n-best
    list of :class:`Hypothesis` (best first), and ``tree``, the :class:`BeamTree` when one was recorded."""

    hypotheses: list[list[Hypothesis]] = field(default_factory=list)
    tree: BeamTree | None = None


# -- a toy model --------------------------------------------------------------------------------------------------
class TableModel:
    """A decoder whose next-token distribution is a fixed table row ``probs[previous token]`` (V × V, rows summing
    to 1; zeros allowed), whatever the source: the smallest model with the decoding interface, for examples and for
    working beam search by hand. The source is carried along (and ``select``-ed) so batching behaves as in a real
    model."""

    def __init__(self, probs, sos_index: int = 0, eos_index: int = 1, pad_index: int | None = None):
        table = np.asarray(probs, dtype=np.float64)
        if table.ndim != 2 or table.shape[0] != table.shape[1]:
            raise ArgumentError(f"TableModel: probs must be a square (V, V) table, got shape {table.shape}")
        if (table < 0).any() or not np.allclose(table.sum(axis=1), 1.0):
            raise ArgumentError("TableModel: every row of probs must be a distribution (non-negative, summing to 1)")
        with np.errstate(divide="ignore"):  # log(0) = -inf is the impossible token
            self.logits = np.log(table)
        self.sos_index, self.eos_index = sos_index, eos_index
        self.pad_index = pad_index if pad_index is not None else -1

    def encode(self, src: Tensor, src_lengths=None) -> Tensor:
        return src

    def initial_state(self, encoded: Tensor) -> None:
        return None

    def decode_step(self, tokens: Tensor, state, encoded: Tensor):
        return tensor(self.logits[tokens.numpy()], device=tokens.device), state, None

    def select(self, state, encoded: Tensor, index):
        return state, encoded[index]


# -- shared plumbing ----------------------------------------------------------------------------------------------
def _evaluating(model):
    """Eval mode for anything with a PyTorch-like train/eval switch; a plain object has no mode to change."""
    if hasattr(model, "training") and callable(getattr(model, "eval", None)) and callable(getattr(model, "train",
                                                                                                     None)):
        return eval_mode(model)
    return contextlib.nullcontext()


def _check_source(fn: str, src, src_lengths, max_len: int) -> np.ndarray:
    """The source lengths as host ints, after checking the arguments every decoder shares."""
    if not isinstance(src, Tensor):
        raise ArgumentTypeError(f"{fn}: src must be a tinygrad_rnn Tensor of token ids, got {type(src).__name__}")
    if src.ndim != 2 or src.shape[0] == 0:
        raise ArgumentError(f"{fn}: src must have shape (B, S) with B >= 1, got {src.shape}")
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ArgumentError(f"{fn}: max_len must be an int >= 1, got {max_len!r}")
    batch, width = src.shape
    if width == 0:
        raise ArgumentError(f"{fn}: empty source: src has shape {src.shape}")
    if src_lengths is None:
        lengths = np.full(batch, width, dtype=np.int64)
    else:
        lengths = np.asarray(src_lengths.numpy() if isinstance(src_lengths, Tensor) else src_lengths)
        if lengths.shape != (batch,):
            raise ArgumentError(f"{fn}: src_lengths must hold one length per row of src {src.shape}, got shape "
                                f"{lengths.shape}")
        lengths = np.asarray(integers(lengths.tolist(), "src_lengths", fn), dtype=np.int64)
    empty = np.flatnonzero(lengths < 1)
    if empty.size:
        raise ArgumentError(f"{fn}: empty source: src_lengths[{empty[0]}] = {lengths[empty[0]]}; every row needs at "
                            "least one token")
    too_long = np.flatnonzero(lengths > width)
    if too_long.size:
        raise ArgumentError(f"{fn}: src_lengths[{too_long[0]}] = {lengths[too_long[0]]} is longer than src "
                            f"({width} columns)")
    return lengths


def _step(model, last: np.ndarray, state, encoded, device: str):
    """One decode_step for the running hypotheses: host log-probabilities (N, V) in float64 and host weights."""
    logits, state, weights = model.decode_step(tensor(last, dtype="int64", device=device), state, encoded)
    if logits.ndim != 2 or logits.shape[0] != last.shape[0]:
        raise ArgumentError(f"decode_step returned logits of shape {logits.shape} for {last.shape[0]} tokens; "
                            "expected (N, V)")
    logp = ops.log_softmax(logits, dim=-1).numpy().astype(np.float64)
    return logp, state, (None if weights is None else np.asarray(weights.numpy()))


def _identity(index: list[int], size: int) -> bool:
    return len(index) == size and index == list(range(size))


# -- greedy and sampling ------------------------------------------------------------------------------------------
def _decode_rows(fn: str, model, src: Tensor, src_lengths, max_len: int, choose) -> DecodeResult:
    """One token per row and step, picked by ``choose(logp) -> tokens``; a row leaves the batch at ``<eos>``."""
    lengths = _check_source(fn, src, src_lengths, max_len)
    batch, eos = src.shape[0], model.eos_index
    tokens: list[list[int]] = [[] for _ in range(batch)]
    scores = np.zeros(batch, dtype=np.float64)
    weights: list[list] = [[] for _ in range(batch)]
    finished = [False] * batch
    has_weights = False
    with no_grad(), _evaluating(model):
        encoded = model.encode(src, src_lengths)
        state = model.initial_state(encoded)
        rows = np.arange(batch)  # the source row of each position of the running batch
        last = np.full(batch, model.sos_index, dtype=np.int64)
        for _ in range(max_len):
            logp, state, attention = _step(model, last, state, encoded, src.device)
            picks = np.asarray(choose(logp), dtype=np.int64)
            has_weights = attention is not None
            for i, b in enumerate(rows):
                scores[b] += logp[i, picks[i]]
                if has_weights:
                    weights[b].append(attention[i, :lengths[b]])
                if picks[i] == eos:
                    finished[b] = True
                else:
                    tokens[b].append(int(picks[i]))
            keep = [i for i in range(len(rows)) if picks[i] != eos]
            if not keep:
                break
            if len(keep) < len(rows):
                state, encoded = model.select(state, encoded, keep)
            rows, last = rows[keep], picks[keep]
    return DecodeResult(tokens, [float(s) for s in scores],
                        [np.stack(w) if has_weights and w else None for w in weights], finished)


def greedy(model, src: Tensor, src_lengths=None, max_len: int = 50) -> DecodeResult:
    """Greedy decoding, batched: every row takes its most probable token (the lowest id on ties) until ``<eos>``
    or ``max_len`` tokens (``<eos>`` counted); the loop ends as soon as every row has ended.

    >>> import tinygrad_rnn as tr
    >>> model = TableModel([[0, .2, .8], [0, 1, 0], [0, .6, .4]])
    >>> out = greedy(model, tr.tensor([[0], [0]]), max_len=5)
    >>> out.tokens, out.finished
    ([[2], [2]], [True, True])
    """
    return _decode_rows("greedy", model, src, src_lengths, max_len, lambda logp: logp.argmax(axis=1))


def sample(model, src: Tensor, src_lengths=None, max_len: int = 50, temperature: float = 1.0,
           top_k: int | None = None, seed: int | np.random.Generator | None = None) -> DecodeResult:
    """Ancestral sampling, batched: each token drawn from softmax(log p / ``temperature``), restricted to the
    ``top_k`` most probable tokens (exactly k, ties to the lower id). Draws come from a NumPy generator on the host,
    so a ``seed`` makes the output reproducible on every device. ``scores`` are the model's own log-probabilities
    of the drawn tokens (temperature 1, no top-k). Small temperatures approach greedy; ``top_k=1`` is greedy.

    >>> import tinygrad_rnn as tr
    >>> model = TableModel([[0, .2, .8], [0, 1, 0], [0, .6, .4]])
    >>> src = tr.tensor([[0]] * 3)
    >>> sample(model, src, seed=1).tokens == sample(model, src, seed=1).tokens
    True
    >>> sample(model, src, top_k=1).tokens == greedy(model, src).tokens
    True
    """
    _check_sampling("sample", temperature, top_k)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _decode_rows("sample", model, src, src_lengths, max_len,
                        lambda logp: draw(logp, temperature, top_k, rng))


def _check_sampling(fn: str, temperature: float, top_k) -> None:
    if not temperature > 0:
        raise ArgumentError(f"{fn}: temperature must be > 0, got {temperature!r} (use greedy for the limit 0)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
        raise ArgumentError(f"{fn}: top_k must be an int >= 1 or None, got {top_k!r}")


def draw(scores: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
         rng: np.random.Generator | int | None = None) -> np.ndarray:
    """One index per row of the host array ``scores`` (log-probabilities or logits, (N, V)), drawn from
    softmax(scores / ``temperature``) restricted to the ``top_k`` largest (exactly k, ties to the lower id).

    >>> draw(np.log([[0.1, 0.9], [0.8, 0.2]]), top_k=1).tolist()
    [1, 0]
    """
    _check_sampling("draw", temperature, top_k)
    if top_k == 1:
        return scores.argmax(axis=1)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    z = np.array(scores, dtype=np.float64) / temperature
    if top_k is not None and top_k < z.shape[1]:
        dropped = np.argsort(-z, axis=1, kind="stable")[:, top_k:]
        np.put_along_axis(z, dropped, -np.inf, axis=1)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    # the first token whose cumulative mass exceeds u·total; '<=' skips zero-probability tokens even at u = 0
    picks = (cdf <= rng.random(len(z))[:, None] * cdf[:, -1:]).sum(axis=1)
    return np.minimum(picks, z.shape[1] - 1)




# -- beam search --------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Final:
    """A finished hypothesis: its last token ``token`` was chosen at ``step`` from running position ``parent`` of
    the step before."""

    normalised: float
    score: float
    step: int
    parent: int
    token: int
    node: int | None


@dataclass(frozen=True)
class _BeamSettings:
    """What every row's search shares: the beam width, the n-best size, the length penalty, ``<eos>`` and
    ``max_len``."""

    width: int
    nbest: int
    alpha: float
    eos: int
    max_len: int

    def normalised(self, score: float, length: int) -> float:
        return score / float(length) ** self.alpha if self.alpha else score


def _ranked(cum: np.ndarray, logp: np.ndarray, need: int) -> np.ndarray:
    """Flat indices of the ``need`` best expansions (more where tied at the boundary), best first.

    Ranked by summed log-probability, then by the step's own log-probability (so that a width-1 beam makes exactly
    greedy's choice even where two sums round to the same float), then by position (parent rank, then token id):
    deterministic under ties, and never fewer than the beam width while finite expansions remain.
    """
    flat = np.where(np.isfinite(cum), cum, -np.inf).ravel()
    if need < flat.size:
        threshold = np.partition(flat, flat.size - need)[flat.size - need]
        index = np.flatnonzero(flat >= threshold)
    else:
        index = np.arange(flat.size)
    index = index[np.isfinite(flat[index])]
    return index[np.lexsort((index, -logp.ravel()[index], -flat[index]))]


class _BeamRow:
    """The search of one source row: its n-best finished hypotheses so far and, for the row whose tree is recorded,
    the tree's nodes of its live hypotheses (in running order)."""

    def __init__(self, settings: _BeamSettings, tree: BeamTree | None, sos: int):
        self.settings, self.tree = settings, tree
        self.finals: list[_Final] = []
        self.nodes = [tree._add(0, sos, 0.0, None, "root")] if tree is not None else []

    def expand(self, t: int, cum: np.ndarray, logp: np.ndarray, start: int) -> list[int]:
        """Step ``t`` of this row: ``cum`` (K, V) the summed log-probabilities of every expansion of its K live
        hypotheses, which sit at running positions ``start`` to ``start + K``; ``logp`` the step's own. Finishes
        what ends in ``<eos>`` within the top ``width`` and returns the flat indices (k * V + token) of the
        expansions that stay in the beam, best first: ``width`` of them while that many exist, none once the row
        has stopped."""
        settings, vocab = self.settings, cum.shape[1]
        ids = self._record(t, cum) if self.tree is not None else None
        live: list[int] = []
        for rank, flat in enumerate(_ranked(cum, logp, 2 * settings.width)):
            if len(live) == settings.width:
                break
            if int(flat) % vocab != settings.eos:
                live.append(int(flat))
            elif rank < settings.width:
                self.finish(t, int(flat), cum, start, ids)
        if t == settings.max_len:  # out of time: the live hypotheses finish as they are
            for flat in live:
                self.finish(t, flat, cum, start, ids)
            return []
        if ids is not None:
            for flat in live:
                self.tree.nodes[ids[flat]].status = "kept"
            self.nodes = [ids[flat] for flat in live]
        if not live or self._settled(float(cum.ravel()[live].max()), t):
            return []
        return live

    def finish(self, t: int, flat: int, cum: np.ndarray, start: int, ids: dict[int, int] | None) -> None:
        """Move the expansion ``flat`` of step ``t`` to the finished hypotheses, which stay the ``nbest`` best
        (stable: earlier finds win ties)."""
        k, token = divmod(flat, cum.shape[1])
        node = ids[flat] if ids is not None else None
        if node is not None:
            self.tree.nodes[node].status = "finished"
        score = float(cum[k, token])
        self.finals.append(_Final(self.settings.normalised(score, t), score, t, start + k, token, node))
        self.finals.sort(key=lambda f: -f.normalised)
        del self.finals[self.settings.nbest:]

    def _settled(self, best_live: float, t: int) -> bool:
        """Whether nothing still live could enter the n-best list: log-probabilities are <= 0, so a live score can
        only fall, and the best normalised score it can reach is at the most favourable length still possible."""
        settings = self.settings
        if len(self.finals) < settings.nbest:
            return False
        bound = max(settings.normalised(best_live, t + 1), settings.normalised(best_live, settings.max_len))
        return self.finals[settings.nbest - 1].normalised >= bound

    def _record(self, t: int, cum: np.ndarray) -> dict[int, int]:
        """Every possible expansion of step ``t`` as a tree node, "pruned" until chosen; their ids by flat index."""
        vocab, ids = cum.shape[1], {}
        for k in range(cum.shape[0]):
            for v in np.flatnonzero(np.isfinite(cum[k])):
                ids[k * vocab + int(v)] = self.tree._add(t, int(v), float(cum[k, v]), self.nodes[k], "pruned")
        return ids

    def mark_best(self) -> None:
        """The recorded tree's ``best``: the path of the best hypothesis, root first."""
        if self.finals:
            node = self.finals[0].node
            while node is not None:
                self.tree.best.append(node)
                node = self.tree.nodes[node].parent
            self.tree.best.reverse()


class _BackPointers:
    """Per step t >= 1, indexed by running position after step t: the parent's running position after step t - 1
    and the token; the attention weights of step t, indexed by the parent's position (None without weights)."""

    def __init__(self):
        self.parents: list[np.ndarray | None] = [None]
        self.tokens: list[np.ndarray | None] = [None]
        self.weights: list[np.ndarray | None] = [None]

    def add(self, weights: np.ndarray | None, parents: list[int], tokens: list[int]) -> None:
        self.weights.append(weights)
        self.parents.append(np.asarray(parents, dtype=np.int64))
        self.tokens.append(np.asarray(tokens, dtype=np.int64))

    def path(self, final: _Final) -> tuple[list[int], list[np.ndarray] | None]:
        """Tokens and attention rows of a finished hypothesis, followed back to <sos>."""
        seq = [final.token]
        attention = [] if self.weights[final.step] is not None else None
        position, step = final.parent, final.step
        while True:
            if attention is not None:
                attention.append(self.weights[step][position])
            step -= 1
            if step == 0:
                break
            seq.append(int(self.tokens[step][position]))
            position = int(self.parents[step][position])
        return seq[::-1], (attention[::-1] if attention is not None else None)


def _check_beam(src: Tensor, beam_width, nbest, length_penalty, record_tree: bool, tree_row: int) -> float:
    """The length penalty as a float, after checking the arguments only beam search has."""
    for name, value in (("beam_width", beam_width), ("nbest", nbest)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ArgumentError(f"beam_search: {name} must be an int >= 1, got {value!r}")
    if nbest > beam_width:
        raise ArgumentError(f"beam_search: nbest = {nbest} is larger than beam_width = {beam_width}; a beam cannot "
                            "return more hypotheses than it keeps")
    if record_tree and not 0 <= tree_row < src.shape[0]:
        raise ArgumentError(f"beam_search: tree_row = {tree_row} is outside the batch of {src.shape[0]} rows")
    return number(length_penalty, "length_penalty", "beam_search")


def _search(model, src: Tensor, src_lengths, rows: list[_BeamRow], max_len: int) -> _BackPointers:
    """Run every row's search, batched: one decode_step per time step for every live hypothesis of every running
    row. Running rows are kept in order, each owning a contiguous span of running positions; a row that stops
    leaves the batch."""
    back = _BackPointers()
    with no_grad(), _evaluating(model):
        encoded = model.encode(src, src_lengths)
        state = model.initial_state(encoded)
        spans = [(b, b + 1) for b in range(len(rows))]  # the first step starts from one <sos> per row
        scores = np.zeros(len(rows), dtype=np.float64)
        last = np.full(len(rows), model.sos_index, dtype=np.int64)
        for t in range(1, max_len + 1):
            logp, state, attention = _step(model, last, state, encoded, src.device)
            parents, tokens, new_scores, new_rows, new_spans = [], [], [], [], []
            for row, (start, stop) in zip(rows, spans):
                cum = scores[start:stop, None] + logp[start:stop]
                live = row.expand(t, cum, logp[start:stop], start)
                if not live:
                    continue
                begin = len(parents)
                for flat in live:
                    k, token = divmod(flat, logp.shape[1])
                    parents.append(start + k)
                    tokens.append(token)
                new_scores.extend(cum.ravel()[live].tolist())
                new_rows.append(row)
                new_spans.append((begin, len(parents)))
            back.add(attention, parents, tokens)
            if not new_rows:
                break
            if not _identity(parents, len(last)):
                state, encoded = model.select(state, encoded, parents)
            rows, spans = new_rows, new_spans
            scores = np.asarray(new_scores, dtype=np.float64)
            last = back.tokens[-1]
    return back


def _beam_result(rows: list[_BeamRow], back: _BackPointers, lengths: np.ndarray, eos: int,
                 tree: BeamTree | None) -> BeamResult:
    """Each row's n-best list followed back to <sos>, and the fields of its best hypothesis."""
    result = BeamResult([], [], [], [], [[] for _ in rows], tree)
    for b, row in enumerate(rows):
        best_weights, ended = None, False
        for rank, final in enumerate(row.finals):
            seq, attention = back.path(final)
            ended_here = seq[-1] == eos
            if ended_here:
                seq = seq[:-1]
            result.hypotheses[b].append(Hypothesis(seq, final.score, final.normalised))
            if rank == 0:
                ended = ended_here
                if attention is not None:
                    best_weights = np.stack([w[:lengths[b]] for w in attention])
        best = result.hypotheses[b][0] if result.hypotheses[b] else Hypothesis([], float("-inf"), float("-inf"))
        result.tokens.append(best.tokens)
        result.scores.append(best.score)
        result.weights.append(best_weights)
        result.finished.append(ended)
    return result


def beam_search(model, src: Tensor, src_lengths=None, beam_width: int = 5, max_len: int = 50,
                length_penalty: float = 0.0, nbest: int = 1, record_tree: bool = False,
                tree_row: int = 0) -> BeamResult:
    """Beam search over log-probabilities, batched over rows and beams: one ``decode_step`` per time step for every
    live hypothesis of every row.

    Each step expands every live hypothesis by every token (score + log p) and ranks the expansions of a row. The
    top ``beam_width`` are kept; those ending in ``<eos>`` move to the row's finished list, and the beam is topped
    up with the next best expansions that do not end in ``<eos>``, so it always holds exactly ``beam_width`` paths
    (while that many exist). The first step starts from one ``<sos>`` hypothesis per row, not K copies of it.

    Length normalisation: finished hypotheses are ranked by ``score / length ** length_penalty``, length counting
    the generated tokens with ``<eos>``; 0 (the default) ranks by the plain summed log-probability, larger values
    favour longer outputs. Live hypotheses of one row all have the same length, so pruning is unaffected.

    Stopping rule, per row: the row stops once it holds ``nbest`` finished hypotheses and the ``nbest``-th best
    normalised score is at least the best any live hypothesis could still reach. Log-probabilities are ≤ 0, so a
    live score can only fall; the best it can reach is ``score / L ** length_penalty`` at the most favourable
    length L still possible (the longest, ``max_len``, for a positive penalty). With ``length_penalty=0`` this is
    "stop when the best live score ≤ the ``nbest``-th finished score" — for ``nbest=1`` the lectures' "stop when
    the best path ends in <eos>". Nothing the row could still find would enter its n-best list. A row also stops
    when no live hypothesis is left, and at ``max_len`` the live hypotheses are finished as they are. Finished rows
    leave the batch (``model.select``); the loop ends when every row has stopped.

    With ``beam_width=1`` (and ``length_penalty=0``) the result is exactly :func:`greedy`'s: tokens and score.

    ``record_tree`` records every expansion of row ``tree_row`` as a :class:`BeamTree` (``viz.beam`` draws it):
    V nodes per live hypothesis and step, meant for small vocabularies and short outputs.

    >>> import tinygrad_rnn as tr
    >>> model = TableModel([[0, .1, .5, .4], [0, 1, 0, 0], [0, .5, .3, .2], [0, .9, .1, 0]])
    >>> out = beam_search(model, tr.tensor([[0]]), beam_width=2, nbest=2)
    >>> [(h.tokens, round(h.score, 3)) for h in out.hypotheses[0]]
    [([3], -1.022), ([2], -1.386)]
    """
    lengths = _check_source("beam_search", src, src_lengths, max_len)
    alpha = _check_beam(src, beam_width, nbest, length_penalty, record_tree, tree_row)
    settings = _BeamSettings(int(beam_width), nbest, alpha, model.eos_index, max_len)
    tree = BeamTree(tree_row, settings.width, alpha, settings.eos) if record_tree else None
    rows = [_BeamRow(settings, tree if b == tree_row else None, model.sos_index) for b in range(src.shape[0])]
    back = _search(model, src, src_lengths, rows, max_len)
    if tree is not None:
        rows[tree_row].mark_best()
    return _beam_result(rows, back, lengths, settings.eos, tree)
