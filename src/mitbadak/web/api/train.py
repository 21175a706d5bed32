"""The train page's API: one training at a time in a background thread, events over SSE.

POST /api/train/start ``{"recipe": {...}, "points": [[x, y, label], ...]?}`` or
``{"rewind": true}`` (the last recipe again, same seed: the same initial weights) -> 202, or 409
while a run is active or another start is being prepared; the recipe is checked by
:func:`mitbadak.training.recipes.validate_recipe` with
:data:`~mitbadak.training.recipes.WEB_LIMITS` (the CLI's wording). A run needs a dataset (or
points) and ``epochs`` or ``iters``; the dataset is a name (registry or toy set), never a file
on the server; points have finite coordinates within
:data:`MAX_COORDINATE`. Every run is an ordinary run folder under the server's ``--runs``; clicked
points are saved there as ``points.csv`` and are its data. A refused start creates nothing; with
:data:`MAX_WEB_RUNS` folders made by the page (``web-*``) already there, a start is refused (429)
naming the oldest ones to remove: the server never deletes a run.
POST /api/train/stop | pause | resume. Stop = Ctrl-C in the CLI: checkpoint, resumable.
POST /api/train/pace ``{"iters_per_s": N}``: at most N iterations a second from now on (0 = as
fast as the machine goes); a start may carry ``"pace"`` too. Kept between runs.
POST /api/train/step ``{"iterations": N}`` or ``{"epoch": true}``: while paused, let N more
iterations (or the rest of the current epoch) run, then stay paused; 409 unless paused.
GET /api/train/events?since=ID[&once=1]: Server-Sent Events (every client gets the same events,
numbered; a client that leaves does not affect the run; at most :data:`MAX_STREAMS` at once).
``once=1`` ends the stream after the next run end it sends (for scripts and tests). Streams end
when the server shuts down (Ctrl-C), so it stops at once.
GET /api/train/state, /api/train/choices, /api/train/runs, /api/train/run?name=NAME (a run
folder as it stands: recipe, command line, history, boundary or weight tiles; this is how the
page reopens runs and follows one started by ``mitbadak train`` in another terminal).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.web.api._json import TOO_LARGE, BadRequest, read_object
from mitbadak.web.hardening import json_error

#: Loss values are sent in chunks at most this often (seconds).
CHUNK_SECONDS = 0.1
#: After drawing an epoch's picture, the painter rests this many times as long as it took.
PAINT_REST = 19
#: An epoch's frames (the 2-D boundary, the histograms, the network drawn: 50-150 kB together)
#: go out at most this often. At the page's pace every epoch gets its own (an epoch of a toy set
#: lasts 0.3 s or more at 30 iterations a second); a full-speed run of tiny epochs would otherwise
#: queue megabytes a second for every open stream, and a tab that stops reading would hold the
#: server's shutdown. The last epoch's frames are always sent (at the run's end).
MIN_FRAME_SECONDS = 0.25
#: Events kept for clients that join late (the current run only).
MAX_EVENTS = 20_000
BOUNDARY_RESOLUTION = 60
#: Points a side of each hidden unit's own heat map in the network view (2-D data).
UNIT_MAP_RESOLUTION = 20
N_TILES = 16
#: Run folders the page may leave under ``--runs`` (``web-*``); past it a start is a 429.
MAX_WEB_RUNS = 50
#: Largest |x| or |y| of a clicked point (the page's plot spans about ±1.5).
MAX_COORDINATE = 1000.0
#: Event streams open at once (a browser tab holds one).
MAX_STREAMS = 32
#: The names of the run folders this server makes: web-YYYYmmdd-HHMMSS[-N].
WEB_RUN_NAME = re.compile(r"^web-(\d{8}-\d{6})(?:-(\d+))?$")
#: The events that end a run (an ``once=1`` event stream closes after the first of them).
RUN_ENDS = ("end", "stopped", "error")
#: POST /api/train/ACTION: the session's methods of those names.
CONTROLS = ("stop", "pause", "resume")
#: The page's default pace (iterations a second) for 2-D data: slow enough to watch each toy
#: set's recipe learn (spiral: 600 iterations, 20 s); the page picks full speed (0) for MNIST. The
#: server itself starts at full speed (a script's start without "pace" is never slowed down).
DEFAULT_PACE = 30.0
#: The largest pace one may ask for (above it: use 0, full speed); the most iterations one step.
MAX_PACE = 10_000.0
MAX_STEP = 10_000


def _page_recipe(hidden: str, batch_size: int, epochs: int) -> dict[str, Any]:
    return {"hidden": hidden, "optimizer": "momentum", "lr": 0.05, "batch_size": batch_size,
            "epochs": epochs}  # fmt: skip


#: Each toy set's default recipe on the page: momentum at its registry lr (the form's and the
#: server's default, 0.05), batches of 32; each reaches >= 0.95 training accuracy within its first
#: 100 iterations (seed 0; measured, see tests/test_web_train_api.py), so at the default pace
#: within about 3 s, and its whole run lasts 10-20 s.
TOY_RECIPES: dict[str, dict[str, Any]] = {
    "spiral": _page_recipe("50,50", 32, 40),
    "moons": _page_recipe("16,16", 32, 30),
    "circles": _page_recipe("16,16", 32, 30),
    "xor": _page_recipe("16,16", 32, 30),
}
#: The page's recipe for clicked points and for the MNIST sets (these run at full speed).
POINTS_RECIPE = _page_recipe("16,16", 8, 100)
MNIST_RECIPE = _page_recipe("100", 100, 10)
#: The grid (and the page's axes) of a run on clicked points: the plot the points were clicked on.
POINTS_VIEW = ((-1.5, 1.5), (-1.5, 1.5))


class TrainSession:
    """The server's one training slot: its state, the event log, the controls and the start.

    No HTTP here: :class:`_TrainRoutes` turns requests into these calls. Training runs in a
    thread of its own (:meth:`start`); :class:`_RunProgress` turns its callbacks into events.
    """

    def __init__(self, runs_dir: Path, stopping: threading.Event | None = None) -> None:
        self.runs_dir = runs_dir
        self.stopping = stopping or threading.Event()  # the server is shutting down
        self.starting = threading.Lock()  # held while a start is prepared (one at a time)
        self.streams = 0  # event streams open now
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.base = 0  # id of events[0]
        self.next_id = 0
        self.state = "idle"
        self.run_name: str | None = None
        self.last_start: dict[str, Any] | None = None
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared = paused
        self._running.set()
        self._wake = threading.Event()  # set by every control: a waiting step looks again
        self.pace = 0.0  # iterations a second at most (0 = full speed)
        self._last_step = 0.0
        self._step_budget = 0  # iterations a paused run may still take
        self._step_epoch = False  # a paused run may finish its current epoch
        self.progress: _RunProgress | None = None  # the running run's callbacks

    # --- events -----------------------------------------------------------------------------
    def publish(self, kind: str, **data: Any) -> None:
        with self.lock:
            event = {"id": self.next_id, "type": kind, "run": self.run_name, **data}
            self.next_id += 1
            self.events.append(event)
            if len(self.events) > MAX_EVENTS:
                drop = len(self.events) - MAX_EVENTS
                del self.events[:drop]
                self.base += drop

    def events_since(self, since: int) -> list[dict[str, Any]]:
        with self.lock:
            start = max(since - self.base, 0)
            return self.events[start:]

    async def event_stream(self, since: int, once: bool):
        """Server-Sent Events from id ``since`` on, until the server stops (or, with ``once``,
        until the next run end). The events that piled up since the last look go out as one
        write: a client that left is noticed after one failed write, not after thousands."""
        self.streams += 1
        try:
            nxt = since
            idle = 0.0
            yield "retry: 2000\n\n"
            while not self.stopping.is_set():
                parts = []
                for event in self.events_since(nxt):
                    nxt = event["id"] + 1
                    data = json.dumps(event, allow_nan=False, default=str)
                    parts.append(f"id: {event['id']}\nevent: {event['type']}\ndata: {data}\n\n")
                    if once and event["type"] in RUN_ENDS:
                        yield "".join(parts)
                        return
                if parts:
                    yield "".join(parts)
                    idle = 0.0
                await asyncio.sleep(0.05)
                idle += 0.05
                if idle >= 15:
                    yield ": keep-alive\n\n"
                    idle = 0.0
        finally:
            self.streams -= 1

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "active": self.active,
            "run": self.run_name,
            "next_event": self.next_id,
            "can_rewind": self.last_start is not None,
            "pace": self.pace,
            "recipe": None if self.last_start is None else self.last_start["recipe"],
        }

    # --- controls ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def should_stop(self) -> bool:
        """Called by training between steps: True once stop was asked (or the server is shutting
        down: the run keeps its checkpoint, resumable). Blocks while paused, unless a step was
        asked (:meth:`step`); otherwise waits so that at most :attr:`pace` steps run a second."""
        while True:
            if self._stop.is_set() or self.stopping.is_set():
                return True
            now = time.perf_counter()
            if not self._running.is_set():
                if self.progress is not None:  # what ran before the pause is sent at once
                    self.progress.flush_pending()
                with self.lock:
                    if self._step_budget > 0 or self._step_epoch:
                        self._step_budget = max(self._step_budget - 1, 0)
                        self._last_step = now
                        return False
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            pace = self.pace
            wait = self._last_step + 1.0 / pace - now if pace > 0 else 0.0
            if wait > 0:
                self._wake.wait(min(wait, 0.2))  # a pause, a stop or a new pace ends the wait
                self._wake.clear()
                continue
            self._last_step = now
            return False

    def set_pace(self, iters_per_s: float) -> None:
        """At most ``iters_per_s`` iterations a second from the next step on (0 = full speed)."""
        self.pace = float(iters_per_s)
        self._wake.set()

    def step(self, iterations: int = 0, epoch: bool = False) -> None:
        """While paused: let ``iterations`` more steps run (or, with ``epoch``, the rest of the
        current epoch); the run stays paused after them."""
        with self.lock:
            self._step_budget += int(iterations)
            self._step_epoch = self._step_epoch or bool(epoch)
        self._wake.set()

    def epoch_ended(self) -> None:
        """The training loop finished an epoch: an epoch step (if any) is done."""
        self._step_epoch = False

    @property
    def paused(self) -> bool:
        return self.active and not self._running.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._wake.set()

    def pause(self) -> None:
        if self.active and not self._stop.is_set():
            with self.lock:
                self._step_budget, self._step_epoch = 0, False
            self._running.clear()
            self._wake.set()
            self.state = "paused"
            self.publish("paused")

    def resume(self) -> None:
        if self.active and not self._running.is_set():
            with self.lock:
                self._step_budget, self._step_epoch = 0, False
            self._running.set()
            self._wake.set()
            self.state = "running"
            self.publish("resumed")

    # --- starting a run ---------------------------------------------------------------------
    def prepare_start(self, body: dict[str, Any]):
        """Check a start request and make its run folder: ``(config, points, out)``.

        Every check comes first; the folder (and ``points.csv``) only once all have passed, so
        a refused start leaves nothing behind. ``{"rewind": true}`` repeats the last start.
        """
        from mitbadak.files.datasets.toy import dataset_from_points, write_points_csv
        from mitbadak.training.recipes import WEB_LIMITS, validate_recipe

        check_start_body(body)
        if "pace" in body:
            check_pace(body["pace"])
        if body.get("rewind") is True:
            if self.last_start is None:
                raise BadRequest("nothing to rewind: no run was started from this page yet")
            recipe, points = self.last_start["recipe"], self.last_start["points"]
        else:
            recipe = body["recipe"]
            points = body.get("points")
        recipe = dict(recipe)
        if points is not None:
            recipe.pop("dataset", None)
            # the points are checked (and capped) before anything is written
            dataset_from_points(points, seed=0)
            check_point_range(points)
            recipe["dataset"] = "points.csv"
        else:
            check_dataset_name(recipe.get("dataset"))
        config = validate_recipe(recipe, limits=WEB_LIMITS)
        _check_local(config.dataset, config.data_dir)
        check_run_cap(self.runs_dir)
        out = _new_run_dir(self.runs_dir)
        if points is not None:
            try:
                path = write_points_csv(out / "points.csv", points)
            except BaseException:
                _remove_if_empty(out)
                raise
            config.dataset = str(Path(path).resolve())
        self.last_start = {"recipe": recipe, "points": points}
        if "pace" in body:
            self.set_pace(body["pace"])
        return config, points, out

    def start(self, config, points, out: Path) -> None:
        with self.lock:
            self.events = []
            self.base = self.next_id
        self._stop.clear()
        self._running.set()
        self._step_budget, self._step_epoch = 0, False
        self._last_step = 0.0
        self.progress = None
        self.run_name = out.name
        self.state = "running"
        self.thread = threading.Thread(
            target=self._train, args=(config, out), name="mitbadak-train", daemon=True
        )
        self.thread.start()

    # --- the training thread ----------------------------------------------------------------
    def _train(self, config, out: Path) -> None:
        from mitbadak.core.errors import MitbadakError
        from mitbadak.training.recipes import command_line
        from mitbadak.training.runs import load_training_data, run_training

        self.publish(
            "run",
            out_dir=str(out),
            config=config.to_dict(),
            command=command_line(config),
        )
        try:
            # the data is loaded once, here: the histograms' probe batch is its first inputs
            data = load_training_data(config, download=False)[:3]
            probe = _histogram_probe(config, data)
            boundary = np.ndim(data[0][0]) == 2 and np.shape(data[0][0])[1] == 2
            grid = _unit_map_grid(config, data) if boundary else None
            with _RunProgress(self, out, config.batch_size, probe, boundary, grid) as progress:
                self.progress = progress
                _result, info = run_training(
                    config, out, callback=progress, download=False, data=data,
                    should_stop=self.should_stop,
                )
        except KeyboardInterrupt:
            self.state = "stopped"
            if not self.stopping.is_set():  # no one is left to see it when the server stops
                if self.progress is not None:
                    self.progress.publish_unsent()
                self.publish_picture(out)
            self.publish("stopped", out_dir=str(out))
        except (MitbadakError, ValueError, OSError) as exc:
            _remove_if_empty(out)
            self.state = "error"
            self.publish("error", error=str(exc).splitlines()[0] if str(exc) else repr(exc))
        except Exception as exc:  # never take the server down
            self.state = "error"
            self.publish("error", error=f"internal error ({type(exc).__name__}: {exc})")
        else:
            self.state = "done"
            self.publish_picture(out)
            self.publish("end", out_dir=str(out), final=_clean(info.get("final", {})))

    def publish_picture(self, out: Path) -> None:
        picture = run_picture(out)
        if picture:
            self.publish("picture", **picture)


def _unit_map_grid(config, data) -> tuple[np.ndarray, np.ndarray]:
    """The grid of the units' heat maps: the boundary's limits (a toy set's data with a 10 %
    margin, clicked points' fixed view), :data:`UNIT_MAP_RESOLUTION` points a side."""
    from mitbadak.files.datasets.toy import is_toy_name
    from mitbadak.views.boundary import data_limits

    if config.dataset and is_toy_name(config.dataset):
        xlim, ylim = data_limits(np.concatenate([data[0][0], data[1][0]]))
    else:
        xlim, ylim = POINTS_VIEW
    n = UNIT_MAP_RESOLUTION
    return np.linspace(*xlim, n), np.linspace(*ylim, n)


def _histogram_probe(config, data):
    """The run's :class:`~mitbadak.views.inspection.ActivationProbe` (None when it cannot be
    made: the histograms are an extra, never a reason for a run to fail)."""
    from mitbadak.views.inspection import ActivationProbe, initial_network

    try:
        train_set, test_set, dataset = data
        return ActivationProbe(initial_network(config, train_set, test_set, dataset), train_set[0])
    except Exception:
        return None


class _RunProgress:
    """One run's training callbacks as events: losses in chunks (at most every
    :data:`CHUNK_SECONDS`, with the speed), each epoch's metrics, each epoch's picture, and the
    hidden layers' activation histograms (at the start: the initial weights; after each epoch:
    its checkpoint, counted on the run's fixed probe batch and bins).

    The picture (boundary or weight tiles) is drawn by a painter thread beside training, so the
    training loop only sets a flag; the histograms (one forward pass of the probe batch) are
    counted in the training thread, so no epoch is skipped. Use as a context manager: leaving
    it ends the painter.
    """

    def __init__(
        self, session: TrainSession, out: Path, batch_size: int, probe=None,
        boundary: bool = False, grid=None,
    ) -> None:  # fmt: skip
        self.session = session
        self.boundary = boundary
        self.grid = grid  # the units' heat maps' grid (2-D data), else None
        self.out = out
        self.batch_size = batch_size
        self.probe = probe
        self.pending: list[list[float]] = []  # [iteration, loss] not sent yet
        self.last_flush = time.perf_counter()
        self.last_flush_iteration = 0
        self.picture_after_next_step = False  # the epoch's checkpoint is on disk by then
        self.last_frame = -math.inf  # when an epoch's frames last went out
        self.unsent_epoch: int | None = None  # an epoch whose frames were left out (too soon)
        self.picture_due = threading.Event()
        self.finished = threading.Event()
        self.painter = threading.Thread(target=self._paint, name="mitbadak-picture", daemon=True)

    def __enter__(self) -> _RunProgress:
        self.painter.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.finished.set()
        self.painter.join()

    def _paint(self) -> None:
        while not self.finished.is_set():
            if self.picture_due.wait(0.1):
                self.picture_due.clear()
                started = time.perf_counter()
                self.session.publish_picture(self.out)
                # Share the cores with training: rest PAINT_REST x the time it took, so the
                # pictures cost at most ~1/(PAINT_REST+1) of the run; epochs that end while
                # resting are skipped (the last picture is always drawn at the end).
                self.finished.wait(PAINT_REST * (time.perf_counter() - started))

    def publish_histograms(self, epoch: int) -> None:
        """The ``histograms`` event of ``epoch``: 0 is the initial network, later epochs their
        checkpoint (written before the epoch's event)."""
        if self.probe is None:
            return
        try:
            if epoch == 0:
                layers = self.probe.initial_frame
            else:
                layers = self.probe.frame_from_checkpoint(self.out / "checkpoint.npz")
        except Exception:  # a damaged or missing checkpoint: this frame is left out
            return
        self.session.publish(
            "histograms", epoch=epoch, probe_size=len(self.probe.x), layers=layers
        )
        self.publish_network(epoch)

    def publish_network(self, epoch: int) -> None:
        """The ``network`` event of ``epoch``: :func:`~mitbadak.views.network_view.network_view`
        of the probe's network (that of the frame just sent), with the units' heat maps on 2-D
        data and each unit's histogram in the histogram panel's bins."""
        from mitbadak.views.network_view import network_view

        try:
            view = network_view(
                self.probe.network, grid=self.grid, probe=self.probe.x,
                ranges=self.probe.ranges, bins=self.probe.bins,
            )  # fmt: skip
        except Exception:  # an extra: never a reason for a run to fail
            return
        try:  # weights that blew up (NaN) cannot go out as JSON: that frame is left out
            json.dumps(view, allow_nan=False)
        except (TypeError, ValueError):
            return
        if view is not None:
            self.session.publish("network", epoch=epoch, **view)

    def publish_unsent(self) -> None:
        """The last epoch's histograms and network, where they were left out as too soon after
        the previous frames (the run's end or stop; its picture is sent by the session)."""
        if self.unsent_epoch is not None:
            self.publish_histograms(self.unsent_epoch)
            self.unsent_epoch = None

    def flush_pending(self) -> None:
        """Send the losses not sent yet (the run is pausing); nothing when there are none."""
        if self.pending:
            self.flush(int(self.pending[-1][0]))

    def flush(self, iteration: int) -> None:
        """Send the pending losses and the speed since the last flush."""
        now = time.perf_counter()
        dt = now - self.last_flush
        rate = (iteration - self.last_flush_iteration) / dt if dt > 0 else None
        self.session.publish(
            "steps",
            steps=list(self.pending),
            iters_per_s=rate,
            images_per_s=rate * self.batch_size if rate is not None else None,
        )
        self.pending.clear()
        self.last_flush, self.last_flush_iteration = now, iteration

    def __call__(self, event: dict[str, Any]) -> None:
        """The callback of :func:`~mitbadak.training.runs.run_training`."""
        kind = event["event"]
        if kind == "step":
            if self.picture_after_next_step:
                self.picture_after_next_step = False
                if self.boundary:  # a 2-D run: its boundary after every epoch, drawn here
                    self.session.publish_picture(self.out)
                else:
                    self.picture_due.set()
            self.pending.append([event["iteration"], float(event["loss"])])
            # a paused run moves only by steps: each one is sent at once
            stepping = not self.session._running.is_set()
            if stepping or time.perf_counter() - self.last_flush >= CHUNK_SECONDS:
                self.flush(event["iteration"])
        elif kind == "start":
            self.last_flush_iteration = event.get("start_iteration", 0)
            self.session.publish("start", **{k: v for k, v in event.items() if k != "event"})
            self.publish_histograms(0)
        elif kind == "epoch":
            if self.pending:
                self.flush(event["iteration"])
            self.session.publish("epoch", metrics=_clean(event))
            self.session.epoch_ended()
            now = time.perf_counter()
            if now - self.last_frame >= MIN_FRAME_SECONDS:
                self.last_frame, self.unsent_epoch = now, None
                self.publish_histograms(int(event["epoch"]))
                self.picture_after_next_step = True
            else:
                self.unsent_epoch = int(event["epoch"])
        elif kind == "end":
            if self.pending:
                self.flush(event.get("iteration") or 0)
            self.publish_unsent()


def _remove_if_empty(out: Path) -> None:
    """A run that failed before writing anything leaves no empty folder behind."""
    try:
        out.rmdir()  # only succeeds on an empty folder
    except OSError:
        pass


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: NaN/inf become None, numpy scalars Python numbers."""
    result = {}
    for k, v in d.items():
        if k == "event":
            continue
        if isinstance(v, (np.floating, float)):
            v = float(v)
            v = v if math.isfinite(v) else None
        elif isinstance(v, np.integer):
            v = int(v)
        result[k] = v
    return result


def weight_tiles(w1: np.ndarray, n: int = N_TILES) -> list[str]:
    """The first ``n`` hidden units' input weights (784 each) as 28x28 PNG data-URLs.

    Each tile is scaled on its own: the unit's most negative weight black, most positive white.
    """
    from mitbadak.web.api.draw import _png_data_url

    tiles = []
    for j in range(min(n, w1.shape[1])):
        w = np.asarray(w1[:, j], dtype=np.float64).reshape(28, 28)
        lo, hi = float(w.min()), float(w.max())
        tiles.append(_png_data_url((w - lo) / (hi - lo) if hi > lo else w * 0))
    return tiles


def run_picture(out: Path) -> dict[str, Any] | None:
    """The run's picture as it stands: the decision boundary (2-D data) or weight tiles."""
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.datasets.toy import is_toy_name
    from mitbadak.views.boundary import run_boundary

    try:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
        dataset = saved.get("dataset_used") or saved["config"].get("dataset")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    from mitbadak.files.datasets import registry

    if dataset and dataset not in registry.DATASETS:
        try:
            toy = is_toy_name(dataset)
            result = run_boundary(
                out, BOUNDARY_RESOLUTION, max_points=600, limits=None if toy else POINTS_VIEW
            )
            result["grid"].pop("probs", None)  # the page draws classes and confidence
            return {"boundary": result}
        except (MitbadakError, OSError, ValueError):
            return None
    w1 = _first_layer(out)
    if w1 is None or w1.ndim != 2 or w1.shape[0] != 784:
        return None
    return {"tiles": weight_tiles(w1)}


def _first_layer(out: Path) -> np.ndarray | None:
    """W1 from the newer of model.npz and checkpoint.npz, reading only that array of the file
    (the whole checkpoint, with its history and optimizer state, would slow training down)."""
    candidates = [p for p in (out / "model.npz", out / "checkpoint.npz") if p.is_file()]
    if not candidates:
        return None
    newest = max(candidates, key=lambda p: p.stat().st_mtime_ns)
    try:
        with np.load(newest, allow_pickle=False) as archive:
            for key in ("param/W1", "W1", "params/W1"):
                if key in archive.files:
                    return np.asarray(archive[key])
    except Exception:  # a file being replaced right now: try again on the next poll
        return None
    return None


def run_snapshot(out: Path) -> dict[str, Any]:
    """A run folder as it stands (for reopening it, or following a CLI run)."""
    from mitbadak.training.loop import read_history
    from mitbadak.training.recipes import command_line
    from mitbadak.training.run_folder import read_run_config

    info: dict[str, Any] = {"name": out.name, "out_dir": str(out)}
    try:
        config = read_run_config(out)
        info["config"] = config.to_dict()
        info["command"] = command_line(config)
    except Exception as exc:
        info["config_error"] = str(exc).splitlines()[0]
    info["finished"] = (out / "model.npz").is_file()
    history = None
    metrics = out / "metrics.csv"
    checkpoint = out / "checkpoint.npz"
    use_checkpoint = checkpoint.is_file() and (
        not metrics.is_file() or checkpoint.stat().st_mtime_ns > metrics.stat().st_mtime_ns
    )
    try:
        if use_checkpoint:
            from mitbadak.training.loop import load_checkpoint

            history = load_checkpoint(checkpoint)[3]
        elif metrics.is_file():
            history = read_history(out)
    except Exception:
        history = None
    if history is not None:
        losses = [float(v) for v in history.iteration_loss]
        info["losses"] = losses[-20_000:]
        info["loss_offset"] = max(len(losses) - 20_000, 0)
        info["epochs"] = [_clean(e) for e in history.epochs]
    picture = run_picture(out)
    if picture:
        info.update(picture)
    return info


def _safe_run_dir(runs_dir: Path, name: Any) -> Path:
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 255
        or "\x00" in name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
    ):
        shown = repr(name)[:80]
        raise BadRequest(f"run name must be a folder name under the runs folder, got {shown}")
    folder = runs_dir / name
    try:
        found = (folder / "config.json").is_file()
    except OSError:  # a name the file system cannot hold
        found = False
    if not found:
        raise FileNotFoundError(f"no run folder {name!r} under {runs_dir}")
    return folder


