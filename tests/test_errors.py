"""Bad input gets a clear error: the op, the shapes, and — inside an unrolled graph — the scope and time step.

Every error checked here is a ``tinygrad_rnn.TinygradRNNError`` (so one ``except`` catches the library's own
complaints) and also the built-in exception a Python user would expect (ValueError, TypeError, IndexError ...).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_rnn as tr

WHERE = re.escape("in scope 'encoder/lstm' at step 3")


def raises(kind, match):
    """``pytest.raises`` that also insists on the library's base class."""
    assert issubclass(kind, tr.TinygradRNNError)
    return pytest.raises(kind, match=match)


def in_graph():
    """The context of an unrolled graph: scope path and time step."""
    class _Both:
        def __enter__(self):
            self.stack = [tr.scope("encoder"), tr.scope("lstm"), tr.step(3)]
            for ctx in self.stack:
                ctx.__enter__()

        def __exit__(self, *exc):
            for ctx in reversed(self.stack):
                ctx.__exit__(*exc)

    return _Both()


def test_error_hierarchy():
    assert issubclass(tr.ShapeError, ValueError)
    assert issubclass(tr.DTypeError, TypeError)
    assert issubclass(tr.DeviceError, RuntimeError)
    assert issubclass(tr.GraphError, RuntimeError)
    for kind in (tr.ShapeError, tr.DTypeError, tr.DeviceError, tr.GraphError, tr.AnomalyError, tr.GradcheckError):
        assert issubclass(kind, tr.TinygradRNNError)


# -- shapes ------------------------------------------------------------------------------------------------------------
def test_matmul_inner_dimension_mismatch(device):
    a, b = tr.zeros(2, 3, device=device), tr.zeros(4, 5, device=device)
    with raises(tr.ShapeError, r"matmul: inner dimensions differ \(3 vs 4\) for shapes \(2, 3\) @ \(4, 5\)"):
        a @ b
    with raises(tr.ShapeError, r"matmul.*\(3,\) @ \(2, 4\)"):
        tr.matmul(tr.zeros(3, device=device), tr.zeros(2, 4, device=device))
    with in_graph(), raises(tr.ShapeError, r"matmul: inner dimensions differ.*" + WHERE):
        a @ b
    with raises(tr.ShapeError, r"matmul: operands must have at least one dimension.*\(\) and \(3,\)"):
        tr.tensor(1.0, device=device) @ tr.zeros(3, device=device)


def test_broadcast_mismatch(device):
    a, b = tr.zeros(2, 3, device=device), tr.zeros(4, device=device)
    with raises(tr.ShapeError, r"add: cannot apply to shapes \(2, 3\) and \(4,\)"):
        a + b
    with raises(tr.ShapeError, r"mul: cannot apply to shapes \(2, 3\) and \(4,\)"):
        a * b
    with in_graph(), raises(tr.ShapeError, r"maximum: .*\(2, 3\) and \(4,\).*" + WHERE):
        tr.maximum(a, b)
    with raises(tr.ShapeError, r"where: .*\(2, 3\).*\(4,\)"):
        tr.where(tr.tensor(np.ones((2, 3), dtype=bool), device=device), a, b)


def test_linear_shape_mismatch(device):
    x, w = tr.zeros(5, 3, device=device), tr.zeros(4, 2, device=device)
    with raises(tr.ShapeError, r"linear: input of shape \(5, 3\) does not fit weight of shape \(4, 2\)"):
        tr.linear(x, w)
    with in_graph(), raises(tr.ShapeError, r"linear: bias of shape \(3,\) does not fit weight of shape \(4, 3\).*"
                            + WHERE):
        tr.linear(x, tr.zeros(4, 3, device=device), tr.zeros(3, device=device))


def test_reshape_to_wrong_size(device):
    x = tr.zeros(2, 3, device=device)
    with raises(tr.ShapeError, r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4,\)"):
        x.reshape(4)
    with raises(tr.ShapeError, r"reshape: .*\(2, 3\).*into \(4, -1\)"):
        x.reshape(4, -1)
    with raises(tr.ShapeError, r"reshape: .*into \(-1, -1\)"):
        x.reshape(-1, -1)
    with in_graph(), raises(tr.ShapeError, r"reshape: .*\(2, 3\).*" + WHERE):
        x.view(5)


