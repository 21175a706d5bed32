"""The convolution page and model uploads: the library's step-through data (against im2col, the
layers and central differences), the API, and the page in Chromium (real values read back from
what it was sent and drew). Screenshots in English and Korean go to $MITBADAK_SCREENSHOTS."""

from __future__ import annotations

import json
import re
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


def test_the_pooling_opens_on_the_most_active_channel_at_its_largest_value():
    net, x = _small_net(), _digit()
    start = cs.busiest_pool_window(net, x)
    pooled = cs.feature_maps(net, x)["maps"][1]["values"]  # (4, 12, 12)
    sums = pooled.reshape(4, -1).sum(axis=1)
    assert start["channel"] == int(np.argmax(sums)) and sums[start["channel"]] == sums.max()
    step = cs.pool_step(net, x, start["k"], start["channel"])
    assert step["kept"] == pooled[start["channel"]].max() > 0  # a kept value, never a blank
    with pytest.raises(cs.NotAConvNet) as info:
        cs.pool_step(net, x, 0, channel=4)
    assert info.value.argument == "channel" and "from 0 to 3, got 4" in str(info.value)


def test_a_runs_initial_weights_are_drawn_as_training_draws_them():
    from mitbadak.nn.activations import ACTIVATIONS
    from mitbadak.nn.networks import MultiLayerNet
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import build_network, initial_weights_rng

    config = TrainConfig(model="mlp", hidden=[16], seed=5)
    built = build_network(config)
    again = MultiLayerNet(784, [16], 10, activation=config.activation, dtype=config.dtype,
                          weight_init=ACTIVATIONS[config.activation].default_init,
                          seed=initial_weights_rng(5))  # fmt: skip
    for name in built.params:
        np.testing.assert_array_equal(again.params[name], built.params[name])


def test_the_initial_filters_are_the_same_recipe_drawn_from_the_seed():
    conv = {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1}
    trained = SimpleConvNet(conv_param=conv, hidden_size=12, seed=7)
    fresh = cs.first_filters(trained).copy()
    trained.params["W1"][...] += 1.0
    np.testing.assert_array_equal(cs.first_filters(cs.initial_network(trained, 7)), fresh)


@pytest.fixture(scope="module")
def convnet_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("convnet") / "small-convnet.npz"
    save_model(path, _small_net(seed=11))
    return path


RUN_SEED = 5


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """A folder of runs holding one convnet run, as ``mitbadak train`` lays it out: its
    ``config.json`` (seed 5) and ``model.npz`` (the library's writer; weights moved from the
    ones the run drew, as training moves them)."""
    from mitbadak.training.runs import initial_weights_rng

    root = tmp_path_factory.mktemp("runs")
    run = root / "conv-seed5"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": {"seed": RUN_SEED, "epochs": 1}}))
    conv = {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1}
    net = SimpleConvNet(conv_param=conv, hidden_size=12, seed=initial_weights_rng(RUN_SEED))
    for name in net.params:
        net.params[name][...] += 0.05
    save_model(run / "model.npz", net, metadata={"training": {"seed": RUN_SEED}})
    return root


@pytest.fixture
def api(convnet_file, runs_dir):
    pytest.importorskip("starlette", reason="the web extra is not installed")
    from starlette.testclient import TestClient

    from mitbadak.web.app import create_app
    from mitbadak.web.models import ModelRegistry

    registry = ModelRegistry()
    registry.add(convnet_file)
    registry.add_runs(runs_dir)
    app = create_app(registry, runs_dir=runs_dir)
    with TestClient(app) as c:
        c.app_ctx = app.state.ctx
        yield c


JSON = {"content-type": "application/json"}


def test_the_api_opens_the_pooling_where_the_drawing_is_and_keeps_a_chosen_window(api):
    net, x = _small_net(seed=11), _digit()
    start = cs.busiest_pool_window(net, x)
    data = api.post("/api/conv", json={"model": "file-small-convnet", "sample": 0}).json()
    assert [data["pool"]["channel"], data["pool"]["k"]] == [start["channel"], start["k"]]
    assert data["pool"]["kept"] > 0 and data["backward"]["channel"] == start["channel"]
    data = api.post("/api/conv", json={"sample": 0, "channel": 1, "pool_k": 7}).json()
    assert [data["pool"]["channel"], data["pool"]["k"]] == [1, 7]