def web_runs(runs_dir: Path) -> list[Path]:
    """The run folders this server made under ``runs_dir`` (``web-*``), oldest first."""
    if not runs_dir.is_dir():
        return []
    found = []
    for folder in runs_dir.iterdir():
        match = WEB_RUN_NAME.match(folder.name)
        if match and folder.is_dir():
            found.append(((match.group(1), int(match.group(2) or 0)), folder))
    return [folder for _key, folder in sorted(found)]


def check_run_cap(runs_dir: Path, cap: int | None = None) -> None:
    """:class:`TooManyRuns` when ``cap`` (default :data:`MAX_WEB_RUNS`) page-made run folders are
    already under ``runs_dir``; the message names the oldest ones whose removal makes room
    (nothing is deleted here)."""
    cap = MAX_WEB_RUNS if cap is None else cap
    made = web_runs(runs_dir)
    if len(made) < cap:
        return
    surplus = made[: len(made) - cap + 1]
    names = ", ".join(f.name for f in surplus[:5]) + (" …" if len(surplus) > 5 else "")
    raise TooManyRuns(
        f"{len(made)} run folders made by this page are under {runs_dir} (at most {cap}); "
        f"remove {len(surplus)} of them to start another, e.g. the oldest: {names} "
        f"(rm -r {surplus[0]}); the server never deletes a run"
    )


