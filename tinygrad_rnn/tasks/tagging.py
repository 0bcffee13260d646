"""Sequence tagging (aligned many-to-many): label every character of real Python source with the kind of token
it belongs to, and compare a unidirectional with a bidirectional LSTM.

The labels come from the standard library's ``tokenize`` (:func:`label_chars`): ``name``, ``keyword`` (a NAME
for which ``keyword.iskeyword`` holds), ``operator``, ``number``, ``string`` (the whole literal, prefix, quotes
and — on Python 3.12+, where f-strings are split into parts — everything between an f-string's quotes),
``comment`` and ``other`` (whitespace, newlines, indentation, line continuations). The text is a fixed, sorted
set of the running interpreter's standard-library modules: some to train on, others held out.

The model is character embedding → LSTM → Linear at every position, trained on random fixed-length chunks
with :class:`~tinygrad_rnn.train.Trainer`. A unidirectional LSTM must decide at the ``i`` of ``if`` whether a
keyword or a name such as ``items`` starts, and at the start of a chunk whether it is inside a string or a
comment; the bidirectional one (lecture 004's H_t = [H→_t; H←_t]) sees the rest of the word and the closing
quote, so it should tag held-out code more accurately with the same hidden size per direction.

>>> [CLASSES[k] for k in label_chars("x = 1  # hi")][:5]
['name', 'other', 'operator', 'other', 'number']
"""
from __future__ import annotations

import io
import keyword
import os
import sysconfig
import time
import tokenize
from typing import NamedTuple

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import nn
from tinygrad_rnn.train import Trainer, eval_mode
from tinygrad_rnn.tasks.options import nonnegative_int, Parser, positive_int

CLASSES = ("name", "keyword", "operator", "number", "string", "comment", "other")
NAME, KEYWORD, OPERATOR, NUMBER, STRING, COMMENT, OTHER = range(len(CLASSES))
SYMBOLS = "nko1s#."  # one character per class, for printing tag strings under the source

# Small, stable modules (present from Python 3.10 on); a name missing from some interpreter is skipped.
TRAIN_FILES = ("bisect.py", "colorsys.py", "copy.py", "fnmatch.py", "genericpath.py", "glob.py", "heapq.py",
               "linecache.py", "numbers.py", "queue.py", "reprlib.py", "sched.py", "shlex.py", "stat.py",
               "textwrap.py")
TEST_FILES = ("abc.py", "cmd.py", "operator.py", "string.py")
UNK = "<unk>"


# -- the labeller ---------------------------------------------------------------------------------------------------
def label_chars(source: str) -> list[int]:
    """One class index (into :data:`CLASSES`) per character of ``source``, from ``tokenize``.

    Characters that no token covers — spaces between tokens, line continuations — and the NEWLINE / NL /
    INDENT tokens are ``other``. Raises ``tokenize.TokenError`` or ``SyntaxError`` where ``source`` does not
    tokenize (an unterminated string, say).

    >>> "".join(SYMBOLS[k] for k in label_chars("if x: y = 'a'  # c\\n"))
    'kk.no.n.o.sss..###.'
    """
    labels = [OTHER] * len(source)
    # tokenize counts rows from 1 and columns in characters within a row; rows end at "\n" only, as io.StringIO
    # (newline="\n") splits them
    starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def offset(row: int, col: int) -> int:
        return min(starts[row - 1] + col, len(source)) if row <= len(starts) else len(source)

    # Python 3.12+ splits an f-string into START, MIDDLE parts, its expressions' tokens and END, and a MIDDLE's
    # end stops short of a {{ or }} escape: the literal is labelled whole, from the outermost START to its END
    fstring_depth, fstring_start = 0, 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        kind = tokenize.tok_name[token.type]
        start, end = offset(*token.start), offset(*token.end)
        if kind.endswith("STRING_START"):
            fstring_start = start if fstring_depth == 0 else fstring_start
            fstring_depth += 1
        elif kind.endswith("STRING_END"):
            fstring_depth -= 1
            if fstring_depth == 0:
                labels[fstring_start:end] = [STRING] * (end - fstring_start)
        elif fstring_depth:
            continue  # inside an f-string: labelled at its END
        elif kind == "ERRORTOKEN":  # Python 3.10/3.11 yield one (an unterminated string's quote) and go on
            row, col = token.start
            raise tokenize.TokenError(f"label_chars: cannot tokenize line {row} from column {col}: "
                                      f"{token.line[col:].strip()!r}", token.start)
        else:
            label = {"NAME": KEYWORD if keyword.iskeyword(token.string) else NAME, "OP": OPERATOR,
                     "NUMBER": NUMBER, "STRING": STRING, "COMMENT": COMMENT}.get(kind, OTHER)
            if label != OTHER:
                labels[start:end] = [label] * (end - start)
    return labels


