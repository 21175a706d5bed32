"""Downloads against a local HTTP server on 127.0.0.1: every failure mode, and a clean cache."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mitbadak.core.errors import DownloadError
from mitbadak.files import datasets
from mitbadak.files.datasets import registry
from mitbadak.files.datasets.idx import write_idx
from mitbadak.files.datasets.registry import DatasetSpec, FileSpec

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class FileServer:
    """Serves ``routes[path] = (mode, body)``; modes: ok, 404, truncate, stall, corrupt,
    trickle (one byte every 0.2 s), trickle-headers (so slow it never finishes its headers),
    drip (100 bytes, 10 at a time, then silence until the test ends),
    announce-huge (a Content-Length of 1 TB) and endless (no Content-Length, zeros forever)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                mode, body = server.routes.get(self.path, ("404", b""))
                if mode == "404":
                    self.send_error(404, "Not Found")
                    return
                if mode == "trickle-headers":
                    for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 10_000:
                        if server.release.wait(0.2):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                self.send_response(200)
                if mode == "announce-huge":
                    self.send_header("Content-Length", str(10**12))
                elif mode != "endless":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "endless":
                    try:
                        while not server.release.is_set():
                            self.wfile.write(bytes(1 << 16))
                    except OSError:
                        pass
                    return
                if mode == "trickle":
                    for byte in body:
                        if server.release.wait(0.2):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                if mode == "drip":
                    for start in range(0, 100, 10):
                        self.wfile.write(body[start : start + 10])
                        self.wfile.flush()
                        if server.release.wait(0.01):
                            return
                    server.release.wait(10)  # far past the tests' rate checks
                    return
                if mode == "ok":
                    self.wfile.write(body)
                elif mode == "corrupt":
                    self.wfile.write(bytes(b ^ 0x55 for b in body[:64]) + body[64:])
                elif mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif mode == "stall":
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    server.release.wait(5)  # far past the client's timeout

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def mirror(self, name: str) -> str:
        return f"{self.base}/{name}/"

    def serve(self, mirror: str, files: dict[str, bytes], mode: str = "ok") -> None:
        for filename, body in files.items():
            self.routes[f"/{mirror}/{filename}"] = (mode, body)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty user cache; nothing from the real home folder or $MITBADAK_DATA leaks in."""
    root = tmp_path / "cache"
    monkeypatch.setenv("MITBADAK_CACHE", str(root))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    return root


@pytest.fixture
def generated(tmp_path) -> tuple[DatasetSpec, dict[str, bytes], dict[str, np.ndarray]]:
    """Small generated IDX files and a registry entry ('toy') whose checksums fit them."""
    rng = np.random.default_rng(7)
    arrays = {
        NAMES["train"][0]: rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        NAMES["train"][1]: rng.integers(0, 10, 30, dtype=np.uint8),
        NAMES["test"][0]: rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        NAMES["test"][1]: rng.integers(0, 10, 12, dtype=np.uint8),
    }
    src = tmp_path / "generated"
    src.mkdir()
    blobs = {name: write_idx(src / name, arr).read_bytes() for name, arr in arrays.items()}

    def fspec(name: str) -> FileSpec:
        return FileSpec(name, arrays[name].shape, sha256=(hashlib.sha256(blobs[name]).hexdigest(),),
                        size=len(blobs[name]))

    spec = DatasetSpec(
        name="toy",
        title="generated test data",
        files={split: (fspec(a), fspec(b)) for split, (a, b) in NAMES.items()},
    )
    return spec, blobs, arrays


@pytest.fixture
def toy(generated, monkeypatch, server):
    spec, blobs, arrays = generated
    spec = replace(spec, mirrors=(server.mirror("good"),))
    monkeypatch.setitem(registry.DATASETS, "toy", spec)
    server.serve("good", blobs)
    return spec, blobs, arrays


def cache_listing(cache: Path) -> list[str]:
    """The downloaded files in the cache (not the decoded-array entries under decoded/)."""
    if not cache.exists():
        return []
    files = (p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    return sorted(str(p) for p in files if p.parts[0] != "decoded")


def test_good_download_verifies_and_caches(toy, cache, server):
    spec, blobs, arrays = toy
    calls = []
    folder = datasets.download("toy", progress=lambda *a: calls.append(a))
    assert folder == cache / "toy"
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in blobs)
    for name, body in blobs.items():
        assert (folder / name).read_bytes() == body
        done = [c for c in calls if c[0] == name]
        assert done[0] == (name, 0, len(body)) and done[-1] == (name, len(body), len(body))
    # A second call finds the verified files and asks the server for nothing.
    before = len(server.requests)
    datasets.download("toy")
    assert len(server.requests) == before


def test_checksum_mismatch_rejected_then_next_mirror(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("bad", blobs, mode="corrupt")
    folder = datasets.download("toy", mirrors=[server.mirror("bad"), server.mirror("good")])
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in blobs)  # no .part left over
    assert all((folder / n).read_bytes() == b for n, b in blobs.items())
    assert [r.split("/")[1] for r in server.requests[:2]] == ["bad", "good"]


def test_checksum_mismatch_everywhere_leaves_cache_clean(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("bad", blobs, mode="corrupt")
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        datasets.download("toy", mirrors=[server.mirror("bad")])
    assert cache_listing(cache) == []
    assert "mnist-sample" in str(info.value) and "data_dir" in str(info.value)


def test_truncated_response_then_next_mirror(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("short", blobs, mode="truncate")
    mirrors = [server.mirror("short"), server.mirror("good")]
    folder = datasets.download("toy", split="test", mirrors=mirrors)
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in NAMES["test"])
    assert (folder / NAMES["test"][0]).read_bytes() == blobs[NAMES["test"][0]]


def test_truncated_response_alone_is_an_error(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("short", blobs, mode="truncate")
    with pytest.raises(DownloadError, match="truncated response"):
        datasets.download("toy", split="test", mirrors=[server.mirror("short")])
    assert cache_listing(cache) == []


def test_404_on_first_mirror(toy, cache, server):
    spec, blobs, _ = toy
    mirrors = [server.mirror("nothing-here"), server.mirror("good")]
    folder = datasets.download("toy", mirrors=mirrors)
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in blobs)
    assert folder == cache / "toy"
    assert server.requests[0] == f"/nothing-here/{NAMES['train'][0]}"


def test_stalled_server_times_out_and_next_mirror_is_used(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("slow", blobs, mode="stall")
    mirrors = [server.mirror("slow"), server.mirror("good")]
    datasets.download("toy", split="test", mirrors=mirrors, timeout=0.5)
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in NAMES["test"])


def test_stalled_server_alone_reports_timeout(toy, cache, server):
    spec, blobs, _ = toy
    server.serve("slow", blobs, mode="stall")
    with pytest.raises(DownloadError, match="timed out"):
        datasets.download("toy", split="test", mirrors=[server.mirror("slow")], timeout=0.5)
    assert cache_listing(cache) == []


def test_interrupted_download_leaves_nothing(toy, cache, server):
    spec, blobs, _ = toy
    name = NAMES["train"][0]

    def interrupt(filename, done, total):
        if done > 0:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a transfer

    with pytest.raises(KeyboardInterrupt):
        datasets.download("toy", progress=interrupt)
    assert cache_listing(cache) == []  # no partial file, no temporary file
    assert server.requests == [f"/good/{name}"]


def test_interrupt_never_replaces_a_good_cached_file(toy, cache, server):
    spec, blobs, _ = toy
    folder = datasets.download("toy")
    target = folder / NAMES["test"][1]
    target.write_bytes(b"stale and wrong")  # will be re-fetched

    def interrupt(filename, done, total):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        datasets.download("toy", progress=interrupt)
    assert target.read_bytes() == b"stale and wrong"  # untouched, not half-overwritten
    assert cache_listing(cache) == sorted(f"toy/{n}" for n in blobs)
    datasets.download("toy")
    assert target.read_bytes() == blobs[NAMES["test"][1]]


def test_offline_error_names_files_folders_and_ways_forward(
    generated, cache, monkeypatch, tmp_path
):
    spec, _, _ = generated
    # A port nobody listens on: connection refused, as when offline.
    monkeypatch.setitem(registry.DATASETS, "toy", replace(spec, mirrors=("http://127.0.0.1:9/",)))
    given = tmp_path / "mine"
    with pytest.raises(DownloadError) as info:
        datasets.load_mnist(name="toy", data_dir=given)
    msg = str(info.value)
    for text in [*NAMES["train"], *NAMES["test"], str(given), str(cache / "toy"),
                 "cannot connect", "data_dir", "mnist-sample", "MITBADAK_DATA"]:
        assert text in msg, text
    assert cache_listing(cache) == []


def test_load_mnist_downloads_verifies_and_caches(generated, cache, monkeypatch, server):
    """load_mnist(name='mnist') with the real mirrors replaced by the local server."""
    spec, blobs, arrays = generated
    local = replace(registry.DATASETS["mnist"], files=spec.files, mirrors=(server.mirror("m"),))
    monkeypatch.setitem(registry.DATASETS, "mnist", local)
    server.serve("m", blobs)
    (x, t), (xt, tt) = datasets.load_mnist()
    assert cache_listing(cache) == sorted(f"mnist/{n}" for n in blobs)
    assert x.shape == (30, 784) and x.dtype == np.float32
    np.testing.assert_array_equal(x, arrays[NAMES["train"][0]].reshape(30, 784) / np.float32(255))
    np.testing.assert_array_equal(tt, arrays[NAMES["test"][1]])
    # Each downloaded file got its decoded-array entry, which the next load reads.
    decoded = sorted(p.name.rsplit(".", 2)[0] for p in (cache / "decoded").rglob("*.npz"))
    assert decoded == sorted(blobs)
    # Now offline: the cache alone serves it.
    server.routes.clear()
    (x2, _), _ = datasets.load_mnist(download=False)
    np.testing.assert_array_equal(x2, x)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist not present")
def test_real_mnist_checksums_through_local_mirror(cache, monkeypatch, server):
    """The real MNIST test files, served locally, pass the real checksums in the registry."""
    real = {n: (SHARED_MNIST / n).read_bytes() for n in NAMES["test"]}
    server.serve("mnist", real)
    local = replace(registry.DATASETS["mnist"], mirrors=(server.mirror("mnist"),))
    monkeypatch.setitem(registry.DATASETS, "mnist", local)
    x, t = datasets.load_split("mnist", "test")
    assert x.shape == (10000, 784) and np.bincount(t)[1] == 1135
    assert cache_listing(cache) == sorted(f"mnist/{n}" for n in NAMES["test"])
    # A tampered copy of a real file is refused by the real checksum.
    for p in (cache / "mnist").iterdir():
        p.unlink()
    tampered = bytearray(real[NAMES["test"][1]])
    tampered[2000] ^= 0x01
    server.serve("mnist", {NAMES["test"][1]: bytes(tampered)})
    with pytest.raises(DownloadError, match="checksum mismatch"):
        datasets.load_split("mnist", "test")


# ---------------------------------------------------------------------------------------------
# Bounded downloads: the registry's size and an overall deadline


def _fetch(spec: DatasetSpec, server: FileServer, mirror: str, dest: Path, **kwargs):
    from mitbadak.files.datasets.sources import fetch_file

    return fetch_file(spec.files["test"][1], dest, [server.mirror(mirror)], **kwargs)


@pytest.mark.parametrize("mode", ["trickle", "trickle-headers"])
def test_trickling_server_fails_at_the_overall_deadline(toy, server, tmp_path, mode):
    """One byte every 0.2 s never trips the per-read timeout; the deadline still ends it."""
    import time

    spec, blobs, _ = toy
    server.serve("slow", blobs, mode=mode)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than the 1\.5 s allowed") as info:
        _fetch(spec, server, "slow", tmp_path / "d", timeout=1.0, deadline=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 10  # not the 2+ minutes the trickle would take
    assert "\n" not in str(info.value)
    assert list((tmp_path / "d").iterdir()) == []


def test_a_larger_content_length_is_refused_at_once(toy, server, tmp_path):
    spec, blobs, _ = toy
    server.serve("huge", blobs, mode="announce-huge")
    limit = spec.files["test"][1].size
    with pytest.raises(DownloadError, match=r"announces 1000000000000 bytes, but .* is at most"):
        _fetch(spec, server, "huge", tmp_path / "d", timeout=2.0)
    with pytest.raises(DownloadError, match=f"is at most {limit + limit // 100 + 4096}"):
        _fetch(spec, server, "huge", tmp_path / "d", timeout=2.0)
    assert list((tmp_path / "d").iterdir()) == []


def test_an_endless_body_is_cut_off_past_the_registry_size(toy, server, tmp_path):
    spec, blobs, _ = toy
    server.serve("endless", blobs, mode="endless")
    with pytest.raises(DownloadError, match="sent more than .* stopped reading"):
        _fetch(spec, server, "endless", tmp_path / "d", timeout=2.0, deadline=30)
    assert list((tmp_path / "d").iterdir()) == []


def test_registry_sizes_bound_downloads_and_local_files():
    from mitbadak.files.datasets.sources import max_download_bytes, max_file_bytes

    images = registry.MNIST.files["train"][0]
    assert max_download_bytes(images) == 9912422 + 99124 + 4096
    # a local copy may be the raw IDX file (uint8): header 16 bytes + 47,040,000 pixels
    assert max_file_bytes(images) == 47040016 + 470400 + 65536


def test_oversized_local_copy_is_skipped_without_reading_it(generated, tmp_path):
    from mitbadak.files.datasets.sources import find_file, max_file_bytes

    spec, blobs, _ = generated
    fspec = spec.files["test"][1]
    folder = tmp_path / "big"
    folder.mkdir()
    with open(folder / fspec.filename, "wb") as fh:
        fh.truncate(max_file_bytes(fspec) + 1)  # sparse: costs no disk
    found = find_file(fspec, [folder])
    assert found.path is None
    assert "bytes; t10k-labels-idx1-ubyte.gz is at most" in found.rejected[0]


def test_a_killed_downloads_part_file_is_removed_by_the_next_download(toy, server, tmp_path):
    """kill -9 mid-download leaves .NAME.PID.HEX.part; the next download into the folder
    removes it (its process is gone) and leaves a live process's part alone."""
    import subprocess
    import sys

    spec, blobs, _ = toy
    server.serve("good", blobs)
    dest = tmp_path / "d"
    dest.mkdir()
    name = spec.files["test"][1].filename
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = dest / f".{name}.{dead.stdout.strip()}.0badc0de.part"
    stale.write_bytes(b"half a file")
    live = dest / f".{name}.{os.getppid()}.feedf00d.part"  # the test runner's parent: alive
    live.write_bytes(b"another process is still writing this")
    _fetch(spec, server, "good", dest)
    assert not stale.exists()
    assert live.exists()
    assert (dest / name).read_bytes() == blobs[name]


