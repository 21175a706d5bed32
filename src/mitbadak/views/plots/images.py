"""Pictures of data and models: grids of dataset images, the misclassified ones, first-layer
weights as image tiles, and the confusion matrix as an annotated heatmap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

from mitbadak.views.plots._base import RED, display_name, finish, new_figure, words

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from matplotlib.figure import Figure

__all__ = [
    "samples",
    "misclassified",
    "weights",
    "confusion_matrix",
]


def _as_images(images) -> np.ndarray:
    """(N, 784), (N, 28, 28) or (N, 1, 28, 28) -> (N, side, side) floats."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(
                f"images have {arr.shape[1]} values each, which is not a square image; "
                "expected (N, side*side), (N, side, side) or (N, 1, side, side)"
            )
        arr = arr.reshape(arr.shape[0], side, side)
    if arr.ndim != 3:
        raise ValueError(f"images must be a batch of square images, got shape {np.shape(images)}")
    return arr.astype(np.float64, copy=False)


def _label_text(label, class_names: Sequence[str] | None) -> str:
    label = int(label)
    if class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


def _text_inches(text: str, size: float = 12.0) -> float:
    """A generous estimate of a one-line text's width in inches (Hangul is full width)."""
    longest = max(text.split("\n"), key=len, default="")
    ems = sum(1.0 if ord(ch) >= 0x1100 else 0.62 for ch in longest)
    return ems * size / 72


