"""The playground's JSON API through Starlette's TestClient: answers, limits and refusals."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

WEB_MISSING = "the web extra is not installed: pip install 'mitbadak[web]'"
pytest.importorskip("starlette", reason=WEB_MISSING)
pytest.importorskip("starlette.testclient", reason="Starlette's TestClient needs httpx2")

from _webtools import BOOK_WEIGHTS, DIGITS, render_strokes, train_small_model  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from mitbadak.files.photos import load_image, preprocess_digit  # noqa: E402
from mitbadak.training.evaluation import load_any_model  # noqa: E402
from mitbadak.web.app import create_app  # noqa: E402
from mitbadak.web.models import ModelRegistry  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_small_model(tmp_path_factory.getbasetemp() / "small")


@pytest.fixture(scope="module")
def registry(model_dir) -> ModelRegistry:
    reg = ModelRegistry()
    reg.add(model_dir)
    if BOOK_WEIGHTS.is_file():
        reg.add(BOOK_WEIGHTS)
    return reg


@pytest.fixture(scope="module")
def client(registry):
    with TestClient(create_app(registry)) as c:
        yield c


@pytest.fixture(scope="module")
def seven_png(tmp_path_factory) -> Path:
    return render_strokes(DIGITS[7], tmp_path_factory.mktemp("digits") / "seven.png")


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _expected(model_dir: Path, png: Path) -> np.ndarray:
    """What `mitbadak predict` computes for this file."""
    network, _ = load_any_model(model_dir)
    return network.predict_proba(preprocess_digit(load_image(png))[None, :])[0]


# -- answers ---------------------------------------------------------------------------------


def test_models_list_ids_and_accuracy_from_metadata(client, model_dir):
    data = client.get("/api/models").json()
    ids = [m["id"] for m in data["models"]]
    assert data["default"] == "run-small" == ids[0]
    small = data["models"][0]
    from mitbadak.files.modelfile import read_metadata

    meta = read_metadata(model_dir / "model.npz")
    assert small["accuracy"] == meta["final_metrics"]["test_acc"]
    assert small["layers"] == [784, 64, 32, 10]
    assert small["dataset"] == "mnist-sample"
    assert "path" not in small  # the API never hands out file paths
    if BOOK_WEIGHTS.is_file():
        book = data["models"][1]
        assert book["id"] == "book"
        assert book["layers"] == [784, 50, 100, 10] and book["activation"] == "sigmoid"
        assert book["accuracy"] == 0.9352 and book["accuracy_note"] == "book"


def test_predict_png_equals_mitbadak_predict(client, model_dir, seven_png):
    expected = _expected(model_dir, seven_png)
    answers = [
        client.post("/api/predict", json={"image": _data_url(seven_png)}),
        client.post(
            "/api/predict",
            content=seven_png.read_bytes(),
            headers={"content-type": "image/png"},
        ),
        client.post("/api/predict", files={"image": ("seven.png", seven_png.read_bytes())}),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        data = r.json()
        assert data["model"] == "run-small"
        assert data["probabilities"] == [float(p) for p in expected]  # the very same numbers
        assert data["prediction"] == int(np.argmax(expected)) == 7
        x = preprocess_digit(load_image(seven_png))
        np.testing.assert_allclose(data["input"], x, atol=5e-5)


def test_predict_returns_steps_layers_and_weights(client, model_dir, seven_png):
    data = client.post("/api/predict", json={"image": _data_url(seven_png)}).json()
    network, _ = load_any_model(model_dir)
    x = preprocess_digit(load_image(seven_png))
    np.testing.assert_allclose(data["input"], x, atol=5e-5)
    # Hidden layers: ReLU outputs of the right sizes; the scores are the network's own.
    assert [(layer["name"], layer["units"]) for layer in data["layers"]] == [
        ("Relu1", 64),
        ("Relu2", 32),
    ]
    h1 = np.maximum(x @ network.params["W1"] + network.params["b1"], 0)
    np.testing.assert_allclose(data["layers"][0]["values"], h1, atol=1e-3)
    np.testing.assert_allclose(data["scores"], network.predict(x), atol=1e-4)  # x is one sample
    top = data["top_units"]
    assert len(top["units"]) == 8
    assert top["units"] == [int(u) for u in np.argsort(-h1, kind="stable")[:8]]
    for unit, w in zip(top["units"], top["weights"], strict=True):
        np.testing.assert_allclose(w, network.params["W1"][:, unit], atol=1e-3)
    steps = data["steps"]
    assert steps["inverted"] is True  # black ink on white paper
    assert max(steps["resized_size"]) == 20
    top_, bottom, left, right = steps["box"]
    assert [bottom - top_, right - left] == steps["crop_size"]
    from PIL import Image

    final = Image.open(io.BytesIO(base64.b64decode(steps["final"].split(",", 1)[1])))
    assert final.size == (28, 28)
    np.testing.assert_allclose(np.asarray(final) / 255.0, x.reshape(28, 28), atol=1 / 255)


def test_predict_pixels_flat_and_rows(client, model_dir, seven_png):
    x = preprocess_digit(load_image(seven_png))
    network, _ = load_any_model(model_dir)
    expected = network.predict_proba(x[None, :])[0]
    flat = client.post("/api/predict", json={"pixels": x.tolist()}).json()
    rows = client.post("/api/predict", json={"pixels": x.reshape(28, 28).tolist()}).json()
    assert flat["probabilities"] == rows["probabilities"] == [float(p) for p in expected]
    assert flat["steps"] is None


@pytest.mark.skipif(not BOOK_WEIGHTS.is_file(), reason="../shared/data is not present")
def test_predict_with_the_books_weights(client, seven_png):
    r = client.post("/api/predict", json={"image": _data_url(seven_png), "model": "book"})
    assert r.status_code == 200
    data = r.json()
    assert data["model"] == "book"
    assert [layer["units"] for layer in data["layers"]] == [50, 100]
    assert all(0 < v < 1 for v in data["layers"][0]["values"])  # sigmoid
    assert data["prediction"] == int(np.argmax(_expected(BOOK_WEIGHTS, seven_png)))


# -- refusals --------------------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is tiny."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _compressed_bomb() -> bytes:
    """A real, valid 5000x5000 black PNG: a small file that decodes to 25 million pixels."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (5000, 5000), 0).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (b"{not json", "application/json", "malformed JSON"),
        (b"[1, 2, 3]", "application/json", "must be an object"),
        (b"", "application/json", "empty request body"),
        (json.dumps({"pixels": [0.5] * 783}).encode(), "application/json", "784 numbers"),
        (json.dumps({"pixels": [[0.5] * 28] * 27}).encode(), "application/json", "784"),
        (b'{"pixels": [NaN' + b", 0.5" * 783 + b"]}", "application/json", "NaN"),
        (b'{"pixels": [Infinity' + b", 0.5" * 783 + b"]}", "application/json", "NaN"),
        (json.dumps({"pixels": ["1"] * 784}).encode(), "application/json", "numbers"),
        (json.dumps({"pixels": [True] * 784}).encode(), "application/json", "numbers"),
        (json.dumps({"pixels": [2.0] * 784}).encode(), "application/json", "[0, 1]"),
        (b'{"pixels": [1e999' + b", 0.5" * 783 + b"]}", "application/json", "NaN"),
        (json.dumps({"pixels": 7}).encode(), "application/json", "list of 784"),
        (json.dumps({"image": "data:text/html;base64,AAAA"}).encode(), "application/json", "PNG"),
        (json.dumps({"image": "%%%not base64"}).encode(), "application/json", "base64"),
        (json.dumps({"image": 12}).encode(), "application/json", "data-URL"),
        (json.dumps({"image": "", "pixels": []}).encode(), "application/json", "exactly one"),
        (json.dumps({"picture": "x"}).encode(), "application/json", "unknown field"),
        (json.dumps({"pixels": [0.0] * 784, "model": 3}).encode(), "application/json", "string"),
        (b"GIF89a not really", "image/png", "not a readable image"),
        (b"hello", "image/png", "not a readable image"),
        (b"", "image/png", "empty"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", "not a readable image"),
        (b"x", "text/plain", "Content-Type"),
    ],
)
def test_bad_requests_get_400_json(client, body, ctype, needle):
    r = client.post("/api/predict", content=body, headers={"content-type": ctype})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert needle in r.json()["error"]


