"""`mitbadak train`: mini-batch training from the command line."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli._args import (
    add_device_argument,
    hidden_sizes,
    nonnegative_float,
    positive_float,
    positive_int,
    resolve_device_argument,
    seed_int,
)
from mitbadak.cli._progress import TrainingReporter
from mitbadak.cli.plot import add_lang_argument, resolve_lang
from mitbadak.files.datasets.toy import TRAIN_DATASETS, check_train_dataset
from mitbadak.nn.optimizers import REGISTRY as OPTIMIZER_REGISTRY
from mitbadak.training.loop import TrainingDiverged
from mitbadak.training.recipes import (
    ACTIVATIONS,
    DEFAULT_RECIPE,
    DTYPES,
    GRADIENTS,
    MODEL_RECIPES,
    MODELS,
    OPTION_FIELDS,
    RECIPES,
    RecipeError,
    TrainConfig,
    config_from_options,
)
from mitbadak.training.run_folder import holds_files, is_finished, read_run_config
from mitbadak.training.runs import run_training

D = DEFAULT_RECIPE


def _dataset(text: str) -> str:
    try:
        return check_train_dataset(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    recipes = "\n".join(
        textwrap.fill(r.summary, 88, initial_indent=f"  {r.name:<8} ", subsequent_indent=" " * 11)
        for r in RECIPES.values()
    )
    p = sub.add_parser(
        "train",
        help="train a network on MNIST-style data",
        description="Mini-batch training with per-epoch evaluation. A run starts from a recipe "
        "(--recipe, default 'default') and the options given override its settings. With no "
        "options it runs the default recipe on MNIST (or the built-in sample when MNIST is "
        "unavailable).\n\nrecipes:\n" + recipes + "\n\nPer-epoch lines and the summary go to "
        "stdout; progress bars and notes to stderr.",
    )
    p.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default="default",
        help="starting settings (listed above); the options below override them",
    )
    p.add_argument(
        "--dataset",
        type=_dataset,
        default=None,
        help=f"dataset: {', '.join(TRAIN_DATASETS)} (toy options e.g. spiral:classes=5,noise=0.1), "
        "or a point file x,y,label .csv (default: mnist if available, else mnist-sample)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="also search DIR for the dataset's .gz files (default: the standard places)",
    )
    p.add_argument(
        "--model",
        choices=list(MODELS),
        default=None,
        help=f"network (default: the recipe's; {D.model} in 'default', two-layer in ch4/ch5); "
        "convnet is the book's SimpleConvNet and deepconvnet its DeepConvNet (chapters 7-8: "
        "image datasets; alone they start from --recipe ch7 / ch8)",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=None,
        help="hidden size(s), e.g. 50 or 256,128 (default: 50 for two-layer, "
        f"{','.join(map(str, D.hidden))} for mlp; convnets take one size, the last Affine's "
        "units: 100 for convnet, 50 for deepconvnet)",
    )
    p.add_argument(
        "--activation",
        choices=list(ACTIVATIONS),
        default=None,
        help=f"hidden activation (default: the recipe's; {D.activation} in 'default', "
        "sigmoid in ch4, relu in ch5)",
    )
    p.add_argument(
        "--optimizer",
        choices=list(OPTIMIZER_REGISTRY),
        default=None,
        help=f"update rule (default: the recipe's; {D.optimizer} in 'default', sgd in ch4/ch5)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help=f"learning rate (default: the recipe's, {D.lr} in 'default' and 0.1 in ch4/ch5; "
        "with another --optimizer: "
        + ", ".join(f"{e.run_lr:g} {name}" for name, e in OPTIMIZER_REGISTRY.items())
        + ")",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help=f"images per step (default: the recipe's, {D.batch_size} in all)",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"number of epochs (default: {D.epochs} in 'default'; ch4/ch5 count iterations)",
    )
    length.add_argument(
        "--iters",
        type=positive_int,
        default=None,
        help="number of iterations (default: 10000 in ch4/ch5; 'default' counts epochs)",
    )
    p.add_argument(
        "--gradient",
        choices=list(GRADIENTS),
        default=None,
        help="backprop (chapter 5) or numerical central differences (chapter 4; slow, prints "
        "a time estimate first) (default: the recipe's; numerical only in ch4)",
    )
    p.add_argument(
        "--weight-decay",
        type=nonnegative_float,
        default=0.0,
        metavar="LAMBDA",
        help="L2 penalty 0.5*LAMBDA*||W||^2 added to the loss",
    )
    p.add_argument(
        "--early-stopping",
        type=positive_int,
        default=None,
        metavar="PATIENCE",
        help="stop when the validation loss (a split of the training set) has not "
        "improved for PATIENCE epochs (default: off)",
    )
    p.add_argument(
        "--val-fraction",
        metavar="F",
        help=f"share of the training set held out for --early-stopping (default: {D.val_fraction})",
    )
    p.add_argument(
        "--weight-init",
        metavar="INIT",
        help="initial weights: he, xavier or a standard deviation such as 0.01 (default: the "
        "recipe's; he for relu, xavier for sigmoid and tanh, 0.01 for the book's two-layer net)",
    )
    p.add_argument(
        "--batchnorm",
        action="store_true",
        help="batch normalization after each hidden layer's Affine (chapter 6.3; builds the "
        "book's MultiLayerNetExtend, --model mlp)",
    )
    p.add_argument(
        "--dropout",
        metavar="R",
        help="dropout after each hidden activation, dropping a ratio R in [0, 1) of the units "
        "while training; the book's: test-time outputs scaled by 1 - R (chapter 6.4.3)",
    )
    p.add_argument(
        "--inverted-dropout",
        action="store_true",
        help="with --dropout: inverted dropout (kept units scaled by 1/(1 - R) while training, "
        "nothing at test time) instead of the book's",
    )
    p.add_argument(
        "--seed", type=seed_int, default=0, help="random seed of weights and batches (>= 0)"
    )
    p.add_argument(
        "--dtype",
        choices=list(DTYPES),
        default="float32",
        help="floating type of the parameters",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="run folder to write (default: runs/train-YYYYmmdd-HHMMSS)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="let --out replace an earlier run's files in DIR (other files are left alone)",
    )
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    add_device_argument(p)  # not a run option: a run resumes on any device
    p.add_argument(
        "--quiet", action="store_true", help="print only the final summary (no progress)"
    )
    add_lang_argument(p)
    p.set_defaults(func=run)


def _config_from_args(args) -> TrainConfig:
    """The recipe's TrainConfig with the options given applied (:func:`config_from_options`;
    options left at None keep the recipe's values)."""
    options = {name: getattr(args, name, None) for name in OPTION_FIELDS}
    if args.hidden is not None:  # errors show the sizes as typed: --hidden 5,5
        options["hidden"] = ",".join(map(str, args.hidden))
    try:
        return config_from_options(options)
    except RecipeError as exc:
        raise CLIError(str(exc)) from None


