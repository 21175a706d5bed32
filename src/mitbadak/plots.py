"""The book's figures and training plots, each one call that returns a matplotlib ``Figure``.

Every function builds its own ``matplotlib.figure.Figure`` with an Agg canvas attached: nothing
here touches ``pyplot`` or any global state, so figures are safe to make headless, in threads and
in notebooks (where the figure can be the cell's last expression after ``%matplotlib inline``).
matplotlib is imported lazily, so ``import mitbadak`` (and :func:`read_run`) work without it.

Figure functions are named after the ``mitbadak plot NAME`` commands that draw them:
``activations``, ``softmax``, ``tangent``, ``surface``, ``gradient_field``, ``descent``,
``learning_rates``, ``curves``, ``samples``, ``misclassified``, ``graph``, ``weights``; plus
``loss_curve``, ``accuracy_curve`` and ``confusion_matrix`` for ``train`` and ``evaluate``.

Every figure function takes ``lang="en"`` (default) or ``lang="ko"``: Korean titles, axes and
legends with the book's terms (활성화 함수, 손실 함수, 기울기, 학습률, 정확도, ...), drawn with a
Hangul font found on this machine (:mod:`mitbadak.fonts`). The font is set on each text artist of
the figure; matplotlib's global settings are never changed. Without a Hangul font the figure is
drawn in English and a :class:`mitbadak.fonts.HangulFontWarning` says which package to install.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mitbadak import functions as fn
from mitbadak._files import atomic_write
from mitbadak.gradient import gradient_descent, numerical_diff, numerical_gradient, tangent_line
from mitbadak.runhistory import History as RunHistory
from mitbadak.runhistory import read_history as read_run

MATPLOTLIB_MISSING = "matplotlib is needed for plots: pip install 'mitbadak[plots]'"

# Fail at import with an actionable message (callers such as the trainer catch ImportError to skip
# their plots). pyplot itself is never imported: figures are built with the object API only.
try:
    import matplotlib
except ImportError as _exc:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(MATPLOTLIB_MISSING) from _exc

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "RunHistory",
    "read_run",
    "save_figure",
    "activations",
    "softmax",
    "tangent",
    "surface",
    "gradient_field",
    "descent",
    "learning_rates",
    "loss_curve",
    "accuracy_curve",
    "curves",
    "samples",
    "misclassified",
    "graph",
    "shopping_graph_values",
    "weights",
    "confusion_matrix",
]

DEFAULT_DPI = 120
LANGUAGES = ("en", "ko")

# Glyphs a Hangul font may lack (the minus sign, arrows, math symbols) come from DejaVu Sans,
# which ships with matplotlib: the font family list below is a per-glyph fallback.
_FALLBACK_FAMILY = "DejaVu Sans"

# Colours used consistently across figures (matplotlib's default cycle, named for readability).
BLUE, ORANGE, GREEN, RED, PURPLE = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"


def _new_figure(width: float, height: float) -> Figure:
    """A fresh Figure with its own Agg canvas (no pyplot, no global figure manager)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(MATPLOTLIB_MISSING) from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class _Words:
    """Picks the English or the Korean text of a label: ``w("loss", "손실")``."""

    def __init__(self, font: str | None) -> None:
        self.font = font  # the Hangul font family when drawing Korean, else None
        self.ko = font is not None

    def __call__(self, english: str, korean: str) -> str:
        return korean if self.ko else english


