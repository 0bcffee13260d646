"""The engine contract: autodiff semantics, long unrolled graphs, hooks, release, dtypes, tags, anomaly mode."""
import numpy as np
import pytest

import tinygrad_rnn as tr
from tests.helpers import host


def _rnn_numpy_bptt(xs, W, U, h0):
    """Hand-written BPTT for h_t = tanh(x_t W + h_{t-1} U), loss = sum(h_T): returns dL/dh0, dL/dW, dL/dU."""
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(x @ W + hs[-1] @ U))
    dh = np.ones_like(hs[-1])
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    per_step_dU = []
    for t in range(len(xs), 0, -1):
        da = dh * (1 - hs[t] ** 2)
        dW += xs[t - 1].T @ da
        step_dU = hs[t - 1].T @ da
        per_step_dU.append(step_dU)
        dU += step_dU
        dh = da @ U.T
    return dh, dW, dU, per_step_dU


def test_ten_thousand_step_rnn_runs_backward_and_matches_hand_written_bptt(device):
    rng = np.random.default_rng(0)
    steps, hidden = 10_000, 4
    W_np = rng.normal(0, 0.5, (2, hidden))
    U_np = rng.normal(0, 0.3, (hidden, hidden))
    xs_np = rng.normal(0, 1, (steps, 1, 2))
    h0_np = rng.normal(0, 1, (1, hidden))
    W = tr.tensor(W_np, requires_grad=True, device=device)
    U = tr.tensor(U_np, requires_grad=True, device=device)
    h0 = tr.tensor(h0_np, requires_grad=True, device=device)
    xs = tr.tensor(xs_np, device=device)
    h = h0
    for t in range(steps):
        with tr.step(t):
            h = (xs[t] @ W + h @ U).tanh()
    graph = tr.graph.trace(h)  # no RecursionError
    assert graph.steps[-1] == steps - 1
    h.sum().backward()
    dh0, dW, dU, _ = _rnn_numpy_bptt(xs_np, W_np, U_np, h0_np)
    np.testing.assert_allclose(tr.tensor(h0.grad, device=device).numpy(), dh0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tr.tensor(W.grad, device=device).numpy(), dW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(tr.tensor(U.grad, device=device).numpy(), dU, rtol=1e-9, atol=1e-12)


def test_weight_shared_across_steps_gets_the_sum_of_per_step_gradients():
    rng = np.random.default_rng(1)
    W_np, U_np = rng.normal(0, 0.5, (3, 5)), rng.normal(0, 0.4, (5, 5))
    xs_np, h0_np = rng.normal(0, 1, (7, 2, 3)), np.zeros((2, 5))
    U = tr.tensor(U_np, requires_grad=True)
    h = tr.tensor(h0_np)
    per_step = []
    for t in range(7):
        h_prev = h
        h = (tr.tensor(xs_np[t]) @ tr.tensor(W_np) + h_prev @ U).tanh()
    h.sum().backward()
    _, _, dU, per_step = _rnn_numpy_bptt(xs_np, W_np, U_np, h0_np)
    assert len(per_step) == 7
    np.testing.assert_allclose(U.grad, sum(per_step), rtol=1e-10)
    np.testing.assert_allclose(U.grad, dU, rtol=1e-10)


def test_reused_tensor_accumulates_and_leaf_grads_do_not_alias():
    a = tr.tensor([2.0, 3.0], requires_grad=True)
    b = tr.tensor([1.0, 1.0], requires_grad=True)
    (a * a + a + b).sum().backward()
    np.testing.assert_allclose(a.grad, [5.0, 7.0])
    np.testing.assert_allclose(b.grad, [1.0, 1.0])
    b.grad[0] = 100.0  # a leaf owns its gradient array
    assert a.grad[0] == 5.0
    (a * 2).sum().backward()  # a second backward adds to .grad
    np.testing.assert_allclose(a.grad, [7.0, 9.0])


def test_multi_output_op_with_one_output_unused(device):
    x = tr.tensor(np.arange(6.0).reshape(2, 3), dtype="float64", requires_grad=True, device=device)
    first, second = tr.split(x, [1, 2], dim=1)
    assert first.grad_fn is second.grad_fn  # one node, two outputs
    (second * 3).sum().backward()
    np.testing.assert_allclose(tr.tensor(x.grad, device=device).numpy(), [[0, 3, 3], [0, 3, 3]])


def test_backward_needs_grad_for_non_scalar_and_accepts_one():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(tr.GraphError, match=r"shape \(2,\).*not a scalar"):
        y.backward()
    y.backward(tr.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [3.0, 30.0])


def test_release_after_backward_and_retain_graph():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    with tr.scope("layer"), tr.step(4):
        y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    with pytest.raises(tr.GraphError, match=r"scope 'layer' at step 4 was released.*retain_graph=True"):
        y.backward()
    assert len(tr.graph.trace(y)) > 0  # the graph's shape survives the release


def test_no_grad_detach_and_requires_grad_rules():
    x = tr.tensor([1.0], requires_grad=True)
    with tr.no_grad():
        y = x * 2
        with tr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    with pytest.raises(tr.DTypeError, match="int64"):
        tr.tensor([1, 2], requires_grad=True)
    with pytest.raises(tr.GraphError, match="does not require grad"):
        tr.tensor([1.0]).sum().backward()

    @tr.no_grad()
    def doubled(v):
        return v * 2

    assert not doubled(x).requires_grad


def test_hooks_see_and_replace_gradients_and_retain_grad():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    h.retain_grad()
    x.register_hook(lambda g: g * 10)  # replaces the leaf's gradient
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], [6.0, 12.0])
    np.testing.assert_allclose(h.grad, [6.0, 12.0])
    np.testing.assert_allclose(x.grad, [180.0, 360.0])