class TooManyRuns(BadRequest):
    """The page's run folders reached :data:`MAX_WEB_RUNS` (HTTP 429)."""


def check_start_body(body: dict[str, Any]) -> None:
    """A start names what a run needs: a recipe with a dataset (or points) and its length."""
    if "rewind" in body and not isinstance(body["rewind"], bool):
        raise BadRequest(f"rewind must be true or false, got {body['rewind']!r}")
    if body.get("rewind") is True:
        return
    recipe = body.get("recipe")
    if not isinstance(recipe, dict):
        shown = "none" if recipe is None else type(recipe).__name__
        raise BadRequest(
            f'a run needs {{"recipe": {{"dataset": ..., "epochs": ...}}}} (or {{"rewind": true}}); '
            f"got recipe {shown}"
        )
    missing = []
    if body.get("points") is None and recipe.get("dataset") in (None, ""):
        missing.append("--dataset (or points)")
    if recipe.get("epochs") in (None, "") and recipe.get("iters") in (None, ""):
        missing.append("--epochs (or --iters)")
    if missing:
        raise BadRequest(f"a run needs {' and '.join(missing)}; the recipe sent has none")


def check_pace(value: Any) -> float:
    """A pace is 0 (full speed) or 0.1 to :data:`MAX_PACE` iterations a second."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (value == 0 or 0.1 <= value <= MAX_PACE):
        raise BadRequest(
            f"pace: expected 0 (full speed) or 0.1 to {MAX_PACE:,g} iterations a second, "
            f"got {value!r}"
        )
    return float(value)


def check_step(body: dict[str, Any]) -> tuple[int, bool]:
    """A step request: ``{"iterations": 1..MAX_STEP}`` or ``{"epoch": true}``, one of them."""
    iterations, epoch = body.get("iterations"), body.get("epoch", False)
    if not isinstance(epoch, bool):
        raise BadRequest(f"epoch must be true or false, got {epoch!r}")
    if (iterations is None) == (not epoch):
        raise BadRequest('a step is {"iterations": N} or {"epoch": true} (one of them)')
    if iterations is not None and (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or not 1 <= iterations <= MAX_STEP
    ):
        raise BadRequest(
            f"iterations: expected a whole number 1 to {MAX_STEP:,}, got {iterations!r}"
        )
    return int(iterations or 0), epoch


def check_dataset_name(dataset: Any) -> None:
    """A page names a data set of the registry or a toy set, never a file on the server."""
    from mitbadak.files.datasets import registry
    from mitbadak.files.datasets.toy import TOY_DATASETS, is_toy_name

    if not isinstance(dataset, str):
        raise BadRequest(f"--dataset: expected a data set name, got {dataset!r}")
    if dataset.strip() in registry.DATASETS or is_toy_name(dataset):
        return
    raise BadRequest(
        f"--dataset {dataset[:80]!r}: unknown dataset; the page trains on a named data set "
        f"({', '.join([*registry.DATASETS, *TOY_DATASETS])}) or on points sent with the "
        "request, never on a file of the server"
    )


def check_point_range(points: Any, bound: float = MAX_COORDINATE) -> None:
    """Every point's x and y lie within ±``bound`` (the points are already checked as numbers)."""
    from collections.abc import Mapping

    for i, point in enumerate(points):
        x, y = (point["x"], point["y"]) if isinstance(point, Mapping) else (point[0], point[1])
        if not (abs(float(x)) <= bound and abs(float(y)) <= bound):
            raise BadRequest(
                f"point {i}: x and y must lie within ±{bound:,g} (the plot spans about ±1.5), "
                f"got {[x, y]!r}"
            )


