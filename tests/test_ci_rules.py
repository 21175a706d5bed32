"""The suite's rule (conftest.py): a ``../shared`` skip passes on a user's clone, fails under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
INNER = """
import pytest

def test_needs_shared():
    pytest.skip("../shared/data/sample_weight.pkl is not present")

def test_needs_something_else():
    pytest.skip("CuPy is not installed")
"""


@pytest.mark.parametrize(("ci", "failed", "skipped"), [("", 0, 2), ("true", 1, 1)])
def test_shared_skip_fails_only_under_ci(pytester, monkeypatch, ci, failed, skipped):
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped)
    if failed:
        result.stdout.fnmatch_lines(["*CI=true needs ../shared beside the checkout*"])
