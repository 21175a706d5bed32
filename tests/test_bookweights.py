"""The book-pickle reader (mitbadak.files.bookweights): every protocol, every attack, fuzzing,
memory.

Attack cases run in a child process, so a crash (SIGSEGV) fails a test instead of killing pytest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import pickletools
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mitbadak
from mitbadak.core.errors import ModelFileError
from mitbadak.files import bookweights
from mitbadak.files.bookweights import (
    BOOK_WEIGHTS_SHA256,
    DTYPE_CODES,
    MAX_DEPTH,
    MAX_OPCODES,
    BookPickleError,
    import_book_weights,
    load_array_pickle,
    load_book_weights,
    read_array_pickle,
)
from mitbadak.nn.networks import forward

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BOOK_PKL = SHARED_DATA / "sample_weight.pkl"
MNIST_DIR = SHARED_DATA / "mnist"
needs_book_pkl = pytest.mark.skipif(
    not BOOK_PKL.exists(), reason="../shared/data/sample_weight.pkl absent"
)
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="../shared/data/mnist absent"
)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ = _script("fuzz_bookweights")
BOMBS = _script("pickle_memory")


# ---------------------------------------------------------------------------------------------
# A tiny pickle assembler, to write the streams NumPy never would


def U(text: str) -> bytes:  # noqa: N802 - BINUNICODE
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def I(n: int) -> bytes:  # noqa: N802, E743 - BININT, or LONG1 beyond 32 bits
    if -(1 << 31) <= n < (1 << 31):
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def B(data: bytes) -> bytes:  # noqa: N802 - BINBYTES
    return b"B" + struct.pack("<I", len(data)) + data


def T(*items: bytes) -> bytes:  # noqa: N802 - MARK ... TUPLE
    return b"(" + b"".join(items) + b"t"


def G(module: str, name: str) -> bytes:  # noqa: N802 - GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


NONE, TRUE, FALSE, REDUCE, BUILD = b"N", b"\x88", b"\x89", b"R", b"b"


def dtype_state(byteorder="<", sub=NONE, names=NONE, fields=NONE, elsize=-1, align=-1, flags=0):
    return T(I(3), U(byteorder), sub, names, fields, I(elsize), I(align), I(flags))


def dtype(code="f8", state=None, args=None, build=True) -> bytes:
    args = args if args is not None else T(U(code), FALSE, TRUE)
    out = G("numpy", "dtype") + args + REDUCE
    return out + ((state if state is not None else dtype_state()) + BUILD if build else b"")


def reconstruct(shape: bytes | None = None, code=b"C\x01b") -> bytes:
    shape = shape if shape is not None else T(I(0))
    return (
        G("numpy.core.multiarray", "_reconstruct") + T(G("numpy", "ndarray"), shape, code) + REDUCE
    )


def array(shape=(2,), dt=None, raw=None, fortran=FALSE, version=1, state=None) -> bytes:
    if state is None:
        raw = raw if raw is not None else b"\x00" * (8 * int(np.prod(shape)))
        state = T(I(version), T(*[I(d) for d in shape]), dt or dtype(), fortran, B(raw))
    return reconstruct() + state + BUILD


def pkl(body: bytes) -> bytes:
    return b"\x80\x03" + body + b"."


def book(w1: bytes) -> bytes:
    """A book-shaped dict (2-2-2-2, float64) whose W1 is ``w1``."""
    items = U("W1") + w1
    for name, shape in (("b1", (2,)), ("W2", (2, 2)), ("b2", (2,)), ("W3", (2, 2)), ("b3", (2,))):
        items += U(name) + array(shape)
    return pkl(b"}(" + items + b"u")


# ---------------------------------------------------------------------------------------------
# Every protocol NumPy uses, every allowed dtype


def _sample_arrays() -> dict[str, object]:
    rng = np.random.default_rng(3)
    out: dict[str, object] = {}
    for code in sorted(DTYPE_CODES):
        for order in ("<", ">") if code[1] != "1" else ("|",):
            dt = np.dtype(("" if order == "|" else order) + code)
            values = rng.integers(0, 100, (3, 4)).astype(dt)
            out[f"{code}{order}"] = values
            out[f"{code}{order}F"] = np.asfortranarray(values)
    out["strided"] = np.arange(24.0).reshape(4, 6)[::2, ::3]
    out["scalar"] = np.array(-2.5, np.float32)
    out["empty"] = np.zeros((0, 5), np.int16)
    out["nan"] = np.array([np.nan, np.inf, -0.0])
    out["nested"] = [np.arange(3, dtype=np.uint8), (np.ones(2, ">f8"), None, "s", b"b", 1.5)]
    return out


def _assert_same(loaded, original) -> None:
    if isinstance(original, np.ndarray):
        assert type(loaded) is np.ndarray
        assert loaded.dtype.str == original.dtype.str and loaded.shape == original.shape
        assert loaded.tobytes() == original.tobytes()
        assert loaded.flags.writeable and loaded.flags.owndata
        if original.flags.f_contiguous and not original.flags.c_contiguous:
            assert loaded.flags.f_contiguous
    elif isinstance(original, dict):
        assert type(loaded) is dict and list(loaded) == list(original)
        for key in original:
            _assert_same(loaded[key], original[key])
    elif isinstance(original, list | tuple):
        assert type(loaded) is type(original) and len(loaded) == len(original)
        for a, b in zip(loaded, original, strict=True):
            _assert_same(a, b)
    else:
        assert loaded == original and type(loaded) is type(original)


@pytest.mark.parametrize("protocol", range(6))
def test_every_protocol_and_dtype_round_trips(protocol):
    original = _sample_arrays()
    data = pickle.dumps(original, protocol=protocol)
    if protocol == 5:
        assert b"_frombuffer" in data  # NumPy's protocol-5 form is exercised
    if protocol <= 2:
        assert b"_codecs" in data
    _assert_same(read_array_pickle(data), original)


@pytest.mark.parametrize("protocol", [2, 3])
def test_numpy_1_module_names_load(protocol):
    # NumPy 1.x names its rebuilders numpy.core.*; NumPy 2 writes numpy._core.*.
    original = {"a": np.arange(5.0), "b": np.ones((2, 2), ">i4")}
    data = pickle.dumps(original, protocol=protocol)
    assert b"numpy._core.multiarray" in data
    _assert_same(read_array_pickle(data.replace(b"numpy._core.", b"numpy.core.")), original)


def test_protocol_5_frombuffer_of_readonly_and_numpy_1_names():
    ro = np.frombuffer(bytes(range(6)), np.uint8).reshape(2, 3)  # pickled as BINBYTES
    rw = np.arange(6, dtype=np.float32)  # pickled as BYTEARRAY8
    data = pickle.dumps({"ro": ro, "rw": rw}, protocol=5)
    assert b"\x96" in data
    loaded = read_array_pickle(data)
    _assert_same(loaded, {"ro": ro, "rw": rw})
    assert loaded["ro"].flags.writeable  # a copy, not a view of the stream
    # The same stream as NumPy 1.x writes it (STACK_GLOBAL strings carry their length).
    old = data.replace(b"\x8c\x13numpy._core.numeric", b"\x8c\x12numpy.core.numeric")
    _assert_same(read_array_pickle(old), {"ro": ro, "rw": rw})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from(sorted(DTYPE_CODES)).flatmap(
            lambda c: st.sampled_from([np.dtype(c), np.dtype(c).newbyteorder(">")])
        ),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    ),
    protocol=st.integers(0, 5),
    fortran=st.booleans(),
)
def test_any_allowed_array_round_trips(arr, protocol, fortran):
    if fortran:
        arr = np.asfortranarray(arr)
    _assert_same(read_array_pickle(pickle.dumps({"x": arr}, protocol=protocol))["x"], arr)


# ---------------------------------------------------------------------------------------------
# The book's sample_weight.pkl, and load_book_weights


@needs_book_pkl
def test_load_book_weights_is_the_books_init_network(monkeypatch):
    monkeypatch.chdir(BOOK_PKL.parent)  # the book runs from the folder holding the pickle
    network = mitbadak.load_book_weights()
    assert list(network) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    shapes = {"W1": (784, 50), "b1": (50,), "W2": (50, 100), "b2": (100,), "W3": (100, 10)}
    for name, shape in {**shapes, "b3": (10,)}.items():
        assert network[name].shape == shape and network[name].dtype == np.float32
        assert network[name].flags.writeable
    net = import_book_weights(BOOK_PKL)
    assert net.metadata["source"]["sha256"] == BOOK_WEIGHTS_SHA256
    for name in network:
        assert network[name].tobytes() == net.params[name].tobytes()
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    y = forward(network, x)
    assert np.allclose(y, net.predict(x), rtol=1e-5, atol=1e-6)
    assert mitbadak.load_book_weights is load_book_weights
    from mitbadak.files.modelfile import import_book_weights as old_name

    assert old_name is import_book_weights


@needs_book_pkl
@needs_mnist
def test_load_book_weights_chapter_3_accuracy():
    from mitbadak.files.datasets.idx import read_idx

    network = load_book_weights(BOOK_PKL)
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    correct = 0
    for i in range(0, len(x), 100):  # the book's batch_size = 100 loop
        y = forward(network, x[i : i + 100])
        correct += int(np.sum(np.argmax(y, axis=1) == labels[i : i + 100]))
    assert correct / len(x) == 0.9352


def test_load_book_weights_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    with pytest.raises(BookPickleError, match="sample_weight.pkl: no such file") as info:
        load_book_weights()
    assert "ch03 folder" in str(info.value)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and str(tmp_path / "cache" / "book-weights") in lines[0]
    assert lines[1].startswith("get it with: mitbadak data download book-weights")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([np.zeros(2)]))
    with pytest.raises(ModelFileError, match="holds a list; expected a dict"):
        load_book_weights(tmp_path / "list.pkl")
    big = tmp_path / "big.pkl"
    with open(big, "wb") as fh:
        fh.truncate(mitbadak.files.bookweights.MAX_PICKLE_BYTES + 1)
    with pytest.raises(BookPickleError, match="should be far smaller"):
        load_book_weights(big)


def test_load_array_pickle_reads_a_file(tmp_path):
    path = tmp_path / "a.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(3)}, protocol=-1))
    assert load_array_pickle(path)["a"].tolist() == [0, 1, 2]
    with pytest.raises(BookPickleError, match="is a directory"):
        load_array_pickle(tmp_path)


# ---------------------------------------------------------------------------------------------
# Attacks: each refused with BookPickleError, in a child process (a crash fails, not kills)

ATTACKS: dict[str, tuple[bytes, str]] = {
    # The reported SIGSEGV / "Internal error" family: numpy.dtype + BUILD with hostile state.
    **{
        f"dtype flags {flags}": (book(array(dt=dtype(state=dtype_state(flags=flags)))), "flags=")
        for flags in (1, 2, 4, 8, 16, 17, 63, 255, 65535, -1)
    },
    "dtype flags, copy=False (the shared float64)": (
        book(array(dt=dtype(args=T(U("f8"), FALSE, FALSE), state=dtype_state(flags=1)))),
        "flags=1",
    ),
    "dtype elsize": (book(array(dt=dtype(state=dtype_state(elsize=1 << 20)))), "elsize="),
    "dtype alignment": (book(array(dt=dtype(state=dtype_state(align=3)))), "alignment=3"),
    "dtype subarray": (
        book(array(dt=dtype(state=dtype_state(sub=T(dtype(), T(I(10**8))))))),
        "sub-arrays or fields",
    ),
    "dtype fields": (
        book(
            array(dt=dtype(state=dtype_state(names=T(U("a")), fields=b"}" + U("a") + NONE + b"s")))
        ),
        "sub-arrays or fields",
    ),
    "dtype state too short": (book(array(dt=dtype(state=T(I(3), U("<"))))), "8-tuple"),
    "dtype state version 4": (
        book(array(dt=dtype(state=T(I(4), U("<"), NONE, NONE, NONE, I(-1), I(-1), I(0))))),
        "version 4",
    ),
    "dtype state as dict": (book(array(dt=dtype(state=b"}"))), "8-tuple"),
    "dtype byte order junk": (book(array(dt=dtype(state=dtype_state(byteorder="x")))), "'x'"),
    "dtype 1-byte with '<'": (
        book(array((8,), dt=dtype("u1", state=dtype_state(byteorder="<")))),
        "byte order '<'",
    ),
    "dtype built twice": (book(array(dt=dtype() + dtype_state() + BUILD)), "built twice"),
    "dtype never built": (book(array(dt=dtype(build=False))), "never given its byte order"),
    "dtype aligned": (book(array(dt=dtype(args=T(U("f8"), TRUE, TRUE)))), "aligned"),
    "dtype from a non-string": (book(array(dt=dtype(args=T(I(8), FALSE, TRUE)))), "type code"),
    # Datetime dtypes ('M8', 'm8') + BUILD killed the previous reader with SIGSEGV; the
    # flags cases above made NumPy print "Internal error" and load corrupt arrays.
    **{
        f"dtype {code}": (book(array(dt=dtype(code))), "is not allowed")
        for code in ("O8", "V8", "c16", "U3", "S8", "M8", "m8", "f16", "i16", "<f8", "f8,f8")
    },
    "array built twice": (
        book(array() + T(I(1), T(I(2)), dtype(), FALSE, B(b"\0" * 16)) + BUILD),
        "built twice",
    ),
    "array never built": (book(reconstruct()), "never given its data"),
    "array state version 2": (book(array(version=2)), "version 2"),
    "array state as dict": (book(array(state=b"}")), "5-tuple"),
    "array data too short": (book(array((2, 2), raw=b"\0" * 31)), "needs 32 bytes"),
    "array data too long": (book(array((2, 2), raw=b"\0" * 33)), "needs 32 bytes"),
    "array negative dimension": (
        book(array(state=T(I(1), T(I(-2)), dtype(), FALSE, B(b"")))),
        "dimension -2",
    ),
    "array huge dimension with a zero": (
        book(array(state=T(I(1), T(I(0), I(10**30)), dtype(), FALSE, B(b"")))),
        "100-bit integer",
    ),
    "array shape as list": (book(array(state=T(I(1), b"]", dtype(), FALSE, B(b"")))), "tuple"),
    "array shape of floats": (
        book(array(state=T(I(1), T(b"G" + struct.pack(">d", 2.0)), dtype(), FALSE, B(b"")))),
        "dimension 2.0",
    ),
    "array 40 dimensions": (
        book(array(state=T(I(1), T(*[I(1)] * 40), dtype(), FALSE, B(b"\0" * 8)))),
        "at most 32",
    ),
    "array fortran flag 2": (book(array(fortran=I(2))), "Fortran flag"),
    "array data as a list": (book(array(state=T(I(1), T(I(1)), dtype(), FALSE, b"]"))), "bytes"),
    "array dtype as a string": (
        book(array(state=T(I(1), T(I(1)), U("f8"), FALSE, B(b"\0" * 8)))),
        "dtype must be a numpy.dtype",
    ),
    "array data text beyond latin-1": (
        book(array(state=T(I(1), T(I(1)), dtype("u1", dtype_state("|")), FALSE, U("\u20ac")))),
        "latin-1",
    ),
    "reconstruct huge initial shape": (book(reconstruct(T(I(1 << 40)))), "dimension"),
    "reconstruct with a dtype (object flag)": (
        book(reconstruct(T(I(1000)), dtype(state=dtype_state(flags=1)))),
        "flags=1",
    ),
    "reconstruct of something else": (
        book(
            G("numpy.core.multiarray", "_reconstruct")
            + T(G("numpy", "dtype"), T(I(0)), b"C\x01b")
            + REDUCE
        ),
        "plain numpy.ndarray",
    ),
    "calling numpy.ndarray": (
        book(G("numpy", "ndarray") + T(T(I(10**9))) + REDUCE),
        "cannot be called",
    ),
    "BUILD on a dict": (
        book(b"}" + b"}" + U("__class__") + NONE + b"s" + BUILD),
        "BUILD on a dict",
    ),
    "BUILD on a list with None": (book(b"]" + NONE + BUILD), "BUILD on a list"),
    "BUILD on the ndarray global": (
        book(G("numpy", "ndarray") + T() + BUILD),
        "BUILD on numpy.ndarray",
    ),
    "REDUCE on a string": (book(U("os") + T() + REDUCE), "REDUCE calls"),
    "frombuffer order K": (
        book(
            G("numpy._core.numeric", "_frombuffer")
            + T(B(b"\0" * 8), dtype(), T(I(1)), U("K"))
            + REDUCE
        ),
        "'C' or 'F'",
    ),
    "frombuffer size mismatch": (
        book(
            G("numpy._core.numeric", "_frombuffer")
            + T(B(b"\0" * 8), dtype(), T(I(2)), U("C"))
            + REDUCE
        ),
        "needs 16 bytes",
    ),
    "frombuffer of text": (
        book(
            G("numpy._core.numeric", "_frombuffer")
            + T(U("\0" * 8), dtype(), T(I(1)), U("C"))
            + REDUCE
        ),
        "must be bytes",
    ),
    "codecs utf-8": (book(G("_codecs", "encode") + T(U("a"), U("utf-8")) + REDUCE), "latin1"),
    "codecs beyond latin-1": (
        book(G("_codecs", "encode") + T(U("\u20ac"), U("latin1")) + REDUCE),
        "beyond latin-1",
    ),
    "bytes with an argument": (
        book(G("builtins", "bytes") + T(I(10**9)) + REDUCE),
        "without arguments",
    ),
    "os.system": (book(G("os", "system") + T(U("true")) + REDUCE), "references os.system"),
    "numpy.load": (book(G("numpy", "load")), "references numpy.load"),
    "numpy scalar": (book(G("numpy.core.multiarray", "scalar")), "multiarray.scalar"),
    "copyreg": (book(G("copyreg", "_reconstructor")), "copyreg._reconstructor"),
    **{
        f"opcode {name}": (book(code), f"opcode {name}")
        for name, code in {
            "INST": b"(ios\nsystem\n",
            "OBJ": b"(" + G("numpy", "ndarray") + b"o",
            "NEWOBJ": G("numpy", "ndarray") + T() + b"\x81",
            "NEWOBJ_EX": G("numpy", "ndarray") + T() + b"}\x92",
            "EXT1": b"\x82\x01",
            "PERSID": b"Pabc\n",
            "BINPERSID": U("x") + b"Q",
            "NEXT_BUFFER": b"\x97",
        }.items()
    },
    "int dict key": (pkl(b"}" + I(1) + array() + b"s"), "must be str or bytes"),
    "float set item": (b"\x80\x04\x8f(" + b"G" + struct.pack(">d", 1.0) + b"\x90.", "must be str"),
    "self-referential list": (pkl(b"]q\x00h\x00a"), "refers to itself"),
    "nesting too deep": (pkl(b"]" * (MAX_DEPTH + 2) + b"a" * (MAX_DEPTH + 1)), "nested more than"),
    "too many opcodes": (pkl(b"]" + b"(" + NONE * MAX_OPCODES + b"e"), "more than 100000 opcodes"),
    "memo index 2**31": (pkl(NONE + b"r" + struct.pack("<I", 1 << 31)), "memo index"),
    "memo get of nothing": (pkl(b"h\x05"), "never stored"),
    "dtype left in the result": (pkl(dtype()), "dtype 'f8' outside an array"),
    "global left in the result": (pkl(G("numpy", "dtype")), "numpy.dtype outside an array"),
    "no STOP": (b"\x80\x03" + NONE, "before seeing STOP"),
    "two results": (pkl(NONE + NONE), "unbalanced stack"),
    "open mark": (pkl(b"(" + NONE), "unbalanced stack"),
    "trailing bytes": (pkl(NONE) + b"xyz", "3 unexpected bytes"),
    "empty file": (b"", "before seeing STOP"),
}

_CHILD = r"""
import hashlib, json, sys
import numpy as np
from mitbadak.files.bookweights import import_book_weights, read_array_pickle

