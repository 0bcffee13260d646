"""The report: every picture of a trained G2P model and of the gradient-flow studies, with a caption each, bundled in
one page, ``out/report.html``.

    tinygrad-rnn report [--checkpoint out/demo_g2p/best] [--out out] [--quick]

For the model: the unrolled encoder–decoder graph of one word at op and cell level with its gradient norms as
colour, the unrolling frame by frame, ‖∂L/∂h_t‖ along the encoder, attention heatmaps, the beam-search tree of one
word, its pronunciations of words it never saw, and its training curves. Beside them: the LSTM and GRU cells with
gradient norms on their edges, the gradient-vs-lag curves of RNN, LSTM and GRU, and the studies (initialisation,
the road to gating, linear forgetting, clipping, gate activations).
"""
from __future__ import annotations

import os

import numpy as np

import viz
from viz import beam, cell, plots
from viz.report import Report

import tinygrad_rnn as tr
from tinygrad_rnn import analysis, decode
from tinygrad_rnn.data import load_g2p, make_batch
from tinygrad_rnn.tasks import g2p, gradflow, studies
from tinygrad_rnn.train import eval_mode, read_log
from tinygrad_rnn.tasks.options import Parser

DEMO_CHECKPOINT = os.path.join("out", "demo_g2p", "best")
GRAPH_WORD = ("cat", ["K", "AE", "T"])  # short enough for an op-level drawing a reader can follow
FORMAT = "svg"


def _unrendered() -> str:
    """Why a drawing has only its DOT source: no ``dot``, or (with ``dot``) a graph too big to hand to it."""
    return viz.INSTALL_DOT if not viz.dot_available() else viz.dot.TOO_BIG


def _picture(report, paths: list, caption: str, log, wide: bool = False) -> None:
    """The rendered picture among ``paths`` into the report; where ``dot`` is missing only the DOT source exists,
    which the report names instead."""
    rendered = [p for p in paths if p.endswith("." + FORMAT)]
    if rendered:
        report.figure(rendered[0], caption, wide=wide)
    else:
        report.section(caption, f"DOT source written to {paths[0]}; {_unrendered()}")
    log(f"  {caption.split(':')[0].split(',')[0]}: {', '.join(paths)}")


def graph_pictures(model, src_vocab, tgt_vocab, out_dir: str, report, log=print) -> None:
    """The unrolled graph of one word's loss after a backward: op level, cell level, and frame by frame."""
    word, phonemes = GRAPH_WORD
    batch = make_batch([(word, phonemes)], [0], src_vocab, tgt_vocab).tensors()
    with eval_mode(model):  # no dropout masks in the picture
        loss = model.loss(batch["src"], batch["src_lengths"], batch["tgt_in"], batch["tgt_out"])
    graph = tr.graph.trace(loss)  # traced once: marked for gradients, then drawn
    graph.retain_grads()
    loss.backward()
    model.zero_grad()
    steps = f"{len(word) + 1} encoder steps (the letters and <eos>), then {len(phonemes) + 1} decoder steps"
    static = []
    for level in ("op", "cell"):
        paths = viz.write(graph, os.path.join(out_dir, f"seq2seq_{level}.dot"), formats=(FORMAT,), grads=True,
                          level=level, title=f"'{word}' → {' '.join(phonemes)}: {level} level")
        static.append(next((p for p in paths if p.endswith("." + FORMAT)), paths[0]))
        log(f"  seq2seq graph, {level} level: {', '.join(paths)}")
    page = viz.explore(graph, title=f"'{word}' → /{' '.join(phonemes)}/: the encoder–decoder unrolled",
                       window=(graph.times[0], graph.times[-1])).save(os.path.join(out_dir, "seq2seq_explorer.html"))
    note = "" if all(p.endswith("." + FORMAT) for p in static) else f" (DOT sources only: {_unrendered()})"
    report.explorer(page, f"The encoder–decoder unrolled over '{word}' → /{' '.join(phonemes)}/: {steps}."
                    f"{_fused_note(graph)} Each box is one cell at one step: click it for its ops, click a node for "
                    "its shape, values and ‖grad‖, search a gate (f t=2), highlight a path. A node's outline says "
                    "what it is, its fill ‖∂loss/∂node‖ on a log scale (blue small, red large, grey none)." + note,
                    links=static)
    log(f"  seq2seq explorer: {page}")
    frames = viz.dot.write_frames(graph, out_dir, "seq2seq", formats=(FORMAT,), level="cell", grads=False)
    rendered = [p for p in frames if p.endswith("." + FORMAT)]
    caption = ("Unrolling frame by frame: the graph after 1, 2, … steps (encoder first, then the decoder fed its "
               "previous phoneme).")
    if rendered:
        report.frames(rendered, caption, wide=True)
        log(f"  unrolling frames: {len(rendered)} × {FORMAT} under {out_dir}")
    else:  # the DOT sources only: say where they are and why there is no player
        sources = [p for p in frames if p.endswith(".dot")]
        report.section(caption, f"DOT sources of {len(sources)} frames written to {', '.join(sources)}; "
                       f"{_unrendered()}")
        log(f"  unrolling frames: {len(sources)} × dot under {out_dir}")