def test_other_shape_ops(device):
    x = tr.zeros(2, 3, device=device)
    with raises(tr.ShapeError, r"permute: \(0, 0\) is not a permutation .* shape \(2, 3\)"):
        x.permute(0, 0)
    with raises(tr.ShapeError, r"split: sizes \[1, 1\] do not add up to 3.*\(2, 3\)"):
        tr.split(x, [1, 1], dim=1)
    with raises(tr.ShapeError, r"concat: cannot apply to shapes \(2, 3\) and \(2, 4\)"):
        tr.concat([x, tr.zeros(2, 4, device=device)], dim=0)
    with raises(tr.ShapeError, r"stack: .*\(2, 3\) and \(3, 2\)"):
        tr.stack([x, tr.zeros(3, 2, device=device)])
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range for a tensor with 2 dimensions"):
        x.sum(dim=2)
    with raises(tr.ShapeError, r"softmax: dim -3 is out of range"):
        x.softmax(-3)


def test_index_out_of_range(device):
    x = tr.zeros(3, 4, device=device)
    with pytest.raises(IndexError, match=r"getitem: index out of range for dim 1 of size 4 .*\(3, 4\)") as info:
        x[:, [0, 4]]
    assert isinstance(info.value, tr.TinygradRNNError)
    with pytest.raises(IndexError, match=r"getitem: index out of range for dim 0 of size 3"):
        x[[1, -4]]
    with pytest.raises(IndexError, match=r"getitem: cannot apply to shape \(3, 4\), key=\(5, Ellipsis\)") as info:
        x[5]
    assert isinstance(info.value, tr.TinygradRNNError)
    with in_graph(), pytest.raises(IndexError, match=r"getitem: .*" + WHERE):
        x[1, -5]


def test_iterating_a_tensor_stops_at_its_length(device):
    x = tr.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device)
    rows = list(x)  # the legacy iteration protocol: __getitem__(0, 1, ...) until an IndexError
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


# -- dtypes ------------------------------------------------------------------------------------------------------------
def test_dtype_mix_is_an_error(device):
    a = tr.zeros(2, device=device)
    b = tr.zeros(2, dtype="float64", device=device)
    with raises(tr.DTypeError, r"add: dtypes differ \(float32 with shape \(2,\), float64 with shape \(2,\)\)"):
        a + b
    with raises(tr.DTypeError, r"matmul: dtypes differ"):
        a @ b
    with in_graph(), raises(tr.DTypeError, r"mul: dtypes differ .*" + WHERE):
        a * b
    with raises(tr.DTypeError, r"concat: dtypes differ \(float32, float64\)"):
        tr.concat([a, b])
    assert (tr.tensor([1, 2], device=device) * 0.5).dtype == "float32"  # integers promote, as in PyTorch


def test_requires_grad_on_integer_tensor(device):
    with raises(tr.DTypeError, r"requires_grad: only floating tensors can require gradients, this one is int64"):
        tr.tensor([1, 2, 3], requires_grad=True, device=device)
    with raises(tr.DTypeError, r"requires_grad: .*bool"):
        tr.tensor([True], device=device).requires_grad_()


def test_index_dtypes(device):
    w = tr.zeros(4, 2, device=device)
    with raises(tr.DTypeError, r"embedding: indices must be integers, got float32"):
        tr.embedding(tr.tensor([0.0, 1.0], device=device), w)
    with raises(tr.DTypeError, r"cross_entropy: target must hold integer class indices, got float32"):
        tr.cross_entropy(w, tr.tensor([0.0, 1.0, 0.0, 1.0], device=device))
    with raises(tr.DTypeError, r"where: the condition must be a bool tensor, got float32"):
        tr.where(w, w, w)


