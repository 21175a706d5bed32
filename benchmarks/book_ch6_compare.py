"""Chapter 6 against the book's own scripts (issue 22): the same experiment, the same images,
several seeds.

    python benchmarks/book_ch6_compare.py --book DIR [--seeds 0,1,2] [--data mnist-sample]

``DIR`` is a checkout of the book's repository (``ch06/`` and ``common/`` in it) or a bare git
copy of it. Nothing of the book is kept in this repository: its ``ch06`` and ``common`` folders are
copied (or ``git archive``d) into a temporary folder at run time and run from there, unchanged on
disk. Without ``--book`` (or when DIR holds no book) the script prints one line and exits 0.

Each book script runs in a fresh subprocess (``RUNNER`` below) that first calls
``np.random.seed(seed)``, selects matplotlib's Agg backend, makes ``plt.show`` a no-op, puts a
``dataset.mnist`` module in ``sys.modules`` whose ``load_mnist`` returns the arrays this harness
wrote (the same arrays mitbadak's side gets), and executes the script's text in a globals dict it
keeps. It records every ``plt.plot``/``plt.hist`` call (the plotted numbers, the label, and chosen
script globals at that moment), the script's chosen globals at the end and, for the histogram
script, every ``np.random.randn`` draw. Where the book says "change this line and run again"
(the histogram script's commented alternatives), the variant is made in memory by uncommenting
the wanted alternative and commenting out the active one; the file on disk is never edited.

Compared:

- **deterministic, number for number**: ``optimizer_compare_naive.py``'s path per optimizer
  (the 30 plotted points plus the point after the last step) against
  ``mitbadak.training.experiments.optimizer_paths`` (31 points); and
  ``weight_init_activation_histogram.py`` for std 1, 0.01, Xavier, He x sigmoid, ReLU, tanh: the
  book's input and weight draws fed through mitbadak's per-layer math (an adapter here: the
  library's ``weight_init_histogram`` draws its own numbers from ``default_rng``; the adapter
  uses its ``_init_std`` and ``_activate`` and is checked against it on the library's draws),
  then the counts of ``np.histogram(a.flatten(), 30, range=(0, 1))`` against those of the book's
  ``plt.hist`` call, layer by layer.
- **stochastic summaries**, over the seeds: the final smoothed loss per optimizer
  (``optimizer_compare_mnist.py``) and per weight scale (``weight_init_compare.py``), the
  last-epoch train/test accuracy (``overfit_weight_decay.py``, ``overfit_dropout.py``), the final
  training accuracy with and without BatchNorm for the 16 weight scales (``batch_norm_test.py``);
  ours from ``EXPERIMENTS[name].run(seed=, full=True, x_train=, t_train=, x_test=, t_test=)``.
  Pass: |our mean - book mean| <= 3 x the book's seed-to-seed standard deviation (sample std,
  ddof=1; for an accuracy it is floored at one image of the evaluated set, 1/N, so that a
  book std of 0 over seeds does not demand equality), and the same order within each group.

The table is printed and written to ``--out`` (default ``benchmarks/results/book_ch6_compare.md``).
The book side of each (script, seed, data) is cached in ``--work DIR`` when given, so a rerun of
our side does not rerun the book.
"""

from __future__ import annotations

import os

# one BLAS thread for both sides: the same matrix products, and a fair share of a busy machine
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "book_ch6_compare.md"

