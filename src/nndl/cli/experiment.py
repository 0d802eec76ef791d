"""The ``nndl experiment`` and ``nndl report`` commands.

::

    nndl experiment list
    nndl experiment run overfitting                 # the book's settings, one seed
    nndl experiment run cross_entropy --seeds 5     # means, spread, 95% CIs, t-tests
    nndl experiment run all --quick                 # every experiment in seconds (smoke test)
    nndl experiment run all                         # the whole chapter, then the HTML report
    nndl report nndl-results                        # rebuild nndl-results/index.html

The experiments and the report are imported inside the commands, so these
commands cost nothing when ``nndl`` starts.
"""

from __future__ import annotations

import sys

import click

from .errors import report_errors
from .params import tensorboard_option

__all__ = ["experiment", "report"]

DEFAULT_OUT = "nndl-results"


@click.group("experiment")
def experiment():
    """The chapter's experiments, each checked against the book's results."""


@experiment.command("list")
def list_experiments():
    """List the experiments, what each reproduces, and whether it can run here."""
    from ..experiments import EXPERIMENTS, availability

    width = max(len(n) for n in EXPERIMENTS)
    for name, info in EXPERIMENTS.items():
        ok, why = availability(name)
        status = "runs here" if ok else f"cannot run here: {why}"
        click.echo(f"{name:<{width}}  [{status}]  {info.summary}")


@experiment.command("run")
@click.argument("names", nargs=-1, required=True, metavar="NAME... | all")
@click.option("--quick", is_flag=True, help="Small slice, few epochs: seconds each, not judged.")
@click.option(
    "--seeds",
    type=click.IntRange(1, 100),
    default=None,
    help="Seeds per configuration (default: 1, or the experiment's own default).",
)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="First seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="Results folder (one sub-folder per experiment).",
)
@click.option(
    "--data",
    type=click.Choice(["auto", "mnist", "digits"]),
    default="auto",
    show_default=True,
    help="auto: MNIST (fetched if needed); quick runs use the 8x8 digits unless MNIST is cached.",
)
@click.option(
    "--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True
)
@click.option(
    "--svm-max-size",
    type=click.IntRange(0),
    default=None,
    help="more_data: largest training set for the SVM (default 50000, the book's; 0: no SVM).",
)
@click.option(
    "--svm-cache/--no-svm-cache",
    default=True,
    show_default=True,
    help="more_data: read the SVM results an earlier run cached for the same data, settings "
    "and versions of scikit-learn, SciPy and NumPy (`nndl data info` shows the cache); "
    "--no-svm-cache fits them again.",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Rebuild OUT/index.html afterwards.",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 if any verdict fails.")
@tensorboard_option("every training run to DIR/NAME/CONFIGURATION/seed-K")
@click.option(
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Processes at work at once (default: the number of cores): an experiment's "
    "independent trainings, each in its own process with one BLAS thread, and the SVM "
    "baseline's process counted among them (with 1, everything runs one after another in "
    "one process). The numbers do not depend on it.",
)
@report_errors
def run(
    names,
    quick,
    seeds,
    seed,
    out,
    data,
    dtype,
    svm_max_size,
    svm_cache,
    report,
    strict,
    tensorboard,
    jobs,
):
    """Run experiments by NAME (see `nndl experiment list`), or `all` of them.

    Each writes OUT/NAME/results.json (settings, seeds, per-epoch numbers,
    verdicts, wall time) and its figures as PNG, and prints its table: our
    result, the book's, and the verdict with the tolerance it used.

    While they train, stderr shows what is training (experiment,
    configuration, seed, epoch k/N), a bar over the whole run and the time
    left: one line redrawn in place on a terminal, one plain line per
    finished configuration otherwise (logs).
    """
    from ..experiments import (
        EXPERIMENTS,
        Settings,
        format_summary,
        get_experiment,
        run_all,
    )
    from ..experiments.progress import RunProgress

    options = {}
    if svm_max_size is not None:
        options["svm_max_size"] = svm_max_size
    if not svm_cache:
        options["svm_cache"] = False
    settings = Settings(
        quick=quick,
        seeds=seeds,
        seed=seed,
        out=out,
        data=data,
        dtype=dtype,
        options=options,
        tensorboard=tensorboard,
        progress=RunProgress(sys.stderr),
        jobs=jobs,
    ).validate()
    if "all" in names:
        if len(names) > 1:
            raise click.UsageError("give experiment names or 'all', not both")
        selected = list(EXPERIMENTS)
    else:
        selected = [get_experiment(n).name for n in names]
    result = run_all(settings, selected)
    click.echo(format_summary(result["summary"]))
    if report:
        from ..report import build_report

        page = build_report(settings.out)
        click.echo(f"report: {page}")
    failed = [r["name"] for r in result["summary"]["experiments"] if r["failed"]]
    problems = list(result["unavailable"]) + list(result["errors"])
    if result["errors"]:
        for name, err in result["errors"].items():
            click.echo(f"nndl: error in {name}: {err}", err=True)
    if result["unavailable"] and len(selected) == 1:
        name, why = next(iter(result["unavailable"].items()))
        raise click.ClickException(f"experiment {name!r} is unavailable: {why}")
    if result["errors"] or (strict and (failed or problems)):
        sys.exit(1)


@click.command("report")
@click.argument("folder", type=click.Path(file_okay=False), default=DEFAULT_OUT)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the page (default FOLDER/index.html; elsewhere needs --embed).",
)
@click.option("--embed", is_flag=True, help="Inline the figures: one self-contained HTML file.")
@report_errors
def report(folder, output, embed):
    """Write one static HTML page over a results FOLDER (default nndl-results).

    Every experiment's figures, its table against the book, its settings,
    seeds and wall time; readable offline.
    """
    from ..report import build_report, links_work

    if output is not None and not embed and not links_work(folder, output):
        raise click.UsageError(
            f"the page links its figures relatively, so -o must be inside {folder} "
            f"(got {output}); add --embed to write one self-contained page elsewhere"
        )
    page = build_report(folder, output, embed=embed)
    click.echo(str(page))
