"""The fused GPU kernels' NumPy references against mitbadak's layers and optimizers (always, CPU),
and the CuPy kernels against the references (only where CuPy finds a CUDA GPU).

CI has no GPU, so the CuPy half skips there by design: that skip is expected and is not a missing
system package. The device path without a GPU is exercised through tests/strict_xp.py instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.core.backend import gpu_status
from mitbadak.devices.cuda_kernels import (
    bias_relu_ref,
    bias_sigmoid_ref,
    flat_buffer,
    momentum_update_ref,
    relu_backward_ref,
    sgd_update_ref,
    sigmoid_backward_ref,
    softmax_ce_grad_ref,
)
from mitbadak.nn.layers import ACTIVATIONS, Affine, Relu, Sigmoid, SoftmaxWithLoss
from mitbadak.nn.optimizers import OPTIMIZERS, SGD, Momentum


def batch(dtype, n=16, d=12, h=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((d, h)) * 0.8).astype(dtype)
    b = rng.standard_normal(h).astype(dtype)
    return x, W, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_and_its_backward_equal_affine_then_relu(dtype):
    x, W, b = batch(dtype)
    relu = Relu()
    want = relu.forward(Affine(W, b).forward(x))
    got = bias_relu_ref(x @ W, b)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    assert (got == 0).any() and (got > 0).any()  # both branches taken
    dout = np.random.default_rng(1).standard_normal(got.shape).astype(dtype)
    np.testing.assert_array_equal(relu_backward_ref(dout, got), relu.backward(dout))
    out = np.empty_like(dout)
    assert relu_backward_ref(dout, got, out=out) is out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_sigmoid_and_its_backward_equal_affine_then_sigmoid(dtype):
    x, W, b = batch(dtype)
    x[0, :] = 40  # saturated rows: the two-sided form must not overflow
    x[1, :] = -40
    sig = Sigmoid()
    want = sig.forward(Affine(W, b).forward(x))
    with np.errstate(all="raise"):
        got = bias_sigmoid_ref(x @ W, b)
    assert got.dtype == dtype
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(got, want, rtol=tol, atol=0)
    dout = np.random.default_rng(2).standard_normal(got.shape).astype(dtype)
    np.testing.assert_allclose(
        sigmoid_backward_ref(dout, got), sig.backward(dout), rtol=4 * tol, atol=1e-300
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_ce_grad_equals_softmax_with_loss(dtype):
    rng = np.random.default_rng(3)
    scores = (rng.standard_normal((32, 10)) * 5).astype(dtype)
    scores[0] = 1000  # exp would overflow without the shift
    t = rng.integers(0, 10, 32)
    layer = SoftmaxWithLoss()
    loss = layer.forward(scores, t)
    dx_want = layer.backward()
    dx, row_losses = softmax_ce_grad_ref(scores, t)
    assert dx.dtype == dtype and row_losses.shape == (32,)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(row_losses.mean(), loss, rtol=tol)
    np.testing.assert_allclose(row_losses[0], np.log(10), rtol=tol)  # ten equal scores
    np.testing.assert_allclose(dx, dx_want, rtol=tol, atol=tol / 32)
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=tol)


def network_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"W1": (20, 8), "b1": (8,), "W2": (8, 3), "b2": (3,)}
    return {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}


def test_flat_buffer_views_share_one_buffer():
    params = network_params(np.float32)
    buffer, views = flat_buffer(params)
    assert buffer.shape == (20 * 8 + 8 + 8 * 3 + 3,) and buffer.dtype == np.float32
    for key, value in params.items():
        np.testing.assert_array_equal(views[key], value)
        assert np.shares_memory(views[key], buffer) and views[key].shape == value.shape
    buffer += 1
    np.testing.assert_array_equal(views["b2"], params["b2"] + 1)
    with pytest.raises(ValueError, match="one dtype"):
        flat_buffer({"a": np.zeros(2, np.float32), "b": np.zeros(2)})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_sgd_and_momentum_equal_the_optimizers(dtype):
    params = network_params(dtype)
    steps = [network_params(dtype, seed=s) for s in (10, 11, 12)]  # three steps' gradients
    for name, optimizer in [("sgd", SGD(lr=0.05)), ("momentum", Momentum(lr=0.05, momentum=0.9))]:
        mine = {k: v.copy() for k, v in params.items()}
        p, p_views = flat_buffer(params)
        v = np.zeros_like(p)
        for grads in steps:
            optimizer.update(mine, grads)
            g, _ = flat_buffer(grads)
            if name == "sgd":
                sgd_update_ref(p, g, 0.05)
            else:
                momentum_update_ref(p, g, v, 0.05, 0.9)
        for key in params:
            assert p_views[key].dtype == dtype
            np.testing.assert_array_equal(p_views[key], mine[key], err_msg=f"{name} {key}")
            assert not np.array_equal(mine[key], params[key])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_adagrad_and_adam_equal_the_optimizers_bit_for_bit(dtype):
    from mitbadak.devices.cuda_kernels import adagrad_update_ref, adam_lr_t, adam_update_ref
    from mitbadak.nn.optimizers import AdaGrad, Adam

    params = network_params(dtype)
    steps = [network_params(dtype, seed=s) for s in (20, 21, 22, 23)]
    for name, optimizer in [("adagrad", AdaGrad(lr=0.05)), ("adam", Adam(lr=0.01, beta2=0.99))]:
        mine = {k: v.copy() for k, v in params.items()}
        p, p_views = flat_buffer(params)
        s1, s2 = np.zeros_like(p), np.zeros_like(p)
        for t, grads in enumerate(steps, start=1):
            optimizer.update(mine, grads)
            g, _ = flat_buffer(grads)
            if name == "adagrad":
                adagrad_update_ref(p, g, s1, 0.05)
            else:
                lr_t = adam_lr_t(0.01, 0.9, 0.99, t)
                adam_update_ref(p, g, s1, s2, lr_t, 1 - 0.9, 1 - 0.99)
        state = optimizer.state_dict()
        for key in params:
            assert p_views[key].dtype == dtype
            np.testing.assert_array_equal(p_views[key], mine[key], err_msg=f"{name} {key}")
            assert not np.array_equal(mine[key], params[key])
        first = "h" if name == "adagrad" else "m"
        offset = 0
        for key, value in params.items():  # the state buffers hold the optimizer's state too
            np.testing.assert_array_equal(
                s1[offset : offset + value.size].reshape(value.shape), state[f"{first}/{key}"]
            )
            if name == "adam":
                np.testing.assert_array_equal(
                    s2[offset : offset + value.size].reshape(value.shape), state[f"v/{key}"]
                )
            offset += value.size
    assert int(state["t"]) == 4


def test_adam_lr_t_is_the_bias_corrected_step():
    from mitbadak.devices.cuda_kernels import adam_lr_t

    assert adam_lr_t(0.001, 0.9, 0.999, 1) == pytest.approx(0.001 * np.sqrt(0.001) / 0.1)
    assert adam_lr_t(0.001, 0.9, 0.999, 10_000) == pytest.approx(0.001, rel=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_tanh_and_its_backward_equal_affine_then_tanh(dtype):
    from mitbadak.devices.cuda_kernels import bias_tanh_ref, tanh_backward_ref
    from mitbadak.nn.layers import Tanh

    x, W, b = batch(dtype)
    layer = Tanh()
    want = layer.forward(Affine(W, b).forward(x))
    got = bias_tanh_ref(x @ W, b)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    dout = np.random.default_rng(8).standard_normal(got.shape).astype(dtype)
    np.testing.assert_array_equal(tanh_backward_ref(dout, got), layer.backward(dout))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_softmax_ce_equals_the_last_affine_and_softmax_with_loss(dtype):
    from mitbadak.devices.cuda_kernels import bias_softmax_ce_ref

    rng = np.random.default_rng(9)
    h = rng.standard_normal((40, 6)).astype(dtype)
    W = rng.standard_normal((6, 10)).astype(dtype)
    b = (rng.standard_normal(10) * 3).astype(dtype)
    t = rng.integers(0, 10, 40)
    layer = SoftmaxWithLoss()
    want_loss = layer.forward(Affine(W, b).forward(h), t)
    want_dx = layer.backward()
    z = h @ W
    before = z.copy()
    dx, loss = np.empty_like(z), np.empty((), dtype=dtype)
    assert bias_softmax_ce_ref(z, b, t, dx, loss) is loss
    np.testing.assert_array_equal(z, before)  # the scores without the bias are left alone
    tol = 2e-6 if dtype == np.float32 else 1e-13
    assert loss.shape == () and loss.dtype == dtype
    np.testing.assert_allclose(float(loss), want_loss, rtol=tol)
    np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol / 40)


def test_weight_decay_ref_adds_the_l2_gradient():
    from mitbadak.devices.cuda_kernels import weight_decay_ref

    g, p = network_params(np.float32)["W1"], network_params(np.float32, seed=3)["W1"]
    want = g + 0.01 * p
    assert weight_decay_ref(g, p, 0.01) is g
    np.testing.assert_array_equal(g, want)


def test_reference_kernels_cover_every_kernel_the_fused_step_names():
    from mitbadak.devices.cuda_kernels import KERNEL_SOURCES, reference_kernels
    from mitbadak.devices.fused_step import ACTIVATION_KERNELS

    names = set(reference_kernels())
    assert set(KERNEL_SOURCES) | {"softmax_ce_grad", "bias_softmax_ce"} == names
    assert {n for pair in ACTIVATION_KERNELS.values() for n in pair} <= names


def test_new_optimizer_kernel_bodies_round_every_operation():
    from mitbadak.devices.cuda_kernels import rounded_body

    adam = rounded_body("adam_update", "float32")
    assert "__fsqrt_rn(nv)" in adam and "__fdiv_rn(__fmul_rn((T)lr_t, nm)" in adam
    ada = rounded_body("adagrad_update", "float64")
    assert "__dadd_rn(h_in, __dmul_rn(g, g))" in ada and "__dsqrt_rn(nh)" in ada
    assert rounded_body("weight_decay", "float32") == "g = __fadd_rn(g_in, __fmul_rn((T)lam, p));"
    for body in (adam, ada):
        assert not any(m in body for m in ("MUL(", "SUB(", "ADD(", "DIV(", "SQRT("))


def load_script(relative: str, name: str):
    """A script of the repository (not a package module) imported from its path."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_cuda_check():
    return load_script("scripts/check_cuda_sources.py", "check_cuda_sources")


