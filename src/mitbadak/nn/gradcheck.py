"""Gradient checking (chapter 5) and the numerical gradient of layer networks (chapter 4).

Two ways to get the same central differences for a network's parameters:

* :func:`numerical_gradient_reference` - the book's way: perturb one parameter by +-h, rerun the
  whole network, and take (L(+h) - L(-h)) / 2h. Simple, and the yardstick for everything else.
* :func:`numerical_gradient_fast` - for one hidden layer. Perturbing W1[i, j] by +-h only moves
  hidden unit j of the samples with x[n, i] != 0 (most MNIST pixels are 0), by
  delta = act(a1[n, j] +- h x[n, i]) - z1[n, j]; the scores then move by delta * W2[j]. With the
  softmax p_n of the unperturbed scores, logsumexp moves by
  log(sum_c p_nc exp(delta W2[j, c])) = log1p(sum_{k>=1} delta^k M_k[n, j] / k!),
  M_k = p . (W2^T)^k, a short power series because |delta W2| ~ h. So every (sample, pixel, hidden
  unit) costs a few multiply-adds instead of a forward pass. b1 is W1's row for a constant input 1.
  The output layer's perturbations have a closed form: moving score k by d changes logsumexp by
  log1p(p_k expm1(d)). It agrees with the reference to ~1e-12 and is thousands of times faster.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from mitbadak.core.backend import to_host
from mitbadak.core.differentiation import numerical_gradient
from mitbadak.nn.layers import ACTIVATIONS

__all__ = [
    "GradientCheckRow",
    "gradient_check",
    "numerical_gradient_reference",
    "numerical_gradient_fast",
    "supports_fast",
]


@dataclass(frozen=True)
class GradientCheckRow:
    """One parameter's comparison of numerical and backprop gradients.

    ``max_abs`` = max_i |num_i - bp_i|; ``max_rel`` = max_abs / max(max_i |num_i|, max_i |bp_i|),
    i.e. the worst difference relative to the gradient's own scale (elements that are ~0 in both
    would make an element-wise ratio meaningless).
    """

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float


def gradient_check(
    network, x, t, *, h: float = 1e-4, method: str = "auto"
) -> list[GradientCheckRow]:
    """Compare ``network.numerical_gradient`` with ``network.gradient`` for every parameter.

    ``method`` defaults to ``'auto'``, as ``network.numerical_gradient`` does: the fast path for
    one hidden layer, the book's element-by-element loop otherwise (``'reference'`` always).
    Run it in float64 (``dtype=np.float64``): in float32 the central difference
    is dominated by rounding. Returns one :class:`GradientCheckRow` per parameter, in ``params``
    order.
    On a device, backprop runs there and the numerical half on the host (a float64 NumPy copy).
    """
    numeric = network.numerical_gradient(x, t, h=h, method=method)
    backprop = to_host(network.gradient(x, t))
    rows = []
    for name in network.params:
        a = np.asarray(numeric[name], dtype=np.float64)
        b = np.asarray(backprop[name], dtype=np.float64)
        max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
        scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b)))) if a.size else 0.0
        rows.append(
            GradientCheckRow(name, tuple(a.shape), max_abs, max_abs / scale if scale > 0 else 0.0)
        )
    return rows


def numerical_gradient_reference(
    network, x2: np.ndarray, t2: np.ndarray, h: float = 1e-4, *, on_loss=None
):
    """The plain central difference over every parameter element (the book's loop), in float64.

    ``x2`` is (N, input_size) and ``t2`` integer labels (N,), already validated. ``on_loss()``,
    if given, is called after each of the 2 * (number of parameters) loss evaluations (progress).
    """
    # A float64 copy of the network: the caller's network (dtype, params) is never touched.
    clone = network.copy(dtype="float64")
    work = clone.params
    x64 = np.asarray(x2, dtype=np.float64)
    # A network with train/test layers (BatchNorm, Dropout): the training-mode loss, whose
    # gradient ``gradient`` computes, every evaluation from the same generator states (the same
    # dropout mask: the one the network's next ``gradient`` draws) and running statistics.
    training = any(getattr(layer, "train_flag", False) for layer in getattr(clone, "sequence", ()))
    rngs = clone.rng_states() if training else {}
    buffers = {k: np.array(v) for k, v in clone.buffers.items()} if training else {}

    def loss(_p) -> float:
        if training:
            clone.set_rng_states(rngs)
            for k, v in buffers.items():
                clone.buffers[k][...] = v
        value = clone.batch_loss(x64, t2, train_flg=training)
        if on_loss is not None:
            on_loss()
        return value

    with _one_blas_thread():
        grads = {k: numerical_gradient(loss, v, h) for k, v in work.items()}
    return {k: g.astype(network.dtype, copy=False) for k, g in grads.items()}


def _one_blas_thread():
    """BLAS limited to one thread while the loop runs, where threadpoolctl is installed (else no
    change). The loop is tens of thousands of small matrix products (100x784 by 784x50), on
    which BLAS threads mostly wait for each other: 0.38 ms per loss with one thread against
    1.2-3.3 ms with two on a busy 2-core machine. The limit is process-wide while it lasts."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def supports_fast(network) -> bool:
    """True when :func:`numerical_gradient_fast` handles this network (one hidden layer of a
    registered activation)."""
    return getattr(network, "n_affine", 0) == 2 and network.activation in ACTIVATIONS


def _logsumexp_rows(s: np.ndarray) -> np.ndarray:
    m = s.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True)))[..., 0]