def test_blank_and_truncated_images(client, seven_png):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (280, 280), 255).save(buf, format="PNG")
    r = client.post("/api/predict", content=buf.getvalue(), headers={"content-type": "image/png"})
    assert r.status_code == 400 and "no digit found" in r.json()["error"]
    cut = seven_png.read_bytes()[:300]
    r = client.post("/api/predict", content=cut, headers={"content-type": "image/png"})
    assert r.status_code == 400 and "error" in r.json()
    assert "/tmp" not in r.json()["error"]  # no server paths in messages


@pytest.mark.parametrize("size", [(60_000, 60_000), (20_000, 20_000), (5000, 1)])
def test_huge_dimensions_are_refused_before_decoding(client, size):
    r = client.post(
        "/api/predict", content=_png_header_only(*size), headers={"content-type": "image/png"}
    )
    assert r.status_code == 400
    assert "pixels" in r.json()["error"] or "dimensions" in r.json()["error"]


def test_decompression_bomb_is_refused(client):
    bomb = _compressed_bomb()
    assert len(bomb) < 1_000_000  # it passes the body limit: only the dimension check stops it
    r = client.post("/api/predict", content=bomb, headers={"content-type": "image/png"})
    assert r.status_code == 400
    assert "5000x5000" in r.json()["error"]