def _fused_note(graph) -> str:
    """What an op-level caption must say about fused cells: which parts of the model draw each cell step as one
    node (``lstm_cell``), their gates inside it."""
    fused = {}
    for n in graph.ops:
        if n.label in ("rnn_cell", "lstm_cell", "gru_cell") and n.scope.count("/"):
            fused.setdefault(n.scope.split("/")[1], n.label)  # Seq2Seq/encoder/rnn/l0 -> encoder
    if not fused:
        return ""
    parts = " and the ".join(f"{part}'s" for part in fused)  # in the order they run
    return (f" The {parts} cells are fused: each of their steps is one node ({', '.join(sorted(set(fused.values())))}),"
            " its gates inside it (a model built with fused=False draws them).")


def encoder_gradient_picture(model, data, out_dir: str, report, log=print) -> None:
    """‖∂L/∂h_t‖ along the encoder's two directions for a batch of dev words of one length."""
    length = 9
    pairs = [(w, refs[0]) for w, refs in data.dev if len(w) == length][:64]
    batch = make_batch(pairs, range(len(pairs)), data.src_vocab, data.tgt_vocab).tensors()
    with eval_mode(model):
        loss = model.loss(batch["src"], batch["src_lengths"], batch["tgt_in"], batch["tgt_out"])
    flows = analysis.gradient_norms(loss, "h", "Seq2Seq/encoder")
    model.zero_grad()
    cell = model.config()["cell"].upper()

    both_ways = model.config()["bidirectional"]

    def label(scope: str) -> str:
        layer = scope.rsplit("/", 1)[-1]  # l0, l0_reverse, l1, ...
        direction = (", backward" if layer.endswith("_reverse") else ", forward") if both_ways else ""
        return f"{cell} layer {layer[1:].split('_')[0]}{direction}"

    series = {label(scope): flow.norms for scope, flow in sorted(flows.items())}
    path = plots.plot_curves(series, os.path.join(out_dir, "seq2seq_encoder_gradients.png"), log=True,
                             title=f"‖∂L/∂h_t‖ along the encoder, {len(pairs)} dev words of {length} letters",
                             xlabel="source position t (letters, then <eos>)", ylabel="gradient norm",
                             x=range(length + 1))
    norms = np.concatenate([np.asarray(v) for v in series.values()])
    report.figure(path, f"How much of the loss reaches each encoder state, ‖∂L/∂h_t‖ per source position: from "
                  f"{norms.min():.2g} to {norms.max():.2g} over the word. "
                  + ("Attention reads every position directly, so the gradient need not fade with the distance "
                     "from the decoder." if model.config()["attention"] else "Without attention everything "
                     "reaches the encoder through its final state, so the gradient fades with the distance from "
                     "the end of the word."))
    log(f"  encoder gradient flow: {path}")


