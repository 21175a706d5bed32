"""Hyper-parameter search, the book's section 6.5: random trials over a recipe's fields.

A search is a :class:`SearchSpec`: a **space** (one :class:`Param` per :class:`TrainConfig` field:
``log`` = log-uniform ``10**U(log10 low, log10 high)``, ``uniform`` = ``U(low, high)``, ``choice``
= one of a list, each equally likely), the **recipe** every trial starts from, the number of
trials, the seed and the data (the first ``train_size`` training images, ``val_fraction`` of them
held out by :func:`mitbadak.training.split_validation`). The book's search is the default:
:data:`BOOK_SPACE` over :data:`BOOK_RECIPE` (lr ``10**U(-6, -2)``, weight decay
``10**U(-8, -4)``, 6 hidden layers of 100, SGD, batch 100, 50 epochs, 500 images, 20 % held out,
100 trials).

Trial ``i`` draws its values from ``np.random.default_rng([seed, i, 1])`` and trains with the
seed :func:`trial_seed` ``(seed, i)``, through :func:`mitbadak.training.train`, so its result does
not depend on which worker runs it or when: a search is deterministic for a seed, with any
number of workers. Workers are processes (``forkserver`` where there is one, else ``spawn``);
the parent appends each finished trial to ``trials.jsonl`` as one JSON line, flushed and
fsynced, so a killed search resumes where it stopped (a torn last line is dropped). Trials are
ranked by their last validation accuracy (:meth:`SearchResult.ranked`).

Optuna (TPE, pruning, storages for many machines) is :mod:`mitbadak.training.tune`; it shares the
space, the data and :func:`run_trial` with this module.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write_text
from mitbadak.core.errors import MitbadakError
from mitbadak.training.loop import TrainingDiverged, split_validation, train
from mitbadak.training.recipes import TrainConfig
from mitbadak.training.runs import build_network, load_training_data

__all__ = [
    "Param",
    "SearchSpec",
    "SearchResult",
    "SearchError",
    "BOOK_SPACE",
    "BOOK_RECIPE",
    "SEARCH_FIELDS",
    "parse_param",
    "make_space",
    "trial_params",
    "trial_seed",
    "trial_config",
    "search_data",
    "run_trial",
    "search",
    "read_trials",
    "SPEC_FILE",
    "TRIALS_FILE",
]

SPEC_FILE = "search.json"
TRIALS_FILE = "trials.jsonl"
LOCK_FILE = ".search.lock"

KINDS = ("log", "uniform", "choice")

#: the TrainConfig fields a search may vary (the data, its folder and the seed belong to the search)
SEARCH_FIELDS = tuple(
    f.name for f in fields(TrainConfig) if f.name not in ("dataset", "data_dir", "seed", "iters")
)
_NUMERIC = {"lr": float, "weight_decay": float, "weight_init": float, "dropout": float,
            "val_fraction": float, "batch_size": int, "epochs": int,
            "early_stopping": int}  # fmt: skip

BOOK_RECIPE = TrainConfig(model="mlp", hidden=[100] * 6, activation="relu", optimizer="sgd",
                          lr=0.01, batch_size=100, epochs=50, dtype="float64")  # fmt: skip


class SearchError(MitbadakError):
    """A search that cannot run as asked: one line saying what was expected and what was given."""


@dataclass(frozen=True)
class Param:
    """One searched field: ``Param('lr', 'log', 1e-6, 1e-2)``, ``Param('dropout', 'uniform', 0,
    0.5)`` or ``Param('activation', 'choice', choices=('relu', 'sigmoid'))``. Integer fields
    (``batch_size``, ``epochs``) round their draw."""

    field: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def draw(self, rng: np.random.Generator) -> Any:
        """One value: ``10**U(log10 low, log10 high)``, ``U(low, high)`` or a uniform choice."""
        if self.kind == "choice":
            return _copy(self.choices[int(rng.integers(len(self.choices)))])
        if self.kind == "log":
            value = 10 ** rng.uniform(math.log10(self.low), math.log10(self.high))
        else:
            value = rng.uniform(self.low, self.high)
        return self.cast(value)

    def cast(self, value: float) -> Any:
        """A drawn number as the field's type (rounded for an integer field)."""
        return int(round(value)) if _NUMERIC.get(self.field) is int else float(value)

    def text(self) -> str:
        """The ``--param`` form: ``lr=log:1e-06:0.01``."""
        if self.kind == "choice":
            return f"{self.field}=choice:" + ",".join(json.dumps(c) for c in self.choices)
        return f"{self.field}={self.kind}:{self.low:g}:{self.high:g}"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"field": self.field, "kind": "choice", "choices": [_copy(c) for c in
                                                                     self.choices]}  # fmt: skip
        return {"field": self.field, "kind": self.kind, "low": self.low, "high": self.high}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


