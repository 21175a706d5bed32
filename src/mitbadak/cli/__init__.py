"""The ``mitbadak`` command: thin argument parsing over library calls.

Each sub-command lives in its own module in this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed namespace, returning an exit
code). Errors the user can fix are printed as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from mitbadak import __version__
from mitbadak.errors import MitbadakError

# Sub-command modules, in the order `mitbadak --help` lists them.
COMMAND_MODULES = [
    "train", "evaluate", "predict", "gradcheck", "data", "import_weights", "plot", "export",
    "doctor", "serve",
]


class CLIError(Exception):
    """A usage problem detected by a command (printed as 'mitbadak: error: ...', exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mitbadak",
        description="Deep Learning from Scratch (chapters 3-5): train, evaluate and explore "
        "small NumPy neural networks on MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"mitbadak {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"mitbadak.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (e.g. `mitbadak ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except CLIError as exc:
        print(f"mitbadak: error: {exc}", file=sys.stderr)
        return 2
    except (MitbadakError, ValueError, OSError) as exc:
        print(f"mitbadak: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mitbadak: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