def fingerprint(reference):
    arrays = read_array_pickle(open(reference, "rb").read(), "reference")
    f8 = np.dtype("f8")
    parts = [f"{k}:{v.dtype.str}:{v.shape}:{hashlib.sha256(v.tobytes()).hexdigest()}"
             for k, v in sorted(arrays.items())]
    parts.append(f"f8:{f8.flags}:{f8.hasobject}:{f8.itemsize}:{f8.byteorder}:{f8.isnative}")
    return "|".join(parts)

reference, files = sys.argv[1], sys.argv[2:]
before = fingerprint(reference)
results = {}
for path in files:
    try:
        import_book_weights(path)
        results[path] = ["loaded", ""]
    except Exception as exc:
        results[path] = [type(exc).__name__, str(exc)]
    np.dtype("f8").str, np.arange(3.0).sum()  # NumPy still sane after each
print(json.dumps({"before": before, "after": fingerprint(reference), "results": results}))
"""


def _run_child(reference: Path, files: list[Path]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(reference), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"child crashed (exit {done.returncode}): {done.stderr[-2000:]}"
    assert "Internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_attacks_are_refused_in_a_child_process_and_leave_no_state(tmp_path):
    reference = tmp_path / "reference.pkl"
    reference.write_bytes(FUZZ.seed_pickles()[0])
    files = {}
    for i, (name, (data, _)) in enumerate(sorted(ATTACKS.items())):
        files[name] = tmp_path / f"attack{i}.pkl"
        files[name].write_bytes(data)
    report = _run_child(reference, list(files.values()))
    fresh = _run_child(reference, [])
    problems = []
    for name, path in files.items():
        kind, message = report["results"][str(path)]
        expected = ATTACKS[name][1]
        if (
            kind != "BookPickleError"
            or expected not in message
            or not message.startswith(str(path))
        ):
            problems.append(f"{name}: {kind}: {message} (expected {expected!r})")
    assert not problems, "\n".join(problems)
    # A refused pickle changes nothing: the reference loads as in a fresh process.
    assert report["before"] == report["after"] == fresh["before"]


@pytest.mark.parametrize(
    "name", ["dtype flags 1", "dtype subarray", "reconstruct with a dtype (object flag)"]
)
def test_attack_in_process_raises_the_one_error_type(tmp_path, name):
    path = tmp_path / "a.pkl"
    path.write_bytes(ATTACKS[name][0])
    with pytest.raises(BookPickleError, match="not a readable pickle of NumPy arrays") as info:
        import_book_weights(path)
    assert isinstance(info.value, ModelFileError)


def test_attack_table_streams_are_well_formed_apart_from_the_attack():
    # The assembler's valid book loads, so each attack fails for its own reason only.
    good = book(array((2, 2)))
    arrays = read_array_pickle(good)
    assert sorted(arrays) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert arrays["W1"].shape == (2, 2) and arrays["W1"].dtype == np.dtype("<f8")


# ---------------------------------------------------------------------------------------------
# The opcode table: one handler per opcode the reader runs

_ARG_BYTES = {  # a well-formed argument for each kind of opcode argument pickletools knows
    "uint1": b"\x01",
    "uint2": b"\x01\x00",
    "int4": b"\x01\x00\x00\x00",
    "stringnl_noescape": b"a\n",
    "stringnl_noescape_pair": b"os\nsystem\n",
}


def test_every_opcode_numpy_pickles_use_has_a_handler():
    handlers = bookweights._OPCODE_HANDLERS
    known = {op.name for op in pickletools.opcodes}
    assert set(handlers) <= known, "a handler under a name pickletools does not have"
    used = {
        op.name
        for data in FUZZ.seed_pickles()  # every protocol, dtype, byte order, nesting, memo
        for op, _, _ in pickletools.genops(data)
    }
    assert {"REDUCE", "BUILD", "GLOBAL", "STACK_GLOBAL", "MEMOIZE", "FRAME"} <= used
    assert used <= set(handlers), f"no handler for {sorted(used - set(handlers))}"
    assert all(callable(handler) for handler in handlers.values())


_REFUSED_OPCODES = [op for op in pickletools.opcodes if op.name not in bookweights._OPCODE_HANDLERS]


def test_the_refused_opcodes_are_the_object_and_extension_ones():
    assert sorted(op.name for op in _REFUSED_OPCODES) == [
        "BINPERSID", "EXT1", "EXT2", "EXT4", "INST", "NEWOBJ", "NEWOBJ_EX", "NEXT_BUFFER",
        "OBJ", "PERSID", "READONLY_BUFFER",
    ]  # fmt: skip


@pytest.mark.parametrize("op", _REFUSED_OPCODES, ids=lambda op: op.name)
def test_an_opcode_without_a_handler_is_one_clear_error(op):
    arg = b"" if op.arg is None else _ARG_BYTES[op.arg.name]
    data = b"\x80\x05" + op.code.encode("latin-1") + arg + b"."
    assert next(pickletools.genops(data[2:]))[0] is op  # the stream reaches the opcode intact
    with pytest.raises(BookPickleError) as info:
        read_array_pickle(data, "x.pkl")
    assert str(info.value) == (
        f"x.pkl: not a readable pickle of NumPy arrays (opcode {op.name} is not used by pickles "
        f"of NumPy arrays (opcode {op.name} at byte 2))"
    )


# ---------------------------------------------------------------------------------------------
# Fuzzing


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_mutated_pickles(seed):
    rng = random.Random(seed)
    seeds = FUZZ.seed_pickles()
    assert FUZZ.check_case(FUZZ.mutate(rng, rng.choice(seeds), seeds)) in ("loaded", "refused")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_fuzz_generated_opcode_streams(seed):
    assert FUZZ.check_case(FUZZ.opcode_stream(random.Random(seed))) in ("loaded", "refused")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    try:
        read_array_pickle(data)
    except BookPickleError:
        pass


def test_fuzz_batch_in_a_child_process():
    """A seeded mutation/generation batch in a child: no crash, no hang, no other error type.

    ``MITBADAK_PICKLE_FUZZ`` sets the number of cases (default 6000; the report's offline runs
    used ``python scripts/fuzz_bookweights.py --count 300000``).
    """
    count = int(os.environ.get("MITBADAK_PICKLE_FUZZ", "6000"))
    script = ROOT / "scripts" / "fuzz_bookweights.py"

    def run(n: int, seed: int) -> dict:
        done = subprocess.run(
            [sys.executable, str(script), "--count", str(n), "--seed", str(seed)],
            capture_output=True,
            text=True,
            timeout=120 + count // 100,  # a hang fails the test instead of stalling the suite
        )
        assert done.returncode in (0, 1), f"fuzz child crashed: {done.stderr[-2000:]}"
        return json.loads(done.stdout)

    summary = run(count, 20260)
    assert summary["failures"] == [], summary["failures"][:3]
    assert summary["cases"] == count == summary["loaded"] + summary["refused"]
    assert summary["loaded"] > 0 and summary["refused"] > 0
    assert summary["state_unchanged"]
    assert summary["fingerprint"] == run(0, 0)["fingerprint"]


# ---------------------------------------------------------------------------------------------
# Memory: bombs stay small (each in a child process; peak RSS from resource.getrusage)


@pytest.mark.skipif(sys.platform == "win32", reason="resource.getrusage is POSIX-only")
@pytest.mark.parametrize("name", sorted(BOMBS.BOMBS))
def test_pickle_bombs_stay_bounded(name):
    data = BOMBS.BOMBS[name]()
    result = BOMBS.measure(data, src=str(ROOT / "src"), limit_mb=2048)
    assert result["outcome"].startswith("BookPickleError"), result["outcome"]
    assert result["module"].startswith(str(ROOT / "src"))
    # Before this reader, three of these reached 1 GiB; now the growth is a few times the file.
    assert result["growth_mib"] < 3 * len(data) / (1 << 20) + 32, result


# ---------------------------------------------------------------------------------------------
# The book repository's dataset/mnist.pkl, read by load_mnist / load_split


def _book_mnist(n_train: int = 60000, n_test: int = 10000) -> dict[str, np.ndarray]:
    """A synthetic mnist.pkl as the book's mnist.py writes it (images (N, 784), uint8)."""
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = np.zeros((n, 784), np.uint8)
        images[:, 0] = np.arange(n) % 256  # pixel 0 tells images apart
        images[:, 783] = 255
        out[f"{split}_img"] = images
        out[f"{split}_label"] = (np.arange(n) % 10).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def book_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    (folder / "mnist.pkl").write_bytes(pickle.dumps(_book_mnist(), protocol=-1))  # as the book
    return folder


