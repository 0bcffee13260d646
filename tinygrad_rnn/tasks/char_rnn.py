"""A small character-level tanh RNN language model on the lectures' five sentences, unrolled explicitly step by
step: train it, show what it learned and write its unrolled graph and the gradient reaching back through it.

    tinygrad-rnn char-rnn [--seconds 5] [--out out]

The recurrence is written out with primitive ops (``tanh(x_t W_ihᵀ + h W_hhᵀ + b)``), each step inside
``tr.step(t)``, so the graph it leaves has one cluster per time step.
"""
from __future__ import annotations

import os
import time

import tinygrad_rnn as tr
from tinygrad_rnn import analysis, nn
from tinygrad_rnn.data import IGNORE_INDEX, Vocab, pad
from tinygrad_rnn.train import Trainer
from tinygrad_rnn.tasks.options import nonnegative_int, Parser, positive_float

SENTENCES = [
    "i love my cat",
    "cats and dogs lap water",
    "it is raining cats and dogs",
    "cats and dogs are not allowed",
    "cats and dogs have always been natural enemies",
]
END = "."


class CharRNN(nn.Module):
    """Embedding → tanh RNN (one explicit step per character) → linear read-out to next-character logits."""

    def __init__(self, vocab_size: int, hidden_size: int = 48, embed_size: int = 16):
        super().__init__()
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.ih = nn.Linear(embed_size, hidden_size)
        self.hh = nn.Linear(hidden_size, hidden_size, bias=False)
        nn.init.orthogonal_(self.hh.weight)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: tr.Tensor, h: tr.Tensor | None = None):
        batch, steps = tokens.shape
        if h is None:
            h = tr.zeros(batch, self.hidden_size).named("h0")
        projected = self.ih(self.embed(tokens))  # every step's input projection in one matmul
        logits = []
        with tr.scope("rnn"):
            for t in range(steps):
                with tr.step(t):
                    h = (projected[:, t] + self.hh(h)).tanh().named("h")
                    logits.append(self.out(h).named("logits"))
        return tr.stack(logits, dim=1), h


def encode(texts, vocab: Vocab) -> list:
    return [vocab.encode(text, add_eos=False) for text in texts]


def training_batch(vocab: Vocab):
    """Inputs and next-character targets, padded with ignore_index so every sentence trains in one batch."""
    ids = encode([s + END for s in SENTENCES], vocab)
    inputs, _ = pad([i[:-1] for i in ids], vocab.pad_index)
    targets, _ = pad([i[1:] for i in ids], IGNORE_INDEX)
    return tr.tensor(inputs), tr.tensor(targets)


def complete(model: CharRNN, vocab: Vocab, prefix: str, max_len: int = 60) -> str:
    """Greedy continuation of ``prefix`` until the end marker."""
    with tr.no_grad():
        logits, h = model(tr.tensor([vocab.encode(prefix, add_eos=False)]))
        text = prefix
        for _ in range(max_len):
            nxt = vocab.symbol(int(logits[0, -1].numpy().argmax()))
            if nxt == END:
                break
            text += nxt
            logits, h = model(tr.tensor([[vocab.index(nxt)]]), h)
    return text


def run(seconds: float = 5.0, out_dir: str = "out", seed: int = 0, log=print) -> dict:
    """Train for about ``seconds``, print progress and completions, write the unrolled graph under ``out_dir``."""
    import viz

    tr.manual_seed(seed)
    vocab = Vocab.build(SENTENCES + [END])
    inputs, targets = training_batch(vocab)
    model = CharRNN(len(vocab))
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.01), clip_norm=5.0)
    start = time.perf_counter()
    losses = trainer.fit(lambda step: (inputs, targets),
                         lambda m, b: tr.cross_entropy(m(b[0])[0].reshape(-1, len(vocab)), b[1].reshape(-1)),
                         steps=10**9, after_update=lambda t: time.perf_counter() - start >= seconds,
                         show_total=False)
    log(f"trained {len(losses)} steps in {time.perf_counter() - start:.1f}s: "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f} (nats per character)")
    completions = {p: complete(model, vocab, p) for p in ("i lo", "cats and dogs l", "it is r", "cats and dogs ha")}
    for prefix, text in completions.items():
        log(f"  {prefix!r:22} -> {text!r}")

    # the unrolled graph of a short input, and the gradient flowing back from the last step's prediction
    text = "cats and dogs have always"
    logits, _ = model(tr.tensor([encode([text], vocab)[0]]))
    flow = analysis.gradient_norms(logits[:, -1].sum(), "h", "CharRNN/rnn")["CharRNN/rnn"]
    log(f"gradient of the last prediction over {text!r}: ‖∂L/∂h_t‖ = {flow.norms[-1]:.2g} at the last step, "
        f"{flow.norms[0]:.2g} at the first ({len(text) - 1} steps back)")
    picture = viz.plots.plot_curves({"‖∂L/∂h_t‖": flow.norms[::-1]}, os.path.join(out_dir, "char_rnn_gradients.png"),
                                    title=f"Gradient of the last prediction reaching back over {text!r}",
                                    xlabel="steps back from the last character", ylabel="gradient norm", log=True,
                                    x=range(len(flow.norms)))
    short, _ = model(tr.tensor([encode(["i love"], vocab)[0]]))
    short[:, -1].sum().backward()
    files = viz.write(tr.graph.trace(short), os.path.join(out_dir, "char_rnn_unrolled.dot"),
                      title="char-RNN unrolled over 'i love' (6 steps)") + [picture]
    log("wrote " + ", ".join(files))
    if not viz.dot_available():
        log(viz.INSTALL_DOT)
    return {"losses": losses, "completions": completions, "files": files}


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn char-rnn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=positive_float, default=5.0, help="training time budget (default 5)")
    parser.add_argument("--quick", action="store_true", help="train for one second")
    parser.add_argument("--out", default="out", help="output folder (default out/)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    run(seconds=1.0 if args.quick else args.seconds, out_dir=args.out, seed=args.seed)
    return 0
