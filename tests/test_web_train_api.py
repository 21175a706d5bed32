"""The train/graph/descent APIs: hardening (JSON errors with the CLI's wording, limits, 409) and
the training stream: several SSE clients get the same events, a client leaving changes nothing."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _webtools import Server

from mitbadak.training.recipes import TrainConfig
from mitbadak.training.runs import run_training
from mitbadak.views.descent import descent_path

pytest.importorskip("starlette")


@pytest.fixture
def client(tmp_path):
    from starlette.testclient import TestClient

    from mitbadak.web.app import create_app
    from mitbadak.web.models import ModelRegistry

    app = create_app(ModelRegistry(), runs_dir=tmp_path / "runs")
    with TestClient(app) as c:
        c.runs_dir = tmp_path / "runs"
        yield c


def _recipe(**options):
    """A recipe with what a run needs (a dataset and its length), and ``options`` over it."""
    return {"dataset": "moons", "epochs": 1, **options}


def _wait_idle(c, timeout=60.0):
    deadline = time.monotonic() + timeout
    while c.get("/api/train/state").json()["active"]:
        assert time.monotonic() < deadline, "training did not end"
        time.sleep(0.05)


def test_graph_and_descent_api_values(client):
    r = client.post("/api/graph/shopping", json={"kind": "apple"}).json()
    assert r["display"]["values"]["price"] == "220"
    grads = [r["display"]["grads"][k] for k in ("apple", "apple_num", "tax")]
    assert grads == ["2.2", "110", "200"]
    r = client.post("/api/graph/shopping", json={"apple": 100}).json()
    assert r["display"]["values"]["price"] == "715"
    assert r["display"]["grads"]["tax"] == "650"
    net = client.post("/api/graph/network", json={"activation": "sigmoid"}).json()
    assert [g["param"] for g in net["gradcheck"]] == ["W1", "b1", "W2", "b2"]
    assert max(g["relative"] for g in net["gradcheck"]) < 1e-6
    path = client.post("/api/descent/path", json={"lr": 0.1, "steps": 20}).json()
    assert path["final"] == descent_path("bowl", None, 0.1, 20)["final"]


@pytest.mark.parametrize(
    ("url", "body", "words"),
    [
        ("/api/graph/shopping", {"kind": "pear"}, "kind must be"),
        ("/api/graph/shopping", {"kind": "apple", "orange": 3}, "no input"),
        ("/api/graph/shopping", {"apple": "lots"}, "apple"),
        ("/api/graph/network", {"hidden": 10**9}, "hidden"),
        ("/api/graph/network", {"seed": -1}, "seed"),
        ("/api/descent/path", {"lr": 100}, "lr must be a number from 1e-10 to 10"),
        ("/api/descent/path", {"name": "nope"}, "nope"),
        ("/api/descent/path", {"steps": 10**9}, "steps"),
        ("/api/descent/contour", {"resolution": 10**6}, "resolution"),
        ("/api/train/start", {"recipe": _recipe(epochs=-2)}, "--epochs"),
        ("/api/train/start", {"recipe": _recipe(epochs=10**6)}, "--epochs"),
        ("/api/train/start", {"recipe": _recipe(hidden="50,abc")}, "--hidden"),
        ("/api/train/start", {"recipe": _recipe(dataset="imagenet")}, "unknown dataset"),
        ("/api/train/start", {"recipe": _recipe(colour="red")}, "unknown training option"),
        ("/api/train/start", {"recipe": _recipe(dropout=1.5)}, "--dropout: expected a ratio"),
        ("/api/train/start", {"recipe": _recipe(dropout="half")}, "--dropout: expected a number"),
        ("/api/train/start", {"recipe": _recipe(batchnorm="maybe")}, "--batchnorm: expected true"),
        ("/api/train/start", {"recipe": _recipe(weight_decay=-1)}, "--weight-decay: must be >= 0"),
        ("/api/train/start", {"recipe": _recipe(weight_decay=11)}, "--weight-decay: at most 10"),
        ("/api/train/start", {"recipe": _recipe(optimizer="lbfgs")}, "--optimizer: invalid"),
        ("/api/train/start", {"recipe": _recipe(model="two-layer", hidden="8", batchnorm=True)},
         "--batchnorm needs --model mlp"),
        ("/api/descent/path", {"gradient": "exact"}, "gradient must be one of"),
        ("/api/train/start", {"recipe": _recipe(), "points": [[0, 0, 0]] * 2001}, "at most 2,000"),
        ("/api/train/start", {"recipe": _recipe(), "points": [[0, 0, 0], [1, "x", 1]]}, "point"),
        ("/api/train/start", {"rewind": True}, "nothing to rewind"),
        ("/api/train/start", {"bogus": 1}, "unknown field"),
    ],
)
def test_bad_requests_get_json_errors(client, url, body, words):
    r = client.post(url, json=body)
    assert r.status_code == 400, r.text
    assert words.lower() in r.json()["error"].lower()
    assert client.get("/api/train/state").json()["state"] == "idle"  # nothing started


def test_malformed_bodies_and_names(client):
    for url in ("/api/train/start", "/api/graph/shopping", "/api/descent/path"):
        r = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
        r = client.post(url, json=[1, 2])
        assert r.status_code == 400
    assert client.get("/api/train/run", params={"name": "../etc"}).status_code == 400
    assert client.get("/api/train/run", params={"name": "missing"}).status_code == 404
    assert client.post("/api/train/stop", json={}).status_code == 409
    assert client.post("/api/train/explode", json={}).status_code == 404
    assert client.get("/api/train/events", params={"since": "x"}).status_code == 400


def test_busy_409_stop_and_cli_reproduces_the_run(client, tmp_path):
    recipe = {"dataset": "moons", "hidden": "16", "epochs": 200, "batch_size": 5, "lr": 0.05}
    r = client.post("/api/train/start", json={"recipe": recipe})
    assert r.status_code == 202
    out = Path(r.json()["out_dir"])
    assert out.parent == client.runs_dir.resolve()
    busy = client.post("/api/train/start", json={"recipe": recipe})
    assert busy.status_code == 409 and "busy" in busy.json()["error"]
    client.post("/api/train/pause", json={})
    assert client.get("/api/train/state").json()["state"] == "paused"
    client.post("/api/train/resume", json={})
    assert client.post("/api/train/stop", json={}).json()["state"] == "stopping"
    _wait_idle(client)
    assert client.get("/api/train/state").json()["state"] == "stopped"
    assert (out / "checkpoint.npz").is_file() and not (out / "model.npz").exists()

    # a short run: the page's folder equals what `mitbadak train` makes with the same recipe
    short = {"dataset": "moons", "hidden": "16", "epochs": 2, "lr": 0.3, "seed": 3}
    r = client.post("/api/train/start", json={"recipe": short})
    _wait_idle(client)
    page_run = Path(r.json()["out_dir"])
    snap = client.get("/api/train/run", params={"name": page_run.name}).json()
    assert snap["finished"] and len(snap["epochs"]) == 2 and snap["boundary"]["grid"]["xs"]
    from mitbadak.cli import main

    cli_run = tmp_path / "cli"
    assert main([*snap["command"][1:], "--out", str(cli_run), "--quiet"]) == 0
    page_metrics = (page_run / "iterations.csv").read_text()
    assert page_metrics == (cli_run / "iterations.csv").read_text()
    # rewind: the same recipe and seed again, in a new folder, the same numbers
    r = client.post("/api/train/start", json={"rewind": True})
    assert r.status_code == 202
    _wait_idle(client)
    rewound = Path(r.json()["out_dir"])
    assert rewound != page_run
    assert (rewound / "iterations.csv").read_text() == page_metrics


def _read_events(port: int, since: int, out: list, stop_after: int | None = None) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/api/train/events?since={since}&once=1")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("content-type").startswith("text/event-stream")
    kind = None
    while True:
        line = resp.readline()
        if not line:
            break
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("data: "):
            out.append(json.loads(text[6:]))
            if stop_after is not None and len(out) >= stop_after:
                conn.close()  # leave mid-run
                return
            if kind in ("end", "stopped", "error"):
                break
    conn.close()


def test_three_sse_clients_get_the_same_events_and_one_leaving_changes_nothing(tmp_path):
    runs = tmp_path / "runs"
    digits = tmp_path / "digits"
    run_training(TrainConfig(dataset="mnist-sample", hidden=[8], epochs=1), digits)
    srv = Server(str(digits), "--runs", str(runs))
    try:
        port = int(srv.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/train/state")
        since = json.loads(conn.getresponse().read())["next_event"]
        streams: list[list] = [[], [], [], []]
        threads = [
            threading.Thread(target=_read_events, args=(port, since, streams[i]))
            for i in range(3)
        ]
        threads.append(
            threading.Thread(target=_read_events, args=(port, since, streams[3], 4))
        )
        for t in threads:
            t.start()
        recipe = {"dataset": "circles", "hidden": "20", "epochs": 6, "batch_size": 20}
        body = json.dumps({"recipe": recipe})
        conn.request("POST", "/api/train/start", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        started = json.loads(resp.read())
        assert resp.status == 202, started
        for t in threads:
            t.join(120)
            assert not t.is_alive()
        a, b, c, gone = streams
        assert a == b == c
        kinds = [e["type"] for e in a]
        assert kinds[0] == "run" and kinds[-1] == "end"
        assert kinds.count("epoch") == 6 and "steps" in kinds and "picture" in kinds
        assert [e["id"] for e in a] == list(range(a[0]["id"], a[0]["id"] + len(a)))
        assert gone == a[:4]  # the one that left saw the same beginning
        out = Path(started["out_dir"])
        assert (out / "model.npz").is_file()  # the run finished despite the departure
        losses = [v for e in a if e["type"] == "steps" for _, v in e["steps"]]
        saved = (out / "iterations.csv").read_text().splitlines()[1:]
        assert len(losses) == len(saved)
    finally:
        rc, err = srv.stop()
    assert rc == 0 and "Traceback" not in err


def test_mnist_like_runs_show_first_layer_tiles(client):
    r = client.post(
        "/api/train/start", json={"recipe": {"dataset": "mnist-sample", "hidden": "12", "iters": 5}}
    )
    assert r.status_code == 202, r.text
    _wait_idle(client)
    snap = client.get("/api/train/run", params={"name": r.json()["run"]}).json()
    assert len(snap["tiles"]) == 12 and snap["tiles"][0].startswith("data:image/png;base64,")
    assert "boundary" not in snap
    assert snap["command"][:4] == ["mitbadak", "train", "--dataset", "mnist-sample"]


def test_a_dataset_not_here_is_refused_before_any_folder_is_made(client, monkeypatch, tmp_path):
    # An empty cache and no $MITBADAK_DATA: MNIST is not on this "machine" (the system folder
    # /usr/share/datasets holds Fashion-MNIST at most).
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    choices = client.get("/api/train/choices").json()
    assert "mnist" in choices["datasets"] and "mnist" not in choices["datasets_here"]
    assert "mnist-sample" in choices["datasets_here"]
    r = client.post("/api/train/start", json={"recipe": {"dataset": "mnist", "epochs": 1}})
    assert r.status_code == 400
    assert r.json()["error"].startswith("dataset 'mnist' is not on this machine")
    assert "mitbadak data download mnist" in r.json()["error"]
    assert not client.runs_dir.exists() or not any(client.runs_dir.iterdir())
    assert client.get("/api/train/state").json()["active"] is False


def test_chapter6_controls_reach_the_recipe_and_histograms_follow_each_epoch(client):
    """BatchNorm, Dropout, weight decay and an optimizer of the registry reach config.json; the
    stream sends the initial weights' histograms, then each epoch's, and the last equal what the
    library counts from the run's saved model."""
    from mitbadak.training.evaluation import load_any_model
    from mitbadak.views.inspection import run_probe

    recipe = _recipe(
        hidden="12,8", epochs=3, batchnorm="true", dropout="0.2", weight_decay="0.01",
        optimizer="rmsprop", activation="tanh", seed=5,
    )
    # at a pace a page would watch (each epoch >= MIN_FRAME_SECONDS), every epoch sends its frames
    r = client.post("/api/train/start", json={"recipe": recipe, "pace": 8})
    assert r.status_code == 202, r.text
    _wait_idle(client)
    client.post("/api/train/pace", json={"iters_per_s": 0})
    out = Path(r.json()["out_dir"])
    saved = json.loads((out / "config.json").read_text())["config"]
    assert (saved["batchnorm"], saved["dropout"], saved["weight_decay"]) == (True, 0.2, 0.01)
    assert (saved["optimizer"], saved["lr"]) == ("rmsprop", 0.001)  # RMSprop's own default lr
    text = client.get("/api/train/events", params={"since": 0, "once": 1}).text
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    frames = [e for e in events if e["type"] == "histograms"]
    assert [f["epoch"] for f in frames] == [0, 1, 2, 3]
    assert all(f["probe_size"] == 200 for f in frames)
    assert [layer["layer"] for layer in frames[-1]["layers"]] == ["Tanh1", "Tanh2"]
    assert frames[-1]["layers"][0]["range"] == [-1.0, 1.0]
    probe = run_probe(out)
    assert frames[0]["layers"] == probe.initial_frame
    assert frames[-1]["layers"] == probe.frame(load_any_model(out)[0])
    assert frames[1]["layers"] != frames[-1]["layers"]


