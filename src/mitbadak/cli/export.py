"""``mitbadak export MODEL --onnx OUT.onnx --torch OUT.pt [--check]``: ONNX / PyTorch copies."""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace) -> int:
    from mitbadak.files import export
    from mitbadak.training.evaluation import load_any_model

    outputs = [p for p in (args.onnx, args.torch) if p is not None]
    if not outputs:
        raise CLIError("nothing to do: give --onnx OUT.onnx and/or --torch OUT.pt")
    if args.onnx is not None and args.torch is not None and args.onnx == args.torch:
        raise CLIError("--onnx and --torch name the same file")
    for path in outputs:
        if path.is_dir():
            raise CLIError(f"{path} is a directory; give the path of the file to write")
        if path.exists() and not args.force:
            raise CLIError(f"{path} already exists; pass --force to overwrite it")
    # Fail on a missing package before writing anything.
    if args.onnx is not None:
        export._require("onnx", export._EXTRA_HINT)
        if args.check:
            export._require("onnxruntime", export._EXTRA_HINT)
    if args.torch is not None:
        export._require("torch", export._TORCH_HINT)

    network, meta = load_any_model(args.model)
    sizes = "-".join(map(str, [network.input_size, *network.hidden_sizes, network.output_size]))
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
        sizes_list = [network.input_size, *network.hidden_sizes, network.output_size]
        print(
            f"wrote {args.torch}: state_dict of nn.Sequential {sizes} {network.activation}; "
            f"load with mitbadak.files.export.torch_module({sizes_list}, '{network.activation}')"
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

        module = export.torch_module(
            [network.input_size, *network.hidden_sizes, network.output_size], network.activation
        )
        module.load_state_dict(torch.load(args.torch, weights_only=True))
        with torch.no_grad():
            probs = torch.softmax(module.eval()(torch.from_numpy(x)), dim=1).numpy()
        print(
            f"check PyTorch vs mitbadak on {dataset} test: {export.compare(network, probs, x, t)}"
        )
