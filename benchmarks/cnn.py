"""The `cnn` case (issue 24): convnet training steps and 10,000-image inference, side by side.

One process, one thread for everyone (BLAS threads pinned through the environment before NumPy
is imported, then threadpoolctl; ``torch.set_num_threads(1)``), batch 100, contenders
alternating (``run.measure``: the order rotates every repetition), medians compared:

* **book**: the book's own code, float64, imported from ``--book DIR`` (a checkout of the book's
  repository: ``ch07/simple_convnet.py``, ``ch08/deep_convnet.py``, ``common/``; nothing of it
  is in this repository). Skipped with a note when absent;
* **reference**: mitbadak's layers (``net.loss_and_gradient_layers``; float64, the book's dtype);
* **fast**: mitbadak's CPU fast path ``nn.fast_conv`` in float32, as the trainer runs it;
* **pytorch**: the same stack as ``torch.nn`` modules, float32, ``F.cross_entropy`` + backward.

Cases: one forward + backward step of SimpleConvNet and of DeepConvNet (no optimizer update),
and the scores of the 10,000 MNIST test images for both nets (the book's way: its ``predict``
over batches of 100; mitbadak reference: ``predict_labels`` over batches of 100; fast:
``fast_conv.scores`` on all 10,000, which chunks itself; PyTorch: ``no_grad`` over batches of
1,000). The book and the reference read ``--infer-images`` of them (default 2,000) and are
scaled to 10,000 (``--full``: all). Peak resident memory of the fast inference is measured in a
fresh child process (``--child``, VmHWM).

``python benchmarks/cnn.py --book /tmp/dlfs [--reps 9] [--quick] [--out benchmarks/results]``
writes ``cnn.md`` and ``cnn.json`` to the output folder.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy is imported: one thread for every contender

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mitbadak.core.atomic import atomic_write_text  # noqa: E402
from mitbadak.nn import fast_conv  # noqa: E402
from mitbadak.nn.activations import Relu  # noqa: E402
from mitbadak.nn.convolution import Convolution  # noqa: E402
from mitbadak.nn.dropout import Dropout  # noqa: E402
from mitbadak.nn.layers import Affine  # noqa: E402
from mitbadak.nn.networks import LayerNet  # noqa: E402
from mitbadak.nn.pooling import Pooling  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 100
pc = time.perf_counter


def _conv(rng, fn: int, c: int, k: int, pad: int, std: float) -> Convolution:
    return Convolution(std * rng.standard_normal((fn, c, k, k)), np.zeros(fn), 1, pad)


def _affine(rng, n_in: int, n_out: int, std: float) -> Affine:
    return Affine(std * rng.standard_normal((n_in, n_out)), np.zeros(n_out))


def simple_convnet(dtype, seed: int = 0) -> LayerNet:
    """The book's SimpleConvNet stack: Conv(30, 5x5) - ReLU - Pool(2, 2, 2) - Affine(4320, 100)
    - ReLU - Affine(100, 10); weights 0.01 * N(0, 1) (the book's weight_init_std)."""
    rng = np.random.default_rng(seed)
    layers = [_conv(rng, 30, 1, 5, 0, 0.01), Relu(), Pooling(2, 2, stride=2),
              _affine(rng, 4320, 100, 0.01), Relu(), _affine(rng, 100, 10, 0.01)]  # fmt: skip
    return LayerNet(layers, input_shape=(1, 28, 28), dtype=dtype, seed=seed)


def deep_convnet(dtype, seed: int = 0) -> LayerNet:
    """The book's DeepConvNet stack (ch08/deep_convnet.py): six 3x3 convolutions (16, 16, 32,
    32 with pad 2, 64, 64), a 2x2 pooling after every second, Affine(1024, 50) - ReLU -
    Dropout(0.5) - Affine(50, 10) - Dropout(0.5); He weights."""
    rng = np.random.default_rng(seed)
    he = [np.sqrt(2.0 / n) for n in (9, 144, 144, 288, 288, 576, 1024, 50)]
    chans = [(16, 1, 1), (16, 16, 1), (32, 16, 1), (32, 32, 2), (64, 32, 1), (64, 64, 1)]
    layers: list = []
    for i, (fn, c, pad) in enumerate(chans):
        layers += [_conv(rng, fn, c, 3, pad, he[i]), Relu()]
        if i % 2:
            layers.append(Pooling(2, 2, stride=2))
    layers += [_affine(rng, 1024, 50, he[6]), Relu(), Dropout(0.5),
               _affine(rng, 50, 10, he[7]), Dropout(0.5)]  # fmt: skip
    return LayerNet(layers, input_shape=(1, 28, 28), dtype=dtype, seed=seed)


NETS = {"SimpleConvNet": simple_convnet, "DeepConvNet": deep_convnet}


def torch_model(torch, name: str):
    nn = torch.nn
    if name == "SimpleConvNet":
        return nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10))  # fmt: skip
    mods: list = []
    c = 1
    for i, (fn, pad) in enumerate([(16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)]):
        mods += [nn.Conv2d(c, fn, 3, padding=pad), nn.ReLU()]
        if i % 2:
            mods.append(nn.MaxPool2d(2))
        c = fn
    mods += [nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10),
             nn.Dropout(0.5)]  # fmt: skip
    return nn.Sequential(*mods)