def _events(c) -> list[dict]:
    text = c.get("/api/train/events", params={"since": 0, "once": 1}).text
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize("name", ["spiral", "moons", "circles", "xor"])
def test_each_toy_sets_page_recipe_learns_within_30_s_at_the_default_pace(name, tmp_path):
    """The form's recipe of each toy set (its lr the optimizer's own default: re-choosing it
    gives the same) reaches >= 0.95 training accuracy within DEFAULT_PACE * 30 iterations."""
    from mitbadak.training.recipes import DEFAULT_LR, validate_recipe
    from mitbadak.web.api.train import DEFAULT_PACE, TOY_RECIPES

    recipe = TOY_RECIPES[name]
    assert recipe["lr"] == DEFAULT_LR[recipe["optimizer"]]
    seen: list[tuple[int, float]] = []

    def callback(event):
        if event["event"] == "epoch":
            seen.append((event["iteration"], event["train_acc"]))

    run_training(validate_recipe({**recipe, "dataset": name}), tmp_path / name, callback=callback)
    first = next(it for it, acc in seen if acc >= 0.95)
    assert first / DEFAULT_PACE <= 30 and first <= 100, seen[:8]
    total = seen[-1][0]
    assert 5 <= total / DEFAULT_PACE <= 30  # the whole run can be watched: 10 s to 20 s


