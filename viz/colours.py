"""The colours every picture of a graph shares: what a node is (its shape and outline), its ‖grad‖ on a log scale
(its fill), "no gradient", the highlighted path. ``viz.dot`` draws with them, the explorer's page carries them in its
model (:func:`page_look`: its script has none of its own), the Model Explorer export colours its node data with the
same scale — so one graph reads the same in every picture of it.

>>> ramp(0.0), ramp(0.5), ramp(1.0)
('#2c7bb6', '#ffffbf', '#d7191c')
>>> darker("#ffffbf")
'#c6c699'
"""
from __future__ import annotations

# A node's category is its shape and outline colour; its fill is the category's pale colour, or, in a drawing of
# gradients, its ‖grad‖ (or NO_GRADIENT): category and gradient never share a channel.
STYLE = {
    "op": dict(shape="ellipse", style="filled", fillcolor="#fff2cc", color="#b58900"),
    "group": dict(shape="box", style="filled,rounded,bold", fillcolor="#fff2cc", color="#b58900", margin="0.12,0.06"),
    "param": dict(shape="box", style="filled,bold", fillcolor="#d5e8d4", color="#2e7d32"),
    "input": dict(shape="box", style="filled,rounded", fillcolor="#dae8fc", color="#1f5fa8"),
    "const": dict(shape="plaintext", fontcolor="#555555"),
    "tensor": dict(shape="box", style="filled,rounded", fillcolor="#ffffff", color="#555555"),
}
NO_GRADIENT = "#e6e6e6"  # the fill of a node without a gradient (none kept, none flows, or zero) in a gradient drawing
HIGHLIGHT = "#c2185b"  # a highlighted path's outlines and edges
# blue (small) → pale yellow → red (large): the colours of ‖grad‖ on a log scale, 0 the smallest, 1 the largest
RAMP = ("#2c7bb6", "#ffffbf", "#d7191c")


def _rgb(colour: str) -> list:
    return [int(colour[k:k + 2], 16) for k in (1, 3, 5)]


def ramp(u: float) -> str:
    """The colour at ``u`` (clipped to 0..1) on the ‖grad‖ scale, :data:`RAMP`'s stops joined linearly."""
    u = min(max(u, 0.0), 1.0) * (len(RAMP) - 1)
    k = min(int(u), len(RAMP) - 2)
    a, b, frac = _rgb(RAMP[k]), _rgb(RAMP[k + 1]), u - k
    return "#" + "".join(f"{round(x + (y - x) * frac):02x}" for x, y in zip(a, b))


def darker(colour: str, by: float = 0.3) -> str:
    """``colour`` mixed with dark grey: the pale middle of the scale must still show as a thin line (an edge)."""
    return "#" + "".join(f"{round(c + (0x40 - c) * by):02x}" for c in _rgb(colour))


def page_look() -> dict:
    """The colours as the explorer's page reads them from its model: the categories' styles, the scale's stops,
    "no gradient" and the highlight.

    >>> page_look()["ramp"] == list(RAMP)
    True
    """
    return {"styles": STYLE, "ramp": list(RAMP), "noGradient": NO_GRADIENT, "highlight": HIGHLIGHT}
