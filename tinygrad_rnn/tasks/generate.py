"""Class → sequence (the lectures' task S2): generate the toy sentences from their class ⊕ or ⊖.

The vocabulary is the 20 words of task S1 (alphabetical, 0-based here) plus ``<start>`` and ``<end>`` — the
lectures' word₂₁ and word₂₂, indices 20 and 21 — and the network is lecture 000's S2 model, without biases:

- y^h(0) = σ(W^i x), x the one-hot condition, W^i lifting it to the hidden size;
- y^h(t) = σ(W^h [y^h(t−1); y(t−1)]) — ``RNNCell(22, H, nonlinearity="sigmoid", bias=False)`` over the
  one-hot previous word, starting from y(0) = <start> — and y(t) = softmax(W^o y^h(t)).

Training uses teacher forcing (the target word c(t−1) is fed, not the model's own guess) and the whole corpus
per update; the target of "I love my cat" is [word₁₁, word₁₅, word₁₆, word₆, word₂₂]. At test time the model
runs free: it feeds back its most probable word (greedy) until it emits ``<end>``.

Two sentences are ⊕ and three ⊖, so the class alone cannot say *which* sentence to produce. Two conditionings:

- ``class`` — exactly the lecture's x = onehot(⊕/⊖). Greedy decoding then produces one sentence per class (the
  first word splits the probability, e.g. P("i"|⊕) ≈ P("cats"|⊕) ≈ ½); we report which training sentence it
  matches and the probability the model gives every sentence of that class.
- ``class+index`` — x = [onehot(class); onehot(index of the sentence within its class)],
  so each of the five conditions names one sentence, and free-running generation must reproduce all five.

``run`` and ``main`` train one model of each by default.

>>> target_ids("I love my cat.")  # word₁₁ word₁₅ word₁₆ word₆ word₂₂ of the lecture, 0-based
[10, 14, 15, 5, 21]
"""
from __future__ import annotations

import os
import time

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn.data import IGNORE_INDEX, pad
from tinygrad_rnn import nn
from tinygrad_rnn.train import Trainer
from tinygrad_rnn.tasks.options import nonnegative_int, Parser

from .sentiment import CLASSES, CORPUS, VOCAB, encode, words

START, END = len(VOCAB), len(VOCAB) + 1  # the lectures' word₂₁ and word₂₂ (<end> is the last one-hot slot)
TOKENS = VOCAB + ("<start>", "<end>")
CONDITIONINGS = ("class", "class+index")


def target_ids(sentence: str) -> list[int]:
    """The words of ``sentence`` followed by <end>: what the decoder must emit."""
    return encode(sentence) + [END]


def conditions() -> list[tuple[str, int, str]]:
    """``(label, index within the class, sentence)`` for every training sentence, in the corpus's order."""
    seen: dict[str, int] = {}
    out = []
    for sentence, label in CORPUS:
        out.append((label, seen.get(label, 0), sentence))
        seen[label] = seen.get(label, 0) + 1
    return out


def condition_vector(conditioning: str, label: str, index: int = 0) -> np.ndarray:
    """The one-hot x of y^h(0) = σ(W^i x): the class, and with ``class+index`` the sentence's index in its class.

    >>> condition_vector("class+index", "⊖", 2).tolist()
    [0.0, 1.0, 0.0, 0.0, 1.0]
    """
    x = np.zeros(_condition_size(conditioning), dtype=np.float32)
    x[CLASSES.index(label)] = 1.0
    if conditioning == "class+index":
        x[len(CLASSES) + index] = 1.0
    return x


def _condition_size(conditioning: str) -> int:
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"generate: conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
    per_class = max(sum(1 for _, c in CORPUS if c == label) for label in CLASSES)
    return len(CLASSES) + (per_class if conditioning == "class+index" else 0)


