"""The book's ``common/optimizer.py``: ``SGD``, ``Momentum``, ``AdaGrad``, ``Adam`` with the
book's defaults (lr 0.01; Adam lr 0.001, beta1 0.9, beta2 0.999) and ``update(params, grads)``.
(``Nesterov`` and ``RMSprop`` come with chapter 6.)"""

from mitbadak.nn.optimizers import SGD, AdaGrad, Adam, Momentum

__all__ = ["SGD", "Momentum", "AdaGrad", "Adam"]
