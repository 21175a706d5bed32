"""Chapter 6 through the book's namespaces: the six optimizers, the Trainer and common/util.

The reference formulas below are our own transcriptions of the book's ``common/optimizer.py``
arithmetic (read from the book's repository; the same operations in the same order), kept
apart from the library's declared rules, so a change of either shows up here.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from mitbadak.book.common.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from mitbadak.book.common.trainer import Trainer
from mitbadak.book.common.util import shuffle_dataset, smooth_curve
from mitbadak.nn import optimizers
from mitbadak.training.book_trainer import BookTrainer, book_optimizer

# -- the book's update rules, transcribed -------------------------------------------------------


class _Book:
    """One optimizer of the book as the formulas read, over a dict of arrays or floats."""

    def __init__(self, kind: str, **hp) -> None:
        self.kind, self.hp, self.state, self.t = kind, hp, None, 0

    def update(self, params: dict, grads: dict) -> None:
        hp, kind = self.hp, self.kind
        if self.state is None:
            self.state = {k: [np.zeros_like(v), np.zeros_like(v)] for k, v in params.items()}
        self.t += 1
        for k in params:
            p, g = params[k], grads[k]
            a, b = self.state[k]
            if kind == "sgd":
                p = p - hp["lr"] * g
            elif kind == "momentum":
                a = hp["momentum"] * a - hp["lr"] * g
                p = p + a
            elif kind == "nesterov":  # the book's rearranged form: W first, from the old v
                m = hp["momentum"]
                p = p + m * m * a
                p = p - (1 + m) * hp["lr"] * g
                a = a * m
                a = a - hp["lr"] * g
            elif kind == "adagrad":
                a = a + g * g
                p = p - hp["lr"] * g / (np.sqrt(a) + 1e-7)
            elif kind == "rmsprop":
                a = a * hp["decay_rate"]
                a = a + (1 - hp["decay_rate"]) * g * g
                p = p - hp["lr"] * g / (np.sqrt(a) + 1e-7)
            elif kind == "adam":
                b1, b2 = hp["beta1"], hp["beta2"]
                lr_t = hp["lr"] * np.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t)
                a = a + (1 - b1) * (g - a)
                b = b + (1 - b2) * (g**2 - b)
                p = p - lr_t * a / (np.sqrt(b) + 1e-7)
            self.state[k] = [a, b]
            params[k] = p


BOOK_DEFAULTS = {
    "sgd": (SGD, {"lr": 0.01}),
    "momentum": (Momentum, {"lr": 0.01, "momentum": 0.9}),
    "nesterov": (Nesterov, {"lr": 0.01, "momentum": 0.9}),
    "adagrad": (AdaGrad, {"lr": 0.01}),
    "rmsprop": (RMSprop, {"lr": 0.01, "decay_rate": 0.99}),
    "adam": (Adam, {"lr": 0.001, "beta1": 0.9, "beta2": 0.999}),
}


@pytest.mark.parametrize("kind", list(BOOK_DEFAULTS))
def test_book_defaults(kind):
    cls, defaults = BOOK_DEFAULTS[kind]
    opt = cls()
    assert {k: getattr(opt, k) for k in defaults} == defaults
    assert cls is optimizers.OPTIMIZERS[kind]  # mitbadak's own class, registered


@pytest.mark.parametrize("kind", list(BOOK_DEFAULTS))
def test_each_optimizer_is_the_books_formula_over_100_steps_on_arrays(kind):
    cls, defaults = BOOK_DEFAULTS[kind]
    hp = dict(defaults, lr=defaults["lr"] * 5)  # bigger steps: the state matters more
    rng = np.random.default_rng(11)
    start = {"W": rng.standard_normal((6, 4)), "b": rng.standard_normal(4)}
    ours, book = {k: v.copy() for k, v in start.items()}, {k: v.copy() for k, v in start.items()}
    W_array = ours["W"]
    mine, ref = cls(**hp), _Book(kind, **hp)
    for _ in range(100):
        noise = {k: rng.standard_normal(v.shape) for k, v in start.items()}
        # a gradient that depends on where each one is (a bowl plus noise)
        mine.update(ours, {k: 0.5 * ours[k] + noise[k] for k in ours})
        ref.update(book, {k: 0.5 * book[k] + noise[k] for k in book})
        for k in ours:
            np.testing.assert_allclose(ours[k], book[k], rtol=0, atol=1e-12)
    if kind == "nesterov":  # the same roundings as the book's rearranged form: the same bits
        assert all(np.array_equal(ours[k], book[k]) for k in ours)
    assert ours["W"] is W_array  # updated in place: the layers hold the same array
    assert not np.allclose(ours["W"], start["W"])


def _df(x, y):
    """The gradient of the book's f(x, y) = x**2 / 20 + y**2 (optimizer_compare_naive.py)."""
    return x / 10.0, 2.0 * y


