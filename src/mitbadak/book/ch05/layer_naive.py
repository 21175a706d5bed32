"""The book's ``ch05/layer_naive.py``: ``MulLayer`` and ``AddLayer`` (``buy_apple.py`` and
``buy_apple_orange.py`` import them from here)."""

from mitbadak.nn.layers import AddLayer, MulLayer

__all__ = ["MulLayer", "AddLayer"]
