"""A run's records on disk: the checkpoint (:class:`LoopState`) and the CSV history files.

A checkpoint is one ``.npz`` (see :mod:`mitbadak.files.modelfile`): the network's parameters
(``param/*``), the optimizer's state (``opt/*``), the loss of every iteration
(``history/iteration_loss``) and the arrays of the loop state (``state/<path>``: the early-stopping
best parameters); its JSON metadata holds the network config, the optimizer's name and lr,
the loop state (``state``: a plain dict, :meth:`LoopState.to_dict`) and the epoch records.
``metrics.csv`` (a row per epoch) and ``iterations.csv`` (iteration, loss) are the history a
person or a spreadsheet reads. Nothing here imports the trainer: plots and the web read runs
through this module.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write_text
from mitbadak.core.backend import copy_array, to_host
from mitbadak.core.errors import MitbadakError

__all__ = [
    "History",
    "LoopState",
    "EarlyStopping",
    "METRIC_FIELDS",
    "save_checkpoint",
    "load_checkpoint",
    "write_history",
    "read_history",
]

METRIC_FIELDS = [
    "epoch",
    "iteration",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "val_loss",
    "val_acc",
    "seconds",
]


@dataclass
class History:
    """What a run recorded: the loss of every iteration, and one dict per epoch (METRIC_FIELDS).

    ``iterations`` (when read back from a file) numbers the losses; empty means 1, 2, 3, ...
    """

    iteration_loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    run_dir: Path | None = None

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}


@dataclass
class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs (None: never).

    ``best_params`` is a copy of the parameters at the best validation loss, restored at the end.
    """

    patience: int | None = None
    best_loss: float = math.inf
    since: int = 0
    best_params: dict[str, np.ndarray] | None = None

    def update(self, val_loss: float, params: dict[str, np.ndarray]) -> bool:
        """Record one epoch's validation loss; True when training should stop."""
        if self.patience is None:
            return False
        if val_loss < self.best_loss:
            self.best_loss, self.since = val_loss, 0
            self.best_params = {k: copy_array(v) for k, v in params.items()}
            return False
        self.since += 1
        return self.since >= self.patience


@dataclass
class LoopState:
    """Where a training loop stands; with the parameters and the optimizer it *is* the checkpoint.

    ``rng_state`` is the PCG64 state at the start of the current epoch (the epoch's permutation
    is drawn again from it on resume), ``batch_in_epoch`` the next batch of that permutation.
    """

    seed: int
    total_iters: int
    rng_state: dict[str, Any]
    epoch: int = 0
    iteration: int = 0
    batch_in_epoch: int = 0
    seconds: float = 0.0
    early: EarlyStopping = field(default_factory=EarlyStopping)
    history: History = field(default_factory=History)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (numbers, strings, arrays); :meth:`from_dict` reads it back."""
        early = self.early
        return {
            "seed": self.seed,
            "total_iters": self.total_iters,
            "rng_state": self.rng_state,
            "epoch": self.epoch,
            "iteration": self.iteration,
            "batch_in_epoch": self.batch_in_epoch,
            "seconds": round(self.seconds, 4),
            "early_stopping": {
                "patience": early.patience,
                "best_loss": early.best_loss if math.isfinite(early.best_loss) else None,
                "since": early.since,
                "best_params": dict(early.best_params or {}),
            },
            "history": {
                "iteration_loss": list(self.history.iteration_loss),
                "epochs": [dict(e) for e in self.history.epochs],
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        """Read :meth:`to_dict`'s dict, or the older layout (a JSON ``rng_state`` string, flat
        ``best_val_loss``/``best_since`` and ``best/``-prefixed arrays); ValueError if damaged."""
        for key in ("epoch", "iteration", "batch_in_epoch"):
            value = d[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"state {key!r} should be an integer >= 0, got {value!r}")
        rng_state = d["rng_state"]
        if isinstance(rng_state, str):  # older checkpoints: JSON inside the JSON metadata
            try:
                rng_state = json.loads(rng_state)
            except ValueError as exc:
                raise ValueError(f"bad random generator state ({exc})") from None
        elif not isinstance(rng_state, dict):
            raise ValueError(
                f"the random generator state should be a dict (PCG64), got {rng_state!r}"
            )
        _check_rng_state(rng_state)
        if "early_stopping" in d:
            e = d["early_stopping"]
            best_loss, since, best = e.get("best_loss"), e.get("since", 0), e.get("best_params")
            patience = e.get("patience")
        else:  # older checkpoints
            best_loss, since, patience = d.get("best_val_loss"), d.get("best_since", 0), None
            arrays = d.get("arrays", {})
            best = {k[5:]: v for k, v in arrays.items() if k.startswith("best/")}
        h = d.get("history", {})
        return cls(
            seed=d.get("seed", 0),
            total_iters=d.get("total_iters", 0),
            rng_state=rng_state,
            epoch=d["epoch"],
            iteration=d["iteration"],
            batch_in_epoch=d["batch_in_epoch"],
            seconds=float(d.get("seconds") or 0.0),
            early=EarlyStopping(
                patience, math.inf if best_loss is None else float(best_loss), since, best or None
            ),
            history=History(
                iteration_loss=[float(v) for v in h.get("iteration_loss", [])],
                epochs=[dict(e) for e in h.get("epochs", [])],
            ),
        )


def _flatten(tree: dict[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split a nested dict into (JSON part, arrays keyed by their path ``prefix/a/b``)."""
    plain: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, np.ndarray):
            arrays[f"{prefix}/{key}"] = value
        elif isinstance(value, dict) and any(
            isinstance(v, (dict, np.ndarray)) for v in value.values()
        ):
            plain[key], sub = _flatten(value, f"{prefix}/{key}")
            arrays.update(sub)
        else:
            plain[key] = value
    return plain, arrays


