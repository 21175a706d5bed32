"""The chapter notebooks, English and Korean, run top to bottom, headless and offline, are stored
without outputs, come from one generator (so the editions never drift), and show what the book
shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
CHAPTERS = ["ch03_forward", "ch04_learning", "ch05_backprop"]
NOTEBOOKS = CHAPTERS + [f"ko/{name}" for name in CHAPTERS]
HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A 'python3' kernelspec that runs *this* interpreter, found before any user-level one.

    JUPYTER_PATH is searched before the user's and the system's Jupyter folders, so a stale
    kernelspec elsewhere on the machine can never pick another Python.
    """
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (mitbadak tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = str(root)
    os.environ["MPLBACKEND"] = "Agg"  # the notebooks switch to inline themselves
    yield "python3"
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_EXECUTED: dict[str, object] = {}


@pytest.fixture
def executed(kernel_name):
    """Run a notebook once per test session and return it with its outputs."""

    def run(name: str):
        if name not in _EXECUTED:
            path = NOTEBOOKS_DIR / f"{name}.ipynb"
            nb = nbformat.read(path, as_version=4)
            client = nbclient.NotebookClient(
                nb,
                timeout=300,
                kernel_name=kernel_name,
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
            _EXECUTED[name] = nb
        return _EXECUTED[name]

    return run


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def cell_with(nb, fragment: str):
    matches = [c for c in code_cells(nb) if fragment in c.source]
    assert len(matches) == 1, f"{fragment!r} in {len(matches)} cells"
    return matches[0]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, executed):
    nb = executed(name)
    cells = code_cells(nb)
    assert all(c.execution_count is not None for c in cells)
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5, f"{name} displayed only {len(images)} figures"
    # Korean figures found their font: matplotlib warns on stderr about any missing glyph.
    stderr = "".join(
        o.get("text", "") for c in cells for o in c.outputs if o.get("name") == "stderr"
    )
    assert "missing from font" not in stderr and "does not have a glyph" not in stderr


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_notebooks_match_their_generator():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", CHAPTERS)
def test_korean_edition_has_the_same_code_and_korean_text(name):
    english = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    korean = nbformat.read(NOTEBOOKS_DIR / "ko" / f"{name}.ipynb", as_version=4)
    assert [c.cell_type for c in english.cells] == [c.cell_type for c in korean.cells]
    for en, ko in zip(english.cells, korean.cells, strict=True):
        if en.cell_type == "code":
            assert ko.source == en.source.replace('LANG = "en"', 'LANG = "ko"')
        else:
            # Mostly Hangul: at least a third of the letters of each Korean markdown cell.
            letters = [ch for ch in ko.source if ch.isalpha()]
            assert len(HANGUL.findall(ko.source)) > len(letters) / 3, ko.source[:60]
    setup = code_cells(korean)[0].source
    assert 'LANG = "ko"' in setup
    assert "lang=LANG" in "".join(c.source for c in code_cells(korean))


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_notebooks_use_the_books_korean_terms(edition):
    text = {
        name: "\n".join(
            c.source for c in nbformat.read(NOTEBOOKS_DIR / f"{edition}{name}.ipynb", 4).cells
        )
        for name in CHAPTERS
    }
    assert "ReLU 함수" in text["ch03_forward"] and "렐루" not in text["ch03_forward"]
    assert "비선형 함수" in text["ch03_forward"]
    assert "오버피팅" in text["ch04_learning"] and "과대적합" not in text["ch04_learning"]
    for term in ("손실 함수", "기울기", "학습률", "정확도"):
        assert term in text["ch04_learning"], term


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter3_nonlinear_section_and_batch_timing(edition, executed):
    nb = executed(f"{edition}ch03_forward")
    out = stream_text(cell_with(nb, "def linear(v):"))
    assert "h(h(h(x))) = [  8. -16.  24.] = c**3 * x = [  8. -16.  24.]" in out
    assert "three linear layers == one matrix: True" in out
    assert "with sigmoid between them        : False" in out

    timing = cell_with(nb, "def fastest_of(")
    # The lesson cannot invert under load: the two ways alternate, and each keeps its fastest
    # of several runs (load only ever slows a run down).
    assert "min(best[k]" in timing.source and "fastest_of(7," in timing.source
    out = stream_text(timing)
    assert "same predictions: True" in out and "(fastest of 7 each)" in out


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter5_shopping_values_print_as_in_the_book(edition, executed):
    nb = executed(f"{edition}ch05_backprop")
    apples = stream_text(cell_with(nb, "apple, apple_num, tax = 100, 2, 1.1")).split("\n")
    assert apples[:2] == ["220", "2.2 110 200"]
    oranges = stream_text(cell_with(nb, "orange, orange_num = 150, 3")).split("\n")
    assert oranges[:2] == ["715", "110 2.2 3.3 165 650"]