# ---------------------------------------------------------------------------------------------
# A mirror that drips and stalls: the minimum rate moves on to the next mirror, in one line


def test_a_dripping_then_stalled_mirror_is_too_slow_and_the_next_is_used(toy, server, tmp_path):
    """100 bytes, then silence: with a 10 s stall timeout the rate check (1 kB/s after 0.5 s)
    gives up on it first, says so in one line, and the next mirror delivers."""
    from mitbadak.files.datasets.sources import fetch_file

    spec, blobs, _ = toy
    fspec = spec.files["test"][0]
    server.serve("drip", blobs, mode="drip")
    notices: list[str] = []
    mirrors = [server.mirror("drip"), server.mirror("good")]
    path, raw = fetch_file(fspec, tmp_path / "d", mirrors, timeout=10.0, min_rate=1000,
                           grace=0.5, notice=notices.append)
    assert path.read_bytes() == blobs[fspec.filename]
    assert len(notices) == 1 and "\n" not in notices[0]
    line = notices[0]
    assert line.startswith(f"{fspec.filename}: {server.mirror('drip')}{fspec.filename}: too slow: ")
    assert "under the 1000 bytes/s needed after the first 0.5 s" in line
    assert line.endswith("; trying the next mirror")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [fspec.filename]


def test_a_dripping_mirror_alone_fails_soon_with_the_bytes_it_sent(toy, server, tmp_path):
    import re

    from mitbadak.files.datasets.sources import fetch_file

    spec, blobs, _ = toy
    fspec = spec.files["test"][0]  # the images: more than the 100 bytes the drip sends
    assert len(blobs[fspec.filename]) > 100
    server.serve("drip", blobs, mode="drip")
    notices: list[str] = []
    with pytest.raises(DownloadError) as info:
        fetch_file(fspec, tmp_path / "d", [server.mirror("drip")], timeout=10.0, min_rate=1000,
                   grace=0.5, notice=notices.append)
    message = str(info.value)
    found = re.search(r"too slow: (\d+) bytes in ([\d.]+) s", message)
    assert found, message
    assert int(found.group(1)) <= 100  # what the drip sent before it stalled
    assert float(found.group(2)) < 10  # the rate check, not the 10 s stall timeout, ended it
    assert notices == []  # no next mirror to announce
    assert info.value.failures[0][0] == server.mirror("drip") + fspec.filename
    assert list((tmp_path / "d").iterdir()) == []


