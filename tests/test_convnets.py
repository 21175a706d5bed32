"""SimpleConvNet and DeepConvNet (chapters 7-8): the book's stacks, methods, parameter files and
the book's own weights; and the book's ch07/ch08 scripts run with their import lines rewritten.

The book's pickles and the MNIST test set come from ``../shared/data`` (skipped without it; see
``conftest.py``); the book's scripts are read from a local mirror of its repository when there is
one (never kept in this repository) and skipped otherwise. Pinned counts were computed once with
the book's own code on the same images.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mitbadak  # noqa: F401  (the package root registers the parameter-file code)
from mitbadak.core.errors import ModelFileError
from mitbadak.files.bookweights import BookPickleError
from mitbadak.files.convnet_params import BookWeightsVersionWarning
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import Affine, Relu
from mitbadak.nn.pooling import Pooling

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
#: a bare git mirror of the book's repository (read with ``git show``), where a machine has one
_MIRROR = ROOT.parent / ".mirror" / "oreilly-japan+deep-learning-from-scratch" / "repo"
BOOK_MIRROR = Path(os.environ.get("MITBADAK_BOOK_MIRROR", _MIRROR))

needs_shared = pytest.mark.skipif(
    not (SHARED / "ch08" / "deep_convnet_params.pkl").exists()
    or not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="../shared/data (the book's convnet pickles and the MNIST test set) absent",
)

SIMPLE_2016 = "290ab40c1b1218b392cdc155b633a5df642d829453702fa421ce5f3c6c55f779"
DEEP_2016 = "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc"


def small_simple(seed=0) -> SimpleConvNet:
    """The book's ch07/gradient_check.py network: 1x10x10 input, 10 3x3 filters, 10 hidden."""
    conv_param = {"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1}
    return SimpleConvNet(input_dim=(1, 10, 10), conv_param=conv_param, hidden_size=10,
                         output_size=10, weight_init_std=0.01, seed=seed)  # fmt: skip


def small_deep(seed=0) -> DeepConvNet:
    """DeepConvNet's stack (conv4 pad 2, three pools, two dropouts) on 1x8x8, few filters."""
    params = [{"filter_num": n, "filter_size": 3, "pad": p, "stride": 1}
              for n, p in ((2, 1), (2, 1), (3, 1), (3, 2), (4, 1), (4, 1))]  # fmt: skip
    return DeepConvNet((1, 8, 8), *params, hidden_size=5, output_size=10, seed=seed)


# -- the stacks --------------------------------------------------------------------------------
def test_simple_convnet_is_the_books_stack():
    net = SimpleConvNet(seed=0)
    assert [type(la) for la in net.sequence] == [Convolution, Relu, Pooling, Affine, Relu, Affine]
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}  # fmt: skip
    pool = net.sequence[2]
    assert (pool.pool_h, pool.pool_w, pool.stride, pool.pad) == (2, 2, 2, 0)
    # weight_init_std * N(0, 1) for every weight, zero biases
    assert all(abs(np.std(net.params[k]) - 0.01) < 0.001 for k in ("W1", "W2", "W3"))
    assert not any(np.any(net.params[k]) for k in ("b1", "b2", "b3"))
    assert net.decayed == ("W1", "W2", "W3")


def test_deep_convnet_is_the_books_stack_with_he_weights():
    net = DeepConvNet(seed=0)
    kinds = [type(la).__name__ for la in net.sequence]
    assert kinds == ["Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Affine", "Relu", "Dropout", "Affine", "Dropout"]  # fmt: skip
    convs = [la for la in net.sequence if isinstance(la, Convolution)]
    assert [c.filter_shape[0] for c in convs] == [16, 16, 32, 32, 64, 64]
    assert [c.pad for c in convs] == [1, 1, 1, 2, 1, 1]
    shapes = {k: net.params[k].shape for k in ("W1", "W4", "W6", "W7", "W8", "b8")}
    assert shapes == {"W1": (16, 1, 3, 3), "W4": (32, 32, 3, 3), "W6": (64, 64, 3, 3),
                      "W7": (1024, 50), "W8": (50, 10), "b8": (10,)}  # fmt: skip
    # the book's pre_node_nums: 1*3*3, 16*3*3, 16*3*3, 32*3*3, 32*3*3, 64*3*3, 64*4*4, 50
    fan_in = [9, 144, 144, 288, 288, 576, 1024, 50]
    stds = [la.weight_std for la in net.sequence if isinstance(la, Convolution | Affine)]
    np.testing.assert_allclose(stds, np.sqrt(2.0 / np.array(fan_in)))
    drops = [la for la in net.sequence if isinstance(la, Dropout)]
    assert [d.dropout_ratio for d in drops] == [0.5, 0.5] and not any(d.inverted for d in drops)


