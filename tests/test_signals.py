"""Stopping ``nndl train`` with signals, and the files of killed writers.

Real processes and real signals. To send a signal at a chosen moment (in
the middle of a mini-batch, while the model is being saved), the run is
started by a small driver script that wraps one function (the optimizer's
update, a batch callback or ``nndl.serialization.save``) so that at its
``at``-th call it creates ``held`` in its folder and waits there until the
test creates ``go``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nndl import load
from nndl._io import STALE_SECONDS, atomic_write_text, remove_stale_temp_files
from nndl._signals import signals_held, stop_signal_handler, stop_signals_interrupt

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

DIGITS = ["--dataset", "digits", "--no-plot", "--hidden", "20", "--seed", "3"]
# The NumPy path (one optimizer.update per mini-batch, which the driver can
# hold), and no compiling in every process; the SIGTERM test takes the default.
NUMPY = "numpy"
ENV = {k: v for k, v in os.environ.items() if k != "NNDL_DEBUG"} | {"NNDL_KERNEL": NUMPY}

DRIVER = """\
import sys
import time
from pathlib import Path

hold, folder, at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
calls = 0


def wait_here():
    global calls
    calls += 1
    if calls != at:
        return
    (folder / "held").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("the test never let the run go on")
        time.sleep(0.01)


if hold == "save":
    import nndl.serialization

    real_save = nndl.serialization.save

    def save(*args, **kwargs):
        wait_here()
        return real_save(*args, **kwargs)

    nndl.serialization.save = save
elif hold == "update":
    from nndl.optimizers import SGD

    real_update = SGD.update

    def update(self, *args, **kwargs):
        wait_here()
        return real_update(self, *args, **kwargs)

    SGD.update = update
elif hold == "batch":
    from nndl.callbacks import Callback
    from nndl.cli import train

    class Hold(Callback):
        def on_batch_end(self, trainer, batch):
            wait_here()

    train.CALLBACK_FACTORIES.append(lambda run: [Hold()])

from nndl.cli import main

main(sys.argv[4:])
"""


class Run:
    """``nndl train`` in a subprocess, its output in files (nothing can block on a pipe)."""

    def __init__(self, tmp_path, *args, hold=None, at=1, out=None, engine=NUMPY):
        self.dir = tmp_path
        self.dir.mkdir(exist_ok=True)
        self.out = tmp_path / "out" if out is None else out
        env = dict(os.environ, NNDL_KERNEL=engine)
        env.pop("NNDL_DEBUG", None)
        if hold is None:
            cmd = [sys.executable, "-m", "nndl.cli"]
        else:
            driver = tmp_path / "driver.py"
            driver.write_text(DRIVER)
            cmd = [sys.executable, str(driver), hold, str(tmp_path), str(at)]
        cmd += ["train", *DIGITS, *map(str, args), "--out", str(self.out)]
        self._stdout = open(tmp_path / "stdout", "w")
        self._stderr = open(tmp_path / "stderr", "w")
        self.proc = subprocess.Popen(cmd, stdout=self._stdout, stderr=self._stderr, env=env)

    def wait_for(self, what: str, where: str = "stderr", timeout: float = 60) -> None:
        """Until the run's ``where`` file holds ``what`` (or the file ``what`` exists)."""
        deadline = time.monotonic() + timeout
        while True:
            if where == "file":
                if (self.dir / what).exists():
                    return
            elif what in (self.dir / where).read_text():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended before {what!r}: {self.stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"no {what!r} in {timeout} s")
            time.sleep(0.01)

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def release(self) -> None:
        (self.dir / "go").touch()

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.proc.kill()
            self._stdout.close()
            self._stderr.close()

    @property
    def stdout(self) -> str:
        return (self.dir / "stdout").read_text()

    @property
    def stderr(self) -> str:
        return (self.dir / "stderr").read_text()


def assert_saved(out: Path, status: str = "interrupted") -> dict:
    """The run's files are all there and whole; no temporary file is left."""
    net = load(out / "model.json")
    assert all(np.isfinite(w).all() for w in net.weights)
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == status
    history = json.loads((out / "history.json").read_text())
    assert len(history.get("epoch", [])) == results["epochs_completed"]
    assert json.loads((out / "config.json").read_text())["network"]["sizes"] == [64, 20, 10]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    return results


def _weights(out: Path):
    return load(out / "model.json").weights


