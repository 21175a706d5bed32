"""Chapters 7-8's experiments: conv-filters, apply-filter, convnet-gradient-check,
misclassified, half-float: the numbers each returns (the book's where its weights are here),
their figures in English and Korean, and `mitbadak experiment`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mitbadak.cli import main
from mitbadak.training.experiments import (
    EXPERIMENTS,
    apply_filter,
    conv_filters,
    convnet_gradient_check,
    filter_responses,
    half_float,
    misclassified,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIMPLE = SHARED / "ch07" / "params.pkl"
DEEP = SHARED / "ch08" / "deep_convnet_params.pkl"
needs_book = pytest.mark.skipif(not DEEP.is_file() or not (SHARED / "mnist").is_dir(),
                                reason="the book's weights and MNIST's test set (../shared) "
                                "are not here")  # fmt: skip


@pytest.fixture(scope="module")
def mnist_test():
    from mitbadak.files.datasets import load_split

    return load_split("mnist", "test", data_dir=SHARED / "mnist", download=False)


@pytest.fixture(scope="module")
def sample():
    from mitbadak.training.experiments import load_experiment_data

    d = load_experiment_data("mnist-sample")
    return {k: d[k] for k in ("x_train", "t_train", "x_test", "t_test")}


def test_gradient_check_agrees_as_the_books_does():
    data = convnet_gradient_check(seed=0)
    params = data["cases"]["simple"]["params"]
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"] and not data["partial"]
    # after the pooling everything is smooth: agreement to rounding; W1/b1 feed ReLU and max
    # pooling at activations of ~1e-3, where h = 1e-4 crosses kinks (the book prints ~1e-6)
    assert all(params[k]["mean_abs_diff"] < 1e-9 for k in ("W2", "b2", "W3", "b3")), params
    assert params["W1"]["mean_abs_diff"] < 2e-5 and params["b1"]["mean_abs_diff"] < 5e-5
    assert params["W3"]["relative"] < 1e-6
    assert convnet_gradient_check(seed=0) == data  # seeded
    stopped = convnet_gradient_check(should_stop=lambda: True)
    assert stopped == {"cases": {}, "partial": True}


def test_filter_responses_are_the_convolution_written_out():
    rng = np.random.default_rng(1)
    image, filters = rng.random((9, 12)), rng.normal(size=(3, 5, 5))
    got = filter_responses(image, filters)
    assert got.shape == (3, 5, 8)
    for f in range(3):
        for i in range(5):
            for j in range(8):
                assert got[f, i, j] == pytest.approx(np.sum(image[i:i + 5, j:j + 5] * filters[f]))


def test_short_run_filters_learn_and_stop_with_what_is_done(sample):
    calls = []

    def stop_after_40():
        calls.append(1)
        return len(calls) > 40

    data = conv_filters(seed=2, should_stop=stop_after_40, **sample)
    assert data["partial"] and data["iterations"] == 40
    assert data["before"].shape == data["after"].shape == (30, 5, 5)
    assert 0.008 < float(np.std(data["before"])) < 0.012  # weight_init_std 0.01
    assert float(np.abs(data["after"] - data["before"]).max()) > 0.01  # they moved
    assert data["test_acc"] > 0.5  # 40 steps already learn
    assert data["after_source"] == "a short run: 40 steps of Adam lr 0.001, batch 100"


@needs_book
def test_conv_filters_after_are_the_books(mnist_test):
    from mitbadak.training.experiments._convnets import book_net

    x, t = mnist_test
    data = conv_filters(seed=0, weights=SIMPLE, x_test=x, t_test=t)
    book = np.asarray(book_net("params.pkl", SIMPLE).params["W1"])[:, 0]
    np.testing.assert_array_equal(data["after"], book)
    assert data["iterations"] == 0 and "params.pkl (2016 book)" in data["after_source"]
    assert data["test_acc"] == pytest.approx(0.989, abs=0.006)  # first 1,000 of the 0.9890 set


@needs_book
def test_misclassified_are_the_books_pairs(mnist_test):
    x, t = mnist_test
    data = misclassified(x_test=x, t_test=t, weights=DEEP)
    assert data["n"] == 1000 and data["accuracy"] == pytest.approx(0.993)
    # the book's own code prints {1: (6, 0), 2: (3, 5), 3: (3, 5), ...} on these images
    assert [tuple(data["pairs"][v]) for v in (1, 2, 3)] == [(6, 0), (3, 5), (3, 5)]
    first = data["wrong"][0]
    assert int(t[first["index"]]) == first["label"] == 6 and first["image"].shape == (28, 28)
    cut = misclassified(x_test=x, t_test=t, weights=DEEP,
                        should_stop=iter([False, False, True]).__next__)  # fmt: skip
    assert cut["partial"] and cut["n"] == 200


@needs_book
def test_half_float_keeps_the_books_accuracy(mnist_test):
    x, t = mnist_test
    data = half_float(x_test=x, t_test=t, weights=DEEP)
    assert data["network"] == "DeepConvNet" and data["n"] == 1000
    assert data["accuracy"]["float64"] == pytest.approx(0.993)
    assert abs(data["accuracy"]["float16"] - data["accuracy"]["float64"]) <= 0.002
    assert data["changed"]["float64"] == 0 and data["changed"]["float16"] <= 2
    # float16 keeps 11 significant bits: a weight of |w| < 1 moves by at most 2**-12
    assert 0 < data["max_weight_error"]["float16"] < 2**-11
    assert data["max_weight_error"]["float64"] == 0


def test_half_float_without_the_books_weights_trains_a_short_run(sample):
    data = half_float(seed=1, **sample)
    assert data["network"] == "SimpleConvNet" and data["n"] == 1000
    assert data["accuracy"]["float64"] > 0.8
    assert abs(data["accuracy"]["float16"] - data["accuracy"]["float64"]) <= 0.01


def test_apply_filter_takes_the_users_image(tmp_path, capsys):
    from PIL import Image

    picture = np.zeros((40, 60), dtype=np.uint8)
    picture[10:30, 20:25] = 255  # a vertical bar
    Image.fromarray(picture).save(tmp_path / "bar.png")
    out = tmp_path / "af"
    args = ["experiment", "apply-filter", "--image", str(tmp_path / "bar.png"), "--out", str(out),
            "--lang", "ko", "--data-dir", str(SHARED)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'bar.png'}" in printed
    data = json.loads((out / "data.json").read_text())
    assert np.asarray(data["responses"]).shape == (16, 36, 56)
    assert np.asarray(data["filters"]).shape == (16, 5, 5)
    assert (out / "apply-filter.ko.png").stat().st_size > 10_000
    assert (out / "data.csv").read_text().splitlines()[0] == (
        "filter,response_min,response_max,response_mean")
    # the responses are the filters over the image as read
    from mitbadak.files.photos import load_image

    np.testing.assert_allclose(data["responses"], filter_responses(
        load_image(tmp_path / "bar.png"), np.asarray(data["filters"])), atol=1e-12)


def test_image_only_for_apply_filter_and_missing_weights_said_in_two_lines(
    tmp_path, capsys, monkeypatch
):
    assert main(["experiment", "half-float", "--image", "x.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mitbadak: error: --image applies to apply-filter; half-float takes no image"]
    monkeypatch.setenv("MITBADAK_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["experiment", "misclassified", "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "deep_convnet_params.pkl" in err[0] and "Traceback" not in err[0]
    assert "mitbadak data download book-convnets" in err[1]
    assert not (tmp_path / "m").exists()


def test_registry_and_figures_in_both_languages(sample):
    from mitbadak.views import plots

    for name in ("conv-filters", "apply-filter", "convnet-gradient-check", "misclassified",
                 "half-float"):  # fmt: skip
        assert name in EXPERIMENTS and callable(getattr(plots, EXPERIMENTS[name].figure))
    grad = convnet_gradient_check()
    filters = conv_filters(should_stop=iter([False] * 5 + [True] * 99).__next__, **sample)
    image = sample["x_test"][0].reshape(28, 28)
    applied = apply_filter(image=image, should_stop=iter([False] * 3 + [True] * 99).__next__,
                           image_source="the first digit of the mnist-sample test set",
                           **{k: sample[k] for k in ("x_train", "t_train")})  # fmt: skip
    wrong = {"accuracy": 0.5, "n": 2, "source": "the book's deep_convnet_params.pkl (2016 book)",
             "partial": False, "pairs": {1: [3, 5]},
             "wrong": [{"view": 1, "index": 0, "label": 3, "predicted": 5,
                        "image": image}]}  # fmt: skip
    half = {"network": "SimpleConvNet", "source": "a short run: 3 steps of Adam lr 0.001",
            "n": 10, "accuracy": {"float64": 0.9, "float16": 0.8},
            "changed": {"float64": 0, "float16": 1}, "max_weight_error": {}, "partial": True}
    for lang in ("en", "ko"):
        assert len(plots.conv_filters(filters, lang=lang).axes) == 60
        assert len(plots.apply_filter(applied, lang=lang).axes) == 33
        assert len(plots.convnet_gradient_check(grad, lang=lang).axes) == 1
        assert len(plots.misclassified_convnet(wrong, lang=lang).axes) == 1
        assert len(plots.half_float(half, lang=lang).axes) == 1
    ko = plots.half_float(half, lang="ko")
    assert "짧은 학습: Adam 학습률 0.001로 3회 반복" in ko.axes[0].get_title()
    title = plots.misclassified_convnet(wrong, lang="ko").axes[0].get_title()
    assert title == "정답 3 → 예측 5"
