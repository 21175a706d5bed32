"""`mitbadak serve` against a hostile web page: cross-site requests (CSRF), DNS rebinding, a
request naming a server file, deep JSON, starts that are not runs, bursts of starts, Ctrl-C with
an event stream open, and a too-large body sent in full.

The first half speaks to the app through Starlette's TestClient (its origin is
``http://testserver``); the second half to a real server on 127.0.0.1 in a child process.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

WEB_MISSING = "the web extra is not installed: pip install 'mitbadak[web]'"
pytest.importorskip("uvicorn", reason=WEB_MISSING)
pytest.importorskip("starlette", reason=WEB_MISSING)

from _webtools import Server, chromium  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from mitbadak.training.recipes import TrainConfig  # noqa: E402
from mitbadak.training.runs import run_training  # noqa: E402
from mitbadak.web.app import create_app  # noqa: E402
from mitbadak.web.models import ModelRegistry  # noqa: E402

OWN = "http://testserver"  # the TestClient's origin
EVIL = "http://evil.example"
#: Every POST route of the playground with a body it accepts.
POSTS = {
    "/api/predict": {"pixels": [0.0] * 784},
    "/api/graph/shopping": {"kind": "apple"},
    "/api/graph/network": {},
    "/api/descent/contour": {"resolution": 20},
    "/api/descent/path": {"steps": 5},
    "/api/train/start": {"recipe": {"dataset": "moons", "epochs": 1}},
    "/api/train/stop": {},
    "/api/train/pace": {"iters_per_s": 30},
    "/api/train/step": {"iterations": 1},
    "/api/conv": {"sample": 0},
}
#: A recipe long enough to still be training while a test looks at it.
LONG = {"dataset": "moons", "hidden": "8", "iters": 100_000, "batch_size": 1}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.getbasetemp() / "guards-model"
    if not (out / "model.npz").is_file():
        run_training(TrainConfig(dataset="mnist-sample", hidden=[8], epochs=1), out)
    return out


@pytest.fixture
def client(model_dir, tmp_path):
    registry = ModelRegistry()
    registry.add(model_dir)
    app = create_app(registry, runs_dir=tmp_path / "runs")
    with TestClient(app) as c:
        c.runs_dir = tmp_path / "runs"
        c.app_ctx = app.state.ctx
        yield c
        session = app.state.ctx.extra["train"]
        session.stop()
        if session.thread is not None:
            session.thread.join(30)


def _folders(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def _state(c) -> dict:
    return c.get("/api/train/state").json()


# -- 1. CSRF: other sites' pages may not change anything -------------------------------------


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/json", "application/x-www-form-urlencoded"]
)
def test_a_foreign_origin_cannot_start_a_run(client, ctype):
    body = json.dumps({"recipe": LONG})
    r = client.post(
        "/api/train/start", content=body, headers={"origin": EVIL, "content-type": ctype}
    )
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/json"
    assert "another site" in r.json()["error"] and "evil.example" in r.json()["error"]
    assert _state(client)["active"] is False
    assert _folders(client.runs_dir) == []


def test_a_foreign_origin_cannot_stop_pause_or_predict(client):
    r = client.post("/api/train/start", json={"recipe": LONG}, headers={"origin": OWN})
    assert r.status_code == 202, r.text
    for action in ("stop", "pause", "pace", "step"):
        body = POSTS.get(f"/api/train/{action}", {})
        r = client.post(f"/api/train/{action}", json=body, headers={"origin": EVIL})
        assert r.status_code == 403
    assert _state(client)["pace"] == 0  # the foreign pace did not reach the run
    assert _state(client)["state"] == "running"  # the user's run goes on
    r = client.post("/api/predict", json=POSTS["/api/predict"], headers={"origin": EVIL})
    assert r.status_code == 403
    r = client.post("/api/train/stop", json={}, headers={"origin": OWN})
    assert r.status_code == 200 and r.json()["state"] == "stopping"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": OWN}, 200),
        ({"origin": OWN + ":80"}, 200),  # the default port spelled out
        ({"origin": "http://TestServer"}, 200),
        ({"origin": "null"}, 403),  # a sandboxed frame or a file:// page
        ({"origin": "http://testserver:8080"}, 403),  # another port is another origin
        ({"origin": "https://testserver"}, 403),
        ({"origin": "http://testserver.evil.example"}, 403),
        ({"origin": "not a url"}, 403),
        ({"sec-fetch-site": "same-origin"}, 200),
        ({"sec-fetch-site": "none"}, 200),  # typed by the user
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),  # e.g. a page on another localhost port
        ({"referer": OWN + "/graph"}, 200),
        ({"referer": EVIL + "/page"}, 403),
        ({"referer": "http://testserver:9999/graph"}, 403),
        ({}, 200),  # no browser headers at all: curl, scripts, the tests
        # Origin decides when present, whatever the other headers say
        ({"origin": EVIL, "sec-fetch-site": "same-origin", "referer": OWN + "/"}, 403),
        ({"origin": OWN, "sec-fetch-site": "cross-site"}, 200),
    ],
)
def test_origin_rules_on_a_state_changing_request(client, headers, status):
    r = client.post("/api/graph/shopping", json={"kind": "apple"}, headers=headers)
    assert r.status_code == status, (headers, r.text)
    if status == 200:
        assert r.json()["display"]["values"]["price"] == "220"
    else:
        assert "another site" in r.json()["error"]


@pytest.mark.parametrize("path", [p for p in POSTS if p != "/api/predict"])
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx"])
def test_json_routes_need_the_json_content_type(client, path, ctype):
    headers = {"origin": OWN} if ctype is None else {"origin": OWN, "content-type": ctype}
    r = client.post(path, content=json.dumps(POSTS[path]).encode(), headers=headers)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == "application/json"
    assert "Content-Type: application/json" in r.json()["error"]
    assert _state(client)["active"] is False


def test_json_with_a_charset_is_json(client):
    r = client.post(
        "/api/descent/path",
        content=json.dumps({"steps": 3}).encode(),
        headers={"content-type": "application/json; charset=UTF-8", "origin": OWN},
    )
    assert r.status_code == 200 and len(r.json()["path"]) == 4


def test_predict_still_takes_images_and_forms_from_its_own_pages(client, tmp_path):
    from PIL import Image

    buf = io.BytesIO()
    img = Image.new("L", (28, 28), 255)
    img.paste(0, (12, 4, 16, 24))  # a black bar on white: a "1"
    img.save(buf, format="PNG")
    png = buf.getvalue()
    as_json = client.post("/api/predict", json=POSTS["/api/predict"], headers={"origin": OWN})
    as_png = client.post(
        "/api/predict", content=png, headers={"content-type": "image/png", "origin": OWN}
    )
    as_form = client.post(
        "/api/predict", files={"image": ("one.png", png, "image/png")}, headers={"origin": OWN}
    )
    assert as_json.status_code == as_png.status_code == as_form.status_code == 200
    assert as_png.json()["probabilities"] == as_form.json()["probabilities"]
    # the same form from another site's page (a simple request, no preflight) is refused
    evil = client.post(
        "/api/predict", files={"image": ("one.png", png, "image/png")}, headers={"origin": EVIL}
    )
    assert evil.status_code == 403


def test_cross_site_reads_of_the_api_are_refused_but_links_to_pages_work(client):
    r = client.get("/api/train/state", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    r = client.get("/api/train/events", headers={"sec-fetch-site": "same-site"})
    assert r.status_code == 403
    assert client.get("/train", headers={"sec-fetch-site": "cross-site"}).status_code == 200
    assert client.get("/api/train/state", headers={"sec-fetch-site": "same-origin"}).json()


# -- 2. DNS rebinding: only this machine's names ---------------------------------------------


def test_host_names_follow_the_address_bound(model_dir, tmp_path):
    registry = ModelRegistry()
    registry.add(model_dir)
    lan = TestClient(create_app(registry, runs_dir=tmp_path, host="mybox.lan"))
    assert lan.get("/api/models", headers={"host": "mybox.lan"}).status_code == 200
    assert lan.get("/api/models", headers={"host": "localhost"}).status_code == 200
    assert lan.get("/api/models", headers={"host": "evil.example"}).status_code == 400
    anywhere = TestClient(create_app(registry, runs_dir=tmp_path, host="0.0.0.0"))
    assert anywhere.get("/api/models", headers={"host": "192.168.1.20"}).status_code == 200
    assert anywhere.get("/api/models", headers={"host": "[fe80::1]"}).status_code == 200
    assert anywhere.get("/api/models", headers={"host": "evil.example"}).status_code == 400
    assert anywhere.get("/api/models", headers={"host": "[::1].evil.example"}).status_code == 400


# -- 3. a web recipe never names a server file -----------------------------------------------


@pytest.mark.parametrize(
    "dataset",
    ["/abs/path/secret.csv", "../private/secret.csv", "secret.csv", "runs/x/points.csv",
     "~/secret.csv", "C:\\secret.csv", "file:///etc/passwd", "/etc/passwd", "mnist/../../x"],
)
def test_a_recipe_cannot_name_a_file(client, tmp_path, dataset):
    secret = tmp_path / "secret.csv"
    secret.write_text("x,y,label\n0.25,0.5,0\n0.75,0.5,1\n0.5,0.25,0\n0.5,0.75,1\n")
    recipe = {"dataset": dataset.replace("/abs/path/secret.csv", str(secret)), "epochs": 1}
    r = client.post("/api/train/start", json={"recipe": recipe})
    assert r.status_code == 400, r.text
    assert "unknown dataset" in r.json()["error"] and "never on a file" in r.json()["error"]
    assert _state(client)["active"] is False
    assert _folders(client.runs_dir) == []


def test_toy_and_registry_names_and_points_still_train(client):
    for body in (
        {"recipe": {"dataset": "spiral:classes=3,noise=0.1", "hidden": "4", "iters": 2}},
        {"recipe": {"dataset": "mnist-sample", "hidden": "4", "iters": 2}},
        {"recipe": {"hidden": "4", "iters": 2},
         "points": [[-1, -1, 0], [1, 1, 1], [-1, 1, 0], [1, -1, 1], [0.5, 0.5, 1]]},
    ):
        r = client.post("/api/train/start", json=body, headers={"origin": OWN})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while _state(client)["active"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _state(client)["state"] == "done"


def _uploads(c) -> tuple[list[str], list[str]]:
    """(ids of uploaded models listed, files in the server's upload folder)."""
    listed = [m["id"] for m in c.get("/api/models").json()["models"] if m["kind"] == "upload"]
    folder = c.app_ctx.extra["uploads"]._folder
    return listed, sorted(p.name for p in folder.iterdir()) if folder else []


def test_model_uploads_keep_the_origin_check_the_type_rule_and_leave_nothing_when_refused(
    client, model_dir
):
    model = (model_dir / "model.npz").read_bytes()
    raw = {"content-type": "application/octet-stream"}
    # another site's page: 403 before the body is read, nothing stored
    r = client.post("/api/models/upload", content=model, headers={**raw, "origin": EVIL})
    assert r.status_code == 403 and _uploads(client) == ([], [])
    # the one content type: the file's bytes as they are
    for ctype in ("application/json", "multipart/form-data; boundary=x", "text/plain"):
        r = client.post("/api/models/upload", content=model,
                        headers={"content-type": ctype, "origin": OWN})  # fmt: skip
        assert r.status_code == 415 and "application/octet-stream" in r.json()["error"], ctype
    # not a model: a PNG, a zip that is not a model file, a pickle that is not the book's
    for body, status in [(b"\x89PNG\r\n\x1a\n" + b"0" * 100, 415),
                         (b"PK\x03\x04" + b"0" * 100, 400), (b"\x80\x02}q\x00.", 400)]:  # fmt: skip
        r = client.post("/api/models/upload", content=body, headers={**raw, "origin": OWN})
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/json"
        assert _uploads(client) == ([], [])
    # a real one is listed, under a name the server made
    r = client.post("/api/models/upload?name=../../etc/passwd", content=model,
                    headers={**raw, "origin": OWN})  # fmt: skip
    assert r.status_code == 200, r.text
    listed, files = _uploads(client)
    assert listed == [r.json()["model"]["id"]] and len(files) == 1
    assert files[0].startswith("upload-") and "/" not in r.json()["model"]["label"]


def test_an_oversized_upload_is_a_413_counted_while_reading(model_dir, tmp_path):
    registry = ModelRegistry()
    app = create_app(registry, max_upload_bytes=1000)
    big = (model_dir / "model.npz").read_bytes()
    assert len(big) > 1000

    def chunks():  # no Content-Length: the limit counts the bytes as they arrive
        for i in range(0, len(big), 256):
            yield big[i : i + 256]

    with TestClient(app) as c:
        c.app_ctx = app.state.ctx
        for body in (big, chunks()):
            r = c.post("/api/models/upload", content=body,
                       headers={"content-type": "application/octet-stream"})  # fmt: skip
            assert r.status_code == 413 and "limit of 1,000 bytes" in r.json()["error"]
            assert _uploads(c) == ([], [])
        # other routes keep the general limit
        r = c.post("/api/conv", content=b" " * 1_000_001,
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 413


def test_a_cap_on_how_many_uploads(client, model_dir):
    uploads = client.app_ctx.extra["uploads"]
    uploads.max_uploads = 2
    model = (model_dir / "model.npz").read_bytes()
    raw = {"content-type": "application/octet-stream", "origin": OWN}
    codes = [client.post("/api/models/upload", content=model, headers=raw).status_code
             for _ in range(3)]  # fmt: skip
    assert codes == [200, 200, 409]
    listed, files = _uploads(client)
    assert len(listed) == 2 and len(files) == 2


# -- 4. deep JSON is a 400, never a RecursionError --------------------------------------------


@pytest.mark.parametrize("path", list(POSTS))
def test_json_nested_100000_deep_is_a_400(client, path):
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (deep, b'{"recipe": ' + deep + b"}", b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert "too deeply nested" in r.json()["error"]
    # brackets inside strings are not nesting
    r = client.post(path, content=json.dumps({"kind": "[" * 100}).encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code != 500 and "nested" not in r.text


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/graph/shopping", b'{"apple_num": 1' + b"0" * 400 + b"}", "too large"),
        ("/api/graph/network", b'{"h": 1' + b"0" * 400 + b"}", "too large"),
        ("/api/descent/path", b'{"lr": 1' + b"0" * 400 + b"}", "too large"),
        ("/api/descent/path", b'{"lr": 1' + b"0" * 5000 + b"}", "malformed JSON"),
        ("/api/train/start", b'{"recipe": {"dataset": "moons", "epochs": 1}, "rewind": "yes"}',
         "rewind must be true or false"),
        ("/api/train/stop", b'{"now": true}', "unknown field"),
        ("/api/graph/shopping", b"\xff\xfe{}", "malformed JSON"),
    ],
)
def test_odd_bodies_are_400s(client, path, body, words):
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]
    assert _state(client)["active"] is False


