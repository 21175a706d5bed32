"""mitbadak.views.figures: one registry of figures that the CLI lists and draws from."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mitbadak.cli import build_parser
from mitbadak.views.figures import FIGURES


def test_every_registered_figure_has_a_maker_in_plots():
    pytest.importorskip("matplotlib")
    from mitbadak.views import plots

    for spec in FIGURES.values():
        assert callable(spec.make), spec.name
        assert spec.make is getattr(plots, spec.function)
        assert spec.needs in (None, "RUN_DIR", "MODEL", "DATA")


def test_the_cli_lists_every_registered_figure():
    parser = build_parser()
    help_text = parser._subparsers._group_actions[0].choices["plot"].format_help()
    for name, spec in FIGURES.items():
        assert name in help_text and spec.summary in help_text


def test_the_registry_and_the_cli_help_need_no_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from mitbadak.cli import build_parser\n"
        "build_parser().parse_args(['plot', 'graph'])\n"
        "import mitbadak.views.figures\n"
        "print(sorted(mitbadak.views.figures.FIGURES)[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "activations"


@pytest.mark.parametrize("name", [n for n, s in FIGURES.items() if s.needs is None])
def test_each_example_figure_draws_from_nothing(name, tmp_path):
    pytest.importorskip("matplotlib")
    from mitbadak.cli import main

    out = tmp_path / f"{name}.png"
    assert main(["plot", name, "--out", str(out), "--dpi", "30"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# The figure modules of mitbadak.views.plots; _base holds what they share and no figure.
FIGURE_MODULES = ("book", "training_curves", "images", "experiments", "search")


def test_each_registered_maker_lives_in_one_figure_module():
    pytest.importorskip("matplotlib")
    import importlib

    from mitbadak.views import plots

    for spec in FIGURES.values():
        module = spec.make.__module__
        assert module in {f"mitbadak.views.plots.{m}" for m in FIGURE_MODULES}, (spec.name, module)
        assert spec.function in importlib.import_module(module).__all__, spec.name
        assert spec.function in plots.__all__, spec.name


def test_the_plots_package_exports_each_public_name_once():
    pytest.importorskip("matplotlib")
    import importlib

    from mitbadak.views import plots

    # The names mitbadak.views.plots had as one module; more may be added, none removed.
    before_split = {
        "RunHistory", "read_run", "save_figure", "activations", "softmax", "tangent", "surface",
        "gradient_field", "descent", "learning_rates", "loss_curve", "accuracy_curve", "curves",
        "samples", "misclassified", "graph", "shopping_graph_values", "weights",
        "confusion_matrix",
    }  # fmt: skip
    assert before_split <= set(plots.__all__)
    assert len(plots.__all__) == len(set(plots.__all__))
    exported = ["save_figure"]
    for module in FIGURE_MODULES:
        exported += importlib.import_module(f"mitbadak.views.plots.{module}").__all__
    assert sorted(plots.__all__) == sorted(exported)
    namespace: dict = {}
    exec("from mitbadak.views.plots import *", namespace)  # what `from ... import X` gives
    for name in plots.__all__:
        assert namespace[name] is getattr(plots, name), name
