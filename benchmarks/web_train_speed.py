"""Training from the train page vs `mitbadak train`, on the same recipe and the same machine.

    .venv/bin/python benchmarks/web_train_speed.py                 # mnist-sample, 3 rounds
    .venv/bin/python benchmarks/web_train_speed.py --dataset spiral --epochs 30 --rounds 5

Each round runs the recipe twice: once as `mitbadak train ... --quiet` (a child process), once
through `mitbadak serve` (POST /api/train/start, with one SSE client reading every event the
page would get). The figure compared is the training time the run itself records (``seconds``
in metrics.csv: the training loop, without start-up and data loading), so both sides measure
the same thing. Writes benchmarks/results/web_train_speed.json and .md; the overhead of the
page (best page round / best CLI round - 1; medians beside it) must stay under 10 %.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import http.client
import json
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _seconds(run_dir: Path) -> float:
    with open(run_dir / "metrics.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["seconds"])


def _cli(recipe: dict, out: Path) -> float:
    args = [sys.executable, "-m", "mitbadak", "train", "--out", str(out), "--quiet"]
    for key, value in recipe.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    subprocess.run(args, check=True, capture_output=True)
    return _seconds(out)


class _Serve:
    def __init__(self, model: Path, runs: Path) -> None:
        code = (
            "import sys\nfrom mitbadak.cli import main\n"
            f"sys.exit(main(['serve', {str(model)!r}, '--port', '0', '--runs', {str(runs)!r}]))"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", self.proc.stdout.readline())
        if not match:
            self.proc.kill()
            raise RuntimeError("mitbadak serve did not start: " + self.proc.stderr.read()[-2000:])
        self.port = int(match.group(1))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=30)


def _page(serve: _Serve, recipe: dict) -> tuple[float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=600)
    conn.request("GET", "/api/train/state")
    since = json.loads(conn.getresponse().read())["next_event"]
    events: list[str] = []

    def listen() -> None:
        c = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=600)
        c.request("GET", f"/api/train/events?since={since}&once=1")
        r = c.getresponse()
        for raw in r:
            line = raw.decode()
            if line.startswith("event: "):
                events.append(line[7:].strip())
        c.close()

    reader = threading.Thread(target=listen)
    reader.start()
    body = json.dumps({"recipe": recipe})
    conn.request("POST", "/api/train/start", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    started = json.loads(resp.read())
    if resp.status != 202:
        raise RuntimeError(f"start refused: {started}")
    reader.join()
    if events[-1] != "end":
        raise RuntimeError(f"the page's run ended with {events[-1]!r}")
    return _seconds(Path(started["out_dir"])), len(events)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist-sample")
    p.add_argument("--hidden", default="100")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    recipe = {
        "dataset": args.dataset, "hidden": args.hidden, "epochs": args.epochs,
        "batch_size": args.batch_size, "optimizer": "sgd", "lr": 0.1, "seed": 0,
    }
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "digits"
        run_training(TrainConfig(dataset="mnist-sample", hidden=[8], epochs=1), model)
        serve = _Serve(model, tmp / "runs")
        cli_s, page_s, n_events = [], [], 0
        try:
            for i in range(args.rounds):
                cli_s.append(_cli(recipe, tmp / f"cli-{i}"))
                seconds, n_events = _page(serve, recipe)
                page_s.append(seconds)
                print(f"round {i + 1}: cli {cli_s[-1]:.3f} s, page {page_s[-1]:.3f} s", flush=True)
        finally:
            serve.stop()
    # On a shared machine the noise only ever adds time: the best round of each side is the
    # steadier comparison; the medians are reported beside it.
    overhead = min(page_s) / min(cli_s) - 1
    overhead_median = statistics.median(page_s) / statistics.median(cli_s) - 1
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "recipe": recipe,
        "cli_seconds": cli_s,
        "page_seconds": page_s,
        "events_per_page_run": n_events,
        "overhead_best": overhead,
        "overhead_median": overhead_median,
        "command": "python benchmarks/web_train_speed.py " + " ".join(sys.argv[1:]),
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "web_train_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (
        f"# Train page vs `mitbadak train` ({result['date']})\n\n"
        f"Recipe: `{json.dumps(recipe)}`, {args.rounds} rounds, training seconds from metrics.csv."
        f"\n\n| | best s | median s | all |\n|---|---|---|---|\n"
        f"| `mitbadak train` | {min(cli_s):.3f} | {statistics.median(cli_s):.3f} | "
        f"{', '.join(f'{s:.3f}' for s in cli_s)} |\n"
        f"| train page (1 SSE client, {n_events} events) | {min(page_s):.3f} | "
        f"{statistics.median(page_s):.3f} | "
        f"{', '.join(f'{s:.3f}' for s in page_s)} |\n\n"
        f"Overhead of the page: {overhead * 100:+.1f} % (best rounds), "
        f"{overhead_median * 100:+.1f} % (medians)\n\nCommand: `{result['command']}`\n"
    )
    (out / "web_train_speed.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