@pytest.mark.parametrize("name", ["a" * 5000, "x\x00y", "../runs", "."])
def test_odd_run_names_are_400s(client, name):
    r = client.get("/api/train/run", params={"name": name})
    assert r.status_code == 400 and "folder name" in r.json()["error"]


# -- 5. a start must name a run; points must be sane -----------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ['"recipe"', "rewind"]),
        ({"recipe": {}}, ["--dataset (or points)", "--epochs (or --iters)"]),
        ({"recipe": {"dataset": "moons"}}, ["--epochs (or --iters)"]),
        ({"recipe": {"epochs": 3}}, ["--dataset (or points)"]),
        ({"recipe": {"dataset": "", "epochs": ""}}, ["--dataset", "--epochs"]),
        ({"recipe": "moons"}, ['"recipe"']),
        ({"points": [[0, 0, 0], [1, 1, 1]]}, ['"recipe"']),
    ],
)
def test_a_start_without_what_a_run_needs_starts_nothing(client, body, words):
    r = client.post("/api/train/start", json=body)
    assert r.status_code == 400, r.text
    for word in words:
        assert word in r.json()["error"]
    assert _state(client)["active"] is False
    assert _folders(client.runs_dir) == []


@pytest.mark.parametrize(
    ("raw_point", "words"),
    [
        ("[1e308, 0, 0]", "within ±1,000"),
        ("[0, -1e308, 0]", "within ±1,000"),
        ("[1000.5, 0, 0]", "within ±1,000"),
        ("[1e999, 0, 0]", "finite"),
        ("[NaN, 0, 0]", "finite"),
        ("[-Infinity, 0, 0]", "finite"),
        ('{"x": 5e3, "y": 0, "label": 0}', "within ±1,000"),
    ],
)
def test_points_out_of_range_are_refused_at_the_edge(client, raw_point, words):
    body = (
        '{"recipe": {"epochs": 1}, "points": [' + raw_point + ", [0.5, 0.5, 1], [0.1, 0.2, 0]]}"
    ).encode()
    r = client.post("/api/train/start", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert words in r.json()["error"] and "point 0" in r.json()["error"]
    assert _folders(client.runs_dir) == []


# -- 6. run folders: one per run, and a cap that never deletes --------------------------------


def test_past_the_cap_a_start_is_429_naming_the_folders_to_remove(client):
    from mitbadak.web.api.train import MAX_WEB_RUNS

    runs = client.runs_dir
    runs.mkdir(parents=True)
    for i in range(MAX_WEB_RUNS):
        folder = runs / f"web-20240101-{i:06d}"
        folder.mkdir()
        (folder / "notes.txt").write_text(f"the user's run {i}")
    (runs / "my-own-run").mkdir()  # not made by the page: never counted
    body = {"recipe": {"dataset": "moons", "hidden": "4", "iters": 2}}
    r = client.post("/api/train/start", json=body)
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert f"{MAX_WEB_RUNS} run folders made by this page" in error
    assert "web-20240101-000000" in error and "web-20240101-000001" not in error
    assert f"rm -r {runs.resolve() / 'web-20240101-000000'}" in error
    assert "never deletes" in error
    # nothing was deleted and nothing was made
    assert len(_folders(runs)) == MAX_WEB_RUNS + 1
    assert (runs / "web-20240101-000000" / "notes.txt").read_text() == "the user's run 0"
    # the user removes the folder named: a start is allowed again
    import shutil

    shutil.rmtree(runs / "web-20240101-000000")
    r = client.post("/api/train/start", json=body)
    assert r.status_code == 202, r.text
    assert len(_folders(runs)) == MAX_WEB_RUNS + 1


# -- 7. event streams: one write per batch, a cap, an end on shutdown -------------------------


def _stream_messages(app, query: bytes) -> list[bytes]:
    """The body chunks an event stream sends (called as ASGI, without a network)."""
    sent: list[bytes] = []

    asked = []

    async def receive():
        if not asked:
            asked.append(1)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the client never leaves by itself

    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/train/events", "raw_path": b"/api/train/events",
        "query_string": query, "root_path": "", "headers": [(b"host", b"127.0.0.1:80")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 20))
    return sent


