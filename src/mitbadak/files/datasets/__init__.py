"""Datasets: MNIST, Fashion-MNIST and the offline MNIST sample, loaded reliably.

``load_mnist`` is the book's function with the book's return value. Files are looked for in
``data_dir``, then ``$MITBADAK_DATA``, then the user cache (:func:`cache_dir`), then system
folders (Debian's ``/usr/share/datasets/fashion-mnist``), and downloaded into the cache only
when none of those holds a copy that passes its SHA-256 check. ``name="mnist-sample"`` needs no
network at all: its files ship inside the package. Decoded arrays are kept in the user cache
(``decoded/``, :mod:`mitbadak.files.datasets.arraycache`), so a file's gzip is inflated once; an
entry is used only for the very file the search finds, re-verified on every load, and safe to
delete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mitbadak.core._checks import describe
from mitbadak.core.errors import (
    BookWeightsUnavailable,
    DataError,
    DatasetUnavailable,
    DownloadError,
    dataset_problem,
)
from mitbadak.files.datasets import arraycache, registry
from mitbadak.files.datasets.bookpickle import find_book_pickle, read_book_pickle
from mitbadak.files.datasets.idx import parse_idx
from mitbadak.files.datasets.registry import SPLITS, DatasetSpec, FileSpec, get_spec
from mitbadak.files.datasets.sources import (
    DEFAULT_GRACE,
    DEFAULT_MIN_RATE,
    DEFAULT_TIMEOUT,
    Notice,
    Progress,
    book_weights_dirs,
    cache_dir,
    check_book_bytes,
    download_files,
    fetch_file,
    find_book_weights,
    find_file,
    search_dirs,
)
from mitbadak.files.datasets.toy import TOY_DATASETS, dataset_from_points, load_toy, make_toy

__all__ = [
    "DATASETS",
    "load_mnist",
    "load_split",
    "locate",
    "present",
    "download",
    "verify",
    "cache_dir",
    "find_book_weights",
    "book_weights_dirs",
    "BOOK_GROUPS",
    "VerifyReport",
    "FileReport",
    "TOY_DATASETS",
    "make_toy",
    "load_toy",
    "dataset_from_points",
]

DATASETS: tuple[str, ...] = tuple(registry.DATASETS)
"""Names accepted by ``name=``: 'mnist', 'fashion-mnist', 'mnist-sample'. The generated 2-D
sets (spiral, moons, circles, xor) are in :data:`TOY_DATASETS`
(:mod:`mitbadak.files.datasets.toy`)."""

BOOK_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in registry.BOOK_FILES.values()))
"""The book repository's files by download name: 'book-weights' (chapter 3's sample_weight.pkl),
'book-convnets' (the chapter 7-8 pickles). :func:`download`, :func:`verify` and :func:`locate`
take these names too; the files live in the ``book-weights/`` folder (:func:`find_book_weights`)."""


def _check_load_arguments(
    name: object,
    flags: dict[str, object],
    data_dir: object,
    download: object,
    progress: object,
) -> None:
    """``TypeError`` naming the argument of ``load_mnist`` given a value of the wrong type."""
    if not isinstance(name, str):
        raise TypeError(
            f"load_mnist: name must be a dataset name, one of {', '.join(map(repr, DATASETS))}; "
            f"got {describe(name)}"
        )
    for flag, value in {**flags, "download": download}.items():
        # the book passes True/False; 0 and 1 mean the same
        if not isinstance(value, bool | np.bool_) and not (type(value) is int and value in (0, 1)):
            raise TypeError(
                f"load_mnist: {flag} must be True or False, got {describe(value)}"
            )
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise TypeError(
            f"load_mnist: data_dir must be a folder path (a str or a pathlib.Path) or None, got "
            f"{type(data_dir).__name__}"
        )
    if progress is not None and not callable(progress):
        raise TypeError(
            f"load_mnist: progress must be a function or None, got {type(progress).__name__}"
        )


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return ``((x_train, t_train), (x_test, t_test))`` exactly as the book's ``load_mnist``.

    x: uint8 0-255, or float32 x/255 in [0, 1] when ``normalize``; shape (N, 784) when
    ``flatten`` else (N, 1, 28, 28). t: uint8 labels (N,), or float32 one-hot (N, 10) when
    ``one_hot_label``. Raises :class:`DownloadError` (one message naming the missing files, the
    folders searched and the ways forward) when the files are nowhere and cannot be downloaded,
    and a ``TypeError`` naming the argument given a wrong type (``name=None``, ``flatten='yes'``).
    A searched folder holding the book repository's ``mnist.pkl`` instead of the IDX files is
    read safely (no pickle code runs; its structure is validated, as no checksum exists for it).
    """
    _check_load_arguments(
        name,
        {"normalize": normalize, "flatten": flatten, "one_hot_label": one_hot_label},
        data_dir,
        download,
        progress,
    )
    spec = get_spec(name)
    book = _from_book_pickle(spec, SPLITS, data_dir)
    arrays = book if book is not None else _load_arrays(spec, SPLITS, data_dir, download, progress)
    train, test = (
        _format(*arrays[split], normalize, flatten, one_hot_label, len(spec.classes))
        for split in SPLITS
    )
    return train, test