def test_a_run_folder_picked_by_id_works_and_its_before_filters_are_its_seeds(api, runs_dir):
    from mitbadak.training.evaluation import load_any_model
    from mitbadak.training.runs import initial_weights_rng

    models = {m["id"]: m for m in api.get("/api/models").json()["models"]}
    run = models["run-conv-seed5"]
    assert (run["kind"], run["name"], run["network"], run["layers"]) == (
        "run", "conv-seed5", "SimpleConvNet", None)  # fmt: skip
    net = load_any_model(runs_dir / "conv-seed5")[0]
    data = api.post("/api/conv", json={"model": run["id"], "sample": 3, "k": 100}).json()
    x = np.array(data["input"]).reshape(1, 1, 28, 28)
    np.testing.assert_allclose(data["maps"][0]["values"], net.sequence[0].forward(x)[0],
                               atol=1e-4)  # fmt: skip
    f = api.get("/api/conv/filters", params={"model": run["id"]}).json()
    assert (f["source"], f["seed"]) == ("seed", RUN_SEED)
    conv = {"filter_num": 4, "filter_size": 5, "pad": 0, "stride": 1}
    drawn = SimpleConvNet(conv_param=conv, hidden_size=12, seed=initial_weights_rng(RUN_SEED))
    np.testing.assert_allclose(f["initial"], drawn.params["W1"], atol=5e-5)
    np.testing.assert_allclose(f["final"], drawn.params["W1"] + 0.05, atol=5e-5)
    f = api.get("/api/conv/filters", params={"model": "file-small-convnet"}).json()
    assert (f["source"], f["seed"]) == ("recipe", 0)  # a file without a seed: said so


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"sample": 0, "k": "3"}, "k", "whole number"),
        ({"sample": 0, "k": -1}, "k", "whole number"),
        ({"sample": 0, "k": 576}, "k", "from 0 to 575, got 576"),
        ({"sample": 0, "k": 1.5}, "k", "whole number"),
        ({"sample": 0, "k": True}, "k", "whole number"),
        ({"sample": 0, "k": None}, "k", "whole number"),
        ({"sample": 0, "channel": 4}, "channel", "from 0 to 3, got 4"),
        ({"sample": 0, "channel": -2}, "channel", "whole number"),
        ({"sample": 0, "channel": [0]}, "channel", "whole number"),
        ({"sample": 0, "pool_k": 144}, "pool_k", "from 0 to 143, got 144"),
        ({"sample": 0, "pool_k": {"a": 1}}, "pool_k", "whole number"),
        ({"sample": 100}, "sample", "from 0 to 99"),
        ({"sample": "0"}, "sample", "whole number"),
        ({"pixels": [0.5] * 783}, "pixels", "784"),
        ({"image": 5}, "image", ""),
        ({"model": 7, "sample": 0}, "model", "string"),
        ({}, "pixels", "exactly one"),
    ],
)
def test_odd_fields_are_400s_naming_the_field(api, body, field, words):
    r = api.post("/api/conv", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert f"'{field}'" in error and words in error, error
    assert api.post("/api/conv", json={"sample": 0}).status_code == 200  # the server is fine


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"", 400, "malformed JSON"),
        (b"[]", 400, "must be an object"),
        (b'{"sample": 0, "k": 1' + b"0" * 400 + b"}", 400, "'k'"),
        (b'{"sample": 0, "k": 1e400}', 400, "'k'"),
        (b'{"sample": 0, "channel": -1e400}', 400, "'channel'"),
        (b'{"pixels": [' + b"1e400," * 783 + b"1]}", 400, "pixels"),
        (b'{"sample": 0, "x": 1}', 400, "unknown field"),
        (b'{"sample": 1' + b"0" * 5000 + b"}", 400, "malformed JSON"),
    ],
)
def test_odd_bodies_are_400s_with_one_short_line(api, raw, status, words):
    r = api.post("/api/conv", content=raw, headers=JSON)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert words in error and len(error) < 300 and "\n" not in error, error


