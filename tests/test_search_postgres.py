"""Two worker processes sharing one Optuna study in a real PostgreSQL, started by the test
itself (Debian's ``postgresql`` server binaries; ``.ci/run`` installs them): a cluster in a
temporary folder, trust authentication on 127.0.0.1 and a random port, stopped at the end.
PostgreSQL refuses to run as root, so as root the server runs as ``nobody`` (``runuser``).
Outside CI a machine without the binaries skips with the reason; under ``CI=true`` it fails."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from mitbadak.training.search import SearchError, SearchSpec, search_data


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs this test to run: {reason}")
    pytest.skip(reason)


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    try:
        import optuna  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        _missing(f"the [tune] extra is not installed ({exc.name})")
    bindir = _bindir()
    if bindir is None:
        _missing("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
                 "apt-get install postgresql")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="mitbadak-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses root: run it as nobody
        runuser = shutil.which("runuser")
        if runuser is None:
            _missing("running as root without runuser to start PostgreSQL as another user")
        shutil.chown(root, "nobody")
        as_user = [runuser, "-u", "nobody", "--"]
    data, port = root / "data", _free_port()

    def run(*cmd):
        return subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True,
                              timeout=60, cwd=root)  # fmt: skip

    made = run(bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
               "-E", "UTF8")  # fmt: skip
    assert made.returncode == 0, made.stderr
    started = run(bindir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-t", "30", "start",
                  "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F")  # fmt: skip
    assert started.returncode == 0, started.stderr + (root / "log").read_text()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


TINY = {"dataset": "mnist-sample", "hidden": [16], "epochs": 3}
#: trials long enough (about 0.3 s each) that the second worker, started a moment later, runs some
SHARED = {**TINY, "epochs": 40}


def test_two_workers_share_one_postgres_study(postgres_url, tmp_path):
    import optuna
    from optuna.trial import TrialState

    from mitbadak.training.tune import tune

    data = search_data(SearchSpec.make(recipe=SHARED, train_size=120), download=False)
    result = tune(recipe=SHARED, train_size=120, data=data, trials=8, workers=2, seed=2,
                  storage=postgres_url, study="pg-shared", out=tmp_path, heartbeat=1,
                  pruner="none")  # fmt: skip
    study = optuna.load_study(study_name="pg-shared", storage=postgres_url)
    trials = study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert 8 <= len(trials) <= 9
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids  # both worker processes ran trials
    assert sorted(r["number"] for r in result.trials) == [t.number for t in trials]
    assert study.user_attrs["mitbadak_search"]["recipe"]["hidden"] == [16]
    # mitbadak's RDB storage carries Optuna's heartbeat (a dead worker's trial failed, retried)
    from mitbadak.training.tune import open_storage, storage_target

    beating = open_storage(storage_target(postgres_url, None), retries=2, heartbeat=1)
    assert beating.get_heartbeat_interval() == 1
    assert beating.get_heartbeat_stale_trial_callback()._max_retry == 2
    # joining the same study with another space is refused, naming what differs
    with pytest.raises(SearchError, match="--study pg-shared exists with another space"):
        tune(["lr=log:1e-3:1e-1"], recipe=SHARED, train_size=120, data=data, trials=5, seed=2,
             storage=postgres_url, study="pg-shared")  # fmt: skip


def test_a_wrong_database_name_is_said(postgres_url):
    from mitbadak.training.tune import tune

    url = postgres_url.rsplit("/", 1)[0] + "/nosuchdb"
    with pytest.raises(SearchError, match="database 'nosuchdb' does not exist on the server"):
        tune(recipe=TINY, train_size=120, trials=1, storage=url, download=False)
