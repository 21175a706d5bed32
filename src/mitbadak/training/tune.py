"""Hyper-parameter search on Optuna (extra ``[tune]``): TPE, pruning, and storages that scale
from one process to many machines.

The space, recipe, data and trials are :mod:`mitbadak.training.search`'s; Optuna chooses the
values (``TPESampler`` by default, or ``RandomSampler``; seeded) and stops poor trials early from
the validation accuracy each epoch reports (``trial.report`` / ``trial.should_prune``, then
``optuna.TrialPruned``; ``MedianPruner`` by default). Storages, as Optuna's documentation
recommends them:

* default: a **journal file** (``JournalStorage(JournalFileBackend(path))``), several worker
  processes on one machine;
* ``sqlite:///file.db``: one worker process only (SQLite locks under parallel writers);
* ``postgresql://user:password@host:port/db`` (or ``mysql://...``): many workers on many
  machines; ``mitbadak search --storage URL --study NAME`` on each machine joins one study.
  Its heartbeat (``RDBStorage(heartbeat_interval=, grace_period=,
  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=))``, called
  ``failed_trial_callback``/``RetryFailedTrialCallback`` before Optuna 4.9) fails the trial of a
  worker that stopped beating and queues it again.

The journal has no heartbeat: each trial records its worker's host, pid and process start time
(user attribute ``worker``); a worker, when it starts and after each trial, fails the RUNNING
trials of dead processes on its own host and enqueues their values again
(``study.enqueue_trial``). The journal lets exactly one worker fail a trial (a second gets
``UpdateFinishedTrialError``), so a dead worker's trial is retried once. A retry trains with the
same seed as the trial it replaces (the seed comes from the values, :func:`values_seed`).

Seeds: one worker on the search's own journal (no ``--storage``) draws the same values for the
same seed; each worker process of ``--workers N``, and each process joining a study given by
``--storage``, seeds its sampler apart (:func:`sampler_seed`), so no two draw the same values.

``trials`` is the number of finished (complete or pruned) trials the study reaches; each worker
stops at it (``MaxTrialsCallback``), so with several workers a few more may finish, as trials
already running when the count is reached are not abandoned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mitbadak.training.search import (
    Param,
    SearchData,
    SearchError,
    SearchResult,
    SearchSpec,
    differences,
    one_blas_thread,
    process_context,
    run_trial,
    search_data,
    trial_config,
)

__all__ = [
    "tune",
    "tune_worker",
    "open_study",
    "study_records",
    "fail_dead_trials",
    "values_seed",
    "TUNE_MISSING",
    "SAMPLERS",
    "PRUNERS",
    "JOURNAL_FILE",
]

TUNE_MISSING = "Optuna is needed for --engine optuna: pip install 'mitbadak[tune]'"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
JOURNAL_FILE = "journal.log"
SPACE_ATTR = "mitbadak_search"
HOST = socket.gethostname()
#: the RDB heartbeat: seconds between beats, and silence after which a trial is failed
HEARTBEAT, GRACE = 30, 90


def _optuna():
    try:
        import optuna
    except ImportError as exc:
        raise SearchError(TUNE_MISSING) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ------------------------------------------------------------------------------------------------
# Storages


def _journal(path: Path):
    optuna = _optuna()
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    del optuna
    return JournalStorage(JournalFileBackend(str(path)))


def _retry_callback(retries: int) -> dict[str, Any]:
    """The RDB heartbeat's retry callback under its name in this Optuna (renamed in 4.9)."""
    import optuna.storages as storages

    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
        return {"heartbeat_stale_trial_callback":
                storages.RetryHeartbeatStaleTrialCallback(max_retry=retries)}  # fmt: skip
    return {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=retries)}


_DRIVERS = {"postgresql": ("psycopg", "postgresql+psycopg"), "postgres": ("psycopg",
            "postgresql+psycopg"), "mysql": ("pymysql", "mysql+pymysql")}  # fmt: skip


