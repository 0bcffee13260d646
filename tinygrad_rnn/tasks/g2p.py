"""Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary with an encoder–decoder and attention.

    tinygrad-rnn g2p train --out out/g2p --minutes 60
    tinygrad-rnn g2p eval --checkpoint out/g2p/best --beam 1,2,5
    tinygrad-rnn g2p pronounce --checkpoint out/g2p/best --beam 5 --nbest 3 tinygrad recurrent

The letters of a word go through an encoder (a bidirectional LSTM by default), the decoder writes ARPAbet
phonemes one at a time, fed its previous phoneme and an attention context over the letters; training is teacher
forcing (optionally scheduled sampling) with masked cross-entropy, global-norm clipping and Adam, the learning rate
halved when the dev phoneme error stops falling and training stopped when it has not fallen for ``--patience``
evaluations. ``best`` (lowest dev phoneme error) and ``last`` checkpoints hold the weights, the optimiser, both
vocabularies and the loop's state, so ``--resume`` continues a run exactly. Scores: phoneme error rate (edit
distance to the closest reference over its length, summed over words) and word error rate (no reference matched).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import decode, metrics
from tinygrad_rnn.data import Vocab, bucket_batches, load_g2p
from tinygrad_rnn.nn.seq2seq import Seq2Seq
from tinygrad_rnn.train import EarlyStopping, ReduceLROnPlateau, Trainer
from tinygrad_rnn.tasks.options import device, nonnegative_int, Parser, positive_float, positive_int, probability

MODEL = {"embed_size": 64, "hidden_size": 256, "num_layers": 1, "cell": "lstm", "bidirectional": True,
         "attention": "additive", "context": "init", "reverse_input": False, "dropout": 0.1}
QUICK = {"train_pairs": 1500, "dev_words": 150, "embed_size": 16, "hidden_size": 32, "epochs": 2}
MAX_PHONEMES = 32  # longer than any pronunciation in the dictionary; bounds decoding of a runaway output
# A dev phoneme error above this is far from what the task allows: the demo's model reaches 11.4% in its 1,800
# updates, the default model 6.2% in an hour, while an untrained one scores about 80% (and a WER of 100%).
FAR_FROM_CONVERGED = 0.30


# -- model and checkpoints ------------------------------------------------------------------------------------------
def build_model(src_vocab: Vocab, tgt_vocab: Vocab, **options) -> Seq2Seq:
    """The encoder–decoder for these vocabularies; ``options`` override :data:`MODEL`."""
    settings = {**MODEL, **options}
    return Seq2Seq(len(src_vocab), len(tgt_vocab), pad_index=tgt_vocab.pad_index, sos_index=tgt_vocab.sos_index,
                   eos_index=tgt_vocab.eos_index, **settings)


def load_model(checkpoint: str, device: str = "cpu") -> tuple[Seq2Seq, Vocab, Vocab, dict]:
    """The model, source and target vocabularies and JSON metadata of a checkpoint written by :func:`train`
    (``checkpoint`` without its ``.npz`` / ``.json`` suffix)."""
    if not tr.checkpoint.exists(checkpoint):
        raise FileNotFoundError(f"g2p: no checkpoint {checkpoint}.json (train one with: tinygrad-rnn g2p train)")
    ck = tr.checkpoint.load_training(checkpoint, model="Seq2Seq")  # a pair written together, or CheckpointError
    config = ck.meta["config"]
    missing = [key for key in ("model", "src_vocab", "tgt_vocab") if key not in config]
    if missing:
        raise tr.CheckpointError(f"g2p: {ck.json} is not a G2P checkpoint: its config lacks {missing}")
    try:
        src_vocab, tgt_vocab = Vocab.from_json(config["src_vocab"]), Vocab.from_json(config["tgt_vocab"])
        model = Seq2Seq(**config["model"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise tr.CheckpointError(f"g2p: {ck.json} holds a model or vocabulary this version cannot build "
                                 f"({type(exc).__name__}: {exc})") from None
    tr.checkpoint.load_weights(ck, model)
    meta = ck.meta
    model.eval()
    if device != "cpu":
        model.to(device)
    return model, src_vocab, tgt_vocab, meta


def check_vocabularies(src_vocab: Vocab, tgt_vocab: Vocab, data) -> None:
    """A checkpoint's vocabularies must be the data's: ids would mean other symbols otherwise."""
    for side, ours, theirs in (("letter", src_vocab, data.src_vocab), ("phoneme", tgt_vocab, data.tgt_vocab)):
        if ours != theirs:
            missing = sorted(set(theirs.symbols) - set(ours.symbols))
            extra = sorted(set(ours.symbols) - set(theirs.symbols))
            raise ValueError(f"g2p: the checkpoint's {side} vocabulary ({len(ours)} symbols) does not match the "
                             f"data's ({len(theirs)}): missing {missing[:10]}, extra {extra[:10]}; was it trained "
                             f"on another split seed or dictionary?")


def convergence_warning(dev_per: float, dev_wer: float, updates: int) -> str | None:
    """A line saying that a model with these dev scores is far from converged, or None when it is not.

    >>> convergence_warning(0.74, 1.0, 40).split(" (")[0]
    'warning: far from converged: dev PER 74.00%, WER 100.00% after 40 updates'
    >>> convergence_warning(0.12, 0.45, 2000) is None
    True
    """
    if dev_per <= FAR_FROM_CONVERGED:
        return None
    return (f"warning: far from converged: dev PER {dev_per:.2%}, WER {dev_wer:.2%} after {updates:,} updates (a "
            f"trained model is below {FAR_FROM_CONVERGED:.0%}); train it longer")


# -- decoding and scoring -------------------------------------------------------------------------------------------
def transcribe(model: Seq2Seq, words: list, src_vocab: Vocab, tgt_vocab: Vocab, beam: int = 1,
               batch_size: int = 256, nbest: int = 1, device: str = "cpu") -> list:
    """The n-best pronunciations (lists of phonemes, best first) of each word, greedy for ``beam`` 1."""
    if beam < 1:
        raise ValueError(f"g2p: the beam width must be at least 1, got {beam}")
    pairs = [(word, []) for word in words]
    results: list = [None] * len(words)
    # the decoders run in eval mode and without a graph themselves
    for batch in bucket_batches(pairs, batch_size, src_vocab=src_vocab, tgt_vocab=tgt_vocab, shuffle=False):
        src = tr.tensor(batch.src, device=device)
        if beam == 1 and nbest == 1:
            out = decode.greedy(model, src, batch.src_lengths, max_len=MAX_PHONEMES)
            found = [[tokens] for tokens in out.tokens]
        else:
            out = decode.beam_search(model, src, batch.src_lengths, beam_width=beam, max_len=MAX_PHONEMES,
                                     nbest=nbest)
            found = [[h.tokens for h in row] for row in out.hypotheses]
        for index, hypotheses in zip(batch.indices.tolist(), found):
            results[index] = [tgt_vocab.decode(tokens) for tokens in hypotheses]
    return results


def spread(items: list, limit: int | None) -> list:
    """``limit`` items spread evenly over ``items`` (a split is sorted alphabetically, so its first N words would all
    start with "a"); all of them for None."""
    if limit is None:
        return list(items)
    if limit < 1:
        raise ValueError(f"g2p: a word limit must be at least 1, got {limit}")
    return list(items[::max(1, len(items) // limit)][:limit])


def score(model: Seq2Seq, data, split: str, beam: int = 1, limit: int | None = None, device: str = "cpu") -> dict:
    """Phoneme and word error rate of ``split`` (``limit`` words spread over it, or all), and by word length."""
    words, references = spread(data.words(split), limit), spread(data.references(split), limit)
    start = time.perf_counter()
    best = [found[0] for found in transcribe(model, words, data.src_vocab, data.tgt_vocab, beam=beam,
                                              device=device)]
    seconds = time.perf_counter() - start
    by_length = metrics.error_rate_by_length(words, best, references, buckets=(4, 6, 8, 10, 12))
    return {"split": split, "words": len(words), "beam": beam,
            "per": metrics.phoneme_error_rate(best, references), "wer": metrics.word_error_rate(best, references),
            "by_length": by_length, "decode_seconds": round(seconds, 2),
            "words_per_second": round(len(words) / max(seconds, 1e-9), 1)}


# -- training -------------------------------------------------------------------------------------------------------
def train(out_dir: str = "out/g2p", minutes: float | None = 60.0, epochs: int = 30, batch_size: int = 64,
          lr: float = 2e-3, clip: float = 5.0, teacher_forcing: float = 1.0, patience: int = 4, seed: int = 0,
          quick: bool = False, resume: bool = False, overwrite: bool = False, device: str = "cpu",
          progress: bool = True, log=print, updates: int | None = None, **model_options) -> dict:
    """Train until the dev phoneme error stops improving, ``epochs`` are done, ``updates`` are done or ``minutes``
    have passed (in all, across resumes; None: no such limit); returns the run's numbers, the dev scores of the best
    checkpoint (``out_dir/best``) among them. A run ended by ``updates`` does the same work on every machine, so
    (seeded) it ends with the same numbers; one ended by the clock does as much as the machine's speed allows.

    Dev is scored at the end of every epoch; those checks drive the learning-rate decay and early stopping. When the
    clock or ``updates`` end the run mid-epoch dev is scored once more, and ``best`` is updated if that is better,
    but the schedules never see it, so a resumed run goes on exactly as if it had not been stopped.
    """
    last = _check_train_options(out_dir, minutes, updates, epochs, batch_size, lr, clip, teacher_forcing, resume,
                                overwrite)
    # read and verified before any work: a broken pair is refused at once, naming its file
    resumed = tr.checkpoint.load_training(last, model="Seq2Seq") if resume else None
    tr.manual_seed(seed)
    run = _setup(out_dir, epochs, batch_size, lr, clip, teacher_forcing, patience, seed, quick, device, progress, log,
                 model_options)
    past = _resume(run, resumed, last, log) if resumed is not None else ([], 0.0, math.inf, None)
    check = _DevCheck(run, out_dir, minutes, updates, device, log, *past)
    if check.spent >= check.budget:
        log(f"the time budget of {minutes:g} min is spent ({check.spent / 60:.1f} min trained); give more --minutes "
            f"to continue")
    elif updates is not None and run.trainer.step >= updates:
        log(f"the {updates:,} updates are done; give more --updates to continue")
    elif run.trainer.step < check.total and not run.stopper.should_stop:
        # a clock or early stopping usually ends the run long before its epochs: then the bar shows the updates and
        # their rate, not a total; a given number of updates is the total
        run.trainer.fit(_batches(run, batch_size, seed, device), run.loss, steps=check.total, after_update=check,
                        show_total=updates is not None and minutes is None)
    return _result(run, check, out_dir, log)


def _check_train_options(out_dir, minutes, updates, epochs, batch_size, lr, clip, teacher_forcing, resume,
                         overwrite) -> str:
    """Refuse what :func:`train` cannot run, before any work; returns the path of the run's ``last`` checkpoint."""
    if batch_size < 1 or epochs < 1 or not 0.0 <= teacher_forcing <= 1.0:
        raise ValueError(f"g2p train: batch_size and epochs must be at least 1 and teacher_forcing in [0, 1], got "
                         f"{batch_size}, {epochs} and {teacher_forcing}")
    if (minutes is not None and not 0 < minutes < math.inf) or (updates is not None and updates < 1):
        raise ValueError(f"g2p train: minutes must be a finite number > 0 and updates at least 1 (or None: no "
                         f"limit), got {minutes} and {updates}")
    if not 0 < lr < math.inf or not 0 < clip <= math.inf:  # a clip of -1 would reverse the gradients, 0 zero them
        raise ValueError(f"g2p train: lr must be a finite number > 0 and clip a number > 0, got {lr} and {clip}")
    last = os.path.join(out_dir, "last")
    if tr.checkpoint.exists(last) and not (resume or overwrite):
        raise FileExistsError(f"g2p train: {out_dir} already holds a run ({last}.json); continue it with --resume, "
                              f"or start again with --overwrite")
    if resume and not tr.checkpoint.exists(last):
        raise FileNotFoundError(f"g2p train --resume: {out_dir} holds no checkpoint to resume ({last}.json is "
                                f"missing); leave out --resume to start a new run there")
    return last


