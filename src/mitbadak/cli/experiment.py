"""``mitbadak experiment NAME [--lang ko] [--out DIR] [--seed S] [--full]``: run one of chapter
6's experiments and write its data (``data.json``, CSV) and figure (PNG) into a folder."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.cli import CLIError
from mitbadak.core.atomic import atomic_write_text
from mitbadak.training.experiments import EXPERIMENTS

os.environ.setdefault("MPLBACKEND", "Agg")


#: the files an experiment writes (besides its PNG): what --overwrite may replace
_OWN = ("data.json", "data.csv", "meta.json")


def register(subparsers) -> None:
    names = "\n".join(f"  {name:<26} {e.summary}" for name, e in EXPERIMENTS.items())
    parser = subparsers.add_parser(
        "experiment",
        help="run one of chapter 6's experiments: its data (CSV/JSON) and figure in a folder",
        description="Run an experiment of chapter 6 and write data.json, a CSV and the figure "
        "into a folder.\n\nexperiments:\n" + names,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="which experiment (listed above)")
    parser.add_argument(
        "--out", type=Path, help="folder to write (default: experiments/NAME)"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace the files of an experiment already in --out (never other files)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--full", action="store_true", help="the book's sizes (default: a size that runs fast)"
    )
    parser.add_argument("--data-dir", type=Path, help="also search this folder for MNIST")
    parser.add_argument(
        "--lang", choices=["en", "ko"], default="en",
        help="language of the figure: en or ko (default: %(default)s)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def _plain(value: Any) -> Any:
    """JSON-ready: arrays as lists, NumPy scalars as numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rows(name: str, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The experiment's table for ``data.csv``."""
    if name == "optimizer-paths":
        rows = [[opt, d["lr"], i, x, y] for opt, d in data["optimizers"].items()
                for i, (x, y) in enumerate(zip(d["x"], d["y"], strict=True))]  # fmt: skip
        return ["optimizer", "lr", "step", "x", "y"], rows
    if name == "weight-init-histogram":
        head = ["activation", "init", "layer", "zeros", "clipped"]
        head += [f"bin{b}" for b in range(data["bins"])]
        rows = [[c["activation"], c["init"], i + 1, c["zeros"][i], c["clipped"][i],
                 *np.asarray(c["counts"][i]).tolist()]
                for c in data["cases"].values() for i in range(data["layers"])]  # fmt: skip
        return head, rows
    head = ["case", "param", "mean_abs_diff", "relative", "backprop_abs_mean",
            "numerical_abs_mean"]  # fmt: skip
    rows = [[case, p, *v.values()] for case in ("one", "batch") for p, v in data[case].items()]
    return head, rows


def _bar(total_hint: str):
    def progress(done: int, total: int, what: str) -> None:
        end = "\n" if done == total else ""
        print(f"\r  [{done}/{total}] {what:<30}", end=end, file=sys.stderr, flush=True)

    return progress


def run(args) -> int:
    experiment = EXPERIMENTS.get(args.name)
    if experiment is None:
        raise CLIError(
            f"unknown experiment {args.name!r}; choose one of {', '.join(EXPERIMENTS)}"
        )
    out = args.out or Path("experiments") / args.name
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: is a file, not a folder")
    held = sorted(p.name for p in out.glob("*") if p.name in _OWN or p.suffix == ".png") \
        if out.is_dir() else []  # fmt: skip
    if held and not args.overwrite:
        raise CLIError(
            f"{out} already holds an experiment ({', '.join(held)}); pass --overwrite to replace "
            "it, or --out another folder"
        )
    inputs: dict[str, Any] = {}
    data_line = experiment.data
    if experiment.needs_images:
        from mitbadak.training.experiments import load_check_images

        x, t, used = load_check_images(args.data_dir)
        inputs = {"x": x, "t": t}
        data_line = f"{used}: {len(x)} images read"
    print(f"{args.name}: data: {data_line}")
    print(f"{args.name}: seed {args.seed}, {'the book' if args.full else 'quick'} size")
    data = experiment.run(seed=args.seed, full=args.full, progress=_bar(args.name), **inputs)
    # Everything is computed before the first file is written; each file is written atomically
    # and meta.json last, so an interrupted command leaves either nothing new or whole files.
    out.mkdir(parents=True, exist_ok=True)
    plain = _plain(data)
    atomic_write_text(out / "data.json", json.dumps(plain, indent=1, ensure_ascii=False))
    head, rows = _rows(args.name, plain)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(head)
    writer.writerows(rows)
    atomic_write_text(out / "data.csv", buffer.getvalue())
    written = ["data.json", "data.csv"]
    try:
        from mitbadak.views import plots
    except ImportError as exc:
        print(f"{args.name}: no figure: {exc}", file=sys.stderr)
    else:
        png = f"{args.name}{'' if args.lang == 'en' else '.' + args.lang}.png"
        fig = getattr(plots, experiment.figure)(data, lang=args.lang)
        plots.save_figure(fig, out / png)
        written.append(png)
    meta = {"experiment": args.name, "seed": args.seed, "full": args.full, "lang": args.lang,
            "data": data_line, "files": written}  # fmt: skip
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False))
    print(f"{args.name}: wrote {', '.join(written)}, meta.json in {out}")
    return 0
