"""The main job (``make demo``): train a small grapheme-to-phoneme encoder–decoder with attention on the CMU
Pronouncing Dictionary for about a minute, pronounce words it never saw, and write the pictures — the unrolled
encoder–decoder graph with its gradients, gradient flow through time, attention heatmaps, a beam-search tree, the
LSTM/GRU cells and the studies — with ``out/report.html`` bundling them.

    tinygrad-rnn demo [--seconds 60] [--out out]
"""
from __future__ import annotations

import os

from tinygrad_rnn.tasks import g2p, report

# small enough to learn something in a minute on a laptop core: letters read both ways, additive attention
DEMO_MODEL = {"embed_size": 32, "hidden_size": 96, "bidirectional": True, "attention": "additive", "dropout": 0.0}


def run(seconds: float = 60.0, out_dir: str = "out", seed: int = 0, quick_report: bool = False, log=print) -> dict:
    """Train for about ``seconds`` (a progress bar shows the updates), then write the report under ``out_dir``;
    returns the training result and the report's path."""
    folder = os.path.join(out_dir, "demo_g2p")
    log(f"training a G2P encoder–decoder for {seconds:g} s (CMU dictionary, {DEMO_MODEL})")
    result = g2p.train(out_dir=folder, minutes=seconds / 60.0, epochs=100, batch_size=64, lr=3e-3, seed=seed,
                       overwrite=True, progress=True, log=log, **DEMO_MODEL)
    log("pronunciations and pictures:")
    page = report.build(out_dir, os.path.join(folder, "best"), quick=quick_report, log=log)
    log(f"open {page} in a browser to see every picture with its caption")
    return {"train": result, "report": page}