def load_split(
    name: str = "mnist",
    split: str = "test",
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, t)`` of one split ('train' or 'test'), formatted as in :func:`load_mnist`.

    Only that split's two files are needed, so evaluation works where only the test set exists.
    """
    spec = get_spec(name)
    spec.split_files(split)  # validates split before any search or download
    book = _from_book_pickle(spec, (split,), data_dir)
    if book is not None:
        return _format(*book[split], normalize, flatten, one_hot_label, len(spec.classes))
    images, labels = _load_arrays(spec, (split,), data_dir, download, progress)[split]
    return _format(images, labels, normalize, flatten, one_hot_label, len(spec.classes))


def locate(
    name: str, data_dir: str | os.PathLike | None = None, split: str | None = None
) -> Path | None:
    """The first searched folder holding verified copies of all the needed files, else None.

    Needs all four files, or only ``split``'s two (a book group: all its files). Never downloads.
    """
    if _is_book_group(name):
        return _locate_book_group(name, data_dir)
    spec = get_spec(name)
    files = _needed(spec, SPLITS if split is None else (split,))
    for folder in search_dirs(spec, data_dir):
        if all(find_file(f, [folder]).path is not None for f in files):
            return folder
    return None


def present(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True when one searched folder holds files named like all of ``name``'s (a cheap look:
    sizes and checksums are not read; :func:`locate` verifies). Never downloads."""
    if _is_book_group(name):
        files = registry.book_group(name)
        return any(
            all((d / f.filename).is_file() for f in files) for d in book_weights_dirs(data_dir)
        )
    spec = get_spec(name)
    if spec.packaged:
        return True
    files = _needed(spec, SPLITS)
    folders = search_dirs(spec, data_dir)
    return any(all((folder / f.filename).is_file() for f in files) for folder in folders)


