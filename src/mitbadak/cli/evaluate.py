"""`mitbadak evaluate MODEL`: accuracy, loss, per-class accuracy and two PNGs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from mitbadak._files import atomic_write_text
from mitbadak.cli import CLIError
from mitbadak.cli.plot import add_lang_argument, resolve_lang
from mitbadak.datasets import DATASETS


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on a test set",
        description="Accuracy, loss and per-class accuracy on a dataset's test split; writes a "
        "confusion-matrix PNG and a grid of misclassified images. MODEL is a .npz model file, "
        "a run folder, or the book's sample_weight.pkl.",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="test set (default: the one the model was trained on; mnist for the book's weights)",
    )
    p.add_argument("--data-dir", help="folder holding the dataset's test .gz files")
    p.add_argument(
        "--out", help="folder for the PNGs and report.json (default: MODEL's folder/eval)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_lang_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mitbadak.datasets import load_split
    from mitbadak.evaluation import evaluate_network, load_any_model

    network, meta = load_any_model(args.model)
    dataset = args.dataset or meta.get("dataset") or "mnist"
    x, t = load_split(
        dataset, "test", data_dir=args.data_dir, download=not os.environ.get("MITBADAK_OFFLINE")
    )
    if x.shape[1] != network.input_size:
        raise CLIError(
            f"{dataset} images have {x.shape[1]} pixels, the model expects {network.input_size}"
        )
    report = evaluate_network(network, x, t)
    model_path = Path(args.model)
    if args.out:
        out = Path(args.out)
    elif model_path.suffix == ".npz" and os.access(model_path.parent, os.W_OK):
        out = model_path.parent / "eval"
    elif model_path.is_dir():
        out = model_path / "eval"
    else:
        out = Path(f"eval-{model_path.stem}")
    out.mkdir(parents=True, exist_ok=True)
    written = _write_outputs(report, x, out, dataset, args.model, resolve_lang(args.lang))
    data = {"model": str(args.model), "dataset": dataset, **report.to_dict(), "files": written}
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
        from mitbadak import plots
    except ImportError:
        print(
            "note: matplotlib is not installed, so no PNGs were written "
            "(pip install 'mitbadak[plots]')",
            file=sys.stderr,
        )
        return []
    from mitbadak.evaluation import CLASS_NAMES

    names = CLASS_NAMES.get(dataset)
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
