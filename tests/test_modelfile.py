"""Model files (save/load, validation, fuzzing) and the safe import of the book's weight pickle."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import pickletools
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mitbadak
from mitbadak.core.errors import ModelFileError
from mitbadak.files.datasets.idx import read_idx
from mitbadak.files.modelfile import (
    BOOK_WEIGHTS_SHA256,
    FORMAT_NAME,
    FORMAT_VERSION,
    import_book_weights,
    load_arrays,
    load_model,
    read_metadata,
    save_arrays,
    save_model,
)
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOOK_PKL = SHARED_DATA / "sample_weight.pkl"
MNIST_DIR = SHARED_DATA / "mnist"
# The book prints "Accuracy:0.9352" for sample_weight.pkl on the 10,000 MNIST test images.
BOOK_CORRECT = 9352

needs_book_pkl = pytest.mark.skipif(
    not BOOK_PKL.exists(), reason="../shared/data/sample_weight.pkl absent"
)
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="../shared/data/mnist absent"
)


def _inputs(n_features: int, n: int = 7, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, n_features))


def _write_npz(path: Path, members: dict[str, bytes]) -> None:
    """A zip with the given raw member bytes (to craft files save_arrays would never write)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _metadata_bytes(meta: dict) -> bytes:
    return _npy_bytes(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def _small_net(dtype=np.float64) -> MultiLayerNet:
    return MultiLayerNet(4, [3, 5], 2, activation="relu", seed=3, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Round trips


NETWORKS = {
    "two-sigmoid-f32": lambda: TwoLayerNet(6, 5, 3, 0.5, "sigmoid", seed=0, dtype=np.float32),
    "two-sigmoid-f64": lambda: TwoLayerNet(6, 5, 3, 0.5, "sigmoid", seed=0, dtype=np.float64),
    "two-relu-f32": lambda: TwoLayerNet(6, 5, 3, 0.5, "relu", seed=1, dtype=np.float32),
    "two-relu-f64": lambda: TwoLayerNet(6, 5, 3, 0.5, "relu", seed=1, dtype=np.float64),
    "multi-relu-f32": lambda: MultiLayerNet(
        6, [8, 7, 4], 3, activation="relu", weight_decay_lambda=0.1, seed=2, dtype=np.float32
    ),
    "multi-sigmoid-f64": lambda: MultiLayerNet(
        6, [4, 4], 3, activation="sigmoid", weight_init="xavier", seed=2
    ),
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_round_trip_predicts_bit_identically(tmp_path, kind):
    net = NETWORKS[kind]()
    # Non-zero biases, so a lost or swapped bias would show.
    for name, arr in net.params.items():
        if name.startswith("b"):
            arr[...] = np.linspace(-0.5, 0.5, arr.size, dtype=arr.dtype)
    recipe = {"optimizer": "SGD", "learning_rate": 0.1, "batch_size": 100}
    metrics = {"test_accuracy": np.float64(0.9712), "epochs": np.int64(17)}
    path = save_model(tmp_path / "model.npz", net, {"recipe": recipe, "metrics": metrics})
    assert path == tmp_path / "model.npz"

    loaded = load_model(path)
    assert type(loaded) is type(net)
    assert loaded.config() == net.config()
    x = _inputs(6)
    assert np.array_equal(loaded.predict(x), net.predict(x))
    assert loaded.predict(x).dtype == net.predict(x).dtype == net.dtype
    for name, arr in net.params.items():
        assert loaded.params[name].dtype == arr.dtype
        assert loaded.params[name].tobytes() == arr.tobytes()
    assert loaded.metadata["recipe"] == recipe
    assert loaded.metadata["metrics"] == {"test_accuracy": 0.9712, "epochs": 17}
    assert loaded.metadata["network"] == net.config()


def test_loaded_params_are_the_arrays_the_layers_use(tmp_path):
    net = _small_net()
    loaded = load_model(save_model(tmp_path / "m.npz", net))
    for i in (1, 2, 3):
        assert loaded.layers[f"Affine{i}"].W is loaded.params[f"W{i}"]
        assert loaded.layers[f"Affine{i}"].b is loaded.params[f"b{i}"]
    x = _inputs(4)
    before = loaded.predict(x)
    loaded.params["b3"][0] += 1.0  # an in-place update, as an optimizer makes
    after = loaded.predict(x)
    assert np.allclose(after[:, 0], before[:, 0] + 1.0)
    assert np.array_equal(after[:, 1], before[:, 1])


def test_read_metadata_holds_format_version_network_and_caller_keys(tmp_path):
    net = _small_net(np.float32)
    path = save_model(tmp_path / "m.npz", net, {"metrics": {"loss": 0.25}})
    meta = read_metadata(path)
    assert meta["format"] == {"name": FORMAT_NAME, "version": FORMAT_VERSION}
    assert meta["mitbadak_version"] == mitbadak.__version__
    assert meta["network"] == net.config()
    assert meta["network"]["dtype"] == "float32"
    assert meta["metrics"] == {"loss": 0.25}
    assert meta["arrays"]["W1"] == {"shape": [4, 3], "dtype": "<f4"}
    assert meta["saved_at"].endswith("+00:00")


def test_save_model_keeps_a_loaded_networks_metadata_and_replaces_the_network_entry(tmp_path):
    first = save_model(tmp_path / "a.npz", _small_net(), {"note": "first", "network": "bogus"})
    assert read_metadata(first)["network"]["architecture"] == "MultiLayerNet"
    second = save_model(tmp_path / "b.npz", load_model(first), {"extra": 1})
    meta = read_metadata(second)
    assert meta["note"] == "first" and meta["extra"] == 1


def test_save_model_refuses_nan_weights_and_unserialisable_metadata(tmp_path):
    net = _small_net()
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        save_model(tmp_path / "m.npz", net, {"callback": object()})
    net.params["W2"][1, 1] = np.nan
    with pytest.raises(ValueError, match="parameter W2 contains NaN"):
        save_model(tmp_path / "m.npz", net)
    assert not (tmp_path / "m.npz").exists()
    assert list(tmp_path.iterdir()) == []


def test_save_arrays_round_trip_of_assorted_arrays(tmp_path):
    arrays = {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "big_endian": np.arange(5, dtype=">i4"),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "flags": np.array([True, False]),
        "optimizer/m/W1": np.full((2, 2), -1.25),
    }
    path = save_arrays(tmp_path / "sub" / "ckpt.npz", arrays, {"step": 42})
    loaded, meta = load_arrays(path)
    assert set(loaded) == set(arrays)
    for name, arr in arrays.items():
        assert np.array_equal(loaded[name], arr), name
        assert loaded[name].shape == arr.shape
        assert loaded[name].dtype.newbyteorder("=") == arr.dtype.newbyteorder("=")
        assert loaded[name].dtype.isnative
    assert loaded["fortran"].flags.f_contiguous
    assert meta["step"] == 42


@pytest.mark.parametrize("name", ["", "__metadata__", "../x", "/abs", "a//b", "a\\b"])
def test_save_arrays_refuses_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="name"):
        save_arrays(tmp_path / "a.npz", {name: np.zeros(2)})


def test_save_arrays_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        save_arrays(tmp_path / "a.npz", {"x": np.array([1, "a"], dtype=object)})
    assert not (tmp_path / "a.npz").exists()


def test_interrupted_save_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = _small_net()
    save_model(path, old)
    old_bytes = path.read_bytes()

    def broken_write_array(fp, array, *args, **kwargs):
        fp.write(b"\x93NUMPY half-written")
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write_array)
    new = MultiLayerNet(4, [3, 5], 2, activation="relu", seed=99)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        save_model(path, new)
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    x = _inputs(4)
    assert np.array_equal(load_model(path).predict(x), old.predict(x))
    # and a save that completes does replace it
    save_model(path, new)
    assert np.array_equal(load_model(path).predict(x), new.predict(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


# ---------------------------------------------------------------------------------------------
# Clear errors for bad files


def _valid_members(net=None) -> dict[str, bytes]:
    """The members of a valid model file, to be broken one way at a time."""
    net = net or _small_net()
    meta = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "network": net.config(),
        "arrays": {
            k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in net.params.items()
        },
    }
    members = {f"{k}.npy": _npy_bytes(v) for k, v in net.params.items()}
    members["__metadata__.npy"] = _metadata_bytes(meta)
    return members


def test_crafted_valid_file_loads(tmp_path):
    # Guards the fixtures below: only the one change each makes breaks the file.
    net = _small_net()
    _write_npz(tmp_path / "ok.npz", _valid_members(net))
    assert np.array_equal(
        load_model(tmp_path / "ok.npz").predict(_inputs(4)), net.predict(_inputs(4))
    )


def _meta_with(**changes) -> dict:
    net = _small_net()
    meta = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "network": net.config(),
        "arrays": {
            k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in net.params.items()
        },
    }
    meta.update(changes)
    return meta


def _network_with(**changes) -> dict:
    cfg = _small_net().config()
    cfg.update(changes)
    return cfg


BAD_FILES = {
    "not a zip": (lambda p: p.write_text("W1,b1\n1,2\n"), "not a valid .npz"),
    "empty file": (lambda p: p.write_bytes(b""), "not a valid .npz"),
    "truncated": (
        lambda p: p.write_bytes(save_model(p, _small_net()).read_bytes()[:-300]),
        "not a valid .npz",
    ),
    "no metadata": (
        lambda p: _write_npz(p, {k: v for k, v in _valid_members().items() if "meta" not in k}),
        "has no metadata",
    ),
    "metadata not json": (
        lambda p: _write_npz(
            p,
            {**_valid_members(), "__metadata__.npy": _npy_bytes(np.frombuffer(b"{oops", np.uint8))},
        ),
        "not valid UTF-8 JSON",
    ),
    "metadata a list": (
        lambda p: _write_npz(p, {**_valid_members(), "__metadata__.npy": _metadata_bytes([1, 2])}),
        "must be a JSON object",
    ),
    "other format": (
        lambda p: _write_npz(
            p, {**_valid_members(), "__metadata__.npy": _metadata_bytes(_meta_with(format="keras"))}
        ),
        "does not name the format",
    ),
    "newer version": (
        lambda p: _write_npz(
            p,
            {
                **_valid_members(),
                "__metadata__.npy": _metadata_bytes(
                    _meta_with(format={"name": FORMAT_NAME, "version": FORMAT_VERSION + 1})
                ),
            },
        ),
        "newer mitbadak",
    ),
    "object array": (
        lambda p: _write_npz(
            p,
            {
                **_valid_members(),
                "W1.npy": _npy_bytes(np.array([[1, "x"]], dtype=object), allow_pickle=True),
            },
        ),
        "holds Python objects",
    ),
    "npy header lies": (
        lambda p: _write_npz(p, {**_valid_members(), "W1.npy": _npy_bytes(np.zeros((4, 3)))[:-8]}),
        "truncated: header says shape (4, 3)",
    ),
    "extra entry": (
        lambda p: _write_npz(p, {**_valid_members(), "notes.txt": b"hello"}),
        "unexpected entry 'notes.txt'",
    ),
    "wrong shape": (
        lambda p: _write_npz(p, {**_valid_members(), "W2.npy": _npy_bytes(np.zeros((3, 6)))}),
        "array 'W2' has shape (3, 6), but the metadata says",
    ),
    "shape against architecture": (
        lambda p: save_arrays(
            p,
            {**_small_net().params, "W2": np.zeros((3, 6)), "b2": np.zeros(6)},
            {"network": _small_net().config()},
        ),
        "parameter W2 has shape (3, 6), but the stated architecture needs (3, 5)",
    ),
    "missing parameter": (
        lambda p: save_arrays(
            p,
            {k: v for k, v in _small_net().params.items() if k != "b3"},
            {"network": _small_net().config()},
        ),
        "missing ['b3']",
    ),
    "dtype mismatch": (
        lambda p: save_arrays(
            p,
            {k: v.astype(np.float32) for k, v in _small_net().params.items()},
            {"network": _small_net().config()},
        ),
        "parameter W1 has dtype float32, but the network is float64",
    ),
    "nan weight": (
        lambda p: save_arrays(
            p,
            {**_small_net().params, "b1": np.array([0.0, np.nan, 0.0])},
            {"network": _small_net().config()},
        ),
        "parameter b1 contains NaN",
    ),
    "unknown architecture": (
        lambda p: save_arrays(
            p, _small_net().params, {"network": _network_with(architecture="ConvNet")}
        ),
        "unknown architecture 'ConvNet'",
    ),
    "bad activation": (
        lambda p: save_arrays(
            p, _small_net().params, {"network": _network_with(activation="softplus")}
        ),
        "activation must be one of",
    ),
    "bad size": (
        lambda p: save_arrays(p, _small_net().params, {"network": _network_with(input_size=-4)}),
        "input_size must be a positive integer",
    ),
    "int dtype": (
        lambda p: save_arrays(p, _small_net().params, {"network": _network_with(dtype="int64")}),
        "dtype must be float32 or float64",
    ),
    "bad weight_init": (
        lambda p: save_arrays(p, _small_net().params, {"network": _network_with(weight_init=[1])}),
        "cannot rebuild the network",
    ),
    "no network": (
        lambda p: save_arrays(p, _small_net().params, {}),
        "no network description",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_a_clear_one_line_error(tmp_path, case):
    make, message = BAD_FILES[case]
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    text = str(info.value)
    assert message in text
    assert text.startswith(str(path))
    assert "\n" not in text


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="no such file"):
        read_metadata(tmp_path / "absent.npz")


def test_read_metadata_does_not_need_valid_arrays(tmp_path):
    members = _valid_members()
    members["W1.npy"] = b"garbage"
    _write_npz(tmp_path / "m.npz", members)
    assert read_metadata(tmp_path / "m.npz")["network"]["architecture"] == "MultiLayerNet"
    with pytest.raises(ModelFileError, match="array 'W1'"):
        load_model(tmp_path / "m.npz")


# ---------------------------------------------------------------------------------------------
# Fuzzing: thousands of malformed inputs, nothing but ModelFileError


def _valid_file_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        return save_model(Path(d) / "m.npz", MultiLayerNet(3, [2], 2, seed=0)).read_bytes()


VALID_BYTES = _valid_file_bytes()
FUZZ_X = _inputs(3)
FUZZ_EXPECTED = MultiLayerNet(3, [2], 2, seed=0).predict(FUZZ_X)
FUZZ_SETTINGS = settings(
    max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.fixture(scope="module")
def fuzz_path():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d) / "fuzz.npz"


def _load_or_clear_error(path: Path, data: bytes):
    path.write_bytes(data)
    try:
        net = load_model(path)
    except ModelFileError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    return net


@FUZZ_SETTINGS
@given(data=st.binary(max_size=2000))
def test_fuzz_random_bytes(fuzz_path, data):
    assert _load_or_clear_error(fuzz_path, data) is None


@FUZZ_SETTINGS
@given(cut=st.integers(0, len(VALID_BYTES) - 1))
def test_fuzz_truncations(fuzz_path, cut):
    assert _load_or_clear_error(fuzz_path, VALID_BYTES[:cut]) is None


@FUZZ_SETTINGS
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(VALID_BYTES) - 1), st.integers(1, 255)), min_size=1, max_size=4
    )
)
def test_fuzz_byte_flips(fuzz_path, flips):
    data = bytearray(VALID_BYTES)
    for index, mask in flips:
        data[index] ^= mask
    net = _load_or_clear_error(fuzz_path, bytes(data))
    if net is not None:  # the flip hit a byte no check covers (e.g. a timestamp): same network
        assert np.array_equal(net.predict(FUZZ_X), FUZZ_EXPECTED)


