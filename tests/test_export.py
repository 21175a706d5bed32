"""ONNX and PyTorch export: graph structure, files, CLI, and parity with mitbadak on real MNIST.

The parity tests run the exported copies (onnxruntime, PyTorch on the CPU) over the 10,000 real
MNIST test images and require the same probabilities to 1e-5 and the same labels. They skip when
the packages are missing, except under CI (CI=true), where a missing package fails them.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from mitbadak import MultiLayerNet, TwoLayerNet
from mitbadak.cli import main
from mitbadak.core.errors import MitbadakError
from mitbadak.files import export
from mitbadak.files.datasets import load_mnist, load_split
from mitbadak.files.modelfile import import_book_weights, save_model
from mitbadak.nn.layers import Affine, Layer, ParamSpec, Relu
from mitbadak.nn.networks import LayerNet
from mitbadak.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BOOK_PKL = SHARED / "sample_weight.pkl"
MNIST_DIR = SHARED / "mnist"
needs_shared = pytest.mark.skipif(
    not (BOOK_PKL.is_file() and MNIST_DIR.is_dir()), reason="../shared/data is not present"
)
TOL = 1e-5


def need(module: str):
    """Import ``module``, or skip saying how to get it; under CI a missing package is a failure."""
    try:
        return importlib.import_module(module)
    except ImportError:
        how = "pip install torch==2.13.0" if module == "torch" else "pip install 'mitbadak[export]'"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is not installed under CI ({how}); the export tests need it")
        pytest.skip(f"{module} is not installed ({how})")


@pytest.fixture(scope="module")
def mnist_test():
    """The 10,000 MNIST test images, or mnist-sample's 1,000 where ../shared/data is absent (the
    book-weight tests, which need the real set, are marked ``needs_shared``)."""
    if MNIST_DIR.is_dir():
        return load_split("mnist", "test", data_dir=MNIST_DIR, download=False)
    return load_split("mnist-sample", "test", download=False)


@pytest.fixture(scope="module")
def book_net():
    if not BOOK_PKL.is_file():
        pytest.skip("../shared/data/sample_weight.pkl is not present")
    return import_book_weights(BOOK_PKL)


@pytest.fixture(scope="module")
def trained_net():
    """A TwoLayerNet (ReLU, float64) trained briefly on the packaged MNIST sample."""
    (x, t), _ = load_mnist(name="mnist-sample")
    net = TwoLayerNet(784, 64, 10, weight_init_std=0.05, activation="relu", seed=1)
    train(net, (x, t), optimizer="sgd", lr=0.1, iters=300, seed=0, evaluate_train=False)
    net.metadata = {
        "training": {"optimizer": "sgd", "lr": 0.1},
        "dataset": "mnist-sample",
        "final_metrics": {"test_acc": 0.875},
    }
    return net


def onnx_probs(net, tmp_path: Path, x: np.ndarray) -> np.ndarray:
    need("onnx")
    need("onnxruntime")
    path = export.to_onnx(net, tmp_path / "model.onnx")
    scores, probs = export.run_onnx(path, x)
    assert scores.dtype == np.float32 and probs.dtype == np.float32
    np.testing.assert_allclose(scores, net.predict(x), atol=1e-4, rtol=1e-5)
    return probs


def torch_probs(net, tmp_path: Path, x: np.ndarray) -> np.ndarray:
    """Through the saved state_dict, loaded with weights_only=True into a fresh module."""
    torch = need("torch")
    path = export.save_torch_state_dict(net, tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)
    module = export.torch_module([784, *net.hidden_sizes, 10], net.activation)
    module.load_state_dict(state)
    with torch.no_grad():
        return torch.softmax(module.eval()(torch.from_numpy(x)), dim=1).numpy()


# --- parity on the MNIST test images (mnist-sample's without ../shared) --------------------------


@needs_shared
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_book_weights_parity(runtime, book_net, mnist_test, tmp_path):
    x, t = mnist_test
    probs = (onnx_probs if runtime == "onnx" else torch_probs)(book_net, tmp_path, x)
    report = export.compare(book_net, probs, x, t)
    assert report.n == 10000
    assert report.max_abs_diff < TOL
    assert report.label_agreement == 1.0
    assert report.accuracy == pytest.approx(0.9352, abs=1e-12)  # the book's figure


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_trained_model_parity(runtime, trained_net, mnist_test, tmp_path):
    x, t = mnist_test
    probs = (onnx_probs if runtime == "onnx" else torch_probs)(trained_net, tmp_path, x)
    report = export.compare(trained_net, probs, x, t)
    ours = trained_net.accuracy(x, t)
    assert report.max_abs_diff < TOL
    assert report.label_agreement == 1.0
    assert report.accuracy == ours
    assert ours > 0.8  # it did learn: the parity is not between two constant outputs


def test_multilayer_sigmoid_float64_parity(mnist_test, tmp_path):
    """A float64 MultiLayerNet with two hidden layers is cast to a float32 graph."""
    x, t = mnist_test
    net = MultiLayerNet(784, [40, 30], 10, activation="sigmoid", seed=3, dtype=np.float64)
    (xs, ts), _ = load_mnist(name="mnist-sample")
    train(net, (xs, ts), optimizer="adam", lr=0.01, iters=100, seed=0, evaluate_train=False)
    for probs in (onnx_probs(net, tmp_path, x), torch_probs(net, tmp_path, x)):
        report = export.compare(net, probs, x, t)
        assert report.max_abs_diff < TOL
        assert report.label_agreement == 1.0


# --- the ONNX graph ------------------------------------------------------------------------------


def test_onnx_graph_contract(trained_net):
    onnx = need("onnx")
    model = export.onnx_model(trained_net)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == export.ONNX_IR_VERSION == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (inp,) = model.graph.input
    assert inp.name == "input"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and not dims[0].HasField("dim_value")  # dynamic batch axis
    assert dims[1].dim_value == 784
    assert [o.name for o in model.graph.output] == ["scores", "probabilities"]
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]
    softmax = model.graph.node[-1]
    assert softmax.attribute[0].name == "axis" and softmax.attribute[0].i == 1
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    assert inits == {"W1": (784, 64), "b1": (64,), "W2": (64, 10), "b2": (10,)}
    props = {p.key: p.value for p in model.metadata_props}
    assert props["architecture"] == "TwoLayerNet 784-64-10 relu"
    assert props["accuracy"] == "0.8750"
    assert props["dataset"] == "mnist-sample"
    assert '"optimizer": "sgd"' in props["recipe"]
    assert props["mitbadak_version"] and props["exported_by"].startswith("mitbadak ")


@needs_shared
def test_onnx_metadata_of_book_weights_and_batch_sizes(book_net, mnist_test, tmp_path):
    onnx = need("onnx")
    need("onnxruntime")
    path = export.to_onnx(book_net, tmp_path / "book.onnx", metadata={"accuracy": 0.9352})
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["architecture"] == "MultiLayerNet 784-50-100-10 sigmoid"
    assert "b7f55a27988ba34c" in props["recipe"]  # the pickle's SHA-256
    assert props["accuracy"] == "0.9352"
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Sigmoid") == 2
    x, _ = mnist_test
    for n in (1, 7, 10000):  # the batch axis is dynamic
        scores, probs = export.run_onnx(path, x[:n], batch_size=n)
        assert scores.shape == probs.shape == (n, 10)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_torch_module_layout():
    torch = need("torch")
    net = MultiLayerNet(784, [50, 100], 10, activation="sigmoid", seed=0)
    module = export.to_torch(net)
    assert [type(m).__name__ for m in module] == [
        "Linear",
        "Sigmoid",
        "Linear",
        "Sigmoid",
        "Linear",
    ]
    assert module[0].weight.shape == (50, 784)  # nn.Linear stores (out, in)
    assert module[0].weight.dtype == torch.float32
    np.testing.assert_array_equal(
        module[2].weight.detach().numpy(), net.params["W2"].T.astype(np.float32)
    )
    np.testing.assert_array_equal(
        module[4].bias.detach().numpy(), net.params["b3"].astype(np.float32)
    )


def test_save_torch_state_dict_loads_weights_only(tmp_path):
    torch = need("torch")
    net = TwoLayerNet(784, 20, 10, seed=0)
    path = export.save_torch_state_dict(net, tmp_path / "sub" / "m.pt")
    state = torch.load(path, weights_only=True)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert tuple(state["2.weight"].shape) == (10, 20)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_export_rejects_what_it_cannot_express(tmp_path):
    from mitbadak import SimpleNet

    with pytest.raises(ValueError, match="TwoLayerNet or MultiLayerNet"):
        export._layers(SimpleNet(seed=0))
    need("onnx")
    with pytest.raises(ValueError, match="opset must be at least 13"):
        export.onnx_model(TwoLayerNet(784, 5, 10, seed=0), opset=12)


class Scale(Layer):
    """A throw-away layer (as in tests/test_layer_contract.py): y = x * s, s learnable."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def param_specs(self):
        return (ParamSpec("s", (self.size,), "ones"),)

    def forward(self, x):
        self.x = x
        return x * self.params["s"]

    def backward(self, dout):
        self.grads = {"s": (dout * self.x).sum(axis=0)}
        return dout * self.params["s"]


