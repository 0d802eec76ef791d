"""``nndl tune eta|lambda|batch-size``: the chapter's heuristics (:mod:`nndl.tuning`).

Data loading, training and plotting are imported inside the commands, so
they cost nothing at start-up.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from .errors import report_errors
from .params import setting_option, setting_options
from .trial_data import DATA_KEYS, data_options, int_list, load_reduced_data

__all__ = ["tune"]


#: The network settings every tuning command takes (from :mod:`nndl.settings`).
_NETWORK_SETTINGS = ("hidden", "hidden_activation", "cost", "initializer", "dropout", "dtype")


def _network_options(command: str):
    """The network options and the seed, with ``command``'s defaults from the schema."""
    return setting_options((*_NETWORK_SETTINGS, "seed"), command, with_default=True)


def _network_config(train, validation, hidden, **network):
    from ..network import NetworkConfig

    n_out = int(max(train[1].max(), validation[1].max())) + 1
    return NetworkConfig(sizes=[train[0].shape[1], *hidden, n_out], **network)


def _data_and_network(opts: dict):
    """Take the data and network options out of ``opts``; load and build.

    Returns (train, validation, n_full, net_cfg); ``opts`` keeps the command's own options.
    """
    train, validation, _, n_full, _ = load_reduced_data(*(opts.pop(k) for k in DATA_KEYS))
    net_cfg = _network_config(train, validation, **{k: opts.pop(k) for k in _NETWORK_SETTINGS})
    return train, validation, n_full, net_cfg


def _write_outputs(result, out, plot, name):
    from .._io import atomic_write_json
    from ..tuning import plot_cost_curves

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


#: nndl.tuning.LOOKAHEAD, written out so that --help does not import the library.
_LOOKAHEAD = 2

_SAME_NUMBERS = "it never changes the numbers: the same trials and the same result for any --jobs"


def _jobs_option(what: str, numbers: str = _SAME_NUMBERS):
    """``--jobs N``: trials trained at once (:func:`nndl.jobs.run_jobs`)."""
    return click.option(
        "--jobs",
        type=click.IntRange(1),
        default=None,
        help=f"{what} trained at once, each in its own process with one BLAS thread "
        f"(default: the number of cores); {numbers}.",
    )


def _lookahead_option(steps: str, same: str):
    """``--lookahead K``: steps of a sequential search decided per round of trials."""
    return click.option(
        "--lookahead",
        type=click.IntRange(1),
        default=_LOOKAHEAD,
        show_default=True,
        help=f"{steps} trained per round, at once: 1 trains one trial at a time (the fewest "
        f"trials); more trains some ahead of the step that needs them, in fewer rounds. {same}",
    )


def _format_costs(values, digits=3) -> str:
    return " -> ".join("inf" if not math.isfinite(v) else f"{v:.{digits}f}" for v in values)


@click.group("tune")
def tune():
    """The chapter's heuristics for eta, lambda and the mini-batch size."""


@tune.command("eta")
@data_options
@_network_options("tune eta")
@click.option("--start", type=float, default=0.01, show_default=True, help="First eta.")
@click.option("--factor", type=float, default=10.0, show_default=True)
@setting_option("epochs", "tune eta", with_default=True)
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
@setting_option("mini_batch_size", "tune eta", with_default=True)
@setting_option(
    "l2",
    "tune eta",
    with_default=True,
    help_extra="of the run to come, for the full training set (rescaled to --train-size); "
    "the threshold depends on it",
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
@_lookahead_option(
    "Steps of the search (etas of the bracket, bisections)",
    "The threshold found is the same for any --lookahead.",
)
@_jobs_option("Trials")
@report_errors
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
    lookahead,
    jobs,
    **shared,
):
    """Find the learning-rate threshold: the eta where the training cost stops falling.

    Tries eta = START, START*FACTOR, ... (or downwards) until the training
    cost over the first EPOCHS epochs no longer falls at every epoch, refines
    between the last eta that made it fall and the first that did not, and
    recommends FRACTION (about half) of the threshold.
    """
    from ..tuning import find_learning_rate_threshold, rescale_lambda

    train, _, n_full, net_cfg = _data_and_network(shared)
    l2_used = rescale_lambda(l2, n_full, len(train[1])) if l2 else 0.0
    if l2 and l2_used != l2:
        click.echo(f"lambda {l2:g} rescaled to {l2_used:.4g} for {len(train[1])} examples")
    click.echo(f"network {net_cfg.sizes}, {epochs} epochs per trial")

    def show(t):
        verdict = "diverged" if t.diverged else ("falls" if t.falling else "does not fall")
        click.echo(f"  eta {t.value:<10.4g} {verdict:<14} cost {_format_costs(t.costs)}")

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
        lookahead=lookahead,
        n_jobs=jobs,
    )
    click.echo(result.summary())
    _write_outputs(result, out, plot, "eta")


