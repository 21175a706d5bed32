"""mitbadak.core.backend: array modules, devices, moving data (on the strict stand-in; no GPU
needed)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import strict_xp

from mitbadak.core import backend
from mitbadak.core.backend import (
    DeviceError,
    array_namespace,
    device_of,
    draw_on_host,
    resolve_device,
    to_device,
    to_host,
)
from mitbadak.core.errors import MitbadakError


def awkward_floats(dtype) -> np.ndarray:
    """Values a lossy transfer would change: signed zero, subnormals, inf, nan, extremes."""
    info = np.finfo(dtype)
    special = np.array(
        [0.0, -0.0, info.tiny, info.tiny / 8, -info.max, info.max, np.inf, -np.inf, np.nan, 1 / 3],
        dtype=dtype,
    )
    rng = np.random.default_rng(7)
    return np.concatenate([special, rng.standard_normal(54).astype(dtype)]).reshape(8, 8)


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


# --- the stand-in itself -----------------------------------------------------------------------


def test_stand_in_refuses_silent_conversion_like_cupy():
    x = strict_xp.asarray([1.0, -2.0])
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError):
        np.maximum(x, 0)
    with pytest.raises(TypeError):
        np.sum(x)
    with pytest.raises(TypeError, match="Unsupported type numpy.ndarray"):
        x + np.ones(2)
    assert float((x * 2).sum()) == -2.0  # its own operations work


# --- array_namespace ---------------------------------------------------------------------------


def test_namespace_of_host_data_is_numpy():
    assert array_namespace(np.zeros(3)) is np
    assert array_namespace([1, 2], 3.0, None, np.float32(1)) is np
    assert array_namespace() is np
    assert array_namespace(np.zeros(2), [[1.0]]) is np


def test_namespace_of_strict_arrays_is_the_strict_module():
    x = strict_xp.asarray(np.ones((2, 3)))
    assert array_namespace(x) is strict_xp
    assert array_namespace(x, x.T, 2.0, None) is strict_xp


def test_mixing_libraries_is_refused():
    with pytest.raises(TypeError, match="different array libraries.*to_device"):
        array_namespace(np.zeros(2), strict_xp.zeros(2))


def test_unknown_objects_are_refused():
    with pytest.raises(TypeError, match="expected NumPy, CuPy or PyTorch"):
        array_namespace(object())


def test_namespace_of_torch_tensors_is_array_api_compat():
    torch = pytest.importorskip("torch", reason="torch not installed (make test installs it)")
    compat = pytest.importorskip("array_api_compat")
    t = torch.zeros(3)
    assert array_namespace(t) is compat.array_namespace(t)
    assert device_of(t) == "cpu"
    back = to_host(torch.tensor([1.5, -0.0], dtype=torch.float32))
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    assert bits(back) == bits(np.array([1.5, -0.0], dtype=np.float32))


# --- to_device / to_host -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_exact(dtype):
    x = awkward_floats(dtype)
    d = to_device(x, strict_xp)
    assert isinstance(d, strict_xp.StrictArray)
    assert d.dtype == dtype and d.shape == x.shape
    back = to_host(d)
    assert isinstance(back, np.ndarray) and back.dtype == dtype
    assert bits(back) == bits(x)
    assert back is not x


def test_round_trip_of_nested_dicts_and_labels():
    params = {
        "W1": awkward_floats(np.float32),
        "b1": np.arange(8, dtype=np.float32),
        "state": {"v": np.full((2, 2), -0.0), "t": np.array([3, 1, 4], dtype=np.int64)},
    }
    moved = to_device(params, strict_xp)
    assert isinstance(moved["state"]["t"], strict_xp.StrictArray)
    assert to_device(moved, strict_xp)["W1"] is moved["W1"]  # already there: no copy
    back = to_host(moved)
    assert set(back) == set(params) and set(back["state"]) == {"v", "t"}
    for got, want in [(back["W1"], params["W1"]), (back["b1"], params["b1"]),
                      (back["state"]["v"], params["state"]["v"]),
                      (back["state"]["t"], params["state"]["t"])]:
        assert got.dtype == want.dtype and bits(got) == bits(want)


def test_host_data_stays_as_it_is():
    x = np.ones(3)
    assert to_host(x) is x
    assert to_device(x, "cpu") is x
    assert to_host({"a": x})["a"] is x
    assert to_host(2.5) == 2.5
    assert device_of(x) == "cpu" and device_of(strict_xp.zeros(1)) == "other"


def test_to_host_refuses_what_it_cannot_move():
    with pytest.raises(TypeError, match="cannot bring"):
        to_host(types.SimpleNamespace())


def test_draw_on_host_gives_the_same_numbers_on_every_device():
    cpu = draw_on_host(np.random.default_rng(42), "standard_normal", (4, 3), dtype=np.float32)
    dev = draw_on_host(
        np.random.default_rng(42), "standard_normal", (4, 3), dtype=np.float32, device=strict_xp
    )
    assert isinstance(dev, strict_xp.StrictArray)
    assert bits(to_host(dev)) == bits(cpu)
    assert cpu[0, 0] == np.float32(np.random.default_rng(42).standard_normal(dtype=np.float32))
    perm = draw_on_host(np.random.default_rng(0), "permutation", 10, device=strict_xp)
    assert sorted(to_host(perm).tolist()) == list(range(10))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        draw_on_host(np.random.RandomState(0), "standard_normal", 3)


# --- resolve_device ----------------------------------------------------------------------------


def fake_cupy(count: int | Exception) -> types.ModuleType:
    """A module named cupy whose arrays are the strict stand-in's, with ``count`` GPUs."""
    cp = types.ModuleType("cupy")

    def get_count():
        if isinstance(count, Exception):
            raise count
        return count

    cp.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_count))
    cp.asarray = strict_xp.asarray
    cp.asnumpy = lambda x: x.get()
    return cp


