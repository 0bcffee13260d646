"""Small helpers the test modules share."""
import numpy as np

import tinygrad_rnn as tr


def host(value) -> np.ndarray:
    """A NumPy copy of a Tensor or of a backend array (NumPy, array_api_strict, CuPy, or a NumPy scalar)."""
    if isinstance(value, tr.Tensor):
        return np.array(value.numpy())
    if hasattr(value, "get"):
        return value.get()
    if isinstance(value, np.ndarray) or np.isscalar(value) or isinstance(value, np.generic):
        return np.array(value)
    return np.from_dlpack(value).copy()
