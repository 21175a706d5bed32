"""``mitbadak import-weights PKL OUT``: the book's sample_weight.pkl as a safe model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.files.modelfile import import_book_weights, save_model


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-weights",
        help="convert the book's sample_weight.pkl into a mitbadak model file",
        description="Read the book's sample_weight.pkl without executing pickle code (only NumPy "
        "arrays in a dict are accepted) and save it as a mitbadak .npz model file.",
    )
    parser.add_argument("pkl", metavar="PKL", type=Path, help="the book's sample_weight.pkl")
    parser.add_argument("out", metavar="OUT", type=Path, help="model file to write (e.g. book.npz)")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        raise CLIError(f"{args.out} already exists; pass --force to overwrite it")
    if args.out.is_dir():
        raise CLIError(f"{args.out} is a directory; give the path of the model file to write")
    network = import_book_weights(args.pkl)
    save_model(args.out, network)
    source = network.metadata["source"]
    check = (
        "SHA-256 matches the book's file"
        if source["sha256_matches"]
        else f"SHA-256 {source['sha256']} differs from the book's file"
    )
    print(f"wrote {args.out}: {network!r} from {args.pkl} ({check})")
    return 0