def _new_run_dir(runs_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        folder = runs_dir / (f"web-{stamp}" + (f"-{i}" if i else ""))
        if not folder.exists():
            folder.mkdir(parents=True)
            return folder
    raise OSError(f"could not make a new run folder under {runs_dir}")


def _check_local(dataset: str | None, data_dir: str | None) -> None:
    """The page never downloads (training runs offline): a registry data set must be here."""
    from mitbadak.files.datasets import locate, registry

    if dataset not in registry.DATASETS or registry.get_spec(dataset).packaged:
        return
    if locate(dataset, data_dir) is None:
        raise BadRequest(
            f"dataset {dataset!r} is not on this machine (the page does not download): "
            f"`mitbadak data download {dataset}` fetches it, verified; or choose mnist-sample"
        )


def choices() -> dict[str, Any]:
    from mitbadak.files.datasets import present, registry
    from mitbadak.files.datasets.toy import TOY_DATASETS
    from mitbadak.training.recipes import (
        ACTIVATIONS,
        DEFAULT_LR,
        DEFAULT_RECIPE,
        MODELS,
        OPTIMIZERS,
        WEB_LIMITS,
    )

    return {
        "datasets": list(registry.DATASETS),
        "datasets_here": [name for name in registry.DATASETS if present(name)],
        "toy_datasets": list(TOY_DATASETS),
        "models": list(MODELS),
        "activations": list(ACTIVATIONS),
        "optimizers": list(OPTIMIZERS),
        "weight_inits": ["he", "xavier", "0.01"],
        "default_lr": {k: DEFAULT_LR.get(k, DEFAULT_RECIPE.lr) for k in OPTIMIZERS},
        "defaults": DEFAULT_RECIPE.to_dict(),
        "toy_recipes": TOY_RECIPES,
        "points_recipe": POINTS_RECIPE,
        "mnist_recipe": MNIST_RECIPE,
        "default_pace": DEFAULT_PACE,
        "max_pace": MAX_PACE,
        "limits": {
            "max_hidden_layers": WEB_LIMITS.max_hidden_layers,
            "max_hidden_size": WEB_LIMITS.max_hidden_size,
            "max_epochs": WEB_LIMITS.max_epochs,
            "max_batch_size": WEB_LIMITS.max_batch_size,
        },
    }


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """The run folders under ``runs_dir`` (any with a config.json), newest first, at most 200."""
    if not runs_dir.is_dir():
        return []
    found = []
    for folder in runs_dir.iterdir():
        if (folder / "config.json").is_file():
            found.append(
                {
                    "name": folder.name,
                    "finished": (folder / "model.npz").is_file(),
                    "mtime": (folder / "config.json").stat().st_mtime,
                }
            )
    return sorted(found, key=lambda r: -r["mtime"])[:200]


def _json(data: Any, status_code: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status_code)


class _TrainRoutes:
    """The HTTP side of one :class:`TrainSession`: each method reads a request, calls the
    session and answers JSON (or the event stream); refusals are JSON errors."""

    def __init__(self, session: TrainSession) -> None:
        self.session = session

    async def choices(self, request):
        return _json(choices())

    async def start(self, request):
        from starlette.concurrency import run_in_threadpool

        from mitbadak.files.datasets.toy import DataError
        from mitbadak.training.recipes import RecipeError

        session = self.session
        try:
            body = await read_object(request, {"recipe", "points", "rewind", "pace"})
            if session.stopping.is_set():
                return json_error(503, "the server is shutting down")
            # One start at a time: a burst of starts gets 409s and makes no folders.
            if not session.starting.acquire(blocking=False):
                return json_error(409, "busy: another start is being prepared")
            try:
                if session.active:
                    return json_error(
                        409,
                        f"busy: run {session.run_name} is training; stop it first (one at a time)",
                    )
                config, points, out = await run_in_threadpool(session.prepare_start, body)
                session.start(config, points, out)
            finally:
                session.starting.release()
        except TooManyRuns as exc:
            return json_error(429, str(exc))
        except (BadRequest, RecipeError, DataError, ValueError, TypeError) as exc:
            return json_error(400, str(exc))
        except OverflowError:
            return json_error(400, TOO_LARGE)
        except OSError as exc:
            return json_error(500, f"could not write the run folder: {exc}")
        return _json({"run": out.name, "out_dir": str(out), "config": config.to_dict()}, 202)

    async def control(self, request):
        action = request.path_params["action"]
        if action not in CONTROLS:
            return json_error(404, "not found")
        try:
            await read_object(request, set())  # no fields: an empty body or {}
        except BadRequest as exc:
            return json_error(400, str(exc))
        if not self.session.active:
            return json_error(409, "no training is running")
        getattr(self.session, action)()
        return _json({"state": "stopping" if action == "stop" else self.session.state})

    async def pace(self, request):
        try:
            body = await read_object(request, {"iters_per_s"})
            pace = check_pace(body.get("iters_per_s"))
        except BadRequest as exc:
            return json_error(400, str(exc))
        self.session.set_pace(pace)
        return _json({"pace": self.session.pace})

    async def step(self, request):
        try:
            iterations, epoch = check_step(await read_object(request, {"iterations", "epoch"}))
        except BadRequest as exc:
            return json_error(400, str(exc))
        if not self.session.paused:
            return json_error(409, "a step needs a paused run: press Pause first")
        self.session.step(iterations, epoch)
        return _json({"state": "paused", "iterations": iterations, "epoch": epoch})

    async def state(self, request):
        return _json(self.session.status())

    async def events(self, request):
        from starlette.responses import StreamingResponse

        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return json_error(400, "since must be a whole number (an event id)")
        once = request.query_params.get("once") == "1"
        if self.session.streams >= MAX_STREAMS:
            return json_error(429, f"too many event streams open (at most {MAX_STREAMS})")
        return StreamingResponse(
            self.session.event_stream(since, once),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def runs(self, request):
        from starlette.concurrency import run_in_threadpool

        runs_dir = self.session.runs_dir
        return _json(
            {"runs_dir": str(runs_dir), "runs": await run_in_threadpool(list_runs, runs_dir)}
        )

    async def run(self, request):
        from starlette.concurrency import run_in_threadpool

        try:
            folder = _safe_run_dir(self.session.runs_dir, request.query_params.get("name"))
        except BadRequest as exc:
            return json_error(400, str(exc))
        except FileNotFoundError as exc:
            return json_error(404, str(exc))
        snapshot = await run_in_threadpool(run_snapshot, folder)
        snapshot["active"] = self.session.active and self.session.run_name == folder.name
        return _json(json.loads(json.dumps(snapshot, default=str)))


def routes(ctx) -> list:
    """The train page's routes over one :class:`TrainSession` (kept as ``ctx.extra['train']``)."""
    from starlette.routing import Route

    session = TrainSession(Path(ctx.runs_dir or "runs").resolve(), ctx.stopping)
    ctx.extra["train"] = session
    api = _TrainRoutes(session)
    return [
        Route("/api/train/choices", api.choices, methods=["GET"]),
        Route("/api/train/start", api.start, methods=["POST"]),
        Route("/api/train/pace", api.pace, methods=["POST"]),
        Route("/api/train/step", api.step, methods=["POST"]),
        Route("/api/train/{action:str}", api.control, methods=["POST"]),
        Route("/api/train/state", api.state, methods=["GET"]),
        Route("/api/train/events", api.events, methods=["GET"]),
        Route("/api/train/runs", api.runs, methods=["GET"]),
        Route("/api/train/run", api.run, methods=["GET"]),
    ]