def book_nets(book: Path | None) -> tuple[dict[str, type] | None, str]:
    """The book's SimpleConvNet and DeepConvNet classes from a checkout, or (None, why not)."""
    if book is None:
        return None, "no --book DIR given: the book's column is skipped"
    files = [book / "ch07" / "simple_convnet.py", book / "ch08" / "deep_convnet.py",
             book / "common" / "layers.py"]  # fmt: skip
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return None, f"the book's code is not in {book} (missing {', '.join(missing)}): skipped"
    sys.path.insert(0, str(book))
    import importlib.util

    classes = {}
    for name, path in (("SimpleConvNet", files[0]), ("DeepConvNet", files[1])):
        spec = importlib.util.spec_from_file_location(f"book_{name}", path)
        module = importlib.util.module_from_spec(spec)
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
        classes[name] = getattr(module, name)
    return classes, f"the book's code from {book}"


def load_data(n: int = 10_000) -> tuple[np.ndarray, np.ndarray, str]:
    """The MNIST test images (float32 in [0, 1], flat) from ../shared/data, else MNIST-like
    random ones."""
    try:
        from benchdata import SHARED, load_mnist_test

        if (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
            x, t = load_mnist_test()
            return x[:n], t[:n], "the MNIST test images"
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    x[x < 0.8] = 0.0
    return x, rng.integers(0, 10, n), "MNIST-like random images (../shared/data not found)"


def step_contenders(name, x, t, book_cls, torch, steps: int) -> dict[str, Callable[[], float]]:
    """name -> a call that runs ``steps`` forward+backward steps on rotating batches of 100
    and returns seconds per step."""
    x64 = x.astype(np.float64)
    starts = [i * BATCH for i in range(len(x) // BATCH)]

    def timed(one: Callable[[int, int], object]) -> Callable[[], float]:
        def run() -> float:
            t0 = pc()
            for i in range(steps):
                a = starts[i % len(starts)]
                one(a, a + BATCH)
            return (pc() - t0) / steps

        return run

    ref = NETS[name](np.float64)
    fast = NETS[name](np.float32)
    plan = fast_conv.plan(fast)
    out = {
        "reference": timed(lambda a, b: ref.loss_and_gradient_layers(x64[a:b], t[a:b])),
        "fast": timed(lambda a, b: fast_conv.loss_and_gradient(fast, x[a:b], t[a:b], plan)),
    }
    if book_cls is not None:
        np.random.seed(0)
        book = book_cls[name]()
        x4 = x64.reshape(-1, 1, 28, 28)
        out["book"] = timed(lambda a, b: book.gradient(x4[a:b], t[a:b]))
    if torch is not None:
        import torch.nn.functional as F

        torch.manual_seed(0)
        model = torch_model(torch, name)
        model.train()
        xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))
        tt = torch.from_numpy(t.astype(np.int64))

        def torch_step(a, b):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(xt[a:b]), tt[a:b]).backward()

        out["pytorch"] = timed(torch_step)
    return out


def infer_contenders(name, x, book_cls, torch, n_slow: int) -> dict[str, Callable[[], float]]:
    """name -> a call that computes the scores of ``x`` (10,000 images) and returns seconds
    (the book and the reference read ``n_slow`` images, scaled to all)."""
    n = len(x)
    scale = n / n_slow
    ref = NETS[name](np.float64)
    fast = NETS[name](np.float32)
    plan = fast_conv.plan(fast)
    x64 = x[:n_slow].astype(np.float64)

    def reference() -> float:
        t0 = pc()
        ref.predict_labels(x64, BATCH)
        return (pc() - t0) * scale

    def fast_run() -> float:
        t0 = pc()
        fast_conv.scores(fast, x, plan).argmax(axis=1)
        return pc() - t0

    out = {"reference": reference, "fast": fast_run}
    if book_cls is not None:
        np.random.seed(0)
        book = book_cls[name]()
        x4 = x64.reshape(-1, 1, 28, 28)

        test_mode = {"train_flg": False} if name == "DeepConvNet" else {}  # the book's API

        def book_run() -> float:
            t0 = pc()
            for i in range(0, n_slow, BATCH):
                np.argmax(book.predict(x4[i : i + BATCH], **test_mode), axis=1)
            return (pc() - t0) * scale

        out["book"] = book_run
    if torch is not None:
        torch.manual_seed(0)
        model = torch_model(torch, name)
        model.eval()
        xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))

        def torch_run() -> float:
            t0 = pc()
            with torch.no_grad():
                for i in range(0, n, 1000):
                    model(xt[i : i + 1000]).argmax(dim=1)
            return pc() - t0

        out["pytorch"] = torch_run
    return out