#: the runner each book script is executed by, in its own process: argv[1] is a JSON job file
RUNNER = r'''
import json, os, sys, types
job = json.load(open(sys.argv[1], encoding="utf-8"))
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

arrays = np.load(job["data"])


def load_mnist(normalize=True, flatten=True, one_hot_label=False):
    """The harness's arrays in the book's load_mnist shape (normalized float32 images)."""
    if not normalize:
        raise NotImplementedError("this comparison serves normalized images only")
    out = []
    for split in ("train", "test"):
        x, t = arrays["x_" + split], arrays["t_" + split]
        if not flatten:
            x = x.reshape(-1, 1, 28, 28)
        if one_hot_label:
            t = np.eye(10, dtype=np.float32)[t]
        out.append((x, t))
    return tuple(out)


package = types.ModuleType("dataset")
package.__path__ = []
module = types.ModuleType("dataset.mnist")
module.load_mnist = load_mnist
package.mnist = module
sys.modules["dataset"], sys.modules["dataset.mnist"] = package, module


def plain(value, depth=0):
    """JSON-able copy: arrays and lists as lists of floats, dicts by key, objects by their
    numeric attributes."""
    if depth > 4:
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 100000 else None
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if isinstance(v, (int, float))}
    return repr(value)


scope = {"__name__": "__main__", "__file__": job["script"], "__builtins__": __builtins__}
record = {"plots": [], "hists": [], "globals": {}}
real_plot, real_hist = plt.plot, plt.hist


def plot(*args, **kwargs):
    numbers = [plain(np.asarray(a, dtype=np.float64).ravel()) for a in args
               if not isinstance(a, str)]
    record["plots"].append({"args": numbers, "label": kwargs.get("label"),
                            "at": {n: plain(scope.get(n)) for n in job["at_plot"]}})
    return real_plot(*args, **kwargs)


def hist(x, *args, **kwargs):
    result = real_hist(x, *args, **kwargs)
    record["hists"].append(np.asarray(result[0]).astype(np.int64).tolist())
    return result


plt.plot, plt.hist, plt.show = plot, hist, (lambda *a, **k: None)

draws = []
if job["record_randn"]:
    real_randn = np.random.randn

    def randn(*shape):
        value = real_randn(*shape)
        draws.append(np.array(value))
        return value

    np.random.randn = randn

folder = os.path.dirname(job["script"])
os.chdir(folder)
sys.path.insert(0, folder)
np.random.seed(job["seed"])
exec(compile(job["source"], job["script"], "exec"), scope)

for name in job["globals"]:
    record["globals"][name] = plain(scope.get(name))
if job["save_arrays"]:
    saved = {"draw%d" % i: d for i, d in enumerate(draws)}
    for name in job["save_arrays"]:
        for key, value in scope[name].items():
            saved["%s_%s" % (name, key)] = np.asarray(value)
    np.savez(job["arrays_out"], **saved)
with open(job["out"], "w", encoding="utf-8") as f:
    json.dump(record, f)
'''


# --- the book's files ----------------------------------------------------------------------------

NEEDED = ("ch06", "common")


def extract_book(book: Path, into: Path) -> Path | None:
    """Copy the book's ``ch06`` and ``common`` folders from a checkout, or ``git archive`` them
    from a bare git copy, into ``into``; None when ``book`` holds neither."""
    if all((book / part).is_dir() for part in NEEDED):
        for part in NEEDED:
            shutil.copytree(book / part, into / part)
        return into
    if (book / "HEAD").is_file() and (book / "objects").is_dir():
        done = subprocess.run(
            ["git", "--git-dir", str(book), "archive", "--format=tar", "HEAD", *NEEDED],
            capture_output=True,
        )
        if done.returncode != 0:
            return None
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            tar.extractall(into, filter="data")
        return into
    return None


def choose_alternative(source: str, pattern: str, wanted: str) -> str:
    """In the consecutive lines matching ``pattern`` (a regex for one assignment, commented out
    or not, its group 1 the part after ``=``), uncomment the one whose group 1 is ``wanted`` and
    comment out the others: what the book asks the reader to do by hand."""
    rx = re.compile(r"^(\s*)(#\s*)?(" + pattern + r")\s*$")
    lines = source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if rx.match(line.rstrip("\n"))]
    choices = [rx.match(lines[i].rstrip("\n")) for i in hits]
    found = [m.group(4).strip() for m in choices]
    if found.count(wanted) != 1:
        raise RuntimeError(f"the book's script has no single alternative {wanted!r}: {found}")
    for i, m in zip(hits, choices, strict=True):
        keep = m.group(4).strip() == wanted
        lines[i] = m.group(1) + ("" if keep else "# ") + m.group(3) + "\n"
    return "".join(lines)


def set_constant(source: str, name: str, value: int) -> str:
    """``name = <number>`` at the start of a line, or the keyword argument ``name=<number>``,
    replaced once (a reduced-size run)."""
    new, n = re.subn(rf"^{name} = \d+\s*$", f"{name} = {value}", source, flags=re.M)
    if n == 0:
        new, n = re.subn(rf"\b{name}=\d+\b", f"{name}={value}", source)
    if n != 1:
        raise RuntimeError(f"the book's script sets {name} {n} times, expected once")
    return new