def _words(lang: str) -> _Words:
    """Resolve ``lang`` to the words and font to draw with (English if no Hangul font)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGUAGES))}, got {lang!r}")
    if lang == "en":
        return _Words(None)
    from mitbadak.fonts import HangulFontWarning, find_hangul_font, missing_font_note

    font = find_hangul_font()
    if font is None:
        warnings.warn(missing_font_note(), HangulFontWarning, stacklevel=3)
    return _Words(font)


def _finish(fig: Figure, words: _Words) -> Figure:
    """Give every text artist of ``fig`` that holds Hangul the Hangul font (Korean figures only).

    Texts without Hangul (numbers, tick labels, math) keep matplotlib's own fonts, whose glyphs
    (the minus sign, mathtext) a Hangul font may lack.
    """
    if words.font is not None:
        from matplotlib.text import Text

        family = [words.font, _FALLBACK_FAMILY]
        for text in fig.findobj(Text):
            if _has_hangul(text.get_text()):
                text.set_fontfamily(family)
    return fig


def _has_hangul(text: str) -> bool:
    return any(
        "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"
        for ch in text
    )


def _display_name(path) -> str:
    """A path as shown in a title: the file or folder name, never the full path.

    ``runs/demo/model.npz`` shows as ``demo/model.npz`` (the run folder says which model).
    """
    p = Path(os.fspath(path))
    if p.name in ("", ".", ".."):
        p = p.resolve()
    if p.suffix and p.stem == "model" and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name or str(p)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temp file in the same folder, then replace).

    Creates missing parent folders. Returns the path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(
            f"save_figure writes PNG files; expected a path ending in .png, got {path}"
        )
    return atomic_write(
        path, lambda handle: fig.savefig(handle, format="png", dpi=dpi, facecolor="white")
    )


# --------------------------------------------------------------------------------------------
# Chapter 3: activation functions and softmax.


def activations(x_min: float = -5.0, x_max: float = 5.0, *, lang: str = "en") -> Figure:
    """Left: step vs sigmoid on one axes (the book's comparison). Right: ReLU."""
    w = _words(lang)
    x = np.linspace(x_min, x_max, 1001)
    fig = _new_figure(10, 4)
    ax_left, ax_right = fig.subplots(1, 2)

    ax_left.plot(
        x,
        fn.step_function(x),
        color=ORANGE,
        linestyle="--",
        linewidth=2,
        label=w("step: 1 if x > 0 else 0", "계단 함수: x > 0이면 1, 아니면 0"),
    )
    ax_left.plot(
        x,
        fn.sigmoid(x),
        color=BLUE,
        linewidth=2,
        label=w(r"sigmoid: $1 / (1 + e^{-x})$", "시그모이드 함수: 1 / (1 + exp(-x))"),
    )
    ax_left.set_ylim(-0.1, 1.1)
    ax_left.set_title(
        w(
            "Step vs sigmoid: both squash to [0, 1]; sigmoid is smooth",
            "계단 함수와 시그모이드 함수: 둘 다 0~1, 시그모이드는 매끄럽다",
        )
    )
    ax_left.legend(loc="upper left")

    ax_right.plot(
        x, fn.relu(x), color=GREEN, linewidth=2, label=w("ReLU: max(0, x)", "ReLU 함수: max(0, x)")
    )
    ax_right.set_ylim(-0.5, x_max + 0.5)
    ax_right.set_title(
        w("ReLU: 0 for x <= 0, x otherwise", "ReLU 함수: x ≤ 0이면 0, 아니면 x 그대로")
    )
    ax_right.legend(loc="upper left")

    for ax in (ax_left, ax_right):
        ax.set_xlabel("x")
        ax.set_ylabel("h(x)")
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        ax.grid(alpha=0.3)
    fig.suptitle(w("Activation functions (chapter 3)", "활성화 함수 (3장)"))
    return _finish(fig, w)


def softmax(a: Sequence[float] = (0.3, 2.9, 4.0), *, lang: str = "en") -> Figure:
    """Bars of the input scores ``a`` next to ``softmax(a)`` = exp(a_k) / sum_i exp(a_i)."""
    w = _words(lang)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a must be a non-empty 1-D sequence of scores, got shape {a.shape}")
    y = fn.softmax(a)
    idx = np.arange(a.size)
    labels = [f"a[{i}]" if a.size > 1 else "a" for i in idx]

    fig = _new_figure(10, 4)
    ax_in, ax_out = fig.subplots(1, 2)
    bars = ax_in.bar(idx, a, color=BLUE, label=w("input score a_k", "입력 신호 a_k"))
    ax_in.bar_label(bars, labels=[f"{v:g}" for v in a], padding=2)
    ax_in.set_title(w("Input scores a", "출력층의 입력 a"))
    ax_in.set_ylabel(w("score", "입력값"))
    ax_in.set_ylim(min(0.0, a.min()) * 1.15, max(0.0, a.max()) * 1.15 + 1e-12)

    bars = ax_out.bar(idx, y, color=ORANGE, label=w("softmax output y_k", "소프트맥스 출력 y_k"))
    ax_out.bar_label(bars, labels=[f"{v:.3f}" for v in y], padding=2)
    ax_out.set_title(
        w(
            f"softmax(a): sums to {y.sum():.3f}, order kept",
            f"softmax(a): 총합 {y.sum():.3f}, 대소 관계 유지",
        )
    )
    ax_out.set_ylabel(w("probability", "확률"))
    ax_out.set_ylim(0, 1.1)

    for ax in (ax_in, ax_out):
        ax.set_xticks(idx, labels)
        ax.set_xlabel(w("class k", "클래스 k"))
        ax.legend(loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(
        w(
            r"Softmax: $y_k = \exp(a_k) / \sum_i \exp(a_i)$ (chapter 3)",
            "소프트맥스 함수: y_k = exp(a_k) / Σ exp(a_i) (3장)",
        )
    )
    return _finish(fig, w)


# --------------------------------------------------------------------------------------------
# Chapter 4: derivatives, gradients, gradient descent.


def _quadratic_example(x):
    """f(x) = 0.01 x^2 + 0.1 x, the book's example of a derivative."""
    return 0.01 * x**2 + 0.1 * x


def _sum_of_squares(x: np.ndarray) -> float:
    """f(x0, x1) = x0^2 + x1^2"""
    return float(np.sum(x**2))


def tangent(points: Sequence[float] = (5.0, 10.0), *, lang: str = "en") -> Figure:
    """f(x) = 0.01x^2 + 0.1x on [0, 20] with its tangents (slopes from ``numerical_diff``)."""
    w = _words(lang)
    x = np.linspace(0.0, 20.0, 401)
    fig = _new_figure(7, 4.8)
    ax = fig.add_subplot()
    ax.plot(
        x,
        _quadratic_example(x),
        color=BLUE,
        linewidth=2,
        label=w(r"$f(x) = 0.01x^2 + 0.1x$", "f(x) = 0.01x² + 0.1x"),
    )
    for point, color in zip(points, (ORANGE, GREEN, RED, PURPLE), strict=False):
        slope = numerical_diff(_quadratic_example, point)
        line = tangent_line(_quadratic_example, point)
        ax.plot(
            x,
            line(x),
            color=color,
            linestyle="--",
            label=w(
                f"tangent at x = {point:g}: slope {slope:.4f}",
                f"x = {point:g}에서의 접선: 기울기 {slope:.4f}",
            ),
        )
        ax.plot([point], [_quadratic_example(point)], "o", color=color)
    ax.set_xlim(0, 20)
    ax.set_ylim(-0.5, 6.5)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title(
        w(
            "Numerical differentiation: the slope at a point\nis its tangent (chapter 4)",
            "수치 미분: 한 점의 기울기는 그 점의 접선 (4장)",
        )
    )
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _finish(fig, w)


def surface(limit: float = 3.0, *, lang: str = "en") -> Figure:
    """The bowl f(x0, x1) = x0^2 + x1^2 as a 3-D surface over [-limit, limit]^2."""
    w = _words(lang)
    grid = np.linspace(-limit, limit, 61)
    x0, x1 = np.meshgrid(grid, grid)
    z = x0**2 + x1**2
    fig = _new_figure(7, 6)
    ax = fig.add_subplot(projection="3d")
    surf = ax.plot_surface(x0, x1, z, cmap="viridis", linewidth=0, antialiased=True, alpha=0.95)
    ax.contour(x0, x1, z, levels=10, zdir="z", offset=0, cmap="viridis", linewidths=0.8)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_zlabel("f(x0, x1)")
    ax.view_init(elev=28, azim=-60)
    ax.set_title(
        w(
            r"$f(x_0, x_1) = x_0^2 + x_1^2$: one minimum, at (0, 0)",
            "f(x0, x1) = x0² + x1²: 최솟값은 (0, 0) 한 곳",
        )
    )
    fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.1, label="f(x0, x1)")
    return _finish(fig, w)


def _grad_at(f: Callable[[np.ndarray], float], point: Sequence[float]) -> np.ndarray:
    return numerical_gradient(f, np.array(point, dtype=np.float64))


def gradient_field(limit: float = 2.0, step: float = 0.25, *, lang: str = "en") -> Figure:
    """Arrows of -grad f for f = x0^2 + x1^2 on a grid of spacing ``step`` over [-limit, limit]^2.

    Each arrow is ``numerical_gradient`` at one grid point, negated: the direction in which f
    decreases fastest, longer where the slope is steeper.
    """
    w = _words(lang)
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    ticks = np.arange(-limit, limit + step / 2, step)
    x0, x1 = np.meshgrid(ticks, ticks)
    grads = np.array(
        [_grad_at(_sum_of_squares, p) for p in zip(x0.ravel(), x1.ravel(), strict=True)]
    )
    u = -grads[:, 0].reshape(x0.shape)
    v = -grads[:, 1].reshape(x0.shape)

    fig = _new_figure(6.5, 6)
    ax = fig.add_subplot()
    fine = np.linspace(-limit - step, limit + step, 200)
    f0, f1 = np.meshgrid(fine, fine)
    ax.contour(f0, f1, f0**2 + f1**2, levels=8, colors="0.75", linewidths=0.8)
    magnitude = np.hypot(u, v)
    arrows = ax.quiver(x0, x1, u, v, magnitude, cmap="plasma", angles="xy", pivot="tail")
    fig.colorbar(arrows, ax=ax, shrink=0.8, label=w(r"$|\nabla f|$", "기울기의 크기 |∇f|"))
    ax.plot([0], [0], "*", color=RED, markersize=12, label=w("minimum (0, 0)", "최솟값 (0, 0)"))
    ax.set_xlim(-limit - step, limit + step)
    ax.set_ylim(-limit - step, limit + step)
    ax.set_aspect("equal")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title(
        w(
            r"$-\nabla f$ for $f = x_0^2 + x_1^2$: arrows point downhill",
            "f = x0² + x1²의 기울기에 마이너스를 붙인 벡터 -∇f:\n"
            "화살표는 함수 값이 줄어드는 쪽을 가리킨다",
        )
    )
    ax.legend(loc="upper right")
    return _finish(fig, w)


def _contour_background(ax: Axes, limit: float) -> None:
    grid = np.linspace(-limit, limit, 200)
    g0, g1 = np.meshgrid(grid, grid)
    ax.contour(
        g0,
        g1,
        g0**2 + g1**2,
        levels=[1, 4, 9, 16, 25, 36],
        colors="0.7",
        linewidths=0.8,
        linestyles="dashed",
    )
    ax.axhline(0, color="0.85", linewidth=0.8)
    ax.axvline(0, color="0.85", linewidth=0.8)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")


def descent(
    init_x: Sequence[float] = (-3.0, 4.0),
    lr: float = 0.1,
    step_num: int = 20,
    *,
    lang: str = "en",
) -> Figure:
    """The path of ``gradient_descent`` on f = x0^2 + x1^2, drawn on its contour lines."""
    w = _words(lang)
    final, path = gradient_descent(
        _sum_of_squares,
        np.array(init_x, dtype=np.float64),
        lr=lr,
        step_num=step_num,
        return_history=True,
    )
    path = np.vstack([path, final])  # the book's history (before each step) + the final x
    fig = _new_figure(6.5, 6)
    ax = fig.add_subplot()
    _contour_background(ax, 5.0)
    ax.plot(
        path[:, 0],
        path[:, 1],
        "o-",
        color=BLUE,
        markersize=4,
        label=w(f"x after each step (lr {lr:g})", f"각 갱신 후의 x (학습률 {lr:g})"),
    )
    ax.plot(
        *path[0],
        "s",
        color=ORANGE,
        markersize=9,
        label=w("start", "시작점") + f" ({path[0][0]:g}, {path[0][1]:g})",
    )
    ax.plot(
        *final,
        "*",
        color=RED,
        markersize=13,
        label=w(f"after {step_num} steps", f"{step_num}번 갱신 후")
        + f" ({final[0]:.3f}, {final[1]:.3f})",
    )
    ax.set_title(
        w(
            f"Gradient descent on $x_0^2 + x_1^2$: lr = {lr:g}, {step_num} steps",
            f"x0² + x1²에서의 경사 하강법: 학습률 {lr:g}, {step_num}번 갱신",
        )
    )
    ax.legend(loc="lower right", fontsize=9)
    return _finish(fig, w)


def learning_rates(
    lrs: Sequence[float] = (10.0, 0.1, 0.01, 1e-10),
    init_x: Sequence[float] = (-3.0, 4.0),
    step_num: int = 100,
    *,
    lang: str = "en",
) -> Figure:
    """Gradient-descent paths for several learning rates side by side, plus |x| per step (log).

    Top row: each path on the same contour plot, axes clipped to [-5, 5]^2 (a diverging path
    leaves the frame, and a note says where it went). Bottom: distance from the minimum per step
    on a log scale, which shows divergence, convergence and standing still honestly.
    """
    w = _words(lang)
    lrs = list(lrs)
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    limit = 5.0
    fig = _new_figure(3.4 * len(lrs), 7.2)
    grid = fig.add_gridspec(2, len(lrs), height_ratios=[1.25, 1])
    ax_dist = fig.add_subplot(grid[1, :])
    colors = [RED, BLUE, GREEN, PURPLE, ORANGE]
    for i, lr in enumerate(lrs):
        color = colors[i % len(colors)]
        final, path = gradient_descent(
            _sum_of_squares,
            np.array(init_x, dtype=np.float64),
            lr=lr,
            step_num=step_num,
            return_history=True,
        )
        path = np.vstack([path, final])  # the book's history (before each step) + the final x
        ax = fig.add_subplot(grid[0, i])
        _contour_background(ax, limit)
        ax.plot(path[:, 0], path[:, 1], "o-", color=color, markersize=3, linewidth=1)
        ax.plot(*path[0], "s", color=ORANGE, markersize=7)
        distance = np.hypot(path[:, 0], path[:, 1])
        off_frame = np.any(np.abs(path) > limit)
        if off_frame:
            left = int(np.argmax(np.any(np.abs(path) > limit, axis=1)))
            note = w(
                f"diverges: leaves the plot at\nstep {left}; |x| = {distance[-1]:.2g}\n"
                f"after {step_num} steps",
                f"발산: {left}번째 갱신에서\n그림 밖으로; "
                f"{step_num}번 후\n|x| = {distance[-1]:.2g}",
            )
            if step_num >= 2 and distance[-1] == distance[-2]:
                # Honest about the plateau: at |x| ~ 1e13, x + h rounds to x in float64, so the
                # central difference is 0 and the "divergence" freezes.
                frozen_at = int(np.argmax(distance == distance[-1]))
                ax_dist.annotate(
                    w(
                        f"lr = {lr:g} stops at |x| = {distance[-1]:.2g} (step {frozen_at}): there "
                        "x ± h rounds to x in float64, so the numerical gradient is 0",
                        f"학습률 {lr:g}: |x| = {distance[-1]:.2g}에서 멈춤 ({frozen_at}번째): "
                        "float64에서 x ± h가 x로 반올림되어 수치 미분 기울기가 0",
                    ),
                    (frozen_at, distance[-1]),
                    xytext=(frozen_at + step_num * 0.05, distance[-1] ** 0.55),
                    fontsize=8,
                    color=color,
                    arrowprops={"arrowstyle": "->", "color": color},
                )
        elif np.allclose(path[-1], path[0], rtol=0, atol=1e-6):
            note = w(
                f"barely moves: |x| = {distance[-1]:.6g}\n(start {distance[0]:g})",
                f"거의 갱신되지 않음:\n|x| = {distance[-1]:.6g} (시작 {distance[0]:g})",
            )
        else:
            note = w(
                f"|x| = {distance[-1]:.3g}\nafter {step_num} steps",
                f"{step_num}번 갱신 후\n|x| = {distance[-1]:.3g}",
            )
        ax.text(
            0.03,
            0.03,
            note,
            transform=ax.transAxes,
            fontsize=8,
            va="bottom",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9, "edgecolor": color},
        )
        ax.set_title(w(f"lr = {lr:g}", f"학습률 {lr:g}"), color=color)
        ax_dist.plot(
            np.arange(step_num + 1),
            distance,
            color=color,
            linewidth=2,
            label=w(f"lr = {lr:g}", f"학습률 {lr:g}"),
        )
    ax_dist.set_yscale("log")
    ax_dist.set_xlabel(w("step", "갱신 횟수"))
    ax_dist.set_ylabel(
        w("|x|, distance to (0, 0)\n(log scale)", "|x|, (0, 0)까지의 거리\n(로그 눈금)")
    )
    ax_dist.set_title(
        w(
            "Too large diverges, too small stands still",
            "학습률이 너무 크면 발산하고, 너무 작으면 거의 갱신되지 않는다",
        )
    )
    ax_dist.grid(alpha=0.3, which="both")
    ax_dist.legend(loc="lower left", ncol=2)
    start = ", ".join(f"{float(v):g}" for v in init_x)
    fig.suptitle(
        w(
            f"Learning rate matters: gradient descent on $x_0^2 + x_1^2$ from ({start}), "
            f"{step_num} steps",
            f"학습률의 영향: x0² + x1²에서 ({start})부터 경사 하강법 {step_num}번",
        )
    )
    return _finish(fig, w)


