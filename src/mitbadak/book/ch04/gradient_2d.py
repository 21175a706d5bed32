"""The book's ``ch04/gradient_2d.py``: ``numerical_gradient(f, X)``, also for a 2-D ``X`` of
points (``gradient_method.py`` imports it from here).

``numerical_gradient(f, np.array([X, Y]))`` is the gradient field: one point per column when
``f`` returns one value per column (``f = lambda x: x[0]**2 + x[1]**2``), one point per row when
``f`` returns one value per row (the book's ``function_2``, which sums over axis 1).
"""

from mitbadak.core.differentiation import numerical_gradient

__all__ = ["numerical_gradient"]
