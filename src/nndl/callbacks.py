"""Callbacks: the one extension point of the trainer.

A callback overrides any of the hooks below; each does nothing by default.
The trainer passes itself, so a callback can read ``trainer.network``,
``trainer.history``, ``trainer.epoch``, change ``trainer.learning_rate`` or set
``trainer.stop_training = True``.

``logs`` is a dict with the keys ``epoch``, ``learning_rate``, ``time`` and,
when monitored, ``loss``, ``accuracy`` (training data), ``val_loss``,
``val_accuracy`` (evaluation data), plus whatever callbacks add through
:meth:`Callback.extra_logs` (the saturation diagnostics, for instance).

Beyond the hooks, a callback may declare

* ``requires``: metrics it reads from the logs; the trainer records them
  even if the run's ``monitor`` did not ask for them;
* ``priority``: callbacks run in increasing priority (0 by default, stable
  order otherwise); :class:`Checkpoint` runs last so that it saves the state
  every other callback has just updated;
* ``get_config()``: the settings that make it part of the run's identity
  (schedules, stopping rules); a checkpoint refuses to resume with others;
* ``state_dict()`` / ``load_state_dict()``: what it must remember across a
  checkpoint (the best value so far, a patience counter, ...).

Callbacks that keep state reset it in ``on_train_begin`` only when the
trainer starts from scratch (``trainer.epoch == -1``), so continuing a run,
by a second ``fit`` or from a checkpoint, carries their state on.

The rules here, in brief:

``EarlyStopping``            no improvement in n epochs; restores the best parameters
``GeneralizationLossStopping``  Prechelt's GL_alpha
``ProgressQuotientStopping``    Prechelt's PQ_alpha
``PlateauSchedule``          the chapter's eta schedule: halve on a plateau, stop at eta_0/1024
``ScheduleCallback``         applies an epoch-only schedule from :mod:`nndl.schedules`
``ProgressBar``              a tqdm bar per epoch, a line per epoch, or nothing
``Diagnostics``              per-layer saturation figures in the logs
``BatchMonitor``             cost and accuracy every k mini-batches on small subsets
``Checkpoint``               the run's whole state every N epochs and on interruption
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from ._validation import check_range
from .checkpoint import write_checkpoint
from .diagnostics import DEFAULT_THRESHOLD, diagnose, sample_rows
from .schedules import Schedule, get_schedule, parse_schedule

__all__ = [
    "CONTROL_DEFAULTS",
    "MONITOR_KEYS",
    "BatchMonitor",
    "Callback",
    "Checkpoint",
    "Diagnostics",
    "EarlyStopping",
    "GeneralizationLossStopping",
    "History",
    "ImprovementMonitor",
    "LambdaCallback",
    "PlateauSchedule",
    "ProgressBar",
    "ProgressQuotientStopping",
    "ScheduleCallback",
    "control_callbacks",
    "early_stopping_callback",
    "overrides",
    "schedule_callback",
]

#: The metrics the trainer can record; any subset may be switched on.
MONITOR_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class Callback:
    """Base class; every hook is optional."""

    #: Metrics this callback reads from the logs (recorded whatever ``monitor`` says).
    requires: tuple[str, ...] = ()
    #: Callbacks run in increasing priority; equal priorities keep their order.
    priority: int = 0

    def on_train_begin(self, trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Called before each epoch (epochs count from 0)."""

    def on_batch_end(self, trainer, batch: int) -> None:
        """Called after each mini-batch update (batches count from 0 within an epoch).

        Only callbacks that override this hook are called per batch, so the
        others cost nothing on the hot path.
        """

    def extra_logs(self, trainer, epoch: int) -> dict:
        """Figures to add to this epoch's logs, before any ``on_epoch_end`` runs.

        Only called for callbacks that override it, so the history records
        them like the trainer's own metrics.
        """
        return {}

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Called after each epoch with that epoch's figures."""

    def on_train_end(self, trainer) -> None:
        """Called once when training ends: normally, by ``stop_training``, or by an exception.

        ``trainer.interrupted`` is True in the last case.
        """

    def get_config(self) -> dict | None:
        """Settings that make this callback part of the run's identity, or None."""
        return None

    def state_dict(self) -> dict | None:
        """State to carry across a checkpoint (JSON values and arrays), or None."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def overrides(cb: Callback, hook: str) -> bool:
    """Whether ``cb`` defines its own version of ``hook``."""
    return hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook)


class History(Callback):
    """Records every epoch's logs: ``history["val_accuracy"]`` is a list per epoch.

    Keys that were not monitored hold empty lists, so the four book histories
    are always present.
    """

    def __init__(self):
        self.records: list[dict] = []

    def on_train_begin(self, trainer):
        # A resumed run keeps what it had; a fresh trainer starts empty.
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        self.records.append(dict(logs))

    def __getitem__(self, key: str) -> list:
        return [r[key] for r in self.records if key in r]

    def __contains__(self, key: str) -> bool:
        return any(key in r for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            for k in r:
                seen.setdefault(k)
        return list(seen)

    def to_dict(self) -> dict[str, list]:
        """Column form: {key: [value per epoch]}, nan where an epoch lacks a key."""
        return {k: [r.get(k, math.nan) for r in self.records] for k in self.keys()}

    def best(self, key: str = "val_accuracy", mode: str = "max"):
        """(epoch, value) of the best value of a monitored key."""
        values = self[key]
        if not values:
            raise KeyError(f"{key!r} was not monitored")
        pick = max if mode == "max" else min
        i = values.index(pick(values))
        return self["epoch"][i], values[i]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.records)}, keys={self.keys()})"


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=print_logs)``."""

    def __init__(
        self,
        *,
        on_train_begin=None,
        on_epoch_begin=None,
        on_batch_end=None,
        on_epoch_end=None,
        on_train_end=None,
    ):
        for name, fn in {
            "on_train_begin": on_train_begin,
            "on_epoch_begin": on_epoch_begin,
            "on_batch_end": on_batch_end,
            "on_epoch_end": on_epoch_end,
            "on_train_end": on_train_end,
        }.items():
            if fn is not None:
                setattr(self, name, fn)