def stdlib_text(names: tuple[str, ...], max_chars: int | None = None) -> tuple[str, list[int], list[str]]:
    """The named standard-library modules (those that exist and tokenize), joined by blank lines, with their
    labels and the names used; each file is labelled on its own, so a token never spans two files."""
    folder = sysconfig.get_paths()["stdlib"]
    texts, labels, used = [], [], []
    for name in sorted(names):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            file_labels = label_chars(text)
        except (tokenize.TokenError, SyntaxError):
            continue
        texts.append(text + "\n")
        labels.extend(file_labels + [OTHER])
        used.append(name)
        if max_chars is not None and len(labels) >= max_chars:
            break
    text = "".join(texts)
    if max_chars is not None:
        text, labels = text[:max_chars], labels[:max_chars]
    return text, labels, used


# -- the model ------------------------------------------------------------------------------------------------------
class CharTagger(nn.Module):
    """Character embedding → (bi)LSTM → Linear: logits (batch, steps, classes) for tokens (batch, steps).

    >>> import tinygrad_rnn as tr
    >>> CharTagger(10, bidirectional=True, hidden_size=4, embed_size=3)(tr.tensor([[1, 2, 3]])).shape
    (1, 3, 7)
    """

    def __init__(self, vocab_size: int, bidirectional: bool, hidden_size: int = 48, embed_size: int = 16,
                 classes: int = len(CLASSES)):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True, bidirectional=bidirectional, forget_bias=1.0)
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), classes)

    def forward(self, tokens) -> tr.Tensor:
        states, _ = self.lstm(self.embed(tokens))
        return self.out(states)


def chunk_rows(rng: np.random.Generator, total: int, length: int, batch: int) -> np.ndarray:
    """The indices of ``batch`` random chunks of ``length`` consecutive characters of a text of ``total``: a
    (batch, length) array, every start from 0 to ``total - length`` equally likely (the last chunk ends on the
    last character).

    >>> chunk_rows(np.random.default_rng(0), 3, 3, 2).tolist()
    [[0, 1, 2], [0, 1, 2]]
    """
    if total < length:
        raise ValueError(f"tagging: a text of {total} characters holds no chunk of {length}")
    starts = rng.integers(0, total - length + 1, size=batch)
    return starts[:, None] + np.arange(length)


