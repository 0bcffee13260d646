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


class Picture:
    """A finished figure as PNG bytes that shows itself inline in Jupyter, as :class:`viz.Drawing` does for graphs."""

    def __init__(self, png: bytes):
        self.png = png

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: str) -> str:
        """Write the PNG to ``path`` atomically; returns ``path``."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(self.png)
        return path


def inline(fig, dpi: int = 100) -> Picture:
    """A matplotlib figure drawn in a notebook, as a :class:`Picture` to show inline (matplotlib runs headless
    here, so ``plt.show()`` shows nothing); the figure is closed.

    >>> plt = _pyplot()
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> inline(fig)._repr_png_()[:4]
    b'\\x89PNG'
    """
    import io

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return Picture(buffer.getvalue())


def _lag_axes(ax, curves: dict, diagnose: bool = True, ylabel: str | None = None, legend: bool = True,
              xlabel: str = "lag δ (steps back from the loss at the last step)") -> None:
    """Draw ``curves`` (label → ``LagCurve``) on ``ax`` on a log scale, each labelled with its diagnosis."""
    for label, curve in curves.items():
        norms = np.where(curve.norms > 0, curve.norms, np.nan)  # log axes cannot show an exact zero
        ax.semilogy(curve.lags, norms, label=f"{label} — {curve.diagnosis()}" if diagnose else label, linewidth=1.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or r"$\|\partial l_T / \partial h_{T-\delta}\|$")
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        ax.legend(fontsize=7, loc="lower left")


def plot_gradient_vs_lag(curves: dict, path: str, title: str = "Gradient against lag") -> str:
    """‖∂l_T/∂h_{T−δ}‖ against δ on a log scale, one line per curve, each labelled with its diagnosis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _lag_axes(ax, curves)
    ax.set_title(title)
    return _save(fig, path)


