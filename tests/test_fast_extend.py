"""The BatchNorm/Dropout CPU fast path (``nn.fast_extend``) against the layers it replaces.

Every case runs one training step both ways on two identically seeded networks and compares the
loss, every gradient, the running statistics and the dropout generators' states afterwards
(tolerances as tests/test_fast_paths.py holds them); then the trainer's choice and a few steps of
training and the test-mode scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.nn import fast_extend
from mitbadak.nn.batchnorm import BatchNormWarning
from mitbadak.nn.networks import LayerNet, MultiLayerNet, MultiLayerNetExtend
from mitbadak.nn.optimizers import SGD, Adam
from mitbadak.training.history import LoopState
from mitbadak.training.steps import StepUnavailable, choose_scores, choose_step


def _tol(dtype) -> dict[str, float]:
    return (
        {"rtol": 1e-5, "atol": 1e-6}
        if np.dtype(dtype) == np.float32
        else {"rtol": 1e-12, "atol": 1e-14}
    )


def _batch(n: int, d: int, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    x[x < 0.5] = 0.0
    return x, rng.integers(0, c, n)


def _pair(dtype, **kw):
    args = dict(input_size=20, hidden_size_list=[9, 7, 6], output_size=4, seed=5, dtype=dtype)
    args.update(kw)
    return MultiLayerNetExtend(**args), MultiLayerNetExtend(**args)


CASES = {
    "bn": {"use_batchnorm": True},
    "dropout": {"use_dropout": True, "dropout_ration": 0.3},
    "both": {"use_batchnorm": True, "use_dropout": True, "dropout_ration": 0.2},
    "both-decay": {"use_batchnorm": True, "use_dropout": True, "weight_decay_lambda": 0.1},
    "inverted": {"use_dropout": True, "inverted_dropout": True, "dropout_ration": 0.4},
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("case", list(CASES))
def test_one_step_equals_the_layers(case, activation, dtype):
    fast, ref = _pair(dtype, activation=activation, **CASES[case])
    x, t = _batch(13, 20, 4, seed=1)
    x2, t2 = fast.prepare(x, t)
    x_before = x2.copy()
    params_before = {k: v.copy() for k, v in fast.params.items()}
    assert fast_extend.unsupported(fast) is None
    loss_f, g_f = fast_extend.loss_and_gradient(fast, x2, t2)
    loss_r, g_r = ref.loss_and_gradient_layers(x2, t2)
    assert loss_f == pytest.approx(loss_r, rel=1e-6 if dtype == np.float32 else 1e-13)
    assert list(g_f) == list(ref.params)  # every parameter, in the network's order
    for k in ref.params:
        assert g_f[k].dtype == np.dtype(dtype) and g_f[k].shape == ref.params[k].shape
        np.testing.assert_allclose(g_f[k], g_r[k], **_tol(dtype), err_msg=k)
        np.testing.assert_array_equal(fast.params[k], params_before[k])  # untouched
    np.testing.assert_array_equal(x2, x_before)
    assert list(fast.buffers) == list(ref.buffers)
    for k in ref.buffers:  # the running statistics, updated by the same expression
        assert np.any(ref.buffers[k] != 0)
        np.testing.assert_allclose(fast.buffers[k], ref.buffers[k], **_tol(dtype), err_msg=k)
    # the dropout generators advanced exactly as the layers' did (the same masks next step)
    assert fast.rng_states() == ref.rng_states()
    if "weight_decay_lambda" in CASES[case]:  # decay on W only: the b, gamma, beta as without
        plain, _ = _pair(dtype, activation=activation,
                         **dict(CASES[case], weight_decay_lambda=0))  # fmt: skip
        _, g_plain = fast_extend.loss_and_gradient(plain, x2, t2)
        for k in ref.params:
            same = not k.startswith("W")
            assert np.array_equal(g_plain[k], g_f[k]) == same, k


def test_float64_with_batchnorm_gives_the_layers_running_statistics_bit_for_bit():
    fast, ref = _pair(np.float64, **CASES["both"])
    x, t = _batch(16, 20, 4, seed=2)
    fast_extend.loss_and_gradient(fast, *fast.prepare(x, t))
    ref.loss_and_gradient_layers(*ref.prepare(x, t))
    for k in ref.buffers:
        np.testing.assert_array_equal(fast.buffers[k], ref.buffers[k])


def test_training_through_choose_step_follows_the_layer_engine():
    """Ten SGD steps with the engine ``auto`` picks (fast) and with ``layers``: the same
    losses, parameters, running statistics and generators (float64, to 1e-10); the returned
    gradients are fresh arrays (the next step does not overwrite them). (Not Adam: it scales
    the round-off gradient of a bias that feeds BatchNorm, 0 both ways, up to whole steps.)"""
    x, t = _batch(60, 20, 4, seed=3)
    runs = []
    for engine in ("auto", "layers"):
        net, _ = _pair(np.float64, **CASES["both"])
        x2, t2 = net.prepare(x, t)
        loop = LoopState(0, 1, np.random.default_rng(0).bit_generator.state)
        step = choose_step(net, SGD(lr=0.1), (x2, t2), loop, engine=engine)
        assert step.engine == ("fast" if engine == "auto" else "layers")
        for i in range(10):
            step.run(np.arange(6 * i, 6 * i + 6))
        runs.append((net, loop.history.iteration_loss))
    (fast, loss_f), (ref, loss_r) = runs
    np.testing.assert_allclose(loss_f, loss_r, rtol=1e-10)
    for k in ref.params:
        np.testing.assert_allclose(fast.params[k], ref.params[k], rtol=1e-10, atol=1e-12)
    for k in ref.buffers:
        np.testing.assert_allclose(fast.buffers[k], ref.buffers[k], rtol=1e-10, atol=1e-12)
    assert fast.rng_states() == ref.rng_states()

    net, _ = _pair(np.float64, **CASES["both"])
    x2, t2 = net.prepare(x, t)
    plan = fast_extend.plan(net)
    _, g1 = fast_extend.loss_and_gradient(net, x2[:6], t2[:6], plan)
    kept = {k: v.copy() for k, v in g1.items()}
    fast_extend.loss_and_gradient(net, x2[6:12], t2[6:12], plan)
    for k in kept:
        np.testing.assert_array_equal(g1[k], kept[k])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["both", "inverted"])
def test_scores_equal_the_layers_in_test_mode(case, dtype):
    net, _ = _pair(dtype, activation="tanh", **CASES[case])
    x, t = _batch(30, 20, 4, seed=4)
    x2, t2 = net.prepare(x, t)
    for i in range(3):  # running statistics away from their start
        fast_extend.loss_and_gradient(net, x2[10 * i : 10 * i + 10], t2[10 * i : 10 * i + 10])
    states = net.rng_states()
    scores = choose_scores(net)
    np.testing.assert_allclose(scores(x2), net.forward_layers(x2, False), **_tol(dtype))
    assert net.rng_states() == states  # test mode draws nothing


def test_a_one_sample_batch_warns_as_the_layer_does():
    fast, ref = _pair(np.float64, activation="sigmoid", use_batchnorm=True)
    x, t = _batch(1, 20, 4, seed=5)
    with pytest.warns(BatchNormWarning, match="batch of one sample"):
        loss_f, g_f = fast_extend.loss_and_gradient(fast, *fast.prepare(x, t))
    with pytest.warns(BatchNormWarning):
        loss_r, g_r = ref.loss_and_gradient_layers(*ref.prepare(x, t))
    assert loss_f == pytest.approx(loss_r, rel=1e-13)
    for k in g_r:
        np.testing.assert_allclose(g_f[k], g_r[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_what_the_path_does_not_cover_is_said_and_left_to_the_layers():
    from mitbadak.nn.layers import Affine, Relu

    # a plain chain is this path's shape too, but the trainer gives it nn.fast_path
    assert fast_extend.unsupported(MultiLayerNet(4, [3], 2, seed=0)) is None
    odd = LayerNet([Affine.of_shape(4, 3, 0.1), Relu(), Relu(), Affine.of_shape(3, 2, 0.1)],
                   input_shape=4, seed=0)  # fmt: skip
    why = fast_extend.unsupported(odd)
    assert why is not None and "not Affine" in why
    with pytest.raises(ValueError, match="cannot run this network"):
        fast_extend.plan(odd)
    loop = LoopState(0, 1, np.random.default_rng(0).bit_generator.state)
    data = (np.zeros((4, 4)), np.zeros(4, dtype=np.int64))
    step = choose_step(odd, Adam(), data, loop)
    assert step.engine == "layers" and "not Affine" in step.note
    with pytest.raises(StepUnavailable, match="not Affine"):
        choose_step(odd, Adam(), data, loop, engine="fast")