# --------------------------------------------------------------------------------------------
# Training runs: history objects, the run folder's CSV files, and their curves.


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


def _draw_loss(ax: Axes, history, w: _Words) -> None:
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


def _draw_accuracy(ax: Axes, history, w: _Words) -> None:
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
    w = _words(lang)
    fig = _new_figure(7, 4.5)
    _draw_loss(fig.add_subplot(), history, w)
    return _finish(fig, w)


def accuracy_curve(history, *, lang: str = "en") -> Figure:
    """Train and test (and validation, when recorded) accuracy per epoch."""
    w = _words(lang)
    fig = _new_figure(7, 4.5)
    _draw_accuracy(fig.add_subplot(), history, w)
    return _finish(fig, w)


def curves(history, title: str | None = None, *, lang: str = "en") -> Figure:
    """Both training curves side by side: loss per iteration and accuracy per epoch.

    Without ``title``, a history read from a run folder is titled with the folder's name
    (never its full path).
    """
    w = _words(lang)
    fig = _new_figure(12, 4.5)
    ax_loss, ax_acc = fig.subplots(1, 2)
    _draw_loss(ax_loss, history, w)
    _draw_accuracy(ax_acc, history, w)
    if title is None and getattr(history, "run_dir", None) is not None:
        name = _display_name(history.run_dir)
        title = w(f"Training run {name}", f"학습 기록: {name}")
    if title:
        fig.suptitle(title)
    return _finish(fig, w)


