"""Recipes from plain data: the CLI's defaults, rules and wording; the command rebuilding them."""

from __future__ import annotations

import pytest

from mitbadak.cli import build_parser
from mitbadak.cli.train import _config_from_args
from mitbadak.training.recipes import (
    DEFAULT_RECIPE,
    WEB_LIMITS,
    RecipeError,
    TrainConfig,
    command_line,
    validate_recipe,
)


def cli_config(argv: list[str]) -> TrainConfig:
    return _config_from_args(build_parser().parse_args(["train", *argv]))


def test_empty_recipe_is_the_default_recipe_and_the_clis():
    assert validate_recipe({}) == DEFAULT_RECIPE == cli_config([])


@pytest.mark.parametrize(
    ("recipe", "argv"),
    [
        ({"optimizer": "adam"}, ["--optimizer", "adam"]),  # lr 0.001
        ({"optimizer": "adagrad", "epochs": 3}, ["--optimizer", "adagrad", "--epochs", "3"]),
        ({"model": "two-layer"}, ["--model", "two-layer"]),  # hidden [50]
        ({"gradient": "numerical"}, ["--gradient", "numerical"]),  # chapter 4's recipe
        ({"gradient": "numerical", "model": "mlp"}, ["--gradient", "numerical", "--model", "mlp"]),
        (
            {"dataset": "spiral:classes=5", "hidden": "32,16", "lr": "0.3", "iters": 500},
            ["--dataset", "spiral:classes=5", "--hidden", "32,16", "--lr", "0.3", "--iters", "500"],
        ),
        (
            {"hidden": [64], "activation": "sigmoid", "weight_decay": 0.001, "seed": 7,
             "dtype": "float64", "batch_size": 32, "early_stopping": 2},
            ["--hidden", "64", "--activation", "sigmoid", "--weight-decay", "0.001", "--seed", "7",
             "--dtype", "float64", "--batch-size", "32", "--early-stopping", "2"],
        ),
        ({"batchnorm": True}, ["--batchnorm"]),
        ({"dropout": 0.2, "optimizer": "nesterov"}, ["--dropout", ".2", "--optimizer", "nesterov"]),
        (
            {"batchnorm": "true", "dropout": "0.5", "inverted_dropout": True, "hidden": [20, 20]},
            ["--batchnorm", "--dropout", "0.5", "--inverted-dropout", "--hidden", "20,20"],
        ),
        ({"dropout": 0}, ["--dropout", "0"]),
    ],
)
def test_recipes_build_what_the_cli_builds(recipe, argv):
    config = validate_recipe(recipe)
    assert config == cli_config(argv)
    # and the command line shown for it rebuilds the very same config
    assert cli_config(command_line(config)[2:]) == config