def test_deep_convnet_scales_by_half_twice_at_test_time():
    """The logits are Affine8(0.5 * relu(Affine7(.))) * 0.5: zero the biases of the last layer
    and the scores are a quarter of the same net without dropout's test-time scaling."""
    net = small_deep()
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    scores = net.predict(x)
    out = net.forward_layers(x.reshape(3, -1), False)
    np.testing.assert_array_equal(scores, out)
    # undo the two scalings by hand: through the layers before Dropout1, then Affine8 on h
    h = x
    for layer in net.sequence[:-3]:
        h = layer.forward(h)
    manual = 0.5 * (0.5 * h @ net.params["W8"] + net.params["b8"])
    np.testing.assert_allclose(scores, manual, rtol=1e-12)


# -- gradients -------------------------------------------------------------------------------
def test_gradient_equals_numerical_gradient_simple():
    """The book's ch07/gradient_check.py: a (1, 1, 10, 10) image and the label [[1]]."""
    net = small_simple()
    x = np.random.default_rng(1).random(100).reshape((1, 1, 10, 10))
    t = np.array([1]).reshape((1, 1))
    grad_num = net.numerical_gradient(x, t)
    grad = net.gradient(x, t)
    assert set(grad) == set(grad_num) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for key in grad:
        # the book's criterion: the mean difference (ReLU's kink makes a few elements differ
        # by ~1e-7 when h = 1e-4 crosses it)
        assert np.abs(grad_num[key] - grad[key]).mean() < 1e-6, key
        np.testing.assert_allclose(grad[key], grad_num[key], atol=1e-5)


def test_gradient_equals_numerical_gradient_deep_with_dropout():
    net = small_deep(seed=3)
    x = np.random.default_rng(2).random((2, 1, 8, 8))
    t = np.array([3, 7])
    grad_num = net.numerical_gradient(x, t)  # training mode, the mask gradient() draws next
    grad = net.gradient(x, t)
    assert sorted(grad) == sorted(f"{s}{i}" for s in "Wb" for i in range(1, 9))
    for key in grad:
        assert np.abs(grad_num[key] - grad[key]).mean() < 1e-6, key
        np.testing.assert_allclose(grad[key], grad_num[key], atol=1e-5, err_msg=key)


def test_labels_as_indices_column_or_one_hot_agree():
    net = small_simple()
    x = np.random.default_rng(3).random((4, 1, 10, 10))
    t = np.array([1, 0, 9, 4])
    one_hot = np.eye(10)[t]
    losses = [net.loss(x, lab) for lab in (t, t.reshape(-1, 1), one_hot)]
    assert losses[0] == losses[1] == losses[2] and losses[0] > 0
    g1, g2 = net.gradient(x, t), net.gradient(x, t.reshape(-1, 1))
    np.testing.assert_array_equal(g1["W1"], g2["W1"])
    assert net.accuracy(x, t.reshape(-1, 1)) == net.accuracy(x, one_hot)


def test_accuracy_in_batches_counts_every_image():
    net = small_simple()
    x = np.random.default_rng(4).random((150, 1, 10, 10))
    labels = np.argmax(net.predict(x), axis=1)
    t = labels.copy()
    t[120:] = (t[120:] + 1) % 10  # the last 30 (in the partial second batch) wrong
    assert net.accuracy(x, t) == pytest.approx(120 / 150)
    assert net.accuracy(x, t, batch_size=7) == net.accuracy(x, t, batch_size=None)


