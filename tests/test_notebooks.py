"""The chapter notebooks, English and Korean, run top to bottom, headless and offline, are stored
without outputs, come from one generator (so the editions never drift), and show what the book
and the learners' notes show.

Chapter 3 uses the book's weights (sample_weight.pkl) when they are found (../shared/data beside
the repository, $MITBADAK_DATA, the user cache). Where they are not (a user's fresh clone), the
notebook says how to get them and the tests of the numbers they give skip with that reason,
except under CI=true, where their absence is a failure. The notebook's other branch, weights
absent, is run on purpose with every place it looks pointed at empty folders.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
CHAPTERS = ["ch03_forward", "ch04_learning", "ch05_backprop", "ch06_techniques"]
#: the notebooks the tests run tiny (their setup reads $MITBADAK_NOTEBOOK_TINY)
TINY = {"ch06_techniques"}
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


_EXECUTED: dict[tuple[str, bool], object] = {}
GET_WEIGHTS = "mitbadak data download book-weights"
ON_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def executed(kernel_name, tmp_path_factory):
    """Run a notebook once per test session and return it with its outputs.

    ``without_weights=True`` runs it as on a user's fresh clone: the shared folder, $MITBADAK_DATA
    and the user cache all point at empty folders, so the book's weights are found nowhere.
    """

    def run(name: str, without_weights: bool = False):
        key = (name, without_weights)
        if key not in _EXECUTED:
            path = NOTEBOOKS_DIR / f"{name}.ipynb"
            nb = nbformat.read(path, as_version=4)
            saved = dict(os.environ)
            if without_weights:
                empty = tmp_path_factory.mktemp("nothing-here")
                for var in ("MITBADAK_SHARED_DATA", "MITBADAK_DATA", "MITBADAK_CACHE"):
                    os.environ[var] = str(empty)
            if name.removeprefix("ko/") in TINY:
                os.environ["MITBADAK_NOTEBOOK_TINY"] = "1"
            client = nbclient.NotebookClient(
                nb,
                timeout=300,
                kernel_name=kernel_name,
                resources={"metadata": {"path": str(path.parent)}},
            )
            try:
                client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
            finally:
                os.environ.clear()
                os.environ.update(saved)
            _EXECUTED[key] = nb
        return _EXECUTED[key]

    return run


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def cell_with(nb, fragment: str):
    matches = [c for c in code_cells(nb) if fragment in c.source]
    assert len(matches) == 1, f"{fragment!r} in {len(matches)} cells"
    return matches[0]


def all_text(nb) -> str:
    return "".join(stream_text(c) for c in code_cells(nb))


def images(cells) -> int:
    return sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)


def has_book_weights(nb) -> bool:
    """Whether the notebook found the book's weights (else it printed how to get them)."""
    out = stream_text(cell_with(nb, "mb.find_book_weights("))
    return GET_WEIGHTS not in out


def require_book_weights(nb) -> None:
    """Skip (fail under CI=true) when the notebook ran without the book's weights."""
    if not has_book_weights(nb):
        reason = (
            "the book's weights (sample_weight.pkl) were not found; "
            f"the notebook says so; get them with `{GET_WEIGHTS}`"
        )
        if ON_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, executed):
    nb = executed(name)
    cells = code_cells(nb)
    assert all(c.execution_count is not None for c in cells)
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    # Chapter 3 draws two more figures (its mistakes, its weights) with the book's weights.
    expected = 5 if "ch03" not in name or has_book_weights(nb) else 3
    assert images(cells) >= expected, f"{name} displayed only {images(cells)} figures"
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


def code_tokens(source: str) -> list[str]:
    """The tokens of a cell's code, without its strings and comments (IPython magics dropped)."""
    code = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
    skip = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE}
    skip |= {
        getattr(tokenize, n)
        for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
        if hasattr(tokenize, n)
    }  # Python 3.12+ splits f-strings
    return [
        t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip
    ]