def test_dtypes_default_float32_float64_on_request_and_no_silent_mixing():
    assert tr.tensor([1.0]).dtype == tr.float32
    assert tr.tensor([1.0], dtype="float64").dtype == "float64"
    assert tr.tensor(np.zeros(2)).dtype == "float64"  # arrays keep their dtype, as torch.tensor does
    assert tr.tensor([1, 2]).dtype == "int64"
    x32, x64 = tr.tensor([1.0]), tr.tensor([1.0], dtype="float64")
    assert (x32 * 2.5).dtype == "float32"
    with pytest.raises(tr.DTypeError, match=r"add: dtypes differ \(float32.*float64"):
        x32 + x64
    assert (tr.tensor([1, 2]) * 0.5).dtype == "float32"  # integers meet a float in the default float, as in PyTorch
    y = x32.to("float64") * x64
    assert y.dtype == "float64"


def test_cast_is_differentiable():
    x = tr.tensor([1.5], requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad[0] == 2.0


def test_manual_seed_reproduces_random_numbers():
    tr.manual_seed(7)
    a = tr.randn(3, 4).numpy()
    tr.manual_seed(7)
    b = tr.randn(3, 4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, tr.randn(3, 4).numpy())


def test_rand_and_randn_draw_on_the_device_in_the_dtype_asked(device):
    tr.manual_seed(3)
    u = tr.rand(200, 5, dtype="float64", device=device)
    n = tr.randn((4, 2), requires_grad=True, device=device)
    assert (u.shape, u.dtype, u.device, n.shape, n.dtype, n.requires_grad) == \
        ((200, 5), "float64", device, (4, 2), "float32", True)
    values = host(u)
    assert 0.0 <= values.min() and values.max() < 1.0 and abs(values.mean() - 0.5) < 0.05
    assert type(u.data) is type(tr.zeros(1, device=device).data)  # the backend's own array, wrapped as it is
    tr.manual_seed(3)
    np.testing.assert_array_equal(host(tr.rand(200, 5, dtype="float64", device=device)), values)
    with pytest.raises(TypeError, match="float dtype"):
        tr.rand(2, dtype="int64")


def test_scope_and_step_tags_on_nodes_and_tensors():
    x = tr.tensor([1.0], requires_grad=True)
    with tr.scope("encoder"), tr.scope("lstm"):
        with tr.step(17):
            f = x.sigmoid().named("f")
        after = x * 1
    assert (f.scope, f.step, f.name) == ("encoder/lstm", 17, "f")
    assert (after.scope, after.step) == ("encoder/lstm", None)
    assert tr.current_scope() == "" and tr.current_step() is None
    with pytest.raises(ValueError):
        tr.scope("a/b")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns about the very NaN/Inf we provoke
def test_detect_anomaly_names_op_scope_and_step():
    x = tr.tensor([0.0, 1.0], requires_grad=True)
    with tr.detect_anomaly():
        with pytest.raises(tr.AnomalyError, match=r"log in scope 'cell' at step 2 produced NaN or Inf in its forward"):
            with tr.scope("cell"), tr.step(2):
                x.log()
        y = x.sqrt()  # forward is finite, backward divides by sqrt(0)
        with pytest.raises(tr.AnomalyError, match="sqrt produced NaN or Inf in its backward"):
            y.sum().backward()
    x.log()  # outside the context manager nothing is checked


def test_devices_and_moves(device):
    x = tr.tensor([1.0, 2.0], device=device)
    assert x.device == device
    back = x.to("cpu")
    assert back.device == "cpu" and back.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(tr.DeviceError, match="unknown device 'tpu'"):
        tr.tensor([1.0], device="tpu")


def test_mixing_devices_names_the_op_and_both_devices():
    pytest.importorskip("array_api_strict")
    a = tr.tensor([1.0])
    b = tr.tensor([1.0], device="array_api_strict")
    with pytest.raises(tr.DeviceError, match=r"add: inputs live on different devices \(cpu.*array_api_strict"):
        a + b


def test_cuda_without_gpu_says_what_is_missing():
    if tr.cuda_available():
        pytest.skip("a GPU is present")
    with pytest.raises(tr.DeviceError, match=r"cuda.*(pip install|no usable GPU|no GPU)"):
        tr.tensor([1.0], device="cuda")


def test_python_operators_map_to_ops():
    x = tr.tensor([[1.0, -2.0]], requires_grad=True)
    assert (x + 1).grad_fn.op_label() == "add"
    assert (1 - x).grad_fn.op_label() == "sub"
    assert (x @ x.T).grad_fn.op_label() == "matmul"
    assert (-x).grad_fn.op_label() == "neg"
    assert (x ** 2).grad_fn.op_label() == "pow"
    assert abs(x).grad_fn.op_label() == "abs"
    assert x[0].grad_fn.op_label() == "getitem"
    assert (x > 0).dtype == "bool"


def test_leaf_hook_sees_the_total_gradient_once_per_backward():
    W = tr.tensor(np.eye(2, dtype="float32"), requires_grad=True)
    calls = []
    W.register_hook(lambda g: calls.append(g.copy()))
    h = tr.tensor([[1.0, 2.0]])
    for _ in range(3):
        h = h @ W  # three uses, three deferred weight-gradient products
    h.sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], W.grad)
    np.testing.assert_allclose(W.grad, 3 * np.array([[1.0, 1.0], [2.0, 2.0]]))


