"""``mitbadak import-weights PKL OUT``: one of the book's weight pickles as a safe model file
(chapter 3's sample_weight.pkl, chapter 7's params.pkl, chapter 8's deep_convnet_params.pkl)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.files.convnet_params import BookWeightsVersionWarning, import_weights
from mitbadak.files.modelfile import save_model


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-weights",
        help="convert one of the book's weight pickles into a mitbadak model file",
        description="Read the book's sample_weight.pkl (chapter 3), params.pkl (chapter 7, "
        "SimpleConvNet) or deep_convnet_params.pkl (chapter 8, DeepConvNet) without executing "
        "pickle code (only NumPy arrays in a dict are accepted), say which network and which "
        "version of the file it is, and save it as a mitbadak .npz model file. A bare file name "
        "is also looked for where `mitbadak data download` puts the book's files.",
    )
    parser.add_argument("pkl", metavar="PKL", type=Path, help="one of the book's weight pickles")
    parser.add_argument("out", metavar="OUT", type=Path, help="model file to write (e.g. book.npz)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise CLIError(f"{args.out} already exists; pass --force to overwrite it")
    if args.out.is_dir():
        raise CLIError(f"{args.out} is a directory; give the path of the model file to write")
    with warnings.catch_warnings():  # said below, in the CLI's words
        warnings.simplefilter("ignore", BookWeightsVersionWarning)
        network = import_weights(args.pkl)
    save_model(args.out, network)
    source = network.metadata["source"]
    if "sha256_matches" in source:  # sample_weight.pkl
        check = (
            "SHA-256 matches the book's file"
            if source["sha256_matches"]
            else f"SHA-256 {source['sha256']} differs from the book's file"
        )
        print(f"wrote {args.out}: {network!r} from {args.pkl} ({check})")
        return 0
    name = type(network).__name__
    version = source.get("version")
    print(f"wrote {args.out}: {name} from {args.pkl}"
          + (f" ({version})" if version else ""))  # fmt: skip
    print(f"{name}: {source['note']}")
    return 0
