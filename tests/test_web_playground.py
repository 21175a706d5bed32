"""The train, graph and descent pages in a real browser (Debian's Chromium via Playwright).

The numbers the pages show must be the library's: the shopping graph's 220 / 2.2 / 110 / 200 and
715 / 2.2 / 110 / 3.3 / 165 / 650, and descent_path's final point. A 2-epoch training started
from the page must draw both curves and update the boundary; a stopped run leaves its folder.
Screenshots go to the test's folder and $MITBADAK_SCREENSHOTS (default runs/screenshots/).
Without Chromium or Playwright these tests skip (saying why), except under CI=true.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _webtools import Server, chromium, keep_screenshot

from mitbadak.views.descent import descent_path


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("play-runs")


@pytest.fixture(scope="module")
def server(runs_dir):
    from mitbadak.files.datasets.toy import write_points_csv
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training

    model = runs_dir / "cli-run"
    points = write_points_csv(runs_dir / "p.csv", [(0, 0, 0), (1, 1, 1), (0, 1, 1), (1, 0, 0)] * 3)
    run_training(TrainConfig(dataset=str(points), hidden=[4], epochs=1, batch_size=4), model)
    digits = runs_dir.parent / "digits"  # serve needs one 28x28 model for its draw page
    run_training(TrainConfig(dataset="mnist-sample", hidden=[8], epochs=1), digits)
    srv = Server(str(digits), "--runs", str(runs_dir))
    yield srv
    rc, err = srv.stop()
    assert rc == 0, err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def open_page(browser, server):
    contexts = []
    problems: list[str] = []

    def go(path: str):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        pg.on(
            "console",
            lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error"
            else None,
        )
        pg.goto(server.url + path)
        return pg

    allowed: list[str] = []  # console lines a test provokes on purpose (a 400 it asks for)
    go.allow = allowed.append
    yield go
    for context in contexts:
        context.close()
    assert [p for p in problems if not any(a in p for a in allowed)] == [], problems


def _shot(pg, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    pg.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)


def _wait(pg, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression (the pages' CSP forbids Playwright's eval-based waiting)."""
    deadline = time.monotonic() + timeout
    while not pg.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def _edge(pg, kind: str, edge: str) -> str:
    return pg.text_content(f"#{kind}-{edge}").strip()


def test_graph_page_forward_and_backward(open_page, tmp_path):
    pg = open_page("/graph")
    pg.wait_for_selector("body[data-graph='ready']")
    pg.wait_for_selector("body[data-network='ready']")
    assert _edge(pg, "val", "price") == "715"
    assert _edge(pg, "grad", "apple") == ""  # nothing before Backward
    for _ in range(4):
        pg.click("#backward")
    assert pg.is_disabled("#backward")
    grads = {e: _edge(pg, "grad", e) for e in ("apple", "apple_num", "orange", "orange_num", "tax")}
    assert grads == {
        "apple": "2.2", "apple_num": "110", "orange": "3.3", "orange_num": "165", "tax": "650"
    }
    assert "backprop" not in pg.text_content("#check")  # the table is built
    assert pg.locator("#check td.ok").count() == 4  # W1 b1 W2 b2 agree in float64
    _shot(pg, tmp_path, "graph-apple-orange.png")

    pg.select_option("#kind", "apple")
    _wait(pg, "document.querySelector('#val-price').textContent === '220'")
    pg.click("#backward")
    # one node at a time: mul_tax first (tax, apple_price), apple's inputs not yet
    assert _edge(pg, "grad", "tax") == "200" and _edge(pg, "grad", "apple_price") == "1.1"
    assert _edge(pg, "grad", "apple") == ""
    pg.click("#backward")
    got = {e: _edge(pg, "grad", e) for e in ("apple", "apple_num", "tax")}
    assert got == {"apple": "2.2", "apple_num": "110", "tax": "200"}
    assert _edge(pg, "val", "price") == "220"
    _shot(pg, tmp_path, "graph-apple.png")
    pg.click("#lang-toggle")  # Korean: the same numbers, the words translated
    assert pg.text_content("#backward") == "역전파 (노드 하나씩)"
    assert pg.text_content("#nav a.active") == "계산 그래프"
    assert _edge(pg, "grad", "apple_num") == "110"
    _shot(pg, tmp_path, "graph-apple-ko.png")
    pg.click("#lang-toggle")


