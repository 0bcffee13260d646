"""PyTorch's names against PyTorch: the same float64 inputs through tinygrad_rnn and torch, comparing the values, the
indices and the gradients; and the semantics a port relies on (max/min tuples, ``t[key] = value`` with its version
check, dtype promotion, softmax's required dim, the creation functions, the dunders)."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr

torch = pytest.importorskip("torch")
F = torch.nn.functional


def pair(values, requires_grad=True):
    """The same float64 values as a tinygrad_rnn and a torch leaf."""
    values = np.asarray(values, dtype=np.float64)
    return (tr.tensor(values, dtype="float64", requires_grad=requires_grad),
            torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad))


def same(ours, theirs, rtol=1e-10, atol=1e-12) -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    got = ours.numpy() if isinstance(ours, tr.Tensor) else np.asarray(ours)
    assert got.shape == theirs.shape, (got.shape, theirs.shape)
    np.testing.assert_allclose(got, theirs, rtol=rtol, atol=atol)


def distinct(shape, seed=0):
    n = int(np.prod(shape))
    return ((np.random.default_rng(seed).permutation(n) - n / 2) * 0.1 + 0.01).reshape(shape)


def both(fn_ours, fn_theirs, shape=(2, 3, 4), seed=0):
    """Run each function on its library's leaf, compare the outputs and the gradients of sum(out * weights)."""
    a, b = pair(distinct(shape, seed))
    out_a, out_b = fn_ours(a), fn_theirs(b)
    same(out_a, out_b)
    weights = np.random.default_rng(seed + 1).standard_normal(tuple(out_b.shape))
    (out_a * tr.tensor(weights, dtype="float64")).sum().backward()
    (out_b * torch.tensor(weights)).sum().backward()
    same(a.grad, b.grad)


CASES = {
    "max(dim)": (lambda x: x.max(1)[0], lambda x: x.max(1)[0]),
    "torch.max(x, dim, keepdim)": (lambda x: tr.max(x, 0, keepdim=True).values,
                                   lambda x: torch.max(x, 0, keepdim=True).values),
    "min(dim)": (lambda x: x.min(-1)[0], lambda x: x.min(-1)[0]),
    "max()": (lambda x: x.max(), lambda x: x.max()),
    "torch.max(a, b)": (lambda x: tr.max(x, -x), lambda x: torch.max(x, -x)),
    "torch.min(a, b)": (lambda x: tr.min(x, x * 0.5 + 0.1), lambda x: torch.min(x, x * 0.5 + 0.1)),
    "topk": (lambda x: x.topk(2, dim=1).values, lambda x: x.topk(2, dim=1).values),
    "topk smallest unsorted dim 0": (lambda x: tr.topk(x, 1, 0, largest=False).values,
                                     lambda x: torch.topk(x, 1, 0, largest=False).values),
    "gather": (lambda x: x.gather(2, tr.tensor([[[3, 0], [1, 1], [0, 2]], [[2, 2], [3, 1], [0, 0]]])),
               lambda x: x.gather(2, torch.tensor([[[3, 0], [1, 1], [0, 2]], [[2, 2], [3, 1], [0, 0]]]))),
    "gather smaller index": (lambda x: tr.gather(x, 0, tr.tensor([[[1, 0]]])),
                             lambda x: torch.gather(x, 0, torch.tensor([[[1, 0]]]))),
    "masked_fill": (lambda x: x.masked_fill(x > 0.2, -3.0), lambda x: x.masked_fill(x > 0.2, -3.0)),
    "clamp": (lambda x: x.clamp(-0.3, 0.4), lambda x: x.clamp(-0.3, 0.4)),
    "clamp(max=)": (lambda x: tr.clamp(x, max=0.1), lambda x: torch.clamp(x, max=0.1)),
    "where": (lambda x: tr.where(x > 0, x, x * 2), lambda x: torch.where(x > 0, x, x * 2)),
    "squeeze/unsqueeze": (lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(-1).squeeze(),
                          lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(-1).squeeze()),
    "squeeze(dim) of a size > 1": (lambda x: x.squeeze(0), lambda x: x.squeeze(0)),
    "bmm": (lambda x: tr.bmm(x, x.transpose(1, 2)), lambda x: torch.bmm(x, x.transpose(1, 2))),
    "repeat": (lambda x: x.repeat(2, 1, 1, 2), lambda x: x.repeat(2, 1, 1, 2)),
    "expand": (lambda x: x[:, :1].expand(2, 5, 4), lambda x: x[:, :1].expand(2, 5, 4)),
    "expand -1 new dim": (lambda x: x.expand(3, -1, -1, -1), lambda x: x.expand(3, -1, -1, -1)),
    "flatten": (lambda x: x.flatten(), lambda x: x.flatten()),
    "flatten(1)": (lambda x: x.flatten(1), lambda x: x.flatten(1)),
    "t": (lambda x: x[0].t(), lambda x: x[0].t()),
    "clone/contiguous": (lambda x: x.clone().contiguous() * 2, lambda x: x.clone().contiguous() * 2),
    "2 ** x": (lambda x: 2 ** x, lambda x: 2 ** x),
    "x ** 0.5": (lambda x: (x.abs() + 1) ** 0.5, lambda x: (x.abs() + 1) ** 0.5),
    "sum(axis, keepdims)": (lambda x: x.sum(axis=1, keepdims=True), lambda x: x.sum(axis=1, keepdims=True)),
    "mean(axis)": (lambda x: x.mean(axis=(0, 2)), lambda x: x.mean(axis=(0, 2))),
    "softmax dtype": (lambda x: tr.softmax(x, dim=1, dtype="float64"), lambda x: F.softmax(x, dim=1,
                                                                                         dtype=torch.float64)),
}