@tr.no_grad()
def predict(model: CharTagger, ids: np.ndarray, length: int, batch: int = 256) -> np.ndarray:
    """The predicted class of every character of the first ``len(ids) // length * length``, chunk by chunk."""
    chunks = ids[:len(ids) // length * length].reshape(-1, length)
    with eval_mode(model):
        out = [model(tr.tensor(chunks[k:k + batch])).numpy().argmax(-1) for k in range(0, len(chunks), batch)]
    return np.concatenate(out).reshape(-1) if out else np.zeros(0, dtype=np.int64)


def _show(text: str, tags: dict[str, np.ndarray], start: int, width: int) -> list[str]:
    """Rows of the source and, under it, one tag string per model (``SYMBOLS``) over ``width`` characters."""
    piece = text[start:start + width]
    rows = [f"  {'source':>8} | " + piece.replace("\n", "⏎").replace("\t", "→")]
    for name, values in tags.items():
        rows.append(f"  {name:>8} | " + "".join(SYMBOLS[k] for k in values[start:start + width]))
    return rows


class _Corpus(NamedTuple):
    """The training and held-out text as symbol ids and class labels; the held-out labels cut to what
    :func:`predict` covers."""

    vocab: list[str]
    train_ids: np.ndarray
    train_y: np.ndarray
    test_text: str
    test_ids: np.ndarray
    test_y: np.ndarray


def _corpus(quick: bool, length: int, log) -> _Corpus:
    """The standard-library text, tokenised to characters (unseen ones → <unk>) and labelled."""
    train_text, train_labels, train_files = stdlib_text(TRAIN_FILES, 6000 if quick else None)
    test_text, test_labels, test_files = stdlib_text(TEST_FILES, 3000 if quick else None)
    vocab = [UNK] + sorted(set(train_text))
    index = {ch: k for k, ch in enumerate(vocab)}
    encode = lambda text: np.array([index.get(ch, 0) for ch in text], dtype=np.int64)
    test_y = np.array(test_labels, dtype=np.int64)
    corpus = _Corpus(vocab, encode(train_text), np.array(train_labels, dtype=np.int64), test_text,
                     encode(test_text), test_y[:len(test_y) // length * length])
    log(f"train: {len(train_text):,} characters of {len(train_files)} stdlib modules ({', '.join(train_files)}); "
        f"held out: {len(corpus.test_y):,} characters of {', '.join(test_files)}; {len(vocab)} symbols (with <unk>)")
    return corpus


def _baseline(corpus: _Corpus, log) -> float:
    """The held-out accuracy of tagging everything with the most frequent training class."""
    counts = np.bincount(corpus.train_y, minlength=len(CLASSES))
    log("classes (training share): " + ", ".join(f"{c} {n / counts.sum():.1%}" for c, n in zip(CLASSES, counts)))
    majority = int(counts.argmax())
    baseline = float((corpus.test_y == majority).mean())
    log(f"majority-class baseline ('{CLASSES[majority]}' everywhere): {baseline:.1%} held-out accuracy")
    return baseline


def _example_line(corpus: _Corpus) -> int:
    """Where the first held-out line with a keyword and a string or a comment starts (0 if there is none)."""
    line_start = 0
    for line in corpus.test_text[:len(corpus.test_y)].splitlines(keepends=True):
        labels = set(corpus.test_y[line_start:line_start + len(line)].tolist())
        if {KEYWORD, STRING} <= labels or {KEYWORD, COMMENT} <= labels:
            return line_start
        line_start += len(line)
    return 0


def _log_per_class(results: dict, log) -> None:
    log("held-out accuracy per class:  " + "  ".join(f"{c:>8}" for c in CLASSES))
    for key in ("unidirectional", "bidirectional"):
        values = [results[key + "_per_class"][c] for c in CLASSES]
        log(f"  {key:>26}  " + "  ".join(f"{v:>8.1%}" if v is not None else f"{'-':>8}" for v in values))


def _loss(model, data) -> tr.Tensor:
    tokens, targets = data
    return tr.cross_entropy(model(tokens).reshape(-1, len(CLASSES)), targets.reshape(-1))


def run(quick: bool = False, seed: int = 0, steps: int | None = None, hidden_size: int | None = None,
        out_dir: str | None = None, progress: bool = False, log=print) -> dict:
    """Train a unidirectional and a bidirectional tagger on the same chunks; returns the held-out accuracies of
    both, the majority-class baseline, per-class accuracies and timings."""
    # quick: tiny text and model, a few updates (seconds); full: ~140k training characters, ~1-2 minutes
    length, batch = (32, 16) if quick else (64, 32)
    steps = steps if steps is not None else (40 if quick else 500)
    hidden_size = hidden_size if hidden_size is not None else (16 if quick else 48)
    corpus = _corpus(quick, length, log)
    results: dict = {"baseline": _baseline(corpus, log), "classes": CLASSES,
                     "train_chars": len(corpus.train_ids), "test_chars": len(corpus.test_y)}

    def batches(step: int):
        # a function of the update index (resumable); the same chunks for both models
        rows = chunk_rows(np.random.default_rng((seed, step)), len(corpus.train_ids), length, batch)
        return tr.tensor(corpus.train_ids[rows]), tr.tensor(corpus.train_y[rows])

    predictions = {}
    for name, key, bidirectional in (("uni", "unidirectional", False), ("bi", "bidirectional", True)):
        tr.manual_seed(seed)
        model = CharTagger(len(corpus.vocab), bidirectional, hidden_size, 8 if quick else 16)
        log_path = os.path.join(out_dir, f"tagging_{name}.jsonl") if out_dir else None
        trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.01), clip_norm=1.0, progress=progress,
                          log_path=log_path)
        start = time.perf_counter()
        losses = trainer.fit(batches, _loss, steps)
        seconds = time.perf_counter() - start
        predictions[name] = predict(model, corpus.test_ids, length)
        correct = predictions[name] == corpus.test_y
        results[key] = float(correct.mean())
        results[key + "_per_class"] = {c: float(correct[corpus.test_y == k].mean())
                                       if (corpus.test_y == k).any() else None  # absent class
                                       for k, c in enumerate(CLASSES)}
        results[key + "_seconds"] = seconds
        results[key + "_losses"] = losses
        log(f"{key:>14} LSTM (hidden {hidden_size} per direction): {steps} updates of {batch}×{length} characters "
            f"in {seconds:.1f}s, loss {losses[0]:.3f} -> {losses[-1]:.3f}; held-out accuracy {correct.mean():.1%}")
    _log_per_class(results, log)
    log(f"tags ({', '.join(f'{s} {c}' for s, c in zip(SYMBOLS, CLASSES))}):")
    for row in _show(corpus.test_text, {"truth": corpus.test_y, **predictions}, _example_line(corpus), 72):
        log(row)
    if out_dir:
        tr.save_json({k: v for k, v in results.items() if not k.endswith("_losses")},
                     os.path.join(out_dir, "tagging.json"))
    return results


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn tagging", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny text and model, a few updates (seconds)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="updates per model (default 500; 40 with --quick)")
    parser.add_argument("--hidden", type=positive_int, default=None, help="LSTM hidden size per direction (default 48)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write the training logs (JSONL) and the accuracies (JSON) here")
    args = parser.parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    run(quick=args.quick, seed=args.seed, steps=args.steps, hidden_size=args.hidden, out_dir=args.out,
        progress=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
