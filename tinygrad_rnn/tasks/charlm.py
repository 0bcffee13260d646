"""A character-level language model on real source code: the Python standard library's own ``.py`` files.

Lecture 003's RNN LM, one character at a time: Embedding C → LSTM (or GRU / tanh RNN) → Linear V, trained by
next-character prediction, l = Σ_t −log p(w_{t+1} | w_1..w_t). The text is the running interpreter's standard
library (``sysconfig.get_paths()["stdlib"]``): its top-level modules in sorted order, every tenth file held out
(the split is by file, so held-out text is code the model never saw). Characters outside printable ASCII, tab and
newline map to one unknown symbol, so the vocabulary is fixed (V = 98) whatever the files hold.

Training is truncated BPTT over B parallel streams (:meth:`Trainer.fit_tbptt` with k1 = k2 = T): the training
text is cut into B contiguous streams, one update per chunk of T steps, and the LSTM state is carried from each
chunk into the next with its graph cut, so the model sees context longer than T without backpropagating through
it. The held-out score is in bits per character (cross-entropy / ln 2), next to two baselines: uniform over the
vocabulary (log₂ V) and the unigram model of the training text (character frequencies, add-one smoothed).

Samples come from :func:`sample_logits`: softmax of the logits divided by a temperature (→ 0: greedy argmax; 1:
the model's own distribution), optionally restricted to the ``top_k`` most likely characters, drawn with a seeded
NumPy generator.

>>> encode("a\\u00e9")[1] == UNK_ID, decode(encode("def f():\\n"))
(True, 'def f():\\n')
"""
from __future__ import annotations

import math
import os
import sys
import sysconfig
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import nn
from tinygrad_rnn.decode import draw
from tinygrad_rnn.train import Trainer, cosine_lr, eval_mode
from tinygrad_rnn.tasks.options import nonnegative_int, Parser, positive_float, positive_int

ALPHABET = "\t\n" + "".join(chr(c) for c in range(32, 127))  # tab, newline and printable ASCII
UNK_ID = len(ALPHABET)  # everything else
VOCAB_SIZE = len(ALPHABET) + 1
UNK_CHAR = "\N{REPLACEMENT CHARACTER}"
_INDEX = {ch: k for k, ch in enumerate(ALPHABET)}
HELD_OUT_EVERY = 10  # files number 9, 19, 29 ... of the sorted list are held out


# -- text -----------------------------------------------------------------------------------------------------------
def encode(text: str) -> list[int]:
    """Character ids: the position in :data:`ALPHABET`, or :data:`UNK_ID`."""
    return [_INDEX.get(ch, UNK_ID) for ch in text]


def decode(ids) -> str:
    return "".join(ALPHABET[i] if i < UNK_ID else UNK_CHAR for i in ids)


STDLIB = sysconfig.get_paths()["stdlib"]  # the running interpreter's standard library, the default text


def stdlib_files(stdlib: str | None = None) -> list[str]:
    """The top-level ``.py`` modules of the standard library, sorted by name (a fixed, deterministic order)."""
    stdlib = stdlib or STDLIB
    return sorted(os.path.join(stdlib, name) for name in os.listdir(stdlib)
                  if name.endswith(".py") and os.path.isfile(os.path.join(stdlib, name)))


