"""A book-style reference: the textbook algorithms of chapters 3-5, written plainly.

This is the baseline of the benchmarks, not library code. It follows the way the book teaches
the algorithms (written here from scratch): float64 everywhere, layer objects kept in an
OrderedDict, mini-batches drawn with ``np.random.choice``, one-hot labels, a loss recorded after
every update by one more forward pass, an accuracy pass over the whole float64 training set after
every epoch, and the numerical gradient as a Python loop over every parameter element.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_error(y, t, delta=1e-7):
    """Mean over the batch of -sum_k t_k log(y_k + delta); t is one-hot."""
    if y.ndim == 1:
        y, t = y.reshape(1, -1), t.reshape(1, -1)
    return -np.sum(t * np.log(y + delta)) / y.shape[0]


def numerical_gradient(f, x, h=1e-4):
    """Central difference (f(x+h) - f(x-h)) / 2h for every element of x, one at a time."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        keep = x[i]
        x[i] = keep + h
        up = f(x)
        x[i] = keep - h
        down = f(x)
        grad[i] = (up - down) / (2 * h)
        x[i] = keep
        it.iternext()
    return grad


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class Sigmoid:
    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class SoftmaxWithLoss:
    def __init__(self, delta=1e-7):
        self.delta = delta

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, t, self.delta)

    def backward(self, dout=1):
        return (self.y - self.t) * dout / self.t.shape[0]


class BookNet:
    """Affine -> activation -> ... -> Affine -> SoftmaxWithLoss, parameters W1, b1, W2, b2, ...

    ``cee_delta=0`` makes the loss the exact cross-entropy (as mitbadak's), so numerical gradients
    of the two can be compared to 1e-9; the book's 1e-7 moves them by ~1e-8.
    """

    def __init__(self, sizes, activation="sigmoid", std=0.01, cee_delta=1e-7, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {}
        for i in range(1, len(sizes)):
            s = std if std is not None else np.sqrt(2.0 / sizes[i - 1])
            self.params[f"W{i}"] = s * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
        self.n_affine = len(sizes) - 1
        self.layers = OrderedDict()
        for i in range(1, self.n_affine + 1):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < self.n_affine:
                self.layers[f"Act{i}"] = Sigmoid() if activation == "sigmoid" else Relu()
        self.last_layer = SoftmaxWithLoss(cee_delta)

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        return np.sum(y == np.argmax(t, axis=1)) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        f = lambda _w: self.loss(x, t)  # noqa: E731 - the book's idiom
        return {k: numerical_gradient(f, p) for k, p in self.params.items()}

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in range(1, self.n_affine + 1):
            grads[f"W{i}"] = self.layers[f"Affine{i}"].dW
            grads[f"b{i}"] = self.layers[f"Affine{i}"].db
        return grads


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for k in params:
            params[k] -= self.lr * grads[k]


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        for k in params:
            self.v[k] = self.momentum * self.v[k] - self.lr * grads[k]
            params[k] += self.v[k]


def one_hot(t, classes=10):
    out = np.zeros((t.size, classes))
    out[np.arange(t.size), t] = 1.0
    return out


def train_iterations(net, opt, x_train, t_train, iters, batch_size=100):
    """The book's loop: random batch, backprop, update, record the loss (one more forward)."""
    losses = []
    for _ in range(iters):
        mask = np.random.choice(x_train.shape[0], batch_size)
        xb, tb = x_train[mask], t_train[mask]
        opt.update(net.params, net.gradient(xb, tb))
        losses.append(net.loss(xb, tb))
    return losses


def train_epoch_with_accuracy(net, opt, x_train, t_train, x_test, t_test, batch_size=100):
    """One epoch's worth of iterations, then the accuracy of the whole training and test sets."""
    iters = max(x_train.shape[0] // batch_size, 1)
    train_iterations(net, opt, x_train, t_train, iters, batch_size)
    return net.accuracy(x_train, t_train), net.accuracy(x_test, t_test)


def predict_in_batches(params, x, batch_size=100):
    """Chapter 3's inference: three sigmoid/softmax layers, 100 images at a time."""
    out = []
    for i in range(0, x.shape[0], batch_size):
        a = x[i : i + batch_size]
        z1 = sigmoid(a @ params["W1"] + params["b1"])
        z2 = sigmoid(z1 @ params["W2"] + params["b2"])
        y = softmax(z2 @ params["W3"] + params["b3"])
        out.append(np.argmax(y, axis=1))
    return np.concatenate(out)


# ------------------------------------------------------------------------------------------------
# chapter 6: batch normalization and dropout, as the book teaches them (written here from the
# formulas), for the `extend` benchmark


class BatchNormalization:
    """Training: xn = (x - mean) / sqrt(var + 1e-6) over the batch, y = gamma xn + beta; the
    backward pass follows the computational graph node by node (xn, std, var, mean)."""

    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.zeros_like(gamma)

    def forward(self, x, train_flg=True):
        if not train_flg:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 10e-7)
            return self.gamma * xn + self.beta
        mean = x.mean(axis=0)
        self.xc = x - mean
        var = np.mean(self.xc**2, axis=0)
        self.std = np.sqrt(var + 10e-7)
        self.xn = self.xc / self.std
        self.batch_size = x.shape[0]
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        return self.gamma * self.xn + self.beta

    def backward(self, dout):
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum(dxn * self.xc / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmean = np.sum(dxc, axis=0)
        return dxc - dmean / self.batch_size


class Dropout:
    """Training: keep each unit where a uniform draw exceeds the ratio; test: scale by 1 - ratio."""

    def __init__(self, ratio=0.5):
        self.ratio = ratio

    def forward(self, x, train_flg=True):
        if not train_flg:
            return x * (1.0 - self.ratio)
        self.mask = np.random.rand(*x.shape) > self.ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class BookExtendNet:
    """Affine -> BatchNormalization -> ReLU -> Dropout per hidden layer, then Affine and
    SoftmaxWithLoss (one-hot labels); float64, He initialisation, layers in an OrderedDict."""

    def __init__(self, sizes, dropout_ratio=0.2, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {}
        self.layers = OrderedDict()
        n_affine = len(sizes) - 1
        for i in range(1, n_affine + 1):
            scale = np.sqrt(2.0 / sizes[i - 1])
            self.params[f"W{i}"] = scale * rng.standard_normal((sizes[i - 1], sizes[i]))
            self.params[f"b{i}"] = np.zeros(sizes[i])
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i == n_affine:
                break
            self.params[f"gamma{i}"] = np.ones(sizes[i])
            self.params[f"beta{i}"] = np.zeros(sizes[i])
            self.layers[f"BatchNorm{i}"] = BatchNormalization(self.params[f"gamma{i}"],
                                                              self.params[f"beta{i}"])
            self.layers[f"Relu{i}"] = Relu()
            self.layers[f"Dropout{i}"] = Dropout(dropout_ratio)
        self.n_affine = n_affine
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers.values():
            if isinstance(layer, BatchNormalization | Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for i in range(1, self.n_affine + 1):
            grads[f"W{i}"] = self.layers[f"Affine{i}"].dW
            grads[f"b{i}"] = self.layers[f"Affine{i}"].db
            if i < self.n_affine:
                grads[f"gamma{i}"] = self.layers[f"BatchNorm{i}"].dgamma
                grads[f"beta{i}"] = self.layers[f"BatchNorm{i}"].dbeta
        return grads
