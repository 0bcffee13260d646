"""The functional forms, as ``torch.nn.functional``: ``import tinygrad_rnn.nn.functional as F``."""
from ..ops import (cross_entropy, dropout, embedding, linear, log_softmax, mse_loss, nll_loss, relu, sigmoid, softmax,
                   tanh)

__all__ = ["cross_entropy", "dropout", "embedding", "linear", "log_softmax", "mse_loss", "nll_loss", "relu", "sigmoid",
           "softmax", "tanh"]
