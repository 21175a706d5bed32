"""mitbadak side by side with a book-style reference, PyTorch CPU and scikit-learn.

Run ``python benchmarks/run.py`` (``make bench``); ``--quick`` for a short smoke run,
``--cases step,inference`` to select cases. Every case runs all its contenders in the same
process, alternating them (the order rotates every repetition), with BLAS threads pinned to 1 and
then 2 for every contender. Writes ``benchmarks/results/results.md`` and ``results.json``.
See benchmarks/README.md for what each case measures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import bookstyle
import numpy as np
from benchdata import BATCH, FASHION, HIDDEN, LR, SHARED, load_fashion, load_mnist_test
from threadpoolctl import threadpool_info, threadpool_limits

import mitbadak
from mitbadak.nn import gradcheck
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.nn.optimizers import SGD, Momentum
from mitbadak.training.history import LoopState
from mitbadak.training.loop import TRAIN_EVAL_SIZE
from mitbadak.training.steps import choose_step

try:  # optional contenders
    import torch
    import torch.nn.functional as F
except Exception as exc:  # noqa: BLE001 - any import failure means "skip PyTorch"
    torch = None
    TORCH_MISSING = f"PyTorch not importable ({type(exc).__name__}: {exc}); its rows are skipped"
else:
    TORCH_MISSING = ""
try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
except Exception as exc:  # noqa: BLE001
    sklearn = None
    SKLEARN_MISSING = f"scikit-learn not importable ({type(exc).__name__}); its rows are skipped"
else:
    SKLEARN_MISSING = ""

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# FLOP per training step of 784-50-10 on a batch of 100: the products mitbadak performs
# (forward x.W1, dW1; all three of the small layer), and the issue's count, which adds dx = da.W1^T.
STEP_FLOPS = 2 * BATCH * (784 * 50 * 2 + 50 * 10 * 3)
ISSUE_FLOPS = 2 * BATCH * (784 * 50 * 3 + 50 * 10 * 3)
CASES = ("step", "epoch", "inference", "numgrad", "numtrain", "ch5", "extend", "memory")
pc = time.perf_counter


# ------------------------------------------------------------------------------------------------
# harness


def measure(contenders: dict[str, Callable[[], float]], reps: int, warmup: set[str]):
    """Run every contender ``reps`` times, alternating, rotating the order each repetition.

    Each callable does its own setup and returns the seconds of the part it times. Contenders in
    ``warmup`` run once first, unrecorded.
    """
    names = list(contenders)
    for name in names:
        if name in warmup:
            contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(contenders[name]())
    return times


def summarize(times: list[float], scale: float = 1.0) -> dict:
    ts = sorted(t * scale for t in times)
    return {
        "median": statistics.median(ts),
        "min": ts[0],
        "max": ts[-1],
        "n": len(ts),
        "times": ts,
    }


def pin_threads(n: int) -> None:
    if torch is not None:
        torch.set_num_threads(n)


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [
        {k: v for k, v in lib.items() if k in ("internal_api", "version", "architecture",
                                              "threading_layer", "num_threads", "filepath")}
        for lib in threadpool_info()
    ]
    info = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "mitbadak": mitbadak.__version__,
        "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "torch": torch.__version__ if torch is not None else None,
        "sklearn": sklearn.__version__ if sklearn is not None else None,
        "loadavg_start": os.getloadavg(),
    }
    return info


# ------------------------------------------------------------------------------------------------
# contenders: training steps of TwoLayerNet 784-50-10, batch 100, SGD


def step_contenders(x_train, t_train, activation: str, steps: int, seed_box: list[int]):
    n = steps * BATCH
    x_used, t_used = x_train[:n], t_train[:n]
    x64 = x_used.astype(np.float64)
    t64_onehot = bookstyle.one_hot(t_used)

    def next_seed() -> int:
        seed_box[0] += 1
        return seed_box[0]

    def book() -> float:
        np.random.seed(next_seed())
        net = bookstyle.BookNet([784, 50, 10], activation, std=0.01, seed=next_seed())
        opt = bookstyle.SGD(LR)
        t0 = pc()
        bookstyle.train_iterations(net, opt, x64, t64_onehot, steps, BATCH)
        return pc() - t0

    def mit() -> float:
        net = TwoLayerNet(784, 50, 10, 0.01, activation, dtype=np.float32, seed=next_seed())
        opt = SGD(LR)
        rng = np.random.default_rng(next_seed())
        # the step object train() runs (training.steps: the CPU fast path, the divergence
        # check, the optimizer's update without per-step argument checks)
        loop = LoopState(0, steps, rng.bit_generator.state)
        step = choose_step(net, opt, (x_used, t_used), loop)
        t0 = pc()
        order = rng.permutation(n)
        for s in range(steps):
            step.run(order[s * BATCH : (s + 1) * BATCH])
        return pc() - t0

    def floor() -> float:
        """Only the five matrix products of a step, same shapes, preallocated outputs."""
        rng = np.random.default_rng(0)
        xb = np.ascontiguousarray(x_used[:BATCH])
        W1 = rng.standard_normal((784, 50)).astype(np.float32)
        W2 = rng.standard_normal((50, 10)).astype(np.float32)
        a = np.empty((BATCH, 50), np.float32)
        z = rng.random((BATCH, 50)).astype(np.float32)
        sc = np.empty((BATCH, 10), np.float32)
        dy = rng.random((BATCH, 10)).astype(np.float32)
        dW2 = np.empty((50, 10), np.float32)
        dz = np.empty((BATCH, 50), np.float32)
        dW1 = np.empty((784, 50), np.float32)
        t0 = pc()
        for _ in range(steps):
            np.matmul(xb, W1, out=a)
            np.matmul(z, W2, out=sc)
            np.matmul(z.T, dy, out=dW2)
            np.matmul(dy, W2.T, out=dz)
            np.matmul(xb.T, dz, out=dW1)
        return pc() - t0

    out = {"book-style": book}
    if torch is not None:
        xt = torch.from_numpy(x_used)
        tt = torch.from_numpy(t_used)

        def torch_run() -> float:
            torch.manual_seed(next_seed())
            act = torch.nn.Sigmoid() if activation == "sigmoid" else torch.nn.ReLU()
            model = torch.nn.Sequential(torch.nn.Linear(784, 50), act, torch.nn.Linear(50, 10))
            opt = torch.optim.SGD(model.parameters(), lr=LR)
            t0 = pc()
            order = torch.randperm(n)
            for s in range(steps):
                idx = order[s * BATCH : (s + 1) * BATCH]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[idx]), tt[idx])
                loss.backward()
                opt.step()
                loss.item()
            return pc() - t0

        out["pytorch"] = torch_run
    if sklearn is not None:

        def sk() -> float:
            clf = MLPClassifier(
                hidden_layer_sizes=(50,),
                activation="logistic" if activation == "sigmoid" else "relu", solver="sgd",
                alpha=0.0, batch_size=BATCH, learning_rate_init=LR, momentum=0.0,
                nesterovs_momentum=False, max_iter=1, shuffle=True, early_stopping=False,
                tol=0.0, random_state=next_seed(),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = pc()
                clf.fit(x_used, t_used)
                return pc() - t0

        out["scikit-learn"] = sk
    out["mitbadak"] = mit
    out["GEMM floor"] = floor
    return out


# ------------------------------------------------------------------------------------------------
# contenders: a full epoch of the default `mitbadak train` recipe, evaluation included


def epoch_contenders(train, test, seed_box: list[int], include_book: bool):
    (x_train, t_train), (x_test, t_test) = train, test
    n = x_train.shape[0]

    def next_seed() -> int:
        seed_box[0] += 1
        return seed_box[0]

    def mit() -> float:
        from mitbadak.training.loop import train as mtrain

        net = MultiLayerNet(784, list(HIDDEN), 10, "relu", "he", dtype=np.float32, seed=next_seed())
        t0 = pc()
        mtrain(net, (x_train, t_train), (x_test, t_test), optimizer=Momentum(LR, 0.9),
               batch_size=BATCH, epochs=1, seed=next_seed())
        return pc() - t0

    out: dict[str, Callable[[], float]] = {}
    if include_book:
        x64, xt64 = x_train.astype(np.float64), x_test.astype(np.float64)
        oh, oht = bookstyle.one_hot(t_train), bookstyle.one_hot(t_test)

        def book() -> float:
            np.random.seed(next_seed())
            net = bookstyle.BookNet([784, *HIDDEN, 10], "relu", std=None, seed=next_seed())
            t0 = pc()
            opt = bookstyle.Momentum(LR, 0.9)
            bookstyle.train_epoch_with_accuracy(net, opt, x64, oh, xt64, oht)
            return pc() - t0

        out["book-style"] = book
    sub = np.sort(np.random.default_rng([0, 2]).permutation(n)[:TRAIN_EVAL_SIZE])
    if torch is not None:
        xt, tt = torch.from_numpy(x_train), torch.from_numpy(t_train)
        sub_t = torch.from_numpy(sub)
        xe, te = torch.from_numpy(x_test), torch.from_numpy(t_test)

        def torch_run() -> float:
            torch.manual_seed(next_seed())
            model = torch.nn.Sequential(
                torch.nn.Linear(784, HIDDEN[0]), torch.nn.ReLU(),
                torch.nn.Linear(HIDDEN[0], HIDDEN[1]), torch.nn.ReLU(),
                torch.nn.Linear(HIDDEN[1], 10),
            )
            opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
            t0 = pc()
            order = torch.randperm(n)
            for s in range(0, n, BATCH):
                idx = order[s : s + BATCH]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[idx]), tt[idx])
                loss.backward()
                opt.step()
                loss.item()
            with torch.no_grad():
                # The same evaluation as mitbadak's recipe: a fixed 10,000-image training subset
                # and the whole test set.
                for xs, ts in ((xt[sub_t], tt[sub_t]), (xe, te)):
                    for s in range(0, xs.shape[0], 10000):
                        scores = model(xs[s : s + 10000])
                        F.cross_entropy(scores, ts[s : s + 10000]).item()
                        (scores.argmax(1) == ts[s : s + 10000]).sum().item()
            return pc() - t0

        out["pytorch"] = torch_run
    if sklearn is not None:

        def sk() -> float:
            clf = MLPClassifier(
                hidden_layer_sizes=HIDDEN, activation="relu", solver="sgd", alpha=0.0,
                batch_size=BATCH, learning_rate_init=LR, momentum=0.9, nesterovs_momentum=False,
                max_iter=1, shuffle=True, early_stopping=False, tol=0.0, random_state=next_seed(),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = pc()
                clf.fit(x_train, t_train)
                clf.score(x_train[sub], t_train[sub])
                clf.score(x_test, t_test)
                return pc() - t0

        out["scikit-learn"] = sk
    out["mitbadak"] = mit
    return out


# ------------------------------------------------------------------------------------------------
# contenders: inference of the 10,000 MNIST test images with the book's weights


def inference_contenders(x, t, repeat: int):
    from mitbadak.files.modelfile import import_book_weights

    net = import_book_weights(SHARED / "sample_weight.pkl")
    params = {k: v.copy() for k, v in net.params.items()}
    dtype = params["W1"].dtype
    x = x.astype(dtype)
    z1 = bookstyle.sigmoid(x @ params["W1"] + params["b1"]).astype(dtype)
    z2 = bookstyle.sigmoid(z1 @ params["W2"] + params["b2"]).astype(dtype)
    accuracy = {
        "mitbadak": float(np.mean(np.argmax(net.predict(x), axis=1) == t)),
        "book-style": float(np.mean(bookstyle.predict_in_batches(params, x) == t)),
    }

    def timed(fn) -> Callable[[], float]:
        def run() -> float:
            t0 = pc()
            for _ in range(repeat):
                fn()
            return (pc() - t0) / repeat

        return run

    out = {
        "book-style": timed(lambda: bookstyle.predict_in_batches(params, x)),
        "mitbadak": timed(lambda: np.argmax(net.predict(x), axis=1)),
    }
    if torch is not None:
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 50), torch.nn.Sigmoid(), torch.nn.Linear(50, 100),
            torch.nn.Sigmoid(), torch.nn.Linear(100, 10),
        )
        with torch.no_grad():
            for i, layer in enumerate((model[0], model[2], model[4]), start=1):
                layer.weight.copy_(torch.from_numpy(params[f"W{i}"].T.astype(np.float32)))
                layer.bias.copy_(torch.from_numpy(params[f"b{i}"].astype(np.float32)))
        xt = torch.from_numpy(x.astype(np.float32))

        def torch_predict():
            with torch.no_grad():
                return model(xt).argmax(1)

        accuracy["pytorch"] = float((torch_predict().numpy() == t).mean())
        out["pytorch"] = timed(torch_predict)
    W1, W2, W3 = params["W1"], params["W2"], params["W3"]
    out["matmul only"] = timed(lambda: (x @ W1, z1 @ W2, z2 @ W3))
    return out, accuracy


# ------------------------------------------------------------------------------------------------
# contenders: the full numerical gradient of TwoLayerNet 784-50-10 on a batch of 100, float64


def _book_elements(book_net, x, t_onehot, picks: list[tuple[str, int]], h: float = 1e-4):
    """The book's per-element central difference, for the listed (parameter, flat index) only."""
    values = []
    for name, f in picks:
        flat = book_net.params[name].reshape(-1)
        keep = flat[f]
        flat[f] = keep + h
        up = book_net.loss(x, t_onehot)
        flat[f] = keep - h
        down = book_net.loss(x, t_onehot)
        flat[f] = keep
        values.append((up - down) / (2 * h))
    return np.array(values)