def test_cuda_source_wraps_every_kernel_for_both_dtypes():
    from mitbadak.devices.cuda_kernels import KERNEL_SOURCES

    source = load_cuda_check().cuda_source()
    for name in KERNEL_SOURCES:
        for ctype in ("float", "double"):
            assert f"void check_{name}_{ctype}(" in source
    for ctype in ("float", "double"):
        assert f"mitbadak_softmax_ce_grad_{ctype}(" in source
        assert f"mitbadak_bias_softmax_ce_{ctype}(" in source
    assert "MUL(" not in source and "SQRT(" not in source


@pytest.mark.skipif(
    __import__("shutil").which("nvcc") is None,
    reason="needs nvcc (a CUDA toolkit; no GPU needed) to compile the kernel sources to PTX; "
    "expected where no CUDA toolkit is installed, CI included",
)
def test_cuda_sources_compile_with_nvcc(capsys):  # pragma: no cover - needs nvcc
    from mitbadak.devices.cuda_kernels import kernel_sources

    assert load_cuda_check().main() == 0
    # two dtypes of every generated kernel, and the two softmax RawKernels per dtype
    assert f"{2 * len(kernel_sources()) + 4} kernels compiled to PTX" in capsys.readouterr().out


# --- the CuPy kernels (GPU-only) -----------------------------------------------------------------