def _unflatten(plain: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str) -> dict:
    """Put the arrays named ``prefix/a/b`` back into the nested dict ``plain``."""
    tree = json.loads(json.dumps(plain))
    for name, value in arrays.items():
        if not name.startswith(prefix + "/"):
            continue
        *path, leaf = name[len(prefix) + 1 :].split("/")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def save_checkpoint(path, network, optimizer, state: LoopState) -> Path:
    """Write everything needed to resume, atomically: params, optimizer state, ``state``."""
    from mitbadak.files.modelfile import save_arrays

    loop = state.to_dict()
    history = loop.pop("history")
    best = loop["early_stopping"].pop("best_params")
    meta_state, state_arrays = _flatten(loop, "state")
    # everything on the host: a checkpoint of a device run resumes on the CPU and back
    arrays = {f"param/{k}": v for k, v in to_host(dict(network.params)).items()}
    buffers = dict(getattr(network, "buffers", None) or {})
    arrays.update({f"buffer/{k}": v for k, v in to_host(buffers).items()})
    arrays.update({f"opt/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays["history/iteration_loss"] = np.asarray(history["iteration_loss"], dtype=np.float64)
    arrays.update(state_arrays)
    arrays.update({f"state/early_stopping/best_params/{k}": v for k, v in to_host(best).items()})
    meta = {
        "kind": "mitbadak-checkpoint",
        "network": network.config(),
        "optimizer": {"name": type(optimizer).__name__.lower(), "lr": optimizer.lr},
        "state": meta_state,
        "epochs": history["epochs"],
    }
    layer_rngs = network.rng_states() if hasattr(network, "rng_states") else {}
    if layer_rngs:  # stochastic layers (Dropout): their generators, so resume stays exact
        meta["layer_rng"] = layer_rngs
    return save_arrays(path, arrays, meta)


def load_checkpoint(path):
    """Read a checkpoint: ``(network, optimizer, state, history)``; ``state`` is the
    :meth:`LoopState.to_dict` dict (``train(resume=...)`` takes the whole tuple)."""
    from mitbadak.files.modelfile import load_arrays
    from mitbadak.nn.networks import network_from_config
    from mitbadak.nn.optimizers import make_optimizer

    arrays, meta = load_arrays(path)
    if not isinstance(meta, dict) or meta.get("kind") != "mitbadak-checkpoint":
        raise MitbadakError(f"{path}: not a mitbadak training checkpoint")
    try:
        params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
        network = network_from_config(meta["network"], params)
        buffers = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("buffer/")}
        if buffers:
            network.set_buffers(buffers)
        if meta.get("layer_rng"):
            network.set_rng_states(meta["layer_rng"])
        optimizer = make_optimizer(meta["optimizer"]["name"], meta["optimizer"]["lr"])
        optimizer.load_state_dict(
            {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("opt/")}
        )
        raw = meta["state"]
        if not isinstance(raw, dict):
            raise ValueError(f"'state' should be a dict, got {raw!r}")
        if isinstance(raw.get("rng_state"), str):  # older layout: arrays stayed flat
            raw = dict(raw)
            raw["arrays"] = {
                k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("state/")
            }
        else:
            raw = _unflatten(raw, arrays, "state")
        raw["history"] = {
            "iteration_loss": arrays["history/iteration_loss"],
            "epochs": meta["epochs"],
        }
        loop = LoopState.from_dict(raw)
    except KeyError as exc:
        raise MitbadakError(f"{path}: damaged checkpoint (missing {exc})") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise MitbadakError(f"{path}: damaged checkpoint ({exc})") from None
    return network, optimizer, loop.to_dict(), loop.history


def _check_rng_state(state: dict) -> None:
    """Raise ValueError unless ``state`` is a PCG64 state NumPy accepts."""
    rng = np.random.default_rng(0)
    try:
        rng.bit_generator.state = state
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"bad random generator state ({exc})") from None


