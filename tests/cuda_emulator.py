"""The library's CUDA kernels run on the host: the same source built by a C++ compiler, for the tests.

A GPU runs ``blocks × threads`` copies of a kernel at once; here the copies run one after another, each block
with a single thread, so every grid-stride loop still meets a grid of several blocks and every block-level
reduction runs its (one-thread) tree. That checks what a kernel computes — indexing, flags, formulas, float
and double — on any machine with ``g++``; NVRTC checks (in ``test_cuda_kernels.py``) that the source compiles
as CUDA. What this cannot show is a race between threads of one block: the kernels have none by design (every
thread writes only its own elements, the reduction synchronises each level).
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

EMULATED_BLOCKS = 3  # a grid that divides no test size evenly, so grid-stride loops wrap unevenly

PRELUDE = r"""
#include <math.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct emu_index { unsigned x, y, z; };
static emu_index blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static inline void __syncthreads() {}
static inline double atomicAdd(double* address, double value) { double old = *address; *address += value; return old; }
extern "C" void emu_block(unsigned block, unsigned blocks) { blockIdx.x = block; gridDim.x = blocks; }
"""

_C_TYPES = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64, np.float64: ctypes.c_double,
            np.float32: ctypes.c_float}


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


class HostKernel:
    """One kernel of a host-built module, called like a ``cupy.RawKernel``: ``kernel((blocks,), (threads,), args)``."""

    def __init__(self, library: ctypes.CDLL, name: str, signature: tuple):
        self.name, self.signature = name, signature
        self.function = getattr(library, name)
        self.function.restype = None
        self.set_block = library.emu_block
        self.set_block.argtypes = (ctypes.c_uint, ctypes.c_uint)

    def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
        # a GPU takes whatever bytes it is given: a missing or mistyped argument must fail here instead
        if len(args) != len(self.signature):
            raise TypeError(f"kernel {self.name} takes {len(self.signature)} arguments, got {len(args)}")
        converted = []
        for position, (a, kind) in enumerate(zip(args, self.signature, strict=True)):
            if (kind == "array") != isinstance(a, np.ndarray) or (kind != "array" and type(a) is not kind):
                raise TypeError(f"kernel {self.name}: argument {position} must be {kind}, got {type(a).__name__}")
            if isinstance(a, np.ndarray):
                if not a.flags.c_contiguous:
                    raise ValueError("a kernel argument must be C-contiguous (the kernels index flat memory)")
                converted.append(ctypes.c_void_p(a.ctypes.data))
            elif type(a) in _C_TYPES:
                converted.append(_C_TYPES[type(a)](a))
            else:  # a GPU kernel would misread a bare Python value just as badly: refuse it here
                raise TypeError(f"kernel argument of type {type(a).__name__}: pass arrays or NumPy scalars")
        for b in range(EMULATED_BLOCKS):
            self.set_block(b, EMULATED_BLOCKS)
            self.function(*converted)


class HostModule:
    """``source`` built as a shared library; ``get_function`` as ``cupy.RawModule``'s."""

    _built: dict = {}

    def __init__(self, source: str):
        code = PRELUDE + source
        digest = hashlib.sha256(code.encode()).hexdigest()[:16]
        path = HostModule._built.get(digest)
        if path is None:
            folder = tempfile.mkdtemp(prefix="tinygrad-rnn-kernels-")
            src, path = os.path.join(folder, "kernels.cpp"), os.path.join(folder, "kernels.so")
            with open(src, "w") as f:
                f.write(code)
            # -ffp-contract=off: no fused multiply-adds, so float32 rounds as NumPy's separate operations do
            result = subprocess.run([compiler(), "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-w", "-o", path, src],
                                    capture_output=True, text=True)
            if result.returncode:
                raise RuntimeError(f"the host build of the CUDA kernels failed:\n{result.stderr}")
            HostModule._built[digest] = path
        self.library = ctypes.CDLL(path)
        self.signatures = signatures(source)

    def get_function(self, name: str) -> HostKernel:
        return HostKernel(self.library, name, self.signatures[name])
