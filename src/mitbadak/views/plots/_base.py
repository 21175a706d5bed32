"""What every figure module of :mod:`mitbadak.views.plots` shares: matplotlib without pyplot, the
English/Korean words and the Hangul font, the colours, and atomic PNG saving.

A figure function follows one pattern::

    w = words(lang)                  # w("loss", "손실") picks the text of ``lang``
    fig = new_figure(width, height)  # its own Agg canvas, no pyplot, no global state
    ...                              # draw with the object API
    return finish(fig, w)            # Korean figures: the Hangul font on each Hangul text

Importing this module fails with :data:`MATPLOTLIB_MISSING` when matplotlib is not installed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from mitbadak.core.atomic import atomic_write

MATPLOTLIB_MISSING = "matplotlib is needed for plots: pip install 'mitbadak[plots]'"

# Fail at import with an actionable message (callers such as the trainer catch ImportError to skip
# their plots). pyplot itself is never imported: figures are built with the object API only.
try:
    import matplotlib  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(MATPLOTLIB_MISSING) from _exc

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from matplotlib.figure import Figure

__all__ = ["save_figure"]

DEFAULT_DPI = 120
LANGUAGES = ("en", "ko")

# Glyphs a Hangul font may lack (the minus sign, arrows, math symbols) come from DejaVu Sans,
# which ships with matplotlib: the font family list below is a per-glyph fallback.
_FALLBACK_FAMILY = "DejaVu Sans"

# Colours used consistently across figures (matplotlib's default cycle, named for readability).
BLUE, ORANGE, GREEN, RED, PURPLE = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"


def new_figure(width: float, height: float) -> Figure:
    """A fresh Figure with its own Agg canvas (no pyplot, no global figure manager)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(MATPLOTLIB_MISSING) from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class Words:
    """Picks the English or the Korean text of a label: ``w("loss", "손실")``."""

    def __init__(self, font: str | None) -> None:
        self.font = font  # the Hangul font family when drawing Korean, else None
        self.ko = font is not None

    def __call__(self, english: str, korean: str) -> str:
        return korean if self.ko else english


def words(lang: str) -> Words:
    """Resolve ``lang`` to the words and font to draw with (English if no Hangul font)."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGUAGES))}, got {lang!r}")
    if lang == "en":
        return Words(None)
    from mitbadak.views.fonts import HangulFontWarning, find_hangul_font, missing_font_note

    font = find_hangul_font()
    if font is None:
        warnings.warn(missing_font_note(), HangulFontWarning, stacklevel=3)
    return Words(font)


def finish(fig: Figure, words: Words) -> Figure:
    """Give every text artist of ``fig`` that holds Hangul the Hangul font (Korean figures only).

    Texts without Hangul (numbers, tick labels, math) keep matplotlib's own fonts, whose glyphs
    (the minus sign, mathtext) a Hangul font may lack.
    """
    if words.font is not None:
        from matplotlib.text import Text

        family = [words.font, _FALLBACK_FAMILY]
        for text in fig.findobj(Text):
            if has_hangul(text.get_text()):
                text.set_fontfamily(family)
    return fig


def has_hangul(text: str) -> bool:
    return any(
        "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"
        for ch in text
    )


def display_name(path) -> str:
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