class Book:
    """Runs the book's scripts (each in its own process) and caches what they recorded."""

    def __init__(self, root: Path, data: Path, work: Path, python: str, data_key: str):
        self.root, self.data, self.work, self.python = root, data, work, python
        self.data_key = data_key
        self.seconds, self.runs, self.cached = 0.0, 0, 0  # processes run now, and reused records

    def run(
        self,
        script: str,
        seed: int,
        *,
        source: str | None = None,
        at_plot: tuple[str, ...] = (),
        globals_: tuple[str, ...] = (),
        record_randn: bool = False,
        save_arrays: tuple[str, ...] = (),
    ) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
        path = self.root / script
        text = source if source is not None else path.read_text(encoding="utf-8")
        key = hashlib.sha256(
            json.dumps([script, seed, self.data_key, text, at_plot, globals_, record_randn,
                        save_arrays]).encode()
        ).hexdigest()[:16]  # fmt: skip
        out = self.work / f"{path.stem}-{seed}-{key}.json"
        arrays_out = self.work / f"{path.stem}-{seed}-{key}.npz"
        if not out.exists():
            job = {
                "script": str(path), "seed": seed, "data": str(self.data), "source": text,
                "at_plot": list(at_plot), "globals": list(globals_),
                "record_randn": record_randn, "save_arrays": list(save_arrays),
                "arrays_out": str(arrays_out), "out": str(out) + ".part",
            }  # fmt: skip
            job_file = self.work / f"{path.stem}-{seed}-{key}.job.json"
            job_file.write_text(json.dumps(job), encoding="utf-8")
            runner = self.work / "runner.py"
            runner.write_text(RUNNER, encoding="utf-8")
            start = time.perf_counter()
            done = subprocess.run(
                [self.python, str(runner), str(job_file)], capture_output=True, text=True
            )
            self.seconds += time.perf_counter() - start
            self.runs += 1
            if done.returncode != 0:
                raise RuntimeError(f"the book's {script} failed (seed {seed}):\n{done.stderr}")
            os.replace(str(out) + ".part", out)
        else:
            self.cached += 1
        record = json.loads(out.read_text(encoding="utf-8"))
        arrays = dict(np.load(arrays_out)) if save_arrays else None
        return record, arrays


# --- deterministic: optimizer paths ---------------------------------------------------------------


def compare_paths(book: Book, seed: int) -> list[dict[str, Any]]:
    """The book's four paths (30 plotted points + the point after step 30) against ours."""
    from mitbadak.training.experiments import optimizer_paths

    record, _ = book.run("ch06/optimizer_compare_naive.py", seed, at_plot=("key", "params"))
    ours = optimizer_paths()["optimizers"]
    rows = []
    for call in record["plots"]:
        key, params = call["at"]["key"], call["at"]["params"]
        if len(call["args"]) != 2 or len(call["args"][0]) < 2:
            continue  # the '+' at the origin
        bx = call["args"][0] + [params["x"]]
        by = call["args"][1] + [params["y"]]
        mine = ours[key.lower()]
        dx = np.abs(np.array(bx) - np.array(mine["x"]))
        dy = np.abs(np.array(by) - np.array(mine["y"]))
        rows.append({
            "optimizer": key, "points": len(bx), "ours_points": len(mine["x"]),
            "max_abs_diff": float(max(dx.max(), dy.max())),
            "identical": bool(bx == mine["x"] and by == mine["y"]),
            "last_book": (bx[-1], by[-1]), "last_ours": (mine["x"][-1], mine["y"][-1]),
        })  # fmt: skip
    return rows


# --- deterministic: activation histograms ---------------------------------------------------------

#: the book's alternatives, in its order: our init name -> the scale it writes
HIST_INITS = {"std=1": 1.0, "std=0.01": 0.01, "xavier": 0.1, "he": float(np.sqrt(0.02))}
HIST_ACTIVATIONS = {"sigmoid": "sigmoid", "relu": "ReLU", "tanh": "tanh"}  # ours -> book's name
W_LINE = r"w = np\.random\.randn\(node_num, node_num\) \* (.+)"
Z_LINE = r"z = (\w+)\(a\)"


def _book_scale_expressions(source: str) -> dict[str, str]:
    """Our init name -> the scale expression of the book's alternative with that value."""
    found = re.findall(r"^\s*#?\s*" + W_LINE + r"\s*$", source, flags=re.M)
    out = {}
    for expr in found:
        value = float(eval(expr.strip(), {"np": np, "node_num": 100}))  # noqa: S307
        for name, scale in HIST_INITS.items():
            if np.isclose(value, scale, rtol=1e-12):
                out[name] = expr.strip()
    missing = set(HIST_INITS) - set(out)
    if missing:
        raise RuntimeError(f"the book's histogram script has no scale for {sorted(missing)}")
    return out


