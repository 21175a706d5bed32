"""What the READMEs promise about accuracy and notebooks is there, and agrees with the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_KO = (ROOT / "README.ko.md").read_text(encoding="utf-8")
SHARED = ROOT.parent / "shared" / "data"


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def test_the_accuracy_promise_points_at_real_figures():
    assert "[Accuracy](#accuracy)" in README
    for text, heading in ((README, "Accuracy"), (README_KO, "정확도")):
        table = section(text, heading)
        figures = re.findall(r"\| (\d\d\.\d+) % \|", table)
        assert len(figures) >= 5, figures
        assert "93.52 %" in table and "93.80 %" in table


def test_tour_figure_and_accuracy_table_agree():
    tour = re.search(r'print\(result\.history\.last\["test_acc"\]\)  # (0\.\d+)', README)
    assert tour, "the tour prints its accuracy"
    percent = f"{float(tour.group(1)) * 100:.1f} %"
    assert percent in section(README, "Accuracy")
    assert percent in section(README_KO, "정확도")


@pytest.mark.skipif(not (SHARED / "sample_weight.pkl").is_file(), reason="../shared/data absent")
def test_book_weights_reach_the_readme_figure():
    from mitbadak.datasets import load_split
    from mitbadak.modelfile import import_book_weights

    x, t = load_split("mnist", "test", data_dir=SHARED / "mnist", download=False)
    accuracy = import_book_weights(SHARED / "sample_weight.pkl").accuracy(x, t)
    assert f"{accuracy * 100:.2f} %" == "93.52 %"


def test_notebooks_extra_brings_jupyter_and_the_readmes_say_how_to_open_them():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[ ]", req)[0] for req in extras["notebooks"]}
    assert names & {"jupyter", "jupyterlab", "notebook"}
    assert {"ipykernel", "matplotlib", "tqdm"} <= names
    for text in (README, README_KO):
        assert "pip install -e '.[notebooks]'" in text
        assert re.search(r"jupyter lab notebooks/", text)
        assert "notebooks/ko/" in text