def test_a_steady_mirror_passes_the_rate_check(toy, server, tmp_path):
    """The whole file at once is far above the minimum rate: no notice, no failure."""
    spec, blobs, _ = toy
    notices: list[str] = []
    path, _ = _fetch(spec, server, "good", tmp_path / "d", min_rate=1000, grace=0.0,
                     notice=notices.append)
    assert path.read_bytes() == blobs[path.name] and notices == []


@pytest.mark.parametrize("bad", [{"min_rate": -1}, {"grace": float("nan")}, {"timeout": 0},
                                 {"deadline": float("inf")}])
def test_download_limits_must_be_finite_numbers(toy, server, tmp_path, bad):
    spec, _, _ = toy
    with pytest.raises(ValueError, match="must be"):
        _fetch(spec, server, "good", tmp_path / "d", **bad)


def test_default_limits_let_a_slow_real_connection_finish():
    """4 kB/s (a 32 kbit/s line) after 30 s; the deadline is the largest file at that rate."""
    from mitbadak.files.datasets import sources

    assert sources.DEFAULT_TIMEOUT == 30.0
    assert sources.DEFAULT_MIN_RATE == 4000.0 and sources.DEFAULT_GRACE == 30.0


def test_summary_groups_mirrors_that_failed_alike():
    err = DownloadError("x", file="f.gz", failures=[
        ("https://a.example/m/f.gz", "timed out"),
        ("https://b.example/m/f.gz", "timed out"),
        ("http://c.example/f.gz", "HTTP 404 Not Found"),
    ])
    assert err.summary() == (
        "download of f.gz failed: a.example, b.example: timed out; c.example: HTTP 404 Not Found"
    )
    same_host = DownloadError("x", file="w.pkl", failures=[
        ("https://raw.example/owner-a/repo/c/w.pkl", "timed out"),
        ("https://raw.example/owner-b/repo/c/w.pkl", "timed out"),
    ])
    assert "raw.example/owner-a, raw.example/owner-b: timed out" in same_host.summary()


