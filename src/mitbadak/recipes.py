"""A training recipe from plain data (a web form, a JSON body) checked by the CLI's rules.

``validate_recipe({"dataset": "spiral", "hidden": [16], "lr": 0.1, ...})`` returns the
:class:`mitbadak.runs.TrainConfig` that ``mitbadak train`` would build from the same options,
with the same defaults (hidden 50 for the two-layer net, lr by optimizer; no hidden switch to
another recipe) and the same wording in its errors, which name the
CLI flag (``--lr: expected a positive number, got -1``). ``limits=WEB_LIMITS`` adds the caps a
shared server needs. :func:`command_line` gives the ``mitbadak train`` arguments that rebuild a
config, so a page can show the command that reproduces its run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mitbadak.errors import MitbadakError
from mitbadak.layers import ACTIVATIONS as _ACTIVATION_REGISTRY
from mitbadak.optimizers import REGISTRY as OPTIMIZER_REGISTRY
from mitbadak.runs import DEFAULT_RECIPE, TrainConfig

__all__ = [
    "RecipeError",
    "RecipeLimits",
    "WEB_LIMITS",
    "RECIPE_FIELDS",
    "validate_recipe",
    "command_line",
]

D = DEFAULT_RECIPE
# The choices of every option, shared with ``mitbadak train``'s argument parser.
MODELS = ("two-layer", "mlp")
ACTIVATIONS = tuple(_ACTIVATION_REGISTRY)
OPTIMIZERS = tuple(OPTIMIZER_REGISTRY)
GRADIENTS = ("backprop", "numerical")
DTYPES = ("float32", "float64")
#: lr when none is given, by optimizer (from the optimizer registry, as the CLI's)
DEFAULT_LR = {name: e.run_lr for name, e in OPTIMIZER_REGISTRY.items()}

#: The options a recipe may hold (``data_dir`` is left out: a path on the server is not the
#: page's to choose).
RECIPE_FIELDS = (
    "dataset", "model", "hidden", "activation", "weight_init", "optimizer", "lr", "batch_size",
    "epochs", "iters", "gradient", "weight_decay", "early_stopping", "val_fraction", "seed",
    "dtype",
)


class RecipeError(MitbadakError, ValueError):
    """A recipe option is missing its mark; ``field`` names it (``flag``: its CLI spelling)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.flag = "--" + field.replace("_", "-")
        # a message that already names its flags (as the CLI's cross-option checks do) stays as is
        super().__init__(message if message.startswith("--") else f"{self.flag}: {message}")


@dataclass(frozen=True)
class RecipeLimits:
    """Caps for a shared server (the CLI has none): sizes, lengths, layers."""

    max_hidden_layers: int = 5
    max_hidden_size: int = 1024
    max_epochs: int = 200
    max_iters: int = 100_000
    max_batch_size: int = 10_000


WEB_LIMITS = RecipeLimits()


def default_hidden(model: str) -> list[int]:
    """The hidden sizes a model gets when none are given: [50] (the book's two-layer net) or
    the default recipe's MLP layers (the CLI and :func:`validate_recipe` both use this)."""
    return [50] if model == "two-layer" else list(D.hidden)


def validate_recipe(
    recipe: Mapping[str, Any], *, limits: RecipeLimits | None = None
) -> TrainConfig:
    """The :class:`TrainConfig` for ``recipe``, or :class:`RecipeError` for the first bad option.

    Missing options (or None) take ``mitbadak train``'s defaults. ``hidden`` may be a list of
    sizes or the CLI's text ``"256,128"``. Numbers given as strings (from a form) are accepted.
    """
    if not isinstance(recipe, Mapping):
        raise RecipeError("recipe", f"expected an object of options, got {type(recipe).__name__}")
    unknown = sorted(set(recipe) - set(RECIPE_FIELDS))
    if unknown:
        raise RecipeError(
            unknown[0],
            f"unknown training option; expected some of {', '.join(RECIPE_FIELDS)}",
        )
    r = {k: v for k, v in recipe.items() if v is not None}

    dataset = None
    if "dataset" in r:
        from mitbadak.datasets.toy import check_train_dataset

        try:
            dataset = check_train_dataset(_text("dataset", r["dataset"]))
        except ValueError as exc:
            raise RecipeError("dataset", str(exc)) from None
    gradient = _choice("gradient", r.get("gradient", "backprop"), GRADIENTS)
    model = _choice("model", r.get("model", D.model), MODELS)
    activation = _choice(
        "activation", r.get("activation", D.activation), ACTIVATIONS
    )
    optimizer = _choice(
        "optimizer", r.get("optimizer", D.optimizer), OPTIMIZERS
    )
    hidden = _hidden(r["hidden"]) if "hidden" in r else None
    if hidden is None:
        hidden = default_hidden(model)
    if model == "two-layer" and len(hidden) != 1:
        raise RecipeError(
            "hidden", f"--model two-layer takes one hidden size, got --hidden {hidden}"
        )
    if "lr" in r:
        lr = _positive_float("lr", r["lr"])
    else:
        lr = DEFAULT_LR[optimizer]
    batch_size = _positive_int("batch_size", r.get("batch_size", D.batch_size))
    if "epochs" in r and "iters" in r:
        raise RecipeError("iters", "not allowed with --epochs (give one of them)")
    epochs = _positive_int("epochs", r["epochs"]) if "epochs" in r else None
    iters = _positive_int("iters", r["iters"]) if "iters" in r else None
    if epochs is None and iters is None:
        epochs = D.epochs
    weight_decay = _number("weight_decay", r.get("weight_decay", 0.0))
    if weight_decay < 0:
        raise RecipeError("weight_decay", f"must be >= 0, got {weight_decay}")
    early = _positive_int("early_stopping", r["early_stopping"]) if "early_stopping" in r else None
    val_fraction = _number("val_fraction", r.get("val_fraction", D.val_fraction))
    if not 0.0 < val_fraction < 1.0:
        raise RecipeError("val_fraction", f"must be between 0 and 1, got {val_fraction}")
    seed = _int("seed", r.get("seed", D.seed))
    if seed < 0:
        raise RecipeError("seed", f"expected a non-negative integer, got {seed}")
    dtype = _choice("dtype", r.get("dtype", "float32"), DTYPES)
    weight_init = _weight_init(r.get("weight_init"))

    if limits is not None:
        _check_limits(limits, hidden, epochs, iters, batch_size)
    return TrainConfig(
        dataset=dataset,
        model=model,
        hidden=hidden,
        activation=activation,
        weight_init=weight_init,
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        epochs=epochs,
        iters=iters,
        gradient=gradient,
        weight_decay=weight_decay,
        early_stopping=early,
        val_fraction=val_fraction,
        seed=seed,
        dtype=dtype,
    )