def test_events_waiting_go_out_in_one_write(model_dir, tmp_path):
    app = create_app(ModelRegistry(), runs_dir=tmp_path)
    session = app.state.ctx.extra["train"]
    for i in range(200):
        session.publish("steps", steps=[[i, 0.5]])
    session.publish("end")
    chunks = _stream_messages(app, b"since=0&once=1")
    assert chunks[0] == b"retry: 2000\n\n"
    assert len(chunks) == 2  # all 201 events in one write: a departed client costs one
    assert chunks[1].count(b"\nevent: steps\n") == 200 and b"event: end" in chunks[1]


def test_streams_end_when_the_server_stops_and_are_capped(tmp_path):
    from mitbadak.web.api.train import MAX_STREAMS

    app = create_app(ModelRegistry(), runs_dir=tmp_path)
    ctx = app.state.ctx
    ctx.stopping.set()
    assert _stream_messages(app, b"since=0") == [b"retry: 2000\n\n"]  # ends by itself
    ctx.stopping.clear()
    ctx.extra["train"].streams = MAX_STREAMS
    r = TestClient(app).get("/api/train/events")
    assert r.status_code == 429 and "event streams" in r.json()["error"]


# -- the real server ---------------------------------------------------------------------------


@pytest.fixture
def server(model_dir, tmp_path):
    srv = Server(str(model_dir), "--runs", str(tmp_path / "runs"))
    srv.port = int(srv.url.rsplit(":", 1)[1])
    srv.runs = tmp_path / "runs"
    yield srv
    srv.stop()


