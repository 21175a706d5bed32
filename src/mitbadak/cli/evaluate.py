"""`mitbadak evaluate MODEL`: accuracy, loss, per-class accuracy and two PNGs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli._args import add_device_argument, resolve_device_argument
from mitbadak.cli.plot import add_lang_argument, resolve_lang
from mitbadak.core.atomic import atomic_write_text
from mitbadak.files.datasets import DATASETS


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on a test set",
        description="Accuracy, loss and per-class accuracy on a dataset's test split (only the "
        "two test files are needed); writes a confusion-matrix PNG, a grid of misclassified "
        "images and report.json. MODEL is a .npz model file, a run folder (its model.npz, or "
        "its last checkpoint, naming its epoch, when the run stopped before finishing; a run "
        "still training is refused), or one of the book's pickles (sample_weight.pkl, "
        "params.pkl, deep_convnet_params.pkl; their 2022 versions too).\n\n"
        "Output folder (unless --out): eval-NAME beside MODEL, named after the model file "
        "(runs/r/model.npz -> runs/r/eval-model/), or ./eval-NAME when that folder is not "
        "writable (e.g. ./eval-sample_weight/). A folder holding another model's report is "
        "never overwritten.",
    )
    p.add_argument(
        "model", metavar="MODEL", help="model file (.npz), run folder, or the book's .pkl"
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="test set (default: the one the model was trained on; mnist for the book's weights)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="also search DIR for the test set's .gz files (default: the standard places)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the PNGs and report.json (default: eval-NAME, see above)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_device_argument(p)
    add_lang_argument(p)
    p.set_defaults(func=run)


def _load(model: str):
    """(network, metadata, the file actually read) for a model file or a run folder.

    A run still training (its folder's lock held) is refused: it has no finished model yet. A run
    that stopped without finishing is evaluated from its last checkpoint, saying which epoch.
    """
    from mitbadak.cli._args import load_model_noting
    from mitbadak.training.evaluation import check_not_training, model_file_of

    path = Path(model)
    check_not_training(path)
    if path.is_dir() and not (path / "model.npz").exists():
        if (path / "checkpoint.npz").exists():
            from mitbadak.training.loop import load_checkpoint
            from mitbadak.training.run_folder import read_run_config

            checkpoint = model_file_of(path / "checkpoint.npz")  # a regular file, or refused
            network, _opt, state, _history = load_checkpoint(checkpoint)
            meta = {"dataset": read_run_config(path).dataset}
            print(
                f"note: {path} has no model.npz (the run did not finish); evaluating its last "
                f"checkpoint ({_checkpoint_position(state)})",
                file=sys.stderr,
            )
            return network, meta, checkpoint
        raise CLIError(
            f"{path} is a folder without model.npz or checkpoint.npz; expected a run "
            "folder written by 'mitbadak train'"
        )
    network, meta = load_model_noting(path)
    return network, meta, model_file_of(path)


def _checkpoint_position(state: dict) -> str:
    """'after epoch 2, iteration 240 of 600': where a checkpoint stands in its run."""
    epoch, iteration, total = state.get("epoch"), state.get("iteration"), state.get("total_iters")
    where = f"after epoch {epoch}" if epoch else "during epoch 1"
    return f"{where}, iteration {iteration} of {total}"


def default_out(model_file: Path) -> Path:
    """eval-STEM beside the model file, or in the current folder when that one is not writable."""
    name = f"eval-{model_file.stem}"
    if model_file.suffix == ".npz" and os.access(model_file.parent, os.W_OK):
        return model_file.parent / name
    return Path(name)


def test_set(args, network, meta: dict):
    """(dataset, x, t): the test split of ``--dataset`` (else the model's own dataset, else
    mnist), checked against the model's input size; shared by ``evaluate`` and ``export``."""
    from mitbadak.files.datasets import load_split

    dataset = args.dataset or meta.get("dataset") or "mnist"
    x, t = load_split(
        dataset, "test", data_dir=args.data_dir, download=not os.environ.get("MITBADAK_OFFLINE")
    )
    if x.shape[1] != network.input_size:
        raise CLIError(
            f"{dataset} images have {x.shape[1]} pixels, the model expects {network.input_size}"
        )
    return dataset, x, t


def run(args) -> int:
    from mitbadak.training.evaluation import evaluate_network

    device = resolve_device_argument(args)
    network, meta, model_file = _load(args.model)
    out = Path(args.out) if args.out else default_out(model_file)
    previous = out / "report.json"
    if previous.is_file():
        try:
            earlier = json.loads(previous.read_text(encoding="utf-8")).get("model_file")
        except (ValueError, UnicodeDecodeError, AttributeError):
            earlier = "an unreadable report"
        if earlier != str(model_file.resolve()):
            raise CLIError(
                f"{out} holds the report of another model ({earlier}); choose another --out"
            )
    dataset, x, t = test_set(args, network, meta)
    report = evaluate_network(network.to(device), x, t)
    out.mkdir(parents=True, exist_ok=True)
    written = _write_outputs(report, x, out, dataset, args.model, resolve_lang(args.lang))
    data = {
        "model": str(args.model),
        "model_file": str(model_file.resolve()),
        "dataset": dataset,
        **report.to_dict(),
        "files": written,
    }
    atomic_write_text(out / "report.json", json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{dataset} test set: {report.n} images")
    print(
        f"accuracy {report.accuracy:.4f} ({int(round(report.accuracy * report.n))}/{report.n})"
        f"  loss {report.loss:.4f}"
    )
    print(
        "per-class accuracy: "
        + "  ".join(f"{c}:{a:.3f}" for c, a in enumerate(report.per_class_accuracy))
    )
    for path in written + [str(out / "report.json")]:
        print(f"wrote {path}")
    return 0


def _write_outputs(report, x, out: Path, dataset: str, model="", lang="en") -> list[str]:
    try:
        from mitbadak.views import plots
    except ImportError:
        print(
            "note: matplotlib is not installed, so no PNGs were written "
            "(pip install 'mitbadak[plots]')",
            file=sys.stderr,
        )
        return []
    from mitbadak.files.datasets.registry import class_names

    names = class_names(dataset)
    written = []
    fig = plots.confusion_matrix(
        report.confusion, class_names=names, model=model or None, dataset=dataset, lang=lang
    )
    written.append(str(plots.save_figure(fig, out / "confusion_matrix.png")))
    fig = plots.misclassified(
        x, report.labels, report.predictions, report.probabilities, class_names=names, lang=lang
    )
    written.append(str(plots.save_figure(fig, out / "misclassified.png")))
    return written