def command_line(config: TrainConfig) -> list[str]:
    """``mitbadak train`` arguments that rebuild ``config`` (every option spelled out).

    ``weight_init`` and ``val_fraction`` appear only when they differ from the defaults
    (``--weight-init`` / ``--val-fraction``); ``data_dir`` as ``--data-dir``.
    """
    args = ["mitbadak", "train"]
    if config.dataset is not None:
        args += ["--dataset", config.dataset]
    if config.data_dir is not None:
        args += ["--data-dir", config.data_dir]
    args += [
        "--model", config.model,
        "--hidden", ",".join(str(h) for h in config.hidden),
        "--activation", config.activation,
        "--optimizer", config.optimizer,
        "--lr", repr(float(config.lr)),
        "--batch-size", str(config.batch_size),
    ]
    if config.iters is not None:
        args += ["--iters", str(config.iters)]
    else:
        args += ["--epochs", str(config.epochs)]
    if config.gradient != "backprop":
        args += ["--gradient", config.gradient]
    if config.weight_decay:
        args += ["--weight-decay", repr(float(config.weight_decay))]
    if config.early_stopping is not None:
        args += ["--early-stopping", str(config.early_stopping)]
    if config.val_fraction != D.val_fraction:
        args += ["--val-fraction", repr(float(config.val_fraction))]
    if config.weight_init is not None:
        args += ["--weight-init", str(config.weight_init)]
    args += ["--seed", str(config.seed), "--dtype", config.dtype]
    return args


# --- one check per kind of value; the wording follows the CLI's -------------------------------


def _text(field: str, value) -> str:
    if not isinstance(value, str):
        raise RecipeError(field, f"expected a name, got {value!r}")
    return value


def _choice(field: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise RecipeError(field, f"invalid choice: {value!r} (choose from {shown})")
    return value


def _int(field: str, value) -> int:
    if isinstance(value, bool):
        raise RecipeError(field, f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise RecipeError(field, f"expected an integer, got {value!r}")


def _positive_int(field: str, value) -> int:
    try:
        number = _int(field, value)
    except RecipeError:
        number = 0
    if number < 1:
        raise RecipeError(field, f"expected a positive integer, got {value!r}")
    return number


def _number(field: str, value) -> float:
    if isinstance(value, bool):
        raise RecipeError(field, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RecipeError(field, f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RecipeError(field, f"expected a finite number, got {value!r}")
    return number


def _positive_float(field: str, value) -> float:
    number = _number(field, value)
    if not number > 0:
        raise RecipeError(field, f"expected a positive number, got {value!r}")
    return number


def _hidden(value) -> list[int]:
    if isinstance(value, str):
        try:
            sizes = [int(s) for s in value.replace(" ", "").split(",") if s]
        except ValueError:
            raise RecipeError(
                "hidden", f"expected sizes like 50 or 256,128, got {value!r}"
            ) from None
    elif isinstance(value, (list, tuple)) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in value
    ):
        sizes = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        sizes = [value]
    else:
        raise RecipeError("hidden", f"expected sizes like 50 or 256,128, got {value!r}")
    if not sizes or any(s < 1 for s in sizes):
        raise RecipeError("hidden", f"hidden sizes must be positive integers, got {value!r}")
    return sizes


def _weight_init(value) -> str | float | None:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in ("he", "xavier"):
        return value.lower()
    try:
        std = _number("weight_init", value)
    except RecipeError:
        std = -1.0
    if std <= 0:
        raise RecipeError(
            "weight_init",
            f"expected 'he', 'xavier' or a positive standard deviation, got {value!r}",
        )
    return std


def _check_limits(limits: RecipeLimits, hidden, epochs, iters, batch_size) -> None:
    if len(hidden) > limits.max_hidden_layers:
        raise RecipeError(
            "hidden", f"at most {limits.max_hidden_layers} hidden layers here, got {len(hidden)}"
        )
    if max(hidden) > limits.max_hidden_size:
        raise RecipeError(
            "hidden", f"hidden sizes of at most {limits.max_hidden_size} here, got {max(hidden)}"
        )
    if epochs is not None and epochs > limits.max_epochs:
        raise RecipeError("epochs", f"at most {limits.max_epochs} here, got {epochs}")
    if iters is not None and iters > limits.max_iters:
        raise RecipeError("iters", f"at most {limits.max_iters:,} here, got {iters}")
    if batch_size > limits.max_batch_size:
        raise RecipeError(
            "batch_size", f"at most {limits.max_batch_size:,} here, got {batch_size}"
        )
