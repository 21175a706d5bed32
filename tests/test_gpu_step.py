"""gpu_step.FusedStep on the CPU: the fused device step, run through the NumPy references of its
kernels (``reference_kernels()``), against the readable layer path + optimizer.

The same object runs the CuPy kernels on a GPU; the GPU-only test at the end compares the two
there and skips elsewhere (CI has no GPU: expected, not a missing system package).
"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.core.backend import gpu_status
from mitbadak.devices.cuda_kernels import reference_kernels
from mitbadak.devices.fused_step import FusedStep, supports_fused
from mitbadak.nn.activations import ACTIVATIONS
from mitbadak.nn.networks import MultiLayerNet, SimpleNet, TwoLayerNet
from mitbadak.nn.optimizers import OPTIMIZERS, SGD, Adam, Momentum, make_optimizer

LRS = {"sgd": 0.1, "momentum": 0.1, "adagrad": 0.05, "adam": 0.01}


def data(n=100, d=12, c=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(dtype), rng.integers(0, c, n)


def pair(activation="relu", optimizer="momentum", *, lam=0.0, dtype=np.float32, hidden=(10, 8)):
    """Two identical nets and optimizers: one for the readable path, one for the fused step."""
    nets = [
        MultiLayerNet(12, list(hidden), 4, activation=activation, seed=1, dtype=dtype,
                      weight_decay_lambda=lam)
        for _ in range(2)
    ]  # fmt: skip
    opts = [make_optimizer(optimizer, LRS.get(optimizer, 0.01)) for _ in range(2)]
    return nets, opts


def batches(n=100, size=32):
    """Batch slices of one epoch, the last one smaller (100 = 32 + 32 + 32 + 4)."""
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def readable_step(net, opt, x, t):
    loss, grads = net.loss_and_gradient_layers(x, t)
    opt.update(net.params, grads)
    return loss


def assert_same_training(a, oa, b, ob, *, rtol=1e-5, atol=2e-6):
    for key in a.params:
        np.testing.assert_allclose(b.params[key], a.params[key], rtol=rtol, atol=atol, err_msg=key)
    want, got = oa.state_dict(), ob.state_dict()
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, atol=atol, err_msg=key)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fused_step_trains_as_the_layers_and_the_optimizer(activation, optimizer):
    x, t = data()
    (a, b), (oa, ob) = pair(activation, optimizer)
    step = FusedStep(b, ob, kernels=reference_kernels())
    want, got = [], []
    for _ in range(3):  # three epochs, each ending with a smaller batch
        for sl in batches():
            want.append(readable_step(a, oa, x[sl], t[sl]))
            loss = step(x[sl], t[sl])
            assert loss.shape == () and loss.dtype == np.float32
            got.append(float(loss))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert want[-1] < want[0]  # it did train
    assert_same_training(a, oa, b, ob)
    if optimizer == "adam":
        assert ob.state_dict()["t"] == 12
    assert sorted(step._buffers) == [4, 32]  # one set of temporaries per batch size


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fused_step_with_weight_decay(optimizer):
    x, t = data()
    (a, b), (oa, ob) = pair("relu", optimizer, lam=0.05)
    step = FusedStep(b, ob, kernels=reference_kernels())
    for _ in range(2):
        for sl in batches():
            want = readable_step(a, oa, x[sl], t[sl])
            np.testing.assert_allclose(float(step(x[sl], t[sl])), want, rtol=1e-5)
    assert a.weight_penalty() > 0.01  # the penalty is a real part of the loss here
    assert_same_training(a, oa, b, ob)


def test_fused_step_in_float64_matches_closely_and_any_depth():
    x, t = data(dtype=np.float64)
    for hidden in ([], [9], [10, 8, 6]):
        (a, b), (oa, ob) = pair("sigmoid", "adam", dtype=np.float64, hidden=hidden)
        step = FusedStep(b, ob, kernels=reference_kernels())
        for sl in batches() * 2:
            want = readable_step(a, oa, x[sl], t[sl])
            got = step(x[sl], t[sl])
            assert got.dtype == np.float64
            np.testing.assert_allclose(float(got), want, rtol=1e-12)
        assert_same_training(a, oa, b, ob, rtol=1e-11, atol=1e-14)


def test_params_and_state_are_views_of_the_flat_buffers(tmp_path):
    from mitbadak.files.modelfile import load_model, save_model

    (a, b), (oa, ob) = pair("relu", "adam")
    step = FusedStep(b, ob, kernels=reference_kernels())
    assert step.P.shape == (sum(v.size for v in b.params.values()),)
    assert list(b.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]  # the net's order is kept
    for key, value in b.params.items():
        assert np.shares_memory(value, step.P) and value is step.p[key]
        assert np.shares_memory(ob.m[key], step.state["m"])
        assert np.shares_memory(ob.v[key], step.state["v"])
    n_weights = sum(b.params[f"W{i}"].size for i in (1, 2, 3))
    assert np.shares_memory(b.params["W3"], step.P[:n_weights])  # weights first, then biases
    assert not np.shares_memory(b.params["b1"], step.P[:n_weights])
    for i in (1, 2, 3):  # the layers use the same arrays
        assert b.layers[f"Affine{i}"].W is b.params[f"W{i}"]
        assert b.layers[f"Affine{i}"].b is b.params[f"b{i}"]
    x, t = data()
    step(x[:32], t[:32])
    np.testing.assert_array_equal(b.scores(x), b.forward_layers(x))  # the layers see the update
    saved = load_model(save_model(tmp_path / "m.npz", b))
    for key, value in b.params.items():
        np.testing.assert_array_equal(saved.params[key], value)
    state = ob.state_dict()
    step.state["m"][:] = 0  # state_dict() is a snapshot, not a view
    assert np.abs(state["m/W1"]).max() > 0


def test_state_loaded_before_the_step_is_kept():
    x, t = data()
    (a, b), (oa, ob) = pair("relu", "momentum")
    for sl in batches():
        readable_step(a, oa, x[sl], t[sl])
    b.set_params(a.params)
    ob.load_state_dict(oa.state_dict())  # a resumed run: host state, then the fused step
    step = FusedStep(b, ob, kernels=reference_kernels())
    for sl in batches():
        np.testing.assert_allclose(float(step(x[sl], t[sl])), readable_step(a, oa, x[sl], t[sl]),
                                   rtol=1e-5)  # fmt: skip
    assert_same_training(a, oa, b, ob)


def test_params_or_state_replaced_from_outside_are_packed_again():
    x, t = data()
    (a, b), (oa, ob) = pair("tanh", "adagrad")
    step = FusedStep(b, ob, kernels=reference_kernels())
    for sl in batches():
        readable_step(a, oa, x[sl], t[sl])
        step(x[sl], t[sl])
    fresh = MultiLayerNet(12, [10, 8], 4, activation="tanh", seed=7, dtype=np.float32)
    a.set_params(fresh.params)
    b.set_params(fresh.params)  # new arrays: the step notices and packs them
    oa.load_state_dict({})
    ob.load_state_dict({})
    for sl in batches():
        want = readable_step(a, oa, x[sl], t[sl])
        np.testing.assert_allclose(float(step(x[sl], t[sl])), want, rtol=1e-5)
    assert_same_training(a, oa, b, ob)
    assert np.shares_memory(b.params["W1"], step.P)


def test_step_indices_gathers_into_static_buffers():
    x, t = data()
    (a, b), (oa, ob) = pair("relu", "sgd")
    step = FusedStep(b, ob, kernels=reference_kernels())
    order = np.random.default_rng(3).permutation(100)
    for sl in batches():
        idx = order[sl]
        want = readable_step(a, oa, x[idx], t[idx])
        np.testing.assert_allclose(float(step.step_indices(x, t, idx)), want, rtol=1e-5)
        bufs = step.buffers(len(idx))
        np.testing.assert_array_equal(bufs.x, x[idx])
        np.testing.assert_array_equal(bufs.t, t[idx])
    assert_same_training(a, oa, b, ob)


def test_labels_and_inputs_of_other_dtypes_are_converted():
    x, t = data()
    (a, b), (oa, ob) = pair("relu", "sgd")
    step = FusedStep(b, ob, kernels=reference_kernels())
    want = readable_step(a, oa, x[:32], t[:32])
    got = step(x[:32].astype(np.float64), t[:32].astype(np.int32))
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    assert_same_training(a, oa, b, ob)


def test_supports_fused_says_which_pairs_the_step_computes_exactly():
    net = MultiLayerNet(12, [10], 4, seed=0, dtype=np.float32)
    for name in LRS:
        assert supports_fused(net, make_optimizer(name))
    assert supports_fused(TwoLayerNet(12, 5, 4, seed=0), Momentum())  # sigmoid, float64

    class MyMomentum(Momentum):  # a subclass may change the update: not assumed
        pass

    assert not supports_fused(net, MyMomentum())
    assert not supports_fused(SimpleNet(seed=0), SGD())
    assert not supports_fused(MultiLayerNet(12, [10], 4, seed=0, dtype=np.float16), Adam())
    with pytest.raises(ValueError, match="supports_fused"):
        FusedStep(SimpleNet(seed=0), SGD(), kernels=reference_kernels())


def test_packing_onto_a_strict_device_binds_device_views_into_the_net():
    """FusedStep(xp=device) moves host params and state once and binds device views, also where
    the net's public setter refuses device arrays (tests/strict_xp.py refuses as CuPy does)."""
    import strict_xp

    from mitbadak.core.backend import to_host

    (a, b), (oa, ob) = pair("relu", "adam")
    x, t = data()
    for sl in batches():
        readable_step(a, oa, x[sl], t[sl])
    b.set_params(a.params)
    ob.load_state_dict(oa.state_dict())
    step = FusedStep(b, ob, kernels=reference_kernels(), xp=strict_xp)  # packs; no step run
    assert isinstance(step.P, strict_xp.StrictArray)
    for key, value in b.params.items():
        assert value is step.p[key] and isinstance(value, strict_xp.StrictArray)
        np.testing.assert_array_equal(to_host(value), a.params[key])
    for i in (1, 2, 3):
        assert b.layers[f"Affine{i}"].W is b.params[f"W{i}"]
    step.P -= 1.0  # one buffer behind every parameter
    np.testing.assert_array_equal(to_host(b.params["b2"]), a.params["b2"] - np.float32(1))
    state = ob.state_dict()
    assert int(state["t"]) == 4
    for key, value in oa.state_dict().items():
        np.testing.assert_array_equal(to_host(state[key]), value, err_msg=key)