# Series terms are added until the remainder bound u^(K+1) / (K+1)! * e^u is below this.
_SERIES_TOL = 1e-17
_SERIES_MAX_TERMS = 12
# Rows of (sample, pixel) pairs per block: keeps the (rows, hidden) temporaries in cache.
_BLOCK_ELEMENTS = 1 << 15


def series_terms(u: float, tol: float = _SERIES_TOL) -> int | None:
    """Smallest K with u^(K+1) / (K+1)! * e^u < tol (the tail of exp's series at |z| <= u).

    None when more than ``_SERIES_MAX_TERMS`` would be needed (the caller then uses the direct
    formula).
    """
    if not np.isfinite(u):
        return None
    term = 1.0
    for k in range(1, _SERIES_MAX_TERMS + 2):
        term *= u / k  # u^k / k!
        if term * np.exp(u) < tol:
            return max(k - 1, 1)
    return None


def numerical_gradient_fast(network, x2: np.ndarray, t2: np.ndarray, h: float = 1e-4):
    """Central differences of the loss for a one-hidden-layer network, computed in float64.

    Mathematically identical to :func:`numerical_gradient_reference` (same h, same +-h
    evaluations of the same loss); only the arithmetic that a perturbation cannot change is
    shared instead of being recomputed, and the change of logsumexp is summed as a series that is
    truncated below 1e-17 (or computed directly when the series would be long).
    """
    if not supports_fast(network):
        raise ValueError("numerical_gradient_fast handles networks with exactly one hidden layer")
    activation = ACTIVATIONS[network.activation]
    act, slope = activation.apply, activation.max_slope
    p = {k: np.asarray(v, dtype=np.float64) for k, v in network.params.items()}
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    x = np.asarray(x2, dtype=np.float64)
    n = x.shape[0]
    a1 = x @ W1 + b1
    z1 = act(a1)
    s = z1 @ W2 + b2  # scores (N, C)
    rows = np.arange(n)
    lse = _logsumexp_rows(s)
    prob = np.exp(s - lse[:, None])  # softmax (N, C)
    scale = 1.0 / (2.0 * h * n)

    # W1 and b1 (b1 = the weights of a constant input 1, appended as column D).
    x_aug = np.concatenate([x, np.ones((n, 1))], axis=1)
    u = slope * h * float(np.max(np.abs(x_aug))) * float(np.max(np.abs(W2), initial=0.0))
    terms = series_terms(u)
    g_aug = _hidden_diffs(x_aug, a1, z1, prob, W2, t2, h, act, terms)
    gW1 = g_aug[:-1] * scale
    gb1 = g_aug[-1] * scale

    # W2 and b2: score k moves by d = +-h * z1[n, j] (or +-h);
    # logsumexp then moves by log1p(p_k expm1(d)).
    onehot = np.zeros_like(s)
    onehot[rows, t2] = 1.0

    def output_diff(z: np.ndarray) -> np.ndarray:
        """(CE(+h) - CE(-h)) per sample, for score shifts z * h; z is (N, H) -> (N, H, C)."""
        d = h * z[:, :, None]
        pk = prob[:, None, :]
        up = np.log1p(pk * np.expm1(d)) - d * onehot[:, None, :]
        down = np.log1p(pk * np.expm1(-d)) + d * onehot[:, None, :]
        return up - down

    gW2 = output_diff(z1).sum(axis=0) * scale
    gb2 = output_diff(np.ones((n, 1))).sum(axis=0)[0] * scale

    grads = {"W1": gW1, "b1": gb1, "W2": gW2, "b2": gb2}
    lam = network.weight_decay_lambda
    if lam:
        # d/dw of 0.5 * lam * w^2 by central difference is exactly lam * w.
        grads["W1"] = grads["W1"] + lam * W1
        grads["W2"] = grads["W2"] + lam * W2
    return {k: g.astype(network.dtype, copy=False) for k, g in grads.items()}


