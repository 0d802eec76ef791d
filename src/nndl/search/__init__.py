"""Automated hyper-parameter search on Optuna, from one laptop to many machines.

Grid search, random search (Bergstra and Bengio 2012) and Bayesian
optimization (Optuna's TPE; a Gaussian-process sampler where Optuna and
PyTorch provide it) over any training option, with poor trials pruned from
their per-epoch validation accuracy. Selection uses the validation data only:
the objective of a trial is the validation accuracy of the network its
configuration produces (the last epoch's, or the restored best one under
early stopping); the test set is evaluated once, for the best trial, by
:func:`report_search`, and reported apart.

The search space
----------------
A JSON or TOML document (or a dict) with a ``params`` table. Each entry is an
option of ``nndl train`` and either a fixed value or a distribution::

    [params]
    learning_rate = {type = "float", low = 0.01, high = 10.0, log = true}
    l2 = {type = "float", low = 0.1, high = 100.0, log = true}
    mini_batch_size = [10, 20, 50]          # a list: categorical choices
    hidden_sizes = [[30], [100], [30, 30]]  # choices of hidden layers
    hidden_activation = ["sigmoid", "relu"]
    epochs = 5                               # a plain value: fixed

    [pruning]                                # optional: MedianPruner settings
    n_startup_trials = 5
    n_warmup_steps = 1

Distributions: ``{"type": "float", "low", "high", "log"?, "step"?}``,
``{"type": "int", "low", "high", "log"?, "step"?}``,
``{"type": "categorical", "choices": [...]}``; any of them may give
``"grid": [...]``, the values the grid sampler visits (int and categorical
ranges are enumerated by themselves; a continuous float needs ``grid`` or
``step``). The options: see :data:`OPTIONS`.

Storage
-------
``storage=None`` keeps the study in memory (one process). A file path (or
``journal:PATH``) is an Optuna journal file, safe for several processes on
one machine. A database URL (``postgresql://user@host/db``,
``mysql://...``) lets workers on several machines share the study; each runs
the same command (``nndl search --study NAME --storage URL``). Database
workers send a heartbeat: the trial of a worker that was killed is marked
failed after ``grace_period`` seconds and retried up to ``max_retry`` times.
The local workers of :func:`run_search` are also watched by the process that
started them, on any storage (a journal file has no heartbeat): the trial of
one that dies is marked failed and retried at once, the others run on, a new
worker takes over its remaining trials, and :class:`WorkerDiedError` is
raised once the report is written. A journal file's lock left by a killed
worker is freed at once (:mod:`~nndl.search.journal`). SQLite URLs
work for one process only (a warning is given otherwise). Any other storage
is refused with one line listing the forms above (:data:`STORAGE_FORMS`).

Watch a study live with optuna-dashboard (``pip install optuna-dashboard``)::

    optuna-dashboard postgresql://user@host/db     # or: optuna-dashboard study.journal

Several local worker processes need the usual ``if __name__ == "__main__":``
guard in a script, since they are started with the "spawn" method.

The package, one module per concern: :mod:`~nndl.search.space` (the options
and their distributions), :mod:`~nndl.search.objective` (training one trial),
:mod:`~nndl.search.storage` (storages, samplers, studies and workers),
:mod:`~nndl.search.report` (the best trial, the test set, the files),
:mod:`~nndl.search.journal` (the journal file and its lock),
:mod:`~nndl.search.workers` (local worker processes, and the trials of one
that died) and :mod:`~nndl.search.runner` (:func:`run_search`, all of it
from one call).
"""

from .objective import METRIC, Objective, PruningCallback, train_with_options
from .report import SearchResult, report_search, write_trials_csv
from .runner import run_search
from .space import OPTIONS, ParamSpec, SearchSpace, best_config, build_configs
from .storage import (
    SAMPLERS,
    STORAGE_FORMS,
    create_study,
    dashboard_command,
    make_sampler,
    make_storage,
    run_worker,
)
from .workers import WorkerDiedError

__all__ = [
    "METRIC",
    "OPTIONS",
    "SAMPLERS",
    "STORAGE_FORMS",
    "Objective",
    "ParamSpec",
    "PruningCallback",
    "SearchResult",
    "SearchSpace",
    "WorkerDiedError",
    "best_config",
    "build_configs",
    "create_study",
    "dashboard_command",
    "make_sampler",
    "make_storage",
    "report_search",
    "run_search",
    "run_worker",
    "train_with_options",
    "write_trials_csv",
]