def test_descent_page_final_point(open_page, tmp_path):
    pg = open_page("/descent")
    pg.wait_for_selector("body[data-state='ready']")
    # the slider is log10(lr): -1 is lr 0.1 (also the default); set it explicitly
    pg.eval_on_selector("#lr", "el => { el.value = '-1'; el.dispatchEvent(new Event('change')); }")
    pg.fill("#steps", "20")
    pg.dispatch_event("#steps", "change")
    _wait(pg,
        "document.body.dataset.state === 'ready' && document.querySelector('#final').textContent"
        ".includes('20 steps')"
    )
    expected = descent_path("bowl", None, 0.1, 20, "sgd")["final"]
    final = pg.locator("#final")
    assert float(final.get_attribute("data-x0")) == expected[0]
    assert float(final.get_attribute("data-x1")) == expected[1]
    assert pg.text_content("#lr-value") == "0.1"
    # a click on the plot moves the start (here into the lower right quadrant)
    box = pg.locator("#plot .nsewdrag").first.bounding_box()
    pg.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.75 * box["height"])
    _wait(pg, "Number(document.querySelector('#x0').value) > 0")
    assert float(pg.input_value("#x1")) < 0
    _wait(pg, "document.body.dataset.state === 'ready'")
    x0, x1 = float(pg.input_value("#x0")), float(pg.input_value("#x1"))
    expected = descent_path("bowl", (x0, x1), 0.1, 20, "sgd")["final"]
    _wait(pg, f"Number(document.querySelector('#final').dataset.x0) === {expected[0]!r}")
    # compare: every registered optimizer with its chapter-6 rate (the contour and the start too)
    from mitbadak.nn.optimizers import OPTIMIZERS

    pg.check("#compare")
    pg.dispatch_event("#compare", "change")
    n = len(OPTIMIZERS) + 2
    _wait(pg, f"document.querySelectorAll('#plot .scatterlayer .trace').length === {n}")
    _shot(pg, tmp_path, "descent-bowl.png")

    # diverging: lr 1.1 on the bowl grows without bound; the page says so
    pg.uncheck("#compare")
    pg.eval_on_selector("#lr", "el => { el.value = String(Math.log10(1.1)); "
                        "el.dispatchEvent(new Event('change')); }")
    _wait(pg, "document.querySelector('#note').textContent.length > 0")
    _shot(pg, tmp_path, "descent-diverging.png")


def test_train_page_two_epochs_then_stop(open_page, runs_dir, tmp_path):
    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    pg.select_option("#dataset", "spiral")
    pg.fill("input[name=epochs]", "2")
    pg.fill("input[name=hidden]", "30")
    pg.fill("input[name=lr]", "0.5")
    pg.click("#train")
    pg.wait_for_selector("body[data-state='end']", timeout=60_000)
    _wait(pg, "Number(document.body.dataset.epochs) === 2")
    assert int(pg.get_attribute("body", "data-losses")) > 0
    assert int(pg.get_attribute("body", "data-boundary-updates")) >= 2
    assert pg.locator("#loss .scatterlayer .trace").count() == 2
    assert pg.locator("#acc .scatterlayer .trace").count() == 2
    assert pg.locator("#boundary .heatmaplayer image, #boundary .hm image").count() >= 1
    command = pg.text_content("#command")
    assert command.startswith("mitbadak train --dataset spiral") and "--epochs 2" in command
    done_dir = Path(pg.get_attribute("#folder", "data-dir"))
    assert (done_dir / "model.npz").is_file() and done_dir.parent == runs_dir.resolve()
    _shot(pg, tmp_path, "train-spiral.png")

    # a long run, stopped from the page: checkpoint, no model.npz, a resumable folder
    pg.fill("input[name=epochs]", "200")
    pg.fill("input[name=batch_size]", "1")  # 96,000 steps: far longer than the test
    pg.fill("input[name=hidden]", "200,200")
    pg.fill("input[name=lr]", "0.01")
    pg.click("#train")
    _wait(pg, "Number(document.body.dataset.losses) > 50", timeout=60)
    pg.click("#pause")
    pg.wait_for_selector("body[data-state='paused']")
    time.sleep(0.5)  # let the last chunk sent before the pause be drawn
    paused_at = pg.get_attribute("body", "data-losses")
    time.sleep(0.7)
    assert pg.get_attribute("body", "data-losses") == paused_at  # paused means paused
    pg.click("#stop")
    pg.wait_for_selector("body[data-state='stopped']", timeout=30_000)
    stopped = Path(pg.get_attribute("#folder", "data-dir"))
    assert stopped != done_dir
    assert (stopped / "checkpoint.npz").is_file() and not (stopped / "model.npz").exists()
    saved = json.loads((stopped / "config.json").read_text())
    assert saved["config"]["epochs"] == 200
    # reopen the CLI run from the list: the page reads its folder (once the list, reloaded on
    # 'stopped', holds the stopped run: a reload after the choice would undo it)
    _wait(pg, f"[...document.querySelectorAll('#runs option')].some(o => o.value === "
              f"{stopped.name!r})")  # fmt: skip
    pg.select_option("#runs", "cli-run")
    pg.click("#open")
    pg.wait_for_selector("body[data-state='following']")
    _wait(pg, "Number(document.body.dataset.epochs) === 1")
    assert pg.input_value("input[name=hidden]") == "4"  # the reopened run's recipe
    _shot(pg, tmp_path, "train-following-cli-run.png")


