"""`mitbadak serve` as a real server (uvicorn on 127.0.0.1, a free port), spoken to over sockets.

Raw sockets, because HTTP clients clean up what these tests need to send as is: ``..`` in paths
and bodies without a Content-Length.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

WEB_MISSING = "the web extra is not installed: pip install 'mitbadak[web]'"
pytest.importorskip("uvicorn", reason=WEB_MISSING)
pytest.importorskip("starlette", reason=WEB_MISSING)

from _webtools import DIGITS, Server, render_strokes, train_small_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_small_model(tmp_path_factory.getbasetemp() / "small")


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = Server(str(model_dir), "--runs", str(tmp_path_factory.mktemp("no-runs")))
    yield srv
    srv.stop()


def _raw(url: str, request: bytes, *, chunks: list[bytes] = ()) -> tuple[int, bytes]:
    """Send bytes as they are; return (status, body). Body chunks are sent one by one."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(request)
        try:
            for chunk in chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end: that is the point
        data = b""
        while True:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body


def _get(url: str, path: str) -> tuple[int, bytes]:
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    return _raw(url, req)


def test_prints_a_loopback_url_and_serves(server):
    assert server.first_line.startswith("mitbadak playground: http://127.0.0.1:")
    status, body = _get(server.url, "/api/models")
    assert status == 200
    assert json.loads(body)["models"][0]["id"] == "run-small"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/../../../../pyproject.toml",
        "/static/../../../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/cli/serve.py",
        "/static/..%2f..%2fcli%2fserve.py",
        "/../../etc/passwd",
        "/static/./../models.py",
        "/vendor/../../pyproject.toml",
        "//etc/passwd",
    ],
)
def test_path_traversal_gets_nothing(server, path):
    status, body = _get(server.url, path)
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body


def test_chunked_body_over_1mb_is_cut_off_while_reading(server):
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    piece = b"\x00" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    status, body = _raw(server.url, head, chunks=[chunk] * 40)  # 2.6 MB, no Content-Length
    assert status == 413
    assert b"limit" in body
    assert _get(server.url, "/api/models")[0] == 200  # still serving


def test_announced_length_over_1mb_is_refused_without_reading(server):
    head = (
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Content-Length: 50000000\r\nConnection: close\r\n\r\n"
    )
    status, _ = _raw(server.url, head)
    assert status == 413


