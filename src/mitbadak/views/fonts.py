"""Find a font on this machine that can draw Korean (Hangul) text, for ``lang="ko"`` plots.

Nothing here changes matplotlib's global settings or ships a font: :func:`find_hangul_font` asks
matplotlib's font manager which of the usual Korean fonts is installed (Malgun Gothic on
Windows, Apple SD Gothic Neo / AppleGothic on macOS, NanumGothic or Noto Sans CJK KR on Linux)
and checks that the file really holds Hangul glyphs. Plots then pass that family to each text
artist they draw. matplotlib is imported lazily; without it every lookup answers ``None``.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = [
    "HANGUL_FONT_FAMILIES",
    "FONT_PACKAGE",
    "HangulFontWarning",
    "find_hangul_font",
    "hangul_font_path",
    "missing_font_note",
]

# In order of preference: the system font of each OS first, then common free fonts.
HANGUL_FONT_FAMILIES: tuple[str, ...] = (
    "Malgun Gothic",  # Windows
    "Apple SD Gothic Neo",  # macOS
    "AppleGothic",  # older macOS
    "NanumGothic",  # Debian/Ubuntu: fonts-nanum
    "NanumBarunGothic",
    "Noto Sans CJK KR",  # fonts-noto-cjk
    "Noto Sans KR",
    "Source Han Sans KR",
    "UnDotum",  # fonts-unfonts-core
    "Baekmuk Gulim",
)

# The Debian/Ubuntu package to suggest when no Hangul font is found.
FONT_PACKAGE = "fonts-nanum"

# Characters a usable font must have: a few syllables used in the plots' titles.
_PROBE = "한글정확도손실"


class HangulFontWarning(UserWarning):
    """Korean was asked for, but no font that can draw Hangul is installed."""


def missing_font_note() -> str:
    """The one-line note shown when Korean plots fall back to English."""
    return (
        "no Korean (Hangul) font found (looked for "
        + ", ".join(HANGUL_FONT_FAMILIES[:6])
        + "): drawing in English; install one, e.g. `sudo apt install "
        + FONT_PACKAGE
        + "` on Debian/Ubuntu, then retry"
    )


def _has_hangul(path: str) -> bool:
    try:
        from matplotlib.ft2font import FT2Font

        font = FT2Font(path)
        return all(font.get_char_index(ord(ch)) != 0 for ch in _PROBE)
    except Exception:  # unreadable or unsupported font file: not usable
        return False


@lru_cache(maxsize=1)
def _find() -> tuple[str, str] | None:
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    entries = font_manager.fontManager.ttflist
    for family in HANGUL_FONT_FAMILIES:
        candidates = [e for e in entries if e.name == family]
        # Prefer the regular weight, upright style.
        candidates.sort(key=lambda e: (e.style != "normal", abs(_weight(e.weight) - 400)))
        for entry in candidates:
            if _has_hangul(entry.fname):
                return family, entry.fname
    return _find_installed_since_cache(font_manager)


def _find_installed_since_cache(font_manager) -> tuple[str, str] | None:
    """A Hangul font installed after matplotlib wrote its font cache (as after following our
    own hint, ``apt install fonts-nanum``): matplotlib's list never sees it, so look at the
    system's font files themselves and register the first usable one with ``addfont``."""
    try:
        paths = font_manager.findSystemFonts()
    except Exception:  # an unreadable font folder must not break plotting
        return None
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    by_family: dict[str, str] = {}
    for path in sorted(set(paths) - known):
        try:
            family = font_manager.get_font(path).family_name
        except Exception:  # not a font matplotlib can read
            continue
        if family in HANGUL_FONT_FAMILIES and family not in by_family and _has_hangul(path):
            by_family[family] = path
    for family in HANGUL_FONT_FAMILIES:
        if family in by_family:
            font_manager.fontManager.addfont(by_family[family])
            return family, by_family[family]
    return None


def _weight(weight) -> int:
    if isinstance(weight, int):
        return weight
    names = {"light": 300, "normal": 400, "regular": 400, "medium": 500, "bold": 700}
    return names.get(str(weight).lower(), 400)


def find_hangul_font() -> str | None:
    """The family name of an installed font that draws Hangul, or ``None`` if there is none.

    The answer is cached for the process; it never changes matplotlib's settings.
    """
    found = _find()
    return None if found is None else found[0]


def hangul_font_path() -> str | None:
    """The file of the font :func:`find_hangul_font` names, or ``None``."""
    found = _find()
    return None if found is None else found[1]