def comments(source: str) -> list[str]:
    code = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
    return [
        t.string
        for t in tokenize.generate_tokens(io.StringIO(code).readline)
        if t.type == tokenize.COMMENT
    ]


@pytest.mark.parametrize("name", CHAPTERS)
def test_korean_edition_has_the_same_code_and_korean_text(name):
    english = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    korean = nbformat.read(NOTEBOOKS_DIR / "ko" / f"{name}.ipynb", as_version=4)
    assert [c.cell_type for c in english.cells] == [c.cell_type for c in korean.cells]
    for en, ko in zip(english.cells, korean.cells, strict=True):
        if en.cell_type == "code":
            # The same code; only strings (printed labels, messages) and comments are translated.
            assert code_tokens(ko.source) == code_tokens(en.source), ko.id
            for comment in comments(ko.source):
                if re.search("[A-Za-z]{4,}", comment) and "=" not in comment:
                    assert HANGUL.search(comment), f"{ko.id}: English comment {comment!r}"
            for comment in comments(en.source):
                assert not HANGUL.search(comment), f"{en.id}: Korean comment {comment!r}"
        else:
            # Mostly Hangul: at least a third of the letters of each Korean markdown cell.
            letters = [ch for ch in ko.source if ch.isalpha()]
            assert len(HANGUL.findall(ko.source)) > len(letters) / 3, ko.source[:60]
    setup = code_cells(korean)[0].source
    assert 'LANG = "ko"' in setup and 'LANG = "en"' in code_cells(english)[0].source
    assert "lang=LANG" in "".join(c.source for c in code_cells(korean))


# Wording that reads translated, or that is not the Korean edition's term (the term to use).
TRANSLATIONESE = {
    "정직한": "(say what is meant: 가장 짧은 시간, 실제 속도)",
    "놀이터": "(the web pages: 웹 페이지, 실습 화면)",
    "간선": "에지",
    "엣지": "에지",
    "렐루": "ReLU 함수",
    "과대적합": "오버피팅",
    "에포크": "에폭",
    "바이어스": "편향",
    "그래디언트": "기울기",
    "경사도": "기울기",
    "활성 함수": "활성화 함수",
    "손실함수": "손실 함수",
    "오차 역전파": "오차역전파법",
    "학습 속도": "학습률",
    "정확성": "정확도",
    "미니 배치": "미니배치",
    "소프트 맥스": "소프트맥스",
    "계산그래프": "계산 그래프",
    "글자 막대": "(텍스트)",
    "측정값": "(시간, 값)",
}
BOOK_TERMS = {
    "ch03_forward": [
        "신경망",
        "활성화 함수",
        "ReLU 함수",
        "비선형 함수",
        "가중치",
        "편향",
        "배치",
        "정확도",
        "소프트맥스 함수",
        "오버플로",
    ],
    "ch04_learning": [
        "손실 함수",
        "기울기",
        "경사 하강법",
        "학습률",
        "정확도",
        "미니배치",
        "에폭",
        "오버피팅",
        "전방 차분",
        "중심 차분",
        "편미분",
    ],
    "ch05_backprop": [
        "오차역전파법",
        "계산 그래프",
        "순전파",
        "역전파",
        "에지",
        "노드",
        "연쇄법칙",
    ],
    "ch06_techniques": [
        "확률적 경사 하강법(SGD)",
        "모멘텀",
        "AdaGrad",
        "Adam",
        "가중치의 초깃값",
        "Xavier 초깃값",
        "He 초깃값",
        "배치 정규화",
        "오버피팅",
        "가중치 감소",
        "드롭아웃",
        "기울기 확인",
        "기울기 소실",
        "활성화값",
        "미니배치",
        "학습률",
    ],
}


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_notebooks_use_the_books_korean_terms(edition):
    text = {
        name: "\n".join(
            c.source for c in nbformat.read(NOTEBOOKS_DIR / f"{edition}{name}.ipynb", 4).cells
        )
        for name in CHAPTERS
    }
    for name, source in text.items():
        for wrong, right in TRANSLATIONESE.items():
            assert wrong not in source, f"{edition}{name}: {wrong!r} -> {right}"
    if edition == "ko/":
        for name, terms in BOOK_TERMS.items():
            for term in terms:
                assert term in text[name], f"{name}: {term!r}"
    assert "ReLU 함수" in text["ch03_forward"] and "비선형 함수" in text["ch03_forward"]
    assert "오버피팅" in text["ch04_learning"]
    for term in ("손실 함수", "기울기", "학습률", "정확도"):
        assert term in text["ch04_learning"], term


