"""One run of one experiment: its settings, seeds, data, training runs and records.

An experiment is a function ``run(experiment)`` that trains what it needs
through the :class:`ExperimentRun` it is given, records numbers
(:meth:`ExperimentRun.metric`), draws figures (:meth:`ExperimentRun.figure`)
and states its verdicts against the book (:meth:`ExperimentRun.check_close`,
:meth:`ExperimentRun.check`). The run does the rest, the same way for every
experiment:

- settings and seeds: ``--seeds K`` runs every configuration with seeds
  ``seed, seed + 1, ..., seed + K - 1``; every metric then holds one value per
  seed and is reported as a mean with its spread and a 95% confidence
  interval (Student t, :mod:`~nndl.experiments.statistics`);
- timing: the wall time of the whole experiment and of every training run;
- files, written atomically: ``<out>/<name>/results.json`` (settings, seeds,
  per-epoch numbers, metrics, verdicts, wall time) and one PNG per figure;
- the printed table (:mod:`~nndl.experiments.tables`): our result, the
  book's result, and a verdict that names the tolerance it used.

``--quick`` runs the same code on a small slice with few epochs: a smoke test
that the experiment works and writes its files. Quick runs are never judged
against the book (their verdicts read "quick: not judged").

Comparisons between two techniques (:meth:`ExperimentRun.compare`) use
Welch's t-test over the seeds: the difference is called larger than the
noise only when p < 0.05; with one seed per side the run says it cannot tell.
"""

from __future__ import annotations

import copy
import io
import itertools
import math
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json
from .._validation import check_range
from ..callbacks import JobProgress, LambdaCallback, TensorBoard
from ..data import DataSplits
from ..network import Network
from ..training import DivergenceError, Trainer
from .background import background_running
from .data_source import DATA_SOURCES, load_splits, resolve_data_source
from .progress import RunProgress
from .statistics import summarize, welch_test
from .tables import format_statistics, format_table

__all__ = [
    "ExperimentRun",
    "ExperimentSettings",
    "FittedNetwork",
    "TrainRun",
    "VerdictRow",
    "fit_network",
]


def _json_safe(obj):
    """NaN and infinities become None (JSON has no such numbers); arrays become lists."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


@dataclass
class ExperimentSettings:
    """How to run experiments: the options of ``nndl experiment run``.

    These choose the seeds, the data and where results go; each experiment
    sets its own training settings (the book's) itself.

    Parameters
    ----------
    quick : bool
        Small slice, few epochs: seconds per experiment, never judged.
    seeds : int
        How many seeds per configuration (K >= 1). ``None`` takes each
        experiment's default (1 for the book's experiments).
    seed : int
        The first seed; the others follow it.
    out : path
        Results go to ``out/<experiment>/``.
    data : "auto", "mnist" or "digits"
        ``auto`` is MNIST, except for quick runs without MNIST in the local
        cache, which use scikit-learn's 8x8 digits (no download).
    dtype : "float64" or "float32"
    options : dict
        Experiment-specific options, e.g. ``{"svm_max_size": 50000}``.
    tensorboard : path, optional
        Write TensorBoard event files of every training run to
        ``tensorboard/<experiment>/<configuration>/seed-<seed>``
        (:class:`~nndl.callbacks.TensorBoard`; ``seed-<seed>-2`` and so on
        when that folder holds an earlier run).
    stream : file, optional
        Where progress and the table are printed (default stdout); ``None``
        with ``verbose=False`` prints nothing.
    progress : RunProgress, optional
        Shows what is training and the time left for the whole run
        (:class:`~nndl.experiments.progress.RunProgress`; ``nndl experiment
        run`` gives one that draws on stderr).
    jobs : int, optional
        How many processes work at once (default: the number of cores): the
        trainings of :meth:`ExperimentRun.train_many`, each in its own, and
        a background process (the SVM fits) counted among them while it
        works; with 1, everything runs one after another in this process. The numbers do
        not depend on it.
    """

    quick: bool = False
    seeds: int | None = None
    seed: int = 0
    out: Path = Path("nndl-results")
    data: str = "auto"
    dtype: str = "float64"
    options: dict = field(default_factory=dict)
    tensorboard: Path | None = None
    verbose: bool = True
    stream: TextIO | None = None
    progress: RunProgress | None = None
    jobs: int | None = None

    @property
    def n_jobs(self) -> int:
        """``jobs``, or the number of cores when it is not set."""
        from ..jobs import default_n_jobs

        return default_n_jobs() if self.jobs is None else self.jobs

    def validate(self) -> ExperimentSettings:
        if self.jobs is not None:
            self.jobs = check_range("jobs", self.jobs, low=1, integer=True)
        if self.seeds is not None:
            self.seeds = check_range("seeds", self.seeds, low=1, high=100, integer=True)
        self.seed = check_range("seed", self.seed, low=0, integer=True)
        if self.data not in DATA_SOURCES:
            raise ValueError(f"data must be one of {list(DATA_SOURCES)}, got {self.data!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if not isinstance(self.options, dict):
            raise TypeError(f"options must be a dict, got {type(self.options).__name__}")
        self.out = Path(self.out)
        if self.tensorboard is not None:
            self.tensorboard = Path(self.tensorboard)
            TensorBoard(self.tensorboard)  # without tensorboardX: refused now, not per run
        return self

    def to_dict(self) -> dict:
        hidden = ("stream", "verbose", "progress", "jobs")  # how it ran, not what
        shown = [f.name for f in fields(self) if f.name not in hidden]
        d = {name: copy.deepcopy(getattr(self, name)) for name in shown}
        d["out"] = str(self.out)
        d["tensorboard"] = None if self.tensorboard is None else str(self.tensorboard)
        return d


@dataclass
class VerdictRow:
    """One row of the table: what we measured against what the book says.

    ``passed`` is True or False for a judged verdict and None when there is
    nothing to judge (no figure in the book, or a quick run).
    """

    label: str
    ours: str
    book: str
    tolerance: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return self.tolerance
        return ("PASS: " if self.passed else "FAIL: ") + self.tolerance


class TrainRun(NamedTuple):
    """What :meth:`ExperimentRun.train` returns."""

    net: Network
    history: dict
    seconds: float
    diverged: str | None


class FittedNetwork(NamedTuple):
    """What one training gives, in this process or in a job's worker."""

    net: Network
    history: dict
    train_config: dict
    epochs_run: int
    seconds: float
    diverged: str | None


