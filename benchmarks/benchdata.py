"""Data and shared constants of the benchmarks (NumPy and mitbadak only, so the memory child
process stays free of PyTorch and scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mitbadak.files.datasets.idx import read_idx

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FASHION = Path("/usr/share/datasets/fashion-mnist")
BATCH = 100
LR = 0.1
HIDDEN = (256, 128)  # the default `mitbadak train` recipe: MultiLayerNet 784-256-128-10


def load_fashion():
    """Fashion-MNIST (60,000 + 10,000): float32 in [0, 1], int64 labels; synthetic if absent."""
    source = "fashion-mnist (" + str(FASHION) + ")"
    try:
        parts = [read_idx(FASHION / f"{s}-{k}-idx{d}-ubyte.gz")
                 for s in ("train", "t10k") for k, d in (("images", 3), ("labels", 1))]
    except OSError:
        try:
            from mitbadak.files.datasets import load_mnist

            (xa, ta), (xb, tb) = load_mnist(name="fashion-mnist", download=False)
            parts = [xa, ta, xb, tb]
            source = "fashion-mnist (mitbadak.files.datasets)"
        except Exception:  # noqa: BLE001 - fall back to random data with a note
            rng = np.random.default_rng(0)
            parts = [rng.integers(0, 256, (60000, 784), dtype=np.uint8), rng.integers(0, 10, 60000),
                     rng.integers(0, 256, (10000, 784), dtype=np.uint8), rng.integers(0, 10, 10000)]
            source = "synthetic random images (Fashion-MNIST not found)"
    xa, ta, xb, tb = parts
    x_train = xa.reshape(len(xa), -1).astype(np.float32)
    x_train /= 255  # in place: no second float32 copy of the dataset, even briefly
    x_test = xb.reshape(len(xb), -1).astype(np.float32)
    x_test /= 255
    return (x_train, ta.astype(np.int64)), (x_test, tb.astype(np.int64)), source


def load_mnist_test():
    d = SHARED / "mnist"
    x = read_idx(d / "t10k-images-idx3-ubyte.gz").reshape(10000, -1).astype(np.float32) / 255
    t = read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return x.astype(np.float32), t