def test_weight_used_by_matmul_and_linear_in_one_graph_gets_both_gradients():
    rng = np.random.default_rng(3)
    W_np, x_np = rng.normal(size=(3, 3)), rng.normal(size=(2, 3))
    W = tr.tensor(W_np, requires_grad=True)
    x = tr.tensor(x_np)
    (tr.linear(x @ W, W).tanh()).sum().backward()
    torch = pytest.importorskip("torch")
    Wt = torch.tensor(W_np, requires_grad=True)
    torch.tanh(torch.nn.functional.linear(torch.tensor(x_np) @ Wt, Wt)).sum().backward()
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-12)


def test_failed_backward_changes_no_gradient():
    x = tr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    z = y * 3 + (x * x).sum()  # new nodes on top of a released graph
    with pytest.raises(tr.GraphError, match="released"):
        z.backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    (x * x).sum().backward()  # nothing half-delivered leaks into the next pass
    np.testing.assert_allclose(x.grad, [4.0, 6.0])


def test_numpy_scalars_are_weak_scalars_like_python_numbers():
    x = tr.tensor([1.0, 2.0])
    assert (x * np.float64(2)).dtype == "float32"
    assert (np.float32(3) + x).dtype == "float32"


def test_equality_is_elementwise_and_makes_masks():
    tokens = tr.tensor([[3, 0, 0]])
    mask = tokens != 0
    assert mask.dtype == "bool" and mask.tolist() == [[True, False, False]]
    assert (tokens == 0).tolist() == [[False, True, True]]
    x = tr.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    tr.where(mask, x, 0.0).sum().backward()
    np.testing.assert_allclose(x.grad, [[1.0, 0.0, 0.0]])
    assert len({x, tokens}) == 2  # tensors still hash by identity


