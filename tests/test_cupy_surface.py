"""The CuPy 14 surface, checked on machines without a GPU: a fake ``cupy`` module stands where CuPy's behaviour
(what fails where, which dtypes its generator refuses) is all a test needs, and ``array_api_strict`` stands for an
array that must not be asked for its namespace."""
from __future__ import annotations

import configparser
import pathlib
import sys
import types

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import backend as backend_module

ROOT = pathlib.Path(__file__).resolve().parents[1]


# -- packaging ----------------------------------------------------------------------------------------------------
def test_the_cuda_extras_bring_cupys_cuda_libraries():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = config["options.extras_require"]
    assert extras["cuda12"].split() == ["cupy-cuda12x[ctk]>=14"]
    assert extras["cuda13"].split() == ["cupy-cuda13x[ctk]>=14"]


# -- optimisers take the namespace from the backend ----------------------------------------------------------------
@pytest.fixture
def arrays_without_namespace(monkeypatch):
    """array_api_strict arrays that, like CuPy 14's, cannot be asked for ``__array_namespace__``."""
    strict = pytest.importorskip("array_api_strict")

    def refuse(self, *args, **kwargs):
        raise AttributeError("CuPy 14's arrays have no __array_namespace__")

    monkeypatch.setattr(type(strict.asarray(0)), "__array_namespace__", refuse)


@pytest.mark.parametrize("make", [lambda p: tr.optim.Adam(p, lr=0.1, weight_decay=0.01),
                                  lambda p: tr.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)],
                         ids=["adam", "sgd-momentum"])
def test_optimisers_never_ask_an_array_for_its_namespace(arrays_without_namespace, make):
    w = tr.tensor([1.0, -2.0], requires_grad=True, device="array_api_strict")
    reference = tr.tensor([1.0, -2.0], requires_grad=True)
    opt, ref_opt = make([w]), make([reference])
    for _ in range(2):
        for p, o in ((w, opt), (reference, ref_opt)):
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
    np.testing.assert_allclose(w.numpy(), reference.numpy(), rtol=1e-6)
    saved = opt.state_dict()  # the state's arrays are matched to their backend by type
    assert all(isinstance(v, np.ndarray) for v in saved["state"][0].values() if hasattr(v, "shape"))
    assert tr.optim._backend_of(opt.state[id(w)][next(k for k in opt.state[id(w)] if k != "step")]).name == \
        "array_api_strict"
    assert tr.optim._backend_of(np.zeros(2)).name == "cpu"


# -- a fake CuPy: what fails where ----------------------------------------------------------------------------------
class _FakeArray(np.ndarray):
    pass


def fake_cupy(*, devices=1, device_error=None, nvrtc_error=None, cublas_error=None, curand_error=None,
              runtime_version=13020, random_state=None):
    """A module that answers where CuPy's start-up would: the device count, the runtime version, NVRTC, cuBLAS,
    cuRAND."""
    cupy = types.ModuleType("cupy")

    def raise_or(error, value=None):
        def call(*args, **kwargs):
            if error is not None:
                raise error
            return value() if callable(value) else value
        return call

    def runtime_version_of():
        if isinstance(runtime_version, Exception):
            raise runtime_version
        return runtime_version

    runtime = types.SimpleNamespace(getDeviceCount=raise_or(device_error, devices),
                                    runtimeGetVersion=runtime_version_of)
    cupy.cuda = types.SimpleNamespace(runtime=runtime, nvrtc=types.SimpleNamespace(getVersion=raise_or(nvrtc_error,
                                                                                                        (13, 0))))

    class Matrix(np.ndarray):
        def __mul__(self, other):
            if nvrtc_error is not None:
                raise nvrtc_error
            return np.asarray(self) * other

        def __matmul__(self, other):
            if cublas_error is not None:
                raise cublas_error
            return np.asarray(self) @ np.asarray(other)

    cupy.float32, cupy.ndarray = np.float32, _FakeArray
    cupy.ones = lambda shape, dtype=None: np.ones(shape, dtype).view(Matrix)
    cupy.asnumpy = np.asarray
    class RandomState:
        def __init__(self, seed):
            if curand_error is not None:
                raise curand_error

        def uniform(self, low, high, size, dtype):
            return np.full(size, 0.5, dtype)

    cupy.random = types.SimpleNamespace(RandomState=random_state or RandomState)
    return cupy


@pytest.fixture
def install_cupy(monkeypatch):
    def install(module):
        monkeypatch.setitem(sys.modules, "cupy", module)

    return install


def test_cuda_without_cupy_names_both_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # None in sys.modules: import raises ImportError
    with pytest.raises(tr.DeviceError) as info:
        backend_module._make_backend("cuda")
    message = str(info.value)
    assert "needs CuPy, which is not installed" in message
    assert "pip install 'tinygrad_rnn[cuda13]'" in message and "'tinygrad_rnn[cuda12]'" in message


