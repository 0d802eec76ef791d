"""The cost curves of a heuristic's trials, as a figure."""

from __future__ import annotations

import io
import math

import numpy as np

from .._io import atomic_write_bytes


def plot_cost_curves(result, path, *, title: str | None = None):
    """Plot every trial of a tuning result and write the figure atomically.

    Learning-rate results show the training cost per epoch (one line per eta,
    log scale, the threshold's bracket in the legend); lambda results the
    validation accuracy per epoch; batch-size results the validation accuracy
    against seconds of training with the target as a dashed line. The format
    follows the file suffix (``.png``, ``.pdf``, ``.svg``). matplotlib is
    needed (``pip install "nndl[plot]"``).

    Returns
    -------
    pathlib.Path of the written file
    """
    from pathlib import Path

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib: pip install "nndl[plot]"') from exc
    kind = getattr(result, "kind", None)
    if kind not in ("learning_rate", "lambda", "batch_size"):
        raise TypeError(
            "result must be a LearningRateResult, LambdaResult or BatchSizeResult, got "
            f"{type(result).__name__}"
        )
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    # A Figure with its own canvas: no pyplot, no global state, no display needed.
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    trials = sorted(result.trials, key=lambda t: t.value)
    for t in trials:
        if kind == "learning_rate":
            ys = [c if math.isfinite(c) else np.nan for c in t.costs]
            style = "-" if t.falling else "--"
            ax.plot(range(len(ys)), ys, style, marker="o", ms=3, label=f"eta = {t.value:.3g}")
        elif kind == "lambda":
            ax.plot(
                range(len(t.val_accuracy)),
                t.val_accuracy,
                marker="o",
                ms=3,
                label=f"lambda = {t.value:.3g}",
            )
        else:
            ax.plot(t.times, t.val_accuracy, marker="o", ms=3, label=f"mini-batch {t.value:g}")
    if kind == "learning_rate":
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training cost")
        default = (
            f"threshold about {result.threshold:.3g} "
            f"(falls at {result.last_good:.3g}, not at {result.first_bad:.3g})"
        )
    elif kind == "lambda":
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        default = f"best lambda {result.best:.3g} at eta {result.learning_rate:.3g}"
    else:
        ax.axhline(result.target, color="grey", ls=":", lw=1)
        ax.set_xlabel("seconds of training")
        ax.set_ylabel("validation accuracy")
        default = f"recommended mini-batch size {result.recommended}"
    ax.set_title(title or default)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    atomic_write_bytes(path, buf.getvalue())
    return path