_GPU, _GPU_WHY = gpu_status()
gpu_only = pytest.mark.skipif(
    not _GPU,
    reason=f"GPU-only: {_GPU_WHY} (expected on CPU machines and under CI, which has no GPU; "
    "not a missing system package: the device path runs on tests/strict_xp.py instead)",
)


@gpu_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_kernels_equal_their_references(dtype):  # pragma: no cover - needs a GPU
    import cupy as cp

    from mitbadak.devices.cuda_kernels import cupy_kernels

    k = cupy_kernels()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x, W, b = batch(dtype, n=100, d=30, h=17)
    z = x @ W
    dz, db = cp.asarray(z), cp.asarray(b)
    k["bias_relu"](dz, db, dz)
    y = bias_relu_ref(z.copy(), b)
    np.testing.assert_allclose(cp.asnumpy(dz), y, rtol=tol)
    dout = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    dx = cp.empty_like(dz)
    k["relu_backward"](cp.asarray(dout), dz, dx)
    np.testing.assert_array_equal(cp.asnumpy(dx), relu_backward_ref(dout, y))

    ds = cp.asarray(z)
    k["bias_sigmoid"](ds, db, ds)
    s = bias_sigmoid_ref(z.copy(), b)
    np.testing.assert_allclose(cp.asnumpy(ds), s, rtol=tol)
    k["sigmoid_backward"](cp.asarray(dout), cp.asarray(s), dx)
    np.testing.assert_allclose(cp.asnumpy(dx), sigmoid_backward_ref(dout, s), rtol=tol, atol=tol)

    scores = (np.random.default_rng(6).standard_normal((100, 10)) * 4).astype(dtype)
    t = np.random.default_rng(7).integers(0, 10, 100)
    dsm, dloss = cp.empty((100, 10), dtype=dtype), cp.empty(100, dtype=dtype)
    k["softmax_ce_grad"](cp.asarray(scores), cp.asarray(t, dtype=cp.int64), dsm, dloss)
    want_dx, want_loss = softmax_ce_grad_ref(scores, t)
    np.testing.assert_allclose(cp.asnumpy(dsm), want_dx, rtol=tol, atol=tol / 100)
    np.testing.assert_allclose(cp.asnumpy(dloss), want_loss, rtol=tol)

    params, grads = network_params(dtype), network_params(dtype, seed=9)
    p, _ = flat_buffer(params)
    g, _ = flat_buffer(grads)
    dp, dg, dv = cp.asarray(p), cp.asarray(g), cp.zeros(p.shape, dtype=dtype)
    v = np.zeros_like(p)
    for _ in range(3):
        k["momentum_update"](dp, dg, dv, 0.05, 0.9)
        momentum_update_ref(p, g, v, 0.05, 0.9)
    np.testing.assert_array_equal(cp.asnumpy(dp), p)  # rounded as NumPy rounds: bit-exact
    np.testing.assert_array_equal(cp.asnumpy(dv), v)
    k["sgd_update"](dp, dg, 0.05)
    sgd_update_ref(p, g, 0.05)
    np.testing.assert_array_equal(cp.asnumpy(dp), p)