def numgrad_setup(x10k, t10k, sample: int):
    x = x10k[:BATCH].astype(np.float64)
    t = t10k[:BATCH]
    net = TwoLayerNet(784, 50, 10, 0.01, "sigmoid", seed=42)  # float64, the book's ch.4 init
    book = bookstyle.BookNet([784, 50, 10], "sigmoid", cee_delta=0.0)
    for k in net.params:
        book.params[k][...] = net.params[k]
    total = sum(p.size for p in net.params.values())
    rng = np.random.default_rng(0)
    picks = []
    for name, p in net.params.items():
        share = max(1, round(sample * p.size / total)) if name == "W1" else min(p.size, 60)
        for f in rng.choice(p.size, size=min(share, p.size), replace=False):
            picks.append((name, int(f)))
    return net, book, x, t, picks, total


def numgrad_contenders(x10k, t10k, sample: int):
    net, book, x, t, picks, total = numgrad_setup(x10k, t10k, sample)
    oh = bookstyle.one_hot(t)
    fast: dict[str, object] = {}

    def mit_ng() -> float:
        t0 = pc()
        fast["g"] = net.numerical_gradient(x, t, method="fast")
        return pc() - t0

    def book_ng() -> float:
        """Seconds for the sampled elements, scaled to all ``total`` elements."""
        t0 = pc()
        fast["book"] = _book_elements(book, x, oh, picks)
        return (pc() - t0) * total / len(picks)

    return {"book-style": book_ng, "mitbadak": mit_ng}, fast, (net, book, x, oh, picks, total)