def test_pace_and_steps_of_a_paused_run(client):
    """A pace of 20 iterations a second holds the run to it; paused, a step of 3 iterations
    sends exactly 3 more losses, an epoch step runs to the epoch's end; both stay paused."""
    assert client.get("/api/train/state").json()["pace"] == 0  # a script's run: full speed
    for bad in (-1, 1e9, "fast", True, None):
        r = client.post("/api/train/pace", json={"iters_per_s": bad})
        assert r.status_code == 400 and "iterations a second" in r.json()["error"]
    r = client.post("/api/train/step", json={"iterations": 1})
    assert r.status_code == 409 and "Pause" in r.json()["error"]
    for bad in ({}, {"iterations": 0}, {"iterations": 2, "epoch": True}, {"epoch": "yes"}):
        assert client.post("/api/train/step", json=bad).status_code == 400
    recipe = _recipe(hidden="8", epochs=50, batch_size=32)  # 10 iterations an epoch
    t0 = time.monotonic()
    r = client.post("/api/train/start", json={"recipe": recipe, "pace": 20})
    assert r.status_code == 202, r.text
    assert client.get("/api/train/state").json()["pace"] == 20

    deadline = time.monotonic() + 30
    session = client.app.state.ctx.extra["train"]
    while sum(len(e["steps"]) for e in session.events_since(0) if e["type"] == "steps") < 20:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert time.monotonic() - t0 >= 0.9  # 20 iterations at 20 a second: about 1 s
    assert client.post("/api/train/pause", json={}).status_code == 200

    def sent() -> list[int]:
        return [it for e in session.events_since(0) if e["type"] == "steps" for it, _ in e["steps"]]

    time.sleep(0.4)
    before = sent()
    time.sleep(0.3)
    assert sent() == before  # paused
    assert client.post("/api/train/step", json={"iterations": 3}).json()["state"] == "paused"
    deadline = time.monotonic() + 10
    while len(sent()) < len(before) + 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    assert sent() == before + [before[-1] + 1, before[-1] + 2, before[-1] + 3]
    r = client.post("/api/train/step", json={"epoch": True})
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while sent()[-1] % 10 != 0 or sent()[-1] == before[-1] + 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)
    assert sent()[-1] % 10 == 0 and client.get("/api/train/state").json()["state"] == "paused"
    epochs = [e["metrics"]["iteration"] for e in session.events_since(0) if e["type"] == "epoch"]
    assert epochs[-1] == sent()[-1]
    assert client.post("/api/train/pace", json={"iters_per_s": 0}).json() == {"pace": 0.0}
    client.post("/api/train/stop", json={})
    _wait_idle(client)