def download(
    name: str,
    dest: str | os.PathLike | None = None,
    progress: Progress | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    split: str | None = None,
    min_rate: float = DEFAULT_MIN_RATE,
    grace: float = DEFAULT_GRACE,
    notice: Notice | None = None,
) -> Path:
    """Download ``name``'s files into ``dest`` (default: the user cache) and return that folder.

    Files already in ``dest`` that pass their checksum are kept; others are fetched from
    ``mirrors`` (default: the registry's public mirrors), trying each in turn. Each file is
    verified before it is renamed into place. A mirror that sends nothing for ``timeout`` s, or
    averages under ``min_rate`` bytes/s after ``grace`` s, is left for the next one, and
    ``notice`` gets one line saying so. Raises :class:`DatasetUnavailable` (a
    :class:`DownloadError`) if a file cannot be obtained from any mirror. The packaged sample
    needs no download: its folder is returned.

    ``name`` may also be a book group (:data:`BOOK_GROUPS`, e.g. ``'book-weights'``): its files go
    to the cache's ``book-weights/`` folder (or ``dest``), fetched from the book's repository at
    a pinned commit (``mirrors``, if given, are base URLs to which each file's repository path,
    such as ``ch03/sample_weight.pkl``, is appended).
    """
    limits = {"timeout": timeout, "min_rate": min_rate, "grace": grace, "notice": notice}
    if _is_book_group(name):
        if split is not None:
            raise ValueError(f"{name} has no train/test splits; call download without split")
        return _download_book_group(name, dest, progress, mirrors, limits)
    spec = get_spec(name)
    if spec.packaged:
        return search_dirs(spec)[0]
    folder = Path(dest).expanduser() if dest is not None else cache_dir() / spec.name
    files = _needed(spec, SPLITS if split is None else (split,))
    todo = [f for f in files if find_file(f, [folder]).path is None]
    if todo:
        try:
            download_files(spec, todo, folder, mirrors=mirrors, progress=progress, **limits)
        except DownloadError as exc:
            why = exc.summary()
            raise DatasetUnavailable(
                _not_available(spec, todo, [folder], [], why),
                dataset=spec.name,
                missing=[f.filename for f in todo],
                searched=[folder],
                reason=why,
            ) from None
    return folder


def _is_book_group(name: object) -> bool:
    return isinstance(name, str) and name.strip().lower().replace("_", "-") in BOOK_GROUPS


