"""Chapter 4's gradient descent on 2-D functions, path by path, for plotting and comparing.

* :data:`FUNCTIONS` - the surfaces: ``bowl`` (x0^2 + x1^2, the book's function_2), ``elongated``
  (x0^2 / 20 + x1^2, the book's chapter-6 comparison), ``double-well`` ((x0^2 - 1)^2 + x1^2: two
  minima and a saddle between them) and ``himmelblau`` (four minima).
* :func:`contour_grid` - f on a grid, with contour levels, for drawing the surface.
* :func:`descent_path` - the points visited from a start: plain SGD is
  :func:`mitbadak.gradient_descent` itself (one step per call, so every point is recorded and the
  last one is bit for bit what ``gradient_descent(f, start, lr, steps)`` returns); Momentum,
  AdaGrad and Adam are :mod:`mitbadak.nn.optimizers` fed with :func:`mitbadak.numerical_gradient`;
  with ``gradient="analytic"`` every optimizer gets the surface's gradient formula instead (the
  book's chapter-6 comparison of the six optimizers, figure 6-8).
  A path that blows up is reported as such (``diverged``, ``diverged_at``) and clipped to the plot
  for display, with a note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mitbadak.core.differentiation import gradient_descent, numerical_gradient
from mitbadak.nn.optimizers import OPTIMIZERS, make_optimizer

__all__ = [
    "Surface",
    "FUNCTIONS",
    "BOOK_LR",
    "GRADIENTS",
    "contour_grid",
    "descent_path",
    "compare_optimizers",
    "check_lr",
    "LR_MIN",
    "LR_MAX",
    "MAX_STEPS",
    "DIVERGENCE_LIMIT",
]

LR_MIN, LR_MAX = 1e-10, 10.0
MAX_STEPS = 10_000
MAX_START = 1e3
DIVERGENCE_LIMIT = 1e6
"""A path whose coordinates exceed this in size (or turn inf/NaN) has diverged."""
MAX_RESOLUTION = 300

#: How a path takes its gradient: central differences (chapter 4) or the formula (chapter 6).
GRADIENTS = ("numerical", "analytic")

#: The learning rates of the book's chapter-6 comparison on ``elongated``, from (-7, 2).
BOOK_LR = {name: cls.compare_lr for name, cls in OPTIMIZERS.items()}  # the registry's


@dataclass(frozen=True)
class Surface:
    """A function of x = (x0, x1) with the region to plot and where its minima are.

    ``f`` works on x of shape (2,) and, elementwise, on (2, ...) grids.
    """

    name: str
    formula: str
    f: Callable[[np.ndarray], Any]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    saddles: tuple[tuple[float, float], ...] = ()
    #: the gradient written out (x of shape (2,) -> (2,)), for ``gradient="analytic"``
    grad: Callable[[np.ndarray], np.ndarray] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": self.formula,
            "xlim": list(self.xlim),
            "ylim": list(self.ylim),
            "start": list(self.start),
            "minima": [list(m) for m in self.minima],
            "saddles": [list(s) for s in self.saddles],
        }


def _bowl(x):
    return x[0] ** 2 + x[1] ** 2


def _elongated(x):
    return x[0] ** 2 / 20.0 + x[1] ** 2


def _double_well(x):
    return (x[0] ** 2 - 1.0) ** 2 + x[1] ** 2


def _himmelblau(x):
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def _bowl_grad(x):
    return np.array([2.0 * x[0], 2.0 * x[1]])


def _elongated_grad(x):
    """(x0 / 10, 2 x1), written as the book's chapter-6 comparison computes it."""
    return np.array([x[0] / 10.0, 2.0 * x[1]])


def _double_well_grad(x):
    return np.array([4.0 * x[0] * (x[0] ** 2 - 1.0), 2.0 * x[1]])


def _himmelblau_grad(x):
    a = x[0] ** 2 + x[1] - 11.0
    b = x[0] + x[1] ** 2 - 7.0
    return np.array([4.0 * x[0] * a + 2.0 * b, 2.0 * a + 4.0 * x[1] * b])


FUNCTIONS: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            "bowl", "x0² + x1²", _bowl, (-4.5, 4.5), (-4.5, 4.5), (-3.0, 4.0), ((0, 0),),
            grad=_bowl_grad,
        ),
        Surface(
            "elongated", "x0² / 20 + x1²", _elongated, (-10, 10), (-5, 5), (-7.0, 2.0), ((0, 0),),
            grad=_elongated_grad,
        ),
        Surface(
            "double-well",
            "(x0² - 1)² + x1²",
            _double_well,
            (-2, 2),
            (-1.5, 1.5),
            (0.3, 1.2),
            ((-1, 0), (1, 0)),
            ((0, 0),),
            grad=_double_well_grad,
        ),
        Surface(
            "himmelblau",
            "(x0² + x1 - 11)² + (x0 + x1² - 7)²",
            _himmelblau,
            (-5, 5),
            (-5, 5),
            (0.0, 0.0),
            ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
            grad=_himmelblau_grad,
        ),
    )
}


