"""Where dataset files come from: given folders, the user cache, system folders, or a download.

Every file is checked against the registry's checksums before it is used. Downloads stream into a
temporary file in the destination folder, which is renamed into place only after the checksum
passes, so an interrupted or corrupt download never leaves a file under the real name.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mitbadak.core.errors import BookWeightsUnavailable, DataError, DownloadError
from mitbadak.files.datasets.idx import decompress_if_gzip, idx_size
from mitbadak.files.datasets.registry import (
    BOOK_FILES,
    BOOK_WEIGHTS_DIR,
    BookFile,
    DatasetSpec,
    FileSpec,
)

__all__ = [
    "Progress",
    "cache_dir",
    "search_dirs",
    "book_weights_dirs",
    "find_book_weights",
    "check_bytes",
    "find_file",
    "fetch_file",
    "download_files",
    "check_book_bytes",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MIN_RATE",
    "DEFAULT_GRACE",
]

Progress = Callable[[str, int, "int | None"], None]
"""progress(filename, bytes_done, bytes_total); bytes_total is None when unknown."""

DEFAULT_TIMEOUT = 30.0  # seconds without data before a mirror counts as failed
# A mirror must also average at least DEFAULT_MIN_RATE bytes/s once DEFAULT_GRACE seconds have
# passed (about a 32 kbit/s line: slower than any real connection, faster than a server that
# drips a few bytes and stalls), and finish within an overall deadline: DEFAULT_DEADLINE_BASE
# seconds plus the time the largest allowed download takes at the minimum rate.
DEFAULT_MIN_RATE = 4_000.0
DEFAULT_GRACE = 30.0
DEFAULT_DEADLINE_BASE = 60.0
_CHUNK = 1 << 16
_USER_AGENT = "mitbadak-dataset-downloader"

Notice = Callable[[str], None]
"""notice(line): one line for the user, e.g. that a mirror was too slow and the next is tried."""

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
    return Path(str(resources.files("mitbadak.files.datasets") / "sample"))


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


def book_weights_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for the book's files, in order: ``data_dir`` (as given and its
    ``book-weights/``), ``$MITBADAK_DATA`` (likewise), the user cache's ``book-weights/``."""
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("MITBADAK_DATA") or None):
        if base is not None:
            base = Path(base).expanduser()
            dirs += [base, base / BOOK_WEIGHTS_DIR]
    dirs.append(cache_dir() / BOOK_WEIGHTS_DIR)
    return list(dict.fromkeys(dirs))


def find_book_weights(
    name: str = "sample_weight.pkl", data_dir: str | os.PathLike | None = None
) -> Path:
    """The path of the book's file ``name`` (default ``sample_weight.pkl``, chapter 3's network).

    Looks in :func:`book_weights_dirs` order and returns the first regular file of that name
    (its content is checked by the loader, e.g. :func:`mitbadak.load_book_weights`, and by
    ``mitbadak data verify book-weights``). Raises :class:`BookWeightsUnavailable` (a
    ``DatasetUnavailable``) whose message is one line saying where it looked and one line
    saying how to get the file (``mitbadak data download book-weights``).
    """
    if not isinstance(name, str) or not name or name != Path(name).name or name in (".", ".."):
        raise ValueError(f"name must be a file name such as 'sample_weight.pkl', got {name!r}")
    dirs = book_weights_dirs(data_dir)
    for folder in dirs:
        path = folder / name
        if path.is_file():
            return path
    known = BOOK_FILES.get(name)
    group = known.group if known else BOOK_WEIGHTS_DIR
    env = "" if os.environ.get("MITBADAK_DATA") else " ($MITBADAK_DATA is not set)"
    what = f" ({known.title})" if known else ""
    hint = (
        f"get it with: mitbadak data download {group} (or put it in one of those folders)"
        if known
        else f"{name} is not one of the book's files mitbadak knows "
        f"({', '.join(BOOK_FILES)}); put it in one of those folders"
    )
    raise BookWeightsUnavailable(
        f"{name}{what} is not in any folder searched: "
        f"{', '.join(str(d) for d in dirs)}{env}\n{hint}",
        dataset=group,
        missing=[name],
        searched=dirs,
        reason="not found",
    )


