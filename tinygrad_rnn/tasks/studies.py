"""Gradient-flow studies: the lectures' claims about vanishing and exploding gradients, measured, then drawn.

    tinygrad-rnn studies [--quick] [--out out] [--only inits,clipping]

Each study computes its numbers first — returned by :func:`run` and saved as ``study_<name>.json`` — and then
draws them as ``study_<name>.png``:

- ``inits``: ‖∂l_T/∂h_{T−δ}‖ against the lag δ for tanh RNN, LSTM and GRU layers under Gaussian N(0, g²/H)
  (g = 0.5 and 1), orthogonal and identity recurrent init, and the LSTM's forget bias 0, 1 and 3.
- ``road_to_gating``: leaky units from "keeps nothing" (the plain tanh RNN) to "keeps everything" (the lectures'
  α = 1), the 1997 LSTM without a forget gate and the modern LSTM: how far one error reaches back, and how the
  errors of a loss at every step pile up.
- ``linear_forgetting``: a linear RNN h_t = W h_{t−1} with W = Q diag(λ) Q⁻¹: ‖h_t‖ measured against the
  eigen-decomposition's prediction ∝ |λ₁|ᵗ, and the rate per step fitted to the measurement.
- ``clipping``: a tanh RNN with a large recurrent gain trained by SGD on the adding problem with and without
  clipping the global gradient norm at C; the norms before clipping, and after it (≤ C).
- ``gates``: the input, forget and output gate activations of an LSTM trained on the adding problem, read from
  the traced graph of its unfused cells (nodes named ``i``, ``f``, ``o`` at every step) along one sequence.
- ``memory_capacity``: an echo-state network's memory capacity (Jaeger, 2002) — how many past inputs a ridge
  readout of its reservoir recalls, Σ_k corr²(y_k, u_{t−k}) — against the spectral radius, for a few reservoir
  sizes n and input scalings: the lectures' "r = 1.2 to 3 remembers about n steps", measured.

Leaky units: the library's α is the fraction *written* per step (h' = (1 − α)⊙h + α⊙h̃); the lectures' α is the
fraction *kept*, here 1 − α. The lectures' α = 1 is therefore the library's α → 0 (a tiny α stands in for it:
``LeakyRNN`` takes α in (0, 1]).

>>> result = run(None, quick=True, only=["linear_forgetting"], log=lambda *_: None)
>>> [round(r["fitted_rate"], 2) for r in result["linear_forgetting"]["runs"]]
[0.9, 1.0, 1.1]
"""
from __future__ import annotations

import math
import os

import numpy as np

import tinygrad_rnn as tr
from tinygrad_rnn import analysis
from tinygrad_rnn.analysis import LagCurve
from tinygrad_rnn.optim import grad_norm
from tinygrad_rnn.tasks import gradflow
from tinygrad_rnn.tasks.long_range import ADDING_BASELINE, AddingModel, adding_problem
from tinygrad_rnn.train import Trainer
from tinygrad_rnn.tasks.options import nonnegative_int, Parser

STUDIES = ("inits", "road_to_gating", "linear_forgetting", "clipping", "gates", "memory_capacity")
CELL_TITLES = {"rnn": "tanh RNN", "lstm": "LSTM (forget bias 1)", "gru": "GRU"}
INIT_CASES = (("gaussian", 0.5), ("gaussian", 1.0), ("orthogonal", 1.0), ("identity", 1.0))
FORGET_BIASES = (0.0, 1.0, 3.0)
EIGENVALUES = (0.9, 1.0, 1.1)
GATES = ("i", "f", "o")
SPECTRAL_RADII = (0.5, 0.9, 1.2, 2.0, 3.0)
INPUT_SCALINGS = (0.01, 0.1, 1.0)


def _silent(*_) -> None:
    return None


def _curve(numbers: dict) -> LagCurve:
    return LagCurve(numbers["lags"], np.asarray(numbers["norms"], dtype=np.float64))


def _at(numbers: dict, lag: int) -> float:
    return numbers["norms"][numbers["lags"].index(lag)]


# -- a. initialisation ----------------------------------------------------------------------------------------------
def _init_label(init: str, gain: float) -> str:
    return f"gaussian N(0, {gain:g}²/H)" if init == "gaussian" else init


