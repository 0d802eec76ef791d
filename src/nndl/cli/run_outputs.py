"""The files of a finished ``nndl train`` run: history, curves, control outputs.

Also the book's reported figures for the set-ups the chapter gives, so a run
can compare itself with them.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..callbacks import BatchMonitor
from ..settings import MONITOR_KEYS

__all__ = ["BOOK_RESULTS", "book_result", "control_outputs", "plot_curves", "write_history"]


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return _jsonable(v.item())
    return v


def write_history(out: Path, history) -> list[Path]:
    """history.json (columns) and history.csv (one row per epoch), atomically."""
    cols = history.to_dict()
    doc = {k: [_jsonable(v) for v in vals] for k, vals in cols.items()}
    atomic_write_json(out / "history.json", doc)
    buf = io.StringIO()
    keys = list(cols)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in history.records:
        writer.writerow(["" if _jsonable(r.get(k)) is None else r.get(k) for k in keys])
    atomic_write_text(out / "history.csv", buf.getvalue())
    return [out / "history.json", out / "history.csv"]


def plot_curves(out: Path, history, title: str = "") -> Path | None:
    """Plot accuracy and cost per epoch to curves.png.

    Returns None (and writes nothing) when matplotlib is missing or nothing
    was monitored.
    """
    keys = [k for k in MONITOR_KEYS if k in history]
    if not keys or len(history) == 0:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    panels = [p for p in ("accuracy", "loss") if p in keys or f"val_{p}" in keys]
    fig = Figure(figsize=(5.5 * len(panels), 4.0))
    FigureCanvasAgg(fig)
    epochs = history["epoch"]  # from 1, as the console counts
    labels = {"loss": "training", "val_loss": "validation", "accuracy": "training"}
    labels["val_accuracy"] = "validation"
    for i, panel in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        for k in (panel, f"val_{panel}"):
            if k in history:
                vals = np.asarray(history[k], dtype=float)
                if panel == "accuracy":
                    vals = 100 * vals
                ax.plot(epochs, vals, marker="o", markersize=3, label=labels[k])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("accuracy (%)" if panel == "accuracy" else "cost")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path = out / "curves.png"
    atomic_write_bytes(path, buf.getvalue())
    return path


def control_outputs(out: Path, cfg, trainer, callbacks, plot: bool, title: str) -> list[Path]:
    """batches.csv for --monitor-every, diagnostics.png for --diagnostics."""
    files = []
    for cb in callbacks:
        if isinstance(cb, BatchMonitor) and cb.records:
            cols = cb.to_dict()
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(list(cols))
            for row in zip(*cols.values(), strict=True):
                writer.writerow(["" if _jsonable(v) is None else v for v in row])
            path = out / "batches.csv"
            atomic_write_text(path, buf.getvalue())
            files.append(path)
    if plot and cfg.get("control", {}).get("diagnostics") and len(trainer.history):
        from ..diagnostics import plot_diagnostics

        try:
            files.append(plot_diagnostics(trainer.history, out / "diagnostics.png", title=title))
        except ImportError:
            pass
    return files


#: The chapter's published results that a run can be compared with. Each
#: applies when the run's settings match ``when`` (MNIST, all the data).
BOOK_RESULTS = [
    {
        "when": {"sizes": [784, 100, 10], "learning_rate": 0.5, "l2": 5.0, "epochs": 30},
        "split": "validation",
        "accuracy": 0.9792,
        "note": "the book's run used the large N(0, 1) initializer",
    },
    {
        "when": {"sizes": [784, 100, 10], "learning_rate": 0.1, "l2": 5.0, "epochs": 60},
        "split": "validation",
        "accuracy": 0.9804,
        "note": "the book's run used the large N(0, 1) initializer",
    },
    {
        "when": {"sizes": [784, 30, 10], "learning_rate": 0.5, "l2": 5.0, "epochs": 30},
        "split": "test",
        "accuracy": 0.9649,
        "note": "the book's run used the large N(0, 1) initializer",
    },
]


def book_result(config: dict[str, dict]) -> dict | None:
    """The book's figure for this set-up, or None when the chapter gives none."""
    net, tr, data = config["network"], config["training"], config["data"]
    common = (
        data.get("dataset") == "mnist"
        and "train_size" not in data
        and "validation_size" not in data
        and net.get("cost") == "cross_entropy"
        and net.get("hidden_activation") == "sigmoid"
        and not net.get("dropout")
        and tr.get("mini_batch_size") == 10
        and tr.get("optimizer") == "sgd"
        and not tr.get("l1")
    )
    if not common:
        return None
    here = {**net, **tr}
    for entry in BOOK_RESULTS:
        if all(here.get(k) == v for k, v in entry["when"].items()):
            return entry
    return None


#: Files whose presence marks a folder as holding a run.
