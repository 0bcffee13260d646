"""The CUDA kernels, checked on every machine: NVRTC compiles them (no GPU or driver needed), and their host build
(tests/cuda_emulator.py) computes what the array code computes, for every flag of every kernel; the layer, cell,
gradient-check and optimiser tests then run once more with the fused ops on the host-built kernels.

On a GPU the same kernels run on the device: the ``cuda`` cases of the engine tests check them there.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.cuda_emulator import HostModule, compiler
from tests.helpers import LSTM_VARIANTS, check_backwards_write_into, lstm_gate_inputs, lstm_variant_id
from tinygrad_rnn import kernels
from tinygrad_rnn.kernels import CudaKernels
from tinygrad_rnn.ops.nn import _cross_entropy_rows
from tinygrad_rnn.ops.recurrent import ArrayGates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = ("float32", "float64")
TOLERANCE = {"float32": 2e-6, "float64": 1e-13}
CUPY_OPTIONS = ("-std=c++17",)  # what cupy.RawModule compiles with by default


def _nvrtc():
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # ImportError, or CuPy without its NVRTC library
        pytest.skip(f"NVRTC is not available ({type(exc).__name__}: {exc}); make test installs it "
                    "(pip install -e '.[nvrtc]')")
    return nvrtc


@pytest.fixture(scope="module")
def host_kernels():
    if compiler() is None:
        pytest.skip("no C++ compiler (g++) to build the CUDA kernels for the host: sudo apt-get install g++")
    return CudaKernels(np, load=HostModule)


# -- NVRTC ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_kernel_compiles_to_ptx(dtype):
    _nvrtc()
    ptx, _ = kernels.compile_ptx(kernels.module_source(dtype), "compute_90", CUPY_OPTIONS)
    entries = set(re.findall(rb"\.entry (\w+)\(", ptx))
    assert entries == {name.encode() for name in kernels.KERNELS}


@pytest.mark.parametrize("dtype", DTYPES)
def test_machine_code_spills_nothing(dtype, record_property):
    """ptxas's own count for sm_90 (H100/H200): no kernel spills registers to local memory."""
    _nvrtc()
    _, log = kernels.compile_ptx(kernels.module_source(dtype), "sm_90", (*CUPY_OPTIONS, "--ptxas-options=-v"))
    report = {}
    for name, body in re.findall(r"Compiling entry function '(\w+)'.*?\n(.*?)(?=Compiling entry|\Z)", log, re.S):
        spills = [int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", body)]
        registers = int(re.search(r"Used (\d+) registers", body).group(1))
        report[name] = {"registers": registers, "spill_bytes": sum(spills)}
    record_property(f"kernels_{dtype}", json.dumps(report, sort_keys=True))
    assert set(report) == set(kernels.KERNELS)
    assert all(r["spill_bytes"] == 0 for r in report.values()), report
    assert all(r["registers"] <= 128 for r in report.values()), report  # 256 threads a block still fit an SM


def test_a_broken_kernel_fails_to_compile():
    _nvrtc()
    broken = kernels.module_source("float32").replace("a > (T)0 ? a : (T)0", "a > (T)0 ? a : zero")
    with pytest.raises(RuntimeError, match="zero"):
        kernels.compile_ptx(broken, "compute_90")


def test_launch_signatures_come_from_the_source():
    signatures = kernels.signatures()
    assert set(signatures) == set(kernels.KERNELS)
    assert signatures["adam_update"][-1] is np.int32 and signatures["adam_update"][8] is np.float64


# -- the host build against the array code ----------------------------------------------------------------------------
def _random(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _close(actual, expected, dtype):
    for a, e in zip(actual if isinstance(actual, tuple) else (actual,),
                    expected if isinstance(expected, tuple) else (expected,), strict=True):
        np.testing.assert_allclose(a, e, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("bias", [True, False])
def test_rnn_kernels_match_array_code(host_kernels, dtype, kind, bias):
    rng, B, H = np.random.default_rng(0), 2, 7  # 14 elements over 3 emulated blocks
    gx, hw, b, g = (_random(rng, s, dtype) for s in ((B, H), (B, H), (H,), (B, H)))
    array = ArrayGates(np)
    expected = array.rnn_cell(gx, hw, b if bias else None, kind)
    out = host_kernels.rnn_cell(gx, hw.copy(), b if bias else None, kind)
    _close(out, expected, dtype)
    _close(host_kernels.rnn_cell_backward(g, out, kind), array.rnn_cell_backward(g, expected, kind), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", LSTM_VARIANTS, ids=lstm_variant_id)
def test_lstm_kernels_match_array_code(host_kernels, dtype, variant):
    rng, B, H = np.random.default_rng(1), 3, 5
    gx, hw, bias, c, peepholes, flags = lstm_gate_inputs(rng, B, H, dtype, variant)
    array = ArrayGates(np)
    h_a, c_a, saved_a = array.lstm_cell(gx, hw, bias, c, peepholes, *flags)
    h_k, c_k, saved_k = host_kernels.lstm_cell(gx, hw.copy(), bias, c, peepholes, *flags)
    _close((h_k, c_k), (h_a, c_a), dtype)
    grad_h, grad_c = _random(rng, (B, H), dtype), _random(rng, (B, H), dtype)
    for grads in ((grad_h, grad_c), (grad_h, None), (None, grad_c), (None, None)):  # an unused output: no gradient
        expected = array.lstm_cell_backward(*grads, saved_a, peepholes, *flags)
        _close(host_kernels.lstm_cell_backward(*grads, saved_k, peepholes, *flags), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_backwards_write_their_gradient_into_a_given_slot(host_kernels, dtype):
    check_backwards_write_into(host_kernels, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_gru_kernels_match_array_code(host_kernels, dtype, bias):
    rng, B, H = np.random.default_rng(2), 2, 5
    array = ArrayGates(np)
    gx, gh, h, g = (_random(rng, s, dtype) for s in ((B, 3 * H), (B, 3 * H), (B, H), (B, H)))
    b = _random(rng, (3 * H,), dtype) if bias else None
    out_a, saved_a = array.gru_cell(gx, gh, b, h)
    out_k, saved_k = host_kernels.gru_cell(gx, gh.copy(), b, h)
    _close(out_k, out_a, dtype)
    _close(host_kernels.gru_cell_backward(g, saved_k), array.gru_cell_backward(g, saved_a), dtype)

    # Cho et al.'s form: two halves around the second matmul, and two backward halves around its transpose
    g_rz, w_n = _random(rng, (B, 2 * H), dtype), _random(rng, (H, H), dtype)
    rz_a, h_r_a = array.gru_cho_gates(gx, g_rz, b, h)
    rz_k, h_r_k = host_kernels.gru_cho_gates(gx, g_rz.copy(), b, h)
    _close(h_r_k, h_r_a, dtype)
    out_a, n_a = array.gru_cho_cell(gx, h_r_a @ w_n.T, b, rz_a, h)
    out_k, n_k = host_kernels.gru_cho_cell(gx, h_r_k @ w_n.T, b, rz_k, h)
    _close((out_k, n_k), (out_a, n_a), dtype)
    part_a, da_n_a, dh_a = array.gru_cho_cell_backward(g, h, rz_a, n_a)
    part_k, da_n_k, dh_k = host_kernels.gru_cho_cell_backward(g, h, rz_k, n_k)
    _close((da_n_k, dh_k), (da_n_a, dh_a), dtype)
    d_hr = da_n_a @ w_n
    _close(host_kernels.gru_cho_gates_backward(d_hr, h, rz_k, part_k, dh_k),
           array.gru_cho_gates_backward(d_hr, h, rz_a, part_a, dh_a), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("classes", [11, 601])  # fewer classes than a block's threads, and several strides of them
def test_cross_entropy_kernel_matches_array_code(host_kernels, dtype, classes):
    rng = np.random.default_rng(3)
    logits = _random(rng, (7, classes), dtype, scale=4.0)
    target = np.array([0, 10, -100, 3, 3, -100, 5], dtype=np.int64)  # ignored rows among them
    loss_k, weight_k, d_k = host_kernels.cross_entropy(logits, target, -100)
    loss_a, weight_a, d_a = _cross_entropy_rows(np, logits, target, -100)
    _close((loss_k, weight_k), (loss_a, weight_a), dtype)
    _close(d_k * weight_k[:, None], d_a * weight_a[:, None], dtype)  # ignored rows: any gradient, weighted to 0
    assert not d_k[weight_k == 0].any()


def test_cross_entropy_kernel_marks_a_target_out_of_range(host_kernels):
    loss, _, _ = host_kernels.cross_entropy(np.zeros((2, 3), "float32"), np.array([1, 7]), -100)
    assert np.isfinite(loss[0]) and np.isnan(loss[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_squares_kernel(host_kernels, dtype):
    rng = np.random.default_rng(4)
    arrays = [_random(rng, s, dtype) for s in ((5, 3), (1,), (0,), (1000,))]
    total = host_kernels.sum_squares(arrays)
    assert total.dtype == np.float64 and total.shape == ()
    np.testing.assert_allclose(total, sum(float(np.sum(a.astype(np.float64) ** 2)) for a in arrays), rtol=1e-13)


OPTIMISERS = [("Adam", {}), ("Adam", {"weight_decay": 0.1, "betas": (0.8, 0.9)}), ("SGD", {}),
              ("SGD", {"momentum": 0.9, "weight_decay": 0.01}), ("SGD", {"momentum": 0.9, "nesterov": True}),
              ("SGD", {"momentum": 0.5, "dampening": 0.3})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, options", OPTIMISERS)
def test_update_kernels_match_array_code(host_kernels, monkeypatch, dtype, name, options):
    """Three steps of each optimiser, and the clipped norm, with the kernels and with the array code."""
    import tinygrad_rnn as tr

    cpu = tr.backend.get_backend("cpu")
    rng = np.random.default_rng(5)
    start = [_random(rng, s, dtype) for s in ((4, 3), (3,))]
    grads = [[_random(rng, w.shape, dtype) for w in start] for _ in range(3)]

    def run(kernels):
        monkeypatch.setattr(cpu, "kernels", kernels)
        params = [tr.tensor(w, requires_grad=True) for w in start]
        opt = getattr(tr.optim, name)(params, lr=0.1, **options)
        norms = []
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = g.copy()
            norms.append(tr.optim.clip_grad_norm_(params, 1.0).numpy())
            opt.step()
        return [p.numpy() for p in params] + norms + [a for s in opt.state_dict()["state"].values()
                                                      for a in s.values() if hasattr(a, "shape")]

    expected = run(None)
    actual = run(host_kernels)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype
        np.testing.assert_allclose(a, e, rtol=10 * TOLERANCE[dtype], atol=10 * TOLERANCE[dtype])


def test_gru_kernels_read_a_sliced_state_as_its_values(host_kernels):
    """A state that is a view (a column slice, one direction of a bidirectional output) is copied before a kernel
    reads it as flat memory: Cho et al.'s form, whose halves take h separately, included."""
    import tinygrad_rnn as tr

    rng = np.random.default_rng(6)
    x, wide = rng.standard_normal((3, 2, 4)), rng.standard_normal((2, 10))
    results = []
    for chosen in (None, host_kernels):
        cpu = tr.backend.get_backend("cpu")
        saved, cpu.kernels = cpu.kernels, chosen
        try:
            tr.manual_seed(0)
            gru = tr.nn.GRU(4, 5, reset_after=False, dtype="float64")
            h0 = tr.tensor(wide, requires_grad=True)[:, 2:7]  # columns of a wider array: not contiguous
            out, _ = gru(tr.tensor(x), h0[None])
            out.sum().backward()
            results.append((out.numpy(), gru.weight_hh_l0.grad))
        finally:
            cpu.kernels = saved
    _close(results[1], results[0], "float64")


# -- the whole suite of layer tests on the host-built kernels -------------------------------------------------------
def test_layer_and_optimiser_tests_pass_on_the_kernels(host_kernels):
    """The cell, layer, PyTorch-reference, gradient-check, seq2seq and optimiser tests, once more with every fused
    op of the CPU backend running the CUDA kernels' host build (``TINYGRAD_RNN_EMULATE_CUDA_KERNELS``)."""
    files = ["tests/test_cells.py", "tests/test_recurrent_layers.py", "tests/test_torch_reference.py",
             "tests/test_optim.py", "tests/test_seq2seq.py", "tests/test_ops_gradcheck.py"]
    env = {**os.environ, "TINYGRAD_RNN_EMULATE_CUDA_KERNELS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k",
                             "not array_api_strict and not cuda", *files], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