def _library_math():
    """The library's ``_init_std`` and ``_activate`` (in the experiments package's histogram
    module, or in the package itself)."""
    import importlib

    for name in ("mitbadak.training.experiments.histograms", "mitbadak.training.experiments"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "_init_std") and hasattr(module, "_activate"):
            return module._init_std, module._activate
    raise RuntimeError("mitbadak's weight_init_histogram math (_init_std, _activate) not found")


def our_layers(x: np.ndarray, raws: list[np.ndarray], init: str, activation: str) -> list:
    """mitbadak's per-layer math of ``weight_init_histogram`` on given draws:
    z = activation(z @ (raw * std)) with std from the library's ``_init_std``."""
    _init_std, _activate = _library_math()
    std = float(_init_std(init, raws[0].shape[0]))
    z, out = x, []
    with np.errstate(over="ignore"):
        for raw in raws:
            z = _activate(activation, z @ (raw * std))
            out.append(z)
    return out


def check_adapter(seed: int) -> bool:
    """The adapter on the library's own draws gives the library's counts (every case, layer)."""
    from mitbadak.training.experiments import HISTOGRAM_RANGES, weight_init_histogram

    lib = weight_init_histogram(seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((lib["samples"], lib["width"]))
    raws = [rng.standard_normal((lib["width"], lib["width"])) for _ in range(lib["layers"])]
    for case in lib["cases"].values():
        lo, hi = HISTOGRAM_RANGES[case["activation"]]
        edges = np.linspace(lo, hi, lib["bins"] + 1)
        for i, z in enumerate(our_layers(x, raws, case["init"], case["activation"])):
            counts = np.histogram(np.clip(z.ravel(), lo, hi), bins=edges)[0]
            if not np.array_equal(counts, case["counts"][i]):
                return False
    return True


def compare_histograms(book: Book, seed: int) -> list[dict[str, Any]]:
    script = "ch06/weight_init_activation_histogram.py"
    original = (book.root / script).read_text(encoding="utf-8")
    scales = _book_scale_expressions(original)
    rows = []
    for activation, book_name in HIST_ACTIVATIONS.items():
        for init in HIST_INITS:
            source = choose_alternative(original, W_LINE, scales[init])
            source = choose_alternative(source, Z_LINE, book_name)
            record, arrays = book.run(
                script, seed, source=source, record_randn=True, save_arrays=("activations",)
            )
            draws = [arrays[f"draw{i}"] for i in range(6)]
            mine = our_layers(draws[0], draws[1:], init, activation)
            equal_layers, max_diff = 0, 0.0
            for i, z in enumerate(mine):
                counts = np.histogram(z.flatten(), 30, range=(0, 1))[0]
                equal_layers += int(np.array_equal(counts, record["hists"][i]))
                max_diff = max(max_diff, float(np.max(np.abs(z - arrays[f"activations_{i}"]))))
            rows.append({
                "case": f"{activation}/{init}", "layers": len(mine), "equal_layers": equal_layers,
                "max_abs_diff": max_diff, "hist_calls": len(record["hists"]),
            })  # fmt: skip
    return rows


# --- stochastic summaries ----------------------------------------------------------------------


def _final_smoothed(record: dict[str, Any]) -> dict[str, float]:
    return {c["label"]: c["args"][1][-1] for c in record["plots"] if c["label"]}


def book_summaries(book: Book, seed: int, sizes: dict[str, dict[str, int]]) -> dict:
    """Each stochastic script's numbers for one seed, keyed (group, quantity)."""
    out: dict[tuple[str, str], float] = {}

    def source(script: str, constants: dict[str, int]) -> str:
        text = (book.root / script).read_text(encoding="utf-8")
        for name, value in constants.items():
            text = set_constant(text, name, value)
        return text

    s = "ch06/optimizer_compare_mnist.py"
    rec, _ = book.run(s, seed, source=source(s, sizes.get("optimizer-mnist", {})))
    for k, v in _final_smoothed(rec).items():
        out[("optimizer-mnist", k)] = v
    s = "ch06/weight_init_compare.py"
    rec, _ = book.run(s, seed, source=source(s, sizes.get("weight-init-compare", {})))
    for k, v in _final_smoothed(rec).items():
        out[("weight-init-compare", k)] = v
    for group, s in (("overfit-weight-decay", "ch06/overfit_weight_decay.py"),
                     ("overfit-dropout", "ch06/overfit_dropout.py")):  # fmt: skip
        rec, _ = book.run(s, seed, source=source(s, sizes.get(group, {})),
                          globals_=("train_acc_list", "test_acc_list"))  # fmt: skip
        out[(group, "train acc")] = rec["globals"]["train_acc_list"][-1]
        out[(group, "test acc")] = rec["globals"]["test_acc_list"][-1]
    s = "ch06/batch_norm_test.py"
    rec, _ = book.run(s, seed, source=source(s, sizes.get("batchnorm", {})), at_plot=("i", "w"))
    calls = rec["plots"]
    for j in range(0, len(calls), 2):
        i = calls[j]["at"]["i"]
        out[("batchnorm", f"W {calls[j]['at']['w']:.3g} BN")] = calls[j]["args"][1][-1]
        out[("batchnorm", f"W {calls[j]['at']['w']:.3g} plain")] = calls[j + 1]["args"][1][-1]
        assert calls[j + 1]["at"]["i"] == i
    return out


BOOK_OPT = {"sgd": "SGD", "momentum": "Momentum", "adagrad": "AdaGrad", "adam": "Adam"}
BOOK_INIT = {"std=0.01": "std=0.01", "xavier": "Xavier", "he": "He"}


def our_summaries(
    seed: int, arrays: dict[str, np.ndarray], log, sizes: dict[str, dict[str, int]]
) -> tuple[dict, list[str]]:
    """mitbadak's numbers for one seed, keyed as :func:`book_summaries`; the second value lists
    the experiments not (yet) in the registry."""
    from mitbadak.training.experiments import EXPERIMENTS

    out: dict[tuple[str, str], float] = {}
    missing = []
    inputs = {k: arrays[k] for k in ("x_train", "t_train", "x_test", "t_test")}

    def run(name: str) -> dict[str, Any] | None:
        if name not in EXPERIMENTS:
            missing.append(name)
            return None
        start = time.perf_counter()
        size = {OUR_SIZE_KEYWORD[k]: v for k, v in sizes.get(name, {}).items()}
        data = EXPERIMENTS[name].run(seed=seed, full=True, **inputs, **size)
        log(f"  ours {name} seed {seed}: {time.perf_counter() - start:.1f} s")
        return data

    data = run("optimizer-mnist")
    if data is not None:
        for name, v in data["optimizers"].items():
            label = BOOK_OPT.get(name.lower(), name)
            out[("optimizer-mnist", label)] = float(v["final_smoothed"])
    data = run("weight-init-compare")
    if data is not None:
        for name, v in data["inits"].items():
            label = BOOK_INIT.get(name.lower(), name)
            out[("weight-init-compare", label)] = float(v["final_smoothed"])
    for group in ("overfit-weight-decay", "overfit-dropout"):
        data = run(group)
        if data is not None:
            out[(group, "train acc")] = float(data["train_acc"][-1])
            out[(group, "test acc")] = float(data["test_acc"][-1])
    data = run("batchnorm")
    if data is not None:
        for case in data["cases"]:
            w = float(case["scale"])
            out[("batchnorm", f"W {w:.3g} BN")] = float(case["bn_train_acc"][-1])
            out[("batchnorm", f"W {w:.3g} plain")] = float(case["plain_train_acc"][-1])
    return out, missing


def _order(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda k: (values[k], k))


def _compare(
    book_runs: list[dict], other_runs: list[dict], floors: dict[str, float]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per quantity present on both sides: the other side's mean, std and values, the ratio
    |other mean - book mean| / max(book std, floor) and whether the quantity's rank in its group
    (BatchNorm: its scale's BN/plain pair) is the same for both means."""
    keys = [k for k in book_runs[0] if other_runs and k in other_runs[0]]
    book_mean = {k: statistics.fmean(r[k] for r in book_runs) for k in keys}
    other_mean = {k: statistics.fmean(r[k] for r in other_runs) for k in keys}
    groups: dict[str, list[tuple[str, str]]] = {}
    for k in book_runs[0]:
        g = k[0] if k[0] != "batchnorm" else "batchnorm " + k[1].rsplit(" ", 1)[0]
        groups.setdefault(g, []).append(k)
    same: dict[tuple[str, str], bool] = {}
    for members in groups.values():
        if all(k in other_mean for k in members):
            b = _order({k[1]: book_mean[k] for k in members})
            o = _order({k[1]: other_mean[k] for k in members})
            same.update({k: b.index(k[1]) == o.index(k[1]) for k in members})
    out = {}
    for k in keys:
        values = [r[k] for r in other_runs]
        bstd = statistics.stdev([r[k] for r in book_runs]) if len(book_runs) > 1 else 0.0
        scale = max(bstd, floors.get(k[1], floors.get(k[0], 0.0)))
        diff = abs(other_mean[k] - book_mean[k])
        ratio = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        out[k] = {
            "mean": other_mean[k], "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values, "ratio": ratio, "same_order": same.get(k),
        }  # fmt: skip
    return out


def summary_rows(
    book_runs: list[dict],
    our_runs: list[dict],
    floors: dict[str, float],
    control_runs: list[dict] | None = None,
) -> list[dict[str, Any]]:
    """One row per quantity of the book: its mean, std and values over the seeds, ``ours`` (see
    :func:`_compare`) where mitbadak has it, and ``control``: the book itself on other seeds,
    judged the same way (what the criterion gives when nothing but the seeds differs)."""
    ours = _compare(book_runs, our_runs, floors)
    control = _compare(book_runs, control_runs, floors) if control_runs else {}
    rows = []
    for k in book_runs[0]:
        values = [r[k] for r in book_runs]
        rows.append({
            "group": k[0], "quantity": k[1], "book_mean": statistics.fmean(values),
            "book_std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "book_values": values, "ours": ours.get(k), "control": control.get(k),
        })  # fmt: skip
    return rows


# --- report ------------------------------------------------------------------------------------


def _pm(mean: float, std: float) -> str:
    return f"{mean:.5g} ± {std:.2g}"


def report(meta: dict[str, Any], paths: list, hists: list, adapter: list, rows: list) -> str:
    lines = [
        "# mitbadak vs the book's chapter-6 scripts",
        "",
        f"Date: {meta['date']}. Command: `{meta['command']}`.",
        f"Seeds: {meta['seeds']}. Images: {meta['data']}. Book: {meta['book']}. "
        f"Sizes: {meta['sizes']}. Machine: {meta['machine']}. "
        f"Run time: the book's scripts {meta['book_s']:.0f} s ({meta['book_runs']}), "
        f"mitbadak's experiments {meta['ours_s']:.0f} s.",
        "",
        "## Deterministic: number for number",
        "",
        "`optimizer_compare_naive.py`: the book's 30 plotted points plus its point after step 30 "
        "against `optimizer_paths()`'s 31 points, the script run once per seed (nothing in it is "
        "random: every seed gives the same path).",
        "",
        "| optimizer | seeds | points (book / ours) | max abs diff | bit-identical | "
        "last point, book | last point, ours |",
        "| --- | ---: | --- | ---: | --- | --- | --- |",
    ]
    for r in paths:
        lines.append(
            f"| {r['optimizer']} | {r['seeds']} | {r['points']} / {r['ours_points']} | "
            f"{r['max_abs_diff']:.3g} | "
            f"{'yes' if r['identical'] else 'no'} | ({r['last_book'][0]:.12g}, "
            f"{r['last_book'][1]:.12g}) | ({r['last_ours'][0]:.12g}, {r['last_ours'][1]:.12g}) |"
        )
    lines += [
        "",
        "`weight_init_activation_histogram.py` (each variant made by switching the script's "
        "commented alternatives, in memory): the book's `np.random.randn` draws (input 1000x100, "
        "then five 100x100 W) through mitbadak's per-layer math; the counts of "
        "`np.histogram(a.flatten(), 30, range=(0, 1))` against the book's `plt.hist` counts, "
        "per layer, and the largest difference of the activations themselves.",
        "",
        f"Adapter check (on the library's own draws the adapter gives `weight_init_histogram`'s "
        f"counts, all 12 cases x 5 layers), per seed: "
        f"{', '.join('yes' if a else 'NO' for a in adapter)}.",
        "",
        "| case | seeds | layers with equal counts | max abs diff of activations |",
        "| --- | --- | ---: | ---: |",
    ]
    by_case: dict[str, list] = {}
    for seed_rows in hists:
        for r in seed_rows:
            by_case.setdefault(r["case"], []).append(r)
    for case, rs in by_case.items():
        lines.append(
            f"| {case} | {len(rs)} | {sum(r['equal_layers'] for r in rs)} / "
            f"{sum(r['layers'] for r in rs)} | {max(r['max_abs_diff'] for r in rs):.3g} |"
        )
    lines += [
        "",
        "## Stochastic summaries over the seeds",
        "",
        "Book mean ± sample std (ddof=1) over the seeds, ours the same; ratio = |ours mean - book "
        "mean| / max(book std, floor), the floor being one image of the evaluated set for an "
        f"accuracy ({meta['floors']}) and 0 for a loss; pass: ratio <= 3. *Same order*: the "
        "quantity's rank inside its group (the optimizers by loss; the weight scales by loss; "
        "train vs test; BN vs plain at one weight scale) is the same for both means.",
        "",
        "The *control* column runs the book against itself: the same scripts on the control "
        f"seeds ({meta['control'] or 'none'}), judged by the same rule, so it shows what the "
        "rule gives when only the seeds differ. With 3 seeds a side, a normally distributed "
        "quantity with the same mean and spread on both sides still reads a ratio above 3 about "
        "7 % of the time (simulated), and a near-tie flips an order as often as not.",
        "",
        "| experiment | quantity | book mean ± std | ours mean ± std | ratio | within 3x | "
        "same order | control: ratio, order |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]

    def verdict(c: dict[str, Any] | None) -> tuple[str, str, str]:
        if c is None:
            return "-", "-", "-"
        order = {True: "yes", False: "**no**", None: "-"}[c["same_order"]]
        return f"{c['ratio']:.2f}", "yes" if c["ratio"] <= 3 else "**no**", order

    for r in rows:
        ratio, within, order = verdict(r["ours"])
        ours = _pm(r["ours"]["mean"], r["ours"]["std"]) if r["ours"] else "not run"
        c_ratio, c_within, c_order = verdict(r["control"])
        control = "-" if r["control"] is None else f"{c_ratio}, {c_order}"
        lines.append(
            f"| {r['group']} | {r['quantity']} | {_pm(r['book_mean'], r['book_std'])} | {ours} | "
            f"{ratio} | {within} | {order} | {control} |"
        )

    def tally(side: str) -> str:
        got = [r[side] for r in rows if r[side] is not None]
        if not got:
            return "not run"
        return (
            f"within 3x {sum(c['ratio'] <= 3 for c in got)} of {len(got)}, same order "
            f"{sum(bool(c['same_order']) for c in got)} of {len(got)}"
        )

    lines += [
        "",
        f"Ours: {tally('ours')}. Control (book vs book): {tally('control')}."
        + (f" Not in mitbadak's registry: {meta['missing']}." if meta["missing"] else ""),
        "",
        "Per-seed values (book | ours | control):",
        "",
    ]
    for r in rows:
        parts = [", ".join(f"{v:.6g}" for v in r["book_values"])]
        for side in ("ours", "control"):
            parts.append(", ".join(f"{v:.6g}" for v in r[side]["values"]) if r[side] else "-")
        lines.append(f"- {r['group']} / {r['quantity']}: {' | '.join(parts)}")
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------


def load_arrays(data: str) -> dict[str, np.ndarray]:
    from mitbadak.files.datasets import load_split

    out = {}
    for split in ("train", "test"):
        x, t = load_split(data, split, normalize=True, flatten=True, download=False)
        out["x_" + split], out["t_" + split] = x, t
    return out


def reduced_sizes(scale: float) -> dict[str, dict[str, int]]:
    """The book's size constants times ``scale`` (1: the book's sizes, nothing replaced), per
    experiment: the constant's name in the book's script -> the new value."""
    if scale >= 1:
        return {}
    iterations = max(20, round(2000 * scale))
    return {
        "optimizer-mnist": {"max_iterations": iterations},
        "weight-init-compare": {"max_iterations": iterations},
        "overfit-weight-decay": {"max_epochs": max(2, round(201 * scale))},
        "overfit-dropout": {"epochs": max(2, round(301 * scale))},
        "batchnorm": {"max_epochs": max(2, round(20 * scale))},
    }


#: the keyword of mitbadak's experiment that sets the same size
OUR_SIZE_KEYWORD = {"max_iterations": "iterations", "max_epochs": "epochs", "epochs": "epochs"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--book", type=Path, help="a checkout (or bare git copy) of the book's repo")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--data", default="mnist-sample", choices=("mnist-sample", "fashion-mnist"))
    p.add_argument("--parts", default="paths,histograms,summaries",
                   help="any of paths, histograms, summaries")  # fmt: skip
    p.add_argument(
        "--control-seeds", default="", help="also run the book on these seeds (book vs book)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown results file")
    p.add_argument("--work", type=Path, help="keep the book's recorded runs here (a cache)")
    p.add_argument("--scale", type=float, default=1.0, help="sizes x this, both sides")
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.book is None or not args.book.exists():
        print(f"skipped: the book's repository is needed (--book DIR; given: {args.book})")
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    control = [int(s) for s in args.control_seeds.split(",") if s.strip()]
    parts = {s.strip() for s in args.parts.split(",")}
    with tempfile.TemporaryDirectory(prefix="mitbadak-book-") as tmp:
        tmp_path = Path(tmp)
        root = extract_book(args.book.resolve(), tmp_path / "book")
        if root is None:
            print(f"skipped: no ch06/ and common/ of the book in {args.book}")
            return 0
        work = args.work.resolve() if args.work else tmp_path / "work"
        work.mkdir(parents=True, exist_ok=True)
        arrays = load_arrays(args.data)
        data_file = work / f"data-{args.data}.npz"
        np.savez(data_file, **arrays)
        digest = hashlib.sha256(b"".join(a.tobytes() for a in arrays.values())).hexdigest()[:16]
        book = Book(root, data_file, work, sys.executable, f"{args.data}:{digest}")
        paths, hists, adapter, rows, missing = [], [], [], [], []
        ours_s = 0.0
        if "paths" in parts:
            # nothing is random in it, but it runs seeded like the rest: the same for every seed
            runs = [compare_paths(book, seed) for seed in seeds]
            paths = [
                {**rs[0], "seeds": len(rs), "identical": all(r["identical"] for r in rs),
                 "max_abs_diff": max(r["max_abs_diff"] for r in rs)}
                for rs in zip(*runs, strict=True)
            ]  # fmt: skip
            log(f"paths: {[(r['optimizer'], r['max_abs_diff']) for r in paths]}")
        if "histograms" in parts:
            for seed in seeds:
                start = time.perf_counter()
                hists.append(compare_histograms(book, seed))
                adapter.append(check_adapter(seed))
                log(f"histograms seed {seed}: {time.perf_counter() - start:.1f} s")
        if "summaries" in parts:
            sizes = reduced_sizes(args.scale)
            book_runs, our_runs, control_runs, missing = [], [], [], []
            for seed in seeds:
                start = time.perf_counter()
                book_runs.append(book_summaries(book, seed, sizes))
                log(f"book seed {seed}: {time.perf_counter() - start:.1f} s")
                start = time.perf_counter()
                ours, missing = our_summaries(seed, arrays, log, sizes)
                our_runs.append(ours)
                ours_s += time.perf_counter() - start
            for seed in control:
                start = time.perf_counter()
                control_runs.append(book_summaries(book, seed, sizes))
                log(f"book control seed {seed}: {time.perf_counter() - start:.1f} s")
            n_test = len(arrays["x_test"])
            # one image of the evaluated set: 300 training images (overfit), 1,000 (BatchNorm)
            floors = {"train acc": 1 / 300, "test acc": 1 / n_test, "batchnorm": 1 / 1000}
            rows = summary_rows(book_runs, our_runs, floors, control_runs)
            if missing:
                log(f"not in mitbadak's registry yet: {', '.join(missing)}")
        import platform

        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": "python benchmarks/book_ch6_compare.py " + " ".join(argv or sys.argv[1:]),
            "seeds": ", ".join(map(str, seeds)),
            "data": f"{args.data} ({len(arrays['x_train'])} training, {len(arrays['x_test'])} "
            "test images), the same arrays for both sides",
            "book": _book_version(args.book),
            "sizes": "the book's (full)" if args.scale >= 1 else
                     f"REDUCED: the book's x {args.scale}, both sides ({sizes})",
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                       f"load {os.getloadavg()[0]:.1f}, 1 BLAS thread",
            "book_s": book.seconds, "ours_s": ours_s,
            "book_runs": f"{book.runs} processes run now, {book.cached} records reused from "
                         f"--work" if book.cached else f"{book.runs} processes",
            "missing": ", ".join(missing),
            "control": ", ".join(map(str, control)),
            "floors": f"overfit train 1/300, test 1/{len(arrays['x_test'])}, BatchNorm 1/1000",
        }  # fmt: skip
        text = report(meta, paths, hists, adapter, rows)
    print(text)
    from mitbadak.core.atomic import atomic_write_text

    atomic_write_text(args.out, text)
    log(f"written: {args.out}")
    return 0


def _book_version(book: Path) -> str:
    git = ["git", "--git-dir", str(book)] if (book / "HEAD").is_file() else ["git", "-C", str(book)]
    done = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    commit = done.stdout.strip() if done.returncode == 0 else "unknown commit"
    return f"{book.name} at {commit}"


if __name__ == "__main__":
    sys.exit(main())
