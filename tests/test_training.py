"""mitbadak.training: the mini-batch loop, determinism, exact resume, divergence, early stopping."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

from mitbadak.files.datasets import load_mnist
from mitbadak.nn import fast_path
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.nn.optimizers import SGD
from mitbadak.training.loop import (
    TrainingDiverged,
    evaluate,
    load_checkpoint,
    read_history,
    split_validation,
    train,
    write_history,
)


@pytest.fixture(scope="module")
def sample():
    (x, t), (xt, tt) = load_mnist(name="mnist-sample")
    return (x[:1000], t[:1000]), (xt[:300], tt[:300])


def _net(seed=0, **kw):
    return TwoLayerNet(
        784, 30, 10, activation="relu", weight_init_std=0.05, seed=seed, dtype=np.float32, **kw
    )


def test_training_improves_accuracy_and_records_history(sample):
    train_set, test_set = sample
    net = _net()
    before = evaluate(net, *test_set)[1]
    result = train(net, train_set, test_set, optimizer="sgd", lr=0.1, batch_size=50, epochs=3)
    h = result.history
    assert len(h.epochs) == 3
    assert len(h.iteration_loss) == 3 * 20  # 1000 / 50 batches per epoch
    assert [e["iteration"] for e in h.epochs] == [20, 40, 60]
    assert h.last["test_acc"] > before + 0.3
    assert h.last["test_acc"] > 0.6
    assert h.iteration_loss[-1] < h.iteration_loss[0]


def test_every_sample_used_once_per_epoch(sample, monkeypatch):
    (x, t), _ = sample
    seen = []
    net = _net()
    original = fast_path.loss_and_gradient  # the CPU engine training.steps chooses for it

    def spy(network, xb, tb):
        seen.append(xb.copy())
        return original(network, xb, tb)

    monkeypatch.setattr(fast_path, "loss_and_gradient", spy)
    train(net, (x[:230], t[:230]), batch_size=100, epochs=1)
    assert [len(b) for b in seen] == [100, 100, 30]
    rows = np.concatenate(seen)
    # Each training image appears exactly once (compare by content).
    assert len({r.tobytes() for r in rows}) == len({r.tobytes() for r in x[:230]})


def test_same_seed_same_metrics(sample):
    runs = []
    for _ in range(2):
        result = train(
            _net(), sample[0], sample[1], optimizer="momentum", lr=0.05, epochs=2, seed=7
        )
        runs.append(result)
    a, b = runs
    assert a.history.iteration_loss == b.history.iteration_loss
    for ea, eb in zip(a.history.epochs, b.history.epochs, strict=True):
        assert {k: v for k, v in ea.items() if k != "seconds"} == {
            k: v for k, v in eb.items() if k != "seconds"
        }
    for k in a.network.params:
        assert np.array_equal(a.network.params[k], b.network.params[k])
    c = train(_net(), sample[0], sample[1], optimizer="momentum", lr=0.05, epochs=2, seed=8)
    assert c.history.iteration_loss != a.history.iteration_loss


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "adam"])
def test_resume_after_interrupt_matches_uninterrupted(sample, tmp_path, optimizer):
    kw = dict(
        optimizer=optimizer,
        lr=0.01 if optimizer == "adam" else 0.05,
        batch_size=100,
        epochs=3,
        seed=3,
    )
    full = train(_net(), sample[0], sample[1], **kw)

    ckpt = tmp_path / "ckpt.npz"

    def interrupt_at_step_17(event):
        if event["event"] == "step" and event["iteration"] == 17:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(
            _net(), sample[0], sample[1], checkpoint_path=ckpt, callback=interrupt_at_step_17, **kw
        )
    state = load_checkpoint(ckpt)
    assert state[2]["iteration"] == 17  # stopped between steps, mid-epoch
    resumed = train(_net(seed=99), sample[0], sample[1], checkpoint_path=ckpt, resume=state, **kw)
    assert resumed.history.iteration_loss == full.history.iteration_loss
    for k in full.network.params:
        assert np.array_equal(resumed.network.params[k], full.network.params[k]), k
    assert resumed.history.last["test_acc"] == full.history.last["test_acc"]


def test_resume_from_epoch_checkpoint(sample, tmp_path):
    kw = dict(optimizer="adam", lr=0.005, epochs=3, seed=1)
    full = train(_net(), sample[0], sample[1], **kw)
    ckpt = tmp_path / "c.npz"
    partial = dict(kw, epochs=None, iters=20)  # stop after two epochs (10 batches each)
    train(_net(), sample[0], sample[1], checkpoint_path=ckpt, **partial)
    resumed = train(_net(), sample[0], sample[1], resume=load_checkpoint(ckpt), **kw)
    assert resumed.history.iteration_loss == full.history.iteration_loss


def test_divergence_raises_with_likely_cause(sample, tmp_path):
    net = MultiLayerNet(784, [50], 10, seed=0, dtype=np.float32)
    ckpt = tmp_path / "c.npz"
    with pytest.raises(TrainingDiverged, match="learning rate"):
        train(
            net, sample[0], sample[1], optimizer="momentum", lr=1e4, epochs=5, checkpoint_path=ckpt
        )
    _, _, state, history = load_checkpoint(ckpt)
    assert all(math.isfinite(v) for v in history.iteration_loss)


def test_iters_run_ends_with_an_evaluation(sample):
    result = train(_net(), sample[0], sample[1], iters=15, batch_size=100)
    assert len(result.history.iteration_loss) == 15
    assert [e["iteration"] for e in result.history.epochs] == [10, 15]
    assert [e["epoch"] for e in result.history.epochs] == [1, 2]


def test_early_stopping_uses_validation_split_and_restores_best(sample):
    (x, t), test = sample
    (xtr, ttr), (xv, tv) = split_validation(x[:300], t[:300], 0.2, seed=0)
    assert len(xv) == 60 and len(xtr) == 240
    # The validation rows come from the training data, never the test set.
    assert {r.tobytes() for r in xv} <= {r.tobytes() for r in x[:300]}
    net = TwoLayerNet(
        784, 100, 10, activation="relu", weight_init_std=0.1, seed=0, dtype=np.float32
    )
    result = train(
        net,
        (xtr, ttr),
        test,
        val_data=(xv, tv),
        early_stopping=2,
        optimizer="adam",
        lr=0.01,
        epochs=60,
        batch_size=20,
    )
    assert result.stopped_early
    assert len(result.history.epochs) < 60
    best = min(e["val_loss"] for e in result.history.epochs)
    assert evaluate(net, xv, tv)[0] == pytest.approx(best, rel=1e-5)


def test_numerical_gradient_training_steps(sample):
    (x, t), test = sample
    net = TwoLayerNet(784, 10, 10, seed=0, dtype=np.float64)
    ref = TwoLayerNet(784, 10, 10, seed=0, dtype=np.float64)
    train(
        net,
        (x[:20], t[:20]),
        gradient="numerical",
        optimizer="sgd",
        lr=0.5,
        batch_size=10,
        iters=2,
        seed=0,
    )
    train(
        ref,
        (x[:20], t[:20]),
        gradient="backprop",
        optimizer="sgd",
        lr=0.5,
        batch_size=10,
        iters=2,
        seed=0,
    )
    for k in net.params:
        np.testing.assert_allclose(net.params[k], ref.params[k], atol=1e-9)


def test_history_files_round_trip(sample, tmp_path):
    result = train(_net(), sample[0], sample[1], epochs=2)
    write_history(result.history, tmp_path)
    back = read_history(tmp_path)
    assert back.iteration_loss == result.history.iteration_loss
    assert back.epochs[-1]["test_acc"] == result.history.epochs[-1]["test_acc"]
    assert back.epochs[0]["val_loss"] is None


def test_bad_arguments(sample):
    with pytest.raises(ValueError, match="either epochs or iters"):
        train(_net(), sample[0], epochs=1, iters=1)
    with pytest.raises(ValueError, match="batch size"):
        train(_net(), sample[0], batch_size=0)
    with pytest.raises(ValueError, match="783 features"):
        train(_net(), (sample[0][0][:, :783], sample[0][1]))
    with pytest.raises(ValueError, match="val_data"):
        train(_net(), sample[0], early_stopping=3)
    with pytest.raises(ValueError, match="learning rate"):
        SGD(lr=-1)


def test_train_metrics_on_a_fixed_subset(sample):
    (x, t), test = sample
    net = _net()
    result = train(net, (x, t), test, epochs=1, seed=4, train_eval_size=200)
    rows = np.sort(np.random.default_rng([4, 2]).permutation(len(x))[:200])
    loss, acc = evaluate(net, x[rows], t[rows])
    assert result.history.last["train_acc"] == acc
    assert result.history.last["train_loss"] == pytest.approx(loss)
    full = train(_net(), (x, t), test, epochs=1, seed=4, train_eval_size=None)
    assert full.history.last["train_acc"] == evaluate(full.network, x, t)[1]


def _early_kw(sample):
    (x, t), _ = sample
    train_set, val_set = split_validation(x, t, 0.2, seed=0)
    kw = dict(optimizer="sgd", lr=0.5, batch_size=100, epochs=6, seed=2, early_stopping=2)
    return train_set, val_set, kw


def test_should_stop_checkpoints_and_resumes_exactly(sample, tmp_path):
    from mitbadak.training.loop import LoopState, TrainingStopped

    train_set, val_set, kw = _early_kw(sample)
    full = train(_net(), train_set, sample[1], val_data=val_set, **kw)
    ckpt = tmp_path / "c.npz"
    steps = []
    with pytest.raises(TrainingStopped) as info:
        train(_net(), train_set, sample[1], val_data=val_set, checkpoint_path=ckpt,
              callback=lambda e: steps.append(e["event"]),
              should_stop=lambda: steps.count("step") >= 13, **kw)  # fmt: skip
    assert isinstance(info.value, KeyboardInterrupt)
    state = load_checkpoint(ckpt)
    assert state[2]["iteration"] == 13 and state[2]["epoch"] == 1
    loop = LoopState.from_dict(state[2])
    assert isinstance(loop.rng_state, dict) and loop.early.best_params is not None
    assert LoopState.from_dict(loop.to_dict()).to_dict()["rng_state"] == loop.rng_state
    resumed = train(_net(seed=5), train_set, sample[1], val_data=val_set, resume=state, **kw)
    assert resumed.history.iteration_loss == full.history.iteration_loss
    assert resumed.history.epochs[-1]["test_acc"] == full.history.epochs[-1]["test_acc"]
    for k in full.network.params:
        assert np.array_equal(resumed.network.params[k], full.network.params[k]), k


def test_checkpoint_of_the_older_layout_still_resumes(sample, tmp_path):
    """Checkpoints written before LoopState (JSON rng_state, best/ arrays, flat best_*) load."""
    import json

    from mitbadak.files.modelfile import load_arrays, save_arrays

    train_set, val_set, kw = _early_kw(sample)
    full = train(_net(), train_set, sample[1], val_data=val_set, **kw)
    ckpt = tmp_path / "c.npz"
    with pytest.raises(KeyboardInterrupt):
        train(_net(), train_set, sample[1], val_data=val_set, checkpoint_path=ckpt,
              callback=lambda e: e["event"] == "step" and e["iteration"] == 17
              and os.kill(os.getpid(), signal.SIGINT), **kw)  # fmt: skip
    arrays, meta = load_arrays(ckpt)
    # Rewrite it as main's code wrote it (the layout of mitbadak 0.x before this change).
    state = meta["state"]
    early = state.pop("early_stopping")
    old_state = {
        "rng_state": json.dumps(state["rng_state"]),
        **{k: state[k] for k in ("epoch", "iteration", "batch_in_epoch", "seed", "total_iters")},
        "seconds": state["seconds"],
        "best_val_loss": early["best_loss"],
        "best_since": early["since"],
    }
    old_arrays = {}
    for name, value in arrays.items():
        prefix = "state/early_stopping/best_params/"
        old_arrays["state/best/" + name[len(prefix) :] if name.startswith(prefix) else name] = value
    assert any(k.startswith("state/best/") for k in old_arrays)
    keep = {k: v for k, v in meta.items() if k not in ("format", "mitbadak_version", "arrays")}
    save_arrays(ckpt, old_arrays, {**keep, "state": old_state})
    resumed = train(_net(seed=5), train_set, sample[1], val_data=val_set,
                    resume=load_checkpoint(ckpt), **kw)  # fmt: skip
    assert resumed.history.iteration_loss == full.history.iteration_loss
    assert resumed.stopped_early == full.stopped_early
    for k in full.network.params:
        assert np.array_equal(resumed.network.params[k], full.network.params[k]), k


def test_epoch_event_comes_after_its_checkpoint(sample, tmp_path):
    from mitbadak.files.modelfile import read_metadata

    ckpt = tmp_path / "c.npz"
    seen = []

    def on_event(event):
        if event["event"] == "epoch":
            seen.append((event["epoch"], read_metadata(ckpt)["state"]["epoch"]))

    train(_net(), sample[0], checkpoint_path=ckpt, callback=on_event, epochs=2)
    assert seen == [(1, 1), (2, 2)]


def test_train_is_one_short_loop():
    """train() reads in one sitting: at most 60 lines after its docstring, and no second loop
    (the device's block read-back and replay live in training.steps.DeviceStep)."""
    import ast
    import inspect
    import textwrap

    from mitbadak.training import loop

    fn = ast.parse(textwrap.dedent(inspect.getsource(loop.train))).body[0]
    body = fn.body[1:]  # after the docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= 60
    assert not hasattr(loop, "_device_loop") and not hasattr(loop, "_device_step")
    loops = [n for n in ast.walk(fn) if isinstance(n, ast.While)]
    assert len(loops) == 1  # the epoch loop
