"""Datasets, samplers and the DataLoader, under ``torch.utils.data``'s names and semantics: a map-style
``Dataset`` (``__getitem__`` and ``__len__``), ``TensorDataset``, ``Subset`` and ``random_split``, the samplers
(``SequentialSampler``, ``RandomSampler``, ``BatchSampler``) and ``DataLoader`` with PyTorch's ``default_collate``.
Batches are made in this process, one at a time (``num_workers=0``).

>>> import tinygrad_rnn as tr
>>> from tinygrad_rnn.utils.data import DataLoader, TensorDataset
>>> data = TensorDataset(tr.randn(5, 2), tr.tensor([0, 1, 0, 1, 1]))
>>> loader = DataLoader(data, batch_size=2, shuffle=True, generator=tr.Generator().manual_seed(0))
>>> [(x.shape, y.shape) for x, y in loader]
[((2, 2), (2,)), ((2, 2), (2,)), ((1, 2), (1,))]
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .. import ops
from ..engine import Tensor, tensor
from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..checks import size
from ..generator import Generator

__all__ = ["BatchSampler", "DataLoader", "Dataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
           "TensorDataset", "default_collate", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are the rows of tensors of one length: ``dataset[i] == (t[i] for t in tensors)``."""

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ArgumentError("TensorDataset: give at least one tensor")
        lengths = [t.shape[0] if isinstance(t, Tensor) and t.ndim else None for t in tensors]
        if None in lengths or len(set(lengths)) != 1:
            raise ShapeError(f"TensorDataset: the tensors must share their first dimension (size mismatch between "
                             f"tensors of shapes {[getattr(t, 'shape', type(t).__name__) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, [int(i) for i in indices]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths, generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given ``lengths`` (ints summing to its length,
    or fractions summing to 1, the remainder dealt one by one from the first, as PyTorch does)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1) and sum(lengths) != n:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ArgumentError(f"random_split: the lengths {lengths} do not sum to the dataset's length {n}")
    order = (generator or Generator()).permutation(n).tolist()
    bounds = np.cumsum([0] + lengths).tolist()
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


# -- samplers: iterables of indices ---------------------------------------------------------------------------------
class Sampler:
    """An iterable of dataset indices (subclasses define ``__iter__`` and ``__len__``)."""


class SequentialSampler(Sampler):
    """0, 1, …, len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Every index once in a random order, a new order each epoch (or, with ``replacement``, ``num_samples``
    indices drawn independently). The order comes from ``generator``; without one, each epoch draws a seed from
    the library's global stream (``tr.manual_seed``), as PyTorch's draws from ``torch.manual_seed``'s."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None):
        if not isinstance(replacement, bool):
            raise ArgumentTypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if generator is not None and not isinstance(generator, Generator):
            raise ArgumentTypeError(f"RandomSampler: generator must be a tr.Generator, got "
                                    f"{type(generator).__name__}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = None if num_samples is None else size(num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, stream = len(self.data_source), self.generator or Generator()
        if self.replacement:
            return iter(stream.integers(n, self.num_samples).tolist())
        whole, rest = divmod(self.num_samples, n) if n else (0, 0)
        return iter([i for _ in range(whole) for i in stream.permutation(n).tolist()]
                    + stream.permutation(n).tolist()[:rest])

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last, shorter one is dropped with ``drop_last``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.sampler, self.batch_size = sampler, size(batch_size, "batch_size", "BatchSampler")
        self.drop_last = bool(drop_last)

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        whole, rest = divmod(len(self.sampler), self.batch_size)
        return whole + (1 if rest and not self.drop_last else 0)


# -- collation -------------------------------------------------------------------------------------------------------
def default_collate(batch: Sequence):
    """PyTorch's ``default_collate``: tensors (and NumPy arrays) are stacked on a new first axis; ints become an
    int64 tensor, floats a float64 one, bools a bool one; strings stay as they are (a list, or a tuple within a
    sample); mappings, named tuples and
    sequences are collated field by field (a tuple of fields comes back as a list, as in PyTorch).

    >>> default_collate([(1, 0.5), (2, 1.5)])
    [tensor(array([1, 2]), device='cpu'), tensor(array([0.5, 1.5]), device='cpu')]
    """
    first = batch[0]
    if isinstance(first, Tensor):
        return ops.stack(list(batch), dim=0)
    if isinstance(first, np.ndarray | np.generic):
        return tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(first, bool | int | float):
        dtype = "bool" if isinstance(first, bool) else "int64" if isinstance(first, int) else "float64"
        return tensor(np.asarray(batch), dtype=dtype)
    if isinstance(first, str | bytes):
        return batch
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a named tuple
        return type(first)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(first, Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise ShapeError(f"default_collate: each element in list of batch should be of equal size (got "
                             f"lengths {[len(sample) for sample in batch]})")
        return [default_collate(field) for field in zip(*batch)]
    raise ArgumentTypeError(f"default_collate: batch must contain tensors, NumPy arrays, numbers, strings, dicts "
                            f"or lists; found {type(first).__name__}")


# -- the loader -----------------------------------------------------------------------------------------------------
# PyTorch's other DataLoader arguments: accepted at their defaults; any other value changes what PyTorch does in a
# way this loader does not (worker processes, pinned memory), so it is refused rather than ignored
_PYTORCH_DEFAULTS = {"num_workers": 0, "pin_memory": False, "timeout": 0, "worker_init_fn": None,
                     "multiprocessing_context": None, "prefetch_factor": None, "persistent_workers": False,
                     "pin_memory_device": "", "in_order": True}


class DataLoader:
    """Batches of ``dataset`` (anything with ``__getitem__`` and ``__len__``): ``batch_size`` samples at a time in
    the order of ``sampler`` (``SequentialSampler``, or ``RandomSampler`` with ``shuffle=True``, drawing from
    ``generator``), or lists of indices from ``batch_sampler``; ``drop_last`` drops a last, short batch;
    ``collate_fn`` turns a list of samples into a batch (``default_collate``). ``batch_size=None`` yields the
    samples one by one, uncollated. ``len(loader)`` is the number of batches."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, collate_fn=None, drop_last: bool = False, generator: Generator | None = None,
                 **pytorch_options):
        _check_options(pytorch_options)
        if sampler is not None and shuffle:
            raise ArgumentError("DataLoader: sampler option is mutually exclusive with shuffle (the sampler sets "
                                "the order)")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ArgumentError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                "sampler, and drop_last")
        self.batch_size = None if batch_sampler is not None else batch_size  # PyTorch's attribute, as it sets it
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is None and drop_last:
            raise ArgumentError("DataLoader: batch_size=None option disables auto-batching and is mutually "
                                "exclusive with drop_last")
        self.dataset, self.sampler, self.batch_sampler, self.generator = dataset, sampler, batch_sampler, generator
        self.drop_last = drop_last
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None else _as_is)

    def __iter__(self):
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        return (self.collate_fn([self.dataset[i] for i in indices]) for indices in self.batch_sampler)

    def __len__(self) -> int:
        return len(self.sampler if self.batch_sampler is None else self.batch_sampler)


def _as_is(sample):
    return sample


def _check_options(options: dict) -> None:
    for name, value in options.items():
        if name not in _PYTORCH_DEFAULTS:
            raise ArgumentTypeError(f"DataLoader: unexpected keyword argument {name!r}")
        if value != _PYTORCH_DEFAULTS[name]:
            raise ArgumentError(f"DataLoader: {name}={value!r} is not supported (batches are made in this process, "
                                f"one at a time); leave {name} at {_PYTORCH_DEFAULTS[name]!r}")