AXIS_CASES = {  # PyTorch takes NumPy's axis= / keepdims= wherever it takes dim= / keepdim=
    "cat": (lambda lib, x: lib.cat([x, x], axis=1)), "stack": (lambda lib, x: lib.stack([x, x], axis=2)),
    "unsqueeze": (lambda lib, x: x.unsqueeze(axis=0)), "squeeze": (lambda lib, x: x[:1].squeeze(axis=0)),
    "chunk": (lambda lib, x: x.chunk(2, axis=2)[1]), "unbind": (lambda lib, x: x.unbind(axis=1)[2]),
    "softmax": (lambda lib, x: lib.softmax(x, axis=1)), "log_softmax": (lambda lib, x: x.log_softmax(axis=0)),
    "amax": (lambda lib, x: x.amax(axis=1, keepdims=True)), "max": (lambda lib, x: x.max(axis=2).values),
    "argmin": (lambda lib, x: x * x.argmin(axis=1, keepdims=True)),  # an int64 tensor meets a float64 one
    "topk": (lambda lib, x: x.topk(2, axis=1).values),
    "gather": (lambda lib, x: x.gather(axis=1, index=lib.tensor([[[0, 1, 2, 0]], [[2, 2, 1, 1]]]))),
}


@pytest.mark.parametrize("name", list(AXIS_CASES))
def test_axis_and_keepdims_aliases_like_pytorch(name):
    fn = AXIS_CASES[name]
    both(lambda x: fn(tr, x), lambda x: fn(torch, x))


@pytest.mark.parametrize("name", list(CASES))
def test_against_pytorch(name):
    ours, theirs = CASES[name]
    both(ours, theirs)


def test_max_min_return_named_tuples_like_pytorch():
    x, y = pair([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]], requires_grad=False)
    for name in ("max", "min"):
        ours, theirs = getattr(x, name)(1), getattr(y, name)(1)
        values, indices = ours
        assert isinstance(ours, tuple) and ours.values is values and ours.indices is indices
        assert indices.dtype == "int64" and indices.tolist() == theirs.indices.tolist()
        same(values, theirs.values)
        assert tr.argmin(x, 1).tolist() == torch.argmin(y, 1).tolist()
        assert isinstance(getattr(x, name)(), tr.Tensor)
    assert x.max(1, keepdim=True).indices.shape == (2, 1)
    assert tr.max(tr.tensor(3.0), 0).indices.item() == 0  # a 0-d tensor has one dim to reduce, as in PyTorch


