"""Every Python block in docs/book-idioms.md (and .ko.md) and docs/seed-notes.md runs, and prints
what it says.

A page is run like a notebook: its ```python blocks in order, in one namespace, in a temporary
folder holding ``sample_weight.pkl`` (a link to ../shared/data) with ``$MITBADAK_DATA`` pointing
at the shared MNIST test set and downloads disabled. A ```text block right after a python block is
that block's expected output: compared exactly (after trimming trailing spaces), or number by
number within a relative tolerance when ``<!-- rtol: 1e-6 -->`` precedes the python block.
``<!-- skip: reason -->`` before a block leaves it out (the reason is shown on the page).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PAGES = ["docs/book-idioms.md", "docs/book-idioms.ko.md", "docs/seed-notes.md"]

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*(skip|rtol):\s*(.*?)\s*-->\s*$")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")


@dataclass
class Block:
    line: int
    code: str
    expected: str | None = None
    rtol: float | None = None
    skip: str | None = None


def parse_blocks(text: str) -> list[Block]:
    """The page's python blocks with their expected outputs and markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    marks: dict[str, str] = {}
    last_python: Block | None = None  # a python block that may still get its output block
    i = 0
    while i < len(lines):
        line = lines[i]
        mark = _MARK.match(line)
        fence = _FENCE.match(line)
        if mark:
            marks[mark.group(1)] = mark.group(2)
            i += 1
            continue
        if not fence:
            if line.strip():
                last_python = None
                marks.clear()
            i += 1
            continue
        lang, start = fence.group(1), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        content = "\n".join(body) + "\n"
        if lang == "python":
            block = Block(start + 1, content, skip=marks.get("skip"))
            if "rtol" in marks:
                block.rtol = float(marks["rtol"])
            blocks.append(block)
            last_python = block
        elif lang == "text" and last_python is not None and last_python.expected is None:
            last_python.expected = content
            last_python = None
        else:
            last_python = None
        marks.clear()
    return blocks


def _same_output(actual: str, expected: str, rtol: float | None) -> bool:
    norm_a = "\n".join(s.rstrip() for s in actual.strip("\n").splitlines())
    norm_e = "\n".join(s.rstrip() for s in expected.strip("\n").splitlines())
    if rtol is None:
        return norm_a == norm_e
    # the text around the numbers must match; spacing may differ (NumPy pads columns)
    if re.sub(r"\s+", "", _NUMBER.sub("#", norm_a)) != re.sub(r"\s+", "", _NUMBER.sub("#", norm_e)):
        return False
    nums_a = [float(m) for m in _NUMBER.findall(norm_a)]
    nums_e = [float(m) for m in _NUMBER.findall(norm_e)]
    return len(nums_a) == len(nums_e) and all(
        math.isclose(a, e, rel_tol=rtol, abs_tol=1e-300) or (math.isnan(a) and math.isnan(e))
        for a, e in zip(nums_a, nums_e, strict=True)
    )


def test_block_parser():
    page = (
        "text\n\n<!-- rtol: 1e-6 -->\n```python\nprint(1)\n```\n\n```text\n1\n```\n"
        "<!-- skip: slow -->\n```python\nx\n```\nprose\n```text\nnot an output\n```\n"
    )
    a, b = parse_blocks(page)
    assert (a.code, a.expected, a.rtol, a.skip) == ("print(1)\n", "1\n", 1e-6, None)
    assert (b.code, b.expected, b.skip) == ("x\n", None, "slow")
    assert _same_output("[ 0.31682708  0.69627909]\n", "[ 0.31682708  0.69627909]", None)
    assert not _same_output("0.5976", "0.5975", None)
    assert _same_output("a 1.0000001 b", "a 1.0 b", 1e-6)
    assert not _same_output("a 1.01 b", "a 1.0 b", 1e-6)
    assert not _same_output("x 1.0", "y 1.0", 1e-6)
    assert _same_output("[ 0.1  -0.36281   ]", "[ 0.1 -0.36281009]", 1e-6)
    assert not _same_output("[0.1 0.2]", "[0.1 0.2 0.3]", 1e-6)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """cwd with the book's weight file, the shared test set on $MITBADAK_DATA, no downloads."""
    if not (SHARED / "sample_weight.pkl").exists() or not (SHARED / "mnist").is_dir():
        pytest.skip(f"{SHARED} (sample_weight.pkl and mnist/) is not present")
    (tmp_path / "sample_weight.pkl").symlink_to(SHARED / "sample_weight.pkl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MITBADAK_DATA", str(SHARED / "mnist"))
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def no_network(*args, **kwargs):
        raise AssertionError("a docs snippet tried to download something")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return tmp_path


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_and_prints_what_it_says(page, sandbox):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = parse_blocks(text)
    assert len(blocks) >= 10, f"{page}: expected many python blocks, found {len(blocks)}"
    namespace: dict = {"__name__": "__docs__"}
    checked = 0
    for block in blocks:
        if block.skip is not None:
            continue
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - report which block failed, then re-raise
            raise AssertionError(f"{page}, block at line {block.line} raised {exc!r}") from exc
        if block.expected is not None:
            checked += 1
            assert _same_output(out.getvalue(), block.expected, block.rtol), (
                f"{page}, block at line {block.line} printed:\n{out.getvalue()}\n"
                f"but the page says:\n{block.expected}"
            )
    assert checked >= 5, f"{page}: only {checked} blocks have an expected output"


def test_pages_are_linked_from_both_readmes():
    for readme, page in (("README.md", "docs/book-idioms.md"),
                         ("README.ko.md", "docs/book-idioms.ko.md")):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert page in text, readme
    for page, other in (("book-idioms.md", "book-idioms.ko.md"),
                        ("book-idioms.ko.md", "book-idioms.md")):
        idioms = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert "seed-notes.md" in idioms and f"({other})" in idioms, page



def test_korean_page_runs_the_same_code_as_the_english_one():
    """book-idioms.ko.md is the same page in Korean: the same code (comments aside), the same
    outputs, the same markers."""

    def code(block: Block) -> str:
        return "\n".join(re.sub(r"\s*#.*$", "", line) for line in block.code.splitlines())

    en, ko = (parse_blocks((ROOT / "docs" / name).read_text(encoding="utf-8"))
              for name in ("book-idioms.md", "book-idioms.ko.md"))
    assert [code(b) for b in ko] == [code(b) for b in en]
    assert [(b.expected, b.rtol, b.skip) for b in ko] == [(b.expected, b.rtol, b.skip) for b in en]
