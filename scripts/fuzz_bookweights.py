"""Fuzz the book-pickle reader (mitbadak.files.bookweights): mutated pickles and random opcode
streams.

Every case must either load (and then hold only plain data and arrays of the allowed dtypes) or
raise ``BookPickleError``; anything else (another exception, a crash, a hang) is a failure.
After the run, a reference pickle must still load exactly as in a fresh process (no state leak).

    python scripts/fuzz_bookweights.py --count 100000 --seed 1

prints a JSON summary (cases, loaded, refused, failures, slowest case) and exits 1 on a failure.
The test suite runs a few thousand cases of the same loop in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import struct
import sys
import time
from typing import Any

import numpy as np

from mitbadak.files.bookweights import DTYPE_CODES, BookPickleError, _book_arrays, read_array_pickle

# Opcode bytes the reader accepts, and some it must refuse.
_OPCODES = b"()0.12NabcdeghijklpqrstuI]}JKLMFSTUXBCVGR" + bytes(range(0x80, 0x99))
_INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, -1, 1 << 31]


def seed_pickles() -> list[bytes]:
    """Valid pickles of the shapes the reader sees: book-like dicts, every dtype, every protocol."""
    rng = np.random.default_rng(0)
    book = {
        "W1": rng.standard_normal((4, 3)).astype(np.float32),
        "b1": rng.standard_normal(3).astype(np.float32),
        "W2": rng.standard_normal((3, 2)).astype(np.float32),
        "b2": rng.standard_normal(2).astype(np.float32),
        "W3": np.asfortranarray(rng.standard_normal((2, 2)).astype(np.float32)),
        "b3": rng.standard_normal(2).astype(np.float32),
    }
    mixed = {
        "ints": np.arange(6, dtype=">i4").reshape(2, 3),
        "bools": np.array([True, False]),
        "half": np.ones((2, 2), "<f2")[:, ::-1],
        "empty": np.zeros((0, 3), "u8"),
        "scalar": np.array(3.5),
        "nested": [np.arange(3, dtype="u1"), (np.ones(2, ">f8"), None), {"k": b"\x00"}],
    }
    mnist_like = {
        "train_img": rng.integers(0, 256, (3, 784), dtype=np.uint8),
        "train_label": np.array([5, 0, 4], np.uint8),
    }
    out = []
    for protocol in range(6):
        for obj in (book, mixed, mnist_like):
            out.append(pickle.dumps(obj, protocol=protocol))
    return out


def _i4(rng: random.Random) -> bytes:
    return struct.pack("<I", rng.choice(_INTERESTING) & 0xFFFFFFFF)


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One to three random edits: byte flips, truncation, opcode insertion, splices."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not buf:
            buf = bytearray(rng.choice(seeds))
        kind = rng.randrange(9)
        pos = rng.randrange(len(buf))
        if kind == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[pos] = rng.choice([0, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2:
            del buf[pos:]
        elif kind == 3:
            buf[pos:pos] = bytes([rng.choice(_OPCODES)]) + rng.randbytes(rng.randrange(5))
        elif kind == 4:
            del buf[pos : pos + rng.randint(1, 16)]
        elif kind == 5:
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        elif kind == 6:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other))
            buf = buf[:pos] + other[cut:]
        elif kind == 7:
            buf[pos : pos + 4] = _i4(rng)
        else:
            buf[pos:pos] = bytes([rng.choice(b"()tRbN\x85\x86\x87")])
    return bytes(buf)


_STRINGS = ["f8", "f4", "<", ">", "|", "=", "b", "latin1", "C", "F", "O8", "V8", "W1", "c16"]
_GLOBALS = [
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("builtins", "eval"),
]


def opcode_stream(rng: random.Random) -> bytes:
    """A random program over the opcodes NumPy pickles use, with plausible arguments."""
    out = bytearray(b"\x80" + bytes([rng.randint(2, 5)]))
    for _ in range(rng.randint(1, 60)):
        k = rng.randrange(16)
        if k == 0:
            out += b"J" + struct.pack("<i", rng.choice([0, 1, 2, 3, -1, 8, 1 << 30]))
        elif k == 1:
            s = rng.choice(_STRINGS).encode()
            out += b"X" + struct.pack("<I", len(s)) + s
        elif k == 2:
            b = rng.randbytes(rng.choice([0, 1, 4, 8, 16]))
            out += b"C" + bytes([len(b)]) + b
        elif k == 3:
            mod, name = rng.choice(_GLOBALS)
            out += b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
        elif k == 4:
            out += bytes([rng.choice(b"(t\x85\x86\x87")])
        elif k in (5, 6):
            out += bytes([rng.choice(b"Rb")])
        elif k == 7:
            out += bytes([rng.choice(b"N\x88\x89")])
        elif k == 8:
            out += bytes([rng.choice(b"]}a\x8f\x90\x91eu")])
        elif k == 9:
            out += b"q" + bytes([rng.randrange(4)])
        elif k == 10:
            out += b"h" + bytes([rng.randrange(4)])
        elif k == 11:
            out += bytes([rng.choice(b"2\x94")])
        elif k == 12:
            out += b"0"
        else:
            out += b"(" if rng.random() < 0.5 else b"t"
    if rng.random() < 0.9:
        out += b"."
    return bytes(out)


def _check_result(obj: Any, depth: int = 0) -> None:
    """A loaded result may hold only plain data and arrays of the allowed dtypes."""
    assert depth < 64
    if isinstance(obj, np.ndarray):
        assert type(obj) is np.ndarray
        assert obj.dtype.kind + str(obj.dtype.itemsize) in DTYPE_CODES, obj.dtype
        assert obj.dtype.fields is None and obj.dtype.subdtype is None
        assert obj.flags.owndata and obj.flags.writeable
        with np.errstate(all="ignore"):
            obj.sum()  # touch every element
    elif isinstance(obj, dict):
        for k, v in obj.items():
            assert type(k) in (str, bytes)
            _check_result(v, depth + 1)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            _check_result(v, depth + 1)
    else:
        assert obj is None or type(obj) in (bool, int, float, str, bytes, bytearray), type(obj)


def check_case(data: bytes) -> str:
    """'loaded' or 'refused'; raises for anything else."""
    try:
        obj = read_array_pickle(data, "fuzz")
    except BookPickleError:
        return "refused"
    _check_result(obj)
    if isinstance(obj, dict):
        try:
            _book_arrays(obj, "fuzz")
        except BookPickleError:
            pass
    return "loaded"


def _fingerprint() -> str:
    """What a fresh process gets for the reference pickle (and NumPy's float64 as it stands)."""
    arrays = read_array_pickle(seed_pickles()[0], "reference")
    f8 = np.dtype("f8")
    parts = [f"{k}:{v.dtype.str}:{v.shape}:{v.tobytes().hex()}" for k, v in sorted(arrays.items())]
    parts.append(f"f8:{f8.flags}:{f8.hasobject}:{f8.itemsize}:{f8.byteorder}")
    return "|".join(parts)


def run(count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    seeds = seed_pickles()
    before = _fingerprint()
    summary: dict[str, Any] = {"cases": 0, "loaded": 0, "refused": 0, "failures": []}
    slowest = (0.0, "")
    for i in range(count):
        data = opcode_stream(rng) if i % 4 == 3 else mutate(rng, rng.choice(seeds), seeds)
        start = time.perf_counter()
        try:
            outcome = check_case(data)
        except Exception as exc:  # noqa: BLE001 - the point is to catch everything else
            summary["failures"].append(
                {"error": f"{type(exc).__name__}: {exc}"[:300], "case": data.hex()[:2000]}
            )
            outcome = "failed"
        elapsed = time.perf_counter() - start
        if elapsed > slowest[0]:
            slowest = (elapsed, data.hex()[:200])
        summary["cases"] += 1
        if outcome in ("loaded", "refused"):
            summary[outcome] += 1
    summary["slowest_seconds"] = round(slowest[0], 4)
    summary["state_unchanged"] = _fingerprint() == before
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="cases to run (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    summary = run(args.count, args.seed)
    summary["fingerprint"] = _fingerprint()
    print(json.dumps(summary))
    return 1 if summary["failures"] or not summary["state_unchanged"] else 0


if __name__ == "__main__":
    sys.exit(main())
