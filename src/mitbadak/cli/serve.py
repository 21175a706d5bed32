"""`mitbadak serve [MODEL_OR_RUN ...]`: the local web playground (needs the `web` extra)."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from pathlib import Path

from mitbadak.cli import CLIError

DEFAULT_RUN_NAME = "serve-default"
#: After Ctrl-C, requests still running get this long before they are cancelled (seconds).
GRACEFUL_SECONDS = 1.0
#: How long the exit waits for a training run to write its checkpoint (seconds).
CHECKPOINT_WAIT = 1.5


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the local web playground: draw a digit, see what the network sees",
        description="Serve the playground on this machine (nothing is fetched from elsewhere). "
        "Models: the files or run folders given, every run folder under --runs, and the book's "
        "sample_weight.pkl when given. With none at all, the default recipe is trained on the "
        "built-in mnist-sample first (into RUNS/serve-default). Needs pip install "
        "'mitbadak[web]'.",
    )
    p.add_argument(
        "models",
        metavar="MODEL_OR_RUN",
        nargs="*",
        help="a .npz model file, a run folder, or the book's sample_weight.pkl",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    p.add_argument(
        "--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)"
    )
    p.add_argument(
        "--runs",
        metavar="DIR",
        default="runs",
        help="folder of run folders to offer (default runs/)",
    )
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(func=run)


def _need_web_extra() -> None:
    try:
        import plotly  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        from PIL import Image  # noqa: F401
    except ImportError as exc:
        raise CLIError(
            f"mitbadak serve needs the web extra ({exc.name} is missing): "
            "pip install 'mitbadak[web]'"
        ) from None


def _train_default(runs_dir: Path):
    """Train the default recipe on mnist-sample into RUNS/serve-default, with progress lines."""
    from mitbadak.cli._progress import TrainingReporter
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training

    out = runs_dir / DEFAULT_RUN_NAME
    print(
        f"no models given and none under {runs_dir}/: training the default recipe on the "
        f"built-in mnist-sample into {out}/ first",
        file=sys.stderr,
        flush=True,
    )
    run_training(
        TrainConfig(dataset="mnist-sample"), out,
        callback=TrainingReporter(lines=sys.stderr),  # stdout carries only the URL
    )
    return out


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CLIError(f"--host {host!r} is not an address this machine can bind: {exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        in_use = exc.errno == errno.EADDRINUSE
        reason = "is already in use" if in_use else f"cannot be bound ({exc.strerror})"
        raise CLIError(f"{host}:{port} {reason}; try another --port (0 picks a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _QuietClosedSockets:
    """Drops asyncio's "socket.send() raised exception." warnings: they say a client went away
    while the server was still writing to it (an event stream closed), which is no error."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("socket.send() raised exception")


def _server(config, stopping: threading.Event):
    """A uvicorn Server whose Ctrl-C also sets ``stopping`` (event streams end, training
    checkpoints and stops), so the graceful shutdown is over at once."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            stopping.set()
            super().handle_exit(sig, frame)

    return Server(config)


def run(args) -> int:
    _need_web_extra()
    import uvicorn

    from mitbadak.web.app import create_app
    from mitbadak.web.models import ModelRegistry

    registry = ModelRegistry()
    for item in args.models:
        registry.add(item)
    runs_dir = Path(args.runs)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise CLIError(f"--runs {runs_dir}: is a file, not a folder")
    registry.add_runs(runs_dir)
    for message in registry.skipped:
        print(f"mitbadak: warning: skipped {message}", file=sys.stderr)
    if not len(registry):
        registry.add(_train_default(runs_dir), kind="run")

    sock = _bind(args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"mitbadak: warning: --host {args.host} lets other machines reach the playground",
            file=sys.stderr,
        )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    app = create_app(registry, runs_dir=runs_dir, host=args.host)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    ctx = app.state.ctx
    server = _server(config, ctx.stopping)
    quiet = _QuietClosedSockets()
    logging.getLogger("asyncio").addFilter(quiet)
    names = ", ".join(entry.id for entry in registry)
    print(f"mitbadak playground: {url}  (models: {names}; Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser

        def open_when_ready() -> None:
            while not server.started and not server.should_exit:
                threading.Event().wait(0.05)
            if server.started:
                webbrowser.open(url)

        threading.Thread(target=open_when_ready, daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn shut down gracefully, then re-raised the Ctrl-C it had caught
    finally:
        ctx.stopping.set()
        sock.close()
        logging.getLogger("asyncio").removeFilter(quiet)
    training = ctx.extra.get("train")
    if training is not None and training.active:
        training.thread.join(CHECKPOINT_WAIT)  # stopping: it writes its checkpoint and ends
    print("mitbadak playground: stopped", file=sys.stderr)
    return 0
