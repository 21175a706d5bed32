"""Chapter 6's experiments: the numbers each returns, and `mitbadak experiment`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mitbadak.cli import main
from mitbadak.training.experiments import (
    EXPERIMENTS,
    batchnorm_gradient_check,
    optimizer_paths,
    weight_init_histogram,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _book_paths(name: str, lr: float) -> tuple[list[float], list[float]]:
    """The book's update formulas written out by hand on (x, y), gradient (x/10, 2y)."""
    x, y = -7.0, 2.0
    xs, ys = [x], [y]
    s = {"vx": 0.0, "vy": 0.0, "hx": 0.0, "hy": 0.0, "mx": 0.0, "my": 0.0, "t": 0}
    for _ in range(30):
        g = {"x": x / 10.0, "y": 2.0 * y}
        p = {"x": x, "y": y}
        for k in "xy":
            if name == "sgd":
                p[k] -= lr * g[k]
            elif name == "momentum":
                s["v" + k] = 0.9 * s["v" + k] - lr * g[k]
                p[k] += s["v" + k]
            elif name == "nesterov":
                p[k] += 0.81 * s["v" + k] - 1.9 * lr * g[k]
                s["v" + k] = 0.9 * s["v" + k] - lr * g[k]
            elif name == "adagrad":
                s["h" + k] += g[k] * g[k]
                p[k] -= lr * g[k] / (math.sqrt(s["h" + k]) + 1e-7)
            elif name == "rmsprop":
                s["h" + k] = 0.99 * s["h" + k] + 0.01 * g[k] * g[k]
                p[k] -= lr * g[k] / (math.sqrt(s["h" + k]) + 1e-7)
        if name == "adam":
            s["t"] += 1
            lr_t = lr * math.sqrt(1 - 0.999 ** s["t"]) / (1 - 0.9 ** s["t"])
            for k in "xy":
                s["m" + k] += 0.1 * (g[k] - s["m" + k])
                s["h" + k] += 0.001 * (g[k] ** 2 - s["h" + k])
                p[k] -= lr_t * s["m" + k] / (math.sqrt(s["h" + k]) + 1e-7)
        x, y = p["x"], p["y"]
        xs.append(x)
        ys.append(y)
    return xs, ys


