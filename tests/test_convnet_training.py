"""Chapters 7-8 through ``mitbadak train``: the ``ch7``/``ch8`` recipes, ``--model convnet`` and
``--model deepconvnet``, their guards, exact resumes after kill -9 and Ctrl-C, the time estimate,
the divergence guard, the run folder's files, evaluate and predict; and the book's
``train_convnet.py``/``train_deepnet.py`` run with their import lines rewritten (bounded)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mitbadak as _root  # noqa: F401  (the package root registers the parameter-file code)
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet
from mitbadak.training.recipes import (
    RecipeError,
    TrainConfig,
    command_line,
    config_from_options,
    conv_parameter_count,
)
from mitbadak.training.runs import build_network

ROOT = Path(__file__).resolve().parents[1]


# -- recipes --------------------------------------------------------------------------------


def test_model_convnet_alone_is_the_books_train_convnet():
    c = config_from_options({"model": "convnet"})
    assert (c.model, c.hidden, c.weight_init, c.optimizer, c.lr, c.batch_size, c.epochs,
            c.iters, c.activation) == ("convnet", [100], 0.01, "adam", 0.001, 100, 20, None,
                                        "relu")  # fmt: skip
    # the CLI passes --recipe default when none is typed: the same
    assert config_from_options({"model": "convnet", "recipe": "default"}) == c
    assert config_from_options({"recipe": "ch7"}) == c
    d = config_from_options({"model": "deepconvnet"})
    assert (d.model, d.hidden, d.weight_init, d.optimizer, d.lr, d.batch_size, d.epochs) == (
        "deepconvnet", [50], None, "adam", 0.001, 100, 20)
    assert config_from_options({"recipe": "ch8"}) == d
    # options given still win, and the printed command rebuilds the config
    e = config_from_options({"model": "convnet", "hidden": "30", "lr": 0.01, "epochs": 3})
    assert (e.hidden, e.lr, e.epochs, e.optimizer) == ([30], 0.01, 3, "adam")
    line = command_line(e)
    options = dict(zip(line[2::2], line[3::2], strict=False))
    assert options["--model"] == "convnet" and options["--weight-init"] == "0.01"
    assert TrainConfig.from_dict(e.to_dict()) == e


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"model": "convnet", "dataset": "spiral"},
         "--model convnet trains on images (choose --dataset from mnist, "
         "fashion-mnist, mnist-sample), got --dataset spiral"),
        ({"model": "deepconvnet", "dataset": "moons:noise=0.1"}, "got --dataset moons:noise=0.1"),
        ({"model": "convnet", "hidden": "100,50"},
         "--model convnet takes one hidden size (the last Affine's units), "
         "got --hidden 100,50"),
        ({"model": "convnet", "activation": "sigmoid"},
         "--model convnet uses ReLU (the book's), got --activation sigmoid"),
        ({"model": "deepconvnet", "gradient": "numerical"}, "trains with backprop only"),
        ({"model": "deepconvnet", "weight_init": "0.01"},
         "--model deepconvnet starts each layer at He's scale"),
        ({"model": "convnet", "weight_init": "xavier"}, "takes a standard deviation"),
        ({"model": "convnet", "batchnorm": True}, "--batchnorm needs --model mlp"),
        ({"model": "convnet", "hidden": "100000"}, "the CLI trains at most 20,000,000"),
    ],
)
def test_convnet_options_refused_in_one_line(options, needle):
    with pytest.raises(RecipeError) as info:
        config_from_options({"dataset": "mnist-sample", **options})
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("hidden", [100, 7])
def test_parameter_count_is_the_networks(hidden):
    simple = SimpleConvNet(hidden_size=hidden, seed=0)
    deep = DeepConvNet(hidden_size=hidden, seed=0)
    assert conv_parameter_count("convnet", (1, 28, 28), hidden, 10) == sum(
        v.size for v in simple.params.values())
    assert conv_parameter_count("deepconvnet", (1, 28, 28), hidden, 10) == sum(
        v.size for v in deep.params.values())
    assert conv_parameter_count("convnet", (1, 28, 28), 100, 10) == 433_890  # the book's net


def test_build_network_makes_the_books_nets_from_the_seed():
    c = config_from_options({"model": "convnet", "hidden": "20", "seed": 4})
    a, b = build_network(c, (1, 28, 28)), build_network(c, 784)
    assert type(a) is SimpleConvNet and a.input_shape == (1, 28, 28)
    assert a.params["W1"].shape == (30, 1, 5, 5) and a.params["W2"].shape == (4320, 20)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert 0.009 < float(np.std(a.params["W2"])) < 0.011  # weight_init_std 0.01
    d = build_network(config_from_options({"model": "deepconvnet"}), (1, 28, 28))
    assert type(d) is DeepConvNet and d.params["W7"].shape == (1024, 50)
    assert abs(float(np.std(d.params["W7"])) - np.sqrt(2 / 1024)) < 0.003  # He


# -- the command, end to end ------------------------------------------------------------------


@pytest.fixture
def env(tmp_path):
    """No MNIST, an empty cache, no downloads (as tests/test_cli.py)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MITBADAK")}
    e.update(MITBADAK_OFFLINE="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
             XDG_CACHE_HOME=str(tmp_path / "cache"),
             MITBADAK_CACHE=str(tmp_path / "cache" / "mitbadak"))  # fmt: skip
    return e


