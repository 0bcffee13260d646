"""Draw the unrolled graph of a small RNN, LSTM or GRU layer: one cluster per time step, left to right.

    tinygrad-rnn graph --cell lstm --steps 6 --level op --grads --highlight highway
    tinygrad-rnn graph --cell lstm --steps 200 --layers 2 --explore

Builds the layer (unfused at op level, so that every gate is its own node), puts a loss on the last step's
output, runs backward and writes ``graph_<cell>_<level>.dot`` plus each of ``--formats`` under ``--out``, printing
one line per file written. ``--grads`` colours nodes by ‖grad‖; ``--highlight`` draws in bold the LSTM cell-state
highway c₀ → … → c_T (``highway``), the hidden path h₀ → … → h_T through the output gates, leaving the cell state
aside (``hidden``), or the backward path from the loss at the last step to the first hidden state (``backward``).
``--explore`` writes the interactive explorer of the same graph too, ``graph_<cell>.html`` (one offline page: expand
a step, search a gate, read its gradient), and skips the static drawing where it would be too big for ``dot``.
"""
from __future__ import annotations

import os

import tinygrad_rnn as tr
from tinygrad_rnn.tasks.options import names, nonnegative_int, Parser, positive_int

LAYERS = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}
INPUT_SIZE, BATCH = 3, 2


def build(cell: str = "lstm", steps: int = 6, layers: int = 1, hidden: int = 8, bidirectional: bool = False,
          fused: bool = False, seed: int = 0) -> tuple:
    """The traced graph of ``cell`` unrolled over ``steps`` with a loss on the last step, after backward (every
    tensor's gradient kept), and the layer itself.

    >>> graph, layer = build("gru", steps=3)
    >>> graph.steps, type(layer).__name__
    ([0, 1, 2], 'GRU')
    """
    tr.manual_seed(seed)
    layer = LAYERS[cell](INPUT_SIZE, hidden, num_layers=layers, bidirectional=bidirectional, fused=fused)
    output, _ = layer(tr.randn(steps, BATCH, INPUT_SIZE))
    last = output[-1]
    loss = (last * last).sum()
    graph = tr.graph.trace(loss)  # traced once: marked for gradients, then drawn
    graph.retain_grads()
    loss.backward()
    return graph, layer


def highlighted(graph, which: str) -> list:
    """The nodes to draw in bold: ``highway`` (each layer's c₀ → … → c_T), ``hidden`` (h₀ → … → h_T through the
    output gates), ``backward`` (everything the gradient crosses from the loss back to the first h) or ``none``."""
    if which == "none":
        return []
    if which == "backward":
        first = min(graph.find(name="h", kind="tensor"), key=lambda n: (n.step, n.scope))
        loss = next(n for n in reversed(graph.nodes) if n.kind == "tensor" and n.shape == ()
                    and not graph.successors(n))
        return graph.path_nodes(first, loss)
    name = "c" if which == "highway" else "h"
    if which == "highway":  # every named tensor on the way is a c: the gates and h lie off the highway
        through = "c"
    else:  # h_{t-1} → the gates' pre-activation → o → o ⊙ tanh(c_t) = h_t, without the cell state's own path
        def through(n):
            return n.name not in ("c", "i", "f", "g")
    nodes: dict = {}
    for scope in sorted({n.scope for n in graph.find(name=name, kind="tensor")}):
        chain = sorted(graph.find(name=name, scope=scope, kind="tensor"), key=lambda n: n.step)
        if len(chain) > 1:
            first, last = (chain[0], chain[-1]) if not scope.endswith("_reverse") else (chain[-1], chain[0])
            nodes.update((n.id, n) for n in graph.path_nodes(first, last, through))
    return list(nodes.values())


def run(cell: str = "lstm", steps: int = 6, level: str = "op", grads: bool = False, layers: int = 1,
        bidirectional: bool = False, hidden: int = 8, highlight: str = "none", out_dir: str = "out",
        formats=("svg",), seed: int = 0, log=print, explore: bool = False) -> list:
    """Build, trace and write the drawing (and with ``explore`` the explorer's page); returns the paths written."""
    import viz
    from viz import dot

    graph, _ = build(cell, steps, layers, hidden, bidirectional, fused=level != "op", seed=seed)
    layout = f"{layers}-layer " if layers > 1 else ""
    title = (f"{layout}{'bidirectional ' if bidirectional else ''}{cell.upper()}, H = {hidden}, unrolled over "
             f"{steps} steps ({level} level{', ‖grad‖ as colour' if grads else ''})")
    path = os.path.join(out_dir, f"graph_{cell}_{level}.dot")
    files = []
    if not explore or len(graph) <= dot.MAX_NODES:  # beyond that the explorer is the way in
        files = dot.write(graph, path, formats=formats, title=title, grads=grads,
                          highlight=highlighted(graph, highlight), level=level)
    if explore:
        files.append(viz.explore(graph, grads=grads, title=title).save(os.path.join(out_dir, f"graph_{cell}.html")))
    for f in files:
        log(f"wrote {f}")
    return files


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn graph", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=sorted(LAYERS), default="lstm")
    parser.add_argument("--steps", type=positive_int, default=6)
    parser.add_argument("--level", choices=("op", "cell", "layer"), default="op")
    parser.add_argument("--grads", action="store_true", help="colour nodes by the norm of their gradient")
    parser.add_argument("--layers", type=positive_int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--hidden", type=positive_int, default=8)
    parser.add_argument("--highlight", choices=("highway", "hidden", "backward", "none"), default="none")
    parser.add_argument("--out", default="out")
    parser.add_argument("--formats", type=names(("svg", "png", "pdf")), default="svg",
                        help="comma-separated: svg, png, pdf (default svg)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--explore", action="store_true",
                        help="also write the interactive explorer, graph_<cell>.html (with --grads: ‖grad‖ too)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.layers < 1 or args.hidden < 1:
        parser.error("--steps, --layers and --hidden must be at least 1")
    if args.highlight == "highway" and args.cell != "lstm":
        parser.error("--highlight highway: only an LSTM has a cell state")
    formats = args.formats
    run(args.cell, args.steps, args.level, args.grads, args.layers, args.bidirectional, args.hidden, args.highlight,
        args.out, formats, args.seed, explore=args.explore)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
