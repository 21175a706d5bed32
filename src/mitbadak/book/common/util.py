"""The book's ``common/util.py`` (chapter 6's part): ``smooth_curve`` (an 11-point Kaiser-window
mean, the ends mirrored) and ``shuffle_dataset`` (one permutation from NumPy's global generator).
``im2col``/``col2im`` come with chapter 7."""

from mitbadak.core.smoothing import smooth_curve
from mitbadak.training.book_trainer import shuffle_dataset

__all__ = ["smooth_curve", "shuffle_dataset"]