def mitbadak(*args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "mitbadak", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def metrics_without_time(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    from mitbadak.files.modelfile import load_model

    net = load_model(path)
    return {k: np.asarray(v) for k, v in net.params.items()}


# SimpleConvNet, 20 hidden units, on the 4,000 images of the built-in sample: 40 steps an epoch
SMALL = ["--model", "convnet", "--dataset", "mnist-sample", "--hidden", "20", "--seed", "3"]


def test_convnet_run_killed_with_sigkill_resumes_exactly(tmp_path, env):
    args = [*SMALL, "--epochs", "5", "--quiet"]
    ref = mitbadak("train", *args, "--out", tmp_path / "ref", env=env)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mitbadak", "train", *args, "--out", str(run)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epoch(run, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "model.npz").exists()
    resumed = mitbadak("train", "--resume", run, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "iterations take about" in resumed.stdout  # the estimate counts what is left
    assert metrics_without_time(run) == metrics_without_time(tmp_path / "ref")
    ours, theirs = _model_arrays(run / "model.npz"), _model_arrays(tmp_path / "ref" / "model.npz")
    assert sorted(ours) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    rows = metrics_without_time(run)
    assert len(rows) == 5 and float(rows[-1]["test_acc"]) > 0.8  # it learned


def _wait_for_epoch(run_dir: Path, epoch: int, proc, limit=240.0):
    import time

    from mitbadak.files.modelfile import read_metadata

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training finished before it could be stopped"
        try:
            if read_metadata(run_dir / "checkpoint.npz")["state"]["epoch"] >= epoch:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


def test_deepconvnet_ctrl_c_mid_epoch_resumes_exactly(tmp_path, monkeypatch, capsys):
    """DeepConvNet's two Dropout layers draw from generators kept in the checkpoint: a run
    stopped by Ctrl-C at step 7 of 12 and resumed ends with the weights of an unbroken run."""
    from mitbadak.cli import main
    from mitbadak.cli import train as train_cli

    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    args = ["train", "--model", "deepconvnet", "--dataset", "mnist-sample", "--hidden", "10",
            "--batch-size", "20", "--iters", "12", "--seed", "5"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    first = capsys.readouterr().out
    assert "recipe ch8: the book's chapter 8 (train_deepnet.py)" in first
    assert "per iteration (timed on this network), so 12 iterations take about" in first
    assert first.index("iterations take about") < first.index("training deepconvnet [10]")

    class CtrlC(train_cli.TrainingReporter):
        def __call__(self, event):
            super().__call__(event)
            if event["event"] == "step" and event["iteration"] == 7:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    original = train_cli.TrainingReporter
    monkeypatch.setattr(train_cli, "TrainingReporter", CtrlC)
    run = tmp_path / "run"
    assert main([*args, "--out", str(run)]) == 130
    assert "interrupted; checkpoint saved" in capsys.readouterr().err
    monkeypatch.setattr(train_cli, "TrainingReporter", original)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    ours, theirs = _model_arrays(run / "model.npz"), _model_arrays(tmp_path / "ref" / "model.npz")
    assert sorted(ours) == sorted(theirs) and "W8" in ours
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    with open(run / "iterations.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 12


def test_convnet_run_folder_evaluates_and_predicts(tmp_path, env):
    out = tmp_path / "r"
    proc = mitbadak("train", *SMALL, "--epochs", "1", "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "recipe ch7: the book's chapter 7 (train_convnet.py)" in proc.stdout
    assert "training convnet [20] (relu, adam lr=0.001, batch 100, backprop)" in proc.stdout
    for name in ("config.json", "model.npz", "checkpoint.npz", "metrics.csv", "iterations.csv",
                 "loss.png", "accuracy.png"):  # fmt: skip
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["model"], config["optimizer"], config["lr"]) == ("convnet", "adam", 0.001)
    final = [ln for ln in proc.stdout.splitlines() if ln.startswith("test accuracy")][0]
    evaluated = mitbadak("evaluate", out / "model.npz", "--dataset", "mnist-sample", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert final.split()[2] in evaluated.stdout  # the test accuracy of the run
    from PIL import Image

    from mitbadak.files.datasets import load_split

    x, t = load_split("mnist-sample", "test", download=False)
    Image.fromarray((x[0].reshape(28, 28) * 255).astype(np.uint8)).save(tmp_path / "d.png")
    predicted = mitbadak("predict", out / "model.npz", tmp_path / "d.png", "--json", env=env)
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout)[0]
    net = __import__("mitbadak.files.modelfile", fromlist=["load_model"]).load_model(
        out / "model.npz")
    assert type(net).__name__ == "SimpleConvNet"  # the model file rebuilds the book's class
    scores = np.asarray(net.predict(x[:1].reshape(1, 1, 28, 28)))
    assert answer["prediction"] == int(np.argmax(scores))


def test_convnet_divergence_stops_with_cause(tmp_path, env):
    out = tmp_path / "d"
    proc = mitbadak("train", *SMALL, "--optimizer", "sgd", "--lr", "1000", "--epochs", "2",
                    "--out", out, env=env)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "diverged" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "iterations.csv").is_file() and not (out / "model.npz").exists()


def test_toy_dataset_refused_by_the_command(env, tmp_path):
    proc = mitbadak("train", "--model", "deepconvnet", "--dataset", "xor",
                    "--out", tmp_path / "x", env=env)  # fmt: skip
    assert proc.returncode == 2 or proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--model deepconvnet trains on images" in proc.stderr


# -- the book's train_convnet.py and train_deepnet.py, import lines rewritten -------------------

_MIRROR = ROOT.parent / ".mirror" / "oreilly-japan+deep-learning-from-scratch" / "repo"
BOOK_MIRROR = Path(os.environ.get("MITBADAK_BOOK_MIRROR", _MIRROR))
_IMPORT = __import__("re").compile(r"^from (\w[\w.]*) import (.+)$", __import__("re").MULTILINE)


def _book_text(path: str) -> str:
    """A script of the book's repository, read from its local mirror (never stored here)."""
    if not BOOK_MIRROR.exists():
        pytest.skip(f"no mirror of the book's repository at {BOOK_MIRROR}")
    return subprocess.run(["git", "--git-dir", str(BOOK_MIRROR), "show", f"HEAD:{path}"],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip


def _with_our_imports(text: str, chapter: str) -> str:
    """``from simple_convnet import X`` -> ``from mitbadak.book.ch07.simple_convnet import X``;
    ``common``/``dataset`` -> ``mitbadak.book.common``/``.dataset``; NumPy and matplotlib stay."""

    def swap(m):
        module, names = m.groups()
        top = module.split(".")[0]
        if top in ("numpy", "matplotlib"):
            return m.group(0)
        where = module if top in ("common", "dataset") else f"{chapter}.{module}"
        return f"from mitbadak.book.{where} import {names}"

    return _IMPORT.sub(swap, text)


@pytest.mark.parametrize(("script", "net_class", "n_train"), [
    ("ch07/train_convnet.py", "SimpleConvNet", 100),
    ("ch08/train_deepnet.py", "DeepConvNet", 100),
])  # fmt: skip
def test_books_training_scripts_run_with_imports_changed(
    script, net_class, n_train, tmp_path, monkeypatch, capsys
):
    """The book's scripts unchanged but for their import lines: 20 epochs of Adam on 100
    images (one batch an epoch) of the packaged sample (MNIST's training images are not here;
    the book's load_mnist says so), then ``save_params`` writes the file the script names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import mitbadak.book.dataset.mnist as book_mnist
    import mitbadak.files.datasets as library
    from mitbadak.core.errors import DatasetUnavailable

    text = _with_our_imports(_book_text(script), script.split("/")[0])
    assert "sys.path.append" in text and "from mitbadak.book." in text

    def offline(*args, name="mnist", **kwargs):
        if name == "mnist":
            raise DatasetUnavailable("offline", dataset="mnist",
                                     missing=["train-images-idx3-ubyte.gz"])  # fmt: skip
        return real_library(*args, name=name, **kwargs)

    real_library, real_book = library.load_mnist, book_mnist.load_mnist

    def few(*args, **kwargs):  # the bound: the first images of each split
        (x, t), (xt, tt) = real_book(*args, **kwargs)
        return (x[:n_train], t[:n_train]), (xt[:50], tt[:50])

    monkeypatch.setattr(library, "load_mnist", offline)
    monkeypatch.setattr(book_mnist, "load_mnist", few)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", UserWarning)  # Agg cannot show
        exec(compile(text, script, "exec"), namespace)  # noqa: S102 - the book's script
    plt.close("all")
    printed = capsys.readouterr().out
    network, trainer = namespace["network"], namespace["trainer"]
    assert type(network).__name__ == net_class
    assert len(trainer.test_acc_list) == 20 and "Saved Network Parameters!" in printed
    assert "=== epoch:20," in printed and "test acc" in printed
    losses = trainer.train_loss_list
    # it learns (DeepConvNet's Dropout makes 20 steps slow to start: 2.32 -> ~2.0)
    assert len(losses) == 20 and np.mean(losses[-3:]) < 0.95 * losses[0]
    saved = tmp_path / ("params.pkl" if net_class == "SimpleConvNet" else
                        "deep_convnet_params.pkl")  # fmt: skip
    again = type(network)()
    again.load_params(str(saved))
    for key, value in network.params.items():
        np.testing.assert_array_equal(np.asarray(again.params[key]), np.asarray(value))