def test_max_over_a_dim_sends_the_gradient_to_the_picked_index_like_pytorch():
    a, b = pair([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    a.max(1).values.sum().backward()
    b.max(1).values.sum().backward()
    same(a.grad, b.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", ["2d", "nd", "1d"])
def test_cross_entropy_and_nll_loss_like_pytorch(reduction, smoothing, weighted, layout):
    rng = np.random.default_rng(5)
    shape, target = {"2d": ((5, 4), [3, -100, 0, 2, 1]), "nd": ((2, 4, 3), [[0, 3, -100], [1, 1, 2]]),
                     "1d": ((4,), 2)}[layout]
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    logits_a, logits_b = pair(rng.standard_normal(shape))
    kw_a = {"weight": tr.tensor(weight, dtype="float64")} if weighted else {}
    kw_b = {"weight": torch.tensor(weight)} if weighted else {}
    ours = tr.cross_entropy(logits_a, tr.tensor(target), reduction=reduction, label_smoothing=smoothing, **kw_a)
    theirs = F.cross_entropy(logits_b, torch.tensor(target), reduction=reduction, label_smoothing=smoothing, **kw_b)
    same(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    same(logits_a.grad, logits_b.grad)
    if smoothing == 0.0:
        nll_a = tr.nll_loss(logits_a.log_softmax(0 if layout == "1d" else 1), tr.tensor(target), reduction=reduction,
                            **kw_a)
        nll_b = F.nll_loss(logits_b.log_softmax(0 if layout == "1d" else 1), torch.tensor(target),
                           reduction=reduction, **kw_b)
        same(nll_a, nll_b)


def test_loss_and_softmax_modules_like_pytorch():
    logits_a, logits_b = pair(distinct((3, 4)))
    target = [1, 0, 3]
    pairs = [(tr.nn.CrossEntropyLoss(label_smoothing=0.1), torch.nn.CrossEntropyLoss(label_smoothing=0.1), True),
             (tr.nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), True),
             (tr.nn.MSELoss(), torch.nn.MSELoss(), False)]
    for ours, theirs, classes in pairs:
        t_a = tr.tensor(target) if classes else logits_a.detach() * 0.5
        t_b = torch.tensor(target) if classes else logits_b.detach() * 0.5
        same(ours(logits_a, t_a), theirs(logits_b, t_b))
    same(tr.nn.LogSoftmax(dim=1)(logits_a), torch.nn.LogSoftmax(dim=1)(logits_b))
    same(tr.nn.Softmax(dim=0)(logits_a), torch.nn.Softmax(dim=0)(logits_b))


# -- t[key] = value ----------------------------------------------------------------------------------------------------
def test_setitem_gradients_like_pytorch():
    """The seq2seq tutorial's ``encoder_outputs[ei] = out[0, 0]``: the gradient reaches every written value, and
    the part of a tensor a write leaves alone keeps its own gradient path."""
    w_a, w_b = pair(distinct((4,)))
    x_a, x_b = pair(distinct((3, 4), seed=2))
    outs = []
    for w, x, zeros in ((w_a, x_a, tr.zeros(3, 4, dtype="float64")), (w_b, x_b, torch.zeros(3, 4,
                                                                                               dtype=torch.float64))):
        for i in range(3):
            zeros[i] = (w * (i + 1)).tanh()
        y = x * 1.0
        y[1:, 2] = w[:2] * 5.0
        y[0] = 0.5
        outs.append((zeros * zeros).sum() + (y * x).sum())
    same(outs[0], outs[1])
    outs[0].backward()
    outs[1].backward()
    same(w_a.grad, w_b.grad)
    same(x_a.grad, x_b.grad)


def test_an_op_made_before_a_write_keeps_its_gradient_path():
    x_a, x_b = pair([1.0, 2.0, 3.0])
    losses = []
    for x in (x_a, x_b):
        y = x * 2.0
        before = (y + 1.0).sum()  # add saves nothing: the later write changes nothing it needs
        y[0] = 10.0
        losses.append(before + (y * 3.0).sum())
    losses[0].backward()
    losses[1].backward()
    same(x_a.grad, x_b.grad)


@pytest.mark.parametrize("case", ["output of tanh", "input of mul", "through a view"])
def test_a_write_under_a_saved_value_raises_like_pytorch(case):
    for lib in (tr, torch):
        x = lib.tensor([0.5, 1.0, 2.0], requires_grad=True)
        if case == "output of tanh":
            y = x.tanh()
            loss = y.sum()
            y[0] = 0.0
        elif case == "input of mul":
            y = x * 1.0
            loss = (y * y).sum()
            y[1] = 3.0
        else:
            y = x * 1.0
            loss = (y[1:] * 2.0 * y[1:]).sum()
            y[2] = 3.0
        error = tr.GraphError if lib is tr else RuntimeError
        with pytest.raises(error, match="in ?place"):
            loss.backward()


def test_a_write_through_a_view_changes_the_viewed_tensor_outside_the_graph_and_raises_inside_it():
    for lib in (tr, torch):
        x = lib.zeros(2, 3)
        row = x[1]
        row[2] = 5.0
        x.reshape(6)[0] = 1.0
        assert x.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]]
    w = tr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 1.0
    with pytest.raises(tr.GraphError, match="view"):
        y[1:][0] = w[0]
    y[1] = w[0]  # the tensor itself: fine


def test_setitem_counts_versions_and_refuses_a_leaf_that_requires_grad():
    t = tr.zeros(2, 3)  # _version is unset until a write (kept off fresh nodes); two writes make it 2
    t[0] = 1.0
    t[:, 1] = tr.tensor([5.0, 6.0])
    assert t._version == 2 and t.tolist() == [[1.0, 5.0, 1.0], [0.0, 6.0, 0.0]]
    w = tr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tr.GraphError, match="leaf"):
        w[0] = 0.0
    with tr.no_grad():  # what initialisers do, as in PyTorch
        w[0] = 0.0
    assert w.tolist() == [0.0, 2.0]
    with pytest.raises(tr.DTypeError, match="setitem"):
        tr.zeros(2)[0] = tr.tensor(1.0, dtype="float64")
    ints = tr.zeros(3, dtype="int64")
    ints[tr.tensor([True, False, True])] = 7
    assert ints.tolist() == [7, 0, 7]