# ------------------------------------------------------------- improvement
def _fresh(trainer) -> bool:
    """True when the trainer starts from scratch (not continuing or resuming)."""
    return trainer.epoch < 0


def _check_monitor(monitor) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be a metric name such as 'val_accuracy', got {monitor!r}")
    return monitor


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "max", "min"):
        raise ValueError(f"mode must be 'auto', 'max' or 'min', got {mode!r}")
    if mode != "auto":
        return mode
    if "accuracy" in monitor:
        return "max"
    if "loss" in monitor or "cost" in monitor or "error" in monitor:
        return "min"
    raise ValueError(
        f"cannot tell whether {monitor!r} should grow or shrink: pass mode='max' or 'min'"
    )


class ImprovementMonitor(Callback):
    """Base for rules that ask "did the monitored metric improve?".

    A value v improves on the best b when ``v > b + min_delta`` (mode
    ``max``) or ``v < b - min_delta`` (mode ``min``). ``mode="auto"`` picks
    ``max`` for accuracies and ``min`` for losses. The first value always
    improves.
    """

    def __init__(self, monitor: str = "val_accuracy", *, mode: str = "auto", min_delta=0.0):
        self.monitor = _check_monitor(monitor)
        self.mode = _resolve_mode(self.monitor, mode)
        self.min_delta = check_range("min_delta", min_delta, low=0.0)
        self.requires = (self.monitor,) if self.monitor in MONITOR_KEYS else ()
        self.best: float | None = None

    def is_improvement(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def value(self, logs: dict) -> float:
        """The monitored metric from an epoch's logs, or a clear error."""
        if self.monitor not in logs:
            raise ValueError(
                f"{type(self).__name__} monitors {self.monitor!r} but this epoch's logs have only "
                f"{sorted(logs)}; monitor it (and pass validation_data for val_ metrics)"
            )
        return float(logs[self.monitor])


class _BestKeeper(ImprovementMonitor):
    """Shared by the stopping rules: remembers the best epoch and its parameters.

    With ``restore_best`` the network gets back the parameters of the best
    epoch when training ends (whether a rule stopped it or the epochs ran
    out), but not when an exception interrupted it: a checkpoint written then
    must hold the parameters in force.
    """

    def __init__(self, monitor, *, mode, min_delta, restore_best):
        super().__init__(monitor, mode=mode, min_delta=min_delta)
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self) -> None:
        self.best = None
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.stopped_epoch: int | None = None
        self.restored = False

    def on_train_begin(self, trainer):
        if _fresh(trainer):
            self.reset()

    def _keep(self, trainer, epoch: int, value: float) -> None:
        self.best, self.best_epoch = value, epoch
        if self.restore_best:
            self.best_params = trainer.network.get_params()

    def _stop(self, trainer, epoch: int) -> None:
        trainer.stop_training = True
        self.stopped_epoch = epoch

    def on_train_end(self, trainer):
        if self.restore_best and self.best_params is not None and not trainer.interrupted:
            trainer.network.set_params(self.best_params)
            self.restored = True

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "restore_best": self.restore_best,
        }

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_params": self.best_params,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state):
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        bp = state["best_params"]
        self.best_params = None if bp is None else [np.array(p) for p in bp]
        self.stopped_epoch = state["stopped_epoch"]