def attention_pictures(model, data, out_dir: str, report, words=("phonetic", "thoughtful", "xylophone"),
                       log=print) -> None:
    src = make_batch([(w, []) for w in words], range(len(words)), data.src_vocab, data.tgt_vocab)
    result = decode.greedy(model, tr.tensor(src.src), src.src_lengths, max_len=32)
    for word, tokens, weights, finished in zip(words, result.tokens, result.weights, result.finished):
        if weights is None:
            report.section(f"Attention for '{word}'", "this model has no attention")
            continue
        # one row per decoding step: every token written (specials too), then <eos> if the word was finished
        outputs = [data.tgt_vocab.symbol(int(i)) for i in tokens] + (["<eos>"] if finished else [])
        path = plots.plot_attention(np.asarray(weights)[:len(outputs)], list(word) + ["<eos>"], outputs,
                                        os.path.join(out_dir, f"attention_{word}.png"),
                                        title=f"Attention while pronouncing '{word}'")
        report.figure(path, f"Attention weights for '{word}' → /{' '.join(data.tgt_vocab.decode(tokens))}/: each "
                      "row (a phoneme written) is a softmax over the letters read.")
        log(f"  attention heatmap: {path}")


def beam_picture(model, data, out_dir: str, report, word: str = "knows", log=print) -> None:
    src = make_batch([(word, [])], [0], data.src_vocab, data.tgt_vocab)
    result = decode.beam_search(model, tr.tensor(src.src), src.src_lengths, beam_width=3, max_len=32,
                                record_tree=True)
    paths = beam.write_beam_tree(result.tree, os.path.join(out_dir, f"beam_{word}.dot"), formats=(FORMAT,),
                                 vocab_decode=data.tgt_vocab.symbols, max_pruned=4,
                                 title=f"Beam search (width 3) pronouncing '{word}'")
    _picture(report, paths, f"The beam-search tree for '{word}': kept hypotheses solid, pruned ones grey and dashed "
             "(the best 4 per step shown), finished ones double-bordered, the best path bold; each node shows the "
             "phoneme and the path's summed log-probability.", log)