# -- graph misuse ------------------------------------------------------------------------------------------------------
def test_backward_on_non_scalar_needs_a_gradient(device):
    x = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    y = x * 3
    with raises(tr.GraphError, r"backward: a tensor of shape \(2,\) is not a scalar; pass its gradient"):
        y.backward()
    y.backward(np.array([1.0, 10.0], dtype=np.float32))  # with a gradient it works
    np.testing.assert_allclose(x.backend.to_numpy(x.grad), [3.0, 30.0])
    with raises(tr.ShapeError, r"backward: gradient of shape \(3,\) does not match the tensor's shape \(2,\)"):
        (x * 2).backward(np.ones(3, dtype=np.float32))


def test_backward_without_requires_grad(device):
    with raises(tr.GraphError, r"does not require grad"):
        (tr.zeros(2, device=device) * 2).sum().backward()


def test_second_backward_over_released_graph(device):
    x = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    with tr.scope("decoder"), tr.step(5):
        h = x.tanh()
    loss = (h * h).sum()
    loss.backward()
    with raises(tr.GraphError, r"released by an earlier backward\(\).*retain_graph=True"):
        loss.backward()
    y = x.tanh()
    z = y.exp()
    z.sum().backward()
    with raises(tr.GraphError, r"'tanh' in scope 'decoder' at step 5 was released"):
        h.sum().backward()


def test_retain_graph_allows_a_second_backward(device):
    x = tr.tensor([1.0, 2.0], dtype="float64", requires_grad=True, device=device)
    loss = (x * x * x).sum()
    loss.backward(retain_graph=True)
    first = x.backend.to_numpy(x.grad).copy()
    np.testing.assert_allclose(first, [3.0, 12.0])
    loss.backward()  # accumulates, like PyTorch
    np.testing.assert_allclose(x.backend.to_numpy(x.grad), 2 * first)
    with raises(tr.GraphError, r"released"):
        loss.backward()


# -- devices -----------------------------------------------------------------------------------------------------------
def test_unknown_device():
    with raises(tr.DeviceError, r"unknown device 'tpu'; choose one of"):
        tr.tensor([1.0], device="tpu")
    with raises(tr.DeviceError, r"unknown device 'gpu'"):
        tr.zeros(2).to("gpu")
    with raises(tr.DeviceError, r"only one GPU"):
        tr.tensor([1.0], device="cuda:1")


def test_cuda_missing_says_what_to_install():
    if tr.cuda_available():
        pytest.skip("a GPU with CuPy is present here")
    with raises(tr.DeviceError, r"device 'cuda'.*(CuPy|GPU)"):
        tr.tensor([1.0], device="cuda")


def test_mixing_devices_whose_arrays_share_a_dtype_object():
    """NumPy and CuPy arrays share NumPy's dtype objects, so the step ops' shortcut past the operand checks meets such
    a pair; the node's own device check then names the op, each device and shape, and the place in the graph."""
    import copy

    from tinygrad_rnn.engine import wrap

    other = copy.copy(tr.tensor(0.0).backend)  # NumPy arrays on a backend that is not the CPU's: CuPy's case
    other.name = "cuda"
    a, b = tr.zeros(2, 3), wrap(np.zeros((2, 3), np.float32), other)
    shapes = r"\((cpu|cuda) with shape \(2, 3\), (cpu|cuda) with shape \((2, 3|3, 2)\)\)"
    for name, op in (("add", lambda: a + b), ("sub", lambda: b - a), ("mul", lambda: a * b),
                     ("matmul", lambda: a @ wrap(np.zeros((3, 2), np.float32), other))):
        with in_graph(), raises(tr.DeviceError, f"{name}: inputs live on different devices {shapes} " + WHERE):
            op()


def test_mixing_devices():
    pytest.importorskip("array_api_strict")
    a = tr.zeros(2, 3)
    b = tr.zeros(2, 3, device="array_api_strict")
    pattern = r"inputs live on different devices \(cpu.*array_api_strict.*\).*\.to\(device\)"
    with raises(tr.DeviceError, "add: " + pattern):
        a + b
    with raises(tr.DeviceError, "matmul: " + pattern):
        a @ b.T
    with in_graph(), raises(tr.DeviceError, "sub: " + r"inputs live on different devices.*" + WHERE):
        b - a
    with raises(tr.DeviceError, r"concat: inputs live on different devices"):
        tr.concat([a, b])
    with raises(tr.DeviceError, r"embedding: inputs live on different devices"):
        tr.embedding(tr.tensor([0, 1]), tr.zeros(3, 2, device="array_api_strict"))
    with raises(tr.DeviceError, r"cross_entropy: inputs live on different devices"):
        tr.cross_entropy(b, tr.tensor([0, 1]))
    moved = (a.to("array_api_strict") + b)
    assert moved.device == "array_api_strict"


