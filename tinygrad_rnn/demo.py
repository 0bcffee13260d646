"""The main job (``make demo``): train a small grapheme-to-phoneme encoder–decoder with attention on the CMU
Pronouncing Dictionary for a fixed number of updates (about a minute on a 2-core machine), pronounce words it never
saw, and write the pictures — the unrolled encoder–decoder graph with its gradients, gradient flow through time,
attention heatmaps, a beam-search tree, the LSTM/GRU cells and the studies — with ``out/report.html`` bundling them.

    tinygrad-rnn demo [--updates 1800 | --seconds 60] [--out out]

A fixed number of updates (seeded) gives the same numbers on every run, however busy the machine; ``--seconds``
trains for a time budget instead. Either way a model far from converged says so.
"""
from __future__ import annotations

import os

# small enough to learn something in a minute on a laptop core: letters read both ways, additive attention
DEMO_MODEL = {"embed_size": 32, "hidden_size": 96, "bidirectional": True, "attention": "additive", "dropout": 0.0}
# About a minute of training on this repo's 2-core machine when idle, and just under one epoch (1,838 batches): 50
# updates on batches spread over the epoch, timed in turn with the 1000-step tanh RNN of benchmarks/RESULTS.md while
# the machine was busy, took 1.45× as long as it (the median of six turns), and that RNN takes 23.6 ms idle: about
# 34 ms an update, 1,760 a minute.
DEMO_UPDATES = 1800


def run(updates: int | None = DEMO_UPDATES, seconds: float | None = None, out_dir: str = "out", seed: int = 0,
        quick_report: bool = False, log=print) -> dict:
    """Train for ``updates`` updates, or for about ``seconds`` when given (a progress bar shows the updates), then
    write the report under ``out_dir``; returns the training result (its ``warning`` says when the model is far
    from converged) and the report's path."""
    from tinygrad_rnn.tasks import g2p, report  # here: the command line's parser reads DEMO_UPDATES, cheaply

    folder = os.path.join(out_dir, "demo_g2p")
    work = f"{seconds:g} s" if seconds is not None else f"{updates:,} updates"
    log(f"training a G2P encoder–decoder for {work} (CMU dictionary, {DEMO_MODEL})")
    result = g2p.train(out_dir=folder, minutes=None if seconds is None else seconds / 60.0,
                       updates=None if seconds is not None else updates, epochs=100, batch_size=64, lr=3e-3,
                       seed=seed, overwrite=True, progress=True, log=log, **DEMO_MODEL)
    log("pronunciations and pictures:")
    page = report.build(out_dir, os.path.join(folder, "best"), quick=quick_report, log=log)
    log(f"open {page} in a browser to see every picture with its caption")
    if result["warning"]:  # said again last, where it is read
        log(result["warning"] + " (tinygrad-rnn demo --updates N, or --seconds S)")
    return {"train": result, "report": page}
