"""Peak memory of training on Fashion-MNIST, measured in a fresh process by benchmarks/run.py.

Usage: python benchmarks/memory_child.py ITERATIONS  -> prints one JSON line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from benchdata import BATCH, HIDDEN, LR, load_fashion

from mitbadak.nn.networks import MultiLayerNet
from mitbadak.nn.optimizers import Momentum
from mitbadak.training.loop import train


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that across exec
    from the parent, so a child would report the benchmark runner's own peak."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> int:
    iters = int(sys.argv[1])
    base = peak_rss_kib()
    (x, t), (xt, tt), source = load_fashion()
    data_bytes = x.nbytes + xt.nbytes + t.nbytes + tt.nbytes
    net = MultiLayerNet(784, list(HIDDEN), 10, "relu", "he", dtype=np.float32, seed=0)
    train(net, (x, t), (xt, tt), optimizer=Momentum(LR, 0.9), batch_size=BATCH, iters=iters)
    peak = peak_rss_kib()
    print(json.dumps({"baseline_kib": base, "peak_kib": peak, "dataset_bytes": data_bytes,
                      "source": source}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
