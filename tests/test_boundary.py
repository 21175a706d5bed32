"""Decision grids: the network's own predictions on a grid of 2-D points."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mitbadak.nn.networks import MultiLayerNet
from mitbadak.views.boundary import data_limits, decision_grid


def sign_net() -> MultiLayerNet:
    """scores = (relu(x0), relu(-x0)): class 0 right of x0 = 0, class 1 left of it."""
    net = MultiLayerNet(2, [2], 2, activation="relu", dtype=np.float64)
    net.params["W1"][...] = [[1.0, -1.0], [0.0, 0.0]]  # in place: the layers share the arrays
    net.params["b1"][...] = 0.0
    net.params["W2"][...] = np.eye(2)
    net.params["b2"][...] = 0.0
    return net


def test_grid_of_a_hand_made_boundary():
    grid = decision_grid(sign_net(), (-1.5, 1.5), (-1.0, 1.0), resolution=7)
    np.testing.assert_allclose(grid.xs, [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(grid.ys, np.linspace(-1.0, 1.0, 7))
    assert grid.probs.shape == (7, 7, 2) and grid.classes.shape == (7, 7)
    # every row (any y) is the same: class 1 left of 0, class 0 from 0 on (a tie goes to class 0)
    np.testing.assert_array_equal(grid.classes, np.tile([1, 1, 1, 0, 0, 0, 0], (7, 1)))
    # at x0 = 1.5 the scores are (1.5, 0): P(class 0) = 1 / (1 + e^-1.5)
    np.testing.assert_allclose(grid.probs[0, -1], [0.8175744761936437, 0.1824255238063563])
    np.testing.assert_allclose(grid.confidence[3, 3], 0.5)
    np.testing.assert_allclose(grid.probs.sum(axis=-1), 1.0)


def test_grid_matches_predict_proba_point_by_point():
    net = MultiLayerNet(2, [5, 4], 3, activation="sigmoid", seed=1, dtype=np.float64)
    grid = decision_grid(net, (-2, 2), (-1, 3), resolution=9)
    i, j = 2, 6
    expected = net.predict_proba(np.array([[grid.xs[j], grid.ys[i]]]))[0]
    np.testing.assert_allclose(grid.probs[i, j], expected, rtol=1e-12)
    data = json.loads(json.dumps(grid.to_dict(decimals=3)))
    assert data["n_classes"] == 3 and len(data["probs"]) == 9 and len(data["probs"][0][0]) == 3
    assert data["classes"] == grid.classes.tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xlim": (1, 1)}, "xlim must be two finite numbers with low < high, got (1, 1)"),
        ({"ylim": (0, float("nan"))}, "ylim must be two finite numbers"),
        ({"xlim": "ab"}, "xlim must be two numbers (low, high), got 'ab'"),
        ({"xlim": "12"}, "xlim must be two numbers (low, high), got '12'"),
        ({"resolution": 1}, "resolution must be 2 to 400, got 1"),
        ({"resolution": 401}, "resolution must be 2 to 400, got 401"),
        ({"resolution": 2.5}, "resolution must be a whole number, got 2.5"),
    ],
)
def test_bad_grid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decision_grid(sign_net(), **kwargs)


def test_only_two_input_networks():
    with pytest.raises(ValueError, match="needs a network with 2 inputs, got one with 784 inputs"):
        decision_grid(MultiLayerNet(784, [3], 10))


def test_data_limits():
    xlim, ylim = data_limits(np.array([[0.0, 1.0], [2.0, 1.0]]), margin=0.25)
    assert xlim == (-0.5, 2.5) and ylim == (0.75, 1.25)
    with pytest.raises(ValueError, match=r"shape \(N, 2\), got shape \(3,\)"):
        data_limits(np.zeros(3))


def test_run_boundary_follows_a_run_folder(tmp_path):
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.modelfile import load_model
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training
    from mitbadak.views.boundary import run_boundary

    config = TrainConfig(dataset="circles", hidden=[8], optimizer="adam", lr=0.05, epochs=2)
    run_training(config, tmp_path / "run")
    r = run_boundary(tmp_path / "run", resolution=11)
    assert r["source"] == "model.npz" and r["epoch"] == 2 and r["n_classes"] == 2
    assert len(r["points"]["train"]) == 320 and len(r["points"]["test"]) == 80
    net = load_model(tmp_path / "run" / "model.npz")
    x = np.array(r["points"]["train"])[:, :2]
    expected = decision_grid(net, *data_limits(np.concatenate(
        [x, np.array(r["points"]["test"])[:, :2]])), resolution=11)
    assert r["grid"]["classes"] == expected.classes.tolist()
    # make the checkpoint the newer file, as during a run (file times tick coarsely, so set it)
    model_time = (tmp_path / "run" / "model.npz").stat().st_mtime
    os.utime(tmp_path / "run" / "checkpoint.npz", (model_time + 1, model_time + 1))
    assert run_boundary(tmp_path / "run", resolution=3)["source"] == "checkpoint.npz"
    with pytest.raises(MitbadakError, match="no readable run config.json"):
        run_boundary(tmp_path / "nothing")
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "config.json").write_text(
        json.dumps({"config": {"dataset": "mnist-sample", "seed": 0}})
    )
    with pytest.raises(MitbadakError, match="trained on mnist-sample, not a 2-D data set"):
        run_boundary(tmp_path / "mnist")


def test_a_blown_up_network_still_gives_strict_json():
    net = sign_net()
    net.params["W2"][0, 0] = np.inf
    grid = decision_grid(net, resolution=5)
    data = grid.to_dict()
    json.dumps(data, allow_nan=False)
    assert None in data["probs"][0][4]  # right half: scores (inf, 0) give NaN probabilities
