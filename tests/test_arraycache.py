"""The decoded-array cache: a gzip file is inflated once; a stale, corrupt or foreign entry is
ignored and rebuilt, never trusted; the arrays are identical to a fresh decode."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mitbadak.files import datasets
from mitbadak.files.datasets import arraycache, registry
from mitbadak.files.datasets.idx import idx_header, parse_idx
from mitbadak.files.datasets.sources import packaged_dir

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty cache, no $MITBADAK_DATA, no network; the sample's files registered as 'mnist'
    (so real, verified files go through the whole search, verify, decode and cache path)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MITBADAK_CACHE", str(cache))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr("mitbadak.files.datasets.sources._open_url", no_network)
    entry = registry.DATASETS["mnist-sample"]
    fake = registry.DatasetSpec("mnist", "fake", entry.files, system_dirs=())
    monkeypatch.setitem(registry.DATASETS, "mnist", fake)
    return cache


@pytest.fixture
def given(tmp_path) -> Path:
    folder = tmp_path / "given"
    folder.mkdir()
    for name in TEST_FILES:
        (folder / name).write_bytes((packaged_dir() / name).read_bytes())
    return folder


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The names of the IDX files the loader parses (a cache hit parses none)."""
    seen: list[str] = []

    def counting(data, name="<bytes>"):
        seen.append(name)
        return parse_idx(data, name)

    monkeypatch.setattr("mitbadak.files.datasets.parse_idx", counting)
    return seen


def _fresh(name: str) -> np.ndarray:
    return parse_idx(gzip.decompress((packaged_dir() / name).read_bytes()))


def _entries() -> list[Path]:
    return sorted(arraycache.folder().glob("*.npz"))


def _spec(name: str):
    return next(f for f in registry.DATASETS["mnist"].all_files() if f.filename == name)


