"""A whole search from one call: check the inputs, create the study, run its
trials on one or several local worker processes, then report."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .objective import _checked_xy, _n_classes
from .report import SearchResult, _trial_state_counts, report_search
from .space import SearchSpace
from .storage import (
    _make_pruner,
    _optuna_verbosity,
    create_study,
    dashboard_command,
    make_sampler,
    make_storage,
    run_worker,
)
from .workers import WorkerDiedError, run_worker_processes


def _trials_per_worker(n_trials: int | None, workers: int) -> list[int | None]:
    """``n_trials`` shared out as evenly as possible (None: every worker runs until stopped)."""
    if n_trials is None:
        return [None] * workers
    base, rem = divmod(n_trials, workers)
    return [base + (i < rem) for i in range(workers)]


def run_search(
    space,
    train,
    validation,
    *,
    test=None,
    study_name: str = "nndl-search",
    storage=None,
    n_trials: int | None = 20,
    sampler: str = "tpe",
    workers: int = 1,
    seed: int | None = None,
    timeout: float | None = None,
    pruning: bool = True,
    out=None,
    report: bool = True,
    plots: bool = True,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
    verbose: bool = True,
    study_callbacks=(),
    data: dict | None = None,
    tensorboard=None,
) -> SearchResult:
    """Search the space with ``workers`` local processes, then report.

    The study is created once here, before any worker starts. ``n_trials`` is
    the number of trials of this call, spread over its workers (None: until
    ``timeout``, or the grid's end). Several workers need a shared storage: a
    journal file or database URL in ``storage``, or, when ``storage`` is None,
    ``out/study.journal`` is used. Worker ``i`` samples with seed
    ``seed + i``. With ``report`` (the default) the best trial is re-trained
    and the test set evaluated once (:func:`report_search`); ``data`` is the
    data section of the written configuration. With ``tensorboard`` (a
    folder) each trial writes TensorBoard event files to
    ``tensorboard/trial-NNNN``.

    A worker process that dies (killed, out of memory) does not stop the
    others: its running trial is marked failed and queued again up to
    ``max_retry`` times (:mod:`nndl.search.workers`), and the search ends
    as usual, report included, before :class:`WorkerDiedError` is raised
    with the result in its ``result`` attribute.

    Returns
    -------
    SearchResult
    """
    import optuna

    with _optuna_verbosity(verbose):
        space = SearchSpace.from_dict(space)
        train = _checked_xy(train, "train")
        validation = _checked_xy(validation, "validation")
        space.validate(train[0].shape[1], _n_classes(train[1], validation[1]))
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if n_trials is not None and (
            isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0
        ):
            raise ValueError(f"n_trials must be an integer >= 0, got {n_trials!r}")
        if n_trials is None and timeout is None and sampler != "grid":
            raise ValueError("give n_trials or a timeout (only the grid sampler ends by itself)")
        make_sampler(sampler, space, seed)  # refuse a bad sampler before starting anything
        if workers > 1 and storage is None:
            if out is None:
                raise ValueError(
                    "several workers need a shared storage: give storage (a journal "
                    "file or a database URL) or out (for out/study.journal)"
                )
            storage = Path(out) / "study.journal"
        if workers > 1 and not isinstance(storage, (str, os.PathLike)):
            raise ValueError(
                "several workers open the storage themselves: give it as a journal file path or "
                "a database URL, not as a storage object"
            )
        if (
            workers > 1
            and isinstance(storage, str)
            and storage.rstrip("/")
            in (
                "sqlite:",
                "sqlite:///:memory:",
            )
        ):
            raise ValueError(
                f"storage {storage!r} is an in-memory database, which worker processes do not "
                "share: give a journal file or a database file"
            )
        if workers > 1 and isinstance(storage, str) and storage.startswith("sqlite"):
            warnings.warn(
                "SQLite does not handle several writers well: with several workers use a journal "
                "file (one machine) or PostgreSQL/MySQL (several machines)",
                UserWarning,
                stacklevel=3,
            )
        store = make_storage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
        )
        if store is None:
            # In memory, the parent and its (single, in-process) worker share this object.
            store = optuna.storages.InMemoryStorage()
        pruner = _make_pruner(space, pruning)
        study = create_study(study_name, store, space, pruner=pruner)
        worker_kwargs = dict(
            space=space.to_dict(),
            train=train,
            validation=validation,
            study_name=study_name,
            sampler=sampler,
            timeout=timeout,
            pruning=pruning,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
            verbose=verbose,
            tensorboard=tensorboard,
        )
        trials_per_worker = _trials_per_worker(n_trials, workers)
        deaths = []
        if workers == 1:
            # In memory the study object itself must be shared: pass the storage object.
            run_worker(
                **worker_kwargs,
                storage=store,
                n_trials=trials_per_worker[0],
                seed=seed,
                study_callbacks=study_callbacks,
            )
        else:
            deaths = run_worker_processes(
                study,
                [
                    dict(
                        worker_kwargs,
                        storage=os.fspath(storage),
                        n_trials=trials_per_worker[i],
                        seed=None if seed is None else seed + i,
                        study_callbacks=study_callbacks,
                    )
                    for i in range(workers)
                ],
                max_retry=max_retry,
                timeout=timeout,
            )
            study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
        if not report:
            result = SearchResult(
                study_name=study_name,
                storage=None if storage is None else os.fspath(storage),
                counts=_trial_state_counts(study),
                dashboard=dashboard_command(storage),
                dead_workers=[d.describe() for d in deaths],
            )
        else:
            result = report_search(
                study,
                space,
                train,
                validation,
                test=test,
                out=out,
                storage=storage,
                plots=plots,
                data=data,
                dead_workers=[d.describe() for d in deaths],
            )
        if deaths:
            raise WorkerDiedError(deaths, result)
        return result
