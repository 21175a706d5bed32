"""The network drawn (views/network_view.py, views/boundary.unit_grids): real values, any depth."""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.nn.networks import MultiLayerNet
from mitbadak.views.boundary import unit_grids
from mitbadak.views.inspection import hidden_outputs
from mitbadak.views.network_view import network_view, unit_histograms


def _net(sizes, n_in=2, n_out=3, activation="relu"):
    return MultiLayerNet(n_in, sizes, n_out, activation=activation, seed=3)


def test_unit_grids_equal_each_units_activation_at_each_point():
    net = _net([5, 4], activation="tanh")
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)
    maps = unit_grids(net, xs, ys)
    assert [m.shape for m in maps] == [(5, 5, 7), (4, 5, 7)]
    for i, j, layer, unit in [(0, 0, 0, 0), (4, 6, 1, 3), (2, 3, 0, 4)]:
        point = np.array([[xs[j], ys[i]]])
        value = hidden_outputs(net, point)[layer].values[0, unit]
        assert maps[layer][unit, i, j] == pytest.approx(value, abs=1e-12)
    with pytest.raises(ValueError, match="2 inputs"):
        unit_grids(_net([3], n_in=4), xs, ys)


def test_network_view_any_depth_weights_maps_and_histograms():
    net = _net([20, 6, 5])
    x = np.random.default_rng(0).normal(size=(40, 2))
    ranges = [(0.0, 4.0)] * 3
    view = network_view(net, grid=(np.linspace(-1, 1, 6), np.linspace(-1, 1, 6)), probe=x,
                        ranges=ranges, bins=10, max_units=8, max_edges=30)  # fmt: skip
    assert view["sizes"] == [2, 20, 6, 5, 3]
    assert view["shown"][1] == list(range(8)) and view["shown"][2] == list(range(6))
    # weights: the largest |w| among shown units, their true values
    e = view["edges"][1]
    assert e["total"] == 120 and e["kept"] == 30
    W2 = net.params["W2"]
    for i, j, w in e["weights"]:
        assert w == pytest.approx(W2[i, j], abs=1e-5)
    smallest_kept = min(abs(w) for _, _, w in e["weights"])
    assert np.sum(np.abs(W2[:8, :6]) > smallest_kept + 1e-5) < 30
    # heat maps: the library's unit_grids of the shown units
    maps = unit_grids(net, np.linspace(-1, 1, 6), np.linspace(-1, 1, 6))
    np.testing.assert_allclose(view["maps"][2][4], maps[2][4], atol=5e-5)
    assert len(view["maps"]) == 3 and len(view["maps"][0]) == 8
    # histograms: each unit's values counted in its layer's bins, N in all
    counts = unit_histograms(net, x, ranges, bins=10)
    assert view["histograms"][0][3] == counts[0][3].tolist() and sum(counts[0][3]) == 40
    v = hidden_outputs(net, x)[0].values[:, 3]
    assert counts[0][3][0] == np.sum(v < 0.4)  # ReLU's zeros land in the first bin
    assert view["images"] is None


def test_network_view_mnist_images_and_not_for_convnets():
    net = _net([10], n_in=784, n_out=10)
    view = network_view(net)
    assert len(view["images"]) == 10 and len(view["images"][0]) == 784
    assert view["images"][2][100] == pytest.approx(net.params["W1"][100, 2], abs=5e-5)
    assert view["maps"] is None and view["histograms"] is None

    from mitbadak.nn.convnets import SimpleConvNet

    assert network_view(SimpleConvNet()) is None