def said(edition: str, english: str, korean: str) -> str:
    return korean if edition else english


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter3_nonlinear_section_and_batch_timing(edition, executed):
    nb = executed(f"{edition}ch03_forward")
    out = stream_text(cell_with(nb, "def linear(v):"))
    assert "h(h(h(x))) = [  8. -16.  24.] = c**3 * x = [  8. -16.  24.]" in out
    assert said(edition, "three linear layers == one matrix:", "선형 층 세 개 == 행렬 하나:") in out
    assert said(edition, "with sigmoid between them        :", "사이에 시그모이드를 넣으면:") in out
    assert out.count("True") == 1 and out.count("False") == 1

    timing = cell_with(nb, "def fastest_of(")
    # The lesson cannot invert under load: the two ways alternate, and each keeps its fastest
    # of several runs (load only ever slows a run down).
    assert "min(best[k]" in timing.source and "fastest_of(7," in timing.source
    out = stream_text(timing)
    assert said(edition, "same predictions: True", "예측 결과 일치: True") in out
    assert said(edition, "(fastest of 7 each)", "(각각 7번 중 가장 빠른 값)") in out


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter3_softmax_overflows_as_written(edition, executed):
    nb = executed(f"{edition}ch03_forward")
    out = stream_text(cell_with(nb, "np.exp(a) / np.sum(np.exp(a))"))
    lines = out.splitlines()
    assert lines[0] == said(edition, "formula as written:", "수식 그대로:") + " [nan nan nan]"
    assert lines[1] == "a - c = [  0. -10. -20.]"
    assert lines[2].endswith("[9.99954600e-01 4.53978686e-05 2.06106005e-09]")
    assert lines[3].endswith("[9.99954600e-01 4.53978686e-05 2.06106005e-09]")


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter3_the_books_weights_give_the_books_accuracy(edition, executed):
    nb = executed(f"{edition}ch03_forward")
    require_book_weights(nb)
    loop = cell_with(nb, "mb.predict(network, x_test[i])")
    assert "for i in range(len(x_test)):" in loop.source  # the book's image-by-image loop
    library = stream_text(cell_with(nb, "book_net.accuracy(x_test, t_test)"))
    if "10000" in library:  # the real MNIST test set (../shared/data/mnist)
        assert stream_text(loop) == said(edition, "Accuracy:", "정확도:") + "0.9352\n"
        assert library.rstrip().endswith("0.9352")
    assert images([cell_with(nb, "plots.misclassified(")]) == 2


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter3_without_the_books_weights_says_how_to_get_them(edition, executed):
    nb = executed(f"{edition}ch03_forward", without_weights=True)
    cells = code_cells(nb)
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    out = stream_text(cell_with(nb, "mb.find_book_weights("))
    assert (
        said(
            edition,
            "The book's weights (sample_weight.pkl) are not in any of these folders:",
            "책의 가중치 파일(sample_weight.pkl)이 다음 폴더 어디에도 없습니다:",
        )
        in out
    )
    assert "nothing-here" in out  # the folders it looked in
    assert said(edition, "Get them with:", "받는 방법:") + " " + GET_WEIGHTS in out
    assert said(edition, "cells that need them are skipped", "필요한 셀은 건너뜁니다") in out
    # The cells that need the weights print nothing; everything else still runs and draws.
    assert stream_text(cell_with(nb, "mb.predict(network, x_test[i])")) == ""
    assert images([cell_with(nb, "plots.misclassified(")]) == 0
    assert images(cells) >= 3
    assert said(edition, "same predictions: True", "예측 결과 일치: True") in all_text(nb)
    assert "mnist-sample" in stream_text(cell_with(nb, "load_split("))


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter4_prints_the_learners_numbers(edition, executed):
    nb = executed(f"{edition}ch04_learning")
    losses = stream_text(cell_with(nb, "mb.sum_squares_error(y, t)")).splitlines()
    assert losses == ["0.09750000000000003 0.510825457099338", "0.5975 2.302584092994546"]
    batch = stream_text(cell_with(nb, "y_batch = np.array([y_1, y_2])"))
    assert "e_1 = 1.627976087487067  e_2 = 1.0955070848077066" in batch
    assert batch.count("1.361741586147387") == 3  # (e_1 + e_2) / 2, one-hot batch, integer batch
    assert "np.random.choice(train_size, batch_size)" in cell_with(nb, "batch_size = 10").source

    diff = stream_text(cell_with(nb, "def forward_diff("))
    assert diff.splitlines()[0] == "0.0"  # np.float32(1e-50)
    assert "0.20000099999917254" in diff and "0.1999999999990898" in diff
    assert "0.3000009999976072" in diff and "0.2999999999986347" in diff
    partial = stream_text(cell_with(nb, "lambda x0: x0**2 + 4.0**2"))
    assert partial.splitlines()[:2] == ["6.00000000000378", "7.999999999999119"]

    descent = stream_text(cell_with(nb, "init_x = np.array([-3.0, 4.0])"))
    assert "lr = 0.01: [-0.39785867  0.53047822]" in descent
    assert "lr = 0.1:  [-6.11110793e-10  8.14814391e-10]" in descent
    rates = stream_text(cell_with(nb, "for lr in (10.0, 1e-10):"))
    assert "[-2.58983747e+13 -1.29524862e+12]" in rates and "[-2.99999994  3.99999992]" in rates

    update = stream_text(cell_with(nb, "net.W -= 0.1 * dW"))
    assert said(edition, "loss before: 1.6019", "갱신 전 손실: 1.6019") in update
    assert said(edition, "loss after:  1.4618", "갱신 후 손실: 1.4618") in update


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter4_the_books_training_loop_and_a_warm_timing(edition, executed):
    nb = executed(f"{edition}ch04_learning")
    loop = cell_with(nb, "for i in range(iters_num):")
    assert "np.random.choice(train_size, batch_size)" in loop.source
    assert 'network.numerical_gradient(x_batch, t_batch, method="fast")' in loop.source
    lines = stream_text(loop).splitlines()
    assert len(lines) == 10 and lines[0].startswith("0: loss = ")
    losses = [float(re.search(r"loss = ([0-9.]+)", line).group(1)) for line in lines]
    assert all(2.0 < loss < 2.35 for loss in losses), losses  # near log 10, as in the book

    timing = cell_with(nb, "def by_backprop():")
    # Warm: one call of each first, then the fastest of 5 alternating runs; the method is named.
    assert 'method="fast"' in timing.source and "fastest_of(\n    5," in timing.source
    out = stream_text(timing)
    assert said(edition, "(fastest of 5 each, warm)", "(각각 5번 중 가장 빠른 값)") in out
    diffs = [float(x) for x in re.findall(r"max \|numerical - backprop\| = (\S+)", out)]
    assert len(diffs) == 4 and max(diffs) < 1e-8


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter5_shopping_values_print_as_in_the_book(edition, executed):
    nb = executed(f"{edition}ch05_backprop")
    apples = stream_text(cell_with(nb, "apple, apple_num, tax = 100, 2, 1.1")).split("\n")
    assert apples[:2] == ["220", "2.2 110 200"]
    oranges = stream_text(cell_with(nb, "orange, orange_num = 150, 3")).split("\n")
    assert oranges[:2] == ["715", "110 2.2 3.3 165 650"]


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter5_chain_rule(edition, executed):
    out = stream_text(cell_with(executed(f"{edition}ch05_backprop"), "z = t**2")).splitlines()
    assert out[0] == "z = 9.0 | dz/dx = 6.0 | dz/dy = 6.0 | 2(x + y) = 6.0"
    label, value = out[1].rsplit(" ", 1)
    assert label == said(edition, "numerical:", "수치 미분:") and abs(float(value) - 6) < 1e-9


