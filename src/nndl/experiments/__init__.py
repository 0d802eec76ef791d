"""The chapter's experiments, one module each, and the registry that runs them.

>>> from nndl.experiments import EXPERIMENTS, run_experiment, ExperimentSettings
>>> sorted(EXPERIMENTS)[:3]
['broad_strategy', 'cross_entropy', 'dropout']
>>> settings = ExperimentSettings(quick=True, out="/tmp/r")
>>> res = run_experiment("softmax", settings)   # doctest: +SKIP

Every experiment module defines ``TITLE``, ``BOOK`` (the book's result in a
sentence), ``run(experiment)`` (given an
:class:`~nndl.experiments.experiment_run.ExperimentRun`) and optionally
``DEFAULT_SEEDS``, ``prefetch(settings)``, ``training_plan(experiment)``
(``(configuration, epochs, examples)`` of every training run, all seeds,
so that the progress display can estimate the time left) and ``REQUIRES`` (``"module"`` or
``"module:name"`` entries of optional libraries it needs; when one is
missing the experiment is listed as unavailable with the reason, never
faked). Modules are imported only when an experiment runs, so listing them
is cheap.

The shared code lives beside them, one concern per module:
:mod:`~nndl.experiments.experiment_run` (the run an experiment records on, and
its settings), :mod:`~nndl.experiments.statistics` (means, intervals, Welch's
test), :mod:`~nndl.experiments.tables` (the printed table),
:mod:`~nndl.experiments.data_source` (MNIST or the digits, kept in memory),
:mod:`~nndl.experiments.svm_baseline` (the SVM of ``more_data``: its fits,
prediction and cache) and :mod:`~nndl.experiments.background` (the SVM fits
in a second process).
``Settings`` is the old name of :class:`ExperimentSettings`.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write_json
from .background import cancel_background
from .experiment_run import ExperimentRun, ExperimentSettings
from .tables import format_table

#: The old name of :class:`ExperimentSettings`.
Settings = ExperimentSettings

__all__ = [
    "EXPERIMENTS",
    "ExperimentInfo",
    "ExperimentRun",
    "ExperimentSettings",
    "Settings",
    "availability",
    "format_summary",
    "format_table",
    "get_experiment",
    "run_all",
    "run_experiment",
    "summarize_run",
    "training_plan",
]


@dataclass(frozen=True)
class ExperimentInfo:
    """A registry entry: the name, its module and a one-line summary."""

    name: str
    module: str
    summary: str

    def load(self):
        return importlib.import_module(f"{__name__}.{self.module}")


#: Every experiment, in the chapter's order. ``nndl experiment run all`` runs them in this order.
EXPERIMENTS: dict[str, ExperimentInfo] = {
    e.name: e
    for e in (
        ExperimentInfo(
            "slowdown", "slowdown", "one sigmoid neuron: quadratic vs cross-entropy, four runs"
        ),
        ExperimentInfo(
            "cross_entropy",
            "cross_entropy",
            "cross-entropy vs quadratic on MNIST, 30 and 100 hidden",
        ),
        ExperimentInfo(
            "overfitting", "overfitting", "1,000 images, 400 epochs: the four curves of overfitting"
        ),
        ExperimentInfo(
            "regularization", "regularization", "L2 on 1,000 images and on the full training set"
        ),
        ExperimentInfo(
            "more_data", "more_data", "accuracy vs training-set size, network and SVM, extrapolated"
        ),
        ExperimentInfo(
            "weight_init", "weight_init", "default N(0, 1/n_in) vs large N(0, 1) initialization"
        ),
        ExperimentInfo(
            "learning_rate", "learning_rate", "training cost for eta = 0.025, 0.25 and 2.5"
        ),
        ExperimentInfo(
            "broad_strategy",
            "broad_strategy",
            "the hyper-parameter walk-through from chance to signal",
        ),
        ExperimentInfo(
            "expanded_data", "expanded_data", "one-pixel shifts, rotations, elastic distortions"
        ),
        ExperimentInfo(
            "dropout", "dropout", "dropout with and without L2 on an overfitting network"
        ),
        ExperimentInfo(
            "softmax", "softmax", "softmax activations against one z, and temperature c"
        ),
        ExperimentInfo(
            "techniques",
            "techniques",
            "early stopping, plateau schedule, momentum, Nesterov, tanh, ReLU, L1 vs plain",
        ),
    )
}


def get_experiment(name: str) -> ExperimentInfo:
    """The registry entry for ``name``; a clear error lists the known names."""
    try:
        return EXPERIMENTS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)} (or 'all')"
        ) from None


def availability(name: str) -> tuple[bool, str]:
    """(True, "") when the experiment can run, else (False, the reason)."""
    info = get_experiment(name)
    try:
        mod = info.load()
    except ImportError as exc:
        return False, f"cannot import its module: {exc}"
    for req in getattr(mod, "REQUIRES", ()):
        module, _, attr = req.partition(":")
        try:
            found = importlib.import_module(module)
        except ImportError as exc:
            return False, f"needs {module}, which is not available ({exc})"
        if attr and not hasattr(found, attr):
            return False, f"needs {module}.{attr}, which does not exist yet"
    return True, ""


def run_experiment(name: str, settings: ExperimentSettings | None = None) -> dict:
    """Run one experiment; write its results and figures; return the results dict."""
    settings = (settings or ExperimentSettings()).validate()
    info = get_experiment(name)
    ok, why = availability(name)
    if not ok:
        raise RuntimeError(f"experiment {name!r} is unavailable: {why}")
    mod = info.load()
    experiment = _new_run(name, settings)
    experiment.set_config(book=mod.BOOK)
    progress = settings.progress
    if progress is not None and name not in progress.planned:
        progress.plan(name, training_plan(name, settings))
    try:
        mod.run(experiment)
    except BaseException as exc:
        # Keep what was measured: the runs are often the expensive part.
        experiment.error = f"{type(exc).__name__}: {exc}"
        experiment.finish()
        raise
    finally:
        if progress is not None:
            progress.experiment_finished(name)
    return experiment.finish()


def _new_run(name: str, settings: ExperimentSettings) -> ExperimentRun:
    mod = get_experiment(name).load()
    return ExperimentRun(name, mod.TITLE, settings, default_seeds=getattr(mod, "DEFAULT_SEEDS", 1))


def training_plan(name: str, settings: ExperimentSettings) -> list[tuple[str, int, int]]:
    """What experiment ``name`` will train with these settings: ``(configuration,
    epochs, examples)`` of every run, all seeds; empty when the module does not say."""
    plan = getattr(get_experiment(name).load(), "training_plan", None)
    if plan is None:
        return []
    return list(plan(_new_run(name, settings)))


def run_all(settings: ExperimentSettings | None = None, names=None) -> dict:
    """Run every available experiment (or ``names``); the results come in the chapter's order.

    Experiments with a ``prefetch(settings)`` hook (more_data: the SVM fits)
    start their slow part in a second process first and run last.

    Returns ``{"results": {name: result}, "unavailable": {name: reason},
    "errors": {name: message}, "wall_time_s": total}``; one experiment's
    failure is recorded and the others still run.
    """
    settings = (settings or ExperimentSettings()).validate()
    names = list(EXPERIMENTS) if names is None else [get_experiment(n).name for n in names]
    t0 = time.perf_counter()
    results, unavailable, errors = {}, {}, {}
    ready = []
    for name in names:
        ok, why = availability(name)
        if ok:
            ready.append(name)
        else:
            unavailable[name] = why
    try:
        # Slow independent work (the SVM fits) starts now, in a second process,
        # and the experiments that wait for it run last, so that it overlaps
        # as much of the rest as possible.
        waiting = []
        for name in ready:
            prefetch = getattr(get_experiment(name).load(), "prefetch", None)
            if prefetch is not None:
                prefetch(settings)
                waiting.append(name)
        order = [n for n in ready if n not in waiting] + waiting
        if settings.progress is not None:
            for name in order:
                settings.progress.plan(name, training_plan(name, settings))
        for name in order:
            try:
                results[name] = run_experiment(name, settings)
            except Exception as exc:  # one experiment's failure must not stop the others
                errors[name] = f"{type(exc).__name__}: {exc}"
    finally:
        cancel_background()
        if settings.progress is not None:
            settings.progress.close()
    results = {n: results[n] for n in names if n in results}  # the chapter's order
    out = {
        "results": results,
        "unavailable": unavailable,
        "errors": errors,
        "wall_time_s": time.perf_counter() - t0,
    }
    out["summary"] = summarize_run(out, settings)
    atomic_write_json(Path(settings.out) / "summary.json", out["summary"], indent=1)
    return out


def summarize_run(run: dict, settings: ExperimentSettings) -> dict:
    """One row per experiment: verdict counts and wall time (``summary.json``)."""
    rows = []
    for name, res in run["results"].items():
        checks = res.get("checks", [])
        rows.append(
            {
                "name": name,
                "title": res.get("title", name),
                "passed": sum(c["passed"] is True for c in checks),
                "failed": sum(c["passed"] is False for c in checks),
                "not_judged": sum(c["passed"] is None for c in checks),
                "failures": [c["label"] for c in checks if c["passed"] is False],
                "wall_time_s": res.get("wall_time_s"),
                "data": res.get("data"),
                "seeds": res.get("seeds"),
                "quick": res.get("quick"),
            }
        )
    return {
        "settings": settings.to_dict(),
        "experiments": rows,
        "unavailable": run["unavailable"],
        "errors": run["errors"],
        "wall_time_s": run["wall_time_s"],
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def format_summary(summary: dict) -> str:
    """The closing table of ``run all``: one line per experiment."""
    lines = [
        "",
        "== summary",
        f"{'experiment':<16} {'pass':>4} {'fail':>4} {'other':>5} {'time':>8}",
    ]
    for r in summary["experiments"]:
        lines.append(
            f"{r['name']:<16} {r['passed']:>4} {r['failed']:>4} {r['not_judged']:>5} "
            f"{r['wall_time_s']:>7.1f}s"
            + (f"  failed: {'; '.join(r['failures'])}" if r["failures"] else "")
        )
    for name, why in summary["unavailable"].items():
        lines.append(f"{name:<16} unavailable: {why}")
    for name, err in summary["errors"].items():
        lines.append(f"{name:<16} error: {err}")
    minutes = summary["wall_time_s"] / 60
    lines.append(f"total wall time {summary['wall_time_s']:.0f} s ({minutes:.1f} min)")
    return "\n".join(lines)