def test_defaults_by_optimizer_and_model():
    assert validate_recipe({"optimizer": "adam"}).lr == 0.001
    assert validate_recipe({"optimizer": "adagrad"}).lr == 0.01
    assert validate_recipe({"optimizer": "sgd"}).lr == 0.05
    # no hidden switch: the numerical gradient keeps the recipe (the CLI's --recipe ch4 is explicit)
    num = validate_recipe({"gradient": "numerical"})
    assert (num.model, num.hidden, num.gradient) == ("mlp", [256, 128], "numerical")
    assert validate_recipe({"hidden": 20}).hidden == [20]
    assert validate_recipe({"weight_init": "He"}).weight_init == "he"
    assert validate_recipe({"weight_init": "0.01"}).weight_init == 0.01


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"lr": -1}, "--lr: expected a positive number, got -1"),
        ({"lr": "abc"}, "--lr: expected a number, got 'abc'"),
        ({"lr": float("inf")}, "--lr: expected a finite number, got inf"),
        ({"batch_size": 0}, "--batch-size: expected a positive integer, got 0"),
        ({"epochs": 1.5}, "--epochs: expected a positive integer, got 1.5"),
        ({"epochs": True}, "--epochs: expected a positive integer, got True"),
        ({"epochs": 2, "iters": 10}, "--iters: not allowed with --epochs"),
        ({"hidden": "a,b"}, "--hidden: expected sizes like 50 or 256,128, got 'a,b'"),
        ({"hidden": [10, 0]}, "--hidden: hidden sizes must be positive integers, got [10, 0]"),
        ({"hidden": [1.5]}, "--hidden: expected sizes like 50 or 256,128, got [1.5]"),
        (
            {"model": "two-layer", "hidden": [5, 5]},
            "--model two-layer takes one hidden size, got --hidden [5, 5]",
        ),
        ({"model": "cnn"},
         "--model: invalid choice: 'cnn' (choose from 'two-layer', 'mlp', 'convnet', "
         "'deepconvnet')"),
        ({"optimizer": "nadam"}, "--optimizer: invalid choice: 'nadam'"),
        ({"activation": "softplus"}, "--activation: invalid choice: 'softplus'"),
        ({"dtype": "float16"}, "--dtype: invalid choice: 'float16'"),
        ({"weight_decay": -0.1}, "--weight-decay: must be >= 0, got -0.1"),
        ({"seed": -1}, "--seed: expected an integer from 0 to 2**63 - 1, got -1"),
        ({"seed": "x"}, "--seed: expected an integer, got 'x'"),
        ({"val_fraction": 1.0}, "--val-fraction: must be between 0 and 1, got 1.0"),
        ({"weight_init": "lecun"}, "--weight-init: expected 'he', 'xavier' or a positive"),
        ({"dataset": "cifar"}, "--dataset: unknown dataset 'cifar'"),
        ({"dataset": "moons:classes=3"}, "--dataset: moons takes 2 classes, got classes=3"),
        ({"dataset": 3}, "--dataset: expected a name, got 3"),
        ({"data_dir": "/etc"}, "--data-dir: unknown training option"),
        ({"colour": "red"}, "--colour: unknown training option; expected some of dataset"),
        ({"dropout": 1.0}, "--dropout: expected a ratio in [0, 1) (the fraction of hidden units"),
        ({"dropout": -0.5}, "--dropout: expected a ratio in [0, 1)"),
        ({"dropout": "half"}, "--dropout: expected a number, got 'half'"),
        ({"batchnorm": "yes"}, "--batchnorm: expected true or false, got 'yes'"),
        ({"inverted_dropout": True}, "--inverted-dropout needs --dropout R"),
        ({"model": "two-layer", "dropout": 0.2}, "--dropout needs --model mlp"),
    ],
)
def test_bad_options_are_named_with_the_clis_flag(recipe, message):
    with pytest.raises(RecipeError) as info:
        validate_recipe(recipe)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_web_limits():
    ok = validate_recipe({"hidden": [1024] * 5, "epochs": 200}, limits=WEB_LIMITS)
    assert ok.hidden == [1024] * 5
    for recipe, message in [
        ({"hidden": [8] * 6}, "--hidden: at most 5 hidden layers here, got 6"),
        ({"hidden": [2048]}, "--hidden: hidden sizes of at most 1024 here, got 2048"),
        ({"epochs": 201}, "--epochs: at most 200 here, got 201"),
        ({"iters": 100_001}, "--iters: at most 100,000 here, got 100001"),
        ({"batch_size": 10_001}, "--batch-size: at most 10,000 here, got 10001"),
        ({"lr": 1e308}, "--lr: at most 10 here, got 1e\\+308"),
        ({"weight_decay": 1e308}, "--weight-decay: at most 10 here, got 1e\\+308"),
    ]:
        with pytest.raises(RecipeError, match=message):
            validate_recipe(recipe, limits=WEB_LIMITS)
        validate_recipe(recipe)  # the CLI's rules have no caps
    with pytest.raises(RecipeError, match="expected an object of options, got list"):
        validate_recipe([("lr", 1)])


@pytest.mark.parametrize("seed", [1e308, 2**63, -1])
def test_seed_has_the_clis_range_everywhere(seed):
    with pytest.raises(RecipeError, match=r"--seed: expected an integer from 0 to 2\*\*63 - 1"):
        validate_recipe({"seed": seed})
    assert validate_recipe({"seed": 2**63 - 1}).seed == 2**63 - 1


def test_command_line_spells_out_everything():
    config = validate_recipe({"dataset": "xor", "hidden": [8, 4], "optimizer": "adam",
                              "lr": 0.01, "epochs": 5, "seed": 3, "weight_init": 0.1,
                              "early_stopping": 2, "val_fraction": 0.2})
    assert command_line(config) == [
        "mitbadak", "train", "--dataset", "xor", "--model", "mlp", "--hidden", "8,4",
        "--activation", "relu", "--optimizer", "adam", "--lr", "0.01", "--batch-size", "100",
        "--epochs", "5", "--early-stopping", "2", "--val-fraction", "0.2", "--weight-init", "0.1",
        "--seed", "3", "--dtype", "float32",
    ]


def test_the_command_line_shown_reproduces_the_run_bit_for_bit(tmp_path):
    import numpy as np

    from mitbadak.cli import main
    from mitbadak.files.modelfile import load_model
    from mitbadak.training.runs import run_training

    config = validate_recipe(
        {"dataset": "spiral:classes=3,noise=0.1", "hidden": [12], "optimizer": "adam",
         "lr": 0.02, "epochs": 2, "batch_size": 50, "seed": 4},
        limits=WEB_LIMITS,
    )
    run_training(config, tmp_path / "page")  # what a page's training does
    argv = command_line(config)[1:] + ["--out", str(tmp_path / "cli"), "--quiet"]
    assert main(argv) == 0
    page = load_model(tmp_path / "page" / "model.npz")
    cli = load_model(tmp_path / "cli" / "model.npz")
    assert page.params.keys() == cli.params.keys()
    for key in page.params:
        np.testing.assert_array_equal(page.params[key], cli.params[key])


