"""One definition per concept: a throw-away activation (softplus) and optimizer, registered inside
the test and removed after, run identically on every engine with no other edit.

Each is one class: the layer, the CPU fast path, the strict array-API stand-in
(tests/strict_xp.py), the NumPy references of the fused kernels, the fused step, the generated
CUDA source (compiled with nvcc when present) and the PyTorch step all derive from it. The
tolerances are those of tests/test_fast_paths.py and tests/test_gpu_step.py.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import strict_xp

from mitbadak.core.backend import to_device, to_host
from mitbadak.core.expressions import absolute, exp, log, maximum, sqrt
from mitbadak.nn.activations import (
    ACTIVATIONS,
    Activation,
    register_activation,
    unregister_activation,
)
from mitbadak.nn.optimizers import (
    OPTIMIZERS,
    REGISTRY,
    Optimizer,
    make_optimizer,
    register_optimizer,
    unregister_optimizer,
)


@pytest.fixture
def softplus():
    """y = log(1 + e^a) (stable: max(a, 0) + log(1 + e^-|a|)); f' = sigmoid(a) = 1 - e^-y."""

    @register_activation
    class Softplus(Activation):
        name = "softplus_test"
        max_slope = 1.0
        default_init = "he"

        @staticmethod
        def f(a):
            return maximum(a, 0) + log(1 + exp(-absolute(a)))

        @staticmethod
        def df(y):
            return 1 - exp(-y)

    yield Softplus
    unregister_activation(Softplus.name)


@pytest.fixture
def nesterov_like():
    """A throw-away optimizer with a state slot and a host scalar computed per step."""

    @register_optimizer
    class Throwaway(Optimizer):
        name, run_lr, compare_lr, summary = "throwaway_test", 0.05, 0.1, "test only"
        slots = ("s",)

        def __init__(self, lr: float = 0.05) -> None:
            super().__init__(lr)

        def step_scalars(self):
            return {"lr": self.lr, "half": 0.5}

        @staticmethod
        def rule(p, g, s, lr, half):
            s = half * s + g * g
            return {"s": s, "p": p - lr * g / (sqrt(s) + 1e-7)}

    yield Throwaway
    unregister_optimizer(Throwaway.name)


def test_the_registrations_are_removed_afterwards():
    assert "softplus_test" not in ACTIVATIONS
    assert "throwaway_test" not in OPTIMIZERS and "throwaway_test" not in REGISTRY


def test_throwaway_activation_runs_identically_on_every_path(softplus):
    from mitbadak.devices.cuda_kernels import kernel_sources, reference_kernels
    from mitbadak.nn.networks import MultiLayerNet

    a = np.linspace(-30.0, 30.0, 61).reshape(1, -1) + 0.01
    want = np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0)
    layer = softplus()
    y = layer.forward(a)
    np.testing.assert_allclose(y, want, rtol=1e-14, atol=1e-15)  # log(1 + e) vs log1p(e)
    dout = np.random.default_rng(0).standard_normal(a.shape)
    np.testing.assert_allclose(layer.backward(dout), dout / (1 + np.exp(-a)), rtol=1e-12,
                               atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(softplus.apply(a), y, rtol=1e-15, atol=0)
    # the strict array-API stand-in
    dev = softplus()
    np.testing.assert_allclose(to_host(dev.forward(to_device(a, strict_xp))), y, rtol=1e-15)
    np.testing.assert_allclose(to_host(dev.backward(to_device(dout, strict_xp))),
                               layer.backward(dout), rtol=1e-15)  # fmt: skip
    # networks: the fast CPU path against the layers (test_fast_paths' tolerances)
    rng = np.random.default_rng(3)
    x, t = rng.random((11, 20)), rng.integers(0, 4, 11)
    net = MultiLayerNet(20, [9, 6], 4, "softplus_test", weight_decay_lambda=0.05, seed=22)
    x2, t2 = net.prepare(x, t)
    np.testing.assert_allclose(net.predict(x), net.forward_layers(x2), rtol=1e-12, atol=1e-12)
    loss_fast, g_fast = net.loss_and_gradient(x2, t2)
    loss_ref, g_ref = net.loss_and_gradient_layers(x2, t2)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-12)
    for key in g_ref:
        np.testing.assert_allclose(g_fast[key], g_ref[key], rtol=1e-10, atol=1e-12)
    # the fused kernels: generated, with NumPy references equal to the layer
    assert {"bias_softplus_test", "softplus_test_backward"} <= set(kernel_sources())
    ref = reference_kernels()
    z, b = rng.standard_normal((5, 7)), rng.standard_normal(7)
    np.testing.assert_allclose(ref["bias_softplus_test"](z.copy(), b, None), softplus().forward(
        z + b), rtol=1e-15)  # fmt: skip
    d = rng.standard_normal((5, 7))
    yy = softplus().forward(z)
    np.testing.assert_allclose(ref["softplus_test_backward"](d, yy, None),
                               d * (1 - np.exp(-yy)), rtol=1e-15)  # fmt: skip


