"""``torch.utils``'s counterparts: ``tinygrad_rnn.utils.data`` (datasets, samplers, DataLoader)."""
from . import data

__all__ = ["data"]
