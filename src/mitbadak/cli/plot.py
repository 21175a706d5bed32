"""``mitbadak plot NAME [ARG] [--out FILE.png]``: draw one of the book's figures as a PNG."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli._args import int_between
from mitbadak.views.figures import FIGURES

# Plots are always written to files: never let matplotlib pick an interactive backend.
os.environ.setdefault("MPLBACKEND", "Agg")



def register(subparsers) -> None:
    names = "\n".join(
        f"  {name:<15} {(f.needs if f.needs in ('RUN_DIR', 'MODEL') else ''):<8} {f.summary}"
        for name, f in FIGURES.items()
    )
    parser = subparsers.add_parser(
        "plot",
        help="draw one of the book's figures (or a run's curves) as a PNG",
        description="Draw a figure headless and write it as a PNG (default: NAME.png in the "
        "current folder).\n\nfigures:\n" + names,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="which figure (listed above)")
    parser.add_argument(
        "arg",
        metavar="ARG",
        nargs="?",
        help="RUN_DIR for 'curves'; MODEL (.npz, run folder or the book's .pkl) for "
        "'misclassified' and 'weights'",
    )
    parser.add_argument("--out", type=Path, help="PNG file to write (default: NAME.png)")
    parser.add_argument(
        "--dataset",
        default="mnist-sample",
        help="dataset for 'samples' and 'misclassified' (default: %(default)s)",
    )
    parser.add_argument("--data-dir", type=Path, help="also search this folder for the dataset")
    parser.add_argument(
        "--split",
        choices=["train", "test"],
        default="test",
        help="dataset split for 'samples' and 'misclassified' (default: %(default)s)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download the dataset if it is not found (default: never touch the network)",
    )
    parser.add_argument(
        "--count",
        type=int,
        help="images to show for 'samples' and 'misclassified' (default: 25), hidden units "
        "for 'weights' (default: 100)",
    )
    parser.add_argument(
        "--dpi", type=int_between(10, 600), default=120, help="resolution (default: %(default)s)"
    )
    add_lang_argument(parser)
    parser.set_defaults(func=run)


def add_lang_argument(parser) -> None:
    """``--lang {en,ko}``, shared by ``plot``, ``train`` and ``evaluate``."""
    parser.add_argument(
        "--lang",
        choices=["en", "ko"],
        default="en",
        help="language of the figures' titles, axes and legends: en or ko (Korean, with the "
        "book's terms; needs a Hangul font such as fonts-nanum) (default: %(default)s)",
    )


def resolve_lang(lang: str, stream=None) -> str:
    """``lang``, or "en" with a one-line note on stderr when Korean has no font to draw with."""
    if lang != "ko":
        return lang
    from mitbadak.views.fonts import find_hangul_font, missing_font_note

    if find_hangul_font() is None:
        print(f"mitbadak: note: {missing_font_note()}", file=stream or sys.stderr)
        return "en"
    return lang


def run(args: argparse.Namespace) -> int:
    name = args.name.strip().lower().replace("_", "-")
    if name not in FIGURES:
        raise CLIError(f"unknown figure {args.name!r}; expected one of {', '.join(FIGURES)}")
    spec = FIGURES[name]
    needs = spec.needs if spec.needs in ("RUN_DIR", "MODEL") else None
    if needs and args.arg is None:
        raise CLIError(f"'plot {name}' needs {needs}: mitbadak plot {name} {needs}")
    if not needs and args.arg is not None:
        raise CLIError(f"'plot {name}' takes no argument, got {args.arg!r}")
    if args.count is not None and args.count < 1:
        raise CLIError(f"--count must be at least 1, got {args.count}")
    if args.dpi < 10:
        raise CLIError(f"--dpi must be at least 10, got {args.dpi}")
    out = args.out if args.out is not None else Path(f"{name}.png")
    if out.suffix.lower() != ".png":
        raise CLIError(f"--out must name a .png file, got {out}")

    try:
        from mitbadak.views import plots
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    args.lang = resolve_lang(getattr(args, "lang", "en"))
    make = _LOADERS.get(name)
    figure = make(plots, args) if make else spec.make(lang=args.lang)
    written = plots.save_figure(figure, out, dpi=args.dpi)
    print(written)
    return 0


def _load_data(args: argparse.Namespace):
    from mitbadak.files.datasets import load_split

    return load_split(
        args.dataset,
        split=args.split,
        data_dir=args.data_dir,
        download=args.download,
    )


def _class_names(dataset: str) -> list[str] | None:
    from mitbadak.files.datasets.registry import get_spec

    classes = list(get_spec(dataset).classes)
    return None if classes == [str(d) for d in range(10)] else classes


def _load_model(path: str):
    from mitbadak.training.evaluation import load_any_model

    network, _meta = load_any_model(path)
    return network


def _samples(plots, args):
    x, t = _load_data(args)
    return plots.samples(
        x,
        t,
        count=args.count or 25,
        class_names=_class_names(args.dataset),
        title=f"{args.dataset} ({args.split})",
        lang=args.lang,
    )


def _misclassified(plots, args):
    network = _load_model(args.arg)
    x, t = _load_data(args)
    probs = network.predict_proba(x)
    pred = probs.argmax(axis=1)
    return plots.misclassified(
        x,
        t,
        pred,
        probs,
        max_images=args.count or 25,
        class_names=_class_names(args.dataset),
        lang=args.lang,
    )


def _weights(plots, args):
    network = _load_model(args.arg)
    first = getattr(network, "params", {}).get("W1")
    if first is None:
        raise CLIError(f"{args.arg}: the model has no first-layer weights W1")
    return plots.weights(first, max_units=args.count or 100, lang=args.lang)


# How the CLI loads what a figure needs (a run folder, a model, a data set); every figure not
# listed here draws the book's example from nothing (FigureSpec.needs is None).
_LOADERS: dict[str, Callable] = {
    "curves": lambda plots, args: plots.curves(plots.read_run(args.arg), lang=args.lang),
    "samples": _samples,
    "misclassified": _misclassified,
    "weights": _weights,
}