@pytest.mark.parametrize("kind", list(BOOK_DEFAULTS))
def test_each_optimizer_updates_python_floats_by_rebinding_as_the_book(kind):
    cls, defaults = BOOK_DEFAULTS[kind]
    hp = dict(defaults, lr=0.1)
    ours, book = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
    mine, ref = cls(**hp), _Book(kind, **hp)
    for _ in range(100):
        gx, gy = _df(ours["x"], ours["y"])
        mine.update(ours, {"x": gx, "y": gy})
        bx, by = _df(book["x"], book["y"])
        ref.update(book, {"x": bx, "y": by})
        assert abs(float(ours["x"]) - float(book["x"])) <= 1e-12
        assert abs(float(ours["y"]) - float(book["y"])) <= 1e-12
    assert np.ndim(ours["x"]) == 0 and float(ours["x"]) != -7.0


@pytest.mark.parametrize("kind", list(BOOK_DEFAULTS))
def test_integer_arrays_get_one_clear_error(kind):
    cls, _ = BOOK_DEFAULTS[kind]
    params = {"W": np.arange(6).reshape(2, 3)}
    with pytest.raises(TypeError, match=r"parameter 'W' is an array of int64.*astype\(float\)"):
        cls().update(params, {"W": np.ones((2, 3))})
    np.testing.assert_array_equal(params["W"], np.arange(6).reshape(2, 3))


def test_nesterov_writes_the_parameter_from_the_old_velocity():
    """One step by hand: v starts at 0, so W moves by -(1 + m) * lr * g; the next step adds
    m^2 * v with v = -lr * g."""
    opt = Nesterov(lr=0.1, momentum=0.5)
    params = {"w": np.array([1.0])}
    opt.update(params, {"w": np.array([2.0])})
    assert params["w"][0] == 1.0 - 1.5 * 0.1 * 2.0
    assert opt.v["w"][0] == -0.1 * 2.0
    opt.update(params, {"w": np.array([2.0])})
    assert params["w"][0] == pytest.approx(0.7 + 0.25 * -0.2 - 1.5 * 0.1 * 2.0, abs=1e-15)


# -- optimizer_compare_naive.py, ported ---------------------------------------------------------


