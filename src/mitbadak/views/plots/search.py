"""The hyper-parameter search's figure: the book's "best 20" grid (section 6.5, figure 6-24)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mitbadak.views.plots._base import BLUE, ORANGE, finish, new_figure, words

__all__ = ["search_best"]


def _short(value: Any) -> str:
    return f"{value:.2g}" if isinstance(value, float) else str(value)


def search_best(trials: Any, n: int = 20, lang: str = "en", cols: int = 5):
    """A grid of the ``n`` best trials (a :class:`~mitbadak.training.search.SearchResult`, or
    trial records ranked best first): each panel the validation accuracy per epoch (solid) and
    the training accuracy (dashed), y from 0 to 1, titled with its rank and values."""
    ranked: Sequence[dict[str, Any]] = trials.ranked() if hasattr(trials, "ranked") else trials
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive whole number of panels, got {n!r}")
    shown = list(ranked)[:n]
    w = words(lang)
    rows = max(1, -(-len(shown) // cols))
    fig = new_figure(2.6 * cols, 2.1 * rows + 0.6)
    for i, record in enumerate(shown):
        ax = fig.add_subplot(rows, cols, i + 1)
        val = np.asarray(record.get("val_acc_list") or [], dtype=float)
        tr = np.asarray(record.get("train_acc_list") or [], dtype=float)
        epochs = np.arange(1, len(val) + 1)
        ax.plot(epochs, val, color=BLUE, linewidth=1.2)
        ax.plot(np.arange(1, len(tr) + 1), tr, "--", color=ORANGE, linewidth=1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_xticks([])
        if i % cols:
            ax.set_yticks([])
        values = ", ".join(f"{k} {_short(v)}" for k, v in record.get("params", {}).items())
        ax.set_title(w(f"Best-{i + 1} (val {record.get('val_acc', 0):.2f})",
                       f"{i + 1}위 (검증 {record.get('val_acc', 0):.2f})"),
                     fontsize=8)  # fmt: skip
        ax.text(0.03, 0.97, values, transform=ax.transAxes, fontsize=5.5, va="top")
    if not shown:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_axis_off()
        ax.text(0.5, 0.5, w("no finished trial yet", "끝난 시행이 아직 없음"), ha="center")
    fig.suptitle(w("Hyper-parameter search: the best trials (solid: validation accuracy, "
                   "dashed: training accuracy, per epoch)",
                   "하이퍼파라미터 탐색: 상위 시행 (실선: 검증 정확도, 점선: 훈련 정확도, "
                   "에폭별)"), fontsize=9)  # fmt: skip
    return finish(fig, w)
