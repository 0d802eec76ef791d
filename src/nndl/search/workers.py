"""The local worker processes of a search: start them, watch them, and when one
dies, fail the trial it was running, queue that trial again and start a
worker for the trials it had left.

A journal file has no heartbeat, so nothing else would ever end the trial of
a killed worker: it would stay RUNNING. The search knows its own workers, and
each trial records the process that runs it (user attribute ``worker``), so
the moment a worker process ends with a non-zero status its RUNNING trials
are marked failed and, up to ``max_retry`` times, queued again with the same
parameters (system attributes ``failed_trial`` and ``retry_history``, as
Optuna's heartbeat retry writes them). The other workers run on; a new
worker takes over the dead one's remaining trials, so that the search still
runs the trials it was asked for. A worker that died before it ran a trial
is not replaced (it would die again).

Why not :func:`nndl.jobs.run_jobs`, which runs the other independent
trainings: joblib's loky executor treats a killed worker as a broken pool.
It stops the other workers, their jobs included, and every job not yet
returned fails with ``TerminatedWorkerError``; a search must lose only the
killed worker's trial. So the search supervises its own processes, and takes
the rest from the job layer: ``--jobs`` names the number of workers, and each
worker holds BLAS to one thread with threadpoolctl, as each job does.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import time
from dataclasses import dataclass, field

from .._signals import StopSignal
from .storage import run_worker


@dataclass
class WorkerDeath:
    """A worker process that ended with a non-zero status, and what became of its trials."""

    name: str
    pid: int
    exitcode: int
    failed_trials: list[int] = field(default_factory=list)
    retried_trials: list[int] = field(default_factory=list)
    replaced_by: str | None = None

    def cause(self) -> str:
        if self.exitcode < 0:
            try:
                return f"was killed by {signal.Signals(-self.exitcode).name}"
            except ValueError:
                return f"was killed by signal {-self.exitcode}"
        return f"exited with status {self.exitcode}"

    def describe(self) -> str:
        """One line: the worker, how it ended, its trials, and who took over."""
        text = f"search worker {self.name} (pid {self.pid}) {self.cause()}"
        if self.failed_trials:
            numbers = ", ".join(map(str, self.failed_trials))
            text += f"; its running trial {numbers} was marked failed"
            if self.retried_trials:
                text += " and queued again"
        if self.replaced_by:
            text += f"; {self.replaced_by} took over its remaining trials"
        return text


class WorkerDiedError(RuntimeError):
    """One or more worker processes of a search died; the search itself finished.

    Raised by :func:`~nndl.search.run_search` after the other workers
    finished, the dead workers' trials were failed, retried and made up for,
    and the report was written; ``result`` is that report (a
    :class:`~nndl.search.SearchResult`), ``deaths`` the :class:`WorkerDeath`
    records.
    """

    def __init__(self, deaths: list[WorkerDeath], result=None):
        self.deaths = list(deaths)
        self.result = result
        super().__init__("; ".join(d.describe() for d in self.deaths))


def _retry_trial(study, trial, max_retry: int | None) -> bool:
    """Queue ``trial`` again (WAITING, same parameters) unless it was retried ``max_retry`` times.

    The same bookkeeping as Optuna's heartbeat retry, so that a retry looks
    alike whichever storage it happened on; the ``worker`` attribute of the
    dead process is not carried over.
    """
    import optuna

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if max_retry is not None and len(history) > max_retry:
        return False
    system_attrs = {"failed_trial": trial.number, **trial.system_attrs}
    system_attrs["retry_history"] = history
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "worker"}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
        )
    )
    return True


def _owner(pid: int) -> str:
    """The ``worker`` attribute of the trials of process ``pid`` of this machine."""
    return f"{socket.gethostname()}:{pid}"


def fail_trials_of_dead_worker(study, pid: int, max_retry: int | None) -> tuple[list, list]:
    """Mark failed the RUNNING trials that process ``pid`` of this machine was running.

    Returns the numbers of the trials failed and of those queued again.
    A trial another process finished or failed first (a heartbeat) is left alone.
    """
    import optuna

    failed, retried = [], []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") != _owner(pid):
            continue
        try:
            if not study._storage.set_trial_state_values(
                trial._trial_id, state=optuna.trial.TrialState.FAIL
            ):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)
        if _retry_trial(study, study._storage.get_trial(trial._trial_id), max_retry):
            retried.append(trial.number)
    return failed, retried


def _trials_ended_by(study, pid: int) -> int:
    """How many trials process ``pid`` of this machine ran to an end (any finished state)."""
    return sum(
        t.state.is_finished() and t.user_attrs.get("worker") == _owner(pid)
        for t in study.get_trials(deepcopy=False)
    )


def _worker_main(kwargs: dict) -> None:
    """Entry point of a spawned worker process: :func:`~nndl.search.run_worker`
    with one BLAS thread, as :mod:`nndl.jobs` runs each job.

    threadpoolctl limits the libraries loaded so far; the variables set here
    limit those loaded later, such as SciPy's BLAS, which the compiled
    training loop calls and which a worker may load only in its first trial.
    """
    from ..jobs import BLAS_THREAD_VARIABLES, one_blas_thread

    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = "1"
    try:
        with one_blas_thread():
            run_worker(**kwargs)
    except KeyboardInterrupt:  # Ctrl-C, or passed on by the supervisor: no traceback
        raise SystemExit(130) from None


def _check_threadpoolctl() -> None:
    """Refuse, before any worker starts, a machine where the workers could not limit BLAS."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        raise ImportError(
            "several search workers need threadpoolctl, to give each one BLAS thread: "
            'pip install threadpoolctl (or nndl\'s extra: pip install "nndl[search]")'
        ) from None


