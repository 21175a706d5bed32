"""The CPU training loop runs small steps on one BLAS thread and gives the threads back for
evaluation; large steps keep every thread. (Numbers: the same as a one-thread run.)"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.training.loop import SMALL_STEP_MACS, train

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> set[int]:
    return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}


def _threads_seen(net, batch_size: int) -> dict[str, set[int]]:
    rng = np.random.default_rng(0)
    x = rng.random((400, 784), dtype=np.float32)
    t = rng.integers(0, 10, 400)
    seen: dict[str, set[int]] = {"step": set(), "epoch": set()}

    def callback(event):
        if event["event"] in seen and not seen[event["event"]]:
            seen[event["event"]] = _blas_threads()

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        train(net, (x, t), (x[:100], t[:100]), optimizer="sgd", lr=0.1, batch_size=batch_size,
              epochs=1, seed=0, callback=callback)
        seen["after"] = _blas_threads()
    return seen


def test_small_steps_run_on_one_blas_thread_and_evaluation_on_all():
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    net = TwoLayerNet(784, 50, 10, 0.01, "relu", dtype=np.float32, seed=0)
    assert 100 * (784 * 50 + 50 * 10) < SMALL_STEP_MACS
    seen = _threads_seen(net, 100)
    assert seen == {"step": {1}, "epoch": {2}, "after": {2}}


def test_large_steps_keep_their_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    net = MultiLayerNet(784, [256, 128], 10, "relu", "he", dtype=np.float32, seed=0)
    assert 100 * (784 * 256 + 256 * 128 + 128 * 10) >= SMALL_STEP_MACS
    seen = _threads_seen(net, 100)
    assert seen == {"step": {2}, "epoch": {2}, "after": {2}}


def test_pinned_steps_give_the_one_thread_numbers():
    """The limit changes where the products run, not what they compute: a run under the limit
    equals a run on one thread throughout."""
    rng = np.random.default_rng(1)
    x = rng.random((300, 784), dtype=np.float32)
    t = rng.integers(0, 10, 300)
    results = []
    for limit in (1, 2):
        with threadpoolctl.threadpool_limits(limits=limit, user_api="blas"):
            net = TwoLayerNet(784, 50, 10, 0.01, "relu", dtype=np.float32, seed=3)
            train(net, (x, t), (x[:100], t[:100]), optimizer="sgd", lr=0.1, batch_size=100,
                  epochs=2, seed=0)
            results.append({k: v.copy() for k, v in net.params.items()})
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k])
