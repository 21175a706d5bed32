"""Where arrays live: the array module of data, devices, and moving data between them.

The readable code picks its array module from the data it is given, as the book's sequels do
(``xp = array_namespace(x)``), never from a module-level flag. NumPy is the only hard dependency;
CuPy (the ``gpu`` extra) and PyTorch tensors are optional and imported only when data of theirs
is seen or a GPU is asked for.

The data contract (see ``docs/gpu.md``):

* Data moves to the device **once per run** (``to_device`` of the whole training set, the
  parameters and the optimizer's state), never per batch: batches are gathered on the device by
  indexing the device copy with a device index array.
* Random numbers are drawn on the **host** with NumPy's ``Generator`` and then moved
  (``draw_on_host``), so the same seed gives the same initial weights and the same batch order
  on the CPU and the GPU.
* Validation, model files and checkpoints stay NumPy on the host: ``to_host`` before saving, so a
  file written by a GPU run is byte-identical to one written by a CPU run with the same numbers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from mitbadak.core.errors import MitbadakError

__all__ = [
    "DEVICES",
    "GPU_CUDA13_HINT",
    "GPU_INSTALL_HINT",
    "DeviceError",
    "array_namespace",
    "copy_array",
    "device_name",
    "device_namespace",
    "device_of",
    "draw_on_host",
    "gpu_status",
    "is_host_array",
    "resolve_device",
    "to_device",
    "to_host",
]

DEVICES = ("cpu", "gpu", "auto")
GPU_INSTALL_HINT = "pip install 'mitbadak[gpu]'"  # CuPy for CUDA 12
GPU_CUDA13_HINT = "pip install 'mitbadak[gpu-cuda13]'"  # CuPy for CUDA 13

# Python values that NumPy takes as they are (they carry no device).
_HOST_SCALARS = (bool, int, float, complex, np.generic)


class DeviceError(MitbadakError):
    """A device was asked for that this machine cannot give (no CuPy, no CUDA GPU, bad name)."""


# --- which array library -------------------------------------------------------------------------


def _root_module(x: Any) -> str:
    return type(x).__module__.split(".", 1)[0]


def is_host_array(x: Any) -> bool:
    """True for NumPy arrays and scalars, Python numbers and strings, and lists/tuples of them
    (host data: NumPy's own checks word what is wrong with strings or ragged lists)."""
    if x is None or isinstance(x, (np.ndarray, *_HOST_SCALARS, str, bytes)):
        return True
    if isinstance(x, (list, tuple)):
        return all(is_host_array(item) for item in x)
    return False


def _import_cupy() -> ModuleType:
    """Import CuPy (a separate function so tests can stand in for it)."""
    return importlib.import_module("cupy")


def _compat() -> ModuleType | None:
    try:
        return importlib.import_module("array_api_compat")
    except ImportError:
        return None


def _namespace_of(x: Any) -> ModuleType:
    root = _root_module(x)
    if root == "cupy":
        # CuPy itself (not a wrapper): it reads like NumPy and carries ElementwiseKernel & co.
        return _import_cupy()
    compat = _compat()
    if root == "torch":
        if compat is None:
            raise DeviceError(
                "PyTorch tensors need array-api-compat for mitbadak's math: "
                f"{GPU_INSTALL_HINT} (or pip install array-api-compat)"
            )
        return compat.array_namespace(x)
    if hasattr(x, "__array_namespace__"):
        return x.__array_namespace__()
    if compat is not None:
        try:
            return compat.array_namespace(x)
        except TypeError:
            pass
    raise TypeError(
        "expected NumPy, CuPy or PyTorch arrays (or an array API array), "
        f"got {type(x).__module__}.{type(x).__qualname__}"
    )


def array_namespace(*arrays: Any) -> ModuleType:
    """The array module (``xp``) of the given data: ``numpy`` for NumPy and plain Python data.

    CuPy arrays give the ``cupy`` module, PyTorch tensors the ``array_api_compat.torch`` namespace
    (needs ``array-api-compat``), other array API arrays their ``__array_namespace__()``. ``None``
    and Python scalars are neutral. Arrays of two different libraries raise ``TypeError``:
    mixing them is the bug CuPy users meet as "Unsupported type numpy.ndarray".
    """
    found: list[tuple[ModuleType, Any]] = []
    for x in arrays:
        if x is None or isinstance(x, _HOST_SCALARS):
            continue
        ns = np if is_host_array(x) else _namespace_of(x)
        if all(ns is not seen for seen, _ in found):
            found.append((ns, x))
    if not found:
        return np
    if len(found) > 1:
        kinds = ", ".join(f"{type(x).__module__}.{type(x).__qualname__}" for _, x in found)
        raise TypeError(
            f"arrays from different array libraries cannot be mixed: {kinds}; "
            "move them to one device first (mitbadak.core.backend.to_device / to_host)"
        )
    return found[0][0]


def copy_array(x: Any) -> Any:
    """A copy of ``x`` on its own device: ``x.copy()`` (NumPy, CuPy), ``x.clone()`` (PyTorch)."""
    return x.clone() if _root_module(x) == "torch" else x.copy()


def device_of(x: Any) -> str:
    """``"cpu"`` for host data, ``"gpu"`` for CuPy arrays and CUDA tensors, else ``"other"``."""
    if is_host_array(x):
        return "cpu"
    root = _root_module(x)
    if root == "cupy":
        return "gpu"
    if root == "torch":
        return "gpu" if getattr(x, "is_cuda", False) else "cpu"
    return "other"


# --- which device --------------------------------------------------------------------------------


def gpu_status() -> tuple[bool, str]:
    """(whether CuPy imports and sees a CUDA GPU, a short reason when not / the GPU's name)."""
    try:
        cp = _import_cupy()
    except ImportError:
        return False, "CuPy is not installed"
    except Exception as exc:  # a broken CuPy install (wrong CUDA build) raises other things
        return False, f"CuPy does not import ({type(exc).__name__}: {exc})".splitlines()[0]
    try:
        count = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError without a driver, among others
        return False, f"CuPy finds no CUDA GPU ({type(exc).__name__}: {exc})".splitlines()[0]
    if count < 1:
        return False, "CuPy finds no CUDA GPU"
    return True, f"{count} CUDA GPU(s)"


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"gpu"`` for ``device`` in ``"cpu" | "gpu" | "auto"``.

    ``"auto"`` is ``"gpu"`` when CuPy imports and finds a CUDA GPU, else ``"cpu"``. ``"gpu"``
    without CuPy or without a GPU raises a one-line ``DeviceError`` with the install hint.
    """
    if not isinstance(device, str) or device.strip().lower() not in DEVICES:
        raise DeviceError(f"device must be 'cpu', 'gpu' or 'auto', got {device!r}")
    device = device.strip().lower()
    if device == "cpu":
        return "cpu"
    ok, reason = gpu_status()
    if ok:
        return "gpu"
    if device == "auto":
        return "cpu"
    raise DeviceError(
        f"device 'gpu' needs CuPy and a CUDA GPU: {reason}; "
        f"install the GPU extra with {GPU_INSTALL_HINT} on a machine with an NVIDIA GPU "
        f"({GPU_CUDA13_HINT} where nvidia-smi shows CUDA 13)"
    )


# --- moving data ---------------------------------------------------------------------------------


def _target(device: str | ModuleType) -> ModuleType:
    """The array module that ``device`` names: numpy for cpu, cupy for gpu, or a module as is."""
    if isinstance(device, ModuleType):
        return device
    resolved = resolve_device(device)
    return np if resolved == "cpu" else _import_cupy()


def device_namespace(device: str | ModuleType) -> ModuleType:
    """The array module that ``device`` names: ``numpy`` for ``"cpu"``, ``cupy`` for ``"gpu"``,
    ``"auto"`` resolved (:func:`resolve_device`), an array module (a test's stand-in,
    ``array_api_compat.torch``) as it is. ``"gpu"`` without CuPy or a GPU raises DeviceError."""
    return _target(device)


def device_name(xp: ModuleType) -> str:
    """How ``net.device`` names the array module ``xp``: ``"cpu"`` (NumPy), ``"gpu"`` (CuPy), else
    the module's name (e.g. ``"array_api_compat.torch"``)."""
    if xp is np:
        return "cpu"
    name = getattr(xp, "__name__", type(xp).__name__)
    return "gpu" if name.split(".", 1)[0] == "cupy" else name


def _map(data: Any, fn) -> Any:
    if isinstance(data, Mapping):
        return {key: _map(value, fn) for key, value in data.items()}
    return fn(data)


def to_device(data: Any, device: str | ModuleType) -> Any:
    """``data`` (an array or a dict of arrays, nested) on ``device``, dtypes and values unchanged.

    ``device`` is ``"cpu"``, ``"gpu"``, ``"auto"`` or an array module (``cupy``, an array API
    namespace such as a test's stand-in). Arrays already there are returned as they are (no
    copy). Call it once per run for the data set, parameters and optimizer state, not per batch.
    """
    xp = _target(device)
    if xp is np:
        return to_host(data)

    def move(x: Any) -> Any:
        if x is None or isinstance(x, _HOST_SCALARS):
            return x
        if not is_host_array(x):
            if array_namespace(x) is xp:
                return x
            x = to_host(x)  # device to another device goes through the host
        return xp.asarray(np.asarray(x))

    return _map(data, move)


def to_host(data: Any) -> Any:
    """``data`` (an array or a dict of arrays, nested) as NumPy arrays on the host.

    NumPy arrays come back as they are (no copy); CuPy arrays through ``cupy.asnumpy``, PyTorch
    tensors through ``tensor.detach().cpu().numpy()``, other array API arrays through DLPack;
    those are copies the caller owns. Values and dtypes are unchanged (bit-exact).
    """

    def host(x: Any) -> Any:
        if is_host_array(x):
            return x
        root = _root_module(x)
        if root == "cupy":
            return _import_cupy().asnumpy(x)
        if root == "torch":
            return x.detach().cpu().numpy()
        if hasattr(x, "__dlpack__"):
            return np.array(np.from_dlpack(x), copy=True)
        raise TypeError(
            f"cannot bring {type(x).__module__}.{type(x).__qualname__} to the host: "
            "expected a NumPy, CuPy or PyTorch array, or one that supports DLPack"
        )

    return _map(data, host)


def draw_on_host(
    rng: np.random.Generator, method: str, *args: Any, device: str | ModuleType = "cpu", **kwargs
) -> Any:
    """``getattr(rng, method)(*args, **kwargs)`` drawn with NumPy on the host, then moved.

    Keeps randomness reproducible across devices: ``draw_on_host(rng, "standard_normal",
    (784, 50), device="gpu")`` holds the same numbers as on the CPU, for the same seed.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return to_device(getattr(rng, method)(*args, **kwargs), device)