def peak_rss_kib() -> int:
    """This process's VmHWM (ru_maxrss would carry the parent's peak across exec)."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(name: str) -> int:
    """Fresh process: load the 10,000 images, the fast path's scores of all of them; prints
    one JSON line with the peak resident memory."""
    base = peak_rss_kib()
    x, _, source = load_data()
    net = NETS[name](np.float32)
    t0 = pc()
    labels = fast_conv.scores(net, x).argmax(axis=1)
    seconds = pc() - t0
    print(json.dumps({"net": name, "baseline_kib": base, "peak_kib": peak_rss_kib(),
                      "images": int(labels.size), "seconds": seconds, "data": source}))  # fmt: skip
    return 0


def measure_memory(name: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(title: str, med: dict[str, float], unit: str, scale: float) -> list[str]:
    fast = med["fast"]
    lines = [f"**{title}**", "", f"| contender | median ({unit}) | fast is ... x faster |",
             "| --- | ---: | ---: |"]  # fmt: skip
    for k in ("book", "reference", "fast", "pytorch"):
        if k in med:
            lines.append(f"| {k} | {med[k] * scale:.1f} | {med[k] / fast:.2f} |")
    return [*lines, ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", type=Path, help="a checkout of the book's repository")
    ap.add_argument("--reps", type=int, default=9, help="interleaved repetitions of a step")
    ap.add_argument("--infer-reps", type=int, default=3, help="repetitions of the inference")
    ap.add_argument("--steps", type=int, default=5, help="steps per timed call")
    ap.add_argument("--infer-images", type=int, default=2000,
                    help="images the book and the reference read (scaled to 10,000)")
    ap.add_argument("--full", action="store_true", help="the book and reference read 10,000")
    ap.add_argument("--quick", action="store_true", help="3 repetitions, 500 slow images")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for cnn.md/.json")
    ap.add_argument("--child", choices=sorted(NETS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child)
    if args.quick:
        args.reps, args.infer_reps, args.infer_images = 3, 1, 500
    if args.full:
        args.infer_images = 10_000
    sys.path.insert(0, str(HERE))
    from run import measure
    from threadpoolctl import threadpool_limits

    try:
        import torch

        torch.set_num_threads(1)
        torch_note = f"PyTorch {torch.__version__}"
    except ImportError:
        torch, torch_note = None, "PyTorch is not installed: its column is skipped"
    book_cls, book_note = book_nets(args.book)
    x, t, data = load_data()
    results: dict = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                                 "cpu": platform.processor() or platform.machine(),
                                 "loadavg_start": os.getloadavg()},
                     "notes": [book_note, torch_note, f"data: {data}"], "cases": {}}  # fmt: skip
    for note in results["notes"]:
        print(note)
    lines = ["# Convnets (issue 24): `benchmarks/cnn.py`", ""]
    with threadpool_limits(limits=1):
        for name in NETS:
            times = measure(step_contenders(name, x[:1000], t[:1000], book_cls, torch,
                                            args.steps), args.reps, warmup=set())  # fmt: skip
            med = {k: statistics.median(v) for k, v in times.items()}
            results["cases"][f"{name} step"] = {"median_s": med, "times_s": times}
            title = f"{name}: one forward + backward step, batch {BATCH}, 1 thread"
            lines += _table(title, med, "ms", 1e3)
            print("\n".join(_table(title, med, "ms", 1e3)))
        for name in NETS:
            times = measure(infer_contenders(name, x, book_cls, torch, args.infer_images),
                            args.infer_reps, warmup={"fast", "pytorch"})  # fmt: skip
            med = {k: statistics.median(v) for k, v in times.items()}
            title = (f"{name}: scores of the 10,000 test images, 1 thread (book and reference "
                     f"on {args.infer_images}, scaled)")  # fmt: skip
            results["cases"][f"{name} inference"] = {"median_s": med, "times_s": times}
            lines += _table(title, med, "s", 1.0)
            print("\n".join(_table(title, med, "s", 1.0)))
    memory = {name: measure_memory(name) for name in NETS}
    results["memory"] = memory
    lines += ["**Peak resident memory** of a fresh process computing the fast path's scores of "
              "the 10,000 images (VmHWM, Python and NumPy included):", ""]  # fmt: skip
    for name, m in memory.items():
        lines.append(f"- {name}: {m['peak_kib'] / 1024:.0f} MB (at start "
                     f"{m['baseline_kib'] / 1024:.0f} MB)")  # fmt: skip
    results["machine"]["loadavg_end"] = os.getloadavg()
    m = results["machine"]
    lines += ["", f"Notes: {'; '.join(results['notes'])}. Load average (1 min) at start / end: "
              f"{m['loadavg_start'][0]:.2f} / {m['loadavg_end'][0]:.2f}; {m['cpu']}, Python "
              f"{m['python']}, NumPy {m['numpy']}. Medians of {args.reps} interleaved step "
              f"repetitions ({args.steps} steps each) and {args.infer_reps} inference ones.", ""]
    print("\n".join(lines[-2:]))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "cnn.json", json.dumps(results, indent=1) + "\n")
    atomic_write_text(args.out / "cnn.md", "\n".join(lines))
    print(f"-> {args.out}/cnn.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