def _train_pair(activation, optimizer, step_factory, epochs=3):
    """The readable path and a fused step, trained side by side (test_gpu_step's pattern)."""
    from mitbadak.nn.networks import MultiLayerNet

    rng = np.random.default_rng(0)
    x, t = rng.random((100, 12)).astype(np.float32), rng.integers(0, 4, 100)
    nets = [MultiLayerNet(12, [10, 8], 4, activation=activation, seed=1, dtype=np.float32)
            for _ in range(2)]  # fmt: skip
    opts = [make_optimizer(optimizer, 0.05) for _ in range(2)]
    step = step_factory(nets[1], opts[1])
    want, got = [], []
    for _ in range(epochs):
        for s in range(0, 100, 32):
            sl = slice(s, s + 32)
            loss, grads = nets[0].loss_and_gradient_layers(x[sl], t[sl])
            opts[0].update(nets[0].params, grads)
            want.append(loss)
            got.append(float(step(x[sl], t[sl])))
    return nets, opts, step, want, got


def _assert_same(nets, opts, want, got, rtol=1e-5, atol=2e-6):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-7)
    for key in nets[0].params:
        np.testing.assert_allclose(to_host(nets[1].params[key]), nets[0].params[key],
                                   rtol=rtol, atol=atol, err_msg=key)  # fmt: skip
    state0, state1 = opts[0].state_dict(), opts[1].state_dict()
    assert set(state0) == set(state1)
    for key in state0:
        np.testing.assert_allclose(state1[key], state0[key], rtol=rtol, atol=atol, err_msg=key)


def test_throwaway_pair_trains_identically_through_the_fused_step(softplus, nesterov_like):
    from mitbadak.devices.cuda_kernels import reference_kernels
    from mitbadak.devices.fused_step import FusedStep, supports_fused

    nets, opts, step, want, got = _train_pair(
        "softplus_test", "throwaway_test", lambda n, o: FusedStep(n, o, kernels=reference_kernels())
    )
    assert supports_fused(nets[1], opts[1])
    assert want[-1] < want[0]
    _assert_same(nets, opts, want, got)


def test_throwaway_pair_trains_identically_through_the_torch_step(softplus, nesterov_like):
    torch = pytest.importorskip("torch")
    from mitbadak.devices.fused_step import TorchGraphStep

    def factory(net, opt):
        step = TorchGraphStep(net, opt, device="cpu")
        return lambda x, t: step(torch.from_numpy(x), torch.from_numpy(t))

    nets, opts, step, want, got = _train_pair("softplus_test", "throwaway_test", factory)
    step.__closure__[0].cell_contents.write_back()
    _assert_same(nets, opts, want, got)


def test_throwaway_optimizer_on_numpy_strict_xp_and_its_kernel_reference(nesterov_like):
    from mitbadak.devices.cuda_kernels import reference_kernels

    rng = np.random.default_rng(5)
    W, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    host, moved = {"W": W.copy()}, to_device({"W": W.copy()}, strict_xp)
    on_host, on_device = nesterov_like(), nesterov_like()
    s = np.zeros_like(W)
    mine = W.copy()
    for _ in range(3):
        on_host.update(host, {"W": g})
        on_device.update(moved, to_device({"W": g}, strict_xp))
        s = 0.5 * s + g * g  # the formula, transcribed
        mine = mine - 0.05 * g / (np.sqrt(s) + 1e-7)
    np.testing.assert_allclose(host["W"], mine, rtol=1e-14)
    np.testing.assert_array_equal(to_host(moved["W"]), host["W"])
    p, state = W.copy().ravel(), np.zeros(W.size)
    for _ in range(3):
        reference_kernels()["throwaway_test_update"](p, g.ravel(), state, 0.05, 0.5)
    np.testing.assert_array_equal(p, host["W"].ravel())


