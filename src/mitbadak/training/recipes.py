"""A run's recipe: :class:`TrainConfig`, the named :data:`RECIPES` and the options laid over them.

:class:`TrainConfig` is everything that defines a training run (``config.json`` of a run folder
holds its ``to_dict()``); :data:`RECIPES` (``default``, ``ch4``, ``ch5``) are the named starting
points, :data:`DEFAULT_RECIPE` mitbadak's default. :func:`config_from_options` is the one place
where options given by a user are laid over a recipe: another ``model`` brings that model's
hidden sizes, another ``optimizer`` its learning rate, ``epochs`` and ``iters`` replace each
other, and the network must fit in :data:`MAX_PARAMETERS` for the dataset's input size and class
count. ``mitbadak train`` turns its argparse namespace into a dict and calls it; the web
playground calls :func:`validate_recipe` with a JSON object, which refuses options a page may not
choose (``data_dir``, ``recipe``) and adds the caps of ``limits=WEB_LIMITS``. Errors are
:class:`RecipeError` and name the CLI flag (``--lr: expected a positive number, got -1``).
:func:`command_line` gives the ``mitbadak train`` arguments that rebuild a config, so a page can
show the command that reproduces its run. Running a config is :mod:`mitbadak.training.runs`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mitbadak.core.errors import MitbadakError
from mitbadak.nn.layers import ACTIVATIONS as _ACTIVATION_REGISTRY
from mitbadak.nn.optimizers import REGISTRY as OPTIMIZER_REGISTRY

__all__ = [
    "TrainConfig",
    "Recipe",
    "RECIPES",
    "DEFAULT_RECIPE",
    "RecipeError",
    "RecipeLimits",
    "WEB_LIMITS",
    "RECIPE_FIELDS",
    "OPTION_FIELDS",
    "MAX_PARAMETERS",
    "MODEL_RECIPES",
    "CONV_MODELS",
    "parameter_count",
    "conv_parameter_count",
    "config_from_options",
    "validate_recipe",
    "command_line",
]


@dataclass
class TrainConfig:
    """Everything that defines a training run. The defaults are mitbadak's default recipe."""

    dataset: str | None = None  # None: MNIST if found or downloadable, else the built-in sample
    data_dir: str | None = None
    model: str = "mlp"  # 'two-layer', 'mlp', 'convnet' (SimpleConvNet), 'deepconvnet'
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    weight_init: str | float | None = (
        None  # None: He for ReLU, Xavier for sigmoid (0.01 for the book's two-layer)
    )
    optimizer: str = "momentum"
    lr: float = 0.05
    batch_size: int = 100
    epochs: int | None = 20
    iters: int | None = None
    gradient: str = "backprop"
    weight_decay: float = 0.0
    early_stopping: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    dtype: str = "float32"
    # chapter 6: BatchNormalization after each hidden Affine, the book's Dropout (ratio in [0, 1))
    # after each hidden activation, or inverted dropout; any of them builds a MultiLayerNetExtend
    batchnorm: bool = False
    dropout: float | None = None
    inverted_dropout: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from its ``to_dict()`` form; every value's type is checked (a damaged
        ``config.json`` gets a MitbadakError naming the option, never a crash later)."""
        if not isinstance(data, dict):
            raise MitbadakError(
                f"training options must be a JSON object, got {type(data).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MitbadakError(f"unknown training options in config: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            if not _TYPE_CHECKS[name](value):
                raise MitbadakError(
                    f"training option {name!r} has an invalid value {value!r} "
                    f"(expected {_TYPE_NAMES[name]})"
                )
        return cls(**data)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_pos_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_OPTIONAL_STR = (lambda v: v is None or isinstance(v, str), "a string or null")
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": _OPTIONAL_STR,
    "data_dir": _OPTIONAL_STR,
    "model": (
        lambda v: v in ("two-layer", "mlp", "convnet", "deepconvnet"),
        "'two-layer', 'mlp', 'convnet' or 'deepconvnet'",
    ),
    "hidden": (
        lambda v: isinstance(v, list) and bool(v) and all(_is_pos_int(h) for h in v),
        "a list of positive integers",
    ),
    "activation": (
        lambda v: v in _ACTIVATION_REGISTRY, " or ".join(map(repr, _ACTIVATION_REGISTRY))
    ),
    "weight_init": (
        lambda v: v is None or isinstance(v, str) or (_is_num(v) and v > 0),
        "null, a name or a positive number",
    ),
    "optimizer": (  # every registered optimizer (rmsprop too), as the CLI's --optimizer
        lambda v: v in OPTIMIZER_REGISTRY, " or ".join(map(repr, OPTIMIZER_REGISTRY))
    ),
    "lr": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "batch_size": (_is_pos_int, "a positive integer"),
    "epochs": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "iters": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "gradient": (lambda v: v in ("backprop", "numerical"), "'backprop' or 'numerical'"),
    "weight_decay": (lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    "early_stopping": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "val_fraction": (lambda v: _is_num(v) and 0 < v < 1, "a number between 0 and 1"),
    "seed": (_is_int, "an integer"),
    "dtype": (lambda v: v in ("float32", "float64"), "'float32' or 'float64'"),
    "batchnorm": (lambda v: isinstance(v, bool), "true or false"),
    "dropout": (lambda v: v is None or (_is_num(v) and 0 <= v < 1), "null or a number in [0, 1)"),
    "inverted_dropout": (lambda v: isinstance(v, bool), "true or false"),
}
_TYPE_CHECKS = {k: check for k, (check, _) in _TYPES.items()}
_TYPE_NAMES = {k: name for k, (_, name) in _TYPES.items()}


DEFAULT_RECIPE = TrainConfig()


@dataclass(frozen=True)
class Recipe:
    """A named starting point for a run: TrainConfig settings that options may then override."""

    name: str
    summary: str
    settings: dict[str, Any]

    def config(self, **overrides: Any) -> TrainConfig:
        """The TrainConfig of this recipe with ``overrides`` applied."""
        return TrainConfig(**{**self.settings, **overrides})


_BOOK_NET = dict(
    model="two-layer",
    hidden=[50],
    weight_init=0.01,
    optimizer="sgd",
    lr=0.1,
    batch_size=100,
    epochs=None,
    iters=10_000,
)

#: The recipes ``mitbadak train --recipe NAME`` (and the web playground) start from.
RECIPES: dict[str, Recipe] = {
    "default": Recipe(
        "default",
        "mitbadak's default: MLP 784-256-128-10, ReLU, He init, momentum lr 0.05, batch 100, "
        "20 epochs, backprop",
        {},
    ),
    "ch4": Recipe(
        "ch4",
        "the book's chapter 4: TwoLayerNet 784-50-10, sigmoid, weights 0.01*N(0,1), numerical "
        "gradient, SGD lr 0.1, batch 100, 10,000 iterations",
        dict(_BOOK_NET, activation="sigmoid", gradient="numerical"),
    ),
    "ch5": Recipe(
        "ch5",
        "the book's chapter 5: TwoLayerNet 784-50-10, ReLU, weights 0.01*N(0,1), backprop, "
        "SGD lr 0.1, batch 100, 10,000 iterations",
        dict(_BOOK_NET, activation="relu", gradient="backprop"),
    ),
    "ch7": Recipe(
        "ch7",
        "the book's chapter 7 (train_convnet.py): SimpleConvNet conv 30x5x5 -> ReLU -> pool 2x2 "
        "-> Affine 100 -> ReLU -> Affine, weights 0.01*N(0,1), Adam lr 0.001, batch 100, "
        "20 epochs",
        dict(model="convnet", hidden=[100], weight_init=0.01, optimizer="adam", lr=0.001,
             batch_size=100, epochs=20, iters=None),  # fmt: skip
    ),
    "ch8": Recipe(
        "ch8",
        "the book's chapter 8 (train_deepnet.py): DeepConvNet six 3x3 convs (16-16-32-32-64-64) "
        "-> Affine 50 -> Dropout 0.5 -> Affine -> Dropout 0.5, He init, Adam lr 0.001, "
        "batch 100, 20 epochs",
        dict(model="deepconvnet", hidden=[50], weight_init=None, optimizer="adam", lr=0.001,
             batch_size=100, epochs=20, iters=None),  # fmt: skip
    ),
}

#: The convnets' recipes: ``--model convnet`` (or ``deepconvnet``) without ``--recipe`` starts
#: from the book's script for it, not from the MLP default.
MODEL_RECIPES = {"convnet": "ch7", "deepconvnet": "ch8"}
#: The models that take images (N, 1, H, W): image datasets only, ReLU only, one hidden size.
CONV_MODELS = ("convnet", "deepconvnet")


D = DEFAULT_RECIPE
# The choices of every option, shared with ``mitbadak train``'s argument parser.
MODELS = ("two-layer", "mlp", "convnet", "deepconvnet")
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
    "dtype", "batchnorm", "dropout", "inverted_dropout",
)
#: What :func:`config_from_options` takes: a recipe's options, the recipe's name and the CLI's
#: ``data_dir``.
OPTION_FIELDS = ("recipe", *RECIPE_FIELDS, "data_dir")

#: The largest network (weights and biases) a recipe may build: 20 million float32 parameters
#: is 80 MB, times about four for gradients and optimizer state.
MAX_PARAMETERS = 20_000_000

#: The largest seed (the CLI's ``--seed`` takes the same range).
MAX_SEED = 2**63 - 1


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
    #: a page's learning rate and weight decay stay where training can mean something
    #: (the descent page's lr range ends at 10 too); 1e308 would only train to NaN
    max_lr: float = 10.0
    max_weight_decay: float = 10.0


WEB_LIMITS = RecipeLimits()


def default_hidden(model: str) -> list[int]:
    """The hidden sizes a model gets when none are given: [50] (the book's two-layer net and
    DeepConvNet), [100] (SimpleConvNet) or the default recipe's MLP layers (the CLI and
    :func:`validate_recipe` both use this)."""
    if model in MODEL_RECIPES:
        return list(RECIPES[MODEL_RECIPES[model]].settings["hidden"])
    return [50] if model == "two-layer" else list(D.hidden)


def parameter_count(input_size: int, hidden: list[int], output_size: int) -> int:
    """Weights and biases of a fully connected network: sum of (n_in + 1) * n_out."""
    sizes = [input_size, *hidden, output_size]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def image_shape(dataset: str | None) -> tuple[int, int, int]:
    """(channels, height, width) of one image of a registry dataset (None: MNIST's), the
    ``input_dim`` of a convnet; ``ValueError`` for anything else (a toy set, a point file)."""
    from mitbadak.files.datasets import registry

    name = str(dataset or "mnist").strip()
    if name not in registry.DATASETS:
        raise ValueError(f"{name!r} is not an image dataset")
    shape = tuple(int(s) for s in registry.DATASETS[name].split_files("train")[0].shape[1:])
    return (1, *shape) if len(shape) == 2 else shape  # type: ignore[return-value]


def conv_parameter_count(
    model: str, input_dim: tuple[int, int, int], hidden: int, output_size: int
) -> int:
    """Weights and biases of the book's SimpleConvNet (``model='convnet'``: 30 filters 5x5,
    2x2 pooling) or DeepConvNet (``'deepconvnet'``) with ``hidden`` units before the last Affine,
    counted from the layer shapes (nothing is allocated)."""
    channels, height, width = input_dim

    def conv(c_in: int, c_out: int, size: int, pad: int) -> int:
        nonlocal channels, height, width
        height, width, channels = height + 2 * pad - size + 1, width + 2 * pad - size + 1, c_out
        return c_out * c_in * size * size + c_out

    if model == "convnet":
        total = conv(channels, 30, 5, 0)
        height, width = height // 2, width // 2
    else:
        total = 0
        for i, (filters, pad) in enumerate(((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))):
            total += conv(channels, filters, 3, pad)
            if i % 2 == 1:
                height, width = height // 2, width // 2
    flat = channels * height * width
    return total + (flat + 1) * hidden + (hidden + 1) * output_size


def config_from_options(
    options: Mapping[str, Any], *, limits: RecipeLimits | None = None
) -> TrainConfig:
    """The :class:`TrainConfig` of ``options["recipe"]`` (default ``'default'``) with the other
    options laid over it, or :class:`RecipeError` for the first bad option.

    An option that is missing or None keeps the recipe's value, with two exceptions that follow
    the options given: another ``model`` than the recipe's brings :func:`default_hidden` sizes
    and the model's default weight scale, and another ``optimizer`` its :data:`DEFAULT_LR`
    (explicit ``hidden``, ``weight_init``, ``lr`` still win). ``epochs`` replaces the recipe's
    ``iters`` and the other way round; giving both is an error. ``hidden`` may be a list of sizes
    or the CLI's text ``"256,128"``; numbers given as strings (from a form) are accepted. The
    network must have at most :data:`MAX_PARAMETERS` for the dataset's input size and class
    count; ``limits`` adds a server's caps.
    """
    _check_fields(options, OPTION_FIELDS)
    r = {k: v for k, v in options.items() if v is not None}
    name = _choice("recipe", r.get("recipe", "default"), tuple(RECIPES))
    if name == "default" and r.get("model") in MODEL_RECIPES:
        # the default recipe is an MLP's: --model convnet starts from the book's train_convnet.py
        name = MODEL_RECIPES[r["model"]]
    base = RECIPES[name].config()
    values = base.to_dict()

    if "dataset" in r:
        from mitbadak.files.datasets.toy import check_train_dataset

        try:
            values["dataset"] = check_train_dataset(_text("dataset", r["dataset"]))
        except ValueError as exc:
            raise RecipeError("dataset", str(exc)) from None
    if "data_dir" in r:
        values["data_dir"] = _text("data_dir", r["data_dir"])
    model = _choice("model", r.get("model", base.model), MODELS)
    if model != base.model:
        values.update(model=model, hidden=default_hidden(model), weight_init=None)
    optimizer = _choice("optimizer", r.get("optimizer", base.optimizer), OPTIMIZERS)
    if optimizer != base.optimizer:
        values.update(optimizer=optimizer, lr=DEFAULT_LR[optimizer])
    values["gradient"] = _choice("gradient", r.get("gradient", base.gradient), GRADIENTS)
    values["activation"] = _choice("activation", r.get("activation", base.activation), ACTIVATIONS)
    if "hidden" in r:
        values["hidden"] = _hidden(r["hidden"])
    if model == "two-layer" and len(values["hidden"]) != 1:
        shown = r["hidden"] if isinstance(r.get("hidden"), str) else values["hidden"]
        raise RecipeError(
            "hidden", f"--model two-layer takes one hidden size, got --hidden {shown}"
        )
    if "lr" in r:
        values["lr"] = _positive_float("lr", r["lr"])
    if "batch_size" in r:
        values["batch_size"] = _positive_int("batch_size", r["batch_size"])
    if "epochs" in r and "iters" in r:
        raise RecipeError("iters", "not allowed with --epochs (give one of them)")
    if "epochs" in r:
        values.update(epochs=_positive_int("epochs", r["epochs"]), iters=None)
    if "iters" in r:
        values.update(iters=_positive_int("iters", r["iters"]), epochs=None)
    if "weight_decay" in r:
        values["weight_decay"] = _number("weight_decay", r["weight_decay"])
        if values["weight_decay"] < 0:
            raise RecipeError("weight_decay", f"must be >= 0, got {values['weight_decay']}")
    if "early_stopping" in r:
        values["early_stopping"] = _positive_int("early_stopping", r["early_stopping"])
    if "val_fraction" in r:
        values["val_fraction"] = _number("val_fraction", r["val_fraction"])
        if not 0.0 < values["val_fraction"] < 1.0:
            raise RecipeError(
                "val_fraction", f"must be between 0 and 1, got {values['val_fraction']}"
            )
    if "seed" in r:
        values["seed"] = _int("seed", r["seed"])
        if not 0 <= values["seed"] <= MAX_SEED:
            raise RecipeError(
                "seed", f"expected an integer from 0 to 2**63 - 1, got {values['seed']}"
            )
    if "dtype" in r:
        values["dtype"] = _choice("dtype", r["dtype"], DTYPES)
    if "weight_init" in r:
        values["weight_init"] = _weight_init(r["weight_init"])
    _extend_options(r, values)
    _conv_options(r, values)

    _check_size(values)
    if limits is not None:
        _check_limits(limits, values["hidden"], values["epochs"], values["iters"],
                      values["batch_size"])
        if values["lr"] > limits.max_lr:
            raise RecipeError("lr", f"at most {limits.max_lr:g} here, got {values['lr']:g}")
        if values["weight_decay"] > limits.max_weight_decay:
            raise RecipeError(
                "weight_decay",
                f"at most {limits.max_weight_decay:g} here, got {values['weight_decay']:g}",
            )
    return TrainConfig(**values)


def validate_recipe(
    recipe: Mapping[str, Any], *, limits: RecipeLimits | None = None
) -> TrainConfig:
    """:func:`config_from_options` for plain data from outside (a web form, a JSON body): the
    options of :data:`RECIPE_FIELDS` only (a path on the server is not a page's to choose)."""
    _check_fields(recipe, RECIPE_FIELDS)
    return config_from_options(recipe, limits=limits)


def _check_fields(options: Any, allowed: tuple[str, ...]) -> None:
    """``options`` is a mapping whose keys are all in ``allowed`` (else a RecipeError naming the
    first unknown one and the recipe's fields)."""
    if not isinstance(options, Mapping):
        raise RecipeError("recipe", f"expected an object of options, got {type(options).__name__}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise RecipeError(
            unknown[0],
            f"unknown training option; expected some of {', '.join(RECIPE_FIELDS)}",
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
    if config.batchnorm:
        args += ["--batchnorm"]
    if config.dropout is not None:
        args += ["--dropout", repr(float(config.dropout))]
    if config.inverted_dropout:
        args += ["--inverted-dropout"]
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


def _flag(field: str, value) -> bool:
    """A switch: True/False (a form's "true"/"false" too)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RecipeError(field, f"expected true or false, got {value!r}")


def _extend_options(r: Mapping[str, Any], values: dict[str, Any]) -> None:
    """``batchnorm``, ``dropout`` and ``inverted_dropout`` (chapter 6) into ``values``: the
    ratio in [0, 1), inverted dropout only with a ratio, and a ``--model mlp`` to hold them."""
    if "batchnorm" in r:
        values["batchnorm"] = _flag("batchnorm", r["batchnorm"])
    if "dropout" in r:
        ratio = _number("dropout", r["dropout"])
        if not 0.0 <= ratio < 1.0:
            raise RecipeError(
                "dropout",
                f"expected a ratio in [0, 1) (the fraction of hidden units dropped while "
                f"training), got {r['dropout']!r}",
            )
        values["dropout"] = ratio
    if "inverted_dropout" in r:
        values["inverted_dropout"] = _flag("inverted_dropout", r["inverted_dropout"])
    if values["inverted_dropout"] and values["dropout"] is None:
        raise RecipeError(
            "inverted_dropout", "--inverted-dropout needs --dropout R (the ratio to drop)"
        )
    if values["model"] != "mlp" and (values["batchnorm"] or values["dropout"] is not None):
        flag = "--batchnorm" if values["batchnorm"] else "--dropout"
        raise RecipeError(
            "model",
            f"{flag} needs --model mlp (the book's MultiLayerNetExtend), got --model "
            f"{values['model']}",
        )


def _conv_options(r: Mapping[str, Any], values: dict[str, Any]) -> None:
    """The convnets' limits: an image dataset, one hidden size (the units of the last hidden
    Affine), ReLU, backprop, and a weight scale that is a number (SimpleConvNet's
    ``weight_init_std``) or, for DeepConvNet, He's (its own per layer)."""
    model = values["model"]
    if model not in CONV_MODELS:
        return
    flag = f"--model {model}"
    try:
        image_shape(values["dataset"])
    except ValueError:
        from mitbadak.files.datasets import registry

        raise RecipeError(
            "dataset",
            f"{flag} trains on images (choose --dataset from {', '.join(registry.DATASETS)}), "
            f"got --dataset {values['dataset']}",
        ) from None
    if len(values["hidden"]) != 1:
        shown = r["hidden"] if isinstance(r.get("hidden"), str) else values["hidden"]
        raise RecipeError(
            "hidden", f"{flag} takes one hidden size (the last Affine's units), got --hidden "
            f"{shown}"
        )
    if values["activation"] != "relu":
        raise RecipeError(
            "activation", f"{flag} uses ReLU (the book's), got --activation "
            f"{values['activation']}"
        )
    if values["gradient"] != "backprop":
        raise RecipeError(
            "gradient", f"{flag} trains with backprop only (a numerical gradient of a convnet "
            "takes hours; see mitbadak experiment convnet-gradient-check), got --gradient "
            f"{values['gradient']}"
        )
    init = values["weight_init"]
    if model == "deepconvnet" and init not in (None, "he"):
        raise RecipeError(
            "weight_init", f"{flag} starts each layer at He's scale (the book's), got "
            f"--weight-init {init}"
        )
    if model == "convnet":
        if init is None:
            values["weight_init"] = 0.01
        elif isinstance(init, str):
            raise RecipeError(
                "weight_init", f"{flag} takes a standard deviation (the book's is 0.01), got "
                f"--weight-init {init}"
            )
    elif init == "he":
        values["weight_init"] = None


def _check_size(values: dict[str, Any]) -> None:
    """At most :data:`MAX_PARAMETERS` for the dataset's input size and class count
    (:func:`mitbadak.files.datasets.toy.data_shape`: the registry's image size and class list, a toy
    set's 2 inputs and classes)."""
    from mitbadak.files.datasets.toy import data_shape

    inputs, classes = data_shape(values["dataset"])
    if values["model"] in CONV_MODELS:
        n_params = conv_parameter_count(
            values["model"], image_shape(values["dataset"]), values["hidden"][0], classes
        )
    else:
        n_params = parameter_count(inputs, values["hidden"], classes)
    if n_params > MAX_PARAMETERS:
        raise RecipeError(
            "hidden",
            f"--hidden {','.join(map(str, values['hidden']))} makes a network of "
            f"{n_params:,} parameters ({inputs:,} inputs, {classes} classes); the CLI trains "
            f"at most {MAX_PARAMETERS:,}",
        )


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
