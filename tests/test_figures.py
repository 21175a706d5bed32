"""mitbadak.figures: one registry of figures that the CLI lists and draws from."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mitbadak.cli import build_parser
from mitbadak.figures import FIGURES


def test_every_registered_figure_has_a_maker_in_plots():
    pytest.importorskip("matplotlib")
    from mitbadak import plots

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
        "import mitbadak.figures\n"
        "print(sorted(mitbadak.figures.FIGURES)[0])"
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