class SentenceGenerator(nn.Module):
    """Lecture 000's S2 decoder: h₀ = σ(W^i x), h_t = σ(W^h [h_{t−1}; onehot(y_{t−1})]), y_t = softmax(W^o h_t).

    >>> import tinygrad_rnn as tr
    >>> model = SentenceGenerator(condition_size=2, hidden_size=4)
    >>> model(tr.tensor([[1.0, 0.0]]), tr.tensor([[START, 10]])).shape  # teacher forcing: (batch, steps, 22)
    (1, 2, 22)
    """

    def __init__(self, condition_size: int, hidden_size: int = 24, vocab_size: int = len(TOKENS)):
        super().__init__()
        self.vocab_size = vocab_size
        self.init = nn.Linear(condition_size, hidden_size, bias=False)  # W^i
        self.cell = nn.RNNCell(vocab_size, hidden_size, bias=False, nonlinearity="sigmoid")  # W^h
        self.out = nn.Linear(hidden_size, vocab_size, bias=False)  # W^o
        # one-hot words are rows of the identity: an embedding lookup on the model's own device
        self.register_buffer("one_hot", tr.tensor(np.eye(vocab_size, dtype=np.float32)))

    def initial(self, condition: tr.Tensor) -> tr.Tensor:
        """y^h(0) = σ(W^i x)."""
        with tr.step(0):
            return tr.sigmoid(self.init(condition)).named("h0")

    def forward(self, condition: tr.Tensor, inputs: tr.Tensor) -> tr.Tensor:
        """Logits (batch, steps, vocab) when step t is fed ``inputs[:, t]`` (teacher forcing: <start>, then the
        target words)."""
        h = self.initial(condition)
        onehot = tr.embedding(inputs, self.one_hot)  # (batch, steps, vocab): y(t−1) as the lecture feeds it
        logits = []
        for t in range(inputs.shape[1]):
            with tr.step(t + 1):
                h = self.cell(onehot[:, t], h)
                logits.append(self.out(h).named("logits"))
        return tr.stack(logits, dim=1)

    @tr.no_grad()
    def generate(self, condition: np.ndarray, max_len: int = 20) -> list[int]:
        """Free-running greedy decoding: feed back the most probable word until <end> (not included) or
        ``max_len`` words."""
        h = self.initial(tr.tensor(condition[None]))
        word, out = START, []
        for t in range(max_len):
            with tr.step(t + 1):
                h = self.cell(tr.embedding(tr.tensor([word], device=h.device), self.one_hot), h)
                word = int(self.out(h).numpy()[0].argmax())
            if word == END:
                break
            out.append(word)
        return out

    @tr.no_grad()
    def log_probability(self, condition: np.ndarray, sentence: str) -> float:
        """log P(sentence, <end> | condition) under teacher forcing — the chain rule over the emitted words."""
        targets = target_ids(sentence)
        logits = self(tr.tensor(condition[None]), tr.tensor([[START] + targets[:-1]]))
        log_p = tr.log_softmax(logits, dim=-1).numpy()[0]
        return float(sum(log_p[t, w] for t, w in enumerate(targets)))


def training_batch(conditioning: str) -> tuple[tr.Tensor, tr.Tensor, tr.Tensor]:
    """Conditions (5, K), inputs [<start>, words] and targets [words, <end>] (5, T), padded: the inputs with
    <end> (its steps come after the sentence's last target and change nothing before it), the targets with
    -100, which the loss ignores."""
    rows = conditions()
    targets = [target_ids(sentence) for _, _, sentence in rows]
    inputs, _ = pad([[START] + t[:-1] for t in targets], END)
    padded, _ = pad(targets, IGNORE_INDEX)
    xs = np.stack([condition_vector(conditioning, label, index) for label, index, _ in rows])
    return tr.tensor(xs), tr.tensor(inputs), tr.tensor(padded)