# ---------------------------------------------------------------------------------------------
# The book's files: `mitbadak data download book-weights`

BOOK_BODY = b"not really a pickle, but checked the same way" * 50
SHARED_BOOK_PKL = SHARED_MNIST.parent / "sample_weight.pkl"


@pytest.fixture
def book(monkeypatch, server):
    """sample_weight.pkl's registry entry pointed at the local server ('/book/<commit>/...')
    with a checksum that fits BOOK_BODY; the same bytes at /korean/ (the second mirror)."""
    real = registry.BOOK_FILES["sample_weight.pkl"]
    spec = replace(
        real,
        sha256=hashlib.sha256(BOOK_BODY).hexdigest(),
        size=len(BOOK_BODY),
        urls=(f"{server.base}/book/{real.commit}/{real.path}",
              f"{server.base}/korean/{real.commit}/{real.path}"),
    )
    monkeypatch.setitem(registry.BOOK_FILES, "sample_weight.pkl", spec)
    for mirror in ("book", "korean"):
        server.routes[f"/{mirror}/{real.commit}/{real.path}"] = ("ok", BOOK_BODY)
    return spec


def test_book_weights_download_into_the_cache_then_found(book, cache, server):
    folder = datasets.download("book-weights")
    assert folder == cache / "book-weights"
    assert cache_listing(cache) == ["book-weights/sample_weight.pkl"]
    assert (folder / "sample_weight.pkl").read_bytes() == BOOK_BODY
    assert server.requests == [f"/book/{book.commit}/ch03/sample_weight.pkl"]
    assert datasets.find_book_weights() == folder / "sample_weight.pkl"
    assert datasets.verify("book-weights").ok
    assert datasets.locate("book-weights") == folder
    datasets.download("book-weights")  # already verified: nothing fetched again
    assert len(server.requests) == 1