def test_bodies_over_1mb_get_413(client):
    big = b"\x00" * 1_000_001
    r = client.post("/api/predict", content=big, headers={"content-type": "image/png"})
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: counted while it arrives
        for _ in range(20):
            yield b"\x00" * 100_000

    r = client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
    assert r.status_code == 413
    ok = b"{" + b" " * 999_998 + b"}"  # exactly 1,000,000 bytes is allowed
    r = client.post("/api/predict", content=ok, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "exactly one" in r.json()["error"]


def test_unknown_model_is_404(client, seven_png):
    r = client.post("/api/predict", json={"image": _data_url(seven_png), "model": "nope"})
    assert r.status_code == 404
    assert "unknown model 'nope'" in r.json()["error"]
    r = client.post(
        "/api/predict?model=../../etc/passwd",
        content=seven_png.read_bytes(),
        headers={"content-type": "image/png"},
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/app.py",
        "/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2fapp.py",
        "/static/..%5capp.py",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/nope.js",
        "/vendor/../pyproject.toml",
        "/api/../../etc/passwd",
        "/static/common.js%00.html",
    ],
)
def test_no_file_outside_the_static_folder(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "import" not in r.text and "root:" not in r.text


def test_pages_static_files_and_plotly_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/draw").text == page.text
    js = client.get("/static/draw.js")
    assert js.status_code == 200 and "api/predict" in js.text
    plotly = client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert b"plotly" in plotly.content[:2000].lower()


def test_wrong_method_and_unknown_api_are_json(client):
    r = client.get("/api/predict")
    assert r.status_code == 405 and r.json() == {"error": "method not allowed"}
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.json() == {"error": "not found"}


def test_foreign_host_header_is_refused(client):
    r = client.get("/api/models", headers={"host": "attacker.example"})
    assert r.status_code == 400 and "this machine" in r.json()["error"]
    r = client.get("/api/models", headers={"host": "127.0.0.1.attacker.example:8000"})
    assert r.status_code == 400
    # DNS rebinding: a name that starts like a loopback one is still another machine's
    for host in ("[::1].evil.example", "[::1].evil.example:80", "localhost.evil.example",
                 "127.0.0.1:80.evil.example", "[::1]x", "localhost:80:80", "", "[evil]:80"):
        r = client.get("/api/models", headers={"host": host})
        assert r.status_code == 400, host
        assert r.headers["content-type"] == "application/json"
    # the loopback names, with the port the server answers on (the TestClient's: 80) or none
    for host in ("localhost:80", "[::1]:80", "127.0.0.1:80", "LOCALHOST", "[::1]", "testserver"):
        assert client.get("/api/models", headers={"host": host}).status_code == 200, host
    # another port is another server
    r = client.get("/api/models", headers={"host": "localhost:8000"})
    assert r.status_code == 400 and "localhost:8000" in r.json()["error"]


def test_server_survives_everything(client, seven_png):
    for body in (b"\xff" * 1000, b"{}", b"null", b'"x"', b"[]" * 10):
        client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    r = client.post("/api/predict", json={"image": _data_url(seven_png)})
    assert r.status_code == 200 and r.json()["prediction"] == 7


def test_registry_refuses_bad_models(tmp_path):
    from mitbadak.core.errors import MitbadakError

    reg = ModelRegistry()
    with pytest.raises(MitbadakError, match="no such model file"):
        reg.add(tmp_path / "missing.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MitbadakError, match="without a model.npz"):
        reg.add(tmp_path / "empty")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MitbadakError):
        reg.add(tmp_path / "junk.npz")
    # A runs folder with one broken run: the others are offered, the broken one reported.
    runs = tmp_path / "runs"
    (runs / "broken").mkdir(parents=True)
    (runs / "broken" / "model.npz").write_bytes(b"junk")
    assert reg.add_runs(runs) == [] and len(reg.skipped) == 1