def _load(given: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and labels, as the IDX files hold them."""
    x, t = datasets.load_split("mnist", "test", normalize=False, flatten=False, data_dir=given)
    return x[:, 0], t


def test_second_load_reads_the_cache_and_gets_identical_arrays(given, decodes, isolated):
    x1, t1 = _load(given)
    assert decodes == list(TEST_FILES)
    entries = _entries()
    assert [p.name.split(".npz")[0].rsplit(".", 1)[0] for p in entries] == sorted(TEST_FILES)
    assert all(p.parent == isolated / "decoded" / f"v{arraycache.FORMAT}" for p in entries)
    x2, t2 = _load(given)
    assert decodes == list(TEST_FILES)  # nothing parsed the second time
    for a, b, name in ((x1, x2, TEST_FILES[0]), (t1, t2, TEST_FILES[1])):
        assert a.dtype == b.dtype == np.uint8
        np.testing.assert_array_equal(a, _fresh(name))
        np.testing.assert_array_equal(a, b)
    # The book's normalised, flattened, one-hot form is the same from either path.
    hot = datasets.load_split("mnist", "test", one_hot_label=True, data_dir=given)
    ref = datasets.load_split("mnist-sample", "test", one_hot_label=True)
    for a, b in zip(hot, ref, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    # Safe to delete: the next load decodes and writes it again.
    for p in entries:
        p.unlink()
    del decodes[:]
    _load(given)
    assert decodes == list(TEST_FILES) and _entries() == entries


def test_load_mnist_uses_the_cache_for_both_splits(tmp_path, decodes, monkeypatch):
    folder = tmp_path / "all"
    folder.mkdir()
    spec = registry.DATASETS["mnist"]
    # The sample's test files stand in for the train split too.
    train = registry.DatasetSpec("mnist", "fake", {"train": spec.files["test"],
                                                   "test": spec.files["test"]}, system_dirs=())
    monkeypatch.setitem(registry.DATASETS, "mnist", train)
    for name in TEST_FILES:
        (folder / name).write_bytes((packaged_dir() / name).read_bytes())
    first = datasets.load_mnist(data_dir=folder)
    n = len(decodes)
    second = datasets.load_mnist(data_dir=folder)
    assert n == 4 and len(decodes) == 4
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_a_changed_source_is_a_miss_and_replaces_the_stale_entry(given, decodes):
    _load(given)
    old = _entries()
    # Same content, other gzip bytes (as Debian's copies): a new SHA-256, so a new entry.
    content = gzip.decompress((given / TEST_FILES[0]).read_bytes())
    (given / TEST_FILES[0]).write_bytes(gzip.compress(content, compresslevel=1, mtime=7))
    x, _ = _load(given)
    assert decodes == [*TEST_FILES, *TEST_FILES]
    new = _entries()
    assert len(new) == 2 and new != old  # the stale entry for the old bytes is gone
    np.testing.assert_array_equal(x, _fresh(TEST_FILES[0]))
    _load(given)
    assert len(decodes) == 4  # and the new one is used from then on


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "not-a-zip"])
def test_a_damaged_entry_is_ignored_and_rebuilt(given, decodes, damage):
    _load(given)
    entry = arraycache.entry_path(_spec(TEST_FILES[0]), _sha(given / TEST_FILES[0]))
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01  # one bit of the image payload
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"not an npz at all")
    entry.write_bytes(bytes(data))
    x, _ = _load(given)
    np.testing.assert_array_equal(x, _fresh(TEST_FILES[0]))
    assert decodes[2:] == list(TEST_FILES)  # decoded again...
    _load(given)
    assert len(decodes) == 4  # ...and the rebuilt entry is good


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rewrite(entry: Path, array: np.ndarray, **meta_changes) -> None:
    with np.load(entry) as npz:
        meta = json.loads(npz["meta"].tobytes())
    meta.update(meta_changes)
    with open(entry, "wb") as fh:
        np.savez(fh, array=array, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))


def test_entries_the_registry_does_not_vouch_for_are_ignored(given, decodes):
    """Consistent-looking but foreign entries: another format, another shape, a different array
    whose recorded digest was updated to match, pickled objects."""
    _load(given)
    fspec = _spec(TEST_FILES[0])
    entry = arraycache.entry_path(fspec, _sha(given / TEST_FILES[0]))
    good = _fresh(TEST_FILES[0])
    forged = good.copy()
    forged[0, 0, 0] ^= 0xFF
    h = hashlib.sha256(idx_header(forged.shape) + forged.tobytes()).hexdigest()
    cases = [
        dict(array=good, format=arraycache.FORMAT + 1),
        dict(array=good[:10], shape=[10, 28, 28]),
        dict(array=forged, idx_sha256=h),  # its source .gz is canonical: the digest must match
    ]
    for case in cases:
        _rewrite(entry, case.pop("array"), **case)
        x, _ = _load(given)
        np.testing.assert_array_equal(x, good)
    assert decodes.count(TEST_FILES[0]) == 1 + len(cases)
    with open(entry, "wb") as fh:  # an object array: np.load(allow_pickle=False) refuses it
        np.savez(fh, array=np.array([{"a": 1}], dtype=object), meta=np.zeros(3, np.uint8))
    x, _ = _load(given)
    np.testing.assert_array_equal(x, good)


def test_a_recompressed_source_with_a_forged_entry_is_checked_against_raw_sha256(given, decodes):
    """For a copy whose .gz bytes are not in the registry (verified by its content), the entry's
    array must hash to the registry's raw_sha256, whatever the entry's own meta says."""
    for name in TEST_FILES:
        content = gzip.decompress((given / name).read_bytes())
        (given / name).write_bytes(gzip.compress(content, compresslevel=1, mtime=3))
    _load(given)
    fspec = _spec(TEST_FILES[1])
    entry = arraycache.entry_path(fspec, _sha(given / TEST_FILES[1]))
    forged = _fresh(TEST_FILES[1]).copy()
    forged[:] = 0
    h = hashlib.sha256(idx_header(forged.shape) + forged.tobytes()).hexdigest()
    _rewrite(entry, forged, idx_sha256=h)
    _, t = _load(given)
    np.testing.assert_array_equal(t, _fresh(TEST_FILES[1]))
    assert decodes.count(TEST_FILES[1]) == 2


def test_no_entry_for_a_corrupt_first_copy_and_the_good_copy_still_loads(given, isolated, decodes):
    """The search skips a corrupt copy for a good one further down; no entry may then be keyed
    to the corrupt bytes (it would make them look verified)."""
    bad = bytearray((given / TEST_FILES[0]).read_bytes())
    bad[1000] ^= 0xFF
    (given / TEST_FILES[0]).write_bytes(bytes(bad))
    down = isolated / "mnist"
    down.mkdir(parents=True)
    for name in TEST_FILES:
        (down / name).write_bytes((packaged_dir() / name).read_bytes())
    for _ in range(2):
        x, _ = _load(given)
        np.testing.assert_array_equal(x, _fresh(TEST_FILES[0]))
    assert not arraycache.entry_path(_spec(TEST_FILES[0]), _sha(given / TEST_FILES[0])).exists()
    assert decodes.count(TEST_FILES[0]) == 2  # decoded (from the good copy) every time


def test_an_unwritable_cache_is_no_error(given, tmp_path, monkeypatch, decodes):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MITBADAK_CACHE", str(blocker / "cache"))
    for _ in range(2):
        x, _ = _load(given)
        np.testing.assert_array_equal(x, _fresh(TEST_FILES[0]))
    assert len(decodes) == 4
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_the_packaged_sample_is_not_cached(isolated):
    datasets.load_mnist(name="mnist-sample")
    assert not (isolated / "decoded").exists()
