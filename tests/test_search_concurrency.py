"""Search under concurrency: several worker processes on one study.

RELIABILITY "Search under concurrency": N workers x M trials end with exactly
N*M finished trials, unique numbers and parameters inside the space, on the
journal-file storage and on a real PostgreSQL server that this module starts
itself (from Debian's ``postgresql`` package); a worker killed mid-trial
leaves a trial that the heartbeat marks failed and that is retried.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("sklearn")

from nndl.search import SearchSpace, create_study, make_storage, run_search  # noqa: E402

SPACE = {
    "params": {
        "learning_rate": {"type": "float", "low": 0.05, "high": 5.0, "log": True},
        "l2": {"type": "float", "low": 0.0, "high": 1.0},
        "mini_batch_size": [10, 25],
        "hidden_sizes": [10],
        "epochs": 2,
    }
}


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return (X[:400], y[:400]), (X[400:600], y[400:600])


def _check_trials(study, n):
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == n
    assert all(t.state.name == "COMPLETE" for t in trials)
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(n))  # unique and gap-free
    space = SearchSpace.from_dict(SPACE)
    assert all(space.contains(t.params) for t in trials)


def test_three_processes_on_a_journal_file(tmp_path):
    train, val = _digits()
    journal = tmp_path / "study.journal"
    result = run_search(
        SPACE,
        train,
        val,
        storage=str(journal),
        study_name="journal",
        n_trials=12,
        workers=3,
        sampler="random",
        seed=0,
        pruning=False,
        verbose=False,
        report=False,
    )
    assert result.counts == {"COMPLETE": 12}
    study = optuna.load_study(study_name="journal", storage=make_storage(journal))
    _check_trials(study, 12)
    # three workers with seeds 0, 1, 2 sampled different points
    assert len({t.params["learning_rate"] for t in study.trials}) == 12


# ------------------------------------------------------------ PostgreSQL
def _pg_bindir():
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
    """A throw-away PostgreSQL server on 127.0.0.1, stopped and removed afterwards."""
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: "
            "apt-get install postgresql"
        )
    pytest.importorskip("psycopg2")
    base = Path(tempfile.mkdtemp(prefix="nndl-pg-"))
    prefix = []
    if os.geteuid() == 0:
        # The server refuses to run as root: run it as the package's user.
        import pwd

        try:
            pg = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = base / "data", base / "server.log", _free_port()

    def run(*cmd):
        subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True, timeout=120)

    try:
        run(
            bindir / "initdb",
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} "
            "-c fsync=off -c max_connections=50"
        )
        run(bindir / "pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        log_text = log.read_text() if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode()} {log_text}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from nndl.callbacks import Callback
    from nndl.search import run_worker

    class Slow(Callback):
        def __init__(self, seconds):
            self.seconds = seconds

        def on_epoch_end(self, trainer, epoch, logs):
            time.sleep(self.seconds)

    if __name__ == "__main__":
        data, url, name, n_trials, seed, sleep = sys.argv[1:]
        d = np.load(data)  # the digits, saved by the test: no scikit-learn import here
        run_worker(
            {space!r}, (d["X"], d["y"]), (d["Xv"], d["yv"]), study_name=name,
            storage=url, n_trials=int(n_trials), sampler="random", seed=int(seed),
            pruning=False, callbacks=[Slow(float(sleep))], heartbeat_interval=1,
            grace_period=3, max_retry=1, verbose=False,
        )
    """
).format(space=SPACE)


def _worker_script(tmp_path):
    (X, y), (Xv, yv) = _digits()
    np.savez(tmp_path / "digits.npz", X=X, y=y, Xv=Xv, yv=yv)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return script


def _start_worker(script, url, name, n_trials, seed, sleep=0.0):
    data = script.parent / "digits.npz"
    return subprocess.Popen(
        [sys.executable, str(script), str(data), url, name, str(n_trials), str(seed), str(sleep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_three_processes_on_postgresql(postgres_url, tmp_path):
    script = _worker_script(tmp_path)
    # The study is created once, before the workers; each then loads it.
    create_study("pg-three", make_storage(postgres_url), SPACE)
    procs = [_start_worker(script, postgres_url, "pg-three", 4, seed) for seed in range(3)]
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0, out.decode()
    study = optuna.load_study(study_name="pg-three", storage=make_storage(postgres_url))
    _check_trials(study, 12)


def test_a_killed_worker_trial_is_failed_and_retried(postgres_url, tmp_path):
    script = _worker_script(tmp_path)
    storage = make_storage(postgres_url, heartbeat_interval=1, grace_period=3, max_retry=1)
    study = create_study("pg-kill", storage, SPACE)
    # A slow worker (5 s per epoch), killed while its trial runs.
    proc = _start_worker(script, postgres_url, "pg-kill", 1, 0, sleep=5.0)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if running:
                break
            assert proc.poll() is None, proc.communicate()[0].decode()
            time.sleep(0.2)
        else:
            pytest.fail("the worker never started a trial")
        time.sleep(1.5)  # a heartbeat or two
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # Read the trial again: the snapshot taken when it started may predate
    # some of its suggested parameters.
    killed = study._storage.get_trial(running[0]._trial_id)
    assert killed.state.name == "RUNNING"
    time.sleep(4)  # past the grace period
    train, val = _digits()
    from nndl.search import run_worker

    run_worker(
        SPACE,
        train,
        val,
        study_name="pg-kill",
        storage=postgres_url,
        n_trials=1,
        sampler="random",
        seed=5,
        pruning=False,
        heartbeat_interval=1,
        grace_period=3,
        max_retry=1,
        verbose=False,
    )
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[killed.number].state.name == "FAIL"
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state.name == "COMPLETE"
    assert retry.params == trials[killed.number].params == killed.params
    assert np.isfinite(retry.value)
