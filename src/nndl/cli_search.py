"""The ``nndl tune`` and ``nndl search`` commands (click), registered by ``nndl.cli``.

``nndl tune eta|lambda|batch-size`` run the chapter's heuristics
(:mod:`nndl.tuning`); ``nndl search`` runs an Optuna search
(:mod:`nndl.search`). Data loading, plotting and Optuna are imported inside
the commands, so registering them costs nothing at start-up.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import click

__all__ = ["register", "search", "tune"]


def _friendly(fn):
    """Turn the library's clear errors into one line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .training import DivergenceError

        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, FileNotFoundError, ImportError, DivergenceError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def _int_list(text: str | None, what: str) -> list[int] | None:
    if text is None or text == "":
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise click.BadParameter(
            f"{what} must be integers separated by commas, got {text!r}"
        ) from None


def _data_options(fn):
    options = [
        click.option(
            "--dataset",
            default="mnist",
            show_default=True,
            help="mnist, digits, fashion-mnist, idx:FOLDER or mnist:PATH.",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Cache folder of the downloaded data sets.",
        ),
        click.option(
            "--classes", default=None, help="Keep only these classes, relabelled 0..k-1 (e.g. 0,1)."
        ),
        click.option(
            "--train-size",
            type=int,
            default=None,
            help="Train on the first N examples (random ones with --data-seed).",
        ),
        click.option(
            "--validation-size",
            type=int,
            default=None,
            help="Validate on the first N examples (random ones with --data-seed).",
        ),
        click.option(
            "--data-seed",
            type=int,
            default=None,
            help="Take random subsets with this seed (default: the first N examples).",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _network_options(fn):
    options = [
        click.option(
            "--hidden",
            default="30",
            show_default=True,
            help="Hidden layer sizes, e.g. 30 or 100,30 (empty for none).",
        ),
        click.option(
            "--activation", default="sigmoid", show_default=True, help="Hidden activation."
        ),
        click.option("--cost", default="cross_entropy", show_default=True),
        click.option(
            "--init",
            "initializer",
            default="default",
            show_default=True,
            help="Weight initializer.",
        ),
        click.option("--dropout", type=float, default=0.0, show_default=True),
        click.option("--dtype", default="float64", show_default=True),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of the initial weights and the shuffling.",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _first(pair, n: int, what: str):
    X, y = pair
    if n < 1 or n > len(y):
        raise ValueError(f"{what} must be between 1 and {len(y)}, got {n}")
    return X[:n], y[:n]


def _load(dataset, data_dir, classes, train_size, validation_size, data_seed):
    """Load a data set and apply the broad-strategy reductions; say what was done.

    ``--train-size N`` keeps the first N examples, as ``nndl train`` does, so a
    configuration found here trains on the same data there; with
    ``--data-seed`` the subsets are random instead.
    """
    from .data import load_dataset
    from .tuning import subsample, subset_classes

    splits = load_dataset(dataset, cache_dir=data_dir)
    parts = [tuple(splits.train), tuple(splits.validation), tuple(splits.test)]
    n_full = len(parts[0][1])
    wanted = _int_list(classes, "--classes")
    if wanted is not None:
        parts = [subset_classes(X, y, wanted) for X, y in parts]
    for i, (size, what) in enumerate(
        ((train_size, "--train-size"), (validation_size, "--validation-size"))
    ):
        if size is None:
            continue
        if data_seed is None:
            parts[i] = _first(parts[i], size, what)
        else:
            parts[i] = subsample(*parts[i], size, data_seed + i)
    info = {"dataset": dataset, "data_dir": data_dir}
    if train_size is not None:
        info["train_size"] = train_size
    if validation_size is not None:
        info["validation_size"] = validation_size
    click.echo(
        f"data: {dataset}, {len(parts[0][1])} training and {len(parts[1][1])} validation "
        f"examples" + (f", classes {wanted}" if wanted is not None else "")
    )
    if wanted is not None or (data_seed is not None and (train_size or validation_size)):
        info = None  # nndl train cannot express these reductions
    return parts[0], parts[1], parts[2], n_full, info


def _network(train, validation, hidden, activation, cost, initializer, dropout, dtype):
    from .network import NetworkConfig

    sizes = _int_list(hidden, "--hidden") or []
    n_out = int(max(train[1].max(), validation[1].max())) + 1
    return NetworkConfig(
        sizes=[train[0].shape[1], *sizes, n_out],
        hidden_activation=activation,
        cost=cost,
        initializer=initializer,
        dropout=dropout,
        dtype=dtype,
    )


_DATA_KEYS = ("dataset", "data_dir", "classes", "train_size", "validation_size", "data_seed")
_NETWORK_KEYS = ("hidden", "activation", "cost", "initializer", "dropout", "dtype")


def _prepare(opts: dict):
    """Take the data and network options out of ``opts``; load and build.

    Returns (train, validation, n_full, net_cfg); ``opts`` keeps the command's own options.
    """
    train, validation, _, n_full, _ = _load(*(opts.pop(k) for k in _DATA_KEYS))
    net_cfg = _network(train, validation, *(opts.pop(k) for k in _NETWORK_KEYS))
    return train, validation, n_full, net_cfg


def _write_outputs(result, out, plot, name):
    from ._io import atomic_write_json
    from .tuning import plot_cost_curves

    if out is not None:
        path = Path(out) / f"tune_{name}.json"
        atomic_write_json(path, result.to_dict())
        click.echo(f"results: {path}")
        if plot is None:
            plot = Path(out) / f"tune_{name}.png"
    if plot is not None:
        try:
            click.echo(f"figure: {plot_cost_curves(result, plot)}")
        except ImportError as exc:
            click.echo(f"no figure: {exc}", err=True)


def _fmt(values, digits=3) -> str:
    return " -> ".join("inf" if not math.isfinite(v) else f"{v:.{digits}f}" for v in values)


# ------------------------------------------------------------------- tune
@click.group("tune")
def tune():
    """The chapter's heuristics for eta, lambda and the mini-batch size."""


@tune.command("eta")
@_data_options
@_network_options
@click.option("--start", type=float, default=0.01, show_default=True, help="First eta.")
@click.option("--factor", type=float, default=10.0, show_default=True)
@click.option(
    "--epochs", type=int, default=5, show_default=True, help="The 'first few epochs' of each trial."
)
@click.option(
    "--refine",
    "refine_steps",
    type=int,
    default=3,
    show_default=True,
    help="Bisections of the final bracket.",
)
@click.option(
    "--fraction",
    type=float,
    default=0.5,
    show_default=True,
    help="Recommended eta = fraction * threshold.",
)
@click.option("--mini-batch-size", type=int, default=10, show_default=True)
@click.option(
    "--l2",
    type=float,
    default=5.0,
    show_default=True,
    help="lambda of the run to come, for the full training set (rescaled to --train-size); "
    "the threshold depends on it.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for tune_eta.json and tune_eta.png.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Figure of the cost curves (PNG/PDF/SVG).",
)
@_friendly
def tune_eta(
    seed,
    start,
    factor,
    epochs,
    refine_steps,
    fraction,
    mini_batch_size,
    l2,
    out,
    plot,
    **shared,
):
    """Find the learning-rate threshold: the eta where the training cost stops falling.

    Tries eta = START, START*FACTOR, ... (or downwards) until the training
    cost over the first EPOCHS epochs no longer falls at every epoch, refines
    between the last eta that made it fall and the first that did not, and
    recommends FRACTION (about half) of the threshold.
    """
    from .tuning import find_learning_rate_threshold, rescale_lambda

    train, _, n_full, net_cfg = _prepare(shared)
    l2_used = rescale_lambda(l2, n_full, len(train[1])) if l2 else 0.0
    if l2 and l2_used != l2:
        click.echo(f"lambda {l2:g} rescaled to {l2_used:.4g} for {len(train[1])} examples")
    click.echo(f"network {net_cfg.sizes}, {epochs} epochs per trial")

    def show(t):
        verdict = "diverged" if t.diverged else ("falls" if t.falling else "does not fall")
        click.echo(f"  eta {t.value:<10.4g} {verdict:<14} cost {_fmt(t.costs)}")

    result = find_learning_rate_threshold(
        net_cfg,
        *train,
        start=start,
        factor=factor,
        epochs=epochs,
        refine_steps=refine_steps,
        fraction=fraction,
        mini_batch_size=mini_batch_size,
        seed=seed,
        train_options={"l2": l2_used},
        on_trial=show,
    )
    click.echo(result.summary())
    _write_outputs(result, out, plot, "eta")


@tune.command("lambda")
@_data_options
@_network_options
@click.option(
    "--eta",
    "learning_rate",
    type=float,
    default=0.5,
    show_default=True,
    help="Learning rate, fixed during the search (tune it first).",
)
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--start", type=float, default=1.0, show_default=True)
@click.option("--factor", type=float, default=10.0, show_default=True)
@click.option("--refine", "refine_steps", type=int, default=2, show_default=True)
@click.option("--mini-batch-size", type=int, default=10, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None)
@_friendly
def tune_lambda_cmd(
    seed,
    learning_rate,
    epochs,
    start,
    factor,
    refine_steps,
    mini_batch_size,
    out,
    plot,
    **shared,
):
    """Choose lambda on validation accuracy: 0 first, then START and factors of FACTOR.

    With --train-size, the best lambda is also given rescaled to the full
    training set (same weight decay eta*lambda/n).
    """
    from .tuning import rescale_lambda, tune_lambda

    train, validation, n_full, net_cfg = _prepare(shared)
    click.echo(f"network {net_cfg.sizes}, eta {learning_rate:g}, {epochs} epochs per trial")

    def show(t):
        acc = "diverged" if t.diverged else f"{t.score:.4f}"
        click.echo(f"  lambda {t.value:<10.4g} ({t.stage:<8}) validation accuracy {acc}")

    result = tune_lambda(
        net_cfg,
        *train,
        validation,
        learning_rate=learning_rate,
        epochs=epochs,
        start=start,
        factor=factor,
        refine_steps=refine_steps,
        mini_batch_size=mini_batch_size,
        seed=seed,
        on_trial=show,
    )
    click.echo(result.summary())
    n = len(train[1])
    if n != n_full and result.best:
        click.echo(
            f"for the full training set of {n_full} examples: lambda "
            f"{rescale_lambda(result.best, n, n_full):.4g}"
        )
    _write_outputs(result, out, plot, "lambda")


@tune.command("batch-size")
@_data_options
@_network_options
@click.option("--batch-sizes", default="1,5,10,20,50,100", show_default=True)
@click.option("--eta", "learning_rate", type=float, default=0.5, show_default=True)
@click.option(
    "--l2",
    type=float,
    default=5.0,
    show_default=True,
    help="lambda for the full training set (rescaled to --train-size).",
)
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option(
    "--target",
    type=float,
    default=None,
    help="Validation accuracy to reach (default: 95% of the best final one).",
)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None)
@_friendly
def tune_batch_size_cmd(
    seed,
    batch_sizes,
    learning_rate,
    l2,
    epochs,
    target,
    out,
    plot,
    **shared,
):
    """Validation accuracy against wall time for several mini-batch sizes."""
    from .tuning import rescale_lambda, tune_batch_size

    train, validation, n_full, net_cfg = _prepare(shared)
    l2 = rescale_lambda(l2, n_full, len(train[1])) if l2 else 0.0
    sizes = _int_list(batch_sizes, "--batch-sizes") or []

    def show(t):
        acc = "diverged" if t.diverged else f"{t.score:.4f}"
        click.echo(
            f"  mini-batch {int(t.value):<5} {t.times[-1]:8.2f} s  validation accuracy {acc}"
        )

    result = tune_batch_size(
        net_cfg,
        *train,
        validation,
        batch_sizes=sizes,
        learning_rate=learning_rate,
        epochs=epochs,
        target=target,
        seed=seed,
        train_options={"l2": l2},
        on_trial=show,
    )
    for b, t in result.time_to_target.items():
        reach = f"in {t:.2f} s" if math.isfinite(t) else "never"
        click.echo(f"  mini-batch {b:<5} reaches {result.target:.4f} {reach}")
    click.echo(result.summary())
    _write_outputs(result, out, plot, "batch_size")


# ----------------------------------------------------------------- search
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
    help="Journal file path (one machine) or database URL such as "
    "postgresql://user@host/db (several machines). Default: in memory.",
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
    "--workers",
    "--n-jobs",
    "workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes on this machine.",
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
    help="Retries of a trial whose worker died.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default="search-results", show_default=True
)
@_data_options
@_friendly
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
):
    """Search hyper-parameters with Optuna, selecting on validation accuracy.

    Start the same command on every machine with a shared --storage to
    spread a study; run it once more with --n-trials 0 to write the report.
    Outputs in OUT: best_config.json (for nndl train --config),
    best_model.json, trials.csv, report.json and the plots.
    """
    from .search import SearchSpace, dashboard_command, run_search

    space = SearchSpace.from_file(space_file)
    train, validation, test, _, info = _load(
        dataset, data_dir, classes, train_size, validation_size, data_seed
    )
    click.echo(
        f"searching {sorted(space.params)} with {sampler}, {n_trials} trials on "
        f"{workers} worker(s), study {study_name!r}"
    )
    command = dashboard_command(storage)
    if command:
        click.echo(f"watch it live: {command}")
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
    )
    if info is None:
        click.echo(
            "note: best_config.json has no data section: nndl train cannot repeat --classes "
            "or random subsets"
        )
    click.echo(result.summary())
    for name, path in result.files.items():
        click.echo(f"  {name}: {path}")
    if report and result.best_value is None:
        raise click.ClickException("no trial completed: see the errors above")


def register(group: click.Group) -> None:
    """Add ``tune`` and ``search`` to the main ``nndl`` command group."""
    group.add_command(tune)
    group.add_command(search)
