"""``mitbadak doctor``: check the environment and say how to fix what is wrong.

The book's readers lose hours to the same few problems: a NumPy that removed ``np.int``, scripts
run from the wrong folder (an old copy shadowing the installed package), MNIST mirrors answering
403/503, files that fail their checksums, fonts that cannot show Korean. :func:`run_checks`
looks at each and returns :class:`Check` records (data, no printing); ``mitbadak doctor`` prints
them as ✔/✖ lines with the fix, or as JSON.

A check is *required* when mitbadak's core (NumPy math, the packaged sample, training) cannot
work without it; :func:`core_ok` is true when every required check passed. Everything else
(datasets not downloaded yet, extras, fonts, GPU, mirrors) is reported but optional.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "run_checks",
    "core_ok",
    "MIN_PYTHON",
    "MIN_NUMPY",
    "EXTRAS",
]

OK, FAIL, SKIP = "ok", "fail", "skip"
MIN_PYTHON = (3, 10)
MIN_NUMPY = (1, 23)
#: The extras ``doctor`` reports, in this order.
EXTRAS = ("plots", "images", "progress", "web", "export", "gpu", "ko")
#: Where an extra is not declared by the installed mitbadak, what it stands for (import names).
_EXTRA_FALLBACK: dict[str, tuple[str, ...]] = {
    "plots": ("matplotlib",),
    "images": ("PIL",),
    "progress": ("tqdm",),
    "export": ("onnx", "onnxruntime"),
    "gpu": ("cupy",),
    "ko": ("matplotlib",),
}
#: Distribution name -> import name, where they differ.
_IMPORT_NAMES = {
    "pillow": "PIL", "scikit-learn": "sklearn", "pyyaml": "yaml",
    "cupy-cuda12x": "cupy", "cupy-cuda13x": "cupy",  # the gpu extra: one wheel per CUDA version
}  # fmt: skip
MIRROR_TIMEOUT = 5.0


@dataclass
class Check:
    """One line of the report: status is 'ok', 'fail' or 'skip' (not applicable / not run)."""

    name: str
    status: str
    summary: str
    fix: str = ""
    required: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version_tuple(text: str) -> tuple[int, ...]:
    """'1.26.4' -> (1, 26, 4); '2.0.0rc1' -> (2, 0, 0)."""
    parts = []
    for piece in text.split(".")[:3]:
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


# --- Python, NumPy, the package itself -----------------------------------------------------------


def check_python(version: Sequence[int] | None = None) -> Check:
    """Python >= 3.10 (the project's ``requires-python``)."""
    v = tuple(version if version is not None else sys.version_info[:3])
    text = ".".join(map(str, v[:3]))
    if v[:2] < MIN_PYTHON:
        return Check(
            "python",
            FAIL,
            f"Python {text} is too old; mitbadak needs {'.'.join(map(str, MIN_PYTHON))} or newer",
            fix="install Python 3.10+ (python.org, or your OS packages) and make a new venv",
            required=True,
            details={"version": text, "executable": sys.executable},
        )
    return Check(
        "python",
        OK,
        f"Python {text} ({sys.executable})",
        required=True,
        details={"version": text, "executable": sys.executable},
    )


def check_numpy(version: str | None = None) -> Check:
    """NumPy >= 1.23 importable. Notes the removed aliases (``np.int`` etc., gone since 1.24)."""
    if version is None:
        try:
            import numpy
        except ImportError as exc:
            return Check(
                "numpy",
                FAIL,
                f"NumPy cannot be imported ({exc})",
                fix="pip install 'numpy>=1.23'",
                required=True,
            )
        version = numpy.__version__
    v = _version_tuple(version)
    if v[:2] < MIN_NUMPY:
        return Check(
            "numpy",
            FAIL,
            f"NumPy {version} is too old; mitbadak needs 1.23 or newer",
            fix="pip install --upgrade 'numpy>=1.23'",
            required=True,
            details={"version": version},
        )
    note = ""
    if v[:2] >= (1, 24):
        note = "; np.int/np.float/np.bool were removed in 1.24: old code must use int/float/bool"
    return Check(
        "numpy",
        OK,
        f"NumPy {version}{note}",
        required=True,
        details={"version": version, "aliases_removed": v[:2] >= (1, 24)},
    )


def check_package(
    imported_version: str | None = None,
    installed_version: str | None = None,
    location: str | None = None,
) -> Check:
    """The ``mitbadak`` that Python imports is the one pip installed (no stray copy shadows it)."""
    from mitbadak.core.version import __version__

    imported_version = imported_version or __version__
    location = location or str(Path(__file__).resolve().parent)  # this file is the package's
    if installed_version is None:
        try:
            installed_version = importlib.metadata.version("mitbadak")
        except importlib.metadata.PackageNotFoundError:
            installed_version = ""
    details = {"version": imported_version, "installed": installed_version, "location": location}
    if not installed_version:
        return Check(
            "mitbadak",
            FAIL,
            f"mitbadak {imported_version} is imported from {location} "
            "but is not installed (running from a source folder?)",
            fix="pip install -e . in the project folder (or pip install mitbadak)",
            details=details,
        )
    if installed_version != imported_version:
        return Check(
            "mitbadak",
            FAIL,
            f"Python imports mitbadak {imported_version} from {location}, "
            f"but pip installed {installed_version}: another copy shadows it",
            fix="run from another folder, or remove the stray mitbadak folder from sys.path",
            required=True,
            details=details,
        )
    return Check(
        "mitbadak", OK, f"mitbadak {imported_version} ({location})", required=True, details=details
    )


def check_core() -> Check:
    """A small network's backprop gradient matches its numerical gradient (the math works)."""
    import numpy as np

    from mitbadak.nn.networks import TwoLayerNet

    try:
        rng = np.random.default_rng(0)
        net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, seed=0)
        x = rng.random((4, 6))
        t = np.array([0, 1, 2, 1])
        numeric = net.numerical_gradient(x, t, method="auto")
        backprop = net.gradient(x, t)
        worst = max(float(np.max(np.abs(numeric[k] - backprop[k]))) for k in net.params)
    except Exception as exc:  # noqa: BLE001 - any failure here means the core is broken
        return Check(
            "core",
            FAIL,
            f"the core math failed: {type(exc).__name__}: {exc}",
            fix="reinstall: pip install --force-reinstall mitbadak numpy",
            required=True,
        )
    if not worst < 1e-7:
        return Check(
            "core",
            FAIL,
            f"backprop and numerical gradients differ by {worst:.1e}",
            fix="reinstall NumPy (pip install --force-reinstall numpy); report a bug "
            "if it persists",
            required=True,
            details={"max_abs_diff": worst},
        )
    return Check(
        "core",
        OK,
        f"backprop matches the numerical gradient (max |diff| {worst:.1e})",
        required=True,
        details={"max_abs_diff": worst},
    )