def test_every_registered_activation_is_a_recipe_and_cli_choice():
    from mitbadak.nn.layers import ACTIVATIONS
    from mitbadak.training.runs import build_network

    for name, cls in ACTIVATIONS.items():
        config = validate_recipe({"activation": name})
        assert config.activation == name == cli_config(["--activation", name]).activation
        net = build_network(config, input_size=6, output_size=3)
        assert net.activation == name and net.weight_init == cls.default_init


def test_the_parameter_guard_takes_the_datasets_input_size_and_class_count(tmp_path, monkeypatch):
    """784-4400-4400-10 is over 20 million parameters; a 2-input, 2-class toy set is not."""
    from mitbadak.cli import CLIError
    from mitbadak.files.datasets import registry
    from mitbadak.files.datasets.toy import data_shape, write_points_csv

    with pytest.raises(CLIError) as info:
        cli_config(["--hidden", "4400,4400"])
    assert str(info.value) == (
        "--hidden 4400,4400 makes a network of 22,862,410 parameters (784 inputs, 10 classes); "
        "the CLI trains at most 20,000,000"
    )
    with pytest.raises(RecipeError, match=r"22,862,410 parameters \(784 inputs, 10 classes\)"):
        validate_recipe({"dataset": "fashion-mnist", "hidden": [4400, 4400]})
    assert cli_config(["--dataset", "xor", "--hidden", "4400,4400"]).hidden == [4400, 4400]
    assert validate_recipe({"dataset": "xor", "hidden": "4400,4400"}).hidden == [4400, 4400]
    assert data_shape(None) == data_shape("mnist-sample") == data_shape("mnist") == (784, 10)
    assert data_shape("spiral:classes=5") == (2, 5)
    csv = write_points_csv(tmp_path / "p.csv", [(0.0, 0.0, 0), (1.0, 1.0, 2)])
    assert data_shape(str(csv)) == (2, 3)
    # a registry entry of 4x4 images in 3 classes: 16 inputs
    images = registry.FileSpec("i.gz", (5, 4, 4), raw_sha256="0" * 64)
    labels = registry.FileSpec("l.gz", (5,), raw_sha256="0" * 64)
    tiny = registry.DatasetSpec(
        "tiny", "4x4", {"train": (images, labels), "test": (images, labels)},
        classes=("a", "b", "c"),
    )
    monkeypatch.setitem(registry.DATASETS, "tiny", tiny)
    assert data_shape("tiny") == (16, 3)
    assert validate_recipe({"dataset": "tiny", "hidden": [4400, 4400]}).hidden == [4400, 4400]
    with pytest.raises(RecipeError, match=r"20,344,503 parameters \(16 inputs, 3 classes\)"):
        validate_recipe({"dataset": "tiny", "hidden": [4500, 4500]})


def test_weight_init_and_val_fraction_are_train_options_too():
    """The page's weight-init choice and validation share come back through the CLI's flags."""
    from mitbadak.cli import CLIError

    config = validate_recipe({"weight_init": "xavier", "val_fraction": 0.2, "early_stopping": 3})
    assert cli_config(command_line(config)[2:]) == config
    assert cli_config(["--weight-init", "0.01"]).weight_init == 0.01
    assert cli_config(["--recipe", "ch4", "--weight-init", "He"]).weight_init == "he"
    with pytest.raises(CLIError, match="^--weight-init: expected 'he', 'xavier' or a positive"):
        cli_config(["--weight-init", "lecun"])
    with pytest.raises(CLIError, match=r"^--val-fraction: must be between 0 and 1, got 1\.5"):
        cli_config(["--val-fraction", "1.5"])


def test_chapter6_options_in_the_config_and_the_command_line():
    config = validate_recipe({"dataset": "xor", "hidden": [8], "batchnorm": True,
                              "dropout": 0.25, "inverted_dropout": True, "epochs": 1})
    assert (config.batchnorm, config.dropout, config.inverted_dropout) == (True, 0.25, True)
    assert command_line(config) == [
        "mitbadak", "train", "--dataset", "xor", "--model", "mlp", "--hidden", "8",
        "--activation", "relu", "--optimizer", "momentum", "--lr", "0.05", "--batch-size", "100",
        "--epochs", "1", "--batchnorm", "--dropout", "0.25", "--inverted-dropout",
        "--seed", "0", "--dtype", "float32",
    ]
    assert "--batchnorm" not in command_line(validate_recipe({}))
    assert "--dropout" not in command_line(validate_recipe({}))
    assert TrainConfig.from_dict(config.to_dict()) == config
    # a damaged config.json: the ratio is checked when it is read back
    from mitbadak.core.errors import MitbadakError

    with pytest.raises(MitbadakError, match="'dropout' has an invalid value 1.5"):
        TrainConfig.from_dict({**config.to_dict(), "dropout": 1.5})