class EarlyStopping(_BestKeeper):
    """Stop when the monitored metric has not improved for ``patience`` epochs.

    The chapter's "no improvement in n epochs" rule, on validation accuracy
    by default (n = 10 to start with, 20 or 30 once the network is
    understood). If the best value came at epoch b, training stops after
    epoch b + patience; with ``restore_best`` the network ends with the
    parameters of epoch b.

    Parameters
    ----------
    monitor : str
        ``val_accuracy`` (default), ``val_loss``, ``accuracy``, ``loss`` or a
        key another callback adds to the logs (give ``mode`` then).
    patience : int >= 1
    min_delta : float >= 0
        Smallest change that counts as an improvement.
    mode : "auto", "max" or "min"
    restore_best : bool
    """

    def __init__(
        self,
        monitor: str = "val_accuracy",
        patience: int = 10,
        *,
        min_delta=0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        self.patience = check_range("patience", patience, low=1, integer=True)
        super().__init__(monitor, mode=mode, min_delta=min_delta, restore_best=restore_best)

    def reset(self):
        super().reset()
        self.wait = 0

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.value(logs)
        if self.is_improvement(value):
            self._keep(trainer, epoch, value)
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self._stop(trainer, epoch)

    def get_config(self):
        return {"rule": "no_improvement", "patience": self.patience, **super().get_config()}

    def state_dict(self):
        return {**super().state_dict(), "wait": self.wait}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.wait = int(state["wait"])

    def __repr__(self):
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best={self.restore_best})"
        )


def _as_error(key: str, value: float) -> float:
    """Prechelt's criteria need an error (lower is better): 1 - accuracy, or the cost itself."""
    return 1.0 - value if "accuracy" in key else value


def _generalization_loss(error: float, best_error: float) -> float:
    """GL = 100 (E_va / E_opt - 1), with E_opt = 0 handled (0 if E_va = 0 too, else inf)."""
    if best_error <= 0.0:
        return 0.0 if error <= 0.0 else math.inf
    return 100.0 * (error / best_error - 1.0)


class GeneralizationLossStopping(_BestKeeper):
    """Prechelt's GL_alpha: stop when the generalization loss exceeds ``alpha`` percent.

    With E_va(t) the validation error after epoch t and E_opt(t) the lowest
    so far, the generalization loss is

        GL(t) = 100 * (E_va(t) / E_opt(t) - 1)

    the relative increase of the validation error over its minimum, in
    percent. GL_alpha stops after the first epoch with GL(t) > alpha.
    Unlike "no improvement in n" it ignores stalls and reacts only to the
    validation error actually rising, by an amount stated in percent.
    Prechelt studied alpha from 1 to 5.

    The error is ``val_loss`` (the cost, the default, like Prechelt's squared
    error) or 1 - ``val_accuracy``. With ``restore_best`` the network ends with
    the parameters of the epoch that reached E_opt.

    Reference: L. Prechelt, "Early stopping - but when?", in *Neural
    Networks: Tricks of the Trade*, LNCS 1524, Springer, 1998, pp. 55-69.
    """

    def __init__(self, alpha: float = 5.0, *, monitor: str = "val_loss", restore_best: bool = True):
        self.alpha = check_range("alpha", alpha, low=0.0)
        super().__init__(monitor, mode="min", min_delta=0.0, restore_best=restore_best)

    def reset(self):
        super().reset()
        self.trace: list[dict] = []

    def _gl(self, trainer, epoch, logs) -> float:
        error = _as_error(self.monitor, self.value(logs))
        if self.is_improvement(error):
            self._keep(trainer, epoch, error)
        return _generalization_loss(error, self.best)

    def on_epoch_end(self, trainer, epoch, logs):
        gl = self._gl(trainer, epoch, logs)
        self.trace.append({"epoch": epoch, "gl": gl})
        if gl > self.alpha:
            self._stop(trainer, epoch)

    def get_config(self):
        return {"rule": "gl", "alpha": self.alpha, **super().get_config()}

    def state_dict(self):
        return {**super().state_dict(), "trace": self.trace}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.trace = [dict(t) for t in state["trace"]]

    def __repr__(self):
        return f"GeneralizationLossStopping(alpha={self.alpha}, monitor={self.monitor!r})"


