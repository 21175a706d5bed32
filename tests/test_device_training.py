"""The whole device path on stand-ins, no GPU needed: networks, training, files, resume, the CLI.

Two "devices" run every test: ``strict_xp`` (tests/strict_xp.py: NumPy inside, but any silent
conversion to NumPy raises, as with CuPy, so a stray ``np.`` call on device data fails here) and,
where installed, real PyTorch CPU tensors through ``array_api_compat.torch``. Each must give the
NumPy path's numbers to float32 tolerance (the device step is the readable layer-by-layer one,
the CPU's is the fused one, so the last bits may differ).
"""

from __future__ import annotations

import datetime
import math
import types

import numpy as np
import pytest
import strict_xp

from mitbadak.core import backend
from mitbadak.core.backend import DeviceError, device_name, to_device, to_host
from mitbadak.files import modelfile
from mitbadak.files.modelfile import load_model, save_model
from mitbadak.nn.gradcheck import gradient_check
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.training.evaluation import evaluate_network
from mitbadak.training.loop import (
    LOSS_BLOCK,
    TrainingDiverged,
    TrainingStopped,
    load_checkpoint,
    train,
)


def _torch_namespace():
    try:
        import array_api_compat.torch as torch_xp
    except ImportError:
        return None
    return torch_xp


def _cupy_namespace():
    ok, _reason = backend.gpu_status()
    return backend._import_cupy() if ok else None


TORCH = _torch_namespace()
CUPY = _cupy_namespace()
DEVICES = [
    pytest.param(strict_xp, id="strict"),
    pytest.param(
        TORCH, id="torch", marks=pytest.mark.skipif(TORCH is None, reason="torch not installed")
    ),
    pytest.param(  # the real thing, on a machine with a GPU and the gpu extra
        CUPY, id="cupy", marks=pytest.mark.skipif(
            CUPY is None, reason="GPU-only: CuPy and a CUDA GPU (expected to skip under CI)")
    ),
]
F32 = {"rtol": 2e-5, "atol": 2e-6}


def toy(n=240, d=12, classes=3, seed=0):
    """A small learnable problem: the class is which of the first `classes` features is largest."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, np.argmax(x[:, :classes], axis=1)


def net_on(device, activation="relu", **kwargs):
    return MultiLayerNet(12, [16, 8], 3, activation=activation, seed=3, dtype=np.float32,
                         device=device, **kwargs)  # fmt: skip


# --- networks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_network_forward_loss_and_gradients_on_the_device_equal_numpy(device, activation):
    x, t = toy(50)
    host = net_on("cpu", activation, weight_decay_lambda=0.01)
    net = net_on(device, activation, weight_decay_lambda=0.01)
    assert net.device == device_name(device)
    assert type(net.params["W1"]) is not np.ndarray
    scores = net.predict(x)
    assert not isinstance(scores, np.ndarray)  # predict stays on the device
    np.testing.assert_allclose(to_host(scores), host.predict(x), **F32)
    np.testing.assert_allclose(to_host(net.predict_proba(x)), host.predict_proba(x), **F32)
    assert net.loss(x, t) == pytest.approx(host.loss(x, t), rel=2e-6)
    assert isinstance(net.loss(x, t), float)
    assert net.accuracy(x, t) == host.accuracy(x, t)
    assert net.accuracy(x, t, batch_size=7) == host.accuracy(x, t)
    want = host.gradient(x, t)
    got = net.gradient(x, t)
    for key in host.params:
        np.testing.assert_allclose(to_host(got[key]), want[key], **F32)
    loss, grads = net.loss_and_gradient(*[to_device(a, device) for a in host.prepare(x, t)])
    assert float(loss) == pytest.approx(host.loss(x, t), rel=2e-6)
    np.testing.assert_allclose(to_host(grads["W1"]), want["W1"], **F32)


@pytest.mark.parametrize("device", DEVICES)
def test_to_moves_the_network_bit_exactly_and_returns_it(device):
    host = net_on("cpu")
    net = net_on("cpu")
    assert net.device == "cpu"
    assert net.to(device) is net and net.device == device_name(device)
    assert net.to(device) is net  # already there: nothing moves
    assert "device=" in repr(net)
    for key, p in net.params.items():
        assert net.layers[f"Affine{key[1:]}"].params[key[0]] is p  # layers use the moved arrays
        np.testing.assert_array_equal(to_host(p), host.params[key])  # same seed, same weights
    assert net.to("cpu") is net and net.device == "cpu"
    for key, p in net.params.items():
        assert isinstance(p, np.ndarray) and p.dtype == np.float32 and p.flags.writeable
        np.testing.assert_array_equal(p, host.params[key])


def test_params_assigned_on_a_device_network_stay_on_its_device():
    net = net_on(strict_xp)
    W1 = net.params["W1"]
    net.params["W1"] = W1 - 0.5 * W1  # the book's update, written on device arrays
    assert isinstance(net.params["W1"], strict_xp.StrictArray)
    assert net.layers["Affine1"].W is net.params["W1"]
    net.params["b1"] = np.ones(16)  # host data of another dtype: checked, converted, moved
    assert isinstance(net.params["b1"], strict_xp.StrictArray)
    assert net.params["b1"].dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        net.params["b1"] = np.ones(5)
    net.set_params({k: to_host(v) * 2 for k, v in net.params.items()})
    assert isinstance(net.params["W2"], strict_xp.StrictArray)


def test_a_stray_numpy_call_on_device_data_fails():
    """What the stand-in is for: NumPy functions refuse its arrays, as they refuse CuPy's."""
    net = net_on(strict_xp)
    with pytest.raises(TypeError):
        np.maximum(net.params["W1"], 0)
    with pytest.raises(TypeError):
        np.asarray(net.params["W1"])
    with pytest.raises(TypeError):
        net.params["W1"] + np.ones((12, 16), dtype=np.float32)


