"""Make the README's screenshots of `mitbadak serve` (docs/img/serve-draw.png, serve-train.png).

    .venv/bin/python scripts/serve_screenshot.py [--page draw|train] [--model MODEL]
        [--lang en|ko] [--runs DIR] [--out FILE]

Starts the server on a free port and drives Debian's Chromium (headless, through Playwright):
on the draw page it draws a digit with real mouse moves; on the train page it trains the spiral
(hidden 50, lr 1, 30 epochs) to the end. Saves a reduced, palette-compressed PNG of the page.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _webtools import BOOK_WEIGHTS, DIGITS, Server, train_small_model  # noqa: E402

from mitbadak.core.atomic import atomic_write_bytes  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def _draw(page, url: str, lang: str, digit: int) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#model option", state="attached")
    page.wait_for_function("typeof Plotly !== 'undefined'")
    if lang == "ko":
        page.click("#lang-toggle")
    box = page.locator("#pad").bounding_box()
    for stroke in DIGITS[digit]:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.up()
    page.wait_for_selector("body[data-pending='0'][data-state='predicted']")
    page.wait_for_timeout(300)


def _train(page, url: str, lang: str) -> None:
    page.goto(url + "/train")
    page.wait_for_selector("#dataset option", state="attached")
    page.wait_for_function("typeof Plotly !== 'undefined'")
    if lang == "ko":
        page.click("#lang-toggle")
    for name, value in {"hidden": "50", "lr": "1", "epochs": "30"}.items():
        page.fill(f"#recipe [name={name}]", value)
    page.click("#train")
    page.wait_for_selector("body[data-state='end']", timeout=120_000)
    page.wait_for_function("Number(document.body.dataset.boundaryUpdates) > 0")
    page.wait_for_timeout(500)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="default: the book's weights if present, else a quick run")
    parser.add_argument("--lang", choices=["en", "ko"], default="en")
    parser.add_argument("--digit", type=int, default=3, choices=sorted(DIGITS))
    parser.add_argument("--page", choices=["draw", "train"], default="draw")
    parser.add_argument("--runs", help="the train page's runs folder (default: a temporary one)")
    parser.add_argument("--out", help="default: docs/img/serve-PAGE.png")
    parser.add_argument("--width", type=int, default=900, help="width of the saved image")
    args = parser.parse_args()
    out = args.out or str(REPO / "docs" / "img" / f"serve-{args.page}.png")

    from PIL import Image
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or (
            str(BOOK_WEIGHTS) if BOOK_WEIGHTS.is_file() else str(train_small_model(Path(tmp) / "m"))
        )
        server = Server(model, "--runs", args.runs or str(Path(tmp) / "runs"))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1180, "height": 900})
                if args.page == "draw":
                    _draw(page, server.url, args.lang, args.digit)
                else:
                    _train(page, server.url, args.lang)
                png = page.screenshot(full_page=True)
                browser.close()
        finally:
            server.stop()
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.resize((args.width, round(img.height * args.width / img.width)), Image.LANCZOS)
    img = img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(out, buf.getvalue())
    print(f"{out}: {img.width}x{img.height}, {len(buf.getvalue()):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
