"""A training run's curves: loss per iteration and accuracy per epoch.

The figures take any history object with ``iteration_loss`` and ``epochs`` (the trainer's
``History``, or a run folder's records read by :func:`read_run`, which is
:func:`mitbadak.training.history.read_history`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mitbadak.training.history import History as RunHistory
from mitbadak.training.history import read_history as read_run
from mitbadak.views.plots._base import (
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    Words,
    display_name,
    finish,
    new_figure,
    words,
)

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "RunHistory",
    "read_run",
    "loss_curve",
    "accuracy_curve",
    "curves",
]


def _epoch_values(history, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of one per-epoch metric, skipping epochs where it is missing."""
    xs, ys = [], []
    for entry in getattr(history, "epochs", None) or []:
        value = entry.get(key)
        if value is not None and np.isfinite(value):
            xs.append(entry.get("epoch"))
            ys.append(float(value))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def _draw_loss(ax: Axes, history, w: Words) -> None:
    losses = np.asarray(list(getattr(history, "iteration_loss", None) or []), dtype=np.float64)
    iterations = list(getattr(history, "iterations", None) or [])
    its = np.asarray(
        iterations if len(iterations) == losses.size else np.arange(1, losses.size + 1)
    )
    if losses.size:
        # Long runs are noisy: draw the raw losses faintly under a moving average of ~2 % of them.
        window = losses.size // 50 if losses.size >= 200 else 1
        ax.plot(
            its,
            losses,
            color=BLUE,
            alpha=0.35 if window > 1 else 0.9,
            linewidth=0.8,
            label=w("mini-batch loss", "미니배치 손실"),
        )
        if window > 1:
            ax.plot(
                its[window - 1 :],
                _moving_average(losses, window),
                color=BLUE,
                linewidth=1.8,
                label=w(f"moving average ({window} iterations)", f"이동 평균 ({window}회)"),
            )
    epochs = getattr(history, "epochs", None) or []
    by_epoch_iteration = {e.get("epoch"): e.get("iteration") for e in epochs}
    for key, color, marker, name in (
        ("train_loss", ORANGE, "o", w("train loss (epoch end)", "훈련 데이터 손실 (에폭 끝)")),
        ("test_loss", GREEN, "s", w("test loss (epoch end)", "시험 데이터 손실 (에폭 끝)")),
        ("val_loss", PURPLE, "^", w("validation loss (epoch end)", "검증 데이터 손실 (에폭 끝)")),
    ):
        xs, ys = _epoch_values(history, key)
        if ys.size:
            at = [by_epoch_iteration.get(int(x)) for x in xs]
            if all(a is not None for a in at):
                ax.plot(at, ys, marker=marker, linestyle="-", color=color, label=name)
    if not ax.lines:
        ax.text(
            0.5,
            0.5,
            w("no loss values recorded", "기록된 손실 값이 없습니다"),
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel(w("iteration", "반복 횟수"))
    ax.set_ylabel(w("loss (cross-entropy)", "손실 함수 (교차 엔트로피 오차)"))
    ax.set_title(w("Loss per iteration", "반복마다의 손실 함수 값"))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="upper right")


def _draw_accuracy(ax: Axes, history, w: Words) -> None:
    for key, color, marker, name in (
        ("train_acc", ORANGE, "o", w("train accuracy", "훈련 데이터 정확도")),
        ("test_acc", GREEN, "s", w("test accuracy", "시험 데이터 정확도")),
        ("val_acc", PURPLE, "^", w("validation accuracy", "검증 데이터 정확도")),
    ):
        xs, ys = _epoch_values(history, key)
        if ys.size:
            last = w(f"last {ys[-1]:.4f}", f"마지막 {ys[-1]:.4f}")
            ax.plot(xs, ys, marker=marker, color=color, label=f"{name} ({last})")
    if ax.lines:
        ax.legend(loc="lower right")
        lows = [line.get_ydata().min() for line in ax.lines]
        ax.set_ylim(max(0.0, min(lows) - 0.05), 1.0)
    else:
        ax.text(
            0.5,
            0.5,
            w("no accuracy values recorded", "기록된 정확도 값이 없습니다"),
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_ylim(0, 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(w("epoch", "에폭"))
    ax.set_ylabel(w("accuracy", "정확도"))
    ax.set_title(w("Accuracy per epoch", "에폭마다의 정확도"))
    ax.grid(alpha=0.3)


def loss_curve(history, *, lang: str = "en") -> Figure:
    """Mini-batch loss per iteration (and its moving average), with per-epoch train/test loss.

    ``history`` is any object with ``iteration_loss`` (floats) and ``epochs`` (dicts as in
    :class:`RunHistory`); an optional ``iterations`` gives the iteration number of each loss.
    """
    w = words(lang)
    fig = new_figure(7, 4.5)
    _draw_loss(fig.add_subplot(), history, w)
    return finish(fig, w)


def accuracy_curve(history, *, lang: str = "en") -> Figure:
    """Train and test (and validation, when recorded) accuracy per epoch."""
    w = words(lang)
    fig = new_figure(7, 4.5)
    _draw_accuracy(fig.add_subplot(), history, w)
    return finish(fig, w)


def curves(history, title: str | None = None, *, lang: str = "en") -> Figure:
    """Both training curves side by side: loss per iteration and accuracy per epoch.

    Without ``title``, a history read from a run folder is titled with the folder's name
    (never its full path).
    """
    w = words(lang)
    fig = new_figure(12, 4.5)
    ax_loss, ax_acc = fig.subplots(1, 2)
    _draw_loss(ax_loss, history, w)
    _draw_accuracy(ax_acc, history, w)
    if title is None and getattr(history, "run_dir", None) is not None:
        name = display_name(history.run_dir)
        title = w(f"Training run {name}", f"학습 기록: {name}")
    if title:
        fig.suptitle(title)
    return finish(fig, w)