def contour_grid(
    name: str,
    resolution: int = 80,
    xlim: Sequence[float] | None = None,
    ylim: Sequence[float] | None = None,
    n_levels: int = 12,
) -> dict[str, Any]:
    """f on a ``resolution`` x ``resolution`` grid: ``{"xs", "ys", "z", "levels", ...}``.

    ``z[i][j]`` = f(xs[j], ys[i]). ``levels`` are ``n_levels`` contour heights spaced evenly in
    the square root of f between its grid minimum and maximum, so the rings near a minimum are
    not all squeezed into one.
    """
    surface = _surface(name)
    resolution = _whole("resolution", resolution, 2, MAX_RESOLUTION)
    x0, x1 = _limits("xlim", surface.xlim if xlim is None else xlim)
    y0, y1 = _limits("ylim", surface.ylim if ylim is None else ylim)
    xs = np.linspace(x0, x1, resolution)
    ys = np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    z = np.asarray(surface.f(np.stack([gx, gy])), dtype=np.float64)
    lo, hi = float(z.min()), float(z.max())
    shift = lo if lo < 0 else 0.0
    roots = np.linspace(math.sqrt(lo - shift), math.sqrt(hi - shift), n_levels + 2)[1:-1]
    return {
        **surface.to_dict(),
        "xs": xs.tolist(),
        "ys": ys.tolist(),
        "z": z.tolist(),
        "levels": (roots**2 + shift).tolist(),
    }


def check_lr(lr) -> float:
    """The learning rate as a float if it is a number in [1e-10, 10], else ``ValueError``."""
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr must be a number from {LR_MIN:g} to {LR_MAX:g}, got {lr!r}") from None
    if isinstance(lr, bool) or not LR_MIN <= value <= LR_MAX:
        raise ValueError(f"lr must be a number from {LR_MIN:g} to {LR_MAX:g}, got {lr!r}")
    return value


def descent_path(
    name: str,
    start: Sequence[float] | None = None,
    lr: float = 0.1,
    steps: int = 100,
    optimizer: str = "sgd",
    gradient: str = "numerical",
) -> dict[str, Any]:
    """Descend surface ``name`` from ``start`` for ``steps`` steps with ``optimizer``.

    ``gradient="numerical"`` (chapter 4): SGD is x <- x - lr * grad f(x), each step one call of
    :func:`mitbadak.gradient_descent`; the other optimizers' ``update`` gets
    ``numerical_gradient`` of f. ``gradient="analytic"`` (the book's chapter-6 comparison): every
    optimizer's ``update`` (SGD's too) gets the surface's gradient written out, so on
    ``elongated`` from (-7, 2) the points are, number for number,
    :func:`mitbadak.training.experiments.optimizer_paths`'.

    Returns ``{"path", "values", "final", "diverged", "diverged_at", "overflowed_at",
    "display_path", "clipped", "note", ...}``: ``path`` holds the ``steps + 1`` points visited
    (fewer when the numbers overflowed to inf/NaN: the path stops at the last finite point);
    ``diverged_at`` is the first step whose point exceeds :data:`DIVERGENCE_LIMIT` in size;
    ``display_path`` is ``path`` clipped to the plot region (plus 5 %), ``clipped`` says whether
    any point was moved, and ``note`` explains it in a sentence (None when nothing happened).
    """
    surface = _surface(name)
    lr = check_lr(lr)
    steps = _whole("steps", steps, 0, MAX_STEPS)
    key = str(optimizer).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")
    x = _start(surface.start if start is None else start)
    f = surface.f
    path = [x.copy()]
    diverged_at = overflowed_at = None
    with np.errstate(over="ignore", invalid="ignore"):
        if gradient == "analytic":
            opt = make_optimizer(key, lr)
            params = {"x": x.copy()}

            def step(point: np.ndarray) -> np.ndarray:
                opt.update(params, {"x": surface.grad(params["x"])})
                return params["x"].copy()

        elif key == "sgd":

            def step(point: np.ndarray) -> np.ndarray:
                return gradient_descent(f, point, lr=lr, step_num=1)

        else:
            opt = make_optimizer(key, lr)
            params = {"x": x.copy()}

            def step(point: np.ndarray) -> np.ndarray:
                opt.update(params, {"x": numerical_gradient(f, params["x"])})
                return params["x"].copy()

        for i in range(1, steps + 1):
            try:
                x = step(x)
            except ValueError:  # the gradient itself overflowed (gradient_descent refuses NaN)
                x = np.full_like(x, np.nan)
            if not np.all(np.isfinite(x)):
                overflowed_at = i
                diverged_at = diverged_at or i
                break
            if diverged_at is None and np.max(np.abs(x)) > DIVERGENCE_LIMIT:
                diverged_at = i
            path.append(x)
        values = [float(f(p)) for p in path]
    # JSON has no inf: a value too large for float64 (the point itself is finite) becomes None
    values_json = [v if math.isfinite(v) else None for v in values]
    points = np.array(path)
    (x0, x1), (y0, y1) = surface.xlim, surface.ylim
    pad_x, pad_y = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
    lo = np.array([x0 - pad_x, y0 - pad_y])
    hi = np.array([x1 + pad_x, y1 + pad_y])
    shown = np.clip(points, lo, hi)
    outside = np.nonzero(np.any(shown != points, axis=1))[0]
    return {
        "function": surface.name,
        "optimizer": key,
        "gradient": gradient,
        "lr": lr,
        "steps": steps,
        "start": path[0].tolist(),
        "path": points.tolist(),
        "values": values_json,
        "final": path[-1].tolist(),
        "final_value": values_json[-1],
        "diverged": diverged_at is not None,
        "diverged_at": diverged_at,
        "overflowed_at": overflowed_at,
        "display_path": shown.tolist(),
        "clipped": bool(len(outside)),
        "note": _note(points, outside, diverged_at, overflowed_at),
    }


