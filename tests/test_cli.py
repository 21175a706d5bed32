"""End-to-end tests of the `mitbadak` command (train, evaluate, predict, gradcheck)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_DIR = SHARED / "mnist"
BOOK_WEIGHTS = SHARED / "sample_weight.pkl"
needs_shared = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="../shared/data is not present")

QUICK = [
    "--dataset",
    "mnist-sample",
    "--model",
    "two-layer",
    "--hidden",
    "30",
    "--activation",
    "relu",
    "--lr",
    "0.1",
]


@pytest.fixture
def env(tmp_path):
    """A clean environment: no MNIST anywhere, an empty cache, and no downloads."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("MITBADAK")}
    e.update(
        MITBADAK_OFFLINE="1",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        MPLBACKEND="Agg",
        MITBADAK_CACHE=str(tmp_path / "cache" / "mitbadak"),
        PYTHONUNBUFFERED="1",
    )
    return e


def mitbadak(*args, env, timeout=300, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "mitbadak", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def metrics_without_time(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def assert_clean_error(proc, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip(), "an error message was expected"


def test_default_train_falls_back_to_sample_and_writes_run(tmp_path, env):
    out = tmp_path / "run"
    proc = mitbadak("train", "--epochs", "1", "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stdout.splitlines() if "mnist-sample" in ln and "MNIST" in ln]
    assert len(notes) == 1 and "training on the built-in mnist-sample" in notes[0]
    for name in (
        "model.npz",
        "config.json",
        "metrics.csv",
        "iterations.csv",
        "loss.png",
        "accuracy.png",
        "checkpoint.npz",
    ):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["dataset_used"] == "mnist-sample"
    assert config["config"]["model"] == "mlp" and config["config"]["epochs"] == 1
    rows = metrics_without_time(out)
    assert len(rows) == 1 and float(rows[0]["test_acc"]) > 0.8
    # Not a TTY: plain per-epoch lines and the final summary, all on stdout (`train > log`).
    assert "epoch   1" in proc.stdout and "epoch" not in proc.stderr
    assert proc.stdout.index("epoch   1") < proc.stdout.index("test accuracy")
    assert "test accuracy" in proc.stdout and "wall time" in proc.stdout and str(out) in proc.stdout


def test_quiet_prints_only_summary(tmp_path, env):
    proc = mitbadak("train", *QUICK, "--epochs", "1", "--quiet", "--out", tmp_path / "q", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy")


def test_same_seed_identical_metrics(tmp_path, env):
    for name in ("a", "b"):
        proc = mitbadak(
            "train",
            *QUICK,
            "--epochs",
            "2",
            "--seed",
            "5",
            "--quiet",
            "--out",
            tmp_path / name,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
    assert metrics_without_time(tmp_path / "a") == metrics_without_time(tmp_path / "b")
    assert (tmp_path / "a" / "iterations.csv").read_text() == (
        tmp_path / "b" / "iterations.csv"
    ).read_text()


def _wait_for_epoch(run_dir: Path, epoch: int, proc, limit=120.0):
    from mitbadak.files.modelfile import read_metadata

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training finished before it could be stopped"
        try:
            if read_metadata(run_dir / "checkpoint.npz")["state"]["epoch"] >= epoch:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_stopped_run_resumes_to_same_result(tmp_path, env, how):
    args = [*QUICK, "--hidden", "300", "--epochs", "30", "--seed", "2", "--quiet"]
    ref = mitbadak("train", *args, "--out", tmp_path / "ref", env=env)
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mitbadak", "train", *args, "--out", str(run)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_epoch(run, 2, proc)
    proc.send_signal(signal.SIGKILL if how == "SIGKILL" else signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    if how == "SIGINT":
        assert proc.returncode == 130
        assert "interrupted; checkpoint saved" in err and "--resume" in err
        assert "Traceback" not in err
        assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))
    else:
        # kill -9 may land inside an atomic write: its temporary file stays (the checkpoint it
        # was replacing is intact); the resume, holding the run's lock, removes it
        assert proc.returncode == -signal.SIGKILL
        assert not list(run.glob("*.tmp"))  # only the writer's own hidden .NAME.*.tmp names
    resumed = mitbadak("train", "--resume", run, "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))
    assert metrics_without_time(run) == metrics_without_time(tmp_path / "ref")
    # The seconds column continues across the resume instead of starting again from zero.
    with open(run / "metrics.csv", newline="") as fh:
        seconds = [float(row["seconds"]) for row in csv.DictReader(fh)]
    assert seconds == sorted(seconds), seconds


def test_nan_divergence_stops_with_cause_and_keeps_checkpoint(tmp_path, env):
    out = tmp_path / "nan"
    proc = mitbadak(
        "train", "--dataset", "mnist-sample", "--lr", "10", "--epochs", "3", "--out", out, env=env
    )
    assert_clean_error(proc, 3)
    assert "diverged" in proc.stderr and "learning rate" in proc.stderr
    assert proc.stderr.startswith("mitbadak: error: ")
    assert (out / "checkpoint.npz").is_file()
    assert not (out / "model.npz").exists()
    # What was learned is kept: every iteration's loss up to (and including) the blow-up.
    losses = [float(r["loss"]) for r in csv.DictReader(open(out / "iterations.csv"))]
    assert len(losses) >= 2 and losses[-1] > 1000 * losses[0]
    assert (out / "loss.png").is_file() and (out / "accuracy.png").is_file()
    shown = mitbadak("plot", "curves", out, "--out", tmp_path / "c.png", env=env)
    assert shown.returncode == 0, shown.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--epochs", "0"], "positive integer"),
        (["--hidden", "abc"], "sizes"),
        (["--model", "cnn"], "invalid choice"),
        (["--optimizer", "nadam"], "invalid choice"),
        (["--lr", "-1"], "positive number"),
        (["--epochs", "2", "--iters", "5"], "not allowed with"),
        (["--model", "two-layer", "--hidden", "50,20"], "one hidden size"),
    ],
)
def test_bad_flags(tmp_path, env, args, needle):
    proc = mitbadak("train", *args, "--out", tmp_path / "x", env=env)
    assert_clean_error(proc, 2)
    assert needle in proc.stderr


def test_missing_data_and_existing_out(tmp_path, env):
    proc = mitbadak(
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        tmp_path / "nothing-here",
        "--out",
        tmp_path / "x",
        env=env,
    )
    assert_clean_error(proc, 1)
    assert "mnist-sample" in proc.stderr  # the message names the way forward
    assert "Searched:" in proc.stderr and proc.stderr.count("error:") == 1
    assert not (tmp_path / "x").exists()  # nothing is created for a run that cannot start
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("mine")
    proc = mitbadak("train", *QUICK, "--out", occupied, env=env)
    assert_clean_error(proc, 2)
    assert (occupied / "precious.txt").read_text() == "mine"
    proc = mitbadak("train", "--resume", tmp_path / "nowhere", env=env)
    assert_clean_error(proc, 2)


def test_numerical_gradient_run_prints_estimate(tmp_path, env):
    proc = mitbadak(
        "train",
        "--dataset",
        "mnist-sample",
        "--model",
        "two-layer",
        "--hidden",
        "10",
        "--gradient",
        "numerical",
        "--iters",
        "3",
        "--batch-size",
        "20",
        "--out",
        tmp_path / "num",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "numerical gradient (chapter 4): about" in proc.stdout
    assert "3 iterations take about" in proc.stdout
    # The estimate comes first (before training starts), the measured time last.
    lines = proc.stdout.splitlines()
    first_estimate = next(i for i, ln in enumerate(lines) if "take about" in ln)
    assert first_estimate < next(i for i, ln in enumerate(lines) if ln.startswith("training "))
    assert "training time" in lines[-1]


def test_numerical_estimate_for_a_network_without_the_fast_path(tmp_path, env):
    """Any model: an MLP's estimate comes from timing a sample of its central differences."""
    proc = mitbadak(
        "train", "--dataset", "mnist-sample", "--model", "mlp", "--hidden", "12,8",
        "--gradient", "numerical", "--iters", "2", "--batch-size", "5", "--out", tmp_path / "m",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    estimate = next(ln for ln in proc.stdout.splitlines() if "take about" in ln)
    assert "2 iterations take about" in estimate and "per iteration" in estimate


def test_progress_lines_without_a_terminal():
    """Slow runs report progress on stderr; per-epoch lines go to stdout."""
    import io

    from mitbadak.cli._progress import TrainingReporter

    now = [0.0]
    err, out = io.StringIO(), io.StringIO()
    reporter = TrainingReporter(stream=err, lines=out, every=10.0, clock=lambda: now[0])
    reporter({"event": "start", "total_iters": 4, "start_iteration": 0})
    for i in (1, 2, 3, 4):
        now[0] += 6.0  # a slow (numerical-gradient) step
        reporter({"event": "step", "iteration": i, "loss": 2.3, "epoch": 1})
    record = dict.fromkeys(["train_loss", "train_acc", "test_loss", "test_acc"], 0.5)
    reporter({"event": "epoch", "epoch": 1, "iteration": 4, **record})
    progress = err.getvalue().splitlines()
    assert progress[0].startswith("iter 1/4") and "0:06 elapsed, about 0:18 left" in progress[0]
    # The first (slow) step at once, then at most one line per 10 s: step 3 at 18 s.
    assert len(progress) == 2 and progress[1].startswith("iter 3/4"), progress
    assert out.getvalue().startswith("epoch   1  iter      4") and "epoch   1" not in err.getvalue()


def test_recipes_are_explicit_presets(tmp_path, env):
    """--recipe ch4 is the book's chapter-4 setup, stated in --help and printed when used."""
    from mitbadak.training.recipes import RECIPES

    assert set(RECIPES) == {"default", "ch4", "ch5", "ch7", "ch8"}
    help_text = mitbadak("train", "--help", env=env).stdout
    for name in RECIPES:
        assert f"  {name} " in help_text
    out = tmp_path / "ch4"
    proc = mitbadak(
        "train", "--recipe", "ch4", "--dataset", "mnist-sample", "--iters", "2", "--out", out,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("recipe ch4: the book's chapter 4")
    config = json.loads((out / "config.json").read_text())["config"]
    assert (
        config["model"],
        config["hidden"],
        config["activation"],
        config["weight_init"],
        config["gradient"],
        config["optimizer"],
        config["lr"],
        config["iters"],
    ) == ("two-layer", [50], "sigmoid", 0.01, "numerical", "sgd", 0.1, 2)
    # No hidden switch: --gradient numerical alone keeps the default recipe's network.
    out = tmp_path / "plain"
    proc = mitbadak(
        "train", "--dataset", "mnist-sample", "--gradient", "numerical", "--hidden", "6,4",
        "--batch-size", "4", "--iters", "1", "--out", out, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["model"], config["activation"], config["optimizer"]) == (
        "mlp", "relu", "momentum"
    )
    assert "--recipe ch4" in proc.stdout  # the way to the book's network is stated


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    env = {**os.environ, "MITBADAK_OFFLINE": "1", "MPLBACKEND": "Agg"}
    proc = mitbadak("train", *QUICK, "--epochs", "2", "--quiet", "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    return out / "model.npz"


def test_evaluate_own_model_on_sample(trained_model, tmp_path, env):
    proc = mitbadak("evaluate", trained_model, "--out", tmp_path / "ev", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "mnist-sample test set: 1000 images" in proc.stdout
    assert "per-class accuracy" in proc.stdout
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["n"] == 1000 and 0.8 < report["accuracy"] <= 1
    assert np.array(report["confusion_matrix"]).sum() == 1000
    for png in ("confusion_matrix.png", "misclassified.png"):
        assert (tmp_path / "ev" / png).stat().st_size > 10_000


@needs_shared
def test_evaluate_book_weights_reproduces_book_accuracy(tmp_path, env):
    proc = mitbadak(
        "evaluate",
        BOOK_WEIGHTS,
        "--data-dir",
        MNIST_DIR,
        "--json",
        "--out",
        tmp_path / "ev",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["correct"] == 9352 and report["accuracy"] == pytest.approx(0.9352)


def test_evaluate_errors(tmp_path, env, trained_model):
    proc = mitbadak("evaluate", tmp_path / "missing.npz", env=env)
    assert_clean_error(proc, 1)
    proc = mitbadak(
        "evaluate", trained_model, "--dataset", "mnist", "--data-dir", tmp_path, env=env
    )
    assert_clean_error(proc, 1)


def _digit_photo(digit_image: np.ndarray, path: Path) -> None:
    """A 'photo' of an MNIST digit: dark ink on light paper, larger, off-centre, a little noise."""
    from PIL import Image

    big = np.asarray(Image.fromarray(digit_image).resize((140, 140), Image.Resampling.BILINEAR))
    paper = np.full((260, 220), 235.0)
    paper[30:170, 60:200] -= big.astype(float) * 0.85
    paper += np.random.default_rng(0).normal(0, 4, paper.shape)
    Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB").save(path)


@needs_shared
def test_predict_photos_and_bad_files(tmp_path, env):
    from mitbadak.files.datasets.idx import read_idx

    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")[:8]
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")[:8]
    paths = []
    for i, img in enumerate(images):
        p = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        _digit_photo(img, p)
        paths.append(p)
    (tmp_path / "notes.txt").write_text("not an image")
    proc = mitbadak(
        "predict",
        BOOK_WEIGHTS,
        *paths,
        tmp_path / "notes.txt",
        tmp_path / "absent.png",
        "--json",
        env=env,
    )
    assert proc.returncode == 1  # some files failed, the others were still processed
    results = json.loads(proc.stdout)
    good = [r for r in results if "prediction" in r]
    assert len(good) == 8 and len(results) == 10
    predicted = [r["prediction"] for r in good]
    assert sum(int(p == t) for p, t in zip(predicted, labels, strict=True)) >= 7
    for r in good:
        assert len(r["top"]) == 3
        assert sum(d["probability"] for d in r["top"]) <= 1.0 + 1e-6
    errors = [r["error"] for r in results if "error" in r]
    assert any("not a readable image" in e for e in errors)
    assert any("no such file" in e for e in errors)
    text = mitbadak("predict", BOOK_WEIGHTS, paths[0], env=env)
    assert text.returncode == 0 and "top-3" in text.stdout


def test_gradcheck_command(env):
    proc = mitbadak("gradcheck", "--hidden", "20", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "OK: largest relative error" in proc.stdout
    for name in ("W1", "b1", "W2", "b2"):
        assert f"\n{name} " in proc.stdout
    strict = mitbadak("gradcheck", "--hidden", "20", "--threshold", "1e-30", env=env)
    assert strict.returncode == 1 and "FAILED" in strict.stdout
    bad = mitbadak("gradcheck", "--model", "nonexistent", env=env)
    assert_clean_error(bad, 2)


# ------------------------------------------------------------------------------------------------
# The CLI speaks CLI (issue 9, section 3) and refuses bad input cleanly (issue 10)


def test_dataset_errors_name_flags_and_only_the_files_needed(tmp_path, env, trained_model):
    proc = mitbadak(
        "evaluate", trained_model, "--dataset", "mnist", "--data-dir", tmp_path / "none", env=env
    )
    assert_clean_error(proc, 1)
    err = proc.stderr
    assert err.startswith("mitbadak: error: dataset 'mnist' is not available")
    for python_word in ("data_dir=", "name=", "download=", "download=False"):
        assert python_word not in err, err
    assert "--data-dir" in err and "--dataset mnist-sample" in err
    assert "t10k-images-idx3-ubyte.gz" in err
    assert "train-images" not in err  # evaluating needs only the test files
    train = mitbadak(
        "train", "--dataset", "mnist", "--data-dir", tmp_path / "none", "--out", tmp_path / "x",
        env=env,
    )
    assert_clean_error(train, 1)
    assert "data_dir=" not in train.stderr and "--data-dir" in train.stderr
    plot = mitbadak("plot", "samples", "--dataset", "mnist", "--data-dir", tmp_path, env=env)
    assert_clean_error(plot, 1)
    assert "data_dir=" not in plot.stderr and "name=" not in plot.stderr


@pytest.mark.parametrize(
    "args, flag",
    [
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--weight-decay", "nan"], "--weight-decay"),
        (["train", "--weight-decay", "inf"], "--weight-decay"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--hidden", "100000000"], "--hidden"),
        (["train", "--hidden", "60000,60000"], "--hidden"),
        (["train", "--seed", "x"], "--seed"),
        (["train", "--seed", "-1"], "--seed"),
        (["plot", "activations", "--dpi", "100000"], "--dpi"),
        (["gradcheck", "--hidden", "100000000"], "--hidden"),
        (["gradcheck", "--threshold", "nan"], "--threshold"),
        (["data", "download", "mnist", "--timeout", "-1"], "--timeout"),
        (["evaluate"], "MODEL"),
        (["predict", "model.npz"], "IMAGE"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(tmp_path, env, args, flag):
    out = ["--out", tmp_path / "x.png"] if args[0] in ("train", "plot", "evaluate") else []
    proc = mitbadak(*args, *out, env=env, cwd=tmp_path, timeout=60)
    assert_clean_error(proc, 2)
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and errors[0].startswith("mitbadak: error: "), proc.stderr
    assert flag in errors[0]
    assert not (tmp_path / "x.png").exists()


def test_unexpected_errors_are_one_line_asking_for_a_report(monkeypatch, capsys):
    """The last-resort handler: no traceback unless --debug."""
    import mitbadak.cli.gradcheck as command
    from mitbadak.cli import main

    def broken(args):
        raise RuntimeError("something internal\nwith a second line")

    monkeypatch.setattr(command, "run", broken)
    assert main(["gradcheck"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mitbadak: error: unexpected RuntimeError: something internal")
    assert "please report" in err and "--debug" in err
    assert main(["gradcheck", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err

    def out_of_memory(args):
        raise MemoryError

    monkeypatch.setattr(command, "run", out_of_memory)
    assert main(["gradcheck"]) == 1
    assert capsys.readouterr().err.startswith("mitbadak: error: out of memory")


def test_help_states_every_default():
    from mitbadak.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, __import__("argparse")._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    for parser in parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.dest in ("help", "version", "debug"):
                continue
            name = action.option_strings[-1]
            assert action.help, f"{parser.prog} {name} has no help text"
            line = parser._get_formatter()._format_action(action)
            if action.default is not None and action.default is not False:
                assert "default" in line, f"{parser.prog} {name} does not show its default"
    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    train_help = " ".join(train_parser.format_help().split())
    assert "(default: 0.0)" in train_help  # --weight-decay
    assert "stdout" in train_help and "stderr" in train_help


def test_evaluate_writes_a_folder_per_model_and_accepts_run_folders(tmp_path, env, trained_model):
    run_dir = trained_model.parent
    other = tmp_path / "other.npz"
    other.write_bytes(trained_model.read_bytes())
    for model, folder in ((run_dir, run_dir / "eval-model"), (other, tmp_path / "eval-other")):
        proc = mitbadak("evaluate", model, env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"wrote {folder / 'report.json'}" in proc.stdout
    # Another model's report is never silently replaced.
    proc = mitbadak("evaluate", other, "--out", run_dir / "eval-model", env=env)
    assert_clean_error(proc, 2)
    assert "another model" in proc.stderr
    help_text = mitbadak("evaluate", "--help", env=env).stdout
    assert "eval-NAME" in help_text and "run folder" in help_text


def test_diverged_run_folder_can_be_evaluated(tmp_path, env):
    out = tmp_path / "nan"
    proc = mitbadak(
        "train", *QUICK, "--lr", "50", "--epochs", "3", "--quiet", "--out", out, env=env
    )
    assert proc.returncode == 3, proc.stderr
    ev = mitbadak("evaluate", out, env=env)
    assert ev.returncode == 0, ev.stderr
    assert "last checkpoint" in ev.stderr and (out / "eval-checkpoint" / "report.json").is_file()


def test_resume_uses_the_dataset_recorded_and_a_finished_run_does_nothing(tmp_path, env):
    out = tmp_path / "r"
    args = ["--model", "two-layer", "--hidden", "10", "--epochs", "1", "--quiet"]
    proc = mitbadak("train", *args, "--out", out, env=env)  # no MNIST: falls back to the sample
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "config.json").read_text())["config"]["dataset"] == "mnist-sample"
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = mitbadak("train", "--resume", out, env=env)
    assert again.returncode == 0 and "finished run" in again.stdout and "nothing" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # Killed before its first checkpoint: --resume starts it over, on the recorded dataset
    # (even where MNIST is now available).
    for name in ("model.npz", "checkpoint.npz", "metrics.csv"):
        (out / name).unlink()
    env_with_mnist = {**env, "MITBADAK_DATA": str(SHARED)}
    resumed = mitbadak("train", "--resume", out, env=env_with_mnist)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting it from the beginning" in resumed.stdout
    assert "dataset mnist-sample" in resumed.stdout
    # --resume continues the recorded run: options that would change it are refused.
    refused = mitbadak("train", "--resume", out, "--epochs", "5", env=env)
    assert_clean_error(refused, 2)
    assert "--epochs" in refused.stderr


def test_second_train_on_the_same_folder_is_refused(tmp_path, env):
    from mitbadak.training.run_folder import run_lock

    out = tmp_path / "busy"
    out.mkdir()
    with run_lock(out):
        proc = mitbadak("train", *QUICK, "--epochs", "1", "--out", out, "--overwrite", env=env)
    assert_clean_error(proc, 1)
    assert "in use by another mitbadak process" in proc.stderr
    assert not (out / "config.json").exists()


def test_evaluate_refuses_a_run_still_training(tmp_path, monkeypatch, capsys, trained_model):
    """A run whose folder lock is held has only a part-trained checkpoint: evaluate refuses it in
    one line naming the run (the folder or a file in it); once the run has stopped, its last
    checkpoint is evaluated and the note says which epoch it holds."""
    import re

    from mitbadak.cli import main
    from mitbadak.training.run_folder import run_lock

    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_dir = tmp_path / "training"
    run_dir.mkdir()
    for p in trained_model.parent.iterdir():
        if p.is_file() and p.name != "model.npz":  # a run in progress has no model.npz yet
            (run_dir / p.name).write_bytes(p.read_bytes())
    before = sorted(p.name for p in run_dir.iterdir())
    with run_lock(run_dir):
        for target in (run_dir, run_dir / "checkpoint.npz"):
            assert main(["evaluate", str(target)]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert f"{run_dir} is a run still in progress" in err
            assert f"pid {os.getpid()}" in err and "wait for it to finish" in err
    assert {p.name for p in run_dir.iterdir()} == {*before, ".lock"}  # no eval folder
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    printed = capsys.readouterr()
    assert re.search(r"evaluating its last checkpoint \(after epoch 2, iteration (\d+) of \1\)",
                     printed.err), printed.err  # fmt: skip
    report = json.loads(printed.out)
    assert report["model_file"] == str((run_dir / "checkpoint.npz").resolve())
    assert report["n"] == 1000


def test_damaged_run_folder_gets_one_line_naming_the_file(tmp_path, env, trained_model):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    for p in trained_model.parent.iterdir():
        if p.is_file():
            (run_dir / p.name).write_bytes(p.read_bytes())
    (run_dir / "model.npz").unlink()
    config = json.loads((run_dir / "config.json").read_text())
    config["config"]["batch_size"] = "100"
    (run_dir / "config.json").write_text(json.dumps(config))
    proc = mitbadak("train", "--resume", run_dir, env=env)
    assert_clean_error(proc, 1)
    assert str(run_dir / "config.json") in proc.stderr and "batch_size" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    (run_dir / "metrics.csv").write_bytes(b"epoch,iteration\n\xff\n")
    proc = mitbadak("plot", "curves", run_dir, "--out", tmp_path / "c.png", env=env)
    assert_clean_error(proc, 1)
    assert "metrics.csv: not UTF-8" in proc.stderr


@pytest.mark.parametrize("readme", ["README.md", "README.ko.md"])
def test_readme_command_lines_parse(readme):
    """Every single-command example line in the READMEs is a valid command line."""
    import shlex

    from mitbadak.cli import build_parser

    text = (Path(__file__).resolve().parents[1] / readme).read_text(encoding="utf-8")
    lines = [ln.split("#")[0].strip() for ln in text.splitlines() if ln.startswith("mitbadak ")]
    lines = [ln for ln in lines if "|" not in ln and "[" not in ln]
    assert any("--recipe ch4" in ln for ln in lines)
    for line in lines:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert callable(args.func), line


def test_dataset_error_wording_per_command(monkeypatch):
    """The library's message names keyword arguments; the CLI words the same facts as flags."""
    import argparse

    monkeypatch.delenv("MITBADAK_OFFLINE", raising=False)

    from mitbadak.cli import error_message
    from mitbadak.core.errors import DatasetUnavailable

    exc = DatasetUnavailable(
        "dataset 'mnist' is not available ... pass data_dir= ... or use name='mnist-sample'",
        dataset="mnist",
        missing=["train-images-idx3-ubyte.gz"],
        searched=["/nowhere"],
        reason="download failed: every mirror timed out",
    )
    assert "data_dir=" in str(exc)  # the library's own wording is unchanged
    download = error_message(exc, argparse.Namespace(data_command="download", dest=None))
    plot = error_message(
        DatasetUnavailable(
            "x", dataset="mnist", missing=["t10k-images-idx3-ubyte.gz"], download_disabled=True
        ),
        argparse.Namespace(dataset="mnist", data_dir=None, download=False),
    )
    for text in (download, plot):
        assert "data_dir=" not in text and "name=" not in text and "download=" not in text
    assert "Download failed: every mirror timed out." in download and "--timeout" in download
    assert "add --download" in plot and "--split test" in plot and "--dataset mnist-sample" in plot


# ------------------------------------------------------------------------------------------------
# Issue 19: a missing dataset is one line plus one hint line; the book's weights likewise


def test_missing_dataset_is_one_line_and_a_hint(tmp_path, env, trained_model, monkeypatch):
    """train and evaluate with no MNIST anywhere (offline): the facts on one line, then a hint
    line in flags; the library's own message is two lines too, in keyword arguments."""
    nowhere = tmp_path / "nonexistent"
    for args in (
        ("evaluate", trained_model, "--dataset", "mnist", "--data-dir", nowhere),
        ("train", "--dataset", "mnist", "--data-dir", nowhere, "--out", tmp_path / "x"),
    ):
        proc = mitbadak(*args, env=env)
        assert_clean_error(proc, 1)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 2, proc.stderr
        first, hint = lines
        assert first.startswith("mitbadak: error: dataset 'mnist' is not available: missing ")
        assert f"Searched: {nowhere}, {nowhere / 'mnist'}, " in first
        assert "Downloading is off (MITBADAK_OFFLINE is set)." in first
        assert hint.startswith("hint: --data-dir DIR, a folder holding ")
        assert "`mitbadak data download mnist" in hint and "--dataset mnist-sample" in hint
        assert "data_dir=" not in proc.stderr
    assert "--split test" in mitbadak(
        "evaluate", trained_model, "--dataset", "mnist", "--data-dir", nowhere, env=env
    ).stderr

    import mitbadak as lib
    from mitbadak.core.errors import DatasetUnavailable

    monkeypatch.setenv("MITBADAK_CACHE", env["MITBADAK_CACHE"])
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    with pytest.raises(DatasetUnavailable) as info:
        lib.load_mnist(data_dir=nowhere, download=False)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "Downloading is disabled (download=False)." in lines[0]
    assert lines[1].startswith("hint: pass data_dir=") and 'name="mnist-sample"' in lines[1]


def test_book_weights_missing_in_the_cli(tmp_path, env):
    """A command that needs the book's file names the download command in its hint line."""
    code = (
        "import sys, mitbadak\n"
        "from mitbadak.cli import error_message\n"
        "try:\n"
        "    mitbadak.find_book_weights()\n"
        "except mitbadak.core.errors.DatasetUnavailable as exc:\n"
        "    print(error_message(exc))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert str(Path(env["MITBADAK_CACHE"]) / "book-weights") in lines[0]
    assert lines[1].startswith("get it with: mitbadak data download book-weights")
    proc = mitbadak("data", "path", "book-weights", env=env)
    assert_clean_error(proc, 1)
    assert "mitbadak data download book-weights" in proc.stderr
    proc = mitbadak("data", "download", "book-weights", "--split", "test", env=env)
    assert_clean_error(proc, 2)  # a usage error
    assert "--split" in proc.stderr and "no train/test splits" in proc.stderr
    assert "split=" not in proc.stderr


# --- chapter 6: --batchnorm, --dropout ----------------------------------------------------------

EXTEND = ["--dataset", "mnist-sample", "--hidden", "40,30", "--batchnorm", "--dropout", "0.2",
          "--optimizer", "nesterov", "--batch-size", "50", "--epochs", "4", "--seed", "3",
          "--quiet"]  # fmt: skip


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    from mitbadak.files.modelfile import load_model

    net = load_model(path)
    return {**{k: np.asarray(v) for k, v in net.params.items()},
            **{k: np.asarray(v) for k, v in net.buffers.items()}}  # fmt: skip


def test_batchnorm_dropout_run_interrupted_mid_epoch_resumes_exactly(
    tmp_path, monkeypatch, capsys
):
    """Ctrl-C in the middle of epoch 2 of a --batchnorm --dropout 0.2 run, then --resume: the
    metrics and the final weights, gammas, betas and running statistics equal an uninterrupted
    run's bit for bit (the dropout generator and the running statistics are in the checkpoint)."""
    from mitbadak.cli import main
    from mitbadak.cli import train as train_cli

    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    assert main(["train", *EXTEND, "--out", str(tmp_path / "ref")]) == 0
    capsys.readouterr()

    class CtrlCMidEpoch(train_cli.TrainingReporter):
        def __call__(self, event):
            super().__call__(event)
            if event["event"] == "step" and event["iteration"] == 27:  # 20 steps an epoch
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    original = train_cli.TrainingReporter
    monkeypatch.setattr(train_cli, "TrainingReporter", CtrlCMidEpoch)
    run = tmp_path / "run"
    assert main(["train", *EXTEND, "--out", str(run)]) == 130
    assert "interrupted; checkpoint saved" in capsys.readouterr().err
    assert not (run / "model.npz").exists()
    from mitbadak.files.modelfile import read_metadata

    state = read_metadata(run / "checkpoint.npz")["state"]
    assert state["iteration"] >= 27 and state["iteration"] % 20 != 0  # stopped mid-epoch
    monkeypatch.setattr(train_cli, "TrainingReporter", original)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert metrics_without_time(run) == metrics_without_time(tmp_path / "ref")
    ours, ref = _model_arrays(run / "model.npz"), _model_arrays(tmp_path / "ref" / "model.npz")
    assert sorted(ours) == sorted(ref) and "running_var2" in ours and "gamma1" in ours
    for name in ref:
        np.testing.assert_array_equal(ours[name], ref[name], err_msg=name)
    assert float(np.abs(ref["running_mean1"]).max()) > 0.01  # the statistics did move


def test_batchnorm_dropout_model_evaluates_predicts_and_states_its_command(tmp_path, env):
    out = tmp_path / "r"
    args = [*EXTEND[:-5], "--epochs", "1", "--inverted-dropout"]
    proc = mitbadak("train", *args, "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "(relu, batchnorm, inverted dropout 0.2, nesterov lr=0.05" in proc.stdout
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["batchnorm"], config["dropout"], config["inverted_dropout"]) == (True, 0.2, True)
    from mitbadak.files.modelfile import load_model
    from mitbadak.training.recipes import TrainConfig, command_line

    net = load_model(out / "model.npz")
    assert type(net).__name__ == "MultiLayerNetExtend"
    assert net.use_batchnorm and net.use_dropout and net.inverted_dropout
    assert net.dropout_ration == 0.2
    # the printed command rebuilds the same config
    line = command_line(TrainConfig.from_dict(config))
    assert line[line.index("--dropout") + 1] == "0.2" and "--batchnorm" in line
    assert "--inverted-dropout" in line
    evaluated = mitbadak("evaluate", out / "model.npz", "--dataset", "mnist-sample", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    final = [ln for ln in proc.stdout.splitlines() if ln.startswith("test accuracy")][0]
    assert final.split()[2] in evaluated.stdout  # the same test accuracy in test mode
    from PIL import Image

    from mitbadak.files.datasets import load_split

    x, _ = load_split("mnist-sample", "test", download=False)
    Image.fromarray((x[0].reshape(28, 28) * 255).astype(np.uint8)).save(tmp_path / "d.png")
    predicted = mitbadak("predict", out / "model.npz", tmp_path / "d.png", "--json", env=env)
    assert predicted.returncode == 0, predicted.stderr
    assert "prediction" in json.loads(predicted.stdout)[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dropout", "1.0"], "--dropout: expected a ratio in [0, 1)"),
        (["--dropout", "-0.1"], "--dropout: expected a ratio in [0, 1)"),
        (["--dropout", "x"], "--dropout: expected a number, got 'x'"),
        (["--inverted-dropout"], "--inverted-dropout needs --dropout R"),
        (["--recipe", "ch5", "--batchnorm"], "--batchnorm needs --model mlp"),
    ],
)
def test_bad_chapter6_flags_are_one_line(tmp_path, env, args, needle):
    proc = mitbadak("train", *args, "--out", tmp_path / "r", env=env, timeout=60)
    assert_clean_error(proc, 2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mitbadak: error: "), proc.stderr
    assert needle in proc.stderr
    assert not (tmp_path / "r").exists()


def test_optimizer_flag_lists_all_six(env):
    proc = mitbadak("train", "--help", env=env, timeout=60)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "{sgd,momentum,nesterov,adagrad,adam,rmsprop}" in text.replace(" ", "")
