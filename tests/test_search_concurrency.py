"""Search under concurrency: several worker processes on one study.

RELIABILITY "Search under concurrency": N workers x M trials end with exactly
N*M finished trials, unique numbers and parameters inside the space, on the
journal-file storage and on a real PostgreSQL server that this module starts
itself (from Debian's ``postgresql`` package); a worker killed mid-trial
leaves a trial that the heartbeat marks failed and that is retried.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
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
        # The form the README documents (postgresql://user@host/db), no driver named.
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
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


def test_the_documented_postgresql_url_runs_a_search(postgres_url, tmp_path):
    """``nndl search --storage postgresql://user@host/db`` as the README writes it."""
    from click.testing import CliRunner

    from nndl.cli.search import search

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "--storage postgresql://user@host/db" in readme
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    space = tmp_path / "space.toml"
    space.write_text("[params]\nlearning_rate = [0.5, 1.0]\nepochs = 2\nhidden_sizes = [10]\n")
    args = ["--config", str(space), "--dataset", "digits", "--train-size", "200"]
    args += ["--storage", postgres_url, "--study", "readme-url", "--n-trials", "2"]
    args += ["--sampler", "grid", "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(search, args)
    assert res.exit_code == 0, res.output
    study = optuna.load_study(study_name="readme-url", storage=make_storage(postgres_url))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]


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


# ------------------------------------------------------ a worker killed
def _worker_pids(parent: int) -> list[int]:
    """The worker processes that ``parent`` spawned (not multiprocessing's resource tracker)."""
    pids = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"--multiprocessing-fork" in cmdline and b"resource_tracker" not in cmdline:
                pids.append(int(child))
    return pids


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_killed_worker_of_a_journal_search(tmp_path):
    """nndl search --workers 3 on a journal file, one worker killed mid-trial: the
    others finish, its trial is failed and retried, the report is written, and the
    command ends with status 3 and one line naming the worker."""
    space = tmp_path / "space.toml"
    space.write_text(
        '[params]\nlearning_rate = {type = "float", low = 0.1, high = 1.0}\n'
        "epochs = 80\nhidden_sizes = [20]\nmini_batch_size = 10\n"
    )
    journal, out = tmp_path / "study.journal", tmp_path / "out"
    cmd = [sys.executable, "-m", "nndl.cli", "search", "--config", str(space)]
    cmd += ["--dataset", "digits", "--train-size", "300", "--storage", str(journal)]
    cmd += ["--workers", "3", "--n-trials", "3", "--sampler", "random", "--seed", "0"]
    cmd += ["--no-pruning", "--max-retry", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                study = optuna.load_study(study_name="nndl-search", storage=make_storage(journal))
            except KeyError:  # not created yet
                study = None
            if study is not None:
                running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                # Each trial names its process (host:pid): kill the one running a trial.
                owners = {t.user_attrs.get("worker", "").rpartition(":")[2] for t in running}
                pids = [pid for pid in _worker_pids(proc.pid) if str(pid) in owners]
                if pids:
                    killed = pids[0]
                    os.kill(killed, signal.SIGKILL)
                    break
            time.sleep(0.1)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert killed is not None, "no worker was seen running a trial"
    stdout, stderr = stdout.decode(), stderr.decode()
    assert proc.returncode == 3, stdout + stderr
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("nndl: error:")]
    assert len(error_lines) == 1, stderr
    assert f"pid {killed}" in error_lines[0] and "SIGKILL" in error_lines[0]
    assert "nndl-search-" in error_lines[0]
    study = optuna.load_study(study_name="nndl-search", storage=make_storage(journal))
    trials = study.get_trials()
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    (failed,) = [t for t in trials if t.state.name == "FAIL"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.state.name == "COMPLETE" and retry.params == failed.params
    # The three trials asked for, the retry among them: a new worker took over the dead one's.
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3
    assert "nndl-search-3 took over its remaining trials" in error_lines[0]
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"COMPLETE": 3, "FAIL": 1}
    assert report["dead_workers"] and f"pid {killed}" in report["dead_workers"][0]
    assert (out / "best_config.json").exists()


# ------------------------------------------------------ the journal's lock
LOCK_HOLDER = """
import sys, time
from nndl.search.journal import JournalLock

JournalLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def _acquire_in_thread(lock):
    got = threading.Event()
    threading.Thread(target=lambda: (lock.acquire(), got.set()), daemon=True).start()
    return got


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_the_journal_lock_of_a_killed_process_is_freed_at_once(tmp_path):
    from nndl.search.journal import JournalLock

    journal = tmp_path / "study.journal"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(journal)], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        lock = JournalLock(journal)  # grace period 30 s
        got = _acquire_in_thread(lock)
        assert not got.wait(0.5)  # a live holder is waited for
        holder.kill()
        holder.wait()
        assert got.wait(3)  # a dead one's lock is removed at once
    finally:
        holder.kill()
        holder.communicate()
    lock.release()
    assert not (tmp_path / "study.journal.lock").exists()
    assert os.listdir(tmp_path) == []  # nothing left behind


def test_the_journal_lock_waits_for_optunas_own_lock(tmp_path):
    from nndl.search.journal import JournalLock

    journal = tmp_path / "study.journal"
    journal.touch()
    os.symlink(journal, tmp_path / "study.journal.lock")  # Optuna's symlink lock, held
    lock = JournalLock(journal, grace_period=1.0)
    got = _acquire_in_thread(lock)
    assert not got.wait(0.5)
    assert got.wait(5)  # removed after the grace period, as Optuna does
    lock.release()
