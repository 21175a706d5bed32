"""A run folder's curves: loss.png and accuracy.png, drawn by :mod:`mitbadak.views.plots`.

Registered with :func:`mitbadak.training.runs.register_curve_writer` when imported (the package
root imports this module), so ``run_training`` writes them without importing the views layer.
Importing this module does not import matplotlib.
"""

from __future__ import annotations

from pathlib import Path

from mitbadak.training.runs import register_curve_writer

__all__ = ["write_run_curves"]


def write_run_curves(history, out: Path, lang: str = "en") -> list[str]:
    """loss.png and accuracy.png; skipped (empty list) when matplotlib is not installed."""
    try:
        from mitbadak.views import plots
    except ImportError:
        return []
    written = []
    for name, make in (("loss.png", plots.loss_curve), ("accuracy.png", plots.accuracy_curve)):
        fig = make(history, lang=lang)
        plots.save_figure(fig, out / name)
        written.append(str(out / name))
    return written


register_curve_writer(write_run_curves)
