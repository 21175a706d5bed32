"""The book's ``ch04/gradient_1d.py``: ``numerical_diff(f, x)`` and ``tangent_line(f, x)``
(mitbadak's ``tangent_line`` returns the line without printing its slope)."""

from mitbadak.core.differentiation import numerical_diff, tangent_line

__all__ = ["numerical_diff", "tangent_line"]
