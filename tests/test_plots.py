"""Plots: every figure renders headless to a non-blank PNG of the expected size, through the
library and the ``mitbadak plot`` command; the numbers drawn are the library's numbers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from mitbadak.cli import main  # noqa: E402
from mitbadak.core.differentiation import gradient_descent  # noqa: E402
from mitbadak.core.errors import MitbadakError
from mitbadak.training.loop import METRIC_FIELDS  # noqa: E402
from mitbadak.views import plots  # noqa: E402

DPI = 50  # small renders keep the suite fast; the checks are about content, not resolution
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def check_png(path: Path, size: tuple[float, float] | None = None, dpi: int = DPI) -> np.ndarray:
    """Assert ``path`` is a PNG of ``size`` inches at ``dpi`` with real content; return pixels."""
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    if size is not None:
        expected = (round(size[1] * dpi), round(size[0] * dpi))
        assert abs(pixels.shape[0] - expected[0]) <= 1 and abs(pixels.shape[1] - expected[1]) <= 1
    gray = pixels[..., :3].mean(axis=2)
    # A blank (all-white) figure has variance 0; every real figure has lines, text and fills.
    assert gray.var() > 0.003, f"{path} looks blank (pixel variance {gray.var():.5f})"
    assert (gray < 0.9).mean() > 0.01, f"{path} has almost no dark pixels"
    return pixels


def history_fixture(n_epochs: int = 4, iters_per_epoch: int = 30) -> SimpleNamespace:
    rng = np.random.default_rng(0)
    n = n_epochs * iters_per_epoch
    losses = 2.3 * np.exp(-np.arange(n) / 40) + 0.1 + 0.05 * rng.random(n)
    epochs = [
        {
            "epoch": e,
            "iteration": e * iters_per_epoch,
            "train_loss": float(losses[e * iters_per_epoch - 1]),
            "train_acc": 0.5 + 0.1 * e,
            "test_loss": float(losses[e * iters_per_epoch - 1]) + 0.05,
            "test_acc": 0.48 + 0.1 * e,
            "val_loss": None,
            "val_acc": None,
            "seconds": 0.5 * e,
        }
        for e in range(1, n_epochs + 1)
    ]
    return SimpleNamespace(iteration_loss=[float(v) for v in losses], epochs=epochs)


def write_run(run_dir: Path, history, *, iterations: bool = True) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "metrics.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(METRIC_FIELDS)
        for e in history.epochs:
            writer.writerow(["" if e[c] is None else e[c] for c in METRIC_FIELDS])
    if iterations:
        with (run_dir / "iterations.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["iteration", "loss"])
            for i, loss in enumerate(history.iteration_loss, start=1):
                writer.writerow([i, repr(loss)])
    return run_dir


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = np.zeros((30, 784), dtype=np.float32)
    for i in range(30):  # a bright square in a different place per image: clearly not blank
        r, c = divmod(i % 16, 4)
        img = np.zeros((28, 28), dtype=np.float32)
        img[4 + r * 5 : 10 + r * 5, 4 + c * 5 : 10 + c * 5] = 1.0
        x[i] = img.ravel()
    t = rng.integers(0, 10, 30)
    pred = t.copy()
    pred[::4] = (pred[::4] + 3) % 10
    probs = rng.dirichlet(np.ones(10), 30)
    return x, t, pred, probs


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    from mitbadak.files.modelfile import save_model
    from mitbadak.nn.networks import TwoLayerNet

    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    save_model(path, TwoLayerNet(784, 12, 10, weight_init_std=0.1, seed=0))
    return path


# ------------------------------------------------------------------------------------------------
# Library: every figure renders


def library_figures(images, lang: str = "en") -> dict[str, Figure]:
    x, t, pred, probs = images
    rng = np.random.default_rng(2)
    history = history_fixture()
    history.run_dir = Path("/somewhere/runs/demo")
    cm = rng.integers(0, 5, (10, 10)) + np.diag(np.full(10, 50))
    return {
        "activations": plots.activations(lang=lang),
        "softmax": plots.softmax(lang=lang),
        "tangent": plots.tangent(lang=lang),
        "surface": plots.surface(lang=lang),
        "gradient_field": plots.gradient_field(lang=lang),
        "descent": plots.descent(lang=lang),
        "learning_rates": plots.learning_rates(lang=lang),
        "loss_curve": plots.loss_curve(history, lang=lang),
        "accuracy_curve": plots.accuracy_curve(history, lang=lang),
        "curves": plots.curves(history, lang=lang),
        "samples": plots.samples(x, t, count=12, lang=lang),
        "samples_one": plots.samples(x, t, count=1, lang=lang),
        "misclassified": plots.misclassified(x, t, pred, probs, lang=lang),
        "misclassified_one": plots.misclassified(x, t, pred, probs, max_images=1, lang=lang),
        "misclassified_none": plots.misclassified(x, t, t, lang=lang),
        "graph": plots.graph(lang=lang),
        "weights": plots.weights(rng.standard_normal((784, 20)), lang=lang),
        "confusion_matrix": plots.confusion_matrix(
            cm, model="runs/demo/model.npz", dataset="mnist", lang=lang
        ),
    }


def test_every_library_figure_renders_non_blank(tmp_path, images):
    for name, fig in library_figures(images).items():
        assert isinstance(fig, Figure), name
        assert fig.axes, f"{name} has no axes"
        # Titles everywhere: a suptitle or an axes title.
        titled = fig.get_suptitle() or any(ax.get_title() for ax in fig.axes)
        assert titled, f"{name} has no title"
        path = plots.save_figure(fig, tmp_path / f"{name}.png", dpi=DPI)
        check_png(path, tuple(fig.get_size_inches()))


def figure_overflow(fig: Figure, tolerance: float = 1.0) -> list[str]:
    """What the rendered ``fig`` draws outside its own canvas (cropped in the PNG): [] if nothing.

    Checks every axes' tight bounding box (title, axis labels, tick labels, texts, legend; the
    colour bar's axes too) and the figure-level texts and legends.
    """
    fig.set_dpi(DPI)  # small renders keep this fast; positions scale with the dpi
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    items = [(f"axes {ax.get_title()[:30]!r}", ax.get_tightbbox(renderer)) for ax in fig.axes]
    texts = list(fig.texts) + list(fig.legends)
    if fig.get_suptitle():
        texts.append(fig._suptitle)
    items += [
        (f"text {getattr(t, 'get_text', str)()[:30]!r}", t.get_window_extent(renderer))
        for t in texts
    ]
    out = []
    for name, box in items:
        if box is None:
            continue
        if (
            box.x0 < canvas.x0 - tolerance
            or box.y0 < canvas.y0 - tolerance
            or box.x1 > canvas.x1 + tolerance
            or box.y1 > canvas.y1 + tolerance
        ):
            out.append(f"{name} at {[round(v) for v in box.extents]} (canvas {canvas.extents})")
    return out


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_figure_fits_its_canvas(images, lang):
    if lang == "ko":
        from mitbadak.views.fonts import find_hangul_font

        if find_hangul_font() is None:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail("CI must install fonts-nanum: no Hangul font found")
            pytest.skip("no Hangul font here: Korean figures fall back to English")
    for name, fig in library_figures(images, lang=lang).items():
        assert figure_overflow(fig) == [], name


@pytest.mark.parametrize("count", [1, 2, 7, 16, 33, 100])
def test_weights_never_crop_title_or_colour_bar(count):
    W = np.random.default_rng(3).standard_normal((784, 100))
    fig = plots.weights(W, max_units=count)
    assert figure_overflow(fig) == []
    assert len(fig.axes) == 2  # the mosaic and its colour bar
    assert "colour clipped" in fig.axes[1].get_xlabel()
    assert ("all 100" if count == 100 else f"first {count} of 100") in fig.get_suptitle()


def test_confusion_matrix_numbers_fit_their_cells_and_title_names_model_and_dataset():
    rng = np.random.default_rng(4)
    for k, big in ((10, 980), (10, 10_000), (3, 5), (30, 100)):
        cm = rng.integers(0, 30, (k, k)) + np.diag(np.full(k, big))
        fig = plots.confusion_matrix(
            cm, model="/home/someone/deep/runs/demo/model.npz", dataset="mnist"
        )
        assert figure_overflow(fig) == []
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        cell_w, cell_h = ax.bbox.width / k, ax.bbox.height / k
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            assert box.width < 0.95 * cell_w and box.height < 0.95 * cell_h, (k, text.get_text())
        # Readable: the digits are a good part of the cell, not specks in it.
        tallest = max(t.get_window_extent(renderer).height for t in ax.texts)
        assert tallest > 0.15 * cell_h, (k, tallest, cell_h)
        title = ax.get_title()
        assert "demo/model.npz" in title and "mnist" in title and "/home" not in title
        assert f"({int(np.trace(cm))} / {int(cm.sum())})" in title


def test_curves_title_names_the_run_folder_not_its_path(tmp_path):
    run = write_run(tmp_path / "deep" / "runs" / "my-run", history_fixture(n_epochs=2))
    fig = plots.curves(plots.read_run(run))
    assert fig.get_suptitle() == "Training run my-run"
    assert str(tmp_path) not in fig.get_suptitle()


def test_plots_never_touch_pyplot():
    code = (
        "import sys; from mitbadak.views import plots; plots.activations(); plots.graph(); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_core_library_and_cli_parser_import_without_matplotlib():
    code = (
        "import sys; import mitbadak; from mitbadak.cli import build_parser; build_parser(); "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------
# Library: the figures draw the library's numbers


def test_shopping_graph_values_are_the_books():
    v = plots.shopping_graph_values()
    assert v["price"][0] == pytest.approx(715.0)
    assert v["apple_total"][0] == 200 and v["orange_total"][0] == 450 and v["subtotal"][0] == 650
    grads = {k: g for k, (_, g) in v.items()}
    assert grads["apple"] == pytest.approx(2.2)
    assert grads["apple_num"] == pytest.approx(110)
    assert grads["orange"] == pytest.approx(3.3)
    assert grads["orange_num"] == pytest.approx(165)
    assert grads["tax"] == pytest.approx(650)
    assert grads["subtotal"] == pytest.approx(1.1) and grads["price"] == 1.0


def test_graph_shows_forward_and_backward_values():
    texts = {t.get_text() for t in plots.graph().axes[0].texts}
    for value in ("100", "2", "150", "3", "1.1", "200", "450", "650", "715"):
        assert value in texts
    for grad in ("2.2", "110", "3.3", "165", "1"):
        assert grad in texts
    changed = {t.get_text() for t in plots.graph(apple=10).axes[0].texts}
    assert "20" in changed  # the graph is computed, not hard-coded


def test_descent_path_is_gradient_descent():
    fig = plots.descent()
    path_line = next(ln for ln in fig.axes[0].lines if ln.get_label().startswith("x after each"))
    expected_final, expected = gradient_descent(
        lambda x: float(np.sum(x**2)),
        np.array([-3.0, 4.0]),
        lr=0.1,
        step_num=20,
        return_history=True,
    )
    expected = np.vstack([expected, expected_final])  # the history holds the points before steps
    np.testing.assert_allclose(path_line.get_xdata(), expected[:, 0])
    np.testing.assert_allclose(path_line.get_ydata(), expected[:, 1])
    assert np.hypot(*expected_final) < 0.1


def test_learning_rates_are_side_by_side_with_a_log_distance_panel():
    fig = plots.learning_rates()
    titles = [ax.get_title() for ax in fig.axes]
    for lr in ("lr = 10", "lr = 0.1", "lr = 0.01", "lr = 1e-10"):
        assert lr in titles
    log_axes = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert len(log_axes) == 1
    distances = {line.get_label(): line.get_ydata() for line in log_axes[0].lines}
    assert distances["lr = 10"][-1] > 1e10  # diverged ...
    assert distances["lr = 0.1"][-1] < 1e-6  # ... converged ...
    assert distances["lr = 1e-10"][-1] == pytest.approx(5.0)  # ... stood still
    notes = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "diverges" in notes and "numerical gradient is 0" in notes


def test_gradient_field_arrows_point_downhill():
    fig = plots.gradient_field()
    quiver = next(c for c in fig.axes[0].collections if type(c).__name__ == "Quiver")
    assert quiver.N == 17 * 17  # [-2, 2] in steps of 0.25
    offsets = quiver.get_offsets()
    u, v = quiver.U, quiver.V
    # -grad(x0^2 + x1^2) = (-2 x0, -2 x1)
    np.testing.assert_allclose(u, -2 * offsets[:, 0], atol=1e-6)
    np.testing.assert_allclose(v, -2 * offsets[:, 1], atol=1e-6)


def test_tangent_slopes_are_numerical_derivatives():
    labels = [line.get_label() for line in plots.tangent().axes[0].lines]
    assert any("x = 5: slope 0.2000" in label for label in labels)
    assert any("x = 10: slope 0.3000" in label for label in labels)


def test_softmax_bars_sum_to_one():
    fig = plots.softmax([0.3, 2.9, 4.0])
    heights = [p.get_height() for p in fig.axes[1].patches]
    np.testing.assert_allclose(heights, [0.01821127, 0.24519181, 0.73659691], rtol=1e-6)


def test_misclassified_shows_only_wrong_predictions(images):
    x, t, pred, probs = images
    fig = plots.misclassified(x, t, pred, probs, max_images=5)
    wrong = np.flatnonzero(t != pred)
    assert f"{wrong.size} of 30" in fig.get_suptitle()
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 5
    first = wrong[0]
    assert titles[0] == f"true {t[first]}\npred {pred[first]} ({probs[first, pred[first]]:.2f})"

    none_wrong = plots.misclassified(x, t, t)
    assert "No misclassified" in none_wrong.axes[0].texts[0].get_text()


def test_weights_one_tile_per_unit():
    W = np.zeros((784, 7))
    W[0, :] = np.arange(1, 8)
    fig = plots.weights(W)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == [f"unit {j}" for j in range(7)]
    assert len(plots.weights(np.ones((784, 150)), max_units=100).axes[0].texts) == 100
    with pytest.raises(ValueError, match="not a square image"):
        plots.weights(np.ones((783, 4)))


def test_confusion_matrix_annotates_counts_and_accuracy():
    cm = np.array([[5, 1], [2, 2]])
    fig = plots.confusion_matrix(cm, class_names=["cat", "dog"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["5", "1", "2", "2"]
    assert "0.7000" in ax.get_title()
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.ones((2, 3)))


def test_curves_handle_missing_values():
    history = history_fixture()
    history.epochs[0]["test_acc"] = None
    fig = plots.accuracy_curve(history)
    test_line = next(
        line for line in fig.axes[0].lines if line.get_label().startswith("test accuracy")
    )
    assert list(test_line.get_xdata()) == [2, 3, 4]
    empty = plots.curves(SimpleNamespace(iteration_loss=[], epochs=[]))
    assert any("no loss values" in t.get_text() for t in empty.axes[0].texts)


# ------------------------------------------------------------------------------------------------
# save_figure and read_run


def test_save_figure_is_atomic_and_png_only(tmp_path):
    fig = plots.activations()
    out = plots.save_figure(fig, tmp_path / "new" / "folder" / "a.png", dpi=DPI)
    assert out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.png"]  # no temp file left
    with pytest.raises(ValueError, match=".png"):
        plots.save_figure(fig, tmp_path / "a.jpg")


def test_read_run_round_trip(tmp_path):
    history = history_fixture(n_epochs=3)
    run = write_run(tmp_path / "run", history)
    read = plots.read_run(run)
    assert read.run_dir == run
    np.testing.assert_array_equal(read.iteration_loss, history.iteration_loss)
    assert read.iterations == list(range(1, len(history.iteration_loss) + 1))
    assert read.epochs == history.epochs
    assert read.epochs[0]["val_acc"] is None and isinstance(read.epochs[1]["iteration"], int)


def test_read_run_reads_what_the_trainer_writes(tmp_path):
    training = pytest.importorskip("mitbadak.training")
    history = training.History(**vars(history_fixture(n_epochs=2)))
    training.write_history(history, tmp_path)
    read = plots.read_run(tmp_path)
    assert read.iteration_loss == history.iteration_loss
    assert read.epochs == history.epochs


def test_read_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.read_run(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        plots.read_run(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(MitbadakError, match="missing column"):
        plots.read_run(tmp_path)
    history = history_fixture(n_epochs=2)
    write_run(tmp_path, history)
    text = (tmp_path / "metrics.csv").read_text().splitlines()
    text[2] = text[2].replace(text[2].split(",")[2], "abc", 1)
    (tmp_path / "metrics.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(MitbadakError, match="line 3.*train_loss.*'abc'"):
        plots.read_run(tmp_path)


def test_read_run_without_iterations_file(tmp_path):
    run = write_run(tmp_path, history_fixture(n_epochs=2), iterations=False)
    read = plots.read_run(run)
    assert read.iteration_loss == [] and len(read.epochs) == 2


# ------------------------------------------------------------------------------------------------
# CLI


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CLI_CASES = [
    ["softmax"],
    ["tangent"],
    ["surface"],
    ["gradient-field"],
    ["descent"],
    ["learning-rates"],
    ["samples", "--count", "8"],
    ["graph"],
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_in_process(argv, tmp_path, capsys):
    out = tmp_path / f"{argv[0]}.png"
    code, stdout, stderr = run_cli(["plot", *argv, "--out", str(out), "--dpi", str(DPI)], capsys)
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    check_png(out)


def test_cli_model_figures(model_file, tmp_path, capsys):
    out = tmp_path / "w.png"
    code, _, err = run_cli(
        ["plot", "weights", str(model_file), "--out", str(out), "--dpi", "40"], capsys
    )
    assert code == 0, err
    check_png(out, dpi=40)

    out = tmp_path / "m.png"
    argv = [
        "plot",
        "misclassified",
        str(model_file),
        "--out",
        str(out),
        "--dpi",
        "40",
        "--count",
        "6",
    ]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    check_png(out, dpi=40)


def test_cli_default_output_is_name_png_in_cwd(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run_cli(["plot", "activations", "--dpi", str(DPI)], capsys)
    assert code == 0
    assert stdout.strip() == "activations.png"
    check_png(tmp_path / "activations.png")


def test_cli_usage_errors_are_one_line(tmp_path, capsys):
    for argv, expected in (
        (["plot", "nonsense"], "unknown figure 'nonsense'"),
        (["plot", "curves"], "needs RUN_DIR"),
        (["plot", "weights"], "needs MODEL"),
        (["plot", "graph", "extra"], "takes no argument"),
        (["plot", "graph", "--out", str(tmp_path / "g.jpg")], ".png"),
    ):
        code, stdout, stderr = run_cli(argv, capsys)
        assert code == 2, argv
        assert expected in stderr and len(stderr.strip().splitlines()) == 1
        assert stdout == ""
    code, _, stderr = run_cli(["plot", "curves", str(tmp_path / "nope")], capsys)
    assert code == 1 and "does not exist" in stderr and len(stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.png"))


def test_cli_subprocess(tmp_path):
    run = write_run(tmp_path / "run", history_fixture())
    for argv in (["activations"], ["curves", str(run)]):
        out = tmp_path / f"{argv[0]}.png"
        result = subprocess.run(
            [sys.executable, "-m", "mitbadak", "plot", *argv, "--out", str(out), "--dpi", str(DPI)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(out)
        check_png(out)
    result = subprocess.run(
        [sys.executable, "-m", "mitbadak", "plot", "bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    from mitbadak.views.figures import FIGURES

    names = list(FIGURES)
    assert names[:12] == [  # the chapter 3-5 figures first, in the registry's order
        "activations", "softmax", "tangent", "surface", "gradient-field", "descent",
        "learning-rates", "curves", "samples", "misclassified", "graph", "weights",
    ]  # fmt: skip
    assert result.stderr.strip() == (
        f"mitbadak: error: unknown figure 'bogus'; expected one of {', '.join(names)}"
    )


@pytest.mark.skipif(not (SHARED / "sample_weight.pkl").is_file(), reason="../shared/data absent")
def test_cli_book_weights_on_real_mnist(tmp_path, capsys):
    out = tmp_path / "mis.png"
    argv = [
        "plot",
        "misclassified",
        str(SHARED / "sample_weight.pkl"),
        "--dataset",
        "mnist",
        "--data-dir",
        str(SHARED / "mnist"),
        "--out",
        str(out),
        "--dpi",
        "40",
    ]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    check_png(out, dpi=40)