def test_book_weights_corrupt_first_mirror_then_the_korean_one(book, cache, server):
    server.routes[f"/book/{book.commit}/{book.path}"] = ("corrupt", BOOK_BODY)
    notices: list[str] = []
    datasets.download("book-weights", notice=notices.append)
    assert (cache / "book-weights" / "sample_weight.pkl").read_bytes() == BOOK_BODY
    assert len(notices) == 1 and "checksum mismatch" in notices[0]
    assert cache_listing(cache) == ["book-weights/sample_weight.pkl"]


def test_book_weights_every_mirror_fails_two_lines_and_a_clean_cache(book, cache, server):
    from mitbadak.core.errors import BookWeightsUnavailable

    server.routes[f"/book/{book.commit}/{book.path}"] = ("truncate", BOOK_BODY)
    server.routes[f"/korean/{book.commit}/{book.path}"] = ("404", b"")
    with pytest.raises(BookWeightsUnavailable) as info:
        datasets.download("book-weights")
    lines = str(info.value).splitlines()
    assert len(lines) == 2, str(info.value)
    assert "missing sample_weight.pkl" in lines[0] and str(cache / "book-weights") in lines[0]
    assert "truncated" in lines[0] and "HTTP 404" in lines[0]
    assert lines[1].startswith("hint: ") and "ch03/sample_weight.pkl" in lines[1]
    assert cache_listing(cache) == []