# --------------------------------------------------------------------------------------------
# Images: dataset samples, mistakes, first-layer weights, confusion matrix.


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
    fig = _new_figure(width, rows * (cell + 0.25) + 0.5)
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
    w = _words(lang)
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
    return _finish(_image_grid(titles, imgs[:n], f"{title}: {shown}"), w)


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
    w = _words(lang)
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
        fig = _new_figure(5, 2.5)
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
        return _finish(fig, w)
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
    return _finish(fig, w)


def weights(W, max_units: int = 100, *, lang: str = "en") -> Figure:
    """Each hidden unit's incoming weights ``W[:, j]`` (784 values) drawn as a 28x28 tile.

    One shared colour scale, symmetric around 0 (red positive, blue negative), so units can be
    compared; it is clipped at the 99.5th percentile of |W| so that one extreme weight does not
    wash out the rest. The tiles form one mosaic image (one axes), which keeps 100 units fast.
    The figure grows with the number of tiles and never crops its title or colour bar.
    """
    w = _words(lang)
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
    fig = _new_figure(width, height)
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
    return _finish(fig, w)


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
    w = _words(lang)
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
            f": {_display_name(model)} on {dataset}", f": {_display_name(model)}, {dataset}"
        )
    elif model is not None:
        heading += f": {_display_name(model)}"
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
    fig = _new_figure(width, side + 1.6 + label_room)
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
    return _finish(fig, w)