@gpu_only
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_cupy_kernels_equal_their_references(dtype):  # pragma: no cover - needs a GPU
    import cupy as cp

    from mitbadak.devices.cuda_kernels import (
        adagrad_update_ref,
        adam_lr_t,
        adam_update_ref,
        bias_softmax_ce_ref,
        bias_tanh_ref,
        cupy_kernels,
        tanh_backward_ref,
        weight_decay_ref,
    )

    k = cupy_kernels()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x, W, b = batch(dtype, n=100, d=30, h=17)
    z = x @ W
    dz = cp.asarray(z)
    k["bias_tanh"](dz, cp.asarray(b), dz)
    y = bias_tanh_ref(z.copy(), b)
    np.testing.assert_allclose(cp.asnumpy(dz), y, rtol=tol, atol=tol)
    dout = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    dx = cp.empty_like(dz)
    k["tanh_backward"](cp.asarray(dout), cp.asarray(y), dx)
    np.testing.assert_allclose(cp.asnumpy(dx), tanh_backward_ref(dout, y), rtol=tol, atol=tol)

    for n in (1, 100, 300, 1000):  # fewer rows than threads, and several rows per thread
        rng = np.random.default_rng(n)
        s = (rng.standard_normal((n, 10)) * 4).astype(dtype)
        bias = rng.standard_normal(10).astype(dtype)
        t = rng.integers(0, 10, n)
        want_dx, want_loss = np.empty_like(s), np.empty((), dtype=dtype)
        bias_softmax_ce_ref(s, bias, t, want_dx, want_loss)
        ddx, dloss = cp.empty((n, 10), dtype=dtype), cp.empty((), dtype=dtype)
        k["bias_softmax_ce"](cp.asarray(s), cp.asarray(bias), cp.asarray(t, dtype=cp.int64),
                             ddx, dloss)  # fmt: skip
        np.testing.assert_allclose(cp.asnumpy(ddx), want_dx, rtol=tol, atol=tol / n)
        np.testing.assert_allclose(float(dloss), float(want_loss), rtol=tol)

    params, grads = network_params(dtype), network_params(dtype, seed=9)
    p, _ = flat_buffer(params)
    g, _ = flat_buffer(grads)
    dp, dg = cp.asarray(p), cp.asarray(g)
    h = np.zeros_like(p)
    dh = cp.zeros_like(dp)
    for _ in range(3):
        k["adagrad_update"](dp, dg, dh, 0.05)
        adagrad_update_ref(p, g, h, 0.05)
    np.testing.assert_array_equal(cp.asnumpy(dp), p)  # rounded as NumPy rounds: bit-exact
    np.testing.assert_array_equal(cp.asnumpy(dh), h)
    m, v = np.zeros_like(p), np.zeros_like(p)
    dm, dv = cp.zeros_like(dp), cp.zeros_like(dp)
    for t in range(1, 4):
        lr_t = adam_lr_t(0.01, 0.9, 0.999, t)
        k["adam_update"](dp, dg, dm, dv, lr_t, 1 - 0.9, 1 - 0.999)
        adam_update_ref(p, g, m, v, lr_t, 1 - 0.9, 1 - 0.999)
    np.testing.assert_array_equal(cp.asnumpy(dp), p)
    np.testing.assert_array_equal(cp.asnumpy(dm), m)
    np.testing.assert_array_equal(cp.asnumpy(dv), v)
    k["weight_decay"](dg[:50], dp[:50], 0.01)
    weight_decay_ref(g[:50], p[:50], 0.01)
    np.testing.assert_array_equal(cp.asnumpy(dg), g)


def test_flat_buffer_on_the_strict_device():
    import strict_xp

    from mitbadak.core.backend import to_device, to_host

    params = network_params(np.float32)
    buffer, views = flat_buffer(to_device(params, strict_xp), strict_xp)
    assert isinstance(buffer, strict_xp.StrictArray)
    buffer -= 0.5  # one update of the buffer reaches every view
    for key, value in params.items():
        np.testing.assert_array_equal(to_host(views[key]), value - np.float32(0.5))


def test_reference_kernels_have_the_cupy_signatures():
    from mitbadak.devices.cuda_kernels import reference_kernels

    k = reference_kernels()
    x, W, b = batch(np.float32)
    z = x @ W
    out = np.empty_like(z)
    k["bias_relu"](z, b, out)  # out of place leaves z alone
    np.testing.assert_array_equal(out, bias_relu_ref((x @ W), b))
    np.testing.assert_array_equal(z, x @ W)
    assert k["bias_relu"](z, b, z) is z
    np.testing.assert_array_equal(z, out)


