"""The `extend` case: one MultiLayerNetExtend gradient step (forward + backward).

784-100x5-10, BatchNorm + Dropout 0.2 after every hidden layer, ReLU, batch 100: mitbadak float32
(the CPU fast path ``nn.fast_extend``, as the trainer runs it) vs the book-style float64 layers
(``bookstyle.BookExtendNet``) vs PyTorch CPU float32 (``nn.Sequential`` with BatchNorm1d/Dropout,
``model.train()``, ``F.cross_entropy`` and ``backward``). No optimizer update in any of them.
Each timed call runs ``STEPS`` steps on rotating batches and returns seconds per step; the
contenders alternate (``run.measure``) and the medians are compared.

Standalone: ``python benchmarks/extend.py [--reps 15] [--threads 1]``; in ``run.py`` as the case
``extend``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import bookstyle
import numpy as np

from mitbadak.nn import fast_extend
from mitbadak.nn.networks import MultiLayerNetExtend

SIZES = [784, 100, 100, 100, 100, 100, 10]
RATIO = 0.2
BATCH = 100
STEPS = 50
pc = time.perf_counter


def _data(x=None, t=None, n: int = 2000):
    """``n`` images (the MNIST test set's first when given, else MNIST-like random ones)."""
    if x is not None:
        return np.asarray(x[:n], dtype=np.float64), np.asarray(t[:n], dtype=np.int64)
    rng = np.random.default_rng(0)
    xs = rng.random((n, 784))
    xs[xs < 0.8] = 0.0
    return xs, rng.integers(0, 10, n)


def check_bookstyle_gradient() -> float:
    """max |book-style - mitbadak layers| over every gradient, dropout ratio 0 (no mask noise):
    the book-style code is a correct contender (float64, tiny net)."""
    net = MultiLayerNetExtend(12, [7, 6], 4, use_batchnorm=True, use_dropout=True,
                              dropout_ration=0.0, seed=1)  # fmt: skip
    book = bookstyle.BookExtendNet([12, 7, 6, 4], dropout_ratio=0.0)
    for k, v in net.params.items():
        book.params[k][...] = v
    x, t = _data(n=9)[0][:, :12], np.arange(9) % 4
    ours = net.gradient(x, t)
    theirs = book.gradient(x, bookstyle.one_hot(t, 4))
    return max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in ours)


def contenders(x=None, t=None, torch=None) -> dict[str, Callable[[], float]]:
    x64, t_idx = _data(x, t)
    n = x64.shape[0]
    starts = list(range(0, n - BATCH + 1, BATCH))

    def batches():
        for i in range(STEPS):
            s = starts[i % len(starts)]
            yield s, s + BATCH

    net = MultiLayerNetExtend(784, SIZES[1:-1], 10, use_batchnorm=True, use_dropout=True,
                              dropout_ration=RATIO, seed=0, dtype=np.float32)  # fmt: skip
    plan = fast_extend.plan(net)
    x32 = x64.astype(np.float32)

    def mit() -> float:
        t0 = pc()
        for a, b in batches():
            fast_extend.loss_and_gradient(net, x32[a:b], t_idx[a:b], plan)
        return (pc() - t0) / STEPS

    book = bookstyle.BookExtendNet(SIZES, RATIO)
    t_hot = bookstyle.one_hot(t_idx, 10)

    def book_run() -> float:
        t0 = pc()
        for a, b in batches():
            book.gradient(x64[a:b], t_hot[a:b])
        return (pc() - t0) / STEPS

    out = {"mitbadak": mit, "book-style": book_run}
    if torch is not None:
        import torch.nn.functional as F

        torch.manual_seed(0)
        layers = []
        for i in range(1, len(SIZES) - 1):
            layers += [torch.nn.Linear(SIZES[i - 1], SIZES[i]), torch.nn.BatchNorm1d(SIZES[i]),
                       torch.nn.ReLU(), torch.nn.Dropout(RATIO)]  # fmt: skip
        layers.append(torch.nn.Linear(SIZES[-2], SIZES[-1]))
        model = torch.nn.Sequential(*layers)
        model.train()
        xt, tt = torch.from_numpy(x32), torch.from_numpy(t_idx)

        def torch_run() -> float:
            t0 = pc()
            for a, b in batches():
                model.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[a:b]), tt[a:b])
                loss.backward()
            return (pc() - t0) / STEPS

        out["pytorch"] = torch_run
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/PyTorch threads (default 1)")
    args = ap.parse_args(argv)
    from benchdata import SHARED, load_mnist_test
    from run import TORCH_MISSING, measure, pin_threads, torch
    from threadpoolctl import threadpool_limits

    x = t = None
    if (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        x, t = load_mnist_test()
    print(f"book-style gradient check: max |diff| = {check_bookstyle_gradient():.1e}")
    if TORCH_MISSING:
        print(TORCH_MISSING)
    with threadpool_limits(limits=args.threads):
        pin_threads(args.threads)
        times = measure(contenders(x, t, torch), args.reps, warmup={"mitbadak", "book-style",
                                                                     "pytorch"})  # fmt: skip
    med = {k: statistics.median(v) for k, v in times.items()}
    data = "MNIST test images" if x is not None else "MNIST-like random images"
    print(f"extend step, {args.threads} thread(s), {data}, median of {args.reps}:")
    for k, v in med.items():
        print(f"  {k:11s} {v * 1e3:7.3f} ms per step  ({v / med['mitbadak']:.2f}x mitbadak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