def test_cuda_without_a_driver_says_no_gpu_or_driver(install_cupy):
    install_cupy(fake_cupy(device_error=RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is "
                                                     "insufficient")))
    with pytest.raises(tr.DeviceError, match=r"CuPy is installed but no usable GPU or NVIDIA driver was found "
                                             r"\(cudaErrorInsufficientDriver"):
        backend_module._make_backend("cuda")
    install_cupy(fake_cupy(devices=0))
    with pytest.raises(tr.DeviceError, match="CuPy is installed but no GPU is visible"):
        backend_module._make_backend("cuda")


@pytest.mark.parametrize("runtime, line", [(13020, "pip install 'tinygrad_rnn[cuda13]' (CUDA 13)"),
                                           (12080, "pip install 'tinygrad_rnn[cuda12]' (CUDA 12)")])
def test_cuda_without_nvrtc_names_it_and_the_matching_extra(install_cupy, runtime, line):
    missing = RuntimeError("CuPy failed to load libnvrtc.so.13: OSError: libnvrtc.so.13: cannot open shared object")
    install_cupy(fake_cupy(nvrtc_error=missing, runtime_version=runtime))
    with pytest.raises(tr.DeviceError) as info:
        backend_module._make_backend("cuda")
    message = str(info.value)
    assert "a GPU is visible but CuPy cannot load NVRTC" in message and "libnvrtc.so.13" in message
    assert message.endswith(line)
    other = "cuda12" if "cuda13" in line else "cuda13"
    assert other not in message


def test_cuda_without_cublas_names_it_and_both_extras_when_the_runtime_is_unknown(install_cupy):
    install_cupy(fake_cupy(cublas_error=OSError("libcublas.so.13: cannot open shared object file"),
                           runtime_version=RuntimeError("libcudart missing")))
    with pytest.raises(tr.DeviceError) as info:
        backend_module._make_backend("cuda")
    message = str(info.value)
    assert "a GPU is visible but CuPy cannot load cuBLAS" in message and "libcublas.so.13" in message
    assert "'tinygrad_rnn[cuda13]'" in message and "'tinygrad_rnn[cuda12]'" in message


def test_cuda_without_curand_names_it(install_cupy):
    install_cupy(fake_cupy(curand_error=RuntimeError("libcurand.so.10: cannot open shared object file")))
    with pytest.raises(tr.DeviceError) as info:
        backend_module._make_backend("cuda")
    message = str(info.value)
    assert "a GPU is visible but CuPy cannot load cuRAND" in message and "libcurand.so.10" in message
    assert "pip install 'tinygrad_rnn[cuda13]'" in message


def test_the_three_cuda_failures_have_three_messages(monkeypatch, install_cupy):
    messages = set()
    for module in (None, fake_cupy(device_error=RuntimeError("no driver")),
                   fake_cupy(nvrtc_error=RuntimeError("no libnvrtc"))):
        monkeypatch.setitem(sys.modules, "cupy", module)
        with pytest.raises(tr.DeviceError) as info:
            backend_module._make_backend("cuda")
        messages.add(str(info.value).split(":")[1])
    assert len(messages) == 3


def test_a_working_fake_cupy_makes_a_backend(install_cupy):
    install_cupy(fake_cupy())
    assert isinstance(backend_module._make_backend("cuda"), backend_module.CupyBackend)


def test_the_skip_reason_for_cuda_is_the_device_errors_message(monkeypatch):
    from tests.conftest import _skip_reason

    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend_module, "_backends", {})
    with pytest.raises(tr.DeviceError) as info:
        backend_module.get_backend("cuda")
    assert _skip_reason("cuda") == str(info.value)


# -- CuPy's generator draws float32 / float64 only ------------------------------------------------------------------
class StrictRandomState:
    """CuPy's RandomState as far as dtypes go: uniform and normal refuse anything but float32 and float64."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def _check(dtype):
        if np.dtype(dtype).char not in "fd":
            raise TypeError(f"cupy.random only supports float32 and float64, got {np.dtype(dtype)}")

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        self._check(dtype)
        return self._rng.uniform(low, high, size).astype(dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        self._check(dtype)
        return self._rng.normal(loc, scale, size).astype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cupy_draws_every_float_dtype_through_a_generator_that_refuses_float16(install_cupy, dtype):
    install_cupy(fake_cupy(random_state=StrictRandomState))
    backend = backend_module._make_backend("cuda")
    tr.manual_seed(0)
    for draw in (backend.uniform((3, 4), 0.0, 1.0, dtype), backend.normal((3, 4), 0.0, 1.0, dtype)):
        assert draw.dtype == np.dtype(dtype) and draw.shape == (3, 4)
    values = backend.uniform((1000,), -1.0, 1.0, dtype)
    assert -1.0 <= float(values.min()) and float(values.max()) <= 1.0
