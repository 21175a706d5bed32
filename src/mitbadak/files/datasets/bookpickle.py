"""The book repository's ``dataset/mnist.pkl``, read safely when it is all a data folder holds.

The book's ``mnist.py`` converts the four IDX files into one pickle: a dict with keys
``train_img``, ``train_label``, ``test_img``, ``test_label`` of uint8 arrays, images shaped
(N, 784) and labels (N,). Learners who cloned the book's repository often have only that file.
It is read with :func:`mitbadak.files.bookweights.read_array_pickle` (no pickle code runs).

No checksum of ``mnist.pkl`` is published, and none can be: its bytes depend on the Python and
NumPy versions and the pickle protocol that wrote it. Its structure is checked instead: exactly
those four keys, uint8 arrays, 784 pixels per image, 60,000 training and 10,000 test samples
(the counts of the IDX files it was made from), labels 0-9.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mitbadak.core.errors import DataError, ModelFileError
from mitbadak.files.datasets.registry import DatasetSpec

__all__ = ["BOOK_PICKLE_NAME", "find_book_pickle", "read_book_pickle"]

BOOK_PICKLE_NAME = "mnist.pkl"
_KEYS = {"train": ("train_img", "train_label"), "test": ("test_img", "test_label")}


def find_book_pickle(spec: DatasetSpec, splits: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    """The book's ``mnist.pkl`` in the first of ``dirs`` that holds it or the IDX files.

    Only for MNIST. A folder with every IDX file that ``splits`` need is left to the IDX route
    (verified by checksum), so the pickle is read only where it is the only copy.
    """
    if spec.name != "mnist":
        return None
    needed = [f.filename for split in splits for f in spec.split_files(split)]
    for folder in dirs:
        if all((folder / name).is_file() for name in needed):
            return None
        if (folder / BOOK_PICKLE_NAME).is_file():
            return folder / BOOK_PICKLE_NAME
    return None


def read_book_pickle(
    path: str | os.PathLike, spec: DatasetSpec, splits: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images (N, 28, 28) uint8, labels (N,) uint8)}`` from the book's ``mnist.pkl``.

    Raises :class:`DataError` naming the file for anything but the structure described above.
    """
    from mitbadak.files.bookweights import load_array_pickle

    where = str(path)
    try:
        obj = load_array_pickle(path)
    except ModelFileError as exc:
        raise DataError(str(exc)) from None
    expected = sorted(k for pair in _KEYS.values() for k in pair)
    if not isinstance(obj, dict) or sorted(map(str, obj)) != expected:
        found = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise DataError(
            f"{where}: expected the book's mnist.pkl, a dict with keys {expected}; found {found}"
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in splits:
        img_spec, lbl_spec = spec.split_files(split)
        img_key, lbl_key = _KEYS[split]
        images, labels = obj[img_key], obj[lbl_key]
        n, pixels = img_spec.shape[0], int(np.prod(img_spec.shape[1:]))
        for key, arr, shape in ((img_key, images, (n, pixels)), (lbl_key, labels, (n,))):
            if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.shape != shape:
                what = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else "not an array"
                raise DataError(f"{where}: {key} must be uint8 of shape {shape}; found {what}")
        if int(labels.max()) >= len(spec.classes):
            raise DataError(
                f"{where}: {lbl_key} holds label {int(labels.max())}; "
                f"expected 0-{len(spec.classes) - 1}"
            )
        out[split] = (images.reshape(img_spec.shape), labels)
    return out
