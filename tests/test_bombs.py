"""Zip and gzip bombs: refused from the sizes they declare, with memory bounded by honest sizes.

The files are built by ``hostile_files`` (``benchmarks/bomb_memory.py`` measures the same files
at 1 GiB). Each bomb here inflates to 64-256 MiB: enough that reading it whole would show.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import hostile_files as hf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitbadak.core.errors import DataError, ModelFileError
from mitbadak.files.datasets import registry
from mitbadak.files.datasets.idx import decompress_if_gzip, read_idx, write_idx
from mitbadak.files.datasets.sources import check_bytes
from mitbadak.files.modelfile import load_arrays, load_model, read_metadata, save_arrays, save_model
from mitbadak.nn.networks import TwoLayerNet

MIB = 1 << 20
SRC = Path(__file__).resolve().parents[1] / "src"


def _one_line_error(exc_info, path: Path) -> str:
    text = str(exc_info.value)
    assert text.startswith(str(path)) and "\n" not in text
    return text


@pytest.mark.parametrize(
    "kind, message",
    [
        ("honest", "W1.npy': 16397 compressed bytes claim to expand to 16777328 (more than 100:1)"),
        ("small-header", "(more than 100:1); refused as a likely zip bomb"),
        ("lying-size", "array 'W1': corrupt (BadZipFile: Bad CRC-32"),
    ],
)
def test_model_zip_bombs_are_refused(tmp_path, kind, message):
    path = hf.model_bomb(tmp_path / "bomb.npz", kind, 16 * MIB)
    assert path.stat().st_size < 50_000
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert message in _one_line_error(info, path)


def test_the_crafted_honest_bomb_is_otherwise_a_valid_model(tmp_path, monkeypatch):
    # Guards the fixture: without the ratio limit, the same file loads (all zeros).
    path = hf.model_bomb(tmp_path / "bomb.npz", "honest", 2 * MIB)
    monkeypatch.setattr("mitbadak.files.modelfile._MAX_DEFLATE_RATIO", 10**6)
    net = load_model(path)
    assert net.params["W1"].shape == (2 * MIB // 24, 3)
    assert not net.params["W1"].any()


def test_header_is_checked_against_the_architecture_before_the_data(tmp_path, monkeypatch):
    """A header announcing 80 GB is refused from the header; no data is read or allocated."""
    net = hf.small_network()
    header = hf.npy_header((100_000, 100_000))
    members = [("W1.npy", header, None, None)]
    members += [(f"{k}.npy", hf.npy_bytes(np.zeros(s)), None, None)
                for k, s in {"b1": (3,), "W2": (3, 2), "b2": (2,)}.items()]
    shapes = {"W1": (100_000, 100_000), "b1": (3,), "W2": (3, 2), "b2": (2,)}
    members.append(("__metadata__.npy", hf.metadata_member(net, shapes), None, None))
    path = hf.write_zip(tmp_path / "m.npz", members)

    allocations = []
    real_empty = np.empty
    monkeypatch.setattr(
        "mitbadak.files.modelfile.np.empty",
        lambda n, **kw: allocations.append(n) or real_empty(n, **kw),
    )
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert "parameter W1 has shape (100000, 100000), but the stated architecture needs (4, 3)" in (
        _one_line_error(info, path)
    )
    assert all(n < 1000 for n in allocations)  # only the metadata was read


def test_declared_size_must_match_the_header(tmp_path):
    net = TwoLayerNet(4, 3, 2, seed=0)
    path = save_model(tmp_path / "m.npz", net)
    # Rewrite W1's member with a directory entry declaring 1 MiB more than its header needs.
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i), None, None) for i in zf.infolist()]
    members = [(n, d + bytes(MIB), None, None) if n == "W1.npy" else (n, d, s, z)
               for n, d, s, z in members]
    hf.write_zip(path, members)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert "array 'W1': has trailing bytes: header says shape (4, 3) of float64" in (
        _one_line_error(info, path)
    )


def test_sizes_larger_than_the_file_and_unsupported_methods(tmp_path):
    path = save_model(tmp_path / "m.npz", TwoLayerNet(4, 3, 2, seed=0))
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i), None, None) for i in zf.infolist()]
    stored_lie = [(n, d, None, len(d) + 5 if n == "b1.npy" else None) for n, d, _, _ in members]
    hf.write_zip(path, stored_lie)
    with pytest.raises(ModelFileError, match="stored entry claims .* the zip directory is"):
        load_model(path)
    bz = tmp_path / "bz.npz"
    with zipfile.ZipFile(bz, "w", compression=zipfile.ZIP_BZIP2) as zf:
        for name, data, _, _ in members:
            zf.writestr(name, data)
    with pytest.raises(ModelFileError, match="compression method 12; only stored or deflated"):
        load_model(bz)


def test_deflated_model_files_still_load(tmp_path):
    """np.savez_compressed-style members (deflated weights) stay readable."""
    net = TwoLayerNet(30, 20, 10, seed=0)
    path = save_model(tmp_path / "m.npz", net)
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    deflated = tmp_path / "d.npz"
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    x = np.random.default_rng(0).standard_normal((3, 30))
    assert np.array_equal(load_model(deflated).predict(x), net.predict(x))
    arrays, _ = load_arrays(deflated)
    assert np.array_equal(arrays["W1"], net.params["W1"])
    assert read_metadata(deflated)["network"]["input_size"] == 30


def test_checkpoint_arrays_are_checked_against_their_inventory_first(tmp_path):
    path = save_arrays(tmp_path / "c.npz", {"v/W1": np.zeros((2, 2))})
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["v/W1.npy"] = hf.npy_header((50_000, 50_000))
    hf.write_zip(path, [(n, d, None, None) for n, d in members.items()])
    with pytest.raises(ModelFileError, match=r"array 'v/W1' has shape \(50000, 50000\), but the"):
        load_arrays(path)


# ---------------------------------------------------------------------------------------------
# IDX .gz


def test_gzip_bomb_stops_at_the_size_the_header_announces(tmp_path):
    path = hf.idx_gz_bomb(tmp_path / "labels.gz", 16 * MIB, shape=(10_000,))
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert "decompresses to more than the 10008 bytes its IDX header announces" in (
        _one_line_error(info, path)
    )


def test_header_shape_is_checked_against_the_registry_before_inflating(tmp_path):
    labels = registry.MNIST.files["test"][1]
    bomb = hf.deflated_zeros(16 * MIB, hf.idx_header((16 * MIB,)), gzip=True)
    with pytest.raises(DataError, match=r"header says shape \(16777216,\), but this file should"):
        decompress_if_gzip(bomb, "x.gz", expected_shape=labels.shape)
    with pytest.raises(DataError, match="checksum mismatch: .* header says shape"):
        check_bytes(bomb, labels, "x.gz")


def test_multi_member_and_exact_size_gzip_still_read(tmp_path):
    arr = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    path = write_idx(tmp_path / "a.gz", arr)
    np.testing.assert_array_equal(read_idx(path), arr)
    raw = gzip.decompress(path.read_bytes())
    two = gzip.compress(raw[:5]) + gzip.compress(raw[5:])
    path.write_bytes(two)
    np.testing.assert_array_equal(read_idx(path), arr)
    path.write_bytes(two + gzip.compress(b"\x00"))  # one byte past the header's size
    with pytest.raises(DataError, match="decompresses to more than the 76 bytes"):
        read_idx(path)


# ---------------------------------------------------------------------------------------------
# Peak memory, measured in a fresh process (its own high-water mark, not the parent's)

PROBE = """
import sys
from pathlib import Path
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "model":
        from mitbadak.files.modelfile import load_model
        load_model(path)
    else:
        from mitbadak.files.datasets.idx import read_idx
        read_idx(path)