def _locate_book_group(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    files = registry.book_group(name)
    for folder in book_weights_dirs(data_dir):
        if all(_book_file_ok(folder / f.filename, f) for f in files):
            return folder
    return None


def _book_file_ok(path: Path, spec: registry.BookFile) -> bool:
    """True when ``path`` is the book's file ``spec`` (exact size, then SHA-256)."""
    try:
        if not path.is_file() or path.stat().st_size != spec.size:
            return False
        check_book_bytes(path.read_bytes(), spec, str(path))
    except (OSError, DataError):
        return False
    return True


def _download_book_group(
    name: str,
    dest: str | os.PathLike | None,
    progress: Progress | None,
    mirrors: Sequence[str] | None,
    limits: dict,
) -> Path:
    files = registry.book_group(name)
    group = files[0].group
    folder = cache_dir() / registry.BOOK_WEIGHTS_DIR if dest is None else Path(dest).expanduser()
    todo = [f for f in files if not _book_file_ok(folder / f.filename, f)]
    for spec in todo:
        urls = spec.urls if mirrors is None else [m.rstrip("/") + "/" + spec.path for m in mirrors]
        try:
            fetch_file(spec, folder, urls, progress=progress, **limits)
        except DownloadError as exc:
            why = exc.summary()
            missing = [f.filename for f in todo[todo.index(spec) :]]
            raise BookWeightsUnavailable(
                dataset_problem(group, missing, [folder], reason=why)
                + "\nhint: run it again later (a larger timeout helps on a slow network), or "
                f"download {', '.join(f.path for f in files)} from the book's repository "
                f"(github.com/{registry.BOOK_REPOSITORY}) into {folder} yourself",
                dataset=group,
                missing=missing,
                searched=[folder],
                reason=why,
            ) from None
    return folder


@dataclass(frozen=True)
class FileReport:
    """The state of one file: where it was found (if anywhere) and whether it verified."""

    filename: str
    status: str  # "ok", "missing" or "corrupt"
    path: Path | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class VerifyReport:
    """Result of :func:`verify`: one :class:`FileReport` per file and the folders searched."""

    name: str
    files: tuple[FileReport, ...]
    searched: tuple[Path, ...]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def __str__(self) -> str:
        lines = [f"{self.name}: {'all files verified' if self.ok else 'NOT complete'}"]
        for f in self.files:
            lines.append(f"  {f.status:8s} {f.filename}: {f.detail}")
        lines.append("  searched: " + ", ".join(str(d) for d in self.searched))
        return "\n".join(lines)


def verify(name: str, data_dir: str | os.PathLike | None = None) -> VerifyReport:
    """Check every file of ``name`` in the search folders against its checksums (no download).

    ``name`` may be a book group (:data:`BOOK_GROUPS`): its files are looked for as
    :func:`find_book_weights` does and checked against their size and SHA-256."""
    if _is_book_group(name):
        return _verify_book_group(name, data_dir)
    spec = get_spec(name)
    dirs = search_dirs(spec, data_dir)
    reports = []
    for fspec in spec.all_files():
        found = find_file(fspec, dirs)
        if found.path is not None:
            data = found.path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            how = "SHA-256 of the file" if digest in fspec.sha256 else "SHA-256 of its content"
            md5 = ""
            if fspec.md5:
                same = hashlib.md5(data, usedforsecurity=False).hexdigest() == fspec.md5
                md5 = ", md5 matches upstream" if same else ", recompressed copy (md5 differs)"
            reports.append(FileReport(fspec.filename, "ok", found.path, f"{how} verified{md5}"))
        elif found.rejected:
            reports.append(FileReport(fspec.filename, "corrupt", None, "; ".join(found.rejected)))
        else:
            reports.append(FileReport(fspec.filename, "missing", None, "in no folder searched"))
    return VerifyReport(spec.name, tuple(reports), tuple(dirs))


def _verify_book_group(name: str, data_dir: str | os.PathLike | None) -> VerifyReport:
    files = registry.book_group(name)
    dirs = book_weights_dirs(data_dir)
    reports = []
    for spec in files:
        found, rejected = None, []
        for folder in dirs:
            path = folder / spec.filename
            if not path.is_file():
                continue
            try:
                if path.stat().st_size != spec.size:
                    raise DataError(f"{path}: is {path.stat().st_size} bytes, expected {spec.size}")
                check_book_bytes(path.read_bytes(), spec, str(path))
            except DataError as exc:
                rejected.append(str(exc))
                continue
            except OSError as exc:
                rejected.append(f"{path}: cannot read ({exc.strerror or exc})")
                continue
            found = path
            break
        if found is not None:
            detail = f"SHA-256 verified (the book's {spec.path}, commit {spec.commit[:7]})"
            reports.append(FileReport(spec.filename, "ok", found, detail))
        elif rejected:
            reports.append(FileReport(spec.filename, "corrupt", None, "; ".join(rejected)))
        else:
            reports.append(FileReport(spec.filename, "missing", None, "in no folder searched"))
    return VerifyReport(files[0].group, tuple(reports), tuple(dirs))


# --- internals -----------------------------------------------------------------------------


def _needed(spec: DatasetSpec, splits: Sequence[str]) -> list[FileSpec]:
    return [f for split in splits for f in spec.split_files(split)]


def _from_book_pickle(
    spec: DatasetSpec, splits: Sequence[str], data_dir: str | os.PathLike | None
) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The splits from the book's ``mnist.pkl`` where a searched folder has it instead of IDX."""
    path = find_book_pickle(spec, splits, search_dirs(spec, data_dir))
    return None if path is None else read_book_pickle(path, spec, splits)


def _resolve(
    name: str,
    splits: Sequence[str],
    data_dir: str | os.PathLike | None,
    allow_download: bool,
    progress: Progress | None,
) -> dict[str, bytes]:
    """Verified, decompressed bytes of each needed file, downloading what is missing."""
    spec = get_spec(name)
    dirs = search_dirs(spec, data_dir)
    raw: dict[str, bytes] = {}
    missing: list[FileSpec] = []
    rejected: list[str] = []
    for fspec in _needed(spec, splits):
        found = find_file(fspec, dirs)
        if found.raw is not None:
            raw[fspec.filename] = found.raw
        else:
            missing.append(fspec)
            rejected += found.rejected
    if not missing:
        return raw
    if spec.packaged:
        raise DataError(
            f"the {spec.name} files shipped with mitbadak are missing or corrupt in {dirs[0]} "
            f"({'; '.join(rejected) or 'not found'}); reinstall mitbadak"
        )
    if not allow_download:
        why = "downloading is disabled (download=False)"
    elif not spec.mirrors:
        why = "no download mirrors are known"
    else:
        try:
            fetched = download_files(spec, missing, cache_dir() / spec.name, progress=progress)
        except DownloadError as exc:
            why = exc.summary()
        else:
            raw.update({fname: data for fname, (_, data) in fetched.items()})
            return raw
    raise DatasetUnavailable(
        _not_available(spec, missing, dirs, rejected, why),
        dataset=spec.name,
        missing=[f.filename for f in missing],
        searched=dirs,
        rejected=rejected,
        reason=why,
        download_disabled=not allow_download,
    )


def _not_available(
    spec: DatasetSpec, missing: list[FileSpec], dirs: list[Path], rejected: list[str], why: str
) -> str:
    """Two lines: what is missing, where it was looked for and why it was not downloaded; then
    the ways forward, in the library's terms (keyword arguments)."""
    problem = dataset_problem(spec.name, [f.filename for f in missing], dirs, rejected, why)
    hint = (
        "hint: pass data_dir= a folder holding those .gz files or set MITBADAK_DATA to it; "
        f"or run `mitbadak data download {spec.name}`; or, offline, use "
        'load_mnist(name="mnist-sample"), the MNIST sample shipped with mitbadak'
    )
    return f"{problem}\n{hint}"


def _load_arrays(
    spec: DatasetSpec,
    splits: Sequence[str],
    data_dir: str | os.PathLike | None,
    allow_download: bool,
    progress: Progress | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each split's verified (images, labels) as uint8 arrays.

    From the decoded-array cache (:mod:`mitbadak.files.datasets.arraycache`) when it holds verified
    entries for the very files the search finds first; otherwise the files are resolved
    (verified, downloaded if missing), decoded, and entries are written for the next load. The
    packaged sample is small enough to decode every time and is not cached.
    """
    if spec.packaged:
        raw = _resolve(spec.name, splits, data_dir, allow_download, progress)
        return {split: _decode(spec, split, raw) for split in splits}
    dirs = search_dirs(spec, data_dir)
    cached = {f.filename: arraycache.lookup(f, dirs) for f in _needed(spec, splits)}
    if all(a is not None for a in cached.values()):
        return {split: _decode(spec, split, cached) for split in splits}
    raw = _resolve(spec.name, splits, data_dir, allow_download, progress)
    out = {split: _decode(spec, split, raw) for split in splits}
    for split in splits:
        for fspec, array in zip(spec.split_files(split), out[split], strict=True):
            if cached[fspec.filename] is None:
                arraycache.store(fspec, dirs, raw[fspec.filename], array)
    return out


def _decode(
    spec: DatasetSpec, split: str, raw: Mapping[str, bytes | np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one split's images and labels (or take the cache's arrays) and check they fit."""
    img_spec, lbl_spec = spec.split_files(split)
    images, labels = (
        item if isinstance(item := raw[f.filename], np.ndarray) else parse_idx(item, f.filename)
        for f in (img_spec, lbl_spec)
    )
    for arr, fspec in ((images, img_spec), (labels, lbl_spec)):
        if arr.shape != fspec.shape or arr.dtype != np.uint8:
            raise DataError(
                f"{fspec.filename}: expected uint8 {fspec.shape}, got {arr.dtype} {arr.shape}"
            )
    if labels.size and int(labels.max()) >= len(spec.classes):
        raise DataError(
            f"{lbl_spec.filename}: label {int(labels.max())} out of range 0-{len(spec.classes) - 1}"
        )
    return images, labels


def _format(
    images: np.ndarray,
    labels: np.ndarray,
    normalize: bool,
    flatten: bool,
    one_hot_label: bool,
    n_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(images)
    x: np.ndarray = images
    if normalize:
        # One pass, same float32 values as the book's astype(float32) followed by /= 255.0.
        x = np.divide(images, np.float32(255.0), dtype=np.float32)
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, *images.shape[1:])
    t: np.ndarray = labels
    if one_hot_label:
        t = np.zeros((n, n_classes), dtype=np.float32)
        t[np.arange(n), labels] = 1.0
    return x, t
