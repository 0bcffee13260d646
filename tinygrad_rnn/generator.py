"""``Generator``: a random-number stream of its own, as ``torch.Generator`` — what a ``DataLoader`` or sampler
shuffles with when it is given one, so its order does not depend on (nor disturb) the library's global stream.

>>> import tinygrad_rnn as tr
>>> a = tr.Generator().manual_seed(2024)
>>> b = tr.Generator().manual_seed(2024)
>>> a.permutation(5).tolist() == b.permutation(5).tolist()
True
"""
from __future__ import annotations

import numpy as np

from . import backend as _backend
from .errors import DeviceError


class Generator:
    """A seeded NumPy stream on the host (``device`` is accepted as in PyTorch: the draws of a sampler are host
    ints whatever the device). Unseeded, it starts from a seed drawn from the library's global stream, so
    ``tr.manual_seed`` makes it reproducible too."""

    def __init__(self, device="cpu"):
        device = _backend.canonical_device(getattr(device, "type", device))
        if device not in ("cpu", "cuda"):
            raise DeviceError(f"Generator: device must be 'cpu' or 'cuda', got {device!r}")
        self.device = device
        self.manual_seed(_backend.draw_seed())

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from ``seed``; returns the generator (``tr.Generator().manual_seed(0)``)."""
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        self._rng.bit_generator.state = state
        return self

    def permutation(self, n: int) -> np.ndarray:
        """0 … n-1 in a random order (int64), the next draw of this stream."""
        return self._rng.permutation(int(n)).astype(np.int64)

    def integers(self, high: int, size: int) -> np.ndarray:
        """``size`` ints drawn uniformly from 0 … high-1 (int64)."""
        return self._rng.integers(0, int(high), size=int(size), dtype=np.int64)

    def __repr__(self) -> str:
        return f"Generator(device={self.device!r}, seed={self._seed})"
