"""The IDX reader/writer: round trips, every validation error, real MNIST files, and fuzzing."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitbadak.core.errors import DataError
from mitbadak.files.datasets.idx import decompress_if_gzip, parse_idx, read_idx, write_idx

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

# Label counts of the real MNIST test set (digits 0-9), as published with the dataset.
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def header(code: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
)
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip_every_dtype(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_write_is_deterministic_and_leaves_no_temp_files(tmp_path):
    arr = np.arange(784 * 3, dtype=np.uint8).reshape(3, 28, 28)
    a = write_idx(tmp_path / "a.gz", arr).read_bytes()
    b = write_idx(tmp_path / "b.gz", arr).read_bytes()
    assert a == b  # gzip mtime 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz", "b.gz"]
    assert gzip.decompress(a)[:16] == header(0x08, (3, 28, 28))


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x08\x03\x00\x00" + b"\x00" * 12, "magic number starts with 0803"),
        (header(0x07, (2,)) + b"\x00\x00", "unknown IDX type code 0x07"),
        (struct.pack(">HBB", 0, 8, 0), "claims 0 dimensions"),
        (struct.pack(">HBB", 0, 8, 3) + b"\x00\x00\x00\x02", "truncated IDX header"),
        (header(0x08, (2, 3)) + b"\x01" * 5, r"truncated: shape \(2, 3\) of uint8 needs 18 bytes"),
        (header(0x08, (2, 3)) + b"\x01" * 7, "has trailing bytes"),
        (header(0x0D, (2,)) + b"\x00" * 7, "float32 needs 16 bytes, file has 15"),
        (header(0x08, (65535,) * 8), "implausible shape"),
        (header(0x0C, (0xC8000000, 0, 0x29000000)), "implausible shape"),
    ],
)
def test_parse_errors_name_the_file_and_the_problem(data, message):
    with pytest.raises(DataError, match=message) as info:
        parse_idx(data, "my-file")
    assert str(info.value).startswith("my-file: ")


def test_read_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "missing.gz")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path)  # a folder
    good = gzip.compress(header(0x08, (4,)) + b"\x01\x02\x03\x04", mtime=0)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(good[:-6])
    with pytest.raises(DataError, match=r"cut.gz: truncated gzip data"):
        read_idx(cut)
    flipped = bytearray(good)
    flipped[-8] ^= 0xFF  # CRC-32 in the gzip trailer
    bad = tmp_path / "crc.gz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"crc.gz: corrupt or truncated gzip data"):
        read_idx(bad)
    junk = tmp_path / "junk.gz"
    junk.write_bytes(good + b"junk")
    with pytest.raises(DataError, match="unexpected bytes after the end of the gzip data"):
        read_idx(junk)


def test_multi_member_gzip_is_read_whole():
    payload = header(0x08, (4,)) + b"\x01\x02\x03\x04"
    data = gzip.compress(payload[:6]) + gzip.compress(payload[6:])
    np.testing.assert_array_equal(parse_idx(decompress_if_gzip(data)), [1, 2, 3, 4])


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist not present")
def test_real_mnist_test_files():
    images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.reshape(10000, 784).shape == (10000, 784)
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_LABEL_COUNTS
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert images.max() == 255 and images.min() == 0
    train_labels = read_idx(SHARED_MNIST / "train-labels-idx1-ubyte.gz")
    assert np.bincount(train_labels).tolist() == MNIST_TRAIN_LABEL_COUNTS


# --- fuzzing: malformed input must only ever raise DataError -----------------------------------

def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
        database=None,
    )


def _check_parse(data: bytes) -> None:
    try:
        arr = parse_idx(data, "fuzz")
    except DataError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    # Anything accepted must account for every byte of the input.
    assert 4 + 4 * arr.ndim + arr.nbytes == len(data)


@fuzz_settings(1500)
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes(data):
    _check_parse(data)


@st.composite
def mutated_idx(draw):
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    itemsize = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}[code]
    n = int(np.prod(shape))
    data = bytearray(header(code, shape) + draw(st.binary(min_size=n * itemsize,
                                                          max_size=n * itemsize)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "append", "set-header-byte"]))
        if kind == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif kind == "set-header-byte" and len(data) >= 4:
            data[draw(st.integers(0, min(len(data), 16) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@fuzz_settings(1000)
@given(mutated_idx())
def test_fuzz_mutated_headers_and_payloads(data):
    _check_parse(data)


@fuzz_settings(500)
@given(st.binary(min_size=1, max_size=40), st.data())
def test_fuzz_corrupt_gzip(payload, data):
    blob = bytearray(gzip.compress(header(0x08, (len(payload),)) + payload, mtime=0))
    kind = data.draw(st.sampled_from(["truncate", "flip"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if kind == "truncate":
        del blob[pos:]
    else:
        blob[pos] ^= data.draw(st.integers(1, 255))
    try:
        arr = parse_idx(decompress_if_gzip(bytes(blob), "fuzz.gz"), "fuzz.gz")
    except DataError as exc:
        assert str(exc).startswith("fuzz.gz: ")
    else:  # a flip in the gzip header's ignorable fields (mtime, OS) may leave it intact
        assert arr.tobytes() == payload