def test_predict_over_the_wire_equals_cli(server, model_dir, tmp_path):
    png = render_strokes(DIGITS[4], tmp_path / "four.png")
    data = png.read_bytes()
    req = (
        f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data
    status, body = _raw(server.url, req)
    assert status == 200
    cli = subprocess.run(
        [sys.executable, "-m", "mitbadak", "predict", str(model_dir), str(png), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = json.loads(cli.stdout)[0]
    answer = json.loads(body)
    assert answer["prediction"] == expected["prediction"]
    for entry in expected["top"]:
        got = answer["probabilities"][entry["class"]]
        assert got == pytest.approx(entry["probability"], abs=1e-6)


def test_ctrl_c_stops_cleanly(model_dir, tmp_path):
    srv = Server(str(model_dir), "--runs", str(tmp_path))
    assert _get(srv.url, "/api/models")[0] == 200
    rc, err = srv.stop()
    assert rc == 0, err
    assert "Traceback" not in err
    assert "stopped" in err


# The default recipe runs 20 epochs; the test shortens it to 2 (same recipe otherwise) to keep
# the suite fast on a busy machine.
TWO_EPOCHS = (
    "import functools, mitbadak.training.recipes as r\n"
    "r.TrainConfig = functools.partial(r.TrainConfig, epochs=2)"
)


def test_with_nothing_given_it_trains_the_default_recipe_first(tmp_path):
    runs = tmp_path / "runs"
    srv = Server("--runs", str(runs), prelude=TWO_EPOCHS)
    try:
        status, body = _get(srv.url, "/api/models")
        models = json.loads(body)["models"]
        assert [m["id"] for m in models] == ["run-serve-default"]
        assert models[0]["dataset"] == "mnist-sample" and models[0]["accuracy"] > 0.7
        assert models[0]["layers"] == [784, 256, 128, 10]  # the default recipe
    finally:
        rc, err = srv.stop()
    assert rc == 0
    assert "training the default recipe on the built-in mnist-sample" in err
    assert "epoch   2" in err  # the progress lines
    assert (runs / "serve-default" / "model.npz").is_file()
    assert (runs / "serve-default" / "config.json").is_file()


def _cli(*args: str, prelude: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    code = f"{prelude}\nimport sys\nfrom mitbadak.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )


BLOCK_WEB = "import sys\nfor m in ('uvicorn', 'starlette'):\n    sys.modules[m] = None"


def test_without_the_web_extra_one_line_says_how_to_install(tmp_path):
    r = _cli("serve", prelude=BLOCK_WEB, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mitbadak: error: mitbadak serve needs the web extra")
    assert "pip install 'mitbadak[web]'" in lines[0]
    # Every other command still works without it.
    r = _cli("--help", prelude=BLOCK_WEB)
    assert r.returncode == 0 and "serve" in r.stdout
    r = _cli("gradcheck", "--help", prelude=BLOCK_WEB)
    assert r.returncode == 0


def test_usage_errors_are_one_line(model_dir, tmp_path):
    r = _cli("serve", str(tmp_path / "nope.npz"), "--runs", str(tmp_path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "no such model file" in r.stderr
    r = _cli("serve", str(model_dir), "--port", "70000", "--runs", str(tmp_path))
    assert r.returncode == 2 and "--port must be between 0 and 65535" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = _cli("serve", str(model_dir), "--port", str(port), "--runs", str(tmp_path))
    assert r.returncode == 2 and "already in use" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "file").write_text("x")
    r = _cli("serve", str(model_dir), "--runs", str(tmp_path / "file"))
    assert r.returncode == 2 and "is a file" in r.stderr


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_runs_folder_models_are_offered(model_dir, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(model_dir, runs / "first")
    shutil.copytree(model_dir, runs / "second")
    (runs / "screenshots").mkdir()  # not a run: ignored
    srv = Server("--runs", str(runs))
    try:
        models = json.loads(_get(srv.url, "/api/models")[1])["models"]
    finally:
        srv.stop()
    assert [m["id"] for m in models] == ["run-first", "run-second"]


def test_runs_finished_later_appear_on_reload(model_dir, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(model_dir, runs / "first")
    srv = Server("--runs", str(runs))
    try:
        before = json.loads(_get(srv.url, "/api/models")[1])["models"]
        shutil.copytree(model_dir, runs / "later")  # e.g. `mitbadak train` in another terminal
        (runs / "broken").mkdir()
        (runs / "broken" / "model.npz").write_bytes(b"junk")
        after = json.loads(_get(srv.url, "/api/models")[1])["models"]
        again = json.loads(_get(srv.url, "/api/models")[1])["models"]
    finally:
        srv.stop()
    assert [m["id"] for m in before] == ["run-first"]
    assert [m["id"] for m in after] == [m["id"] for m in again] == ["run-first", "run-later"]


def test_open_starts_a_browser_on_the_url(model_dir, tmp_path):
    opened = tmp_path / "opened.txt"
    fake = tmp_path / "fake_browser.py"
    fake.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {fake} %s"}
    srv = Server(str(model_dir), "--runs", str(tmp_path), "--open", env=env)
    try:
        deadline = time.monotonic() + 20
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        srv.stop()
    assert opened.read_text() == srv.url + "/"


def test_the_same_model_twice_is_offered_once(model_dir, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(model_dir, runs / "demo")
    srv = Server(str(runs / "demo"), str(runs / "demo" / "model.npz"), "--runs", str(runs))
    try:
        models = json.loads(_get(srv.url, "/api/models")[1])["models"]
    finally:
        srv.stop()
    assert [m["id"] for m in models] == ["run-demo"]
