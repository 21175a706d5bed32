"""``mitbadak export MODEL --onnx OUT.onnx --torch OUT.pt [--check]``: ONNX / PyTorch copies."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli.evaluate import test_set
from mitbadak.files.datasets import DATASETS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX and/or a PyTorch state_dict",
        description="Write MODEL (a .npz model file, a run folder, or the book's "
        "sample_weight.pkl) as an ONNX file (input 'input' (N, 784) float32; outputs 'scores' "
        "and 'probabilities') and/or a PyTorch state_dict for an nn.Sequential of nn.Linear "
        "layers. Needs pip install 'mitbadak[export]' (and torch for --torch).",
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--onnx", type=Path, metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--torch", type=Path, metavar="OUT.pt", help="PyTorch state_dict to write")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument(
        "--check",
        action="store_true",
        help="run the exported copies on a test set and report how closely they agree",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="test set for --check (default: the model's own; mnist for the book's weights)",
    )
    p.add_argument("--data-dir", help="folder holding the dataset's test .gz files")
    p.set_defaults(func=run)


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file: the same inode (a hard link, a symlink, another
    spelling of the path) when both exist, else the same absolute path with symlinks resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _check_outputs(args: argparse.Namespace, outputs: list[tuple[str, Path]], model: Path) -> None:
    """Refuse, before anything is read or written, an output that is the model itself, names the
    same file as the other output, is a folder or a special file, or exists without --force."""
    for flag, path in outputs:
        if _same_file(path, model):
            raise CLIError(
                f"{flag} {path} is the model being exported ({model}); writing there would "
                "destroy it. Give another output file"
            )
    if len(outputs) == 2 and _same_file(outputs[0][1], outputs[1][1]):
        raise CLIError("--onnx and --torch name the same file")
    for flag, path in outputs:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CLIError(f"{flag} {path}: cannot use it ({exc.strerror})") from None
        if stat.S_ISDIR(mode):
            raise CLIError(f"{path} is a directory; give the path of the file to write")
        if not stat.S_ISREG(mode):
            raise CLIError(f"{flag} {path} exists and is not a regular file; give another path")
        if not args.force:
            raise CLIError(f"{path} already exists; pass --force to overwrite it")


def run(args: argparse.Namespace) -> int:
    from mitbadak.files import export
    from mitbadak.training.evaluation import check_not_training, load_any_model, model_file_of

    outputs = [(flag, p) for flag, p in (("--onnx", args.onnx), ("--torch", args.torch)) if p]
    if not outputs:
        raise CLIError("nothing to do: give --onnx OUT.onnx and/or --torch OUT.pt")
    check_not_training(args.model)
    # The file that will be read: a regular file (a FIFO or a device is refused unopened).
    model = model_file_of(args.model)
    _check_outputs(args, outputs, model)
    # Fail on a missing package before writing anything.
    if args.onnx is not None:
        export._require("onnx", export._EXTRA_HINT)
        if args.check:
            export._require("onnxruntime", export._EXTRA_HINT)
    if args.torch is not None:
        export._require("torch", export._TORCH_HINT)

    # A file that is not a model is refused here, before any output is written.
    network, meta = load_any_model(model)
    extra_meta = None
    if args.check:
        # Load the test set first: a missing dataset fails before anything is written, and the
        # accuracy measured now goes into the ONNX metadata (the book's weights have none).
        dataset, x, t = test_set(args, network, meta)
        accuracy = network.accuracy(x, t)
        extra_meta = {"accuracy": f"{accuracy:.4f}", "accuracy_on": f"{dataset} test ({len(x)})"}
    if args.onnx is not None:
        export.to_onnx(network, args.onnx, metadata=extra_meta)
        print(
            f"wrote {args.onnx}: ONNX opset {export.ONNX_OPSET}, IR {export.ONNX_IR_VERSION}, "
            f"input '{export.INPUT_NAME}' (N, {network.input_size}) float32, "
            f"outputs {', '.join(export.OUTPUT_NAMES)}"
        )
    if args.torch is not None:
        export.save_torch_state_dict(network, args.torch)
        sizes_list, activation, keywords = export.torch_module_args(network)
        sizes = "-".join(map(str, sizes_list))
        call = ", ".join([repr(sizes_list), repr(activation),
                          *(f"{k}={v!r}" for k, v in keywords.items())])  # fmt: skip
        print(
            f"wrote {args.torch}: state_dict of nn.Sequential {sizes} {activation}; "
            f"load with mitbadak.files.export.torch_module({call})"
            f".load_state_dict(torch.load(PATH, weights_only=True))"
        )
    if args.check:
        print(f"mitbadak on {dataset} test: accuracy {accuracy:.4f} ({len(x)} images)")
        _check(args, network, dataset, x, t)
    return 0


def _check(args: argparse.Namespace, network, dataset: str, x, t) -> None:
    from mitbadak.files import export

    if args.onnx is not None:
        _, probs = export.run_onnx(args.onnx, x)
        print(
            f"check onnxruntime vs mitbadak on {dataset} test: "
            f"{export.compare(network, probs, x, t)}"
        )
    if args.torch is not None:
        import torch

        sizes_list, activation, keywords = export.torch_module_args(network)
        module = export.torch_module(sizes_list, activation, **keywords)
        module.load_state_dict(torch.load(args.torch, weights_only=True))
        with torch.no_grad():
            probs = torch.softmax(module.eval()(torch.from_numpy(x)), dim=1).numpy()
        print(
            f"check PyTorch vs mitbadak on {dataset} test: {export.compare(network, probs, x, t)}"
        )