def pronunciations(model, data, count: int = 12) -> str:
    """A table of unseen test words: greedy, beam 5 and the dictionary's pronunciations."""
    picks = data.test[:: max(1, len(data.test) // count)][:count]
    words = [w for w, _ in picks]
    greedy = g2p.transcribe(model, words, data.src_vocab, data.tgt_vocab, beam=1)
    beamed = g2p.transcribe(model, words, data.src_vocab, data.tgt_vocab, beam=5)
    lines = [f"{'word':16s} {'greedy':28s} {'beam 5':28s} dictionary"]
    for (word, refs), g, b in zip(picks, greedy, beamed):
        lines.append(f"{word:16s} {' '.join(g[0]):28s} {' '.join(b[0]):28s} {' | '.join(' '.join(r) for r in refs)}")
    return "\n".join(lines)


def training_records(checkpoint: str) -> list:
    """The metrics log beside ``checkpoint`` (empty when there is none); a broken line raises
    :class:`~tinygrad_rnn.errors.DataFileError` naming the file and the line."""
    log_path = os.path.join(os.path.dirname(checkpoint), "metrics.jsonl")
    if not os.path.exists(log_path):
        return []
    # updates with no target to score have no loss (null) and no point on the curve
    return [r for r in read_log(log_path) if r.get("loss") is not None]


def training_pictures(records: list, out_dir: str, report, log=print) -> None:
    if records:
        path = plots.plot_curves({"training loss": [r["loss"] for r in records]},
                                     os.path.join(out_dir, "g2p_training_loss.png"), xlabel="update",
                                     ylabel="cross-entropy (nats per phoneme)", title="G2P training loss",
                                     x=[r["step"] for r in records])
        report.figure(path, "Training loss (teacher forcing, masked cross-entropy per phoneme).")
        log(f"  training curve: {path}")


def model_section(checkpoint: str, out_dir: str, report, log=print) -> dict:
    model, src_vocab, tgt_vocab, meta = g2p.load_model(checkpoint)
    records = training_records(checkpoint)  # read before the slow part, so a broken log fails at once
    data = load_g2p(seed=0)
    g2p.check_vocabularies(src_vocab, tgt_vocab, data)
    dev = meta.get("extra", {}).get("dev", {})
    summary = (f"Checkpoint {checkpoint}: {meta['config']['model']}; trained {meta['step']} updates; dev phoneme "
               f"error {dev.get('per', float('nan')):.2%}, word error {dev.get('wer', float('nan')):.2%} "
               f"({dev.get('words', '?')} words, greedy).")
    warning = "per" in dev and g2p.convergence_warning(dev["per"], dev["wer"], meta["step"])
    if warning:
        summary += f" {warning[0].upper()}{warning[1:]}: its pictures show a model still learning."
    table = pronunciations(model, data)
    report.section("What the G2P model learned", summary)
    report.section("Words it never saw", table, pre=True)
    log(summary)
    log(table)
    training_pictures(records, out_dir, report, log)
    graph_pictures(model, src_vocab, tgt_vocab, out_dir, report, log)
    encoder_gradient_picture(model, data, out_dir, report, log)
    attention_pictures(model, data, out_dir, report, log=log)
    beam_picture(model, data, out_dir, report, log=log)
    return {"summary": summary, "pronunciations": table}


def studies_section(out_dir: str, report, quick: bool, log=print) -> None:
    report.section("Gradient flow through time")
    for kind in ("lstm", "gru"):
        paths = cell.write_cell(kind, os.path.join(out_dir, f"cell_{kind}.dot"), formats=(FORMAT,), grads=True)
        _picture(report, paths, f"One {kind.upper()} step drawn gate by gate, each edge labelled with the norm of the "
                 "gradient it carries after one backward; the thick path is the state kept from step to step.", log)
    gradflow.run(steps=20 if quick else 50, out_dir=out_dir, log=lambda *_: None)
    report.figure(os.path.join(out_dir, gradflow.PICTURE), "‖∂l_T/∂h_{T−δ}‖ against the lag δ for a tanh RNN, an "
                  "LSTM and a GRU at initialisation: a straight line on this log scale is exponential decay.")
    captions = {
        "inits": "Gradient against lag under Gaussian, orthogonal and identity initialisation, and the LSTM's forget "
                 "bias: orthogonal keeps the curve flat; a forget bias of 1 reaches further back than 0.",
        "road_to_gating": "The road to gating: leaky units (the lectures' α < 1 and α = 1), the 1997 LSTM without a "
                          "forget gate, and the modern LSTM.",
        "linear_forgetting": "A linear RNN forgets (or explodes) exponentially: ‖h_t‖ measured against |λ₁|^t.",
        "clipping": "Training with and without gradient clipping: the norm before clipping, and the loss.",
        "gates": "Gate activations of an LSTM trained on the adding problem, step by step.",
        "memory_capacity": "Echo-state networks: how many past inputs a ridge readout recalls (memory capacity, per "
                           "unit) against the reservoir's spectral radius, beside the lectures' claim that r = 1.2 "
                           "to 3 remembers about n steps.",
    }
    results = studies.run(out_dir, quick=quick, log=lambda *_: None)
    for name, numbers in results.items():
        report.figure(numbers["files"][1], captions[name])
        log(f"  study {name}: {numbers['files'][1]}")


def build(out_dir: str = "out", checkpoint: str | None = DEMO_CHECKPOINT, quick: bool = False, log=print) -> str:
    """Write every picture under ``out_dir`` and the page ``out_dir/report.html`` bundling them; returns its path.
    Without a checkpoint (None, or none on disk) the model's part is left out and the page says how to get one."""
    os.makedirs(out_dir, exist_ok=True)
    report = Report("tinygrad_rnn: recurrent networks, unrolled")
    if checkpoint and tr.checkpoint.exists(checkpoint):
        model_section(checkpoint, out_dir, report, log)
    else:
        report.section("No G2P model yet", "Train one with 'make demo' (a minute) or 'tinygrad-rnn g2p train', then "
                       "run 'tinygrad-rnn report --checkpoint PATH'.")
    studies_section(out_dir, report, quick, log)
    path = report.write(os.path.join(out_dir, "report.html"))
    log(f"report: {path} ({len(report.pictures())} pictures)")
    return path


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=DEMO_CHECKPOINT,
                        help="a G2P checkpoint (default: the demo's, %(default)s)")
    parser.add_argument("--out", default="out")
    parser.add_argument("--quick", action="store_true", help="shorter studies (seconds)")
    args = parser.parse_args(argv)
    if args.checkpoint != DEMO_CHECKPOINT and not tr.checkpoint.exists(args.checkpoint):
        parser.error(f"--checkpoint: no {args.checkpoint}.json (a checkpoint is given without its .npz/.json suffix)")
    try:
        build(args.out, args.checkpoint, quick=args.quick)
    except tr.DataFileError as error:  # a checkpoint or log that is not whole: a message naming it, no traceback
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