def fit_network(
    sizes,
    X,
    y,
    *,
    seed: int,
    evaluation=None,
    monitor=(),
    callbacks=(),
    net_kwargs: dict,
    init_params=None,
    catch_divergence: bool = False,
    on_begin=None,
    on_end=None,
    report_progress: bool = False,
    train: dict,
) -> FittedNetwork:
    """Build a network and train it: the work of :meth:`ExperimentRun.train`.

    A module-level function so that :meth:`ExperimentRun.train_many` can run
    it in a job (:mod:`nndl.jobs`). ``on_begin(epochs)`` and ``on_end()``
    bracket the training (the progress display); ``report_progress`` sends
    ``("begin", epochs)``, ``("epoch", k)`` and ``("end",)`` to the job's
    caller instead (:func:`nndl.jobs.report`).
    """
    if report_progress:
        callbacks = [*callbacks, JobProgress()]
    net = Network(sizes, seed=seed, **net_kwargs)
    if init_params is not None:
        net.set_params(init_params)
    trainer = Trainer(net, callbacks=list(callbacks), seed=seed, monitor=list(monitor), **train)
    if on_begin is not None:
        on_begin(trainer.config.epochs)
    diverged = None
    t0 = time.perf_counter()
    try:
        trainer.fit(X, y, evaluation)
    except DivergenceError as exc:
        if not catch_divergence:
            raise
        diverged = str(exc)
    finally:
        if on_end is not None:
            on_end()
    seconds = time.perf_counter() - t0
    return FittedNetwork(
        net,
        trainer.history.to_dict(),
        trainer.config.to_dict(),
        len(trainer.history),
        seconds,
        diverged,
    )