# --- BLAS --------------------------------------------------------------------------------------


def _blas_info() -> dict[str, Any]:
    """{'name', 'version', 'threads', 'source'} of NumPy's BLAS, as far as can be told."""
    info: dict[str, Any] = {}
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            info = {
                "name": p.get("internal_api"),
                "version": p.get("version"),
                "threads": p.get("num_threads"),
                "source": "threadpoolctl",
            }
    except Exception:  # noqa: BLE001 - threadpoolctl is optional and best effort
        pass
    if not info.get("name"):
        try:
            import numpy as np

            config = np.show_config(mode="dicts")  # NumPy >= 1.25
            blas = config.get("Build Dependencies", {}).get("blas", {})
            if blas.get("name"):
                info = {
                    "name": blas.get("name"),
                    "version": blas.get("version"),
                    "threads": None,
                    "source": "numpy.show_config",
                }
        except Exception:  # noqa: BLE001 - older NumPy has no mode="dicts"
            pass
    env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    if info:
        info["env"] = env
        info["cpus"] = os.cpu_count()
    return info


def check_blas(info_fn: Callable[[], dict[str, Any]] = _blas_info) -> Check:
    """Which BLAS NumPy uses and with how many threads (matrix products are most of the time)."""
    info = info_fn()
    name = (info.get("name") or "").lower()
    if not name:
        return Check(
            "blas",
            FAIL,
            "cannot tell which BLAS NumPy uses",
            fix="pip install threadpoolctl (to see it); NumPy's wheels bring OpenBLAS",
            details=info,
        )
    if name in ("blas", "cblas", "netlib", "reference"):
        return Check(
            "blas",
            FAIL,
            f"NumPy uses the unoptimised reference BLAS ({name}): "
            "training will be many times slower",
            fix="pip install --force-reinstall numpy (the wheels bring OpenBLAS)",
            details=info,
        )
    threads = info.get("threads")
    where = f", {threads} threads" if threads else ", threads unknown (pip install threadpoolctl)"
    env = info.get("env") or {}
    set_by = f" ({', '.join(f'{k}={v}' for k, v in env.items())})" if env else ""
    version = f" {info['version']}" if info.get("version") else ""
    return Check(
        "blas", OK, f"{info['name']}{version}{where}{set_by}; {info.get('cpus')} CPUs", details=info
    )


