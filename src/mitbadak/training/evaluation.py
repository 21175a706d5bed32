"""Evaluating a trained network: accuracy, loss, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mitbadak.core._checks import check_xt
from mitbadak.core.backend import array_namespace, to_device, to_host
from mitbadak.core.errors import ModelFileError, RunFolderError
from mitbadak.core.functions import softmax
from mitbadak.training.run_folder import training_in_progress  # re-exported: beside the lock
from mitbadak.training.steps import choose_scores

__all__ = [
    "EvaluationReport",
    "evaluate_network",
    "load_any_model",
    "model_file_of",
    "training_in_progress",
    "check_not_training",
]


@dataclass
class EvaluationReport:
    """accuracy = correct / N; loss = mean cross-entropy; confusion[i, j] = #(true i, pred j)."""

    accuracy: float
    loss: float
    n: int
    per_class_accuracy: np.ndarray  # (C,)
    confusion: np.ndarray  # (C, C) int
    predictions: np.ndarray  # (N,) predicted labels
    probabilities: np.ndarray  # (N, C)
    labels: np.ndarray  # (N,) true labels

    @property
    def wrong(self) -> np.ndarray:
        """Indices of the misclassified samples."""
        return np.flatnonzero(self.predictions != self.labels)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "n": self.n,
            "correct": int(round(self.accuracy * self.n)),
            "per_class_accuracy": [float(a) for a in self.per_class_accuracy],
            "confusion_matrix": self.confusion.tolist(),
        }


def evaluate_network(network, x, t, batch_size: int = 1000) -> EvaluationReport:
    """Run ``network`` over (x, t) in batches and summarise the result.

    A network on a device computes there; the probabilities come back to the host per batch and
    the summary is NumPy's. The scores come from the inference engine ``steps.choose_scores``
    picks (the CPU fast path for a FeedForwardNet; the tests hold it equal to ``predict``).
    """
    x2, t2 = check_xt(x, t, network.input_size, network.output_size)
    if hasattr(network, "forward_layers"):
        scores = choose_scores(network)
        xp = array_namespace(*network.params.values())

        def proba(xb):
            xb = xb.astype(network.dtype, copy=False)
            return softmax(scores(xb if xp is np else to_device(xb, xp)))
    else:  # a network of another kind (the Network protocol's predict_proba)
        proba = network.predict_proba
    probs = np.concatenate(
        [to_host(proba(x2[i : i + batch_size])) for i in range(0, len(x2), batch_size)]
    )
    pred = np.argmax(probs, axis=1)
    n_classes = network.output_size
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (t2, pred), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = np.divide(
        np.diag(confusion),
        per_class_total,
        out=np.full(n_classes, np.nan),
        where=per_class_total > 0,
    )
    p_true = probs[np.arange(len(t2)), t2].astype(np.float64)
    loss = float(-np.mean(np.log(np.maximum(p_true, np.finfo(np.float64).tiny))))
    return EvaluationReport(
        accuracy=float(np.mean(pred == t2)),
        loss=loss,
        n=len(t2),
        per_class_accuracy=per_class,
        confusion=confusion,
        predictions=pred,
        probabilities=probs,
        labels=t2,
    )


def model_file_of(path: str | os.PathLike) -> Path:
    """The file :func:`load_any_model` reads for ``path``: ``path/model.npz`` for a run folder
    holding one, else ``path`` itself. Raises ``ModelFileError`` unless it is a regular file.

    Checked with ``os.stat`` before anything opens it: a FIFO would block the reader forever and a
    device (``/dev/zero``) never ends, so neither is ever opened.
    """
    path = Path(path)
    if path.is_dir() and (path / "model.npz").exists():
        path = path / "model.npz"
    if path.suffix == ".pkl" and not path.exists():  # a bare name of the book's files: where
        from mitbadak.files.bookweights import _book_file_path  # `data download` put it

        path = _book_file_path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ModelFileError(
            f"{path}: is a directory without model.npz; expected a model file (.npz), a finished "
            "run folder or the book's sample_weight.pkl"
        )
    if not stat.S_ISREG(mode):
        raise ModelFileError(
            f"{path}: is not a regular file ({_file_kind(mode)}); expected a model file (.npz) "
            "or the book's sample_weight.pkl"
        )
    return path


def _file_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a device', ... for a non-regular ``st_mode``."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def load_any_model(path: str | os.PathLike):
    """A mitbadak model file (.npz), or one of the book's pickles, imported safely:
    ``sample_weight.pkl`` (chapter 3), ``params.pkl`` (SimpleConvNet) or
    ``deep_convnet_params.pkl`` (DeepConvNet), 2016 or 2022.

    ``path`` may also be a run folder holding ``model.npz``. Returns (network, metadata). Anything
    but a regular file (a FIFO, a device) is refused before it is opened (:func:`model_file_of`).
    """
    from mitbadak.files.convnet_params import import_weights
    from mitbadak.files.modelfile import load_model

    path = model_file_of(path)
    network = import_weights(path) if path.suffix == ".pkl" else load_model(path)
    return network, network.metadata  # both loaders attach the file's metadata


def check_not_training(path: str | os.PathLike) -> None:
    """Raise ``RunFolderError`` when ``path`` (a run folder, or a file in one) belongs to a run
    that is still training: its checkpoint is a model part-way through, and its model.npz is only
    written when the run ends."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    pid = training_in_progress(folder)
    if pid is None:
        return
    who = f" (pid {pid})" if pid else ""
    raise RunFolderError(
        f"{folder} is a run still in progress: a mitbadak process{who} is training in it, so "
        "there is no finished model to read yet; wait for it to finish (or stop it with Ctrl-C "
        "and evaluate the checkpoint it leaves)"
    )
