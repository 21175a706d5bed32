"""ONNX and PyTorch export of the convnets (SimpleConvNet, DeepConvNet): the graph, and parity.

Parity: the exported copies (onnxruntime, PyTorch on the CPU) give the same labels as mitbadak
and probabilities within 1e-5. With random weights on the packaged MNIST sample always; with the
book's weights (``../shared/data/ch07/params.pkl``, ``ch08/deep_convnet_params.pkl``) on the real
MNIST test set: all 10,000 images for SimpleConvNet (through ``mitbadak export --check``), the
first 1,000 for DeepConvNet (its 10,000 take ~30 s here), and the first logits of test image 0
as the shared README lists them (the book's code printed them).
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

from mitbadak import DeepConvNet, SimpleConvNet
from mitbadak.cli import main
from mitbadak.core.functions import softmax
from mitbadak.files import export
from mitbadak.files.datasets import load_split
from mitbadak.files.modelfile import save_model
from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.layers import Affine, Relu
from mitbadak.nn.networks import LayerNet
from mitbadak.nn.pooling import Pooling
from mitbadak.training.steps import choose_scores

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
SIMPLE_PKL = SHARED / "ch07" / "params.pkl"
DEEP_PKL = SHARED / "ch08" / "deep_convnet_params.pkl"
TOL = 1e-5
#: The first five logits of test image 0 as the book's code prints them (../shared/data/README.md).
BOOK_LOGITS = {
    "SimpleConvNet": [-9.52909, -10.417573, -8.078534, -4.529725, -22.763867],
    "DeepConvNet": [-11.771778, -7.058771, -7.298754, -9.200718, -8.413607],
}


def need(module: str):
    """Import ``module``, or skip saying how to get it; under CI (CI=true) a failure."""
    try:
        return importlib.import_module(module)
    except ImportError:
        how = "pip install torch" if module == "torch" else "pip install 'mitbadak[export]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{module} is not installed under CI ({how}); the export tests need it")
        pytest.skip(f"{module} is not installed ({how})")


def _shared(path: Path) -> Path:
    if not (path.is_file() and MNIST_DIR.is_dir()):
        pytest.skip(f"../shared/data is not present (needs {path.name} and mnist/)")
    return path


@pytest.fixture(scope="module")
def sample_images():
    """200 images of the packaged MNIST sample as (N, 1, 28, 28), and their labels."""
    x, t = load_split("mnist-sample", "test", download=False)
    return x[:200].reshape(-1, 1, 28, 28), t[:200]


@pytest.fixture(scope="module")
def random_nets():
    """Each convnet with random weights (SimpleConvNet's drawn wider than the book's 0.01, so
    that its probabilities are far from uniform and a wrong layer would show); random biases."""
    nets = {
        "SimpleConvNet": SimpleConvNet(weight_init_std=0.1, seed=3),
        "DeepConvNet": DeepConvNet(seed=4),
    }
    rng = np.random.default_rng(7)
    for net in nets.values():  # non-zero biases too, so that a misplaced bias would show
        net.set_params({k: rng.normal(0, 0.1, v.shape) if k.startswith("b") else v
                        for k, v in net.params.items()})  # fmt: skip
    return nets


def _onnx(net, path: Path):
    need("onnx")
    need("onnxruntime")
    return export.to_onnx(net, path)


def _torch_probabilities(module, x: np.ndarray) -> np.ndarray:
    torch = need("torch")
    with torch.no_grad():
        scores = module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return torch.softmax(scores, dim=1).numpy()


def _assert_parity(net, probabilities: np.ndarray, x: np.ndarray, reference=None) -> None:
    report = export.compare(net, probabilities, x, reference=reference)
    assert report.n == len(x)
    assert report.label_agreement == 1.0, report
    assert report.max_abs_diff < TOL, report


# --- the graph ------------------------------------------------------------------------------------


def test_simple_convnet_graph_operators_and_input_shape(random_nets, tmp_path):
    onnx = need("onnx")
    model = onnx.load(_onnx(random_nets["SimpleConvNet"], tmp_path / "s.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Softmax"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 1, 28, 28]
    attrs = {a.name: list(a.ints) for a in model.graph.node[0].attribute}
    assert attrs == {"kernel_shape": [5, 5], "strides": [1, 1], "pads": [0, 0, 0, 0]}
    pool = {a.name: list(a.ints) for a in model.graph.node[2].attribute}
    assert pool == {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0]}
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    assert inits == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                     "W3": (100, 10), "b3": (10,)}  # fmt: skip
    arch = export.onnx_metadata(random_nets["SimpleConvNet"])["architecture"]
    assert arch.startswith("SimpleConvNet 1x28x28-10 Convolution1-Relu1-Pooling1-Affine1")


def test_deep_convnet_graph_keeps_conv4_pad_and_the_book_dropout_as_mul(random_nets, tmp_path):
    onnx = need("onnx")
    from onnx import numpy_helper

    model = onnx.load(_onnx(random_nets["DeepConvNet"], tmp_path / "d.onnx"))
    nodes = model.graph.node
    ops = [n.op_type for n in nodes]
    assert ops.count("Conv") == 6 and ops.count("MaxPool") == 3 and ops.count("Flatten") == 1
    assert ops[-7:] == ["Flatten", "Gemm", "Relu", "Mul", "Gemm", "Mul", "Softmax"]
    pads = [next(list(a.ints) for a in n.attribute if a.name == "pads")
            for n in nodes if n.op_type == "Conv"]  # fmt: skip
    assert pads == [[1] * 4, [1] * 4, [1] * 4, [2] * 4, [1] * 4, [1] * 4]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales = [float(inits[n.input[1]]) for n in nodes if n.op_type == "Mul"]
    assert scales == [0.5, 0.5]  # test-time dropout: ×(1 − 0.5), on the hidden layer and logits


def test_torch_modules_of_the_convnets(random_nets):
    need("torch")
    simple = export.to_torch(random_nets["SimpleConvNet"])
    names = [type(m).__name__ for m in simple]
    assert names == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    state = simple.state_dict()  # the keys docs/export.md names
    assert list(state) == ["0.weight", "0.bias", "4.weight", "4.bias", "6.weight", "6.bias"]
    np.testing.assert_array_equal(state["0.weight"].numpy(),
                                  random_nets["SimpleConvNet"].params["W1"].astype(np.float32))
    np.testing.assert_array_equal(state["4.weight"].numpy(),
                                  random_nets["SimpleConvNet"].params["W2"].T.astype(np.float32))
    deep = export.to_torch(random_nets["DeepConvNet"])
    assert [type(m).__name__ for m in deep][-6:] == [
        "Flatten", "Linear", "ReLU", "Scale", "Linear", "Scale"]  # fmt: skip
    assert [m.padding for m in deep if type(m).__name__ == "Conv2d"][3] == (2, 2)


# --- parity with random weights (always) ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["SimpleConvNet", "DeepConvNet"])
def test_random_weight_parity_onnx_and_torch(random_nets, sample_images, tmp_path, kind):
    net = random_nets[kind]
    x, _ = sample_images
    ours = net.predict(x)  # the layers: the book's im2col path
    probs = softmax(ours)
    # far from uniform (0.1) and varying from image to image: a broken layer would show
    assert probs.max(axis=1).mean() > 0.15 and probs.std(axis=0).max() > 0.01
    scores, onnx_probs = export.run_onnx(_onnx(net, tmp_path / "m.onnx"), x)
    np.testing.assert_allclose(scores, ours, rtol=1e-4, atol=1e-5)
    _assert_parity(net, onnx_probs, x, reference=probs)
    # flat (N, 784) rows are reshaped to the model's declared (N, 1, 28, 28)
    np.testing.assert_allclose(export.run_onnx(tmp_path / "m.onnx", x.reshape(len(x), -1))[1],
                               onnx_probs, atol=0)  # fmt: skip
    _assert_parity(net, _torch_probabilities(export.to_torch(net), x), x, reference=probs)


def test_padded_strided_window_matches_the_book_zero_padding(tmp_path):
    """A strided, padded convolution and a padded pooling straight after it (no ReLU, so the
    window at the border sees negative values): the book's pooling pads with zeros, which can
    win the maximum; ONNX MaxPool's and torch's own padding never would."""
    layers = [Convolution.of_shape(4, 1, 3, 3, 2, 1, 0.5), Pooling(3, 3, stride=2, pad=1),
              Affine.of_shape(4 * 7 * 7, 10, 0.3)]  # fmt: skip
    net = LayerNet(layers, input_shape=(1, 28, 28), seed=5)
    x = np.random.default_rng(6).normal(size=(20, 1, 28, 28)) - 0.5
    scores, probs = export.run_onnx(_onnx(net, tmp_path / "p.onnx"), x)
    np.testing.assert_allclose(scores, net.predict(x), rtol=1e-4, atol=1e-5)
    _assert_parity(net, probs, x)
    _assert_parity(net, _torch_probabilities(export.to_torch(net), x), x)
    # the explicit zero Pad is load-bearing: MaxPool's own pads instead move these scores by ~0.3
    onnx = need("onnx")
    assert "Pad" in [n.op_type for n in onnx.load(tmp_path / "p.onnx").graph.node]


def test_batchnorm_of_images_is_refused_before_anything_is_written(tmp_path):
    size = 2 * 24 * 24
    layers = [Convolution.of_shape(2, 1, 5, 5, 1, 0, 0.1),
              BatchNormalization(np.ones(size), np.zeros(size)), Relu(),
              Affine.of_shape(size, 10, 0.1)]  # fmt: skip
    net = LayerNet(layers, input_shape=(1, 28, 28), seed=0)
    need("onnx")
    with pytest.raises(export.LayerNotExportable, match="BatchNormalization of images"):
        export.to_onnx(net, tmp_path / "bn.onnx")
    assert not (tmp_path / "bn.onnx").exists()
    need("torch")
    with pytest.raises(export.LayerNotExportable, match="per channel in PyTorch"):
        export.to_torch(net)


def test_torch_state_dict_loads_into_torch_convnet(random_nets, sample_images, tmp_path):
    torch = need("torch")
    x, _ = sample_images
    net = random_nets["DeepConvNet"]
    path = export.save_torch_state_dict(net, tmp_path / "d.pt")
    module = export.torch_convnet("DeepConvNet")
    module.load_state_dict(torch.load(path, weights_only=True))
    _assert_parity(net, _torch_probabilities(module, x[:50]), x[:50])
    with pytest.raises(ValueError, match="kind must be one of SimpleConvNet, DeepConvNet"):
        export.torch_convnet("LeNet")


def test_cli_export_of_a_saved_convnet_prints_a_loader_that_works(tmp_path, capsys):
    """A SimpleConvNet of other sizes, saved as a mitbadak model file: the printed loader names
    the arguments that differ from the default, and running that line loads the state_dict."""
    need("onnx")
    need("onnxruntime")
    torch = need("torch")
    net = SimpleConvNet(conv_param={"filter_num": 6, "filter_size": 3, "pad": 1, "stride": 1},
                        hidden_size=20, weight_init_std=0.1, seed=2)  # fmt: skip
    model = save_model(tmp_path / "small.npz", net)
    onnx_out, pt_out = tmp_path / "s.onnx", tmp_path / "s.pt"
    rc = main(["export", str(model), "--onnx", str(onnx_out), "--torch", str(pt_out),
               "--check", "--dataset", "mnist-sample"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "input 'input' (N, 1, 28, 28) float32" in out
    assert out.count("labels agree 100.0000%") == 2, out
    call = re.search(r"load with (mitbadak\.files\.export\.torch_convnet\(.*?\))\.load", out)
    assert call is not None, out
    assert "hidden_size=20" in call.group(1) and "'filter_num': 6" in call.group(1)
    import mitbadak.files.export  # noqa: F401 - the name the printed line uses

    module = eval(call.group(1), {"mitbadak": __import__("mitbadak")})  # the printed line
    module.load_state_dict(torch.load(pt_out, weights_only=True))
    x = load_split("mnist-sample", "test", download=False)[0][:30].reshape(-1, 1, 28, 28)
    _assert_parity(net, _torch_probabilities(module, x), x)


# --- parity with the book's weights (../shared) --------------------------------------------------


def _parse_check(out: str, engine: str) -> tuple[int, float, str, float]:
    m = re.search(rf"check {engine} vs mitbadak on mnist test: (\d+) inputs: max \|Δp\| "
                  r"(\S+), labels agree (\S+)%, accuracy (\S+)", out)  # fmt: skip
    assert m is not None, out
    return int(m.group(1)), float(m.group(2)), m.group(3), float(m.group(4))


def test_cli_export_of_the_book_simple_convnet_agrees_on_all_10000(tmp_path, capsys):
    """``mitbadak export params.pkl --onnx s.onnx --torch s.pt --check`` on the 10,000 MNIST
    test images (mitbadak's side by its fast path, held equal to the layers elsewhere)."""
    pkl = _shared(SIMPLE_PKL)
    need("onnx")
    need("onnxruntime")
    need("torch")
    onnx_out, pt_out = tmp_path / "s.onnx", tmp_path / "s.pt"
    rc = main(["export", str(pkl), "--onnx", str(onnx_out), "--torch", str(pt_out), "--check",
               "--data-dir", str(MNIST_DIR)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mitbadak on mnist test: accuracy 0.9890 (10000 images)" in out
    assert "torch_convnet('SimpleConvNet').load_state_dict" in out
    for engine in ("onnxruntime", "PyTorch"):
        n, diff, agree, accuracy = _parse_check(out, engine)
        assert (n, agree, accuracy) == (10000, "100.0000", 0.9890)
        assert diff < TOL


@pytest.fixture(scope="module")
def mnist_test():
    if not MNIST_DIR.is_dir():
        pytest.skip("../shared/data is not present (needs mnist/)")
    x, t = load_split("mnist", "test", data_dir=MNIST_DIR, download=False)
    return x.reshape(-1, 1, 28, 28), t


@pytest.mark.parametrize("kind, pkl", [("SimpleConvNet", SIMPLE_PKL), ("DeepConvNet", DEEP_PKL)])
def test_book_weights_first_logits_of_image_0_in_the_exports(kind, pkl, tmp_path, request):
    _shared(pkl)
    x = request.getfixturevalue("mnist_test")[0][:1]
    net = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}[kind]()
    net.load_params(str(pkl))
    scores, _ = export.run_onnx(_onnx(net, tmp_path / "b.onnx"), x)
    np.testing.assert_allclose(scores[0, :5], BOOK_LOGITS[kind], atol=2e-5)
    torch = need("torch")
    with torch.no_grad():
        got = export.to_torch(net)(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got[0, :5], BOOK_LOGITS[kind], atol=2e-5)


def test_book_deep_convnet_parity_on_1000_test_images(mnist_test, tmp_path):
    """DeepConvNet with the book's 2016 weights: the first 1,000 test images (a subset: all
    10,000 take ~30 s here; measured once from the command line, see docs/export.md)."""
    _shared(DEEP_PKL)
    net = DeepConvNet()
    net.load_params(str(DEEP_PKL))
    x, t = mnist_test[0][:1000], mnist_test[1][:1000]
    ours = softmax(choose_scores(net)(net.prepare_x(x)))  # fast path (= the layers to 1e-12)
    np.testing.assert_allclose(ours[:20], net.predict_proba(x[:20]), atol=1e-12)
    _, onnx_probs = export.run_onnx(_onnx(net, tmp_path / "d.onnx"), x)
    _assert_parity(net, onnx_probs, x, reference=ours)
    _assert_parity(net, _torch_probabilities(export.to_torch(net), x), x, reference=ours)
    assert np.mean(np.argmax(onnx_probs, axis=1) == t) > 0.99