def _parse_url(text: str):
    """The SQLAlchemy URL of ``--storage``, a bare ``postgresql://`` given the psycopg (v3)
    driver; errors name the part that is wrong."""
    _optuna()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise SearchError(
            "--storage: not a database URL; expected dialect://user:password@host:port/database, "
            "sqlite:///FILE or a journal file path"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "postgres", "mysql", "sqlite"):
        raise SearchError(f"--storage: unknown database kind {backend!r} in "
                          f"{url.render_as_string(hide_password=True)}; expected postgresql://, "
                          "mysql://, sqlite:/// or a journal file path")  # fmt: skip
    if url.drivername in _DRIVERS:
        module, name = _DRIVERS[url.drivername]
        url = url.set(drivername=name)
    else:
        module = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pymysql": "pymysql"}.get(
            url.get_driver_name(), None)
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            package = "'psycopg[binary]'" if module == "psycopg" else module
            raise SearchError(f"--storage: the {backend} driver {module} is not installed: "
                              f"pip install {package}")  # fmt: skip
    if backend != "sqlite" and not url.database:
        raise SearchError(f"--storage {url.render_as_string(hide_password=True)}: no database "
                          "name; expected ...@host:port/DATABASE")  # fmt: skip
    return url


def _reach(url) -> None:
    """Fail early, naming the host and port, when nothing listens there."""
    if url.get_backend_name() == "sqlite" or not url.host:
        return
    port = url.port or {"postgresql": 5432, "postgres": 5432, "mysql": 3306}[
        url.get_backend_name()]
    try:
        socket.create_connection((url.host, port), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise SearchError(f"--storage: cannot reach the database server at host {url.host} port "
                          f"{port} ({reason})") from None  # fmt: skip


def _open_rdb(url, retries: int, heartbeat: int | None):
    optuna = _optuna()
    import optuna.storages as storages

    safe = url.render_as_string(hide_password=True)
    try:
        with warnings.catch_warnings():  # the heartbeat and its callback are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            kwargs: dict[str, Any] = {}
            if url.get_backend_name() != "sqlite":
                beat = HEARTBEAT if heartbeat is None else heartbeat
                grace = max(GRACE, 3 * beat) if heartbeat is None else 3 * beat
                kwargs = {"heartbeat_interval": beat, "grace_period": grace,
                          **_retry_callback(retries)}  # fmt: skip
            return storages.RDBStorage(url.render_as_string(hide_password=False), **kwargs)
    except Exception as exc:  # SQLAlchemy's and the driver's errors: worded by part
        text = str(getattr(exc, "orig", None) or exc).lower()
        if "password" in text or "authentication" in text or "access denied" in text:
            part = f"user {url.username!r} was refused (wrong password or no access)"
        elif "does not exist" in text or "unknown database" in text:
            part = f"database {url.database!r} does not exist on the server (create it first)"
        elif "unable to open database file" in text:
            part = f"the SQLite file {url.database!r} cannot be created (does its folder exist?)"
        else:
            part = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SearchError(f"--storage {safe}: {part}") from None


def storage_target(storage: str | os.PathLike | None, out: Path | None) -> dict[str, Any]:
    """What workers open (picklable): ``{'kind': 'journal', 'path': ...}`` or ``{'kind': 'rdb',
    'url': ...}``; checked here (URL parts, driver, journal folder)."""
    if storage is None or (isinstance(storage, str) and "://" not in storage) or isinstance(
        storage, os.PathLike
    ):
        path = Path(storage) if storage is not None else Path(out or "search") / JOURNAL_FILE
        if path.is_dir():
            raise SearchError(f"--storage {path}: is a folder; give the journal file's path "
                              f"(e.g. {path / JOURNAL_FILE})")  # fmt: skip
        folder = path.parent
        if folder.exists() and not folder.is_dir():
            raise SearchError(f"--storage {path}: {folder} is a file, not a folder")
        return {"kind": "journal", "path": str(path)}
    url = _parse_url(str(storage))
    return {"kind": "rdb", "url": url.render_as_string(hide_password=False)}


def open_storage(target: Mapping[str, Any], retries: int = 3, heartbeat: int | None = None):
    """The Optuna storage of ``target`` (:func:`storage_target`)."""
    if target["kind"] == "journal":
        path = Path(target["path"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SearchError(f"--storage {path}: cannot create its folder ({exc.strerror})"
                              ) from None  # fmt: skip
        return _journal(path)
    url = _parse_url(target["url"])
    _reach(url)
    return _open_rdb(url, retries, heartbeat)


# ------------------------------------------------------------------------------------------------
# The study


def _sampler(kind: str, seed: int):
    optuna = _optuna()
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SearchError(f"--sampler: expected one of {', '.join(SAMPLERS)}, got {kind!r}")


def _pruner(kind: str):
    optuna = _optuna()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise SearchError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {kind!r}")


def sampler_seed(seed: int, offset: int | str = 0) -> int:
    """The sampler's seed: ``seed`` itself for offset 0 (one worker on its own study: the
    same trials for the same seed), else ``seed`` mixed with the offset (a worker's index, or
    ``host:pid`` for a worker joining a shared study), so workers never draw the same values."""
    if offset == 0:
        return int(seed)
    text = f"{seed}/{offset}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") >> 1


def open_study(storage, name: str, spec: SearchSpec, sampler: str = "tpe",
               pruner: str = "median", seed_offset: int | str = 0):  # fmt: skip
    """Create or join study ``name`` (maximising validation accuracy); a study made with
    another space, recipe, seed or data is refused, naming what differs."""
    optuna = _optuna()
    if not isinstance(name, str) or not name.strip():
        raise SearchError(f"--study: expected a name, got {name!r}")
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                direction="maximize",
                                sampler=_sampler(sampler, sampler_seed(spec.seed, seed_offset)),
                                pruner=_pruner(pruner))  # fmt: skip
    identity = spec.identity()
    held = study.user_attrs.get(SPACE_ATTR)
    if held is None:
        if study.trials:
            raise SearchError(f"--study {name}: this study exists and was not made by mitbadak "
                              "search; choose another --study")  # fmt: skip
        study.set_user_attr(SPACE_ATTR, identity)
    else:
        diff = differences(held, identity)
        if diff:
            raise SearchError(f"--study {name} exists with another {', '.join(diff)}; choose "
                              "another --study, or give the same settings to join it")  # fmt: skip
    if study.directions[0] != optuna.study.StudyDirection.MAXIMIZE:
        raise SearchError(f"--study {name}: this study minimises; mitbadak maximises accuracy")
    return study


def _label(value: Any) -> Any:
    """A choice as Optuna stores it (None, bool, int, float, str): lists as JSON text."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _suggest(trial, param: Param) -> Any:
    if param.kind == "choice":
        labels = [_label(c) for c in param.choices]
        picked = trial.suggest_categorical(param.field, labels)
        return param.choices[labels.index(picked)]
    numeric = param.cast(param.low) if isinstance(param.cast(param.low), int) else None
    if numeric is not None:
        return trial.suggest_int(param.field, int(param.low), int(param.high),
                                 log=param.kind == "log")  # fmt: skip
    return trial.suggest_float(param.field, param.low, param.high, log=param.kind == "log")


def _decode(spec: SearchSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for p in spec.space:
        if p.field in params:
            value = params[p.field]
            if p.kind == "choice":
                labels = [_label(c) for c in p.choices]
                value = p.choices[labels.index(value)] if value in labels else value
            out[p.field] = value
    return out


def values_seed(spec: SearchSpec, params: Mapping[str, Any]) -> int:
    """A trial's training seed from the search's seed and its values: a retry of the same
    values trains exactly as the trial it replaces would have."""
    text = json.dumps({"seed": spec.seed, "params": params}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None without ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc``; None elsewhere): a pid
    reused by another process has another start time."""
    fields_ = _proc_stat(pid)
    return fields_[19] if fields_ and len(fields_) > 19 else None


def _alive(worker: Mapping[str, Any]) -> bool:
    pid = int(worker.get("pid", 0))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    if stat is not None and stat[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    start = worker.get("start")
    return start is None or stat is None or stat[19] == start


def fail_dead_trials(study, storage, retries: int = 3) -> list[int]:
    """Journal storage: fail the RUNNING trials whose worker (on this host) is dead and enqueue
    their values again (at most ``retries`` times per original trial); returns the numbers
    failed by this call. Another worker failing the same trial first wins (Optuna's journal
    refuses the second update), so each is retried once."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    failed = []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if not isinstance(worker, dict) or worker.get("host") != HOST or _alive(worker):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        original = trial.user_attrs.get("retry_of", trial.number)
        count = int(trial.user_attrs.get("retry", 0)) + 1
        if count <= retries and trial.params:
            study.enqueue_trial(dict(trial.params),
                                user_attrs={"retry_of": original, "retry": count})  # fmt: skip
    return failed


def _objective(spec: SearchSpec, data: SearchData):
    optuna = _optuna()

    def objective(trial) -> float:
        trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid(),
                                       "start": _process_start(os.getpid())})  # fmt: skip
        params = {p.field: _suggest(trial, p) for p in spec.space}
        config = trial_config(spec, params, 0)
        config = dataclasses.replace(config, seed=values_seed(spec, params))
        lists: dict[str, list[float]] = {"val_acc_list": [], "train_acc_list": []}

        def report(epoch: int, val_acc: float, train_acc: float) -> None:
            lists["val_acc_list"].append(val_acc)
            lists["train_acc_list"].append(train_acc)
            trial.report(val_acc, epoch)
            if trial.should_prune():
                for key, values in lists.items():
                    trial.set_user_attr(key, values)
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")

        record = run_trial(config, data, report=report, number=trial.number, params=params)
        for key in ("val_acc_list", "train_acc_list", "state", "seconds"):
            trial.set_user_attr(key, record[key])
        return record["val_acc"]

    return objective


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _optimize(study, storage, target: Mapping[str, Any], spec: SearchSpec, data: SearchData,
              retries: int, extra: tuple[Callable, ...] = ()) -> None:  # fmt: skip
    optuna = _optuna()
    from optuna.trial import TrialState

    journal = target["kind"] == "journal"
    if journal:
        fail_dead_trials(study, storage, retries)
    if _finished(study) >= spec.trials:
        return
    callbacks: list[Callable] = [optuna.study.MaxTrialsCallback(
        spec.trials, states=(TrialState.COMPLETE, TrialState.PRUNED)), *extra]  # fmt: skip
    if journal:
        callbacks.append(lambda study_, _trial: fail_dead_trials(study_, storage, retries))
    study.optimize(_objective(spec, data), n_trials=spec.trials, callbacks=callbacks,
                   gc_after_trial=False)  # fmt: skip


def tune_worker(target: Mapping[str, Any], study_name: str, spec_dict: Mapping[str, Any],
                data: SearchData, sampler: str, pruner: str, seed_offset: int | str, retries: int,
                heartbeat: int | None) -> None:  # fmt: skip
    """One worker process: join the study and run trials until it has ``trials`` finished."""
    one_blas_thread()
    spec = SearchSpec.from_dict(spec_dict)
    storage = open_storage(target, retries, heartbeat)
    study = open_study(storage, study_name, spec, sampler, pruner, seed_offset)
    _optimize(study, storage, target, spec, data, retries)


def study_records(study, spec: SearchSpec) -> list[dict[str, Any]]:
    """The finished trials as :func:`run_trial` records (``state`` 'complete', 'diverged' or
    'pruned'), by number."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        val = t.user_attrs.get("val_acc_list") or [t.intermediate_values[k] for k in
                                                   sorted(t.intermediate_values)]  # fmt: skip
        train_list = t.user_attrs.get("train_acc_list") or []
        pruned = t.state == TrialState.PRUNED
        seconds = t.user_attrs.get("seconds")
        if seconds is None and t.datetime_complete and t.datetime_start:
            seconds = round((t.datetime_complete - t.datetime_start).total_seconds(), 3)
        out.append({
            "number": t.number,
            "params": _decode(spec, t.params),
            "state": "pruned" if pruned else t.user_attrs.get("state", "complete"),
            "val_acc": float(val[-1]) if pruned and val else float(t.value or 0.0),
            "train_acc": float(train_list[-1]) if train_list else 0.0,
            "val_acc_list": [float(v) for v in val],
            "train_acc_list": [float(v) for v in train_list],
            "seconds": seconds or 0.0,
            "retry_of": t.user_attrs.get("retry_of"),
        })  # fmt: skip
    return out


def tune(
    space: Any = None,
    *,
    recipe: Any = None,
    trials: int = 100,
    workers: int = 1,
    seed: int = 0,
    storage: str | os.PathLike | None = None,
    study: str = "mitbadak-search",
    out: str | os.PathLike | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    train_size: int = 500,
    val_fraction: float = 0.2,
    data: SearchData | None = None,
    retries: int = 3,
    heartbeat: int | None = None,
    progress: Callable[[dict[str, Any], int, int], None] | None = None,
    download: bool = True,
) -> SearchResult:
    """The search of :func:`mitbadak.training.search.search` on Optuna (see the module
    docstring): ``workers`` processes on this machine join study ``study`` in ``storage`` (a
    journal file path, default ``out/journal.log``, or a database URL) and run trials until it
    has ``trials`` finished ones; ``progress(record, done, total)`` is called here as trials
    finish. Run it on several machines with one database URL to share one study."""
    from mitbadak.training.search import _positive

    _optuna()
    spec = SearchSpec.make(space, recipe, trials=trials, seed=seed, train_size=train_size,
                           val_fraction=val_fraction)  # fmt: skip
    workers = _positive(workers, "--workers")
    retries = int(retries)
    target = storage_target(storage, Path(out) if out is not None else None)
    if target["kind"] == "rdb" and target["url"].startswith("sqlite") and workers > 1:
        raise SearchError("--storage sqlite: one worker process only (SQLite locks under "
                          "parallel writers); use the journal file (the default) or PostgreSQL "
                          "for --workers 2 or more")  # fmt: skip
    if sampler not in SAMPLERS:
        raise SearchError(f"--sampler: expected one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise SearchError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")
    opened = open_storage(target, retries, heartbeat)
    # a study shared through --storage: each process draws its own values (not reproducible)
    shared = storage is not None
    here = f"{HOST}:{os.getpid()}" if shared else 0
    the_study = open_study(opened, study, spec, sampler, pruner, here)
    data = search_data(spec, download=download) if data is None else data
    before = {r["number"] for r in study_records(the_study, spec)}
    seen = set(before)
    result = SearchResult(spec, [], data.dataset, data.fallback,
                          Path(out) if out is not None else None, resumed=len(before))  # fmt: skip

    def report_new() -> None:
        if progress is None:
            return
        for record in study_records(the_study, spec):
            if record["number"] not in seen:
                seen.add(record["number"])
                progress(record, len(seen), spec.trials)

    if workers == 1:
        one_blas_thread()
        _optimize(the_study, opened, target, spec, data, retries,
                  extra=(lambda _study, _trial: report_new(),))  # fmt: skip
    else:
        context = process_context()
        processes = [context.Process(target=tune_worker, args=(
            target, study, spec.to_dict(), data, sampler, pruner,
            f"{here}/{i + 1}" if shared else i + 1, retries, heartbeat))
            for i in range(workers)]  # fmt: skip
        for p in processes:
            p.start()
        try:
            while any(p.is_alive() for p in processes):
                time.sleep(0.5)
                report_new()
        except BaseException:
            for p in processes:
                if p.is_alive():
                    p.terminate()
            for p in processes:
                p.join()
            raise
        for p in processes:
            p.join()
        report_new()
        bad = [p.exitcode for p in processes if p.exitcode]
        if bad:
            raise SearchError(f"{len(bad)} of {workers} worker processes stopped with an error "
                              f"(exit codes {', '.join(map(str, bad))}); run again to resume "
                              "the study")  # fmt: skip
    result.trials = study_records(the_study, spec)
    return result