def load_corpus(train_chars: int, held_out_chars: int, stdlib: str | None = None) -> dict:
    """Train and held-out text from the standard library, split by file: every :data:`HELD_OUT_EVERY`-th file
    (in sorted order) is held out. Files are taken in order until each side has its number of characters (the
    last file is cut). Returns ``{"train": ids, "held_out": ids, "train_files": [...], "held_out_files": [...]}``
    with ids as int64 NumPy arrays."""
    stdlib = stdlib or STDLIB
    sides = {"train": ([], [], train_chars), "held_out": ([], [], held_out_chars)}
    for k, path in enumerate(stdlib_files(stdlib)):
        ids, names, budget = sides["held_out" if k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"]
        have = sum(len(part) for part in ids)
        if have >= budget:
            if all(sum(map(len, side[0])) >= side[2] for side in sides.values()):
                break
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        ids.append(encode(text[:budget - have]))
        names.append(os.path.basename(path))
    if not any(map(len, sides["train"][0])):  # training would tile an empty text into zeros (np.resize)
        why = (f"train_chars is {train_chars}" if train_chars < 1 else
               f"the standard library at {stdlib} holds no non-empty .py module outside the held-out ones")
        raise ValueError(f"charlm: no training text: {why}")
    corpus = {}
    for side, (ids, names, _) in sides.items():
        corpus[side] = np.array([i for part in ids for i in part], dtype=np.int64)
        corpus[side + "_files"] = names
    return corpus


def streams(ids: np.ndarray, batch: int) -> tr.Tensor:
    """``ids`` cut into ``batch`` contiguous streams side by side: a (length, batch) int64 tensor, time on axis 0,
    so consecutive chunks of rows continue each other (what lets the state be carried between chunks).

    >>> streams(np.arange(7), 2).numpy().tolist()
    [[0, 3], [1, 4], [2, 5]]
    """
    length = len(ids) // batch
    return tr.tensor(np.ascontiguousarray(ids[:length * batch].reshape(batch, length).T))


def unigram_bits(train: np.ndarray, held_out: np.ndarray, vocab: int = VOCAB_SIZE) -> float:
    """Cross-entropy in bits per character of ``held_out`` under the training text's character frequencies
    (add-one smoothed): the score of a model that ignores all context."""
    counts = np.bincount(train, minlength=vocab) + 1.0
    log_p = np.log2(counts / counts.sum())
    return float(-log_p[held_out].mean())


# -- the model --------------------------------------------------------------------------------------------------------
CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharLM(nn.Module):
    """Embedding → one recurrent layer (fused cells) → Linear: next-character logits for (T, B) character ids.

    >>> import tinygrad_rnn as tr
    >>> logits, state = CharLM(hidden_size=8, embed_size=4)(tr.tensor([[1, 2], [3, 4], [5, 6]]))
    >>> logits.shape, state[0].shape
    ((3, 2, 98), (1, 2, 8))
    """

    def __init__(self, vocab_size: int = VOCAB_SIZE, embed_size: int = 32, hidden_size: int = 256,
                 cell: str = "lstm"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"CharLM: cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.vocab_size, self.cell = vocab_size, cell
        self.embed = nn.Embedding(vocab_size, embed_size)
        # the lectures' LSTM starts with its forget gate open (bias 1, Gers et al. 2000)
        self.rnn = CELLS[cell](embed_size, hidden_size, **({"forget_bias": 1.0} if cell == "lstm" else {}))
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: tr.Tensor, state=None):
        out, state = self.rnn(self.embed(tokens), state)
        return self.head(out), state  # one matmul for every step's read-out


def _loss(logits: tr.Tensor, targets: tr.Tensor, reduction: str = "mean") -> tr.Tensor:
    return tr.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def _check_scorable(characters: int, batch: int, who: str) -> None:
    """Held-out text of ``characters`` as ``batch`` streams must leave a position to score: two per stream."""
    if characters // batch < 2:
        raise ValueError(f"{who}: {characters} held-out characters as {batch} streams leave no position to score "
                         "(each stream needs at least 2 characters)")


@tr.no_grad()
def bits_per_char(model: CharLM, ids: np.ndarray, batch: int = 32, chunk: int = 200) -> float:
    """Held-out cross-entropy in bits per character: ``ids`` as ``batch`` streams, run in chunks with the state
    carried across them (as in training), every position after the first scored. Each stream needs two
    characters at least: with nothing to score it raises a ``ValueError`` rather than report 0 bits."""
    _check_scorable(len(ids), batch, "bits_per_char")
    data = streams(ids, batch)
    total, count, state = 0.0, 0, None
    with eval_mode(model):
        for start in range(0, len(data) - 1, chunk):
            end = min(start + chunk, len(data) - 1)
            logits, state = model(data[start:end], state)
            total += _loss(logits, data[start + 1:end + 1], reduction="sum").item()
            count += (end - start) * batch
    return total / max(count, 1) / math.log(2)


# -- sampling -----------------------------------------------------------------------------------------------------
def sample_logits(logits: tr.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  rng: np.random.Generator | int | None = None):
    """Draw one class per row of ``logits`` ((V,) → an int, (B, V) → a list): softmax(logits / temperature)
    restricted to the ``top_k`` largest logits (the others get probability 0). ``temperature == 0`` is greedy
    (argmax); small temperatures approach it, large ones approach uniform (over the top k).

    >>> import tinygrad_rnn as tr
    >>> logits = tr.tensor([0.0, 3.0, 1.0, 2.0])
    >>> sample_logits(logits, temperature=0), sample_logits(logits, temperature=1e-6, rng=0)
    (1, 1)
    >>> sorted({sample_logits(logits, 5.0, top_k=2, rng=seed) for seed in range(50)})
    [1, 3]
    """
    if temperature < 0:
        raise ValueError(f"sample_logits: temperature must be >= 0, got {temperature}")
    rows = logits.reshape(1, -1).numpy() if logits.ndim == 1 else logits.numpy()
    # temperature 0 is the argmax, which decode.draw reaches as top_k=1
    picks = draw(rows, temperature or 1.0, 1 if temperature == 0 else top_k, rng).tolist()
    return picks[0] if logits.ndim == 1 else picks


@tr.no_grad()
def generate(model: CharLM, prompt: str, length: int = 200, temperature: float = 1.0, top_k: int | None = None,
             seed: int = 0) -> str:
    """``prompt`` followed by ``length`` sampled characters (see :func:`sample_logits`), one step at a time with
    the recurrent state carried. The prompt must hold a character at least: the model needs one to start from."""
    if not prompt:
        raise ValueError("generate: the prompt is empty; give at least one character to start from (\"\\n\" "
                         "starts a line)")
    rng = np.random.default_rng(seed)
    with eval_mode(model):
        logits, state = model(tr.tensor([[i] for i in encode(prompt)]))
        out = []
        for _ in range(length):
            nxt = sample_logits(logits[-1, 0], temperature, top_k, rng)
            out.append(nxt)
            logits, state = model(tr.tensor([[nxt]]), state)
    return prompt + decode(out)


# -- the run ------------------------------------------------------------------------------------------------------
# Full mode: the benchmark's sizes (benchmarks/charlm.py); ~1500 updates take about two minutes on two cores.
FULL = dict(train_chars=2_000_000, held_out_chars=100_000, embed=64, hidden=256, batch=32, chunk=100, steps=1500,
            lr=5e-3, sample_length=300)
QUICK = dict(train_chars=20_000, held_out_chars=4_000, embed=16, hidden=32, batch=8, chunk=32, steps=60, lr=1e-2,
             sample_length=60)
PROMPT = "import os\n\n\ndef "
SAMPLINGS = ((0.7, 10), (1.0, None), (0.0, None))  # (temperature, top_k): cautious, the model's own, greedy


def _sizes(quick: bool, **overrides) -> dict:
    """The quick or full sizes with the given ones (those not None) in their place."""
    sizes = dict(QUICK if quick else FULL)
    sizes.update({key: value for key, value in overrides.items() if value is not None})
    return sizes


def _log_corpus(corpus: dict, log) -> None:
    files = corpus["held_out_files"]
    log(f"char-LM on {STDLIB}: {len(corpus['train']):,} training characters from "
        f"{len(corpus['train_files'])} files, {len(corpus['held_out']):,} held-out from {len(files)} "
        f"({', '.join(files[:4])}{', ...' if len(files) > 4 else ''})")


def _train(model: CharLM, train_ids: np.ndarray, sizes: dict, cell: str, progress: bool, log) -> tuple[list, float]:
    """Truncated BPTT over the streams with the state carried; returns the losses and the seconds it took."""
    steps, chunk, batch = sizes["steps"], sizes["chunk"], sizes["batch"]
    # exactly `steps` chunks of each of the `batch` streams; where the library's text is shorter than that, it is
    # repeated end to end (np.resize tiles), so the streams still run on without a break
    needed = steps * chunk * batch + batch
    data = streams(np.resize(train_ids, max(needed, len(train_ids))), batch)[:steps * chunk + 1]
    inputs, targets = data[:-1], data[1:]
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=sizes["lr"]), clip_norm=1.0,
                      schedule=cosine_lr(sizes["lr"], steps, min_lr=sizes["lr"] / 10, warmup=min(20, steps // 10)),
                      progress=progress)
    log(f"{cell.upper()} E={sizes['embed']} H={sizes['hidden']}, {sum(p.numel() for p in model.parameters()):,} "
        f"parameters; TBPTT over {batch} streams, chunks of {chunk}, state carried; {steps} Adam updates "
        f"(lr {sizes['lr']:g}, cosine, clip 1.0)")
    start = time.perf_counter()
    losses = trainer.fit_tbptt(lambda m, x, state: m(x, state), inputs, targets, _loss, k1=chunk, k2=chunk)
    seconds = time.perf_counter() - start
    seen = len(losses) * chunk * batch
    log(f"trained {len(losses)} updates ({seen:,} characters, the training text {seen / len(train_ids):.2f} times) "
        f"in {seconds:.1f} s ({seen / seconds:,.0f} characters/s)")
    return losses, seconds


def _samples(model: CharLM, prompt: str, length: int, seed: int, log) -> dict:
    """One sample per entry of SAMPLINGS, each with its own seed; label → text."""
    samples = {}
    for k, (temperature, top_k) in enumerate(SAMPLINGS):
        label = "greedy" if temperature == 0 else f"temperature {temperature:g}" + (
            f", top-{top_k}" if top_k else "")
        samples[label] = generate(model, prompt, length, temperature, top_k, seed=seed + k)
        log(f"--- sample, {label} ---\n{samples[label]}")
    return samples


def _save(result: dict, losses: list, model: CharLM, out_dir: str, log) -> None:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "charlm.json")
    tr.save_json(dict(result, losses=losses), path)
    tr.save(model.state_dict(), os.path.join(out_dir, "charlm.npz"))  # CharLM(...).load_state_dict(tr.load(..))
    log(f"wrote {path} and charlm.npz (the weights)")


