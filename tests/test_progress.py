"""mitbadak.training.progress: tqdm.auto bars driven by the library's callbacks (training, numerical
gradients), without the library printing anything itself."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("tqdm")

import mitbadak as mb  # noqa: E402
from mitbadak.training import progress  # noqa: E402
from mitbadak.training.loop import train  # noqa: E402


class FakeBar:
    made: list[FakeBar] = []

    def __init__(self, total=None, initial=0, **kwargs):
        self.total, self.n, self.kwargs = total, initial, kwargs
        self.postfixes: list[dict] = []
        self.closed = False
        FakeBar.made.append(self)

    def update(self, k=1):
        self.n += k

    def set_postfix(self, postfix, refresh=True):
        self.postfixes.append(dict(postfix))

    def close(self):
        self.closed = True


def tiny_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784)).astype(np.float32)
    t = rng.integers(0, 10, n)
    return x, t


def test_training_bar_counts_every_iteration_and_shows_loss_and_accuracy():
    FakeBar.made.clear()
    bar_callback = progress.TrainingProgress(tqdm_class=FakeBar, postfix_every=2, desc="fit")
    x, t = tiny_data()
    net = mb.TwoLayerNet(784, 8, 10, seed=0)
    result = train(net, (x, t), (x, t), lr=0.1, batch_size=20, epochs=2, callback=bar_callback)
    (bar,) = FakeBar.made
    assert bar.total == 6 and bar.n == 6 and bar.closed
    assert bar.kwargs["desc"] == "fit"
    last = bar.postfixes[-1]
    assert last["epoch"] == 2
    assert last["test_acc"] == f"{result.history.epochs[-1]['test_acc']:.4f}"
    assert bar_callback.bar is None  # closed at the end event


def test_progress_bar_is_a_real_tqdm_auto_bar(capsys):
    stream = io.StringIO()
    x, t = tiny_data()
    net = mb.TwoLayerNet(784, 8, 10, seed=0)
    train(
        net,
        (x, t),
        (x, t),
        lr=0.1,
        batch_size=30,
        epochs=1,
        callback=progress.progress_bar(desc="demo", file=stream),
    )
    text = stream.getvalue()
    assert "demo" in text and "2/2" in text
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # nothing but the bar, where it was asked


def test_counting_wraps_the_books_numerical_gradient():
    stream = io.StringIO()
    x = np.array([3.0, 4.0, 1.0])

    def function_2(v):
        return float(np.sum(v**2))

    counted = progress.counting(function_2, total=2 * x.size, desc="grad", file=stream)
    grad = mb.numerical_gradient(counted, x.copy())
    np.testing.assert_allclose(grad, [6.0, 8.0, 2.0], rtol=1e-6)
    assert counted.bar.n >= 2 * x.size
    assert "grad" in stream.getvalue()


@pytest.mark.parametrize("method", ["reference", "fast"])
def test_network_numerical_gradient_with_a_bar_equals_the_plain_one(method):
    stream = io.StringIO()
    x, t = tiny_data(4)
    net = (
        mb.MultiLayerNet(784, [3], 10, seed=0, dtype=np.float64)
        if method == "reference"
        else (mb.TwoLayerNet(784, 3, 10, seed=0, dtype=np.float64))
    )
    expected = net.numerical_gradient(x, t, method=method)
    got = progress.numerical_gradient(net, x, t, method=method, file=stream)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    assert "_loss" not in vars(net)  # the network is left as it was
    n_params = sum(p.size for p in net.params.values())
    assert (f"{2 * n_params}/{2 * n_params}" if method == "reference" else "1/1") in (
        stream.getvalue()
    )


def test_missing_tqdm_says_which_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    with pytest.raises(ImportError, match=r"mitbadak\[progress\]"):
        progress.progress_bar()


def test_cli_reporter_draws_the_same_bar_on_a_terminal():
    from mitbadak.cli._progress import TrainingReporter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    reporter = TrainingReporter(stream=stream, lines=stream)  # bar and epoch lines together
    x, t = tiny_data()
    net = mb.TwoLayerNet(784, 8, 10, seed=0)
    train(net, (x, t), (x, t), lr=0.1, batch_size=20, epochs=2, callback=reporter)
    text = stream.getvalue()
    assert "6/6" in text and "epoch   2  iter      6" in text
    assert reporter.bar is None
