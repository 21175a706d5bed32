"""A run folder: which files a training run keeps there, and the lock that makes it one writer's.

The layout (:data:`RUN_FILES`, written by :func:`mitbadak.training.runs.run_training`):

* ``config.json``   - the :class:`~mitbadak.training.recipes.TrainConfig` and the data used
* ``model.npz``     - the trained network; written last, so its presence marks a finished run
* ``checkpoint.npz``- written atomically at every epoch (and on Ctrl-C): ``--resume`` continues it
* ``metrics.csv``   - one row per epoch; ``iterations.csv`` - the loss of every iteration
* ``loss.png``, ``accuracy.png`` - train vs test curves (when matplotlib is installed)
* ``.lock`` (:data:`LOCK_FILE`) - held (``fcntl.flock``) while a process trains in the folder

:func:`run_lock` holds the lock, :func:`training_in_progress` asks whether someone holds it,
:func:`clear_run_files` is what ``--overwrite`` removes (exactly :data:`RUN_FILES`, nothing a user
put beside them), :func:`read_run_config` reads ``config.json`` back.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mitbadak.core.errors import MitbadakError, RunFolderError
from mitbadak.training.recipes import TrainConfig

__all__ = [
    "RUN_FILES",
    "LOCK_FILE",
    "run_lock",
    "training_in_progress",
    "holds_files",
    "clear_run_files",
    "remove_stale_temporaries",
    "is_finished",
    "read_run_config",
]

#: The files a training run writes into its folder (``--overwrite`` removes exactly these).
RUN_FILES = (
    "config.json",
    "model.npz",
    "checkpoint.npz",
    "metrics.csv",
    "iterations.csv",
    "loss.png",
    "accuracy.png",
)

#: The lock file in a run folder: the id of the training process, locked while it trains.
LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock (``fcntl.flock`` on ``run_dir/.lock``) while in the block.

    The operating system releases it when the process exits or dies, so a crash never leaves a
    folder locked. A second holder gets :class:`RunFolderError` at once (no waiting). On systems
    without ``fcntl`` (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise RunFolderError(
                f"{run_dir} is in use by another mitbadak process"
                + (f" (pid {owner})" if owner.isdigit() else "")
                + "; wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def training_in_progress(run_dir: str | os.PathLike) -> int | None:
    """The id of the process training in ``run_dir`` (0 when it cannot be read), else None.

    A training run holds an exclusive ``fcntl.flock`` on ``run_dir/.lock`` while it trains
    (:func:`run_lock`); this asks for a shared lock without waiting and lets it go at once. None
    also where there is no lock file or no ``fcntl`` (Windows).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    lock = Path(run_dir) / LOCK_FILE
    try:
        # O_NONBLOCK: a FIFO planted as .lock must not block the open
        fd = os.open(lock, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return int(owner) if owner.isdigit() else 0
        except OSError:
            return None
        return None
    finally:
        os.close(fd)  # also releases the shared lock taken above


def holds_files(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` is a folder holding anything but its lock file (a new run there
    needs ``--overwrite`` or ``--resume``)."""
    folder = Path(run_dir)
    return folder.is_dir() and any(p.name != LOCK_FILE for p in folder.iterdir())


def clear_run_files(run_dir: str | os.PathLike, *, keep_config: bool = False) -> None:
    """Remove an earlier run's files (:data:`RUN_FILES`, nothing else) from ``run_dir``.

    ``keep_config=True`` keeps ``config.json`` (a resumed run restarting from its first step
    rewrites it atomically, so a kill in between never loses the recipe). Hold :func:`run_lock`.
    """
    for name in RUN_FILES:
        if not (keep_config and name == "config.json"):
            with contextlib.suppress(FileNotFoundError):
                (Path(run_dir) / name).unlink()


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files an interrupted atomic write left in ``run_dir`` (``.NAME.*.tmp``).

    Call it only while holding :func:`run_lock`: then no other writer can own them.
    """
    removed = []
    for tmp in Path(run_dir).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def is_finished(run_dir: str | os.PathLike) -> bool:
    """True when the run in ``run_dir`` completed (its ``model.npz``, written last, exists)."""
    return (Path(run_dir) / "model.npz").is_file()


def read_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The TrainConfig recorded in ``run_dir/config.json``, with the dataset actually used.

    Raises :class:`RunFolderError` naming the file when it is missing or damaged.
    """
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise MitbadakError("expected a JSON object with a 'config' object inside")
        options = dict(data["config"])
        used = data.get("dataset_used")
        if options.get("dataset") is None and isinstance(used, str):
            options["dataset"] = used  # runs written before the config recorded it
        return TrainConfig.from_dict(options)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: not found; is {run_dir} a training run folder?") from None
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text; the run folder is damaged") from None
    except (ValueError, MitbadakError) as exc:
        raise RunFolderError(f"{path}: damaged run config ({exc})") from None