def test_device_copy_inside_a_graph_is_refused_not_silently_cut():
    pytest.importorskip("array_api_strict")
    x = tr.tensor([1.0], requires_grad=True)
    with pytest.raises(tr.GraphError, match="would cut the graph"):
        (x * 2).to("array_api_strict")
    assert x.to("array_api_strict").requires_grad  # a leaf moves with its flag


def test_integer_cast_leaves_the_graph():
    x = tr.tensor([1.5, 2.5], requires_grad=True)
    assert not x.to("int64").requires_grad
    assert x.to("float64").requires_grad


def test_pow_zero_has_zero_gradient_at_zero():
    x = tr.tensor([0.0, 1.0], requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns about the very NaN/Inf we provoke
def test_detect_anomaly_checks_deferred_weight_gradients():
    a = tr.tensor(np.full((1000, 1), 1e36, dtype="float32"))
    W = tr.tensor([[1.0]], requires_grad=True, name="W")
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError, match="gradient of leaf 'W'"):
        (a @ W).backward(np.ones((1000, 1), dtype="float32"))  # finite forward, aᵀg = 1e39 overflows


def test_gradcheck_leaves_grads_and_data_as_they_were():
    x = tr.tensor([0.3, -1.2], dtype="float64", requires_grad=True)
    w = tr.tensor([2.0, 3.0], dtype="float64", requires_grad=True)
    x.grad = np.array([5.0, 5.0])
    assert tr.gradcheck(lambda x: (x * w).tanh(), [x])
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])
    assert w.grad is None  # a leaf the function closes over

    def failing(x):
        if x.numpy()[0] != 0.3:
            raise RuntimeError("probe")
        return x * 2

    with pytest.raises(RuntimeError):
        tr.gradcheck(failing, [x])
    assert x.numpy().tolist() == [0.3, -1.2]


