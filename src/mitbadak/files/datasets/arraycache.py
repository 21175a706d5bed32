"""A verified cache of decoded IDX arrays, so a dataset's gzip files are inflated once, not per run.

Inflating Fashion-MNIST's 26 MB of training images takes about 0.2 s on every load; reading the
same array back from an uncompressed ``.npz`` and checking it takes well under half of that. The
cache only saves time: it never decides what is trusted.

* **Where:** ``cache_dir()/decoded/v1/<IDX file name>.<first 16 hex of the source's SHA-256>.npz``
  (:func:`folder`). Safe to delete at any time; the next load rebuilds what it needs.
* **What:** one entry per source file: ``array`` (the decoded uint8 array) and ``meta`` (JSON
  bytes: format version, file name, shape, the source file's SHA-256 and size, and the SHA-256 of
  the decoded IDX bytes). Written atomically (:func:`mitbadak.core.atomic.atomic_write`), read with
  ``allow_pickle=False``.
* **When it is used:** the first folder of the search order that holds the file (as
  :func:`~mitbadak.files.datasets.sources.find_file` would look) is read and hashed every
  time. An entry is used only if it was made from a file with exactly that SHA-256 and size, its
  array still hashes (as IDX bytes) to the digest recorded when it was made, and the registry
  vouches for the content: the array hashes to the registry's ``raw_sha256`` where it lists one,
  else the source's SHA-256 is listed. Anything else (an old format, a changed or replaced source, a
  truncated, corrupt or foreign entry) is ignored, and the caller decodes the file as before and
  writes a fresh entry. (For a file whose registry entry has no ``raw_sha256`` (MNIST's
  training images) the entry's own digest guards against damage, not against someone who can
  write the cache folder on purpose.)
* **When it is written:** after a normal, verified decode, and only when the first file in the
  search order is the one that was decoded (its SHA-256 is listed in the registry, or its
  decompressed bytes are byte-for-byte those decoded). Failing to write (a read-only cache, a
  full disk) is silent: the cache is an optimisation, never a requirement.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mitbadak.core.atomic import atomic_write
from mitbadak.core.errors import DataError
from mitbadak.files.datasets.idx import decompress_if_gzip, idx_header
from mitbadak.files.datasets.registry import FileSpec
from mitbadak.files.datasets.sources import cache_dir, max_file_bytes

__all__ = ["FORMAT", "folder", "entry_path", "lookup", "store"]

FORMAT = 1
"""Bump when the entry layout or meaning changes: entries of another format are ignored."""


def folder() -> Path:
    """Where entries live: ``cache_dir()/decoded/v<FORMAT>``."""
    return cache_dir() / "decoded" / f"v{FORMAT}"


def entry_path(fspec: FileSpec, source_sha256: str) -> Path:
    """The entry for the copy of ``fspec`` whose bytes hash to ``source_sha256``."""
    return folder() / f"{fspec.filename}.{source_sha256[:16]}.npz"


def _first_copy(fspec: FileSpec, dirs: Iterable[Path]) -> tuple[Path, bytes] | None:
    """(path, bytes) of the copy :func:`find_file` would read first, or None.

    A copy too large to be this file (which :func:`find_file` rejects and passes over) or one
    that cannot be read gives None: the normal search decides what happens then.
    """
    for d in dirs:
        path = d / fspec.filename
        if not path.is_file():
            continue
        try:
            if path.stat().st_size > max_file_bytes(fspec):
                return None
            return path, path.read_bytes()
        except OSError:
            return None
    return None


def _idx_digest(array: np.ndarray) -> str:
    """SHA-256 of the IDX file that holds ``array`` (header + C-order payload), without a copy."""
    h = hashlib.sha256(idx_header(array.shape, array.dtype))
    h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return h.hexdigest()


def lookup(fspec: FileSpec, dirs: Iterable[Path]) -> np.ndarray | None:
    """The decoded array of the first copy of ``fspec`` in ``dirs``, from a verified entry; or None.

    None means "decode the file as usual": no copy, no entry, or an entry that fails any check.
    """
    first = _first_copy(fspec, dirs)
    if first is None:
        return None
    source = hashlib.sha256(first[1]).hexdigest()
    path = entry_path(fspec, source)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if set(npz.files) != {"array", "meta"}:
                return None
            meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
            if not (
                isinstance(meta, dict)
                and meta.get("format") == FORMAT
                and meta.get("filename") == fspec.filename
                and meta.get("source_sha256") == source
                and meta.get("source_size") == len(first[1])
                and meta.get("shape") == list(fspec.shape)
                and meta.get("dtype") == "uint8"
            ):
                return None
            array = npz["array"]
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, zipfile.BadZipFile):
        return None  # missing, truncated, not an npz, or an entry with pickled objects
    if array.dtype != np.uint8 or array.shape != fspec.shape:
        return None
    decoded = _idx_digest(array)
    if decoded != meta.get("idx_sha256"):
        return None  # the entry's bytes changed since it was written
    if fspec.raw_sha256 is not None:
        if decoded != fspec.raw_sha256:
            return None  # not the content the registry lists (whatever the entry claims)
    elif source not in fspec.sha256:
        return None  # the registry does not vouch for this source file (any more)
    return array


def store(fspec: FileSpec, dirs: Iterable[Path], raw: bytes, array: np.ndarray) -> Path | None:
    """Write the entry for the first copy of ``fspec`` in ``dirs``; return its path, or None.

    ``raw`` is the verified, decompressed IDX file that ``array`` was decoded from. The entry is
    written only when that first copy is the verified one: its SHA-256 is listed in the registry,
    or it decompresses to exactly ``raw``. Other entries of the same file name (made from copies
    that have since changed) are removed. Never raises for an unwritable cache.
    """
    first = _first_copy(fspec, dirs)
    if first is None or array.dtype != np.uint8 or array.shape != fspec.shape:
        return None
    data = first[1]
    source = hashlib.sha256(data).hexdigest()
    if source not in fspec.sha256:
        try:
            if decompress_if_gzip(data, str(first[0]), expected_shape=fspec.shape) != raw:
                return None
        except DataError:
            return None
    meta = {
        "format": FORMAT,
        "filename": fspec.filename,
        "shape": list(fspec.shape),
        "dtype": "uint8",
        "source_sha256": source,
        "source_size": len(data),
        "idx_sha256": hashlib.sha256(raw).hexdigest(),
    }
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path = entry_path(fspec, source)

    def write(fh: io.BufferedWriter) -> None:
        np.savez(fh, array=np.ascontiguousarray(array), meta=meta_bytes)

    try:
        atomic_write(path, write)
    except OSError:
        return None
    for old in path.parent.glob(f"{fspec.filename}.*.npz"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()
    return path
