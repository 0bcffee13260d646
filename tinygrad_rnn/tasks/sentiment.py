"""Sequence → class (the lectures' task S1): the sentiment of the five toy sentences, ⊕ or ⊖.

Text is lowercased and "." is dropped; the 20 words are numbered in alphabetical order, as in lecture 000
(``allowed`` = word₁ … ``water`` = word₂₀; 0-based indices here). Two models:

- ``onehot`` — the lectures' S1 network: y^h(t) = σ(W^h [y^h(t−1); x(t)]) with one-hot x(t) and y^h(0) = 0
  (``RNNCell(20, H, nonlinearity="sigmoid", bias=False)`` — its ``weight_hh`` and ``weight_ih`` are the two
  blocks of W^h), and y = softmax(W^o y^h(T)) over (⊕, ⊖). Trained by incremental gradient descent (IGD): one
  sentence per update, plain SGD, the corpus in its order epoch after epoch. The cell is run step by step over
  each sentence, so every sentence has its own length.
- ``embedding`` — what real models do: a learned ``Embedding`` → ``LSTM`` (or ``GRU``) → ``Linear`` from the
  last state, trained on the whole corpus per update with Adam. The sentences are padded to one length and the
  layer is given ``lengths=``, so its final state is each sentence's state at its own last word.

>>> encode("I love my cat.")  # word₁₁ word₁₅ word₁₆ word₆ of the lectures
[10, 14, 15, 5]
"""
from __future__ import annotations

import os
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.data import pad
from tinygrad_rnn import nn
from tinygrad_rnn.train import Trainer, eval_mode
from tinygrad_rnn.tasks.options import nonnegative_int, Parser

CORPUS = (
    ("I love my cat.", "⊕"),
    ("Cats and dogs lap water.", "⊕"),
    ("It is raining cats and dogs.", "⊖"),
    ("Cats and dogs are not allowed.", "⊖"),
    ("Cats and dogs have always been natural enemies.", "⊖"),
)
CLASSES = ("⊕", "⊖")  # the target for ⊕ is c = (1, 0)


def words(sentence: str) -> list[str]:
    """Lowercased, "." dropped, split on spaces — the lectures' preprocessing."""
    return sentence.lower().replace(".", "").split()


VOCAB = tuple(sorted({w for sentence, _ in CORPUS for w in words(sentence)}))  # the 20 words, alphabetical


def encode(sentence: str) -> list[int]:
    """0-based word indices (the lectures' word numbers minus one)."""
    return [VOCAB.index(w) for w in words(sentence)]


def dataset() -> tuple[list[list[int]], list[int]]:
    """The encoded sentences and their class indices (0 = ⊕, 1 = ⊖)."""
    return [encode(s) for s, _ in CORPUS], [CLASSES.index(c) for _, c in CORPUS]


class OneHotClassifier(nn.Module):
    """The lectures' S1 model: a logistic recurrent cell over one-hot words, softmax read-out of the last state.

    >>> import tinygrad_rnn as tr
    >>> OneHotClassifier(hidden_size=3)([10, 14, 15, 5]).shape  # logits of ⊕ and ⊖
    (2,)
    """

    def __init__(self, hidden_size: int = 8, vocab_size: int = len(VOCAB), classes: int = len(CLASSES)):
        super().__init__()
        self.vocab_size = vocab_size
        # no biases, as in the lecture: y^h(t) = σ(W^h [y^h(t−1); x(t)]), y = σ_Δ(W^o y^h(T))
        self.cell = nn.RNNCell(vocab_size, hidden_size, bias=False, nonlinearity="sigmoid")
        self.out = nn.Linear(hidden_size, classes, bias=False)
        # one-hot words are rows of the identity: an embedding lookup, built once
        self.register_buffer("one_hot", tr.tensor(np.eye(vocab_size, dtype=np.float32)))

    def forward(self, ids: list[int]) -> tr.Tensor:
        """Logits (classes,) for one sentence; the cell runs once per word, each step tagged t = 1..T."""
        onehot = tr.embedding(tr.tensor(ids, device=self.one_hot.device), self.one_hot)
        h = None  # y^h(0) = 0
        for t in range(len(ids)):
            with tr.step(t + 1):  # calling the module opens its scope, so the nodes read "cell" at step t
                h = self.cell(onehot[t], h)
        return self.out(h)


