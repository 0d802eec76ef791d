"""The ``nndl`` command: train, evaluate, predict, manage the data, run experiments, tune.

::

    nndl train                        # the chapter's [784, 100, 10] network on MNIST
    nndl train --dataset digits --hidden 30 --epochs 10
    nndl evaluate runs/X/model.json --split test
    nndl predict runs/X/model.json digit.png --invert
    nndl data fetch | info | expand | path
    nndl experiment list | run NAME... ; nndl report FOLDER
    nndl tune eta | lambda | batch-size ; nndl search --config space.toml
    nndl export runs/X/model.json model.onnx

How it is put together, for whoever adds to it: one module per command
group, each defining its click command; :data:`cli` adds them below.

=================  =============================================================
``run_config``     ``train``'s options and defaults (from nndl.settings) and their merging
``train``          ``nndl train``: the run, its callbacks, signals and seeds
``run_outputs``    a run's history, curves and control outputs; the book's figures
``evaluate``       ``nndl evaluate`` and ``nndl predict``
``data``           ``nndl data``
``experiment``     ``nndl experiment`` and ``nndl report``
``tune``           ``nndl tune``
``search``         ``nndl search``
``export``         ``nndl export`` (a saved model as an ONNX file)
``trial_data``     the data options shared by ``tune`` and ``search``
``params``         click options built from rows of the settings schema
``errors``         exit statuses and one-line error messages
=================  =============================================================

Optional dependencies and the heavy parts of the library (data loading,
plotting, Optuna) are imported inside the commands, so ``nndl --help``
starts fast. Expected errors (bad options or files, divergence, failed
downloads) are printed by :func:`main` as one line on stderr with a non-zero
exit status; ``NNDL_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys

import click

from .._signals import stop_signals_interrupt
from .._version import __version__
from ..settings import Setting
from . import data, evaluate, experiment, export, search, train, tune
from .errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    expected_errors,
    interrupted_status,
    one_line,
    resource_message,
)
from .run_config import DEFAULTS, SETTINGS, resolve_run_config
from .train import CALLBACK_FACTORIES, TrainingRun

__all__ = [
    "CALLBACK_FACTORIES",
    "DEFAULTS",
    "EXIT_INTERRUPTED",
    "SETTINGS",
    "RunContext",
    "Setting",
    "TrainingRun",
    "cli",
    "main",
    "resolve_run_config",
]

#: The former name of :class:`TrainingRun`.
RunContext = TrainingRun


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nndl")
def cli():
    """Networks from chapter 3 of Nielsen's "Neural Networks and Deep Learning".

    Start with `nndl train`: it trains the chapter's best simple network on
    MNIST (fetched and verified on first use) and reports its accuracy.
    """


# The modules keep their names (nndl.cli.train is the module); the commands are added here.
cli.add_command(train.train)
cli.add_command(evaluate.evaluate)
cli.add_command(evaluate.predict)
cli.add_command(data.data)
cli.add_command(experiment.experiment)
cli.add_command(experiment.report)
cli.add_command(tune.tune)
cli.add_command(search.search)
cli.add_command(export.export)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; expected errors become one line on stderr and an exit status."""
    debug = os.environ.get("NNDL_DEBUG", "") not in ("", "0")
    try:
        # SIGTERM and SIGHUP stop every command as Ctrl-C does, keeping what finished.
        with stop_signals_interrupt():
            rc = cli.main(args=argv, prog_name="nndl", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns KeyboardInterrupt into Abort; the signal is in the chain.
        status, what = interrupted_status(exc)
        with contextlib.suppress(OSError):
            click.echo(f"nndl: {what}", err=True)
        sys.exit(status)
    except click.ClickException as exc:
        no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
        if isinstance(exc, no_args):  # `nndl` or `nndl data` alone: show the help
            click.echo(exc.format_message())
            sys.exit(0)
        msg = f"nndl: error: {one_line(exc.format_message())}"
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            msg += f" (see '{exc.ctx.command_path} --help')"
        click.echo(msg, err=True)
        sys.exit(exc.exit_code)
    except expected_errors() as exc:
        if debug:
            raise
        click.echo(f"nndl: error: {one_line(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except (MemoryError, RecursionError) as exc:
        # The last resort: sizes and nesting are checked before allocating
        # (nndl.limits); whatever escaped them still ends in one line.
        if debug:
            raise
        click.echo(f"nndl: error: {resource_message(exc)} (NNDL_DEBUG=1 shows where)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rc if isinstance(rc, int) else 0)