# ------------------------------------------------------- SIGTERM and SIGHUP
@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (getattr(signal, "SIGHUP", None), 129)]
)
def test_sigterm_and_sighup_stop_like_the_first_ctrl_c(tmp_path, signum, status):
    if signum is None:
        pytest.skip("no SIGHUP here")
    run = Run(tmp_path, "--epochs", "100000", engine=os.environ.get("NNDL_KERNEL", "auto"))
    run.wait_for("Epoch 1/", "stdout")
    run.send(signum)
    assert run.finish() == status, run.stderr
    name = signal.Signals(signum).name
    assert f"{name}: stopping after this mini-batch" in run.stderr
    assert "Traceback" not in run.stderr
    ckpt = run.out / "checkpoint.npz"
    assert "saved the model and the history of" in run.stderr
    assert f"nndl train --resume {ckpt}" in run.stderr
    results = assert_saved(run.out)
    assert results["epochs_completed"] >= 1 and ckpt.is_file()


def test_a_closed_terminal_stops_the_run_and_keeps_its_files(tmp_path):
    # The run's terminal is a pseudo-terminal; closing its other end hangs it
    # up: the kernel sends SIGHUP, and every later write to it fails.
    import pty

    out = tmp_path / "out"
    args = ["-m", "nndl.cli", "train", *DIGITS, "--epochs", "100000", "--out", str(out)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its controlling terminal
        os.execve(sys.executable, [sys.executable, *args], ENV)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while b"Epoch 1/" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                seen += os.read(fd, 4096)
    finally:
        os.close(fd)
    assert b"Epoch 1/" in seen, seen
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 129
    assert_saved(out)
    assert (out / "checkpoint.npz").is_file()


def test_a_closed_stdout_pipe_stops_the_run_and_keeps_its_files(tmp_path):
    # `nndl train | head -2`: the reader goes, the next line meets a closed pipe (SIGPIPE).
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nndl.cli", "train", *DIGITS, "--epochs", "100000"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout.readline().startswith("Training")
        assert proc.stdout.readline().startswith("Epoch 1/")
        proc.stdout.close()
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 141, stderr
    assert "stdout closed" in stderr and "Traceback" not in stderr
    assert f"nndl train --resume {out / 'checkpoint.npz'}" in stderr
    assert_saved(out)


# --------------------------------------------------- a second signal, at once
@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_in_a_batch_callback_saves_a_run_that_resumes(tmp_path, second):
    straight = tmp_path / "straight"
    ok = Run(straight, "--epochs", "3", "-q")
    assert ok.finish() == 0, ok.stderr
    run = Run(tmp_path, "--epochs", "3", hold="batch", at=150)
    run.wait_for("held", "file")
    run.send(signal.SIGINT)
    run.wait_for("stopping after this mini-batch")
    run.send(second)  # interrupts the waiting callback at once
    assert run.finish() == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert "saved the model and the history of" in run.stderr
    assert_saved(run.out)
    ckpt = run.out / "checkpoint.npz"
    assert f"nndl train --resume {ckpt}" in run.stderr
    resumed = Run(tmp_path / "resumed", "--resume", ckpt, "-q", out=run.out)
    assert resumed.finish() == 0, resumed.stderr
    assert json.loads((run.out / "results.json").read_text())["status"] == "complete"
    for a, b in zip(_weights(straight / "out"), _weights(run.out), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("checkpoint_every", [None, "1"])
def test_a_second_signal_in_the_middle_of_a_mini_batch_saves_the_model(tmp_path, checkpoint_every):
    args = ["--epochs", "5"] + (
        ["--checkpoint-every", checkpoint_every] if checkpoint_every else []
    )
    run = Run(tmp_path, *args, hold="update", at=150)  # in epoch 2
    run.wait_for("held", "file")
    run.send(signal.SIGINT)
    run.wait_for("stopping after this mini-batch")
    run.send(signal.SIGINT)  # interrupts the update at once
    assert run.finish() == 130, run.stderr
    err = run.stderr
    assert "Traceback" not in err
    assert "stopped at once in epoch 2" in err and "saved the model as it was" in err
    results = assert_saved(run.out)
    assert results["stopped"]["epoch"] == 2 and results["stopped"]["partial_mini_batch"]
    ckpt = run.out / "checkpoint.npz"
    if checkpoint_every:
        # The checkpoint of epoch 1 stays: the way on from it is named.
        assert f"nndl train --resume {ckpt}" in err
        assert "the last checkpoint" in err
    else:
        assert not ckpt.exists() and "no checkpoint" in err


# ------------------------------------------------------- signals while saving
def test_ctrl_c_again_while_the_model_is_saved_still_leaves_the_model(tmp_path):
    run = Run(tmp_path, "--epochs", "100000", hold="save")
    run.wait_for("Epoch 1/", "stdout")
    run.send(signal.SIGINT)
    run.wait_for("held", "file")  # saving the model now
    for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):
        run.send(signum)
        time.sleep(0.05)
    run.release()
    assert run.finish() == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert "saving the run's files first" in run.stderr
    assert "saved the model and the history of" in run.stderr
    assert_saved(run.out)
    assert (run.out / "checkpoint.npz").is_file()


def test_sigterm_while_a_complete_run_is_saved_still_leaves_the_model(tmp_path):
    run = Run(tmp_path, "--epochs", "2", "--plot", hold="save")
    run.wait_for("held", "file")
    run.send(signal.SIGTERM)
    time.sleep(0.05)
    run.release()
    assert run.finish() == 143, run.stderr
    assert "Traceback" not in run.stderr
    assert "SIGTERM while saving" in run.stderr
    results = assert_saved(run.out, status="complete")
    assert results["epochs_completed"] == 2
    assert not (run.out / "curves.png").exists()  # the optional outputs are skipped


def test_signals_held_records_them_and_acts_after_the_block(tmp_path):
    # In-process, with real signals: the block runs to its end, then the first
    # signal acts as it would have (SIGINT: a KeyboardInterrupt).
    with pytest.raises(KeyboardInterrupt), signals_held() as received:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handlers have run by now
        atomic_write_text(tmp_path / "a.txt", "whole")
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert (tmp_path / "a.txt").read_text() == "whole"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# ------------------------------------------------ temporary files of killed writers
WRITER = """\
import sys, time
from nndl._io import atomic_write
with atomic_write(sys.argv[1]) as fh:
    fh.write(b"x" * 1000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def _writer(path: Path) -> subprocess.Popen:
    """A process in the middle of writing ``path`` (its temporary file exists)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "writing\n"
    return proc


def _temps(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(".tmp")}


def test_the_next_write_removes_a_killed_writers_temp_file_not_a_live_ones(tmp_path):
    path = tmp_path / "model.json"
    killed = _writer(path)
    (stale,) = _temps(tmp_path)
    assert f".{killed.pid}." in stale  # the writer's process is in the name
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live = _writer(path)
    try:
        (live_temp,) = _temps(tmp_path) - {stale}
        other = _writer(tmp_path / "other.json")  # another file's: not this write's business
        other.send_signal(signal.SIGKILL)
        other.wait()
        (other_temp,) = _temps(tmp_path) - {stale, live_temp}
        atomic_write_text(path, "new")
        assert path.read_text() == "new"
        assert _temps(tmp_path) == {live_temp, other_temp}
        assert remove_stale_temp_files(tmp_path) == [tmp_path / other_temp]
        assert _temps(tmp_path) == {live_temp}
    finally:
        live.kill()
        live.wait()


def test_temp_files_whose_writer_cannot_be_asked_go_only_when_old(tmp_path):
    # One of an older nndl (no process in its name) and one of another machine.
    old = tmp_path / ".model.json.abcd1234.tmp"
    remote = tmp_path / ".model.json.elsewhere-host.1.abcd1234.tmp"
    unrelated = tmp_path / ".notes.abcd1234.tmp"
    for p in (old, remote, unrelated):
        p.write_text("x")
    atomic_write_text(tmp_path / "model.json", "1")
    assert _temps(tmp_path) == {old.name, remote.name, unrelated.name}
    long_ago = time.time() - STALE_SECONDS - 60
    for p in (old, remote, unrelated):
        os.utime(p, (long_ago, long_ago))
    atomic_write_text(tmp_path / "model.json", "2")
    assert _temps(tmp_path) == {unrelated.name}


def test_nndl_train_removes_killed_writers_temp_files_in_its_out_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    killed = _writer(out / "curves.png")  # a file this run (--no-plot) does not write
    (stale,) = _temps(out)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    run = Run(tmp_path, "--epochs", "1", "-q")
    assert run.finish() == 0, run.stderr
    assert not (out / stale).exists()
    assert_saved(out, status="complete")


# ------------------------------------------- every other command: as on Ctrl-C
def _nndl(tmp_path, *args, preexec_fn=None) -> subprocess.Popen:
    """``nndl ARGS`` in a subprocess, its output in tmp_path/stdout and tmp_path/stderr."""
    with (tmp_path / "stdout").open("w") as out, (tmp_path / "stderr").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "nndl.cli", *map(str, args)],
            stdout=out,
            stderr=err,
            env=ENV,
            preexec_fn=preexec_fn,
        )


