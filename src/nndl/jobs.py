"""Independent trainings in parallel: on this machine's cores or on a Dask cluster.

A *job* is a function and its arguments; :func:`run_jobs` runs a list of them
with joblib and returns one :class:`JobResult` per job, in the order the jobs
were given, whatever order they finish in::

    from nndl.jobs import run_jobs

    results = run_jobs([(train_one, (config, seed)) for seed in range(5)], n_jobs=2)
    accuracies = [r.value for r in results if r.ok]

What it guarantees:

- **Processes, one BLAS thread each.** Locally the jobs run in joblib's loky
  worker processes (as scikit-learn's do); inside each job
  ``threadpoolctl.threadpool_limits(1)`` holds BLAS to one thread, so N jobs
  use N cores rather than N times the BLAS threads.
- **Shared, not copied, data.** A NumPy array of more than ``max_nbytes``
  (1 MB) among a job's arguments is written once to a memory-mapped file that
  every worker opens read-only (joblib's automatic memmapping): the job sees
  an ``np.memmap``, not a copy.
- **Results that do not depend on scheduling.** The job layer draws no random
  numbers: a job's seed and data order must come from its arguments (its
  configuration) only, so ``n_jobs=1`` and ``n_jobs=4`` give identical numbers.
- **A failing job is reported alone.** An exception in a job (a training that
  diverged, bad settings) becomes that job's result (``ok`` false, ``error``
  its message) while the others finish.
- **Ctrl-C stops every job and keeps what finished.** A ``KeyboardInterrupt``
  in the calling process stops the workers and raises :class:`JobsInterrupted`
  (a ``KeyboardInterrupt``) whose ``finished`` holds the results of the jobs
  that had finished.

- **Progress from inside a job.** A job may call :func:`report` (e.g. after
  every epoch); with ``on_event`` given, :func:`run_jobs` passes each event
  to it in the calling process while the jobs run, through a local
  connection (an in-process queue at one job). Every event a job sent is
  handed over before that job's ``on_result``.

With a Dask scheduler address (``dask_scheduler=`` or the environment variable
``NNDL_DASK_SCHEDULER``) the same jobs run on that Dask cluster through
joblib's Dask backend; arrays are then sent to the workers instead of memory
mapped. joblib and threadpoolctl come with the ``jobs`` extra
(``pip install "nndl[jobs]"``), Dask with ``dask``.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "DASK_SCHEDULER_ENV",
    "JobResult",
    "JobsInterrupted",
    "dask_scheduler_address",
    "default_n_jobs",
    "one_blas_thread",
    "report",
    "run_jobs",
]

DASK_SCHEDULER_ENV = "NNDL_DASK_SCHEDULER"

#: The environment variables that set the BLAS and OpenMP thread counts of a
#: new process (the jobs themselves are held to one thread by threadpoolctl).
BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(frozen=True)
class JobResult:
    """What one job gave: its return value, or the error that stopped it."""

    index: int
    """The job's position in the list given to :func:`run_jobs`."""
    ok: bool
    value: Any = None
    error: str | None = None
    """``"ExceptionType: message"`` when the job raised, else ``None``."""
    details: str | None = field(default=None, repr=False)
    """The job's traceback when it raised."""
    seconds: float = 0.0
    """How long the job ran, in its worker."""


class JobsInterrupted(KeyboardInterrupt):
    """Ctrl-C while jobs ran: every job was stopped; ``finished`` holds those that ended."""

    def __init__(self, finished: list[JobResult], total: int):
        super().__init__(f"interrupted after {len(finished)} of {total} job(s) finished")
        self.finished = finished
        self.total = total


def default_n_jobs() -> int:
    """The number of cores: one job per core."""
    return os.cpu_count() or 1


def dask_scheduler_address(address: str | None = None) -> str | None:
    """The Dask scheduler to use: ``address`` if given, else ``$NNDL_DASK_SCHEDULER``."""
    if address:
        return address
    return os.environ.get(DASK_SCHEDULER_ENV) or None


