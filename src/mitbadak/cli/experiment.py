"""``mitbadak experiment NAME [--data SET] [--lang ko] [--out DIR] [--seed S] [--full]``: run one
of chapter 6's experiments and write its data (``data.json``, CSV) and figure (PNG) into a folder.

Ctrl-C while it computes asks the experiment to stop (its ``should_stop``): what is done so far
is written as usual, with ``"partial": true`` in data.json and meta.json, one line says so and
the exit status is 130. A second Ctrl-C abandons the run (nothing new is written)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.cli import CLIError
from mitbadak.core.atomic import atomic_write_text
from mitbadak.training.experiments import DATA_CHOICES, EXPERIMENTS

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
    parser.add_argument(
        "--data", choices=DATA_CHOICES,
        help="the images of the MNIST experiments (default: MNIST where its four files are "
        "found, else the packaged mnist-sample); never downloaded",
    )  # fmt: skip
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
    if name == "optimizer-mnist":
        rows = [[opt, d["lr"], i + 1, loss, d["smoothed"][i]]
                for opt, d in data["optimizers"].items() for i, loss in enumerate(d["loss"])]
        return ["optimizer", "lr", "iteration", "loss", "smoothed"], rows
    if name == "weight-init-compare":
        rows = [[init, i + 1, loss, d["smoothed"][i]]
                for init, d in data["inits"].items() for i, loss in enumerate(d["loss"])]
        return ["init", "iteration", "loss", "smoothed"], rows
    if name == "batchnorm":
        rows = [[c["scale"], e, bn, plain] for c in data["cases"]
                for e, (bn, plain) in enumerate(zip(c["bn_train_acc"], c["plain_train_acc"],
                                                    strict=True))]  # fmt: skip
        return ["scale", "epoch", "bn_train_acc", "plain_train_acc"], rows
    if name in ("overfit-weight-decay", "overfit-dropout"):
        base = data["baseline"]
        rows = [list(r) for r in zip(range(len(data["train_acc"])), data["train_acc"],
                                     data["test_acc"], base["train_acc"], base["test_acc"],
                                     strict=True)]  # fmt: skip
        return ["epoch", "train_acc", "test_acc", "baseline_train_acc", "baseline_test_acc"], rows
    head = ["case", "param", "mean_abs_diff", "relative", "backprop_abs_mean",
            "numerical_abs_mean"]  # fmt: skip
    rows = [[case, p, *(v[k] for k in head[2:])]
            for case in ("one", "batch") if case in data for p, v in data[case].items()]
    return head, rows


class _Bar:
    """The experiment's ``progress(done, total, what)``: a tqdm bar on a terminal, else (a log,
    a pipe) one line ``[done/total] what`` on stderr every ``every`` seconds and at the end."""

    def __init__(self, every: float = 5.0, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.last = time.monotonic()
        self.bar = None
        self.use_bar = False
        if self.stream.isatty():
            try:
                import tqdm  # noqa: F401

                self.use_bar = True
            except ImportError:
                pass

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.use_bar:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, file=self.stream, leave=True, mininterval=0.2)
            self.bar.total = total
            self.bar.set_postfix_str(what, refresh=False)
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if done == total or now - self.last >= self.every:
            self.last = now
            print(f"  [{done}/{total}] {what}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def _stop_on_ctrl_c() -> Iterator[Callable[[], bool]]:
    """``should_stop`` for the experiment: the first SIGINT sets it (and says so); a second one
    raises KeyboardInterrupt as usual. Outside the main thread there is no handler to install:
    Ctrl-C then interrupts as usual."""
    stop = [False]

    def handler(signum, frame) -> None:
        if stop[0]:
            raise KeyboardInterrupt
        stop[0] = True
        print("\nmitbadak: stopping: writing what is done so far (Ctrl-C again to abandon it)",
              file=sys.stderr, flush=True)  # fmt: skip

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: stop[0]
    finally:
        signal.signal(signal.SIGINT, previous)


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

        x, t, used = load_check_images(args.data_dir, args.data)
        inputs = {"x": x, "t": t}
        data_line = f"{used}: {len(x)} images read"
    elif experiment.needs_data:
        from mitbadak.training.experiments import load_experiment_data

        sets = load_experiment_data(args.data, args.data_dir)
        inputs = {k: sets[k] for k in ("x_train", "t_train", "x_test", "t_test", "used")}
        data_line = sets["used"]
    elif args.data is not None:
        raise CLIError(f"--data applies to the experiments on images; {args.name} uses none "
                       f"({experiment.data})")  # fmt: skip
    print(f"{args.name}: data: {data_line}")
    print(f"{args.name}: seed {args.seed}, {'the book' if args.full else 'quick'} size "
          "(Ctrl-C stops and writes what is done)")  # fmt: skip
    bar = _Bar()
    try:
        with _stop_on_ctrl_c() as should_stop:
            data = experiment.run(seed=args.seed, full=args.full, progress=bar,
                                  should_stop=should_stop, **inputs)  # fmt: skip
    finally:
        bar.close()
    partial = bool(data.get("partial"))
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
            "data": data_line, "partial": partial, "files": written}  # fmt: skip
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False))
    if partial:
        print(f"{args.name}: interrupted: wrote the part done so far ({', '.join(written)}, "
              f"meta.json; \"partial\": true) in {out}")  # fmt: skip
        return 130
    print(f"{args.name}: wrote {', '.join(written)}, meta.json in {out}")
    return 0