# --- datasets and mirrors ------------------------------------------------------------------------


def check_datasets(data_dir: str | os.PathLike | None = None) -> list[Check]:
    """Per dataset: where its files are and whether their SHA-256 checksums hold."""
    from mitbadak.files import datasets
    from mitbadak.files.datasets.registry import get_spec

    checks = []
    for name in datasets.DATASETS:
        spec = get_spec(name)
        report = datasets.verify(name, data_dir)
        present = [f for f in report.files if f.ok]
        corrupt = [f for f in report.files if f.status == "corrupt"]
        folders = sorted({str(f.path.parent) for f in present})
        details = {
            "files": {
                f.filename: {"status": f.status, "path": str(f.path or ""), "detail": f.detail}
                for f in report.files
            },
            "searched": [str(d) for d in report.searched],
        }
        label = f"dataset {name}"
        if corrupt:
            names = ", ".join(f"{f.filename} ({f.detail})" for f in corrupt)
            checks.append(
                Check(
                    label,
                    FAIL,
                    f"files fail their checksum: {names}",
                    fix=f"delete those files, then: mitbadak data download {name}",
                    required=spec.packaged,
                    details=details,
                )
            )
        elif len(present) == len(report.files):
            checks.append(
                Check(
                    label,
                    OK,
                    f"all {len(present)} files verified in {', '.join(folders)}",
                    required=spec.packaged,
                    details=details,
                )
            )
        elif present:
            missing = [f.filename for f in report.files if not f.ok]
            checks.append(
                Check(
                    label,
                    FAIL,
                    f"{len(present)} of {len(report.files)} files "
                    f"verified in {', '.join(folders)}; missing {', '.join(missing)}",
                    fix=f"mitbadak data download {name}",
                    required=spec.packaged,
                    details=details,
                )
            )
        else:
            checks.append(
                Check(
                    label,
                    FAIL,
                    f"not downloaded (searched {', '.join(details['searched'])})",
                    fix=f"mitbadak data download {name} (or --data-dir FOLDER)",
                    required=spec.packaged,
                    details=details,
                )
            )
    return checks


def check_book_weights(data_dir: str | os.PathLike | None = None) -> Check:
    """Whether the book's ``sample_weight.pkl`` (chapter 3) is where ``find_book_weights``
    looks and passes its SHA-256; optional (the chapter-3 notebooks and examples need it)."""
    from mitbadak.files import datasets

    report = datasets.verify("book-weights", data_dir)
    details = {
        "files": {
            f.filename: {"status": f.status, "path": str(f.path or ""), "detail": f.detail}
            for f in report.files
        },
        "searched": [str(d) for d in report.searched],
    }
    fix = "mitbadak data download book-weights"
    if report.ok:
        where = ", ".join(str(f.path) for f in report.files)
        return Check("book weights", OK, f"verified: {where}", details=details)
    corrupt = [f for f in report.files if f.status == "corrupt"]
    if corrupt:
        return Check(
            "book weights",
            FAIL,
            "fails its checksum: " + "; ".join(f.detail for f in corrupt),
            fix=f"delete that file, then: {fix}",
            details=details,
        )
    return Check(
        "book weights",
        FAIL,
        f"sample_weight.pkl not found (searched {', '.join(details['searched'])})",
        fix=f"{fix} (or --data-dir FOLDER holding it)",
        details=details,
    )


def _default_mirror_targets() -> list[tuple[str, list[str]]]:
    """(dataset name, [URL of its smallest file on each mirror]) for every downloadable dataset."""
    from mitbadak.files.datasets.registry import DATASETS

    targets = []
    for spec in DATASETS.values():
        if spec.packaged or not spec.mirrors:
            continue
        small = min(spec.all_files(), key=lambda f: f.size or 0)
        targets.append((spec.name, [m.rstrip("/") + "/" + small.filename for m in spec.mirrors]))
    return targets