def test_gpu_without_cupy_is_a_device_error_for_networks(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", _no_cupy)
    with pytest.raises(DeviceError, match=r"pip install 'mitbadak\[gpu\]'"):
        MultiLayerNet(4, [3], 2, device="gpu")
    net = MultiLayerNet(4, [3], 2)
    with pytest.raises(DeviceError):
        net.to("gpu")
    assert net.to("auto").device == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_and_evaluation_on_a_device_network_equal_the_host(device):
    x, t = toy(5)
    host = MultiLayerNet(12, [6], 3, activation="sigmoid", seed=1)  # float64, as gradcheck wants
    net = MultiLayerNet(12, [6], 3, activation="sigmoid", seed=1, device=device)
    for a, b in zip(gradient_check(net, x, t), gradient_check(host, x, t), strict=True):
        assert a.name == b.name and a.max_rel < 1e-7 and b.max_rel < 1e-7
    x, t = toy(60)
    got, want = evaluate_network(net, x, t), evaluate_network(host, x, t)
    assert got.accuracy == want.accuracy
    assert got.loss == pytest.approx(want.loss, rel=1e-12)
    np.testing.assert_array_equal(got.confusion, want.confusion)


# --- model files ---------------------------------------------------------------------------------


def _fixed_clock(monkeypatch):
    class Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(modelfile, "_dt", types.SimpleNamespace(datetime=Fixed,
                                                                timezone=datetime.timezone))


@pytest.mark.parametrize("device", DEVICES)
def test_model_file_from_a_device_network_is_byte_identical(device, tmp_path, monkeypatch):
    _fixed_clock(monkeypatch)
    meta = {"final_metrics": {"test_acc": 0.5}}
    save_model(tmp_path / "cpu.npz", net_on("cpu"), metadata=meta)
    save_model(tmp_path / "dev.npz", net_on(device), metadata=meta)
    moved = net_on("cpu").to(device).to("cpu")
    save_model(tmp_path / "back.npz", moved, metadata=meta)
    want = (tmp_path / "cpu.npz").read_bytes()
    assert (tmp_path / "dev.npz").read_bytes() == want
    assert (tmp_path / "back.npz").read_bytes() == want
    loaded = load_model(tmp_path / "dev.npz")
    assert loaded.device == "cpu"


# --- training ------------------------------------------------------------------------------------


def _run(device, optimizer="momentum", lr=0.05, **kwargs):
    x, t = toy()
    xt, tt = toy(90, seed=1)
    net = net_on("cpu", kwargs.pop("activation", "relu"))
    return train(net, (x, t), (xt, tt), optimizer=optimizer, lr=lr, batch_size=32,
                 seed=5, device=device, **kwargs)  # fmt: skip


def _same_history(got, want):
    np.testing.assert_allclose(got.iteration_loss, want.iteration_loss, rtol=2e-5)
    assert len(got.epochs) == len(want.epochs)
    for a, b in zip(got.epochs, want.epochs, strict=True):
        for key in ("train_loss", "test_loss", "val_loss"):
            if b.get(key) is not None:
                assert a[key] == pytest.approx(b[key], rel=2e-5)
        for key in ("train_acc", "test_acc", "val_acc", "epoch", "iteration"):
            assert a.get(key) == b.get(key)


def _same_params(got, want, rtol=1e-4):
    for key, p in want.params.items():
        np.testing.assert_allclose(to_host(got.params[key]), p, rtol=rtol, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("momentum", 0.05), ("adagrad", 0.05),
                                          ("adam", 0.01)])  # fmt: skip