# --------------------------------------------------------------------------------------------
# Chapter 5: the computational graph of the shopping example.


# shopping_graph_values' keys -> the edge names of graphs.apple_orange_graph
_SHOPPING_EDGES = {
    "apple": "apple",
    "apple_num": "apple_num",
    "orange": "orange",
    "orange_num": "orange_num",
    "tax": "tax",
    "apple_total": "apple_price",
    "orange_total": "orange_price",
    "subtotal": "all_price",
    "price": "price",
}


def shopping_graph_values(
    apple: float = 100.0,
    apple_num: float = 2.0,
    orange: float = 150.0,
    orange_num: float = 3.0,
    tax: float = 1.1,
) -> dict[str, tuple[float, float]]:
    """Forward value and backward gradient d(price)/d(.) of every edge of the shopping graph.

    price = (apple * apple_num + orange * orange_num) * tax, computed by
    :func:`mitbadak.graphs.apple_orange_graph` (``MulLayer``/``AddLayer``, forward then backward).
    Keys: apple, apple_num, orange, orange_num, tax, apple_total, orange_total, subtotal, price.
    """
    from mitbadak.graphs import apple_orange_graph  # imported when drawn: plots loads no more

    steps = apple_orange_graph(apple, apple_num, orange, orange_num, tax)
    values, grads = steps["values"], steps["grads"]
    return {key: (values[edge], grads[edge]) for key, edge in _SHOPPING_EDGES.items()}


