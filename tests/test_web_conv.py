"""The convolution page and model uploads: the library's step-through data (against im2col, the
layers and central differences), the API, and the page in Chromium (real values read back from
what it was sent and drew). Screenshots in English and Korean go to $MITBADAK_SCREENSHOTS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _webtools import DIGITS, SHARED, Server, chromium, keep_screenshot, render_strokes

from mitbadak.files.modelfile import save_model
from mitbadak.nn.convnets import SimpleConvNet
from mitbadak.nn.convolution import im2col
from mitbadak.views import convolution_steps as cs

BOOK_CONVNET = SHARED / "ch07" / "params.pkl"


def _small_net(seed: int = 3) -> SimpleConvNet:
    conv = {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1}
    net = SimpleConvNet(conv_param=conv, hidden_size=12, weight_init_std=0.3, seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("b1", "b2", "b3"):  # no exact zeros at the ReLUs: a kink there has no slope
        net.params[name][...] = rng.normal(0.0, 0.1, net.params[name].shape)
    return net


def _digit() -> np.ndarray:
    from mitbadak.files.datasets import load_split

    return load_split("mnist-sample", "test", download=False)[0][0].astype(np.float64)


def test_the_im2col_step_is_row_k_and_its_gemm_is_the_layers_output_pixel():
    net, x = _small_net(), _digit()
    for k in (0, 30, 575):
        step = cs.conv_step(net, x, k)
        assert np.array_equal(step["row"], im2col(x.reshape(1, 1, 28, 28), 5, 5)[k])
        i, j = divmod(k, 24)
        assert step["position"] == [i, j] and step["window"] == [i, j, 5, 5]
        out = net.sequence[0].forward(x.reshape(1, 1, 28, 28))[0, :, i, j]
        np.testing.assert_allclose(step["products"], out, rtol=1e-12)
        np.testing.assert_allclose(step["output_pixel"], out, rtol=1e-12)
    with pytest.raises(cs.NotAConvNet, match="from 0 to 575"):
        cs.conv_step(net, x, 576)


def test_pooling_keeps_each_windows_first_maximum_and_feature_maps_are_the_layers():
    net, x = _small_net(), _digit()
    maps = cs.feature_maps(net, x)
    relu = np.maximum(net.sequence[0].forward(x.reshape(1, 1, 28, 28)), 0)[0]
    np.testing.assert_array_equal(maps["maps"][0]["values"], net.sequence[0].forward(
        x.reshape(1, 1, 28, 28))[0])  # fmt: skip
    pooled = relu.reshape(4, 12, 2, 12, 2).max(axis=(2, 4))
    np.testing.assert_array_equal(maps["maps"][1]["values"], pooled)
    step = cs.pool_step(net, x, 12 * 5 + 7, channel=2)
    window = relu[2, 10:12, 14:16]
    np.testing.assert_array_equal(step["values"], window)
    assert step["argmax"] == int(np.argmax(window)) and step["kept"] == window.max()
    assert maps["prediction"] == int(np.argmax(net.predict(x.reshape(1, 1, 28, 28))))


def test_backward_is_the_gradient_of_the_top_score_and_col2im_counts_the_overlaps():
    # a little noise: no two values of a pooling window tie (a tie has no slope to compare)
    net, x = _small_net(), _digit() + 0.01 * np.random.default_rng(0).random(784)
    back = cs.backward_steps(net, x)
    counts = np.zeros((28, 28))
    for i in range(24):
        for j in range(24):
            counts[i : i + 5, j : j + 5] += 1
    np.testing.assert_array_equal(back["overlaps"], counts)
    assert back["overlaps"][14, 14] == 25 and back["overlaps"][0, 0] == 1
    top = back["target"]

    def score(v):
        return net.predict(v.reshape(1, 1, 28, 28))[0, top]

    for p in (0, 200, 406, 433, 517, 783):
        e = np.zeros(784)
        e[p] = 1e-5
        numeric = (score(x + e) - score(x - e)) / 2e-5
        assert back["input_grad"].reshape(-1)[p] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_the_initial_filters_are_the_same_recipe_drawn_from_the_seed():
    conv = {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1}
    trained = SimpleConvNet(conv_param=conv, hidden_size=12, seed=7)
    fresh = cs.first_filters(trained).copy()
    trained.params["W1"][...] += 1.0
    np.testing.assert_array_equal(cs.first_filters(cs.initial_network(trained, 7)), fresh)


# -- the page in Chromium ------------------------------------------------------------------


@pytest.fixture(scope="module")
def convnet_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("convnet") / "small-convnet.npz"
    save_model(path, _small_net(seed=11))
    return path


@pytest.fixture(scope="module")
def server(convnet_file, tmp_path_factory):
    models = [str(BOOK_CONVNET)] if BOOK_CONVNET.is_file() else [str(convnet_file)]
    srv = Server(*models, "--runs", str(tmp_path_factory.mktemp("no-runs")))
    yield srv
    rc, err = srv.stop()
    assert rc == 0 and "Traceback" not in err, err


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _page(browser, server, path: str, locale: str = "en-US"):
    context = browser.new_context(viewport={"width": 1200, "height": 1000}, locale=locale)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.goto(server.url + path)
    return context, pg, problems


def _draw(pg, strokes) -> None:
    box = pg.locator("#pad").bounding_box()
    for stroke in strokes:
        pg.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        pg.mouse.down()
        for x, y in stroke[1:]:
            pg.mouse.move(box["x"] + x, box["y"] + y)
        pg.mouse.up()


def test_the_conv_page_shows_row_k_and_the_layers_feature_maps(
    browser, server, convnet_file, tmp_path
):
    from mitbadak.files.photos import load_image, preprocess_digit_steps
    from mitbadak.training.evaluation import load_any_model

    net = load_any_model(BOOK_CONVNET if BOOK_CONVNET.is_file() else convnet_file)[0]
    context, pg, problems = _page(browser, server, "/conv")
    pg.wait_for_selector("body[data-ready='1']")
    pg.fill("#k", "30")
    with pg.expect_response("**/api/conv") as answer:
        pg.click("#k-next")  # window 31
    pg.locator("#k-text", has_text="window 31 ").wait_for()
    row = json.loads(pg.get_attribute("#row-values", "data-row"))
    fh = net.sequence[0].filter_shape[2]
    expected = im2col(_digit().reshape(1, 1, 28, 28), fh, fh)[31]
    np.testing.assert_allclose(row, expected, atol=5e-6)
    assert answer.value.json()["conv"]["k"] == 31
    # a drawing: the maps the page draws are the library's layer outputs for the same input
    with pg.expect_response("**/api/conv") as answer:
        _draw(pg, DIGITS[3])
    data = answer.value.json()
    seen = np.array(data["input"])  # the drawing as the server read it (5 decimals)
    x = preprocess_digit_steps(load_image(render_strokes(DIGITS[3], tmp_path / "3.png"))).vector
    assert np.abs(seen.reshape(-1) - x).mean() < 0.02  # the same strokes, rendered here
    first = net.sequence[0].forward(seen.reshape(1, 1, 28, 28))[0]
    np.testing.assert_allclose(data["maps"][0]["values"], first, atol=1e-4)
    channels = pg.locator("#maps canvas[data-layer='0']").count()
    assert channels == first.shape[0]
    pg.wait_for_selector("body[data-filters]")
    for lang in ("en", "ko"):
        if lang == "ko":
            pg.click("#lang-toggle")
            pg.wait_for_selector("html[lang='ko']")
        shot = tmp_path / f"conv-{lang}.png"
        pg.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot)
    assert problems == []
    context.close()


def test_an_uploaded_model_predicts_what_the_library_says(browser, server, convnet_file, tmp_path):
    from mitbadak.training.evaluation import load_any_model

    context, pg, problems = _page(browser, server, "/draw")
    answers: list = []
    pg.on("response", lambda r: answers.append(r) if r.url.endswith("/api/predict") else None)
    pg.wait_for_selector("#model option", state="attached")
    pg.set_input_files("#model-upload", str(convnet_file))
    pg.wait_for_selector("#model option[value='upload']", state="attached")
    assert pg.input_value("#model") == "upload"
    net = load_any_model(convnet_file)[0]
    for digit in (3, 7):
        pg.click("#clear")
        _draw(pg, DIGITS[digit])
        pg.wait_for_timeout(700)  # the page's last prediction starts after the pen rests
        pg.wait_for_selector("body[data-pending='0'][data-state='predicted']")
        shown = int(pg.get_attribute("#top-class", "data-prediction"))
        last = answers[-1].json()
        assert last["model"] == "upload"
        x = np.array(last["input"]).reshape(1, 1, 28, 28)  # what the page sent, as read
        expected = net.predict_proba(x)[0]
        np.testing.assert_allclose(last["probabilities"], expected, atol=1e-4)
        assert shown == last["prediction"] == int(np.argmax(expected))
    shot = tmp_path / "draw-upload-en.png"
    pg.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert problems == []
    context.close()