def _scaled_net():
    net = LayerNet(
        [Affine.of_shape(6, 5, 0.5), Scale(5), Relu(), Affine.of_shape(5, 3, 0.5)],
        input_shape=6,
        seed=0,
    )
    net.params["s1"] = np.linspace(0.5, 2.0, 5)
    return net


def test_a_layer_type_without_an_export_is_refused_in_one_line_naming_it(tmp_path):
    need("onnx")
    need("torch")
    net = _scaled_net()
    for write in (export.to_onnx, export.save_torch_state_dict):
        with pytest.raises(export.LayerNotExportable) as caught:
            write(net, tmp_path / "out")
        message = str(caught.value)
        assert "\n" not in message and "cannot export layer Scale1" in message, message
        assert "a Scale layer" in message and "Affine" in message and "Relu" in message
        assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())
    # the CLI's ValueError/MitbadakError handling applies (the class is both)
    assert isinstance(caught.value, MitbadakError) and isinstance(caught.value, ValueError)


def test_a_new_layer_type_exports_with_one_entry_per_format(tmp_path, monkeypatch):
    """One function per format added to the tables; the walk, names and softmax are shared."""
    need("onnxruntime")
    torch = need("torch")

    def scale_onnx(graph, name, layer, params, x, y):
        s_name, s = params["s"]
        graph.node("Mul", [x, graph.initializer(s, s_name)], [y], name)

    class TorchScale(torch.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.s = torch.nn.Parameter(torch.from_numpy(s.copy()))

        def forward(self, x):
            return x * self.s

    monkeypatch.setitem(export.ONNX_LAYERS, Scale, scale_onnx)
    monkeypatch.setitem(export.TORCH_LAYERS, Scale, lambda _t, _l, p: TorchScale(p["s"][1]))
    net = _scaled_net()
    x = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    model = export.onnx_model(net)
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Mul", "Relu", "Gemm", "Softmax"]
    assert [n.name for n in model.graph.node][:4] == ["Affine1", "Scale1", "Relu1", "Affine2"]
    assert [i.name for i in model.graph.initializer] == ["W1", "b1", "s1", "W2", "b2"]
    scores, probs = export.run_onnx(export.to_onnx(net, tmp_path / "s.onnx"), x)
    np.testing.assert_allclose(scores, net.predict(x), atol=TOL)
    np.testing.assert_allclose(probs, net.predict_proba(x), atol=TOL)
    assert "LayerNet 6-3 Affine1-Scale1-Relu1-Affine2" in export.onnx_metadata(net)["architecture"]
    module = export.to_torch(net)
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, net.predict(x), atol=TOL)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    net = TwoLayerNet(784, 5, 10, seed=0)
    with pytest.raises(MitbadakError, match=r"pip install 'mitbadak\[export\]'"):
        export.onnx_model(net)
    with pytest.raises(MitbadakError, match="pip install torch"):
        export.to_torch(net)


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def model_file(tmp_path, trained_net):
    return save_model(tmp_path / "model.npz", trained_net)