def test_optimizer_compare_naive_ported():
    """The book's ch06/optimizer_compare_naive.py with its import rewritten (a star import of
    mitbadak.book.common.optimizer; plotting left out): 30 steps of each optimizer on
    f = x^2/20 + y^2 from (-7, 2), a dict of Python floats updated by the optimizers. The first
    positions are those of the formulas, worked out by hand for the first two."""
    namespace: dict = {}
    exec("from mitbadak.book.common.optimizer import *", namespace)  # noqa: S102
    chosen = {
        "SGD": namespace["SGD"](lr=0.95),
        "Momentum": namespace["Momentum"](lr=0.1),
        "AdaGrad": namespace["AdaGrad"](lr=1.5),
        "Adam": namespace["Adam"](lr=0.3),
    }
    transcribed = {"SGD": _Book("sgd", lr=0.95),
                   "Momentum": _Book("momentum", lr=0.1, momentum=0.9),
                   "AdaGrad": _Book("adagrad", lr=1.5),
                   "Adam": _Book("adam", lr=0.3, beta1=0.9, beta2=0.999)}  # fmt: skip
    paths = {}
    for key, optimizer in chosen.items():
        params, grads = {}, {}
        params["x"], params["y"] = -7.0, 2.0
        xs, ys = [], []
        for _ in range(30):
            xs.append(params["x"])
            ys.append(params["y"])
            grads["x"], grads["y"] = _df(params["x"], params["y"])
            optimizer.update(params, grads)
        paths[key] = (np.array(xs, dtype=float), np.array(ys, dtype=float))

        ref, book, bx, by = transcribed[key], {"x": -7.0, "y": 2.0}, [], []
        for _ in range(30):
            bx.append(book["x"])
            by.append(book["y"])
            gx, gy = _df(book["x"], book["y"])
            ref.update(book, {"x": gx, "y": gy})
        np.testing.assert_allclose(paths[key][0], bx, rtol=0, atol=1e-12)
        np.testing.assert_allclose(paths[key][1], by, rtol=0, atol=1e-12)

    # by hand: SGD x1 = -7 - 0.95 * (-0.7), y1 = 2 - 0.95 * 4
    assert paths["SGD"][0][1] == pytest.approx(-6.335) and paths["SGD"][1][1] == pytest.approx(-1.8)
    # Momentum: v1 = -0.1 * g0, so the first step is SGD's at lr 0.1
    assert paths["Momentum"][0][1] == pytest.approx(-6.93)
    assert paths["Momentum"][1][1] == pytest.approx(1.6)
    # AdaGrad's first step is lr * sign(g) (up to 1e-7): both coordinates move by 1.5
    assert paths["AdaGrad"][0][1] == pytest.approx(-5.5) and paths["AdaGrad"][1][1] == (
        pytest.approx(0.5))
    # Adam's first step is lr * sign(g) too (bias-corrected): 0.3 each
    assert paths["Adam"][0][1] == pytest.approx(-6.7) and paths["Adam"][1][1] == (
        pytest.approx(1.7))
    # and every path heads to the minimum at (0, 0)
    for key, (xs, ys) in paths.items():
        assert abs(xs[-1]) < 7 and abs(ys[-1]) < 2, key


# -- the Trainer --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_small():
    """300 training and 200 test images of the packaged MNIST sample, one-hot labels."""
    from mitbadak.book.dataset.mnist import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, one_hot_label=True, name="mnist-sample"
    )
    return x_train[:300], t_train[:300], x_test[:200], t_test[:200]


def _net(seed: int = 0):
    from mitbadak.book.common.multi_layer_net import MultiLayerNet

    return MultiLayerNet(784, [20], 10, seed=seed)


def test_trainer_keeps_the_books_lists_and_prints_its_lines(mnist_small, capsys):
    x_train, t_train, x_test, t_test = mnist_small
    np.random.seed(5)
    trainer = Trainer(_net(), x_train, t_train, x_test, t_test, epochs=2, mini_batch_size=100,
                      optimizer="Adam", optimizer_param={"lr": 0.01})  # fmt: skip
    assert (trainer.iter_per_epoch, trainer.max_iter) == (3.0, 6)
    trainer.train()
    # steps 0..5, evaluated at 0 and 3: as many evaluations as epochs (the book's loop)
    assert len(trainer.train_loss_list) == 6
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 2
    assert trainer.current_epoch == 2 and trainer.current_iter == 6
    assert trainer.train_loss_list[-1] < trainer.train_loss_list[0]

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 + 2 + 2
    losses = [float(line.removeprefix("train loss:")) for line in lines if
              line.startswith("train loss:")]  # fmt: skip
    assert losses == [float(v) for v in trainer.train_loss_list]
    epoch_lines = [line for line in lines if line.startswith("=== epoch:")]
    pattern = re.compile(r"=== epoch:(\d+), train acc:([\d.]+), test acc:([\d.]+) ===")
    for i, line in enumerate(epoch_lines):
        number, train_acc, test_acc = pattern.fullmatch(line).groups()
        assert int(number) == i + 1
        assert float(train_acc) == trainer.train_acc_list[i]
        assert float(test_acc) == trainer.test_acc_list[i]
    assert lines[1] == epoch_lines[0]  # after the first step's loss
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert float(lines[-1].removeprefix("test acc:")) == trainer.network.accuracy(x_test, t_test)


