"""The compiled CPU loops of the fused steps (``tinygrad_rnn.cpu_kernels``) against the array code they replace,
for every flag of every loop, on NaN and ±inf, on strided inputs and through whole layers; their tanh against
float64's; and the switch that picks them. The layer, cell and PyTorch-reference tests run on them already (they
are the default for float32 on NumPy); the float64 gradient checks run on the array code they are compared with.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import LSTM_VARIANTS, check_backwards_write_into, lstm_gate_inputs, lstm_variant_id
import tinygrad_rnn as tr
from tinygrad_rnn.ops import recurrent
from tinygrad_rnn.ops.recurrent import ArrayGates

numba = pytest.importorskip("numba", reason="numba is not installed (make test installs it: pip install -e .)")
cpu_kernels = pytest.importorskip("tinygrad_rnn.cpu_kernels")

RTOL, ATOL = 2e-6, 5e-6  # float32: the loops' tanh is within 3e-7 of the true value, NumPy's within 1.2e-7, and 1 − y²
# near saturation turns that into a few 1e-6 of a gradient


def _close(actual, expected):
    for a, e in zip(actual if isinstance(actual, tuple) else (actual,),
                    expected if isinstance(expected, tuple) else (expected,), strict=True):
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, equal_nan=True)


@pytest.fixture(scope="module")
def gates():
    return cpu_kernels.CompiledLoops(np)


def _draw(rng, *shape, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def test_tanh_is_within_3e_7_of_float64s_and_odd():
    x = np.concatenate([np.linspace(-12, 12, 400_001), [0.0, 1e-30, 1e-8, 7.9053, 7.906, 50.0, 1e30]])
    x = np.concatenate([x, -x]).astype(np.float32)
    out = np.empty_like(x)
    cpu_kernels.rnn_forward(False, 0)(x[None], np.zeros_like(x)[None], x, out[None])
    exact = np.tanh(x.astype(np.float64))
    relative = np.abs(out - exact) / np.maximum(np.abs(exact), np.finfo(np.float32).tiny)
    assert relative.max() < 3e-7
    np.testing.assert_array_equal(out[: x.size // 2], -out[x.size // 2:])
    assert out[np.abs(x) >= 7.906].tolist() == np.sign(x[np.abs(x) >= 7.906]).tolist()


@pytest.mark.parametrize("kind", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("bias", [True, False])
def test_rnn_loops_match_array_code(gates, kind, bias):
    rng, array = np.random.default_rng(0), ArrayGates(np)
    gx, hw, b, g = _draw(rng, 3, 37), _draw(rng, 3, 37), _draw(rng, 37), _draw(rng, 3, 37)
    expected = array.rnn_cell(gx, hw, b if bias else None, kind)
    out = gates.rnn_cell(gx, hw, b if bias else None, kind)
    _close(out, expected)
    _close(gates.rnn_cell_backward(g, out, kind), array.rnn_cell_backward(g, expected, kind))


@pytest.mark.parametrize("variant", LSTM_VARIANTS, ids=lstm_variant_id)
def test_lstm_loops_match_array_code(gates, variant):
    rng, array, B, H = np.random.default_rng(1), ArrayGates(np), 3, 37  # 37: not a multiple of any vector width
    gx, hw, bias, c, peepholes, flags = lstm_gate_inputs(rng, B, H, np.float32, variant)
    h_a, c_a, saved_a = array.lstm_cell(gx, hw, bias, c, peepholes, *flags)
    h_k, c_k, saved_k = gates.lstm_cell(gx, hw, bias, c, peepholes, *flags)
    _close((h_k, c_k), (h_a, c_a))
    grad_h, grad_c = _draw(rng, B, H), _draw(rng, B, H)
    for grads in ((grad_h, grad_c), (grad_h, None), (None, grad_c), (None, None)):  # an unused output: no gradient
        expected = array.lstm_cell_backward(*grads, saved_a, peepholes, *flags)
        _close(gates.lstm_cell_backward(*grads, saved_k, peepholes, *flags), expected)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_loops_match_array_code(gates, bias):
    rng, array = np.random.default_rng(2), ArrayGates(np)
    gx, gh, h, g = _draw(rng, 2, 3 * 37), _draw(rng, 2, 3 * 37), _draw(rng, 2, 37), _draw(rng, 2, 37)
    b = _draw(rng, 3 * 37) if bias else None
    out_a, saved_a = array.gru_cell(gx, gh, b, h)
    out_k, saved_k = gates.gru_cell(gx, gh, b, h)
    _close(out_k, out_a)
    _close(gates.gru_cell_backward(g, saved_k), array.gru_cell_backward(g, saved_a))


@pytest.mark.parametrize("which", ["compiled", "array"])
def test_backwards_write_their_gradient_into_a_given_slot(gates, which):
    check_backwards_write_into(gates if which == "compiled" else ArrayGates(np))


def test_nan_and_inf_go_through_as_in_the_array_code(gates):
    """No fast-math flag assumes NaN and ±inf away: a NaN pre-activation stays NaN, ±inf saturates the gate."""
    rng, array, H = np.random.default_rng(3), ArrayGates(np), 8
    specials = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, 88.0, -88.0], dtype=np.float32)
    gx = np.tile(specials, (2, 4 * H // specials.size))
    hw, c = _draw(rng, 2, 4 * H), np.tile(specials[::-1], (2, H // specials.size))
    h_a, c_a, saved_a = array.lstm_cell(gx, hw, None, c, (None,) * 3, False, True)
    h_k, c_k, saved_k = gates.lstm_cell(gx, hw, None, c, (None,) * 3, False, True)
    assert np.isnan(h_a).any() and np.isinf(c_a).any()  # the inputs do reach NaN and inf
    with np.errstate(invalid="ignore"):
        _close((h_k, c_k), (h_a, c_a))
        grad = np.ones_like(c)
        _close(gates.lstm_cell_backward(grad, grad, saved_k, (None,) * 3, False, True),
               array.lstm_cell_backward(grad, grad, saved_a, (None,) * 3, False, True))
    for kind in ("tanh", "relu", "sigmoid"):
        _close(gates.rnn_cell(specials[None], np.zeros((1, 8), np.float32), None, kind),
               array.rnn_cell(specials[None], np.zeros((1, 8), np.float32), None, kind))


def test_strided_inputs_are_read_as_their_values(gates):
    """A batch-first projection's time slice and a column slice of a wider state are views, not dense arrays."""
    rng, array, B, H = np.random.default_rng(4), ArrayGates(np), 3, 6
    gx = _draw(rng, B, 5, 4 * H)[:, 2]
    c = _draw(rng, B, 2 * H)[:, 1:1 + H]
    hw, b = _draw(rng, B, 4 * H), _draw(rng, 4 * H)
    assert not gx.flags.c_contiguous and not c.flags.c_contiguous
    h_k, c_k, saved = gates.lstm_cell(gx, hw, b, c, (None,) * 3, False, True)
    h_a, c_a, _ = array.lstm_cell(np.ascontiguousarray(gx), hw, b, np.ascontiguousarray(c), (None,) * 3, False, True)
    _close((h_k, c_k), (h_a, c_a))


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_other_dtypes_take_the_array_code_bit_for_bit(gates, dtype):
    rng, array = np.random.default_rng(5), ArrayGates(np)
    gx, hw, bias, c, peepholes, flags = lstm_gate_inputs(rng, 2, 5, dtype, LSTM_VARIANTS[0])
    assert not gates.handles(c)
    for a, e in zip(gates.lstm_cell(gx, hw, bias, c, peepholes, *flags)[:2],
                    array.lstm_cell(gx, hw, bias, c, peepholes, *flags)[:2], strict=True):
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, e)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="reads x86 machine code")
def test_the_lstm_loops_are_vectorised():
    """What makes them fast, checked without a clock: the step's divisions (one per tanh) are packed SIMD
    instructions (divps / vdivps), not only scalar ones (divss), in the forward loop of the usual cell."""
    rng, B, H = np.random.default_rng(6), 2, 16
    gx, hw, bias, c, peepholes, flags = lstm_gate_inputs(rng, B, H, np.float32, LSTM_VARIANTS[0])
    cpu_kernels.CompiledLoops(np).lstm_cell(gx, hw, bias, c, peepholes, *flags)
    cached = cpu_kernels.lstm_forward(cpu_kernels.lstm_flags(True, False, False, True))
    # numba shows no machine code for a loop loaded from its disk cache: compile the same loop afresh, uncached
    fresh = numba.njit(nogil=True, error_model="numpy", fastmath={"contract"})(cached.py_func)
    signature = cached.signatures[0]
    fresh.compile(signature)
    machine_code = fresh.inspect_asm(signature)
    assert "divps" in machine_code.replace("vdivps", "divps")


