"""``smooth_curve`` for figures: it lives in :mod:`mitbadak.core.smoothing` (training's experiments
smooth their loss curves too, and training may not import views); re-exported here."""

from __future__ import annotations

from mitbadak.core.smoothing import SMOOTH_WINDOW, smooth_curve

__all__ = ["smooth_curve", "SMOOTH_WINDOW"]
