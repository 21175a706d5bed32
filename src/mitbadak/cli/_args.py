"""Argument types shared by the commands: each refuses bad values at parse time, naming the limit.

argparse prefixes every message with the flag (``argument --lr: ...``), so the messages here say
only what was expected and what was given. Sizes are bounded *before* anything is allocated.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from mitbadak.training.recipes import MAX_PARAMETERS, parameter_count  # noqa: F401 - for the commands

#: Largest hidden layer the CLI accepts; the largest network (parameters) it will build is
#: :data:`mitbadak.training.recipes.MAX_PARAMETERS`.
MAX_HIDDEN = 65_536


def _number(text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (``nan`` and ``inf`` are refused)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def float_between(low: float, high: float, *, what: str = "a number") -> Callable[[str], float]:
    """An argument type accepting finite numbers x with low < x <= high (``nan``, ``inf``,
    ``1e309`` and everything outside the range refused); ``what`` names the unit in messages."""

    def parse(text: str) -> float:
        value = _number(text, float)
        if not low < value <= high:
            raise argparse.ArgumentTypeError(
                f"expected {what} greater than {low:g} and at most {high:g}, got {text!r}"
            )
        return value

    parse.__name__ = f"number {low:g}..{high:g}"
    return parse


#: How long ``doctor --timeout`` may wait for each mirror, in seconds.
MAX_TIMEOUT_SECONDS = 300.0
#: ``--timeout SECONDS`` for a network wait: finite, > 0 and at most :data:`MAX_TIMEOUT_SECONDS`.
timeout_seconds = float_between(0.0, MAX_TIMEOUT_SECONDS, what="a number of seconds")


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argument type accepting integers in [low, high]."""

    def parse(text: str) -> int:
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low:,} to {high:,}, got {text!r}"
            )
        return value

    parse.__name__ = f"integer {low}..{high}"
    return parse


#: Seeds NumPy accepts: non-negative integers (kept below 2**63 so they fit any int64).
seed_int = int_between(0, 2**63 - 1)


def hidden_sizes(text: str) -> list[int]:
    """Hidden layer sizes like ``50`` or ``256,128``, each from 1 to :data:`MAX_HIDDEN`."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 50 or 256,128, got {text!r}"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    if any(s > MAX_HIDDEN for s in sizes):
        raise argparse.ArgumentTypeError(
            f"a hidden layer may have at most {MAX_HIDDEN:,} units, got {text!r}"
        )
    return sizes


def add_device_argument(parser) -> None:
    """``--device cpu|gpu|auto`` (default cpu): where the network computes (docs/gpu.md)."""
    parser.add_argument(
        "--device",
        choices=["cpu", "gpu", "auto"],
        default="cpu",
        help="where to compute: cpu (NumPy), gpu (CuPy and an NVIDIA GPU: "
        "pip install 'mitbadak[gpu]'), or auto (the GPU when CuPy finds one, else the CPU)",
    )


def resolve_device_argument(args) -> str:
    """``args.device`` resolved to 'cpu' or 'gpu' before any work is done; a GPU that is not
    there is a one-line DeviceError (a MitbadakError: ``mitbadak: error: ...``)."""
    from mitbadak.core.backend import resolve_device

    return resolve_device(args.device)



def load_model_noting(path):
    """``load_any_model(path)`` -> (network, metadata); a 2022 master convnet file's warning is
    said as one ``note:`` line on stderr (its weights differ from the book's figures)."""
    import sys
    import warnings

    from mitbadak.files.convnet_params import BookWeightsVersionWarning
    from mitbadak.training.evaluation import load_any_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BookWeightsVersionWarning)
        loaded = load_any_model(path)
    for warning in caught:
        if issubclass(warning.category, BookWeightsVersionWarning):
            print(f"note: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)  # fmt: skip
    return loaded
