"""``mitbadak doctor``: every check's passing and failing branch (failures simulated).

Nothing here touches the internet: mirror probes go to a server on 127.0.0.1, and the full runs
pass ``offline=True`` or local mirror targets.
"""

from __future__ import annotations

import http.server
import importlib.machinery
import io
import json
import shutil
import socket
import sys
import threading
import types
from pathlib import Path

import pytest

from mitbadak import doctor
from mitbadak.cli import main
from mitbadak.doctor import FAIL, OK, SKIP, Check

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty user cache and no $MITBADAK_DATA."""
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    return tmp_path


# --- Python, NumPy, package, core ------------------------------------------------------------


def test_python_version():
    assert doctor.check_python((3, 11, 7)).status == OK
    old = doctor.check_python((3, 9, 18))
    assert old.status == FAIL and old.required
    assert "3.9.18 is too old" in old.summary and "3.10" in old.fix


def test_numpy_versions_and_alias_note(monkeypatch):
    old = doctor.check_numpy("1.22.4")
    assert old.status == FAIL and old.required and "'numpy>=1.23'" in old.fix
    c123 = doctor.check_numpy("1.23.5")
    assert c123.status == OK and "np.int" not in c123.summary
    c2 = doctor.check_numpy("2.0.0rc1")
    assert c2.status == OK and "np.int" in c2.summary and c2.details["aliases_removed"]
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` raises ImportError
    broken = doctor.check_numpy()
    assert broken.status == FAIL and "cannot be imported" in broken.summary


def test_package_shadowed_or_not_installed():
    good = doctor.check_package("0.1.0", "0.1.0", "/site-packages/mitbadak")
    assert good.status == OK
    shadow = doctor.check_package("0.0.9", "0.1.0", "/home/me/old/mitbadak")
    assert shadow.status == FAIL and shadow.required and "shadows" in shadow.summary
    loose = doctor.check_package("0.1.0", "", "/src/mitbadak")
    assert loose.status == FAIL and not loose.required and "pip install -e ." in loose.fix


def test_core_math_and_its_failure(monkeypatch):
    assert doctor.check_core().status == OK
    from mitbadak.nn.networks import FeedForwardNet

    real = FeedForwardNet.gradient
    monkeypatch.setattr(
        FeedForwardNet,
        "gradient",
        lambda self, x, t: {k: v * 2 for k, v in real(self, x, t).items()},
    )
    wrong = doctor.check_core()
    assert wrong.status == FAIL and wrong.required and "differ" in wrong.summary

    def boom(self, x, t):
        raise FloatingPointError("simulated")

    monkeypatch.setattr(FeedForwardNet, "gradient", boom)
    crashed = doctor.check_core()
    assert crashed.status == FAIL and "FloatingPointError: simulated" in crashed.summary


# --- BLAS --------------------------------------------------------------------------------------


def test_blas_branches():
    ok = doctor.check_blas(
        lambda: {"name": "openblas", "version": "0.3.27", "threads": 4, "cpus": 8,
                 "env": {"OMP_NUM_THREADS": "4"}}
    )  # fmt: skip
    assert ok.status == OK
    assert ok.summary == "openblas 0.3.27, 4 threads (OMP_NUM_THREADS=4); 8 CPUs"
    unknown = doctor.check_blas(lambda: {})
    assert unknown.status == FAIL and "threadpoolctl" in unknown.fix and not unknown.required
    no_threads = doctor.check_blas(lambda: {"name": "scipy-openblas", "threads": None, "cpus": 2})
    assert no_threads.summary == (
        "scipy-openblas, threads unknown (pip install threadpoolctl); 2 CPUs"
    )
    ref = doctor.check_blas(lambda: {"name": "blas", "threads": 1, "cpus": 2})
    assert ref.status == FAIL and "reference BLAS" in ref.summary


def test_blas_info_on_this_machine():
    info = doctor._blas_info()
    assert info.get("name")  # NumPy wheels name their BLAS in show_config at least


# --- datasets ----------------------------------------------------------------------------------


def _by_name(checks, name) -> Check:
    return next(c for c in checks if c.name == name)


def test_datasets_missing_and_sample_present(isolated):
    checks = doctor.check_datasets(isolated / "nothing")
    sample = _by_name(checks, "dataset mnist-sample")
    assert sample.status == OK and sample.required and "all 4 files verified" in sample.summary
    mnist = _by_name(checks, "dataset mnist")
    assert mnist.status == FAIL and not mnist.required
    assert "not downloaded" in mnist.summary and mnist.fix.startswith("mitbadak data download")


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is not present")
def test_datasets_partial_and_corrupt(isolated):
    data = isolated / "data"
    data.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED_MNIST / name, data / name)
    partial = _by_name(doctor.check_datasets(data), "dataset mnist")
    assert partial.status == FAIL
    assert "2 of 4 files verified" in partial.summary and str(data) in partial.summary
    assert "train-images-idx3-ubyte.gz" in partial.summary
    (data / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b truncated")
    corrupt = _by_name(doctor.check_datasets(data), "dataset mnist")
    assert corrupt.status == FAIL and "fail their checksum" in corrupt.summary
    assert "train-labels-idx1-ubyte.gz" in corrupt.summary and "delete" in corrupt.fix


def test_corrupt_packaged_sample_breaks_the_core(isolated, monkeypatch):
    fake = isolated / "sample"
    fake.mkdir()
    (fake / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    monkeypatch.setattr("mitbadak.files.datasets.sources.packaged_dir", lambda: fake)
    sample = _by_name(doctor.check_datasets(), "dataset mnist-sample")
    assert sample.status == FAIL and sample.required
    assert not doctor.core_ok([sample])


# --- mirrors (a server on 127.0.0.1) -------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_HEAD(self):  # noqa: N802 - the http.server API
        self.seen.append(self.path)
        code = 200 if self.path.startswith("/ok/") else 403
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mirrors_reachable_forbidden_and_down(local_server):
    down = f"http://127.0.0.1:{_closed_port()}/x/t10k-labels-idx1-ubyte.gz"
    targets = [
        ("mnist", [f"{local_server}/ok/t10k-labels-idx1-ubyte.gz",
                   f"{local_server}/forbidden/t10k-labels-idx1-ubyte.gz"]),
        ("other", [f"{local_server}/forbidden/a.gz", down]),
    ]  # fmt: skip
    mnist, other = doctor.check_mirrors(targets, timeout=2.0)
    assert mnist.status == OK and mnist.summary.startswith("1 of 2 mirrors answer")
    assert "HTTP 403" in mnist.summary
    assert other.status == FAIL and not other.required
    assert "no mirror answers" in other.summary and "HTTP 403" in other.summary
    assert "unreachable" in other.summary and "--data-dir" in other.fix
    assert sorted(_Handler.seen) == [
        "/forbidden/a.gz", "/forbidden/t10k-labels-idx1-ubyte.gz", "/ok/t10k-labels-idx1-ubyte.gz"
    ]  # fmt: skip


def test_mirrors_offline_sends_nothing(local_server):
    checks = doctor.check_mirrors([("mnist", [f"{local_server}/ok/a.gz"])], offline=True)
    assert [(c.name, c.status) for c in checks] == [("mirrors mnist", SKIP)]
    assert _Handler.seen == []


def test_default_mirror_targets_cover_the_registry():
    targets = dict(doctor._default_mirror_targets())
    assert set(targets) == {"mnist", "fashion-mnist"}  # the sample is packaged: no mirrors
    assert all(u.endswith("t10k-labels-idx1-ubyte.gz") for u in targets["mnist"])
    assert len(targets["mnist"]) == 3


# --- extras, font, GPU, cache --------------------------------------------------------------------


def test_extras_installed_missing_and_undeclared():
    declared = {"plots": ["matplotlib"], "images": ["pillow"], "web": ["fastapi", "uvicorn"],
                "export": ["onnx", "onnxruntime"]}  # fmt: skip
    versions = {"matplotlib": "3.9.0", "PIL": "10.0.0", "onnx": "1.16.0", "fastapi": "0.110"}
    checks = doctor.check_extras(declared, versions.get)
    by = {c.name: c for c in checks}
    assert [c.name for c in checks] == [f"extra {e}" for e in doctor.EXTRAS]
    assert by["extra plots"].status == OK and by["extra plots"].summary == "matplotlib 3.9.0"
    assert by["extra images"].summary == "PIL 10.0.0"  # distribution pillow, module PIL
    web = by["extra web"]
    assert web.status == FAIL and web.summary == "missing uvicorn (have fastapi 0.110)"
    assert web.fix == "pip install 'mitbadak[web]'"
    assert by["extra export"].status == FAIL and "onnxruntime" in by["extra export"].summary
    assert by["extra progress"].status == FAIL  # not declared: falls back to tqdm, missing here
    assert by["extra gpu"].status == SKIP and "cupy" in by["extra gpu"].fix  # never a failure
    assert not any(c.required for c in checks)


def test_extras_undeclared_and_unknown_is_skipped():
    (web,) = [c for c in doctor.check_extras({}, lambda m: "1.0") if c.name == "extra web"]
    assert web.status == SKIP and "not an extra" in web.summary


def test_declared_extras_read_from_the_installed_metadata():
    declared = doctor._declared_extras()
    assert "matplotlib" in declared.get("plots", [])


def test_hangul_font_found_and_missing(monkeypatch):
    assert doctor.check_hangul_font(lambda: "NanumGothic").status == OK
    missing = doctor.check_hangul_font(lambda: None)
    assert missing.status == FAIL and "fonts-nanum" in missing.fix and not missing.required
    from mitbadak.views import fonts

    monkeypatch.setattr(fonts, "_find", lambda: None)  # the library's own search finds nothing
    assert doctor.check_hangul_font().status == FAIL
    monkeypatch.setattr(fonts, "_find", lambda: ("NanumGothic", "/x/NanumGothic.ttf"))
    check = doctor.check_hangul_font()
    assert check.status == OK and check.summary == "NanumGothic"


def test_hangul_font_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "matplotlib" else real(n, *a)
    )
    assert doctor.check_hangul_font().status == SKIP


def _fake_cupy(count=None, error=None):
    def get_count():
        if error:
            raise error
        return count

    mod = types.ModuleType("cupy")
    mod.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    mod.__version__ = "13.0.0"
    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    return mod


def test_gpu_branches(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "cupy" else real(n, *a)
    )
    absent = doctor.check_gpu()
    assert absent.status == SKIP and "not needed" in absent.summary
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count=2))
    assert doctor.check_gpu().summary == "2 GPU(s) via CuPy 13.0.0"
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count=0))
    none = doctor.check_gpu()
    assert none.status == FAIL and not none.required and "nvidia-smi" in none.fix
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(error=RuntimeError("CUDA driver too old")))
    broken = doctor.check_gpu()
    assert broken.status == FAIL and "CUDA driver too old" in broken.summary


def test_cache_size_and_problems(tmp_path):
    cache = tmp_path / "cache"
    assert "not created yet" in doctor.check_cache(cache).summary
    (cache / "mnist").mkdir(parents=True)
    (cache / "mnist" / "a.gz").write_bytes(b"x" * 2048)
    (cache / "b").write_bytes(b"y" * 1000)
    ok = doctor.check_cache(cache)
    assert ok.status == OK and ok.summary.endswith(": 3.0 KB in 2 files")
    assert ok.details["bytes"] == 3048
    afile = tmp_path / "afile"
    afile.write_text("")
    assert doctor.check_cache(afile).status == FAIL
    under_a_file = doctor.check_cache(afile / "cache")
    assert under_a_file.status == FAIL and "MITBADAK_CACHE" in under_a_file.fix


# --- everything, and the CLI --------------------------------------------------------------------


def test_run_checks_offline_and_core_ok(isolated):
    checks = doctor.run_checks(offline=True)
    names = [c.name for c in checks]
    assert names[:5] == ["python", "numpy", "mitbadak", "core", "blas"]
    assert names[-3:] == ["hangul font", "gpu", "cache"]
    assert all(c.status == SKIP for c in checks if c.name.startswith("mirrors"))
    assert doctor.core_ok(checks)
    assert not doctor.core_ok([*checks, Check("x", FAIL, "broken", required=True)])
    assert doctor.core_ok([*checks, Check("y", FAIL, "optional", required=False)])


def test_run_checks_stops_without_numpy(monkeypatch):
    monkeypatch.setattr(doctor, "check_numpy", lambda: Check("numpy", FAIL, "gone", required=True))
    checks = doctor.run_checks(offline=True)
    assert [c.name for c in checks] == ["python", "numpy"]


def test_run_checks_with_local_mirrors(isolated, local_server):
    checks = doctor.run_checks(mirror_targets=[("mnist", [f"{local_server}/ok/a.gz"])])
    assert _by_name(checks, "mirrors mnist").status == OK


def test_cli_doctor_text_and_json(isolated, capsys):
    assert main(["doctor", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "✔ python" in out and "✔ dataset mnist-sample" in out
    assert "not checked (--offline)" in out
    assert out.rstrip().splitlines()[-1].startswith("mitbadak's core works")
    assert main(["doctor", "--offline", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["core_ok"] is True
    assert {c["name"] for c in data["checks"]} >= {"python", "numpy", "cache", "hangul font"}
    assert all(set(c) >= {"status", "summary", "fix", "required"} for c in data["checks"])


def test_cli_doctor_fails_when_the_core_does(isolated, monkeypatch, capsys):
    real = doctor.check_python
    monkeypatch.setattr(doctor, "check_python", lambda: real((3, 8, 0)))
    assert main(["doctor", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "✖ python" in out and "fix: install Python 3.10+" in out
    assert "core does NOT work: fix python first" in out
    assert main(["doctor", "--offline", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["core_ok"] is False


def test_cli_doctor_marks_on_a_terminal_that_cannot_show_them(isolated, monkeypatch):
    buf = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buf, encoding="cp949"))
    assert main(["doctor", "--offline"]) == 0
    sys.stdout.flush()
    text = buf.getvalue().decode("cp949")
    assert "OK python" in text and "✔" not in text


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "1e309", "1e6", "301", "abc"])
def test_cli_doctor_rejects_a_bad_timeout(capsys, value):
    """Refused while parsing (a finite number of seconds in (0, 300]), before any check runs."""
    with pytest.raises(SystemExit) as info:
        main(["doctor", "--offline", f"--timeout={value}"])
    assert info.value.code == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(errors) == 1 and errors[0].startswith("mitbadak: error: argument --timeout: ")
    assert repr(value) in errors[0]


def test_cli_doctor_timeout_accepts_the_range():
    from mitbadak.cli._args import MAX_TIMEOUT_SECONDS, timeout_seconds

    assert timeout_seconds("0.5") == 0.5 and timeout_seconds("300") == MAX_TIMEOUT_SECONDS == 300


# --- the book's weights (optional) ----------------------------------------------------------------

BOOK_PKL = SHARED_MNIST.parent / "sample_weight.pkl"


def test_book_weights_missing_says_how_to_get_them(isolated):
    check = doctor.check_book_weights(isolated / "nothing")
    assert check.name == "book weights" and check.status == FAIL and not check.required
    assert "sample_weight.pkl not found" in check.summary
    assert str(isolated / "cache" / "book-weights") in check.summary
    assert check.fix.startswith("mitbadak data download book-weights")
    checks = doctor.run_checks(offline=True)
    assert _by_name(checks, "book weights").status == FAIL
    assert doctor.core_ok(checks)  # not fatal


def test_book_weights_corrupt_copy_is_named(isolated):
    folder = isolated / "cache" / "book-weights"
    folder.mkdir(parents=True)
    (folder / "sample_weight.pkl").write_bytes(b"\x80\x04 not the book's file")
    check = doctor.check_book_weights()
    assert check.status == FAIL and "fails its checksum" in check.summary
    assert "delete" in check.fix and "mitbadak data download book-weights" in check.fix


@pytest.mark.skipif(not BOOK_PKL.is_file(), reason="../shared/data/sample_weight.pkl absent")
def test_book_weights_present_and_verified(isolated, capsys):
    check = doctor.check_book_weights(BOOK_PKL.parent)
    assert check.status == OK and str(BOOK_PKL) in check.summary
    assert main(["doctor", "--offline", "--data-dir", str(BOOK_PKL.parent)]) == 0
    assert "✔ book weights" in capsys.readouterr().out