class ProgressQuotientStopping(GeneralizationLossStopping):
    """Prechelt's PQ_alpha: stop when generalization loss outweighs training progress.

    Training is seen in strips of k epochs. At the end of each strip the
    training progress, in per mille, measures how much the training error
    still moves within the strip:

        P_k(t) = 1000 * (sum_{t'=t-k+1..t} E_tr(t') / (k * min_{t'} E_tr(t')) - 1)

    and the rule stops after the first strip end with

        PQ(t) = GL(t) / P_k(t) > alpha.

    While training still makes fast progress a high generalization loss is
    tolerated (it may well shrink again); once progress flattens, a small loss
    is enough. Prechelt studied alpha from 0.5 to 3 with k = 5.

    ``monitor`` gives E_va as for GL (``val_loss`` by default) and
    ``train_monitor`` gives E_tr (``loss``, the training cost, by default, or
    ``accuracy`` as 1 - accuracy). Strips count from the first epoch of the run.

    Reference: L. Prechelt, "Early stopping - but when?", in *Neural
    Networks: Tricks of the Trade*, LNCS 1524, Springer, 1998, pp. 55-69.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        *,
        strip: int = 5,
        monitor: str = "val_loss",
        train_monitor: str = "loss",
        restore_best: bool = True,
    ):
        self.strip = check_range("strip", strip, low=1, integer=True)
        self.train_monitor = _check_monitor(train_monitor)
        super().__init__(alpha, monitor=monitor, restore_best=restore_best)
        if self.train_monitor in MONITOR_KEYS:
            self.requires = (*self.requires, self.train_monitor)

    def reset(self):
        super().reset()
        self.window: list[float] = []

    @staticmethod
    def progress(window) -> float:
        """P_k over one strip of training errors, in per mille (inf if the minimum is 0)."""
        low = min(window)
        if low <= 0.0:
            return 0.0 if max(window) <= 0.0 else math.inf
        return 1000.0 * (sum(window) / (len(window) * low) - 1.0)

    def on_epoch_end(self, trainer, epoch, logs):
        gl = self._gl(trainer, epoch, logs)
        if self.train_monitor not in logs:
            raise ValueError(
                f"ProgressQuotientStopping needs the training metric {self.train_monitor!r} "
                f"in the logs, which have only {sorted(logs)}"
            )
        self.window = [*self.window, _as_error(self.train_monitor, float(logs[self.train_monitor]))]
        self.window = self.window[-self.strip :]
        entry = {"epoch": epoch, "gl": gl}
        if (epoch + 1) % self.strip == 0:
            p = self.progress(self.window)
            pq = (0.0 if gl <= 0.0 else math.inf) if p == 0.0 else gl / p
            entry.update(progress=p, pq=pq)
            if pq > self.alpha:
                self._stop(trainer, epoch)
        self.trace.append(entry)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rule="pq", strip=self.strip, train_monitor=self.train_monitor)
        return cfg

    def state_dict(self):
        return {**super().state_dict(), "window": list(self.window)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.window = [float(v) for v in state["window"]]

    def __repr__(self):
        return (
            f"ProgressQuotientStopping(alpha={self.alpha}, strip={self.strip}, "
            f"monitor={self.monitor!r}, train_monitor={self.train_monitor!r})"
        )


# ---------------------------------------------------------------- schedules
class PlateauSchedule(ImprovementMonitor):
    """The chapter's learning-rate schedule: divide eta on a plateau, stop when it is tiny.

    Hold eta while the monitored metric (validation accuracy by default)
    improves; after ``patience`` epochs without improvement divide eta by
    ``factor`` and start counting again (the best value is kept, so the
    metric must beat it to count as progress). Once eta has fallen to
    eta_0 / ``floor`` or below, stop training (``stop=False`` keeps going at
    that rate). With the defaults, factor 2 and floor 1024, that is after the
    tenth halving.

    The rate in force during each epoch is in the logs as ``learning_rate``;
    ``reductions`` lists (epoch, new rate) pairs.
    """

    def __init__(
        self,
        monitor: str = "val_accuracy",
        patience: int = 10,
        factor: float = 2.0,
        floor: float = 1024.0,
        *,
        min_delta=0.0,
        mode: str = "auto",
        stop: bool = True,
    ):
        super().__init__(monitor, mode=mode, min_delta=min_delta)
        self.patience = check_range("patience", patience, low=1, integer=True)
        self.factor = check_range("factor", factor, low=1.0, low_inclusive=False)
        self.floor = check_range("floor", floor, low=1.0)
        self.stop = bool(stop)
        self.reset()

    def reset(self) -> None:
        self.best = None
        self.wait = 0
        self.initial: float | None = None
        self.reductions: list[list] = []
        self.stopped_epoch: int | None = None

    def on_train_begin(self, trainer):
        if _fresh(trainer):
            self.reset()
        if self.initial is None:
            self.initial = float(trainer.learning_rate)

    def on_epoch_end(self, trainer, epoch, logs):
        value = self.value(logs)
        if self.is_improvement(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.wait = 0
        trainer.learning_rate = trainer.learning_rate / self.factor
        self.reductions.append([epoch, trainer.learning_rate])
        # A relative tolerance so that factor 10, floor 1000 stops after three
        # divisions although eta_0/10/10/10 and eta_0/1000 differ in the last bit.
        if self.stop and trainer.learning_rate <= self.initial / self.floor * (1 + 1e-9):
            trainer.stop_training = True
            self.stopped_epoch = epoch

    def get_config(self):
        return {
            "rule": "plateau",
            "monitor": self.monitor,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "factor": self.factor,
            "floor": self.floor,
            "stop": self.stop,
        }

    def state_dict(self):
        return {
            "best": self.best,
            "wait": self.wait,
            "initial": self.initial,
            "reductions": self.reductions,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state):
        self.best = state["best"]
        self.wait = int(state["wait"])
        self.initial = state["initial"]
        self.reductions = [list(r) for r in state["reductions"]]
        self.stopped_epoch = state["stopped_epoch"]

    def __repr__(self):
        return (
            f"PlateauSchedule(monitor={self.monitor!r}, patience={self.patience}, "
            f"factor={self.factor}, floor={self.floor})"
        )


class ScheduleCallback(Callback):
    """Set ``trainer.learning_rate = schedule(epoch)`` before each epoch.

    ``schedule`` is a :class:`nndl.schedules.Schedule` (one with no
    ``initial`` uses the run's ``learning_rate``), a spec string such as
    ``"step:10:0.5"``, or any function epoch -> rate.
    """

    def __init__(self, schedule):
        if isinstance(schedule, str):
            schedule = parse_schedule(schedule)
        elif isinstance(schedule, dict):
            schedule = get_schedule(schedule)
        if not callable(schedule):
            raise TypeError(
                f"schedule must be a Schedule, a spec string or a function epoch -> rate, "
                f"got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self._bound = schedule

    def on_train_begin(self, trainer):
        # Bound apart from the schedule as given, whose settings stay the run's identity.
        if isinstance(self.schedule, Schedule):
            self._bound = self.schedule.bind(trainer.config.learning_rate)

    def on_epoch_begin(self, trainer, epoch):
        rate = self._bound(epoch)
        trainer.learning_rate = check_range(
            f"learning rate from the schedule at epoch {epoch}", rate, low=0.0, low_inclusive=False
        )

    def get_config(self):
        if isinstance(self.schedule, Schedule):
            return {"schedule": self.schedule.to_dict()}
        return {"schedule": getattr(self.schedule, "__qualname__", type(self.schedule).__name__)}

    def __repr__(self):
        return f"ScheduleCallback({self.schedule!r})"


# ---------------------------------------------------------------- monitoring
def _fmt(key: str, value) -> str:
    if key == "time":
        return f"time {value:.2f}s"
    if key == "learning_rate":
        return f"eta {value:.4g}"
    if isinstance(value, float):
        return f"{key} {value:.4f}"
    return f"{key} {value}"


class ProgressBar(Callback):
    """Progress of training: a tqdm bar per epoch, one line per epoch, or nothing.

    Parameters
    ----------
    mode : "bar", "lines" or "quiet"
        ``bar`` (default) shows a bar over the epoch's mini-batches with the
        previous epoch's figures and then prints one line per epoch; ``lines``
        prints only the lines (for scripts and CI logs); ``quiet`` prints
        nothing. Without tqdm installed, ``bar`` falls back to ``lines``.
    file : text stream, default sys.stderr
    keys : list of str, optional
        Which figures of the logs to show (default: the four metrics when
        recorded); eta and the epoch's time are always shown.
    mininterval : float
        Least seconds between two redraws of the bar.

    The bar is updated at most about 100 times per epoch whatever the number
    of mini-batches, and tqdm redraws at most every ``mininterval`` seconds,
    so it costs nothing measurable per batch.
    """

    def __init__(self, mode: str = "bar", *, file=None, keys=None, mininterval: float = 0.5):
        if mode not in ("bar", "lines", "quiet"):
            raise ValueError(f"mode must be 'bar', 'lines' or 'quiet', got {mode!r}")
        self.mode = mode
        self.file = file
        self.keys = None if keys is None else list(keys)
        self.mininterval = check_range("mininterval", mininterval, low=0.0)
        self._bar = None
        self._tqdm = None
        self._last: dict = {}
        self._stride, self._pending = 1, 0
        if mode == "bar":
            # Per-batch calls only when a bar is drawn; lines and quiet stay off the hot path.
            self.on_batch_end = self._advance

    @property
    def _out(self):
        return self.file if self.file is not None else sys.stderr

    def on_train_begin(self, trainer):
        if self.mode != "bar":
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the installation
            self._tqdm = None
        else:
            self._tqdm = tqdm

    def on_epoch_begin(self, trainer, epoch):
        if self.mode != "bar" or self._tqdm is None:
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
        if self._last:
            self._bar.set_postfix_str(self._summary(self._last), refresh=False)

    def _advance(self, trainer, batch):
        self._pending += 1
        if self._pending >= self._stride and self._bar is not None:
            self._bar.update(self._pending)
            self._pending = 0

    def _summary(self, logs: dict, total: int | None = None) -> str:
        keys = self.keys if self.keys is not None else list(MONITOR_KEYS)
        parts = [_fmt(k, logs[k]) for k in keys if k in logs]
        parts += [_fmt(k, logs[k]) for k in ("learning_rate", "time") if k in logs]
        head = f"epoch {logs['epoch'] + 1}/{total}  " if total else ""
        return head + "  ".join(parts)

    def on_epoch_end(self, trainer, epoch, logs):
        self._last = dict(logs)
        if self.mode == "quiet":
            return
        line = self._summary(logs, total=trainer.last_epoch + 1)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._tqdm.write(line, file=self._out)
        else:
            print(line, file=self._out, flush=True)

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
        self._sample = None

    def on_train_begin(self, trainer):
        pair = trainer.train_data if self.data == "train" else trainer.validation_data
        if pair is None:
            raise ValueError("Diagnostics(data='validation') needs validation_data")
        X, Y = pair
        idx = sample_rows(X.shape[0], self.sample, self.seed)
        self._sample = (X[idx], Y[idx])
        if _fresh(trainer):
            self.initial = self._measure(trainer)

    def _measure(self, trainer) -> dict:
        cfg = trainer.config
        return diagnose(
            trainer.network,
            *self._sample,
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
    a dict with ``epoch``, ``batch`` (within the epoch), ``step`` (mini-batches
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
        if _fresh(trainer):
            self.records, self.step = [], 0
        metrics = self.metrics
        if metrics is None:
            metrics = ["loss", "accuracy"]
            if trainer.validation_data is not None:
                metrics += ["val_loss", "val_accuracy"]
        if trainer.validation_data is None and any(k.startswith("val_") for k in metrics):
            raise ValueError(f"BatchMonitor metrics {metrics} need validation_data")
        self._active = metrics
        X, Y = trainer.train_data
        idx = sample_rows(X.shape[0], self.train_subset, self.seed)
        self._train = (X[idx], Y[idx])
        self._val = None
        if trainer.validation_data is not None:
            Xv, Yv = trainer.validation_data
            idx = sample_rows(Xv.shape[0], self.val_subset, self.seed + 1)
            self._val = (Xv[idx], Yv[idx])

    def on_batch_end(self, trainer, batch):
        self.step += 1
        if self.step % self.every:
            return
        mon = self._active
        rec = {
            "epoch": trainer.epoch,
            "batch": batch,
            "step": self.step,
            "learning_rate": trainer.learning_rate,
        }
        if "loss" in mon or "accuracy" in mon:
            r = trainer.evaluate(*self._train, cost="loss" in mon, accuracy="accuracy" in mon)
            rec.update(r)
        if "val_loss" in mon or "val_accuracy" in mon:
            r = trainer.evaluate(*self._val, cost="val_loss" in mon, accuracy="val_accuracy" in mon)
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
        return {"step": self.step, "records": self.records}

    def load_state_dict(self, state):
        self.step = int(state["step"])
        self.records = [dict(r) for r in state["records"]]

    def __repr__(self):
        return f"BatchMonitor(every={self.every}, metrics={self.metrics})"


# --------------------------------------------------------------- checkpoints
class Checkpoint(Callback):
    """Write the run's whole state every ``every`` epochs, at the end, and on interruption.

    A checkpoint (see :mod:`nndl.checkpoint`) holds the parameters, the
    optimizer's velocities, the epoch (and the position within it after an
    interruption), the learning rate, every stateful callback's state (early
    stopping, plateau schedule, ...), the generator's state, the history
    and a hash of the configuration and data; ``Trainer.resume`` or
    ``fit(..., resume_from=path)`` continue exactly from it.

    ``path`` may contain ``{epoch}``, replaced by the number of completed
    epochs, to keep one file per checkpoint; otherwise each write replaces
    the last, atomically. After an interruption that leaves the state
    consistent (:class:`nndl.training.TrainingInterrupted`, raised by
    ``trainer.request_interrupt()`` or a Ctrl-C under
    ``trainer.interrupt_on_sigint()``), a checkpoint is written at once; the
    command line calls :meth:`save` itself for any other moment between
    epochs. It runs after every other callback (``priority`` 100).

    Resuming in the middle of an epoch replays that epoch's saved order from
    the next mini-batch, with the generator as it was; ``on_epoch_begin``
    runs again first, so a callback that draws from ``trainer.rng`` there or
    hands the epoch new data (``epoch_train_data``) makes that one epoch
    differ from the uninterrupted run. The logged ``time`` of a resumed
    epoch counts only the part trained after resuming.
    """

    priority = 100

    def __init__(self, path, every: int = 1, *, on_interrupt: bool = True):
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
        self.path = str(path)
        self.every = check_range("every", every, low=1, integer=True)
        self.on_interrupt = bool(on_interrupt)
        self.saved: list[Path] = []

    def path_for(self, trainer) -> Path:
        return Path(self.path.replace("{epoch}", str(trainer.completed_epochs)))

    def save(self, trainer) -> Path:
        """Write a checkpoint now (between epochs or after an interruption); return its path."""
        t0 = time.perf_counter()
        path = write_checkpoint(self.path_for(trainer), trainer.state_dict())
        self.seconds = time.perf_counter() - t0
        self.saved.append(path)
        return path

    def on_epoch_end(self, trainer, epoch, logs):
        final = trainer.stop_training or epoch >= trainer.last_epoch
        if final or (epoch + 1) % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer):
        if self.on_interrupt and trainer.interrupted and trainer.can_checkpoint:
            self.save(trainer)

    def __repr__(self):
        return f"Checkpoint({self.path!r}, every={self.every})"


# ------------------------------------------------------- command-line helpers
def schedule_callback(
    spec: str,
    *,
    monitor: str = "val_accuracy",
    patience: int = 10,
    factor: float = 2.0,
    floor: float = 1024.0,
) -> Callback | None:
    """The callback for a ``--schedule`` option, or None for ``constant``.

    ``plateau`` gives a :class:`PlateauSchedule` (with ``monitor``,
    ``patience``, ``factor``, ``floor``); ``step:EVERY[:FACTOR]`` and
    ``exp:GAMMA`` give a :class:`ScheduleCallback` over the run's learning rate.
    """
    if not isinstance(spec, str):
        raise TypeError(f"schedule must be a string, got {type(spec).__name__}")
    if spec.strip().lower() == "plateau":
        return PlateauSchedule(monitor, patience=patience, factor=factor, floor=floor)
    schedule = parse_schedule(spec)
    if schedule.name == "constant":
        return None
    return ScheduleCallback(schedule)


def early_stopping_callback(
    rule: str = "no-improvement",
    patience: int = 10,
    *,
    monitor: str | None = None,
    min_delta=0.0,
    restore_best: bool = True,
) -> Callback:
    """The callback for ``--early-stopping-rule``.

    ``no-improvement`` (``patience`` epochs on ``monitor``, default
    ``val_accuracy``), ``gl:ALPHA`` (Prechelt's GL_alpha on ``monitor``,
    default ``val_loss``) or ``pq:ALPHA[:STRIP]`` (PQ_alpha, strips of 5 by
    default).
    """
    if not isinstance(rule, str):
        raise TypeError(f"early-stopping rule must be a string, got {type(rule).__name__}")
    head, *args = rule.strip().lower().replace("_", "-").split(":")
    forms = "'no-improvement', 'gl:ALPHA' or 'pq:ALPHA[:STRIP]'"
    try:
        nums = [float(a) for a in args]
    except ValueError:
        raise ValueError(f"bad early-stopping rule {rule!r}; expected {forms}") from None
    if head == "no-improvement" and not nums:
        return EarlyStopping(
            monitor or "val_accuracy",
            patience,
            min_delta=min_delta,
            restore_best=restore_best,
        )
    if head == "gl" and len(nums) == 1:
        return GeneralizationLossStopping(
            nums[0], monitor=monitor or "val_loss", restore_best=restore_best
        )
    if head == "pq" and len(nums) in (1, 2):
        strip = nums[1] if len(nums) == 2 else 5
        if isinstance(strip, float) and strip.is_integer():
            strip = int(strip)
        return ProgressQuotientStopping(
            nums[0], strip=strip, monitor=monitor or "val_loss", restore_best=restore_best
        )
    raise ValueError(f"bad early-stopping rule {rule!r}; expected {forms}")


#: The settings of :func:`control_callbacks` and their defaults: one section
#: of a run configuration (``[control]``) for everything this module adds.
CONTROL_DEFAULTS: dict = {
    "schedule": "constant",
    "plateau_monitor": "val_accuracy",
    "plateau_patience": 10,
    "plateau_factor": 2.0,
    "plateau_floor": 1024.0,
    "early_stopping": 0,
    "early_stopping_rule": "no-improvement",
    "early_stopping_monitor": None,
    "restore_best": True,
    "monitor_every": 0,
    "monitor_subset": 1000,
    "diagnostics": False,
    "diagnostics_sample": 1000,
    "diagnostics_threshold": DEFAULT_THRESHOLD,
    "checkpoint_every": 0,
    "checkpoint_path": "checkpoint.npz",
}


def control_callbacks(settings: dict | None = None, *, out=None) -> list[Callback]:
    """The callbacks for a ``[control]`` section of settings (see :data:`CONTROL_DEFAULTS`).

    ``early_stopping`` is the patience n of "no improvement in n epochs" (0:
    off); with ``early_stopping_rule`` ``gl:ALPHA`` or ``pq:ALPHA[:STRIP]`` any
    non-zero value switches the Prechelt rule on. ``monitor_every`` k > 0 adds
    a :class:`BatchMonitor` on subsets of ``monitor_subset`` examples,
    ``diagnostics`` a :class:`Diagnostics`, ``checkpoint_every`` N > 0 a
    :class:`Checkpoint` at ``checkpoint_path`` (relative to ``out`` when given).
    """
    s = dict(CONTROL_DEFAULTS)
    unknown = set(settings or {}) - set(s)
    if unknown:
        raise ValueError(f"unknown control setting(s) {sorted(unknown)}; expected {sorted(s)}")
    s.update({k: v for k, v in (settings or {}).items() if v is not None})
    cbs: list[Callback] = []
    sched = schedule_callback(
        s["schedule"],
        monitor=s["plateau_monitor"],
        patience=s["plateau_patience"],
        factor=s["plateau_factor"],
        floor=s["plateau_floor"],
    )
    if sched is not None:
        cbs.append(sched)
    if check_range("early_stopping", s["early_stopping"], low=0, integer=True):
        cbs.append(
            early_stopping_callback(
                s["early_stopping_rule"],
                s["early_stopping"],
                monitor=s["early_stopping_monitor"],
                restore_best=s["restore_best"],
            )
        )
    if check_range("monitor_every", s["monitor_every"], low=0, integer=True):
        n = s["monitor_subset"]
        cbs.append(BatchMonitor(s["monitor_every"], train_subset=n, val_subset=n))
    if s["diagnostics"]:
        cbs.append(
            Diagnostics(sample=s["diagnostics_sample"], threshold=s["diagnostics_threshold"])
        )
    if check_range("checkpoint_every", s["checkpoint_every"], low=0, integer=True):
        path = Path(s["checkpoint_path"])
        if out is not None and not path.is_absolute():
            path = Path(out) / path
        cbs.append(Checkpoint(path, every=s["checkpoint_every"]))
    return cbs
