"""The figure registry: every figure ``mitbadak.views.plots`` can draw by name, for ``mitbadak
plot``
and any other client. It imports no matplotlib (the CLI lists it in ``--help``); ``make`` loads
:mod:`mitbadak.views.plots` only when a figure is drawn.

Adding a figure: write its function in the module of :mod:`mitbadak.views.plots` for its kind and
list it
in that module's ``__all__`` (``plots/book.py``: the book's chapter 3-5 figures;
``plots/training_curves.py``: a run's curves; ``plots/images.py``: pictures of data and models),
then add one :class:`FigureSpec` line here. ``mitbadak.views.plots`` re-exports every module's
``__all__``, so ``function`` is also the name in :mod:`mitbadak.views.plots`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FigureSpec", "FIGURES"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure. ``function`` names its maker in :mod:`mitbadak.views.plots` (defined in one of
    its
    figure modules: ``book``, ``training_curves`` or ``images``). ``needs`` says what it
    is drawn from: None (nothing: ``make(lang=...)`` draws the book's example), ``"RUN_DIR"`` (a
    run folder's history), ``"MODEL"`` (a model, and for some figures a data set) or ``"DATA"``
    (a data set); for those the client loads the data and passes it to ``make``."""

    name: str
    summary: str
    function: str
    needs: str | None = None

    @property
    def make(self) -> Callable:
        """The maker in :mod:`mitbadak.views.plots` (needs matplotlib: the ``plots`` extra)."""
        return getattr(importlib.import_module("mitbadak.views.plots"), self.function)


FIGURES: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in (
        FigureSpec("activations", "step vs sigmoid, and ReLU, on [-5, 5]", "activations"),
        FigureSpec("softmax", "input scores [0.3, 2.9, 4.0] next to their softmax", "softmax"),
        FigureSpec(
            "tangent", "f(x) = 0.01x^2 + 0.1x with numerical tangents at x = 5 and 10", "tangent"
        ),
        FigureSpec("surface", "3-D surface of f(x0, x1) = x0^2 + x1^2", "surface"),
        FigureSpec(
            "gradient-field", "arrows of -grad f on [-2, 2]^2 (numerical_gradient)",
            "gradient_field",
        ),
        FigureSpec(
            "descent", "gradient descent from (-3, 4), lr 0.1, 20 steps, on the contour plot",
            "descent",
        ),
        FigureSpec(
            "learning-rates", "descent paths for lr 10, 0.1, 0.01, 1e-10 side by side",
            "learning_rates",
        ),
        FigureSpec(
            "curves", "loss per iteration and accuracy per epoch of a training run", "curves",
            "RUN_DIR",
        ),
        FigureSpec("samples", "a grid of dataset images with their labels", "samples", "DATA"),
        FigureSpec(
            "misclassified", "test images the model gets wrong (true/predicted labels)",
            "misclassified", "MODEL",
        ),
        FigureSpec(
            "graph", "the chapter-5 shopping computational graph, forward and backward values",
            "graph",
        ),
        FigureSpec(
            "weights", "first-layer weights as 28x28 images, one per hidden unit", "weights",
            "MODEL",
        ),
        FigureSpec(
            "optimizer-paths", "the six optimizers on x^2/20 + y^2 from (-7, 2), 30 steps",
            "optimizer_paths",
        ),
        FigureSpec(
            "weight-init-histogram",
            "activation histograms, 5 layers: std 1, 0.01, Xavier, He x sigmoid, tanh, ReLU",
            "weight_init_histogram",
        ),
        FigureSpec(
            "batchnorm-gradient-check",
            "backprop vs numerical gradients with BatchNorm: one image, then a batch of 10",
            "batchnorm_gradient_check",
        ),
    )
}