# ------------------------------------------------------------------------------------------------
# History files


def write_history(history: History, run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (a row per epoch), ``iterations.csv`` (iteration, loss), atomically."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.csv"
    iterations = run_dir / "iterations.csv"

    def write_csv(path: Path, header: list[str], rows) -> None:
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())

    write_csv(
        metrics,
        METRIC_FIELDS,
        ([("" if e.get(k) is None else e.get(k)) for k in METRIC_FIELDS] for e in history.epochs),
    )
    write_csv(
        iterations,
        ["iteration", "loss"],
        ((i + 1, repr(loss)) for i, loss in enumerate(history.iteration_loss)),
    )
    return metrics, iterations


def _parse_cell(text: str, column: str, where: str) -> int | float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text) if column in ("epoch", "iteration") else float(text)
    except ValueError:
        kind = "an integer" if column in ("epoch", "iteration") else "a number"
        raise MitbadakError(
            f"{where}: column {column!r} should hold {kind}, got {text!r}"
        ) from None


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise MitbadakError(
                    f"{path} is not a run's CSV file: missing column(s) {', '.join(missing)}; "
                    f"expected header {','.join(required)}, "
                    f"got {','.join(header) or '(empty file)'}"
                )
            return list(reader)
    except UnicodeDecodeError as exc:
        raise MitbadakError(
            f"{path}: not UTF-8 text (byte {exc.start}); a run's CSV files are UTF-8"
        ) from None
    except csv.Error as exc:
        raise MitbadakError(f"{path}: not a readable CSV file ({exc})") from None


def read_history(run_dir: str | os.PathLike) -> History:
    """Read a run folder's ``metrics.csv`` and (optional) ``iterations.csv`` into a History.

    Raises ``FileNotFoundError`` for a missing folder or metrics file and ``MitbadakError``
    naming the file, line and column for a malformed one.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run folder {run_dir} does not exist; expected the folder written by "
            "'mitbadak train --out DIR' (with metrics.csv inside)"
        )
    metrics_path = run_dir / "metrics.csv"
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"{metrics_path} not found; is {run_dir} a folder written by "
            "'mitbadak train --out DIR'?"
        )
    history = History(run_dir=run_dir)
    for line_no, row in enumerate(_read_csv(metrics_path, METRIC_FIELDS[:6]), start=2):
        where = f"{metrics_path}, line {line_no}"
        record = {col: _parse_cell(row.get(col) or "", col, where) for col in METRIC_FIELDS}
        if record["epoch"] is None:
            raise MitbadakError(f"{where}: every row needs an epoch number")
        history.epochs.append(record)
    iterations_path = run_dir / "iterations.csv"
    if iterations_path.is_file():
        for line_no, row in enumerate(_read_csv(iterations_path, ["iteration", "loss"]), start=2):
            where = f"{iterations_path}, line {line_no}"
            iteration = _parse_cell(row["iteration"] or "", "iteration", where)
            loss = _parse_cell(row["loss"] or "", "loss", where)
            if iteration is None or loss is None:
                raise MitbadakError(f"{where}: both iteration and loss are needed")
            history.iterations.append(iteration)
            history.iteration_loss.append(loss)
    return history
