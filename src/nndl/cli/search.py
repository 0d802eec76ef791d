"""``nndl search``: a hyper-parameter search with Optuna (:mod:`nndl.search`).

Optuna and the data are imported inside the command, so it costs nothing
at start-up.
"""

from __future__ import annotations

import click

from .errors import report_errors
from .params import tensorboard_option
from .trial_data import data_options, load_reduced_data

__all__ = ["EXIT_WORKER_DIED", "search"]

#: Exit status of a search that finished, report written, after a worker process died.
EXIT_WORKER_DIED = 3


class WorkerDied(click.ClickException):
    """The one line (and exit status 3) of a search during which a worker process died."""

    exit_code = EXIT_WORKER_DIED


def _print_trial(study, trial) -> None:
    """Optuna callback: one line per finished trial (picklable, for worker processes)."""
    value = "" if trial.value is None else f" {trial.value:.4f}"
    note = trial.user_attrs.get("error", "")
    click.echo(
        f"  trial {trial.number:<4} {trial.state.name:<8}{value} {trial.params}"
        + (f"  ({note})" if note else "")
    )


@click.command("search")
@click.option(
    "--config",
    "space_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Search space file (TOML or JSON).",
)
@click.option(
    "--study",
    "study_name",
    default="nndl-search",
    show_default=True,
    help="Study name; workers with the same name and storage share it.",
)
@click.option(
    "--storage",
    default=None,
    help="Journal file path (one machine) or database URL: postgresql://user@host/db, "
    "mysql+pymysql://user@host/db, sqlite:///study.db (several machines, except "
    "SQLite). Default: in memory.",
)
@click.option(
    "--n-trials",
    type=int,
    default=20,
    show_default=True,
    help="Trials run by this command, spread over its workers (0: report only).",
)
@click.option(
    "--sampler",
    type=click.Choice(["grid", "random", "tpe", "gp"]),
    default="tpe",
    show_default=True,
)
@click.option(
    "--jobs",
    "--workers",
    "--n-jobs",
    "workers",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Worker processes on this machine (--workers and --n-jobs are other names for it); "
    "with more than one, each is its own process with one BLAS thread, and a shared --storage "
    "is needed (default: OUT/study.journal). Unlike the other commands' --jobs, it is 1 by "
    "default and it changes the trials: each worker's sampler draws from the trials finished "
    "so far, so only one worker repeats a seeded search.",
)
@click.option(
    "--timeout", type=float, default=None, help="Stop starting trials after this many seconds."
)
@click.option("--seed", type=int, default=None, help="Sampler seed (worker i uses seed + i).")
@click.option(
    "--pruning/--no-pruning",
    default=True,
    show_default=True,
    help="Stop poor trials early (median of earlier trials at the same epoch).",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Re-train the best trial, evaluate the test set once and write the results.",
)
@click.option(
    "--heartbeat",
    type=int,
    default=60,
    show_default=True,
    help="Database storages: seconds between a worker's heartbeats.",
)
@click.option(
    "--grace",
    type=int,
    default=None,
    help="Seconds without heartbeat before a trial is failed (default 2 x heartbeat).",
)
@click.option(
    "--max-retry",
    type=int,
    default=3,
    show_default=True,
    help="Retries of a trial whose worker died (0: none).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default="search-results", show_default=True
)
@tensorboard_option("every trial to DIR/trial-NNNN")
@data_options
@report_errors
def search(
    space_file,
    study_name,
    storage,
    n_trials,
    sampler,
    workers,
    timeout,
    seed,
    pruning,
    report,
    heartbeat,
    grace,
    max_retry,
    out,
    dataset,
    data_dir,
    classes,
    train_size,
    validation_size,
    data_seed,
    tensorboard,
):
    """Search hyper-parameters with Optuna, selecting on validation accuracy.

    Start the same command on every machine with a shared --storage to
    spread a study; run it once more with --n-trials 0 to write the report.
    Outputs in OUT: best_config.json (for nndl train --config),
    best_model.json, trials.csv, report.json and the plots. If a worker
    process dies, the others finish, its trial is failed and retried, the
    report is written, and the exit status is 3.
    """
    from ..search import SearchSpace, WorkerDiedError, dashboard_command, make_storage, run_search

    space = SearchSpace.from_file(space_file)
    if tensorboard:
        from ..callbacks import TensorBoard

        TensorBoard(tensorboard)  # without tensorboardX: refused before the data is loaded
    if max_retry < 0:
        raise click.BadParameter("must be >= 0", param_hint="--max-retry")
    # A storage that cannot be opened is refused before the data is loaded.
    make_storage(storage, heartbeat_interval=heartbeat, grace_period=grace, max_retry=max_retry)
    train, validation, test, _, info = load_reduced_data(
        dataset, data_dir, classes, train_size, validation_size, data_seed
    )
    click.echo(
        f"searching {sorted(space.params)} with {sampler}, {n_trials} trials on "
        f"{workers} worker(s), study {study_name!r}"
    )
    command = dashboard_command(storage)
    if command:
        click.echo(f"watch it live: {command}")
    died = None
    try:
        result = run_search(
            space,
            train,
            validation,
            test=test,
            study_name=study_name,
            storage=storage,
            n_trials=n_trials,
            sampler=sampler,
            workers=workers,
            seed=seed,
            timeout=timeout,
            pruning=pruning,
            out=out,
            report=report,
            heartbeat_interval=heartbeat,
            grace_period=grace,
            max_retry=max_retry,
            verbose=False,
            study_callbacks=[_print_trial],
            data=info,
            tensorboard=tensorboard,
        )
    except WorkerDiedError as exc:
        died, result = exc, exc.result
    if info is None:
        click.echo(
            "note: best_config.json has no data section: nndl train cannot repeat --classes "
            "or random subsets"
        )
    click.echo(result.summary())
    for name, path in result.files.items():
        click.echo(f"  {name}: {path}")
    if died is not None:
        raise WorkerDied(str(died))
    if report and result.best_value is None:
        raise click.ClickException("no trial completed: see the errors above")
