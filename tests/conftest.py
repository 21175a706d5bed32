"""Suite-wide rule: a test that skips for want of ``../shared`` fails under CI.

A user's clone has no ``../shared`` beside it, so tests that need the book's data (the real MNIST
test set, ``sample_weight.pkl``) skip there and say why. CI runs with ``../shared`` present and
``CI=true``; there such a skip means the data went missing, which must not pass quietly. Every
skip reason that names the shared folder is turned into a failure under ``CI=true`` here, in one
place, instead of in each test module.
"""

from __future__ import annotations

import os

import pytest

SHARED_MARKERS = ("../shared", "shared/data")


def under_ci() -> bool:
    """True when the suite runs as CI (``CI=true``), where no data or package may be missing."""
    return os.environ.get("CI", "").lower() == "true"


def skip_reason(report: pytest.TestReport) -> str:
    """The reason text of a skipped report (pytest keeps it as (path, line, reason))."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and under_ci()) or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if any(marker in reason for marker in SHARED_MARKERS):
        report.outcome = "failed"
        report.longrepr = f"CI=true needs ../shared beside the checkout, but: {reason}"