def test_the_conv_routes_refuse_foreign_pages_and_hosts(api):
    evil = "http://evil.example"
    body = json.dumps({"sample": 0}).encode()
    assert api.post("/api/conv", content=body, headers={**JSON, "origin": evil}).status_code == 403
    r = api.get("/api/conv/filters", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    assert api.post("/api/conv", content=body, headers={**JSON, "host": "evil.example"}
                    ).status_code == 400  # fmt: skip
    assert api.get("/api/conv/filters", headers={"host": "evil.example"}).status_code == 400
    r = api.post("/api/models/upload", content=b"PK\x03\x04",
                 headers={"content-type": "application/octet-stream", "host": "evil.example"})
    assert r.status_code == 400 and api.get("/api/models").json()["models"]
    for query in ({"model": "../../etc/passwd"}, {"model": "x" * 5000}):
        r = api.get("/api/conv/filters", params=query)
        assert r.status_code == 404 and len(r.json()["error"]) < 300


def test_a_flood_of_uploads_stops_at_the_cap(api, convnet_file):
    from mitbadak.web.uploads import MAX_UPLOADS

    raw = {"content-type": "application/octet-stream"}
    model = convnet_file.read_bytes()
    codes = [api.post("/api/models/upload", content=b"not a model", headers=raw).status_code
             for _ in range(20)]  # fmt: skip
    assert set(codes) == {415}  # refused ones take no place
    codes = [api.post("/api/models/upload?name=x.npz", content=model, headers=raw).status_code
             for _ in range(MAX_UPLOADS + 4)]  # fmt: skip
    assert codes == [200] * MAX_UPLOADS + [409] * 4
    uploads = api.app_ctx.extra["uploads"]
    assert len(list(uploads.folder.iterdir())) == MAX_UPLOADS and uploads.full
    r = api.post("/api/models/upload", content=b"", headers=raw)  # answered before the body
    assert r.status_code == 409 and "restart" in r.json()["error"]
    assert api.post("/api/conv", json={"model": "upload", "sample": 0}).status_code == 200


def test_an_uploaded_models_fields_name_its_class_for_the_pages_label(api, convnet_file):
    raw = {"content-type": "application/octet-stream"}
    r = api.post("/api/models/upload?name=my%20net.npz", content=convnet_file.read_bytes(),
                 headers=raw)  # fmt: skip
    m = r.json()["model"]
    assert (m["name"], m["network"], m["kind"], m["layers"]) == (
        "my net.npz", "SimpleConvNet", "upload", None)  # fmt: skip
    assert m["label"] == "my net.npz (SimpleConvNet) (uploaded)"
    assert "upload-" not in m["label"]


# -- the page in Chromium ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(convnet_file, runs_dir):
    models = [str(BOOK_CONVNET)] if BOOK_CONVNET.is_file() else [str(convnet_file)]
    srv = Server(*models, "--runs", str(runs_dir))
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
    def asks_for_31(response) -> bool:  # the fill's own (debounced) k=30 question may answer too
        body = response.request.post_data
        return response.url.endswith("/api/conv") and bool(body) and json.loads(body)["k"] == 31

    with pg.expect_response(asks_for_31) as answer:
        pg.click("#k-next")  # window 31
    pg.locator("#k-text", has_text="window 31 ").wait_for()
    row = json.loads(pg.get_attribute("#row-values", "data-row"))
    fh = net.sequence[0].filter_shape[2]
    expected = im2col(_digit().reshape(1, 1, 28, 28), fh, fh)[31]
    np.testing.assert_allclose(row, expected, atol=5e-6)
    assert answer.value.json()["conv"]["k"] == 31
    # a drawing: the maps the page draws are the library's layer outputs for the same input
    drawing = re.compile(r'"image"')  # not a late answer for the slider's test image
    with pg.expect_response(lambda r: r.url.endswith("/api/conv")
                            and bool(drawing.search(r.request.post_data or ""))) as answer:
        _draw(pg, DIGITS[3])
    data = answer.value.json()
    seen = np.array(data["input"])  # the drawing as the server read it (5 decimals)
    x = preprocess_digit_steps(load_image(render_strokes(DIGITS[3], tmp_path / "3.png"))).vector
    assert np.abs(seen.reshape(-1) - x).mean() < 0.02  # the same strokes, rendered here
    first = net.sequence[0].forward(seen.reshape(1, 1, 28, 28))[0]
    np.testing.assert_allclose(data["maps"][0]["values"], first, atol=1e-4)
    # a new drawing opens the pooling where it is: the library's busiest channel and window
    start = cs.busiest_pool_window(net, seen.reshape(-1))
    assert [data["pool"]["channel"], data["pool"]["k"]] == [start["channel"], start["k"]]
    pg.wait_for_function(f"document.getElementById('channel').value === '{start['channel']}'")
    assert data["pool"]["kept"] > 0 and pg.input_value("#pool-k") == str(start["k"])
    fn = first.shape[0]  # the im2col panel's output map is that channel's too
    assert pg.text_content("#out-text").startswith(f"map {start['channel']} of {fn}:")
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


def _predict_json(model: Path, npy: Path) -> list[float]:
    """`mitbadak predict MODEL that.npy --json --top 10`: the ten probabilities, by class."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mitbadak", "predict", str(model), str(npy), "--json",
         "--top", "10"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    top = json.loads(out)[0]["top"]
    return [p for _, p in sorted((d["class"], d["probability"]) for d in top)]


def test_an_uploaded_model_predicts_what_mitbadak_predict_says(
    browser, server, convnet_file, tmp_path
):
    context, pg, problems = _page(browser, server, "/draw")
    answers: list = []
    pg.on("response", lambda r: answers.append(r) if r.url.endswith("/api/predict") else None)
    pg.wait_for_selector("#model option", state="attached")
    pg.set_input_files("#model-upload", str(convnet_file))
    pg.wait_for_selector("#model option[value='upload']", state="attached")
    assert pg.input_value("#model") == "upload"
    option = pg.locator("#model option[value='upload']")
    label = option.text_content()
    assert label.startswith("small-convnet.npz · SimpleConvNet · uploaded · ")
    assert "784-10" not in label and "upload-" not in label
    for digit in (3, 7):
        pg.click("#clear")
        _draw(pg, DIGITS[digit])
        pg.wait_for_timeout(700)  # the page's last prediction starts after the pen rests
        pg.wait_for_selector("body[data-pending='0'][data-state='predicted']")
        last = answers[-1].json()
        assert last["model"] == "upload"
        shown = pg.evaluate("document.getElementById('bars').data[0].y")
        assert shown == last["probabilities"]
        with pg.expect_download() as info:
            pg.click("#download-input")
        npy = tmp_path / f"{digit}-{info.value.suggested_filename}"
        info.value.save_as(npy)
        # the same 784 numbers through the CLI: its probabilities (rounded to 6 places)
        np.testing.assert_allclose(_predict_json(convnet_file, npy), shown, atol=5e-7, rtol=0)
        assert int(pg.get_attribute("#top-class", "data-prediction")) == int(np.argmax(shown))
    shot = tmp_path / "draw-upload-en.png"
    pg.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    pg.click("#lang-toggle")
    pg.wait_for_selector("html[lang='ko']")
    label = option.text_content()
    assert label.startswith("small-convnet.npz · SimpleConvNet · 올린 파일 · "), label
    assert "정확도 기록 없음" in label
    shot = tmp_path / "draw-upload-ko.png"
    pg.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    pg.click("#lang-toggle")
    assert problems == []
    context.close()


def test_the_conv_page_takes_a_run_folder_by_id_with_its_seeds_filters(browser, server, tmp_path):
    context, pg, problems = _page(browser, server, "/conv", locale="ko-KR")
    pg.wait_for_selector("body[data-ready='1']")
    with pg.expect_response("**/api/conv/filters**") as answer:
        pg.select_option("#model", "run-conv-seed5")
    assert answer.value.json()["source"] == "seed"
    pg.wait_for_selector("body[data-filters='run-conv-seed5']")
    assert pg.get_attribute("#filters-source", "data-source") == "seed"
    assert "시드 5" in pg.text_content("#filters-source")
    assert pg.locator("#f-before canvas").count() == 4
    label = pg.locator("#model option[value='run-conv-seed5']").text_content()
    assert label.startswith("conv-seed5 · SimpleConvNet · "), label
    shot = tmp_path / "conv-run-ko.png"
    pg.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert problems == []
    context.close()


def test_a_server_without_a_convnet_says_how_to_get_one(browser, tmp_path):
    """A fresh clone's `mitbadak serve` has only the demo MLP: the page says, where its panels
    start and in the page's language, that it needs a convnet and the commands that give one,
    instead of blank panels with a refusal in the status line only."""
    from mitbadak.files.modelfile import save_model
    from mitbadak.nn.networks import MultiLayerNet

    mlp = tmp_path / "mlp.npz"
    save_model(mlp, MultiLayerNet(784, [8], 10, seed=0))
    empty_runs = tmp_path / "runs"
    empty_runs.mkdir()
    srv = Server(str(mlp), "--runs", str(empty_runs))
    try:
        for locale, words in (("en-US", "mitbadak data download book-convnets"),
                              ("ko-KR", "합성곱 신경망")):
            context, pg, problems = _page(browser, srv, "/conv", locale)
            try:
                pg.wait_for_selector("#conv-notice:not([hidden])", timeout=15_000)
                if locale == "ko-KR" and pg.get_attribute("html", "lang") != "ko":
                    pg.click("#lang-toggle")  # the notice follows a language switch
                text = pg.text_content("#conv-notice")
                assert words in text and "mitbadak train --model convnet" in text
                assert not [p for p in problems if "400" not in p]  # the refusal is expected
            finally:
                context.close()
    finally:
        rc, err = srv.stop()
    assert rc == 0 and "Traceback" not in err, err