@dataclass
class _Run:
    """What a training run is made of, before its first update."""
    data: object
    pairs: list
    dev_limit: int | None  # dev words scored (quick runs score a few), None: all
    epochs: int
    per_epoch: int
    model: Seq2Seq
    optimizer: object
    trainer: Trainer
    plateau: ReduceLROnPlateau
    stopper: EarlyStopping
    teacher_forcing: float

    def loss(self, model: Seq2Seq, b: dict):
        return model.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"], teacher_forcing=self.teacher_forcing)


def _setup(out_dir, epochs, batch_size, lr, clip, teacher_forcing, patience, seed, quick, device, progress, log,
           model_options) -> _Run:
    """The data (cut down when ``quick``), the model, its optimiser, schedules and trainer."""
    data = load_g2p(seed=0)
    pairs = data.pairs("train")
    dev_limit = None
    if quick:
        pairs = [pairs[i] for i in np.random.default_rng(seed).permutation(len(pairs))[:QUICK["train_pairs"]]]
        dev_limit = QUICK["dev_words"]
        model_options = {"embed_size": QUICK["embed_size"], "hidden_size": QUICK["hidden_size"], **model_options}
        if epochs > QUICK["epochs"]:
            log(f"quick: {QUICK['epochs']} epochs, not {epochs}")
            epochs = QUICK["epochs"]
    model = build_model(data.src_vocab, data.tgt_vocab, **model_options)
    if device != "cpu":
        model.to(device)
    log(f"G2P: {len(pairs):,} training pairs, {dev_limit or data.counts()['dev']['words']:,} dev words; model "
        f"{sum(int(np.prod(p.shape)) for p in model.parameters()):,} parameters: {model.config()}")
    optimizer = tr.optim.Adam(model.parameters(), lr=lr)
    os.makedirs(out_dir, exist_ok=True)
    config = {"model": model.config(), "src_vocab": data.src_vocab.to_json(), "tgt_vocab": data.tgt_vocab.to_json(),
              "batch_size": batch_size, "teacher_forcing": teacher_forcing, "quick": quick, "seed": seed}
    trainer = Trainer(model, optimizer, clip_norm=clip, log_path=os.path.join(out_dir, "metrics.jsonl"),
                      config=config, progress=progress, log_every=10)
    return _Run(data, pairs, dev_limit, epochs, _per_epoch(pairs, batch_size), model, optimizer, trainer,
                ReduceLROnPlateau(optimizer, factor=0.5, patience=1), EarlyStopping(patience=patience),
                teacher_forcing)


