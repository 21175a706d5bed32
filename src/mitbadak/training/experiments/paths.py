"""``optimizer-paths``: the optimizers on f(x, y) = x²/20 + y² (the book's section 6.1)."""

from __future__ import annotations

from typing import Any

from mitbadak.nn.optimizers import OPTIMIZERS, REGISTRY
from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet

PATH_START = (-7.0, 2.0)
PATH_STEPS = 30


def paths_function(x: float, y: float) -> float:
    """f(x, y) = x²/20 + y² (the book's section 6.1.3)."""
    return x * x / 20.0 + y * y


def paths_gradient(x: float, y: float) -> tuple[float, float]:
    """(df/dx, df/dy) = (x/10, 2y)."""
    return x / 10.0, 2.0 * y


def optimizer_paths(
    seed: int = 0, full: bool = False, progress: Progress = quiet, should_stop: StopCheck = never
) -> dict[str, Any]:
    """Every registered optimizer on f(x, y) = x²/20 + y² from (-7, 2) for 30 steps, each with its
    ``compare_lr`` (SGD 0.95, Momentum 0.1, Nesterov 0.1, AdaGrad 1.5, Adam 0.3, RMSprop 0.1).

    As the book's ``optimizer_compare_naive.py``: x and y are plain floats updated by
    ``optimizer.update``, the gradient taken analytically at the current point. Returns
    ``{"start", "steps", "optimizers": {name: {"lr", "x": [31 floats], "y": [...]}}, "partial"}``:
    the start and the point after each step (the book's plot shows the first 30 of these 31
    points); ``should_stop()`` is asked before each optimizer (those done are kept).
    Nothing is random: ``seed`` and ``full`` change nothing.
    """
    result: dict[str, Any] = {"start": list(PATH_START), "steps": PATH_STEPS, "optimizers": {},
                              "partial": False}  # fmt: skip
    names = list(REGISTRY)
    for i, name in enumerate(names):
        if should_stop():
            result["partial"] = True
            break
        lr = float(OPTIMIZERS[name].compare_lr)
        opt = OPTIMIZERS[name](lr=lr)
        params = {"x": PATH_START[0], "y": PATH_START[1]}
        xs, ys = [float(params["x"])], [float(params["y"])]
        for _ in range(PATH_STEPS):
            gx, gy = paths_gradient(params["x"], params["y"])
            opt.update(params, {"x": gx, "y": gy})
            xs.append(float(params["x"]))
            ys.append(float(params["y"]))
        result["optimizers"][name] = {"lr": lr, "x": xs, "y": ys}
        progress(i + 1, len(names), name)
    return result


