"""The book's ``dataset/mnist.py``: ``load_mnist(normalize=True, flatten=True,
one_hot_label=False)`` returning ``(x_train, t_train), (x_test, t_test)``.

It is :func:`mitbadak.files.datasets.load_mnist`: the four MNIST files are found on disk or
downloaded once (checked by SHA-256); ``name='mnist-sample'`` loads the sample that ships with
mitbadak. One difference, so the book's scripts run offline: called without ``name=`` (as every
book script calls it), when MNIST cannot be found or downloaded, this face prints one note and
falls back -- the training split from the packaged ``mnist-sample`` (4,000 real MNIST training
digits), the test split from the real MNIST test set where a searched folder holds it (e.g.
``$MITBADAK_DATA``), else from the sample. The note says which data was used.
"""

from __future__ import annotations

import sys

from mitbadak.core.errors import DatasetUnavailable
from mitbadak.files import datasets as _datasets

__all__ = ["load_mnist"]


def load_mnist(normalize=True, flatten=True, one_hot_label=False, **kwargs):
    """The book's ``load_mnist``; see the module docstring for the offline fallback (a note on
    stderr naming the data used). With ``name=`` given, exactly the library's function."""
    try:
        return _datasets.load_mnist(normalize, flatten, one_hot_label, **kwargs)
    except DatasetUnavailable as exc:
        if "name" in kwargs:  # a dataset asked for by name: no stand-in
            raise
        missing = ", ".join(exc.missing)
    fmt = {"normalize": normalize, "flatten": flatten, "one_hot_label": one_hot_label}
    data_dir = kwargs.get("data_dir")
    train = _datasets.load_split("mnist-sample", "train", **fmt, download=False)
    if _datasets.locate("mnist", data_dir, split="test") is not None:
        test = _datasets.load_split("mnist", "test", **fmt, data_dir=data_dir, download=False)
        test_note = f"the real MNIST test set ({len(test[0])} images)"
    else:
        test = _datasets.load_split("mnist-sample", "test", **fmt, download=False)
        test_note = f"mnist-sample's test split ({len(test[0])} images, also MNIST training digits)"
    print(
        f"load_mnist: MNIST is not available here (missing {missing}); using the packaged "
        f"mnist-sample for training ({len(train[0])} images) and {test_note}. Set MITBADAK_DATA "
        "to a folder holding the four MNIST files, or run `mitbadak data download mnist`, for "
        "the full set.",
        file=sys.stderr,
    )
    return train, test
