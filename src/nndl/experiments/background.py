"""Slow independent work in a second process: the SVM baseline of ``more_data``.

``run all`` starts the SVM fits first (:func:`start_background`), so that they
use a core of their own while the other experiments train; the experiment
that needs them takes the job (:func:`take_background`) and waits for its
result. Jobs nobody took are stopped at the end (:func:`cancel_background`).
A background process counts as one of the run's ``--jobs``: while one is at
work the trainings run on the cores it leaves (:func:`background_running`),
taking its core back as soon as it has finished, and with ``--jobs 1`` the
SVM fits run in the experiment itself instead.

A job is a module-level function of ours, called with JSON-able keyword
arguments, returning something JSON-able. The second process is a plain
subprocess, :mod:`~nndl.experiments.background_worker`::

    python -m nndl.experiments.background_worker MODULE:FUNCTION KWARGS_AS_JSON

which imports the function, calls it and writes its result as JSON on the
last line of its output. Nothing is pickled, the caller's ``__main__`` is
never re-imported, and a job can be stopped by its own process id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

from ..jobs import BLAS_THREAD_VARIABLES

__all__ = [
    "BackgroundJob",
    "background_running",
    "cancel_background",
    "start_background",
    "take_background",
]

#: The module the second process runs (``python -m``). Nothing imports it, so
#: that ``python -m`` runs it fresh rather than as a second copy.
WORKER_MODULE = "nndl.experiments.background_worker"

#: How the worker marks a warning on its standard error.
WARNING_PREFIX = "background job warning: "


def _import_path(function: Callable) -> str:
    """``"module:function"`` for a function that a new process can import."""
    module, name = function.__module__, function.__qualname__
    if module == "__main__" or not name.isidentifier():
        raise ValueError(
            f"a background job runs a module-level function that a new process can import, "
            f"got {function!r}"
        )
    return f"{module}:{name}"


class BackgroundJob:
    """A function of ours run in a separate Python process, its result read as JSON.

    Parameters
    ----------
    function : callable
        A module-level function (not a lambda, method or function of ``__main__``).
    kwargs : dict
        Its keyword arguments, JSON-able; it returns something JSON-able.
    """

    def __init__(self, function: Callable, kwargs: dict):
        self.target = _import_path(function)
        self.started = time.perf_counter()
        #: The warnings the function gave, as "Category: message" (after :meth:`result`).
        self.warnings: list[str] = []
        # One BLAS thread, as every job of nndl.jobs: it runs beside them.
        env = dict(os.environ)
        for name in BLAS_THREAD_VARIABLES:
            env[name] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, self.target, json.dumps(kwargs)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self):
        """Wait for the process; its return value, or a RuntimeError with its stderr.

        The warnings the function gave are in :attr:`warnings` afterwards.
        """
        out, err = self.proc.communicate()
        self.warnings = [
            line.removeprefix(WARNING_PREFIX)
            for line in err.splitlines()
            if line.startswith(WARNING_PREFIX)
        ]
        if self.proc.returncode != 0:
            raise RuntimeError(
                f"background job {self.target} failed (exit {self.proc.returncode}): "
                f"{err.strip()[-1500:]}"
            )
        return json.loads(out.strip().splitlines()[-1])

    def running(self) -> bool:
        """Whether its process is still at work."""
        return self.proc.poll() is None

    def cancel(self) -> None:
        """Stop the process if it still runs (it is ours: killed by its own id)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


_JOBS_BY_KEY: dict[str, BackgroundJob] = {}


#: The jobs taken by an experiment that still waits for them (they keep a core busy).
_TAKEN: list[BackgroundJob] = []


def background_running() -> int:
    """How many background processes are at work now (started, taken or not)."""
    _TAKEN[:] = [job for job in _TAKEN if job.running()]
    return sum(job.running() for job in _JOBS_BY_KEY.values()) + len(_TAKEN)


def start_background(key: str, function: Callable, kwargs: dict) -> BackgroundJob:
    """Start a job once per key (``run all`` starts slow jobs early; the experiment takes them)."""
    if key not in _JOBS_BY_KEY:
        _JOBS_BY_KEY[key] = BackgroundJob(function, kwargs)
    return _JOBS_BY_KEY[key]


def take_background(key: str) -> BackgroundJob | None:
    """The job started under ``key``, removed from the pool, or None."""
    job = _JOBS_BY_KEY.pop(key, None)
    if job is not None:
        _TAKEN.append(job)
    return job


def cancel_background() -> None:
    """Stop every job nobody took (a run that failed or was interrupted)."""
    while _JOBS_BY_KEY:
        _, job = _JOBS_BY_KEY.popitem()
        job.cancel()
    _TAKEN.clear()