def check_bytes(data: bytes, spec: FileSpec, where: str) -> bytes:
    """Verify the bytes of one file against ``spec``; return the decompressed IDX bytes.

    Accepted when SHA-256(data) is one of ``spec.sha256`` or SHA-256(decompressed) equals
    ``spec.raw_sha256``. Anything else raises :class:`DataError` naming the file.
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest in spec.sha256:
        return decompress_if_gzip(data, where, expected_shape=spec.shape)
    try:
        raw = decompress_if_gzip(data, where, expected_shape=spec.shape)
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


def check_book_bytes(data: bytes, spec: BookFile, where: str) -> bytes:
    """``data`` when it is the book's file ``spec`` (exact size and SHA-256), else DataError."""
    digest = hashlib.sha256(data).hexdigest()
    if len(data) == spec.size and digest == spec.sha256:
        return data
    raise DataError(
        f"{where}: checksum mismatch: SHA-256 is {digest}, expected {spec.sha256} "
        f"({len(data)} bytes, expected {spec.size}); the file is corrupt, truncated, "
        f"or not the book's {spec.path}"
    )


def _verify(data: bytes, spec: FileSpec | BookFile, where: str) -> bytes:
    if isinstance(spec, BookFile):
        return check_book_bytes(data, spec, where)
    return check_bytes(data, spec, where)


def max_file_bytes(spec: FileSpec) -> int:
    """The largest a copy of ``spec`` on disk can be: its raw IDX size (uint8 items), plus what
    gzip adds to incompressible data, or the registry's own size if that is larger."""
    raw = idx_size(spec.shape)
    return max(raw + raw // 100 + (1 << 16), spec.size or 0)


def max_download_bytes(spec: FileSpec | BookFile) -> int:
    """The most a download of ``spec`` may send: the registry's size (the mirrors serve the
    canonical .gz) plus 1 % for a differently compressed copy, or :func:`max_file_bytes`;
    a book file's exact size."""
    if isinstance(spec, BookFile):
        return spec.size
    if spec.size:
        return spec.size + spec.size // 100 + 4096
    return max_file_bytes(spec)


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
            size = path.stat().st_size
            if size > max_file_bytes(spec):
                found.rejected.append(
                    f"{path}: is {size} bytes; {spec.filename} is at most "
                    f"{max_file_bytes(spec)} (not this dataset's file)"
                )
                continue
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
    spec: FileSpec | BookFile,
    dest_dir: Path,
    mirrors: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    deadline: float | None = None,
    min_rate: float = DEFAULT_MIN_RATE,
    grace: float = DEFAULT_GRACE,
    notice: Notice | None = None,
) -> tuple[Path, bytes]:
    """Download ``spec`` from the first mirror that serves a verified copy into ``dest_dir``.

    Returns (path, verified bytes: decompressed IDX bytes for a dataset file, the file itself for
    a book file). Raises :class:`DownloadError` listing every mirror's failure. Whatever happens
    (including KeyboardInterrupt), no temporary file is left behind and
    ``dest_dir / spec.filename`` is either untouched or the verified file.

    A dataset file's URL is mirror + filename; a book file's mirrors are its full URLs. A mirror
    fails, and the next is tried, when it sends nothing for ``timeout`` seconds, when after
    ``grace`` seconds it has averaged under ``min_rate`` bytes/s (0 turns that check off), or when
    its whole download passes ``deadline`` seconds (default: ``DEFAULT_DEADLINE_BASE`` + the
    largest allowed download at ``min_rate``, or at 4 kB/s when that is 0); ``notice`` then gets
    one line naming the mirror and why. A response announcing or sending more than
    :func:`max_download_bytes` is refused.
    """
    for label, value, low in (("timeout", timeout, 1e-3), ("min_rate", min_rate, 0.0),
                              ("grace", grace, 0.0)):  # fmt: skip
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= low):
            raise ValueError(f"{label} must be a finite number >= {low:g}, got {value!r}")
    if deadline is None:
        deadline = DEFAULT_DEADLINE_BASE + max_download_bytes(spec) / (
            min_rate or DEFAULT_MIN_RATE
        )
    if not (isinstance(deadline, int | float) and math.isfinite(deadline) and deadline > 0):
        raise ValueError(f"deadline must be a positive number of seconds, got {deadline!r}")
    if not mirrors:
        raise DownloadError(f"{spec.filename}: no download mirrors are known for it")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"{spec.filename}: cannot create {dest_dir} ({exc})") from None
    limits = _Limits(deadline, min_rate, grace)
    failures: list[tuple[str, str]] = []
    for number, mirror in enumerate(mirrors, 1):
        url = _file_url(spec, mirror)
        try:
            return _fetch_one(spec, url, dest_dir, timeout, progress, limits)
        except (DataError, OSError, http.client.HTTPException, ValueError) as exc:
            failures.append((url, _describe(exc)))
            if notice is not None and number < len(mirrors):
                notice(f"{spec.filename}: {url}: {failures[-1][1]}; trying the next mirror")
    raise DownloadError(
        f"{spec.filename}: every mirror failed: "
        + "; ".join(f"{url}: {why}" for url, why in failures),
        file=spec.filename,
        failures=failures,
    )