def test_cli_export_onnx_and_torch_with_check(model_file, tmp_path, capsys):
    need("onnx")
    need("onnxruntime")
    torch = need("torch")
    onnx_out, pt_out = tmp_path / "out" / "m.onnx", tmp_path / "out" / "m.pt"
    rc = main(
        [
            "export",
            str(model_file),
            "--onnx",
            str(onnx_out),
            "--torch",
            str(pt_out),
            "--check",
            "--dataset",
            "mnist-sample",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert onnx_out.is_file() and pt_out.is_file()
    assert "check onnxruntime vs mitbadak on mnist-sample test: 1000 inputs" in out
    assert "labels agree 100.0000%" in out
    assert list(torch.load(pt_out, weights_only=True)) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]


def test_cli_export_refuses_to_overwrite_and_needs_a_target(model_file, tmp_path, capsys):
    need("onnx")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    assert main(["export", str(model_file), "--onnx", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["export", str(model_file)]) == 2
    assert "give --onnx OUT.onnx and/or --torch OUT.pt" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope.npz"), "--onnx", str(tmp_path / "x.onnx")]) == 1
    assert "no such model file" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mitbadak: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def small_model(tmp_path):
    """A small model file in its own folder, and its bytes (which no export may change)."""
    folder = tmp_path / "models"
    path = save_model(folder / "m.npz", TwoLayerNet(784, 5, 10, seed=0))
    return path, path.read_bytes()


def _spellings(path: Path) -> dict[str, Path]:
    """Other names of ``path``: relative, with '..', a hard link, a symlink (all one file)."""
    folder = path.parent
    hard, soft = folder / "hard.npz", folder / "soft.npz"
    os.link(path, hard)
    soft.symlink_to(path.name)
    return {
        "same": path,
        "dotdot": folder / ".." / folder.name / path.name,
        "relative": Path(os.path.relpath(path)),
        "hard-link": hard,
        "symlink": soft,
    }


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("flag", ["--onnx", "--torch"])
@pytest.mark.parametrize(
    "spelling", ["same", "dotdot", "relative", "hard-link", "symlink", "run-folder"]
)
def test_cli_export_never_writes_over_its_own_model(small_model, capsys, spelling, flag, force):
    """MODEL --onnx MODEL (under any name of the same file) is one line, and the model is intact,
    with or without --force and whether or not the export packages are installed."""
    path, before = small_model
    names = _spellings(path)
    if spelling == "run-folder":  # a run folder stands for its model.npz
        (path.parent / "model.npz").write_bytes(before)
        model, out, path = path.parent, path.parent / "model.npz", path.parent / "model.npz"
    else:
        model, out = path, names[spelling]
    argv = ["export", str(model), flag, str(out)] + (["--force"] if force else [])
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert f"{flag} {out} is the model being exported" in err and "Give another output" in err
    assert path.read_bytes() == before
    assert path.is_file() and not path.is_symlink()
    assert not list(path.parent.glob(".*.tmp"))


def test_cli_export_same_file_for_both_outputs_by_another_name(small_model, tmp_path, capsys):
    path, _ = small_model
    argv = ["export", str(path), "--onnx", str(tmp_path / "o.x"), "--torch",
            str(tmp_path / "sub" / ".." / "o.x")]  # fmt: skip
    assert main(argv) == 2
    assert "--onnx and --torch name the same file" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "name, content",
    [
        ("text.npz", b"hello, this is text\n"),
        ("random.bin", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8))),
        ("empty.npz", b""),
        ("plain.npz", None),  # a NumPy .npz without mitbadak's metadata
        ("text.pkl", b"not a pickle"),
    ],
)
def test_cli_export_of_a_file_that_is_no_model_writes_nothing(tmp_path, capsys, name, content):
    need("onnx")  # so that the refusal comes from reading the file, not from a missing package
    need("torch")
    source = tmp_path / name
    if content is None:
        np.savez(source, a=np.zeros(3))
    else:
        source.write_bytes(content)
    old = tmp_path / "old.onnx"
    old.write_bytes(b"an earlier export")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["export", str(source), "--onnx", str(old), "--torch", str(tmp_path / "new.pt")]
    assert main([*argv, "--force"]) == 1
    assert str(source) in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary
    assert old.read_bytes() == b"an earlier export"