def _probe(url: str, timeout: float) -> str | None:
    """None when ``url`` answers a HEAD request with a success status; else why not."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "mitbadak-doctor"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = getattr(response, "status", 200)
            return None if status < 400 else f"HTTP {status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"unreachable ({getattr(exc.reason, 'strerror', None) or exc.reason})"
    except (OSError, ValueError) as exc:
        return f"unreachable ({exc})"


def check_mirrors(
    targets: list[tuple[str, list[str]]] | None = None,
    *,
    timeout: float = MIRROR_TIMEOUT,
    offline: bool = False,
) -> list[Check]:
    """Per dataset: which download mirrors answer (HEAD, ``timeout`` seconds, all in parallel)."""
    if targets is None:
        targets = _default_mirror_targets()
    if offline:
        return [Check(f"mirrors {name}", SKIP, "not checked (--offline)") for name, _ in targets]
    urls = [u for _, us in targets for u in us]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(8, len(urls)))) as pool:
        results = dict(zip(urls, pool.map(lambda u: _probe(u, timeout), urls), strict=True))
    checks = []
    for name, us in targets:
        good = [u for u in us if results[u] is None]
        bad = {u: results[u] for u in us if results[u] is not None}
        details = {"reachable": good, "failed": bad}
        failed = "; ".join(f"{_host(u)}: {why}" for u, why in bad.items())
        if good:
            extra = f" ({failed})" if failed else ""
            checks.append(
                Check(
                    f"mirrors {name}",
                    OK,
                    f"{len(good)} of {len(us)} mirrors answer{extra}",
                    details=details,
                )
            )
        else:
            checks.append(
                Check(
                    f"mirrors {name}",
                    FAIL,
                    f"no mirror answers: {failed}",
                    fix="check the network or proxy (HTTPS_PROXY); or download the "
                    "files by hand and pass --data-dir FOLDER",
                    details=details,
                )
            )
    return checks


def _host(url: str) -> str:
    return urllib.request.urlparse(url).netloc or url


# --- extras, font, GPU, cache --------------------------------------------------------------------


def _declared_extras() -> dict[str, list[str]]:
    """extra -> distribution names, from the installed mitbadak's metadata ({} if unknown)."""
    try:
        requires = importlib.metadata.requires("mitbadak") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    extras: dict[str, list[str]] = {}
    for req in requires:
        m = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        if m:
            dist = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
            if dist:
                extras.setdefault(m.group(1), []).append(dist.group())
    return extras


def _module_version(import_name: str) -> str | None:
    """The installed version of a module (None when it is not importable)."""
    if importlib.util.find_spec(import_name) is None:
        return None
    for dist in (import_name, {"PIL": "pillow", "sklearn": "scikit-learn"}.get(import_name)):
        if dist:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
    for dists in importlib.metadata.packages_distributions().get(import_name, []):
        try:
            return importlib.metadata.version(dists)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "installed"


def check_extras(
    declared: dict[str, list[str]] | None = None,
    version_of: Callable[[str], str | None] = _module_version,
) -> list[Check]:
    """One line per optional extra: installed (with versions) or the pip command that adds it."""
    if declared is None:
        declared = _declared_extras()
    checks = []
    for extra in EXTRAS:
        if extra in declared:
            modules = [_IMPORT_NAMES.get(d.lower(), d.replace("-", "_")) for d in declared[extra]]
        elif extra in _EXTRA_FALLBACK:
            modules = list(_EXTRA_FALLBACK[extra])
        else:
            checks.append(Check(f"extra {extra}", SKIP, "not an extra of this mitbadak version"))
            continue
        modules = list(dict.fromkeys(modules))
        found = {m: version_of(m) for m in modules}
        missing = [m for m, v in found.items() if v is None]
        have = ", ".join(f"{m} {v}" for m, v in found.items() if v is not None)
        details = {"modules": found}
        if missing and extra == "gpu":  # only for machines with an NVIDIA GPU: not a failure
            checks.append(
                Check(
                    f"extra {extra}",
                    SKIP,
                    "CuPy is not installed (only useful with an NVIDIA GPU)",
                    fix=f"pip install 'mitbadak[{extra}]'"
                    if extra in declared
                    else "pip install cupy-cuda12x (the build for your CUDA)",
                    details=details,
                )
            )
        elif missing:
            summary = f"missing {', '.join(missing)}" + (f" (have {have})" if have else "")
            checks.append(
                Check(
                    f"extra {extra}",
                    FAIL,
                    summary,
                    fix=f"pip install 'mitbadak[{extra}]'",
                    details=details,
                )
            )
        else:
            checks.append(
                Check(f"extra {extra}", OK, have or "nothing to install", details=details)
            )
    return checks


