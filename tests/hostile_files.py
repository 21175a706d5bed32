"""Builders of hostile files (zip and gzip bombs, lying headers) for the tests and
``benchmarks/bomb_memory.py``. Nothing here is a test; it only writes files."""

from __future__ import annotations

import functools
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

ZEROS_CHUNK = 1 << 24


@functools.lru_cache(maxsize=8)
def deflated_zeros(n: int, prefix: bytes = b"", gzip: bool = False) -> bytes:
    """A raw deflate (or gzip) stream of ``prefix`` followed by ``n`` zero bytes (about n/1000)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31 if gzip else -15)
    out = [comp.compress(prefix)]
    zeros = bytes(min(n, ZEROS_CHUNK))
    left = n
    while left > 0:
        take = min(left, len(zeros))
        out.append(comp.compress(zeros[:take]))
        left -= take
    out.append(comp.flush())
    return b"".join(out)


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """The bytes of a version-1.0 ``.npy`` header for ``shape`` and ``dtype`` (no data)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def metadata_member(network: dict, arrays: dict[str, tuple[int, ...]], dtype: str = "<f8") -> bytes:
    """The ``__metadata__.npy`` of a mitbadak model file describing ``network`` and ``arrays``."""
    meta = {
        "format": {"name": "mitbadak-npz", "version": 1},
        "network": network,
        "arrays": {k: {"shape": list(s), "dtype": dtype} for k, s in arrays.items()},
    }
    return npy_bytes(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def write_zip(path: Path, members: list[tuple[str, bytes, int | None, int | None]]) -> Path:
    """A zip whose directory says what we choose: members are (name, payload, method, size).

    ``payload`` is stored as given (already deflated when ``method`` is ZIP_DEFLATED); ``size`` is
    the uncompressed size the central directory declares (None: the payload's length). The CRC is
    that of the declared content when the payload inflates to it, else of the payload.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        patches = []
        for name, payload, method, size in members:
            info = zipfile.ZipInfo(name)
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(payload)
            patches.append((info, method, size, payload))
        for info, method, size, payload in patches:
            if method == zipfile.ZIP_DEFLATED:
                info.compress_type = zipfile.ZIP_DEFLATED
                info.CRC, inflated = _crc_and_size(payload)
                info.file_size = inflated if size is None else size
            elif size is not None:
                info.file_size = size
    return path


def _inflate_chunks(payload: bytes):
    d = zlib.decompressobj(-15)
    data = payload
    while True:
        chunk = d.decompress(data, ZEROS_CHUNK)
        if chunk:
            yield chunk
        data = d.unconsumed_tail
        if not data and (d.eof or not chunk):
            return


@functools.lru_cache(maxsize=8)
def _crc_and_size(payload: bytes) -> tuple[int, int]:
    crc = size = 0
    for chunk in _inflate_chunks(payload):
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    return crc, size


def small_network(input_size: int = 4, hidden: int = 3, output_size: int = 2) -> dict:
    return {
        "architecture": "TwoLayerNet",
        "input_size": input_size,
        "hidden_sizes": [hidden],
        "output_size": output_size,
        "activation": "relu",
        "dtype": "float64",
        "weight_init": 0.01,
        "weight_decay_lambda": 0.0,
    }


def _small_members(net: dict) -> dict[str, np.ndarray]:
    n_in, (h,), n_out = net["input_size"], net["hidden_sizes"], net["output_size"]
    return {"W1": np.zeros((n_in, h)), "b1": np.zeros(h), "W2": np.zeros((h, n_out)),
            "b2": np.zeros(n_out)}  # fmt: skip


def model_bomb(path: Path, kind: str, n: int) -> Path:
    """A model file that expands to about ``n`` bytes in one of three ways.

    * ``honest``: the metadata states a network whose W1 really needs ``n`` bytes, the header
      agrees, and the deflated zeros provide them (only the compression ratio gives it away);
    * ``small-header``: W1's header says (4, 3), but its member inflates to ``n`` bytes and
      the zip directory declares them;
    * ``lying-size``: the zip directory declares W1's true small size, but the deflated
      stream inflates to ``n`` bytes (a reader that trusts the stream, not the size, blows up).
    """
    net = small_network()
    arrays = _small_members(net)
    shapes = {k: v.shape for k, v in arrays.items()}
    members: list[tuple[str, bytes, int | None, int | None]] = []
    if kind == "honest":
        n_in = max(1, n // (8 * 3))
        net = small_network(input_size=n_in)
        shapes["W1"] = (n_in, 3)
        header = npy_header(shapes["W1"])
        w1 = deflated_zeros(8 * n_in * 3, header)
        members.append(("W1.npy", w1, zipfile.ZIP_DEFLATED, None))
    elif kind == "small-header":
        w1 = deflated_zeros(n, npy_header((4, 3)))
        members.append(("W1.npy", w1, zipfile.ZIP_DEFLATED, None))
    elif kind == "lying-size":
        header = npy_header((4, 3))
        members.append(
            ("W1.npy", deflated_zeros(n, header), zipfile.ZIP_DEFLATED, len(header) + 96)
        )
    else:
        raise ValueError(kind)
    members += [(f"{k}.npy", npy_bytes(v), None, None) for k, v in arrays.items() if k != "W1"]
    members.append(("__metadata__.npy", metadata_member(net, shapes), None, None))
    return write_zip(path, members)


def idx_header(shape: tuple[int, ...], code: int = 0x08) -> bytes:
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def idx_gz_bomb(path: Path, n: int, shape: tuple[int, ...] = (10000,)) -> Path:
    """A gzip file whose IDX header announces ``shape`` (uint8) but inflating to ``n`` bytes."""
    path.write_bytes(deflated_zeros(n, idx_header(shape), gzip=True))
    return path