# -- bad input ---------------------------------------------------------------------------------
def test_a_flattened_batch_is_one_clear_error():
    net = SimpleConvNet(seed=0)
    with pytest.raises(ValueError, match=re.escape(
            "x has shape (2, 784), but SimpleConvNet expects a batch of images (N, 1, 28, 28): "
            "a flattened batch; reshape it with x.reshape(-1, 1, 28, 28) or load MNIST with "
            "flatten=False")):  # fmt: skip
        net.predict(np.zeros((2, 784)))
    with pytest.raises(ValueError, match=r"expects a batch of images \(N, 1, 28, 28\)"):
        net.predict(np.zeros((2, 3, 28, 28)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conv_param": {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 0}},
         "stride must be an integer >= 1, got 0"),
        ({"conv_param": {"filter_num": 30, "filter_size": 5, "pad": -1, "stride": 1}},
         "pad must be an integer >= 0, got -1"),
        ({"input_dim": (1, 4, 4)},
         r"filter \(5x5\) is larger than the padded input \(4x4: 4x4 with pad 0\)"),
        ({"conv_param": {"filter_num": 30}}, "conv_param must be a dict with keys filter_num, "
         "filter_size, pad, stride"),
        ({"input_dim": (28, 28)}, r"input_dim must be \(channels, height, width\)"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimpleConvNet(**kwargs)


# -- parameter files -------------------------------------------------------------------------
def test_save_params_writes_the_safe_format_under_the_name_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = small_simple(seed=1)
    net.save_params("params.pkl")
    assert sorted(os.listdir(tmp_path)) == ["params.pkl"]  # that name, no temporary left
    assert zipfile.is_zipfile("params.pkl")  # an .npz, not a pickle
    other = small_simple(seed=2)
    source = other.load_params("params.pkl")
    assert source["format"] == "mitbadak-npz" and len(source["sha256"]) == 64
    for key in net.params:
        np.testing.assert_array_equal(other.params[key], net.params[key])
    # the layers use the loaded arrays: in-place changes reach the next predict
    x = np.ones((1, 1, 10, 10))
    before = other.predict(x)
    for value in other.params.values():
        value[...] = 0.0
    assert not np.any(other.predict(x)) and np.any(before)


def test_save_params_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    net = small_simple()
    target = tmp_path / "p.npz"
    target.write_bytes(b"old")
    monkeypatch.setattr(np.lib.format, "write_array",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))  # fmt: skip
    with pytest.raises(OSError, match="disk full"):
        net.save_params(str(target))
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["p.npz"]


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo ran > ran.txt",))


def test_a_code_running_pickle_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.pkl").write_bytes(pickle.dumps({"W1": _RunsCode()}, protocol=3))
    with pytest.raises(BookPickleError, match=r"params.pkl: .*posix.*system|params.pkl: .*system"):
        small_simple().load_params("params.pkl")
    assert not Path("ran.txt").exists()


def test_arrays_that_do_not_fit_name_the_key_and_both_shapes(tmp_path):
    path = tmp_path / "other.pkl"
    arrays = {k: np.asarray(v) for k, v in small_simple().params.items()}
    arrays["W2"] = np.zeros((7, 10))
    path.write_bytes(pickle.dumps(arrays, protocol=4))
    with pytest.raises(ModelFileError, match=re.escape(
            "W2 has shape (7, 10), but this SimpleConvNet expects (160, 10)")):  # fmt: skip
        small_simple().load_params(str(path))
    path.write_bytes(pickle.dumps({"W1": np.zeros(3)}, protocol=4))
    with pytest.raises(ModelFileError, match=r"the file holds W1, but this DeepConvNet has "
                       r"parameters W1, b1, .* \(missing b1, "):  # fmt: skip
        small_deep().load_params(str(path))


# -- the book's weights ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_test():
    from mitbadak.files.datasets import load_split

    return load_split("mnist", "test", flatten=False, data_dir=MNIST_DIR, download=False)


#: (net, file, version, logits of test image 0 as the book's code prints them, images, correct)
BOOK_FILES = [
    (SimpleConvNet, "ch07/params.pkl", "2016 book",
     [-9.52909, -10.417573, -8.078534, -4.529725, -22.763867], 1000, 990),
    (DeepConvNet, "ch08/deep_convnet_params.pkl", "2016 book",
     [-11.771778, -7.058771, -7.298754, -9.200718, -8.413607], 500, 497),
    (SimpleConvNet, "ch07/params.2022.pkl", "2022 master", None, 1000, 961),
    (DeepConvNet, "ch08/deep_convnet_params.2022.pkl", "2022 master", None, 500, 491),
]


@needs_shared
@pytest.mark.parametrize(("cls", "name", "version", "logits", "n", "correct"), BOOK_FILES,
                         ids=[f[1] for f in BOOK_FILES])  # fmt: skip
def test_the_books_files_reproduce_its_numbers(mnist_test, cls, name, version, logits, n, correct):
    x, t = mnist_test
    net = cls(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = net.load_params(str(SHARED / name))
    assert source["version"] == version and net.metadata["source"] == source
    warned = [w for w in caught if issubclass(w.category, BookWeightsVersionWarning)]
    if version == "2016 book":
        assert not warned and "the book's figures come from" in source["note"]
    else:
        assert len(warned) == 1 and "different weights from the book's" in str(warned[0].message)
    if logits is not None:
        np.testing.assert_allclose(net.predict(x[:1])[0, :5], logits, atol=1e-6)
    assert round(net.accuracy(x[:n], t[:n]) * n) == correct


@needs_shared
def test_the_version_is_told_by_sha256(tmp_path):
    data = (SHARED / "ch07" / "params.pkl").read_bytes()
    (tmp_path / "renamed.pkl").write_bytes(data)
    source = SimpleConvNet(seed=0).load_params(str(tmp_path / "renamed.pkl"))
    assert source["sha256"] == SIMPLE_2016 and source["accuracy"] == 0.9890
    net = DeepConvNet(seed=0)
    assert net.load_params(str(SHARED / "ch08" / "deep_convnet_params.pkl"))["sha256"] == DEEP_2016
    with pytest.raises(ModelFileError, match="this SimpleConvNet has parameters"):
        SimpleConvNet(seed=0).load_params(str(SHARED / "ch08" / "deep_convnet_params.pkl"))
    # saved again by mitbadak: the file says where the weights came from
    net2 = SimpleConvNet(seed=0)
    net2.load_params(str(tmp_path / "renamed.pkl"))
    net2.save_params(str(tmp_path / "again.npz"))
    again = SimpleConvNet(seed=1).load_params(str(tmp_path / "again.npz"))
    assert again["saved_from"]["sha256"] == SIMPLE_2016


@needs_shared
def test_half_float_rounding_in_place_reaches_the_next_predict(mnist_test):
    x, _ = mnist_test
    net = DeepConvNet(seed=0)
    net.load_params(str(SHARED / "ch08" / "deep_convnet_params.pkl"))
    before = net.predict(x[:2])
    for param in net.params.values():
        param[...] = param.astype(np.float16)
    after = net.predict(x[:2].astype(np.float16))
    assert np.all(before != after) and np.allclose(before, after, atol=0.05)


# -- the book's ch07/ch08 scripts, run with their import lines rewritten -----------------------
_FROM_LINE = re.compile(r"^from (\w[\w.]*) import (.+)$", re.MULTILINE)


def _book_script(path: str) -> str:
    """The script's text from the local mirror of the book's repository (never stored here)."""
    import subprocess

    if not BOOK_MIRROR.exists():
        pytest.skip(f"no mirror of the book's repository at {BOOK_MIRROR}")
    return subprocess.run(["git", "--git-dir", str(BOOK_MIRROR), "show", f"HEAD:{path}"],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip


def _ported(text: str, script: str) -> str:
    """Only the import lines of the book's own modules change: ``from X import`` ->
    ``from mitbadak.book.X import`` (a chapter's own module under its chapter)."""

    def rewrite(match: re.Match) -> str:
        module, names = match.groups()
        if module.split(".")[0] in ("numpy", "matplotlib", "collections", "PIL"):
            return match.group(0)
        if module.split(".")[0] not in ("common", "dataset"):
            module = f"{script.split('/')[0]}.{module}"
        return f"from mitbadak.book.{module} import {names}"

    return _FROM_LINE.sub(rewrite, text)


#: Images of the MNIST test set the bounded script runs see (all 10,000 with
#: MITBADAK_FULL_BOOK_SCRIPTS=1: about a minute per DeepConvNet pass on one core).
FULL = os.environ.get("MITBADAK_FULL_BOOK_SCRIPTS") == "1"
N_TEST = 10000 if FULL else 500

#: What the book's own code gives on those images (computed once with the book's code)
BOOK_DEEP = {
    500: {"acc": 497 / 500, "acc16": 497 / 500,
          "pairs": {1: (6, 0), 2: (3, 5), 3: (3, 5)}},
    10000: {"acc": 0.9935, "acc16": 0.9935, "pairs": None},
}  # fmt: skip


@pytest.fixture
def run_book_script(tmp_path, monkeypatch):
    """Run a book script ported by its imports: in a folder holding the book's pickles (links to
    ../shared), matplotlib on Agg (``plt.show`` draws nothing), ``load_mnist``'s offline
    fallback with the real MNIST test set (its first ``N_TEST`` images)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import mitbadak.files.datasets as library_datasets
    from mitbadak.core.errors import DatasetUnavailable

    for name in ("ch07/params.pkl", "ch08/deep_convnet_params.pkl"):
        (tmp_path / Path(name).name).symlink_to(SHARED / name)
    monkeypatch.chdir(tmp_path)
    real_load, real_split = library_datasets.load_mnist, library_datasets.load_split

    def offline(*args, name="mnist", **kwargs):
        if name == "mnist":
            raise DatasetUnavailable("offline", dataset="mnist",
                                     missing=["train-images-idx3-ubyte.gz"])  # fmt: skip
        return real_load(*args, name=name, **{**kwargs, "download": False})

    def split(name, which, **kwargs):
        if name == "mnist" and which == "test":
            x, t = real_split(name, which, **{**kwargs, "data_dir": MNIST_DIR})
            return x[:N_TEST], t[:N_TEST]
        return real_split(name, which, **kwargs)

    monkeypatch.setattr(library_datasets, "load_mnist", offline)
    monkeypatch.setattr(library_datasets, "load_split", split)
    monkeypatch.setattr(library_datasets, "locate", lambda *a, **k: MNIST_DIR)

    def run(script: str) -> dict:
        namespace: dict = {"__name__": "__main__"}
        code = compile(_ported(_book_script(script), script), script, "exec")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Agg's "cannot show" notes
            exec(code, namespace)  # noqa: S102 - the book's script, imports rewritten
        return namespace

    yield run
    plt.close("all")


def test_ported_imports_only_change_the_books_modules():
    text = ("import numpy as np\nfrom simple_convnet import SimpleConvNet\n"
            "from common.layers import *")
    assert _ported(text, "ch07/x.py").splitlines() == [
        "import numpy as np", "from mitbadak.book.ch07.simple_convnet import SimpleConvNet",
        "from mitbadak.book.common.layers import *"]  # fmt: skip


@needs_shared
def test_gradient_check_ported(run_book_script, capsys):
    np.random.seed(0)
    run_book_script("ch07/gradient_check.py")
    lines = capsys.readouterr().out.split("\n")
    diffs = dict(line.split() for line in lines if line.strip())
    assert sorted(diffs) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    diffs = {k: float(v) for k, v in diffs.items()}
    # Layers after the pooling are smooth here: backprop and central differences agree to
    # rounding. W1 and b1 feed ReLU and max pooling at activations of ~1e-3 (weights of std
    # 0.01), which h = 1e-4 pushes across a kink: the book's own code, seeds 0-3, prints
    # W1 7.6e-8 .. 5.3e-6 and b1 2.3e-6 .. 1.4e-5 (and b3 1.8e-7 from its log's 1e-7 delta).
    assert all(diffs[k] < 1e-9 for k in ("W2", "b2", "W3", "b3")), diffs
    assert diffs["W1"] < 2e-5 and diffs["b1"] < 5e-5, diffs


@needs_shared
def test_visualize_filter_ported(run_book_script):
    import matplotlib.pyplot as plt

    ns = run_book_script("ch07/visualize_filter.py")
    assert ns["network"].metadata["source"]["sha256"] == SIMPLE_2016
    figures = [plt.figure(n) for n in plt.get_fignums()]
    assert len(figures) == 2 and all(len(f.axes) == 30 for f in figures)  # 30 filters each
    shown = figures[1].axes[0].images[0].get_array()
    np.testing.assert_array_equal(shown, ns["network"].params["W1"][0, 0])


@needs_shared
def test_misclassified_mnist_ported(run_book_script, capsys):
    ns = run_book_script("ch08/misclassified_mnist.py")
    expected = BOOK_DEEP[N_TEST]
    assert ns["acc"] == pytest.approx(expected["acc"], abs=1e-12)
    pairs = {int(k): (int(a), int(b)) for k, (a, b) in ns["mis_pairs"].items()}
    if expected["pairs"] is not None:
        assert pairs == expected["pairs"]
    assert f"test accuracy:{ns['acc']}" in capsys.readouterr().out


@needs_shared
def test_half_float_network_ported(run_book_script, capsys):
    ns = run_book_script("ch08/half_float_network.py")
    printed = [float(s) for s in re.findall(r"^(0\.\d+|1\.0)$", capsys.readouterr().out,
                                             re.MULTILINE)]  # fmt: skip
    assert printed == [BOOK_DEEP[N_TEST]["acc"], BOOK_DEEP[N_TEST]["acc16"]]
    # the in-place rounding reached the arrays the layers use
    w1 = ns["network"].params["W1"]
    assert np.array_equal(w1, w1.astype(np.float16)) and w1.dtype == np.float64
