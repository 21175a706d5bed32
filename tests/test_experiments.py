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


# --- the MNIST experiments ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sets():
    """The packaged sample: always there, so these tests run in a user's clone too."""
    from mitbadak.training.experiments import load_experiment_data

    d = load_experiment_data("mnist-sample")
    return {k: d[k] for k in ("x_train", "t_train", "x_test", "t_test", "used")}


def test_load_experiment_data_says_which_set(sets):
    from mitbadak.training.experiments import load_experiment_data

    assert sets["used"] == ("the packaged MNIST sample (mnist-sample): 4,000 training + 1,000 "
                            "test images")  # fmt: skip
    assert sets["x_train"].dtype.kind == "f"
    assert sets["x_train"].shape == (4000, 784) and sets["x_test"].shape == (1000, 784)
    assert 0.0 <= sets["x_train"].min() and sets["x_train"].max() <= 1.0
    assert set(np.unique(sets["t_train"])) == set(range(10))
    # the default: MNIST only where all four files are found (the shared folder lacks the
    # training images), else the sample, saying why
    d = load_experiment_data(data_dir=SHARED if SHARED.is_dir() else None)
    if d["name"] == "mnist-sample":
        assert d["used"].startswith("the packaged MNIST sample (mnist-sample; MNIST's four files "
                                    "were not found): 4,000 training")  # fmt: skip
    with pytest.raises(ValueError, match="data must be one of mnist, mnist-sample, fashion-mnist"):
        load_experiment_data("cifar")


def test_optimizer_mnist_seeded_and_learning(sets):
    from mitbadak.training.experiments import MNIST_LRS, optimizer_mnist

    data = optimizer_mnist(seed=2, iterations=40, **sets)
    assert data["iterations"] == 40 and data["batch_size"] == 128 and not data["partial"]
    assert data["data"] == sets["used"]
    opts = data["optimizers"]
    assert list(opts) == ["sgd", "momentum", "nesterov", "adagrad", "adam", "rmsprop"]
    assert {k: v["lr"] for k, v in opts.items()} == MNIST_LRS
    assert MNIST_LRS == {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
                         "adam": 0.001, "rmsprop": 0.001}  # fmt: skip
    for name, v in opts.items():
        assert len(v["loss"]) == len(v["smoothed"]) == 40
        assert v["final_smoothed"] == v["smoothed"][-1]
        assert np.mean(v["loss"][-10:]) < np.mean(v["loss"][:10]) - 0.1, name
    # the book's finding already after 40 steps: plain SGD is the slowest
    assert opts["sgd"]["final_smoothed"] > max(v["final_smoothed"] for k, v in opts.items()
                                               if k != "sgd")  # fmt: skip
    again = optimizer_mnist(seed=2, iterations=40, **sets)
    assert all(again["optimizers"][k]["loss"] == v["loss"] for k, v in opts.items())
    other = optimizer_mnist(seed=3, iterations=40, **sets)
    assert other["optimizers"]["adam"]["loss"] != opts["adam"]["loss"]


def test_weight_init_compare_std_001_does_not_learn(sets):
    from mitbadak.training.experiments import weight_init_compare

    data = weight_init_compare(seed=0, iterations=60, **sets)
    inits = data["inits"]
    assert list(inits) == ["std=0.01", "xavier", "he"]
    assert inits["std=0.01"]["std"] == [0.01] * 5
    assert inits["xavier"]["std"] == pytest.approx([1 / 28, 0.1, 0.1, 0.1, 0.1])
    assert inits["he"]["std"] == pytest.approx([np.sqrt(2 / 784)] + [np.sqrt(0.02)] * 4)
    # std 0.01: every activation shrinks towards 0, the scores are all ~0: the loss stays ln 10
    assert inits["std=0.01"]["final_smoothed"] == pytest.approx(np.log(10), abs=0.01)
    assert inits["he"]["final_smoothed"] < inits["xavier"]["final_smoothed"] - 0.1
    assert inits["xavier"]["final_smoothed"] < np.log(10)


@pytest.fixture(scope="module")
def bn(sets):
    from mitbadak.training.experiments import batchnorm

    return batchnorm(seed=0, epochs=4, scales=[8, 15], **sets)