# --- Chapter 6, run tiny ($MITBADAK_NOTEBOOK_TINY=1: 100 iterations, 3, 51 and 31 epochs, the
# packaged mnist-sample). Everything is seeded, so the values below are the same on every run.

CH06 = "ch06_techniques"
FLOAT = re.compile(r"-?\d+\.\d+(?:e[+-]\d+)?")


def rows(out: str) -> dict[str, list[float]]:
    """Each printed line's first word -> the decimal numbers after it."""
    return {line.split()[0]: [float(v) for v in FLOAT.findall(line.split(None, 1)[1])]
            for line in out.splitlines() if line.strip()}  # fmt: skip


def test_chapter6_both_editions_print_the_same_numbers(executed):
    english, korean = executed(CH06), executed(f"ko/{CH06}")
    cells = zip(code_cells(english), code_cells(korean), strict=True)
    for en, ko in cells:
        assert FLOAT.findall(stream_text(en)) == FLOAT.findall(stream_text(ko)), en.source[:60]
    assert images(code_cells(english)) == images(code_cells(korean)) == 8


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_optimizer_paths_are_the_experiments_number_for_number(edition, executed):
    from mitbadak.training.experiments import optimizer_paths

    nb = executed(f"{edition}{CH06}")
    out = stream_text(cell_with(nb, "paths = ex.optimizer_paths()"))
    printed = {}
    for line in out.splitlines():
        match = re.match(r"(\w+) +lr (\S+) .*\((\S+), (\S+)\)  f = ", line)
        assert match, line
        printed[match.group(1)] = tuple(float(v) for v in match.group(2, 3, 4))
    expected = optimizer_paths()["optimizers"]
    assert printed == {k: (v["lr"], v["x"][-1], v["y"][-1]) for k, v in expected.items()}
    lrs = {k: lr for k, (lr, _, _) in printed.items()}
    assert lrs == {"sgd": 0.95, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.5, "adam": 0.3,
                   "rmsprop": 0.1}  # fmt: skip
    # the book's classes, by hand, land on the same points
    by_hand = stream_text(cell_with(nb, "from mitbadak.book.common.optimizer import"))
    assert by_hand.count("True") == 4 and "False" not in by_hand
    assert by_hand.startswith("SGD       (-0.350393, 0.084782)")


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_activation_spreads_are_the_librarys_histograms(edition, executed):
    import numpy as np

    from mitbadak.training.experiments import weight_init_histogram

    nb = executed(f"{edition}{CH06}")
    out = stream_text(cell_with(nb, "hist = ex.weight_init_histogram()"))
    printed = rows(out.split("\n", 1)[1])
    hist = weight_init_histogram()
    assert list(printed) == list(hist["cases"])
    for key, case in hist["cases"].items():
        edges = np.asarray(hist["edges"][case["activation"]])
        centres = (edges[:-1] + edges[1:]) / 2
        for layer, counts in enumerate(case["counts"]):
            mean = (counts * centres).sum() / counts.sum()
            std = np.sqrt((counts * (centres - mean) ** 2).sum() / counts.sum())
            assert printed[key][layer] == round(float(std), 3), (key, layer)
    # the book's findings: std 1 saturates the sigmoid at 0 and 1 (spread near 0.5), std 0.01
    # piles everything at 0.5, ReLU's values vanish from std 0.01 and keep their spread with He
    assert min(printed["sigmoid/std=1"]) > 0.4 and max(printed["sigmoid/std=0.01"][1:]) < 0.02
    assert printed["relu/std=0.01"][-1] == 0.0
    he = printed["relu/he"]
    assert 0.5 < he[-1] / he[0] < 2 and printed["relu/xavier"][-1] < he[-1] / 3


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_mnist_curves_sgd_slowest_and_std_001_stuck(edition, executed):
    import math

    nb = executed(f"{edition}{CH06}")
    out = stream_text(cell_with(nb, "curves = ex.optimizer_mnist("))
    assert re.match(r"100\D", out)  # the tiny size
    finals = {k: v[-1] for k, v in rows(out.split("\n", 1)[1]).items()}
    assert set(finals) == {"sgd", "momentum", "nesterov", "adagrad", "adam", "rmsprop"}
    assert list(finals)[-1] == "sgd"  # printed best first: SGD is the slowest, as in the book
    assert all(v < math.log(10) for v in finals.values())
    assert finals["sgd"] > 2 * max(v for k, v in finals.items() if k != "sgd")

    out = stream_text(cell_with(nb, "ex.weight_init_compare("))
    inits = {k: v[-1] for k, v in rows(out).items()}
    assert abs(inits["std=0.01"] - math.log(10)) < 0.01  # does not learn at all
    assert inits["he"] < inits["xavier"] < inits["std=0.01"]


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_batchnorm_trainer_and_grid(edition, executed):
    nb = executed(f"{edition}{CH06}")
    lines = stream_text(cell_with(nb, "trainer = Trainer(")).splitlines()
    layers = lines[0].split(" -> ")
    assert layers[:3] == ["Affine1", "BatchNormalization1", "Relu1"] and layers[-1] == "Affine6"
    assert sum(name.startswith("BatchNormalization") for name in layers) == 5
    with_bn, without = (FLOAT.findall(line) for line in lines[1:3])
    assert len(with_bn) == len(without) == 3  # one accuracy per epoch
    assert float(with_bn[-1]) > float(without[-1]) + 0.3  # from std 0.01, only BN learns

    out = stream_text(cell_with(nb, "bn = ex.batchnorm("))
    grid = [(float(line.split()[1]), *map(float, FLOAT.findall(line.split(None, 2)[2])))
            for line in out.splitlines()[1:]]  # fmt: skip
    assert len(grid) == 16 and grid[0][0] == 1.0 and grid[-1][0] == 0.0001
    small = [(bn, plain) for scale, bn, plain in grid if scale < 0.05]
    assert len(small) == 11 and all(bn > plain for bn, plain in small)


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_weight_decay_narrows_the_gap_dropout_starts_slow(edition, executed):
    nb = executed(f"{edition}{CH06}")

    def train_test_gap(fragment):
        lines = stream_text(cell_with(nb, fragment)).splitlines()[1:]
        return [[float(v) for v in FLOAT.findall(line)[-3:]] for line in lines]

    (train, test, gap), (base_train, base_test, base_gap) = train_test_gap("overfit_weight_decay(")
    assert round(train - test, 3) == gap and gap < base_gap and train < base_train
    (train, _, gap), (base_train, _, base_gap) = train_test_gap("ex.overfit_dropout(")
    assert train < base_train and gap < base_gap  # 31 epochs: Dropout has barely started


@pytest.mark.parametrize("edition", ["", "ko/"])
def test_chapter6_batchnorm_gradient_check_one_image_beta_disagrees(edition, executed):
    nb = executed(f"{edition}{CH06}")
    out = stream_text(cell_with(nb, "ex.batchnorm_gradient_check("))
    assert out.splitlines()[0].endswith("784-10-10-10")
    table = rows(out.split("\n", 1)[1])
    assert list(table) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3",
                           "b3"]  # fmt: skip
    for key, (one_diff, one_rel, _, batch_rel) in table.items():
        assert batch_rel < 1e-6, key  # a batch of 10: every parameter agrees
        if key == "beta2":  # one image: beta sits on ReLU's kink at 0
            assert one_diff > 0.01 and one_rel > 0.5
        else:
            assert one_diff < 1e-9, key
