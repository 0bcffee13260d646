"""Matplotlib pictures of gradient flow and of matrices (gate activations, attention weights).

Each function writes a file atomically (PNG or SVG by the extension) and returns its path; nothing is shown on
screen, so it runs headless. Reads ``tinygrad_rnn.analysis`` results and plain arrays only.

>>> import os, tempfile, numpy as np
>>> from tinygrad_rnn.analysis import LagCurve
>>> path = plot_gradient_vs_lag({"toy": LagCurve([0, 1, 2], np.array([1.0, 0.5, 0.25]))},
...                             os.path.join(tempfile.mkdtemp(), "lag.png"))
>>> os.path.getsize(path) > 0
True
"""
from __future__ import annotations

import os

import numpy as np

from tinygrad_rnn.serialization import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format=os.path.splitext(path)[1][1:] or "png")
    finally:
        _pyplot().close(fig)
    return path


def plot_gradient_vs_lag(curves: dict, path: str, title: str = "Gradient against lag") -> str:
    """‖∂l_T/∂h_{T−δ}‖ against δ on a log scale, one line per curve, each labelled with its diagnosis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, curve in curves.items():
        norms = np.where(curve.norms > 0, curve.norms, np.nan)
        ax.semilogy(curve.lags, norms, label=f"{label} — {curve.diagnosis()}", linewidth=1.6)
    ax.set_xlabel("lag δ (steps back from the loss at the last step)")
    ax.set_ylabel(r"$\|\partial l_T / \partial h_{T-\delta}\|$")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_heatmap(matrix, path: str, title: str = "", xlabel: str = "", ylabel: str = "", xticklabels=None,
                 yticklabels=None, cmap: str = "viridis") -> str:
    """A matrix as an image with a colour bar: gate activations over time, attention weights."""
    plt = _pyplot()
    values = np.asarray(matrix, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * values.shape[1] + 2), max(3.0, 0.3 * values.shape[0] + 1.5)))
    image = ax.imshow(values, aspect="auto", cmap=cmap)
    fig.colorbar(image, ax=ax)
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), labels=xticklabels, rotation=90, fontsize=8)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), labels=yticklabels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def plot_curves(series: dict, path: str, title: str = "", xlabel: str = "update", ylabel: str = "loss",
                log: bool = False, x=None) -> str:
    """Training curves (or any sequences), one line each, against ``x`` (default 1, 2, …)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        ax.plot(np.arange(1, len(values) + 1) if x is None else x, values, label=label, linewidth=1.4)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return _save(fig, path)
