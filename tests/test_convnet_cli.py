"""The book's chapter 7-8 pickles through the CLI and the data commands: `mitbadak data download
book-convnets` (a local server on 127.0.0.1 stands for the book's repository), then
`load_params("params.pkl")` found where the download put it, `import-weights`, `evaluate` and
`predict`. The real files come from ``../shared/data`` (skipped without it)."""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mitbadak.cli import main
from mitbadak.files import datasets
from mitbadak.files.convnet_params import BookWeightsVersionWarning, import_weights
from mitbadak.files.datasets import registry
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
LOCAL = {  # registry filename -> the shared copy
    "params.pkl": SHARED / "ch07" / "params.pkl",
    "deep_convnet_params.pkl": SHARED / "ch08" / "deep_convnet_params.pkl",
    "params.2022.pkl": SHARED / "ch07" / "params.2022.pkl",
    "deep_convnet_params.2022.pkl": SHARED / "ch08" / "deep_convnet_params.2022.pkl",
}
needs_shared = pytest.mark.skipif(
    not all(p.is_file() for p in LOCAL.values())
    or not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="../shared/data (the book's convnet pickles and the MNIST test set) absent",
)
pytestmark = needs_shared


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("MITBADAK_CACHE", str(root))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    return root


@pytest.fixture
def book_server(monkeypatch):
    """The four files at /<commit>/<path> on 127.0.0.1, the registry pointed there."""
    routes: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            requests.append(self.path)
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name, local in LOCAL.items():
        spec = registry.BOOK_FILES[name]
        route = f"/{spec.commit}/{spec.path}"
        routes[route] = local.read_bytes()
        monkeypatch.setitem(registry.BOOK_FILES, name, replace(spec, urls=(base + route,)))
    yield requests
    httpd.shutdown()
    httpd.server_close()


def test_download_book_convnets_then_list_verify_and_load_params_by_name(
    cache, book_server, tmp_path, monkeypatch, capsys
):
    assert main(["data", "download", "book-convnets"]) == 0
    out = capsys.readouterr().out
    folder = cache / "book-weights"
    assert f"book-convnets: verified files in {folder}" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(LOCAL)
    for name, local in LOCAL.items():
        assert (folder / name).read_bytes() == local.read_bytes()
    assert len(book_server) == 4
    assert main(["data", "verify", "book-convnets"]) == 0
    assert "all files verified" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert ("book-convnets  the book's pretrained weights: params.pkl, deep_convnet_params.pkl, "
            "params.2022.pkl, deep_convnet_params.2022.pkl") in listing  # fmt: skip
    assert main(["data", "path", "book-convnets"]) == 0
    assert capsys.readouterr().out.strip() == str(folder)
    deep = folder / "deep_convnet_params.pkl"
    assert datasets.find_book_weights("deep_convnet_params.pkl") == deep
    # the book's `network.load_params("params.pkl")` from a folder that lacks it
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    source = SimpleConvNet(seed=0).load_params("params.pkl")
    assert source["version"] == "2016 book" and source["file"] == str(folder / "params.pkl")
    with pytest.warns(BookWeightsVersionWarning, match="replaced in 2022"):
        assert DeepConvNet(seed=0).load_params("deep_convnet_params.2022.pkl")["version"] == (
            "2022 master"
        )
    assert main(["data", "download", "book-convnets"]) == 0  # verified: nothing fetched again
    assert len(book_server) == 4


@pytest.mark.parametrize("name, cls, version", [
    ("ch07/params.pkl", SimpleConvNet, "2016 book"),
    ("ch07/params.2022.pkl", SimpleConvNet, "2022 master"),
    ("ch08/deep_convnet_params.pkl", DeepConvNet, "2016 book"),
    ("ch08/deep_convnet_params.2022.pkl", DeepConvNet, "2022 master"),
])  # fmt: skip
def test_import_weights_detects_the_net_and_says_the_version(tmp_path, capsys, name, cls, version):
    out = tmp_path / "net.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI says it in its words, no Python warning
        assert main(["import-weights", str(SHARED / name), str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out}: {cls.__name__} from {SHARED / name} ({version})"
    if version == "2022 master":
        assert "different weights from the book's" in lines[1] and "instead of" in lines[1]
    else:
        assert "as first published (2016)" in lines[1]
    loaded = mitbadak_load(out)
    assert type(loaded) is cls
    assert loaded.metadata["source"]["version"] == version
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BookWeightsVersionWarning)
        direct = import_weights(SHARED / name)
    np.testing.assert_array_equal(loaded.predict(x), direct.predict(x))


