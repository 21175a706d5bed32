"""The book's ``ch04/gradient_simplenet.py``: ``simpleNet`` (one 2x3 weight matrix; mitbadak's
takes ``seed=`` or ``W=``)."""

from mitbadak.nn.networks import simpleNet

__all__ = ["simpleNet"]
