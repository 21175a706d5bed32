"""mitbadak.training.runs and the modules it runs on (recipes, run_folder, cost_estimate): recipes,
run folders (one writer, always consistent), damaged-folder errors, the names kept importable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mitbadak.core.errors import MitbadakError, RunFolderError
from mitbadak.files.datasets import load_mnist
from mitbadak.files.modelfile import load_arrays, save_arrays
from mitbadak.training.cost_estimate import estimate_numerical_costs
from mitbadak.training.loop import TrainResult, load_checkpoint, read_history
from mitbadak.training.recipes import RECIPES, TrainConfig
from mitbadak.training.run_folder import RUN_FILES, read_run_config, run_lock
from mitbadak.training.runs import build_network, run_training

TINY = TrainConfig(
    dataset="mnist-sample", model="two-layer", hidden=[8], optimizer="sgd", lr=0.1, epochs=2
)


@pytest.fixture(scope="module")
def data():
    (x, t), (xt, tt) = load_mnist(name="mnist-sample")
    return (x[:300], t[:300]), (xt[:100], tt[:100]), "mnist-sample"


def test_recipes_are_the_books_settings():
    ch4, ch5 = RECIPES["ch4"].config(), RECIPES["ch5"].config()
    for cfg in (ch4, ch5):
        assert (cfg.model, cfg.hidden, cfg.weight_init, cfg.optimizer, cfg.lr) == (
            "two-layer", [50], 0.01, "sgd", 0.1
        )
        assert (cfg.batch_size, cfg.iters, cfg.epochs) == (100, 10_000, None)
    assert (ch4.activation, ch4.gradient) == ("sigmoid", "numerical")
    assert (ch5.activation, ch5.gradient) == ("relu", "backprop")
    assert RECIPES["default"].config() == TrainConfig()
    assert RECIPES["ch5"].config(iters=5).iters == 5


def test_train_result_repr_is_short(data, tmp_path):
    result, _ = run_training(TINY, tmp_path / "r", data=data)
    text = repr(result)
    assert isinstance(result, TrainResult)
    assert len(text) < 120 and "array" not in text, text
    assert text.startswith("TrainResult(TwoLayerNet, 2 epochs, 6 iterations, test_acc=")


def test_second_writer_is_refused_while_the_first_holds_the_lock(data, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    with run_lock(out):
        with pytest.raises(RunFolderError, match="in use by another mitbadak process"):
            run_training(TINY, out, data=data)
        # Another process is refused too (flock locks are per open file description).
        code = textwrap.dedent(
            f"""
            from mitbadak.training.run_folder import run_lock
            from mitbadak.core.errors import RunFolderError
            try:
                with run_lock({str(out)!r}):
                    print("got it")
            except RunFolderError as exc:
                print("refused:", exc)
            """
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.stdout.startswith("refused:") and "pid" in proc.stdout, proc
    assert not (out / "config.json").exists()  # nothing was written by the refused run
    run_training(TINY, out, data=data)  # released: the folder is usable again
    assert (out / "model.npz").is_file()


def test_new_run_clears_old_run_files_before_writing(data, tmp_path):
    out = tmp_path / "r"
    run_training(TINY, out, data=data)
    (out / "notes.txt").write_text("mine")
    (out / ".checkpoint.npz.999.deadbeef.tmp").write_bytes(b"half a file")
    seen = {}

    def stop_at_start(event):
        if event["event"] == "start":
            seen.update({name: (out / name).exists() for name in RUN_FILES})
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(TINY, out, data=data, callback=stop_at_start)
    # Only the new config.json exists beside the (user's) notes: no old model, metrics or plots.
    assert seen["config.json"]
    assert not any(v for k, v in seen.items() if k != "config.json"), seen
    assert (out / "notes.txt").read_text() == "mine"
    assert not list(out.glob(".*.tmp"))  # the stale temporary file was removed
    # Killed before the first checkpoint: --resume starts the run over from config.json.
    notes = []
    result, _ = run_training(
        read_run_config(out), out, data=data, resume=True, announce=notes.append
    )
    assert any("starting it from the beginning" in n for n in notes)
    assert len(result.history.epochs) == 2 and (out / "model.npz").is_file()


def test_config_records_the_dataset_used(data, tmp_path):
    out = tmp_path / "r"
    run_training(TrainConfig(**{**TINY.to_dict(), "dataset": None}), out, data=data)
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["config"]["dataset"] == "mnist-sample" == recorded["dataset_used"]
    assert read_run_config(out).dataset == "mnist-sample"


def test_seconds_continue_across_resume(data, tmp_path):
    out = tmp_path / "r"
    cfg = TrainConfig(**{**TINY.to_dict(), "epochs": 4})

    def stop_after_epoch_2(event):
        if event["event"] == "epoch" and event["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, out, data=data, callback=stop_after_epoch_2)
    before = load_checkpoint(out / "checkpoint.npz")[3].epochs[-1]["seconds"]
    result, _ = run_training(cfg, out, data=data, resume=True)
    seconds = [e["seconds"] for e in result.history.epochs]
    assert seconds == sorted(seconds) and seconds[2] >= before > 0
    assert result.seconds >= seconds[-1]


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda c: c["config"].update(hidden="abc"), "'hidden'"),
        (lambda c: c["config"].update(lr="0.1"), "'lr'"),
        (lambda c: c["config"].update(epochs=True), "'epochs'"),
        (lambda c: c.update(config=[1, 2]), "'config' object"),
        (lambda c: c["config"].update(bogus=1), "unknown training options"),
    ],
)
def test_damaged_config_names_the_file(data, tmp_path, change, needle):
    out = tmp_path / "r"
    run_training(TINY, out, data=data)
    cfg = json.loads((out / "config.json").read_text())
    change(cfg)
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunFolderError) as info:
        read_run_config(out)
    assert str(out / "config.json") in str(info.value) and needle in str(info.value)
    (out / "config.json").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(RunFolderError, match="config.json: not UTF-8"):
        read_run_config(out)


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda a, m: m.pop("state"), "missing 'state'"),
        (lambda a, m: m.pop("epochs"), "missing 'epochs'"),
        (lambda a, m: a.pop("history/iteration_loss"), "missing 'history/iteration_loss'"),
        (lambda a, m: m["state"].update(rng_state='{"bit_generator": "nope"}'), "generator"),
        (lambda a, m: m["state"].update(rng_state=5), "generator state"),
        (lambda a, m: m["state"].update(iteration="7"), "'iteration'"),
    ],
)
def test_damaged_checkpoint_names_the_file(data, tmp_path, damage, needle):
    out = tmp_path / "r"
    run_training(TINY, out, data=data)
    path = out / "checkpoint.npz"
    arrays, meta = load_arrays(path)
    damage(arrays, meta)
    keep = {k: v for k, v in meta.items() if k not in ("format", "mitbadak_version", "arrays")}
    save_arrays(path, arrays, keep)
    with pytest.raises(MitbadakError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and needle in str(info.value), info.value


def test_non_utf8_metrics_names_the_file(data, tmp_path):
    out = tmp_path / "r"
    run_training(TINY, out, data=data)
    (out / "metrics.csv").write_bytes(b"epoch,iteration\n\xff\xfe\n")
    with pytest.raises(MitbadakError, match="metrics.csv: not UTF-8"):
        read_history(out)


def test_numerical_estimate_times_a_sample_not_a_whole_slow_gradient(data, monkeypatch):
    """For networks without the fast path, a few central differences are timed and scaled."""
    from mitbadak.nn import gradcheck

    def whole_gradient(*args, **kwargs):
        raise AssertionError("the estimate must not compute a whole reference gradient")

    monkeypatch.setattr(gradcheck, "numerical_gradient_reference", whole_gradient)
    (x, t), test_set, _ = data
    net = build_network(TrainConfig(model="mlp", hidden=[16, 8], gradient="numerical"))
    per_step, per_eval = estimate_numerical_costs(net, x, t, 10, [test_set], budget=0.2)
    assert per_step > 0 and per_eval > 0
    assert np.isfinite(per_step)


def test_should_stop_keeps_the_run_resumable(data, tmp_path):
    from mitbadak.training.loop import TrainingStopped

    full, _ = run_training(TINY, tmp_path / "full", data=data)
    out = tmp_path / "stopped"
    steps = []
    with pytest.raises(TrainingStopped):
        run_training(TINY, out, data=data, callback=lambda e: steps.append(e["event"]),
                     should_stop=lambda: steps.count("step") >= 4)  # fmt: skip
    assert load_checkpoint(out / "checkpoint.npz")[2]["iteration"] == 4
    assert not (out / "model.npz").exists()
    resumed, _ = run_training(TINY, out, data=data, resume=True)
    assert resumed.history.iteration_loss == full.history.iteration_loss
    assert read_history(out).iteration_loss == read_history(tmp_path / "full").iteration_loss


# -- the split of runs.py: one idea per module, the old names kept ------------------------------


def test_names_keep_importing_from_runs_and_evaluation_as_the_same_objects():
    from mitbadak.training import cost_estimate, evaluation, recipes, run_folder, runs

    for name in ("TrainConfig", "Recipe", "RECIPES", "DEFAULT_RECIPE"):
        assert getattr(runs, name) is getattr(recipes, name), name
    for name in ("RUN_FILES", "run_lock", "read_run_config", "is_finished",
                 "remove_stale_temporaries"):  # fmt: skip
        assert getattr(runs, name) is getattr(run_folder, name), name
    assert runs.estimate_numerical_costs is cost_estimate.estimate_numerical_costs
    assert evaluation.training_in_progress is run_folder.training_in_progress
    assert set(runs.__all__) <= set(dir(runs))


def test_a_config_with_any_registered_optimizer_reads_back(tmp_path):
    # config.json of an rmsprop run once failed to read (the check listed four optimizers)
    from mitbadak.nn.optimizers import REGISTRY

    for name in REGISTRY:
        config = TrainConfig(optimizer=name)
        assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(MitbadakError, match="'rmsprop'"):  # the message lists every choice
        TrainConfig.from_dict({"optimizer": "lion"})


def test_the_lock_shows_a_run_in_progress_and_nothing_after(tmp_path):
    import os

    from mitbadak.training.run_folder import training_in_progress

    assert training_in_progress(tmp_path) is None  # no lock file
    with run_lock(tmp_path):
        assert training_in_progress(tmp_path) == os.getpid()
    assert training_in_progress(tmp_path) is None  # the file stays, unlocked


def test_clearing_a_folder_removes_exactly_the_run_files(tmp_path):
    from mitbadak.training.run_folder import clear_run_files, holds_files

    assert not holds_files(tmp_path / "none") and not holds_files(tmp_path)
    with run_lock(tmp_path):
        assert not holds_files(tmp_path)  # the lock file alone is not a run
    for name in RUN_FILES:
        (tmp_path / name).write_text(name)
    (tmp_path / "notes.txt").write_text("mine")
    assert holds_files(tmp_path)
    clear_run_files(tmp_path, keep_config=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "config.json", "notes.txt"]
    clear_run_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "notes.txt"]


def test_numerical_run_note_counts_what_is_left(data, monkeypatch):
    from mitbadak.training import cost_estimate

    monkeypatch.setattr(cost_estimate, "estimate_numerical_costs", lambda *a, **k: (0.5, 2.0))
    (x, t), _, _ = data  # 300 examples: 3 batches of 100 per epoch
    note = cost_estimate.numerical_run_note(
        None, x, t, batch_size=100, epochs=2, iters=None, start_iteration=2
    )
    # 4 iterations left: 0.5 s x 4 + 2.0 s x (4 / 3 + 1) evaluations = 6.67 s
    assert note == (
        "numerical gradient (chapter 4): about 0.5 s per iteration (timed on this network), "
        "so 4 iterations take about 6.7 s"
    )
    assert [cost_estimate.format_duration(s) for s in (42, 1020, 9000)] == [
        "42 s", "17 min", "2.5 h"
    ]  # fmt: skip


def test_batchnorm_and_dropout_build_the_books_extended_net():
    from mitbadak.nn.networks import MultiLayerNet, MultiLayerNetExtend

    plain = build_network(TrainConfig(hidden=[16, 8]))
    assert type(plain) is MultiLayerNet
    net = build_network(TrainConfig(hidden=[16, 8], batchnorm=True, dropout=0.3, seed=2))
    assert type(net) is MultiLayerNetExtend
    assert list(net.layers) == ["Affine1", "BatchNormalization1", "Relu1", "Dropout1",
                                "Affine2", "BatchNormalization2", "Relu2", "Dropout2", "Affine3"]
    assert net.layers["Dropout1"].dropout_ratio == 0.3 and not net.layers["Dropout1"].inverted
    assert net.dtype == np.float32
    # He init as the plain MLP's (same seed, same first weights)
    same = build_network(TrainConfig(hidden=[16, 8], seed=2))
    np.testing.assert_array_equal(net.params["W1"], same.params["W1"])
    only_dropout = build_network(TrainConfig(hidden=[5], dropout=0.0, inverted_dropout=True))
    assert list(only_dropout.layers) == ["Affine1", "Relu1", "Dropout1", "Affine2"]
    assert only_dropout.layers["Dropout1"].inverted
    sigmoid = build_network(TrainConfig(hidden=[5], activation="sigmoid", batchnorm=True))
    assert list(sigmoid.layers) == ["Affine1", "BatchNormalization1", "Sigmoid1", "Affine2"]