def test_a_write_through_a_temporary_view_still_reaches_the_version_check():
    """``y[0:2][0] = 3`` writes ``y`` through a view that is gone by the time backward runs: the write is logged
    against the memory it landed in, so a node that saved ``y`` raises, as PyTorch's version counter does. And a
    buffer outside the graph refuses a graph value written through its view (its gradient would be cut)."""
    for lib in (tr, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1.0
        loss = (y * y).sum()
        with lib.no_grad():
            y[0:2][0] = 3.0
        with pytest.raises(tr.GraphError if lib is tr else RuntimeError, match="in ?place"):
            loss.backward()
    w, buffer = tr.tensor([1.0, 2.0], requires_grad=True), tr.zeros(2, 2)
    with pytest.raises(tr.GraphError, match=r"view into another tensor's memory.*x\[0, 1\] = v"):
        buffer[0][1] = w[0] * 2.0
    assert buffer.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    buffer[0, 1] = w[0] * 2.0  # the buffer itself: in the graph
    buffer.sum().backward()
    assert w.grad.tolist() == [2.0, 0.0]


def test_legacy_constructors_and_in_place_shape_and_fill_like_pytorch():
    """What the tutorials call: ``torch.LongTensor(list)``, ``target.unsqueeze_(-1)``,
    ``torch.empty(b, 1, dtype=torch.long).fill_(SOS)``, and a ``.data`` array written back with ``t[i] = array``."""
    got = []
    for lib in (tr, torch):
        ids = lib.LongTensor(np.array([[3, 1], [4, 1]], dtype=np.int32))
        target = lib.LongTensor([5, 9, 2])
        target.unsqueeze_(-1)
        filled = lib.empty(2, 1, dtype=lib.long).fill_(7)
        floats = lib.FloatTensor(2, 3).zero_()
        floats[1] = lib.ones(3).data  # an array here, a tensor in PyTorch: both write
        squeezed = lib.zeros(1, 3, 1).squeeze_()
        got.append([(t.tolist(), str(t.dtype).removeprefix("torch."), tuple(t.shape))
                    for t in (ids, target, filled, floats, squeezed)])
    assert got[0] == got[1]
    w = tr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(tr.GraphError, match="unsqueeze_.*x = x.unsqueeze"):
        (w * 2.0).unsqueeze_(0)
    with pytest.raises(tr.ArgumentTypeError, match="LongTensor"):
        tr.LongTensor([1], [2])


# -- dtypes ------------------------------------------------------------------------------------------------------------
PROMOTIONS = {
    "/": lambda a: a / 2, "int / int": lambda a: a / a, "tanh": lambda a: a.tanh(), "exp": lambda a: a.exp(),
    "log": lambda a: a.log(), "sigmoid": lambda a: a.sigmoid(), "sqrt": lambda a: a.sqrt(),
    "** 0.5": lambda a: a ** 0.5,
    "* 0.5": lambda a: a * 0.5, "2.0 ** a": lambda a: 2.0 ** a, "int + float32 tensor": lambda a: a + a.float(),
    "bool * float32 tensor": lambda a: (a > 1) * a.float(), "** 2": lambda a: a ** 2, "//": lambda a: a // 2,
    "sum": lambda a: a.sum(), "int32 + int64": lambda a: a.int() + a,
}


@pytest.mark.parametrize("name", list(PROMOTIONS))
def test_integer_promotion_matches_pytorch(name):
    fn = PROMOTIONS[name]
    ours, theirs = fn(tr.tensor([1, 2, 3])), fn(torch.tensor([1, 2, 3]))
    assert ours.dtype == str(theirs.dtype).replace("torch.", "")
    same(ours, theirs.to(torch.float64) if theirs.is_floating_point() else theirs, rtol=1e-6)


def test_mean_and_softmax_of_integers_give_the_default_float():
    """PyTorch refuses these; here they promote like tanh and exp do (code that runs in PyTorch runs the same)."""
    ints = tr.tensor([[1, 2], [3, 5]])
    assert ints.mean().dtype == "float32" and ints.mean().item() == 2.75
    assert tr.softmax(ints, dim=1).dtype == "float32" and tr.log_softmax(ints, 1).dtype == "float32"


def test_float32_with_float64_stays_an_error():
    with pytest.raises(tr.DTypeError, match="float32.*float64"):
        tr.tensor([1.0]) + tr.tensor([1.0], dtype="float64")


def test_softmax_without_dim_raises():
    x = tr.zeros(2, 3, 4)
    for fn in (tr.softmax, tr.log_softmax, tr.nn.functional.softmax, tr.nn.functional.log_softmax):
        with pytest.raises(tr.ArgumentError, match="dim is required"):
            fn(x)
    for call in (x.softmax, x.log_softmax, tr.nn.Softmax(), tr.nn.LogSoftmax()):
        with pytest.raises(tr.ArgumentError, match="dim is required"):
            call() if not isinstance(call, tr.nn.Module) else call(x)


# -- creation, sizes, conversions, devices ----------------------------------------------------------------------------
def test_creation_functions_like_pytorch():
    like = torch.ones(2, 3, dtype=torch.float64)
    ours_like = tr.ones(2, 3, dtype="float64")
    pairs = [
        (tr.zeros_like(ours_like), torch.zeros_like(like)), (tr.ones_like(ours_like), torch.ones_like(like)),
        (tr.full((2, 2), 7.0), torch.full((2, 2), 7.0)), (tr.full((3,), 4), torch.full((3,), 4)),
        (tr.full((1,), True), torch.full((1,), True)), (tr.arange(5), torch.arange(5)),
        (tr.arange(1, 7, 2), torch.arange(1, 7, 2)), (tr.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25)),
        (tr.empty(2, 3), torch.empty(2, 3).zero_()), (tr.from_numpy(np.arange(3.0)), torch.from_numpy(np.arange(3.0))),
        (tr.zeros_like(ours_like, dtype=tr.long), torch.zeros_like(like, dtype=torch.long)),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == str(theirs.dtype).replace("torch.", ""), (ours.dtype, theirs.dtype)
        assert ours.tolist() == theirs.tolist()


def test_size_dim_numel_and_conversions_like_pytorch():
    x, y = tr.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert x.size() == y.size() and isinstance(x.size(), tuple) and x.size(-1) == y.size(-1) == 4
    assert x.size().numel() == y.size().numel() == x.numel() == 24 and x.dim() == y.dim() == 3
    for bad in (lambda: x.size(3), lambda: tr.tensor(1.0).size(0)):
        with pytest.raises(tr.IndexRangeError, match="size"):
            bad()
    v = tr.tensor([2.7])
    assert float(v) == pytest.approx(2.7) and int(v) == 2 and [10, 20, 30][tr.tensor(2)] == 30
    with pytest.raises(TypeError):
        [1, 2][tr.tensor(1.0)]
    with pytest.raises(tr.ArgumentError, match="2 elements"):
        float(tr.tensor([1.0, 2.0]))
    assert v.long().dtype == "int64" and v.int().dtype == "int32" and tr.tensor([1]).float().dtype == "float32"
    assert tr.long == "int64" and tr.float == "float32" and tr.double == "float64" and tr.bool == "bool"
    assert v.to(tr.long).dtype == str(torch.tensor([2.7]).to(torch.long).dtype).replace("torch.", "")
    assert np.asarray(tr.tensor([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    assert (np.float64(2.0) * tr.tensor([1.0])).dtype == "float32"  # NumPy defers to the tensor's operators
    assert tr.device("cpu") == "cpu" and tr.device("cuda:0").type == "cuda" and x.device.type == "cpu"
    assert isinstance(tr.cuda.is_available(), bool)


def test_matplotlib_takes_a_tensor(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    line, = ax.plot(tr.arange(3), tr.tensor([1.0, 4.0, 9.0]))
    assert line.get_ydata().tolist() == [1.0, 4.0, 9.0]
    plt.close(fig)


# -- bad input: PyTorch's keywords this library does not take ---------------------------------------------------------
@pytest.mark.parametrize("call, argument", [
    (lambda x: tr.max(x, 1, out=None), "out"),
    (lambda x: tr.gather(x, 1, tr.tensor([[0]]), sparse_grad=True), "sparse_grad"),
    (lambda x: tr.cross_entropy(x, tr.tensor([0, 1]), size_average=False), "size_average"),
    (lambda x: tr.div(x, 2, rounding_mode="trunc"), "rounding_mode"),
    (lambda x: x.sum(dim=0, axis=1), "axis"),
    (lambda x: x.topk(1, out=None), "out"),
    (lambda x: tr.nn.CrossEntropyLoss(reduce=False), "reduce"),
    (lambda x: tr.clamp(x, min=tr.zeros(1)), "min"),
])
def test_an_unsupported_pytorch_argument_raises_naming_it(call, argument):
    with pytest.raises(TypeError if argument in ("out", "size_average", "reduce") else tr.TinygradRNNError,
                       match=argument):
        call(tr.zeros(2, 3))


def test_once_the_written_tensors_are_gone_backward_walks_as_before():
    from tinygrad_rnn import engine

    buffer = tr.zeros(2)
    buffer[0] = 1.0
    key = id(buffer.data)
    assert key in engine._write_log
    del buffer
    w = tr.tensor([1.0], requires_grad=True)
    (w * 2.0).sum().backward()
    assert key not in engine._write_log and w.grad.tolist() == [2.0]


def test_ops_made_after_every_write_are_walked_as_if_nothing_was_written():
    """A buffer written once and kept alive must not put every later backward on the rerouting walk."""
    buffer = tr.zeros(2)
    buffer[0] = 1.0
    w = tr.tensor([1.0, 2.0], requires_grad=True)
    y = (w * buffer).sum()
    parents = y.grad_fn.parents
    y.backward()
    assert y.grad_fn.parents is parents and w.grad.tolist() == [1.0, 0.0]
    z = w * 3.0
    buffer[1] = 5.0  # a write after z's op: the walk still checks and reroutes the nodes made before it
    (z * buffer).sum().backward()
    assert w.grad.tolist() == [4.0, 15.0]


def test_a_write_under_a_saved_value_through_a_short_lived_view_still_raises():
    """The log keeps the array a view looks into: the view dies at once, the memory (and what saved it) lives on."""
    x = tr.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = x.tanh()
    loss = y.sum()
    with tr.no_grad():
        y.reshape(3, 1)[0, 0] = 0.0  # the reshaped view is gone after this line
    with pytest.raises(tr.GraphError, match="in place"):
        loss.backward()
