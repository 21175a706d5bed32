"""Shared by the web tests: digits as stroke lists, rendering them, a trained model, a server."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BOOK_WEIGHTS = SHARED / "sample_weight.pkl"
PAD = 280  # the draw page's canvas is 280x280
PEN = 18  # its pen width


def _arc(cx, cy, rx, ry, start_deg, end_deg, n=24):
    return [
        (
            cx + rx * math.cos(math.radians(start_deg + (end_deg - start_deg) * i / n)),
            cy + ry * math.sin(math.radians(start_deg + (end_deg - start_deg) * i / n)),
        )
        for i in range(n + 1)
    ]


#: Digits as lists of strokes; each stroke is a list of (x, y) points on the 280x280 pad.
DIGITS: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(140, 140, 62, 95, -90, 270, 36)],
    1: [[(128, 62), (150, 40), (150, 240)]],
    3: [_arc(135, 92, 55, 48, -160, 90, 20) + _arc(135, 188, 62, 52, -90, 160, 22)],
    4: [[(170, 235), (170, 45), (70, 170), (215, 170)]],
    7: [[(70, 58), (205, 58), (118, 240)]],
}


def render_strokes(strokes, path: Path, size: int = PAD, pen: int = PEN) -> Path:
    """Draw strokes black on white with round ends and joints (as the page's canvas does)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(img)
    r = pen / 2
    for stroke in strokes:
        if len(stroke) > 1:
            draw.line(stroke, fill=0, width=pen, joint="curve")
        for x, y in stroke:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=0)
    img.save(path)
    return path


def train_small_model(out: Path) -> Path:
    """A quick MLP on the built-in mnist-sample (a run folder), good enough to read digits."""
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training

    if not (out / "model.npz").is_file():
        run_training(TrainConfig(dataset="mnist-sample", hidden=[64, 32], epochs=8), out)
    return out


def screenshot_dir() -> Path | None:
    """Where screenshots are also copied: $MITBADAK_SCREENSHOTS, else runs/screenshots."""
    chosen = os.environ.get("MITBADAK_SCREENSHOTS")
    return Path(chosen) if chosen else ROOT / "runs" / "screenshots"


def keep_screenshot(path: Path) -> None:
    target = screenshot_dir()
    if target is None:
        return
    try:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.name)
    except OSError:
        pass  # a read-only checkout: the copy in the test's folder is enough


class Server:
    """`mitbadak serve ... --port 0` as a child process; ``url`` has no trailing slash."""

    def __init__(
        self, *args: str, cwd: Path | None = None, env: dict | None = None, prelude: str = ""
    ) -> None:
        argv = ["serve", "--port", "0", *args]
        code = f"{prelude}\nimport sys\nfrom mitbadak.cli import main\nsys.exit(main({argv!r}))"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=env,
        )
        # Training progress (the default model) may come first: read up to the URL line.
        line, match = "", None
        while not match:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if not match:
            self.proc.kill()
            err = self.proc.stderr.read()
            raise RuntimeError(f"the server did not start: {line!r} {err[-2000:]}")
        self.url = match.group(1)
        self.first_line = line
        self._wait_ready()

    def _wait_ready(self) -> None:
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/api/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def stop(self) -> tuple[int, str]:
        """Ctrl-C the server; returns (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return self.proc.returncode, err


CHROMIUM = Path("/usr/bin/chromium")
UNDER_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def browser_unavailable(reason: str):
    """Skip (on a user's machine, saying why) or fail (under CI=true) a browser test."""
    import pytest

    if UNDER_CI:
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()):
    """Debian's Chromium, headless, driven by Playwright (which never downloads a browser);
    ``extra_args``: more command-line switches."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("Playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        browser_unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True
        )
        try:
            yield b
        finally:
            b.close()