def plot_lag_panels(panels: dict, path: str, title: str = "", columns: int = 2) -> str:
    """Several gradient-against-lag panels side by side: ``panels`` maps a panel title to its curves (label →
    ``LagCurve``). The y axes are shared, so a panel's curves can be compared with the next panel's.

    >>> import os, tempfile, numpy as np
    >>> from tinygrad_rnn.analysis import LagCurve
    >>> c = LagCurve([0, 1], np.array([1.0, 0.5]))
    >>> os.path.exists(plot_lag_panels({"a": {"x": c}, "b": {"y": c}}, os.path.join(tempfile.mkdtemp(), "p.png")))
    True
    """
    plt = _pyplot()
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.6 * columns, 3.7 * rows), sharey=True, squeeze=False)
    for k, (ax, (name, curves)) in enumerate(zip(axes.flat, panels.items())):
        _lag_axes(ax, curves, ylabel=None if k % columns == 0 else " ")  # the shared y axis is named once per row
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_road_to_gating(curves: dict, accumulated: dict, path: str, title: str = "The road to gating") -> str:
    """Two panels for the same units: left, ‖∂l_T/∂h_{T−δ}‖ of one loss at the last step (does the error reach
    back?); right, ‖∂L/∂h_{T−δ}‖ with a loss at every step, L = Σ_t l_t (does the error pile up?). An
    integrator that keeps everything (the lectures' leaky α = 1) shows a flat left curve and a right one growing
    like δ + 1: its error only accumulates."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4))
    _lag_axes(left, curves, legend=False)
    left.set_title("one loss, at the last step: how far back does the error reach?", fontsize=10)
    _lag_axes(right, accumulated, legend=False, xlabel="lag δ (steps back from the last step)",
              ylabel=r"$\|\partial (\Sigma_t\, l_t) / \partial h_{T-\delta}\|$")
    right.set_title("a loss at every step: how do the errors add up?", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    # one legend for both panels (the same units in the same colours), below them, with the left panel's diagnoses
    fig.legend(*left.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8)
    return _save(fig, path)


def plot_linear_forgetting(measured: dict, path: str, predicted: dict | None = None, fitted: dict | None = None,
                           title: str = r"Linear RNN $h_t = W h_{t-1}$: $\|h_t\|$ against $t$") -> str:
    """‖h_t‖ of a linear RNN on a log scale, one line per dominant eigenvalue magnitude |λ₁| (the keys of
    ``measured``, each a sequence of norms for t = 0, 1, …), beside the eigen-decomposition's prediction
    ``predicted[|λ₁|]`` (dashed; default ‖h_0‖·|λ₁|ᵗ) and the fitted rate per step ``fitted[|λ₁|]`` in the legend.

    >>> import os, tempfile, numpy as np
    >>> norms = 0.9 ** np.arange(5.0)
    >>> os.path.exists(plot_linear_forgetting({0.9: norms}, os.path.join(tempfile.mkdtemp(), "f.png")))
    True
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for lam, norms in measured.items():
        norms = np.asarray(norms, dtype=np.float64)
        steps = np.arange(len(norms))
        rate = f", fitted ×{fitted[lam]:.4f} per step" if fitted and lam in fitted else ""
        # measured as dots, predicted as a line over them: where they agree both stay visible
        dots, = ax.semilogy(steps, norms, "o", markersize=3.5, markevery=max(1, len(steps) // 40),
                            label=f"|λ₁| = {lam:g}: measured{rate}")
        expected = predicted[lam] if predicted and lam in predicted else norms[0] * lam ** steps
        ax.semilogy(steps, expected, "-", color=dots.get_color(), linewidth=1.1, alpha=0.8,
                    label=f"|λ₁| = {lam:g}: predicted ∝ {lam:g}ᵗ")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$\|h_t\|$")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: the lines fill the axes
    return _save(fig, path)


def plot_clipping(losses: dict, grad_norms: dict, threshold: float, path: str, clipped_norms: dict | None = None,
                  baseline: float | None = None, title: str = "Gradient clipping") -> str:
    """Left: the training loss of each run (label → losses per update) on a linear axis up to four times the median
    loss, with an optional ``baseline`` line; a run that stopped early (its loss overflowed) leaves the axis and
    ends with a cross. Right: each run's gradient norm *before* clipping on a log axis, the threshold C as a
    dashed line, and ``clipped_norms`` (after clipping; ≤ C) as dots.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.png")
    >>> os.path.exists(plot_clipping({"a": [2, 1]}, {"a": [5, 0.5]}, 1.0, path, clipped_norms={"a": [1, 0.5]}))
    True
    """
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4))
    longest = max((len(v) for v in losses.values()), default=0)
    finite = np.concatenate([np.asarray(v, dtype=np.float64) for v in losses.values()] or [np.ones(1)])
    # a linear axis that shows the learning of the runs that train; an exploding run leaves it at the top
    top = 4.0 * float(np.median(finite[np.isfinite(finite)])) if np.isfinite(finite).any() else 1.0
    for label, values in losses.items():
        values = np.asarray(values, dtype=np.float64)
        line, = left.plot(np.arange(1, len(values) + 1), values, linewidth=1.2, label=label)
        if len(values) < longest and len(values):  # it stopped: the loss was no longer finite
            where = (len(values), min(values[-1], top))
            left.plot(*where, "x", color=line.get_color(), markersize=10, markeredgewidth=2, clip_on=False)
            left.annotate(f"loss {values[-1]:.2g}, then overflow at update {len(values) + 1}", where,
                          xytext=(10, -6), textcoords="offset points", fontsize=8, color=line.get_color(), va="top")
        norms = np.asarray(grad_norms[label], dtype=np.float64)
        right.semilogy(np.arange(1, len(norms) + 1), norms, linewidth=1.2, color=line.get_color(),
                       label=f"{label}: before clipping")
        if clipped_norms and label in clipped_norms:
            after = np.asarray(clipped_norms[label], dtype=np.float64)
            right.semilogy(np.arange(1, len(after) + 1), after, ".", markersize=2.5, color="black", zorder=3,
                           label=f"{label}: after clipping")
    left.set_ylim(0.0, top)
    if baseline is not None:
        left.axhline(baseline, color="#555555", linestyle=":", linewidth=1.2, label=f"baseline {baseline:.3g}")
    right.axhline(threshold, color="#d62728", linestyle="--", linewidth=1.4, label=f"threshold C = {threshold:g}")
    left.set_ylabel("training loss")
    right.set_ylabel(r"global gradient norm $\|\nabla_\theta l\|$")
    for ax in (left, right):
        ax.set_xlabel("update")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_memory_capacity(panels: dict, path: str, claimed: tuple | None = None, title: str = "") -> str:
    """Memory capacity per unit against the spectral radius: ``panels`` maps a panel title to its lines (label →
    (radius, MC / n) pairs), on shared axes; ``claimed`` (low, high) shades a range of radii with the line MC = n,
    what a claim "that range remembers about n steps" would put there.

    >>> import os, tempfile
    >>> lines = {"n = 10": [(0.5, 0.4), (0.9, 0.6)]}
    >>> os.path.exists(plot_memory_capacity({"a": lines}, os.path.join(tempfile.mkdtemp(), "m.png"), (1.2, 3)))
    True
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), sharey=True, squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items()):
        if claimed:
            ax.axvspan(*claimed, color="tab:orange", alpha=0.12)
            ax.plot(claimed, (1.0, 1.0), color="tab:orange", linewidth=2.5, label=f"claimed: r in [{claimed[0]:g}, "
                    f"{claimed[1]:g}] remembers n steps")
        for label, points in lines.items():
            radii, fractions = zip(*points)
            ax.plot(radii, fractions, "o-", label=label, linewidth=1.5, markersize=4)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)  # MC ≤ n: the bound for a linear reservoir
        ax.set_xscale("log")
        ax.set_xticks(sorted({r for points in lines.values() for r, _ in points}), minor=False)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlabel("spectral radius r")
        ax.set_title(name, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("memory capacity / n")
    axes[0, 0].set_ylim(0.0, 1.1)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    # below the panels: inside, any corner covers a line or the claimed band
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5,
               fontsize=8)
    return _save(fig, path)


def plot_gate_heatmap(gates: dict, path: str, title: str = "Gate activations over time", marks=None,
                      mark_label: str = "marked steps") -> str:
    """One panel per gate (name → a (T, H) array of activations in [0, 1]), units as rows and time steps as
    columns, on one shared colour scale from 0 to 1; ``marks`` (steps) are drawn as dashed vertical lines.

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "g.png")
    >>> os.path.exists(plot_gate_heatmap({"i": np.full((4, 3), 0.5), "f": np.ones((4, 3))}, path, marks=[1]))
    True
    """
    plt = _pyplot()
    names = list(gates)
    steps, units = np.asarray(gates[names[0]]).shape
    fig, axes = plt.subplots(len(names), 1, figsize=(max(6.0, 0.22 * steps + 2.5), (0.11 * units + 0.9) * len(names)),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        image = ax.imshow(np.asarray(gates[name], dtype=np.float64).T, aspect="auto", cmap="viridis", vmin=0.0,
                          vmax=1.0, interpolation="nearest")
        ax.set_ylabel(f"{name}\nunit", fontsize=9)
        for k, step in enumerate(marks or ()):
            ax.axvline(step, color="white", linestyle="--", linewidth=1.2, label=mark_label if k == 0 else None)
    if marks:
        axes[0, 0].legend(fontsize=8, loc="upper right", framealpha=0.8)
    axes[-1, 0].set_xlabel("time step t")
    axes[-1, 0].xaxis.set_major_locator(plt.MaxNLocator(integer=True))  # steps are whole numbers
    axes[0, 0].set_title(title, fontsize=10)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="activation", shrink=0.9)
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


def plot_attention(weights, src_tokens, tgt_tokens, path: str, title: str = "Attention weights") -> str:
    """Attention weights as the lectures' heatmap: one row per output (target) token, one column per input (source)
    token, each row a softmax over the inputs.

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> os.path.exists(plot_attention(np.eye(2), ["hello", "world"], ["bonjour", "monde"], path))
    True
    """
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"plot_attention: weights of shape {values.shape} do not fit {len(tgt_tokens)} target × "
                         f"{len(src_tokens)} source tokens (rows are outputs, columns inputs)")
    return plot_heatmap(values, path, title=title, xlabel="input (source)", ylabel="output (target)",
                        xticklabels=list(src_tokens), yticklabels=list(tgt_tokens), cmap="Greys")
