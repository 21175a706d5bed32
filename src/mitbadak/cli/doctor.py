"""``mitbadak doctor [--offline] [--json]``: check the environment, one ✔/✖ line per check."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mitbadak.cli import CLIError
from mitbadak.cli._args import timeout_seconds


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check Python, NumPy, BLAS, datasets, mirrors, extras, fonts, GPU and the cache",
        description="Check the environment and print one line per check (✔ or ✖) with the fix. "
        "Exits 0 when mitbadak's core works (optional things may still be missing).",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="do not contact the dataset mirrors (also: MITBADAK_OFFLINE=1)",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--data-dir", help="also look for datasets in this folder")
    p.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds to wait for each mirror, more than 0 and at most 300 "
        "(default: %(default)s)",
    )
    p.set_defaults(func=run)


def _marks() -> dict[str, str]:
    """✔/✖/– where the terminal's encoding can show them (not every Windows code page can)."""
    marks = {"ok": "✔", "fail": "✖", "skip": "–"}
    try:
        "".join(marks.values()).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        marks = {"ok": "OK", "fail": "XX", "skip": "--"}
    return marks


def run(args: argparse.Namespace) -> int:
    from mitbadak.doctor import core_ok, run_checks

    if not args.timeout > 0:
        raise CLIError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    offline = args.offline or bool(os.environ.get("MITBADAK_OFFLINE"))
    checks = run_checks(offline=offline, data_dir=args.data_dir, timeout=args.timeout)
    healthy = core_ok(checks)
    if args.json:
        print(
            json.dumps(
                {"core_ok": healthy, "checks": [c.to_dict() for c in checks]}, indent=2, default=str
            )
        )
        return 0 if healthy else 1
    marks = _marks()
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{marks[c.status]} {c.name:<{width}}  {c.summary}")
        if c.fix and c.status != "ok":
            print(f"  {' ' * width}  fix: {c.fix}")
    failed = [c for c in checks if c.status == "fail"]
    if healthy:
        extra = f"; {len(failed)} optional item(s) above can be fixed" if failed else ""
        print(f"mitbadak's core works{extra}.")
        return 0
    broken = ", ".join(c.name for c in failed if c.required)
    print(f"mitbadak's core does NOT work: fix {broken} first.")
    return 1
