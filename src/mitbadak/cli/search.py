"""``mitbadak search``: the book's random hyper-parameter search (section 6.5), or Optuna's TPE
with pruning and shared storages (``--engine optuna``, extra ``[tune]``), into a folder:
``trials.jsonl`` (one line per finished trial; a search run again over the folder resumes),
``results.csv`` (ranked by validation accuracy) and ``best.png`` (the best 20, as the book)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from mitbadak.cli import CLIError
from mitbadak.cli._args import positive_int
from mitbadak.core.atomic import atomic_write_text
from mitbadak.training.search import BOOK_SPACE, SEARCH_FIELDS, SearchError

os.environ.setdefault("MPLBACKEND", "Agg")

ENGINES = ("random", "optuna")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "search",
        help="hyper-parameter search (the book's random search, or Optuna): ranked results "
        "and the best-20 figure in a folder",
        description="Search hyper-parameters as the book's section 6.5: each trial trains the "
        "recipe with values drawn from the space and is ranked by its validation accuracy. "
        "The default is the book's search: 100 trials, lr 10^U(-6,-2), weight decay "
        "10^U(-8,-4), 500 training images with 20%% held out for validation, 6 hidden layers "
        "of 100, SGD, 50 epochs.\n\n"
        "Run it again with the same settings over the same --out to resume a stopped search. "
        "--storage URL --study NAME (Optuna) on several machines joins one study; see "
        "docs/search.md.",
    )
    parser.add_argument(
        "--param", action="append", metavar="FIELD=SCALE:...",
        help="a searched field (repeat for several): FIELD=log:LOW:HIGH, FIELD=uniform:LOW:HIGH "
        "or FIELD=choice:A,B,... (lists as [100,100]); fields: " + ", ".join(SEARCH_FIELDS)
        + "; default: " + " ".join(p.text() for p in BOOK_SPACE),
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", dest="settings",
        help="change the recipe every trial starts from (repeat for several), e.g. epochs=20, "
        "hidden=[50,50], optimizer=adam",
    )  # fmt: skip
    parser.add_argument("--trials", type=positive_int, default=100, help="number of trials")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes on this machine")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed of the search")
    parser.add_argument("--out", type=Path, default=Path("search"),
                        help="folder for the results (a search there is resumed)")  # fmt: skip
    parser.add_argument("--train-size", type=positive_int, default=500,
                        help="training images used (the first N)")  # fmt: skip
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of them held out for validation")  # fmt: skip
    parser.add_argument("--dataset", help="dataset (default: MNIST, else the built-in sample)")
    parser.add_argument("--data-dir", help="also search this folder for the dataset's files")
    parser.add_argument("--top", type=positive_int, default=20,
                        help="trials drawn in best.png and listed at the end")  # fmt: skip
    parser.add_argument("--lang", choices=["en", "ko"], default="en",
                        help="language of the figure")  # fmt: skip
    optuna = parser.add_argument_group("Optuna (extra [tune]; --storage or --study selects it)")
    optuna.add_argument("--engine", choices=ENGINES,
                        help="random: the built-in random search; optuna: TPE with pruning "
                        "(default: optuna when --storage or --study is given, else random)")
    optuna.add_argument("--storage", metavar="URL|FILE",
                        help="a journal file (default: OUT/journal.log; several workers on one "
                        "machine), postgresql://user:password@host:port/db (many machines) or "
                        "sqlite:///FILE (one worker)")  # fmt: skip
    optuna.add_argument("--study", default=None, help="study name (default: mitbadak-search)")
    optuna.add_argument("--sampler", choices=["tpe", "random"], default="tpe",
                        help="Optuna's sampler")  # fmt: skip
    optuna.add_argument("--pruner", choices=["median", "none"], default="median",
                        help="stop poor trials early from their per-epoch validation accuracy")
    parser.set_defaults(func=run)


def _settings(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        key = name.strip().replace("-", "_")
        if not sep or not key:
            raise CLIError(f"--set {item}: expected FIELD=VALUE, e.g. epochs=20")
        if key not in SEARCH_FIELDS and key not in ("dataset", "data_dir"):
            raise CLIError(f"--set {name}: unknown field; expected one of "
                           f"{', '.join(SEARCH_FIELDS)}")  # fmt: skip
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
        if key == "epochs":
            out["iters"] = None
    return out


def _line(record: dict[str, Any], done: int, total: int) -> str:
    values = ", ".join(f"{k} {_short(v)}" for k, v in record["params"].items())
    state = "" if record["state"] == "complete" else f" [{record['state']}]"
    return (f"trial {record['number']} ({done}/{total}): val acc {record['val_acc']:.4f}"
            f"{state} | {values} ({record['seconds']:.1f} s)")  # fmt: skip


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)


def run(args) -> int:
    engine = args.engine or ("optuna" if args.storage or args.study else "random")
    if engine == "random" and (args.storage or args.study):
        raise CLIError("--storage and --study belong to --engine optuna")
    recipe = _settings(args.settings)
    if args.dataset is not None:
        recipe["dataset"] = args.dataset
    if args.data_dir is not None:
        recipe["data_dir"] = args.data_dir
    from mitbadak.core.errors import MitbadakError
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.search import BOOK_RECIPE

    try:
        base = TrainConfig.from_dict({**BOOK_RECIPE.to_dict(), **recipe})
    except MitbadakError as exc:  # TrainConfig's own words, as a --set error
        raise SearchError(f"--set: {exc}") from None
    common = dict(recipe=base, trials=args.trials, workers=args.workers, seed=args.seed,
                  out=args.out, train_size=args.train_size, val_fraction=args.val_fraction,
                  download=not os.environ.get("MITBADAK_OFFLINE"),
                  progress=lambda r, d, t: print(_line(r, d, t), flush=True))  # fmt: skip
    if engine == "random":
        from mitbadak.training.search import search

        print(f"search: {args.trials} trials, {args.workers} worker(s), seed {args.seed}, "
              f"into {args.out}", flush=True)  # fmt: skip
        result = search(args.param, **common)
    else:
        from mitbadak.training.tune import tune

        print(f"search (Optuna {args.sampler}, pruner {args.pruner}): study "
              f"{args.study or 'mitbadak-search'}, {args.trials} trials, {args.workers} "
              f"worker(s) here", flush=True)  # fmt: skip
        result = tune(args.param, storage=args.storage, study=args.study or "mitbadak-search",
                      sampler=args.sampler, pruner=args.pruner, **common)  # fmt: skip
    if result.fallback:
        print(f"search: data: {result.dataset} ({result.fallback})", file=sys.stderr)
    return _write(result, args)


def _write(result, args) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    head, rows = result.table()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(head)
    writer.writerows(rows)
    atomic_write_text(out / "results.csv", buffer.getvalue())
    written = ["results.csv"]
    ranked = result.ranked()
    print("=========== Hyper-Parameter Optimization Result ===========")
    for i, record in enumerate(ranked[: args.top]):
        values = ", ".join(f"{k}:{_short(v)}" for k, v in record["params"].items())
        print(f"Best-{i + 1}(val acc:{record['val_acc']}) | {values}")
    try:
        from mitbadak.views import plots
    except ImportError as exc:
        print(f"search: no figure: {exc}", file=sys.stderr)
    else:
        png = "best.png" if args.lang == "en" else f"best.{args.lang}.png"
        plots.save_figure(plots.search_best(ranked, n=args.top, lang=args.lang), out / png)
        written.append(png)
    print(f"search: {len(result.trials)} trials ({result.resumed} found already done); wrote "
          f"{', '.join(written)} in {out}")  # fmt: skip
    return 0