def _resume(run: _Run, resumed, last: str, log) -> tuple:
    """Load a run's ``last`` checkpoint into it; returns its end-of-epoch checks, training seconds, best dev PER and
    the check of that best."""
    run.trainer.resume(resumed)
    extra = run.trainer.extra
    run.plateau.load_state_dict(extra["plateau"])
    run.stopper.load_state_dict(extra["stopper"])
    log(f"resumed {last} at update {run.trainer.step} (epoch {run.trainer.step / run.per_epoch:.2f}, "
        f"{extra['seconds'] / 60:.1f} min)")
    # a checkpoint written before the best check was kept: the best end-of-epoch check stands in for it
    best = extra.get("best") or min(extra["history"], key=lambda h: h["dev_per"], default=None)
    return extra["history"], extra["seconds"], extra["best_per"], best


def _batches(run: _Run, batch_size: int, seed: int, device: str):
    """The batch of each update; an epoch's order depends on (seed, epoch) only, so resumes see the same."""
    epoch_batches: dict = {}

    def batches(step: int):
        epoch = step // run.per_epoch
        if epoch not in epoch_batches:
            epoch_batches.clear()
            epoch_batches[epoch] = list(bucket_batches(run.pairs, batch_size, src_vocab=run.data.src_vocab,
                                                       tgt_vocab=run.data.tgt_vocab, seed=seed, epoch=epoch))
        return epoch_batches[epoch][step % run.per_epoch].tensors(device)
    return batches