@pytest.fixture
def alarm():
    """Fail (instead of hanging the suite) when the code under test blocks for 10 s."""
    import signal

    def hung(signum, frame):
        raise TimeoutError("blocked for 10 s: the file was opened and read")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("name", ["pipe.npz", "pipe.pkl", "folder/model.npz"])
def test_cli_export_refuses_a_fifo_without_opening_it(tmp_path, capsys, alarm, name):
    fifo = tmp_path / name
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    model = fifo.parent if name.startswith("folder") else fifo  # a run folder's model.npz too
    assert main(["export", str(model), "--onnx", str(tmp_path / "o.onnx")]) == 1
    err = _one_line_error(capsys)
    assert f"{fifo}: is not a regular file (a FIFO (named pipe))" in err
    assert not (tmp_path / "o.onnx").exists()


def test_cli_export_refuses_a_device_and_a_special_output(small_model, tmp_path, capsys, alarm):
    assert main(["export", os.devnull, "--onnx", str(tmp_path / "o.onnx")]) == 1
    assert "is not a regular file (a device)" in _one_line_error(capsys)
    if hasattr(os, "mkfifo"):
        out = tmp_path / "out.onnx"
        os.mkfifo(out)  # replacing it is not what --force is for
        assert main(["export", str(small_model[0]), "--onnx", str(out), "--force"]) == 2
        assert f"--onnx {out} exists and is not a regular file" in _one_line_error(capsys)