def test_a_2d_run_draws_its_boundary_after_every_epoch_and_points_on_the_fixed_view(client):
    r = client.post("/api/train/start", json={"recipe": _recipe(hidden="8", epochs=4), "pace": 8})
    assert r.status_code == 202
    _wait_idle(client)
    client.post("/api/train/pace", json={"iters_per_s": 0})
    events = _events(client)
    pictures = [e for e in events if e["type"] == "picture"]
    assert len(pictures) >= 4  # after each epoch (and the end)
    grid = pictures[-1]["boundary"]["grid"]
    conf = np.asarray(grid["confidence"])
    assert conf.shape == (60, 60) and 0.5 <= conf.min() and conf.max() <= 1
    points = [[-0.5, -0.5, 0], [0.5, 0.5, 1], [-0.5, 0.5, 2], [0.5, -0.5, 0]] * 2
    r = client.post("/api/train/start", json={"recipe": {"epochs": 2, "batch_size": 4},
                                              "points": points})
    assert r.status_code == 202, r.text
    _wait_idle(client)
    grid = [e for e in _events(client) if e["type"] == "picture"][-1]["boundary"]["grid"]
    assert (grid["xs"][0], grid["xs"][-1], grid["ys"][0], grid["ys"][-1]) == (-1.5, 1.5, -1.5, 1.5)