BOOK_SPACE: tuple[Param, ...] = (
    Param("lr", "log", 1e-6, 1e-2),
    Param("weight_decay", "log", 1e-8, 1e-4),
)


def _field_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SearchError(f"--param: expected a field name such as lr, got {name!r}")
    key = name.strip().lstrip("-").replace("-", "_")
    if key not in SEARCH_FIELDS:
        raise SearchError(f"--param {name}: unknown field; a search varies one of "
                          f"{', '.join(SEARCH_FIELDS)}")  # fmt: skip
    return key


def _check_value(recipe: TrainConfig, key: str, value: Any, where: str) -> None:
    """``value`` must be a valid ``key`` of a recipe (TrainConfig's own check)."""
    try:
        TrainConfig.from_dict({**recipe.to_dict(), key: value})
    except MitbadakError:
        kind = "choice" if where == "choice" else f"{where} bound"
        raise SearchError(f"--param {key}: the {kind} {value!r} is not a valid {key} "
                          f"({_expected(key)})") from None  # fmt: skip


def _expected(key: str) -> str:
    from mitbadak.training.recipes import _TYPE_NAMES

    return _TYPE_NAMES.get(key, "a valid value")


def make_param(name: str, kind: str, low: Any = None, high: Any = None, choices: Sequence = (),
               recipe: TrainConfig = BOOK_RECIPE) -> Param:  # fmt: skip
    """A checked :class:`Param`: a known field, ``low < high`` (both > 0 on a log scale), bounds
    and choices that the field accepts."""
    key = _field_name(name)
    if kind not in KINDS:
        raise SearchError(f"--param {key}: unknown scale {kind!r}; expected one of "
                          f"{', '.join(KINDS)}")  # fmt: skip
    if kind == "choice":
        options = tuple(_copy(c) for c in choices)
        if not options:
            raise SearchError(f"--param {key}=choice: give at least one value, e.g. "
                              f"{key}=choice:a,b")  # fmt: skip
        for option in options:
            _check_value(recipe, key, option, "choice")
        return Param(key, "choice", choices=options)
    if key not in _NUMERIC:
        raise SearchError(f"--param {key}: a {kind} range needs a numeric field; {key} takes "
                          f"{_expected(key)}, so use {key}=choice:...")  # fmt: skip
    bounds = []
    for label, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise SearchError(f"--param {key}: the {label} bound must be a finite number, "
                              f"got {v!r}")  # fmt: skip
        bounds.append(float(v))
    lo, hi = bounds
    if lo >= hi:
        raise SearchError(f"--param {key}: a range needs low < high, got low {lo:g} >= high "
                          f"{hi:g}")  # fmt: skip
    if kind == "log" and lo <= 0:
        raise SearchError(f"--param {key}: a log scale needs bounds > 0, got low {lo:g}; use "
                          f"{key}=uniform:{lo:g}:{hi:g} for a range through 0")  # fmt: skip
    param = Param(key, kind, lo, hi)
    for label, v in (("low", lo), ("high", hi)):
        _check_value(recipe, key, param.cast(v), label)
    return param


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets: ``[100,100],[50]`` -> ``['[100,100]', '[50]']``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _option(text: str) -> Any:
    """A choice as written: JSON (numbers, true/false, null, lists), else the bare word."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_param(text: str, recipe: TrainConfig = BOOK_RECIPE) -> Param:
    """``FIELD=log:LOW:HIGH``, ``FIELD=uniform:LOW:HIGH`` or ``FIELD=choice:A,B,...`` (choices
    as JSON or bare words; a list such as ``[100,100]`` stays one choice)."""
    name, sep, rest = str(text).partition("=")
    kind, _, values = rest.partition(":")
    if not sep or not kind:
        raise SearchError(f"--param {text}: expected FIELD=log:LOW:HIGH, FIELD=uniform:LOW:HIGH "
                          "or FIELD=choice:A,B")  # fmt: skip
    key = _field_name(name)
    kind = kind.strip()
    if kind == "choice":
        return make_param(key, kind, choices=[_option(v) for v in _split_top(values) if v],
                          recipe=recipe)  # fmt: skip
    bounds = values.split(":")
    if kind not in KINDS or len(bounds) != 2:
        raise SearchError(f"--param {text}: expected {key}=log:LOW:HIGH, {key}=uniform:LOW:HIGH "
                          f"or {key}=choice:A,B")  # fmt: skip
    numbers_ = []
    for label, b in zip(("low", "high"), bounds, strict=True):
        try:
            numbers_.append(float(b))
        except ValueError:
            raise SearchError(f"--param {key}: the {label} bound must be a number, got "
                              f"{b!r}") from None  # fmt: skip
    return make_param(key, kind, *numbers_, recipe=recipe)


def make_space(space: Any = None, recipe: TrainConfig = BOOK_RECIPE) -> tuple[Param, ...]:
    """The checked space: None (the book's), Params, ``--param`` strings, or a mapping field ->
    ``'log:1e-6:1e-2'`` / ``('log', 1e-6, 1e-2)`` / a list of choices / a Param."""
    if space is None:
        return BOOK_SPACE
    items: list[Param] = []
    entries: Iterable = space.items() if isinstance(space, Mapping) else space
    for entry in entries:
        if isinstance(entry, Param):
            items.append(make_param(entry.field, entry.kind, entry.low, entry.high, entry.choices,
                                    recipe))  # fmt: skip
        elif isinstance(entry, str):
            items.append(parse_param(entry, recipe))
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(space, Mapping):
            name, how = entry
            if isinstance(how, Param):
                items.append(make_param(name, how.kind, how.low, how.high, how.choices, recipe))
            elif isinstance(how, str):
                items.append(parse_param(f"{name}={how}", recipe))
            elif isinstance(how, tuple) and len(how) == 3 and how[0] in ("log", "uniform"):
                items.append(make_param(name, how[0], how[1], how[2], recipe=recipe))
            elif isinstance(how, list):
                items.append(make_param(name, "choice", choices=how, recipe=recipe))
            else:
                raise SearchError(f"--param {name}: expected 'log:LOW:HIGH', ('log', LOW, HIGH), "
                                  f"a list of choices or a Param, got {how!r}")  # fmt: skip
        else:
            raise SearchError(f"a search space entry must be a --param string or a Param, got "
                              f"{entry!r}")  # fmt: skip
    if not items:
        raise SearchError("the search space is empty: give at least one --param")
    names = [p.field for p in items]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SearchError(f"--param {twice[0]} is given twice; give each field once")
    return tuple(items)


def _make_recipe(recipe: Any) -> TrainConfig:
    if recipe is None:
        return BOOK_RECIPE
    if isinstance(recipe, TrainConfig):
        return TrainConfig.from_dict(recipe.to_dict())
    if isinstance(recipe, Mapping):
        return TrainConfig.from_dict({**BOOK_RECIPE.to_dict(), **dict(recipe)})
    raise SearchError(f"recipe must be a TrainConfig or a dict of its fields, got {recipe!r}")


def _positive(value: Any, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SearchError(f"{flag}: expected a positive whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class SearchSpec:
    """What a search is: space, recipe, trials, seed and data (see the module docstring)."""

    space: tuple[Param, ...] = BOOK_SPACE
    recipe: TrainConfig = field(default_factory=lambda: BOOK_RECIPE)
    trials: int = 100
    seed: int = 0
    train_size: int = 500
    val_fraction: float = 0.2

    @classmethod
    def make(cls, space: Any = None, recipe: Any = None, *, trials: int = 100, seed: int = 0,
             train_size: int = 500, val_fraction: float = 0.2) -> SearchSpec:  # fmt: skip
        """A checked spec (one :class:`SearchError` per problem, naming the CLI flag)."""
        base = _make_recipe(recipe)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise SearchError(f"--seed: expected a whole number >= 0, got {seed!r}")
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) or not (
            0 < val_fraction < 1
        ):
            raise SearchError(f"--val-fraction: expected a number between 0 and 1, got "
                              f"{val_fraction!r}")  # fmt: skip
        return cls(make_space(space, base), base, _positive(trials, "--trials"), int(seed),
                   _positive(train_size, "--train-size"), float(val_fraction))  # fmt: skip

    def identity(self) -> dict[str, Any]:
        """Everything but the number of trials: two searches with the same identity share
        their trials (a resumed search may ask for more)."""
        return {"space": [p.to_dict() for p in self.space], "recipe": self.recipe.to_dict(),
                "seed": self.seed, "train_size": self.train_size,
                "val_fraction": self.val_fraction}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity(), "trials": self.trials}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpec:
        recipe = TrainConfig.from_dict(dict(data["recipe"]))
        space = [Param(**{**p, "choices": tuple(p.get("choices", ()))}) for p in data["space"]]
        return cls.make(space, recipe, trials=data["trials"], seed=data["seed"],
                        train_size=data["train_size"], val_fraction=data["val_fraction"])


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The keys of two identities that differ, in words (``space``, ``recipe.lr``, ...)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if key == "recipe" and isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out += [f"recipe.{k}" for k in sorted(set(a[key]) | set(b[key]))
                    if a[key].get(k) != b[key].get(k)]  # fmt: skip
        elif a.get(key) != b.get(key):
            out.append(key)
    return out


def trial_seed(seed: int, number: int) -> int:
    """The training seed of trial ``number`` of a search seeded ``seed`` (a 31-bit integer)."""
    return int(np.random.SeedSequence([seed, number, 0x5EA2C]).generate_state(1)[0] >> 1)


def trial_params(spec: SearchSpec, number: int) -> dict[str, Any]:
    """Trial ``number``'s values, drawn in the space's order from ``default_rng([seed, i, 1])``."""
    rng = np.random.default_rng([spec.seed, number, 1])
    return {p.field: p.draw(rng) for p in spec.space}


def trial_config(spec: SearchSpec, params: Mapping[str, Any], number: int) -> TrainConfig:
    """The recipe with ``params`` laid over it and the trial's own seed."""
    config = {**spec.recipe.to_dict(), **params, "seed": trial_seed(spec.seed, number)}
    if "epochs" in params:
        config["iters"] = None
    return TrainConfig.from_dict(config)


# ------------------------------------------------------------------------------------------------
# Data and one trial


@dataclass(frozen=True)
class SearchData:
    """The search's data: training and validation pairs, the dataset used and why (fallback)."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    dataset: str
    fallback: str | None = None


def search_data(spec: SearchSpec, *, download: bool = True) -> SearchData:
    """The first ``train_size`` training images of the recipe's dataset (MNIST, else the packaged
    sample), ``val_fraction`` of them held out (a permutation seeded by the search's seed)."""
    train_set, _test, dataset, fallback = load_training_data(spec.recipe, download=download)
    x, t = train_set
    if spec.train_size > len(x):
        raise SearchError(f"--train-size {spec.train_size}: {dataset} has only {len(x):,} "
                          "training images")  # fmt: skip
    x, t = x[: spec.train_size], t[: spec.train_size]
    try:
        train_pair, val_pair = split_validation(x, t, spec.val_fraction, spec.seed)
    except ValueError as exc:
        raise SearchError(f"--val-fraction {spec.val_fraction}: {exc}") from None
    return SearchData(train_pair, val_pair, dataset, fallback)


#: ``report(epoch, val_acc, train_acc)`` after each epoch (Optuna's pruning hook raises in it)
Reporter = Callable[[int, float, float], None]


def run_trial(
    config: TrainConfig,
    data: SearchData,
    report: Reporter | None = None,
    number: int = 0,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one trial's network on ``data`` with :func:`mitbadak.training.train`; the record:
    ``number``, ``params``, ``state`` ('complete' or 'diverged'), ``val_acc``/``train_acc`` (the
    last epoch's), ``val_acc_list``/``train_acc_list`` (one per epoch) and ``seconds``.

    A diverged trial keeps the epochs it finished (``val_acc`` 0 when it finished none).
    """
    import time

    from mitbadak.files.datasets.toy import class_count

    x_train, t_train = data.train
    network = build_network(config, int(np.prod(x_train.shape[1:])),
                            class_count(data.dataset, t_train, data.val[1]))  # fmt: skip
    val_accs: list[float] = []
    train_accs: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "epoch":
            val_accs.append(float(event["val_acc"]))
            train_accs.append(float(event["train_acc"]))
            if report is not None:
                report(int(event["epoch"]), val_accs[-1], train_accs[-1])

    started = time.perf_counter()
    state = "complete"
    try:
        train(network, data.train, None, optimizer=config.optimizer, lr=config.lr,
              batch_size=config.batch_size, epochs=config.epochs, iters=config.iters,
              seed=config.seed, gradient=config.gradient, val_data=data.val,
              early_stopping=config.early_stopping, callback=on_event,
              train_eval_size=None)  # fmt: skip
    except TrainingDiverged:
        state = "diverged"
    return {
        "number": int(number),
        "params": dict(params or {}),
        "state": state,
        "val_acc": val_accs[-1] if val_accs else 0.0,
        "train_acc": train_accs[-1] if train_accs else 0.0,
        "val_acc_list": val_accs,
        "train_acc_list": train_accs,
        "seconds": round(time.perf_counter() - started, 3),
    }


# ------------------------------------------------------------------------------------------------
# Results


@dataclass
class SearchResult:
    """A search's trials (records of :func:`run_trial`, by number) and where they came from."""

    spec: SearchSpec
    trials: list[dict[str, Any]]
    dataset: str = ""
    fallback: str | None = None
    out: Path | None = None
    resumed: int = 0  # trials found already finished when the search started

    def ranked(self) -> list[dict[str, Any]]:
        """The trials sorted by last validation accuracy, best first (ties: lower number)."""
        return sorted(self.trials, key=lambda r: (-(r.get("val_acc") or 0.0), r["number"]))

    @property
    def best(self) -> dict[str, Any]:
        ranked = self.ranked()
        if not ranked:
            raise SearchError("the search has no finished trial yet")
        return ranked[0]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """The ranked results as a CSV table: rank, trial, state, accuracies, the space's fields,
        seconds."""
        names = [p.field for p in self.spec.space]
        head = ["rank", "trial", "state", "val_acc", "train_acc", *names, "seconds"]
        rows = [[i + 1, r["number"], r["state"], r["val_acc"], r["train_acc"],
                 *[_cell(r["params"].get(n)) for n in names], r["seconds"]]
                for i, r in enumerate(self.ranked())]  # fmt: skip
        return head, rows


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def read_trials(path: str | os.PathLike) -> tuple[list[dict[str, Any]], bool]:
    """The trial records of a ``trials.jsonl`` (one per number, the first kept) and whether its
    last line was torn (a search killed while appending)."""
    path = Path(path)
    if not path.is_file():
        return [], False
    lines = path.read_bytes().split(b"\n")
    torn = bool(lines[-1])  # a whole file ends with a newline
    seen: dict[int, dict[str, Any]] = {}
    for i, line in enumerate(lines[:-1] if not torn else lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            number = int(record["number"])
        except (ValueError, KeyError, TypeError):
            if i == len(lines) - 1:
                torn = True
                continue
            raise SearchError(f"{path}: line {i + 1} is not a trial record; the file is damaged "
                              "(move it away to start the search again)") from None  # fmt: skip
        seen.setdefault(number, record)
    return [seen[n] for n in sorted(seen)], torn


def _append_line(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line and fsync it: a finished trial is on disk before the next starts."""
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _folder_lock(out: Path):
    """One search per folder at a time (``fcntl.flock``; no lock where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SearchError(f"--out {out}: another search is running in this folder") from None
        yield
    finally:
        os.close(fd)


def open_folder(out: str | os.PathLike, spec: SearchSpec) -> tuple[Path, list[dict[str, Any]]]:
    """Create ``out`` or check that it holds the same search; the trials finished so far.

    A folder holding a search with another space, recipe, seed or data is refused, naming what
    differs. ``search.json`` is written atomically; a torn last line of ``trials.jsonl`` is
    dropped by an atomic rewrite.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SearchError(f"--out {out}: is a file, not a folder")
    spec_path = out / SPEC_FILE
    if spec_path.is_file():
        try:
            held = json.loads(spec_path.read_text(encoding="utf-8"))
            held_identity = {k: held[k] for k in spec.identity()}
        except (ValueError, KeyError, TypeError):
            raise SearchError(f"{spec_path}: not a search description; move it away or choose "
                              "another --out") from None  # fmt: skip
        diff = differences(held_identity, spec.identity())
        if diff:
            raise SearchError(f"--out {out} holds a search with another {', '.join(diff)}; "
                              "choose another --out, or give the same settings to resume "
                              "it")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(spec_path, json.dumps(spec.to_dict(), indent=1) + "\n")
    trials, torn = read_trials(out / TRIALS_FILE)
    if torn:
        atomic_write_text(out / TRIALS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                     for r in trials))  # fmt: skip
    return out, trials


# ------------------------------------------------------------------------------------------------
# Workers

_WORKER: dict[str, Any] = {}


def one_blas_thread() -> None:
    """Small matrices: one BLAS thread per process (threadpoolctl, where installed), so workers
    do not fight over the cores and every trial sums in the same order."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _WORKER["blas"] = threadpool_limits(limits=1, user_api="blas")


def _init_worker(spec_dict: dict[str, Any], data: SearchData) -> None:
    one_blas_thread()
    _WORKER["spec"] = SearchSpec.from_dict(spec_dict)
    _WORKER["data"] = data


def _run_number(number: int) -> dict[str, Any]:
    spec, data = _WORKER["spec"], _WORKER["data"]
    params = trial_params(spec, number)
    return run_trial(trial_config(spec, params, number), data, number=number, params=params)


def process_context():
    """``forkserver`` where the platform has it (no copy of the parent's threads), else
    ``spawn``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def search(
    space: Any = None,
    *,
    recipe: Any = None,
    trials: int = 100,
    workers: int = 1,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    train_size: int = 500,
    val_fraction: float = 0.2,
    data: SearchData | None = None,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
    download: bool = True,
) -> SearchResult:
    """The book's random search (every argument's default), over any recipe field.

    ``space``: see :func:`make_space`; ``recipe``: a :class:`TrainConfig` or dict laid over
    :data:`BOOK_RECIPE`. ``workers`` processes run the trials (1: in this process). With ``out``,
    each finished trial is appended to ``out/trials.jsonl`` and a search started again over the
    same folder runs only the trials still missing. ``progress(record, done, total)`` is called
    in this process after each trial. Returns a :class:`SearchResult`; the trials of the same
    spec are the same numbers for any ``workers``.
    """
    spec = SearchSpec.make(space, recipe, trials=trials, seed=seed, train_size=train_size,
                           val_fraction=val_fraction)  # fmt: skip
    workers = _positive(workers, "--workers")
    data = search_data(spec, download=download) if data is None else data
    if out is None:
        return _run(spec, data, workers, None, [], progress)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise SearchError(f"--out {folder}: is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder):
        folder, done = open_folder(folder, spec)
        return _run(spec, data, workers, folder, done, progress)


def _run(spec: SearchSpec, data: SearchData, workers: int, out: Path | None,
         done: list[dict[str, Any]], progress) -> SearchResult:  # fmt: skip
    records = {r["number"]: r for r in done if r["number"] < spec.trials}
    todo = [n for n in range(spec.trials) if n not in records]
    result = SearchResult(spec, [], data.dataset, data.fallback, out, resumed=len(records))

    def finished(record: dict[str, Any]) -> None:
        records[record["number"]] = record
        if out is not None:
            _append_line(out / TRIALS_FILE, record)
        if progress is not None:
            progress(record, len(records), spec.trials)

    if workers == 1 or len(todo) <= 1:
        _init_worker(spec.to_dict(), data)
        try:
            for number in todo:
                finished(_run_number(number))
        finally:
            blas = _WORKER.pop("blas", None)
            if blas is not None:
                blas.unregister()
    else:
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=process_context(),
                                 initializer=_init_worker,
                                 initargs=(spec.to_dict(), data)) as pool:  # fmt: skip
            pending = {pool.submit(_run_number, n) for n in todo}
            try:
                while pending:
                    ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in sorted(ready, key=id):
                        finished(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    result.trials = [records[n] for n in sorted(records)]
    return result