#: Options that define a run; --resume continues the recorded run, so it takes none of them.
RUN_OPTIONS = {
    "recipe": "default",
    "dataset": None,
    "model": None,
    "hidden": None,
    "activation": None,
    "optimizer": None,
    "lr": None,
    "batch_size": None,
    "epochs": None,
    "iters": None,
    "gradient": None,
    "weight_decay": 0.0,
    "early_stopping": None,
    "val_fraction": None,
    "weight_init": None,
    "seed": 0,
    "dtype": "float32",
    "batchnorm": False,
    "dropout": None,
    "inverted_dropout": False,
    "out": None,
    "overwrite": False,
}


def run(args) -> int:
    out_stream = sys.stdout
    say = _announce(args.quiet, out_stream)
    device = resolve_device_argument(args)
    if args.resume:
        given = [k for k, default in RUN_OPTIONS.items() if getattr(args, k) != default]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise CLIError(
                f"--resume continues the run recorded in {args.resume}/config.json; "
                f"it takes no {flags}"
            )
        out = Path(args.resume)
        if not out.is_dir():
            raise CLIError(f"--resume {out}: no such run folder")
        config = read_run_config(out)
        if args.data_dir is not None:
            config.data_dir = args.data_dir
        if is_finished(out):
            print(
                f"{out} is a finished run (its model.npz is written); nothing to resume. "
                "To train longer, start a new run with --out.",
                file=out_stream,
            )
            return 0
    else:
        config = _config_from_args(args)
        if args.recipe != "default":
            say(f"recipe {args.recipe}: {RECIPES[args.recipe].summary} (options given override it)")
        elif args.model in MODEL_RECIPES:
            name = MODEL_RECIPES[args.model]
            say(f"recipe {name}: {RECIPES[name].summary} (options given override it)")
        elif config.gradient == "numerical" and args.model is None:
            say(
                "note: numerical gradients of the default MLP are very slow; --recipe ch4 is the "
                "book's chapter-4 network (two-layer, 50 hidden units, sigmoid)"
            )
        out = Path(args.out or time.strftime("runs/train-%Y%m%d-%H%M%S"))
        if out.exists() and not out.is_dir():
            raise CLIError(f"--out {out} exists and is not a folder")
        if holds_files(out) and not args.overwrite:
            raise CLIError(
                f"--out {out} already holds files; choose another --out, add --overwrite, "
                f"or continue it with --resume {out}"
            )
    if device != "cpu" and config.gradient == "numerical":
        raise CLIError(
            "numerical gradients (chapter 4) are computed on the CPU; use --device cpu "
            "or --gradient backprop"
        )
    reporter = TrainingReporter(quiet=args.quiet, lines=out_stream)
    download = not os.environ.get("MITBADAK_OFFLINE")

    # Say where it computes when that is not simply the CPU asked for (auto decides per machine).
    where = "" if args.device == "cpu" else f"; on the {device.upper()}"
    if args.device == "auto" and device == "cpu":
        from mitbadak.core.backend import gpu_status

        where = f"; auto -> CPU: {gpu_status()[1]}"

    extend = ", batchnorm" if config.batchnorm else ""
    if config.dropout is not None:
        extend += f", {'inverted ' if config.inverted_dropout else ''}dropout {config.dropout:g}"

    def callback(event):
        if event["event"] == "start" and not args.quiet:
            print(
                f"training {config.model} {config.hidden} ({config.activation}{extend}, "
                f"{config.optimizer} lr={config.lr:g}, batch {config.batch_size}, "
                f"{config.gradient}{where}) -> {out}",
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
            announce=say,
            lang=resolve_lang(args.lang),
            device=device,
        )
    except TrainingDiverged as exc:
        reporter.close()
        print(f"mitbadak: error: {exc}", file=sys.stderr)
        print(
            f"mitbadak: the metrics and losses up to the blow-up are in {out}/ "
            f"(see them with: mitbadak plot curves {out}); the last good epoch's checkpoint "
            f"is {out / 'checkpoint.npz'}",
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
    finally:
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
        f"training time {result.seconds:.1f} s  wall time {wall:.1f} s  "
        f"dataset {info['dataset']}  output {out}/",
        file=out_stream,
    )
    return 0


def _announce(quiet: bool, stream):
    def say(message: str) -> None:
        if not quiet:
            print(message, file=stream, flush=True)

    return say
