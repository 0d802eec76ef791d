"""The callback protocol and what every other callback module builds on.

A callback overrides any of the hooks of :class:`Callback`; each does nothing
by default. The trainer passes itself, so a callback can read
``trainer.network``, ``trainer.history``, ``trainer.epoch``, change
``trainer.learning_rate`` or set ``trainer.stop_training = True``.

``logs`` is a dict with the keys ``epoch`` (the epoch's number as the console
shows it, counted from 1), ``learning_rate``, ``time`` and,
when monitored, ``loss``, ``accuracy`` (training data), ``val_loss``,
``val_accuracy`` (evaluation data), plus whatever callbacks add through
:meth:`Callback.extra_logs` (the saturation diagnostics, for instance).

Beyond the hooks, a callback may declare

* ``requires``: metrics it reads from the logs; the trainer records them
  even if the run's ``monitor`` did not ask for them;
* ``priority``: callbacks run in increasing priority (0 by default, stable
  order otherwise); :class:`~nndl.callbacks.Checkpoint` runs last so that it
  saves the state every other callback has just updated;
* ``get_config()``: the settings that make it part of the run's identity
  (schedules, stopping rules); a checkpoint refuses to resume with others;
* ``state_dict()`` / ``load_state_dict()``: what it must remember across a
  checkpoint (the best value so far, a patience counter, ...).

Callbacks that keep state reset it in ``on_train_begin`` only when the
trainer starts from scratch (:func:`starts_from_scratch`), so continuing a
run, by a second ``fit`` or from a checkpoint, carries their state on.

Also here: :class:`History`, :class:`LambdaCallback`, and the shared
"did the monitored metric improve?" logic (:class:`ImprovementMonitor`, and
:class:`BestEpochMonitor`, which the stopping rules build on).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_range
from ..settings import MONITOR_KEYS

__all__ = [
    "MONITOR_KEYS",
    "BestEpochMonitor",
    "Callback",
    "History",
    "ImprovementMonitor",
    "LambdaCallback",
    "check_monitor_name",
    "overrides",
    "resolve_mode",
    "starts_from_scratch",
]


class Callback:
    """Base class; every hook is optional."""

    #: Metrics this callback reads from the logs (recorded whatever ``monitor`` says).
    requires: tuple[str, ...] = ()
    #: Callbacks run in increasing priority; equal priorities keep their order.
    priority: int = 0

    def on_train_begin(self, trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Called before each epoch (``epoch`` counts from 0, like ``trainer.epoch``;
        ``logs["epoch"]``, what users read, counts from 1)."""

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

    ``history["epoch"]`` numbers the epochs from 1, as the console does.

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
        """(epoch, value) of the best value of a monitored key; epochs count from 1."""
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
def starts_from_scratch(trainer) -> bool:
    """True when the trainer starts from scratch (not continuing or resuming)."""
    return trainer.epoch < 0


def check_monitor_name(monitor) -> str:
    """``monitor`` if it is a non-empty metric name, else a TypeError."""
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be a metric name such as 'val_accuracy', got {monitor!r}")
    return monitor


def resolve_mode(monitor: str, mode: str) -> str:
    """``max`` or ``min`` for ``monitor``: as given, or guessed from the name when ``auto``."""
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
        self.monitor = check_monitor_name(monitor)
        self.mode = resolve_mode(self.monitor, mode)
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


class BestEpochMonitor(ImprovementMonitor):
    """Base of the stopping rules: remembers the best epoch and its parameters.

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
        if starts_from_scratch(trainer):
            self.reset()

    # best_epoch and stopped_epoch count from 1, as the console does; the
    # ``epoch`` the hooks pass counts from 0.
    def _remember_best(self, trainer, epoch: int, value: float) -> None:
        self.best, self.best_epoch = value, epoch + 1
        if self.restore_best:
            self.best_params = trainer.network.get_params()

    def _stop_training(self, trainer, epoch: int) -> None:
        trainer.stop_training = True
        self.stopped_epoch = epoch + 1

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
            "counted_from": 1,
        }

    def load_state_dict(self, state):
        # States saved before epochs counted from 1 lack "counted_from".
        shift = 0 if state.get("counted_from") == 1 else 1
        self.best = state["best"]
        self.best_epoch = None if state["best_epoch"] is None else state["best_epoch"] + shift
        bp = state["best_params"]
        self.best_params = None if bp is None else [np.array(p) for p in bp]
        stopped = state["stopped_epoch"]
        self.stopped_epoch = None if stopped is None else stopped + shift