def _post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def _raw_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request)
        head = s.recv(4096)
    return int(head.split(b" ", 2)[1])


def test_real_server_refuses_rebinding_hosts_and_foreign_pages(server):
    port = server.port
    for host, status in [
        (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200), (f"[::1]:{port}", 200),
        ("[::1].evil.example", 400), (f"[::1].evil.example:{port}", 400),
        (f"evil.example:{port}", 400), (f"localhost:{port + 1}", 400),
    ]:
        req = f"GET /api/train/state HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        assert _raw_status(port, req.encode()) == status, host
    body = json.dumps({"recipe": LONG}).encode()
    status, answer = _post(
        port, "/api/train/start", body, {"Origin": EVIL, "Content-Type": "text/plain"}
    )
    assert status == 403 and "another site" in answer["error"]
    own = {"Origin": server.url, "Content-Type": "application/json"}
    status, answer = _post(port, "/api/descent/path", b'{"steps": 2}', own)
    assert status == 200 and len(answer["path"]) == 3
    assert not server.runs.exists() or _folders(server.runs) == []


def test_real_server_deep_json_is_a_400_with_no_traceback(server):
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in POSTS:
        status, answer = _post(server.port, path, deep, {"Content-Type": "application/json"})
        assert status == 400 and "too deeply nested" in answer["error"], path
    rc, err = server.stop()
    assert rc == 0
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_burst_of_starts_makes_one_folder(server):
    body = json.dumps({"recipe": LONG}).encode()
    statuses: list[int] = []

    def start() -> None:
        statuses.append(
            _post(server.port, "/api/train/start", body, {"Content-Type": "application/json"})[0]
        )

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [202] + [409] * 7
    assert len(_folders(server.runs)) == 1
    # start/stop cycles: one folder each, refused starts in between add none
    json_headers = {"Content-Type": "application/json"}
    for _ in range(4):
        assert _post(server.port, "/api/train/stop", b"{}", json_headers)[0] in (200, 409)
        deadline = time.monotonic() + 30
        while True:
            status, _answer = _post(server.port, "/api/train/start", body, json_headers)
            if status == 202:
                break
            assert status == 409 and time.monotonic() < deadline
            time.sleep(0.05)
    assert len(_folders(server.runs)) == 5


