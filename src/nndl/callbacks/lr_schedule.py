"""Learning-rate callbacks: the chapter's plateau rule, and epoch-only schedules applied.

The schedules themselves, pure functions of the epoch, are in
:mod:`nndl.schedules`; :class:`ScheduleCallback` applies one before each
epoch. :class:`PlateauSchedule` reacts to a metric, so it is a callback.
:func:`schedule_callback` builds either from a ``--schedule`` string.
"""

from __future__ import annotations

from .._validation import check_range
from ..schedules import Schedule, get_schedule, parse_schedule
from .base import Callback, ImprovementMonitor, starts_from_scratch

__all__ = ["PlateauSchedule", "ScheduleCallback", "schedule_callback"]


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
    ``reductions`` lists (epoch, new rate) pairs; it and ``stopped_epoch``
    count epochs from 1, as the console does.
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
        if starts_from_scratch(trainer):
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
        self.reductions.append([epoch + 1, trainer.learning_rate])
        # A relative tolerance so that factor 10, floor 1000 stops after three
        # divisions although eta_0/10/10/10 and eta_0/1000 differ in the last bit.
        if self.stop and trainer.learning_rate <= self.initial / self.floor * (1 + 1e-9):
            trainer.stop_training = True
            self.stopped_epoch = epoch + 1

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
            "counted_from": 1,
        }

    def load_state_dict(self, state):
        self.best = state["best"]
        self.wait = int(state["wait"])
        self.initial = state["initial"]
        # States saved before epochs counted from 1 lack "counted_from".
        shift = 0 if state.get("counted_from") == 1 else 1
        self.reductions = [[r[0] + shift, r[1]] for r in state["reductions"]]
        stopped = state["stopped_epoch"]
        self.stopped_epoch = None if stopped is None else stopped + shift

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
