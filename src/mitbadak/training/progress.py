"""Progress bars for long calls, the same in a terminal and in Jupyter (``tqdm.auto``).

The library itself never prints: long calls report progress through callbacks. This module
turns those callbacks into a bar when *you* ask for one::

    from mitbadak.training.progress import progress_bar
    result = train(net, train_set, test_set, gradient="numerical", callback=progress_bar())

In a notebook ``tqdm.auto`` draws a widget (with ``ipywidgets`` installed, as the
``mitbadak[notebooks]`` extra does) and in a terminal a text bar on stderr. The CLI's training
bar (``mitbadak.cli._progress``) is built on :class:`TrainingProgress` too.

:func:`counting` wraps any function so that each call advances a bar: the book's
``numerical_gradient(f, x)`` calls ``f`` twice per element of ``x``, so
``numerical_gradient(counting(f, total=2 * x.size), x)`` shows how far it is.
:func:`numerical_gradient` does the same for a network's ``numerical_gradient``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["TQDM_MISSING", "TrainingProgress", "progress_bar", "counting", "numerical_gradient"]

TQDM_MISSING = "progress bars need tqdm: pip install 'mitbadak[progress]'"


def _auto_tqdm():
    """``tqdm.auto.tqdm``: a widget in Jupyter (when ipywidgets is there), text elsewhere."""
    try:
        import warnings

        with warnings.catch_warnings():
            # Without ipywidgets, tqdm.auto warns once and falls back to the text bar, which
            # Jupyter shows fine; the warning itself only adds noise to the notebook.
            warnings.filterwarnings("ignore", message=".*IProgress not found.*")
            from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError(TQDM_MISSING) from exc
    return tqdm


class TrainingProgress:
    """A ``callback`` for :func:`mitbadak.training.train` (and ``run_training``) that drives
    one progress bar: its length is the run's iterations, its postfix the epoch, the recent
    mini-batch loss and the last test accuracy.

    ``tqdm_class`` defaults to ``tqdm.auto.tqdm``; other keyword arguments go to it (``file``,
    ``leave``, ``desc``, ``dynamic_ncols`` ...). Events other than start/step/epoch/end are
    ignored, so it can be chained with other callbacks.
    """

    def __init__(self, *, tqdm_class=None, postfix_every: int = 20, **tqdm_kwargs: Any) -> None:
        if postfix_every < 1:
            raise ValueError(f"postfix_every must be at least 1, got {postfix_every}")
        self.tqdm_class = tqdm_class or _auto_tqdm()
        self.postfix_every = postfix_every
        self.tqdm_kwargs = {"unit": "it", "mininterval": 0.2, **tqdm_kwargs}
        self.bar = None
        self.last_test_acc: float | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.close()
            self.bar = self.tqdm_class(
                total=event["total_iters"], initial=event["start_iteration"], **self.tqdm_kwargs
            )
        elif self.bar is None:
            return
        elif kind == "step":
            self.bar.update(1)
            if event["iteration"] % self.postfix_every == 0:
                self._postfix(event["epoch"], event["loss"])
        elif kind == "epoch":
            self.last_test_acc = event.get("test_acc")
            self._postfix(event["epoch"], event.get("train_loss"))
        elif kind == "end":
            self.close()

    def _postfix(self, epoch, loss) -> None:
        postfix = {"epoch": epoch}
        if loss is not None:
            postfix["loss"] = f"{loss:.4f}"
        if self.last_test_acc is not None:
            postfix["test_acc"] = f"{self.last_test_acc:.4f}"
        self.bar.set_postfix(postfix, refresh=False)

    def write(self, line: str, file=None) -> None:
        """Print ``line`` above the bar without breaking it."""
        self.bar.write(line, file=file)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress_bar(desc: str | None = "training", **tqdm_kwargs: Any) -> TrainingProgress:
    """A progress-bar callback for ``train(..., callback=progress_bar())``.

    Works in Jupyter and in a terminal (``tqdm.auto``). Raises ImportError naming
    ``mitbadak[progress]`` when tqdm is not installed.
    """
    return TrainingProgress(desc=desc, **tqdm_kwargs)


def counting(
    f: Callable[..., Any], total: int | None = None, desc: str | None = None, **tqdm_kwargs: Any
) -> Callable[..., Any]:
    """``f`` wrapped so that every call advances a progress bar of ``total`` calls.

    The bar closes itself when ``total`` calls are done (or call ``wrapped.close()``).
    """
    bar = _auto_tqdm()(total=total, desc=desc, unit="call", mininterval=0.2, **tqdm_kwargs)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        value = f(*args, **kwargs)
        bar.update(1)
        if total is not None and bar.n >= total:
            bar.close()
        return value

    wrapped.close = bar.close  # type: ignore[attr-defined]
    wrapped.bar = bar  # type: ignore[attr-defined]
    return wrapped


def numerical_gradient(
    network, x, t, *, method: str = "auto", desc: str | None = "numerical gradient",
    **tqdm_kwargs,
) -> dict:
    """``network.numerical_gradient(x, t, method=method)`` with a progress bar.

    The default is the network's: ``'auto'``, the fast engine where one exists (one hidden
    layer); ``method='reference'`` asks for the book's element-by-element loop (about 20 s for
    784-50-10 on 100 images), whose evaluations the bar counts.
    The element-by-element (reference) path evaluates the loss twice per parameter and the bar
    counts those evaluations; the fast path is one vectorized call and shows a one-step bar.
    """
    from mitbadak.nn import gradcheck

    reference = method == "reference" or (method == "auto" and not gradcheck.supports_fast(network))
    if not reference:
        bar = _auto_tqdm()(total=1, desc=desc, **tqdm_kwargs)
        try:
            grads = network.numerical_gradient(x, t, method=method)
            bar.update(1)
        finally:
            bar.close()
        return grads
    total = 2 * sum(int(p.size) for p in network.params.values())
    x2, t2 = network.prepare(x, t)
    bar = _auto_tqdm()(total=total, desc=desc, **tqdm_kwargs)
    try:  # the bar counts the loss evaluations of the element-by-element loop
        return gradcheck.numerical_gradient_reference(
            network, x2, t2, on_loss=lambda: bar.update(1)
        )
    finally:
        bar.close()
