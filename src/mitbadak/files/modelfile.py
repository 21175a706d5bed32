"""Model files: trained networks saved safely (the book's pickle:
:mod:`mitbadak.files.bookweights`).

Format (``FORMAT_NAME``, version ``FORMAT_VERSION``): one ``.npz`` file, i.e. a zip archive of
``.npy`` members. Each array is a member named after it (``W1.npy``, ``b1.npy``, ...), and the JSON
metadata is stored as UTF-8 bytes in a uint8 array, member ``__metadata__.npy``, so a single file
carries both. Nothing is ever unpickled: object arrays are refused on write and on read.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so
an interrupted save leaves the previous file untouched. Every read validates the container
(zip structure, CRCs, ``.npy`` headers, sizes, metadata) and, for models, each parameter's
name, shape, dtype and finiteness against the architecture the metadata states; any problem is
a :class:`~mitbadak.core.errors.ModelFileError` naming the file and what was wrong.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mitbadak.core.atomic import atomic_write
from mitbadak.core.backend import to_host
from mitbadak.core.errors import ModelFileError
from mitbadak.core.version import __version__

# The book's pickle lives in its own module; these names stay importable from here.
from mitbadak.files.bookweights import BOOK_WEIGHTS_SHA256, import_book_weights, load_book_weights
from mitbadak.nn.layers import ACTIVATIONS
from mitbadak.nn.networks import (
    FeedForwardNet,
    buffer_shapes,
    network_from_config,
    param_shapes,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BOOK_WEIGHTS_SHA256",
    "save_arrays",
    "load_arrays",
    "save_model",
    "load_model",
    "read_metadata",
    "import_book_weights",
    "load_book_weights",
]

FORMAT_NAME = "mitbadak-npz"
FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"
#: Model files keep a network's buffers (non-trainable layer state) as ``buffer/NAME`` members.
BUFFER_PREFIX = "buffer/"

_MAX_MEMBERS = 4096
_MAX_MEMBER_BYTES = 1 << 31  # 2 GiB per array: far above any chapter 3-5 network
_MAX_METADATA_BYTES = 16 << 20
_MAX_NPY_HEADER_BYTES = 10000  # NumPy's own limit; real headers are about 128 bytes
_READ_CHUNK = 1 << 20
# Deflated weights shrink by a few per cent; zeros a thousandfold. Beyond this ratio (plus a small
# allowance for tiny, highly compressible arrays) a member is treated as a zip bomb.
_MAX_DEFLATE_RATIO = 100
_DEFLATE_SLACK_BYTES = 1 << 20
_TOTAL_SLACK_BYTES = 64 << 20
_FEEDFORWARD_ARCHITECTURES = ("TwoLayerNet", "MultiLayerNet", "FeedForwardNet")


def _library_version() -> str:
    return __version__


# ---------------------------------------------------------------------------------------------
# Writing


def _json_default(obj: Any) -> Any:
    """Make NumPy scalars/arrays and paths JSON-serialisable; anything else is an error."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _check_array_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"array names must be non-empty strings, got {name!r}")
    parts = name.split("/")
    if (
        name == METADATA_KEY
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(f"invalid array name {name!r}: use letters, digits, '_', '.', '-' and '/'")
    return name


def save_arrays(
    path: str | os.PathLike, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``arrays`` (name -> numeric array) and JSON ``metadata`` to one ``.npz``, atomically.

    The stored metadata is ``metadata`` plus ``format`` ({name, version}), ``mitbadak_version``,
    ``saved_at`` (UTC, ISO 8601) and ``arrays`` ({name: {shape, dtype}}). Returns the path written.
    Raises ``ValueError`` for object arrays, bad names or metadata that JSON cannot represent.
    """
    path = Path(path)
    checked: dict[str, np.ndarray] = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise ValueError(
                f"array {name!r} holds Python objects (dtype {arr.dtype}); expected numbers"
            )
        checked[_check_array_name(name)] = arr
    meta = dict(metadata or {})
    if not all(isinstance(k, str) for k in meta):
        raise ValueError("metadata keys must be strings")
    meta.update(
        format={"name": FORMAT_NAME, "version": FORMAT_VERSION},
        mitbadak_version=_library_version(),
        saved_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        arrays={k: {"shape": list(a.shape), "dtype": a.dtype.str} for k, a in checked.items()},
    )
    try:
        meta_bytes = json.dumps(meta, default=_json_default, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata cannot be stored as JSON: {exc}") from None
    if len(meta_bytes) > _MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata is {len(meta_bytes)} bytes as JSON; the limit is {_MAX_METADATA_BYTES}"
        )

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            members = {**checked, METADATA_KEY: np.frombuffer(meta_bytes, dtype=np.uint8)}
            for name, arr in members.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    atomic_write(path, write)
    return path


# ---------------------------------------------------------------------------------------------
# Reading


def _read_exactly(stream: BinaryIO, n: int, where: str, what: str) -> bytes:
    """``n`` bytes from ``stream`` (a zip member), or a ModelFileError if it ends first."""
    data = stream.read(n)
    if len(data) != n:
        raise ModelFileError(f"{where}: truncated {what} ({len(data)} of {n} bytes)")
    return data


def _read_npy_header(stream: BinaryIO, where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header length) of a ``.npy`` stream; no array data is read.

    The header is read into a bounded buffer and handed to NumPy's parser, so a header that claims
    to be gigabytes long is refused after reading at most its 12-byte preamble.
    """
    magic = _read_exactly(stream, 8, where, ".npy header")
    if magic[:6] != b"\x93NUMPY":
        raise ModelFileError(f"{where}: not a .npy array (its first bytes are {magic[:6]!r})")
    version = (magic[6], magic[7])
    if version == (1, 0):
        size_bytes = _read_exactly(stream, 2, where, ".npy header")
        header_len = int.from_bytes(size_bytes, "little")
    elif version == (2, 0):
        size_bytes = _read_exactly(stream, 4, where, ".npy header")
        header_len = int.from_bytes(size_bytes, "little")
    else:
        raise ModelFileError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")
    if header_len > _MAX_NPY_HEADER_BYTES:
        raise ModelFileError(
            f"{where}: .npy header claims {header_len} bytes; at most {_MAX_NPY_HEADER_BYTES}"
        )
    header = _read_exactly(stream, header_len, where, ".npy header")
    buf = io.BytesIO(magic + size_bytes + header)
    np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
    if dtype.hasobject:
        raise ModelFileError(
            f"{where}: holds Python objects (dtype {dtype}); refused, as that needs pickle"
        )
    if dtype.itemsize == 0 or dtype.subdtype is not None:
        raise ModelFileError(f"{where}: has an unsupported dtype {dtype}")
    return tuple(shape), bool(fortran), dtype, len(magic) + len(size_bytes) + header_len


# (shape, dtype) of a member's header -> raises ModelFileError if it is not what the caller expects
_HeaderCheck = Callable[[tuple[int, ...], np.dtype], None]


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, check: _HeaderCheck | None = None
) -> np.ndarray:
    """Read one ``.npy`` member: header first, then exactly the bytes it announces.

    ``check`` sees the header's shape and dtype before any array data is read. The data is
    streamed into one preallocated array whose size the header states and the zip's declared
    size confirms (both checked beforehand), so memory never exceeds the array itself, however
    far the compressed stream would expand. zipfile checks the CRC-32 at the end of the stream.
    """
    try:
        with zf.open(info) as stream:
            shape, fortran, dtype, offset = _read_npy_header(stream, where)
            if check is not None:
                check(shape, dtype)
            count = math.prod(shape)
            expected = offset + count * dtype.itemsize
            if info.file_size != expected:
                what = "truncated" if info.file_size < expected else "has trailing bytes"
                raise ModelFileError(
                    f"{where}: {what}: header says shape {shape} of {dtype}, needing {expected} "
                    f"bytes, found {info.file_size}"
                )
            arr = np.empty(count, dtype=dtype)
            view = memoryview(arr.view(np.uint8).reshape(-1)) if count else memoryview(b"")
            done = 0
            while done < len(view):
                n = stream.readinto(view[done : done + _READ_CHUNK])
                if not n:
                    raise ModelFileError(
                        f"{where}: truncated: header says shape {shape} of {dtype}, needing "
                        f"{expected} bytes, found {offset + done}"
                    )
                done += n
            if stream.read(1):
                raise ModelFileError(f"{where}: has trailing bytes after its array data")
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib, zipfile and numpy each raise their own types
        raise ModelFileError(f"{where}: corrupt ({type(exc).__name__}: {exc})") from None
    arr = arr.reshape(shape, order="F" if fortran else "C")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _check_member_sizes(info: zipfile.ZipInfo, archive_size: int, where: str) -> None:
    """Refuse a member whose declared sizes could make reading it cost more than the file allows.

    Only stored and deflated members are read. A stored member's two sizes must agree; a deflated
    one may expand at most ``_MAX_DEFLATE_RATIO`` times (arrays of weights compress by a few per
    cent, a zip bomb a thousandfold). No member may claim more compressed bytes than the file has.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(
            f"{where}: uses zip compression method {info.compress_type}; "
            "only stored or deflated entries are read"
        )
    if info.file_size > _MAX_MEMBER_BYTES:
        raise ModelFileError(f"{where}: claims {info.file_size} bytes; too large")
    if info.compress_size > archive_size:
        raise ModelFileError(
            f"{where}: claims {info.compress_size} compressed bytes, "
            f"more than the whole file ({archive_size} bytes)"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ModelFileError(
            f"{where}: stored entry claims {info.file_size} bytes but occupies "
            f"{info.compress_size}; the zip directory is inconsistent"
        )
    if info.file_size > _DEFLATE_SLACK_BYTES + _MAX_DEFLATE_RATIO * info.compress_size:
        raise ModelFileError(
            f"{where}: {info.compress_size} compressed bytes claim to expand to {info.file_size} "
            f"(more than {_MAX_DEFLATE_RATIO}:1); refused as a likely zip bomb"
        )


def _parse_metadata(raw: np.ndarray, where: str) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(
            f"{where}: metadata must be a 1-D uint8 array, found {raw.dtype} {raw.shape}"
        )
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: metadata is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelFileError(
            f"{where}: metadata must be a JSON object, found {type(meta).__name__}"
        )
    fmt = meta.get("format")
    if not isinstance(fmt, dict) or fmt.get("name") != FORMAT_NAME:
        raise ModelFileError(
            f"{where}: metadata does not name the format {FORMAT_NAME!r}; found {fmt!r}"
        )
    version = fmt.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{where}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where}: written in format version {version} by a newer mitbadak; "
            f"this version reads up to {FORMAT_VERSION}"
        )
    return meta


# (metadata, names of the arrays present) -> name -> (shape, dtype) each array must have; computed
# (and the names checked) before any array is read. Raises ModelFileError.
_Expectation = Callable[
    [dict[str, Any], set[str]], dict[str, tuple[tuple[int, ...], np.dtype]]
]


def _read_container(
    path: str | os.PathLike, metadata_only: bool = False, expect: _Expectation | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read the metadata, check every member's declared sizes and ``.npy`` header, then the data.

    Memory stays bounded by what the file can honestly hold: sizes are checked from the zip
    directory, the metadata (at most ``_MAX_METADATA_BYTES``) is read first, each array's header
    is compared with the metadata's inventory and with ``expect(metadata)`` (the architecture's
    shapes, for models) before its data is read, and the data is streamed into one array.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory; expected a .npz file written by mitbadak")
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    try:
        archive_size = path.stat().st_size
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > _MAX_MEMBERS:
                raise ModelFileError(
                    f"{path}: has {len(infos)} entries; at most {_MAX_MEMBERS} expected"
                )
            members: dict[str, zipfile.ZipInfo] = {}
            meta_info = None
            compressed_total = declared_total = 0
            for info in infos:
                name = info.filename
                if not name.endswith(".npy") or info.is_dir():
                    raise ModelFileError(
                        f"{path}: unexpected entry {name!r}; expected only .npy arrays"
                    )
                key = name[: -len(".npy")]
                if key in members or (key == METADATA_KEY and meta_info is not None):
                    raise ModelFileError(f"{path}: entry {name!r} appears twice")
                _check_member_sizes(info, archive_size, f"{path}: entry {name!r}")
                compressed_total += info.compress_size
                declared_total += info.file_size
                if key == METADATA_KEY:
                    meta_info = info
                else:
                    members[key] = info
            if compressed_total > archive_size:
                raise ModelFileError(
                    f"{path}: its entries claim {compressed_total} bytes of data in a file of "
                    f"{archive_size} bytes (overlapping entries); refused as a likely zip bomb"
                )
            if declared_total > _TOTAL_SLACK_BYTES + _MAX_DEFLATE_RATIO * archive_size:
                raise ModelFileError(
                    f"{path}: its entries claim {declared_total} bytes in all from a file of "
                    f"{archive_size} bytes; refused as a likely zip bomb"
                )
            if meta_info is None:
                raise ModelFileError(
                    f"{path}: has no metadata ({METADATA_KEY}); not a mitbadak model file"
                )
            if meta_info.file_size > _MAX_METADATA_BYTES + 1024:
                raise ModelFileError(
                    f"{path}: metadata claims {meta_info.file_size} bytes; too large"
                )
            meta = _parse_metadata(_read_member(zf, meta_info, f"{path}: metadata"), str(path))
            if metadata_only:
                return {}, meta
            listed = _array_inventory(path, meta, members)
            wanted = expect(meta, set(members)) if expect is not None else None
            arrays = {
                key: _read_member(
                    zf, info, f"{path}: array {key!r}", _header_check(path, key, listed, wanted)
                )
                for key, info in members.items()
            }
    except ModelFileError:
        raise
    except zipfile.BadZipFile as exc:
        raise ModelFileError(
            f"{path}: not a valid .npz file (corrupt or truncated zip: {exc})"
        ) from None
    except PermissionError as exc:
        raise ModelFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can break zipfile/numpy in many ways
        raise ModelFileError(f"{path}: corrupt model file ({type(exc).__name__}: {exc})") from None
    return arrays, meta


def _array_inventory(
    path: Path, meta: dict[str, Any], members: Mapping[str, Any]
) -> dict[str, Any]:
    """The metadata's ``arrays`` entry, which must list exactly the arrays the file holds."""
    listed = meta.get("arrays")
    if not isinstance(listed, dict):
        raise ModelFileError(f"{path}: metadata has no 'arrays' inventory")
    if set(listed) != set(members):
        raise ModelFileError(
            f"{path}: metadata lists arrays {sorted(listed)}, but the file holds {sorted(members)}"
        )
    return listed


def _header_check(
    path: Path,
    name: str,
    listed: dict[str, Any],
    wanted: dict[str, tuple[tuple[int, ...], np.dtype]] | None,
) -> _HeaderCheck:
    """A check of one member's header against the inventory and, if given, the architecture."""

    def check(shape: tuple[int, ...], dtype: np.dtype) -> None:
        entry = listed[name]
        if not isinstance(entry, dict) or entry.get("shape") != list(shape):
            raise ModelFileError(
                f"{path}: array {name!r} has shape {shape}, but the metadata says {entry!r}"
            )
        if wanted is None:
            return
        want_shape, want_dtype = wanted[name]
        if shape != want_shape:
            raise ModelFileError(
                f"{path}: parameter {name} has shape {shape}, "
                f"but the stated architecture needs {want_shape}"
            )
        native = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
        if native != want_dtype:
            raise ModelFileError(
                f"{path}: parameter {name} has dtype {native}, but the network is {want_dtype}"
            )

    return check


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, metadata)``, or ``ModelFileError``."""
    return _read_container(path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a file written by :func:`save_arrays` / :func:`save_model`."""
    return _read_container(path, metadata_only=True)[1]