def colmajor(mem: np.ndarray, rows: int, cols: int, ld: int) -> np.ndarray:
    """The memory of C-contiguous ``mem`` read as cuBLAS reads it: a column-major (rows, cols)
    matrix with leading dimension ``ld`` (a writeable view)."""
    flat = mem.reshape(-1)
    assert (cols - 1) * ld + rows <= flat.size and ld >= rows
    return np.lib.stride_tricks.as_strided(
        flat, shape=(rows, cols), strides=(flat.itemsize, ld * flat.itemsize)
    )


def cublas_gemm_on_numpy(op_a, op_b, m, n, k, A, lda, B, ldb, C, ldc) -> None:
    """cuBLAS's gemm in its own (column-major) terms: C (m, n) = op(A) (m, k) . op(B) (k, n)."""
    a = colmajor(A, m, k, lda) if op_a == "N" else colmajor(A, k, m, lda).T
    b = colmajor(B, k, n, ldb) if op_b == "N" else colmajor(B, n, k, ldb).T
    colmajor(C, m, n, ldc)[...] = a @ b


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_scores_equal_the_layer_path(activation, dtype):
    """Inference in 2 launches a layer (what net.scores runs on CuPy), here on the references."""
    from mitbadak.devices.fused_step import fused_scores

    net = MultiLayerNet(12, [16, 8], 3, activation=activation, seed=3, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((7, 12)).astype(dtype)
    want = net.forward_layers(x)
    got = fused_scores(net, x, kernels=reference_kernels())
    assert got.dtype == dtype and got.shape == (7, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_gemm_plan_gives_cublas_the_row_major_product():
    from mitbadak.devices.fused_step import gemm_plan

    rng = np.random.default_rng(2)
    for m, k, n in [(32, 12, 10), (1, 5, 3), (7, 1, 4), (100, 784, 256)]:
        base = {
            "a": rng.standard_normal((m, k)), "aT": rng.standard_normal((k, m)),
            "b": rng.standard_normal((k, n)), "bT": rng.standard_normal((n, k)),
        }  # fmt: skip
        for a in (base["a"], base["aT"].T):  # a batch (x . W) or a transposed one (h^T . d)
            for b in (base["b"], base["bT"].T):  # a weight or a transposed one (d . W^T)
                c = np.full((m, n), np.nan)
                plan = gemm_plan(a, b, c)
                assert plan[-2] is c and plan[2:5] == (n, m, k)
                cublas_gemm_on_numpy(*plan)
                np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cannot write"):
        gemm_plan(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="b must be"):
        gemm_plan(np.zeros((2, 3)), np.zeros((6, 8))[::2, ::2], np.zeros((2, 4)))


class NumpyCublas:
    """The direct-cuBLAS path of FusedStep with cuBLAS emulated on NumPy (``wrong`` swaps the
    operand order, as a mistaken plan would)."""

    def __init__(self, wrong: bool = False) -> None:
        self.wrong, self.begun, self.bound = wrong, 0, 0

    def begin(self) -> None:
        self.begun += 1

    def bind(self, a, b, c):
        import functools

        from mitbadak.devices.fused_step import gemm_plan

        plan = list(gemm_plan(a, b, c))
        if self.wrong:
            plan[0], plan[1] = plan[1], plan[0]  # transposes swapped: a wrong product
        self.bound += 1
        return functools.partial(cublas_gemm_on_numpy, *plan)


@pytest.mark.parametrize("wrong", [False, True])
def test_direct_gemm_path_trains_as_the_layers_or_falls_back(wrong):
    x, t = data()
    (a, b), (oa, ob) = pair("sigmoid", "momentum", lam=0.01)
    step = FusedStep(b, ob, kernels=reference_kernels())
    assert step.blas == "matmul"  # NumPy: no cuBLAS
    fake = step._gemm = NumpyCublas(wrong)  # what _CublasGemm does on CuPy, emulated
    step.blas = "cublas"
    for _ in range(2):
        for sl in batches():
            want = readable_step(a, oa, x[sl], t[sl])
            np.testing.assert_allclose(float(step(x[sl], t[sl])), want, rtol=1e-5)
    assert_same_training(a, oa, b, ob)
    if wrong:  # the check at the first batch of each size caught it; matmul did the work
        assert step.blas == "matmul" and "failed its check" in step.blas_note
        assert step._gemm is None
    else:
        assert step.blas == "cublas" and fake.begun == 8 + 2  # each step, and each size's check
        assert fake.bound == 2 * (3 + 3 + 2) * 2  # 8 products per size: checked, then planned


def test_blas_choice_is_checked():
    (a, _), (oa, _) = pair()
    with pytest.raises(ValueError, match="blas must be"):
        FusedStep(a, oa, kernels=reference_kernels(), blas="fast")


# --- on a GPU: the CuPy kernels in the same step -------------------------------------------------

_GPU, _GPU_WHY = gpu_status()


@pytest.mark.skipif(
    not _GPU,
    reason=f"GPU-only: {_GPU_WHY} (expected on CPU machines and under CI, which has no GPU; "
    "the same step runs on NumPy in the tests above)",
)
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_fused_step_on_cupy_equals_the_numpy_step(optimizer, activation):  # pragma: no cover
    import cupy as cp

    from mitbadak.core.backend import to_device, to_host

    x, t = data()
    (a, b), (oa, ob) = pair(activation, optimizer, lam=0.01)
    cpu = FusedStep(a, oa, kernels=reference_kernels())
    for key, value in to_device(dict(b.params), cp).items():
        dict.__setitem__(b.params, key, value)  # a device network (whatever net.to() becomes)
    gpu = FusedStep(b, ob)  # the CuPy kernels
    assert b.params["W1"] is gpu.p["W1"] and b.layers["Affine1"].W is gpu.p["W1"]
    xd, td = cp.asarray(x), cp.asarray(t, dtype=cp.int64)
    losses = []
    for _ in range(2):
        for sl in batches():
            want = float(cpu(x[sl], t[sl]))
            losses.append(gpu(xd[sl], td[sl]))
            np.testing.assert_allclose(float(losses[-1]), want, rtol=1e-4)
    for key in a.params:
        np.testing.assert_allclose(to_host(b.params[key]), a.params[key], rtol=1e-4, atol=1e-5)
    for key, value in ob.state_dict().items():
        np.testing.assert_allclose(to_host(value), oa.state_dict()[key], rtol=1e-4, atol=1e-5)


# --- TorchGraphStep: the same math on PyTorch tensors (uncaptured on the CPU) --------------------

try:  # the FusedStep tests above do not need torch; these skip without it
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(
    torch is None, reason="needs PyTorch (installed on its own: pip install torch)"
)
_CUDA = torch is not None and torch.cuda.is_available()


def torch_step(net, opt, **kwargs):
    from mitbadak.devices.fused_step import TorchGraphStep

    return TorchGraphStep(net, opt, device="cpu", **kwargs)


@needs_torch
@pytest.mark.parametrize(
    "activation, optimizer, lam",
    [("relu", "sgd", 0.0), ("relu", "momentum", 0.0), ("relu", "adagrad", 0.05),
     ("relu", "adam", 0.0), ("sigmoid", "adam", 0.05), ("tanh", "momentum", 0.05),
     ("sigmoid", "adagrad", 0.0), ("tanh", "sgd", 0.0)],
)  # fmt: skip
def test_torch_step_uncaptured_trains_as_the_layers(activation, optimizer, lam):
    x, t = data()
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    (a, b), (oa, ob) = pair(activation, optimizer, lam=lam)
    start = {k: v.copy() for k, v in b.params.items()}
    step = torch_step(b, ob)
    want, got = [], []
    for _ in range(2):
        for sl in batches():
            want.append(readable_step(a, oa, x[sl], t[sl]))
            loss = step(xt[sl], tt[sl])
            assert isinstance(loss, torch.Tensor) and loss.shape == ()
            got.append(float(loss))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    for key in start:  # the host arrays wait for write_back
        np.testing.assert_array_equal(b.params[key], start[key])
    held = b.params["W1"]
    step.write_back()
    assert b.params["W1"] is held  # written in place: the layers keep their arrays
    assert_same_training(a, oa, b, ob, rtol=1e-5, atol=5e-7)
    if optimizer == "adam":
        assert ob.t == 8 and ob.state_dict()["t"] == 8


@needs_torch
def test_torch_step_follows_a_changed_learning_rate_and_gathers_indices():
    x, t = data()
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    (a, b), (oa, ob) = pair("relu", "momentum")
    step = torch_step(b, ob)
    order = np.random.default_rng(5).permutation(100)
    for epoch in range(2):
        if epoch == 1:
            oa.lr = ob.lr = 0.02  # a schedule: the device scalar follows
        for sl in batches():
            idx = order[sl]
            want = readable_step(a, oa, x[idx], t[idx])
            got = step.step_indices(xt, tt, torch.from_numpy(idx))
            np.testing.assert_allclose(float(got), want, rtol=1e-5)
    step.write_back()
    assert_same_training(a, oa, b, ob, rtol=1e-5, atol=5e-7)


@needs_torch
def test_torch_graph_capture_without_cuda_is_a_device_error():
    from mitbadak.core.backend import DeviceError
    from mitbadak.devices.fused_step import TorchGraphStep

    (a, _), (oa, _) = pair()
    with pytest.raises(DeviceError, match="CUDA"):
        TorchGraphStep(a, oa, device="cpu", capture=True)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="torch.cuda.is_available"):
            TorchGraphStep(a, oa)  # the default: device="cuda", captured
    with pytest.raises(ValueError, match="supports_fused"):
        TorchGraphStep(SimpleNet(seed=0), SGD(), device="cpu")


@pytest.mark.skipif(
    not _CUDA,
    reason="needs PyTorch with a CUDA GPU (expected on CPU machines and under CI, which has no "
    "GPU; the uncaptured body is tested above on CPU tensors)",
)
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_torch_graph_step_on_cuda_trains_as_the_layers(optimizer):  # pragma: no cover - CUDA
    from mitbadak.devices.fused_step import TorchGraphStep

    x, t = data()
    xt, tt = torch.from_numpy(x).cuda(), torch.from_numpy(t).cuda()
    (a, b), (oa, ob) = pair("relu", optimizer, lam=0.01)
    step = TorchGraphStep(b, ob)  # captured
    for _ in range(3):
        for sl in batches():  # the last batch of 4 rows gets its own graph
            want = readable_step(a, oa, x[sl], t[sl])
            np.testing.assert_allclose(float(step(xt[sl], tt[sl])), want, rtol=1e-4)
    assert sorted(step._graphs) == [4, 32]
    step.write_back()
    assert_same_training(a, oa, b, ob, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not _GPU, reason=f"GPU-only: {_GPU_WHY} (expected without a GPU)")
def test_direct_cublas_passes_its_check_on_the_gpu():  # pragma: no cover - needs a GPU
    import cupy as cp

    (a, b), (oa, ob) = pair("relu", "momentum")
    x, t = data()
    strict = FusedStep(b, ob, xp=cp, blas="cublas")  # raises instead of falling back
    for sl in batches():
        want = readable_step(a, oa, x[sl], t[sl])
        got = strict(cp.asarray(x[sl]), cp.asarray(t[sl]))
        np.testing.assert_allclose(float(got), want, rtol=1e-4)
    assert strict.blas == "cublas", strict.blas_note
