"""The convnets' parameter files: ``SimpleConvNet.load_params``/``save_params`` (and
``DeepConvNet``'s) read and write through here (registered into
:data:`mitbadak.nn.convnets.PARAM_FILES` when this module is imported; the package root does).

* ``save``: mitbadak's ``.npz`` (:func:`mitbadak.files.modelfile.save_arrays`, atomic), under
  exactly the name given, even ``params.pkl``: nothing mitbadak writes is a pickle.
* ``load``: that ``.npz``, or a pickle of a dict of arrays (the book's ``params.pkl`` and
  ``deep_convnet_params.pkl``), read by the opcode interpreter of
  :mod:`mitbadak.files.bookweights` (no code runs; a pickle naming anything but NumPy's array
  machinery is refused with one :class:`~mitbadak.files.bookweights.BookPickleError`). The file's
  SHA-256 says which of the book's files it is (:data:`BOOK_CONVNET_FILES`): the 2016 files the
  book printed its figures from, or their 2022 replacements on the repository's master, whose
  weights differ (a :class:`BookWeightsVersionWarning` says so).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mitbadak.core.errors import ModelFileError
from mitbadak.files.bookweights import (
    MAX_PICKLE_BYTES,
    BookPickleError,
    _book_file_path,
    _read_file,
    import_book_weights,
    read_array_pickle,
)
from mitbadak.files.modelfile import load_arrays, save_arrays
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet, register_param_files

__all__ = [
    "BookConvnetFile",
    "BOOK_CONVNET_FILES",
    "BookWeightsVersionWarning",
    "load_convnet_params",
    "save_convnet_params",
    "convnet_for_arrays",
    "import_convnet",
    "import_weights",
]


class BookWeightsVersionWarning(UserWarning):
    """The loaded file is not the one the book printed its figures from."""


class BookConvnetFile(NamedTuple):
    """One of the book's convnet pickles, known by its SHA-256."""

    path: str  # in the book's repository
    network: str  # the class it fits
    version: str  # '2016 book' or '2022 master'
    accuracy: float  # on the 10,000 MNIST test images, with the book's own code


#: The four files of the book's repository (facts: SHA-256 of each, what it is, its accuracy).
BOOK_CONVNET_FILES: dict[str, BookConvnetFile] = {
    "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779":
        BookConvnetFile("ch07/params.pkl", "SimpleConvNet", "2016 book", 0.9890),
    "a5da99cffddafcfe5e686e79dc0ec3a7cc993b58e64f483b50960511e5e85344":
        BookConvnetFile("ch07/params.pkl", "SimpleConvNet", "2022 master", 0.9600),
    "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc":
        BookConvnetFile("ch08/deep_convnet_params.pkl", "DeepConvNet", "2016 book", 0.9935),
    "4b7a27baee2037605afa94d3f514ca9fa9cc96623739328609765073cfd5f802":
        BookConvnetFile("ch08/deep_convnet_params.pkl", "DeepConvNet", "2022 master", 0.9797),
}  # fmt: skip

_BOOK_FIGURES = {"SimpleConvNet": 0.9890, "DeepConvNet": 0.9935}


def _note(known: BookConvnetFile | None) -> str:
    if known is None:
        return "not one of the book's files (its SHA-256 is not listed)"
    if known.version == "2016 book":
        return (f"the book's {known.path} as first published (2016): the weights the book's "
                f"figures come from (test accuracy {known.accuracy:.4f})")  # fmt: skip
    return (f"the book's {known.path} from the repository's master (replaced in 2022): "
            f"different weights from the book's, test accuracy {known.accuracy:.4f} instead of "
            f"the book's {_BOOK_FIGURES[known.network]:.4f}; the 2016 file is at commit "
            "0dda3d1")  # fmt: skip