def test_train_page_clicked_points(open_page, runs_dir, tmp_path):
    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    pg.select_option("#dataset", "__points__")
    # the histograms of the last run (replayed by the event stream) sit above the plot
    pg.locator("#boundary").scroll_into_view_if_needed()
    box = pg.locator("#boundary .nsewdrag").first.bounding_box()
    for i, (fx, fy, label) in enumerate(
        [(0.2, 0.2, 0), (0.3, 0.25, 0), (0.25, 0.35, 0), (0.75, 0.7, 1), (0.8, 0.8, 1),
         (0.7, 0.85, 1), (0.2, 0.8, 0), (0.8, 0.2, 1)]
    ):
        pg.select_option("#point-label", str(label))
        pg.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        assert pg.text_content("#point-count") == f"{i + 1} points"
    pg.fill("input[name=epochs]", "3")
    pg.fill("input[name=batch_size]", "4")
    pg.click("#train")
    pg.wait_for_selector("body[data-state='end']", timeout=60_000)
    folder = Path(pg.get_attribute("#folder", "data-dir"))
    assert (folder / "points.csv").read_text().count("\n") == 9  # header + 8 points
    assert "points.csv" in pg.text_content("#command")
    _shot(pg, tmp_path, "train-clicked-points.png")


def _start_new_run(pg) -> None:
    """Click Train and wait for the new run's first event (the page may still show the last
    run's end, replayed by the event stream when it opened)."""
    before = pg.get_attribute("#folder", "data-dir") or ""
    pg.click("#train")
    _wait(pg, f"(document.querySelector('#folder').dataset.dir || '') !== {before!r}")


def _hist_counts(pg) -> list[list[int]]:
    """The counts the histogram panel draws: each hidden layer's Plotly bar trace."""
    return pg.evaluate(
        "[...document.querySelectorAll('#hists .hist')].map((d) => Array.from(d.data[0].y))"
    )


def test_train_page_chapter6_controls_and_activation_histograms(open_page, tmp_path):
    from mitbadak.training.evaluation import load_any_model
    from mitbadak.views.inspection import run_probe

    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    # every registered optimizer is offered, each bringing its own default lr
    from mitbadak.nn.optimizers import REGISTRY

    pg.select_option("#dataset", "moons")  # first: a data set brings its own recipe
    offered = pg.eval_on_selector_all("select[name=optimizer] option", "os => os.map(o => o.value)")
    assert offered == list(REGISTRY)
    for name in ("rmsprop", "nesterov", "adam"):
        pg.select_option("select[name=optimizer]", name)
        assert float(pg.input_value("input[name=lr]")) == REGISTRY[name].run_lr
    pg.fill("input[name=hidden]", "20,16")
    pg.fill("input[name=epochs]", "2")
    pg.fill("input[name=seed]", "7")
    pg.check("input[name=batchnorm]")
    pg.fill("input[name=dropout]", "0.1")
    pg.fill("input[name=weight_decay]", "0.001")
    _start_new_run(pg)
    pg.wait_for_selector("body[data-state='end']", timeout=60_000)
    _wait(pg, "document.body.dataset.histEpoch === '2'")
    folder = Path(pg.get_attribute("#folder", "data-dir"))
    saved = json.loads((folder / "config.json").read_text())["config"]
    assert (saved["optimizer"], saved["lr"]) == ("adam", REGISTRY["adam"].run_lr)
    assert (saved["batchnorm"], saved["dropout"], saved["weight_decay"]) == (True, 0.1, 0.001)
    assert (saved["hidden"], saved["seed"]) == ([20, 16], 7)
    command = pg.text_content("#command")
    assert "--batchnorm" in command and "--dropout 0.1" in command
    assert "--weight-decay 0.001" in command
    # the bars drawn are the library's counts for this run's saved model (probe and bins fixed)
    expected = run_probe(folder).frame(load_any_model(folder)[0])
    assert _hist_counts(pg) == [layer["counts"] for layer in expected]
    assert [sum(c) for c in _hist_counts(pg)] == [200 * 20, 200 * 16]
    # the bins were fixed from the initial network with BatchNorm on the probe's statistics
    # (test mode there would scale by 1000: its running variance starts at 0, as the book's)
    assert expected[0]["range"][0] == 0.0 and expected[0]["range"][1] <= 10
    caption = pg.text_content("#hist-caption")
    assert caption.startswith("After epoch 2 · test mode · the first 200 training inputs")
    assert pg.text_content("#hist-1 .gtitle").startswith("layer 1 · relu")
    _shot(pg, tmp_path, "train-batchnorm-dropout-en.png")
    pg.click("#lang-toggle")
    assert pg.text_content("#hist-caption").startswith("2번째 에폭 후 · 시험 모드")
    assert pg.text_content("#hist-2 .gtitle").startswith("2층 · relu")
    assert pg.text_content("label:has(input[name=batchnorm]) span") == "배치 정규화"
    pg.click("#lang-toggle")
    # Dropout 0 is "off": no dropout in the recipe (a plain MLP, no MultiLayerNetExtend)
    pg.uncheck("input[name=batchnorm]")
    pg.fill("input[name=dropout]", "0")
    pg.fill("input[name=epochs]", "1")
    _start_new_run(pg)
    pg.wait_for_selector("body[data-state='end']", timeout=60_000)
    plain = json.loads((Path(pg.get_attribute("#folder", "data-dir")) / "config.json").read_text())
    assert (plain["config"]["batchnorm"], plain["config"]["dropout"]) == (False, None)


