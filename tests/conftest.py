"""Shared fixtures: the ``device`` every engine test runs on, and the hypothesis profile for CI.

``device`` is parametrised over the NumPy backend ("cpu"), ``array_api_strict`` (a strict Array-API library that
catches every place that would break on CuPy) and "cuda" (CuPy on a GPU). A device whose library or hardware is
missing is skipped with the library's own explanation, so ``pytest -ra`` says why.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import tinygrad_rnn as tr

# Reproducible and quick: derandomized (the same examples on every run, no example database), no deadline
# (array_api_strict and a cold GPU make the first example of a test slow), a modest number of examples.
settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# More examples for a local hunt: HYPOTHESIS_PROFILE=thorough pytest ...
settings.register_profile("thorough", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionstart(session) -> None:
    """Where ``TINYGRAD_RNN_REQUIRE`` names them (CI does), the tools that tests otherwise skip without must be
    there: a skip would let a reference check go unrun and the run still pass."""
    import importlib.util
    import shutil

    from tests.helpers import BROWSERS

    present = {"torch": importlib.util.find_spec("torch") is not None, "dot": shutil.which("dot") is not None,
               "chromium": any(shutil.which(b) for b in BROWSERS), "nvrtc": _has_nvrtc(),
               "g++": shutil.which("g++") is not None,
               "valgrind": shutil.which("valgrind") is not None,
               "model-explorer": importlib.util.find_spec("model_explorer") is not None,
               "playwright": importlib.util.find_spec("playwright") is not None}
    missing = [name for name in os.environ.get("TINYGRAD_RNN_REQUIRE", "").split() if not present.get(name, False)]
    if missing:
        pytest.exit(f"TINYGRAD_RNN_REQUIRE names {missing}, which this machine lacks (make test installs them where "
                    f"it can; see its output)", returncode=1)


def _has_nvrtc() -> bool:
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception:  # ImportError, or CuPy without its NVRTC library
        return False
    return True


def _emulate_cuda_kernels() -> None:
    """With ``TINYGRAD_RNN_EMULATE_CUDA_KERNELS=1`` the CPU backend runs the fused ops through the library's CUDA
    kernels built for the host (tests/cuda_emulator.py), so the CPU tests check the kernels' numbers."""
    if os.environ.get("TINYGRAD_RNN_EMULATE_CUDA_KERNELS") == "1":
        import numpy as np

        from tests.cuda_emulator import HostModule
        from tinygrad_rnn.kernels import CudaKernels

        tr.backend.get_backend("cpu").kernels = CudaKernels(np, load=HostModule)


_emulate_cuda_kernels()


def _skip_reason(device: str) -> str | None:
    """Why ``device`` cannot run here (the DeviceError's message), or None when it can."""
    if device == "array_api_strict":
        try:
            import array_api_strict  # noqa: F401
        except ImportError as exc:
            return f"array_api_strict is not installed ({exc}): pip install array-api-strict"
    if device == "cuda" and not tr.cuda_available():
        try:
            tr.backend.get_backend("cuda")
        except tr.DeviceError as exc:
            return str(exc)
        return "device 'cuda' is not available"
    try:
        tr.backend.get_backend(device)
    except tr.DeviceError as exc:
        return str(exc)
    return None


# Session scope: hypothesis refuses function-scoped fixtures inside @given tests (they would not be reset between
# examples); a device name has no state to reset.
@pytest.fixture(scope="session", params=["cpu", "array_api_strict", "cuda"])
def device(request) -> str:
    reason = _skip_reason(request.param)
    if reason is not None:
        pytest.skip(reason)
    return request.param