def test_cli_export_of_a_run_still_training_is_refused(small_model, capsys):
    from mitbadak.training.run_folder import run_lock

    path, before = small_model
    with run_lock(path.parent):
        assert main(["export", str(path.parent), "--onnx", str(path.parent / "m.onnx")]) == 1
    err = _one_line_error(capsys)
    assert f"{path.parent} is a run still in progress" in err and f"pid {os.getpid()}" in err
    assert not (path.parent / "m.onnx").exists()


def test_cli_export_without_the_extra(monkeypatch, model_file, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    rc = main(["export", str(model_file), "--onnx", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().count("\n") == 0  # one line, no traceback
    assert "mitbadak: error: onnx is not installed" in err
    assert "pip install 'mitbadak[export]'" in err
    assert not (tmp_path / "m.onnx").exists()
    # Every other command still works without it.
    assert main(["data", "list"]) == 0


def test_cli_help_does_not_import_the_extras(tmp_path):
    import subprocess

    code = (
        "import sys; sys.modules['onnx'] = sys.modules['torch'] = "
        "sys.modules['onnxruntime'] = None\n"
        "from mitbadak.cli import main\n"
        "sys.exit(main(['export', '--help']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--onnx" in done.stdout


# --- docs/export.md runs as written --------------------------------------------------------------


def _doc_blocks(lang: str) -> list[str]:
    text = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_docs_export_snippets_run(tmp_path, monkeypatch, capsys):
    """The documented export command, the onnxruntime serving snippet and the PyTorch one."""
    need("onnx")
    need("onnxruntime")
    need("torch")
    monkeypatch.chdir(tmp_path)
    # Stands in for `mitbadak train --out runs/demo`: the default recipe's architecture.
    net = MultiLayerNet(784, [256, 128], 10, activation="relu", seed=0, dtype=np.float32)
    (x, t), _ = load_mnist(name="mnist-sample")
    train(net, (x, t), optimizer="momentum", lr=0.05, iters=100, seed=0, evaluate_train=False)
    net.metadata = {"dataset": "mnist-sample"}
    save_model(tmp_path / "runs" / "demo" / "model.npz", net)

    (console,) = _doc_blocks("console")
    commands = [line[2:] for line in console.splitlines() if line.startswith("$ mitbadak export")]
    assert len(commands) == 1
    assert main(shlex.split(commands[0])[1:]) == 0
    out = capsys.readouterr().out
    assert "labels agree 100.0000%" in out

    serve, finetune = _doc_blocks("python")
    assert len([ln for ln in serve.splitlines() if ln.strip()]) <= 6  # "five lines" + a print
    exec(compile(serve, "docs/export.md (onnxruntime)", "exec"), {})
    served = capsys.readouterr().out
    assert served.startswith("accuracy ")
    assert float(served.split()[1]) == pytest.approx(net.accuracy(*load_split("mnist-sample")))

    exec(compile(finetune, "docs/export.md (PyTorch)", "exec"), {})
    tuned = capsys.readouterr().out
    assert float(tuned.split()[-1]) > 0.85
    torch = importlib.import_module("torch")
    state = torch.load(tmp_path / "model-finetuned.pt", weights_only=True)
    assert tuple(state["0.weight"].shape) == (256, 784)


def test_failed_export_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    torch = need("torch")
    path = tmp_path / "m.pt"
    path.write_bytes(b"previous export")

    def half_written(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="No space left"):
        export.save_torch_state_dict(TwoLayerNet(784, 5, 10, seed=0), path)
    assert path.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


@needs_shared
def test_cli_export_book_weights_records_the_checked_accuracy(tmp_path, capsys):
    onnx = need("onnx")
    need("onnxruntime")
    out = tmp_path / "book.onnx"
    argv = ["export", str(BOOK_PKL), "--onnx", str(out), "--check", "--data-dir", str(MNIST_DIR)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mitbadak on mnist test: accuracy 0.9352 (10000 images)" in printed
    assert "labels agree 100.0000%, accuracy 0.9352" in printed
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["accuracy"] == "0.9352" and props["accuracy_on"] == "mnist test (10000)"


def test_cli_export_check_without_the_dataset_writes_nothing(
    tmp_path, model_file, capsys, monkeypatch
):
    need("onnx")
    need("onnxruntime")
    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    out = tmp_path / "m.onnx"
    argv = ["export", str(model_file), "--onnx", str(out), "--check", "--dataset", "mnist",
            "--data-dir", str(tmp_path / "empty")]  # fmt: skip
    assert main(argv) == 1
    assert "mitbadak: error:" in capsys.readouterr().err
    assert not out.exists()



def test_tanh_network_exports_through_the_registry(tmp_path):
    """A registered activation other than the book's two reaches ONNX and torch by its own names."""
    net = MultiLayerNet(784, [20], 10, activation="tanh", seed=5, dtype=np.float64)
    x = np.random.default_rng(6).random((7, 784)).astype(np.float32)
    expected = net.predict_proba(x)
    for probs in (onnx_probs(net, tmp_path, x), torch_probs(net, tmp_path, x)):
        np.testing.assert_allclose(probs, expected, atol=TOL)
    assert [type(m).__name__ for m in export.to_torch(net)] == ["Linear", "Tanh", "Linear"]


# --- BatchNormalization and Dropout (MultiLayerNetExtend) ----------------------------------------


@pytest.fixture(scope="module")
def extend_nets():
    """MultiLayerNetExtend 784-40-30-10 with BatchNorm and the book's Dropout 0.2 (and one with
    inverted dropout), trained 60 steps so the running statistics are far from (0, 0)."""
    from mitbadak import MultiLayerNetExtend

    (x, t), _ = load_mnist(name="mnist-sample")
    nets = {}
    for inverted in (False, True):
        net = MultiLayerNetExtend(784, [40, 30], 10, use_batchnorm=True, use_dropout=True,
                                  dropout_ration=0.2, inverted_dropout=inverted,
                                  seed=4)  # fmt: skip
        train(net, (x, t), optimizer="adam", lr=0.01, iters=60, seed=0, evaluate_train=False)
        nets[inverted] = net
    return nets


def test_extend_net_running_statistics_are_trained(extend_nets):
    net = extend_nets[False]
    assert sorted(net.buffers) == ["running_mean1", "running_mean2", "running_var1",
                                   "running_var2"]  # fmt: skip
    assert float(np.abs(net.buffers["running_mean1"]).max()) > 0.05
    assert float(np.abs(net.buffers["running_var2"] - 1).max()) > 0.05
    assert float(np.abs(net.params["gamma1"] - 1).max()) > 1e-3  # gamma was trained too


@pytest.mark.parametrize("inverted", [False, True], ids=["book-dropout", "inverted-dropout"])
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_batchnorm_dropout_parity(runtime, inverted, extend_nets, mnist_test, tmp_path):
    """Test-mode predictions (running statistics; dropout x(1 - ratio) or identity) agree."""
    x, t = mnist_test
    net = extend_nets[inverted]
    if runtime == "onnx":
        probs = onnx_probs(net, tmp_path, x)
    else:
        torch = need("torch")
        path = export.save_torch_state_dict(net, tmp_path / "model.pt")
        sizes, activation, keywords = export.torch_module_args(net)
        assert (sizes, activation) == ([784, 40, 30, 10], "relu")
        assert keywords == ({"batchnorm": True, "dropout": 0.2, "inverted_dropout": True}
                            if inverted else {"batchnorm": True, "dropout": 0.2})  # fmt: skip
        module = export.torch_module(sizes, activation, **keywords)
        module.load_state_dict(torch.load(path, weights_only=True))
        with torch.no_grad():
            probs = torch.softmax(module(torch.from_numpy(x)), dim=1).numpy()
    report = export.compare(net, probs, x, t)
    assert report.max_abs_diff < TOL
    assert report.label_agreement == 1.0
    assert report.accuracy == net.accuracy(x, t) > 0.7


def test_book_dropout_is_exported_as_its_test_time_scale(extend_nets):
    """Without the x(1 - ratio) the scores would differ: the export is not an identity."""
    need("onnx")
    torch = need("torch")
    net = extend_nets[False]
    model = export.onnx_model(net)
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Gemm", "BatchNormalization", "Relu", "Mul", "Gemm", "BatchNormalization",
                   "Relu", "Mul", "Gemm", "Softmax"]  # fmt: skip
    inits = {i.name: i for i in model.graph.initializer}
    from onnx import numpy_helper

    assert float(numpy_helper.to_array(inits["Dropout1_scale"])) == pytest.approx(0.8)
    np.testing.assert_array_equal(numpy_helper.to_array(inits["running_var1"]),
                                  net.buffers["running_var1"].astype(np.float32))  # fmt: skip
    bn = next(n for n in model.graph.node if n.op_type == "BatchNormalization")
    assert bn.input[1:] == ["gamma1", "beta1", "running_mean1", "running_var1"]
    assert export.onnx_metadata(net)["architecture"] == (
        "MultiLayerNetExtend 784-40-30-10 relu batchnorm dropout 0.2"
    )
    inverted = export.onnx_model(extend_nets[True])
    assert [n.op_type for n in inverted.graph.node].count("Identity") == 2
    module = export.to_torch(net)
    assert [type(m).__name__ for m in module] == ["Linear", "BatchNorm1d", "ReLU", "Scale",
                                                  "Linear", "BatchNorm1d", "ReLU", "Scale",
                                                  "Linear"]  # fmt: skip
    assert not module.training and module[1].eps == pytest.approx(1e-6)
    assert [type(m).__name__ for m in export.to_torch(extend_nets[True])][3] == "Identity"
    # the whole module pickles (Scale has an importable name)
    import io

    buffer = io.BytesIO()
    torch.save(module, buffer)
    # with the scale dropped the scores change: the Mul is load-bearing
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    with torch.no_grad():
        module[3].scale.fill_(1.0)
        assert np.abs(module(torch.from_numpy(x)).numpy() - net.predict(x)).max() > 1e-3


def test_cli_export_of_a_batchnorm_dropout_model(extend_nets, tmp_path, capsys):
    need("onnx")
    need("onnxruntime")
    torch = need("torch")
    model = save_model(tmp_path / "extend.npz", extend_nets[False])
    onnx_out, pt_out = tmp_path / "m.onnx", tmp_path / "m.pt"
    rc = main(["export", str(model), "--onnx", str(onnx_out), "--torch", str(pt_out),
               "--check", "--dataset", "mnist-sample"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "torch_module([784, 40, 30, 10], 'relu', batchnorm=True, dropout=0.2)" in out
    assert "check onnxruntime vs mitbadak on mnist-sample test: 1000 inputs" in out
    assert "check PyTorch vs mitbadak on mnist-sample test: 1000 inputs" in out
    assert out.count("labels agree 100.0000%") == 2
    state = torch.load(pt_out, weights_only=True)
    assert "1.running_mean" in state and "3.scale" in state
