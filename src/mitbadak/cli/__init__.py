"""The ``mitbadak`` command: thin argument parsing over library calls.

Each sub-command lives in its own module in this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed namespace, returning an exit
code). Every error is printed in one format, ``mitbadak: error: ...`` on stderr, with a non-zero
exit code: usage errors (2), errors the user can fix (1), and, as a last resort, unexpected ones
(1, with a request to report them; the traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from mitbadak.core.errors import (
    BookWeightsUnavailable,
    DatasetUnavailable,
    MitbadakError,
    dataset_problem,
)
from mitbadak.core.version import __version__

# Sub-command modules, in the order `mitbadak --help` lists them.
COMMAND_MODULES = [
    "train", "evaluate", "predict", "gradcheck", "data", "import_weights", "plot", "experiment",
    "search", "export",
    "doctor", "serve",
]


class CLIError(Exception):
    """A usage problem detected by a command (printed as 'mitbadak: error: ...', exit 2)."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description but keeps indented lines (lists) as written, and
    adds ``(default: X)`` to every option that has one."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                blocks.append("\n".join(indent + line for line in lines))
            else:
                blocks.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(blocks)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or isinstance(action, argparse._VersionAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with mitbadak's error format and a ``--debug`` flag on every (sub)command."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the Python traceback of an unexpected error",
        )

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.print_usage(sys.stderr)
        self.exit(2, f"mitbadak: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mitbadak",
        description="Deep Learning from Scratch (chapters 3-5): train, evaluate and explore "
        "small NumPy neural networks on MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"mitbadak {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"mitbadak.cli.{name}").register(sub)
    return parser


def error_message(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """The CLI's wording of a library error: flags (``--data-dir``), never keyword arguments."""
    if isinstance(exc, BookWeightsUnavailable):
        return str(exc)  # already the CLI's words: the folders, then the download command
    if isinstance(exc, DatasetUnavailable):
        return _dataset_unavailable(exc, args)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _dataset_unavailable(exc: DatasetUnavailable, args) -> str:
    """Two lines: the facts (missing files, folders searched, why no download), then a hint
    naming the ways forward as flags and commands."""
    if exc.download_disabled:
        if os.environ.get("MITBADAK_OFFLINE"):
            reason = "downloading is off (MITBADAK_OFFLINE is set)"
        elif args is not None and hasattr(args, "download"):
            reason = "downloading is off; add --download to allow it"
        else:
            reason = "downloading is off"
    else:
        reason = exc.reason
    problem = dataset_problem(exc.dataset, exc.missing, exc.searched, exc.rejected, reason)
    ways = []
    if getattr(args, "data_command", None) == "download":
        ways.append("run it again later (a larger --timeout helps on a slow network)")
        ways.append("copy the files into a folder yourself and give it to train/evaluate as "
                    "--data-dir")
        ways.append("train/evaluate with --dataset mnist-sample, shipped with mitbadak")
    else:
        if args is None or hasattr(args, "data_dir"):
            ways.append(f"--data-dir DIR, a folder holding {', '.join(exc.missing)}")
        ways.append(f"`mitbadak data download {exc.dataset}{_split_flag(exc)}`")
    if (args is None or hasattr(args, "dataset")) and exc.dataset != "mnist-sample":
        ways.append("--dataset mnist-sample, the offline MNIST sample shipped with mitbadak")
    return f"{problem}\nhint: " + "; or ".join(ways)


def _split_flag(exc: DatasetUnavailable) -> str:
    """' --split test' when only the test split's files are missing."""
    try:
        from mitbadak.files.datasets.registry import get_spec

        test_files = {f.filename for f in get_spec(exc.dataset).split_files("test")}
    except (KeyError, ValueError, MitbadakError):
        return ""
    return " --split test" if set(exc.missing) <= test_files else ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False) or os.environ.get("MITBADAK_DEBUG"))
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
        if debug:
            traceback.print_exc()
        print(f"mitbadak: error: {error_message(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mitbadak: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            traceback.print_exc()
        print(
            "mitbadak: error: out of memory; try smaller sizes (--hidden, --batch-size, --dpi)",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # the last resort: one line, never a traceback unless asked
        if debug:
            traceback.print_exc()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"mitbadak: error: unexpected {type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + ". This is a bug in mitbadak; please report it with the command you ran"
            + ("" if debug else " (add --debug to see the traceback)")
            + ".",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
