"""The search on Optuna (``mitbadak.training.tune``) with its journal-file storage: two worker
processes sharing one study, one of them killed with SIGKILL mid-trial (its trial failed once
and retried once, nothing lost or run twice), per-epoch reports and pruning, a study with
another space refused, storage errors naming the part that is wrong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

optuna = pytest.importorskip("optuna", reason="Optuna is the [tune] extra")

from optuna.storages.journal import JournalFileBackend, JournalStorage  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from mitbadak.training.search import SearchError, SearchSpec, search_data  # noqa: E402
from mitbadak.training.tune import tune  # noqa: E402

TINY = {"dataset": "mnist-sample", "hidden": [16], "epochs": 3}


@pytest.fixture(scope="module")
def tiny_data():
    return search_data(SearchSpec.make(recipe=TINY, train_size=120), download=False)


def test_tpe_is_deterministic_for_a_seed_and_reports_each_epoch(tiny_data, tmp_path):
    runs = [tune(recipe=TINY, train_size=120, data=tiny_data, trials=3, seed=4,
                 out=tmp_path / name) for name in ("a", "b")]  # fmt: skip
    assert [r["params"] for r in runs[0].trials] == [r["params"] for r in runs[1].trials]
    assert [r["val_acc"] for r in runs[0].trials] == [r["val_acc"] for r in runs[1].trials]
    assert (tmp_path / "a" / "journal.log").is_file()
    study = optuna.load_study(study_name="mitbadak-search",
                              storage=JournalStorage(JournalFileBackend(
                                  str(tmp_path / "a" / "journal.log"))))  # fmt: skip
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [1, 2, 3]  # trial.report per epoch
        assert trial.intermediate_values[3] == trial.value
        assert trial.user_attrs["val_acc_list"] == [trial.intermediate_values[e] for e in (1, 2, 3)]
    # the study remembers its space: another one is refused, naming what differs
    with pytest.raises(SearchError, match=r"--study mitbadak-search exists with another space"):
        tune(["lr=log:1e-3:1e-1"], recipe=TINY, train_size=120, data=tiny_data, trials=3,
             seed=4, out=tmp_path / "a")  # fmt: skip


def test_median_pruner_stops_poor_trials(tiny_data, tmp_path):
    result = tune(["lr=log:1e-6:0.5"], recipe={**TINY, "epochs": 8}, train_size=120,
                  data=tiny_data, trials=12, seed=0, sampler="random", out=tmp_path)  # fmt: skip
    states = [r["state"] for r in result.trials]
    assert "pruned" in states and "complete" in states
    for r in result.trials:
        if r["state"] == "pruned":
            assert 5 <= len(r["val_acc_list"]) < 8  # after the 5 warm-up epochs, before the end


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("mongodb://h/db", "--storage: unknown database kind 'mongodb'"),
        ("postgresql://u:pw@127.0.0.1:1/db", "cannot reach the database server at host "
         "127.0.0.1 port 1"),
        ("postgresql://u@127.0.0.1:5432", "no database name"),
        ("sqlite:////nonexistent-folder/x.db", "the SQLite file '/nonexistent-folder/x.db' "
         "cannot be created"),
    ],
)
def test_storage_errors_name_the_part(tiny_data, storage, message):
    with pytest.raises(SearchError) as info:
        tune(recipe=TINY, train_size=120, data=tiny_data, trials=1, storage=storage)
    assert message in str(info.value) and "pw" not in str(info.value)


def test_journal_path_that_is_a_folder(tiny_data, tmp_path):
    with pytest.raises(SearchError, match="is a folder; give the journal file's path"):
        tune(recipe=TINY, train_size=120, data=tiny_data, trials=1, storage=str(tmp_path))


WORKER = """
import sys
from mitbadak.training.tune import tune
tune(["lr=log:1e-4:1e-1"], recipe={"dataset": "mnist-sample", "hidden": [64, 64],
     "epochs": 25}, train_size=300, trials=6, seed=1, sampler="random", pruner="none",
     storage=sys.argv[1], study="shared", download=False)
"""


def _load(journal):
    return optuna.load_study(study_name="shared",
                             storage=JournalStorage(JournalFileBackend(str(journal))))


def test_two_journal_workers_one_killed_mid_trial(tmp_path):
    journal = tmp_path / "journal.log"
    env = {**os.environ, "MITBADAK_OFFLINE": "1"}
    start = [sys.executable, "-c", WORKER, str(journal)]
    a = subprocess.Popen(start, env=env, stderr=subprocess.PIPE)
    b = subprocess.Popen(start, env=env, stderr=subprocess.PIPE)
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and time.monotonic() < deadline and a.poll() is None:
        time.sleep(0.05)
        if not journal.is_file():
            continue
        try:
            trials = _load(journal).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            continue
        for t in trials:  # A's trial has reported an epoch: it is mid-training
            if t.user_attrs.get("worker", {}).get("pid") == a.pid and t.intermediate_values:
                a.send_signal(signal.SIGKILL)
                a.wait()  # reaped, as a shell would
                killed = t.number
                break
    assert killed is not None, "worker A never ran a trial"
    _, err = b.communicate(timeout=120)
    assert b.returncode == 0, err.decode()
    trials = _load(journal).trials
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    # nothing left running or waiting; the killed trial failed once and was retried once
    assert not by_state[TrialState.RUNNING] and not by_state[TrialState.WAITING]
    assert [t.number for t in by_state[TrialState.FAIL]] == [killed]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed].params
    assert retries[0].user_attrs["worker"]["pid"] == b.pid
    complete = by_state[TrialState.COMPLETE]
    assert 6 <= len(complete) <= 7  # the budget; A's last trial may have been under way
    # each trial ran in one worker, from start to end: its epochs all reported
    assert all(sorted(t.intermediate_values) == list(range(1, 26)) for t in complete)
    params = [json.dumps(t.params, sort_keys=True) for t in complete]
    assert len(set(params)) == len(params)
