"""What the READMEs promise about accuracy and notebooks is there, and agrees with the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
    from mitbadak.files.datasets import load_split
    from mitbadak.files.modelfile import import_book_weights

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


# --- The two READMEs are one document in two languages -------------------------------------------

# Every '##'/'###' heading of README.md, in order, next to its README.ko.md counterpart. A section
# added to one README and not the other fails here (that is how README.ko.md fell behind once).
SECTIONS = [
    ("## Two commands", "## 명령 두 개로 시작하기"),
    ("## Tour", "## 라이브러리 둘러보기"),
    ("## Where each chapter lives", "## 장별 개념과 라이브러리의 대응"),
    ("## Notebooks", "## 장별 노트북"),
    ("## The command line", "## 명령줄 도구"),
    ("### On a GPU", "### GPU에서"),
    ("## The playground (`mitbadak serve`)", "## 웹 플레이그라운드 (`mitbadak serve`)"),
    ("### Train, Graph, Descent", "### 학습, 계산 그래프, 경사 하강"),
    ("## Data", "## 데이터"),
    ("## Model files", "## 모델 파일"),
    ("## Installing", "## 설치"),
    ("## Accuracy", "## 정확도"),
    ("## Performance", "## 성능"),
    ("## Development", "## 개발"),
]
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^#{2,3} .*$", re.M)


def headings(text: str) -> list[str]:
    return HEADING.findall(FENCE.sub("", text))  # a '# comment' in a code block is no heading


def sections(text: str) -> list[str]:
    """The text under each '##'/'###' heading, up to the next one (code blocks kept whole)."""
    blocks = [m.span() for m in FENCE.finditer(text)]
    starts = [
        m.start() for m in HEADING.finditer(text)
        if not any(a <= m.start() < b for a, b in blocks)
    ]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def code_lines(code: str) -> list[str]:
    """A code block without its comments and blank lines: what the reader types or runs."""
    lines = (re.sub(r"(^|\s+)#.*$", "", line).rstrip() for line in code.splitlines())
    return [line for line in lines if line]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def numbers(row: str) -> list[str]:
    return sorted(re.findall(r"\d+(?:[.,]\d+)*", row))


def test_section_helpers():
    text = "# t\n## A\nx\n```sh\n# not a heading\nrun  # note\n```\n### B\n| 1 | 2.5 |\n## C\n"
    assert headings(text) == ["## A", "### B", "## C"]
    assert [s.splitlines()[0] for s in sections(text)] == ["## A", "### B", "## C"]
    assert code_lines("# comment\nrun --x 1  # why\n\nprint('a')\n") == ["run --x 1", "print('a')"]
    assert numbers("| 3 | 784-50-10, 1,490× | 0.94 s |") == sorted(
        ["3", "784", "50", "10", "1,490", "0.94"]
    )


def test_both_readmes_have_the_same_sections_in_the_same_order():
    assert headings(README) == [en for en, _ in SECTIONS]
    assert headings(README_KO) == [ko for _, ko in SECTIONS]


@pytest.mark.parametrize("index", range(len(SECTIONS)), ids=[en for en, _ in SECTIONS])
def test_each_section_shows_the_same_code_tables_figures_and_numbers(index):
    en, ko = sections(README)[index], sections(README_KO)[index]
    en_code, ko_code = FENCE.findall(en), FENCE.findall(ko)
    assert [lang for lang, _ in en_code] == [lang for lang, _ in ko_code], SECTIONS[index]
    for (_, en_block), (_, ko_block) in zip(en_code, ko_code, strict=True):
        assert code_lines(en_block) == code_lines(ko_block), SECTIONS[index]
    en_rows, ko_rows = table_rows(en), table_rows(ko)
    assert len(en_rows) == len(ko_rows), SECTIONS[index]
    for en_row, ko_row in zip(en_rows, ko_rows, strict=True):
        assert numbers(en_row) == numbers(ko_row), (en_row, ko_row)
    image = r"!\[[^\]]*\]\(([^)]+)\)"
    assert re.findall(image, en) == re.findall(image, ko), SECTIONS[index]


def test_both_readmes_say_how_to_use_the_venv_where_the_first_command_is():
    for text in (README, README_KO):
        first = sections(text)[0]  # the section with `make demo`
        assert "make demo" in first
        assert "source .venv/bin/activate" in first and ".venv/bin/mitbadak" in first
        assert "deactivate" in first
        # the command-line section repeats it where the `mitbadak` commands start
        cli = sections(text)[[en for en, _ in SECTIONS].index("## The command line")]
        assert cli.index("source .venv/bin/activate") < cli.index("```sh\nmitbadak ")


def test_korean_readme_avoids_translationese_and_uses_the_books_terms():
    for stilted in ("정직한", "정직하게", "놀이터", "간선"):
        assert stilted not in README_KO, stilted
    terms = ("신경망", "활성화 함수", "손실 함수", "기울기", "경사 하강법", "오차역전파법", "배치",
             "에폭", "가중치", "편향", "학습률", "정확도", "에지", "웹 플레이그라운드")
    for term in terms:
        assert term in README_KO, term


def test_every_extra_is_in_both_install_tables():
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    for text, heading in ((README, "Installing"), (README_KO, "설치")):
        table = "\n".join(table_rows(section(text, heading)))
        assert set(re.findall(r"`mitbadak\[([\w-]+)\]`", table)) == extras, heading


def test_the_cli_extra_is_what_the_readmes_say_make_demo_installs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {re.split(r"[<>=\[ ]", req)[0].lower() for req in extras["cli"]}
    # "the three above" (plots, images, progress), threadpoolctl (one BLAS thread, small steps)
    assert names == {"matplotlib", "pillow", "tqdm", "threadpoolctl"}
    makefile = (ROOT / "Makefile").read_text()
    demo = re.search(r"^\$\(VENV\)/\.installed-demo:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert demo and "'.[cli]'" in demo.group(1)
    assert not re.search(r"dev|export|torch|bench", demo.group(1))
    assert re.search(r"^demo: \$\(VENV\)/\.installed-demo\s*$", makefile, re.M)


@pytest.mark.skipif(shutil.which("make") is None, reason="no `make` on this machine")
def test_make_demo_then_test_adds_only_the_rest_and_demo_after_test_installs_nothing(tmp_path):
    """The stamps in .venv: what `make -n` would run after each step (nothing is installed)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    old = 1_000_000_000
    os.utime(tmp_path / "pyproject.toml", (old, old))

    def would_run(target: str) -> str:
        proc = subprocess.run(
            ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return proc.stdout

    fresh = would_run("demo")
    assert "-m venv" in fresh and "'.[cli]'" in fresh
    assert "dev" not in fresh and "torch" not in fresh
    # a first `make test` also leaves the demo's stamp, so a later `make demo` installs nothing
    assert "touch .venv/.installed-demo" in would_run("test")
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / ".installed-demo").write_text("")  # `make demo` has run
    test = would_run("test")
    assert "-m venv" not in test and "'.[cli]'" not in test
    assert "'.[dev,export]'" in test and "'torch==2.13.0'" in test
    (venv / ".installed-dev").write_text("")  # `make test` has run
    assert "pip install" not in would_run("demo")
    assert "pip install" not in would_run("test")
    os.utime(tmp_path / "pyproject.toml")  # an edited pyproject.toml reinstalls
    assert "'.[cli]'" in would_run("demo")