def test_a_hooked_graph_is_freed_without_the_cycle_collector():
    import gc
    import weakref

    x = tr.tensor([1.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    node = weakref.ref(h.grad_fn)
    gc.disable()
    try:
        del h
        assert node() is None
    finally:
        gc.enable()


def test_backward_gradient_on_another_device_is_a_device_error():
    pytest.importorskip("array_api_strict")
    y = tr.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(tr.DeviceError, match="gradient lives on array_api_strict"):
        y.backward(tr.tensor([1.0, 1.0], device="array_api_strict"))


def test_hook_handle_removes_the_hook():
    x = tr.tensor([1.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    (x * 2).sum().backward()
    assert calls == [1]


def test_unbind_is_one_node_whose_backward_stacks(device):
    x = tr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, device=device)
    rows = tr.unbind(x, 0)
    assert len(rows) == 3 and rows[0].grad_fn is rows[2].grad_fn and rows[1].shape == (2,)
    (rows[0] * 2 + rows[2]).sum().backward()
    np.testing.assert_array_equal(tr.tensor(x.grad, device=device).numpy(), [[2, 2], [0, 0], [1, 1]])
    cols = x.unbind(1)
    assert [c.shape for c in cols] == [(3,), (3,)]


class _ScaleIntoSlot(tr.engine.Function):
    """x · factor whose backward writes its gradient into the slot the op that made x offers, as the fused steps do."""

    def forward(self, a, factor):
        self.factor, self.slots = factor, []
        return a * factor

    def backward(self, g):
        slot = tr.engine.gradient_slot(self.parents[0])
        self.slots.append(slot)
        if slot is None:
            return g * self.factor
        slot[...] = g * self.factor
        return slot


def test_unbind_takes_gradients_written_into_its_slots_without_stacking_copies(device):
    x = tr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, device=device)
    y = x * 1.0
    seen = []
    y.register_hook(seen.append)
    handed = []  # per consumer, the slot each backward pass got
    total = None
    for row, factor in zip(tr.unbind(y, 0), (2.0, 3.0, 4.0), strict=True):
        out = _ScaleIntoSlot.apply(row, factor=factor)
        handed.append(out.grad_fn.slots)
        total = out if total is None else total + out
    total.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(host(x.grad), [[2, 2], [3, 3], [4, 4]])
    assert all(slots[0] is not None for slots in handed)
    assert all(x.backend.may_share_memory(seen[0], slots[0]) for slots in handed)  # the gradient's own rows
    total.sum().backward()  # a second pass over the retained graph: no row is handed out twice
    assert all(slots[1] is None for slots in handed)
    np.testing.assert_array_equal(host(x.grad), [[4, 4], [6, 6], [8, 8]])
    np.testing.assert_array_equal(host(seen[0]), [[2, 2], [3, 3], [4, 4]])  # the first pass's gradient kept


def test_a_row_with_two_consumers_gets_one_slot_and_the_sum_of_both(device):
    x = tr.tensor(np.ones((2, 3)), requires_grad=True, device=device)
    first, second = tr.unbind(x, 0)
    (_ScaleIntoSlot.apply(first, factor=2.0) + _ScaleIntoSlot.apply(first, factor=5.0)
     + _ScaleIntoSlot.apply(second, factor=3.0)).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [[7, 7, 7], [3, 3, 3]])


def test_concat_rows_is_a_view_only_of_consecutive_rows_of_one_array(device):
    backend = tr.tensor(0.0, device=device).backend
    xp = backend.xp
    buffer = xp.reshape(xp.arange(24.0), (4, 3, 2))
    other = xp.reshape(xp.arange(6.0), (3, 2))
    row = [buffer[t, ...] for t in range(4)]
    cases = {"consecutive": ([row[1], row[2], row[3]], True),
             "out of order": ([row[2], row[1]], False),
             "with a gap": ([row[0], row[2]], False),
             "another array": ([row[3], other], False),
             "strided": ([buffer[0, :, :1], buffer[1, :, :1]], False),
             "an owner, not a view": ([xp.ones((2, 2))], False)}
    for name, (arrays, view) in cases.items():
        joined = backend.concat_rows(arrays)
        np.testing.assert_array_equal(host(joined), host(xp.concat(arrays, axis=0)), err_msg=name)
        expect_view = view and backend.address is not None  # the standard cannot tell where memory lies
        assert backend.may_share_memory(joined, arrays[0]) == expect_view, name


def test_concat_rows_copies_rows_of_a_dtype_view_or_of_foreign_memory():
    backend = tr.tensor(0.0).backend
    as_float32 = np.arange(16.0).view(np.float32).reshape(4, 8)  # its base holds float64
    rows = [as_float32[0:1], as_float32[1:2]]
    joined = backend.concat_rows(rows)
    assert joined.dtype == np.float32 and joined.shape == (2, 8)
    np.testing.assert_array_equal(joined, np.concatenate(rows))
    foreign = np.frombuffer(np.arange(8.0).tobytes(), dtype=np.float64).reshape(4, 2)  # its base is bytes
    np.testing.assert_array_equal(backend.concat_rows([foreign[0:1], foreign[1:2]]), foreign[:2])


def _counting_joins(monkeypatch, backend) -> list:
    """Record the length of every list of step operands the backward pass joins."""
    joins, concat = [], backend.concat_rows

    def counted(arrays):
        joins.append(len(arrays))
        return concat(arrays)

    monkeypatch.setattr(backend, "concat_rows", counted)
    return joins


def test_weights_that_share_the_steps_gradients_join_them_once(device, monkeypatch):
    rng = np.random.default_rng(3)
    steps = 5
    W_np, U_np = rng.normal(0, 0.5, (2, 3)), rng.normal(0, 0.4, (3, 3))
    xs_np, h0_np = rng.normal(0, 1, (steps, 1, 2)), rng.normal(0, 1, (1, 3))
    W, U = (tr.tensor(a, requires_grad=True, device=device) for a in (W_np, U_np))
    xs = [tr.tensor(x, device=device) for x in xs_np]  # not an unbind: the joins copy
    h = tr.tensor(h0_np, device=device)
    for x in xs:
        h = (x @ W + h @ U).tanh()
    joins = _counting_joins(monkeypatch, W.backend)
    h.sum().backward()
    _, dW, dU, _ = _rnn_numpy_bptt(list(xs_np), W_np, U_np, h0_np)
    np.testing.assert_allclose(host(W.grad), dW, rtol=1e-10)
    np.testing.assert_allclose(host(U.grad), dU, rtol=1e-10)
    # W's x_t, U's h_{t-1}, and the pre-activations' gradients that both weights' products hold, joined once
    assert joins == [steps] * 3


def test_a_shared_join_is_checked_array_by_array(monkeypatch):
    """Two leaves whose operand lists begin and end with the same arrays but differ between them each get their own
    join (and the right gradient)."""
    from tinygrad_rnn.autograd import DeferredProduct, _finish_leaves

    rng = np.random.default_rng(4)
    a = [rng.normal(0, 1, (1, 2)) for _ in range(3)]
    g = [rng.normal(0, 1, (1, 3)) for _ in range(3)]
    other = rng.normal(0, 1, (1, 3))
    first, second = tr.tensor(np.zeros((2, 3)), requires_grad=True), tr.tensor(np.zeros((2, 3)), requires_grad=True)
    middles = {first: g[1], second: other}
    # products gathered newest first, as the backward pass gathers them
    gathered = {leaf: [None, [DeferredProduct(a[t], middle if t == 1 else g[t]) for t in (2, 1, 0)], None]
                for leaf, middle in middles.items()}
    joins = _counting_joins(monkeypatch, first.backend)
    _finish_leaves(gathered, anomaly=False)
    for leaf, middle in middles.items():
        expected = sum(a[t].T @ (middle if t == 1 else g[t]) for t in range(3))
        np.testing.assert_allclose(leaf.grad, expected, rtol=1e-12)
    assert joins == [3] * 3  # the a's once (shared), each leaf's g's on their own


def test_retained_gradients_are_copies_that_no_other_tensor_shares():
    x = tr.tensor(np.ones((2, 3)), requires_grad=True)
    a, b = x * 1.0, x * 2.0
    a.retain_grad()
    b.retain_grad()
    (a + b).sum().backward()  # add hands one gradient array to both of its inputs
    a.grad[...] = 0
    np.testing.assert_array_equal(b.grad, np.ones((2, 3)))


def test_tensor_of_a_tensor_on_its_own_device_is_a_copy_in_the_same_array_library(device):
    a = tr.tensor([[1.0, 2.0]], device=device)
    b = tr.tensor(a, device=device)
    assert type(b.data) is type(a.data) and b.data is not a.data and b.dtype == "float32"
    np.testing.assert_array_equal(host(b), [[1.0, 2.0]])
    assert tr.tensor(a, dtype="float64", device=device).dtype == "float64"
    a.data = tr.tensor([[5.0, 6.0]], device=device).data  # the copy does not follow its source
    np.testing.assert_array_equal(host(b), [[1.0, 2.0]])


def test_a_hook_returning_another_shape_dtype_or_kind_is_refused_naming_the_tensor(device):
    """PyTorch refuses a hook that changes the gradient's size or dtype; silently broadcasting a (5, 3) return into a
    (10,) gradient, or turning a float32 gradient float64, is not what anyone meant."""
    x = tr.tensor(np.ones(10), dtype="float32", requires_grad=True, name="x", device=device)
    x.register_hook(lambda g: tr.tensor(np.ones((5, 3)), dtype="float32", device=device))
    with pytest.raises(tr.ShapeError, match=r"hook .* of tensor 'x' \(a leaf, shape \(10,\), dtype float32\) "
                                            r"returned a gradient of shape \(5, 3\) for one of shape \(10,\)"):
        (x * 2).sum().backward()
    assert x.grad is None
    w = tr.tensor(np.ones((2, 3)), dtype="float32", requires_grad=True, device=device)
    with tr.scope("cell"), tr.step(4):
        h = (w * 3).tanh()
    h.name = "h"
    h.register_hook(lambda g: tr.tensor(np.ones((2, 3)), dtype="float64", device=device))
    with pytest.raises(tr.DTypeError, match=r"tensor 'h' \(made by tanh in scope 'cell' at step 4, shape \(2, 3\), "
                                            r"dtype float32\) returned a gradient of dtype float64 for one of dtype "
                                            r"float32"):
        h.sum().backward()
    assert w.grad is None
    v = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    v.register_hook(lambda g: 3.0)
    with pytest.raises(tr.DTypeError, match="returned a float; return None or a gradient"):
        (v * v).sum().backward()
    u = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    u.register_hook(lambda g: g * 2)  # the same shape and dtype: replaced, as before
    (u * u).sum().backward()
    np.testing.assert_allclose(tr.tensor(u.grad, device=device).numpy(), [4.0, 8.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("layer, batch_first", [("LSTM", False), ("GRU", True), ("RNN", False)])
def test_detect_anomaly_names_the_step_and_row_inside_a_recurrent_layer(layer, batch_first):
    """The input projection covers every step in one op; its time axis says which step first holds the NaN."""
    tr.manual_seed(0)
    net = getattr(tr.nn, layer)(3, 4, batch_first=batch_first, bidirectional=True)
    x = np.ones((30, 5, 3), "float32")
    x[17, 2, 1] = np.nan
    x[20, 0, 0] = np.inf  # a later step: not the first
    x = x.transpose(1, 0, 2).copy() if batch_first else x
    where = r"in scope '%s(/l0)?' at step 17 \(batch row 2\)" % layer
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError, match=where + " produced NaN or Inf in its forward"):
        net(tr.tensor(x))
    unbatched = np.ones((30, 3), "float32")
    unbatched[9, 0] = np.nan
    with tr.detect_anomaly(), pytest.raises(tr.AnomalyError, match="at step 9 "):
        getattr(tr.nn, layer)(3, 4)(tr.tensor(unbatched))


def test_engine_imports_nothing_above_itself_and_the_methods_are_the_ops():
    """The engine defines the tensor and the tape; the ops package installs the operator and method table, so
    engine.py imports no op module anywhere (only the backend, the errors and its own backward walk), and a method
    is its op, not a shortcut past it."""
    import ast
    import pathlib

    import tinygrad_rnn.engine as engine_module
    from tinygrad_rnn import ops

    tree = ast.parse(pathlib.Path(engine_module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.module
                 for alias in node.names}
    assert imported <= {"__future__", "backend", "errors", "autograd"}, imported  # autograd: the tape's walk
    assert tr.Tensor.tanh is ops.tanh and tr.Tensor.__add__ is ops.add and tr.Tensor.__matmul__ is ops.matmul
    assert tr.Tensor.sum is ops.sum and tr.Tensor.view is ops.reshape
    x = tr.tensor([1, 2])  # an integer tensor: the method promotes as the op does
    assert x.tanh().dtype == "float32" and (2 - x).tolist() == [1, 0] and (x == 1).tolist() == [True, False]


def test_two_tensors_of_one_dtype_skip_the_operand_checks_and_others_do_not(monkeypatch):
    """A recurrent step's add, sub, mul and matmul skip ``operands`` for two tensors (Parameters too: a module's
    weights) whose arrays share one dtype; a number, or two dtypes, still go through it and are promoted."""
    from tinygrad_rnn.ops import _common, elementwise

    calls = []
    real = _common.operands

    def counted(label, a, b):
        calls.append(label)
        return real(label, a, b)

    monkeypatch.setattr(elementwise, "operands", counted)
    monkeypatch.setattr(_common, "operands", counted)
    w, x = tr.nn.Parameter(tr.ones(2, 2)), tr.ones(1, 2)
    for y in (x @ w, x + w, w - x, x * w, tr.maximum(x, w)):
        assert y.shape in ((1, 2), (2, 2))
    assert calls == []
    assert (x * 2).dtype == "float32" and (tr.tensor([1, 2]) + tr.tensor([0.5, 0.5])).dtype == "float32"
    assert calls == ["mul", "add"]