def test_train_page_histograms_mid_training_screenshots(open_page, tmp_path):
    """A longer run on the packaged MNIST sample, looked at while it trains (English, Korean)."""
    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    pg.select_option("#dataset", "mnist-sample")
    pg.fill("input[name=hidden]", "100,100,100")
    pg.select_option("select[name=activation]", "sigmoid")
    pg.select_option("select[name=optimizer]", "adam")
    pg.fill("input[name=epochs]", "200")
    _start_new_run(pg)
    _wait(pg, "Number(document.body.dataset.histEpoch || 0) >= 3", timeout=120)
    assert pg.locator("#hists .hist").count() == 3
    assert pg.locator("#tiles img").count() > 0
    _shot(pg, tmp_path, "train-histograms-en.png")
    pg.click("#lang-toggle")
    _wait(pg, "document.querySelector('#hist-caption').textContent.includes('에폭')")
    _shot(pg, tmp_path, "train-histograms-ko.png")
    pg.click("#lang-toggle")
    pg.click("#stop")
    pg.wait_for_selector("body[data-state='stopped']", timeout=30_000)


def test_descent_page_book_comparison_equals_optimizer_paths(open_page, tmp_path):
    from mitbadak.training.experiments import optimizer_paths

    pg = open_page("/descent")
    pg.wait_for_selector("body[data-state='ready']")
    pg.click("#book-compare")
    _wait(pg, "document.querySelectorAll('#final tr[data-opt]').length === 6 && "
              "document.body.dataset.state === 'ready'")  # fmt: skip
    assert pg.input_value("#surface") == "elongated" and pg.input_value("#steps") == "30"
    assert (pg.input_value("#x0"), pg.input_value("#x1")) == ("-7", "2")
    book = optimizer_paths()["optimizers"]
    rows = pg.eval_on_selector_all(
        "#final tr[data-opt]", "rs => rs.map(r => [r.dataset.opt, r.dataset.x0, r.dataset.x1])"
    )
    assert [r[0] for r in rows] == list(book)
    for name, x0, x1 in rows:  # the page's numbers are optimizer_paths', to the last bit
        assert (float(x0), float(x1)) == (book[name]["x"][-1], book[name]["y"][-1]), name
    n = len(book) + 2  # six paths, the start and the minimum
    _wait(pg, f"document.querySelectorAll('#plot .scatterlayer .trace').length === {n}")
    assert "AdaGrad" in pg.text_content("#final") and "RMSprop" in pg.text_content("#final")
    _shot(pg, tmp_path, "descent-compare-en.png")
    pg.click("#lang-toggle")
    _wait(pg, "document.querySelector('#final').textContent.includes('기울기 공식')")
    assert pg.text_content("h2") == "경사 하강법 (4장, 6장)"
    rows_ko = pg.eval_on_selector_all("#final tr[data-opt]", "rs => rs.map(r => r.dataset.x0)")
    assert rows_ko == [r[1] for r in rows]
    _shot(pg, tmp_path, "descent-compare-ko.png")
    pg.click("#lang-toggle")