def _grid_shape(n: int, max_cols: int = 10) -> tuple[int, int]:
    cols = min(max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def _image_grid(
    titles: list[str],
    images: np.ndarray,
    suptitle: str,
    *,
    title_colors=None,
    cmap: str = "gray",
    vmin=None,
    vmax=None,
    cell: float = 1.25,
    title_size: float = 9,
) -> Figure:
    n = len(images)
    rows, cols = _grid_shape(n)
    width = max(cols * cell, 4.0, _text_inches(suptitle) + 0.5)
    fig = new_figure(width, rows * (cell + 0.25) + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    lo = float(images.min()) if vmin is None else vmin
    hi = float(images.max()) if vmax is None else vmax
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        color = title_colors[i] if title_colors is not None else "black"
        ax.set_title(titles[i], fontsize=title_size, color=color)
    fig.suptitle(suptitle)
    return fig


def samples(
    images,
    labels,
    *,
    count: int = 25,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    lang: str = "en",
) -> Figure:
    """A grid of the first ``count`` images with their labels above them."""
    w = words(lang)
    if title is None:
        title = w("Dataset samples", "데이터셋 이미지")
    imgs = _as_images(images)
    labels = np.asarray(labels).reshape(-1)
    if labels.size != imgs.shape[0]:
        raise ValueError(f"got {imgs.shape[0]} images but {labels.size} labels; expected one each")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    n = min(count, imgs.shape[0])
    titles = [
        w("label ", "정답 ") + _label_text(t, class_names)
        if class_names is None
        else _label_text(t, class_names)
        for t in labels[:n]
    ]
    shown = w(f"first {n} of {imgs.shape[0]}", f"전체 {imgs.shape[0]}장 중 처음 {n}장")
    return finish(_image_grid(titles, imgs[:n], f"{title}: {shown}"), w)


def misclassified(
    images,
    true,
    pred,
    probs=None,
    max_images: int = 25,
    *,
    class_names: Sequence[str] | None = None,
    lang: str = "en",
) -> Figure:
    """The images whose prediction is wrong, titled 'true T / pred P' (and P's probability).

    ``probs`` (N, classes) adds the predicted class's probability to each title. Shows the first
    ``max_images`` mistakes and says how many there were in all.
    """
    w = words(lang)
    imgs = _as_images(images)
    true = np.asarray(true).reshape(-1)
    pred = np.asarray(pred).reshape(-1)
    if not (imgs.shape[0] == true.size == pred.size):
        raise ValueError(
            f"images, true and pred must have one entry per sample; got {imgs.shape[0]}, "
            f"{true.size} and {pred.size}"
        )
    wrong = np.flatnonzero(true != pred)
    total = imgs.shape[0]
    if wrong.size == 0:
        fig = new_figure(5, 2.5)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            w(
                f"No misclassified images: all {total} predictions are right.",
                f"잘못 분류된 이미지가 없습니다: {total}장 모두 정답.",
            ),
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        fig.suptitle(w("Misclassified images", "잘못 분류된 이미지"))
        return finish(fig, w)
    shown = wrong[:max_images]
    titles = []
    for i in shown:
        text = (
            w("true ", "정답 ")
            + _label_text(true[i], class_names)
            + w("\npred ", "\n예측 ")
            + _label_text(pred[i], class_names)
        )
        if probs is not None:
            text += f" ({float(np.asarray(probs)[i, int(pred[i])]):.2f})"
        titles.append(text)
    suptitle = w(
        f"Misclassified: {wrong.size} of {total} ({wrong.size / total:.1%}); showing {shown.size}",
        f"잘못 분류된 이미지: {total}장 중 {wrong.size}장 ({wrong.size / total:.1%}), "
        f"{shown.size}장 표시",
    )
    fig = _image_grid(
        titles, imgs[shown], suptitle, title_colors=[RED] * shown.size, cell=1.35, title_size=8
    )
    return finish(fig, w)


def weights(W, max_units: int = 100, *, lang: str = "en") -> Figure:
    """Each hidden unit's incoming weights ``W[:, j]`` (784 values) drawn as a 28x28 tile.

    One shared colour scale, symmetric around 0 (red positive, blue negative), so units can be
    compared; it is clipped at the 99.5th percentile of |W| so that one extreme weight does not
    wash out the rest. The tiles form one mosaic image (one axes), which keeps 100 units fast.
    The figure grows with the number of tiles and never crops its title or colour bar.
    """
    w = words(lang)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(
            f"W must be a 2-D weight matrix (inputs, hidden units), got shape {W.shape}"
        )
    side = math.isqrt(W.shape[0])
    if side * side != W.shape[0]:
        raise ValueError(
            f"W has {W.shape[0]} inputs per unit, which is not a square image "
            "(784 = 28x28 expected)"
        )
    if max_units < 1:
        raise ValueError(f"max_units must be at least 1, got {max_units}")
    n = min(max_units, W.shape[1])
    rows, cols = _grid_shape(n)
    gap_x, gap_y = max(2, side // 7), max(4, side // 3)  # room above each tile for its number
    cell_x, cell_y = side + gap_x, side + gap_y
    mosaic = np.full((rows * cell_y, cols * cell_x - gap_x), np.nan)
    for j in range(n):
        r, c = divmod(j, cols)
        top, left = r * cell_y + gap_y, c * cell_x
        mosaic[top : top + side, left : left + side] = W[:, j].reshape(side, side)
    scale = float(np.percentile(np.abs(W[:, :n]), 99.5)) or 1.0

    shown = (
        w(f"all {n}", f"{n}개 전부")
        if n == W.shape[1]
        else w(f"first {n} of {W.shape[1]}", f"{W.shape[1]}개 중 처음 {n}개")
    )
    title = w(
        f"First-layer weights W1\none {side}x{side} tile per hidden unit ({shown})",
        f"1층 가중치 W1\n은닉층 뉴런마다 {side}x{side} 타일 ({shown})",
    )
    bar_label = w(
        "weight (colour clipped at the 99.5th percentile of |W|)",
        "가중치 (색은 |W|의 99.5 백분위수에서 잘림)",
    )
    # About an inch per tile; the width also fits the title and the colour bar's label, and the
    # height adds room for the two-line title and the horizontal colour bar below the tiles.
    tile = 0.9
    width = max(cols * tile + 0.6, _text_inches(title, 12) + 0.6, _text_inches(bar_label, 10) + 0.8)
    height = rows * tile * cell_y / cell_x + 2.0
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    image = ax.imshow(mosaic, cmap=cmap, vmin=-scale, vmax=scale, interpolation="nearest")
    for j in range(n):
        r, c = divmod(j, cols)
        ax.text(
            c * cell_x + side / 2,
            r * cell_y + gap_y - 1,
            w(f"unit {j}", f"뉴런 {j}"),
            fontsize=7,
            va="bottom",
            ha="center",
            color="0.2",
        )
    ax.set_axis_off()
    colorbar = fig.colorbar(
        image, ax=ax, orientation="horizontal", location="bottom", shrink=0.9, aspect=30, pad=0.02
    )
    colorbar.set_label(bar_label, fontsize=10)
    colorbar.ax.tick_params(labelsize=9)
    fig.suptitle(title, fontsize=12)
    return finish(fig, w)


def confusion_matrix(
    cm,
    class_names: Sequence[str] | None = None,
    *,
    model: str | os.PathLike | None = None,
    dataset: str | None = None,
    lang: str = "en",
) -> Figure:
    """An annotated heatmap of ``cm[true, pred]`` counts, with the accuracy in the title.

    ``model`` (a name or path: only its file/folder name is shown) and ``dataset`` go into the
    title. The counts are sized to the cells: as large as fits, smaller for more classes or
    more digits.
    """
    w = words(lang)
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (classes, classes) matrix, got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(c) for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"got {len(names)} class names for a {k}x{k} confusion matrix")
    texts = [
        [f"{v:g}" if np.issubdtype(cm.dtype, np.floating) else f"{int(v)}" for v in row]
        for row in cm
    ]
    total = cm.sum()
    correct = np.trace(cm)
    accuracy = correct / total if total else float("nan")
    heading = w("Confusion matrix", "혼동 행렬")
    if model is not None and dataset is not None:
        heading += w(
            f": {display_name(model)} on {dataset}", f": {display_name(model)}, {dataset}"
        )
    elif model is not None:
        heading += f": {display_name(model)}"
    elif dataset is not None:
        heading += f": {dataset}"
    summary = w(
        f"accuracy {accuracy:.4f} ({int(correct)} / {int(total)})",
        f"정확도 {accuracy:.4f} ({int(total)}개 중 {int(correct)}개 정답)",
    )
    title = f"{heading}\n{summary}"

    # The matrix gets ~0.6 inch per class (at least 5 inches); the figure adds room for the
    # tick labels, the colour bar and a title at least as wide as its text.
    label_room = 0.12 * max(len(n) for n in names)
    side = max(5.0, 0.6 * k)
    width = max(side + 2.2 + label_room, _text_inches(title, 12) + 0.6)
    fig = new_figure(width, side + 1.6 + label_room)
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label=w("count", "개수"))
    # Font size from the cell: a cell is about side / k inches wide; the widest number must fit
    # in 85 % of it (a digit is ~0.62 em wide) and its height in half of it.
    cell_pt = 72 * side / k * 0.9
    digits = max(len(t) for row in texts for t in row) if k else 1
    font = float(np.clip(min(0.85 * cell_pt / (0.62 * digits), 0.45 * cell_pt), 4.0, 28.0))
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                texts[i][j],
                ha="center",
                va="center",
                fontsize=font,
                color="white" if cm[i, j] > threshold else "black",
            )
    rotate = 45 if max(len(n) for n in names) > 3 else 0
    ax.set_xticks(range(k), names, rotation=rotate, ha="right" if rotate else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel(w("predicted class", "예측한 클래스"))
    ax.set_ylabel(w("true class", "정답 클래스"))
    ax.set_title(title, fontsize=12)
    return finish(fig, w)
