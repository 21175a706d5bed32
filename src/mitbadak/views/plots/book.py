"""The book's figures for chapters 3-5, each drawn from the library's own numbers.

Chapter 3: :func:`activations` (step, sigmoid, ReLU) and :func:`softmax`. Chapter 4:
:func:`tangent` (numerical differentiation), :func:`surface`, :func:`gradient_field`,
:func:`descent` and :func:`learning_rates` (gradient descent). Chapter 5: :func:`graph`, the
shopping computational graph, with the numbers of :func:`shopping_graph_values`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mitbadak.core import functions as fn
from mitbadak.core.differentiation import (
    gradient_descent,
    numerical_diff,
    numerical_gradient,
    tangent_line,
)
from mitbadak.views.plots._base import BLUE, GREEN, ORANGE, PURPLE, RED, finish, new_figure, words

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "activations",
    "softmax",
    "tangent",
    "surface",
    "gradient_field",
    "descent",
    "learning_rates",
    "graph",
    "shopping_graph_values",
]


# --------------------------------------------------------------------------------------------
# Chapter 3: activation functions and softmax.


def activations(x_min: float = -5.0, x_max: float = 5.0, *, lang: str = "en") -> Figure:
    """Left: step vs sigmoid on one axes (the book's comparison). Right: ReLU."""
    w = words(lang)
    x = np.linspace(x_min, x_max, 1001)
    fig = new_figure(10, 4)
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
    return finish(fig, w)


def softmax(a: Sequence[float] = (0.3, 2.9, 4.0), *, lang: str = "en") -> Figure:
    """Bars of the input scores ``a`` next to ``softmax(a)`` = exp(a_k) / sum_i exp(a_i)."""
    w = words(lang)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a must be a non-empty 1-D sequence of scores, got shape {a.shape}")
    y = fn.softmax(a)
    idx = np.arange(a.size)
    labels = [f"a[{i}]" if a.size > 1 else "a" for i in idx]

    fig = new_figure(10, 4)
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
    return finish(fig, w)


# --------------------------------------------------------------------------------------------
# Chapter 4: derivatives, gradients, gradient descent.


def _quadratic_example(x):
    """f(x) = 0.01 x^2 + 0.1 x, the book's example of a derivative."""
    return 0.01 * x**2 + 0.1 * x


def _sum_of_squares(x: np.ndarray) -> float:
    """f(x0, x1) = x0^2 + x1^2"""
    return float(np.sum(x**2))


def _descent_points(init_x, lr: float, step_num: int) -> np.ndarray:
    """Every point of ``gradient_descent`` on f = x0^2 + x1^2: the book's history (the point
    before each step) followed by the final x, as (step_num + 1, 2)."""
    final, path = gradient_descent(
        _sum_of_squares,
        np.array(init_x, dtype=np.float64),
        lr=lr,
        step_num=step_num,
        return_history=True,
    )
    return np.vstack([path, final])


def tangent(points: Sequence[float] = (5.0, 10.0), *, lang: str = "en") -> Figure:
    """f(x) = 0.01x^2 + 0.1x on [0, 20] with its tangents (slopes from ``numerical_diff``)."""
    w = words(lang)
    x = np.linspace(0.0, 20.0, 401)
    fig = new_figure(7, 4.8)
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
    return finish(fig, w)


def surface(limit: float = 3.0, *, lang: str = "en") -> Figure:
    """The bowl f(x0, x1) = x0^2 + x1^2 as a 3-D surface over [-limit, limit]^2."""
    w = words(lang)
    grid = np.linspace(-limit, limit, 61)
    x0, x1 = np.meshgrid(grid, grid)
    z = x0**2 + x1**2
    fig = new_figure(7, 6)
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
    return finish(fig, w)


def _grad_at(f: Callable[[np.ndarray], float], point: Sequence[float]) -> np.ndarray:
    return numerical_gradient(f, np.array(point, dtype=np.float64))


def gradient_field(limit: float = 2.0, step: float = 0.25, *, lang: str = "en") -> Figure:
    """Arrows of -grad f for f = x0^2 + x1^2 on a grid of spacing ``step`` over [-limit, limit]^2.

    Each arrow is ``numerical_gradient`` at one grid point, negated: the direction in which f
    decreases fastest, longer where the slope is steeper.
    """
    w = words(lang)
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    ticks = np.arange(-limit, limit + step / 2, step)
    x0, x1 = np.meshgrid(ticks, ticks)
    grads = np.array(
        [_grad_at(_sum_of_squares, p) for p in zip(x0.ravel(), x1.ravel(), strict=True)]
    )
    u = -grads[:, 0].reshape(x0.shape)
    v = -grads[:, 1].reshape(x0.shape)

    fig = new_figure(6.5, 6)
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
    return finish(fig, w)


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
    w = words(lang)
    path = _descent_points(init_x, lr, step_num)
    final = path[-1]
    fig = new_figure(6.5, 6)
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
    return finish(fig, w)


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
    w = words(lang)
    lrs = list(lrs)
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    limit = 5.0
    fig = new_figure(3.4 * len(lrs), 7.2)
    grid = fig.add_gridspec(2, len(lrs), height_ratios=[1.25, 1])
    ax_dist = fig.add_subplot(grid[1, :])
    colors = [RED, BLUE, GREEN, PURPLE, ORANGE]
    for i, lr in enumerate(lrs):
        color = colors[i % len(colors)]
        path = _descent_points(init_x, lr, step_num)
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
    return finish(fig, w)


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
    :func:`mitbadak.views.computational_graphs.apple_orange_graph` (``MulLayer``/``AddLayer``,
    forward then backward).
    Keys: apple, apple_num, orange, orange_num, tax, apple_total, orange_total, subtotal, price.
    """
    from mitbadak.views.computational_graphs import (
        apple_orange_graph,  # imported when drawn: plots loads no more
    )

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

    w = words(lang)
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

    fig = new_figure(11, 6)
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
    return finish(fig, w)