class _DevCheck:
    """Called after every update: at the end of an epoch, or when the clock or the update count ends the run, it
    scores dev, logs it, feeds the end-of-epoch scores to the schedules, saves ``last`` (and ``best`` when better)
    and says whether to stop."""

    def __init__(self, run: _Run, out_dir: str, minutes, updates, device: str, log, history: list, spent: float,
                 best_per: float, best: dict | None):
        self.run, self.out_dir, self.device, self.log = run, out_dir, device, log
        self.history = history  # one entry per end-of-epoch check
        self.final: list = []  # the extra check made when the clock or the update count ends the run mid-epoch
        self.spent, self.best_per = spent, best_per  # training seconds before a resume; the best dev PER saved
        # the check of the model saved as best, across resumes: the check that ended an earlier run mid-epoch is in
        # no history, and may be it
        self.best = best
        self.budget = math.inf if minutes is None else minutes * 60.0
        self.total = min(run.epochs * run.per_epoch, updates or math.inf)  # the updates this run may do, in all
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.spent + time.perf_counter() - self.start

    def __call__(self, trainer: Trainer) -> bool:
        run, elapsed = self.run, self.elapsed()
        end_of_epoch, out_of_time = trainer.step % run.per_epoch == 0, elapsed >= self.budget
        if not (end_of_epoch or out_of_time or trainer.step >= self.total):
            return False
        dev = score(run.model, run.data, "dev", limit=run.dev_limit, device=self.device)
        check = {"update": trainer.step, "epoch": round(trainer.step / run.per_epoch, 3), "seconds": round(elapsed, 1),
                 "dev_per": dev["per"], "dev_wer": dev["wer"], "lr": run.optimizer.param_groups[0]["lr"]}
        self.log(f"epoch {check['epoch']:6.2f}  {elapsed / 60:5.1f} min  dev PER {dev['per']:.2%}  WER "
                 f"{dev['wer']:.2%}  lr {check['lr']:.2g}"
                 + ("" if end_of_epoch else "  (time is up)" if out_of_time else "  (last update)"))
        if end_of_epoch:
            self.history.append(check)
            run.stopper.step(dev["per"])
            run.plateau.step(dev["per"])
        else:
            self.final.append(check)
        if dev["per"] < self.best_per:
            self.best_per, self.best = dev["per"], check
        extra = {"plateau": run.plateau.state_dict(), "stopper": run.stopper.state_dict(), "history": self.history,
                 "seconds": elapsed, "dev": dev, "best_per": self.best_per, "best": self.best}
        if self.best is check:
            trainer.save_checkpoint(os.path.join(self.out_dir, "best"), extra=extra)
        trainer.save_checkpoint(os.path.join(self.out_dir, "last"), extra=extra)
        return run.stopper.should_stop or out_of_time