except Exception as exc:
    print(type(exc).__name__)
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("kind", ["lying-size", "idx"])
def test_peak_memory_of_a_128_mib_bomb_stays_near_the_baseline(tmp_path, kind):
    """A reader that trusted the compressed stream would hold 128 MiB (the old one: 256 MiB)."""
    if kind == "idx":
        path, what = hf.idx_gz_bomb(tmp_path / "b.gz", 128 * MIB), "idx"
    else:
        path, what = hf.model_bomb(tmp_path / "b.npz", kind, 128 * MIB), "model"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, what, str(path)], env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split()
    assert out[0] in ("ModelFileError", "DataError")
    assert int(out[1]) < 100, f"peak {out[1]} MiB"


# ---------------------------------------------------------------------------------------------
# Fuzzing the zip directory: any declared sizes and methods, only ModelFileError


def _valid_members() -> list[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory() as d:
        path = save_model(Path(d) / "m.npz", TwoLayerNet(4, 3, 2, seed=0))
        with zipfile.ZipFile(path) as zf:
            return [(i.filename, zf.read(i)) for i in zf.infolist()]


VALID_MEMBERS = _valid_members()


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    lies=st.lists(
        st.tuples(
            st.integers(0, len(VALID_MEMBERS) - 1),
            st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
            st.one_of(st.none(), st.integers(0, 1 << 40), st.integers(0, 400)),
        ),
        min_size=1, max_size=3,
    )
)
def test_fuzz_declared_sizes_and_methods(tmp_path_factory, lies):
    members = [[name, data, None, None] for name, data in VALID_MEMBERS]
    for index, method, size in lies:
        name, data = VALID_MEMBERS[index]
        if method == zipfile.ZIP_DEFLATED:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = comp.compress(data) + comp.flush()
        members[index] = [name, data, method, size]
    path = tmp_path_factory.mktemp("fuzz") / "m.npz"
    hf.write_zip(path, [tuple(m) for m in members])
    try:
        net = load_model(path)
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:  # only lies that happen to tell the truth load
        assert net.params["W1"].shape == (4, 3)
