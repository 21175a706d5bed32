"""`mitbadak train`: mini-batch training from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli._progress import TrainingReporter
from mitbadak.cli.plot import add_lang_argument, resolve_lang
from mitbadak.datasets import DATASETS
from mitbadak.errors import MitbadakError
from mitbadak.runs import DEFAULT_RECIPE, TrainConfig, run_training
from mitbadak.training import TrainingDiverged

D = DEFAULT_RECIPE


def _hidden_list(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes like 50 or 256,128, got {text!r}"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on MNIST-style data",
        description="Mini-batch training with per-epoch evaluation. With no options it runs the "
        "default recipe on MNIST (or the built-in sample when MNIST is unavailable).",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="dataset (default: mnist if available, else mnist-sample)",
    )
    p.add_argument("--data-dir", help="folder holding the dataset's four .gz files")
    p.add_argument(
        "--model",
        choices=["two-layer", "mlp"],
        default=None,
        help=f"network (default {D.model})",
    )
    p.add_argument(
        "--hidden",
        type=_hidden_list,
        default=None,
        help="hidden size(s), e.g. 50 or 256,128 (default: 50 for two-layer, "
        f"{','.join(map(str, D.hidden))} for mlp)",
    )
    p.add_argument(
        "--activation",
        choices=["sigmoid", "relu"],
        default=None,
        help=f"hidden activation (default {D.activation})",
    )
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad", "adam"], default=None)
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help=f"learning rate (default {D.lr} for sgd/momentum, 0.01 adagrad, 0.001 adam)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=D.batch_size)
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=_positive_int, default=None, help=f"number of epochs (default {D.epochs})"
    )
    length.add_argument("--iters", type=_positive_int, default=None, help="number of iterations")
    p.add_argument(
        "--gradient",
        choices=["backprop", "numerical"],
        default="backprop",
        help="backprop (chapter 5) or numerical central differences (chapter 4)",
    )
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="LAMBDA")
    p.add_argument(
        "--early-stopping",
        type=_positive_int,
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss (a split of the training set) has not "
        "improved for PATIENCE epochs",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--out", help="run folder to write (default runs/train-YYYYmmdd-HHMMSS)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to replace an existing run folder's files",
    )
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    add_lang_argument(p)
    p.set_defaults(func=run)


RECIPE_FLAGS = ("dataset", "data_dir", "hidden", "lr", "epochs", "iters", "early_stopping")


#: ``--gradient numerical`` without a model starts from the book's chapter-4 recipe instead:
#: TwoLayerNet(784, 50, 10), sigmoid, weights 0.01 * N(0, 1), SGD lr 0.1, batch 100, 10,000 iters.
CHAPTER4 = {
    "model": "two-layer",
    "activation": "sigmoid",
    "optimizer": "sgd",
    "lr": 0.1,
    "iters": 10_000,
}


def _config_from_args(args) -> TrainConfig:
    base = dict(model=D.model, activation=D.activation, optimizer=D.optimizer)
    chapter4 = args.gradient == "numerical" and args.model is None
    if chapter4:
        base.update(CHAPTER4)
    model = args.model or base["model"]
    activation = args.activation or base["activation"]
    optimizer = args.optimizer or base["optimizer"]
    hidden = args.hidden or ([50] if model == "two-layer" else list(D.hidden))
    if model == "two-layer" and len(hidden) != 1:
        raise CLIError(f"--model two-layer takes one hidden size, got --hidden {args.hidden}")
    default_lr = base["lr"] if chapter4 else D.lr
    lr = (
        args.lr
        if args.lr is not None
        else {"adagrad": 0.01, "adam": 0.001}.get(optimizer, default_lr)
    )
    if args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    iters = args.iters
    if chapter4 and args.epochs is None and iters is None:
        iters = CHAPTER4["iters"]
    epochs = args.epochs if args.epochs is not None else (None if iters else D.epochs)
    return TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        model=model,
        hidden=hidden,
        activation=activation,
        optimizer=optimizer,
        lr=lr,
        batch_size=args.batch_size,
        epochs=epochs,
        iters=iters,
        gradient=args.gradient,
        weight_decay=args.weight_decay,
        early_stopping=args.early_stopping,
        seed=args.seed,
        dtype=args.dtype,
    )


def run(args) -> int:
    out_stream = sys.stdout
    if args.resume:
        out = Path(args.resume)
        cfg_path = out / "config.json"
        if not (out / "checkpoint.npz").is_file() or not cfg_path.is_file():
            raise CLIError(f"{out} has no checkpoint.npz and config.json to resume from")
        try:
            config = TrainConfig.from_dict(json.loads(cfg_path.read_text())["config"])
        except (ValueError, KeyError, TypeError) as exc:
            raise MitbadakError(f"{cfg_path}: unreadable run config ({exc})") from None
    else:
        config = _config_from_args(args)
        out = Path(args.out or time.strftime("runs/train-%Y%m%d-%H%M%S"))
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {out} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not args.overwrite:
            raise CLIError(
                f"{out} already holds files; choose another --out, add --overwrite, "
                f"or continue it with --resume {out}"
            )
    reporter = TrainingReporter(quiet=args.quiet)
    download = not os.environ.get("MITBADAK_OFFLINE")

    def callback(event):
        if event["event"] == "start" and not args.quiet:
            print(
                f"training {config.model} {config.hidden} ({config.activation}, "
                f"{config.optimizer} lr={config.lr:g}, batch {config.batch_size}) -> {out}",
                file=out_stream,
                flush=True,
            )
        reporter(event)

    started = time.perf_counter()
    try:
        result, info = run_training(
            config,
            out,
            callback=callback,
            resume=bool(args.resume),
            download=download,
            announce=_announce(args.quiet, out_stream),
            lang=resolve_lang(args.lang),
        )
    except TrainingDiverged as exc:
        reporter.close()
        print(f"mitbadak: training stopped: {exc}", file=sys.stderr)
        print(
            f"mitbadak: the last good checkpoint is kept in {out / 'checkpoint.npz'}",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt:
        reporter.close()
        print(
            f"mitbadak: interrupted; checkpoint saved; continue with mitbadak train --resume {out}",
            file=sys.stderr,
        )
        return 130
    reporter.close()
    if not info["plots"] and not args.quiet:
        print(
            "note: matplotlib is not installed, so loss.png and accuracy.png were not written "
            "(pip install 'mitbadak[plots]')",
            file=sys.stderr,
        )
    final = info["final"]
    wall = time.perf_counter() - started
    print(
        f"test accuracy {final.get('test_acc', float('nan')):.4f}  "
        f"test loss {final.get('test_loss', float('nan')):.4f}  "
        f"wall time {wall:.1f} s  dataset {info['dataset']}  output {out}/",
        file=out_stream,
    )
    return 0


def _announce(quiet: bool, stream):
    def say(message: str) -> None:
        if not quiet:
            print(message, file=stream, flush=True)

    return say
