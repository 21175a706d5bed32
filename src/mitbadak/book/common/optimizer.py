"""The book's ``common/optimizer.py``: ``SGD``, ``Momentum``, ``Nesterov``, ``AdaGrad``,
``RMSprop``, ``Adam`` with the book's defaults (lr 0.01, momentum 0.9, RMSprop decay_rate 0.99;
Adam lr 0.001, beta1 0.9, beta2 0.999) and ``update(params, grads)``: mitbadak's own classes."""

from mitbadak.nn.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