def inits(quick: bool = False, seed: int = 0, log=print) -> dict:
    """Gradient against lag per cell and recurrent init (``gradflow.run`` on one shared input), and for the LSTM
    per forget bias; ``lag`` = T/2 is where the summary compares them."""
    steps, hidden = (30, 16) if quick else (80, 32)
    curves: dict = {cell: {} for cell in CELL_TITLES}
    for init, gain in INIT_CASES:
        measured = gradflow.run(tuple(CELL_TITLES), steps, hidden, init, gain, forget_bias=1.0, seed=seed,
                                out_dir=None, log=_silent)
        for cell, numbers in zip(CELL_TITLES, measured.values()):
            curves[cell][_init_label(init, gain)] = numbers
    curves["forget_bias"] = {}
    for bias in FORGET_BIASES:
        (numbers,) = gradflow.run(("lstm",), steps, hidden, forget_bias=bias, seed=seed, out_dir=None,
                                  log=_silent).values()
        curves["forget_bias"][f"forget bias {bias:g}"] = numbers
    for cell, by_init in curves.items():
        for label, numbers in by_init.items():
            log(f"  {cell:11s} {label:24s} {numbers['diagnosis']}")
    return {"steps": steps, "hidden": hidden, "lag": steps // 2, "curves": curves}


def _draw_inits(numbers: dict, path: str) -> str:
    from viz import plots

    panels = {CELL_TITLES.get(cell, cell): {label: _curve(c) for label, c in by_init.items()}
              for cell, by_init in numbers["curves"].items() if cell in CELL_TITLES}
    panels["LSTM, default init: forget bias"] = {label: _curve(c) for label, c in
                                                 numbers["curves"]["forget_bias"].items()}
    return plots.plot_lag_panels(panels, path, title=f"Gradient against lag at initialisation (T = {numbers['steps']}, "
                                 f"H = {numbers['hidden']}, inputs 0.1·N(0, 1))")


def _summary_inits(numbers: dict) -> str:
    lag, rnn = numbers["lag"], numbers["curves"]["rnn"]
    bias = numbers["curves"]["forget_bias"]
    small = rnn[_init_label("gaussian", 0.5)]
    return (f"at lag {lag}: tanh RNN orthogonal {_at(rnn['orthogonal'], lag):.2g} vs small Gaussian "
            f"{_at(small, lag):.2g}; LSTM forget bias 1 {_at(bias['forget bias 1'], lag):.2g} vs 0 "
            f"{_at(bias['forget bias 0'], lag):.2g}")


# -- b. the road to gating ------------------------------------------------------------------------------------------
# (short name, label, layer options) from the unit that keeps nothing to the gated ones. The library's leaky α is
# the fraction written; "keeps" is the lectures' α, the fraction kept.
GATING_UNITS = (
    ("tanh RNN", "tanh RNN (leaky α = 1: keeps 0)", ("leaky", {"alpha": 1.0})),
    ("keeps 0.9", "leaky α = 0.1 (keeps 0.9)", ("leaky", {"alpha": 0.1})),
    ("keeps 0.99", "leaky α = 0.01 (keeps 0.99)", ("leaky", {"alpha": 0.01})),
    ("keeps 1", "leaky α = 1e-12 (keeps ≈ 1: the lectures' α = 1)", ("leaky", {"alpha": 1e-12})),
    ("LSTM 1997", "LSTM 1997: no forget gate", ("lstm", {"forget_gate": False})),
    ("LSTM", "LSTM with forget gate (bias 1)", ("lstm", {"forget_bias": 1.0})),
)


def _gating_layers(hidden: int) -> dict:
    """Label → float64 layer for each of ``GATING_UNITS``."""
    kinds = {"leaky": tr.nn.LeakyRNN, "lstm": tr.nn.LSTM}
    return {label: kinds[kind](8, hidden, **options).double() for _, label, (kind, options) in GATING_UNITS}


def accumulated_vs_lag(layer, inputs: tr.Tensor, seed: int = 0) -> LagCurve:
    """‖∂L/∂h_{T−δ}‖ against δ for L = Σ_t ⟨v, y_t⟩, a loss at every step with one fixed random unit direction
    v: each step adds its own error to the ones arriving from later steps (one-layer, one-direction layers)."""
    output, _ = layer(inputs)
    v = np.random.default_rng(seed).standard_normal((output.shape[1], output.shape[2]))
    v /= np.linalg.norm(v)
    loss = (output * tr.tensor(v, dtype=output.dtype)).sum()
    (flow,) = analysis.gradient_norms(loss, "h").values()
    steps = inputs.shape[0]
    return LagCurve([steps - 1 - s for s in flow.steps][::-1], flow.norms[::-1])


def road_to_gating(quick: bool = False, seed: int = 0, log=print) -> dict:
    """One error at the last step (``gradient_vs_lag``) and a loss at every step (``accumulated_vs_lag``) for
    leaky units of growing memory, the 1997 LSTM and the modern LSTM, all on one input sequence."""
    steps, hidden = (40, 16) if quick else (100, 32)
    tr.manual_seed(seed)
    inputs = tr.randn(steps, 4, 8, dtype="float64") * 0.1
    curves, accumulated = {}, {}
    for label, layer in _gating_layers(hidden).items():
        curves[label] = gradflow.curve_numbers(analysis.gradient_vs_lag(layer, inputs, seed=seed))
        accumulated[label] = gradflow.curve_numbers(accumulated_vs_lag(layer, inputs, seed=seed))
        log(f"  {label:48s} {curves[label]['diagnosis']}; accumulated error at lag {steps - 1}: "
            f"{accumulated[label]['norms'][-1]:.3g}")
    return {"steps": steps, "hidden": hidden, "curves": curves, "accumulated": accumulated}


def _draw_road_to_gating(numbers: dict, path: str) -> str:
    from viz import plots

    return plots.plot_road_to_gating({k: _curve(c) for k, c in numbers["curves"].items()},
                                     {k: _curve(c) for k, c in numbers["accumulated"].items()}, path,
                                     title=f"The road to gating: leaky units, the 1997 LSTM, the forget gate "
                                           f"(T = {numbers['steps']}, H = {numbers['hidden']})")


def _summary_road_to_gating(numbers: dict) -> str:
    rates = ", ".join(f"{short} ×{numbers['curves'][label]['rate']:.3f}" for short, label, _ in GATING_UNITS)
    return f"gradient factor per step: {rates}"


# -- c. linear forgetting -------------------------------------------------------------------------------------------
def _linear_rnn_matrix(top: float, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """W = Q diag(λ) Q⁻¹ with λ₁ = ``top`` and the other eigenvalues at most half as large in magnitude (a gap, so
    the top mode dominates after a few steps), Q a random well-conditioned basis; also the projection P₁ onto λ₁'s
    eigenvector along the others (P₁ h₀ is the part of h₀ that decays or grows like |λ₁|ᵗ)."""
    basis = rng.standard_normal((size, size)) + 3.0 * np.eye(size)
    others = rng.uniform(0.1, 0.5, size - 1) * top * rng.choice([-1.0, 1.0], size - 1)
    eigenvalues = np.concatenate([[top], others])
    inverse = np.linalg.inv(basis)
    return basis @ np.diag(eigenvalues) @ inverse, np.outer(basis[:, 0], inverse[0])


def linear_forgetting(quick: bool = False, seed: int = 0, log=print, size: int = 8) -> dict:
    """‖h_t‖ of h_t = W h_{t−1} (run as tensor ops, float64, no graph) for each |λ₁| in ``EIGENVALUES``, the
    prediction ‖P₁h₀‖·|λ₁|ᵗ, and the rate per step fitted (least squares on log‖h_t‖) after the first
    ``burn_in`` steps, when the smaller eigenvalues have died out."""
    steps = 40 if quick else 120
    burn_in = steps // 4
    rng = np.random.default_rng(seed)
    runs = []
    for top in EIGENVALUES:
        weight, projection = _linear_rnn_matrix(top, size, rng)
        start = rng.standard_normal(size)
        h, transposed, norms = tr.tensor(start[None, :]), tr.tensor(weight.T), [float(np.linalg.norm(start))]
        with tr.no_grad():
            for _ in range(steps):
                h = h @ transposed  # row vectors: h_t = h_{t-1} Wᵀ is W h_{t-1}
                norms.append(float(np.linalg.norm(h.numpy())))
        # LagCurve.rate is a least-squares fit of log‖·‖ against its x axis: here the step t
        fitted = LagCurve(list(range(burn_in, steps + 1)), np.asarray(norms[burn_in:])).rate()
        predicted = float(np.linalg.norm(projection @ start)) * top ** np.arange(steps + 1.0)
        runs.append({"top_eigenvalue": top, "norms": norms, "predicted": predicted.tolist(), "fitted_rate": fitted,
                     "relative_error": abs(fitted - top) / top})
        log(f"  |λ₁| = {top:g}: fitted rate {fitted:.6f} per step (relative error {abs(fitted - top) / top:.1e})")
    return {"steps": steps, "size": size, "burn_in": burn_in, "runs": runs}


def _draw_linear_forgetting(numbers: dict, path: str) -> str:
    from viz import plots

    runs = numbers["runs"]
    return plots.plot_linear_forgetting({r["top_eigenvalue"]: r["norms"] for r in runs}, path,
                                        predicted={r["top_eigenvalue"]: r["predicted"] for r in runs},
                                        fitted={r["top_eigenvalue"]: r["fitted_rate"] for r in runs},
                                        title=r"Linear RNN $h_t = W h_{t-1}$, $W = Q\,\mathrm{diag}(\lambda)\,Q^{-1}$"
                                              f" ({numbers['size']} units): " + r"$\|h_t\| \propto |\lambda_1|^t$")


def _summary_linear_forgetting(numbers: dict) -> str:
    return "fitted rates " + ", ".join(f"{r['fitted_rate']:.4f} (|λ₁| = {r['top_eigenvalue']:g})"
                                       for r in numbers["runs"])


# -- d. clipping ----------------------------------------------------------------------------------------------------
def _train_adding(model, clip: float | None, updates: int, lr: float, length: int, batch: int) -> dict:
    """SGD updates through ``Trainer.update`` (so the norm before clipping is the trainer's), reading the global
    norm of the gradients the optimiser actually used after each; stops at the first non-finite loss."""
    trainer = Trainer(model, tr.optim.SGD(model.parameters(), lr=lr), clip_norm=clip, progress=False)
    params = list(model.parameters())
    losses, before, after = [], [], []
    diverged = None
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is the outcome being measured, not a bug
        for step in range(updates):
            inputs, targets = adding_problem(length, batch, seed=step)
            record = trainer.update(tr.mse_loss(model(inputs), targets))
            loss, norm = record["loss"].item(), record["grad_norm"].item()
            if not (math.isfinite(loss) and math.isfinite(norm)):
                diverged = step + 1
                break
            losses.append(loss)
            before.append(norm)
            after.append(grad_norm(params).item())
    return {"losses": losses, "grad_norms": before, "clipped_norms": after, "diverged_at": diverged}


def clipping(quick: bool = False, seed: int = 0, log=print, threshold: float = 1.0, gain: float = 1.5,
             lr: float = 0.1) -> dict:
    """A tanh RNN (W_hh ~ N(0, gain²/H): an expanding recurrence) on the adding problem, the same SGD run twice
    from the same weights on the same batches: without clipping, and with the global norm clipped at
    ``threshold``. Unclipped, the first large gradients push W_hh further out, and the gradient grows by orders
    of magnitude per update until it overflows; clipped, every step is at most lr·C long."""
    updates, length, hidden, batch = (60, 10, 32, 32) if quick else (600, 10, 32, 32)
    runs = {}
    for label, clip in (("no clipping", None), (f"clipped at C = {threshold:g}", threshold)):
        tr.manual_seed(seed)
        run = _train_adding(AddingModel("rnn", hidden, rnn_gain=gain), clip, updates, lr, length, batch)
        run["clip"] = clip
        run["final_loss"] = float(np.mean(run["losses"][-max(1, updates // 10):]))
        runs[label] = run
        ending = f"overflowed at update {run['diverged_at']}" if run["diverged_at"] else \
            f"mean loss of the last {max(1, updates // 10)} updates {run['final_loss']:.3f}"
        log(f"  {label:16s} largest norm before clipping {max(run['grad_norms']):.3g}"
            + (f", after {max(run['clipped_norms']):.6f}" if clip else "") + f"; {ending}")
    clipped = runs[f"clipped at C = {threshold:g}"]
    return {"threshold": threshold, "gain": gain, "lr": lr, "length": length, "hidden": hidden, "updates": updates,
            "baseline": ADDING_BASELINE, "runs": runs,
            "max_clipped_norm": max(clipped["clipped_norms"]),
            "clipped_updates": sum(n > threshold for n in clipped["grad_norms"])}


def _draw_clipping(numbers: dict, path: str) -> str:
    from viz import plots

    runs = numbers["runs"]
    return plots.plot_clipping({k: r["losses"] for k, r in runs.items()}, {k: r["grad_norms"] for k, r in runs.items()},
                               numbers["threshold"], path,
                               clipped_norms={k: r["clipped_norms"] for k, r in runs.items() if r["clip"]},
                               baseline=numbers["baseline"],
                               title=f"Clipping the global gradient norm: tanh RNN (H = {numbers['hidden']}, "
                                     f"W_hh ~ N(0, {numbers['gain']:g}²/H)), SGD lr {numbers['lr']:g}, "
                                     f"adding problem T = {numbers['length']}")


def _summary_clipping(numbers: dict) -> str:
    unclipped = numbers["runs"]["no clipping"]
    fate = f"overflowed at update {unclipped['diverged_at']}" if unclipped["diverged_at"] else \
        f"ended at loss {unclipped['final_loss']:.3g}"
    clipped = numbers["runs"][f"clipped at C = {numbers['threshold']:g}"]
    return (f"without clipping the loss {fate}; clipped: loss {clipped['final_loss']:.3f} (baseline "
            f"{numbers['baseline']:.3f}), {numbers['clipped_updates']} of {numbers['updates']} updates clipped, "
            f"largest norm after clipping {numbers['max_clipped_norm']:.6f} ≤ C = {numbers['threshold']:g}")


# -- e. gate activations --------------------------------------------------------------------------------------------
def gate_activations(layer, inputs: tr.Tensor, row: int = 0) -> dict:
    """Gate name → (T, H) activations of batch row ``row``, read from the traced graph of a one-layer,
    one-direction LSTM layer run unfused (its cell names its gates ``i``, ``f``, ``o`` at every step)."""
    fused = layer.fused
    layer.fused = False  # the same numbers, with every gate its own node
    try:
        output, _ = layer(inputs)  # with a graph: the gates are read from it
    finally:
        layer.fused = fused
    graph = tr.graph.trace(output)
    gates = {}
    for name in GATES:
        by_step = sorted(graph.find(name=name, kind="tensor"), key=lambda node: node.step)
        if [node.step for node in by_step] != list(range(inputs.shape[0])):
            raise ValueError(f"gate_activations: expected one gate {name!r} per step of a one-layer, one-direction "
                             f"LSTM, found steps {[node.step for node in by_step]}")
        gates[name] = np.stack([node.tensor.numpy()[row] for node in by_step])
    return gates


def gates(quick: bool = False, seed: int = 0, log=print) -> dict:
    """An LSTM trained (Adam, clipped) on the adding problem, then run unfused on one held-out sequence whose two
    marked steps the gates should react to."""
    updates, length, hidden = (80, 20, 8) if quick else (800, 30, 16)
    tr.manual_seed(seed)
    model = AddingModel("lstm", hidden)
    trainer = Trainer(model, tr.optim.Adam(model.parameters(), lr=0.01), clip_norm=1.0, progress=False)
    losses = trainer.fit(lambda step: adding_problem(length, 64, seed=seed * 100_000 + step),
                         lambda m, batch: tr.mse_loss(m(batch[0]), batch[1]), updates)
    inputs, targets = adding_problem(length, 256, seed=seed * 100_000 + updates + 1)
    with tr.no_grad():
        held_out = tr.mse_loss(model(inputs), targets).item()
    marks = [int(t) for t in np.flatnonzero(inputs.numpy()[:, 0, 1])]
    activations = gate_activations(model.rnn, inputs[:, :1])
    others = [t for t in range(length) if t not in marks]
    # the unit whose input gate opens most at the marked steps compared with the others: the one that stores
    contrast = activations["i"][marks].mean(axis=0) - activations["i"][others].mean(axis=0)
    unit = int(np.argmax(contrast))
    numbers = {"length": length, "hidden": hidden, "updates": updates, "final_train_loss": losses[-1],
               "held_out_mse": held_out, "baseline": ADDING_BASELINE, "marks": marks,
               "gates": {name: values.tolist() for name, values in activations.items()},
               "mean": {name: float(values.mean()) for name, values in activations.items()},
               "storing_unit": unit,
               "storing_unit_input_gate": {"marked": float(activations["i"][marks, unit].mean()),
                                           "elsewhere": float(activations["i"][others, unit].mean())},
               "storing_unit_forget_gate": float(activations["f"][:, unit].mean())}
    log(f"  held-out MSE {held_out:.4f} (baseline {ADDING_BASELINE:.3f}) after {updates} updates")
    return numbers


def _draw_gates(numbers: dict, path: str) -> str:
    from viz import plots

    names = {"i": "input gate i", "f": "forget gate f", "o": "output gate o"}
    return plots.plot_gate_heatmap({names[k]: np.asarray(v) for k, v in numbers["gates"].items()}, path,
                                   marks=numbers["marks"], mark_label="marked (to be added) steps",
                                   title=f"LSTM gates along one adding-problem sequence\n(H = {numbers['hidden']}, "
                                         f"trained {numbers['updates']} updates, held-out MSE "
                                         f"{numbers['held_out_mse']:.3f}, baseline {numbers['baseline']:.3f})")


def _summary_gates(numbers: dict) -> str:
    gate = numbers["storing_unit_input_gate"]
    return (f"held-out MSE {numbers['held_out_mse']:.4f}; unit {numbers['storing_unit']}'s input gate is "
            f"{gate['marked']:.2f} at the marked steps and {gate['elsewhere']:.2f} elsewhere, its forget gate "
            f"{numbers['storing_unit_forget_gate']:.2f} on average")


# -- f. echo-state memory capacity ----------------------------------------------------------------------------------
def memory_capacity(size: int, spectral_radius: float, input_scaling: float = 0.1, max_delay: int | None = None,
                    train: int = 2000, test: int = 1000, seed: int = 0, ridge: float = 1e-10) -> dict:
    """Jaeger's (2002) short-term memory capacity of an echo-state network with ``size`` tanh units: driven by
    i.i.d. U(−1, 1) inputs u_t, one ridge readout per delay k = 1 … ``max_delay`` (default 2·size) is fitted on
    ``train`` steps to recall u_{t−k}, and scored on the next ``test`` steps by the squared correlation
    MC_k = corr²(y_k, u_{t−k}); the capacity is Σ_k MC_k. For a linear reservoir it is at most ``size`` (the
    readouts are projections of an n-dimensional state onto uncorrelated targets); pure noise scores about
    max_delay / test.

    >>> result = memory_capacity(1, 0.9, input_scaling=1e-3, max_delay=40)
    >>> round(result["capacity"], 1)  # one linear unit x_t = r·x_{t−1} + s·u_t: Σ_k r^2k (1 − r²) = r²
    0.8
    """
    max_delay = max_delay or 2 * size
    washout = max(100, max_delay)  # the readout's first targets u_{t−k} need k earlier inputs
    inputs = np.random.default_rng([seed, size]).uniform(-1.0, 1.0, washout + train + test)
    delayed = np.zeros((inputs.size, 1, max_delay))
    for k in range(1, max_delay + 1):
        delayed[k:, 0, k - 1] = inputs[:-k]
    esn = tr.nn.EchoStateNetwork(1, size, max_delay, spectral_radius=spectral_radius, input_scaling=input_scaling,
                                 ridge=ridge, washout=washout, seed=seed, dtype="float64")
    drive = tr.tensor(inputs[:, None, None], dtype="float64")
    fitted = washout + train
    esn.fit(drive[:fitted], tr.tensor(delayed[:fitted], dtype="float64"))
    with tr.no_grad():
        recalled = esn(drive).numpy()[fitted:, 0]
    targets = delayed[fitted:, 0]
    per_delay = [float(np.corrcoef(recalled[:, k], targets[:, k])[0, 1] ** 2) for k in range(max_delay)]
    return {"size": size, "spectral_radius": spectral_radius, "input_scaling": input_scaling,
            "per_delay": per_delay, "capacity": float(sum(per_delay)), "noise_floor": max_delay / test}


def memory_capacity_study(quick: bool = False, seed: int = 0, log=print) -> dict:
    """``memory_capacity`` for every reservoir size, input scaling and spectral radius of ``SPECTRAL_RADII``."""
    sizes, test = ((10, 20), 1000) if quick else ((25, 50, 100, 200), 2000)
    runs = []
    for scaling in INPUT_SCALINGS:
        for size in sizes:
            row = [memory_capacity(size, r, scaling, test=test, seed=seed) for r in SPECTRAL_RADII]
            runs.extend(row)
            log(f"  input scaling {scaling:<4g} n = {size:3d}: MC " + ", ".join(
                f"{run['capacity']:.1f} (r = {run['spectral_radius']:g})" for run in row))
    best = max(runs, key=lambda run: run["capacity"] / run["size"])
    claimed = [run for run in runs if 1.2 <= run["spectral_radius"] <= 3.0]
    return {"sizes": list(sizes), "spectral_radii": list(SPECTRAL_RADII), "input_scalings": list(INPUT_SCALINGS),
            "test": test, "runs": runs, "best": {k: best[k] for k in ("size", "spectral_radius", "input_scaling",
                                                                       "capacity")},
            "largest_fraction_in_claimed_range": max(run["capacity"] / run["size"] for run in claimed)}


def _draw_memory_capacity(numbers: dict, path: str) -> str:
    from viz import plots

    panels = {f"input scaling {scaling:g}": {f"n = {size}": [(run["spectral_radius"], run["capacity"] / size)
                                                           for run in numbers["runs"] if run["size"] == size
                                                           and run["input_scaling"] == scaling]
                                             for size in numbers["sizes"]}
              for scaling in numbers["input_scalings"]}
    return plots.plot_memory_capacity(panels, path, claimed=(1.2, 3.0),
                                      title="Echo-state network: memory capacity Σ_k corr²(y_k, u_{t−k}) per unit "
                                            f"(ridge readouts, {numbers['test']} test steps)")


def _summary_memory_capacity(numbers: dict) -> str:
    best = numbers["best"]
    return (f"largest MC {best['capacity']:.1f} of n = {best['size']} at r = {best['spectral_radius']:g} (input "
            f"scaling {best['input_scaling']:g}); for r in [1.2, 3] at most "
            f"{numbers['largest_fraction_in_claimed_range']:.2f}·n")


# -- running them ---------------------------------------------------------------------------------------------------
_REGISTRY = {
    "inits": (inits, _draw_inits, _summary_inits),
    "road_to_gating": (road_to_gating, _draw_road_to_gating, _summary_road_to_gating),
    "linear_forgetting": (linear_forgetting, _draw_linear_forgetting, _summary_linear_forgetting),
    "clipping": (clipping, _draw_clipping, _summary_clipping),
    "gates": (gates, _draw_gates, _summary_gates),
    "memory_capacity": (memory_capacity_study, _draw_memory_capacity, _summary_memory_capacity),
}


def run(out_dir: str | None = "out", quick: bool = False, seed: int = 0, log=print, only=None) -> dict:
    """Run the studies named in ``only`` (default: all, in ``STUDIES`` order); returns name → numbers, each with
    ``files`` (the JSON and the picture under ``out_dir``; none when ``out_dir`` is None)."""
    names = list(only or STUDIES)
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ValueError(f"studies: unknown {unknown}; choose from {list(STUDIES)}")
    results = {}
    for name in names:
        measure, draw, summarise = _REGISTRY[name]
        numbers = measure(quick=quick, seed=seed, log=log)
        files = []
        if out_dir:
            files = [os.path.join(out_dir, f"study_{name}.json"), os.path.join(out_dir, f"study_{name}.png")]
            tr.save_json(numbers, files[0])
            draw(numbers, files[1])
        log(f"{name}: {summarise(numbers)}" + (f" → wrote {files[1]} and {files[0]}" if files else ""))
        results[name] = {**numbers, "files": files}
    return results


def main(argv=None) -> int:
    parser = Parser(prog="tinygrad-rnn studies", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short sequences and few updates: seconds, not a minute")
    parser.add_argument("--out", default="out", help="folder for study_<name>.json and .png (default out/)")
    parser.add_argument("--only", default=",".join(STUDIES), help=f"comma-separated, from: {', '.join(STUDIES)}")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown or not names:
        parser.error(f"--only: unknown {unknown or names}; choose from {', '.join(STUDIES)}")
    run(args.out, quick=args.quick, seed=args.seed, only=names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
