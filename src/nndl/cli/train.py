"""``nndl train``: train a network and save it with its history and configuration.

::

    nndl train                        # the chapter's [784, 100, 10] network on MNIST
    nndl train --dataset digits --hidden 30 --epochs 10
    nndl train --config runs/X/config.json      # repeat a run
    nndl train --resume runs/X/checkpoint.npz   # continue an interrupted run

The options are the settings schema's rows (:mod:`nndl.settings`, listed in
:data:`nndl.cli.run_config.SETTINGS`). A run resolves
its configuration, checks it before any data is loaded
(:func:`check_before_loading`), loads the data, builds the network and the
callbacks (:data:`CALLBACK_FACTORIES`), trains, and writes its files.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import settings as run_settings
from .._io import (
    atomic_write_json,
    remove_stale_temp_files,
)
from .._signals import StopSignal, signal_name, signals_held, silence_hung_up_terminal
from .._version import __version__
from ..callbacks import (
    Callback,
    Checkpoint,
    JobProgress,
    ProgressBar,
    control_callbacks,
)
from ..config import to_toml, write_config
from ..limits import check_network_size, short_repr
from ..network import Network
from ..training import TrainConfig, Trainer, TrainingInterrupted, weight_decay_growth
from .errors import interrupted_status, stopped_status
from .run_config import layer_from_options, resolve_run_config, settings_options
from .run_outputs import book_result, control_outputs, plot_curves, write_history

__all__ = [
    "CALLBACK_FACTORIES",
    "TrainingRun",
    "book_result",
    "check_before_loading",
    "check_out_folder",
    "percent",
    "plot_curves",
    "train",
    "write_history",
]


# --------------------------------------------------------------- the run
@dataclass
class TrainingRun:
    """What a training run is made of; callback factories receive it.

    ``config`` is the resolved run configuration (what config.json will
    hold); ``out`` is the output folder, which may not exist yet (files are
    written there with ``nndl._io``, which creates it).
    """

    config: dict[str, dict]
    network: Network
    train_config: TrainConfig
    splits: Any
    out: Path
    quiet: bool = False
    extra: dict = field(default_factory=dict)


#: Functions (TrainingRun) -> list of Callback, called once per ``nndl train``
#: to add behaviour configured by their own settings (schedules, early
#: stopping, checkpoints, augmentation, ...).
CALLBACK_FACTORIES: list[Callable[[TrainingRun], list[Callback]]] = []


def _control_factory(run: TrainingRun) -> list[Callback]:
    """Schedules, early stopping, batch monitoring, diagnostics, checkpoints ([control])."""
    return control_callbacks(run.config.get("control", {}), out=run.out)


def _augment_factory(run: TrainingRun) -> list[Callback]:
    """On-the-fly distortion of the training images (data.augment)."""
    recipe = run.config.get("data", {}).get("augment")
    if not recipe:
        return []
    from ..callbacks.augment import AugmentCallback

    return [AugmentCallback(recipe, run.config["data"].get("augment_fraction", 1.0))]


CALLBACK_FACTORIES.extend([_augment_factory, _control_factory])


class ChanceAccuracyWarning(Callback):
    """Says once, on stderr, when the accuracy stays at chance level for ``epochs`` epochs.

    ``chance`` maps ``val_accuracy`` and ``accuracy`` to the share of the
    most common class in the data each is measured on (what always guessing
    that class scores: about 1/classes); an accuracy within ``margin`` of it
    counts as chance. The validation accuracy is watched when it is in the
    logs, else the training accuracy, else nothing. How far the weights
    moved from where training began tells a learning rate too large (they
    moved at least half their initial size: the steps overshoot, or the
    weight decay wiped them out) from one too small (they hardly moved).
    """

    def __init__(self, chance: dict[str, float], epochs: int = 3, margin: float = 0.03):
        self.chance, self.epochs, self.margin = chance, epochs, margin
        self.streak = 0
        self.warned = False
        self._start: list[np.ndarray] = []

    @classmethod
    def for_data(cls, train_y, validation_y=None) -> ChanceAccuracyWarning:
        def share(y) -> float:
            labels = np.asarray(y)
            if labels.ndim == 2:
                labels = labels.argmax(axis=1)
            return float(np.unique(labels, return_counts=True)[1].max() / labels.shape[0])

        chance = {"accuracy": share(train_y)}
        if validation_y is not None and len(validation_y):
            chance["val_accuracy"] = share(validation_y)
        return cls(chance)

    def on_train_begin(self, trainer):
        self._start = [w.copy() for w in trainer.network.weights]

    def on_epoch_end(self, trainer, epoch, logs):
        key = next((k for k in ("val_accuracy", "accuracy") if k in logs and k in self.chance), "")
        if self.warned or not key:
            return
        self.streak = self.streak + 1 if logs[key] <= self.chance[key] + self.margin else 0
        if self.streak >= self.epochs:
            self.warned = True
            click.echo(f"nndl: warning: {self.message(trainer, key, logs[key])}", err=True)

    def message(self, trainer, key: str, accuracy: float) -> str:
        weights = trainer.network.weights
        start = math.sqrt(sum(float(np.vdot(w, w)) for w in self._start))
        pairs = zip(weights, self._start, strict=True)
        moved = math.sqrt(sum(float(np.vdot(w - w0, w - w0)) for w, w0 in pairs))
        moved = moved / start if start else (math.inf if moved else 0.0)
        what = "validation accuracy" if key == "val_accuracy" else "training accuracy"
        eta = trainer.config.learning_rate
        stuck = (
            f"the {what} has stayed at chance level ({percent(accuracy)}; always guessing the "
            f"most common class scores {percent(self.chance[key])}) for {self.streak} epochs"
        )
        if moved >= 0.5:
            return (
                f"{stuck}, and the weights moved {moved:.3g} times their initial size: the "
                f"learning rate {eta:g} is probably too large; try a smaller --eta, such as "
                f"{eta / 10:g}"
            )
        return (
            f"{stuck}, and the weights hardly moved ({moved:.2g} of their initial size): the "
            f"learning rate {eta:g} is probably too small; try a larger --eta, such as {eta * 10:g}"
        )


def _network_kwargs(net_cfg: dict) -> dict:
    """The Network keyword arguments of a [network] section (all but the layer sizes)."""
    return {k: v for k, v in net_cfg.items() if k not in ("sizes", "hidden")}


def check_before_loading(cfg: dict[str, dict]) -> tuple[TrainConfig, int]:
    """Check the network and training sections before any data is loaded.

    Returns the validated TrainConfig with its seed fixed (drawn at random
    when not given, so the saved configuration repeats the run exactly).
    """
    net_cfg = cfg["network"]
    if "sizes" in net_cfg:
        check_network_size(list(net_cfg["sizes"]))
        depth = len(net_cfg["sizes"])
    else:
        hidden = list(net_cfg["hidden"])
        check_network_size(
            [1, *hidden, 1], f"hidden layers {short_repr(hidden)} (even with 1 input and 1 output)"
        )
        depth = len(hidden) + 2
    # Builds a throwaway network of the same depth (one neuron a layer: nothing
    # large is allocated) so that a bad name or value is refused now, not after
    # a download.
    Network([1] * depth, seed=0, **_network_kwargs(net_cfg))
    training = dict(cfg.get("training", {}))
    if training.get("seed") is None:
        training["seed"] = int(np.random.SeedSequence().entropy % (2**31))
    tc = TrainConfig.from_dict(training)
    # Bad schedules, stopping rules and recipes are refused before a download too.
    control_callbacks(cfg.get("control", {}))
    data = cfg.get("data", {})
    if data.get("augment") or data.get("expand"):
        from ..data.expand import SHIFTS_RECIPE, Augmenter

        if data.get("augment"):
            Augmenter.parse(data["augment"])
        if data.get("expand") and data["expand"].strip().lower() != SHIFTS_RECIPE:
            Augmenter.parse(data["expand"])
    return tc, tc.seed


def _load_data(data_cfg: dict, quiet: bool):
    from ..data import load_dataset

    splits = load_dataset(
        data_cfg.get("dataset", "mnist"),
        cache_dir=data_cfg.get("data_dir"),
        progress=False if quiet else None,
    )
    train = splits.train.head(data_cfg.get("train_size"))
    validation = splits.validation.head(data_cfg.get("validation_size"))
    if data_cfg.get("expand"):
        from ..data import Dataset, data_dir
        from ..data.expand import build_expanded

        if not quiet:
            click.echo(f"Expanding the training data with {data_cfg['expand']!r} ...", err=True)
        X, y = build_expanded(
            train.X,
            train.y,
            data_cfg["expand"],
            seed=data_cfg.get("expand_seed", run_settings.default("expand_seed")),
            copies=data_cfg.get("expand_copies"),
            cache_dir=data_dir(data_cfg.get("data_dir")) / "expanded",
        )
        train = Dataset(X, y)
    return type(splits)(train, validation, splits.test)


def _build_network(net_cfg: dict, splits, seed: int) -> Network:
    n_in, n_out = splits.n_features, splits.n_classes
    if "sizes" in net_cfg:
        sizes = list(net_cfg["sizes"])
        if sizes[0] != n_in:
            raise ValueError(
                f"sizes {sizes}: the input layer must have {n_in} neurons, one per feature of "
                "the data (or give --hidden and let the data set the input and output sizes)"
            )
        if sizes[-1] < n_out:
            raise ValueError(
                f"sizes {sizes}: the output layer needs at least {n_out} neurons for labels "
                f"0..{n_out - 1}"
            )
    else:
        sizes = [n_in, *net_cfg["hidden"], n_out]
    return Network(sizes, seed=seed, **_network_kwargs(net_cfg))


def percent(x: float) -> str:
    """``0.9612`` as ``96.12%``."""
    return f"{100.0 * x:.2f}%"


def _where_stopped(trainer: Trainer, exc: KeyboardInterrupt) -> dict[str, Any]:
    """Where an interrupted run stopped: its epoch and last mini-batch trained, from 1.

    A second signal stops at once, maybe in the middle of a mini-batch, whose
    update may then be partly applied: ``partial_mini_batch`` says so, with
    no mini-batch.
    """
    if isinstance(exc, TrainingInterrupted):
        epoch, next_batch = exc.epoch, exc.next_batch
    elif trainer.can_checkpoint:  # stopped at once, but after a whole mini-batch
        position = trainer.state_dict()["position"]
        epoch = trainer.epoch if position else trainer.epoch + 1
        next_batch = position["next_batch"] if position else 0
    elif trainer.completed_epochs == trainer.epoch:  # in the epoch's mini-batches
        return {"epoch": trainer.epoch + 1, "partial_mini_batch": True}
    else:  # after the epoch's mini-batches, in its monitoring or callbacks
        epoch, next_batch = trainer.epoch + 1, 0
    # ``epoch`` and ``next_batch`` count from 0 here, like Trainer.epoch.
    if next_batch > 0:
        return {"epoch": epoch + 1, "after_batch": next_batch}
    # Stopped between epochs: after the last mini-batch of the epoch before.
    X = (trainer.epoch_train_data or trainer.train_data)[0]
    return {"epoch": epoch, "after_batch": -(-X.shape[0] // trainer.config.mini_batch_size)}


#: 128 + SIGPIPE is the exit status of a run whose stdout pipe closed.
SIGPIPE = getattr(signal, "SIGPIPE", 13)


class _EpochLines(io.TextIOBase):
    """The per-epoch lines of ``nndl train``, on stdout, until its reader goes.

    A closed pipe (``nndl train | head``) means SIGPIPE, which Python turns
    into BrokenPipeError: instead of losing the run to it, stdout then goes
    to /dev/null and ``closed_pipe()`` is called (the run stops after the
    mini-batch and saves its files, as on SIGTERM).
    """

    def __init__(self, closed_pipe):
        self._closed_pipe = closed_pipe
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                sys.stdout.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._reader_gone()

    def isatty(self) -> bool:
        return not self._gone and sys.stdout.isatty()

    def _reader_gone(self) -> None:
        self._gone = True
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
        self._closed_pipe()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _say(message: str, quiet: bool = False) -> None:
    """A notice on stderr (none when ``quiet``) that cannot stop a run from saving.

    After a hangup (SIGHUP: the terminal closed) every write to the
    terminal fails; its standard streams then go to /dev/null, so that the
    run still writes its files and exits with its status.
    """
    silence_hung_up_terminal()
    if quiet:
        return
    # RuntimeError: a signal's notice came while the stream was being written
    # (a reentrant call); the notice is lost, the run goes on.
    with contextlib.suppress(OSError, RuntimeError):
        click.echo(message, err=True)


RUN_MARKERS = ("model.json", "config.json", "history.json", "results.json", "checkpoint.npz")
#: Files of a run that a new run does not always rewrite (they depend on its
#: options), removed by ``--overwrite`` so that two runs' files never mix.
OPTIONAL_RUN_FILES = ("curves.png", "diagnostics.png", "batches.csv", "checkpoint.npz")


def _checkpoint_file(cfg: dict[str, dict], out: Path) -> Path | None:
    """The --checkpoint-path file when it lies in ``out`` (None otherwise)."""
    name = cfg.get("control", {}).get("checkpoint_path")
    if not name or Path(name).is_absolute():
        return None
    return out / name


def check_out_folder(out: Path, cfg: dict[str, dict], overwrite: bool, same_run: bool) -> None:
    """Refuse an output folder that cannot be written or holds another run.

    Called before any data is loaded, so nothing is trained for a folder
    that cannot take the results. With ``overwrite`` the previous run's
    files that this run may not rewrite are removed; ``same_run`` (resuming
    into the checkpoint's own folder) keeps them. Creates nothing.
    """
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise click.ClickException(
            f"cannot write to --out {out}: {existing} is a file, not a folder"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".nndl-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise click.ClickException(f"cannot write to --out {out}: {reason}") from None
    if same_run or existing != out:
        return
    markers = [name for name in RUN_MARKERS if (out / name).exists()]
    if not markers:
        return
    if not overwrite:
        raise click.ClickException(
            f"--out {out} already holds a run ({', '.join(markers)}); pass --overwrite to "
            "replace it or choose another --out"
        )
    stale = [out / name for name in OPTIONAL_RUN_FILES]
    checkpoint = _checkpoint_file(cfg, out)
    if checkpoint is not None:
        stale.append(checkpoint)
    for path in stale:
        if path.is_file():
            path.unlink()


@dataclass(frozen=True)
class _SeedJob:
    """What ``--seeds`` gives each seed's run: the data, loaded (and expanded) once by
    the caller and memory mapped into the workers, not read again by each."""

    splits: Any


def _in_dtype(splits, dtype: str):
    """The splits with their inputs in the network's dtype: converted once, by the caller,
    so that every seed's job maps the same array instead of converting its own copy."""
    return type(splits)(*(type(part)(np.asarray(part.X, dtype=dtype), part.y) for part in splits))


def _train_one_seed(
    config: dict, seed: int, out: str, test: bool, plot: bool, overwrite: bool, splits=None
) -> dict:
    """One seed of ``nndl train --seeds``: a whole run in ``out``, as ``nndl train`` makes it.

    Runs in a worker of :func:`nndl.jobs.run_jobs`, on ``splits`` when given;
    returns the run's results.json, with what the run printed. A run that
    stops early raises. Its epochs go to the caller's progress display
    (:class:`~nndl.callbacks.JobProgress`).
    """
    printed = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        config_file = write_config(Path(tmp) / "config.json", config)
        args = ["--config", str(config_file), "--seed", str(seed), "--out", out, "--quiet"]
        args += ["--test" if test else "--no-test", "--plot" if plot else "--no-plot"]
        args += ["--overwrite"] if overwrite else []
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            status = train.main(
                args, prog_name="nndl train", standalone_mode=False, obj=_SeedJob(splits)
            )
    if status and status > 128:  # a stop signal reached this seed's run: stop every seed
        signum = status - 128
        raise KeyboardInterrupt if signum == signal.SIGINT else StopSignal(signum)
    if status:
        raise RuntimeError(f"the run stopped with exit status {status}: {printed.getvalue()}")
    results = json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
    if results.get("status") != "complete":
        raise RuntimeError(f"the run did not complete: {results.get('status')}")
    return results


def _train_seeds(cfg, seed, seeds, jobs, dask_scheduler, out, test, plot, overwrite, quiet):
    """``nndl train --seeds K``: K seeds of one configuration, then their statistics."""
    from ..experiments.progress import RunProgress
    from ..experiments.statistics import summarize
    from ..jobs import JobsInterrupted, dask_scheduler_address, run_jobs

    summary_file = out / "seeds.json"
    if summary_file.exists() and not overwrite:
        raise click.UsageError(
            f"{out} already holds the runs of several seeds; use another --out or --overwrite"
        )
    seed_list = [seed + k for k in range(seeds)]
    splits = None
    if not dask_scheduler_address(dask_scheduler):
        # Loaded once here and memory mapped into the jobs; a Dask cluster's
        # workers load their own (the arrays would travel over the network).
        splits = _in_dtype(_load_data(cfg["data"], quiet), cfg["network"]["dtype"])
    work = [
        (_train_one_seed, (cfg, s, str(out / f"seed-{s}"), test, plot, overwrite, splits))
        for s in seed_list
    ]
    progress = None if quiet else RunProgress(sys.stderr)
    if progress is not None and splits is not None:
        epochs, n_train = cfg["training"]["epochs"], splits.train.X.shape[0]
        progress.plan("seeds", [("seed", epochs, n_train)] * seeds)

    def event(index: int, what: tuple) -> None:
        if progress is None:
            return
        if what[0] == "begin":
            n_train = 0 if splits is None else splits.train.X.shape[0]
            progress.begin("seeds", "run", seed_list[index], what[1], n_train, key=index)
        elif what[0] == "epoch":
            progress.epoch_done(what[1], key=index)
        elif what[0] == "end":
            progress.end(key=index)

    def report(result, done, total) -> None:
        if progress is not None:
            progress.end(key=result.index)
        s = seed_list[result.index]
        if result.ok:
            r = result.value
            accs = [
                f"{name} {percent(r[key])}"
                for name, key in (("validation", "validation_accuracy"), ("test", "test_accuracy"))
                if key in r
            ]
            what = ", ".join(accs) or "done"
        else:
            what = f"failed: {result.error}"
        line = f"[{done}/{total}] seed {s}: {what} ({result.seconds:.1f} s)"
        if progress is not None:
            progress.write(line, sys.stderr)
        else:
            _say(line, quiet)

    if not quiet:
        where = f"the Dask cluster at {dask_scheduler}" if dask_scheduler else "this machine"
        click.echo(
            f"Training {seeds} seeds ({seed_list[0]}..{seed_list[-1]}) on {where}; "
            f"each run in {out}/seed-S"
        )
    status, stopped = "complete", None
    try:
        results = run_jobs(
            work, n_jobs=jobs, dask_scheduler=dask_scheduler, on_result=report, on_event=event
        )
    except JobsInterrupted as exc:
        results, status = exc.finished, "interrupted"
        stopped = interrupted_status(exc)
    finally:
        if progress is not None:
            progress.close()
    per_seed = []
    for r in results:
        s = seed_list[r.index]
        row: dict[str, Any] = {"seed": s, "out": f"seed-{s}", "ok": r.ok}
        if r.ok:
            for key in ("validation_accuracy", "test_accuracy"):
                if key in r.value:
                    row[key] = r.value[key]
        else:
            row["error"] = r.error
        per_seed.append(row)
    doc: dict[str, Any] = {"status": status, "seeds": per_seed}
    lines = []
    for name, key in (("Validation", "validation_accuracy"), ("Test", "test_accuracy")):
        values = [row[key] for row in per_seed if key in row]
        if not values:
            continue
        stats = summarize(values)
        doc[key] = stats
        if stats["std"] is None:
            lines.append(f"{name} accuracy over 1 seed: {percent(stats['mean'])}")
        else:
            lo, hi = stats["ci95"]
            lines.append(
                f"{name} accuracy over {stats['n']} seeds: mean {percent(stats['mean'])}, "
                f"standard deviation {100 * stats['std']:.2f} points, "
                f"95% confidence interval [{percent(lo)}, {percent(hi)}]"
            )
    atomic_write_json(summary_file, doc)
    failed = [row for row in per_seed if not row["ok"]]
    for line in lines:
        click.echo(line)
    click.echo(f"Saved seeds.json and {len(per_seed)} run folder(s) in {out}")
    if stopped is not None:
        code, what = stopped
        _say(f"nndl: {what}; {len(per_seed)} of {seeds} seed(s) had finished")
        raise click.exceptions.Exit(code)
    if failed:
        _say(
            f"nndl: {len(failed)} of {seeds} seed(s) failed: "
            + "; ".join(f"seed {row['seed']}: {row['error']}" for row in failed)
        )
        raise click.exceptions.Exit(1)


def _default_out() -> Path:
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


@click.command()
@settings_options()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="read settings from a TOML or JSON file (e.g. a run's config.json); "
    "options given here win",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="folder for model.json, history.json/.csv, config.json, curves.png "
    "(default: runs/DATE-TIME)",
)
@click.option(
    "--test/--no-test", default=True, help="report test accuracy at the end (default: on)"
)
@click.option(
    "--plot/--no-plot",
    default=True,
    help="plot curves.png when matplotlib is installed (default: on)",
)
@click.option(
    "--resume",
    "resume_from",
    type=click.Path(dir_okay=False, exists=True),
    help="continue the run saved in this checkpoint (its folder's config.json gives the "
    "settings unless --config is given; --epochs may extend the run)",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="replace the run already in the --out folder (its files are removed or rewritten)",
)
@click.option("--print-config", is_flag=True, help="print the resolved settings as TOML and exit")
@click.option("--quiet", "-q", is_flag=True, help="no progress or per-epoch lines, just the result")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="train K seeds (--seed, --seed + 1, ...) of this configuration, each in OUT/seed-S, "
    "and report their mean, spread and 95% confidence interval in OUT/seeds.json",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="with --seeds: how many seeds train at once, in separate processes "
    "(default: the number of cores)",
)
@click.option(
    "--dask",
    "dask_scheduler",
    metavar="ADDRESS",
    envvar="NNDL_DASK_SCHEDULER",
    help="with --seeds: train the seeds on this Dask scheduler's cluster "
    "(default: $NNDL_DASK_SCHEDULER; needs nndl[dask])",
)
def train(
    config_file,
    out,
    test,
    plot,
    resume_from,
    overwrite,
    print_config,
    quiet,
    seeds,
    jobs,
    dask_scheduler,
    **values,
):
    """Train a network and save it with its history and configuration.

    With no options: [784, 100, 10] sigmoid neurons, cross-entropy, eta 0.5,
    lambda 5.0, mini-batches of 10, 30 epochs on MNIST, monitoring the
    validation accuracy (the chapter's best simple network; the book reports
    97.92% on the validation data). Ctrl-C stops after the current
    mini-batch and saves what there is, with a checkpoint that
    `nndl train --resume OUT/checkpoint.npz` continues exactly (exit status
    130; SIGTERM and SIGHUP the same, 143 and 129); a second one stops at
    once and still saves the model.
    """
    if resume_from is not None:
        resume_from = Path(resume_from)
        if config_file is None and (resume_from.parent / "config.json").is_file():
            config_file = resume_from.parent / "config.json"
        if out is None:
            out = resume_from.parent
    cfg = resolve_run_config(layer_from_options(values), config_file)
    seed_given = cfg["training"].get("seed") is not None
    train_config, seed = check_before_loading(cfg)
    cfg["training"] = train_config.to_dict()
    if print_config:
        text = to_toml(cfg)
        if not seed_given:
            # The seed drawn above would be this process's only: a run draws its own.
            text = text.replace(
                f"seed = {seed}\n",
                "# seed: not set; a run draws one at random when it starts and saves it "
                "in config.json\n",
                1,
            )
        click.echo(text, nl=False)
        return
    # The folder is created by the first file written to it, so a run that
    # fails before then leaves nothing behind; it is checked before any data
    # is loaded.
    out = Path(out) if out else _default_out()
    if seeds > 1:
        if resume_from is not None:
            raise click.UsageError("--resume continues one run; it cannot be used with --seeds")
        _train_seeds(cfg, seed, seeds, jobs, dask_scheduler, out, test, plot, overwrite, quiet)
        return
    same_run = resume_from is not None and resume_from.parent.resolve() == out.resolve()
    check_out_folder(out, cfg, overwrite, same_run)
    remove_stale_temp_files(out)  # those of writers killed outright in an earlier run
    given = click.get_current_context().obj
    if isinstance(given, _SeedJob) and given.splits is not None:
        splits = given.splits  # one seed of --seeds: the caller loaded the data
    else:
        splits = _load_data(cfg["data"], quiet)
    net = _build_network(cfg["network"], splits, seed)
    cfg["network"] = net.config.to_dict()

    train, val = splits.train, splits.validation
    have_val = val.X.shape[0] > 0
    if not quiet:
        tc = train_config
        header = (
            f"Training {net.sizes} ({net.config.hidden_activation} hidden, {net.cost.name} cost) "
            f"on {cfg['data']['dataset']}: {train.X.shape[0]} training and {val.X.shape[0]} "
            f"validation examples; eta {tc.learning_rate:g}, lambda {tc.l2:g}, mini-batch "
            f"{tc.mini_batch_size}, {tc.epochs} epochs, seed {seed}"
        )
    tc = train_config
    growth = weight_decay_growth(
        tc.optimizer, tc.momentum, tc.learning_rate, tc.l2, int(train.X.shape[0])
    )
    if growth:  # said before training, whether or not --quiet
        click.echo(
            f"nndl: warning: {growth}: training will diverge; use a smaller --eta or --lmbda",
            err=True,
        )
    run = TrainingRun(cfg, net, train_config, splits, out, quiet)
    callbacks: list[Callback] = []
    pipe_closed: list[int] = []
    if not quiet:

        def stdout_closed() -> None:
            pipe_closed.append(SIGPIPE)
            _say("stdout closed (its reader is gone): stopping after this mini-batch")
            trainer.request_interrupt()

        # A bar with the running cost on a terminal (stderr), one line per epoch on
        # stdout (itself when a terminal, so that a progress library clears the bar).
        epoch_lines = sys.stdout if _is_terminal(sys.stdout) else _EpochLines(stdout_closed)
        callbacks.append(
            ProgressBar("auto", line_format="sentence", line_file=epoch_lines, running_cost=500)
        )
    for factory in CALLBACK_FACTORIES:
        callbacks.extend(factory(run))
    callbacks.append(ChanceAccuracyWarning.for_data(train.y, val.y if have_val else None))
    if isinstance(given, _SeedJob):
        callbacks.append(JobProgress())
    trainer = Trainer(net, train_config, callbacks=callbacks)
    if not quiet:  # and which path trains the mini-batches (nndl.kernels)
        click.echo(f"{header}; engine {trainer.engine} ({trainer.engine_reason})")
    if cfg.get("control", {}).get("checkpoint_every"):
        # A run killed outright keeps its checkpoints: their settings go first.
        write_config(out / "config.json", cfg)
    interrupted: KeyboardInterrupt | None = None
    # From here to the last file, a stop signal (Ctrl-C, SIGTERM, SIGHUP)
    # never costs the trained model: in training it stops after the
    # mini-batch under way (a second one at once), and while the files are
    # written it is held until they are, the plots then skipped.
    with signals_held(
        lambda signum: _say("saving the run's files first; it stops when they are written", quiet),
        deliver=False,
    ) as held:
        try:
            with trainer.interrupt_on_signals(lambda m: _say(m, quiet)) as received:
                if held:  # a signal just before training began
                    trainer.request_interrupt()
                trainer.fit(
                    train.X,
                    train.y,
                    validation_data=(val.X, val.y) if have_val else None,
                    resume_from=resume_from,
                )
        except KeyboardInterrupt as exc:  # TrainingInterrupted, or a second signal
            interrupted = exc
        checkpoint = next((cb for cb in callbacks if isinstance(cb, Checkpoint)), None)
        # A checkpoint of the point where the run stopped, when its state is
        # consistent. The --checkpoint-every callback writes one after
        # TrainingInterrupted, unless a second signal cut that short.
        resumable = bool(interrupted) and trainer.can_checkpoint
        if resumable and (checkpoint is None or not isinstance(interrupted, TrainingInterrupted)):
            checkpoint = checkpoint or Checkpoint(out / "checkpoint.npz")
            checkpoint.save(trainer)

        results = {
            "status": "interrupted" if interrupted else "complete",
            "epochs_completed": len(trainer.history),
            "n_train": int(train.X.shape[0]),
        }
        if interrupted:
            results["stopped"] = _where_stopped(trainer, interrupted)
        if trainer.history and "val_accuracy" in trainer.history:
            results["validation_accuracy"] = trainer.history["val_accuracy"][-1]
            best_epoch, best = trainer.history.best("val_accuracy")
            results["best_validation_accuracy"] = {"epoch": best_epoch, "value": best}
        if test and not interrupted:
            results["test_accuracy"] = net.accuracy(splits.test.X, splits.test.y)
        book = book_result(cfg)
        if book and not interrupted:
            results["book"] = {k: book[k] for k in ("split", "accuracy", "note")}

        from ..serialization import save

        meta = {"nndl_version": __version__, "config": cfg, "results": results}
        files = [save(net, out / "model.json", metadata=meta)]
        files += write_history(out, trainer.history)
        files.append(write_config(out / "config.json", cfg))
        atomic_write_json(out / "results.json", results)
        files.append(out / "results.json")
        title = (
            f"{net.sizes} on {cfg['data']['dataset']}, eta {train_config.learning_rate:g}, "
            f"lambda {train_config.l2:g}"
        )
        plots_skipped = plot and bool(held)
        plot = plot and not held
        png = plot_curves(out, trainer.history, title) if plot else None
        if png:
            files.append(png)
        files += control_outputs(out, cfg, trainer, callbacks, plot, title)
    stop_signals = [*received, *pipe_closed, *held]

    if interrupted:
        stopped = results["stopped"]
        epoch = stopped["epoch"]
        if stopped.get("partial_mini_batch"):
            where = f"stopped at once in epoch {epoch}, in the middle of a mini-batch"
            model = "the model as it was (its last mini-batch may be partly applied)"
        else:
            where = f"interrupted in epoch {epoch} after mini-batch {stopped['after_batch']}"
            model = "the model"
        if resumable:
            then = f"; continue with: nndl train --resume {checkpoint.saved[-1]}"
        elif checkpoint is not None and checkpoint.saved:
            then = (
                "; no checkpoint of this point, but the last checkpoint continues the run "
                f"from before it: nndl train --resume {checkpoint.saved[-1]}"
            )
        else:
            then = "; no checkpoint of this point: the run cannot continue exactly from it"
        _say(
            f"nndl: {where}; saved {model} and the history of {len(trainer.history)} "
            f"complete epoch(s) to {out}{then}"
        )
        raise click.exceptions.Exit(stopped_status(stop_signals))

    lines = []
    if "validation_accuracy" in results:
        b = results["best_validation_accuracy"]
        lines.append(
            f"Validation accuracy: {percent(results['validation_accuracy'])} "
            f"(best {percent(b['value'])} in epoch {b['epoch']})"
        )
    if "test_accuracy" in results:
        n = splits.test.X.shape[0]
        acc = results["test_accuracy"]
        lines.append(f"Test accuracy: {percent(acc)} ({round(acc * n)}/{n})")
    if book:
        ours = results.get(f"{book['split']}_accuracy")
        mine = f"; this run: {percent(ours)}" if ours is not None else ""
        lines.append(
            f"The book reports {percent(book['accuracy'])} on the {book['split']} data for this "
            f"set-up ({book['note']}){mine}"
        )
    lines.append(f"Saved {', '.join(p.name for p in files)} in {out}")
    for line in lines:
        click.echo(line)
    if held:
        what = "interrupted" if signal_name(held[0]) == "SIGINT" else signal_name(held[0])
        skipped = " (the plots skipped)" if plots_skipped else ""
        _say(f"nndl: {what} while saving; the run's files are complete in {out}{skipped}")
        raise click.exceptions.Exit(stopped_status(held))
