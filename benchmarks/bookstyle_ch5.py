"""The book-style chapter-5 script, end to end: what ``mitbadak train --recipe ch5`` is timed
against.

Written from scratch the way the book's ``ch05/train_neuralnet.py`` works, so that the benchmark
compares whole jobs, start-up and data loading included:

* data as the book's ``dataset/mnist.py`` loads it: the first run parses the four ``.gz`` files
  (``gzip`` + ``np.frombuffer``) and stores the arrays in a pickle next to them; every later run
  reads that pickle. Images float32 / 255, labels one-hot float32;
* TwoLayerNet 784-50-10 with ReLU (the chapter-5 net), weights 0.01 * N(0, 1) in float64, layer
  objects in an OrderedDict (``bookstyle.BookNet``);
* 10,000 iterations of a batch of 100 drawn by ``np.random.choice``, backprop, SGD lr 0.1, the loss
  recomputed after each update and kept in a list; every 600 iterations (one epoch) the accuracy
  of the whole training set and the whole test set.

Usage: ``python bookstyle_ch5.py DATA_DIR PICKLE [--iters N]``; prints one JSON line with the
stage times (``load``, ``train``) and the final test accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import time
from pathlib import Path

import bookstyle
import numpy as np

FILES = {
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}


def _parse(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), np.uint8, offset=offset)


def load_dataset(data_dir: Path, pickle_path: Path) -> dict[str, np.ndarray]:
    """The book's loader: parse the .gz files once into a pickle, then read only the pickle."""
    if not pickle_path.exists():
        dataset = {}
        for key, name in FILES.items():
            if key.endswith("img"):
                dataset[key] = _parse(data_dir / name, 16).reshape(-1, 784)
            else:
                dataset[key] = _parse(data_dir / name, 8)
        tmp = pickle_path.with_name(pickle_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(dataset, fh, -1)
        os.replace(tmp, pickle_path)
    with open(pickle_path, "rb") as fh:
        dataset = pickle.load(fh)  # the benchmark's own file, written just above
    return dataset


def one_hot(labels: np.ndarray) -> np.ndarray:
    t = np.zeros((labels.size, 10), dtype=np.float32)
    t[np.arange(labels.size), labels] = 1
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("pickle", type=Path)
    ap.add_argument("--iters", type=int, default=10_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ds = load_dataset(args.data_dir, args.pickle)
    x_train = ds["train_img"].astype(np.float32)
    x_train /= 255.0
    x_test = ds["test_img"].astype(np.float32)
    x_test /= 255.0
    t_train, t_test = one_hot(ds["train_label"]), one_hot(ds["test_label"])
    t1 = time.perf_counter()

    net = bookstyle.BookNet([784, 50, 10], "relu", std=0.01, seed=0)
    opt = bookstyle.SGD(0.1)
    train_size, batch_size = x_train.shape[0], 100
    iter_per_epoch = max(train_size // batch_size, 1)
    losses, train_acc, test_acc = [], [], []
    for i in range(args.iters):
        mask = np.random.choice(train_size, batch_size)
        xb, tb = x_train[mask], t_train[mask]
        opt.update(net.params, net.gradient(xb, tb))
        losses.append(net.loss(xb, tb))
        if i % iter_per_epoch == 0:
            train_acc.append(net.accuracy(x_train, t_train))
            test_acc.append(net.accuracy(x_test, t_test))
    t2 = time.perf_counter()
    print(json.dumps({
        "load": t1 - t0,
        "train": t2 - t1,
        "test_acc": test_acc[-1],
        "epochs_evaluated": len(test_acc),
    }))


if __name__ == "__main__":
    main()