def test_batchnorm_learns_where_the_plain_network_cannot(bn, sets):
    from mitbadak.training.experiments import SCALES, batchnorm

    assert len(SCALES) == 16 and SCALES[0] == 1.0 and SCALES[-1] == pytest.approx(1e-4)
    assert bn["epochs"] == 4 and bn["train_size"] == 1000 and not bn["partial"]
    assert bn["scales"] == [float(SCALES[8]), float(SCALES[15])]
    for case in bn["cases"]:
        assert len(case["bn_train_acc"]) == len(case["plain_train_acc"]) == 4
        # at w = 0.0074 and 1e-4 the plain network's signal vanishes: it stays near chance
        assert case["plain_train_acc"][-1] < 0.2, case
        assert case["bn_train_acc"][-1] > case["plain_train_acc"][-1] + 0.15, case
    # each scale has its own generator: the same numbers when run alone
    alone = batchnorm(seed=0, epochs=4, scales=[15], **sets)
    assert alone["cases"][0] == bn["cases"][1]


@pytest.fixture(scope="module")
def decay(sets):
    from mitbadak.training.experiments import overfit_weight_decay

    return overfit_weight_decay(seed=0, epochs=80, **sets)


def test_weight_decay_narrows_the_gap(decay, sets):
    from mitbadak.training.experiments import overfit_weight_decay

    assert decay["epochs"] == 80 and decay["weight_decay"] == 0.1 and decay["train_size"] == 300
    base = decay["baseline"]
    assert len(decay["train_acc"]) == len(decay["test_acc"]) == len(base["test_acc"]) == 80
    # the same first step from the same weights: epoch 0 almost alike, then they part
    assert abs(decay["train_acc"][0] - base["train_acc"][0]) < 0.02

    def gap(d):
        return np.mean(np.subtract(d["train_acc"][-10:], d["test_acc"][-10:]))

    assert np.mean(base["train_acc"][-10:]) > 0.85  # 300 images nearly learnt by heart
    assert np.mean(decay["train_acc"][-10:]) < np.mean(base["train_acc"][-10:]) - 0.1
    assert gap(decay) < gap(base)
    again = overfit_weight_decay(seed=0, epochs=5, **sets)
    assert again["test_acc"] == decay["test_acc"][:5]


def test_overfit_dropout_through_the_book_trainer(sets):
    from mitbadak.training.experiments import overfit_dropout

    data = overfit_dropout(seed=1, epochs=25, **sets)
    assert data["dropout_ratio"] == 0.2 and data["weight_decay"] == 0.0 and data["epochs"] == 25
    assert len(data["train_acc"]) == len(data["test_acc"]) == 25
    assert len(data["baseline"]["train_acc"]) == 25
    # dropout slows the fit of the 300 images down: the baseline is ahead on them
    assert data["baseline"]["train_acc"][-1] > data["train_acc"][-1] + 0.05
    again = overfit_dropout(seed=1, epochs=25, **sets)
    assert again["train_acc"] == data["train_acc"] and again["test_acc"] == data["test_acc"]


def _stop_after(n: int):
    calls = [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] > n

    return should_stop


def test_should_stop_returns_the_part_done(sets):
    from mitbadak.training.experiments import (
        batchnorm,
        optimizer_mnist,
        overfit_weight_decay,
        weight_init_histogram,
    )

    data = optimizer_mnist(seed=0, iterations=100, should_stop=_stop_after(15), **sets)
    assert data["partial"] and data["iterations"] == 15
    assert all(len(v["loss"]) == len(v["smoothed"]) == 15 for v in data["optimizers"].values())
    short = optimizer_mnist(seed=0, iterations=100, should_stop=_stop_after(5), **sets)
    sgd = short["optimizers"]["sgd"]  # shorter than the smoothing window: kept as it is
    assert sgd["smoothed"] == sgd["loss"] and sgd["final_smoothed"] == np.mean(sgd["loss"])
    # 2 epochs done (steps 0 and 3 evaluated), stopped in the third
    wd = overfit_weight_decay(seed=0, epochs=50, should_stop=_stop_after(5), **sets)
    assert wd["partial"] and len(wd["train_acc"]) == len(wd["baseline"]["test_acc"]) == 2
    # batchnorm: the first scale done (31 steps for 4 epochs), the second stopped after 11 steps
    b = batchnorm(seed=0, epochs=4, scales=[8, 15], should_stop=_stop_after(31 + 11), **sets)
    assert b["partial"] and [len(c["bn_train_acc"]) for c in b["cases"]] == [4, 2]
    h = weight_init_histogram(should_stop=_stop_after(5))
    assert h["partial"] and len(h["cases"]) == 5


