"""Loss modules with PyTorch's names and arguments, each calling its function in ``tinygrad_rnn.nn.functional``.

>>> import tinygrad_rnn as tr
>>> round(tr.nn.CrossEntropyLoss()(tr.zeros(1, 2), tr.tensor([1])).item(), 4)
0.6931
"""
from __future__ import annotations

from .. import ops
from ..checks import choice
from ..engine import Tensor
from .module import Module

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyLoss(Module):
    """:func:`tinygrad_rnn.cross_entropy` as a module: ``weight``, ``ignore_index``, ``reduction``,
    ``label_smoothing``."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing
        self.reduction = choice(reduction, "reduction", type(self).__name__, REDUCTIONS)

    def forward(self, input: Tensor, target) -> Tensor:
        return ops.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(Module):
    """:func:`tinygrad_rnn.nll_loss` (log-probabilities in, as ``nn.LogSoftmax`` gives) as a module."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.weight, self.ignore_index = weight, ignore_index
        self.reduction = choice(reduction, "reduction", type(self).__name__, REDUCTIONS)

    def forward(self, input: Tensor, target) -> Tensor:
        return ops.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(Module):
    """:func:`tinygrad_rnn.mse_loss` as a module."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = choice(reduction, "reduction", type(self).__name__, REDUCTIONS)

    def forward(self, input: Tensor, target) -> Tensor:
        return ops.mse_loss(input, target, self.reduction)