def _hidden_diffs(x, a1, z1, prob, W2, t2, h, act, terms):
    """G[i, j] = sum_n CE_n(W1[i, j] + h) - CE_n(W1[i, j] - h), for x (N, D), W2 (H, C).

    Only pairs (n, i) with x[n, i] != 0 contribute. They are taken pixel-major (np.nonzero of
    x^T), so each block's rows for one pixel are adjacent and summed with ``np.add.reduceat``.
    """
    n_in = x.shape[1]
    hidden = W2.shape[0]
    nz_i, nz_n = np.nonzero(x.T)
    nz_x = x.T[nz_i, nz_n]
    w_target = W2[:, t2].T  # (N, H): W2[j, t_n]
    if terms is not None:
        # c_k[n, j] = M_k[n, j] / k! = sum_c p_nc W2[j, c]^k / k!
        coeffs = []
        power = np.ones_like(W2)
        for k in range(1, terms + 1):
            power = power * W2 / k
            coeffs.append(prob @ power.T)
    G = np.zeros((n_in, hidden))
    block = max(64, _BLOCK_ELEMENTS // max(hidden, 1))
    for start in range(0, nz_i.size, block):
        stop = min(start + block, nz_i.size)
        bi, bn = nz_i[start:stop], nz_n[start:stop]
        shift = (h * nz_x[start:stop])[:, None]
        a = a1[bn]
        z = z1[bn]
        deltas = (act(a + shift) - z, act(a - shift) - z)
        total = (deltas[1] - deltas[0]) * w_target[bn]  # the -delta * W2[j, t_n] terms
        for sign, delta in zip((1.0, -1.0), deltas, strict=True):
            if terms is None:
                # direct: log sum_c p_nc exp(delta W2[j, c]), with a (rows, H, C) temporary
                change = np.log(np.einsum("rc,rjc->rj", prob[bn], np.exp(delta[:, :, None] * W2)))
            else:
                poly = coeffs[terms - 1][bn]
                for k in range(terms - 2, -1, -1):  # Horner: c_1 + delta (c_2 + delta (...))
                    poly *= delta
                    poly += coeffs[k][bn]
                poly *= delta
                change = np.log1p(poly)
            total += sign * change
        # rows of one pixel are contiguous; sum them, then add (a pixel may span two blocks)
        starts = np.flatnonzero(np.r_[True, bi[1:] != bi[:-1]])
        G[bi[starts]] += np.add.reduceat(total, starts, axis=0)
    return G