class ExperimentRun:
    """One run of one experiment: its settings, seeds, data, training runs and records.

    The experiment's ``run(experiment)`` gets one, trains through it, and
    records its metrics, verdicts, comparisons and figures on it;
    :meth:`finish` writes ``results.json`` and prints the table.

    Attributes
    ----------
    name : str
        The experiment's registry name (also its output folder).
    quick : bool
    seeds : list of int
    out : Path
        ``settings.out / name``.
    options : dict
    verdicts : list of VerdictRow
        The table's rows, in the order they were stated.
    """

    def __init__(
        self, name: str, title: str, settings: ExperimentSettings, *, default_seeds: int = 1
    ):
        self.name = name
        self.title = title
        self.settings = settings
        self.quick = settings.quick
        k = settings.seeds if settings.seeds is not None else default_seeds
        self.seeds = [settings.seed + i for i in range(k)]
        self.out = Path(settings.out) / name
        self.options = dict(settings.options)
        self.dtype = settings.dtype
        self.runs: dict[str, list[dict]] = {}
        self.metrics: dict[str, dict] = {}
        self.verdicts: list[VerdictRow] = []
        self.comparisons: list[dict] = []
        self.figures: list[dict] = []
        self.notes: list[str] = []
        self.config: dict = {}
        self._data_source: str | None = None
        #: What an experiment without a data set uses instead (see :meth:`uses_no_data_set`).
        self.data_description: str | None = None
        #: Set when the experiment raised: its results are then partial.
        self.error: str | None = None
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------ small helpers
    def pick(self, full, quick):
        """``full`` normally, ``quick`` in a quick run."""
        return quick if self.quick else full

    def log(self, message: str) -> None:
        """A progress line (to the settings' stream)."""
        if self.settings.verbose:
            self._print(f"[{self.name}] {message}")

    def _print(self, text: str) -> None:
        stream = self.settings.stream or sys.stdout
        if self.settings.progress is not None:
            self.settings.progress.write(text, stream)
        else:
            print(text, file=stream, flush=True)

    def note(self, text: str) -> None:
        """A sentence for the report (what was done differently, and why)."""
        self.notes.append(text)

    def set_config(self, **config) -> None:
        """Record the experiment's own settings (sizes, epochs, rates ...)."""
        self.config.update(config)

    def set_title(self, title: str) -> None:
        """The table's and the report's title, from the settings actually used."""
        self.title = title

    # -------------------------------------------------------------------- data
    def uses_no_data_set(self, description: str) -> None:
        """Say what the experiment uses instead of a data set (the table's "data")."""
        self.data_description = description

    @property
    def data_name(self) -> str:
        """The data set in words: ``MNIST`` or ``the 8x8 digits``."""
        return "MNIST" if self.data_source == "mnist" else "the 8x8 digits"

    @property
    def data_source(self) -> str:
        """``"mnist"`` or ``"digits"``, resolved from the settings."""
        if self._data_source is None:
            self._data_source = resolve_data_source(self.settings)
        return self._data_source

    def data(self) -> DataSplits:
        """The :class:`~nndl.data.DataSplits` for this run (MNIST or digits).

        A quick run gets slices: at most 1,000 training images and 500 of
        each held-out set.
        """
        splits = load_splits(self.data_source)
        if not self.quick:
            return splits
        return DataSplits(
            splits.train.head(1000), splits.validation.head(500), splits.test.head(500)
        )

    def image_side(self, n_features: int) -> int:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"inputs of {n_features} features are not square images")
        return side

    # ---------------------------------------------------------------- training
    def train(
        self,
        label: str,
        sizes,
        X,
        y,
        *,
        seed: int,
        evaluation=None,
        monitor=(),
        callbacks=(),
        network: dict | None = None,
        init_params=None,
        catch_divergence: bool = False,
        **train,
    ) -> TrainRun:
        """Build a network, train it, record the run under ``label``.

        Parameters
        ----------
        label : str
            The configuration's name (runs of several seeds share it).
        sizes : list of int
        X, y : training data.
        seed : int
            Seeds both the initial weights and the trainer (shuffling, dropout),
            so two configurations with the same seed start from the same weights
            when their shapes agree: a paired comparison.
        evaluation : (X, y), optional
            The held-out data monitored as ``val_*``.
        monitor : list of str
            Only what the figures need: every evaluation costs time.
        network : dict
            Keyword arguments of :class:`~nndl.network.Network` (initializer,
            cost, hidden_activation, dropout, ...).
        init_params : list of arrays, optional
            Parameters to start from instead of the initializer's draw.
        catch_divergence : bool
            Record a :class:`~nndl.training.DivergenceError` instead of raising it
            (the broad-strategy walk-through expects some runs to blow up).
        **train
            :class:`~nndl.training.TrainConfig` fields (epochs, learning_rate, l2 ...).
        """
        callbacks = list(callbacks)
        if self.settings.tensorboard is not None:
            callbacks.append(self._tensorboard_callback(label, seed))
        progress = self.settings.progress
        if progress is not None:
            callbacks.append(
                LambdaCallback(on_epoch_end=lambda t, epoch, logs: progress.epoch_done(epoch + 1))
            )
        n_train = int(np.asarray(X).shape[0])
        fitted = fit_network(
            sizes,
            X,
            y,
            seed=seed,
            evaluation=evaluation,
            monitor=monitor,
            callbacks=callbacks,
            net_kwargs={"dtype": self.dtype, **(network or {})},
            init_params=init_params,
            catch_divergence=catch_divergence,
            on_begin=None
            if progress is None
            else lambda epochs: progress.begin(self.name, label, seed, epochs, n_train),
            on_end=None if progress is None else progress.end,
            train=train,
        )
        return self._record(label, seed, fitted, n_train, evaluation)

    def _record(self, label, seed, fitted: FittedNetwork, n_train: int, evaluation) -> TrainRun:
        """Record a finished training under ``label``, log it, and return it."""
        record = {
            "seed": seed,
            "seconds": fitted.seconds,
            "n_train": n_train,
            "n_eval": None if evaluation is None else int(np.asarray(evaluation[0]).shape[0]),
            "network": fitted.net.config.to_dict(),
            "train": fitted.train_config,
            "epochs_run": fitted.epochs_run,
            "diverged": fitted.diverged,
            "history": fitted.history,
        }
        self.runs.setdefault(label, []).append(record)
        diverged = fitted.diverged
        what = f"diverged ({diverged.split(';')[0]})" if diverged else "done"
        self.log(
            f"{label} (seed {seed}): {fitted.epochs_run} epochs on {n_train} "
            f"examples in {fitted.seconds:.1f} s, {what}"
        )
        return TrainRun(fitted.net, fitted.history, fitted.seconds, diverged)

    def train_many(self, trainings) -> list[TrainRun]:
        """Train independent configurations at once, in separate processes (:mod:`nndl.jobs`).

        ``trainings``: one dict per training, of :meth:`train`'s arguments
        (``label``, ``sizes``, ``X``, ``y``, ``seed``, ...); their callbacks
        must be picklable. Returns their :class:`TrainRun` and records them in
        the order given, whatever order they finish in: each training's
        numbers depend only on its own arguments, so ``settings.jobs`` 1 and 2
        give the same results; the longest (epochs x examples x weights) start
        first. Every training runs with one BLAS thread, and
        the training data is memory mapped, not copied, into the workers. A
        training that raises does not stop the others; the first such error
        is raised once all have finished (their records kept).
        """
        from ..jobs import JobsInterrupted

        work, labels, costs = [], [], []
        converted: dict = {}  # (id, dtype) -> (the array given, the same in the network's dtype)

        def in_dtype(array, dtype):
            # Converted once here, not in every job, and passed as one array object
            # to all of them: joblib then maps one file into every worker.
            a = np.asarray(array)
            if not np.issubdtype(a.dtype, np.floating) or a.dtype == np.dtype(dtype):
                return array
            key = (id(array), np.dtype(dtype).str)
            if key not in converted:
                converted[key] = (array, a.astype(dtype))
            return converted[key][1]

        for spec in trainings:
            t = dict(spec)
            label, sizes, X, y, seed = (t.pop(k) for k in ("label", "sizes", "X", "y", "seed"))
            net_kwargs = {"dtype": self.dtype, **(t.pop("network", None) or {})}
            X = in_dtype(X, net_kwargs["dtype"])
            evaluation = t.pop("evaluation", None)
            if evaluation is not None:
                evaluation = (in_dtype(evaluation[0], net_kwargs["dtype"]), *evaluation[1:])
            callbacks = list(t.pop("callbacks", ()))
            if self.settings.tensorboard is not None:
                callbacks.append(self._tensorboard_callback(label, seed))
            kwargs = {
                "seed": seed,
                "evaluation": evaluation,
                "monitor": t.pop("monitor", ()),
                "callbacks": callbacks,
                "net_kwargs": net_kwargs,
                "init_params": t.pop("init_params", None),
                "catch_divergence": t.pop("catch_divergence", False),
                "report_progress": self.settings.progress is not None,
                "train": t,
            }
            work.append((fit_network, (sizes, X, y), kwargs))
            labels.append((label, seed, int(np.asarray(X).shape[0]), evaluation))
            # Examples seen times weights: what a training costs, to start the longest first.
            weights = sum(a * b for a, b in itertools.pairwise(sizes))
            costs.append(float(t.get("epochs", 1)) * labels[-1][2] * weights)
        progress = self.settings.progress
        reported: set[int] = set()  # the jobs whose epochs came as they trained

        def event(index: int, what: tuple) -> None:
            if progress is None:
                return
            key = ("job", index)
            if what[0] == "begin":
                reported.add(index)
                label, seed, n_train, _ = labels[index]
                progress.begin(self.name, label, seed, what[1], n_train, key=key)
            elif what[0] == "epoch":
                progress.epoch_done(what[1], key=key)
            elif what[0] == "end":
                progress.end(key=key)

        def finished(result, done, total) -> None:
            if progress is None:
                return
            key = ("job", result.index)
            if result.index not in reported and result.ok:
                # No events (a Dask cluster): the whole training at once.
                label, seed, n_train, _ = labels[result.index]
                epochs = result.value.epochs_run
                progress.begin(
                    self.name, label, seed, result.value.train_config["epochs"], n_train, key=key
                )
                progress.epoch_done(epochs, key=key)
            progress.end(key=key)

        try:
            results = _run_beside_background(
                work, self.settings.n_jobs, costs, on_result=finished, on_event=event
            )
        except JobsInterrupted as stop:
            # Ctrl-C: the trainings that finished are kept in results.json.
            for result in stop.finished:
                if result.ok:
                    label, seed, n_train, evaluation = labels[result.index]
                    self._record(label, seed, result.value, n_train, evaluation)
            raise
        runs = []
        for result, (label, seed, n_train, evaluation) in zip(results, labels, strict=True):
            if result.ok:
                runs.append(self._record(label, seed, result.value, n_train, evaluation))
            else:
                self.log(f"{label} (seed {seed}): failed: {result.error}")
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(
                f"{len(failed)} of {len(results)} training(s) failed; the first: {failed[0].error}"
            )
        return runs

    def _tensorboard_callback(self, label: str, seed: int) -> TensorBoard:
        """TensorBoard logging of one run, in ``<tensorboard>/<name>/<label>/seed-<seed>``
        (``seed-<seed>-2`` and so on for a run that trains it again)."""
        folder = re.sub(r"[^A-Za-z0-9.+-]+", "_", label).strip("_") or "run"
        hparams = {
            "experiment": self.name,
            "configuration": label,
            "quick": self.quick,
            "data.source": self._data_source,
        }
        logdir = Path(self.settings.tensorboard) / self.name / folder / f"seed-{seed}"
        return TensorBoard(logdir, hparams=hparams)

    def attach(self, label: str, key: str, values) -> None:
        """Add a per-epoch series of our own (e.g. the output a) to the last run of ``label``."""
        self.runs[label][-1]["history"][key] = [float(v) for v in values]

    def curves(self, label: str, key: str) -> np.ndarray:
        """Per-epoch values of ``key`` for every seed of ``label``: (n_seeds, n_epochs).

        Runs that stopped early are padded with nan.
        """
        rows = [r["history"].get(key, []) for r in self.runs.get(label, [])]
        if not rows:
            raise KeyError(f"no runs recorded under {label!r}")
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r)] = [np.nan if v is None else v for v in r]
        return out

    # ----------------------------------------------------------------- metrics
    def metric(self, key: str, value, *, unit: str = "", label: str | None = None) -> None:
        """Record one value of a scalar result (one call per seed).

        ``unit="%"`` marks a fraction shown as a percentage.
        """
        m = self.metrics.setdefault(key, {"label": label or key, "unit": unit, "values": []})
        m["values"].append(None if value is None else float(value))

    def value(self, key: str) -> float:
        """The mean of a metric over the seeds."""
        values = [v for v in self.metrics[key]["values"] if v is not None]
        return float(np.mean(values)) if values else math.nan

    def stats(self, key: str) -> dict:
        values = [v for v in self.metrics[key]["values"] if v is not None]
        return summarize(values)

    def shown(self, key: str) -> str:
        """A metric as the table shows it: mean, and with seeds spread and CI."""
        m = self.metrics[key]
        return format_statistics(self.stats(key), m["unit"])

    # ---------------------------------------------------------------- verdicts
    def check(
        self, label: str, *, ours: str, book: str, passed: bool | None, rule: str
    ) -> VerdictRow:
        """A verdict stated in words. ``rule`` is the tolerance or criterion used.

        In a quick run the verdict is recorded as not judged.
        """
        if self.quick and passed is not None:
            c = VerdictRow(label, ours, book, f"quick: not judged ({rule})", None)
        else:
            c = VerdictRow(label, ours, book, rule, None if passed is None else bool(passed))
        self.verdicts.append(c)
        return c

    def check_close(
        self, label: str, key: str, book: float, tol: float, *, what: str = "", at_least=False
    ) -> VerdictRow:
        """Judge a metric's mean against the book's number with a tolerance.

        For percentages ``book`` and ``tol`` are in percentage points (95.49,
        1.0). ``at_least=True`` only fails when we fall short by more than
        ``tol`` (for "and still improving" claims).
        """
        m = self.metrics[key]
        scale = 100.0 if m["unit"] == "%" else 1.0
        mean = self.value(key) * scale
        unit = (" point" if tol == 1 else " points") if m["unit"] == "%" else ""
        digits = max(0, -math.floor(math.log10(tol))) if tol > 0 else 2
        book_txt = f"{book:.2f}%" if m["unit"] == "%" else f"{book:.{digits}f}"
        if at_least:
            passed = mean >= book - tol
            rule = f"no more than {tol:g}{unit} below the book's {book_txt}"
        else:
            passed = abs(mean - book) <= tol
            rule = f"within {tol:g}{unit} of the book's {book_txt}"
        if what:
            rule = f"{what} {rule}"
        if not math.isfinite(mean):
            passed = False
        return self.check(label, ours=self.shown(key), book=book_txt, passed=passed, rule=rule)

    def measured(self, label: str, key: str, book: str = "no figure in the book") -> VerdictRow:
        """A row with no verdict: the number we measured."""
        return self.check(label, ours=self.shown(key), book=book, passed=None, rule="measured")

    # ------------------------------------------------------------- comparisons
    def compare(self, label: str, key_a: str, key_b: str, *, higher_is_better: bool = True) -> dict:
        """Is metric A different from metric B beyond the seed-to-seed noise?

        Welch's t-test on the per-seed values; the verdict names the test.
        """
        a = [v for v in self.metrics[key_a]["values"] if v is not None]
        b = [v for v in self.metrics[key_b]["values"] if v is not None]
        unit = self.metrics[key_a]["unit"]
        scale, u = (100.0, " points") if unit == "%" else (1.0, "")
        res = welch_test(a, b) if a and b else {"diff": math.nan, "significant": None}
        diff = res["diff"] * scale
        better = (diff > 0) == higher_is_better
        name_a = self.metrics[key_a]["label"]
        name_b = self.metrics[key_b]["label"]
        head = f"{name_a} minus {name_b}: {diff:+.2f}{u}"
        if res.get("significant") is None:
            verdict = (
                f"{head}; one seed per side cannot separate this from noise "
                f"(run with --seeds 3 or more)"
            )
        else:
            ci = [x * scale for x in res["ci95"]]
            p = "p = n/a" if res["p"] is None else f"p = {res['p']:.3g}"
            if res["significant"]:
                side = "better" if better else "worse"
                verdict = (
                    f"{head} (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}); {name_a} is {side}, "
                    f"larger than the noise (Welch t-test, {p}, {len(a)}+{len(b)} seeds)"
                )
            else:
                verdict = (
                    f"{head} (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}); within the noise "
                    f"(Welch t-test, {p}, {len(a)}+{len(b)} seeds)"
                )
        entry = {
            "label": label,
            "a": key_a,
            "b": key_b,
            "higher_is_better": higher_is_better,
            "diff": res["diff"],
            "test": _json_safe(res),
            "verdict": verdict,
        }
        self.comparisons.append(entry)
        return entry

    # ----------------------------------------------------------------- figures
    def pyplot(self):
        """matplotlib.pyplot on the Agg backend (no display needed)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt

    def figure(self, name: str, fig, caption: str = "") -> Path:
        """Save a matplotlib figure as ``<out>/<name>.png`` (atomically) and close it."""
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"figure names are letters, digits, - and _, got {name!r}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.pyplot().close(fig)
        path = self.out / f"{name}.png"
        atomic_write_bytes(path, buf.getvalue())
        self.figures.append({"file": path.name, "caption": caption})
        return path

    def plot_curves(self, ax, run: str, key: str, *, x0: int = 1, scale=1.0, **kw):
        """Plot ``key`` of the runs recorded as ``run``: the mean curve over the seeds,
        shading min..max when there are several. ``kw`` go to ``ax.plot`` (label, color ...).
        """
        arr = self.curves(run, key) * scale
        x = np.arange(x0, x0 + arr.shape[1])
        with np.errstate(all="ignore"):
            if arr.shape[0] > 1:
                mean = np.nanmean(arr, axis=0)
                line = ax.plot(x, mean, **kw)[0]
                ax.fill_between(
                    x,
                    np.nanmin(arr, axis=0),
                    np.nanmax(arr, axis=0),
                    alpha=0.2,
                    color=line.get_color(),
                    linewidth=0,
                )
            else:
                ax.plot(x, arr[0], **kw)
        return ax

    # ----------------------------------------------------------------- finish
    def result(self) -> dict:
        metrics = {}
        for k, m in self.metrics.items():
            metrics[k] = {**m, **summarize([v for v in m["values"] if v is not None])}
        judged = [c.passed for c in self.verdicts if c.passed is not None]
        return _json_safe(
            {
                "name": self.name,
                "title": self.title,
                "quick": self.quick,
                "data": self.data_description or self._data_source,
                "seeds": self.seeds,
                "settings": self.settings.to_dict(),
                "config": self.config,
                "wall_time_s": time.perf_counter() - self._t0,
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "environment": {
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "metrics": metrics,
                "checks": [asdict(c) | {"verdict": c.verdict} for c in self.verdicts],
                "comparisons": self.comparisons,
                "figures": self.figures,
                "notes": self.notes,
                "passed": all(judged) if judged else None,
                "error": self.error,
                "runs": self.runs,
            }
        )

    def finish(self) -> dict:
        """Write ``results.json`` atomically, print the table, return the result."""
        res = self.result()
        atomic_write_json(self.out / "results.json", res, indent=1)
        if self.settings.verbose:
            self._print(format_table(res))
        return res


def _run_beside_background(work, n_jobs: int, costs, *, on_result, on_event):
    """:func:`nndl.jobs.run_jobs` for one batch of trainings, sharing the cores with a
    background process (the SVM fits) while one is at work.

    A background process is one of the run's ``n_jobs``. While it works, the
    trainings run in waves on the cores it leaves, costliest first, asking
    again after each wave; as soon as it has finished, the rest of the batch
    gets every core. (A whole batch started on the cores left would keep one
    idle from the moment the background ends to the batch's end.) On a Dask
    cluster the batch goes at once: the cluster's workers are not this
    machine's cores. Results come in the order of ``work``, as from
    ``run_jobs``; Ctrl-C raises :class:`~nndl.jobs.JobsInterrupted` with
    every wave's finished trainings.
    """
    from ..jobs import JobResult, JobsInterrupted, dask_scheduler_address, run_jobs

    if dask_scheduler_address() is not None or not background_running():
        return run_jobs(work, n_jobs=n_jobs, on_result=on_result, on_event=on_event, costs=costs)
    total = len(work)
    order = sorted(range(total), key=lambda i: -costs[i])  # stable: equal costs keep order
    finished: dict[int, JobResult] = {}
    start = 0
    try:
        while start < total:
            busy = background_running()
            n_wave = n_jobs if not busy else max(1, n_jobs - busy)
            wave = order[start:] if not busy else order[start : start + n_wave]
            start += len(wave)

            def mapped_result(result, done, _total, wave=wave):
                result = replace(result, index=wave[result.index])
                finished[result.index] = result
                on_result(result, len(finished), total)

            def mapped_event(index, what, wave=wave):
                on_event(wave[index], what)

            run_jobs(
                [work[i] for i in wave],
                n_jobs=min(len(wave), n_wave),
                on_result=mapped_result,
                on_event=mapped_event,
                costs=[costs[i] for i in wave],
            )
    except KeyboardInterrupt as stop:  # in a wave or between two: keep every wave's results
        raise JobsInterrupted([finished[i] for i in sorted(finished)], total) from stop
    return [finished[i] for i in range(total)]