def test_optimizer_kernel_bodies_round_every_operation():
    from mitbadak.devices.cuda_kernels import rounded_body

    assert rounded_body("sgd_update", "float32") == "p = __fsub_rn(p_in, __fmul_rn((T)lr, g));"
    body = rounded_body("momentum_update", "float64")
    assert "__dmul_rn((T)momentum, v_in)" in body and "__dadd_rn(p_in, nv)" in body
    assert "MUL(" not in body and "SUB(" not in body and "ADD(" not in body


def load_gpu_benchmark():
    return load_script("benchmarks/gpu.py", "bench_gpu")


def test_benchmark_fused_step_on_numpy_equals_the_plain_port():
    """The benchmark's fused step, run on the CPU through the references, trains as the plain."""
    from mitbadak.devices.cuda_kernels import reference_kernels

    bench = load_gpu_benchmark()
    rng = np.random.default_rng(4)
    x = rng.random((240, 20), dtype=np.float32)
    t = rng.integers(0, 3, 240)
    params = bench.he_params([20, 16, 8, 3], seed=1)
    start = {key: value.copy() for key, value in params.items()}
    fused_loss, fused = bench.mitbadak_fused(
        x, t, params, 30, 3, 0.05, 0.9, block=4, xp=np, kernels=reference_kernels()
    )
    plain_loss, plain = bench.cupy_plain(x, t, params, 30, 3, 0.05, 0.9, xp=np)
    assert np.isfinite(fused_loss) and np.isfinite(plain_loss)
    for key in params:
        assert fused[key].dtype == np.float32
        np.testing.assert_allclose(fused[key], plain[key], rtol=1e-4, atol=1e-6, err_msg=key)
        np.testing.assert_array_equal(params[key], start[key])  # the caller's arrays untouched
        assert np.abs(fused[key] - start[key]).max() > 1e-3  # it did train