def _file_url(spec: FileSpec | BookFile, mirror: str) -> str:
    if isinstance(spec, BookFile) or mirror.endswith(spec.filename):
        return mirror
    return mirror.rstrip("/") + "/" + spec.filename


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


@dataclass(frozen=True)
class _Limits:
    deadline: float  # seconds for one mirror's whole download
    min_rate: float  # bytes/s averaged since the request, checked once grace has passed
    grace: float


class _Watchdog:
    """Shuts down every socket a download opened once it is too slow: past the deadline, or
    averaging under the minimum rate once the grace period is over.

    A per-read timeout cannot stop a server that sends one byte just before each timeout; closing
    the connection from a watching thread ends the blocked read at once, whatever phase it is in.
    The reader updates ``received``; ``reason`` says why the download was stopped (or is None).
    """

    def __init__(self, limits: _Limits) -> None:
        self.limits = limits
        self.received = 0
        self.reason: str | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="mitbadak-download-watchdog")
        self._thread.daemon = True

    @property
    def expired(self) -> bool:
        return self.reason is not None

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)
        return sock

    def _watch(self) -> None:
        limits = self.limits
        checks = [limits.deadline] + ([limits.grace] if limits.min_rate > 0 else [])
        tick = min(1.0, max(0.01, min(checks) / 10))
        while not self._done.wait(tick):
            elapsed = time.monotonic() - self._started
            if elapsed >= limits.deadline:
                reason = (
                    f"took longer than the {limits.deadline:g} s allowed for the whole download "
                    f"(stopped after {elapsed:.1f} s)"
                )
            elif (
                limits.min_rate > 0
                and elapsed >= limits.grace
                and self.received < limits.min_rate * elapsed
            ):
                reason = (
                    f"too slow: {self.received} bytes in {elapsed:.1f} s, under the "
                    f"{limits.min_rate:g} bytes/s needed after the first {limits.grace:g} s"
                )
            else:
                continue
            with self._lock:
                self.reason = reason
                for sock in self._sockets:
                    _shutdown(sock)
            return


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies, redirects) whose HTTP(S) connections register with ``watchdog``."""

    def watched(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Watched(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                create = self._create_connection
                self._create_connection = lambda *a, **kw: watchdog.watch(create(*a, **kw))

        return Watched

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(watched(http.client.HTTPConnection), req)

    handlers: list[urllib.request.BaseHandler] = [HTTPHandler()]
    if hasattr(http.client, "HTTPSConnection"):

        class HTTPSHandler(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(
                    watched(http.client.HTTPSConnection), req, context=self._context
                )

        handlers.append(HTTPSHandler())
    return urllib.request.build_opener(*handlers)


def _open_url(
    request: urllib.request.Request, timeout: float, watchdog: _Watchdog
) -> http.client.HTTPResponse:
    return _opener(watchdog).open(request, timeout=timeout)


def remove_stale_parts(dest_dir: Path, filename: str) -> list[Path]:
    """Delete ``.FILENAME.PID.HEX.part`` files left by downloads whose process is gone
    (killed mid-download); parts of a live process, this one included, are left alone."""
    removed = []
    for part in dest_dir.glob(f".{filename}.*.part"):
        pid_text = part.name[len(filename) + 2 :].split(".", 1)[0]
        if pid_text.isdigit() and (int(pid_text) == os.getpid() or _process_alive(int(pid_text))):
            continue
        try:
            part.unlink()
            removed.append(part)
        except FileNotFoundError:  # another process cleaned it first
            pass
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or a PID we cannot ask about): keep it
    return True


def _fetch_one(
    spec: FileSpec | BookFile,
    url: str,
    dest_dir: Path,
    timeout: float,
    progress: Progress | None,
    limits: _Limits,
) -> tuple[Path, bytes]:
    final = dest_dir / spec.filename
    remove_stale_parts(dest_dir, spec.filename)
    tmp = dest_dir / f".{spec.filename}.{os.getpid()}.{os.urandom(4).hex()}.part"
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    limit = max_download_bytes(spec)
    try:
        with _Watchdog(limits) as watchdog:
            try:
                data = _receive(request, spec, tmp, timeout, progress, limit, watchdog)
            except (OSError, http.client.HTTPException, DataError):
                if watchdog.reason is not None:
                    raise DataError(watchdog.reason) from None
                raise
            if watchdog.reason is not None:  # stopped just as the last bytes arrived
                raise DataError(watchdog.reason)
        raw = _verify(data, spec, url)
        os.replace(tmp, final)
        return final, raw
    finally:
        # Runs on success (tmp already renamed), any error, and KeyboardInterrupt alike.
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _receive(
    request: urllib.request.Request,
    spec: FileSpec | BookFile,
    tmp: Path,
    timeout: float,
    progress: Progress | None,
    limit: int,
    watchdog: _Watchdog,
) -> bytes:
    """The response body, written to ``tmp`` as it arrives; at most ``limit`` bytes."""
    with _open_url(request, timeout, watchdog) as response:
        declared = response.headers.get("Content-Length")
        length = int(declared) if declared and declared.strip().isdigit() else None
        if length is not None and length > limit:
            raise DataError(
                f"the server announces {length} bytes, but {spec.filename} is at most {limit}"
            )
        total = length if length is not None else spec.size
        done = 0
        chunks = []
        with open(tmp, "wb") as out:
            if progress:
                progress(spec.filename, 0, total)
            while True:
                chunk = response.read1(min(_CHUNK, limit + 1 - done))
                if not chunk:
                    break
                done += len(chunk)
                watchdog.received = done
                if done > limit:
                    raise DataError(
                        f"the server sent more than {limit} bytes, the most {spec.filename} "
                        "can be; stopped reading"
                    )
                out.write(chunk)
                chunks.append(chunk)
                if progress:
                    progress(spec.filename, done, total)
            out.flush()
            os.fsync(out.fileno())
    if watchdog.expired:
        raise DataError("stopped by the watchdog")  # reported by the caller with its reason
    if length is not None and done != length:
        raise DataError(f"truncated response: got {done} of {length} bytes")
    return b"".join(chunks)


def download_files(
    dataset: DatasetSpec,
    files: Sequence[FileSpec],
    dest_dir: Path,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    deadline: float | None = None,
    min_rate: float = DEFAULT_MIN_RATE,
    grace: float = DEFAULT_GRACE,
    notice: Notice | None = None,
) -> dict[str, tuple[Path, bytes]]:
    """Fetch each of ``files`` (see :func:`fetch_file`); stops at the first file that fails."""
    mirrors = dataset.mirrors if mirrors is None else tuple(mirrors)
    return {
        spec.filename: fetch_file(
            spec,
            dest_dir,
            mirrors,
            timeout=timeout,
            progress=progress,
            deadline=deadline,
            min_rate=min_rate,
            grace=grace,
            notice=notice,
        )
        for spec in files
    }
