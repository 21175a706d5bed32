"""Korean figures: a real Hangul font is found and actually used (no missing glyphs, no tofu),
the user's matplotlib settings are never changed, and without a font the figures fall back to
English with a one-line note naming the package to install."""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ft2font import FT2Font  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from mitbadak.cli import main  # noqa: E402
from mitbadak.views import fonts, plots  # noqa: E402

HANGUL_FONT = fonts.find_hangul_font()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_hangul_font() -> str:
    """The font's family; skip on a user's machine without one, fail under CI (it installs one)."""
    if HANGUL_FONT is None:
        message = f"no Hangul font installed ({fonts.missing_font_note()})"
        if IN_CI:
            pytest.fail("CI must install fonts-nanum: " + message)
        pytest.skip(message)
    return HANGUL_FONT


def hangul(text: str) -> list[str]:
    return [ch for ch in text if "\uac00" <= ch <= "\ud7a3"]


def test_find_hangul_font_names_an_installed_font_with_hangul_glyphs():
    family = require_hangul_font()
    assert family in fonts.HANGUL_FONT_FAMILIES
    path = fonts.hangul_font_path()
    assert path and os.path.isfile(path)
    font = FT2Font(path)
    for ch in "활성화함수손실기울기학습률정확도":
        assert font.get_char_index(ord(ch)) != 0, ch
    # matplotlib resolves the family name to that very file.
    found = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    assert os.path.samefile(found, path)


def test_fonts_without_hangul_are_not_taken():
    dejavu = font_manager.findfont("DejaVu Sans")
    assert not fonts._has_hangul(dejavu)


