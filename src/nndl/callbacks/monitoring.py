"""Watching a run: a progress bar, cost and accuracy every k mini-batches, saturation figures."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from .._validation import check_range
from ..diagnostics import DEFAULT_THRESHOLD, diagnose, sample_rows
from .base import MONITOR_KEYS, Callback, starts_from_scratch

__all__ = ["BatchMonitor", "Diagnostics", "JobProgress", "ProgressBar", "epoch_sentence"]


def _format_figure(key: str, value) -> str:
    """One figure of the logs as the progress line shows it."""
    if key == "time":
        return f"time {value:.2f}s"
    if key == "learning_rate":
        return f"eta {value:.4g}"
    if isinstance(value, float):
        return f"{key} {value:.4f}"
    return f"{key} {value}"


_FIGURE_NAMES = {
    "loss": "training cost",
    "accuracy": "training accuracy",
    "val_loss": "validation cost",
    "val_accuracy": "validation accuracy",
}


def epoch_sentence(logs: dict, trainer, keys=None) -> str:
    """The epoch's figures in words, accuracies with their counts.

    For example ``Epoch 3/30: validation accuracy 96.12% (9612/10000), 4.1 s``
    (the line ``nndl train`` prints). ``keys`` are the figures shown, by
    default the four metrics when recorded.
    """
    n_val = trainer.validation_data[0].shape[0] if trainer.validation_data is not None else 0
    parts = []
    for key in MONITOR_KEYS if keys is None else keys:
        if key not in logs or key not in _FIGURE_NAMES:
            continue
        v = logs[key]
        if key.endswith("accuracy"):
            n = n_val if key.startswith("val_") else trainer.n
            parts.append(f"{_FIGURE_NAMES[key]} {100.0 * v:.2f}% ({round(v * n)}/{n})")
        else:
            parts.append(f"{_FIGURE_NAMES[key]} {v:.4f}")
    parts.append(f"{logs.get('time', 0.0):.1f} s")
    return f"Epoch {logs['epoch']}/{trainer.last_epoch + 1}: " + ", ".join(parts)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar(Callback):
    """Progress of training: a tqdm bar per epoch, one line per epoch, or nothing.

    Parameters
    ----------
    mode : "bar", "auto", "lines" or "quiet"
        ``bar`` (default) shows a bar over the epoch's mini-batches with the
        previous epoch's figures and then prints one line per epoch; ``auto``
        draws the bar only when ``file`` is a terminal (as ``nndl train``
        does, so that logs hold only the lines); ``lines`` prints only the
        lines (for scripts and CI logs); ``quiet`` prints nothing. Without
        tqdm installed, a bar falls back to lines.
    file : text stream, default sys.stderr
        Where the bar is drawn, and the lines written unless ``line_file``
        is given.
    keys : list of str, optional
        Which figures of the logs to show (default: the four metrics when
        recorded); eta and the epoch's time are always shown.
    mininterval : float
        Least seconds between two redraws of the bar.
    line_format : "figures", "sentence" or callable
        The line per epoch: ``figures`` gives ``epoch 3/30  val_accuracy
        0.9612  eta 0.5  time 4.10s``, ``sentence`` gives :func:`epoch_sentence`,
        ``Epoch 3/30: validation accuracy 96.12% (9612/10000), 4.1 s``; a
        callable ``(logs, trainer) -> str`` gives its own.
    line_file : text stream, optional
        Where the lines go, when not to ``file`` (``nndl train``: the bar on
        stderr, the lines on stdout).
    running_cost : int
        With a bar, also show a running estimate of the training cost,
        measured on a fixed sample of this many training examples (drawn
        with its own generator, so the run is unchanged) at most every
        ``mininterval`` seconds and smoothed; 0 (default): off.

    The bar is updated at most about 100 times per epoch whatever the number
    of mini-batches, and tqdm redraws at most every ``mininterval`` seconds,
    so it costs nothing measurable per batch.
    """

    def __init__(
        self,
        mode: str = "bar",
        *,
        file=None,
        keys=None,
        mininterval: float = 0.5,
        line_format="figures",
        line_file=None,
        running_cost: int = 0,
    ):
        if mode not in ("bar", "auto", "lines", "quiet"):
            raise ValueError(f"mode must be 'bar', 'auto', 'lines' or 'quiet', got {mode!r}")
        if not callable(line_format) and line_format not in ("figures", "sentence"):
            raise ValueError(
                f"line_format must be 'figures', 'sentence' or a callable, got {line_format!r}"
            )
        self.mode = mode
        self.file = file
        self.keys = None if keys is None else list(keys)
        self.mininterval = check_range("mininterval", mininterval, low=0.0)
        self.line_format = line_format
        self.line_file = line_file
        self.running_cost = check_range("running_cost", running_cost, low=0, integer=True)
        self._bar = None
        self._tqdm = None
        self._last: dict = {}
        self._stride, self._pending = 1, 0
        self._sample = None
        self._cost = None
        self._cost_time = 0.0
        self.draws_bar = mode == "bar" or (mode == "auto" and _is_terminal(self._out))
        if self.draws_bar:
            # Per-batch calls only when a bar is drawn; lines and quiet stay off the hot path.
            self.on_batch_end = self._advance

    @property
    def _out(self):
        return self.file if self.file is not None else sys.stderr

    @property
    def _line_out(self):
        return self.line_file if self.line_file is not None else self._out

    def on_train_begin(self, trainer):
        if not self.draws_bar:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the installation
            self._tqdm = None
        else:
            self._tqdm = tqdm
        if self.running_cost:
            X, Y = trainer.train_data
            rng = np.random.default_rng(0)
            idx = np.sort(rng.choice(X.shape[0], min(self.running_cost, X.shape[0]), False))
            self._sample = (X[idx], Y[idx])

    def on_epoch_begin(self, trainer, epoch):
        if self._tqdm is None:
            return
        X = (trainer.epoch_train_data or trainer.train_data)[0]
        n_batches = -(-X.shape[0] // trainer.config.mini_batch_size)
        self._stride = max(1, n_batches // 100)
        self._pending = 0
        self._bar = self._tqdm(
            total=n_batches,
            desc=f"epoch {epoch + 1}/{trainer.last_epoch + 1}",
            unit="batch",
            leave=False,
            file=self._out,
            mininterval=self.mininterval,
            dynamic_ncols=True,
        )
        self._cost_time = time.monotonic()
        if self._last:
            self._bar.set_postfix_str(self._postfix(), refresh=False)

    def _advance(self, trainer, batch):
        self._pending += 1
        if self._pending >= self._stride and self._bar is not None:
            self._bar.update(self._pending)
            self._pending = 0
            if self._sample is not None:
                self._measure_cost(trainer)

    def _measure_cost(self, trainer):
        now = time.monotonic()
        if now - self._cost_time < self.mininterval:
            return
        self._cost_time = now
        cfg = trainer.config
        cost = trainer.network.cost_value(*self._sample, l2=cfg.l2, l1=cfg.l1, n=trainer.n)
        self._cost = cost if self._cost is None else 0.7 * self._cost + 0.3 * cost
        self._bar.set_postfix_str(self._postfix(), refresh=False)

    def _postfix(self) -> str:
        cost = f"cost~{self._cost:.4f}" if self._cost is not None else ""
        figures = self._summary(self._last) if self._last else ""
        return "  ".join(p for p in (cost, figures) if p)

    def _summary(self, logs: dict, total: int | None = None) -> str:
        keys = self.keys if self.keys is not None else list(MONITOR_KEYS)
        parts = [_format_figure(k, logs[k]) for k in keys if k in logs]
        parts += [_format_figure(k, logs[k]) for k in ("learning_rate", "time") if k in logs]
        head = f"epoch {logs['epoch']}/{total}  " if total else ""
        return head + "  ".join(parts)

    def _line(self, trainer, logs: dict) -> str:
        if self.line_format == "figures":
            return self._summary(logs, total=trainer.last_epoch + 1)
        if self.line_format == "sentence":
            return epoch_sentence(logs, trainer, self.keys)
        return self.line_format(logs, trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        self._last = dict(logs)
        if self.mode == "quiet":
            return
        line = self._line(trainer, logs)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._tqdm.write(line, file=self._line_out)
        else:
            print(line, file=self._line_out, flush=True)

    def on_train_end(self, trainer):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __repr__(self):
        return f"ProgressBar(mode={self.mode!r})"


class Diagnostics(Callback):
    """Adds the per-layer saturation figures of :mod:`nndl.diagnostics` to the logs.

    Every ``every`` epochs, on a fixed sample of ``sample`` examples of the
    training data (or of the validation data with ``data="validation"``),
    the logs get ``sat_l``, ``mean_prime_l``, ``w_norm_l`` and
    ``grad_norm_l`` for each layer l. The sample is drawn once with its own
    generator (``seed``), so diagnostics never change the run itself.
    ``initial`` holds the same figures for the parameters before training.
    Plot them with :func:`nndl.diagnostics.plot_diagnostics`.
    """

    def __init__(
        self,
        *,
        sample: int = 1000,
        threshold: float = DEFAULT_THRESHOLD,
        data: str = "train",
        every: int = 1,
        seed: int = 0,
    ):
        self.sample = check_range("sample", sample, low=1, integer=True)
        self.threshold = check_range("threshold", threshold, low=0.0, low_inclusive=False)
        if data not in ("train", "validation"):
            raise ValueError(f"data must be 'train' or 'validation', got {data!r}")
        self.data = data
        self.every = check_range("every", every, low=1, integer=True)
        self.seed = check_range("seed", seed, low=0, integer=True)
        self.initial: dict | None = None
        self._fixed_sample = None

    def on_train_begin(self, trainer):
        pair = trainer.train_data if self.data == "train" else trainer.validation_data
        if pair is None:
            raise ValueError("Diagnostics(data='validation') needs validation_data")
        X, Y = pair
        idx = sample_rows(X.shape[0], self.sample, self.seed)
        self._fixed_sample = (X[idx], Y[idx])
        if starts_from_scratch(trainer):
            self.initial = self._measure(trainer)

    def _measure(self, trainer) -> dict:
        cfg = trainer.config
        return diagnose(
            trainer.network,
            *self._fixed_sample,
            threshold=self.threshold,
            l2=cfg.l2,
            l1=cfg.l1,
            n=trainer.n,
        )

    def extra_logs(self, trainer, epoch):
        if (epoch + 1) % self.every:
            return {}
        return self._measure(trainer)

    def __repr__(self):
        return f"Diagnostics(sample={self.sample}, threshold={self.threshold}, data={self.data!r})"


class BatchMonitor(Callback):
    """Cost and accuracy every ``every`` mini-batches, on small fixed subsets.

    The chapter's advice for fast feedback: instead of waiting for an epoch,
    look at a small validation subset every few mini-batches. Each record is
    a dict with ``epoch`` and ``batch`` (within the epoch), both counted from 1
    as the console counts them, ``step`` (mini-batches
    since the run began; a record is taken when step is a multiple of
    ``every``), ``learning_rate`` and the requested metrics; ``to_dict()``
    gives columns for a CSV file or a plot.

    Parameters
    ----------
    every : int >= 1
    metrics : list of str, optional
        Any of ``loss``, ``accuracy`` (on ``train_subset`` training examples)
        and ``val_loss``, ``val_accuracy`` (on ``val_subset`` validation
        examples). Default: all four when there is validation data, else the
        training pair.
    train_subset, val_subset : int
        Sizes of the subsets, drawn once with the callback's own generator.
    """

    def __init__(
        self,
        every: int = 100,
        metrics=None,
        *,
        train_subset: int = 1000,
        val_subset: int = 1000,
        seed: int = 0,
    ):
        self.every = check_range("every", every, low=1, integer=True)
        if isinstance(metrics, str):
            metrics = [metrics]
        if metrics is not None:
            unknown = [k for k in metrics if k not in MONITOR_KEYS]
            if unknown or not metrics:
                raise ValueError(
                    f"unknown metric(s) {unknown}; expected any of {list(MONITOR_KEYS)}"
                )
            metrics = list(metrics)
        self.metrics = metrics
        self.train_subset = check_range("train_subset", train_subset, low=1, integer=True)
        self.val_subset = check_range("val_subset", val_subset, low=1, integer=True)
        self.seed = check_range("seed", seed, low=0, integer=True)
        self.records: list[dict] = []
        self.step = 0

    def on_train_begin(self, trainer):
        if starts_from_scratch(trainer):
            self.records, self.step = [], 0
        metrics = self.metrics
        if metrics is None:
            metrics = ["loss", "accuracy"]
            if trainer.validation_data is not None:
                metrics += ["val_loss", "val_accuracy"]
        if trainer.validation_data is None and any(k.startswith("val_") for k in metrics):
            raise ValueError(f"BatchMonitor metrics {metrics} need validation_data")
        self._active_metrics = metrics
        X, Y = trainer.train_data
        idx = sample_rows(X.shape[0], self.train_subset, self.seed)
        self._train_sample = (X[idx], Y[idx])
        self._val_sample = None
        if trainer.validation_data is not None:
            Xv, Yv = trainer.validation_data
            idx = sample_rows(Xv.shape[0], self.val_subset, self.seed + 1)
            self._val_sample = (Xv[idx], Yv[idx])

    def on_batch_end(self, trainer, batch):
        self.step += 1
        if self.step % self.every:
            return
        mon = self._active_metrics
        rec = {
            "epoch": trainer.epoch + 1,
            "batch": batch + 1,
            "step": self.step,
            "learning_rate": trainer.learning_rate,
        }
        if "loss" in mon or "accuracy" in mon:
            r = trainer.evaluate(
                *self._train_sample, cost="loss" in mon, accuracy="accuracy" in mon
            )
            rec.update(r)
        if "val_loss" in mon or "val_accuracy" in mon:
            r = trainer.evaluate(
                *self._val_sample, cost="val_loss" in mon, accuracy="val_accuracy" in mon
            )
            rec.update({f"val_{k}": v for k, v in r.items()})
        self.records.append(rec)

    def to_dict(self) -> dict[str, list]:
        """Column form {key: [value per record]}."""
        keys: dict[str, None] = {}
        for r in self.records:
            for k in r:
                keys.setdefault(k)
        return {k: [r.get(k, math.nan) for r in self.records] for k in keys}

    def state_dict(self):
        return {"step": self.step, "records": self.records, "counted_from": 1}

    def load_state_dict(self, state):
        self.step = int(state["step"])
        self.records = [dict(r) for r in state["records"]]
        if state.get("counted_from") != 1:  # saved when epochs and batches counted from 0
            for r in self.records:
                r["epoch"] += 1
                r["batch"] += 1

    def __repr__(self):
        return f"BatchMonitor(every={self.every}, metrics={self.metrics})"


class JobProgress(Callback):
    """In a job of :mod:`nndl.jobs`: tell the job's caller how training goes.

    Sends ``("begin", epochs)`` when training begins, ``("epoch", k)`` after
    epoch k (counting from 1) and ``("end",)`` when it ends
    (:func:`nndl.jobs.report`), which the caller's progress display shows for
    every job at once. Outside a job it does nothing.
    """

    def on_train_begin(self, trainer) -> None:
        from ..jobs import report

        report("begin", trainer.config.epochs)

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        from ..jobs import report

        report("epoch", epoch + 1)

    def on_train_end(self, trainer) -> None:
        from ..jobs import report

        report("end")
