"""Pictures of traced graphs and of gradient flow. Depends on ``tinygrad_rnn``'s public API only.

``dot`` draws unrolled graphs (levels, collapse, gradients, paths, frames), ``cell`` one LSTM/GRU cell gate by gate,
``beam`` a beam search's tree, ``plots`` the curves and heatmaps, ``report`` the HTML page that bundles them,
``colours`` the colours every picture of a graph shares (the drawings, the explorer, the Model Explorer export);
``model_explorer`` exports a graph to Google's Model Explorer; ``explore(graph)`` opens a graph in the interactive
explorer (an offline HTML page, inline in Jupyter).
"""
from . import beam, cell, colours, dot, model_explorer, plots, report
from .dot import INSTALL_DOT, Drawing, dot_available, draw, frames, to_dot, write, write_frames, write_source
from .explorer import Explorer, explore

__all__ = ["INSTALL_DOT", "Drawing", "Explorer", "beam", "cell", "colours", "dot", "dot_available", "draw", "explore",
           "frames", "model_explorer", "plots", "report", "to_dot", "write", "write_frames", "write_source"]