def _result(run: _Run, check: _DevCheck, out_dir: str, log) -> dict:
    """The run's numbers, written to ``out_dir/train.json``, with the best check and a warning when far from
    converged."""
    best = check.best
    warning = best and convergence_warning(best["dev_per"], best["dev_wer"], run.trainer.step)
    result = {"train_pairs": len(run.pairs), "updates": run.trainer.step, "history": check.history,
              "final": check.final[0] if check.final else None, "best": best, "seconds": round(check.elapsed(), 1),
              "config": run.model.config(), "warning": warning or None}
    tr.save_json(result, os.path.join(out_dir, "train.json"))
    if best:
        log(f"best dev PER {best['dev_per']:.2%}, WER {best['dev_wer']:.2%} at update {best['update']:,} "
            f"({best['seconds'] / 60:.1f} min); checkpoint {os.path.join(out_dir, 'best')}.npz/.json")
    if warning:
        log(warning)
    return result

def _per_epoch(pairs: list, batch_size: int) -> int:
    return math.ceil(len(pairs) / batch_size)


# The lectures' claims, each a pair of models that differ in one thing; all share a unidirectional encoder, so
# reading the word backwards changes what the final state has just seen.
CLAIMS = {
    "attention": {"attention": "additive", "bidirectional": False},
    "no attention": {"attention": None, "bidirectional": False},
    "no attention, reversed": {"attention": None, "bidirectional": False, "reverse_input": True},
}


