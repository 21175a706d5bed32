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

from mitbadak import datasets
from mitbadak.datasets import registry
from mitbadak.datasets.idx import write_idx
from mitbadak.datasets.registry import DatasetSpec, FileSpec
from mitbadak.errors import DownloadError

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
NAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class FileServer:
    """Serves ``routes[path] = (mode, body)``; modes: ok, 404, truncate, stall, corrupt,
    trickle (one byte every 0.2 s), trickle-headers (so slow it never finishes its headers),
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
    from mitbadak.datasets.sources import fetch_file

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
    from mitbadak.datasets.sources import max_download_bytes, max_file_bytes

    images = registry.MNIST.files["train"][0]
    assert max_download_bytes(images) == 9912422 + 99124 + 4096
    # a local copy may be the raw IDX file (uint8): header 16 bytes + 47,040,000 pixels
    assert max_file_bytes(images) == 47040016 + 470400 + 65536


def test_oversized_local_copy_is_skipped_without_reading_it(generated, tmp_path):
    from mitbadak.datasets.sources import find_file, max_file_bytes

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