def test_trainer_steps_are_the_books_loop_with_the_global_rng(mnist_small, capsys):
    """The same seed gives the batches of the book's loop (np.random.choice with replacement),
    the network's gradient and the optimizer's update, the loss after it."""
    x_train, t_train, x_test, t_test = mnist_small
    np.random.seed(1)
    trainer = Trainer(_net(), x_train, t_train, x_test, t_test, epochs=1, mini_batch_size=50,
                      optimizer="momentum", optimizer_param={"lr": 0.1}, verbose=False)
    trainer.train()
    assert capsys.readouterr().out == ""

    np.random.seed(1)
    net, opt, losses = _net(), Momentum(lr=0.1), []
    for _ in range(6):
        rows = np.random.choice(300, 50)
        grads = net.gradient(x_train[rows], t_train[rows])
        opt.update(net.params, grads)
        losses.append(net.loss(x_train[rows], t_train[rows]))
    assert trainer.train_loss_list == losses
    assert trainer.train_acc_list == [trainer.train_acc_list[0]]  # one epoch: one evaluation


def test_trainer_evaluates_on_a_sample_and_with_a_fractional_epoch(mnist_small):
    x_train, t_train, x_test, t_test = mnist_small
    trainer = BookTrainer(_net(), x_train[:250], t_train[:250], x_test, t_test, epochs=2,
                          evaluate_sample_num_per_epoch=40, verbose=True)  # fmt: skip
    assert trainer.iter_per_epoch == 2.5 and trainer.max_iter == 5
    results = [trainer.train_step() for _ in range(trainer.max_iter)]
    # 0 % 2.5 == 0 only: the step numbered 5 would be the next evaluation, but is never taken
    assert [r.accuracies is not None for r in results] == [True, False, False, False, False]
    train_acc, test_acc = results[0].accuracies
    # on the first 40 rows: accuracies are multiples of 1/40
    assert round(train_acc * 40, 9) == round(train_acc * 40) and round(test_acc * 40, 9) == round(
        test_acc * 40)


@pytest.mark.parametrize("name", ["sgd", "SGD", "Momentum", "NESTEROV", "adagrad", "RMSprop",
                                  "adam"])  # fmt: skip
def test_trainer_optimizer_names_in_any_case(name):
    assert type(book_optimizer(name, {"lr": 0.05})) is optimizers.OPTIMIZERS[name.lower()]
    assert book_optimizer(name, {"lr": 0.05}).lr == 0.05


def test_trainer_bad_input(mnist_small):
    x_train, t_train, x_test, t_test = mnist_small
    net = _net()
    with pytest.raises(ValueError, match=r"unknown optimizer 'nadam'; choose one of sgd, "
                                         r"momentum, nesterov, adagrad, adam, rmsprop"):
        Trainer(net, x_train, t_train, x_test, t_test, optimizer="nadam")
    with pytest.raises(ValueError, match=r"optimizer_param has 'momentum', 'decay', which SGD "
                                         r"does not take; it takes lr"):
        Trainer(net, x_train, t_train, x_test, t_test,
                optimizer_param={"lr": 0.1, "momentum": 0.9, "decay": 1})
    with pytest.raises(ValueError, match="x_train and t_train must have one row per sample"):
        Trainer(net, x_train, t_train[:10], x_test, t_test)
    with pytest.raises(ValueError, match="mini_batch_size must be a positive whole number"):
        Trainer(net, x_train, t_train, x_test, t_test, mini_batch_size=0)
    with pytest.raises(TypeError, match="lacks gradient, loss, accuracy"):
        Trainer(object(), x_train, t_train, x_test, t_test)
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        Trainer(net, x_train, t_train, x_test, t_test, optimizer_param={"lr": -1})


