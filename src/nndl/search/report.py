"""The outcome of a search: the best trial re-trained, the test set evaluated
once, and the files (best configuration and model, trials table, plots)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..serialization import save
from .objective import _checked_xy, _n_classes, train_with_options
from .space import SearchSpace, best_config
from .storage import dashboard_command


@dataclass
class SearchResult:
    """The outcome of a search, as :func:`report_search` writes it to ``report.json``.

    ``best_value`` is the best trial's validation accuracy as found during the
    search and ``retrained_val_accuracy`` the same configuration re-trained
    (equal, by determinism). ``test_accuracy`` is the test set's only use.
    ``dead_workers`` has one line for each worker process that died.
    """

    study_name: str
    storage: str | None
    counts: dict[str, int]
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict | None = None
    best_options: dict | None = None
    retrained_val_accuracy: float | None = None
    test_accuracy: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    dashboard: str | None = None
    dead_workers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"study {self.study_name}: {c.get('COMPLETE', 0)} complete, {c.get('PRUNED', 0)} "
            f"pruned, {c.get('FAIL', 0)} failed trials"
        ]
        if self.best_value is not None:
            lines.append(
                f"best trial {self.best_number}: validation accuracy "
                f"{self.best_value:.4f} with {self.best_params}"
            )
        if self.retrained_val_accuracy is not None:
            lines.append(f"re-trained: validation accuracy {self.retrained_val_accuracy:.4f}")
        if self.test_accuracy is not None:
            lines.append(
                f"test accuracy of the best configuration (evaluated once): "
                f"{self.test_accuracy:.4f}"
            )
        if self.dashboard:
            lines.append(f"dashboard: {self.dashboard}")
        return "\n".join(lines)


def _trial_state_counts(study) -> dict[str, int]:
    """How many trials are in each state (COMPLETE, PRUNED, FAIL, ...)."""
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def write_trials_csv(study, path) -> Path:
    """One row per trial: number, state, value, times, parameters, notes (atomic write)."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({p for t in trials for p in t.params})
    header = [
        "number",
        "state",
        "value",
        "datetime_start",
        "datetime_complete",
        "duration_s",
        *[f"param_{n}" for n in names],
        "epochs_run",
        "pruned_at_epoch",
        "retry_of",
        "error",
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for t in trials:
        dur = t.duration.total_seconds() if t.duration is not None else ""
        w.writerow(
            [
                t.number,
                t.state.name,
                "" if t.value is None else repr(float(t.value)),
                t.datetime_start.isoformat() if t.datetime_start else "",
                t.datetime_complete.isoformat() if t.datetime_complete else "",
                dur,
                *[t.params.get(n, "") for n in names],
                t.user_attrs.get("epochs_run", ""),
                t.user_attrs.get("pruned_at_epoch", ""),
                t.system_attrs.get("failed_trial", ""),
                t.user_attrs.get("error", ""),
            ]
        )
    path = Path(path)
    atomic_write_text(path, buf.getvalue())
    return path


def _save_figure(ax, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = ax.figure if hasattr(ax, "figure") else np.ravel(ax)[0].figure
    fig.set_size_inches(8, 5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _write_plots(study, out: Path, result: SearchResult) -> None:
    """Optuna's optimization history and parameter importances, PNG (and HTML with plotly)."""
    from optuna.exceptions import ExperimentalWarning

    try:
        import matplotlib

        if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        from optuna.visualization import matplotlib as ovm
    except ImportError as exc:
        result.skipped["plots"] = f"matplotlib is not installed ({exc})"
        return
    plots = {
        "optimization_history": ovm.plot_optimization_history,
        "param_importances": ovm.plot_param_importances,
    }
    html = importlib.util.find_spec("plotly") is not None
    for name, fn in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                ax = fn(study)
            png = out / f"{name}.png"
            _save_figure(ax, png)
            result.files[name] = str(png)
            if html:
                import optuna.visualization as ov

                fig = getattr(ov, f"plot_{name}")(study)
                page = out / f"{name}.html"
                atomic_write_text(page, fig.to_html(include_plotlyjs="cdn"))
                result.files[f"{name}_html"] = str(page)
        except Exception as exc:  # too few trials for importances, etc.
            result.skipped[name] = f"{type(exc).__name__}: {exc}"
    if not html:
        result.skipped["html"] = "plotly is not installed: PNG only"


def report_search(
    study,
    space,
    train,
    validation,
    *,
    test=None,
    out=None,
    storage=None,
    plots: bool = True,
    data: dict | None = None,
    dead_workers=(),
) -> SearchResult:
    """Summarize a finished study; re-train its best trial; touch the test set once.

    The best trial is chosen on validation accuracy alone. Its configuration
    is re-trained with the same seed (bitwise the same network), the
    validation accuracy checked against the trial's, and the test accuracy
    evaluated once, reported apart. With ``out``, writes atomically:
    ``best_config.json`` (the configuration ``nndl train --config`` accepts),
    ``best_model.json``, ``trials.csv``, ``report.json`` and the plots.
    ``data`` is the data section of the configuration (``dataset``,
    ``train_size``, ...), recorded in ``best_config.json``; ``dead_workers``
    one line for each worker process that died during the search.
    """
    space = SearchSpace.from_dict(space)
    Xtr, ytr = _checked_xy(train, "train")
    Xv, yv = _checked_xy(validation, "validation")
    result = SearchResult(
        study_name=study.study_name,
        storage=None if storage is None else os.fspath(storage),
        counts=_trial_state_counts(study),
        dashboard=dashboard_command(storage),
        dead_workers=list(dead_workers),
    )
    out = Path(out) if out is not None else None
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    net = None
    if complete:
        best = study.best_trial
        options = space.options(best.params)
        result.best_number = best.number
        result.best_value = float(best.value)
        result.best_params = dict(best.params)
        result.best_options = json.loads(json.dumps(options))
        net, _, score = train_with_options(options, (Xtr, ytr), (Xv, yv))
        result.retrained_val_accuracy = score
        if test is not None:
            Xt, yt = _checked_xy(test, "test")
            result.test_accuracy = net.accuracy(Xt, yt)
    else:
        result.skipped["best"] = "no trial completed"
    if out is None:
        return result
    out.mkdir(parents=True, exist_ok=True)
    if net is not None:
        n_out = _n_classes(ytr, yv)
        doc = best_config(result.best_options, Xtr.shape[1], n_out, data=data)
        atomic_write_json(out / "best_config.json", doc)
        result.files["best_config"] = str(out / "best_config.json")
        provenance = {
            "study": result.study_name,
            "trial": result.best_number,
            "val_accuracy": result.best_value,
            "config": doc,
        }
        save(net, out / "best_model.json", metadata={"search": provenance})
        result.files["best_model"] = str(out / "best_model.json")
    result.files["trials"] = str(write_trials_csv(study, out / "trials.csv"))
    if plots and complete:
        _write_plots(study, out, result)
    result.files["report"] = str(out / "report.json")
    atomic_write_json(out / "report.json", result.to_dict())
    return result