def run(quick: bool = False, seed: int = 0, cell: str = "lstm", hidden_size: int | None = None,
        embed_size: int | None = None, batch: int | None = None, chunk: int | None = None,
        steps: int | None = None, lr: float | None = None, train_chars: int | None = None,
        held_out_chars: int | None = None, prompt: str = PROMPT, out_dir: str | None = None,
        progress: bool = False, log=print) -> dict:
    """Train the char-LM and report; returns the printed numbers: ``bpc`` (held-out bits per character),
    ``unigram_bpc``, ``uniform_bpc``, ``train_bpc`` (last updates), ``updates``, ``train_seconds``, ``samples``
    (label → text) and the sizes."""
    sizes = _sizes(quick, hidden=hidden_size, embed=embed_size, batch=batch, chunk=chunk, steps=steps, lr=lr,
                   train_chars=train_chars, held_out_chars=held_out_chars)
    # enough training text for every update to see new characters, where the library has it
    needed = sizes["steps"] * sizes["chunk"] * sizes["batch"] + sizes["batch"]
    if not prompt:  # checked before training, not after it
        raise ValueError("charlm: the prompt is empty; give at least one character to start the samples from")
    corpus = load_corpus(max(sizes["train_chars"], needed), sizes["held_out_chars"])
    train_ids, held_ids = corpus["train"], corpus["held_out"]
    held_batch = min(sizes["batch"], max(1, len(held_ids) // (sizes["chunk"] + 1)))
    _check_scorable(len(held_ids), held_batch, "charlm (held_out_chars sets how many)")
    unigram = unigram_bits(train_ids, held_ids)
    uniform = math.log2(VOCAB_SIZE)
    _log_corpus(corpus, log)

    tr.manual_seed(seed)
    model = CharLM(VOCAB_SIZE, sizes["embed"], sizes["hidden"], cell)
    losses, seconds = _train(model, train_ids, sizes, cell, progress, log)
    train_bpc = float(np.mean(losses[-20:])) / math.log(2)
    bpc = bits_per_char(model, held_ids, batch=held_batch)
    log(f"{'held-out bits per character':32} {bpc:.3f}")
    log(f"{'training, last 20 updates':32} {train_bpc:.3f}")
    log(f"{'unigram baseline (held-out)':32} {unigram:.3f}")
    log(f"{'uniform baseline, log2 V':32} {uniform:.3f}")

    samples = _samples(model, prompt, sizes["sample_length"], seed, log)
    result = {"cell": cell, "bpc": bpc, "train_bpc": train_bpc, "unigram_bpc": unigram, "uniform_bpc": uniform,
              "updates": len(losses), "train_seconds": seconds, "train_chars": int(len(train_ids)),
              "held_out_chars": int(len(held_ids)), "held_out_files": corpus["held_out_files"],
              "samples": samples, "sizes": sizes, "seed": seed}
    if out_dir:
        _save(result, losses, model, out_dir, log)
    return result


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn charlm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny text and model, a few updates (seconds)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    parser.add_argument("--hidden", type=positive_int, default=None, help=f"hidden size (default {FULL['hidden']})")
    parser.add_argument("--embed", type=positive_int, default=None, help=f"embedding size (default {FULL['embed']})")
    parser.add_argument("--batch", type=positive_int, default=None, help=f"parallel streams (default {FULL['batch']})")
    parser.add_argument("--chunk", type=positive_int, default=None,
                        help=f"TBPTT chunk length (default {FULL['chunk']})")
    parser.add_argument("--steps", type=positive_int, default=None, help=f"updates (default {FULL['steps']})")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help=f"Adam's peak learning rate (default {FULL['lr']})")
    parser.add_argument("--train-chars", type=positive_int, default=None,
                        help=f"training characters (default {FULL['train_chars']:,}, more if the updates need it)")
    parser.add_argument("--held-out-chars", type=positive_int, default=None,
                        help=f"held-out characters (default {FULL['held_out_chars']:,})")
    parser.add_argument("--prompt", default=PROMPT, help=f"start of every sample, \\n and \\t allowed (default "
                        f"{PROMPT!r})")
    parser.add_argument("--out", default=None, help="also write the results (losses included) as JSON here")
    args = parser.parse_args(argv)
    if not args.prompt:
        parser.error("--prompt must hold a character at least (\\n starts a line)")
    run(quick=args.quick, seed=args.seed, cell=args.cell, hidden_size=args.hidden, embed_size=args.embed,
        batch=args.batch, chunk=args.chunk, steps=args.steps, lr=args.lr, train_chars=args.train_chars,
        held_out_chars=args.held_out_chars, prompt=args.prompt.replace("\\n", "\n").replace("\\t", "\t"),
        out_dir=args.out, progress=sys.stderr.isatty())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
