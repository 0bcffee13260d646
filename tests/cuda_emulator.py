"""The library's CUDA kernels run on the host: the same source built by a C++ compiler, for the tests.

A launch runs its grid's blocks one after another, each block as ``EMULATED_THREADS`` real threads that share the
block's ``__shared__`` memory and meet at every ``__syncthreads()`` (a C++20 barrier), with ``atomicAdd`` under a
lock. The grid is ``EMULATED_BLOCKS`` blocks whatever the launch asks, so every grid-stride loop meets a stride
that divides no test size, and every block-level reduction runs its tree over several threads. That checks what a
kernel computes — indexing, flags, formulas, reductions, float and double — on any machine with ``g++``; NVRTC
checks (in ``test_cuda_kernels.py``) that the source compiles as CUDA. Each launch's arguments are checked against
the kernel's signature, which a GPU would not do (it reads whatever bytes it is given).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from tinygrad_rnn.kernels import signatures

EMULATED_BLOCKS = 3
EMULATED_THREADS = 4  # a power of two, as the reductions need

PRELUDE = r"""
#include <math.h>
#include <barrier>
#include <mutex>
#include <thread>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct emu_index { unsigned x, y, z; };
static emu_index blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static thread_local emu_index threadIdx = {0, 0, 0};
static std::barrier<>* emu_barrier = nullptr;
static std::mutex emu_atomic;
static inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
static inline double atomicAdd(double* address, double value) {
    std::lock_guard<std::mutex> hold(emu_atomic);
    double old = *address; *address += value; return old;
}
typedef void (*emu_kernel)(void** args);
/* one pool of threads for every launch: they start a block together, meet at __syncthreads, end it together */
static std::barrier<>* emu_start = nullptr;
static std::barrier<>* emu_done = nullptr;
static emu_kernel emu_current = nullptr;
static void** emu_args = nullptr;
static void emu_worker(unsigned t) {
    threadIdx.x = t;
    for (;;) {
        emu_start->arrive_and_wait();
        emu_current(emu_args);
        emu_done->arrive_and_wait();
    }
}
/* blocks one after another, each run by the pool's `threads` threads (fixed at the first launch) */
extern "C" void emu_launch(emu_kernel kernel, void** args, unsigned blocks, unsigned threads) {
    if (emu_start == nullptr) {
        emu_start = new std::barrier<>(threads + 1);
        emu_done = new std::barrier<>(threads + 1);
        emu_barrier = new std::barrier<>(threads);
        for (unsigned t = 0; t < threads; ++t) std::thread(emu_worker, t).detach();
    }
    gridDim.x = blocks; blockDim.x = threads;
    emu_current = kernel; emu_args = args;
    for (unsigned b = 0; b < blocks; ++b) {
        blockIdx.x = b;
        emu_start->arrive_and_wait();
        emu_done->arrive_and_wait();
    }
}
"""


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def _entry_points(source: str) -> str:
    """For every kernel, ``emu_<name>(void** args)``: the launch's argument array unpacked into a typed call, as
    the CUDA driver does with a kernel's parameter array."""
    import re

    out = []
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', source):
        types = [" ".join(p.split()[:-1]) for p in params.split(",")]
        call = ", ".join(f"*({t}*)args[{i}]" for i, t in enumerate(types))
        out.append(f'extern "C" void emu_{name}(void** args) {{ {name}({call}); }}')
    return "\n".join(out)


class HostKernel:
    """One kernel of a host-built module, called like a ``cupy.RawKernel``: ``kernel((blocks,), (threads,), args)``."""

    def __init__(self, module: "HostModule", name: str):
        self.name, self.signature = name, module.signatures[name]
        self.entry = ctypes.cast(getattr(module.library, f"emu_{name}"), ctypes.c_void_p)
        self.launch = module.library.emu_launch
        self.launch.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_uint)
        self.launch.restype = None

    def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
        if len(args) != len(self.signature):
            raise TypeError(f"kernel {self.name} takes {len(self.signature)} arguments, got {len(args)}")
        if block[0] > 256 or block[0] & (block[0] - 1):
            raise ValueError(f"kernel {self.name}: {block[0]} threads a block; the reductions need a power of two "
                             "up to 256")
        values = []
        for position, (a, kind) in enumerate(zip(args, self.signature, strict=True)):
            if (kind == "array") != isinstance(a, np.ndarray) or (kind != "array" and type(a) is not kind):
                raise TypeError(f"kernel {self.name}: argument {position} must be {kind}, got {type(a).__name__}")
            if isinstance(a, np.ndarray):
                if not a.flags.c_contiguous:
                    raise ValueError(f"kernel {self.name}: argument {position} is not C-contiguous (a kernel reads "
                                     "flat memory)")
                values.append(ctypes.c_void_p(a.ctypes.data))
            else:
                values.append(np.ctypeslib.as_ctypes(np.array(a)))  # a 0-d array of exactly the kernel's type
        pointers = (ctypes.c_void_p * len(values))(*[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        self.launch(self.entry, pointers, EMULATED_BLOCKS, EMULATED_THREADS)


class HostModule:
    """``source`` built as a shared library; ``get_function`` as ``cupy.RawModule``'s."""

    _built: dict = {}

    def __init__(self, source: str):
        code = PRELUDE + source + "\n" + _entry_points(source)
        digest = hashlib.sha256(code.encode()).hexdigest()[:16]
        path = HostModule._built.get(digest)
        if path is None:
            folder = tempfile.mkdtemp(prefix="tinygrad-rnn-kernels-")
            src, path = os.path.join(folder, "kernels.cpp"), os.path.join(folder, "kernels.so")
            with open(src, "w") as f:
                f.write(code)
            # -ffp-contract=off: no fused multiply-adds, so float32 rounds as NumPy's separate operations do
            result = subprocess.run([compiler(), "-std=c++20", "-pthread", "-O1", "-ffp-contract=off", "-shared",
                                     "-fPIC", "-w", "-o", path, src], capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"the host build of the CUDA kernels failed:\n{result.stderr}")
            HostModule._built[digest] = path
        self.library = ctypes.CDLL(path)
        self.signatures = signatures(source)

    def get_function(self, name: str) -> HostKernel:
        return HostKernel(self, name)