def test_optimizer_paths_follow_the_books_formulas():
    data = optimizer_paths()
    opts = data["optimizers"]
    assert list(opts) == ["sgd", "momentum", "nesterov", "adagrad", "adam", "rmsprop"]
    assert {k: v["lr"] for k, v in opts.items()} == {
        "sgd": 0.95, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.5, "adam": 0.3,
        "rmsprop": 0.1,
    }  # fmt: skip
    # SGD by hand: (-7, 2) - 0.95 * (-0.7, 4) = (-6.335, -1.8)
    assert opts["sgd"]["x"][:2] == [-7.0, pytest.approx(-6.335, abs=1e-15)]
    assert opts["sgd"]["y"][1] == pytest.approx(-1.8, abs=1e-15)
    for name, path in opts.items():
        xs, ys = _book_paths(name, path["lr"])
        assert len(path["x"]) == len(path["y"]) == 31
        np.testing.assert_allclose(path["x"], xs, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(path["y"], ys, rtol=1e-12, atol=1e-12, err_msg=name)


def test_weight_init_histogram_shapes_counts_and_the_books_findings():
    data = weight_init_histogram(seed=3)
    assert len(data["cases"]) == 12
    for case in data["cases"].values():
        assert case["counts"].shape == (5, 30)
        assert case["counts"].sum(axis=1).tolist() == [100_000] * 5
    # std 1 with sigmoid: most activations in the end bins (0 and 1) by the last layer
    c = data["cases"]["sigmoid/std=1"]["counts"][-1]
    assert c[0] + c[-1] > 0.5 * 100_000
    # std 0.01 with sigmoid: concentrated in the bins around 0.5
    c = data["cases"]["sigmoid/std=0.01"]["counts"][-1]
    assert c[14] + c[15] > 0.95 * 100_000 and c[12:18].sum() == 100_000
    # He with ReLU: about half the activations exactly 0 in every layer
    assert all(0.4 < z < 0.6 for z in data["cases"]["relu/he"]["zeros"])
    again = weight_init_histogram(seed=3)
    assert all(
        np.array_equal(again["cases"][k]["counts"], v["counts"]) for k, v in data["cases"].items()
    )
    other = weight_init_histogram(seed=4)["cases"]["relu/he"]["counts"]
    assert not np.array_equal(other, data["cases"]["relu/he"]["counts"])


@pytest.fixture(scope="module")
def check():
    from mitbadak.training.experiments import load_check_images

    x, t, _ = load_check_images(SHARED if SHARED.is_dir() else None)
    return batchnorm_gradient_check(x, t, seed=1)


def test_batchnorm_one_image_leaves_only_beta(check):
    one = check["one"]
    # every BN output is beta: nothing before the last BN moves the loss
    for key in ("W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "W3"):
        assert one[key]["numerical_abs_mean"] == 0.0, key
        assert one[key]["mean_abs_diff"] == 0.0, key
    # beta2 on ReLU's kink: backprop 0, the central difference half the slope
    assert one["beta2"]["backprop_abs_mean"] == 0.0
    assert one["beta2"]["mean_abs_diff"] > 0.01
    assert one["b3"]["relative"] < 1e-6


def test_batchnorm_batch_of_ten_agrees(check):
    assert check["batch_size"] == 10
    for key, v in check["batch"].items():
        assert v["relative"] < 1e-6, key
    # the biases feeding straight into BatchNorm have gradient 0 both ways (its mean removes them)
    assert check["batch"]["b1"]["zero_both_ways"] and check["batch"]["b2"]["zero_both_ways"]
    assert not check["batch"]["W1"]["zero_both_ways"]


def test_batchnorm_check_agrees_on_the_packaged_sample_too():
    """A user's clone has no MNIST: the packaged sample's images must agree just as well."""
    from mitbadak.files.datasets import load_split

    x, t = load_split("mnist-sample", "test", normalize=True, download=False)
    check = batchnorm_gradient_check(x.reshape(len(x), -1), t, seed=1)
    for key, v in check["batch"].items():
        assert v["relative"] < 1e-6, key


def test_cli_writes_the_folder_in_english_and_korean(tmp_path, capsys):
    out = tmp_path / "paths"
    assert main(["experiment", "optimizer-paths", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "data: no data set" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "data.csv", "data.json", "meta.json", "optimizer-paths.png",
    ]  # fmt: skip
    data = json.loads((out / "data.json").read_text())
    assert data["optimizers"]["sgd"]["x"][1] == pytest.approx(-6.335)
    lines = (out / "data.csv").read_text().splitlines()
    assert lines[0] == "optimizer,lr,step,x,y" and len(lines) == 1 + 6 * 31
    # the folder holds an experiment now: nothing is replaced without --overwrite
    before = (out / "data.json").read_bytes()
    (out / "notes.txt").write_text("mine")
    assert main(["experiment", "optimizer-paths", "--out", str(out), "--lang", "ko"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds an experiment" in err[0] and "--overwrite" in err[0]
    assert (out / "data.json").read_bytes() == before
    assert main(["experiment", "optimizer-paths", "--out", str(out), "--lang", "ko",
                 "--overwrite"]) == 0  # fmt: skip
    assert (out / "optimizer-paths.ko.png").stat().st_size > 10_000
    assert json.loads((out / "meta.json").read_text())["lang"] == "ko"
    assert (out / "notes.txt").read_text() == "mine"  # never other files


def test_cli_unknown_name_is_one_line_exit_2(capsys):
    assert main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mitbadak: error: unknown experiment 'nope'; choose one of " + ", ".join(EXPERIMENTS)
    ]


def test_figures_draw_from_data():
    from mitbadak.views import plots

    fig = plots.weight_init_histogram(weight_init_histogram(), lang="en")
    assert len(fig.axes) == 60
