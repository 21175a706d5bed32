"""Where dataset files come from: given folders, the user cache, system folders, or a download.

Every file is checked against the registry's checksums before it is used. Downloads stream into a
temporary file in the destination folder, which is renamed into place only after the checksum
passes, so an interrupted or corrupt download never leaves a file under the real name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mitbadak.datasets.idx import decompress_if_gzip
from mitbadak.datasets.registry import DatasetSpec, FileSpec
from mitbadak.errors import DataError, DownloadError

__all__ = [
    "Progress",
    "cache_dir",
    "search_dirs",
    "check_bytes",
    "find_file",
    "fetch_file",
    "download_files",
    "DEFAULT_TIMEOUT",
]

Progress = Callable[[str, int, "int | None"], None]
"""progress(filename, bytes_done, bytes_total); bytes_total is None when unknown."""

DEFAULT_TIMEOUT = 30.0  # seconds without data before a mirror counts as failed
_CHUNK = 1 << 16
_USER_AGENT = "mitbadak-dataset-downloader"


def cache_dir() -> Path:
    """The user cache: ``$MITBADAK_CACHE``, else ``$XDG_CACHE_HOME/mitbadak``, else
    ``~/.cache/mitbadak`` (``%LOCALAPPDATA%\\mitbadak`` on Windows). Not created here."""
    if os.environ.get("MITBADAK_CACHE"):
        return Path(os.environ["MITBADAK_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "mitbadak"
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "mitbadak"
    return Path.home() / ".cache" / "mitbadak"


def packaged_dir() -> Path:
    """The folder of the sample shipped inside the package."""
    return Path(str(resources.files("mitbadak.datasets") / "sample"))


def search_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for ``spec``'s files, in order of preference.

    ``data_dir``, then ``$MITBADAK_DATA`` (each as given and its ``<name>/`` subfolder), then the
    user cache's ``<name>/``, then the system folders OS packages install into.
    """
    if spec.packaged:
        return [packaged_dir()]
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("MITBADAK_DATA") or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / spec.name]
    dirs.append(cache_dir() / spec.name)
    dirs += [Path(d) for d in spec.system_dirs]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def check_bytes(data: bytes, spec: FileSpec, where: str) -> bytes:
    """Verify the bytes of one file against ``spec``; return the decompressed IDX bytes.

    Accepted when SHA-256(data) is one of ``spec.sha256`` or SHA-256(decompressed) equals
    ``spec.raw_sha256``. Anything else raises :class:`DataError` naming the file.
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest in spec.sha256:
        return decompress_if_gzip(data, where)
    try:
        raw = decompress_if_gzip(data, where)
    except DataError as exc:
        raw, problem = None, str(exc).removeprefix(f"{where}: ")
    else:
        problem = "its decompressed content differs too" if spec.raw_sha256 else ""
    if raw is not None and spec.raw_sha256 and hashlib.sha256(raw).hexdigest() == spec.raw_sha256:
        return raw
    expected = spec.sha256[0] if spec.sha256 else f"decompressed {spec.raw_sha256}"
    size = f"{len(data)} bytes" + (f", expected {spec.size}" if spec.size else "")
    raise DataError(
        f"{where}: checksum mismatch: SHA-256 is {digest}, expected {expected} ({size}"
        f"{'; ' + problem if problem else ''}); "
        "the file is corrupt, truncated, or not this dataset's file"
    )


@dataclass
class Lookup:
    """Outcome of searching the folders for one file."""

    spec: FileSpec
    path: Path | None = None
    raw: bytes | None = None  # decompressed, verified IDX bytes
    rejected: list[str] = field(default_factory=list)  # why candidates were refused


def find_file(spec: FileSpec, dirs: Iterable[Path]) -> Lookup:
    """Search ``dirs`` in order for a copy of ``spec`` that passes its checksum."""
    found = Lookup(spec)
    for folder in dirs:
        path = folder / spec.filename
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
            found.raw = check_bytes(data, spec, str(path))
        except DataError as exc:
            found.rejected.append(str(exc))
            continue
        except OSError as exc:
            found.rejected.append(f"{path}: cannot read ({exc.strerror or exc})")
            continue
        found.path = path
        return found
    return found


def fetch_file(
    spec: FileSpec,
    dest_dir: Path,
    mirrors: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> tuple[Path, bytes]:
    """Download ``spec`` from the first mirror that serves a verified copy into ``dest_dir``.

    Returns (path, decompressed bytes). Raises :class:`DownloadError` listing every mirror's
    failure. Whatever happens (including KeyboardInterrupt), no temporary file is left behind
    and ``dest_dir / spec.filename`` is either untouched or the verified file.
    """
    if not mirrors:
        raise DownloadError(f"{spec.filename}: no download mirrors are known for it")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{spec.filename}: cannot create {dest_dir} ({exc})") from None
    failures = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(spec.filename) else mirror.rstrip("/") + "/" + spec.filename
        try:
            return _fetch_one(spec, url, dest_dir, timeout, progress)
        except (DataError, OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {_describe(exc)}")
    raise DownloadError(f"{spec.filename}: every mirror failed: " + "; ".join(failures))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated response: the connection closed before all announced bytes arrived"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response ({type(exc).__name__}: {exc})"
    return str(exc)


def _fetch_one(
    spec: FileSpec, url: str, dest_dir: Path, timeout: float, progress: Progress | None
) -> tuple[Path, bytes]:
    final = dest_dir / spec.filename
    tmp = dest_dir / f".{spec.filename}.{os.getpid()}.{os.urandom(4).hex()}.part"
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            total = int(declared) if declared and declared.isdigit() else spec.size
            done = 0
            chunks = []
            with open(tmp, "wb") as out:
                if progress:
                    progress(spec.filename, 0, total)
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    chunks.append(chunk)
                    done += len(chunk)
                    if progress:
                        progress(spec.filename, done, total)
                out.flush()
                os.fsync(out.fileno())
        if declared and declared.isdigit() and done != int(declared):
            raise DataError(f"truncated response: got {done} of {declared} bytes")
        raw = check_bytes(b"".join(chunks), spec, url)
        os.replace(tmp, final)
        return final, raw
    finally:
        # Runs on success (tmp already renamed), any error, and KeyboardInterrupt alike.
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def download_files(
    dataset: DatasetSpec,
    files: Sequence[FileSpec],
    dest_dir: Path,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> dict[str, tuple[Path, bytes]]:
    """Fetch each of ``files`` (see :func:`fetch_file`); stops at the first file that fails."""
    mirrors = dataset.mirrors if mirrors is None else tuple(mirrors)
    return {
        spec.filename: fetch_file(spec, dest_dir, mirrors, timeout=timeout, progress=progress)
        for spec in files
    }
