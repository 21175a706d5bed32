"""``mitbadak data list | path | download NAME | verify NAME``: manage dataset files and the
book's pretrained weights (``book-weights``: chapter 3's sample_weight.pkl)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mitbadak.cli import CLIError
from mitbadak.cli._args import timeout_seconds
from mitbadak.cli._progress import DownloadReporter
from mitbadak.core.errors import DataError
from mitbadak.files import datasets
from mitbadak.files.datasets.registry import BOOK_WEIGHTS_DIR, book_group, get_spec
from mitbadak.files.datasets.sources import DEFAULT_GRACE, DEFAULT_MIN_RATE, DEFAULT_TIMEOUT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="list, locate, download and verify datasets",
        description="Datasets are searched in --data-dir, $MITBADAK_DATA, the user cache and "
        "system folders; downloads go to the user cache and are checked against SHA-256. "
        "book-weights is the book's chapter-3 sample_weight.pkl, from the book's repository "
        "at a pinned commit (book-convnets: its chapter 7-8 pickles), kept in the "
        f"{BOOK_WEIGHTS_DIR}/ folder of the cache.",
    )
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="the known datasets and where their files are")
    p.add_argument("--data-dir", type=Path, help="also search this folder")
    p.set_defaults(func=run_list)

    p = sub.add_parser("path", help="the user cache, or the folder holding NAME's files")
    p.add_argument("name", metavar="NAME", nargs="?", help=_names_help())
    p.add_argument("--data-dir", type=Path, help="also search this folder")
    p.set_defaults(func=run_path)

    p = sub.add_parser("download", help="download NAME's files (verified) into the cache")
    p.add_argument("name", metavar="NAME", help=_names_help())
    p.add_argument("--dest", type=Path, help="folder to download into (default: the user cache)")
    p.add_argument("--split", choices=["train", "test"], help="only this split's two files")
    p.add_argument("--timeout", type=timeout_seconds, default=DEFAULT_TIMEOUT,
                   help="seconds without data before trying the next mirror (default: "
                   f"%(default)s); a mirror averaging under {DEFAULT_MIN_RATE / 1000:g} kB/s "
                   f"after the first {DEFAULT_GRACE:g} s is also left for the next")
    p.set_defaults(func=run_download)

    p = sub.add_parser("verify", help="check NAME's files against their SHA-256 checksums")
    p.add_argument("name", metavar="NAME", help=_names_help())
    p.add_argument("--data-dir", type=Path, help="also search this folder")
    p.set_defaults(func=run_verify)


def _names_help() -> str:
    return "one of " + ", ".join((*datasets.DATASETS, *datasets.BOOK_GROUPS))


def _title(name: str) -> str:
    if name in datasets.BOOK_GROUPS:
        files = book_group(name)
        return "the book's pretrained weights: " + ", ".join(f.filename for f in files)
    return get_spec(name).title


def run_list(args: argparse.Namespace) -> int:
    print(f"user cache: {datasets.cache_dir()}")
    for name in datasets.DATASETS:
        spec = get_spec(name)
        folder = datasets.locate(name, args.data_dir)
        if folder is not None:
            where = f"available in {folder}"
        elif (test := datasets.locate(name, args.data_dir, split="test")) is not None:
            where = f"test split only, in {test}"
        else:
            where = "not found (downloads on first use)"
        print(f"{name:14s} {spec.title}\n{'':14s} {where}")
    for name in datasets.BOOK_GROUPS:
        folder = datasets.locate(name, args.data_dir)
        where = (
            f"available in {folder}"
            if folder is not None
            else f"not found (get it with: mitbadak data download {name})"
        )
        print(f"{name:14s} {_title(name)}\n{'':14s} {where}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    if args.name is None:
        print(datasets.cache_dir())
        return 0
    folder = datasets.locate(args.name, args.data_dir)
    if folder is None and args.name in datasets.BOOK_GROUPS:
        raise DataError(
            f"no folder holds all of {args.name}'s files; `mitbadak data download {args.name}` "
            f"would put them in {datasets.cache_dir() / BOOK_WEIGHTS_DIR}"
        )
    if folder is None:
        spec = get_spec(args.name)
        raise DataError(
            f"no folder holds all of {args.name}'s files; `mitbadak data download {spec.name}` "
            f"would put them in {datasets.cache_dir() / spec.name}"
        )
    print(folder)
    return 0


def run_download(args: argparse.Namespace) -> int:
    if args.split is not None and args.name in datasets.BOOK_GROUPS:
        raise CLIError(f"--split is for datasets; {args.name} has no train/test splits")
    reporter = DownloadReporter()
    try:
        folder = datasets.download(
            args.name,
            args.dest,
            progress=reporter,
            timeout=args.timeout,
            split=args.split,
            notice=lambda line: print(f"mitbadak: {line}", file=sys.stderr, flush=True),
        )
    finally:
        for bar in reporter.bars.values():
            bar.close()
    print(f"{args.name}: verified files in {folder}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    report = datasets.verify(args.name, args.data_dir)
    print(report)
    return 0 if report.ok else 1