def test_load_mnist_reads_the_books_mnist_pkl(book_dataset, monkeypatch):
    from mitbadak.files.datasets import load_mnist, load_split

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle itself must never run")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    (x, t), (x_test, t_test) = load_mnist(data_dir=book_dataset, download=False)
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert x_test.shape == (10000, 784) and t.shape == (60000,) and t.dtype == np.uint8
    assert x[257, 0] == np.float32(1 / 255) and x[0, 783] == 1.0 and x[5, 400] == 0.0
    assert t[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert t_test[-1] == 9999 % 10
    (xr, th), _ = load_mnist(
        normalize=False, flatten=False, one_hot_label=True, data_dir=book_dataset, download=False
    )
    assert xr.shape == (60000, 1, 28, 28) and xr.dtype == np.uint8
    assert xr[3, 0, 0, 0] == 3 and xr[3, 0, 27, 27] == 255
    assert th.shape == (60000, 10) and th[13].tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    x1, t1 = load_split("mnist", "test", data_dir=book_dataset, download=False)
    assert np.array_equal(x1, x_test) and np.array_equal(t1, t_test)


@needs_mnist
def test_idx_files_beside_mnist_pkl_win(tmp_path):
    from mitbadak.files.datasets import load_split
    from mitbadak.files.datasets.idx import read_idx

    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes((MNIST_DIR / name).read_bytes())
    (tmp_path / "mnist.pkl").write_bytes(b"not read: the verified IDX files come first")
    x, t = load_split("mnist", "test", normalize=False, data_dir=tmp_path, download=False)
    assert np.array_equal(t, read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz"))


BAD_MNIST_PKLS = {
    "a list": (lambda: [np.zeros(3, np.uint8)], "a dict with keys"),
    "missing key": (
        lambda: {k: v for k, v in _book_mnist(6, 4).items() if k != "test_label"},
        "found ['test_img', 'train_img', 'train_label']",
    ),
    "float images": (
        lambda: {**_book_mnist(6, 4), "train_img": np.zeros((6, 784), np.float32)},
        "train_img must be uint8",
    ),
    "images 28x28": (
        lambda: {**_book_mnist(6, 4), "train_img": np.zeros((6, 28, 28), np.uint8)},
        "(6, 28, 28)",
    ),
    "too few images": (lambda: _book_mnist(6, 4), "train_img must be uint8 of shape (60000, 784)"),
    "label 10": (
        lambda: {**_book_mnist(), "test_label": np.full(10000, 10, np.uint8)},
        "test_label holds label 10; expected 0-9",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MNIST_PKLS))
def test_bad_mnist_pkl_is_refused_clearly(tmp_path, case):
    from mitbadak.core.errors import DataError
    from mitbadak.files.datasets import load_mnist

    make, message = BAD_MNIST_PKLS[case]
    (tmp_path / "mnist.pkl").write_bytes(pickle.dumps(make(), protocol=-1))
    with pytest.raises(DataError) as info:
        load_mnist(data_dir=tmp_path, download=False)
    assert message in str(info.value) and str(info.value).startswith(str(tmp_path / "mnist.pkl"))


def test_hostile_mnist_pkl_never_runs(tmp_path):
    from mitbadak.core.errors import DataError
    from mitbadak.files.datasets import load_mnist

    marker = tmp_path / "marker"
    (tmp_path / "mnist.pkl").write_bytes(pkl(G("os", "system") + T(U(f"touch {marker}")) + REDUCE))
    with pytest.raises(DataError, match="refusing to load: the pickle references os.system"):
        load_mnist(data_dir=tmp_path, download=False)
    assert not marker.exists()


@needs_book_pkl
@needs_mnist
def test_cli_evaluates_the_books_weights_on_the_books_mnist_pkl(tmp_path):
    """Chapter 3 from a clone of the book's repository: sample_weight.pkl + dataset/mnist.pkl."""
    from mitbadak.files.datasets.idx import read_idx

    data = _book_mnist(n_test=10000)
    data["test_img"] = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, 784)
    data["test_label"] = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "mnist.pkl").write_bytes(pickle.dumps(data, protocol=-1))
    done = subprocess.run(
        [sys.executable, "-m", "mitbadak", "evaluate", str(BOOK_PKL), "--data-dir", str(dataset),
         "--out", str(tmp_path / "eval"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "MITBADAK_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["accuracy"] == 0.9352 and report["n"] == 10000


@needs_book_pkl
def test_load_book_weights_default_name_finds_the_downloaded_copy(tmp_path, monkeypatch):
    """The book's `load_book_weights()` in a folder without the file reads the copy in
    $MITBADAK_DATA or the cache's book-weights/ (where `mitbadak data download` puts it);
    a copy in the current folder still wins, as in the book."""
    import shutil

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "book-weights").mkdir(parents=True)
    shutil.copy(BOOK_PKL, tmp_path / "cache" / "book-weights" / "sample_weight.pkl")
    assert load_book_weights()["W2"].shape == (50, 100)
    assert mitbadak.find_book_weights() == tmp_path / "cache" / "book-weights" / "sample_weight.pkl"
    (tmp_path / "sample_weight.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BookPickleError, match="^sample_weight.pkl: "):
        load_book_weights()  # the current folder's file is read first
