"""Generated 2-D toy sets, user point sets, and training on them through the run machinery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitbadak.core.errors import DataError
from mitbadak.files.datasets import toy
from mitbadak.files.datasets.toy import (
    TOY_DATASETS,
    check_train_dataset,
    class_count,
    dataset_from_points,
    load_generated,
    load_toy,
    make_toy,
    read_points_csv,
    write_points_csv,
)
from mitbadak.training.recipes import TrainConfig
from mitbadak.training.runs import load_training_data, run_training


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_every_toy_set_has_its_shape_and_balanced_classes(name):
    spec = TOY_DATASETS[name]
    x, t = make_toy(name, seed=0)
    assert x.shape == (spec.samples, 2) and x.dtype == np.float64
    assert t.shape == (spec.samples,) and t.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(t), [spec.samples // spec.classes] * spec.classes)
    assert np.all(np.abs(x) < 2.5)
    form = spec.to_dict()
    assert form["name"] == name and form["classes"] == spec.classes and form["max_samples"] == 20000


def test_same_seed_same_points_other_seed_other_points():
    a = make_toy("spiral", 300, classes=4, noise=0.1, seed=7)
    b = make_toy("spiral", 300, classes=4, noise=0.1, seed=7)
    c = make_toy("spiral", 300, classes=4, noise=0.1, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_spiral_arms_and_circle_radii_are_where_the_formula_puts_them():
    x, t = make_toy("spiral", 400, classes=4, noise=0.0, seed=0)
    assert np.bincount(t).tolist() == [100] * 4
    r = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(sorted(r[t == 2])[-1], 1.4)  # every arm ends at radius 1.4
    outer = x[t == 1][np.argmax(r[t == 1])]
    angle = 2 * np.pi * 1 / 4 + 4.0  # arm 1 of 4 at r = 1: 2 pi k / K + 4 r
    np.testing.assert_allclose(outer, 1.4 * np.array([np.cos(angle), np.sin(angle)]))
    x, t = make_toy("circles", 300, classes=3, noise=0.0, seed=0)
    r = np.hypot(x[:, 0], x[:, 1])
    for k, radius in enumerate([1.4 / 3, 2.8 / 3, 1.4]):
        np.testing.assert_allclose(r[t == k], radius)


def test_xor_labels_follow_the_sign_of_the_product():
    x, t = make_toy("xor", 400, noise=0.05, seed=3)
    np.testing.assert_array_equal(t, (x[:, 0] * x[:, 1] < 0).astype(int))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_toy("moons", classes=3), "moons takes 2 classes, got classes=3"),
        (lambda: make_toy("spiral", classes=11), "spiral takes 2 to 10 classes, got classes=11"),
        (lambda: make_toy("spiral", 5, classes=3), "takes 6 to 20,000 samples, got 5"),
        (lambda: make_toy("circles", noise=-0.1), "noise must be between 0 and 1, got -0.1"),
        (lambda: make_toy("blobs"), "unknown toy data set 'blobs'; expected one of spiral"),
        (lambda: load_toy("spiral:arms=3"), "options are classes=K, noise=S and samples=N"),
        (lambda: load_toy("spiral:classes=2.5"), "classes must be a whole number, got '2.5'"),
        (lambda: load_toy("spiral:noise=nan"), "noise must be a finite number"),
        (lambda: make_toy("xor", seed=-1), "seed must be a non-negative integer, got -1"),
    ],
)
def test_bad_toy_options_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_load_toy_splits_80_20_by_seed_and_counts_classes():
    data = load_toy("spiral:classes=5,noise=0.1,samples=500", seed=2)
    assert data.n_classes == 5 and data.name == "spiral:classes=5,noise=0.1,samples=500"
    assert data.train[0].shape == (400, 2) and data.test[0].shape == (100, 2)
    x, t = make_toy("spiral", 500, classes=5, noise=0.1, seed=2)
    np.testing.assert_array_equal(np.concatenate([data.train[0], data.test[0]]), x)
    np.testing.assert_array_equal(np.concatenate([data.train[1], data.test[1]]), t)


def test_names_training_accepts():
    assert check_train_dataset("mnist-sample") == "mnist-sample"
    assert check_train_dataset("spiral:classes=4") == "spiral:classes=4"
    assert check_train_dataset("my.csv") == "my.csv"
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        check_train_dataset("cifar")
    with pytest.raises(ValueError, match="circles takes 2 to 6 classes"):
        check_train_dataset("circles:classes=7")
    assert load_generated("mnist-sample") is None
    assert class_count("mnist-sample") == 10
    assert class_count("circles:classes=4") == 4
    assert class_count("points", np.array([0, 2, 1])) == 3


def test_points_make_a_data_set():
    points = [(0.1 * i, -0.1 * i, i % 3) for i in range(20)]
    data = dataset_from_points(points, seed=1)
    assert data.n_classes == 3
    assert data.train[0].shape == (16, 2) and data.test[0].shape == (4, 2)
    all_x = np.concatenate([data.train[0], data.test[0]])
    all_t = np.concatenate([data.train[1], data.test[1]])
    order = np.argsort(all_x[:, 0])
    np.testing.assert_allclose(all_x[order], [(p[0], p[1]) for p in points])
    np.testing.assert_array_equal(all_t[order], [p[2] for p in points])
    tiny = dataset_from_points([(0, 0, 0), (1, 1, 1)])  # too few to split: train = test
    np.testing.assert_array_equal(tiny.train[0], tiny.test[0])
    from_array = dataset_from_points(np.array(points), seed=1)
    np.testing.assert_array_equal(from_array.train[0], data.train[0])
    objects = [{"x": a, "y": b, "label": k} for a, b, k in points]
    np.testing.assert_array_equal(dataset_from_points(objects, seed=1).test[1], data.test[1])


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ("abc", "points must be a list of (x, y, label), got str"),
        ([(0, 0, 0), (1, 1)], "point 1 must be (x, y, label), got (1, 1)"),
        ([(0, 0, 0), ("a", 1, 1)], "point 1: x and y must be numbers"),
        ([(0, 0, 0), (float("inf"), 1, 1)], "point 1: x and y must be finite"),
        ([(0, 0, 0), (1, 1, 10)], "point 1: the label must be a class number 0-9, got 10"),
        ([(0, 0, 0), (1, 1, 0.5)], "point 1: the label must be a class number 0-9, got 0.5"),
        ([(0, 0, 0), (1, 1, True)], "the label must be a class number 0-9, got True"),
        ([(0, 0, 1), (1, 1, 1)], "at least two classes, but every point is class 1"),
        ([(0, 0, 1)], "at least 2 points, got 1"),
        ([(i, i, i % 2) for i in range(2001)], "too many points: at most 2,000 are allowed"),
    ],
)
def test_bad_points_are_rejected_clearly(points, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataset_from_points(points)


def test_points_csv_round_trip_and_errors(tmp_path):
    points = [(0.5, -1.25, 0), (1e-3, 2.0, 1), (0.1 + 0.2, 3.0, 2)]
    path = write_points_csv(tmp_path / "points.csv", points)
    assert path.read_text().splitlines()[0] == "x,y,label"
    assert read_points_csv(path) == points  # repr keeps every float exactly
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,label\n1,2,0\n1,2\n")
    with pytest.raises(DataError, match="bad.csv, line 3: expected x,y,label, got '1,2'"):
        read_points_csv(bad)
    bad.write_text("1,2,zero\n")
    with pytest.raises(DataError, match="line 1: expected two numbers and a class label"):
        read_points_csv(bad)
    with pytest.raises(DataError, match="cannot read point file"):
        read_points_csv(tmp_path / "absent.csv")


def test_training_a_spiral_through_run_training(tmp_path):
    config = TrainConfig(
        dataset="spiral:classes=4", hidden=[16], optimizer="adam", lr=0.05, epochs=3, seed=5
    )
    train_set, test_set, name, why = load_training_data(config)
    assert name == "spiral:classes=4" and why is None
    assert train_set[0].shape == (480, 2) and test_set[0].shape == (120, 2)
    result, info = run_training(config, tmp_path / "run")
    net = result.network
    assert (net.input_size, net.output_size) == (2, 4)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["dataset_used"] == "spiral:classes=4"
    assert (saved["n_train"], saved["n_test"]) == (480, 120)
    assert 0.0 <= info["final"]["test_acc"] <= 1.0
    again, _ = run_training(config, tmp_path / "run2")  # the seed fixes data and weights
    for key in net.params:
        np.testing.assert_array_equal(net.params[key], again.network.params[key])


def test_training_on_user_points_given_as_data_and_as_csv(tmp_path):
    rng = np.random.default_rng(0)
    pts = [(float(a), float(b), int(a > 0)) for a, b in rng.uniform(-1, 1, (200, 2))]
    data = dataset_from_points(pts, seed=0)
    config = TrainConfig(hidden=[8], optimizer="adam", lr=0.05, epochs=20, seed=0)
    result, _ = run_training(config, tmp_path / "a", data=data.as_run_data())
    assert result.network.output_size == 2
    assert result.history.last["test_acc"] > 0.9  # a vertical boundary is easy
    csv_path = write_points_csv(tmp_path / "pts.csv", pts)
    config_csv = TrainConfig(
        dataset=str(csv_path), hidden=[8], optimizer="adam", lr=0.05, epochs=20, seed=0
    )
    again, _ = run_training(config_csv, tmp_path / "b")
    for key in result.network.params:  # the CSV reproduces the in-memory run bit for bit
        np.testing.assert_array_equal(result.network.params[key], again.network.params[key])


def test_cli_trains_on_a_toy_set(tmp_path):
    from mitbadak.cli import main

    out = tmp_path / "run"
    rc = main(["train", "--dataset", "moons", "--hidden", "8", "--epochs", "2", "--quiet",
               "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "config.json").read_text())["config"]["dataset"] == "moons"
    assert toy.TRAIN_DATASETS[-4:] == ("spiral", "moons", "circles", "xor")