# ------------------------------------------------------------------------------------------------
# contenders: the chapter-5 job end to end, each a fresh process


def ch5_contenders(threads: int, iters: int, work: Path, stages: dict[str, list[dict]],
                   baseline_src: Path | None = None):
    """``mitbadak train --recipe ch5`` vs ``bookstyle_ch5.py``, each timed from process start to
    exit (interpreter, imports, data, training, evaluation, files), BLAS pinned through the
    environment. Both keep what they cache between runs (the book-style pickle, mitbadak's
    decoded-array cache in a private MITBADAK_CACHE), as a learner rerunning the job would.
    ``baseline_src`` (a ``src`` folder of another mitbadak checkout) adds that version as the
    contender 'mitbadak (baseline)', for an A/B in the same run."""
    base_env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                    MKL_NUM_THREADS=str(threads))

    def env_for(src: Path, cache: str) -> dict[str, str]:
        env = dict(base_env, MITBADAK_CACHE=str(work / cache))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(src), base_env.get("PYTHONPATH", "")) if p)
        return env

    def mit_cmd(out: str) -> list[str]:
        return [sys.executable, "-m", "mitbadak", "train", "--recipe", "ch5", "--dataset",
                "fashion-mnist", "--iters", str(iters), "--out", str(work / out),
                "--overwrite", "--quiet"]

    book_cmd = [sys.executable, str(HERE / "bookstyle_ch5.py"), str(FASHION),
                str(work / "fashion-book.pkl"), "--iters", str(iters)]
    envs = {"book-style": env_for(REPO / "src", "cache"),
            "mitbadak": env_for(REPO / "src", "cache"),
            "mitbadak (baseline)": env_for(baseline_src or REPO / "src", "cache-baseline")}

    def timed(cmd, name) -> float:
        t0 = pc()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=envs[name], check=False)
        wall = pc() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        last = proc.stdout.strip().splitlines()[-1]
        if name.startswith("mitbadak"):  # "... training time 2.5 s  wall time 3.7 s ..."
            words = last.split()
            train_s = float(words[words.index("training") + 2])
            metrics = Path(words[words.index("output") + 1]) / "metrics.csv"
            with contextlib.suppress(OSError, ValueError, IndexError):  # 4 decimals, not 1
                train_s = float(metrics.read_text().strip().splitlines()[-1].split(",")[-1])
            inner = float(words[words.index("wall") + 2])
            acc = float(words[words.index("accuracy") + 1])
            stages[name].append({"process": wall, "startup": wall - inner, "train": train_s,
                                 "rest": inner - train_s, "test_acc": acc})
        else:
            info = json.loads(last)
            stages[name].append({"process": wall, "load": info["load"], "train": info["train"],
                                 "startup": wall - info["load"] - info["train"],
                                 "test_acc": info["test_acc"]})
        return wall

    out = {"book-style": lambda: timed(book_cmd, "book-style")}
    if baseline_src is not None:
        out["mitbadak (baseline)"] = lambda: timed(mit_cmd("run-baseline"), "mitbadak (baseline)")
    out["mitbadak"] = lambda: timed(mit_cmd("run"), "mitbadak")
    return out