def compare_optimizers(
    name: str,
    start: Sequence[float] | None = None,
    steps: int = 30,
    lrs: dict[str, float] | None = None,
    gradient: str = "numerical",
) -> dict[str, dict[str, Any]]:
    """One :func:`descent_path` per optimizer from the same start, keyed by optimizer name.

    ``lrs`` maps optimizer -> learning rate (default :data:`BOOK_LR`, the book's chapter-6
    comparison); only the optimizers it names are run; ``gradient`` as :func:`descent_path`.
    """
    chosen = BOOK_LR if lrs is None else lrs
    if not isinstance(chosen, dict) or not chosen:
        raise ValueError(f"lrs must map optimizer names to learning rates, got {lrs!r}")
    return {
        opt: descent_path(name, start, lr, steps, optimizer=opt, gradient=gradient)
        for opt, lr in chosen.items()
    }


def _note(points, outside, diverged_at, overflowed_at) -> str | None:
    parts = []
    if overflowed_at is not None:
        parts.append(
            f"the numbers overflowed to inf/NaN at step {overflowed_at}, so the path stops at "
            f"step {overflowed_at - 1}"
        )
    if diverged_at is not None and overflowed_at != diverged_at:
        size = float(np.max(np.abs(points[diverged_at])))
        parts.append(
            f"diverged: at step {diverged_at} the point is {size:.2g} in size "
            f"(beyond {DIVERGENCE_LIMIT:g})"
        )
    if len(outside):
        parts.append(
            f"the path leaves the plot at step {int(outside[0])}; points outside are drawn "
            f"on its edge (clipped), the true values are in 'path'"
        )
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _surface(name: str) -> Surface:
    key = str(name).strip().lower()
    if key not in FUNCTIONS:
        raise ValueError(f"unknown function {name!r}; expected one of {', '.join(FUNCTIONS)}")
    return FUNCTIONS[key]


def _whole(label: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{label} must be a whole number {lo} to {hi:,}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a whole number {lo} to {hi:,}, got {value!r}") from None
    if not number.is_integer() or not lo <= number <= hi:
        raise ValueError(f"{label} must be a whole number {lo} to {hi:,}, got {value!r}")
    return int(number)


def _limits(label: str, lim) -> tuple[float, float]:
    try:
        if isinstance(lim, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be two numbers (low, high), got {lim!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{label} must be two finite numbers with low < high, got {lim!r}")
    return lo, hi


def _start(start) -> np.ndarray:
    try:
        if isinstance(start, (str, bytes)):
            raise TypeError
        x = np.array([float(v) for v in start], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"start must be two numbers (x0, x1), got {start!r}") from None
    if x.shape != (2,) or not np.all(np.isfinite(x)) or np.max(np.abs(x)) > MAX_START:
        raise ValueError(
            f"start must be two finite numbers (x0, x1) no larger than {MAX_START:g}, "
            f"got {start!r}"
        )
    return x
