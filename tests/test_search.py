"""The built-in hyper-parameter search (``mitbadak.training.search``), its figure and
``mitbadak search``: the book's defaults, the draws, determinism for a seed with any number of
workers, resuming after a kill, and one clear error per bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mitbadak.training.search import (
    BOOK_RECIPE,
    Param,
    SearchError,
    SearchSpec,
    make_space,
    parse_param,
    read_trials,
    search,
    search_data,
    trial_params,
)

#: a search small enough for a unit test: 120 sample images, one hidden layer of 16, 3 epochs
TINY = {"dataset": "mnist-sample", "hidden": [16], "epochs": 3}


@pytest.fixture(scope="module")
def tiny_data():
    return search_data(SearchSpec.make(recipe=TINY, trials=4, train_size=120), download=False)


def tiny_search(data, **kwargs):
    kwargs.setdefault("trials", 4)
    return search(recipe=TINY, train_size=120, data=data, download=False, **kwargs)


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_the_default_is_the_books_search():
    spec = SearchSpec.make()
    assert spec.trials == 100 and spec.train_size == 500 and spec.val_fraction == 0.2
    assert [p.to_dict() for p in spec.space] == [
        {"field": "lr", "kind": "log", "low": 1e-6, "high": 1e-2},
        {"field": "weight_decay", "kind": "log", "low": 1e-8, "high": 1e-4},
    ]
    r = spec.recipe
    assert (r.model, r.hidden, r.activation, r.optimizer, r.batch_size, r.epochs) == (
        "mlp", [100] * 6, "relu", "sgd", 100, 50)
    assert BOOK_RECIPE.weight_init is None  # He for ReLU, as the book's MultiLayerNet


def test_draws_follow_their_scales():
    spec = SearchSpec.make([
        "lr=log:1e-6:1e-2", "dropout=uniform:0.1:0.5", "activation=choice:relu,sigmoid,tanh",
        "hidden=choice:[100,100],[50]", "batch_size=log:10:100",
    ])  # fmt: skip
    draws = [trial_params(spec, i) for i in range(3000)]
    lr = np.log10([d["lr"] for d in draws])
    assert lr.min() >= -6 and lr.max() <= -2 and abs(lr.mean() + 4) < 0.08
    dropout = np.array([d["dropout"] for d in draws])
    assert dropout.min() >= 0.1 and dropout.max() <= 0.5 and abs(dropout.mean() - 0.3) < 0.01
    assert {d["activation"] for d in draws} == {"relu", "sigmoid", "tanh"}
    assert {json.dumps(d["hidden"]) for d in draws} == {"[100, 100]", "[50]"}
    sizes = [d["batch_size"] for d in draws]
    assert all(isinstance(b, int) and 10 <= b <= 100 for b in sizes)
    # trial i's values depend on (seed, i) only
    assert trial_params(spec, 7) == draws[7]
    assert trial_params(SearchSpec.make(seed=1), 7) != trial_params(SearchSpec.make(seed=0), 7)


def test_same_seed_same_trials_with_any_number_of_workers(tiny_data):
    one = tiny_search(tiny_data, workers=1, seed=3)
    two = tiny_search(tiny_data, workers=2, seed=3)
    assert [r["number"] for r in one.trials] == [0, 1, 2, 3]
    assert without_seconds(one.trials) == without_seconds(two.trials)
    assert all(len(r["val_acc_list"]) == 3 for r in one.trials)
    other = tiny_search(tiny_data, workers=1, seed=4)
    assert [r["params"] for r in other.trials] != [r["params"] for r in one.trials]
    ranked = one.ranked()
    assert [r["val_acc"] for r in ranked] == sorted((r["val_acc"] for r in ranked), reverse=True)
    head, rows = one.table()
    assert head[:5] == ["rank", "trial", "state", "val_acc", "train_acc"]
    assert [row[1] for row in rows] == [r["number"] for r in ranked]


def test_a_search_resumes_from_its_folder(tiny_data, tmp_path):
    whole = tiny_search(tiny_data, seed=5)
    out = tmp_path / "s"
    first = tiny_search(tiny_data, seed=5, trials=2, out=out)
    assert [r["number"] for r in first.trials] == [0, 1]
    lines = (out / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["number"] == 0
    # a kill while appending trial 2 leaves a torn last line: it is dropped, trial 2 runs again
    with open(out / "trials.jsonl", "a") as fh:
        fh.write('{"number": 2, "params": {"lr"')
    assert read_trials(out / "trials.jsonl")[1] is True
    resumed = tiny_search(tiny_data, seed=5, trials=4, out=out)
    assert resumed.resumed == 2
    assert without_seconds(resumed.trials) == without_seconds(whole.trials)
    records, torn = read_trials(out / "trials.jsonl")
    assert not torn and [r["number"] for r in records] == [0, 1, 2, 3]


def test_a_folder_holding_another_search_is_refused(tiny_data, tmp_path):
    tiny_search(tiny_data, trials=1, out=tmp_path)
    with pytest.raises(SearchError, match=r"holds a search with another space"):
        search(["lr=log:1e-4:1e-1"], recipe=TINY, train_size=120, data=tiny_data, trials=1,
               out=tmp_path)  # fmt: skip
    with pytest.raises(SearchError, match=r"another recipe\.epochs, seed"):
        search(recipe={**TINY, "epochs": 4}, train_size=120, data=tiny_data, trials=1, seed=9,
               out=tmp_path)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr=log:1e-2:1e-6", "--param lr: a range needs low < high, got low 0.01 >= high 1e-06"),
        ("lr=uniform:0.1:0.1", "--param lr: a range needs low < high"),
        ("lr=log:0:0.1", "--param lr: a log scale needs bounds > 0, got low 0"),
        ("weight_decay=log:-1e-8:1e-4", "a log scale needs bounds > 0, got low -1e-08"),
        ("learning_rate=log:1e-6:1e-2", "--param learning_rate: unknown field; a search varies"),
        ("seed=choice:1,2", "--param seed: unknown field"),
        ("activation=uniform:0:1", "--param activation: a uniform range needs a numeric field"),
        ("activation=choice:relu,swish",
         "--param activation: the choice 'swish' is not a valid activation ('sigmoid'"),
        ("dropout=uniform:0:1.5", "--param dropout: the high bound 1.5 is not a valid dropout"),
        ("lr=log:a:1", "--param lr: the low bound must be a number, got 'a'"),
        ("lr=choice:", "--param lr=choice: give at least one value"),
        ("lr=normal:0:1", "expected lr=log:LOW:HIGH"),
        ("lr", "expected FIELD=log:LOW:HIGH"),
    ],
)
def test_each_bad_parameter_has_one_clear_error(text, message):
    with pytest.raises(SearchError) as info:
        parse_param(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_space_forms_and_their_errors():
    space = make_space({"lr": ("log", 1e-5, 1e-1), "activation": ["relu", "tanh"],
                        "weight_decay": "uniform:0:1e-3"})  # fmt: skip
    assert [p.text() for p in space] == ["lr=log:1e-05:0.1", 'activation=choice:"relu","tanh"',
                                         "weight_decay=uniform:0:0.001"]  # fmt: skip
    assert make_space([Param("lr", "log", 1e-3, 1e-1)])[0].kind == "log"
    with pytest.raises(SearchError, match="--param lr is given twice"):
        make_space(["lr=log:1e-3:1e-1", "lr=log:1e-4:1e-1"])
    with pytest.raises(SearchError, match="--param lr: a range needs low < high"):
        make_space([Param("lr", "log", 1.0, 0.1)])
    for bad, flag in (({"trials": 0}, "--trials"), ({"seed": -1}, "--seed"),
                      ({"val_fraction": 1.0}, "--val-fraction"),
                      ({"train_size": 2.5}, "--train-size")):  # fmt: skip
        with pytest.raises(SearchError, match=flag):
            SearchSpec.make(**bad)


def test_best_grid_figure_in_english_and_korean(tiny_data):
    pytest.importorskip("matplotlib")
    from mitbadak.views.plots import search_best

    result = tiny_search(tiny_data, seed=1)
    fig = search_best(result, n=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 3 and titles[0].startswith("Best-1 (val ")
    best = result.ranked()[0]
    assert list(fig.axes[0].lines[0].get_ydata()) == best["val_acc_list"]
    assert list(fig.axes[0].lines[1].get_ydata()) == best["train_acc_list"]
    assert fig.axes[0].get_ylim() == (0.0, 1.0)
    with pytest.warns() if _no_hangul() else _nothing():
        ko = search_best(result, n=3, lang="ko")
    if not _no_hangul():
        assert ko.axes[0].get_title().startswith("1위 (검증 ")
        assert "정확도" in ko._suptitle.get_text()


def _no_hangul() -> bool:
    from mitbadak.views.fonts import find_hangul_font

    return find_hangul_font() is None


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- the CLI -------------------------------------------------------------------------------------


def cli(*args, cwd=None, timeout=120):
    env = {**os.environ, "MITBADAK_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "mitbadak", "search", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


CLI_TINY = ["--dataset", "mnist-sample", "--set", "hidden=[16]", "--set", "epochs=3",
            "--train-size", "120"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "lr=log:1e-2:1e-6"], "--param lr: a range needs low < high"),
        (["--param", "lr=log:0:1"], "--param lr: a log scale needs bounds > 0"),
        (["--param", "momentum=log:0.1:0.9"], "--param momentum: unknown field"),
        (["--set", "epochs=-1"], "--set: training option 'epochs' has an invalid value -1"),
        (["--set", "colour=red"], "--set colour: unknown field"),
        (["--val-fraction", "1.5"], "--val-fraction: expected a number between 0 and 1"),
        (["--storage", "foo://host/db"], "--storage: unknown database kind 'foo'"),
        (["--engine", "random", "--study", "x"], "--storage and --study belong to --engine optuna"),
        (["--storage", "sqlite:///x.db", "--workers", "2"], "sqlite: one worker process only"),
        (["--storage", "postgresql://me:secret@127.0.0.1:1/db"],
         "cannot reach the database server at host 127.0.0.1 port 1"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, monkeypatch, capsys, args, message):
    if any(a.startswith(("--storage", "--study")) for a in args):
        pytest.importorskip("optuna")
    from mitbadak.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    code = main(["search", *CLI_TINY, "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mitbadak: error: "), err
    assert message in lines[0]
    assert "secret" not in err


def test_cli_bad_input_exits_without_traceback(tmp_path):
    result = cli(*CLI_TINY, "--param", "lr=log:1e-2:1e-6", "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stderr == ("mitbadak: error: --param lr: a range needs low < high, got low "
                             "0.01 >= high 1e-06\n")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_cli_search_killed_resumes_to_the_same_results(tmp_path):
    out = tmp_path / "s"
    args = [*CLI_TINY, "--set", "epochs=12", "--trials", "6", "--seed", "2", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "mitbadak", "search", *args],
                            env={**os.environ, "MITBADAK_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    lines = out / "trials.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if lines.is_file() and lines.read_text().count("\n") >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(read_trials(lines)[0])
    assert 2 <= done_before
    result = cli(*args, "--top", "3")
    assert result.returncode == 0, result.stderr
    assert f"({done_before} found already done)" in result.stdout
    records, torn = read_trials(lines)
    assert not torn and [r["number"] for r in records] == list(range(6))
    direct = search(recipe={**TINY, "epochs": 12}, train_size=120, trials=6, seed=2,
                    download=False)  # fmt: skip
    assert without_seconds(records) == without_seconds(direct.trials)
    table = (out / "results.csv").read_text().splitlines()
    assert table[0].startswith("rank,trial,state,val_acc,train_acc,lr,weight_decay")
    assert len(table) == 7 and (out / "best.png").is_file()
    best = direct.ranked()[0]
    assert f"Best-1(val acc:{best['val_acc']})" in result.stdout
    assert math.isclose(float(table[1].split(",")[3]), best["val_acc"])