def test_csv_rows_and_figures_of_the_new_experiments(sets, bn, decay, tmp_path):
    from mitbadak.cli.experiment import _rows
    from mitbadak.training.experiments import optimizer_mnist, overfit_dropout
    from mitbadak.views import plots

    opt = optimizer_mnist(seed=0, iterations=12, **sets)
    head, rows = _rows("optimizer-mnist", opt)
    assert head == ["optimizer", "lr", "iteration", "loss", "smoothed"] and len(rows) == 6 * 12
    assert rows[0][:3] == ["sgd", 0.01, 1] and rows[0][3] == opt["optimizers"]["sgd"]["loss"][0]
    head, rows = _rows("batchnorm", bn)
    assert head == ["scale", "epoch", "bn_train_acc", "plain_train_acc"] and len(rows) == 8
    assert rows[-1] == [bn["scales"][1], 3, bn["cases"][1]["bn_train_acc"][3],
                        bn["cases"][1]["plain_train_acc"][3]]  # fmt: skip
    head, rows = _rows("overfit-weight-decay", decay)
    assert head[1:] == ["train_acc", "test_acc", "baseline_train_acc", "baseline_test_acc"]
    assert len(rows) == 80 and rows[79][0] == 79
    assert rows[79][4] == decay["baseline"]["test_acc"][79]
    drop = overfit_dropout(seed=0, epochs=3, **sets)
    assert len(_rows("overfit-dropout", drop)[1]) == 3
    for lang in ("en", "ko"):
        assert len(plots.optimizer_mnist(opt, lang=lang).axes) == 1
        assert len(plots.batchnorm(bn, lang=lang).axes) == 2
        assert len(plots.overfit_weight_decay(decay, lang=lang).axes) == 2
        assert len(plots.overfit_dropout(drop, lang=lang).axes) == 2
    fig = plots.batchnorm(dict(bn, scales=[float(s) for s in np.logspace(0, -4, 16)],
                               partial=True), lang="en")  # fmt: skip
    assert len(fig.axes) == 16 and "interrupted" in fig._suptitle.get_text()
    assert sum(bool(ax.lines) for ax in fig.axes) == 2  # the two scales computed, 14 empty


def test_cli_data_applies_only_to_image_experiments(capsys):
    assert main(["experiment", "optimizer-paths", "--data", "mnist-sample"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data applies to the experiments on images" in err[0]


def test_ctrl_c_writes_a_readable_partial_result(tmp_path):
    """A real SIGINT to `mitbadak experiment optimizer-mnist --full` (2,000 iterations): the
    iterations done are written (data.json, data.csv, the figure, meta.json saying partial),
    one line says so, exit status 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "opt"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mitbadak", "experiment", "optimizer-mnist", "--full",
         "--data", "mnist-sample", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "the book size" in line:
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (lines, rest, err)
    said = [ln for ln in (rest + err).splitlines() if "interrupted" in ln]
    assert len(said) == 1 and '"partial": true' in said[0], (rest, err)
    assert "Traceback" not in err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["partial"] is True and meta["full"] is True
    assert meta["files"] == ["data.json", "data.csv", "optimizer-mnist.png"]
    data = json.loads((out / "data.json").read_text())
    n = data["iterations"]
    assert data["partial"] is True and 0 < n < 2000
    assert all(len(v["loss"]) == n for v in data["optimizers"].values())
    assert len((out / "data.csv").read_text().splitlines()) == 1 + 6 * n
    assert (out / "optimizer-mnist.png").stat().st_size > 10_000