def train(conditioning: str = "class+index", quick: bool = False, seed: int = 0, progress: bool = False,
          log_path: str | None = None) -> tuple[SentenceGenerator, list[float]]:
    """Teacher-forced training on the whole corpus per update, Adam; returns the model and its losses."""
    tr.manual_seed(seed)
    model = SentenceGenerator(_condition_size(conditioning))
    batch = training_batch(conditioning)
    # the mean over the emitted words of −log p(c(t)) — the lecture's ℓ = Σ_t l(δ(t)) up to a constant factor
    loss_fn = lambda m, b: tr.cross_entropy(m(b[0], b[1]).reshape(-1, len(TOKENS)), b[2].reshape(-1))
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.05), clip_norm=5.0, progress=progress,
                      log_path=log_path)
    losses = trainer.fit(lambda step: batch, loss_fn, 300 if quick else 600)
    return model, losses


def run(quick: bool = False, seed: int = 0, conditionings: tuple[str, ...] = CONDITIONINGS,
        out_dir: str | None = None, progress: bool = False, log=print) -> dict:
    """Train one model per conditioning and generate from every condition; returns, per conditioning, the
    generated sentences, which training sentence each matches, ``exact`` (how many conditions reproduced
    their — or, for ``class``, some — training sentence of that class exactly), losses and timing."""
    training = {" ".join(words(s)): label for s, label in CORPUS}
    results = {}
    for conditioning in conditionings:
        start = time.perf_counter()
        log_path = os.path.join(out_dir, f"generate_{conditioning}.jsonl") if out_dir else None
        model, losses = train(conditioning, quick=quick, seed=seed, progress=progress, log_path=log_path)
        seconds = time.perf_counter() - start
        log(f"\n[{conditioning}] y^h(0) = σ(W^i x), x = "
            + ("onehot(class)" if conditioning == "class" else "[onehot(class); onehot(index within class)]")
            + f"; {len(losses)} teacher-forced updates in {seconds:.1f}s, loss {losses[0]:.3f} -> {losses[-1]:.4f}")
        asked = ([(label, 0, None) for label in CLASSES] if conditioning == "class" else conditions())
        generated = []
        for label, index, wanted in asked:
            x = condition_vector(conditioning, label, index)
            text = " ".join(TOKENS[w] for w in model.generate(x))
            match = training.get(text)
            exact = match == label and (wanted is None or text == " ".join(words(wanted)))
            name = label if conditioning == "class" else f"{label} #{index}"
            verdict = ("NO training sentence of this condition" if not exact else
                       f"is one of the {label} training sentences" if wanted is None else "is the training sentence")
            log(f"  {name:>4} -> {text + ' <end>':<52} {verdict}")
            if conditioning == "class":  # how the model splits its probability between the class's sentences
                for sentence, c in CORPUS:
                    if c == label:
                        p = np.exp(model.log_probability(x, sentence))
                        log(f"         P({' '.join(words(sentence))!r} | {label}) = {p:.3f}")
            generated.append({"condition": name, "text": text, "exact": exact})
        results[conditioning] = {"generated": generated, "exact": sum(g["exact"] for g in generated),
                                 "conditions": len(generated), "losses": losses, "seconds": seconds}
        log(f"  {results[conditioning]['exact']}/{len(generated)} conditions reproduce a training sentence exactly")
    if out_dir:
        tr.save_json({k: {n: v for n, v in r.items() if n != "losses"} for k, r in results.items()},
                     os.path.join(out_dir, "generate.json"))
    return results


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (about a second)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--condition", choices=CONDITIONINGS + ("both",), default="both",
                        help="what y^h(0) is computed from (default: train one model of each)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write the training logs (JSONL) and the generated sentences (JSON) here")
    args = parser.parse_args(argv)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    chosen = CONDITIONINGS if args.condition == "both" else (args.condition,)
    results = run(quick=args.quick, seed=args.seed, conditionings=chosen, out_dir=args.out, progress=True)
    return 0 if all(r["exact"] == r["conditions"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