def _fmt(value: float) -> str:
    # Round away float noise such as 715.0000000000001 while keeping 1.1 and 2.2 exact.
    return f"{float(value):.6g}"


def graph(*, lang: str = "en", **values: float) -> Figure:
    """The chapter-5 shopping graph: nodes and edges, forward values above, gradients below.

    Keyword arguments override the book's inputs (apple=100, apple_num=2, orange=150,
    orange_num=3, tax=1.1); every number drawn comes from :func:`shopping_graph_values`.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, FancyArrowPatch

    w = _words(lang)
    v = shopping_graph_values(**values)
    radius = 0.42
    nodes = {
        "mul_apple": (3.0, 4.0, "×"),
        "mul_orange": (3.0, 1.0, "×"),
        "add": (6.0, 2.5, "+"),
        "mul_tax": (9.0, 2.5, "×"),
    }
    sources = {
        "apple": (0.0, 4.0, w("apple", "사과 가격")),
        "apple_num": (1.4, 6.2, w("apple count", "사과 개수")),
        "orange": (0.0, 1.0, w("orange", "귤 가격")),
        "orange_num": (1.4, -1.2, w("orange count", "귤 개수")),
        "tax": (6.0, 5.0, w("tax", "소비세")),
        "price": (12.0, 2.5, w("price", "지불 금액")),
    }
    # (edge value key, from, to)
    edges = [
        ("apple", "apple", "mul_apple"),
        ("apple_num", "apple_num", "mul_apple"),
        ("orange", "orange", "mul_orange"),
        ("orange_num", "orange_num", "mul_orange"),
        ("apple_total", "mul_apple", "add"),
        ("orange_total", "mul_orange", "add"),
        ("subtotal", "add", "mul_tax"),
        ("tax", "tax", "mul_tax"),
        ("price", "mul_tax", "price"),
    ]

    fig = _new_figure(11, 6)
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_xlim(-1.2, 13.0)
    ax.set_ylim(-1.7, 6.7)

    def anchor(name: str) -> tuple[np.ndarray, float]:
        if name in nodes:
            return np.array(nodes[name][:2]), radius
        return np.array(sources[name][:2]), 0.0

    for key, start, end in edges:
        (p0, r0), (p1, r1) = anchor(start), anchor(end)
        direction = (p1 - p0) / np.linalg.norm(p1 - p0)
        a = p0 + direction * (r0 + (0.55 if start in sources else 0.0))
        b = p1 - direction * (r1 + (0.55 if end in sources else 0.0))
        ax.add_patch(
            FancyArrowPatch(
                tuple(a), tuple(b), arrowstyle="-|>", mutation_scale=14, color="0.25", linewidth=1.4
            )
        )
        normal = np.array([-direction[1], direction[0]])
        if normal[1] < 0 or (normal[1] == 0 and normal[0] > 0):
            normal = -normal  # "above" the edge: the normal that points up (or left if vertical)
        middle = (a + b) / 2
        forward_value, backward_value = v[key]
        ax.text(
            *(middle + 0.28 * normal),
            _fmt(forward_value),
            ha="center",
            va="center",
            fontsize=11,
            color="black",
            fontweight="bold",
        )
        ax.text(
            *(middle - 0.28 * normal),
            _fmt(backward_value),
            ha="center",
            va="center",
            fontsize=11,
            color=RED,
        )

    for x, y, symbol in nodes.values():
        ax.add_patch(Circle((x, y), radius, facecolor="#e8f0fb", edgecolor=BLUE, linewidth=2))
        ax.text(x, y, symbol, ha="center", va="center", fontsize=18)
    for x, y, label in sources.values():
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=11,
            bbox={"boxstyle": "round", "facecolor": "#fff6e5", "edgecolor": ORANGE},
        )

    handles = [
        Line2D(
            [],
            [],
            color="black",
            marker="$1$",
            linestyle="none",
            markersize=8,
            label=w("forward value (above each edge)", "순전파 값 (화살표 위)"),
        ),
        Line2D(
            [],
            [],
            color=RED,
            marker="$1$",
            linestyle="none",
            markersize=8,
            label=w(
                r"backward value $\partial$price / $\partial$edge (below)",
                "역전파 값: 지불 금액의 미분 (화살표 아래)",
            ),
        ),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=10)
    ax.set_title(
        w(
            "Computational graph of the shopping example (chapter 5): "
            f"price = (apple × count + orange × count) × tax = {_fmt(v['price'][0])}",
            "계산 그래프: 사과와 귤 쇼핑 (5장): "
            f"지불 금액 = (사과 가격 × 개수 + 귤 가격 × 개수) × 소비세 = {_fmt(v['price'][0])}",
        ),
        fontsize=11,
    )
    return _finish(fig, w)