def _open_stream(port: int, since: int = 0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(f"GET /api/train/events?since={since} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert b"200 OK" in s.recv(4096)
    return s


def test_ctrl_c_with_event_streams_open_stops_at_once_and_quietly(server):
    status, started = _post(
        server.port, "/api/train/start", json.dumps({"recipe": LONG}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 202
    time.sleep(1)  # events pile up
    for _ in range(12):  # clients that read a little and then vanish (reset, unread data)
        s = _open_stream(server.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        time.sleep(0.05)
    kept = _open_stream(server.port)  # one stays, as a browser tab would
    time.sleep(0.5)
    began = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    try:
        _out, err = server.proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        pytest.fail("the server was still running 15 s after Ctrl-C with a stream open")
    took = time.monotonic() - began
    kept.settimeout(5)
    rest = b""
    while chunk := kept.recv(65536):  # the stream ends rather than hanging
        rest += chunk
    kept.close()
    assert server.proc.returncode == 0
    assert took < 8, f"took {took:.1f} s to stop"  # a generous bound; it takes well under 1 s
    assert "socket.send() raised exception" not in err
    assert "Traceback" not in err and "stopped" in err
    out = Path(started["out_dir"])
    assert (out / "checkpoint.npz").is_file()  # the run stopped as Ctrl-C in the CLI does


def test_a_2mb_body_sent_in_full_gets_the_413(server):
    # urllib sends the whole body without waiting for "100 Continue", as a browser's fetch does;
    # 8 MB makes a server that closes without reading reset the connection every time
    body = b"\x00" * 2_000_000
    for i, data in enumerate([body] * 10 + [body * 4] * 3):
        req = urllib.request.Request(
            server.url + "/api/predict", data=data, headers={"Content-Type": "image/png"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=30)
        assert caught.value.code == 413, (i, len(data))
        assert "limit of 1,000,000 bytes" in json.loads(caught.value.read())["error"]
    # a refusal for another reason reads the body too, so it arrives as well
    req = urllib.request.Request(
        server.url + "/api/graph/shopping", data=body[:900_000],
        headers={"Content-Type": "text/plain", "Origin": EVIL},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=30)
    assert caught.value.code == 403
    with urllib.request.urlopen(server.url + "/api/train/state", timeout=10) as r:
        assert json.loads(r.read())["state"] == "idle"  # still serving


# -- a real browser: another site's page, and a rebound DNS name ------------------------------

HOSTILE_PAGE = """<!doctype html><title>hostile</title>
<form id="f" method="POST" enctype="text/plain" action="{target}/api/train/start">
<input name='{{"recipe": {{"dataset": "moons", "iters": 100000, "x": "' value='"}}}}'></form>"""


def test_a_hostile_page_in_chromium_cannot_train_and_a_rebound_name_is_refused(server):
    import http.server

    target = server.url  # http://127.0.0.1:PORT
    page_html = HOSTILE_PAGE.format(target=target).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    rebound = "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP attacker.test 127.0.0.1"
    try:
        with chromium((rebound,)) as browser:
            page = browser.new_page()
            # cross-site (another host name) and same-site (another port of the same host)
            for origin in (f"http://attacker.test:{hostile.server_port}",
                           f"http://127.0.0.1:{hostile.server_port}"):
                page.goto(origin + "/")
                body = json.dumps({"recipe": LONG})
                kinds = page.evaluate(
                    """async ([url, body]) => {
                        const out = [];
                        for (const type of ["text/plain", "application/x-www-form-urlencoded"]) {
                          await fetch(url + "/api/train/start", {method: "POST", mode: "no-cors",
                            headers: {"content-type": type}, body});
                          out.push(type);
                        }
                        await fetch(url + "/api/train/stop", {method: "POST", mode: "no-cors"});
                        return out;
                    }""",
                    [target, body],
                )
                assert len(kinds) == 2
                with page.expect_navigation() as navigation:
                    page.evaluate("document.getElementById('f').submit()")
                assert navigation.value.status == 403  # the form's answer
                assert "another site" in page.content()
                with urllib.request.urlopen(target + "/api/train/state", timeout=10) as r:
                    assert json.loads(r.read())["active"] is False, origin
            # DNS rebinding: evil.example now resolves to this machine; its pages are refused
            answer = page.goto(f"http://evil.example:{server.port}/train")
            assert answer.status == 400 and "addressed to this machine" in page.content()
    finally:
        hostile.shutdown()
    assert not server.runs.exists() or _folders(server.runs) == []