def claims(out_dir: str = "out/g2p_claims", minutes: float = 15.0, hidden_size: int = 128, split: str = "test",
           quick: bool = False, log=print) -> dict:
    """Train the models of :data:`CLAIMS` for ``minutes`` each and score them greedily on ``split``, overall and
    by word length: attention against none, reversed against forward input without attention."""
    results, data = {}, load_g2p(seed=0)
    for label, options in CLAIMS.items():
        folder = os.path.join(out_dir, label.replace(",", "").replace(" ", "_"))
        log(f"-- {label}: {options}")
        sizes = {} if quick else {"hidden_size": hidden_size}
        run = train(out_dir=folder, minutes=minutes, quick=quick, overwrite=True, progress=False, log=log,
                    **sizes, **options)
        model, _, _, _ = load_model(os.path.join(folder, "best"))
        results[label] = {"options": options, "train_seconds": run["seconds"], "updates": run["updates"],
                          "score": score(model, data, split, limit=QUICK["dev_words"] if quick else None)}
        result = results[label]["score"]
        log(f"{label:24s} {split} PER {result['per']:.2%}  WER {result['wer']:.2%}  by length (WER): "
            + ", ".join(f"{k} {v[1]:.1%}" for k, v in result["by_length"].items()))
    tr.save_json(results, os.path.join(out_dir, "claims.json"))
    log(f"wrote {os.path.join(out_dir, 'claims.json')}")
    return results


# -- command line ---------------------------------------------------------------------------------------------------
def _train_command(args) -> int:
    options = {k: v for k, v in {"hidden_size": args.hidden, "embed_size": args.embed, "num_layers": args.layers,
                                  "cell": args.cell, "attention": None if args.attention == "none" else args.attention,
                                  "context": args.context, "reverse_input": args.reverse,
                                  "bidirectional": args.bidirectional, "dropout": args.dropout}.items()
               if v is not None}
    train(out_dir=args.out, minutes=args.minutes, updates=args.updates, epochs=args.epochs, batch_size=args.batch_size,
          lr=args.lr, clip=args.clip, teacher_forcing=args.teacher_forcing, patience=args.patience, seed=args.seed,
          quick=args.quick, resume=args.resume, overwrite=args.overwrite, device=args.device,
          progress=sys.stderr.isatty(), **options)
    return 0


def _beams(text: str) -> list:
    try:
        beams = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise ValueError(f"--beam takes comma-separated widths like 1,2,5, got {text!r}") from None
    if not beams or min(beams) < 1:
        raise ValueError(f"--beam widths must be at least 1, got {text!r}")
    return beams


def _eval_command(args) -> int:
    beams = _beams(args.beam)
    spread([], args.limit)  # a bad --limit fails before the checkpoint loads
    model, src_vocab, tgt_vocab, meta = load_model(args.checkpoint, args.device)
    data = load_g2p(seed=0)
    check_vocabularies(src_vocab, tgt_vocab, data)
    results = []
    for beam in beams:
        result = score(model, data, args.split, beam=beam, limit=args.limit, device=args.device)
        results.append(result)
        print(f"{args.split} ({result['words']:,} words), {'greedy' if beam == 1 else f'beam {beam}'}: "
              f"PER {result['per']:.2%}  WER {result['wer']:.2%}  ({result['words_per_second']:.0f} words/s)")
        for bucket, (count, wer, per) in result["by_length"].items():
            print(f"    {bucket:>7s} letters: {count:6,d} words  WER {wer:.2%}  PER {per:.2%}")
    if args.out:
        tr.save_json({"checkpoint": args.checkpoint, "results": results}, args.out)
        print(f"wrote {args.out}")
    return 0


def _claims_command(args) -> int:
    claims(out_dir=args.out, minutes=args.minutes, hidden_size=args.hidden, split=args.split, quick=args.quick)
    return 0