# -- common/util --------------------------------------------------------------------------------


def _book_smooth(x):
    """The book's smooth_curve, transcribed: mirror 10 values at each end, convolve with an
    11-point Kaiser window (beta 2) normalised to sum 1, keep the middle."""
    x = np.asarray(x, dtype=float)
    s = np.concatenate([x[10:0:-1], x, x[-1:-11:-1]])
    w = np.kaiser(11, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5 : len(y) - 5]


def test_smooth_curve_is_the_books():
    values = [2.3, 2.1, 2.25, 1.9, 1.7, 1.95, 1.4, 1.5, 1.2, 1.35, 1.0, 1.1, 0.8, 0.95, 0.7, 0.75]
    smoothed = smooth_curve(values)
    assert smoothed.shape == (16,)
    np.testing.assert_array_equal(smoothed, _book_smooth(values))
    np.testing.assert_allclose(smooth_curve(np.full(30, 3.0)), 3.0, rtol=1e-15)
    rng = np.random.default_rng(0)
    noisy = np.linspace(2, 0, 500) + rng.standard_normal(500) * 0.3
    np.testing.assert_array_equal(smooth_curve(noisy), _book_smooth(noisy))
    assert np.std(np.diff(smooth_curve(noisy))) < np.std(np.diff(noisy)) / 3
    with pytest.raises(ValueError, match="at least 11 values"):
        smooth_curve([1.0, 2.0])
    with pytest.raises(ValueError, match="flat list of numbers"):
        smooth_curve(np.ones((20, 2)))


def test_shuffle_dataset_keeps_pairs_and_uses_the_global_rng():
    x = np.arange(40.0).reshape(10, 4)
    t = np.arange(10) * 10
    np.random.seed(3)
    xs, ts = shuffle_dataset(x, t)
    np.random.seed(3)
    expected = np.random.permutation(10)
    np.testing.assert_array_equal(ts, t[expected])
    np.testing.assert_array_equal(xs[:, 0] / 4 * 10, ts)  # each row still with its label
    assert sorted(ts) == list(t) and list(t) == list(np.arange(10) * 10)  # inputs unchanged
    images = np.arange(5 * 2 * 3 * 3.0).reshape(5, 2, 3, 3)  # (N, C, H, W) as chapter 7's
    xi, ti = shuffle_dataset(images, np.arange(5))
    np.testing.assert_array_equal(xi[:, 0, 0, 0] / 18, ti)
    with pytest.raises(ValueError, match="one row per sample each, got 10 and 9 rows"):
        shuffle_dataset(x, t[:9])


def test_trainer_takes_chapter_5s_two_layer_net(mnist_small):
    from mitbadak.book.ch05.two_layer_net import TwoLayerNet

    x_train, t_train, x_test, t_test = mnist_small
    net = TwoLayerNet(784, 30, 10, seed=4)
    before = net.params["W1"].copy()
    np.random.seed(0)
    trainer = BookTrainer(net, x_train, t_train, x_test, t_test, epochs=1,
                          optimizer="nesterov", optimizer_param={"lr": 0.1, "momentum": 0.8})
    accuracy = trainer.train()
    assert trainer.optimizer.momentum == 0.8 and len(trainer.train_loss_list) == 3
    assert not np.array_equal(net.params["W1"], before)  # the network's own arrays, in place
    assert accuracy == net.accuracy(x_test, t_test)
