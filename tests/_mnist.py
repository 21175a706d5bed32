"""MNIST test images for tests whose point does not need the real files.

The real test set is used when ``../shared/data/mnist`` sits beside the repository; elsewhere the
test split of the shipped ``mnist-sample`` (1,000 real MNIST digits) stands in, so these tests
run instead of skipping. Tests about the real files themselves (checksums, the book's 93.52 %)
keep their own skips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

#: mnist-sample test images standing in for the real test set's first three (a 7, a 2 and a 1):
#: the first 7, 2 and 1 whose hidden ReLU pre-activations stay more than 20 h from 0 for the
#: seeded networks of test_gradcheck (the first ones come within 4.3 h; see ``relu_margin``).
SAMPLE_7_2_1 = (16, 50, 14)


def have_real_mnist() -> bool:
    return (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file()


def mnist_test_images() -> tuple[np.ndarray, np.ndarray, str]:
    """(images (N, 784) uint8, labels (N,) int64, dataset name): the real MNIST test set, or
    mnist-sample's test split without it."""
    from mitbadak.files.datasets import load_split

    if have_real_mnist():
        x, t = load_split("mnist", "test", normalize=False, data_dir=SHARED_MNIST, download=False)
        name = "mnist"
    else:
        x, t = load_split("mnist-sample", "test", normalize=False, download=False)
        name = "mnist-sample"
    return x.reshape(len(x), -1), t.astype(np.int64), name


def first_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test images scaled to [0, 1] in float64, and their labels."""
    x, t, _ = mnist_test_images()
    return x[:n] / 255.0, t[:n]


def digits_7_2_1() -> tuple[np.ndarray, np.ndarray]:
    """Three test digits, a 7, a 2 and a 1, in [0, 1] float64: the real test set's first three,
    or :data:`SAMPLE_7_2_1` of mnist-sample."""
    x, t, name = mnist_test_images()
    rows = [0, 1, 2] if name == "mnist" else list(SAMPLE_7_2_1)
    return x[rows] / 255.0, t[rows]