def test_train_page_paced_default_recipe_steps_axes_and_reload(open_page, tmp_path):
    """The default spiral recipe (the form's, at the default pace) reaches >= 0.95 training
    accuracy within 30 s; pause + "+1 iteration" adds one loss, "+1 epoch" one epoch; charts have
    axis titles, a log loss axis and a confidence-shaded boundary; a reload mid-run shows the
    running recipe; another data set clears the curves."""
    from mitbadak.web.api.train import DEFAULT_PACE, TOY_RECIPES

    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    spiral = TOY_RECIPES["spiral"]
    form = {k: pg.input_value(f"[name={k}]") for k in spiral}
    assert form == {k: str(v) for k, v in spiral.items()}
    assert float(pg.input_value("#pace")) == DEFAULT_PACE
    pg.select_option("select[name=optimizer]", "sgd")  # the form's lr is the server's default
    assert pg.input_value("input[name=lr]") == "0.05"
    pg.select_option("select[name=optimizer]", "momentum")
    assert pg.input_value("input[name=lr]") == "0.05"
    labels = pg.eval_on_selector_all("#point-label option", "os => os.map(o => o.value)")
    assert labels == [str(k) for k in range(10)]
    pg.fill("input[name=seed]", "3")  # a value the reloaded page must show
    t0 = time.monotonic()
    _start_new_run(pg)
    _wait(pg, "document.body.dataset.boundaryUpdates >= 1 && "
              "[...document.querySelectorAll('#acc .scatterlayer .trace')].length === 2", 30)
    _wait(pg, "Math.max(0, ...(document.querySelector('#acc').data[0].y || [])) >= 0.95", 30)
    assert time.monotonic() - t0 < 30
    losses = int(pg.get_attribute("body", "data-losses"))
    assert losses <= 40 * 15
    # axis titles (the bundled plotly.js draws only {title: {text}}), a log loss axis
    assert pg.text_content("#loss .xtitle") == "iteration"
    assert pg.text_content("#loss .ytitle") == "loss (log scale)"
    assert pg.text_content("#acc .ytitle") == "accuracy"
    assert pg.evaluate("document.querySelector('#loss')._fullLayout.yaxis.type") == "log"
    # the log axis reads its values whole (0.5, 0.2, 0.1), not bare mantissa digits ("5", "2")
    ticks = pg.evaluate("document.querySelector('#loss')._fullLayout.yaxis.ticktext")
    values = pg.evaluate("document.querySelector('#loss')._fullLayout.yaxis.tickvals")
    assert [float(t) for t in ticks] == pytest.approx(values) and "0.5" in ticks
    # the boundary: the class colours and a confidence layer equal to the grid's confidence
    conf = pg.evaluate("document.querySelector('#boundary').data[1].z")
    assert len(conf) == 60 and min(min(r) for r in conf) >= 1 / 3 - 1e-9
    _shot(pg, tmp_path, "train-paced-spiral-en.png")
    pg.click("#pause")
    pg.wait_for_selector("body[data-state='paused']")
    time.sleep(0.5)
    before = int(pg.get_attribute("body", "data-losses"))
    pg.click("#step-iter")
    _wait(pg, f"Number(document.body.dataset.losses) === {before + 1}")
    epochs = int(pg.get_attribute("body", "data-epochs"))
    pg.click("#step-epoch")
    _wait(pg, f"Number(document.body.dataset.epochs) === {epochs + 1}")
    time.sleep(0.4)
    assert int(pg.get_attribute("body", "data-losses")) % 15 == 0  # stopped at the epoch's end
    assert pg.get_attribute("body", "data-state") == "paused"
    # a reload mid-run: the form shows the running recipe (seed 3), not the defaults
    pg.reload()
    pg.wait_for_selector("body[data-ready='1']")
    _wait(pg, "document.querySelector('input[name=seed]').value === '3'")
    assert pg.input_value("input[name=hidden]") == "50,50"
    pg.click("#lang-toggle")
    assert pg.text_content("label:has(#pace) span") == "속도"
    assert pg.text_content("#loss .xtitle") == "반복 횟수"
    assert "기본값" in pg.text_content("select[name=weight_init]")
    pg.click("#pause")  # resume
    _wait(pg, "document.querySelector('#speed').textContent.startsWith('초당')")
    _shot(pg, tmp_path, "train-paced-spiral-ko.png")
    pg.click("#lang-toggle")
    pg.click("#stop")
    pg.wait_for_selector("body[data-state='stopped']", timeout=30_000)
    pg.select_option("#dataset", "moons")  # another data set: the old curves go
    _wait(pg, "document.body.dataset.losses === '0' && document.body.dataset.epochs === '0'")
    assert pg.input_value("input[name=hidden]") == TOY_RECIPES["moons"]["hidden"]