def no_cupy():
    raise ImportError("No module named 'cupy'")


def test_cpu_is_always_there():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(" CPU ") == "cpu"


@pytest.mark.parametrize("bad", ["tpu", "", "cuda:0", None, 1])
def test_unknown_device_names_are_refused(bad):
    with pytest.raises(DeviceError, match="device must be 'cpu', 'gpu' or 'auto', got"):
        resolve_device(bad)


def test_gpu_without_cupy_is_a_one_line_error_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", no_cupy)
    with pytest.raises(DeviceError) as info:
        resolve_device("gpu")
    message = str(info.value)
    assert isinstance(info.value, MitbadakError)
    assert "\n" not in message
    assert "CuPy is not installed" in message
    assert "pip install 'mitbadak[gpu]'" in message
    assert resolve_device("auto") == "cpu"


def test_gpu_without_a_device_says_so(monkeypatch):
    monkeypatch.setattr(
        backend, "_import_cupy", lambda: fake_cupy(RuntimeError("cudaErrorNoDevice\nmore"))
    )
    with pytest.raises(DeviceError, match="CuPy finds no CUDA GPU .*cudaErrorNoDevice") as info:
        resolve_device("gpu")
    assert "\n" not in str(info.value)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(backend, "_import_cupy", lambda: fake_cupy(0))
    with pytest.raises(DeviceError, match="CuPy finds no CUDA GPU"):
        resolve_device("gpu")


def test_gpu_with_a_device_moves_data_through_cupy(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: fake_cupy(1))
    assert resolve_device("auto") == "gpu"
    assert resolve_device("gpu") == "gpu"
    x = awkward_floats(np.float32)
    d = to_device({"x": x}, "gpu")["x"]
    assert isinstance(d, strict_xp.StrictArray)
    assert bits(to_host(d)) == bits(x)


def test_to_device_gpu_without_cupy_raises_the_device_error(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", no_cupy)
    with pytest.raises(DeviceError, match="mitbadak\\[gpu\\]"):
        to_device(np.zeros(2), "gpu")
    assert isinstance(to_device(np.zeros(2), "auto"), np.ndarray)


def test_doctor_reads_the_gpu_extra_as_the_cupy_module():
    from mitbadak import doctor

    declared = {"gpu": ["cupy-cuda12x", "array-api-compat"]}
    versions = {"cupy": "14.0.0", "array_api_compat": "1.16.0"}
    (gpu,) = [c for c in doctor.check_extras(declared, versions.get) if c.name == "extra gpu"]
    assert gpu.status == doctor.OK and gpu.summary == "cupy 14.0.0, array_api_compat 1.16.0"
    (gpu,) = [c for c in doctor.check_extras(declared, {}.get) if c.name == "extra gpu"]
    assert gpu.status == doctor.SKIP and gpu.fix == "pip install 'mitbadak[gpu]'"
