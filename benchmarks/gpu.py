"""The `gpu` case: training steps on one CUDA GPU (issue 15). Runs only where CuPy finds a GPU.

    .venv/bin/python benchmarks/gpu.py                   # the default recipe, 20 epochs
    .venv/bin/python benchmarks/gpu.py --large           # 784-1024-1024-10, batch 1,000
    .venv/bin/python benchmarks/gpu.py --epochs 2 --reps 1   # a smoke run
    .venv/bin/python benchmarks/gpu.py --large --cpu --epochs 2  # + mitbadak on this machine's CPU
    .venv/bin/python benchmarks/gpu.py --inference       # the book's weights on 10,000 test images

Contenders, all float32, Momentum 0.9, lr 0.05, on 60,000 images (random images: speed only), the
data moved to the GPU once, a fresh permutation on the device every epoch:

* ``mitbadak fused``: the library's ``mitbadak.devices.fused_step.FusedStep`` on CuPy (bias+ReLU,
ReLU mask
  in backward, the last bias + softmax + cross-entropy gradient + mean loss in one launch, one
  Momentum update over a flat parameter buffer), every temporary preallocated (``out=``), losses
  read back once per block of steps;
* ``mitbadak matmul``: the same step with ``cupy.matmul(..., out=)`` instead of direct cuBLAS
  calls (``FusedStep(blas="matmul")``), to see what the direct calls save;
* ``mitbadak graph``: ``mitbadak.devices.fused_step.TorchGraphStep``, the same math on PyTorch CUDA
tensors
  captured as one CUDA graph per batch size (needs torch with CUDA);
* ``cupy plain``: a plain CuPy port of the readable step (about 30 small kernels a step);
* ``torch eager``: ``nn.Sequential`` + ``F.cross_entropy`` + ``torch.optim.SGD(momentum=0.9)``;
* ``torch graph``: the same step captured once as a CUDA graph and replayed.

* ``mitbadak train``: ``mitbadak.train(..., device="gpu")`` end to end from host data: the same
  ``FusedStep`` inside the trainer (plus the data's one move, its batch gather and block
  read-back), no per-epoch evaluation; ``--cpu`` adds ``mitbadak cpu``, the same call with
  ``device="cpu"`` (the issue's "GPU vs the CPU of the same machine" ratio, with ``--large``).

``--inference`` instead times the book's weights (784-50-100-10 sigmoid) on the 10,000 MNIST test
images: ``net.scores`` on the GPU against the same forward in PyTorch eager. Elsewhere (no CuPy,
no GPU) it prints one line and exits 0. Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from mitbadak.core.backend import gpu_status


def sizes(large: bool) -> tuple[list[int], int]:
    return ([784, 1024, 1024, 10], 1000) if large else ([784, 256, 128, 10], 100)


def he_params(dims: list[int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=False), start=1):
        params[f"W{i}"] = (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        params[f"b{i}"] = np.zeros(b, dtype=np.float32)
    return params


def synchronize() -> None:
    import cupy as cp

    cp.cuda.Stream.null.synchronize()


# --- mitbadak's fused steps (the library's, mitbadak.devices.fused_step)
# --------------------------------


def _net_and_optimizer(params, lr: float, mu: float):
    """A float32 ReLU MultiLayerNet holding copies of ``params``, and its Momentum optimizer."""
    from mitbadak.nn.networks import MultiLayerNet
    from mitbadak.nn.optimizers import Momentum

    layers = len(params) // 2
    dims = [params["W1"].shape[0]] + [params[f"W{i}"].shape[1] for i in range(1, layers + 1)]
    net = MultiLayerNet(dims[0], dims[1:-1], dims[-1], activation="relu", seed=0,
                        dtype=np.float32)  # fmt: skip
    net.set_params(params)  # copies: the caller's arrays stay as they are
    return net, Momentum(lr=lr, momentum=mu)


def mitbadak_fused(
    x, t, params, batch: int, epochs: int, lr: float, mu: float, *,
    block: int = 100, xp=None, kernels=None, seed: int = 0, blas: str = "auto", info=None,
):  # fmt: skip
    """Train with ``gpu_step.FusedStep``; returns (the last block's mean loss, params on the host).

    Losses stay on the device and are read back once per block of steps. ``xp=numpy,
    kernels=reference_kernels()`` runs the same step on the CPU (the tests do). ``blas`` goes to
    FusedStep ("auto": direct cuBLAS calls on CuPy, "matmul"); ``info["blas"]`` says which ran.
    """
    from mitbadak.core.backend import to_host
    from mitbadak.devices.fused_step import FusedStep

    if xp is None:
        import cupy as xp
    net, optimizer = _net_and_optimizer(params, lr, mu)
    step = FusedStep(net, optimizer, kernels, xp=xp, blas=blas)  # params, velocities moved once
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    last = float("nan")
    losses = []
    for _ in range(epochs):
        order = xp.asarray(rng.permutation(n))  # drawn on the host, moved once per epoch
        for s in range(n // batch):
            losses.append(step.step_indices(x, t, order[s * batch : (s + 1) * batch]))
            if len(losses) == block:  # one host sync per block: loss and divergence together
                last = float(xp.stack(losses).mean())
                losses.clear()
                if not np.isfinite(last):
                    raise FloatingPointError("diverged")
    if info is not None:
        info["blas"] = step.blas_note
    return last, {key: to_host(view) for key, view in net.params.items()}


def mitbadak_torch_graph(
    x, t, params, batch: int, epochs: int, lr: float, mu: float, *,
    block: int = 100, device: str = "cuda", seed: int = 0,
):  # fmt: skip
    """Train with ``gpu_step.TorchGraphStep`` (mitbadak's step captured as a CUDA graph) on
    tensors ``x``, ``t``; returns (the last block's mean loss, params on the host).
    ``device="cpu"`` runs it uncaptured on CPU tensors (the tests do)."""
    import torch

    from mitbadak.devices.fused_step import TorchGraphStep

    net, optimizer = _net_and_optimizer(params, lr, mu)
    step = TorchGraphStep(net, optimizer, device=device)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    last = float("nan")
    losses = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(n)).to(device)
        for s in range(n // batch):
            losses.append(step.step_indices(x, t, order[s * batch : (s + 1) * batch]))
            if len(losses) == block:
                last = float(torch.stack(losses).mean())
                losses.clear()
                if not np.isfinite(last):
                    raise FloatingPointError("diverged")
    step.write_back()
    return last, {key: value.copy() for key, value in net.params.items()}


def mitbadak_train(x, t, params, batch: int, epochs: int, lr: float, mu: float, *,
                   device: str = "gpu", seed: int = 0):  # fmt: skip
    """``mitbadak.train(..., device=device)`` end to end on host data (the trainer moves it once,
    gathers batches on the device, reads losses back in blocks); no per-epoch evaluation.
    Returns (the last loss, params on the host)."""
    from mitbadak.core.backend import to_host
    from mitbadak.training.loop import train

    net, optimizer = _net_and_optimizer(params, lr, mu)
    result = train(net, (x, t), optimizer=optimizer, batch_size=batch, epochs=epochs, seed=seed,
                   evaluate_train=False, device=device)  # fmt: skip
    return result.history.iteration_loss[-1], {k: to_host(v) for k, v in net.params.items()}


# --- inference: the book's weights on the 10,000 MNIST test images ------------------------------


def inference(reps: int = 200) -> None:
    """Time ``net.scores`` of the book's 784-50-100-10 sigmoid network on the 10,000 test images
    on the GPU (data and weights already there) against the same forward in PyTorch eager."""
    from pathlib import Path

    import cupy as cp

    from mitbadak import load_mnist
    from mitbadak.files.bookweights import import_book_weights

    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    weights = shared / "sample_weight.pkl"
    if not weights.is_file():
        print(f"inference skipped: {weights} not found (the book's sample_weight.pkl)")
        return
    try:
        _, (x_test, _t) = load_mnist(data_dir=shared, download=False)
        what = "the 10,000 MNIST test images"
    except Exception:  # noqa: BLE001 - the shipped sample still measures the same shapes
        _, (x_test, _t) = load_mnist(name="mnist-sample")
        what = f"the {len(x_test):,} mnist-sample test images"
    net = import_book_weights(weights).to("gpu")
    x_dev = cp.asarray(x_test.astype(np.float32))
    rows: dict[str, list[float]] = {"mitbadak scores": []}

    def mitbadak_once():
        return net.scores(x_dev)

    fns = {"mitbadak scores": mitbadak_once}
    try:
        import torch

        if torch.cuda.is_available():
            host = {k: np.asarray(v.get() if hasattr(v, "get") else v) for k, v in
                    net.params.items()}  # fmt: skip
            w = {k: torch.from_numpy(v).cuda() for k, v in host.items()}
            xt = torch.from_numpy(x_test.astype(np.float32)).cuda()

            def torch_once():
                with torch.no_grad():
                    h = torch.sigmoid(torch.addmm(w["b1"], xt, w["W1"]))
                    h = torch.sigmoid(torch.addmm(w["b2"], h, w["W2"]))
                    return torch.addmm(w["b3"], h, w["W3"])

            fns["torch eager"] = torch_once
            rows["torch eager"] = []
            same = np.allclose(cp.asnumpy(mitbadak_once()), torch_once().cpu().numpy(), atol=1e-4)
            print(f"inference: mitbadak and torch scores agree to 1e-4: {same}")
    except ImportError:
        pass

    def sync() -> None:
        synchronize()
        if "torch eager" in fns:
            import torch

            torch.cuda.synchronize()

    for _ in range(20):  # warm-up: kernel compilation, cuBLAS handles
        for fn in fns.values():
            fn()
    for rep in range(reps):
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            sync()
            start = time.perf_counter()
            fns[name]()
            sync()
            rows[name].append(time.perf_counter() - start)
    base = float(np.median(rows["mitbadak scores"]))
    print(f"inference of {what} with the book's weights (784-50-100-10 sigmoid), {reps} reps:")
    for name, values in rows.items():
        med = float(np.median(values))
        print(f"{name:<16} {med * 1e6:9.1f} us median {min(values) * 1e6:9.1f} us min "
              f"{med / base:6.2f} x mitbadak")  # fmt: skip


# --- a plain CuPy port -------------------------------------------------------------------------


def cupy_plain(x, t, params, batch: int, epochs: int, lr: float, mu: float, *, xp=None, seed=0):
    """The readable step on CuPy, one operation per line, a float(loss) sync every step.

    Returns (the last loss, the params on the host); ``xp=numpy`` runs it on the CPU.
    """
    from mitbadak.core.backend import to_host

    if xp is None:
        import cupy as xp
    p = {key: xp.array(v, copy=True) for key, v in params.items()}  # never the caller's
    v = {key: xp.zeros_like(a) for key, a in p.items()}
    layers = len(p) // 2
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    rows = xp.arange(batch)
    loss = float("nan")
    for _ in range(epochs):
        order = xp.asarray(rng.permutation(n))
        for s in range(n // batch):
            idx = order[s * batch : (s + 1) * batch]
            xb, tb = x[idx], t[idx]
            acts = [xb]
            for i in range(1, layers + 1):
                z = acts[-1] @ p[f"W{i}"] + p[f"b{i}"]
                acts.append(xp.maximum(z, 0) if i < layers else z)
            scores = acts[-1]
            shifted = scores - scores.max(axis=1, keepdims=True)
            e = xp.exp(shifted)
            sm = e.sum(axis=1, keepdims=True)
            loss = float(xp.mean(xp.log(sm[:, 0]) - shifted[rows, tb]))
            dout = e / sm
            dout[rows, tb] -= 1
            dout /= batch
            grads = {}
            for i in range(layers, 0, -1):
                grads[f"W{i}"] = acts[i - 1].T @ dout
                grads[f"b{i}"] = dout.sum(axis=0)
                if i > 1:
                    dout = xp.where(acts[i - 1] > 0, dout @ p[f"W{i}"].T, 0)
            for key in p:
                v[key] *= mu
                v[key] -= lr * grads[key]
                p[key] += v[key]
    return loss, {key: to_host(a) for key, a in p.items()}


# --- PyTorch -----------------------------------------------------------------------------------


def torch_model(params, torch):
    layers = len(params) // 2
    modules = []
    for i in range(1, layers + 1):
        W = params[f"W{i}"]
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        modules.append(lin)
        if i < layers:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules).cuda()


def torch_eager(x, t, params, batch: int, epochs: int, lr: float, mu: float):
    import torch
    import torch.nn.functional as F

    model = torch_model(params, torch)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    n = x.shape[0]
    loss = None
    for _ in range(epochs):
        order = torch.randperm(n, device="cuda")
        for s in range(n // batch):
            idx = order[s * batch : (s + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), t[idx])
            loss.backward()
            opt.step()
    return float(loss)


def torch_graph(x, t, params, batch: int, epochs: int, lr: float, mu: float):
    """The whole step (forward, backward, optimizer) captured once as a CUDA graph."""
    import torch
    import torch.nn.functional as F

    model = torch_model(params, torch)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mu)
    static_x = torch.empty((batch, x.shape[1]), device="cuda")
    static_t = torch.empty(batch, dtype=torch.int64, device="cuda")
    static_x.copy_(x[:batch])
    static_t.copy_(t[:batch])
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(static_x), static_t).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = F.cross_entropy(model(static_x), static_t)
        static_loss.backward()
        opt.step()
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, device="cuda")
        for s in range(n // batch):
            idx = order[s * batch : (s + 1) * batch]
            torch.index_select(x, 0, idx, out=static_x)
            torch.index_select(t, 0, idx, out=static_t)
            graph.replay()
    return float(static_loss)


# --- driver ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="784-1024-1024-10, batch 1,000")
    parser.add_argument("--cpu", action="store_true",
                        help="also time mitbadak's trainer on this machine's CPU")  # fmt: skip
    parser.add_argument("--inference", action="store_true",
                        help="time the book's weights on the test images instead")  # fmt: skip
    args = parser.parse_args(argv)

    ok, why = gpu_status()
    if not ok:
        print(f"gpu benchmark skipped: {why} (it needs CuPy and a CUDA GPU)")
        return 0
    import cupy as cp

    if args.inference:
        inference()
        return 0
    dims, batch = sizes(args.large)
    rng = np.random.default_rng(0)
    x_host = rng.random((60_000, 784), dtype=np.float32)
    t_host = rng.integers(0, 10, 60_000)
    params = he_params(dims, seed=1)
    lr, mu = 0.05, 0.9
    xd, td = cp.asarray(x_host), cp.asarray(t_host)  # moved once, outside the timed part
    fused_info: dict[str, str] = {}
    contenders = {
        "mitbadak fused": lambda: mitbadak_fused(
            xd, td, params, batch, args.epochs, lr, mu, info=fused_info
        ),
        "mitbadak matmul": lambda: mitbadak_fused(
            xd, td, params, batch, args.epochs, lr, mu, blas="matmul"
        ),
        "mitbadak train": lambda: mitbadak_train(
            x_host, t_host, params, batch, args.epochs, lr, mu, device="gpu"
        ),
        "cupy plain": lambda: cupy_plain(xd, td, params, batch, args.epochs, lr, mu),
    }
    if args.cpu:
        contenders["mitbadak cpu"] = lambda: mitbadak_train(
            x_host, t_host, params, batch, args.epochs, lr, mu, device="cpu"
        )
    try:
        import torch

        if torch.cuda.is_available():
            xt = torch.from_numpy(x_host).cuda()
            tt = torch.from_numpy(t_host).cuda()
            contenders["torch eager"] = lambda: torch_eager(
                xt, tt, params, batch, args.epochs, lr, mu
            )
            contenders["torch graph"] = lambda: torch_graph(
                xt, tt, params, batch, args.epochs, lr, mu
            )
            contenders["mitbadak graph"] = lambda: mitbadak_torch_graph(
                xt, tt, params, batch, args.epochs, lr, mu
            )
        else:
            print("note: torch has no CUDA here; PyTorch rows skipped")
    except ImportError:
        print("note: torch not installed; PyTorch rows skipped")

    def sync_all() -> None:
        synchronize()
        if "torch eager" in contenders:
            import torch

            torch.cuda.synchronize()

    arch = "-".join(map(str, dims))
    print(f"gpu case: {arch}, batch {batch}, {args.epochs} epochs of 60,000 random images, "
          f"float32, Momentum {mu}, lr {lr}; {why}")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for rep in range(max(1, args.reps) + 1):  # rep 0 warms up (kernel compilation, cuBLAS handles)
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            sync_all()
            start = time.perf_counter()
            loss = contenders[name]()
            sync_all()
            loss = loss[0] if isinstance(loss, tuple) else loss
            if rep:
                times[name].append(time.perf_counter() - start)
            elif not np.isfinite(loss):
                print(f"note: {name} ended with loss {loss}")
    print(f"mitbadak fused's products: {fused_info.get('blas', '?')}")
    base = float(np.median(times["mitbadak fused"]))
    print(f"{'contender':<16} {'median s':>9} {'min s':>8} {'/ mitbadak':>10}")
    for name in names:
        med = float(np.median(times[name]))
        print(f"{name:<16} {med:9.3f} {min(times[name]):8.3f} {med / base:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