def test_graph_page_refuses_empty_inputs_clears_after_errors_and_speaks_korean(open_page, tmp_path):
    open_page.allow("the server responded with a status of 400")  # the 1e13 below
    pg = open_page("/graph")
    pg.wait_for_selector("body[data-graph='ready']")
    pg.select_option("#kind", "apple")
    _wait(pg, "document.querySelector('#val-price').textContent === '220'")
    pg.click("#backward")
    pg.click("#backward")  # two of the two steps: the status says done, not "press Backward"
    assert pg.text_content("#status") == "Backward done: every input has its gradient."
    pg.click("#forward")
    pg.click("#backward")
    assert pg.text_content("#status").startswith("Backward step 1 of 2: mul_tax")
    pg.fill("#in-apple", "")  # an empty field is refused, never read as 0
    pg.click("#forward")
    _wait(pg, "document.body.dataset.graph === 'error'")
    assert pg.text_content("#status") == "apple: expected a number, the field is empty"
    assert pg.locator("#shop text").count() == 0  # the old graph is gone
    assert pg.is_disabled("#backward")
    pg.fill("#in-apple", "1e13")  # beyond the library's 1e12: the server's 400, the graph cleared
    pg.click("#forward")
    _wait(pg, "document.querySelector('#status').classList.contains('error') && "
              "document.querySelector('#status').textContent !== "
              "'apple: expected a number, the field is empty'")  # fmt: skip
    assert "below 1e+12" in pg.text_content("#status")
    assert pg.locator("#shop text").count() == 0
    pg.fill("#in-apple", "100")
    pg.click("#forward")
    _wait(pg, "document.body.dataset.graph === 'ready'")
    assert _edge(pg, "val", "price") == "220"
    assert "Below 1e-5: they agree" in pg.text_content("#check-hint")
    pg.click("#lang-toggle")
    names = pg.eval_on_selector_all("#shop text.name", "ts => ts.map(t => t.textContent)")
    assert "사과" in names and "소비세" in names and "apple" not in names
    assert pg.text_content("label:has(#in-apple)").strip() == "사과"
    assert "1e-5보다 작으면 일치" in pg.text_content("#check-hint")
    pg.select_option("#kind", "apple_orange")
    _wait(pg, "document.querySelector('#val-price').textContent === '715'")
    names = pg.eval_on_selector_all("#shop text.name", "ts => ts.map(t => t.textContent)")
    assert "귤" in names and "귤 개수" in names
    _shot(pg, tmp_path, "graph-korean-names-ko.png")
    pg.click("#lang-toggle")


def test_descent_page_contour_fills_the_axes_titles_and_empty_fields(open_page, tmp_path):
    from mitbadak.views.descent import contour_grid

    pg = open_page("/descent")
    pg.wait_for_selector("body[data-state='ready']")
    # the contour is computed again over the axes' own ranges (wider than the bowl's ±4.5)
    _wait(pg, "document.querySelector('#plot').data[0].x.length === 160")
    xs = pg.evaluate("Array.from(document.querySelector('#plot').data[0].x)")
    xr = pg.evaluate("document.querySelector('#plot')._fullLayout.xaxis.range")
    yr = pg.evaluate("document.querySelector('#plot')._fullLayout.yaxis.range")
    assert xs[0] <= xr[0] + 1e-9 and xs[-1] >= xr[1] - 1e-9 and xr[1] > 4.5
    z = pg.evaluate("document.querySelector('#plot').data[0].z")
    expected = contour_grid("bowl", 160, xlim=(xs[0], xs[-1]), ylim=(yr[0], yr[1]))
    assert z[0][:5] == expected["z"][0][:5]  # the library's numbers, grid and all
    assert pg.text_content("#plot .xtitle") == "x0" and pg.text_content("#plot .ytitle") == "x1"
    _shot(pg, tmp_path, "descent-bowl-filled-en.png")
    pg.fill("#steps", "")
    pg.dispatch_event("#steps", "change")
    _wait(pg, "document.body.dataset.state === 'error'")
    assert pg.text_content("#status") == "Steps: expected a number, the field is empty"
    pg.fill("#steps", "20")
    pg.dispatch_event("#steps", "change")
    _wait(pg, "document.body.dataset.state === 'ready'")
    assert "20 steps" in pg.text_content("#final")
    pg.click("#lang-toggle")
    _wait(pg, "document.querySelector('#final').textContent.includes('20단계')")
    _shot(pg, tmp_path, "descent-bowl-filled-ko.png")
    pg.click("#lang-toggle")


