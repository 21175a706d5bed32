"""Peak memory of loading hostile book pickles ("bombs"), each in a fresh process.

    python scripts/pickle_memory.py                 # this checkout's mitbadak
    python scripts/pickle_memory.py --src OTHER/src # another checkout (e.g. before a change)

For each bomb (small files that ask the loader for large allocations) a child process imports
``mitbadak.files.modelfile.import_book_weights``, notes its peak RSS (``resource.getrusage``), loads
the bomb, and reports the outcome and the growth of its peak RSS. The child's address space is
capped (``--limit-mb``, default 4096) so a bomb that works cannot take the machine down with it.
Prints a table, or JSON with ``--json``. POSIX only (``resource``).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20


def _unicode(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def _f8_dtype(byteorder: str = "<") -> bytes:
    state = b"(" + _int(3) + _unicode(byteorder) + b"NNN" + _int(-1) + _int(-1) + _int(0) + b"t"
    return b"cnumpy\ndtype\n" + _unicode("f8") + b"\x89\x88\x87R" + state + b"b"


def encode_memo_bomb(mib: int = 1, copies: int = 1024) -> bytes:
    """Protocol 2: one 1 MiB string, turned into bytes by ``_codecs.encode`` ``copies`` times."""
    memo = b"c_codecs\nencode\nq\x010" + _unicode("a" * (mib * MIB)) + b"q\x020"
    memo += _unicode("latin1") + b"q\x030"
    return b"\x80\x02" + memo + b"](" + b"h\x01h\x02h\x03\x86R" * copies + b"e."


def array_memo_bomb(mib: int = 1, copies: int = 1024) -> bytes:
    """Protocol 3: one 1 MiB byte string shared (via the memo) by ``copies`` big-endian arrays."""
    memo = b"cnumpy.core.multiarray\n_reconstruct\nq\x010cnumpy\nndarray\nq\x020"
    memo += _f8_dtype(">") + b"q\x030"
    memo += b"B" + struct.pack("<I", mib * MIB) + b"\x00" * (mib * MIB) + b"q\x040"
    new_array = b"h\x01h\x02" + _int(0) + b"\x85C\x01b\x87R"
    one = new_array + b"(" + _int(1) + _int(mib * MIB // 8) + b"\x85h\x03\x89h\x04tb"
    return b"\x80\x03" + memo + b"](" + one * copies + b"e."


def memo_index_bomb(index: int = 1 << 26) -> bytes:
    """Ten bytes: LONG_BINPUT with a huge memo index (CPython sizes its memo table to it)."""
    return b"\x80\x02N" + b"r" + struct.pack("<I", index) + b"."


def reconstruct_bomb(items: int = 1 << 27) -> bytes:
    """``_reconstruct(ndarray, (items,), dtype)`` with a dtype whose state claims Python objects."""
    state = b"(" + _int(3) + _unicode("<") + b"NNN" + _int(-1) + _int(-1) + _int(1) + b"t"
    dtype = b"cnumpy\ndtype\n" + _unicode("f8") + b"\x89\x88\x87R" + state + b"b"
    return (
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + _int(items)
        + b"\x85"
        + dtype
        + b"\x87R."
    )


def declared_shape_bomb(mib: int = 2) -> bytes:
    """2 MiB of data whose array state declares a billion float64s."""
    recon = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    recon += _int(0) + b"\x85C\x01b\x87R"
    raw = b"B" + struct.pack("<I", mib * MIB) + b"\x00" * (mib * MIB)
    state = b"(" + _int(1) + _int(10**9) + b"\x85" + _f8_dtype() + b"\x89" + raw + b"tb"
    return b"\x80\x03" + recon + state + b"."


BOMBS: dict[str, Callable[[], bytes]] = {
    "encode-memo (1 MiB text, 1024 encodes)": encode_memo_bomb,
    "array-memo (1 MiB bytes, 1024 big-endian arrays)": array_memo_bomb,
    "memo-index (LONG_BINPUT 2**26)": memo_index_bomb,
    "reconstruct (2**27 items, object flag)": reconstruct_bomb,
    "declared-shape (2 MiB data, shape 10**9)": declared_shape_bomb,
}

_CHILD = r"""
import json, resource, sys
limit = int(sys.argv[2]) << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from mitbadak.files.modelfile import import_book_weights
import mitbadak
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    import_book_weights(sys.argv[1])
    outcome = "loaded"
except BaseException as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[-160:]}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "outcome": outcome,
                  "module": mitbadak.__file__}))
"""


def measure(data: bytes, src: str | None = None, limit_mb: int = 4096) -> dict:
    """Load ``data`` in a fresh child; its outcome, peak RSS (MiB) and growth over the baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.pkl"
        path.write_bytes(data)
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(limit_mb)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    if done.returncode != 0 or not done.stdout.strip():
        return {"outcome": f"child died (exit {done.returncode}): {done.stderr[-300:]}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["file_mib"] = round(len(data) / MIB, 3)
    result["peak_mib"] = round(result["peak_kib"] / 1024, 1)
    result["growth_mib"] = round((result["peak_kib"] - result["base_kib"]) / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="a src/ folder to import mitbadak from instead")
    parser.add_argument("--limit-mb", type=int, default=4096, help="child address-space cap")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    results = {name: measure(make(), args.src, args.limit_mb) for name, make in BOMBS.items()}
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for name, r in results.items():
        print(
            f"{name:50s} file {r.get('file_mib', '?'):>7} MiB  peak {r.get('peak_mib', '?'):>7} MiB"
            f"  growth {r.get('growth_mib', '?'):>7} MiB  {r['outcome'][:90]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