# --- Claims that name features other branches of issue 19 add -----------------------------------
# strict xfail: once the feature is merged the test passes, XPASS(strict) fails the suite, and the
# marker must be deleted, so the claim is checked from then on.


def test_both_readmes_say_where_the_books_weights_and_chapter_modules_come_from():
    for text in (README, README_KO):
        assert "`mitbadak data download book-weights`" in text
        assert "from mitbadak.book.ch05.two_layer_net import TwoLayerNet" in text
        assert "`from X import`" in text and "`from mitbadak.book.X import`" in text


def test_data_download_names_book_weights():
    proc = subprocess.run(
        [sys.executable, "-m", "mitbadak", "data", "download", "--help"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "COLUMNS": "200"},  # argparse would wrap "book-" / "weights"
    )
    assert "book-weights" in proc.stdout


def test_the_book_modules_the_readmes_name_exist():
    import importlib

    named = set()
    for text in (README, README_KO):
        named |= set(re.findall(r"from (mitbadak\.book\.[\w.]+) import (\w+)", text))
        named |= {(m, None) for m in re.findall(r"`(mitbadak\.book\.ch\d\d\.\w+)`", text)}
    assert ("mitbadak.book.ch05.two_layer_net", "TwoLayerNet") in named
    for module, name in sorted(named, key=str):
        loaded = importlib.import_module(module)
        if name is not None:
            assert hasattr(loaded, name), (module, name)
