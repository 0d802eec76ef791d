"""Where a study lives and who runs its trials: storages (memory, journal
file, database), samplers, the pruner, creating or joining a study, and the
worker that runs trials (in this process or in spawned ones)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import time
import warnings
from pathlib import Path

from .journal import journal_storage, make_folder
from .objective import METRIC, Objective
from .space import SearchSpace

#: Sampler names accepted by :func:`make_sampler`.
SAMPLERS = ("grid", "random", "tpe", "gp")


#: The storage locations accepted, as error messages list them.
STORAGE_FORMS = (
    "a journal file path (study.journal) or a database URL: postgresql://user@host/db, "
    "mysql+pymysql://user@host/db or sqlite:///path/to/study.db"
)

#: How to install each database driver (SQLAlchemy's driver names).
_DRIVER_INSTALL = {
    "psycopg": 'pip install "psycopg[binary]" (or nndl\'s extra: pip install "nndl[postgres]")',
    "psycopg2": "pip install psycopg2-binary, or write postgresql:// to use psycopg 3",
    "mysqldb": "pip install mysqlclient, or write mysql+pymysql:// after pip install pymysql",
    "pymysql": "pip install pymysql",
}


def _is_database_url(storage: str) -> bool:
    """A database URL (``postgresql://...``), as opposed to a journal file path."""
    return "://" in storage


def _database_url(text: str):
    """``text`` parsed as a SQLAlchemy URL whose database and driver are there, or a one-line error.

    Returns the URL and how to show it (password hidden). A SQLite file's
    folder is created, as a journal file's is.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(text)
    except ArgumentError:
        raise ValueError(f"storage {text!r} is not a database URL; give {STORAGE_FORMS}") from None
    shown = url.render_as_string(hide_password=True) if url.password else text
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"storage {shown!r}: unknown database {url.drivername!r}; give {STORAGE_FORMS}"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        how = _DRIVER_INSTALL.get(dialect.driver, f"install the Python package of {dialect.driver}")
        raise ImportError(
            f"storage {shown!r} needs the database driver {dialect.driver!r}, which is not "
            f"installed ({exc}): {how}"
        ) from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(url.database).parent
        try:
            make_folder(folder)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(
                f"storage {shown!r}: cannot create its folder {folder}: {reason}"
            ) from None
    return url, shown


def make_storage(
    storage=None,
    *,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
):
    """An Optuna storage from a location.

    Parameters
    ----------
    storage : None, str, os.PathLike or an Optuna storage
        ``None``: in memory (returned as None: Optuna's default). A database
        URL (``postgresql://...``, ``mysql://...``, ``sqlite:///...``): an
        RDBStorage with a heartbeat every ``heartbeat_interval`` seconds; a
        trial whose worker stops beating for ``grace_period`` seconds (default
        2 * heartbeat_interval) is marked failed and retried up to
        ``max_retry`` times. Anything else is a journal file path (optionally
        prefixed ``journal:``), created if missing.

    A location that cannot be used is refused with one line: an unknown
    database or a URL that does not parse (ValueError, listing
    :data:`STORAGE_FORMS`), a database driver that is not installed
    (ImportError, saying what to install), a server that cannot be reached
    (ConnectionError), a journal file or SQLite folder that cannot be
    written (OSError).
    """
    import optuna

    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be a URL or a file path, got {type(storage).__name__}")
    text = os.fspath(storage)
    if not text.strip():
        raise ValueError("storage is empty: give a journal file path or a database URL")
    if not _is_database_url(text):
        path = text[len("journal:") :] if text.startswith("journal:") else text
        if not path.strip():
            raise ValueError(f"storage {text!r} names no journal file; give {STORAGE_FORMS}")
        return journal_storage(path)
    import inspect

    from optuna.exceptions import ExperimentalWarning
    from sqlalchemy.exc import SQLAlchemyError

    _, shown = _database_url(text)

    heartbeat_interval = int(heartbeat_interval)
    grace = int(grace_period) if grace_period is not None else 2 * heartbeat_interval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        params = inspect.signature(optuna.storages.RDBStorage).parameters
        if retry_cls is not None and "heartbeat_stale_trial_callback" in params:
            retry = {"heartbeat_stale_trial_callback": retry_cls(max_retry=max_retry)}
        else:  # Optuna < 4.9
            retry = {
                "failed_trial_callback": optuna.storages.RetryFailedTrialCallback(
                    max_retry=max_retry
                )
            }
        engine_kwargs = {} if text.startswith("sqlite") else {"pool_pre_ping": True}
        try:
            return optuna.storages.RDBStorage(
                text,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace,
                **retry,
            )
        except SQLAlchemyError as exc:
            # The driver's own message (connection refused, no such database,
            # authentication failed), without SQLAlchemy's statement and link.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ConnectionError(f"cannot open storage {shown!r}: {reason}") from None


def make_sampler(name: str, space: SearchSpace, seed: int | None = None):
    """An Optuna sampler by name: ``grid``, ``random``, ``tpe`` or ``gp``.

    TPE runs with ``constant_liar`` so that parallel workers do not all pick
    the same promising point. ``gp`` (Gaussian-process Bayesian optimization)
    needs PyTorch.
    """
    import optuna
    from optuna.exceptions import ExperimentalWarning

    key = str(name).strip().lower()
    if key == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if key == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if key == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if key == "gp":
        if not hasattr(optuna.samplers, "GPSampler"):
            raise ValueError("the gp sampler needs Optuna >= 3.6; use tpe")
        if importlib.util.find_spec("torch") is None:
            raise ValueError("the gp sampler needs PyTorch (pip install torch); use tpe instead")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; expected one of {list(SAMPLERS)}")


def _make_pruner(space: SearchSpace, pruning: bool):
    import optuna

    if not pruning:
        return optuna.pruners.NopPruner()
    settings = {"n_startup_trials": 5, "n_warmup_steps": 1, **space.pruning}
    return optuna.pruners.MedianPruner(**settings)


def create_study(study_name: str, storage, space, *, sampler=None, pruner=None):
    """Create the study, or load it when it exists, and check it matches ``space``.

    The search space is stored with the study (user attribute
    ``nndl_space``), so a worker started with another space is refused
    instead of silently mixing two searches. Concurrent calls are safe:
    Optuna's ``load_if_exists`` resolves the race.
    """
    import optuna

    if not isinstance(study_name, str) or not study_name.strip():
        raise ValueError(f"study_name must be a non-empty string, got {study_name!r}")
    space = SearchSpace.from_dict(space)
    for attempt in range(5):
        try:
            study = optuna.create_study(
                study_name=study_name,
                storage=make_storage(storage),
                direction="maximize",
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
            break
        except Exception as exc:
            # Workers started together on a fresh database race to create its
            # tables and the study; the loser sees an integrity error and
            # simply loads what the winner made on the next attempt.
            if attempt == 4 or not type(exc).__module__.startswith("sqlalchemy"):
                raise
            time.sleep(0.2 * (attempt + 1) * (1 + random.random()))
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(
            f"study {study_name!r} exists and minimizes; nndl studies maximize "
            f"{METRIC}: use another study name"
        )
    mine = json.dumps(space.to_dict(), sort_keys=True)
    stored = study.user_attrs.get("nndl_space")
    if stored is None:
        study.set_user_attr("nndl_space", space.to_dict())
    elif json.dumps(stored, sort_keys=True) != mine:
        raise ValueError(
            f"study {study_name!r} exists with a different search space; use "
            "another study name or the same space file"
        )
    return study


def dashboard_command(storage) -> str | None:
    """The shell command that opens optuna-dashboard on a storage (None in memory)."""
    if storage is None or not isinstance(storage, (str, os.PathLike)):
        return None
    text = os.fspath(storage)
    if not _is_database_url(text) and text.startswith("journal:"):
        text = text[len("journal:") :]
    return f"optuna-dashboard {text}"


@contextlib.contextmanager
def _optuna_verbosity(verbose: bool):
    """Optuna's log level for the duration of a search: INFO if verbose, else WARNING."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def run_worker(
    space,
    train,
    validation,
    *,
    study_name: str,
    storage=None,
    n_trials: int | None = 10,
    sampler: str = "tpe",
    seed: int | None = None,
    timeout: float | None = None,
    pruning: bool = True,
    callbacks=(),
    study_callbacks=(),
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
    verbose: bool = True,
    tensorboard=None,
):
    """Run trials of one study in this process; return the study.

    Start the same call on as many processes or machines as wanted, with a
    shared ``storage``: each creates-or-loads the study and runs ``n_trials``
    trials (or until ``timeout`` seconds, or until the grid is exhausted).
    Give each worker its own ``seed`` (or None) so they sample different
    points. ``callbacks`` are extra training callbacks; ``study_callbacks``
    Optuna callbacks ``f(study, frozen_trial)`` run after each trial;
    ``tensorboard`` a folder for TensorBoard event files, one run per trial.

    Every exception inside a trial fails that trial only (``catch``); a
    killed worker's trial is failed and retried by the storage's heartbeat
    (database storages), or at once by the process that started the worker
    (:func:`~nndl.search.run_search`, any storage).
    """
    with _optuna_verbosity(verbose):
        space = SearchSpace.from_dict(space)
        objective = Objective(
            space, train, validation, pruning=pruning, callbacks=callbacks, tensorboard=tensorboard
        )
        store = make_storage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
        )
        study = create_study(
            study_name,
            store,
            space,
            sampler=make_sampler(sampler, space, seed),
            pruner=_make_pruner(space, pruning),
        )
        if n_trials is None or n_trials > 0:
            study.optimize(
                objective,
                n_trials=n_trials,
                timeout=timeout,
                catch=(Exception,),
                callbacks=list(study_callbacks),
                gc_after_trial=False,
            )
        return study
