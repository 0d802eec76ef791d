"""The ``[control]`` section of a run's settings turned into callbacks."""

from __future__ import annotations

from pathlib import Path

from .._validation import check_range
from ..diagnostics import DEFAULT_THRESHOLD
from .base import Callback
from .checkpointing import Checkpoint
from .lr_schedule import schedule_callback
from .monitoring import BatchMonitor, Diagnostics
from .stopping import early_stopping_callback

__all__ = ["CONTROL_DEFAULTS", "control_callbacks"]


#: The settings of :func:`control_callbacks` and their defaults: one section
#: of a run configuration (``[control]``) for the callbacks a run switches on by settings.
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
