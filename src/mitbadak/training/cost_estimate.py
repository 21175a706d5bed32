"""How long a numerical-gradient run (chapter 4) will take, timed on the network before it starts.

:func:`estimate_numerical_costs` times one step and one epoch-end evaluation;
:func:`numerical_run_note` turns that into the one line ``mitbadak train`` says before it starts
(``about 0.8 s per iteration ..., so 10,000 iterations take about 2.2 h``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from mitbadak.core._checks import labels_to_indices
from mitbadak.core.differentiation import central_difference

__all__ = [
    "estimate_numerical_costs",
    "numerical_run_note",
    "estimate_step_costs",
    "backprop_run_note",
    "format_duration",
]


def estimate_numerical_costs(
    network, x_train, t_train, batch_size: int, eval_sets=(), budget: float = 2.0
) -> tuple[float, float]:
    """Seconds per numerical-gradient step and per epoch-end evaluation, measured on this network.

    The step is timed on the real path (the trainer's own gradient function). When a whole step
    would take long (networks the fast path does not handle), a sample of parameter elements is
    timed through the same central differences and scaled by the number of elements, so the
    estimate itself takes at most about ``budget`` seconds.
    """
    from mitbadak.nn.gradcheck import supports_fast
    from mitbadak.training.loop import evaluate_checked
    from mitbadak.training.steps import numerical_loss_and_gradient

    n = min(batch_size, len(x_train))
    x2 = np.asarray(x_train[:n]).reshape(n, -1).astype(network.dtype)
    t2 = labels_to_indices(t_train[:n], n, network.output_size)
    if supports_fast(network):
        step = numerical_loss_and_gradient(network)
        best = math.inf
        spent = 0.0
        while spent < budget / 2 or best == math.inf:
            t0 = time.perf_counter()
            step(x2, t2)
            took = time.perf_counter() - t0
            best, spent = min(best, took), spent + took
            if spent > budget / 4 and best < math.inf and took > budget / 8:
                break
        per_step = best
    else:
        per_step = _sample_central_differences(network, x2, t2, budget)
    sets = [s for s in eval_sets if s is not None]
    x_eval = np.asarray(x_train[:10_000]).reshape(min(len(x_train), 10_000), -1)
    t_eval = labels_to_indices(t_train[:10_000], len(x_eval), network.output_size)
    t0 = time.perf_counter()
    evaluate_checked(network, x_eval, t_eval)
    for xs, ts in sets:
        xs2 = np.asarray(xs).reshape(len(xs), -1)
        evaluate_checked(network, xs2, labels_to_indices(ts, len(xs2), network.output_size))
    per_eval = time.perf_counter() - t0
    return per_step, per_eval


def _sample_central_differences(network, x2, t2, budget: float) -> float:
    """Time the reference path's central differences on a few elements; scale to all of them."""
    from mitbadak.nn.networks import network_from_config

    clone = network_from_config(
        dict(network.config(), dtype="float64"),
        {k: v.astype(np.float64) for k, v in network.params.items()},
    )
    work = clone.params
    x64 = x2.astype(np.float64)
    rng = np.random.default_rng(0)
    total = sum(v.size for v in work.values())
    done, spent = 0, 0.0
    t0 = time.perf_counter()
    while spent < budget / 2 or done < 4:
        for v in work.values():
            flat = v.reshape(-1)
            i = int(rng.integers(flat.size))
            central_difference(lambda _p: clone.batch_loss(x64, t2), v, flat, i, 1e-4)
            done += 1
        spent = time.perf_counter() - t0
        if done >= 400:
            break
    return spent / done * total


def numerical_run_note(
    network,
    x_train,
    t_train,
    *,
    batch_size: int,
    epochs: int | None,
    iters: int | None,
    start_iteration: int = 0,
    eval_sets=(),
) -> str:
    """The line said before a numerical-gradient run: time per iteration and for what is left.

    total = ``iters`` or ``epochs`` x batches per epoch; left = total - ``start_iteration``;
    seconds = per_step x left + per_eval x (left / batches + 1).
    """
    per_step, per_eval = estimate_numerical_costs(
        network, x_train, t_train, batch_size, eval_sets
    )
    batches = -(-len(x_train) // batch_size)
    total = iters or epochs * batches
    todo = max(total - start_iteration, 0)
    seconds = per_step * todo + per_eval * (todo / batches + 1)
    return (
        f"numerical gradient (chapter 4): about {format_duration(per_step)} per iteration "
        f"(timed on this network), so {todo:,} iterations take about {format_duration(seconds)}"
    )


def estimate_step_costs(
    network, x_train, t_train, batch_size: int, n_eval: int, repeats: int = 3
) -> tuple[float, float]:
    """Seconds per backprop step and per epoch-end evaluation of ``n_eval`` samples, measured on
    a copy of ``network`` (the network, its optimizer and its dropout generators are not touched)
    with the trainer's own CPU step and scores: the best of ``repeats`` steps after one warm-up,
    and the scores of one batch scaled to ``n_eval``."""
    from mitbadak.training.steps import _host_fast, choose_scores

    probe = network.copy()
    n = min(batch_size, len(x_train))
    x = np.asarray(x_train[:n]).astype(probe.dtype)
    t = labels_to_indices(t_train[:n], n, probe.output_size)
    step, _why = _host_fast(probe)
    if step is None:
        step = probe.loss_and_gradient_layers
    best = math.inf
    for i in range(repeats + 1):
        started = time.perf_counter()
        step(x, t)
        if i:  # the first call builds the fast path's buffers
            best = min(best, time.perf_counter() - started)
    scores = choose_scores(probe)
    started = time.perf_counter()
    scores(x)
    per_eval = (time.perf_counter() - started) / n * n_eval
    return best, per_eval


def backprop_run_note(
    network,
    x_train,
    t_train,
    *,
    batch_size: int,
    epochs: int | None,
    iters: int | None,
    start_iteration: int = 0,
    n_eval: int = 0,
) -> str:
    """The line said before a long backprop run (the convnets): time per iteration, timed on
    this network, and for what is left: per_step x left + per_eval x (left / batches + 1)."""
    per_step, per_eval = estimate_step_costs(network, x_train, t_train, batch_size, n_eval)
    batches = -(-len(x_train) // batch_size)
    total = iters or epochs * batches
    todo = max(total - start_iteration, 0)
    seconds = per_step * todo + per_eval * (todo / batches + 1)
    return (
        f"about {format_duration(per_step)} per iteration (timed on this network), so "
        f"{todo:,} iterations take about {format_duration(seconds)}"
    )


def format_duration(seconds: float) -> str:
    """'3.2 s', '42 s', '17 min' or '2.5 h'."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
