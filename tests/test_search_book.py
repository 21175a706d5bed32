"""The book's ``ch06/hyperparameter_optimization.py``, ported by its import lines alone.

Our own transcription of the script's steps (the book's import lines rewritten to
``mitbadak.book.…``; the code is ours): the first 500 training images, 20 % of them shuffled
off for validation, then trials of ``lr = 10**U(-6, -2)`` and ``weight_decay = 10**U(-8, -4)``
each training a 6x100 ``MultiLayerNet`` with ``Trainer(..., optimizer='sgd')``, ranked by the
last validation accuracy. Bounded: 3 trials of 2 epochs instead of 100 of 50.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import mitbadak.files.datasets as library_datasets
from mitbadak.core.errors import DatasetUnavailable

#: the script's import lines naming the book's own modules (facts read from its repository)
IMPORTS = [
    "from dataset.mnist import load_mnist",
    "from common.multi_layer_net import MultiLayerNet",
    "from common.util import shuffle_dataset",
    "from common.trainer import Trainer",
]


@pytest.fixture
def offline_mnist(monkeypatch):
    """No MNIST training images: the face falls back to the packaged sample, as offline."""
    real = library_datasets.load_mnist

    def offline(*args, name="mnist", **kwargs):
        if name == "mnist":
            raise DatasetUnavailable("no MNIST here", dataset="mnist",
                                     missing=["train-images-idx3-ubyte.gz"])  # fmt: skip
        return real(*args, name=name, **{**kwargs, "download": False})

    monkeypatch.setattr(library_datasets, "load_mnist", offline)
    monkeypatch.setattr(library_datasets, "locate", lambda *a, **k: None)


def test_hyperparameter_optimization_runs_with_its_imports_rewritten(offline_mnist, capsys):
    ns: dict = {}
    for line in IMPORTS:
        exec(re.sub(r"^from ", "from mitbadak.book.", line), ns)  # noqa: S102
    load_mnist, MultiLayerNet = ns["load_mnist"], ns["MultiLayerNet"]
    shuffle_dataset, Trainer = ns["shuffle_dataset"], ns["Trainer"]
    np.random.seed(0)

    (x_train, t_train), _ = load_mnist(normalize=True)
    x_train, t_train = x_train[:500], t_train[:500]
    n_val = int(x_train.shape[0] * 0.20)
    x_train, t_train = shuffle_dataset(x_train, t_train)
    x_val, t_val = x_train[:n_val], t_train[:n_val]
    x_train, t_train = x_train[n_val:], t_train[n_val:]

    def one_trial(lr, weight_decay, epochs=2):
        net = MultiLayerNet(input_size=784, hidden_size_list=[100] * 6, output_size=10,
                            weight_decay_lambda=weight_decay)  # fmt: skip
        trainer = Trainer(net, x_train, t_train, x_val, t_val, epochs=epochs,
                          mini_batch_size=100, optimizer="sgd", optimizer_param={"lr": lr},
                          verbose=False)  # fmt: skip
        trainer.train()
        return trainer.test_acc_list, trainer.train_acc_list

    results = {}
    for _ in range(3):
        weight_decay = 10 ** np.random.uniform(-8, -4)
        lr = 10 ** np.random.uniform(-6, -2)
        val_acc, train_acc = one_trial(lr, weight_decay)
        results[f"lr:{lr}, weight decay:{weight_decay}"] = (val_acc, train_acc)
    ranked = sorted(results.items(), key=lambda kv: kv[1][0][-1], reverse=True)

    assert (len(x_train), len(x_val)) == (400, 100)
    assert capsys.readouterr().out.count("mnist-sample") <= 2  # the face's one fallback note
    for key, (val_acc, train_acc) in ranked:
        assert len(val_acc) == len(train_acc) == 2  # 400 / 100 = 4 steps per epoch, 2 epochs
        assert all(0.0 <= a <= 1.0 for a in val_acc + train_acc)
        lr = float(key.split(",")[0].split(":")[1])
        assert 1e-6 <= lr <= 1e-2
    assert [v[0][-1] for _, v in ranked] == sorted((v[0][-1] for v in results.values()),
                                                   reverse=True)  # fmt: skip
