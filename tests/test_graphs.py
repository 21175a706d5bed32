"""Chapter 5's graphs step by step: the shopping examples, a tiny network, gradient checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitbadak.nn.networks import TwoLayerNet
from mitbadak.views.computational_graphs import (
    apple_graph,
    apple_orange_graph,
    network_graph,
    relative_difference,
)


def test_apple_graph_is_the_books():
    g = apple_graph()
    assert g["price"] == pytest.approx(220)
    assert g["grads"]["apple"] == pytest.approx(2.2)
    assert g["grads"]["apple_num"] == pytest.approx(110)
    assert g["grads"]["tax"] == pytest.approx(200)
    assert g["display"]["values"]["price"] == "220"
    shown = [g["display"]["grads"][k] for k in ("apple", "apple_num", "tax")]
    assert shown == ["2.2", "110", "200"]
    assert [s["node"] for s in g["forward"]] == ["mul_apple", "mul_tax"]
    assert [s["node"] for s in g["backward"]] == ["mul_tax", "mul_apple"]
    first = g["backward"][0]  # the tax node: local derivatives are the swapped inputs
    assert first["dout"] == {"price": 1.0}
    assert first["local"] == pytest.approx({"apple_price": 1.1, "tax": 200.0})
    assert first["grads"] == pytest.approx({"apple_price": 1.1, "tax": 200.0})
    second = g["backward"][1]
    assert second["dout"] == pytest.approx({"apple_price": 1.1})
    assert second["local"] == {"apple": 2.0, "apple_num": 100.0}
    assert second["grads"] == pytest.approx({"apple": 2.2, "apple_num": 110.0})


def test_apple_orange_graph_is_the_books():
    g = apple_orange_graph()
    assert g["price"] == pytest.approx(715)
    expected = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "tax": 650}
    assert {k: g["grads"][k] for k in expected} == pytest.approx(expected)
    names = ("apple", "apple_num", "orange", "orange_num", "tax")
    shown = [g["display"]["grads"][k] for k in names]
    assert g["display"]["values"]["price"] == "715"
    assert shown == ["2.2", "110", "3.3", "165", "650"]
    add = next(s for s in g["backward"] if s["node"] == "add_apple_orange")
    assert add["layer"] == "AddLayer" and add["local"] == {"apple_price": 1.0, "orange_price": 1.0}
    assert add["grads"] == pytest.approx({"apple_price": 1.1, "orange_price": 1.1})
    assert g["values"]["all_price"] == 650.0
    json.dumps(g)  # plain data all the way down


def test_graph_inputs_are_editable_and_checked():
    g = apple_orange_graph(apple=120, apple_num=1, orange="50", orange_num=4, tax=1.0)
    assert g["price"] == 320.0
    assert g["grads"]["orange_num"] == 50.0 and g["grads"]["tax"] == 320.0
    with pytest.raises(ValueError, match="tax must be a number, got 'abc'"):
        apple_graph(tax="abc")
    with pytest.raises(ValueError, match="apple must be a finite number"):
        apple_graph(apple=float("inf"))
    with pytest.raises(ValueError, match="apple_num must be a number, got True"):
        apple_graph(apple_num=True)


def test_network_graph_backprop_equals_the_library_network_and_the_numerical_gradient():
    g = network_graph()
    json.dumps(g)
    params = {k: np.array(v) for k, v in g["params"].items()}
    net = TwoLayerNet(2, 3, 3, activation="relu", dtype=np.float64)
    for k, v in params.items():
        net.params[k][...] = v  # in place: the layers share these arrays
    x, t = np.array(g["x"]), np.array(g["t"])
    assert g["loss"] == pytest.approx(net.loss(x, t), rel=1e-12)
    expected = net.gradient(x, t)
    for row in g["gradcheck"]:
        np.testing.assert_allclose(row["backprop"], expected[row["param"]], rtol=1e-12)
        assert row["relative"] < 1e-7
        assert row["max_abs"] == pytest.approx(
            np.max(np.abs(np.array(row["numerical"]) - np.array(row["backprop"])))
        )
    assert [s["node"] for s in g["forward"]] == ["Affine1", "Relu", "Affine2", "SoftmaxWithLoss"]
    assert [n["node"] for n in g["nodes"]] == [s["node"] for s in g["forward"]]
    assert [n["output"] for n in g["nodes"]] == ["a1", "z1", "s", "L"]
    assert [s["node"] for s in g["backward"]] == ["SoftmaxWithLoss", "Affine2", "Relu", "Affine1"]
    assert g["forward"][0]["outputs"]["a1"]["shape"] == [3, 3]
    assert g["forward"][3]["outputs"]["L"]["value"] == g["loss"]
    y = np.array(g["forward"][3]["outputs"]["y"]["value"])
    onehot = np.eye(3)[t]
    np.testing.assert_allclose(g["backward"][0]["grads"]["s"]["value"], (y - onehot) / 3)
    assert g["backward"][3]["grads"]["x"]["shape"] == [3, 2]


def test_network_graph_sigmoid_and_own_inputs():
    g = network_graph([[0.5, -1.0], [2.0, 0.0]], [1, 0], hidden=2, activation="sigmoid", seed=3)
    assert [s["node"] for s in g["forward"]][1] == "Sigmoid"
    z1 = np.array(g["forward"][1]["outputs"]["z1"]["value"])
    np.testing.assert_allclose(g["backward"][2]["local"], z1 * (1 - z1))
    assert all(row["relative"] < 1e-7 for row in g["gradcheck"])
    assert [row["shape"] for row in g["gradcheck"]] == [[2, 2], [2], [2, 2], [2]]


def test_a_relu_kink_is_reported_where_the_gradients_disagree():
    # a1[0, 0] = 0.5 * 1.0 + (-0.25) * 2.0 + 0 = 0 exactly: ReLU's kink
    params = {
        "W1": [[1.0, -0.5], [-0.25, 0.75]],
        "b1": [0.0, 0.0],
        "W2": [[1.0, -1.0], [0.5, 0.25]],
        "b2": [0.0, 0.0],
    }
    g = network_graph([[0.5, 2.0], [1.0, 1.0]], [0, 1], params=params, hidden=2)
    assert g["kinks"] == [{"sample": 0, "unit": 0, "a1": 0.0}]
    w1 = next(row for row in g["gradcheck"] if row["param"] == "W1")
    assert w1["relative"] > 1e-3  # backprop takes ReLU'(0) = 0; the central difference ~ 1/2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": [[1, 2, 3, 4, 5]], "t": [0]}, r"x must be 1 to 4 samples of 1 to 4 numbers"),
        ({"x": [[1, 2]], "t": [0, 1]}, "t must be 1 whole-number class labels"),
        ({"x": [[1, 2]], "t": [0.5]}, "t must be 1 whole-number class labels"),
        ({"x": [[1, float("nan")]], "t": [0]}, "x must hold finite numbers"),
        ({"activation": "swish"}, "activation must be one of .* got 'swish'"),
        ({"hidden": 7}, "hidden must be a whole number 1 to 6, got 7"),
        ({"n_classes": 2}, "label 2 is out of range for 2 classes"),
        ({"params": {"W1": 1}}, "params must be exactly W1, b1, W2, b2"),
    ],
)
def test_network_graph_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        network_graph(**kwargs)


def test_relative_difference():
    assert relative_difference(np.array([1.0, -2.0]), np.array([1.0, -2.002])) == pytest.approx(
        0.002 / 2.002
    )
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0


def test_float32_shows_the_other_reason_the_gradients_disagree():
    g64 = network_graph()
    g32 = network_graph(dtype="float32")
    assert g32["dtype"] == "float32" and g32["loss"] == pytest.approx(g64["loss"], rel=1e-6)
    assert all(row["relative"] < 1e-7 for row in g64["gradcheck"])
    assert all(row["relative"] > 1e-4 for row in g32["gradcheck"])  # rounding swamps L(+h)-L(-h)
    for row in g32["gradcheck"]:
        np.testing.assert_allclose(
            row["difference"], np.array(row["numerical"]) - np.array(row["backprop"]), atol=1e-7
        )
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        network_graph(dtype="float16")
    with pytest.raises(ValueError, match="h must be a positive number no larger than 1, got 0.0"):
        network_graph(h=0)