def _wait_for(proc, path: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text():
        assert proc.poll() is None, path.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s"
        time.sleep(0.01)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (getattr(signal, "SIGHUP", None), 129)]
)
def test_sigterm_and_sighup_stop_an_experiment_run_and_keep_what_finished(
    tmp_path, jobs, signum, status
):
    if signum is None:
        pytest.skip("no SIGHUP here")
    out = tmp_path / "out"
    stderr = tmp_path / "stderr"
    proc = _nndl(
        tmp_path,
        *("experiment", "run", "slowdown", "techniques", "--quick", "--data", "digits"),
        *("--jobs", jobs, "--out", out),
    )
    # The first training of `techniques` (of 45) has finished: most are still to come.
    _wait_for(proc, stderr, "[techniques]")
    proc.send_signal(signum)
    assert proc.wait(60) == status, stderr.read_text()
    assert f"nndl: stopped by {signal.Signals(signum).name}" in stderr.read_text()
    # The experiment that finished keeps its results; the stopped one keeps what it had.
    assert json.loads((out / "slowdown" / "results.json").read_text())["checks"]
    stopped = json.loads((out / "techniques" / "results.json").read_text())
    assert "StopSignal" in stopped["error"] or "JobsInterrupted" in stopped["error"], stopped
    assert not [p for p in out.rglob("*.tmp")]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")