def test_training_on_the_device_gives_the_numpy_numbers(device, optimizer, lr):
    want = _run("cpu", optimizer, lr, epochs=3)
    got = _run(device, optimizer, lr, epochs=3)
    assert got.network.device == device_name(device)  # it stays where it trained
    _same_history(got.history, want.history)
    _same_params(got.network, want.network)
    state = got.optimizer.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())  # host arrays, always
    for key, v in want.optimizer.state_dict().items():
        np.testing.assert_allclose(state[key], v, rtol=1e-4, atol=1e-6)


def test_training_on_the_device_with_iters_weight_decay_and_early_stopping():
    x, t = toy()
    val = toy(60, seed=2)
    kw = {"iters": 17, "val_data": val, "early_stopping": 1, "activation": "tanh"}
    want = _run("cpu", **kw)
    got = _run(strict_xp, **kw)
    _same_history(got.history, want.history)
    assert got.stopped_early == want.stopped_early
    x, t = toy()
    a = train(net_on("cpu", weight_decay_lambda=0.01), (x, t), epochs=2, seed=1)
    b = train(net_on(strict_xp, weight_decay_lambda=0.01), (x, t), epochs=2, seed=1)
    _same_history(b.history, a.history)


def test_the_device_loop_reads_losses_back_in_blocks(monkeypatch):
    """No wait for the device per step: no float() of a device value while training, and one
    transfer (DLPack) per LOSS_BLOCK steps and per epoch end."""
    calls = {"float": 0, "dlpack": 0}
    real_float, real_dlpack = strict_xp.StrictArray.__float__, strict_xp.StrictArray.__dlpack__

    def counting(name, real):
        def method(self, *args, **kwargs):
            calls[name] += 1
            return real(self, *args, **kwargs)

        return method

    monkeypatch.setattr(strict_xp.StrictArray, "__float__", counting("float", real_float))
    monkeypatch.setattr(strict_xp.StrictArray, "__dlpack__", counting("dlpack", real_dlpack))
    x, t = toy(3200)  # 100 steps per epoch of 32
    result = train(net_on(strict_xp), (x, t), epochs=2, batch_size=32, evaluate_train=False)
    assert len(result.history.iteration_loss) == 200
    assert calls["float"] == 0
    assert calls["dlpack"] == 2 * math.ceil(100 / LOSS_BLOCK)


@pytest.mark.parametrize("device", DEVICES)
def test_divergence_on_the_device_stops_like_the_cpu(device):
    with pytest.raises(TrainingDiverged) as on_cpu:
        _run("cpu", "sgd", 1e4, epochs=3, activation="sigmoid")
    with pytest.raises(TrainingDiverged) as on_device:
        _run(device, "sgd", 1e4, epochs=3, activation="sigmoid")
    want, got = on_cpu.value, on_device.value
    assert str(got).split(" (it started")[0].split(" at iteration")[1] == (
        str(want).split(" (it started")[0].split(" at iteration")[1]
    )
    np.testing.assert_allclose(got.history.iteration_loss, want.history.iteration_loss, rtol=1e-4)