def test_book_weights_a_wrong_local_copy_is_replaced(book, cache, server):
    folder = cache / "book-weights"
    folder.mkdir(parents=True)
    (folder / "sample_weight.pkl").write_bytes(b"half")
    assert not datasets.verify("book-weights").ok
    datasets.download("book-weights")
    assert (folder / "sample_weight.pkl").read_bytes() == BOOK_BODY


def test_book_weights_mirrors_given_as_base_urls(book, cache, server):
    server.routes[f"/mine/{book.path}"] = ("ok", BOOK_BODY)
    datasets.download("book-weights", mirrors=[f"{server.base}/mine/"])
    assert server.requests == [f"/mine/{book.path}"]


def test_book_weights_has_no_splits(book, cache):
    with pytest.raises(ValueError, match="no train/test splits"):
        datasets.download("book-weights", split="test")


def test_cli_data_download_book_weights(book, cache, server, capsys):
    from mitbadak.cli import main

    server.routes[f"/book/{book.commit}/{book.path}"] = ("404", b"")
    assert main(["data", "download", "book-weights"]) == 0
    captured = capsys.readouterr()
    assert f"book-weights: verified files in {cache / 'book-weights'}" in captured.out
    notice = captured.err.strip()
    assert notice.startswith("mitbadak: sample_weight.pkl: ") and "HTTP 404" in notice
    assert len(captured.err.strip().splitlines()) == 1
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "book-weights   the book's pretrained weights: sample_weight.pkl\n" in listing
    assert f"available in {cache / 'book-weights'}" in listing
    assert main(["data", "verify", "book-weights"]) == 0
    assert "all files verified" in capsys.readouterr().out


