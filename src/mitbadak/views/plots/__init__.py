"""The book's figures and training plots, each one call that returns a matplotlib ``Figure``.

Every function builds its own ``matplotlib.figure.Figure`` with an Agg canvas attached: nothing
here touches ``pyplot`` or any global state, so figures are safe to make headless, in threads and
in notebooks (where the figure can be the cell's last expression after ``%matplotlib inline``).
Importing this package needs matplotlib (it raises ``ImportError`` saying how to install it);
``import mitbadak`` does not import it.

Figure functions are named after the ``mitbadak plot NAME`` commands that draw them
(:data:`mitbadak.views.figures.FIGURES` is the registry): ``activations``, ``softmax``, ``tangent``,
``surface``, ``gradient_field``, ``descent``, ``learning_rates``, ``curves``, ``samples``,
``misclassified``, ``graph``, ``weights``; plus ``loss_curve``, ``accuracy_curve`` and
``confusion_matrix`` for ``train`` and ``evaluate``.

Every figure function takes ``lang="en"`` (default) or ``lang="ko"``: Korean titles, axes and
legends with the book's terms (활성화 함수, 손실 함수, 기울기, 학습률, 정확도, ...), drawn with a
Hangul font found on this machine (:mod:`mitbadak.views.fonts`). The font is set on each text artist
of
the figure; matplotlib's global settings are never changed. Without a Hangul font the figure is
drawn in English and a :class:`mitbadak.views.fonts.HangulFontWarning` says which package to
install.

The package has one module per kind of figure; every public name is re-exported here:

* :mod:`~mitbadak.views.plots.book` - the book's chapter 3-5 figures (activations, softmax,
  tangent, surface, gradient field, descent, learning rates, the shopping graph);
* :mod:`~mitbadak.views.plots.training_curves` - a run's loss and accuracy curves (``read_run``);
* :mod:`~mitbadak.views.plots.images` - dataset samples, misclassified images, weight tiles and the
  confusion matrix;
* ``_base`` - what they share: ``new_figure``, ``words``/``finish`` (English or Korean, the
  Hangul font), the colours and :func:`save_figure`.
"""

from __future__ import annotations

from mitbadak.views.plots import book, experiments, images, search, training_curves
from mitbadak.views.plots._base import (  # noqa: F401 - part of mitbadak.views.plots since it was one module
    BLUE,
    DEFAULT_DPI,
    GREEN,
    LANGUAGES,
    MATPLOTLIB_MISSING,
    ORANGE,
    PURPLE,
    RED,
    save_figure,
)
from mitbadak.views.plots.book import *  # noqa: F403
from mitbadak.views.plots.experiments import *  # noqa: F403
from mitbadak.views.plots.images import *  # noqa: F403
from mitbadak.views.plots.search import *  # noqa: F403
from mitbadak.views.plots.training_curves import *  # noqa: F403

# Each module's __all__ lists its figure functions, so a new one needs no line here.
__all__ = ["save_figure"]
__all__ += training_curves.__all__
__all__ += book.__all__
__all__ += images.__all__
__all__ += experiments.__all__
__all__ += search.__all__