def test_the_device_network_keeps_the_last_good_step_on_divergence():
    """The blow-up is seen up to a block late: the good steps are replayed from its start."""
    x, t = toy()
    nets = {}
    for device in ("cpu", strict_xp):
        nets[device] = net_on("cpu", "sigmoid")
        with pytest.raises(TrainingDiverged):
            train(nets[device], (x, t), optimizer="momentum", lr=300.0, batch_size=16, epochs=5,
                  seed=2, device=device)  # fmt: skip
    _same_params(nets[strict_xp], nets["cpu"], rtol=1e-3)


def _stop_after(steps):
    seen = {"n": 0}

    def should_stop():
        seen["n"] += 1
        return seen["n"] > steps

    return should_stop


@pytest.mark.parametrize("first,second", [(strict_xp, "cpu"), ("cpu", strict_xp)],
                         ids=["device-then-cpu", "cpu-then-device"])  # fmt: skip
def test_a_checkpoint_resumes_across_devices(first, second, tmp_path):
    x, t = toy()
    test = toy(90, seed=1)
    kwargs = {"optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 3, "seed": 4}
    want = train(net_on("cpu"), (x, t), test, **kwargs)
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(TrainingStopped):
        train(net_on("cpu"), (x, t), test, checkpoint_path=path, should_stop=_stop_after(11),
              device=first, **kwargs)  # fmt: skip
    resume = load_checkpoint(path)
    assert resume[2]["iteration"] == 11
    got = train(net_on("cpu"), (x, t), test, checkpoint_path=path, resume=resume, device=second,
                **kwargs)  # fmt: skip
    _same_history(got.history, want.history)
    _same_params(got.network, want.network)


def test_numerical_gradients_refuse_a_device():
    x, t = toy(40)
    with pytest.raises(DeviceError, match="numerical gradients"):
        train(net_on(strict_xp), (x, t), gradient="numerical", iters=1)


# --- the CLI -------------------------------------------------------------------------------------


def _no_cupy():
    raise ImportError("No module named 'cupy'")


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--dataset", "mnist-sample", "--epochs", "1"],
        ["evaluate", "no-such-model.npz"],
        ["predict", "no-such-model.npz", "digit.png"],
        ["gradcheck"],
    ],
    ids=lambda c: c[0],
)
def test_cli_device_gpu_without_cupy_is_a_one_line_error(command, monkeypatch, capsys, tmp_path):
    from mitbadak.cli import main

    monkeypatch.setattr(backend, "_import_cupy", _no_cupy)
    monkeypatch.chdir(tmp_path)
    code = main([*command, "--device", "gpu"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mitbadak: error: device 'gpu' needs CuPy")
    assert "pip install 'mitbadak[gpu]'" in lines[0] and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_cli_device_auto_without_cupy_trains_on_the_cpu(monkeypatch, capsys, tmp_path):
    from mitbadak.cli import main

    monkeypatch.setattr(backend, "_import_cupy", _no_cupy)
    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    out = tmp_path / "run"
    args = ["--dataset", "mnist-sample", "--model", "two-layer", "--hidden", "10", "--iters", "30",
            "--quiet", "--out", str(out)]  # fmt: skip
    assert main(["train", *args, "--device", "auto"]) == 0
    assert (out / "model.npz").is_file()
    assert main(["evaluate", str(out), "--device", "auto", "--json"]) == 0
    assert main(["gradcheck", "--device", "auto", "--hidden", "5", "--samples", "2"]) == 0
    capsys.readouterr()
    loud = [a for a in args if a != "--quiet"]
    assert main(["train", *loud, "--device", "auto", "--overwrite"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "; auto -> CPU: CuPy is not installed)" in first  # the user sees where it ran, and why


def test_cli_numerical_gradients_on_a_gpu_are_refused_before_anything_is_written(
    monkeypatch, capsys, tmp_path
):
    from mitbadak.cli import main

    monkeypatch.setattr(backend, "resolve_device", lambda device: "gpu")  # as if a GPU were here
    out = tmp_path / "run"
    code = main(["train", "--recipe", "ch4", "--device", "gpu", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "numerical gradients (chapter 4) are computed on the CPU" in err
    assert not out.exists()


def test_two_layer_net_takes_a_device_too():
    net = TwoLayerNet(12, 5, 3, seed=0, device=strict_xp)
    assert net.device == "strict_xp"


# --- the fused CuPy step plugged into the trainer (run here on NumPy through its references) -----


def _numpy_named_cupy(monkeypatch):
    """Make the trainer believe its arrays live on CuPy while they are NumPy arrays, and give the
    fused step NumPy's reference kernels: the trainer's device loop then runs gpu_step.FusedStep
    exactly as on a GPU (hook, block read-back, divergence replay), without one."""
    import functools
    import types

    from mitbadak.devices import cuda_kernels as gpu_kernels
    from mitbadak.devices import fused_step as gpu_step
    from mitbadak.training import loop as training

    fake = types.ModuleType("cupy")
    fake.__getattr__ = lambda name: getattr(np, name)  # module-level __getattr__ (PEP 562)
    made = []
    real = gpu_step.FusedStep

    def fused(net, opt):
        made.append(real(net, opt, kernels=gpu_kernels.reference_kernels()))
        return made[-1]

    monkeypatch.setattr(gpu_step, "FusedStep", fused)
    monkeypatch.setattr(training, "_network_device", lambda network, device: fake)
    return made, functools.partial(train, device=None)


@pytest.mark.parametrize("optimizer,lr", [("momentum", 0.05), ("adam", 0.01)])
def test_on_cupy_the_trainer_runs_the_fused_step_with_the_cpu_numbers(monkeypatch, optimizer, lr):
    x, t = toy()
    want = train(net_on("cpu"), (x, t), optimizer=optimizer, lr=lr, epochs=3, batch_size=32, seed=1)
    made, train_fused = _numpy_named_cupy(monkeypatch)
    got = train_fused(net_on("cpu"), (x, t), optimizer=optimizer, lr=lr, epochs=3, batch_size=32,
                      seed=1)  # fmt: skip
    assert len(made) == 1  # the hook chose the fused step, once per run
    _same_history(got.history, want.history)
    _same_params(got.network, want.network)
    for key, v in want.optimizer.state_dict().items():
        np.testing.assert_allclose(got.optimizer.state_dict()[key], v, rtol=1e-4, atol=1e-6)


def test_on_cupy_the_fused_step_keeps_the_last_good_step_on_divergence(monkeypatch):
    x, t = toy()
    nets = {"cpu": net_on("cpu", "sigmoid"), "fused": net_on("cpu", "sigmoid")}
    kw = {"optimizer": "momentum", "lr": 300.0, "batch_size": 16, "epochs": 5, "seed": 2}
    with pytest.raises(TrainingDiverged):
        train(nets["cpu"], (x, t), **kw)
    made, train_fused = _numpy_named_cupy(monkeypatch)
    with pytest.raises(TrainingDiverged):
        train_fused(nets["fused"], (x, t), **kw)
    assert made
    _same_params(nets["fused"], nets["cpu"], rtol=1e-3)


def test_the_cupy_hook_keeps_the_readable_step_for_what_the_fused_one_does_not_cover(monkeypatch):
    import types

    from mitbadak.devices import fused_step as gpu_step
    from mitbadak.nn.optimizers import SGD

    class MySGD(SGD):  # a user's subclass: its update may differ, so the fused step declines
        pass

    from mitbadak.training.history import LoopState
    from mitbadak.training.steps import StepUnavailable, choose_step

    fake = types.ModuleType("cupy")
    net = net_on("cpu")
    assert not gpu_step.supports_fused(net, MySGD(lr=0.1))
    data = (np.zeros((4, net.input_size)), np.zeros(4, dtype=np.int64))
    loop = LoopState(0, 1, np.random.default_rng(0).bit_generator.state)
    step = choose_step(net, MySGD(lr=0.1), data, loop, xp=fake)
    assert not isinstance(step.kernel, gpu_step.FusedStep) and step.engine == "layers"
    assert "MySGD" in step.note  # why the fused step was not taken is said, not silent
    with pytest.raises(StepUnavailable, match="MySGD"):  # asked for by name: a loud error
        choose_step(net, MySGD(lr=0.1), data, loop, xp=fake, engine="fused")
    # the kernel table is derived from the registry: every registered activation has its
    # kernels (a missing one cannot silently drop to the slow step), an unknown name is loud
    assert set(gpu_step.ACTIVATION_KERNELS) == set(gpu_step.ACTIVATIONS)
    with pytest.raises(KeyError, match="softsign"):
        gpu_step.ACTIVATION_KERNELS["softsign"]