def render_and_check_korean(fig) -> list[Text]:
    """Draw ``fig``; assert no glyph was missing; return its texts that hold Hangul."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.WARNING)
    logger = logging.getLogger("matplotlib")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.set_dpi(50)
            fig.canvas.draw()
    finally:
        logger.removeHandler(handler)
    problems = [str(w.message) for w in caught if "glyph" in str(w.message).lower()]
    problems += [r.getMessage() for r in records if "glyph" in r.getMessage().lower()]
    assert problems == [], problems
    return [t for t in fig.findobj(Text) if t.get_visible() and hangul(t.get_text())]


KOREAN_FIGURES = {
    "activations": (lambda: plots.activations(lang="ko"), "활성화 함수"),
    "learning_rates": (lambda: plots.learning_rates(lang="ko"), "학습률"),
    "gradient_field": (lambda: plots.gradient_field(lang="ko"), "기울기"),
    "graph": (lambda: plots.graph(lang="ko"), "지불 금액"),
    "confusion": (
        lambda: plots.confusion_matrix(np.array([[5, 1], [2, 2]]), lang="ko"),
        "정확도",
    ),
}


@pytest.mark.parametrize("name", KOREAN_FIGURES)
def test_korean_figures_use_the_hangul_font_for_every_korean_text(name):
    family = require_hangul_font()
    make, term = KOREAN_FIGURES[name]
    fig = make()
    texts = render_and_check_korean(fig)
    assert any(term in t.get_text() for t in texts), f"{term!r} not drawn in {name}"
    path = fonts.hangul_font_path()
    for text in texts:
        # The font matplotlib resolves for this artist is the Hangul font, and that font has a
        # glyph for each of its Hangul characters (so no tofu boxes).
        assert text.get_fontfamily()[0] == family
        used = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert os.path.samefile(used, path), (text.get_text(), used)
        face = FT2Font(used)
        assert all(face.get_char_index(ord(ch)) for ch in hangul(text.get_text()))


def test_korean_text_is_not_tofu():
    """The pixels of a Hangul word differ from the missing-glyph boxes DejaVu Sans would draw."""
    family = require_hangul_font()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def pixels(text: str, font: str) -> np.ndarray:
        fig = Figure(figsize=(2, 0.6), dpi=60)
        FigureCanvasAgg(fig)
        fig.text(0.05, 0.3, text, family=font, fontsize=14)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., 0].astype(float)

    good_a, good_b = pixels("정확도", family), pixels("손실값", family)
    tofu_a, tofu_b = pixels("정확도", "DejaVu Sans"), pixels("손실값", "DejaVu Sans")
    assert np.abs(tofu_a - tofu_b).sum() == 0  # tofu: every missing glyph is the same box
    assert np.abs(good_a - good_b).sum() > 0  # real glyphs: different words look different
    assert (good_a < 128).sum() > 20


def test_korean_figures_never_change_global_matplotlib_settings(tmp_path):
    before = dict(matplotlib.rcParams)
    fig = plots.curves(
        type("H", (), {"iteration_loss": [2.3, 1.0, 0.5], "epochs": []})(), lang="ko"
    )
    plots.save_figure(fig, tmp_path / "c.png", dpi=40)
    plots.save_figure(plots.activations(lang="ko"), tmp_path / "a.png", dpi=40)
    assert dict(matplotlib.rcParams) == before


def test_english_is_the_default_and_unknown_languages_are_refused():
    assert "Activation functions" in plots.activations().get_suptitle()
    with pytest.raises(ValueError, match="lang must be one of 'en', 'ko', got 'kr'"):
        plots.activations(lang="kr")


def test_without_a_hangul_font_korean_falls_back_to_english_with_a_note(monkeypatch):
    monkeypatch.setattr(fonts, "find_hangul_font", lambda: None)
    with pytest.warns(fonts.HangulFontWarning, match="fonts-nanum") as caught:
        fig = plots.activations(lang="ko")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert fig.get_suptitle() == "Activation functions (chapter 3)"


def test_cli_plot_lang_ko(tmp_path, capsys):
    require_hangul_font()
    out = tmp_path / "graph.png"
    assert main(["plot", "graph", "--lang", "ko", "--out", str(out), "--dpi", "40"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out) and captured.err == ""
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_cli_without_font_notes_once_and_draws_english(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fonts, "find_hangul_font", lambda: None)
    out = tmp_path / "a.png"
    assert main(["plot", "activations", "--lang", "ko", "--out", str(out), "--dpi", "30"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert (
        err[0].startswith("mitbadak: note: no Korean (Hangul) font found")
        and "fonts-nanum" in (err[0])
    )
    assert out.is_file()


def test_cli_rejects_unknown_lang(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot", "graph", "--lang", "jp"])
    assert exc.value.code == 2
    assert "invalid choice: 'jp'" in capsys.readouterr().err


def test_train_curves_and_evaluate_pngs_in_korean(tmp_path, capsys):
    require_hangul_font()
    from mitbadak.files.modelfile import save_model
    from mitbadak.nn.networks import TwoLayerNet
    from mitbadak.training.runs import _write_curves

    history = type(
        "H",
        (),
        {
            "iteration_loss": [2.3, 1.5, 1.0, 0.8],
            "epochs": [{"epoch": 1, "iteration": 4, "train_acc": 0.5, "test_acc": 0.4}],
        },
    )()
    written = _write_curves(history, tmp_path, lang="ko")
    assert sorted(os.path.basename(p) for p in written) == ["accuracy.png", "loss.png"]

    model = tmp_path / "m" / "model.npz"
    model.parent.mkdir()
    save_model(model, TwoLayerNet(784, 8, 10, weight_init_std=0.1, seed=0))
    argv = ["evaluate", str(model), "--dataset", "mnist-sample", "--lang", "ko"]
    assert main([*argv, "--out", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()
    assert (tmp_path / "eval" / "misclassified.png").is_file()
    capsys.readouterr()


def test_a_font_installed_after_matplotlibs_cache_is_still_found(monkeypatch):
    """Following the note (`apt install fonts-nanum`) must work without deleting matplotlib's
    cache: a Hangul font missing from its cached list is found on disk and registered."""
    require_hangul_font()
    path = fonts.hangul_font_path()
    manager = font_manager.fontManager
    without = [e for e in manager.ttflist if not fonts._has_hangul(e.fname)]
    monkeypatch.setattr(manager, "ttflist", without)  # as if cached before the install
    fonts._find.cache_clear()
    try:
        family = fonts.find_hangul_font()
        assert family in fonts.HANGUL_FONT_FAMILIES
        assert fonts._has_hangul(fonts.hangul_font_path())
        assert any(e.fname == fonts.hangul_font_path() for e in manager.ttflist)  # registered
    finally:
        fonts._find.cache_clear()
    assert path
