"""The explorer's page parts, kept as data: its script and style, and the vendored Graphviz WebAssembly build
(``vendor/``, refreshed by ``python -m viz.explorer.refresh_vendor``). ``viz.explore`` assembles them."""
