"""The interactive explorer of unrolled graphs: ``explore(graph)`` gives an :class:`Explorer`, one offline HTML page
(``page``: the model and the page's assembly). The page's own parts are data beside it: its markup, style and script
(``explorer.html``, ``.css``, ``.js``) and the vendored Graphviz WebAssembly build (``vendor/``, refreshed by
``python -m viz.explorer.refresh_vendor``)."""
from .page import Explorer, explore, model

__all__ = ["Explorer", "explore", "model"]
