"""A bounded load test of `mitbadak serve`: N predict requests from C concurrent clients.

    .venv/bin/python benchmarks/web_load.py                     # 2,000 requests, 8 clients
    .venv/bin/python benchmarks/web_load.py --requests 200 --payload pixels

Starts `mitbadak serve MODEL --port 0` on 127.0.0.1 as a child process (as a user would), sends
the request the draw page sends (a 280x280 PNG of a digit as a JSON data-URL; ``--payload png``
sends the raw PNG, ``pixels`` 784 numbers) from C threads, each on its own keep-alive
connection, and records requests/s, latency percentiles and the number of errors (any answer
other than 200, or a failed connection) in benchmarks/results/web_load.json and web_load.md.
The clients run on the same machine as the server and share its cores.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import http.client
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED_BOOK = REPO.parent / "shared" / "data" / "sample_weight.pkl"
sys.path.insert(0, str(REPO / "tests"))

from _webtools import DIGITS, render_strokes  # noqa: E402

from mitbadak.core.atomic import atomic_write_text  # noqa: E402


def start_server(model: Path, runs: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mitbadak", "serve", str(model), "--port", "0", "--runs", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r} {proc.stderr.read()[-2000:]}")
    return proc, f"{match.group(1)}:{match.group(2)}"


def payloads(kind: str, folder: Path) -> list[tuple[bytes, str]]:
    """One request body per digit, and its Content-Type."""
    from mitbadak.files.photos import load_image, preprocess_digit

    bodies = []
    for digit, strokes in DIGITS.items():
        png = render_strokes(strokes, folder / f"{digit}.png")
        if kind == "png":
            bodies.append((png.read_bytes(), "image/png"))
        elif kind == "pixels":
            x = preprocess_digit(load_image(png))
            bodies.append((json.dumps({"pixels": x.tolist()}).encode(), "application/json"))
        else:
            url = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            bodies.append((json.dumps({"image": url}).encode(), "application/json"))
    return bodies


def run_load(address: str, bodies, total: int, clients: int):
    host, port = address.split(":")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body, ctype = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/predict", body=body, headers={"Content-Type": ctype})
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status, data = 0, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if status != 200:
                    errors.append(f"{status}: {data[:120]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--payload", choices=["data-url", "png", "pixels"], default="data-url")
    parser.add_argument(
        "--model",
        help="model file or run folder (default: the book's sample_weight.pkl from ../shared/data "
        "when present, else a small model trained on mnist-sample)",
    )
    parser.add_argument("--out", default=str(HERE / "results" / "web_load"))
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1:
        parser.error("--requests and --clients must be positive")

    with tempfile.TemporaryDirectory(prefix="mitbadak-load-") as tmp:
        tmp = Path(tmp)
        if args.model:
            model = Path(args.model)
        elif SHARED_BOOK.is_file():
            model = SHARED_BOOK
        else:
            from _webtools import train_small_model

            model = train_small_model(tmp / "small")
        bodies = payloads(args.payload, tmp)
        proc, address = start_server(model, tmp / "no-runs")
        try:
            run_load(address, bodies, min(40, args.requests), min(4, args.clients))  # warm-up
            load_start = os.getloadavg()
            seconds, latencies, errors = run_load(address, bodies, args.requests, args.clients)
            load_end = os.getloadavg()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    ms = [1000 * v for v in latencies]
    result = {
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/web_load.py", *(argv or sys.argv[1:])]),
        "requests": args.requests,
        "clients": args.clients,
        "payload": args.payload,
        "payload_bytes": round(statistics.mean(len(b) for b, _ in bodies)),
        "model": model.name if model.suffix else model.name + "/",
        "seconds": round(seconds, 3),
        "requests_per_s": round(args.requests / seconds, 1),
        "latency_ms": {
            "p50": round(percentile(ms, 0.50), 2),
            "p90": round(percentile(ms, 0.90), 2),
            "p99": round(percentile(ms, 0.99), 2),
            "max": round(max(ms), 2),
        },
        "errors": len(errors),
        "error_samples": errors[:5],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in load_end],
        },
    }
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    lat = result["latency_ms"]
    md = (
        "# `mitbadak serve` load test\n\n"
        f"`{result['command']}` on {result['when']} ({result['machine']['cpus']} CPUs, "
        f"load average {result['machine']['loadavg_start'][0]} at start); clients and server "
        "share the machine.\n\n"
        "| requests | clients | payload | model | requests/s | p50 ms | p90 ms | p99 ms "
        "| max ms | errors |\n"
        "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {args.requests} | {args.clients} | {args.payload} ({result['payload_bytes']} B) "
        f"| {result['model']} | {result['requests_per_s']} | {lat['p50']} | {lat['p90']} "
        f"| {lat['p99']} | {lat['max']} | {result['errors']} |\n"
    )
    atomic_write_text(out.with_suffix(".md"), md)
    print(md)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