def test_throwaway_pair_in_the_generated_cuda_source(softplus, nesterov_like, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "check_cuda_sources.py"
    spec = importlib.util.spec_from_file_location("check_cuda_sources", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    source = check.cuda_source()
    for name in ("bias_softplus_test", "softplus_test_backward", "throwaway_test_update"):
        for ctype in ("float", "double"):
            assert f"void check_{name}_{ctype}(" in source
    if shutil.which("nvcc") is None:
        pytest.skip("needs nvcc (a CUDA toolkit, no GPU) to compile the generated source; "
                    "expected where no CUDA toolkit is installed, CI included")  # fmt: skip
    assert check.main() == 0, capsys.readouterr().out  # pragma: no cover - needs nvcc


def test_unregistered_names_fail_loudly():
    from mitbadak.devices.cuda_kernels import reference_kernels, update_kernel
    from mitbadak.devices.fused_step import ACTIVATION_KERNELS

    with pytest.raises(KeyError, match="activation 'softplus_test' is not registered"):
        ACTIVATION_KERNELS["softplus_test"]
    with pytest.raises(KeyError, match="no kernel 'bias_softplus_test'"):
        reference_kernels()["bias_softplus_test"]

    class Unregistered(Optimizer):
        name = "nobody"

    with pytest.raises(KeyError, match="Unregistered is not registered"):
        update_kernel(Unregistered)


def test_a_rule_that_reads_a_stale_state_is_refused_at_registration():
    class Stale(Optimizer):
        name = "stale_test"
        slots = ("h",)

        @staticmethod
        def rule(p, g, h, lr):
            return {"h": h + g, "p": p - lr * h}  # the old h, already overwritten in place

    with pytest.raises(ValueError, match=r"'p' reads the old \['h'\]"):
        register_optimizer(Stale)
    assert "stale_test" not in REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_optimizer_kernel_reference_equals_its_class(name):
    """For every registered optimizer: the fused flat-buffer reference == the class, bit-exact."""
    from mitbadak.devices.cuda_kernels import reference_kernels, update_kernel

    rng = np.random.default_rng(7)
    cls = REGISTRY[name].cls
    p = {"W": rng.standard_normal((3, 4)).astype(np.float32)}
    flat = p["W"].ravel().copy()
    opt, twin = cls(), cls()
    state = [np.zeros_like(flat) for _ in cls.slots]
    kernel = reference_kernels()[update_kernel(cls)]
    for _ in range(4):
        g = rng.standard_normal((3, 4)).astype(np.float32)
        opt.update(p, {"W": g})
        twin._advance()
        scalars = twin.step_scalars()
        kernel(flat, g.ravel(), *state, *(scalars[n] for n in cls.program()[1]))
    np.testing.assert_array_equal(flat, p["W"].ravel())


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_numpy_activation_is_the_interpreted_one_bit_for_bit(name, dtype):
    """compile_numpy (the CPU fast path's form) does exactly what evaluate does."""
    from mitbadak.core.expressions import evaluate

    cls = ACTIVATIONS[name]
    a = np.random.default_rng(3).normal(0, 4, (7, 5)).astype(dtype)
    a[0, :3] = (-100.0, 0.0, 100.0)
    inplace = a.copy()
    cls.forward_(inplace)
    want = evaluate(cls.forward_expr(), {"a": a}, np)
    np.testing.assert_array_equal(inplace, want)
    assert inplace.dtype == dtype
    dout = np.ones_like(a)
    cls.backward_from_output_(dout, want)
    np.testing.assert_array_equal(dout, evaluate(cls.derivative_expr(), {"y": want}, np))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_compiled_numpy_update_is_the_interpreted_one_bit_for_bit(name):
    """The optimizer's compiled in-place update == its rule through evaluate, step after step."""
    from mitbadak.core.expressions import evaluate

    cls = REGISTRY[name].cls
    rng = np.random.default_rng(11)
    p = {"W": rng.standard_normal((4, 3)).astype(np.float32)}
    mine, twin = cls(), cls()
    want = p["W"].copy()
    state = {slot: np.zeros_like(want) for slot in cls.slots}
    for _ in range(5):
        g = rng.standard_normal((4, 3)).astype(np.float32)
        mine._update(p, {"W": g})
        twin._advance()
        env = {**twin.step_scalars(), "p": want, "g": g, **state}
        memo: dict = {}
        for target, expr in cls.program()[0]:
            evaluate(expr, env, np, out=env[target], memo=memo)
    np.testing.assert_array_equal(p["W"], want)