# ------------------------------------------------------------------------------------------------
# the run


def fmt_s(v: float) -> str:
    if v >= 100:
        return f"{v:.0f} s"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 1e-3:
        return f"{v * 1e3:.1f} ms"
    return f"{v * 1e6:.0f} µs"


def add_case(results, case, threads, unit, what, times, scale=1.0, reference="mitbadak"):
    row = {"case": case, "threads": threads, "unit": unit, "what": what, "contenders": {}}
    for name, ts in times.items():
        row["contenders"][name] = summarize(ts, scale)
    ref = row["contenders"].get(reference)
    if ref:
        for s in row["contenders"].values():
            s["x_vs_mitbadak"] = s["median"] / ref["median"]
    results["cases"].append(row)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short smoke run (~1-2 minutes)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of: {', '.join(CASES)}")
    ap.add_argument("--threads", default="1,2", help="BLAS thread counts to pin (default 1,2)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for results.md/.json")
    ap.add_argument("--render", metavar="JSON", help="only rewrite results.md from a results.json")
    ap.add_argument("--baseline-src", type=Path, metavar="DIR",
                    help="ch5 case: also time the mitbadak in DIR (another checkout's src/)")
    ap.add_argument("--ch5-reps", type=int, metavar="N",
                    help="ch5 case: timed repetitions (default 3; --quick 2)")
    args = ap.parse_args(argv)
    if args.render:
        _atomic_write(Path(args.out) / "results.md",
                      to_markdown(json.loads(Path(args.render).read_text(encoding="utf-8"))))
        return 0
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown case(s) {sorted(unknown)}; choose from {', '.join(CASES)}")
    thread_counts = [int(v) for v in args.threads.split(",")]
    quick = args.quick
    started = pc()
    results = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine_info(),
        "notes": [m for m in (TORCH_MISSING, SKLEARN_MISSING) if m],
        "cases": [],
        "targets": [],
    }
    notes, targets = results["notes"], results["targets"]

    def say(msg: str) -> None:
        print(msg, flush=True)

    need_fashion = {"step", "epoch", "numtrain"} & set(cases)
    if need_fashion:
        train, test, source = load_fashion()
        results["data"] = source
        say(f"data: {source}")
    mnist_ok = (SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    if mnist_ok:
        x10k, t10k = load_mnist_test()
    seed_box = [0]

    def target(case, threads, text, value, goal, ok):
        targets.append({"case": case, "threads": threads, "target": text, "measured": value,
                        "goal": goal, "met": bool(ok)})
        say(f"  [{'met' if ok else 'NOT met'}] {case} @{threads}t: {text}: {value:.2f} "
            f"(goal {goal})")

    for threads in thread_counts:
        with threadpool_limits(limits=threads):
            pin_threads(threads)
            say(f"== {threads} thread(s)")
            if "step" in cases:
                steps = 100 if quick else 600
                reps = 3 if quick else 5
                for act in ("sigmoid", "relu"):
                    times = measure(step_contenders(train[0], train[1], act, steps, seed_box),
                                    reps, warmup={"mitbadak", "pytorch", "GEMM floor"})
                    row = add_case(results, f"step-{act}", threads, "s per 60,000-image epoch",
                                   f"TwoLayerNet 784-50-10 {act}, batch 100, SGD lr 0.1, "
                                   f"{steps} steps scaled to 600", times, scale=600 / steps)
                    c = row["contenders"]
                    floor = c["GEMM floor"]["median"]
                    row["gemm_gflops"] = STEP_FLOPS * 600 / floor / 1e9
                    row["implied_min_epoch_s"] = floor
                    say(f"  step-{act}: " + ", ".join(f"{k} {fmt_s(v['median'])}"
                                                      for k, v in c.items())
                        + f"; GEMM {row['gemm_gflops']:.0f} GFLOP/s")
                    m = c["mitbadak"]["median"]
                    r = c["book-style"]["median"] / m
                    target(f"step-{act}", threads, "book-style / mitbadak", r, ">= 3", r >= 3)
                    if "pytorch" in c:
                        r = c["pytorch"]["median"] / m
                        target(f"step-{act}", threads, "pytorch / mitbadak", r, ">= 2", r >= 2)
                    if "scikit-learn" in c:
                        r = c["scikit-learn"]["median"] / m
                        target(f"step-{act}", threads, "scikit-learn / mitbadak", r, ">= 1.5",
                               r >= 1.5)
                    r = m / floor
                    target(f"step-{act}", threads, "mitbadak / GEMM floor", r, "<= 1.5", r <= 1.5)
            if "epoch" in cases:
                if quick:
                    tr = (train[0][:10000], train[1][:10000])
                else:
                    tr = train
                times = measure(epoch_contenders(tr, test, seed_box, include_book=True),
                                2 if quick else 3, warmup=set())
                row = add_case(results, "epoch", threads, "s per epoch incl. evaluation",
                               f"default recipe: MultiLayerNet 784-256-128-10 ReLU, Momentum "
                               f"0.9, batch 100, float32; {tr[0].shape[0]:,} training images; "
                               f"then loss+accuracy of a fixed {TRAIN_EVAL_SIZE:,}-image "
                               f"training subset and the 10,000 test images", times)
                c = row["contenders"]
                say("  epoch: " + ", ".join(f"{k} {fmt_s(v['median'])}" for k, v in c.items()))
                if "pytorch" in c:
                    r = c["pytorch"]["median"] / c["mitbadak"]["median"]
                    target("epoch", threads, "pytorch / mitbadak", r, ">= 2", r >= 2)
            if "inference" in cases and mnist_ok and (SHARED / "sample_weight.pkl").exists():
                contenders, acc = inference_contenders(x10k, t10k, repeat=3)
                times = measure(contenders, 5 if quick else 15, warmup=set(contenders))
                row = add_case(results, "inference", threads, "s per 10,000 images",
                               "the book's sample_weight.pkl (784-50-100-10 sigmoid, float32) on "
                               "the 10,000 MNIST test images; predicted labels", times)
                row["accuracy"] = acc
                c = row["contenders"]
                say("  inference: " + ", ".join(f"{k} {fmt_s(v['median'])}" for k, v in c.items())
                    + f"; accuracy {acc}")
                m = c["mitbadak"]["median"]
                if "pytorch" in c:
                    r = c["pytorch"]["median"] / m
                    target("inference", threads, "pytorch / mitbadak", r, ">= 1", r >= 1)
                r = m / c["matmul only"]["median"]
                target("inference", threads, "mitbadak / matmul only", r, "<= 2", r <= 2)
            if "numgrad" in cases and mnist_ok:
                sample = 300 if quick else 1500
                contenders, fast, (net, book, x, oh, picks, total) = numgrad_contenders(
                    x10k, t10k, sample)
                times = measure(contenders, 3 if quick else 5, warmup={"mitbadak"})
                ours = np.array([fast["g"][k].reshape(-1)[f] for k, f in picks])
                diff = float(np.max(np.abs(ours - fast["book"])))
                full_diff = None
                if not quick and threads == thread_counts[0]:
                    say(f"  numgrad: one complete book-style run ({total:,} elements)...")
                    t0 = pc()
                    full = book.numerical_gradient(x, oh)
                    full_s = pc() - t0
                    times["book-style (complete run)"] = [full_s]
                    full_diff = max(float(np.max(np.abs(full[k] - fast["g"][k]))) for k in full)
                row = add_case(results, "numgrad", threads, "s per full gradient",
                               f"TwoLayerNet 784-50-10 sigmoid, float64, batch of 100 MNIST test "
                               f"images, all {total:,} parameters; book-style timed on "
                               f"{len(picks):,} sampled elements and scaled to all", times)
                row["max_abs_diff_sampled"] = diff
                row["max_abs_diff_complete"] = full_diff
                c = row["contenders"]
                say("  numgrad: " + ", ".join(f"{k} {fmt_s(v['median'])}" for k, v in c.items())
                    + f"; max |diff| {diff:.2e}" + (f" (complete: {full_diff:.2e})"
                                                     if full_diff is not None else ""))
                r = c["book-style"]["median"] / c["mitbadak"]["median"]
                target("numgrad", threads, "book-style / mitbadak", r, ">= 100", r >= 100)
                worst = max(diff, full_diff or 0.0)
                target("numgrad", threads, "max |mitbadak - book-style| x 1e9", worst * 1e9,
                       "<= 1", worst <= 1e-9)
            if "numtrain" in cases:
                steps = 5 if quick else 20
                net = TwoLayerNet(784, 50, 10, 0.01, "sigmoid", dtype=np.float32, seed=1)
                opt = SGD(LR)
                rng = np.random.default_rng(1)
                per_step = []
                for _ in range(steps):
                    idx = rng.choice(train[0].shape[0], BATCH, replace=False)
                    t0 = pc()
                    grads = gradcheck.numerical_gradient_fast(net, train[0][idx], train[1][idx])
                    opt.update(net.params, grads)
                    per_step.append(pc() - t0)
                row = add_case(results, "numtrain", threads, "s per iteration (x 10,000 below)",
                               "`--gradient numerical` step: numerical_gradient_fast of "
                               "TwoLayerNet 784-50-10 on a Fashion-MNIST batch of 100 + SGD",
                               {"mitbadak": per_step})
                est = row["contenders"]["mitbadak"]["median"] * 10_000
                row["estimate_10000_iterations_s"] = est
                say(f"  numtrain: {fmt_s(est / 10_000)} per iteration -> 10,000 iterations "
                    f"~ {est / 60:.1f} min")
                target("numtrain", threads, "estimated minutes for 10,000 iterations", est / 60,
                       "< 60", est < 3600)
            if "ch5" in cases:
                if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
                    notes.append(f"ch5 case skipped: Fashion-MNIST not in {FASHION} "
                                 "(apt-get install dataset-fashion-mnist)")
                else:
                    iters = 2000 if quick else 10_000
                    stages: dict[str, list[dict]] = {"book-style": [], "mitbadak": [],
                                                     "mitbadak (baseline)": []}
                    with tempfile.TemporaryDirectory(prefix="mitbadak-ch5-") as work:
                        contenders = ch5_contenders(threads, iters, Path(work), stages,
                                                    args.baseline_src)
                        # The warm-up runs write the caches: the book's pickle, mitbadak's
                        # decoded arrays (a first run pays its gz parse once, as both would).
                        times = measure(contenders, args.ch5_reps or (2 if quick else 3),
                                        warmup=set(contenders))
                    row = add_case(results, "ch5", threads, "s per job, process start to exit",
                                   f"the chapter-5 job end to end: `mitbadak train --recipe ch5 "
                                   f"--dataset fashion-mnist` vs bookstyle_ch5.py (TwoLayerNet "
                                   f"784-50-10 ReLU, SGD 0.1, batch 100, {iters:,} iterations, "
                                   f"evaluation every 600), Fashion-MNIST, warm caches", times)
                    # The warm-up is the first entry of each list: keep the timed runs only.
                    row["stages"] = {k: v[1:] for k, v in stages.items()}
                    c = row["contenders"]
                    say("  ch5: " + ", ".join(f"{k} {fmt_s(v['median'])}" for k, v in c.items()))
                    r = c["book-style"]["median"] / c["mitbadak"]["median"]
                    target("ch5", threads, "book-style / mitbadak", r, ">= 3.2", r >= 3.2)
            if "extend" in cases:
                import extend

                reps = 5 if quick else 15
                data = (x10k, t10k) if mnist_ok else (None, None)
                times = measure(extend.contenders(*data, torch), reps,
                                warmup={"mitbadak", "book-style", "pytorch"})
                row = add_case(results, "extend", threads, "s per gradient step",
                               "MultiLayerNetExtend 784-100x5-10 ReLU, BatchNorm + Dropout 0.2, "
                               "batch 100, forward + backward (no update): mitbadak float32 "
                               "(nn/fast_extend.py), book-style float64 layers, PyTorch "
                               "nn.Sequential with BatchNorm1d/Dropout in train mode", times)
                c = row["contenders"]
                say("  extend: " + ", ".join(f"{k} {fmt_s(v['median'])}" for k, v in c.items()))
                m = c["mitbadak"]["median"]
                r = c["book-style"]["median"] / m
                target("extend", threads, "book-style / mitbadak", r, ">= 3", r >= 3)
                if "pytorch" in c:
                    r = c["pytorch"]["median"] / m
                    target("extend", threads, "pytorch / mitbadak", r, ">= 1", r >= 1)
    if "memory" in cases:
        iters = 100 if quick else 600
        if True:
            env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
            proc = subprocess.run([sys.executable, str(HERE / "memory_child.py"), str(iters)],
                                  capture_output=True, text=True, env=env, check=False)
        if proc.returncode == 0:
            mem = json.loads(proc.stdout.strip().splitlines()[-1])
            peak_mb = mem["peak_kib"] / 1024
            limit_mb = 2 * mem["dataset_bytes"] / 2**20 + 150
            mem.update(peak_mb=peak_mb, limit_mb=limit_mb, iterations=iters)
            results["memory"] = mem
            say(f"  memory: peak RSS {peak_mb:.0f} MB (baseline {mem['baseline_kib'] / 1024:.0f} "
                f"MB), dataset {mem['dataset_bytes'] / 2**20:.0f} MB, limit {limit_mb:.0f} MB")
            target("memory", 2, "peak RSS MB", peak_mb, f"<= {limit_mb:.0f}", peak_mb <= limit_mb)
        else:
            notes.append(f"memory case failed: {proc.stderr.strip()[-500:]}")
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["seconds"] = pc() - started
    write_results(results, Path(args.out))
    say(f"done in {results['seconds']:.0f} s -> {args.out}/results.md")
    return 0


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_markdown(results: dict) -> str:
    m = results["machine"]
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})"
                     for b in m["blas"])
    lines = [
        "# mitbadak benchmarks",
        "",
        f"Date: {results['date']}{' (quick run)' if results['quick'] else ''}. "
        f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; "
        f"Python {m['python']}, NumPy {m['numpy']}, BLAS: {blas}; "
        f"PyTorch {m['torch']}; scikit-learn {m['sklearn']}; OPENBLAS_CORETYPE="
        f"{m['OPENBLAS_CORETYPE']}. Load average at start/end: "
        f"{m['loadavg_start'][0]:.2f} / {m['loadavg_end'][0]:.2f}.",
        f"Data: {results.get('data', '-')}. Total run time {results['seconds']:.0f} s.",
        "",
        "Median of the repetitions (min-max in brackets); `x` = this contender's median / "
        "mitbadak's (above 1: mitbadak is faster). Threads: BLAS and PyTorch threads pinned.",
        "",
        "| case | threads | contender | median | min-max | x vs mitbadak |",
        "| --- | ---: | --- | ---: | --- | ---: |",
    ]
    for row in results["cases"]:
        for name, s in row["contenders"].items():
            rng = f"{fmt_s(s['min'])}-{fmt_s(s['max'])}" if s["n"] > 1 else "(1 run)"
            x = s.get("x_vs_mitbadak")
            lines.append(f"| {row['case']} | {row['threads']} | {name} | {fmt_s(s['median'])} | "
                         f"{rng} | {'' if x is None else f'{x:.2f}'} |")
    lines += ["", "## Cases", ""]
    seen = set()
    for row in results["cases"]:
        if row["case"] in seen:
            continue
        seen.add(row["case"])
        lines.append(f"- **{row['case']}** ({row['unit']}): {row['what']}")
    lines += ["", "## Figures to reach", "", "| case | threads | measure | value | goal | met |",
              "| --- | ---: | --- | ---: | --- | --- |"]
    for t in results["targets"]:
        measure = t["target"].replace("|", "\\|")  # a literal | would split the cell
        lines.append(f"| {t['case']} | {t['threads']} | {measure} | {t['measured']:.2f} | "
                     f"{t['goal']} | {'yes' if t['met'] else '**no**'} |")
    extra = []
    for row in results["cases"]:
        if "gemm_gflops" in row:
            m = row["contenders"]["mitbadak"]["median"]
            floor = row["implied_min_epoch_s"]
            issue_floor = floor * ISSUE_FLOPS / STEP_FLOPS
            extra.append(f"- {row['case']} @{row['threads']} thread(s): float32 GEMM "
                         f"{row['gemm_gflops']:.0f} GFLOP/s on the step's shapes -> minimum epoch "
                         f"{fmt_s(floor)} for the {STEP_FLOPS * 600 / 1e9:.1f} GFLOP mitbadak "
                         f"performs (the GEMM floor row; mitbadak at {m / floor:.2f}x), or "
                         f"{fmt_s(issue_floor)} for the issue's ~{ISSUE_FLOPS * 600 / 1e9:.1f} "
                         f"GFLOP count, which includes the first layer's input gradient "
                         f"(mitbadak at {m / issue_floor:.2f}x)")
        if "accuracy" in row:
            extra.append(f"- inference accuracy: {row['accuracy']}")
        if "max_abs_diff_sampled" in row:
            extra.append(f"- numgrad @{row['threads']}: max |mitbadak - book-style| = "
                         f"{row['max_abs_diff_sampled']:.1e} on the sampled elements"
                         + (f", {row['max_abs_diff_complete']:.1e} over all elements of the "
                            "complete run" if row.get("max_abs_diff_complete") is not None else ""))
        if "stages" in row:
            for name, runs in row["stages"].items():
                if not runs:
                    continue
                keys = [k for k in runs[0] if k != "test_acc"]
                parts = ", ".join(f"{k} {fmt_s(statistics.median(r[k] for r in runs))}"
                                  for k in keys)
                extra.append(f"- ch5 @{row['threads']} {name} (medians): {parts}; test accuracy "
                             f"{runs[-1]['test_acc']:.4f}")
        if "estimate_10000_iterations_s" in row:
            extra.append(f"- numtrain @{row['threads']}: 10,000 iterations of `--gradient "
                         f"numerical` ~ {row['estimate_10000_iterations_s'] / 60:.1f} min")
    mem = results.get("memory")
    if mem:
        extra.append(f"- memory: peak RSS {mem['peak_mb']:.0f} MB training {mem['iterations']} "
                     f"iterations of the default recipe (baseline after start-up "
                     f"{mem['baseline_kib'] / 1024:.0f} MB); float32 dataset "
                     f"{mem['dataset_bytes'] / 2**20:.0f} MB; limit {mem['limit_mb']:.0f} MB")
    lines += ["", "## Details", "", *extra]
    if results["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in results["notes"]]]
    return "\n".join(lines) + "\n"


def write_results(results: dict, out: Path) -> None:
    _atomic_write(out / "results.json", json.dumps(results, indent=1) + "\n")
    _atomic_write(out / "results.md", to_markdown(results))


if __name__ == "__main__":
    sys.exit(main())