class EmbeddingClassifier(nn.Module):
    """Learned embeddings → LSTM or GRU over a padded batch with ``lengths=`` → Linear from each final state.

    >>> import tinygrad_rnn as tr
    >>> EmbeddingClassifier("gru", 4, 3)(tr.tensor([[10, 14, 15, 5], [3, 1, 0, 0]]), [4, 2]).shape
    (2, 2)
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 16, embed_size: int = 8,
                 vocab_size: int = len(VOCAB), classes: int = len(CLASSES)):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"EmbeddingClassifier: cell must be 'lstm' or 'gru', got {cell!r}")
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = (nn.LSTM(embed_size, hidden_size, batch_first=True, forget_bias=1.0) if cell == "lstm"
                    else nn.GRU(embed_size, hidden_size, batch_first=True))
        self.out = nn.Linear(hidden_size, classes)

    def forward(self, ids: tr.Tensor, lengths: list[int]) -> tr.Tensor:
        _, final = self.rnn(self.embed(ids), lengths=lengths)  # padded steps keep the state: h_n is at length
        h = final[0] if isinstance(final, tuple) else final  # LSTM: (h_n, c_n)
        return self.out(h[-1])


def _padded(sentences: list[list[int]]) -> tuple[tr.Tensor, list[int]]:
    # pad with word 0: the padded steps neither change the state nor send gradient, so the filler is irrelevant
    ids, lengths = pad(sentences, 0)
    return tr.tensor(ids), lengths.tolist()


@tr.no_grad()
def probabilities(model, variant: str) -> np.ndarray:
    """P(⊕), P(⊖) for each sentence of the corpus, (5, 2)."""
    sentences, _ = dataset()
    with eval_mode(model):
        if variant == "onehot":
            logits = tr.stack([model(s) for s in sentences], dim=0)
        else:
            logits = model(*_padded(sentences))
    return tr.softmax(logits, dim=-1).numpy()


def _accuracy(model, variant: str) -> float:
    return float((probabilities(model, variant).argmax(axis=1) == np.array(dataset()[1])).mean())


def train(variant: str = "onehot", quick: bool = False, seed: int = 0, cell: str = "lstm",
          progress: bool = False, log_path: str | None = None) -> tuple[object, list[float], int | None]:
    """Train one variant; returns the model, its losses, and the update after which every training sentence was
    first classified right (None if never).

    >>> model, losses, first = train("embedding", quick=True)
    >>> _accuracy(model, "embedding"), first is not None
    (1.0, True)
    """
    tr.manual_seed(seed)
    sentences, labels = dataset()
    if variant == "onehot":
        model = OneHotClassifier(hidden_size=8)
        optimizer = tr.optim.SGD(model.parameters(), lr=1.0)
        epochs = 150 if quick else 400
        steps = epochs * len(sentences)
        # IGD: update n sees sentence n mod 5 — "for each example: forward, δ, ΔW" — in the corpus's order
        batches = lambda step: (sentences[step % len(sentences)], labels[step % len(sentences)])
        loss_fn = lambda m, b: tr.cross_entropy(m(b[0]), tr.tensor(b[1]))
    elif variant == "embedding":
        model = EmbeddingClassifier(cell=cell, hidden_size=16, embed_size=8)
        optimizer = tr.optim.Adam(model.parameters(), lr=0.02)
        steps = 60 if quick else 150
        whole = (*_padded(sentences), tr.tensor(labels))  # the whole corpus in every update
        batches = lambda step: whole
        loss_fn = lambda m, b: tr.cross_entropy(m(b[0], b[1]), b[2])
    else:
        raise ValueError(f"sentiment: variant must be 'onehot' or 'embedding', got {variant!r}")
    every = len(sentences)  # an epoch: one IGD pass, or as many whole-corpus updates
    perfect: list[int] = []

    def checked(step: int):
        # "repeat epochs until convergence": before the first update of each epoch, note whether the model so far
        # classifies every training sentence right (training itself runs the whole budget)
        if step and step % every == 0 and not perfect and _accuracy(model, variant) == 1.0:
            perfect.append(step)
        return batches(step)

    losses = Trainer(model, optimizer, progress=progress, log_path=log_path).fit(checked, loss_fn, steps)
    if not perfect and _accuracy(model, variant) == 1.0:
        perfect.append(steps)
    first_perfect = perfect[0] if perfect else None
    return model, losses, first_perfect


def run(quick: bool = False, seed: int = 0, variants: tuple[str, ...] = ("onehot", "embedding"),
        cell: str = "lstm", out_dir: str | None = None, progress: bool = False, log=print) -> dict:
    """Train each variant, print the training accuracy and every sentence's class probabilities; returns, per
    variant, ``accuracy``, ``probabilities`` (5×2 lists), ``losses`` and ``seconds``."""
    _, labels = dataset()
    log(f"vocabulary ({len(VOCAB)} words, numbered from 1): "
        + " ".join(f"{k + 1}:{w}" for k, w in enumerate(VOCAB)))
    results = {}
    for variant in variants:
        start = time.perf_counter()
        log_path = os.path.join(out_dir, f"sentiment_{variant}.jsonl") if out_dir else None
        model, losses, first_perfect = train(variant, quick=quick, seed=seed, cell=cell, progress=progress,
                                             log_path=log_path)
        seconds = time.perf_counter() - start
        probs = probabilities(model, variant)
        predicted = probs.argmax(axis=1)
        accuracy = float((predicted == np.array(labels)).mean())
        what = ("one-hot words, logistic cell σ(W[h; x]) (8 units), IGD with SGD, one sentence per update"
                if variant == "onehot" else
                f"learned embeddings (8) → {cell.upper()} (16) with lengths=, Adam, whole corpus per update")
        log(f"\n[{variant}] {what}")
        log(f"  {len(losses)} updates in {seconds:.1f}s, loss {losses[0]:.3f} -> {losses[-1]:.4f}; "
            f"training accuracy {accuracy:.0%}"
            + (f" (first reached 100% after {first_perfect} updates)" if first_perfect else ""))
        for (sentence, label), p, guess in zip(CORPUS, probs, predicted):
            mark = "ok" if CLASSES[guess] == label else "WRONG"
            log(f"  {sentence:<50} {label}  P(⊕)={p[0]:.3f} P(⊖)={p[1]:.3f}  -> {CLASSES[guess]} {mark}")
        results[variant] = {"accuracy": accuracy, "probabilities": probs.tolist(), "losses": losses,
                            "seconds": seconds, "first_perfect": first_perfect}
    if out_dir:
        tr.save_json({k: {n: v for n, v in r.items() if n != "losses"} for k, r in results.items()},
                     os.path.join(out_dir, "sentiment.json"))
    return results


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn sentiment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (about a second)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--variant", choices=("onehot", "embedding", "both"), default="both")
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm", help="for the embedding variant")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write the training logs (JSONL) and the results (JSON) here")
    args = parser.parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    variants = ("onehot", "embedding") if args.variant == "both" else (args.variant,)
    results = run(quick=args.quick, seed=args.seed, variants=variants, cell=args.cell, out_dir=args.out,
                  progress=True)
    return 0 if all(r["accuracy"] == 1.0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
