"""Turn the library's progress callbacks into terminal output (the only place that prints)."""

from __future__ import annotations

import sys
import time
from typing import Any


def _fmt(v, spec=".4f") -> str:
    return "-" if v is None else format(v, spec)


class TrainingReporter:
    """One line per epoch on ``lines`` (stdout), so ``train > log`` keeps them; the live bar
    (tqdm, on a terminal) or, without a terminal, a progress line every ``every`` seconds goes
    to ``stream`` (stderr). Nothing when quiet."""

    def __init__(
        self, quiet: bool = False, stream=None, lines=None, every: float = 10.0, clock=None
    ) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.lines = lines or sys.stdout
        self.every = every
        self.clock = clock or time.perf_counter
        self.bar = None
        self.started = self.clock()
        self.last_line = self.started
        self.total = 0
        self.steps_at_start = 0
        self.use_bar = False
        if not quiet and self.stream.isatty():
            try:
                import tqdm  # noqa: F401

                self.use_bar = True
            except ImportError:
                pass

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        kind = event["event"]
        if kind == "start":
            self.started = self.last_line = self.clock()
            self.steps_at_start = event["start_iteration"]
            self.total = event["total_iters"]
            if self.use_bar:
                # The same bar as mitbadak.training.progress offers notebooks, as plain tqdm on the
                # stream.
                from tqdm import tqdm

                from mitbadak.training.progress import TrainingProgress

                self.bar = TrainingProgress(
                    tqdm_class=tqdm, file=self.stream, dynamic_ncols=True, desc=None
                )
                self.bar(event)
        elif kind == "step" and self.bar is not None:
            self.bar(event)
        elif kind == "step":
            now = self.clock()
            first = event["iteration"] == self.steps_at_start + 1
            if now - self.last_line >= self.every or (first and now - self.started >= 1.0):
                self.last_line = now
                done = event["iteration"] - self.steps_at_start
                elapsed = now - self.started
                left = elapsed / done * (self.total - event["iteration"]) if done else 0.0
                print(
                    f"iter {event['iteration']:,}/{self.total:,}  epoch {event['epoch']}  "
                    f"loss {event['loss']:.4f}  {_clock(elapsed)} elapsed, "
                    f"about {_clock(left)} left",
                    file=self.stream,
                    flush=True,
                )
        elif kind == "epoch":
            self.last_line = self.clock()
            done = event["iteration"] - self.steps_at_start
            rate = done / max(self.last_line - self.started, 1e-9)
            line = (
                f"epoch {event['epoch']:>3}  iter {event['iteration']:>6}  "
                f"train loss {_fmt(event['train_loss'])} acc {_fmt(event['train_acc'])}  "
                f"test loss {_fmt(event['test_loss'])} acc {_fmt(event['test_acc'])}"
            )
            if event.get("val_loss") is not None:
                line += f"  val loss {_fmt(event['val_loss'])} acc {_fmt(event['val_acc'])}"
            line += f"  {rate:,.0f} it/s" if rate >= 10 else f"  {rate:.3g} it/s"
            if self.bar is not None:
                self.bar(event)
                self.bar.write(line, file=self.lines)
            else:
                print(line, file=self.lines, flush=True)
        elif kind == "end":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class DownloadReporter:
    """Progress of a file download: a tqdm bar on a terminal, silent otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.bars: dict[str, Any] = {}
        self.enabled = self.stream.isatty()

    def __call__(self, filename: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        bar = self.bars.get(filename)
        if bar is None:
            bar = self.bars[filename] = tqdm(
                total=total, unit="B", unit_scale=True, desc=filename, file=self.stream, leave=False
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()
