"""Gradient flow through time for tanh RNN, LSTM and GRU layers: ‖∂l_T/∂h_{T−δ}‖ against the lag δ.

    tinygrad-rnn gradflow --cell rnn,lstm,gru --steps 50 --init orthogonal

Prints one diagnosis per cell ("vanishing: ×0.71 per step, 1/e after 2.9 steps"), and writes the curves as a
plot (``gradflow.png``) and as numbers (``gradflow.json``: lags, norms, rate per step, diagnosis) under ``--out``.
"""
from __future__ import annotations

import os

import tinygrad_rnn as tr
from tinygrad_rnn import analysis
from tinygrad_rnn.tasks.options import finite_float, nonnegative_int, Parser, positive_int

LAYERS = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}
INITS = ("default", "orthogonal", "identity", "gaussian")
PICTURE, NUMBERS = "gradflow.png", "gradflow.json"  # what run writes under out_dir (the report shows PICTURE)


def curve_numbers(curve: analysis.LagCurve) -> dict:
    """A gradient-vs-lag curve as plain numbers (what ``gradflow.json`` and the studies' JSON hold): its lags,
    norms, fitted rate per step and diagnosis.

    >>> import numpy as np
    >>> numbers = curve_numbers(analysis.LagCurve([0, 1, 2], np.array([1.0, 0.5, 0.25])))
    >>> numbers["norms"], round(numbers["rate"], 3)
    ([1.0, 0.5, 0.25], 0.5)
    """
    return {"lags": list(curve.lags), "norms": [float(v) for v in curve.norms], "rate": curve.rate(),
            "diagnosis": curve.diagnosis()}


def run(cells=("rnn", "lstm", "gru"), steps: int = 50, hidden: int = 32, init: str = "default", gain: float = 1.0,
        forget_bias: float = 1.0, seed: int = 0, out_dir: str | None = "out", log=print) -> dict:
    """The gradient-vs-lag curve of each cell type on one random input sequence (scaled small, so the tanh
    units sit near their linear range and the recurrent matrix decides)."""
    tr.manual_seed(seed)
    inputs = tr.randn(steps, 4, 8, dtype="float64") * 0.1
    curves = {}
    for cell in cells:
        options = {"forget_bias": forget_bias} if cell == "lstm" else {}
        layer = LAYERS[cell](8, hidden, **options).double()
        if init != "default":
            tr.nn.init.recurrent_init_(layer, init, gain)
        label = f"{cell} ({init} init{f', forget bias {forget_bias:g}' if cell == 'lstm' else ''})"
        curves[label] = analysis.gradient_vs_lag(layer, inputs, seed=seed)
        log(f"{label:40s} {curves[label].diagnosis()}")
    result = {label: curve_numbers(c) for label, c in curves.items()}
    if out_dir:
        from viz import plots

        os.makedirs(out_dir, exist_ok=True)
        picture = plots.plot_gradient_vs_lag(curves, os.path.join(out_dir, PICTURE),
                                             title=f"Gradient against lag, T = {steps}, H = {hidden}")
        numbers = os.path.join(out_dir, NUMBERS)
        tr.save_json(result, numbers)
        log(f"wrote {picture} and {numbers}")
    return result


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn gradflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="rnn,lstm,gru", help="comma-separated: rnn, lstm, gru")
    parser.add_argument("--steps", type=positive_int, default=50)
    parser.add_argument("--hidden", type=positive_int, default=32)
    parser.add_argument("--init", choices=INITS, default="default", help="recurrent weight init")
    parser.add_argument("--gain", type=finite_float, default=1.0)
    parser.add_argument("--forget-bias", type=finite_float, default=1.0)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--out", default="out")
    args = parser.parse_args(argv)
    cells = [c.strip() for c in args.cell.split(",") if c.strip()]
    unknown = [c for c in cells if c not in LAYERS]
    if unknown or not cells:
        parser.error(f"--cell: unknown {unknown or cells}; choose from {sorted(LAYERS)}")
    run(cells, args.steps, args.hidden, args.init, args.gain, args.forget_bias, args.seed, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
