"""The README's "## Tour" code block runs as written (the first ```python block under it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_code(text: str) -> str | None:
    """The first ```python block between a '## Tour' heading and the next '## ' heading."""
    heading = re.search(r"^## Tour\b.*$", text, flags=re.MULTILINE)
    if heading is None:
        return None
    section = text[heading.end():]
    following = re.search(r"^## ", section, flags=re.MULTILINE)
    if following is not None:
        section = section[: following.start()]
    block = re.search(r"^```python[ \t]*\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    return block.group(1) if block else None


def test_tour_extraction():
    text = "# x\n## Tour\nsome words\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n## Next\n"
    assert tour_code(text) == "print(1)\n"
    assert tour_code("# x\n## Tour\nno code\n## Next\n```python\nprint(3)\n```\n") is None
    assert tour_code("# nothing here\n") is None


def test_readme_tour_runs(capsys):
    code = tour_code(README.read_text(encoding="utf-8")) if README.is_file() else None
    if code is None:
        pytest.skip("README.md has no ```python block under '## Tour' yet")
    assert "from mitbadak import" in code, "the tour should show the public API"
    namespace = {"__name__": "__readme_tour__"}
    exec(compile(code, f"{README}:Tour", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert out.strip(), "the tour should print what it shows"
