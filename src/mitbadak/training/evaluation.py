"""Evaluating a trained network: accuracy, loss, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mitbadak.core._checks import check_xt
from mitbadak.core.backend import to_host
from mitbadak.core.errors import ModelFileError

__all__ = ["EvaluationReport", "evaluate_network", "load_any_model"]


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
    the summary is NumPy's.
    """
    x2, t2 = check_xt(x, t, network.input_size, network.output_size)
    probs = np.concatenate(
        [
            to_host(network.predict_proba(x2[i : i + batch_size]))
            for i in range(0, len(x2), batch_size)
        ]
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


def load_any_model(path: str | os.PathLike):
    """A mitbadak model file (.npz), or the book's ``sample_weight.pkl`` (imported safely).

    Returns (network, metadata).
    """
    from mitbadak.files.modelfile import import_book_weights, load_model

    path = Path(path)
    if path.is_dir() and (path / "model.npz").is_file():
        path = path / "model.npz"
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    network = import_book_weights(path) if path.suffix == ".pkl" else load_model(path)
    return network, network.metadata  # both loaders attach the file's metadata