def _job_parts(job) -> tuple[Callable, tuple, dict]:
    if callable(job):
        return job, (), {}
    parts = tuple(job)
    if not parts or not callable(parts[0]) or len(parts) > 3:
        raise TypeError(
            "a job is a function, or a tuple (function, args) or (function, args, kwargs)"
        )
    function = parts[0]
    args = tuple(parts[1]) if len(parts) > 1 else ()
    kwargs = dict(parts[2]) if len(parts) > 2 else {}
    return function, args, kwargs


#: While a job runs, in its thread: ``channel``, the queue its events go to and its index.
_job_state = threading.local()


def report(*event) -> None:
    """Send ``event`` (picklable values) from inside a job to :func:`run_jobs`' ``on_event``.

    Does nothing outside a job, or when the caller asked for no events.
    """
    channel = getattr(_job_state, "channel", None)
    if channel is None:
        return
    events, index = channel
    try:
        events.put((index, event))
    except Exception:  # the caller is gone (Ctrl-C): the job itself goes on
        pass


def _have_joblib() -> bool:
    try:
        import joblib  # noqa: F401
    except ImportError:
        return False
    return True


def _load_blas_libraries() -> None:
    """Load the BLAS libraries a training may call: NumPy's, and SciPy's (the compiled
    loop's matrix products), so that a job's limit of one thread reaches them too."""
    import numpy  # noqa: F401

    try:
        import scipy.linalg.blas  # noqa: F401
    except ImportError:  # without SciPy the compiled loop is not used
        pass