def run_worker_processes(
    study, worker_kwargs: list[dict], *, timeout: float | None = None, max_retry: int | None = 3
) -> list[WorkerDeath]:
    """Run one spawned process per entry of ``worker_kwargs`` (arguments of
    :func:`~nndl.search.run_worker`) until all have ended; return the workers that died.

    Each worker holds BLAS to one thread (threadpoolctl), as the job layer's
    workers do. A dead worker's running trials are failed and queued again
    at once (``max_retry`` times at most), and a new worker process takes
    over its remaining trials: those it had not run, the queued one included
    (a killed trial that is not queued again counts as run). ``timeout``
    (seconds from the start) also bounds the new workers.
    """
    _check_threadpoolctl()
    spawn = multiprocessing.get_context("spawn")
    started = time.monotonic()
    running: dict[int, tuple[multiprocessing.process.BaseProcess, dict]] = {}
    deaths: list[WorkerDeath] = []
    n_started = 0

    def start(kwargs: dict) -> str:
        nonlocal n_started
        name = f"nndl-search-{n_started}"
        n_started += 1
        p = spawn.Process(target=_worker_main, args=(kwargs,), name=name)
        p.start()
        running[p.sentinel] = (p, kwargs)
        return name

    for kwargs in worker_kwargs:
        start(kwargs)
    try:
        while running:
            for sentinel in multiprocessing.connection.wait(list(running)):
                p, kwargs = running.pop(sentinel)
                p.join()
                if p.exitcode == 0:
                    continue
                failed, retried = fail_trials_of_dead_worker(study, p.pid, max_retry)
                death = WorkerDeath(p.name, p.pid, p.exitcode, failed, retried)
                deaths.append(death)
                ran = _trials_ended_by(study, p.pid) - len(retried)
                if not ran and not failed:
                    continue  # died before its first trial: a new worker would too
                left_trials = None if kwargs["n_trials"] is None else kwargs["n_trials"] - ran
                left_time = None if timeout is None else timeout - (time.monotonic() - started)
                if left_trials == 0 or (left_time is not None and left_time <= 0):
                    continue
                seed = kwargs.get("seed")
                death.replaced_by = start(
                    dict(
                        kwargs,
                        n_trials=left_trials,
                        timeout=left_time,
                        seed=None if seed is None else seed + len(worker_kwargs),
                    )
                )
    except KeyboardInterrupt as exc:
        _stop_workers([p for p, _ in running.values()], forward=isinstance(exc, StopSignal))
        raise
    return deaths


def _stop_workers(processes, *, forward: bool, grace: float = 30.0) -> None:
    """Stop the workers after this process was interrupted, and wait for them.

    Ctrl-C reaches them too (the terminal signals the whole process group);
    SIGTERM or SIGHUP sent to this process alone (``forward``) is passed on
    as Ctrl-C, so that they stop as on it, failing their running trial.
    A worker still alive after ``grace`` seconds is terminated.
    """
    for p in processes:
        if forward and p.is_alive():
            if os.name == "posix":
                os.kill(p.pid, signal.SIGINT)
            else:
                p.terminate()
    deadline = time.monotonic() + grace
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join()
