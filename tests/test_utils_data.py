"""``tinygrad_rnn.utils.data`` against ``torch.utils.data``: the same batch sizes, counts and collated shapes and
dtypes; shuffled orders (which come from different generators) hold each index once per epoch and repeat with
their seed."""
from __future__ import annotations

import re
from collections import namedtuple

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler,
                                     TensorDataset, default_collate, random_split)


def _pair(lib, n: int):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n) % 4
    make = tr.tensor if lib is tr else lib.from_numpy
    return lib.utils.data.TensorDataset(make(x), make(y))


def _shapes(loader) -> list:
    return [tuple(tuple(part.shape) for part in batch) for batch in loader]


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                                      (2, 5, True), (1, 1, False)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_and_lengths_as_pytorch(n, batch_size, drop_last, shuffle):
    torch = pytest.importorskip("torch")
    ours = DataLoader(_pair(tr, n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(_pair(torch, n), batch_size=batch_size, shuffle=shuffle,
                                         drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert _shapes(ours) == _shapes(theirs)
    if not shuffle:  # the sequential order is deterministic: the very same batches
        for a, b in zip(ours, theirs, strict=True):
            for part_a, part_b in zip(a, b, strict=True):
                assert part_a.dtype == str(part_b.dtype).removeprefix("torch.")
                np.testing.assert_array_equal(part_a.numpy(), part_b.numpy())


def test_shuffle_visits_every_index_once_per_epoch_in_a_new_order():
    tr.manual_seed(0)
    loader = DataLoader(TensorDataset(tr.tensor(np.arange(50))), batch_size=8, shuffle=True)
    epochs = [np.concatenate([batch[0].numpy() for batch in loader]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(50))
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    tr.manual_seed(0)  # the global seed makes an unseeded loader's orders repeat
    again = [np.concatenate([batch[0].numpy() for batch in loader]) for _ in range(3)]
    for a, b in zip(epochs, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_seeded_generator_gives_the_same_orders_whatever_the_global_seed():
    def orders(seed):
        tr.manual_seed(seed)
        loader = DataLoader(list(range(20)), batch_size=6, shuffle=True, generator=tr.Generator().manual_seed(7))
        return [[b.tolist() for b in loader] for _ in range(2)]

    first = orders(0)
    assert first == orders(1)
    assert first[0] != first[1]  # a new order each epoch from the same stream
    assert [len(b) for b in first[0]] == [6, 6, 6, 2]


def test_sequential_and_random_samplers_as_pytorch():
    torch = pytest.importorskip("torch")
    data = list(range(7))
    assert list(SequentialSampler(data)) == list(torch.utils.data.SequentialSampler(data))
    assert sorted(RandomSampler(data)) == data and len(RandomSampler(data)) == 7
    drawn = list(RandomSampler(data, replacement=True, num_samples=30, generator=tr.Generator().manual_seed(0)))
    assert len(drawn) == 30 and set(drawn) <= set(data)
    # without replacement, num_samples past the length repeats whole permutations, as PyTorch does
    counts = np.bincount(list(RandomSampler(data, num_samples=16)), minlength=7)
    assert sorted(counts.tolist()) == sorted(np.bincount(list(torch.utils.data.RandomSampler(data, num_samples=16)),
                                                         minlength=7).tolist())
    for drop_last in (False, True):
        ours = list(BatchSampler(SequentialSampler(data), 3, drop_last))
        assert ours == list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(data), 3, drop_last))


def test_a_given_sampler_sets_the_order():
    torch = pytest.importorskip("torch")
    loader = DataLoader(list("abcdef"), batch_size=2, sampler=[5, 3, 1, 0])
    assert list(loader) == [["f", "d"], ["b", "a"]] and len(loader) == 2
    batches = [[0, 2], [1]]
    for kwargs in ({"batch_size": 4}, {"batch_sampler": batches}, {"batch_size": None}):
        ours, theirs = DataLoader(list(range(3)), **kwargs), torch.utils.data.DataLoader(list(range(3)), **kwargs)
        assert ours.batch_size == theirs.batch_size and len(ours) == len(theirs)
        assert [_plain(b) for b in ours] == [_plain(b) for b in theirs]


def _plain(batch):
    return batch.tolist() if hasattr(batch, "tolist") else batch


def test_default_collate_as_pytorch():
    torch = pytest.importorskip("torch")
    Point = namedtuple("Point", "x y")
    samples = [
        [(1, 0.5, True), (2, 1.5, False)],
        [{"ids": np.array([1, 2]), "label": 3}, {"ids": np.array([4, 5]), "label": 6}],
        [Point(1, 2.0), Point(3, 4.0)],
        [[np.float32(1.0), "a"], [np.float32(2.0), "b"]],
    ]
    for batch in samples:
        ours, theirs = default_collate(batch), torch.utils.data.default_collate(batch)
        assert _describe(ours) == _describe(theirs), batch
    stacked = default_collate([tr.tensor([1.0, 2.0]), tr.tensor([3.0, 4.0])])
    assert stacked.shape == (2, 2) and stacked.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(tr.ShapeError, match="equal size"):
        default_collate([[1, 2], [3]])


def _describe(value):
    """Structure, values and dtypes of a collated batch, the same words for both libraries."""
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, str):
        return value
    return (str(value.dtype).removeprefix("torch."), np.asarray(value.tolist()).tolist())


def test_random_split_lengths_as_pytorch():
    torch = pytest.importorskip("torch")
    for lengths in ([0.85, 0.15], [0.5, 0.3, 0.2], [7, 13]):
        ours = random_split(list(range(20)), lengths, generator=tr.Generator().manual_seed(2024))
        theirs = torch.utils.data.random_split(list(range(20)), lengths,
                                               generator=torch.Generator().manual_seed(2024))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s) == list(range(20))  # a partition
    with pytest.raises(tr.ArgumentError, match="do not sum"):
        random_split(list(range(5)), [2, 2])


def test_a_subclassed_dataset():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tr.tensor([float(i * i)]), i

    x, y = next(iter(DataLoader(Squares(), batch_size=5)))
    assert x.shape == (5, 1) and y.dtype == "int64" and y.tolist() == [0, 1, 2, 3, 4]
    assert [s for s in DataLoader(Squares(), batch_size=None)][2][1] == 2  # no batching: the samples as they are


def test_bad_loader_arguments_name_the_argument():
    data = list(range(4))
    cases = [
        (lambda: DataLoader(data, shuffle=True, sampler=SequentialSampler(data)), tr.ArgumentError, "sampler"),
        (lambda: DataLoader(data, batch_size=2, batch_sampler=[[0, 1]]), tr.ArgumentError, "batch_sampler"),
        (lambda: DataLoader(data, num_workers=2), tr.ArgumentError, "num_workers=2"),
        (lambda: DataLoader(data, pin_memory=True), tr.ArgumentError, "pin_memory"),
        (lambda: DataLoader(data, shufle=True), tr.ArgumentTypeError, "'shufle'"),
        (lambda: DataLoader(data, batch_size=0), tr.ArgumentError, "batch_size"),
        (lambda: TensorDataset(tr.zeros(3, 2), tr.zeros(4)), tr.ShapeError, "(3, 2)"),
        (lambda: RandomSampler(data, generator=np.random.default_rng(0)), tr.ArgumentTypeError, "generator"),
    ]
    for make, error, needle in cases:
        with pytest.raises(error, match=re.escape(needle)):
            make()
    assert len(DataLoader(data, num_workers=0, pin_memory=False)) == 4  # PyTorch's defaults are fine
