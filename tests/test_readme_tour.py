"""The README's "## Tour" code runs as written: its ```python blocks, in order, in one namespace.

README.ko.md's tour is the same code (tests/test_readme_claims.py holds the two READMEs' code
blocks equal, comments aside), so running the English one checks both.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_blocks(text: str) -> list[str]:
    """The ```python blocks between a '## Tour' heading and the next '## ' heading."""
    heading = re.search(r"^## Tour\b.*$", text, flags=re.MULTILINE)
    if heading is None:
        return []
    section = text[heading.end():]
    following = re.search(r"^## ", section, flags=re.MULTILINE)
    if following is not None:
        section = section[: following.start()]
    return re.findall(r"^```python[ \t]*\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def tour_code(text: str) -> str | None:
    """The first ```python block of the tour (the library walk-through)."""
    blocks = tour_blocks(text)
    return blocks[0] if blocks else None


def test_tour_extraction():
    text = "# x\n## Tour\nsome words\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n## Next\n"
    assert tour_code(text) == "print(1)\n"
    assert tour_blocks(text) == ["print(1)\n", "print(2)\n"]
    assert tour_code("# x\n## Tour\nno code\n## Next\n```python\nprint(3)\n```\n") is None
    assert tour_code("# nothing here\n") is None


# without a Hangul font the tour's Korean figure is drawn in English, with this warning
@pytest.mark.filterwarnings("ignore::mitbadak.views.fonts.HangulFontWarning")
def test_readme_tour_runs(capsys, tmp_path, monkeypatch):
    blocks = tour_blocks(README.read_text(encoding="utf-8")) if README.is_file() else []
    if not blocks:
        pytest.skip("README.md has no ```python block under '## Tour' yet")
    assert "from mitbadak import" in blocks[0], "the tour should show the public API"
    monkeypatch.chdir(tmp_path)  # the figures block saves a PNG in the current folder
    namespace = {"__name__": "__readme_tour__"}
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"{README}:Tour#{number}", "exec"), namespace)  # noqa: S102 - our README
    out = capsys.readouterr().out
    assert out.strip(), "the tour should print what it shows"
    assert re.search(r"^0\.9\d+$", out.splitlines()[-1]), out  # the tour's test accuracy
    if "save_figure" in "".join(blocks):
        assert (tmp_path / "learning-rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