@pytest.mark.skipif(not SHARED_BOOK_PKL.is_file(), reason="../shared/data/sample_weight.pkl absent")
def test_the_real_book_file_passes_the_registry_checksum_through_a_local_mirror(
    cache, server, monkeypatch
):
    real = registry.BOOK_FILES["sample_weight.pkl"]
    body = SHARED_BOOK_PKL.read_bytes()
    server.routes[f"/repo/{real.path}"] = ("ok", body)
    datasets.download("book-weights", mirrors=[f"{server.base}/repo"])
    assert datasets.find_book_weights().read_bytes() == body
    import mitbadak

    assert mitbadak.load_book_weights(datasets.find_book_weights())["W3"].shape == (100, 10)


def test_book_files_are_pinned_by_commit_with_a_verified_mirror():
    """Every book file: the official repository at a commit first; the 2016 files also on the
    Korean edition's repository (its commit holds identical bytes, checked with git)."""
    import re

    official = "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/"
    korean = "https://raw.githubusercontent.com/WegraLee/deep-learning-from-scratch/"
    groups = {}
    for name, spec in registry.BOOK_FILES.items():
        assert name == spec.filename and re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert re.fullmatch(r"[0-9a-f]{40}", spec.commit)
        assert spec.urls[0] == f"{official}{spec.commit}/{spec.path}"
        if spec.commit == registry.BOOK_COMMIT:
            assert spec.urls[1] == f"{korean}{registry.KOREAN_COMMIT}/{spec.path}"
        groups.setdefault(spec.group, []).append(name)
    assert groups == {
        "book-weights": ["sample_weight.pkl"],
        "book-convnets": ["params.pkl", "deep_convnet_params.pkl", "params.2022.pkl",
                          "deep_convnet_params.2022.pkl"],
    }
    sample = registry.BOOK_FILES["sample_weight.pkl"]
    assert sample.size == 181853
    assert sample.sha256 == "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13"
    shared = SHARED_MNIST.parent  # ../shared/data keeps the chapter 7-8 files by chapter
    for spec in registry.BOOK_FILES.values():
        chapter = "" if spec.path.startswith("ch03/") else spec.path.split("/")[0]
        local = shared / chapter / spec.filename
        if local.is_file():
            data = local.read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (spec.size, spec.sha256)


@pytest.mark.parametrize("value", ["1e300", "nan", "inf", "0", "-5"])
def test_cli_data_download_timeout_is_bounded(value, cache, capsys):
    """`data download --timeout` takes the same finite, bounded seconds as `doctor --timeout`."""
    from mitbadak.cli import main

    with pytest.raises(SystemExit) as info:
        main(["data", "download", "mnist", f"--timeout={value}"])
    assert info.value.code == 2
    assert "argument --timeout: expected a " in capsys.readouterr().err
    assert not cache.exists() or not any(cache.rglob("*.gz"))