def test_frames_of_tiny_epochs_at_full_speed_are_thinned_and_the_last_is_sent(client):
    """A full-speed run of one-iteration epochs sends an epoch's frames (histograms, network,
    boundary) at most every MIN_FRAME_SECONDS, so an open tab is not sent megabytes a second;
    the last epoch's frames always go out, and they are the saved model's."""
    from mitbadak.training.evaluation import load_any_model
    from mitbadak.views.inspection import run_probe
    from mitbadak.web.api.train import MIN_FRAME_SECONDS

    assert MIN_FRAME_SECONDS >= 0.1
    client.post("/api/train/pace", json={"iters_per_s": 0})
    r = client.post("/api/train/start",
                    json={"recipe": _recipe(hidden="8", epochs=60, batch_size=1000)})
    assert r.status_code == 202, r.text
    _wait_idle(client)
    events = _events(client)
    run = [e for e in events if e.get("id", 0) >= 0]
    epochs = [e for e in run if e["type"] == "epoch"]
    frames = [e for e in run if e["type"] == "histograms"]
    assert len(epochs) >= 60
    assert frames[-1]["epoch"] == 60
    assert len([f for f in frames if f["epoch"] > 0]) < 40  # thinned: 60 epochs in about 1 s
    out = Path(r.json()["out_dir"])
    assert frames[-1]["layers"] == run_probe(out).frame(load_any_model(out)[0])