def _lstm_run(compiled: bool, batch_first: bool = False):
    previous = recurrent.set_compiled_loops(compiled)
    try:
        tr.manual_seed(0)
        lstm = tr.nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=batch_first)
        x = tr.randn(3, 5, 4, requires_grad=True)
        out, (h, c) = lstm(x)
        (out.sum() + (c * c).sum()).backward()
        gates_used = type(recurrent.gates_for(x.backend.xp, x.data))
        return gates_used, [out.numpy(), x.grad] + [p.grad for p in lstm.parameters()]
    finally:
        recurrent.set_compiled_loops(previous)


@pytest.mark.parametrize("batch_first", [False, True])
def test_a_layer_gives_the_array_codes_outputs_and_gradients(batch_first):
    used_compiled, compiled = _lstm_run(True, batch_first)
    used_array, reference = _lstm_run(False, batch_first)
    assert used_compiled is cpu_kernels.CompiledLoops and used_array is ArrayGates
    for a, e in zip(compiled, reference, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_without_numba_the_array_code_serves(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinygrad_rnn.cpu_kernels", None)  # importing it now raises ImportError
    recurrent.set_compiled_loops(True)
    try:
        assert type(recurrent.gates_for(np, np.zeros(1, np.float32))) is ArrayGates
    finally:
        monkeypatch.undo()
        recurrent.set_compiled_loops(True)
    assert type(recurrent.gates_for(np, np.zeros(1, np.float32))) is cpu_kernels.CompiledLoops


def test_array_api_strict_takes_the_array_code():
    strict = pytest.importorskip("array_api_strict")
    assert type(recurrent.gates_for(strict, strict.zeros(1))) is ArrayGates


@pytest.mark.parametrize("setting, expected", [("0", "ArrayGates"), ("1", "CompiledLoops")])
def test_the_environment_variable_sets_the_default(setting, expected):
    code = ("import numpy as np; from tinygrad_rnn.ops import recurrent; "
            "print(type(recurrent.gates_for(np, np.zeros(1, np.float32))).__name__)")
    env = {**os.environ, "TINYGRAD_RNN_COMPILED_LOOPS": setting}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.stdout.strip() == expected


# -- the optimisers' updates ---------------------------------------------------------------------------------------
def _optimised(make, compiled: bool, dtype=np.float32, steps: int = 3):
    """Parameters of awkward shapes (not a multiple of a vector's width, a transposed gradient) after ``steps``
    updates, with the compiled loops on or off, and the optimiser's state."""
    previous = recurrent.set_compiled_loops(compiled)
    try:
        rng = np.random.default_rng(3)
        params = [tr.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
                  for shape in ((37,), (5, 13), (1,))]
        opt = make(params)
        for step in range(steps):
            for p in params:
                g = rng.standard_normal(p.shape[::-1]).astype(dtype).T  # strided, as a gradient may be
                p.grad = g if step else np.ascontiguousarray(g)
            opt.step()
        return [p.numpy() for p in params], opt.state_dict()["state"]
    finally:
        recurrent.set_compiled_loops(previous)


OPTIMISERS = {
    "adam": lambda ps: tr.optim.Adam(ps, lr=0.01),
    "adam decay": lambda ps: tr.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "sgd": lambda ps: tr.optim.SGD(ps, lr=0.1),
    "sgd decay": lambda ps: tr.optim.SGD(ps, lr=0.1, weight_decay=0.05),
    "momentum": lambda ps: tr.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    "nesterov": lambda ps: tr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_update_loops_match_the_array_code(name):
    loops, loop_state = _optimised(OPTIMISERS[name], compiled=True)
    arrays, array_state = _optimised(OPTIMISERS[name], compiled=False)
    for a, e in zip(loops, arrays, strict=True):
        assert a.dtype == e.dtype == np.float32 and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)
    assert loop_state.keys() == array_state.keys()
    for index, state in loop_state.items():
        assert state.keys() == array_state[index].keys()
        for key, value in state.items():
            if hasattr(value, "shape"):
                assert value.shape == array_state[index][key].shape
                np.testing.assert_allclose(value, array_state[index][key], rtol=1e-6, atol=1e-7)
            else:
                assert value == array_state[index][key]


def test_update_loops_write_new_arrays_and_leave_float64_to_the_array_code(gates):
    p, g = np.ones(9, np.float32), np.full(9, 0.5, np.float32)
    state = {}
    new = gates.adam(p, g, state, 0.9, 0.999, 0.01, 1.0, 1e-8, 0.0)
    first_m = state["exp_avg"]
    gates.adam(new, g, state, 0.9, 0.999, 0.01, 1.0, 1e-8, 0.0)
    assert new is not p and p.tolist() == [1.0] * 9  # the old parameter and the old moment are left as they were
    assert state["exp_avg"] is not first_m and np.allclose(first_m, 0.05)
    assert not gates.handles(np.ones(3))  # float64: the optimisers keep the array code
    loops64, _ = _optimised(OPTIMISERS["adam"], compiled=True, dtype=np.float64)
    arrays64, _ = _optimised(OPTIMISERS["adam"], compiled=False, dtype=np.float64)
    for a, e in zip(loops64, arrays64, strict=True):
        np.testing.assert_array_equal(a, e)