@tune.command("lambda")
@data_options
@_network_options("tune lambda")
@setting_option(
    "learning_rate",
    "tune lambda",
    with_default=True,
    help_extra="fixed during the search (tune it first)",
)
@setting_option("epochs", "tune lambda", with_default=True)
@click.option("--start", type=float, default=1.0, show_default=True)
@click.option("--factor", type=float, default=10.0, show_default=True)
@click.option("--refine", "refine_steps", type=int, default=2, show_default=True)
@setting_option("mini_batch_size", "tune lambda", with_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None)
@_lookahead_option(
    "Decades of the walk",
    "The walk and its refinement are the same for any --lookahead, but the best of all "
    "trials is picked, so one trained ahead can win.",
)
@_jobs_option("Trials")
@report_errors
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
    lookahead,
    jobs,
    **shared,
):
    """Choose lambda on validation accuracy: 0 first, then START and factors of FACTOR.

    With --train-size, the best lambda is also given rescaled to the full
    training set (same weight decay eta*lambda/n).
    """
    from ..tuning import rescale_lambda, tune_lambda

    train, validation, n_full, net_cfg = _data_and_network(shared)
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
        lookahead=lookahead,
        n_jobs=jobs,
    )
    click.echo(result.summary())
    n = len(train[1])
    if n != n_full and result.helped:
        click.echo(
            f"for the full training set of {n_full} examples: lambda "
            f"{rescale_lambda(result.best, n, n_full):.4g}"
        )
    _write_outputs(result, out, plot, "lambda")


@tune.command("batch-size")
@data_options
@_network_options("tune batch-size")
@click.option("--batch-sizes", default="1,5,10,20,50,100", show_default=True)
@setting_option("learning_rate", "tune batch-size", with_default=True)
@setting_option(
    "l2",
    "tune batch-size",
    with_default=True,
    help_extra="for the full training set (rescaled to --train-size)",
)
@setting_option("epochs", "tune batch-size", with_default=True)
@click.option(
    "--scale-eta",
    type=click.Choice(["none", "linear", "sqrt"]),
    default="none",
    show_default=True,
    help="eta for each size: the same for all (none), or --eta at the default mini-batch "
    "size scaled by size/default (linear) or its square root (sqrt)",
)
@click.option(
    "--target",
    type=float,
    default=None,
    help="Validation accuracy to reach (default: 95% of the best final one).",
)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None)
@_jobs_option(
    "Mini-batch sizes",
    "it never changes the accuracies, and each size's seconds are its own process's "
    "(keep it at most the number of cores)",
)
@report_errors
def tune_batch_size_cmd(
    seed,
    batch_sizes,
    learning_rate,
    l2,
    epochs,
    scale_eta,
    target,
    out,
    plot,
    jobs,
    **shared,
):
    """Validation accuracy against wall time for several mini-batch sizes.

    Each size trains with the mean gradient of its mini-batch, so the same eta
    is a fair start; with a larger mini-batch, fewer steps are taken per epoch,
    and scaling eta with the size (--scale-eta) compensates, as the chapter
    discusses. Each line says which eta the size used.
    """
    from ..settings import default
    from ..tuning import rescale_lambda, tune_batch_size

    train, validation, n_full, net_cfg = _data_and_network(shared)
    l2 = rescale_lambda(l2, n_full, len(train[1])) if l2 else 0.0
    sizes = int_list(batch_sizes, "--batch-sizes") or []
    reference = default("mini_batch_size")
    power = {"none": 0.0, "linear": 1.0, "sqrt": 0.5}[scale_eta]
    etas = {b: learning_rate * (b / reference) ** power for b in sizes}

    def show(t):
        acc = "diverged" if t.diverged else f"{t.score:.4f}"
        b = int(t.value)
        click.echo(
            f"  mini-batch {b:<5} eta {etas[b]:<8.3g} {t.times[-1]:8.2f} s  "
            f"final validation accuracy {acc}"
        )

    result = tune_batch_size(
        net_cfg,
        *train,
        validation,
        batch_sizes=sizes,
        learning_rate=etas,
        epochs=epochs,
        target=target,
        seed=seed,
        train_options={"l2": l2},
        on_trial=show,
        n_jobs=jobs,
    )
    for b, t in result.time_to_target.items():
        reach = f"after {t:.2f} s" if math.isfinite(t) else "never"
        click.echo(f"  mini-batch {b:<5} reaches the target {result.target:.4f} {reach}")
    click.echo(result.summary())
    _write_outputs(result, out, plot, "batch_size")