def test_gpu_benchmark_exits_0_with_a_note_without_a_gpu(monkeypatch, capsys):
    bench = load_gpu_benchmark()
    monkeypatch.setattr(bench, "gpu_status", lambda: (False, "CuPy is not installed"))
    assert bench.main(["--epochs", "1"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == "gpu benchmark skipped: CuPy is not installed (it needs CuPy and a CUDA GPU)"
    params = bench.he_params(bench.sizes(large=False)[0], seed=1)
    assert [params[k].shape for k in ("W1", "W2", "W3")] == [(784, 256), (256, 128), (128, 10)]


def test_benchmark_torch_graph_step_uncaptured_on_cpu_equals_the_plain_port():
    """The benchmark's TorchGraphStep contender, uncaptured on CPU tensors, trains as the plain."""
    torch = pytest.importorskip("torch", reason="needs PyTorch (installed on its own)")
    bench = load_gpu_benchmark()
    rng = np.random.default_rng(4)
    x = rng.random((240, 20), dtype=np.float32)
    t = rng.integers(0, 3, 240)
    params = bench.he_params([20, 16, 8, 3], seed=1)
    loss, got = bench.mitbadak_torch_graph(
        torch.from_numpy(x), torch.from_numpy(t), params, 30, 3, 0.05, 0.9, block=4,
        device="cpu",
    )  # fmt: skip
    plain_loss, plain = bench.cupy_plain(x, t, params, 30, 3, 0.05, 0.9, xp=np)
    assert np.isfinite(loss) and np.isfinite(plain_loss)
    for key in params:
        assert got[key].dtype == np.float32
        np.testing.assert_allclose(got[key], plain[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_benchmark_trainer_contender_runs_mitbadaks_train_and_leaves_params_alone():
    """The 'mitbadak train' / 'mitbadak cpu' rows call mitbadak.train (here on the CPU)."""
    import strict_xp

    bench = load_gpu_benchmark()
    rng = np.random.default_rng(4)
    x = rng.random((240, 20), dtype=np.float32)
    t = rng.integers(0, 3, 240)
    params = bench.he_params([20, 16, 8, 3], seed=1)
    before = {k: v.copy() for k, v in params.items()}
    loss, got = bench.mitbadak_train(x, t, params, 30, 3, 0.05, 0.9, device="cpu")
    on_device, got_device = bench.mitbadak_train(x, t, params, 30, 3, 0.05, 0.9, device=strict_xp)
    assert np.isfinite(loss) and loss == pytest.approx(on_device, rel=1e-5)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])  # the caller's arrays untouched
        assert not np.array_equal(got[key], before[key]) or key.startswith("b")
        np.testing.assert_allclose(got_device[key], got[key], rtol=1e-4, atol=1e-6)


def run_body(ins: str, outs: str, body: str, arrays: dict, scalars: dict, dtype) -> dict:
    """Run an ElementwiseKernel's CUDA ``body`` on NumPy arrays, statement by statement.

    The body is translated, not reimplemented: ``(T)x`` becomes a cast to the dtype, ``T v = e``
    an assignment, ``c ? a : b`` ``where(c, a, b)``, and the rounding macros and intrinsics
    (``MUL``, ``__fmul_rn`` ...) NumPy's operations, one rounding each. Returns the outputs.
    """
    import re

    T = np.dtype(dtype).type
    ops = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply, "DIV": np.divide,
           "SQRT": np.sqrt}  # fmt: skip
    env = {"T": T, "exp": np.exp, "fabs": np.abs, "tanh": np.tanh, "log": np.log,
           "sqrt": np.sqrt, "where": np.where, "WHERE": np.where, "MAX": np.maximum,
           "MIN": np.minimum}  # fmt: skip
    for macro, fn in ops.items():
        env[macro] = fn
        env[f"__f{macro.lower()}_rn"] = env[f"__d{macro.lower()}_rn"] = fn
    names = {part.split()[1] for part in ins.split(",")}
    assert names == set(arrays) | set(scalars), body
    local = {**{k: np.array(v, copy=True) for k, v in arrays.items()}, **scalars}
    for statement in filter(None, (s.strip() for s in body.split(";"))):
        statement = re.sub(r"\(T\)([\w.\-]+)", r"T(\1)", statement)
        statement = re.sub(r"^T (\w+) =", r"\1 =", statement)
        statement = re.sub(r"^(\w+) = (.+?) \? (.+) : (.+)$", r"\1 = where(\2, \3, \4)", statement)
        with np.errstate(over="ignore", under="ignore"):
            exec(statement, env, local)  # noqa: S102 - our own kernel source, in a test
    return {part.split()[1]: local[part.split()[1]] for part in outs.split(",")}


def run_elementwise_body(name: str, arrays: dict, scalars: dict, dtype) -> dict:
    """``run_body`` of ``KERNEL_SOURCES[name]`` (with the macros, before per-dtype rounding)."""
    from mitbadak.devices.cuda_kernels import KERNEL_SOURCES

    ins, outs, body = KERNEL_SOURCES[name]
    return run_body(ins, outs, body, arrays, scalars, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_optimizer_bodies_compute_the_references_bit_for_bit(dtype):
    """The ElementwiseKernel bodies themselves (not only their references) equal the optimizers'
    arithmetic, one rounding per operation, on the CPU."""
    from mitbadak.devices.cuda_kernels import (
        adagrad_update_ref,
        adam_update_ref,
        weight_decay_ref,
    )

    rng = np.random.default_rng(11)
    p, g = rng.standard_normal(200).astype(dtype), rng.standard_normal(200).astype(dtype)
    s1 = np.abs(rng.standard_normal(200)).astype(dtype)
    s2 = np.abs(rng.standard_normal(200)).astype(dtype)

    out = run_elementwise_body("sgd_update", {"p_in": p, "g": g}, {"lr": 0.05}, dtype)
    np.testing.assert_array_equal(out["p"], sgd_update_ref(p.copy(), g, 0.05))
    out = run_elementwise_body(
        "momentum_update", {"p_in": p, "g": g, "v_in": s1}, {"lr": 0.05, "momentum": 0.9}, dtype
    )
    want_v = s1.copy()
    np.testing.assert_array_equal(out["p"], momentum_update_ref(p.copy(), g, want_v, 0.05, 0.9))
    np.testing.assert_array_equal(out["v"], want_v)
    out = run_elementwise_body("adagrad_update", {"p_in": p, "g": g, "h_in": s1}, {"lr": 0.05},
                               dtype)  # fmt: skip
    want_h = s1.copy()
    np.testing.assert_array_equal(out["p"], adagrad_update_ref(p.copy(), g, want_h, 0.05))
    np.testing.assert_array_equal(out["h"], want_h)
    out = run_elementwise_body(
        "adam_update", {"p_in": p, "g": g, "m_in": s1, "v_in": s2},
        {"lr_t": 0.003, "c1": 1.0 - 0.9, "c2": 1.0 - 0.999}, dtype,
    )  # fmt: skip
    want_m, want_v = s1.copy(), s2.copy()
    want_p = adam_update_ref(p.copy(), g, want_m, want_v, 0.003, 1 - 0.9, 1 - 0.999)
    for key, want in (("p", want_p), ("m", want_m), ("v", want_v)):
        np.testing.assert_array_equal(out[key], want, err_msg=key)
    out = run_elementwise_body("weight_decay", {"g_in": g, "p": p}, {"lam": 0.01}, dtype)
    np.testing.assert_array_equal(out["g"], weight_decay_ref(g.copy(), p, 0.01))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_activation_bodies_compute_the_references(dtype):
    from mitbadak.devices.cuda_kernels import bias_tanh_ref, tanh_backward_ref

    x, W, b = batch(dtype)
    x[0, :] = 40  # saturated rows for the sigmoid's two sides
    x[1, :] = -40
    z = x @ W
    dout = np.random.default_rng(12).standard_normal(z.shape).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-15
    cases = [
        ("bias_relu", bias_relu_ref, "relu_backward", relu_backward_ref),
        ("bias_sigmoid", bias_sigmoid_ref, "sigmoid_backward", sigmoid_backward_ref),
        ("bias_tanh", bias_tanh_ref, "tanh_backward", tanh_backward_ref),
    ]
    for forward, forward_ref, backward, backward_ref in cases:
        y = run_elementwise_body(forward, {"z": z, "b": b}, {}, dtype)["y"]
        want = forward_ref(z.copy(), b)
        assert y.dtype == dtype, forward
        np.testing.assert_allclose(y, want, rtol=tol, atol=tol, err_msg=forward)
        dx = run_elementwise_body(backward, {"dout": dout, "y": want}, {}, dtype)["dx"]
        np.testing.assert_allclose(dx, backward_ref(dout, want), rtol=4 * tol, atol=tol,
                                   err_msg=backward)  # fmt: skip


@pytest.fixture(scope="module")
def cpu_kernel_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("raw_kernels")  # g++ compiles once per module run


@pytest.mark.skipif(
    __import__("shutil").which("g++") is None,
    reason="needs g++ (C++20) to run the CUDA RawKernel sources on the CPU; expected where no C++ "
    "compiler is installed",
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_softmax_kernels_run_on_the_cpu_equal_their_references(dtype, cpu_kernel_dir):
    """The RawKernels' own source, compiled by g++ with a thread-per-CUDA-thread launcher (the
    block reduction and __syncthreads included), against the NumPy references."""
    from mitbadak.devices.cuda_kernels import bias_softmax_ce_ref

    check = load_cuda_check()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for n in (1, 100, 300, 1000):  # fewer rows than threads, and several rows per thread
        rng = np.random.default_rng(n)
        x = (rng.standard_normal((n, 10)) * 4).astype(dtype)
        x[0] = 1000  # exp would overflow without the shift
        b = rng.standard_normal(10).astype(dtype)
        t = rng.integers(0, 10, n)
        (dx, rows), (dx_head, loss) = check.run_raw_kernels_on_cpu(x, b, t, cpu_kernel_dir)
        want_dx, want_rows = softmax_ce_grad_ref(x + b, t)
        np.testing.assert_allclose(dx, want_dx, rtol=tol, atol=tol / n)
        np.testing.assert_allclose(rows, want_rows, rtol=tol, atol=tol)
        want_head, want_loss = np.empty_like(x), np.empty((), dtype=dtype)
        bias_softmax_ce_ref(x, b, t, want_head, want_loss)
        np.testing.assert_allclose(dx_head, want_head, rtol=tol, atol=tol / n)
        np.testing.assert_allclose(float(loss), float(want_loss), rtol=tol)


class FakeElementwiseKernel:
    """CuPy's ElementwiseKernel on NumPy: positional inputs then outputs, the body run by
    ``run_body`` (broadcast as CuPy broadcasts) and written into the given output arrays."""

    def __init__(self, ins: str, outs: str, body: str, name: str, preamble: str = "") -> None:
        self.ins = [tuple(p.split()) for p in ins.split(",")]
        self.outs = [tuple(p.split()) for p in outs.split(",")]
        self.body, self.name = body, name
        self.calls = 0

    def __call__(self, *args):
        assert len(args) == len(self.ins) + len(self.outs), self.name
        arrays, scalars = {}, {}
        for (typ, var), value in zip(self.ins, args, strict=False):
            if typ == "T":
                assert isinstance(value, np.ndarray), (self.name, var)
                arrays[var] = value
            else:
                assert isinstance(value, float | int) and not isinstance(value, bool), var
                scalars[var] = float(value)
        outputs = args[len(self.ins) :]
        dtype = outputs[0].dtype
        assert all(a.dtype == dtype for a in (*arrays.values(), *outputs)), self.name
        got = run_body(",".join(" ".join(p) for p in self.ins),
                       ",".join(" ".join(p) for p in self.outs), self.body, arrays, scalars, dtype)
        for (_, var), out in zip(self.outs, outputs, strict=True):
            out[...] = got[var]
        self.calls += 1


class FakeRawKernel:
    """CuPy's RawKernel for the two softmax kernels, checked for its launch and arguments and run
    through the references (their CUDA source runs on the CPU in the g++ test above)."""

    def __init__(self, source: str, name: str) -> None:
        self.name = name
        assert name in source

    def __call__(self, grid, block, args):
        from mitbadak.devices.cuda_kernels import (
            BIAS_SOFTMAX_CE_THREADS,
            bias_softmax_ce_ref,
            softmax_ce_grad_ref,
        )

        ctype = "float" if self.name.endswith("_float") else "double"
        want = np.float32 if ctype == "float" else np.float64
        *arrays, n, c = args
        assert isinstance(n, np.int64) and isinstance(c, np.int64)
        assert arrays[0].dtype == want and arrays[0].shape == (n, c)
        if "bias_softmax_ce" in self.name:
            assert grid == (1,) and block == (BIAS_SOFTMAX_CE_THREADS,)
            x, b, t, dx, loss = arrays
            assert t.dtype == np.int64 and loss.shape == () and b.shape == (c,)
            bias_softmax_ce_ref(x, b, t, dx, loss)
        else:
            x, t, dx, loss = arrays
            assert grid[0] * block[0] >= n and t.dtype == np.int64
            softmax_ce_grad_ref(x, t, dx, loss)


@pytest.fixture
def fake_cupy_kernels(monkeypatch):
    """``cupy_kernels()`` built against a fake ``cupy`` module (NumPy underneath)."""
    import sys
    import types

    from mitbadak.devices.cuda_kernels import cupy_kernels

    fake = types.SimpleNamespace(ElementwiseKernel=FakeElementwiseKernel, RawKernel=FakeRawKernel)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return cupy_kernels.__wrapped__()  # uncached: the real one stays for a real CuPy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_kernel_wrappers_pass_their_arguments_in_order(fake_cupy_kernels, dtype):
    """The Python wrappers of cupy_kernels() (argument order, per-dtype choice, scalars, in-place
    outputs), run through fake CuPy kernels, give what the references give, bit for bit."""
    from mitbadak.devices.cuda_kernels import reference_kernels

    k, ref = fake_cupy_kernels, reference_kernels()
    assert set(ref) <= set(k)
    rng = np.random.default_rng(13)
    p, g = rng.standard_normal(60).astype(dtype), rng.standard_normal(60).astype(dtype)
    s1, s2 = (np.abs(rng.standard_normal(60)).astype(dtype) for _ in range(2))
    calls = {
        "sgd_update": lambda kk, a: kk["sgd_update"](a[0], g, 0.05),
        "momentum_update": lambda kk, a: kk["momentum_update"](a[0], g, a[1], 0.05, 0.9),
        "adagrad_update": lambda kk, a: kk["adagrad_update"](a[0], g, a[1], 0.05),
        "adam_update": lambda kk, a: kk["adam_update"](a[0], g, a[1], a[2], 0.003, 0.9, 0.99),
        "weight_decay": lambda kk, a: kk["weight_decay"](a[0], p, 0.01),
    }
    for name, call in calls.items():
        mine = [p.copy(), s1.copy(), s2.copy()]
        want = [p.copy(), s1.copy(), s2.copy()]
        call(k, mine)
        call(ref, want)
        for got, expected in zip(mine, want, strict=True):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {dtype}")
        assert not np.array_equal(mine[0], p), name
    x, W, b = batch(dtype)
    z = x @ W
    for name in (f"bias_{act}" for act in ACTIVATIONS):
        got, want = z.copy(), z.copy()
        k[name](got, b, got)
        ref[name](want, b, want)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_fused_step_through_the_cupy_wrappers_equals_the_reference_step(
    fake_cupy_kernels, optimizer
):
    """FusedStep with cupy_kernels()'s wrappers (fake CuPy underneath) trains exactly as with
    reference_kernels(): what remains untested without a GPU is CuPy itself."""
    from mitbadak.devices.cuda_kernels import reference_kernels
    from mitbadak.devices.fused_step import FusedStep
    from mitbadak.nn.networks import MultiLayerNet
    from mitbadak.nn.optimizers import make_optimizer

    rng = np.random.default_rng(14)
    x, t = rng.random((70, 12)).astype(np.float32), rng.integers(0, 4, 70)
    nets = [MultiLayerNet(12, [10, 8], 4, activation="tanh", seed=1, dtype=np.float32,
                          weight_decay_lambda=0.01) for _ in range(2)]  # fmt: skip
    opts = [make_optimizer(optimizer, 0.05) for _ in range(2)]
    fake = FusedStep(nets[0], opts[0], kernels=fake_cupy_kernels)
    ref = FusedStep(nets[1], opts[1], kernels=reference_kernels())
    for sl in (slice(0, 32), slice(32, 64), slice(64, 70)) * 2:
        np.testing.assert_allclose(float(fake(x[sl], t[sl])), float(ref(x[sl], t[sl])),
                                   rtol=1e-6)  # fmt: skip
    for key in nets[0].params:
        np.testing.assert_allclose(nets[0].params[key], nets[1].params[key], rtol=1e-6,
                                   atol=1e-7, err_msg=key)  # fmt: skip