@contextlib.contextmanager
def one_blas_thread():
    """Hold NumPy's and SciPy's BLAS (and OpenMP) to one thread while the block runs.

    threadpoolctl limits only the libraries already loaded, so these are
    loaded first. Every job runs in one; so does each worker of a search.
    Without threadpoolctl (one job at a time, without the ``jobs`` extra) it
    limits nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # one job at a time without the jobs extra: nothing to share
        yield
        return
    _load_blas_libraries()
    with threadpool_limits(limits=1):
        yield


def _run_job(index: int, function: Callable, args: tuple, kwargs: dict, events=None) -> JobResult:
    """Run one job in its worker, with one BLAS thread; an exception becomes its result."""
    start = time.perf_counter()
    _job_state.channel = None if events is None else (events, index)
    try:
        with one_blas_thread():
            value = function(*args, **kwargs)
    except Exception as exc:  # the job's failure is its result; the others go on
        return JobResult(
            index,
            False,
            error=f"{type(exc).__name__}: {exc}",
            details=traceback.format_exc(),
            seconds=time.perf_counter() - start,
        )
    finally:
        _job_state.channel = None
    if isinstance(value, float) and not math.isfinite(value):
        return JobResult(
            index,
            False,
            value=value,
            error=f"diverged: the job returned {value}",
            seconds=time.perf_counter() - start,
        )
    return JobResult(index, True, value=value, seconds=time.perf_counter() - start)


def run_jobs(
    jobs: Iterable,
    n_jobs: int | None = None,
    backend: str = "loky",
    *,
    dask_scheduler: str | None = None,
    on_result: Callable[[JobResult, int, int], None] | None = None,
    on_event: Callable[[int, tuple], None] | None = None,
    max_nbytes: str | int | None = "1M",
    costs: Sequence[float] | None = None,
) -> list[JobResult]:
    """Run independent jobs in parallel and return their results in the jobs' order.

    ``jobs``: functions, or tuples ``(function, args)`` / ``(function, args,
    kwargs)``; functions and arguments must be picklable (module-level
    functions). ``n_jobs``: worker processes (default: the number of cores;
    1 runs the jobs one after another in this process). ``backend``: a joblib
    backend name (``"loky"``, ``"threading"``, ...). ``dask_scheduler``: run
    on this Dask cluster instead (default ``$NNDL_DASK_SCHEDULER``).
    ``on_result(result, done, total)`` is called in this process as each job
    finishes (in finishing order), e.g. to show progress.
    ``on_event(index, event)`` is called in this process (from a listener
    thread, or before ``on_result`` of that job) for every :func:`report` of
    job ``index``, in the order the job sent them; on a Dask cluster jobs
    cannot reach this process and no events come. ``costs``: each job's
    expected work in any unit; workers then take the costliest jobs first, so
    that a long job does not start last while the others idle (jobs one at a
    time in this process run in the order given). Neither changes the results
    or their order.

    A job that raises gives a result with ``ok`` false; a ``float`` result
    that is NaN or infinite (a diverged training) likewise. Ctrl-C raises
    :class:`JobsInterrupted` with the finished results.
    """
    work: Sequence = [_job_parts(job) for job in jobs]
    total = len(work)
    if total == 0:
        return []
    n_jobs = default_n_jobs() if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    if costs is not None and len(costs) != total:
        raise ValueError(f"costs has {len(costs)} entries for {total} jobs: give one per job")
    address = dask_scheduler_address(dask_scheduler)
    workers = min(n_jobs, total)
    if workers > 1 and address is None and not _have_joblib():
        warnings.warn(
            f"joblib is not installed: the {total} jobs run one at a time in this process "
            '(the same results); pip install "nndl[jobs]" to run them at once',
            stacklevel=2,
        )
        workers = 1
    listener = None if on_event is None or address is not None else _Listener(on_event, workers)
    events = None if listener is None else listener.channel
    finished: dict[int, JobResult] = {}

    def collect(results) -> None:
        for result in results:
            if listener is not None:
                listener.drain()  # the job's own events first
            finished[result.index] = result
            if on_result is not None:
                on_result(result, len(finished), total)

    try:
        if address is None and workers == 1:
            # One at a time, in this process: joblib is not needed.
            collect(_run_job(i, f, a, k, events) for i, (f, a, k) in enumerate(work))
        else:
            from joblib import delayed

            # Costliest first (a stable sort: equal costs keep their order).
            order = range(total) if costs is None else sorted(range(total), key=lambda i: -costs[i])
            calls = (delayed(_run_job)(i, *work[i], events) for i in order)
            if address is not None:
                _run_on_dask(address, calls, collect)
            else:
                from joblib import Parallel

                parallel = Parallel(
                    n_jobs=workers,
                    backend=backend,
                    return_as="generator_unordered",
                    max_nbytes=max_nbytes,
                )
                with warnings.catch_warnings():
                    # On Ctrl-C joblib warns that it cancelled the running tasks: the point.
                    warnings.filterwarnings(
                        "ignore", message=".*still being processed by the workers"
                    )
                    results = parallel(calls)
                    try:
                        collect(results)
                    finally:
                        results.close()  # after Ctrl-C: stops the workers, warning filtered
    except KeyboardInterrupt as exc:
        # Leaving the generator has stopped the workers (joblib aborts the rest).
        done = [finished[i] for i in sorted(finished)]
        raise JobsInterrupted(done, total) from exc
    finally:
        if listener is not None:
            listener.close()
    return [finished[i] for i in range(total)]


class _Listener:
    """Hands the events that jobs :func:`report` to ``on_event``, in this process.

    A thread takes them from the queue as they come; :meth:`drain` takes what
    is queued at once (before a job's result is handed over). One job at a
    time runs in this process and puts its events straight on a plain queue;
    worker processes send theirs through an :class:`_EventChannel`.
    """

    def __init__(self, on_event: Callable[[int, tuple], None], workers: int):
        import queue

        self.on_event = on_event
        self.queue = queue.Queue()
        self.server = _EventServer(self.queue) if workers > 1 else None
        self.channel = self.queue if self.server is None else self.server.channel
        self._empty = queue.Empty
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="nndl-job-events", daemon=True)
        self._thread.start()

    def _take(self, timeout: float | None) -> bool:
        """Hand over one event; False when none came."""
        try:
            index, event = self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
        except self._empty:
            return False
        self.on_event(index, event)
        return True

    def _listen(self) -> None:
        while not self._stop.is_set():
            self.drain()
            self._stop.wait(0.05)

    def drain(self) -> None:
        with self._lock:
            while self._take(None):
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.server is not None:
            self.server.close()
        self.drain()


class _EventServer:
    """Receives the jobs' events over local connections and puts them on ``queue``.

    A :class:`multiprocessing.connection.Listener` (a Unix socket, a named
    pipe on Windows) with a random key: no process is started, so nothing
    forks while this process has threads (which Python 3.12 and later warn
    about, and which can deadlock), and a script without an ``if __name__ ==
    "__main__"`` guard is not run again. Each event is acknowledged, so that
    when a job's result arrives every event it sent is already on the queue.
    One thread accepts connections, one reads them all.
    """

    def __init__(self, queue):
        from multiprocessing.connection import Listener

        self.queue = queue
        authkey = os.urandom(32)
        # A deep backlog: where a full one refuses a connection at once (macOS),
        # a worker connecting while others do would lose its events.
        self._listener = Listener(authkey=authkey, backlog=64)
        self.channel = _EventChannel(self._listener.address, authkey)
        self._closed = threading.Event()
        self._connections: list = []
        self._threads = [
            threading.Thread(target=self._accept, name="nndl-job-connections", daemon=True),
            threading.Thread(target=self._read, name="nndl-job-events-in", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except Exception:  # a failed handshake: a stranger, a worker killed mid-way, close()
                if self._closed.is_set():
                    return
                time.sleep(0.01)  # never a busy loop, whatever went wrong
                continue
            if self._closed.is_set():
                connection.close()
                return
            self._connections.append(connection)

    def _read(self) -> None:
        import pickle
        from multiprocessing.connection import wait

        while not self._closed.is_set():
            for connection in wait(list(self._connections), timeout=0.05):
                try:
                    data = connection.recv_bytes()
                except (EOFError, OSError):  # that worker went away
                    self._connections.remove(connection)
                    connection.close()
                    continue
                try:
                    self.queue.put(pickle.loads(data))
                except Exception:  # an event that cannot be rebuilt here is dropped
                    pass
                try:
                    connection.send(True)  # always: the worker waits for it
                except OSError:
                    self._connections.remove(connection)
                    connection.close()
            if not self._connections:
                self._closed.wait(0.05)

    def close(self) -> None:
        """Stop accepting and reading; the events received so far stay on the queue."""
        self._closed.set()
        _wake(self._listener.address)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        for connection in self._connections:
            connection.close()


def _wake(address) -> None:
    """Connect to ``address`` and leave at once, so that a thread blocked in the
    listener's ``accept()`` returns (its handshake fails; it sees it is closed).

    A plain Unix socket where there is one: it never waits for the handshake,
    which the accepting thread may not answer any more. Elsewhere (a named
    pipe on Windows) a connection is opened from a daemon thread, for the same
    reason.
    """
    from multiprocessing.connection import Client, address_type

    if address_type(address) == "AF_UNIX":
        import socket

        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
        return

    def connect() -> None:
        with contextlib.suppress(Exception):
            Client(address).close()

    threading.Thread(target=connect, name="nndl-job-wake", daemon=True).start()


@dataclass(frozen=True)
class _EventChannel:
    """Where a job in a worker process sends its events: picklable, connects on first use."""

    address: Any
    authkey: bytes = field(repr=False)

    def put(self, item) -> None:
        connection = _event_connections.get(self)
        if connection is None:
            from multiprocessing.connection import Client

            _event_connections.close()  # a previous run's, if this worker served one
            connection = Client(self.address, authkey=self.authkey)
            _event_connections.set(self, connection)
        connection.send(item)
        connection.recv()  # the acknowledgement: the event is on the caller's queue


class _ConnectionCache(threading.local):
    """A worker's connection to the current run's :class:`_EventServer` (one per thread)."""

    channel: _EventChannel | None = None
    connection: Any = None

    def get(self, channel: _EventChannel):
        return self.connection if self.channel == channel else None

    def set(self, channel: _EventChannel, connection) -> None:
        self.channel, self.connection = channel, connection

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.channel = self.connection = None


_event_connections = _ConnectionCache()


def _run_on_dask(address: str, calls, collect) -> None:
    """Run the calls on the Dask cluster at ``address`` through joblib's Dask backend."""
    try:
        from distributed import Client
    except ImportError as exc:  # an optional dependency
        raise RuntimeError(
            'running jobs on Dask needs dask.distributed: pip install "nndl[dask]"'
        ) from exc
    from joblib import Parallel, parallel_config

    with Client(address) as client, parallel_config(backend="dask", client=client):
        collect(Parallel(n_jobs=-1, return_as="generator_unordered")(calls))