# ---------------------------------------------------------------------------------------------
# Networks


def save_model(
    path: str | os.PathLike, network: FeedForwardNet, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save ``network`` (its ``config()`` and ``params``) with ``metadata`` to ``path``, atomically.

    The stored metadata is ``network.metadata`` (if the network carries one, e.g. after
    :func:`load_model` or :func:`import_book_weights`), updated with ``metadata`` (training recipe,
    final metrics...), plus ``network`` = ``network.config()`` and the keys of :func:`save_arrays`.
    Raises ``ValueError`` if a parameter holds NaN or inf (such a file could not be loaded).
    """
    config = network.config()
    # On the host, always: a network on a device saves the same bytes as one on the CPU.
    params = to_host(dict(network.params))
    for name, arr in params.items():
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"cannot save: parameter {name} contains NaN or infinite values")
    # the layers' non-trainable state (BatchNorm's running statistics) travels as buffer/NAME
    buffers = to_host(dict(getattr(network, "buffers", None) or {}))
    params.update({f"{BUFFER_PREFIX}{k}": v for k, v in buffers.items()})
    meta = {**dict(getattr(network, "metadata", None) or {}), **dict(metadata or {})}
    meta["network"] = config
    return save_arrays(path, params, meta)


def _positive_int(value: Any, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFileError(f"{where}: network {what} must be a positive integer, found {value!r}")
    return value


def _expected_shapes(config: Any, where: str) -> tuple[dict[str, tuple[int, ...]], np.dtype]:
    """Parameter shapes and dtype the stated architecture implies (checked before building it)."""
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: metadata has no network description ('network' object)")
    arch = config.get("architecture")
    if arch == "LayerNet":
        return _layer_list_shapes(config, where)
    if arch not in _FEEDFORWARD_ARCHITECTURES:
        raise ModelFileError(
            f"{where}: unknown architecture {arch!r}; "
            f"expected one of {[*_FEEDFORWARD_ARCHITECTURES, 'LayerNet']}"
        )
    hidden = config.get("hidden_sizes")
    if not isinstance(hidden, list):
        raise ModelFileError(f"{where}: network hidden_sizes must be a list, found {hidden!r}")
    if arch == "TwoLayerNet" and len(hidden) != 1:
        raise ModelFileError(f"{where}: a TwoLayerNet has one hidden layer, metadata says {hidden}")
    sizes = [
        _positive_int(config.get("input_size"), "input_size", where),
        *[_positive_int(h, "hidden size", where) for h in hidden],
        _positive_int(config.get("output_size"), "output_size", where),
    ]
    if config.get("activation") not in ACTIVATIONS:
        raise ModelFileError(
            f"{where}: activation must be one of {list(ACTIVATIONS)}, "
            f"found {config.get('activation')!r}"
        )
    dtype = _network_dtype(config, where)
    shapes = param_shapes(
        {"input_size": sizes[0], "hidden_sizes": sizes[1:-1], "output_size": sizes[-1]}
    )
    return shapes, dtype


def _network_dtype(config: dict[str, Any], where: str) -> np.dtype:
    try:
        dtype = np.dtype(config.get("dtype"))
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind != "f" or not isinstance(config.get("dtype"), str):
        raise ModelFileError(
            f"{where}: network dtype must be float32 or float64, found {config.get('dtype')!r}"
        )
    return dtype


def _layer_list_shapes(config: dict[str, Any], where: str):
    """A ``LayerNet``'s parameters and buffers (``buffer/NAME``), from what its layers declare
    (registered layer classes only; nothing is allocated)."""
    dtype = _network_dtype(config, where)
    try:
        shapes = dict(param_shapes(config))
        shapes.update({f"{BUFFER_PREFIX}{k}": s for k, s in buffer_shapes(config).items()})
    except Exception as exc:  # noqa: BLE001 - any rejection of the stored layers is a bad file
        raise ModelFileError(f"{where}: cannot read the network's layers: {exc}") from None
    for name, shape in shapes.items():
        if not all(isinstance(d, int) and d >= 1 for d in shape):
            raise ModelFileError(f"{where}: {name} would have shape {shape}")
    return shapes, dtype


def _architecture_expectation(path: Path) -> _Expectation:
    """The parameters (names, shapes, dtype) the metadata's network needs, checked against the
    names of the arrays the file holds before any of them is read."""

    def expect(
        meta: dict[str, Any], names: set[str]
    ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        config = meta.get("network")
        shapes, dtype = _expected_shapes(config, str(path))
        if names != set(shapes):
            missing = sorted(set(shapes) - names)
            extra = sorted(names - set(shapes))
            raise ModelFileError(
                f"{path}: the {config['architecture']} described needs parameters "
                f"{sorted(shapes)}; missing {missing}, unexpected {extra}"
            )
        return {name: (shape, dtype) for name, shape in shapes.items()}

    return expect


def _network_from_arrays(
    path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> FeedForwardNet:
    """The network from arrays whose names, shapes and dtype were checked while reading."""
    where = str(path)
    for name, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{where}: parameter {name} contains NaN or infinite values")
    buffers = {k[len(BUFFER_PREFIX) :]: v for k, v in arrays.items() if k.startswith(BUFFER_PREFIX)}
    params = {k: v for k, v in arrays.items() if not k.startswith(BUFFER_PREFIX)}
    try:
        network = network_from_config(meta["network"], params)
        if buffers:
            network.set_buffers(buffers)
    except Exception as exc:  # noqa: BLE001 - any rejection of the stored config is a bad file
        raise ModelFileError(f"{where}: cannot rebuild the network: {exc}") from None
    network.metadata = meta
    return network


def load_model(path: str | os.PathLike) -> FeedForwardNet:
    """Rebuild the network saved by :func:`save_model`; it predicts bit-identically to the original.

    The returned network's ``params`` are the arrays its layers use, and ``network.metadata`` holds
    the file's metadata. Any corrupt, truncated or inconsistent file raises ``ModelFileError``.
    """
    arrays, meta = _read_container(path, expect=_architecture_expectation(Path(path)))
    return _network_from_arrays(Path(path), arrays, meta)
