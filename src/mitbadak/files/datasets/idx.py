"""The IDX file format of MNIST: read and write, gzip-compressed or raw, fully validated.

Layout (big-endian): two zero bytes, a type code, the number of dimensions d, then d uint32 sizes,
then the payload in C order. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from mitbadak.core.atomic import atomic_write_bytes
from mitbadak.core.errors import DataError

__all__ = [
    "read_idx",
    "parse_idx",
    "write_idx",
    "decompress_if_gzip",
    "idx_header",
    "idx_size",
    "IDX_DTYPES",
]

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in IDX_DTYPES.items()}
_MAX_DIMS = 8
_MAX_ITEMS = 1 << 32  # refuse headers that claim absurd sizes before allocating anything


def _parse_header(data: bytes, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) from the first bytes of an IDX file, fully checked."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes, a header needs 4)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataError(
            f"{name}: not an IDX file (magic number starts with {data[:2].hex()}, expected 0000)"
        )
    if code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{code:02X}")
    if ndim == 0 or ndim > _MAX_DIMS:
        raise DataError(f"{name}: IDX header claims {ndim} dimensions (expected 1 to {_MAX_DIMS})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, expected {header_len})")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    # Zero-size shapes count too: NumPy refuses (0, 2**31, 2**31) as "too big".
    if math.prod(d for d in shape if d) > _MAX_ITEMS:
        raise DataError(f"{name}: IDX header claims an implausible shape {shape}")
    return shape, IDX_DTYPES[code], header_len


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of one (already decompressed) IDX file into a native-endian array."""
    shape, dtype, header_len = _parse_header(data, name)
    items = math.prod(shape)  # Python ints: a hostile header cannot overflow the check
    expected = header_len + items * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {what}: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"file has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``, detected by its magic bytes) or raw.

    A compressed file is inflated only up to the size its IDX header announces.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_idx(decompress_if_gzip(raw, str(path)), str(path))


def idx_header(shape: tuple[int, ...], dtype: np.dtype | type = np.uint8) -> bytes:
    """The IDX header of an array of ``shape`` and ``dtype``: 0x0000, type code, d, d sizes."""
    dtype = np.dtype(dtype)
    key = dtype.newbyteorder("=") if dtype.itemsize > 1 else dtype
    if key not in _CODES:
        raise ValueError(
            f"IDX cannot store dtype {dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= len(shape) <= _MAX_DIMS:
        raise ValueError(f"IDX stores 1 to {_MAX_DIMS} dimensions, got {len(shape)}")
    return struct.pack(">HBB", 0, _CODES[key], len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def idx_size(shape: tuple[int, ...], itemsize: int = 1) -> int:
    """Bytes of an IDX file holding ``shape`` items of ``itemsize`` bytes: header + payload."""
    return 4 + 4 * len(shape) + math.prod(shape) * itemsize


def decompress_if_gzip(
    data: bytes, name: str = "<bytes>", *, expected_shape: tuple[int, ...] | None = None
) -> bytes:
    """Return ``data`` decompressed when it starts with the gzip magic bytes, else unchanged.

    Decompression never runs past the size the IDX header announces (read from the first
    decompressed bytes), so a gzip bomb fails after producing at most that many bytes. With
    ``expected_shape`` (from the registry), a header announcing another shape is refused before
    the payload is inflated. zlib in gzip mode checks each member's CRC-32 and length trailer.
    """
    if data[:2] != _GZIP_MAGIC:
        return data
    head = _gunzip(data, name, _MAX_HEADER_BYTES, head_only=True)
    shape, dtype, header_len = _parse_header(head, name)
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise DataError(
            f"{name}: IDX header says shape {shape}, but this file should hold {expected_shape}"
        )
    return _gunzip(data, name, header_len + math.prod(shape) * dtype.itemsize)


_GZIP_MAGIC = b"\x1f\x8b"
_MAX_HEADER_BYTES = 4 + 4 * _MAX_DIMS


def _gunzip(data: bytes, name: str, limit: int, *, head_only: bool = False) -> bytes:
    """Inflate (possibly multi-member) gzip ``data``, producing at most ``limit`` bytes.

    More output than ``limit`` is an error, found after inflating ``limit + 1`` bytes; with
    ``head_only`` the first ``limit`` bytes are returned instead.
    """
    chunks: list[bytes] = []
    size = 0
    rest = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            pending = rest
            while True:
                chunk = inflater.decompress(pending, limit + 1 - size)
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    if head_only:
                        return b"".join(chunks)[:limit]
                    raise DataError(
                        f"{name}: decompresses to more than the {limit} bytes its IDX header "
                        "announces; refused (corrupt, or a gzip bomb)"
                    )
                pending = inflater.unconsumed_tail
                if inflater.eof or not pending:
                    break
            if not inflater.eof:
                raise DataError(f"{name}: truncated gzip data (the compressed stream ends early)")
            rest = inflater.unused_data
            if not rest:
                return b"".join(chunks)
            if rest[:2] != _GZIP_MAGIC:
                raise DataError(f"{name}: unexpected bytes after the end of the gzip data")
    except zlib.error as exc:
        raise DataError(f"{name}: corrupt or truncated gzip data ({exc})") from None


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzip when ``compress`` is True or the name ends in ``.gz``.

    The file is written to a temporary name and renamed into place, so it is never half-written.
    Gzip output uses mtime 0, so the same array always gives the same bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    header = idx_header(array.shape, array.dtype)
    code = header[2]
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, compresslevel=9, mtime=0)
    return atomic_write_bytes(path, payload)
