"""The book's ``common/util.py``: ``smooth_curve`` (an 11-point Kaiser-window mean, the ends
mirrored), ``shuffle_dataset`` (one permutation from NumPy's global generator) and chapter 7's
``im2col``, ``col2im`` (the book's layout) and ``conv_output_size`` (an int here; the book's
returns a float)."""

from mitbadak.nn.convolution import col2im, conv_output_size, im2col
from mitbadak.training.book_trainer import shuffle_dataset
from mitbadak.views.smoothing import smooth_curve

__all__ = ["smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]