_member_names = st.sampled_from(["W1.npy", "b1.npy", "W2.npy", "b2.npy", "__metadata__.npy", "x"])
_member_data = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda shape, dt: _npy_bytes(np.zeros(shape, dtype=dt)),
        st.lists(st.integers(0, 4), max_size=3).map(tuple),
        st.sampled_from(["f4", "f8", "i8", "u1", ">f8"]),
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers(-5, 1000) | st.floats() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
        ),
        max_leaves=20,
    ).map(lambda obj: _npy_bytes(np.frombuffer(json.dumps(obj).encode(), np.uint8))),
    st.builds(
        lambda net_changes: _metadata_bytes(_meta_with(network=_network_with(**net_changes))),
        st.dictionaries(
            st.sampled_from(["architecture", "input_size", "hidden_sizes", "activation", "dtype"]),
            st.none()
            | st.integers(-2, 6)
            | st.text(max_size=6)
            | st.lists(st.integers(-1, 6), max_size=3),
            max_size=3,
        ),
    ),
)


@settings(FUZZ_SETTINGS, max_examples=400)
@given(members=st.dictionaries(_member_names, _member_data, max_size=6))
def test_fuzz_random_zips(fuzz_path, members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    _load_or_clear_error(fuzz_path, buf.getvalue())


# ---------------------------------------------------------------------------------------------
# The book's sample_weight.pkl


def _arrays_from_pickle_opcodes(data: bytes, shapes: dict) -> dict[str, np.ndarray]:
    """The book pickle's raw float32 arrays, found by reading opcodes (nothing is executed).

    Each array's state is (version, shape, dtype, is_fortran, raw bytes): the key comes first,
    the Fortran flag is the last boolean before the bytes.
    """
    arrays: dict[str, np.ndarray] = {}
    key, fortran = None, False
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("BINUNICODE", "SHORT_BINUNICODE") and arg in shapes:
            key = arg
        elif op.name in ("NEWTRUE", "NEWFALSE"):
            fortran = op.name == "NEWTRUE"
        elif op.name in ("BINBYTES", "SHORT_BINBYTES") and len(arg) > 1:
            flat = np.frombuffer(arg, dtype="<f4")
            arrays[key] = flat.reshape(shapes[key], order="F" if fortran else "C")
    return arrays


@pytest.fixture(scope="module")
def book_net():
    if not BOOK_PKL.exists():
        pytest.skip("../shared/data/sample_weight.pkl absent")
    return import_book_weights(BOOK_PKL)


@pytest.fixture(scope="module")
def mnist_test():
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist absent")
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    # The book's load_mnist(normalize=True, flatten=True): float32 pixels / 255.
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    return x, labels.astype(np.int64)


@needs_book_pkl
def test_book_weights_import_exactly(book_net):
    assert isinstance(book_net, MultiLayerNet)
    cfg = book_net.config()
    assert (cfg["input_size"], cfg["hidden_sizes"], cfg["output_size"]) == (784, [50, 100], 10)
    assert cfg["activation"] == "sigmoid" and cfg["dtype"] == "float32"
    shapes = {
        "W1": (784, 50),
        "b1": (50,),
        "W2": (50, 100),
        "b2": (100,),
        "W3": (100, 10),
        "b3": (10,),
    }
    expected = _arrays_from_pickle_opcodes(BOOK_PKL.read_bytes(), shapes)
    assert sorted(expected) == sorted(shapes)
    for name, shape in shapes.items():
        arr = book_net.params[name]
        assert arr.shape == shape and arr.dtype == np.float32
        assert np.array_equal(arr, expected[name]), name
        assert arr.tobytes() == np.ascontiguousarray(expected[name]).tobytes(), name
        assert book_net.layers[f"Affine{name[1]}"].W is book_net.params[f"W{name[1]}"]
    source = book_net.metadata["source"]
    assert (
        source["sha256"] == BOOK_WEIGHTS_SHA256 == hashlib.sha256(BOOK_PKL.read_bytes()).hexdigest()
    )
    assert source["sha256_matches"] is True


@needs_book_pkl
@needs_mnist
def test_book_accuracy_one_image_at_a_time(book_net, mnist_test):
    x, t = mnist_test
    assert x.shape == (10000, 784) and x.dtype == np.float32
    correct = sum(int(np.argmax(book_net.predict(x[i])) == t[i]) for i in range(len(x)))
    assert correct == BOOK_CORRECT
    assert correct / len(x) == 0.9352


@needs_book_pkl
@needs_mnist
def test_book_accuracy_in_batches_of_100(book_net, mnist_test):
    x, t = mnist_test
    correct = 0
    for i in range(0, len(x), 100):
        proba = book_net.predict_proba(x[i : i + 100])  # the book's softmax output
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        correct += int(np.sum(np.argmax(proba, axis=1) == t[i : i + 100]))
    assert correct == BOOK_CORRECT
    assert book_net.accuracy(x, t, batch_size=100) == 0.9352


@needs_book_pkl
@needs_mnist
def test_book_weights_survive_save_and_load(tmp_path, book_net, mnist_test):
    x, t = mnist_test
    loaded = load_model(save_model(tmp_path / "book.npz", book_net))
    assert np.array_equal(loaded.predict(x[:500]), book_net.predict(x[:500]))
    assert loaded.accuracy(x, t) == 0.9352
    assert loaded.metadata["source"]["sha256_matches"] is True


# -- pickles that must be refused -------------------------------------------------------------


class _RunsCommand:
    """Unpickling this runs ``function(*args)``: the classic malicious pickle."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _payloads(marker: Path) -> dict[str, object]:
    import builtins

    return {
        "os.system": _RunsCommand(os.system, f"touch '{marker}'"),
        "builtins.exec": _RunsCommand(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": _RunsCommand(subprocess.call, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("payload", ["os.system", "builtins.exec", "subprocess.call"])
@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "inside-dict"])
def test_crafted_pickle_is_refused_and_never_runs(tmp_path, payload, nested):
    if payload == "os.system" and sys.platform == "win32":
        pytest.skip("uses the POSIX touch command")
    # First prove the payload is live: plain pickle.loads really does run it.
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_payloads(control)[payload]))
    assert control.exists()

    marker = tmp_path / "marker"
    evil = _payloads(marker)[payload]
    obj = {"W1": evil, "b1": np.zeros(2)} if nested else evil
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps(obj, protocol=3))
    with pytest.raises(ModelFileError, match="refusing to load: the pickle references") as info:
        import_book_weights(pkl)
    assert "not part of a NumPy array" in str(info.value)
    assert not marker.exists()


def test_calling_ndarray_from_a_pickle_is_refused(tmp_path):
    # GLOBAL numpy.ndarray; MARK; BININT 10**9; TUPLE; REDUCE; STOP: ndarray((10**9,)) if obeyed.
    pkl = tmp_path / "alloc.pkl"
    pkl.write_bytes(b"\x80\x03cnumpy\nndarray\n(J\x00\xca\x9a\x3btR.")
    with pytest.raises(ModelFileError, match="not a readable pickle of NumPy arrays"):
        import_book_weights(pkl)


def _book_like(sizes=(6, 4, 5, 3), dtype=np.float32, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(1, 4):
        out[f"W{i}"] = rng.standard_normal((sizes[i - 1], sizes[i])).astype(dtype)
        out[f"b{i}"] = rng.standard_normal(sizes[i]).astype(dtype)
    return out


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_other_array_pickles_import_bit_identically(tmp_path, protocol, dtype):
    arrays = _book_like(dtype=dtype)
    pkl = tmp_path / "w.pkl"
    pkl.write_bytes(pickle.dumps(arrays, protocol=protocol))
    net = import_book_weights(pkl)
    assert net.config()["hidden_sizes"] == [4, 5] and net.dtype == dtype
    for name, arr in arrays.items():
        assert net.params[name].tobytes() == arr.tobytes()
    assert net.metadata["source"]["sha256_matches"] is False
    x = _inputs(6)
    scores = x.astype(dtype)
    for i in (1, 2):
        scores = 1 / (1 + np.exp(-(scores @ arrays[f"W{i}"] + arrays[f"b{i}"])))
    scores = scores @ arrays["W3"] + arrays["b3"]
    assert np.allclose(net.predict(x), scores, rtol=1e-5)


BAD_PICKLES = {
    "list instead of dict": (lambda: list(_book_like().values()), "holds a list"),
    "non-array value": (lambda: {**_book_like(), "W2": [[0.5] * 5] * 4}, "W2 is a list"),
    "missing key": (lambda: {k: v for k, v in _book_like().items() if k != "b3"}, "expected ['W1'"),
    "wrong shape": (
        lambda: {**_book_like(), "W2": np.zeros((4, 7), np.float32)},
        "b2 has shape (5,), but W1..W3 imply (7,)",
    ),
    "int array": (lambda: {**_book_like(), "b1": np.arange(4)}, "b1 has dtype int64"),
    "object array": (
        lambda: {**_book_like(), "b1": np.array([1, "x"], dtype=object)},
        "not a readable pickle of NumPy arrays",
    ),
    "mixed dtypes": (lambda: {**_book_like(), "b1": np.zeros(4)}, "mix dtypes"),
    "nan": (lambda: {**_book_like(), "b3": np.full(3, np.nan, np.float32)}, "b3 contains NaN"),
}


@pytest.mark.parametrize("case", sorted(BAD_PICKLES))
def test_bad_pickles_are_refused_clearly(tmp_path, case):
    make, message = BAD_PICKLES[case]
    pkl = tmp_path / "bad.pkl"
    pkl.write_bytes(pickle.dumps(make(), protocol=3))
    with pytest.raises(ModelFileError) as info:
        import_book_weights(pkl)
    assert message in str(info.value)
    assert str(info.value).startswith(str(pkl))


def test_truncated_missing_and_garbage_pickles(tmp_path):
    good = pickle.dumps(_book_like(), protocol=3)
    (tmp_path / "cut.pkl").write_bytes(good[:-40])
    (tmp_path / "tail.pkl").write_bytes(good + b"extra")
    (tmp_path / "text.pkl").write_text("not a pickle")
    with pytest.raises(ModelFileError, match="not a readable pickle"):
        import_book_weights(tmp_path / "cut.pkl")
    with pytest.raises(ModelFileError, match="5 unexpected bytes after"):
        import_book_weights(tmp_path / "tail.pkl")
    with pytest.raises(ModelFileError, match="not a readable pickle"):
        import_book_weights(tmp_path / "text.pkl")
    with pytest.raises(ModelFileError, match="no such file"):
        import_book_weights(tmp_path / "absent.pkl")
    with pytest.raises(ModelFileError, match="is a directory"):
        import_book_weights(tmp_path)


# -- the import-weights command ---------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mitbadak", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_book_pkl
def test_cli_import_weights(tmp_path, book_net):
    out = tmp_path / "book.npz"
    done = _cli("import-weights", str(BOOK_PKL), str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert f"wrote {out}" in done.stdout and "matches the book's file" in done.stdout
    loaded = load_model(out)
    assert np.array_equal(loaded.predict(_inputs(784)), book_net.predict(_inputs(784)))
    assert read_metadata(out)["source"]["sha256"] == BOOK_WEIGHTS_SHA256

    before = out.read_bytes()
    again = _cli("import-weights", str(BOOK_PKL), str(out), cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists; pass --force" in again.stderr
    assert out.read_bytes() == before
    forced = _cli("import-weights", str(BOOK_PKL), str(out), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.npz"]


def test_cli_import_weights_errors_are_one_line(tmp_path):
    missing = _cli(
        "import-weights", str(tmp_path / "nope.pkl"), str(tmp_path / "o.npz"), cwd=tmp_path
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "Traceback" not in missing.stderr
    assert "nope.pkl: no such file" in missing.stderr

    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_RunsCommand(os.system, f"touch '{marker}'"), protocol=3))
    refused = _cli("import-weights", str(evil), str(tmp_path / "o.npz"), cwd=tmp_path)
    assert refused.returncode == 1
    assert "refusing to load" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert not marker.exists()
    assert not (tmp_path / "o.npz").exists()