def test_a_hangup_that_nohup_ignores_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_interrupt(), stop_signal_handler(lambda *args: None):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGHUP, previous)
    # `nohup nndl ...`: the run goes on through a hang-up and finishes.
    out = tmp_path / "out"
    proc = _nndl(
        tmp_path,
        *("experiment", "run", "learning_rate", "--quick", "--data", "digits", "--jobs", 1),
        *("--out", out),
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    _wait_for(proc, tmp_path / "stderr", "[learning_rate]")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(120) == 0, (tmp_path / "stderr").read_text()
    assert json.loads((out / "learning_rate" / "results.json").read_text())["error"] is None


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_every_seed_of_train_seeds_with_its_own_status(tmp_path, jobs):
    out = tmp_path / "out"
    proc = _nndl(
        tmp_path,
        *("train", "--dataset", "digits", "--epochs", 3000, "--seeds", 2, "--jobs", jobs),
        *("--no-plot", "--out", out),
    )
    _wait_for(proc, tmp_path / "stdout", "Training 2 seeds")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143, (tmp_path / "stderr").read_text()
    assert "nndl: stopped by SIGTERM" in (tmp_path / "stderr").read_text()
    assert json.loads((out / "seeds.json").read_text())["status"] == "interrupted"


def test_sigterm_to_a_search_stops_its_worker_processes_too(tmp_path):
    """SIGTERM reaches only the supervisor (Ctrl-C reaches the whole process group):
    it passes it on, so the workers' long trials do not run on to their end."""
    pytest.importorskip("optuna")
    space = tmp_path / "space.toml"
    space.write_text("[params]\nlearning_rate = [0.5, 1.0]\nepochs = 3000\nhidden_sizes = [10]\n")
    proc = _nndl(
        tmp_path,
        *("search", "--config", space, "--dataset", "digits", "--jobs", 2, "--n-trials", 4),
        *("--no-pruning", "--no-report", "--sampler", "random", "--out", tmp_path / "out"),
    )
    time.sleep(6)  # the workers start and take their first trials
    assert proc.poll() is None, (tmp_path / "stderr").read_text()
    proc.send_signal(signal.SIGTERM)
    # Each trial takes about a minute: waiting for them would take far longer.
    assert proc.wait(30) == 143, (tmp_path / "stderr").read_text()
    assert "nndl: stopped by SIGTERM" in (tmp_path / "stderr").read_text()