def _pronounce_command(args) -> int:
    if any(not w.strip() for w in args.words):
        raise ValueError("an empty word cannot be pronounced")
    if args.beam < 1 or not 1 <= args.nbest <= args.beam:
        raise ValueError(f"--beam must be at least 1 and --nbest between 1 and the beam, got {args.beam} and "
                         f"{args.nbest}")
    model, src_vocab, tgt_vocab, _ = load_model(args.checkpoint, args.device)
    words = [w.strip().lower() for w in args.words]
    found = transcribe(model, words, src_vocab, tgt_vocab, beam=args.beam, nbest=args.nbest, device=args.device)
    for word, hypotheses in zip(words, found):
        print(f"{word:20s} " + "  |  ".join(" ".join(h) for h in hypotheses))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tinygrad-rnn g2p", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train on the dictionary's training words, keep the best on dev")
    t.add_argument("--out", default="out/g2p", help="folder for checkpoints and the metrics log")
    t.add_argument("--minutes", type=positive_float, default=60.0, help="training time budget (default 60)")
    t.add_argument("--updates", type=positive_int, default=None, help="stop after this many updates in all: the "
                   "same work, and so the same numbers, on every machine (the clock and --epochs still apply)")
    t.add_argument("--epochs", type=positive_int, default=30)
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--lr", type=positive_float, default=2e-3)
    t.add_argument("--clip", type=positive_float, default=5.0, help="global gradient-norm clip")
    t.add_argument("--teacher-forcing", type=probability, default=1.0, help="ratio of gold inputs (< 1: scheduled "
                   "sampling)")
    t.add_argument("--patience", type=positive_int, default=4,
                   help="evaluations without a better dev PER before stopping")
    t.add_argument("--hidden", type=positive_int, default=None, help=f"hidden size (default {MODEL['hidden_size']})")
    t.add_argument("--embed", type=positive_int, default=None, help=f"embedding size (default {MODEL['embed_size']})")
    t.add_argument("--layers", type=positive_int, default=None, help=f"layers (default {MODEL['num_layers']})")
    t.add_argument("--cell", choices=("lstm", "gru", "rnn"), default=None, help=f"(default {MODEL['cell']})")
    t.add_argument("--attention", choices=("additive", "dot", "scaled_dot", "general", "none"), default=None,
                   help=f"(default {MODEL['attention']})")
    t.add_argument("--context", choices=("init", "input"), default=None, help="without attention: the encoder "
                   f"summary as the decoder's initial state, or also as an input at every step (default "
                   f"{MODEL['context']})")
    t.add_argument("--reverse", action="store_true", default=None, help="read each word backwards")
    t.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help=f"a bidirectional encoder (default {MODEL['bidirectional']})")
    t.add_argument("--dropout", type=probability, default=None, help=f"(default {MODEL['dropout']})")
    t.add_argument("--quick", action="store_true", help="a small model on a small sample (seconds)")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last")
    t.add_argument("--overwrite", action="store_true", help="start again in an OUT that holds a run")
    t.add_argument("--seed", type=nonnegative_int, default=0)
    t.add_argument("--device", type=device, default="cpu")
    t.set_defaults(run=_train_command)
    e = commands.add_parser("eval", help="phoneme and word error rates of a checkpoint, greedy and beam")
    e.add_argument("--checkpoint", default="out/g2p/best")
    e.add_argument("--split", choices=("dev", "test"), default="test")
    e.add_argument("--beam", default="1,5", help="comma-separated beam widths, 1 = greedy (default 1,5)")
    e.add_argument("--limit", type=positive_int, default=None, help="N words spread evenly over the split")
    e.add_argument("--out", default=None, help="also write the results as JSON here")
    e.add_argument("--device", type=device, default="cpu")
    e.set_defaults(run=_eval_command)
    c = commands.add_parser("claims", help="the lectures' claims: attention vs none, reversed vs forward input")
    c.add_argument("--out", default="out/g2p_claims")
    c.add_argument("--minutes", type=positive_float, default=15.0, help="training time of each model (default 15)")
    c.add_argument("--hidden", type=positive_int, default=128)
    c.add_argument("--split", choices=("dev", "test"), default="test")
    c.add_argument("--quick", action="store_true")
    c.set_defaults(run=_claims_command)
    p = commands.add_parser("pronounce", help="pronounce words")
    p.add_argument("words", nargs="+")
    p.add_argument("--checkpoint", default="out/g2p/best")
    p.add_argument("--beam", type=positive_int, default=5)
    p.add_argument("--nbest", type=positive_int, default=1)
    p.add_argument("--device", type=device, default="cpu")
    p.set_defaults(run=_pronounce_command)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:  # the user's input: a message, no traceback
        parser.error(f"{args.command}: {error}")


if __name__ == "__main__":
    raise SystemExit(main())
