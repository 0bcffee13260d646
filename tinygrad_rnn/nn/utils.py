"""Gradient clipping under ``torch.nn.utils``'s names (they live in ``tinygrad_rnn.optim``)."""
from ..optim import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