def load_convnet_params(file_name: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, source)`` of a convnet parameter file: mitbadak's ``.npz`` or a pickle of a
    dict of NumPy arrays (never run). ``source``: ``file``, ``format`` ('mitbadak-npz' or
    'pickle'), ``sha256`` and, for the book's files, ``version``, ``book_path``, ``network``,
    ``accuracy``; always a ``note`` in words. A 2022 master file warns
    (:class:`BookWeightsVersionWarning`). Any unreadable file: one ``ModelFileError``."""
    path = _book_file_path(file_name)  # a bare book name also looks where downloads go
    where = str(path)
    data = _read_file(path, "a parameter file (.npz or the book's pickle)", MAX_PICKLE_BYTES)
    digest = hashlib.sha256(data).hexdigest()
    source: dict[str, Any] = {"file": where, "sha256": digest}
    if data[:2] == b"PK":  # a zip: mitbadak's .npz
        arrays, metadata = load_arrays(path)
        source.update(format="mitbadak-npz", note="a parameter file saved by mitbadak")
        if isinstance(metadata.get("source"), dict):
            source["saved_from"] = metadata["source"]
        return arrays, source
    obj = read_array_pickle(data, where)
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and type(v) is np.ndarray for k, v in obj.items()
    ):
        raise BookPickleError(
            f"{where}: expected a dict of named NumPy arrays (the book's params.pkl), got "
            f"{type(obj).__name__}"
        )
    known = BOOK_CONVNET_FILES.get(digest)
    source["format"] = "pickle"
    if known is not None:
        source.update(version=known.version, book_path=known.path, network=known.network,
                      accuracy=known.accuracy)  # fmt: skip
    source["note"] = _note(known)
    if known is not None and known.version != "2016 book":
        warnings.warn(BookWeightsVersionWarning(f"{Path(where).name}: {source['note']}"),
                      stacklevel=3)  # fmt: skip
    return {k: np.ascontiguousarray(v) for k, v in obj.items()}, source


def save_convnet_params(
    file_name: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    """Write ``arrays`` and ``metadata`` to exactly ``file_name`` as mitbadak's ``.npz``
    (atomic: an interrupted save leaves the previous file as it was)."""
    return save_arrays(file_name, arrays, metadata)


register_param_files(load_convnet_params, save_convnet_params)


# ---------------------------------------------------------------------------------------------
# A parameter file as a network: `mitbadak import-weights`, `evaluate`, `predict`, `serve`

_SIMPLE_KEYS = {f"{s}{i}" for s in "Wb" for i in range(1, 4)}
_DEEP_KEYS = {f"{s}{i}" for s in "Wb" for i in range(1, 9)}
#: the book's DeepConvNet pads (conv4: 2)
_DEEP_PADS = (1, 1, 1, 2, 1, 1)


def convnet_for_arrays(arrays: Mapping[str, np.ndarray], where: str = "the file") -> Any | None:
    """The book's convnet (fresh weights) that a file's arrays are meant for, by their keys and
    shapes: W1..W3/b1..b3 with a 4-D W1 -> ``SimpleConvNet``, W1..W8/b1..b8 -> ``DeepConvNet``,
    on 28x28 images of W1's channels; ``None`` for anything else (e.g. sample_weight.pkl).
    Its ``load_params`` then checks every shape (naming the key and both shapes)."""
    keys = set(arrays)
    w1 = arrays.get("W1")
    if w1 is None or np.ndim(w1) != 4 or keys not in (_SIMPLE_KEYS, _DEEP_KEYS):
        return None
    if any(np.size(v) == 0 for v in arrays.values()):
        raise ModelFileError(f"{where}: an array is empty; not a trained network's parameters")
    last = "W3" if keys == _SIMPLE_KEYS else "W8"
    hidden_key = "W2" if keys == _SIMPLE_KEYS else "W7"
    for key in (hidden_key, last):
        if np.ndim(arrays[key]) != 2:
            raise ModelFileError(
                f"{where}: {key} has shape {tuple(np.shape(arrays[key]))}; an Affine weight "
                "is 2-D (inputs, outputs)"
            )
    channels = int(w1.shape[1])
    hidden, classes = int(arrays[hidden_key].shape[1]), int(arrays[last].shape[1])
    if keys == _SIMPLE_KEYS:
        conv = {"filter_num": int(w1.shape[0]), "filter_size": int(w1.shape[2]), "pad": 0,
                "stride": 1}  # fmt: skip
        return SimpleConvNet((channels, 28, 28), conv, hidden, classes, seed=0)
    convs = []
    for i, pad in enumerate(_DEEP_PADS, start=1):
        w = arrays[f"W{i}"]
        if np.ndim(w) != 4:
            raise ModelFileError(
                f"{where}: W{i} has shape {tuple(np.shape(w))}; a convolution's weight is 4-D "
                "(filters, channels, h, w)"
            )
        convs.append({"filter_num": int(w.shape[0]), "filter_size": int(w.shape[2]),
                      "pad": pad, "stride": 1})  # fmt: skip
    return DeepConvNet((channels, 28, 28), *convs, hidden_size=hidden, output_size=classes,
                       seed=0)  # fmt: skip


def import_convnet(file_name: str | os.PathLike) -> Any:
    """The book's ``params.pkl`` / ``deep_convnet_params.pkl`` (any of the four, or a
    ``save_params`` file) as the ``SimpleConvNet`` or ``DeepConvNet`` it holds, read without
    running it; ``net.metadata['source']`` says which file and version it was (a 2022 master
    file also warns: :class:`BookWeightsVersionWarning`). ModelFileError if the arrays are no
    convnet's."""
    arrays, _source = load_convnet_params(file_name)
    net = convnet_for_arrays(arrays, str(file_name))
    if net is None:
        raise ModelFileError(
            f"{file_name}: holds {', '.join(sorted(arrays)) or 'no arrays'}; expected the "
            "book's SimpleConvNet (W1..W3, b1..b3, W1 4-D) or DeepConvNet (W1..W8, b1..b8)"
        )
    with warnings.catch_warnings():  # load_convnet_params warned above already
        warnings.simplefilter("ignore", BookWeightsVersionWarning)
        net.load_params(file_name)
    return net


def import_weights(file_name: str | os.PathLike) -> Any:
    """Any of the book's weight pickles as a network: ``sample_weight.pkl`` (chapter 3) ->
    ``MultiLayerNet`` (:func:`~mitbadak.files.bookweights.import_book_weights`); the chapter 7-8
    pickles -> ``SimpleConvNet``/``DeepConvNet`` (:func:`import_convnet`). A bare name of one
    of the book's files is also looked for where ``mitbadak data download`` puts it."""
    path = _book_file_path(file_name)
    with warnings.catch_warnings():  # import_convnet warns (once) for a 2022 file
        warnings.simplefilter("ignore", BookWeightsVersionWarning)
        arrays, _source = load_convnet_params(path)
    if convnet_for_arrays(arrays, str(path)) is None:
        return import_book_weights(path)
    return import_convnet(path)
