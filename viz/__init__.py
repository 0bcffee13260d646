"""Pictures of traced graphs. Depends on ``tinygrad_rnn``'s public API (``tinygrad_rnn.graph``) only."""
from . import plots
from .dot import INSTALL_DOT, dot_available, to_dot, write

__all__ = ["INSTALL_DOT", "dot_available", "plots", "to_dot", "write"]