def mitbadak_load(path):
    from mitbadak.files.modelfile import load_model

    return load_model(path)


def test_import_weights_of_arrays_that_fit_no_net_names_the_key_and_shapes(tmp_path, capsys):
    from mitbadak.nn.convnets import PARAM_FILES

    net = SimpleConvNet(seed=0)
    arrays = {k: np.asarray(v) for k, v in net.params.items()}
    arrays["W2"] = np.zeros((4000, 100))
    PARAM_FILES["save"](tmp_path / "odd.pkl", arrays, {"kind": "convnet params"})
    assert main(["import-weights", str(tmp_path / "odd.pkl"), str(tmp_path / "o.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"mitbadak: error: {tmp_path / 'odd.pkl'}: W2 has shape (4000, 100), but this "
                   "SimpleConvNet expects (4320, 100) (another network's file?)")  # fmt: skip
    assert not (tmp_path / "o.npz").exists()


def test_evaluate_takes_the_books_convnet_pickles(tmp_path, capsys, monkeypatch):
    """On the packaged MNIST sample's 1,000 test images (for speed): the counts the network's
    own layer path gives (``net.accuracy``, computed once: 998 and 985), and a 2022 file says one
    note line."""
    monkeypatch.chdir(tmp_path)
    for name, correct in (("ch07/params.pkl", 998), ("ch08/deep_convnet_params.2022.pkl", 985)):
        code = main(["evaluate", str(SHARED / name), "--dataset", "mnist-sample", "--json",
                     "--out", str(tmp_path / Path(name).stem)])  # fmt: skip
        captured = capsys.readouterr()
        assert code == 0, captured.err
        report = json.loads(captured.out)
        assert (report["n"], report["correct"]) == (1000, correct)
        if "2022" in name:
            assert captured.err.strip().splitlines()[0].startswith(
                "note: deep_convnet_params.2022.pkl: the book's ch08/deep_convnet_params.pkl "
                "from the repository's master (replaced in 2022)"
            )


def test_predict_reshapes_a_digit_image_for_a_convnet(tmp_path, capsys):
    from PIL import Image

    from mitbadak.files.datasets.idx import read_idx

    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")[:4]
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")[:4]
    paths = []
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / f"d{i}.png")
        paths.append(str(tmp_path / f"d{i}.png"))
    for name in ("ch07/params.pkl", "ch08/deep_convnet_params.pkl"):
        assert main(["predict", str(SHARED / name), *paths, "--json"]) == 0
        results = json.loads(capsys.readouterr().out)
        assert [r["prediction"] for r in results] == [int(t) for t in labels]


def test_serve_draw_page_takes_a_convnet_model(tmp_path):
    """`mitbadak serve params.pkl`: the model list names the convnet and its version, and the
    draw page's prediction is the network's own for the digit (no layer walk for convnets)."""
    pytest.importorskip("starlette.testclient", reason="the web extra is not installed")
    from starlette.testclient import TestClient

    from mitbadak.files.datasets.idx import read_idx
    from mitbadak.web.app import create_app
    from mitbadak.web.models import ModelRegistry

    reg = ModelRegistry()
    simple = reg.add(SHARED / "ch07" / "params.pkl")
    deep = reg.add(SHARED / "ch08" / "deep_convnet_params.pkl")
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")[:3]
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")[:3]
    with TestClient(create_app(reg)) as client:
        models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
        assert models[simple.id]["label"] == "params.pkl (SimpleConvNet, 2016 book)"
        assert models[deep.id]["accuracy"] == 0.9935
        for entry in (simple, deep):
            net = entry.network()
            for img, label in zip(images, labels, strict=True):
                pixels = (img / 255.0).reshape(-1).tolist()
                r = client.post("/api/predict", json={"pixels": pixels, "model": entry.id})
                assert r.status_code == 200, r.text
                data = r.json()
                expected = net.predict_proba((img / 255.0).reshape(1, 1, 28, 28))[0]
                np.testing.assert_allclose(data["probabilities"], expected, rtol=1e-5, atol=1e-7)
                assert data["prediction"] == int(label) and data["layers"] == []
