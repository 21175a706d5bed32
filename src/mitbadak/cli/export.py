"""``mitbadak export MODEL --onnx OUT.onnx --torch OUT.pt [--check]``: ONNX / PyTorch copies."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import numpy as np

from mitbadak.cli import CLIError
from mitbadak.cli.evaluate import test_set
from mitbadak.files.datasets import DATASETS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX and/or a PyTorch state_dict",
        description="Write MODEL (a .npz model file, a run folder, or the book's "
        "sample_weight.pkl, ch07 params.pkl or ch08 deep_convnet_params.pkl) as an ONNX file "
        "(input 'input' float32: (N, 784), or (N, 1, 28, 28) images for a convnet; outputs "
        "'scores' and 'probabilities') and/or a PyTorch state_dict for an nn.Sequential of the "
        "same layers (nn.Linear; nn.Conv2d, nn.MaxPool2d for a convnet). Needs pip install "
        "'mitbadak[export]' (and torch for --torch).",
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
        x = x.reshape(len(x), *network.input_shape)  # a convnet reads images (N, 1, 28, 28)
        reference = _probabilities(network, x)
        labels = np.argmax(t, axis=1) if np.ndim(t) == 2 else np.asarray(t)
        accuracy = float(np.mean(np.argmax(reference, axis=1) == labels))
        extra_meta = {"accuracy": f"{accuracy:.4f}", "accuracy_on": f"{dataset} test ({len(x)})"}
    if args.onnx is not None:
        export.to_onnx(network, args.onnx, metadata=extra_meta)
        shape = ", ".join(map(str, network.input_shape))
        print(
            f"wrote {args.onnx}: ONNX opset {export.ONNX_OPSET}, IR {export.ONNX_IR_VERSION}, "
            f"input '{export.INPUT_NAME}' (N, {shape}) float32, "
            f"outputs {', '.join(export.OUTPUT_NAMES)}"
        )
    if args.torch is not None:
        export.save_torch_state_dict(network, args.torch)
        print(f"wrote {args.torch}: {_torch_loader(network)}")
    if args.check:
        print(f"mitbadak on {dataset} test: accuracy {accuracy:.4f} ({len(x)} images)")
        _check(args, network, dataset, x, t, reference)
    return 0


def _probabilities(network, x):
    """mitbadak's probabilities on ``x`` by its inference engine (the fast path where one
    covers the network: the same numbers as the layers, which take ~1 min for DeepConvNet)."""
    from mitbadak.core.functions import softmax
    from mitbadak.training.steps import choose_scores

    return softmax(choose_scores(network)(network.prepare_x(x)))


def _convnet_arguments(network) -> tuple[str, dict] | None:
    """(class name, the constructor arguments that differ from the default net's) for a
    convnet: what ``torch_convnet`` needs to rebuild its shape; None for another network."""
    from mitbadak.nn.convnets import ConvNet

    if not isinstance(network, ConvNet):
        return None
    default = type(network)(seed=0)._arguments  # noqa: SLF001 - the constructor's arguments
    given = {k: v for k, v in network._arguments.items() if default.get(k) != v}  # noqa: SLF001
    return type(network).__name__, given


def _torch_loader(network) -> str:
    """What was written and the line of Python that loads it."""
    load = ".load_state_dict(torch.load(PATH, weights_only=True))"
    convnet = _convnet_arguments(network)
    if convnet is not None:
        kind, given = convnet
        call = ", ".join([repr(kind), *(f"{k}={v!r}" for k, v in given.items())])
        return (f"state_dict of nn.Sequential of {type(network).__name__}'s layers; "
                f"load with mitbadak.files.export.torch_convnet({call}){load}")  # fmt: skip
    from mitbadak.files import export

    sizes_list, activation, keywords = export.torch_module_args(network)
    sizes = "-".join(map(str, sizes_list))
    call = ", ".join([repr(sizes_list), repr(activation),
                      *(f"{k}={v!r}" for k, v in keywords.items())])  # fmt: skip
    return (f"state_dict of nn.Sequential {sizes} {activation}; "
            f"load with mitbadak.files.export.torch_module({call}){load}")  # fmt: skip


def _torch_module(network):
    """An empty module of ``network``'s shape, as the printed loader line builds it."""
    from mitbadak.files import export

    convnet = _convnet_arguments(network)
    if convnet is not None:
        return export.torch_convnet(convnet[0], **convnet[1])
    sizes_list, activation, keywords = export.torch_module_args(network)
    return export.torch_module(sizes_list, activation, **keywords)


def _check(args: argparse.Namespace, network, dataset: str, x, t, reference) -> None:
    from mitbadak.files import export

    if args.onnx is not None:
        _, probs = export.run_onnx(args.onnx, x)
        report = export.compare(network, probs, x, t, reference=reference)
        print(f"check onnxruntime vs mitbadak on {dataset} test: {report}")
    if args.torch is not None:
        import torch

        module = _torch_module(network)
        module.load_state_dict(torch.load(args.torch, weights_only=True))
        x32 = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        with torch.no_grad():
            probs = np.concatenate([torch.softmax(module.eval()(x32[i : i + 1000]), dim=1).numpy()
                                    for i in range(0, len(x32), 1000)])  # fmt: skip
        report = export.compare(network, probs, x, t, reference=reference)
        print(f"check PyTorch vs mitbadak on {dataset} test: {report}")