# -- losses and lookups ------------------------------------------------------------------------------------------------
def test_cross_entropy_bad_targets(device):
    logits = tr.zeros(4, 3, device=device)
    with pytest.raises(IndexError, match=r"cross_entropy: target values must lie in \[0, 3\) or equal "
                                         r"ignore_index=-100") as info:
        tr.cross_entropy(logits, tr.tensor([0, 1, 3, 2], device=device))
    assert isinstance(info.value, tr.TinygradRNNError)
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        tr.cross_entropy(logits, tr.tensor([0, -1, 1, 2], device=device))
    with in_graph(), pytest.raises(IndexError, match=r"cross_entropy: target values.*" + WHERE):
        tr.cross_entropy(logits, [0, 7, 0, 0])
    tr.cross_entropy(logits, [0, -100, 0, 0])  # the ignore index itself is fine
    with raises(tr.ShapeError, r"cross_entropy: input of shape \(4, 3\) needs a target of shape \(4,\), got \(3,\)"):
        tr.cross_entropy(logits, tr.tensor([0, 1, 2], device=device))
    with raises(tr.ShapeError, r"input of shape \(2, 3, 5\) needs a target of shape \(2, 5\), got \(2, 3\)"):
        tr.cross_entropy(tr.zeros(2, 3, 5, device=device), tr.tensor(np.zeros((2, 3), dtype=np.int64), device=device))
    with in_graph(), raises(tr.ShapeError, r"needs a target of shape.*" + WHERE):
        tr.cross_entropy(logits, [[0]])
    with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        tr.cross_entropy(logits, [0, 0, 0, 0], reduction="avg")


def test_embedding_index_out_of_range(device):
    w = tr.zeros(5, 2, device=device)
    with pytest.raises(IndexError, match=r"embedding: indices \(shape \(2, 2\)\) must lie in \[0, 5\) for a weight "
                                         r"of shape \(5, 2\)") as info:
        tr.embedding(tr.tensor([[0, 1], [5, 2]], device=device), w)
    assert isinstance(info.value, tr.TinygradRNNError)
    with in_graph(), pytest.raises(IndexError, match=r"embedding: .*" + WHERE):
        tr.embedding([-1], w)


def test_mse_loss_shape_mismatch(device):
    with raises(tr.ShapeError, r"mse_loss: input shape \(2, 3\) and target shape \(3,\) differ"):
        tr.mse_loss(tr.zeros(2, 3, device=device), tr.zeros(3, device=device))


def test_bad_arguments(device):
    x = tr.zeros(2, device=device)
    with pytest.raises(ValueError, match=r"dropout: p must lie in \[0, 1\], got 1.5"):
        tr.dropout(x, 1.5)
    with pytest.raises(TypeError, match=r"pow: the exponent must be a Python number, got Tensor"):
        x ** x
    with pytest.raises(ValueError, match=r"split: split_size must be >= 1, got 0"):
        tr.split(x, 0)
    with pytest.raises(ValueError, match=r"chunk: chunks must be an int >= 1"):
        tr.chunk(x, 0)
    with raises(tr.GradcheckError, r"gradcheck: input 0 \(shape \(2,\)\) disagrees"):
        wrong = tr.tensor([0.5, 1.0], dtype="float64", requires_grad=True, device=device)
        tr.gradcheck(lambda a: a.detach() * a, [wrong])  # detach hides half the gradient
    with raises(tr.DTypeError, r"gradcheck: input 0 is float32; finite differences need float64"):
        tr.gradcheck(lambda a: a * 2, [tr.zeros(2, requires_grad=True, device=device)])