def _predict_json(model: Path, path: Path) -> list[float]:
    """`mitbadak predict MODEL path --json`: the probabilities of all ten classes."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mitbadak", "predict", str(model), str(path), "--json",
         "--top", "10"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    top = json.loads(out)[0]["top"]
    return [p for _, p in sorted((d["class"], d["probability"]) for d in top)]


def test_draw_page_downloads_the_exact_input_and_the_drawing(open_page, runs_dir, tmp_path):
    import numpy as np
    from _webtools import DIGITS

    from mitbadak.files.photos import load_digit_array, load_image, preprocess_digit

    pg = open_page("/draw")
    pg.wait_for_selector("#model option", state="attached")
    assert pg.get_attribute("#download-input", "aria-disabled") == "true"  # nothing drawn yet
    box = pg.locator("#pad").bounding_box()
    for stroke in DIGITS[7]:
        pg.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        pg.mouse.down()
        for x, y in stroke[1:]:
            pg.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        pg.mouse.up()
    pg.wait_for_selector("body[data-pending='0'][data-state='predicted']")
    shown = pg.evaluate("document.getElementById('bars').data[0].y")
    with pg.expect_download() as info:
        pg.click("#download-input")
    npy = tmp_path / info.value.suggested_filename
    info.value.save_as(npy)
    with pg.expect_download() as info:
        pg.click("#download-png")
    png = tmp_path / info.value.suggested_filename
    info.value.save_as(png)
    assert (npy.name, png.name) == ("drawing-28x28.npy", "drawing.png")
    # the .npy is the input the network saw: the PNG's preprocessing, value for value
    x = load_digit_array(npy)
    np.testing.assert_array_equal(x, preprocess_digit(load_image(png)))
    assert np.load(npy).shape == (28, 28) and x.max() > 0.5
    model = runs_dir.parent / "digits"
    for path in (npy, png):  # predict on either file prints the page's probabilities
        np.testing.assert_allclose(_predict_json(model, path), shown, atol=5e-7)
    _shot(pg, tmp_path, "draw-downloads-en.png")


def test_train_page_draws_the_network_unit_maps_and_unit_histograms(open_page, tmp_path):
    """The network view of a 2-D run: 2 hidden layers of 16 units (12 shown), lines for the
    strongest weights; after the run each unit's heat map is the library's activation of that
    unit on the grid for the saved model, and hovering a unit shows its own histogram, equal to
    the library's counts on the run's probe batch. Updated every epoch (and at the start)."""
    import numpy as np

    from mitbadak.files.datasets.toy import load_generated
    from mitbadak.files.modelfile import load_model
    from mitbadak.views.boundary import unit_grids
    from mitbadak.views.inspection import probe_batch
    from mitbadak.views.network_view import unit_histograms

    pg = open_page("/train")
    pg.wait_for_selector("body[data-ready='1']")
    pg.select_option("#dataset", "moons")
    pg.fill("input[name=epochs]", "3")
    pg.select_option("#pace", "10")  # a watched pace: every epoch sends its frames
    _start_new_run(pg)
    pg.wait_for_selector("body[data-state='end']", timeout=60_000)
    _wait(pg, "document.body.dataset.networkEpoch === '3'")
    assert int(pg.get_attribute("body", "data-network-updates")) == 4  # start + 3 epochs
    net = pg.evaluate("view.network")
    assert net["sizes"] == [2, 16, 16, 2] and [len(s) for s in net["shown"]] == [2, 12, 12, 2]
    assert pg.locator("#net svg .unit image").count() == 24  # one heat map per shown hidden unit
    lines = pg.locator("#net svg line")
    assert lines.count() == sum(e["kept"] for e in net["edges"])
    widths = {float(lines.nth(k).get_attribute("stroke-width")) for k in range(5)}
    assert len(widths) > 1  # thickness follows |w|
    colours = set(
        pg.eval_on_selector_all("#net svg line", "ls => ls.map(l => l.getAttribute('stroke'))")
    )
    assert colours == {"#2f6fdf", "#e8590c"}  # both signs drawn
    model = load_model(Path(pg.get_attribute("#folder", "data-dir")) / "model.npz")
    maps = unit_grids(model, net["xs"], net["ys"])
    for layer, unit in [(0, 0), (1, 7), (1, 11)]:
        np.testing.assert_allclose(
            np.array(net["maps"][layer][unit], dtype=float), maps[layer][unit], atol=2e-4
        )
    pg.hover("#net .unit[data-layer='2'][data-unit='5']")
    _wait(pg, "document.querySelector('#unit-title').dataset.unit === '5'")
    shown = pg.evaluate("Array.from(document.getElementById('unit-hist').data[0].y)")
    probe = probe_batch(load_generated("moons", 0).train[0])
    counts = unit_histograms(model, probe, net["hist_ranges"], bins=len(shown))
    assert shown == counts[1][5].tolist() and sum(shown) == len(probe)
    assert "unit 6" in pg.text_content("#unit-title")
    _shot(pg, tmp_path, "train-network-en.png")
    pg.click("#lang-toggle")
    assert "뉴런 6" in pg.text_content("#unit-title") or "뉴런" in pg.text_content("#net-caption")
    _shot(pg, tmp_path, "train-network-ko.png")
    pg.click("#lang-toggle")


def _stop_any_run(server) -> None:
    """Stop a run an earlier test left going (the link test wants the server idle)."""
    import urllib.request

    def call(path, data=None):
        req = urllib.request.Request(server.url + path, data=data, headers={
            "Origin": server.url, "Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    deadline = time.monotonic() + 30
    while call("/api/train/state").get("active"):
        call("/api/train/stop", b"{}")
        assert time.monotonic() < deadline, "the earlier run did not stop"
        time.sleep(0.2)


def test_every_page_restores_its_form_from_a_link_and_starts_nothing(open_page, server, tmp_path):
    """A shared link (#key=value in the URL) fills the form of each page, in Korean or English,
    and no run or upload starts: Train and Draw make no POST on load; Graph and Descent compute
    from the link's values, as on any load. The URL follows the form as it changes."""
    _stop_any_run(server)
    posts: list[str] = []

    def opened(path: str):
        pg = open_page(path)
        pg.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        return pg

    pg = opened("/train#dataset=moons&hidden=8%2C4&optimizer=adam&lr=0.02&epochs=7&seed=5"
                "&batchnorm=1&pace=7&lang=ko")  # fmt: skip
    pg.wait_for_selector("body[data-ready='1']")
    form = {k: pg.input_value(f"[name={k}]") for k in
            ("dataset", "hidden", "optimizer", "lr", "epochs", "seed", "batch_size")}  # fmt: skip
    assert form == {"dataset": "moons", "hidden": "8,4", "optimizer": "adam", "lr": "0.02",
                    "epochs": "7", "seed": "5", "batch_size": "32"}  # fmt: skip
    assert pg.is_checked("[name=batchnorm]") and pg.input_value("#pace") == "7"
    assert pg.text_content("#pace option:checked").strip() == "초당 7회 반복"  # never blank
    assert pg.get_attribute("html", "lang") == "ko" and pg.text_content("#train") == "학습 시작"
    time.sleep(0.5)
    # no POST, no run: idle, or the last (stopped/finished) run replayed by the event stream
    assert posts == [] and pg.get_attribute("body", "data-state") in ("idle", "stopped", "end")
    pg.fill("input[name=epochs]", "9")
    _wait(pg, "location.hash.includes('epochs=9') && location.hash.includes('lang=ko')")
    _shot(pg, tmp_path, "train-link-ko.png")

    pg = opened("/draw#model=no-such-model&lang=en")  # an unknown model: the default stays
    pg.wait_for_selector("#model option", state="attached")
    ids = pg.eval_on_selector_all("#model option", "os => os.map((o) => o.value)")
    default = pg.input_value("#model")
    assert default in ids and pg.get_attribute("html", "lang") == "en"
    other = ids[-1] if ids[-1] != default else ids[0]
    pg = opened(f"/draw#model={other}&lang=ko")
    pg.wait_for_selector("#model option", state="attached")
    _wait(pg, f"document.querySelector('#model').value === {other!r}")
    assert pg.text_content("#clear") == "지우기"
    time.sleep(0.5)
    assert posts == [] and pg.get_attribute("body", "data-state") == "empty"
    _shot(pg, tmp_path, "draw-link-ko.png")

    pg = opened("/graph#kind=apple&apple=150&apple_num=3&tax=1.2&seed=2&lang=ko")
    _wait(pg, "(document.querySelector('#val-price') || {}).textContent === '540'")  # 150 x 3 x 1.2
    assert pg.input_value("#kind") == "apple" and pg.input_value("#seed") == "2"
    _shot(pg, tmp_path, "graph-link-ko.png")

    pg = opened("/descent#surface=elongated&optimizer=adagrad&steps=12&x0=-5&x1=1.5&lang=en")
    pg.wait_for_selector("body[data-state='ready']", timeout=20_000)
    values = {k: pg.input_value(f"#{k}") for k in ("surface", "optimizer", "steps", "x0", "x1")}
    assert values == {"surface": "elongated", "optimizer": "adagrad", "steps": "12",
                      "x0": "-5", "x1": "1.5"}  # fmt: skip
    pg.fill("#steps", "20")
    pg.press("#steps", "Enter")
    _wait(pg, "location.hash.includes('steps=20')")
