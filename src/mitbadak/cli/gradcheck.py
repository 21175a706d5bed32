"""`mitbadak gradcheck`: compare backprop with the numerical gradient, parameter by parameter."""

from __future__ import annotations

import os
from pathlib import Path

from mitbadak.cli._args import (
    MAX_PARAMETERS,
    add_device_argument,
    hidden_sizes,
    parameter_count,
    positive_float,
    positive_int,
    resolve_device_argument,
    seed_int,
)
from mitbadak.files.datasets import DATASETS
from mitbadak.nn.layers import ACTIVATIONS


def register(sub) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check backprop gradients against numerical ones",
        description="Computes every parameter's gradient by backpropagation and by central "
        "differences (float64) on a few images and prints the largest differences. Exits 1 when "
        "a relative error exceeds --threshold.",
    )
    p.add_argument(
        "--model",
        default="two-layer",
        help="'two-layer', 'mlp', or a model file (.npz) to check (default two-layer)",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        default=None,
        help="hidden size(s), e.g. 50 or 100,50 (default: 50 for two-layer, 20,10 for mlp)",
    )
    p.add_argument(
        "--activation", choices=list(ACTIVATIONS), default="sigmoid", help="hidden activation"
    )
    p.add_argument("--samples", type=positive_int, default=3, help="number of images (default 3)")
    p.add_argument(
        "--dataset", choices=DATASETS, default="mnist-sample", help="where the images come from"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="also search DIR for the dataset's .gz files (default: the standard places)",
    )
    p.add_argument(
        "--threshold",
        type=positive_float,
        default=1e-6,
        help="largest acceptable relative error (default 1e-6)",
    )
    p.add_argument(
        "--seed", type=seed_int, default=0, help="random seed of the initial weights (>= 0)"
    )
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from mitbadak.cli import CLIError
    from mitbadak.files.datasets import load_split
    from mitbadak.nn.gradcheck import gradient_check
    from mitbadak.nn.networks import network_from_config
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import build_network

    if args.samples < 1:
        raise CLIError(f"--samples must be at least 1, got {args.samples}")
    device = resolve_device_argument(args)  # backprop there; the numerical half on the host
    if args.model in ("two-layer", "mlp"):
        hidden = args.hidden or ([50] if args.model == "two-layer" else [20, 10])
        if args.model == "two-layer" and len(hidden) != 1:
            sizes = ",".join(map(str, hidden))
            raise CLIError(f"--model two-layer takes one hidden size, got --hidden {sizes}")
        if parameter_count(784, hidden, 10) > MAX_PARAMETERS:
            raise CLIError(
                f"--hidden {','.join(map(str, hidden))} is too large: at most "
                f"{MAX_PARAMETERS:,} parameters"
            )
        config = TrainConfig(
            model=args.model,
            hidden=hidden,
            activation=args.activation,
            seed=args.seed,
            dtype="float64",
        )
        network = build_network(config)
    elif Path(args.model).is_file():
        from mitbadak.training.evaluation import load_any_model

        loaded, _ = load_any_model(args.model)
        cfg = dict(loaded.config(), dtype="float64")
        network = network_from_config(
            cfg, {k: v.astype(np.float64) for k, v in loaded.params.items()}
        )
    else:
        raise CLIError(
            f"--model must be 'two-layer', 'mlp' or an existing model file, got {args.model!r}"
        )
    x, t = load_split(
        args.dataset,
        "test",
        data_dir=args.data_dir,
        download=not os.environ.get("MITBADAK_OFFLINE"),
    )
    x, t = x[: args.samples].astype(np.float64), t[: args.samples]
    rows = gradient_check(network.to(device), x, t)
    print(f"gradient check of {network!r} on {len(x)} {args.dataset} image(s), float64")
    print(f"{'param':<6} {'shape':<12} {'max abs diff':>14} {'max rel diff':>14}")
    worst = 0.0
    for r in rows:
        flag = "  <-- above threshold" if r.max_rel > args.threshold else ""
        print(f"{r.name:<6} {str(r.shape):<12} {r.max_abs:>14.3e} {r.max_rel:>14.3e}{flag}")
        worst = max(worst, r.max_rel)
    verdict = "OK" if worst <= args.threshold else "FAILED"
    print(f"{verdict}: largest relative error {worst:.3e} (threshold {args.threshold:g})")
    return 0 if worst <= args.threshold else 1