def _hangul_families() -> tuple[str, ...]:
    from mitbadak.views.fonts import HANGUL_FONT_FAMILIES

    return HANGUL_FONT_FAMILIES


def check_hangul_font(find: Callable[[], str | None] | None = None) -> Check:
    """A font that can show Korean (plots with ``lang='ko'``)."""
    if find is None:
        if importlib.util.find_spec("matplotlib") is None:
            return Check(
                "hangul font",
                SKIP,
                "not checked: matplotlib is not installed",
                fix="pip install 'mitbadak[plots]'",
            )
        from mitbadak.views.fonts import find_hangul_font

        find = find_hangul_font
    name = find()
    if name is None:
        return Check(
            "hangul font",
            FAIL,
            "no Hangul font found: Korean plots fall back to English",
            fix="Debian/Ubuntu: sudo apt install fonts-nanum; Fedora: google-noto-sans-cjk-fonts; "
            "then delete matplotlib's font cache (~/.cache/matplotlib)",
            details={"candidates": list(_hangul_families())},
        )
    return Check("hangul font", OK, name, details={"font": name})


def check_gpu() -> Check:
    """A CUDA GPU through CuPy, if any (never required)."""
    if importlib.util.find_spec("cupy") is None:
        return Check("gpu", SKIP, "no GPU backend (CuPy is not installed); not needed")
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # noqa: BLE001 - CUDA errors come in many kinds
        return Check(
            "gpu",
            FAIL,
            f"CuPy is installed but no GPU is usable: {exc}",
            fix="check the NVIDIA driver (nvidia-smi) and that the CuPy build matches "
            "your CUDA version; or uninstall cupy (the CPU is enough)",
        )
    if count < 1:
        return Check(
            "gpu",
            FAIL,
            "CuPy is installed but sees no GPU",
            fix="check the NVIDIA driver (nvidia-smi); the CPU is enough",
        )
    return Check(
        "gpu", OK, f"{count} GPU(s) via CuPy {cupy.__version__}", details={"devices": count}
    )


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def check_cache(folder: str | os.PathLike | None = None) -> Check:
    """The user cache folder: its size, and whether downloads could be written there."""
    from mitbadak.files.datasets.sources import cache_dir

    folder = Path(folder) if folder is not None else cache_dir()
    if folder.exists() and not folder.is_dir():
        return Check(
            "cache",
            FAIL,
            f"{folder} is not a folder",
            fix="remove it, or set MITBADAK_CACHE to a writable folder",
            details={"path": str(folder)},
        )
    size = count = 0
    if folder.is_dir():
        for root, _, files in os.walk(folder):
            for name in files:
                try:
                    size += (Path(root) / name).stat().st_size
                    count += 1
                except OSError:
                    continue
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable = existing.is_dir() and os.access(existing, os.W_OK)
    details = {"path": str(folder), "bytes": size, "files": count, "writable": writable}
    if not writable:
        return Check(
            "cache",
            FAIL,
            f"{folder} cannot be written (downloads would fail)",
            fix="set MITBADAK_CACHE to a writable folder",
            details=details,
        )
    if not folder.exists():
        return Check("cache", OK, f"{folder} (not created yet)", details=details)
    return Check("cache", OK, f"{folder}: {_human(size)} in {count} files", details=details)


# --- everything --------------------------------------------------------------------------------


def run_checks(
    *,
    offline: bool = False,
    data_dir: str | os.PathLike | None = None,
    timeout: float = MIRROR_TIMEOUT,
    mirror_targets: list[tuple[str, list[str]]] | None = None,
) -> list[Check]:
    """Every check, in report order. ``offline`` skips the mirror probes (no network)."""
    checks = [check_python(), check_numpy()]
    if not checks[-1].ok:
        return checks  # nothing below works without NumPy
    checks += [check_package(), check_core(), check_blas()]
    checks += check_datasets(data_dir)
    checks.append(check_book_weights(data_dir))
    checks += check_mirrors(mirror_targets, timeout=timeout, offline=offline)
    checks += check_extras()
    checks += [check_hangul_font(), check_gpu(), check_cache()]
    return checks


def core_ok(checks: Sequence[Check]) -> bool:
    """True when every required check passed."""
    return all(c.ok for c in checks if c.required)
