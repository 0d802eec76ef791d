"""The ``[control]`` section of a run's settings turned into callbacks."""

from __future__ import annotations

from pathlib import Path

from .. import settings as run_settings
from .base import Callback
from .checkpointing import Checkpoint
from .lr_schedule import schedule_callback
from .monitoring import BatchMonitor, Diagnostics
from .stopping import early_stopping_callback
from .tensorboard import TensorBoard

__all__ = ["CONTROL_DEFAULTS", "control_callbacks"]


#: The settings of :func:`control_callbacks` and their defaults: the
#: ``[control]`` section of the settings schema (:mod:`nndl.settings`).
CONTROL_DEFAULTS: dict = run_settings.defaults("control")


def control_callbacks(settings: dict | None = None, *, out=None) -> list[Callback]:
    """The callbacks for a ``[control]`` section of settings (see :data:`CONTROL_DEFAULTS`).

    ``early_stopping`` is the patience n of "no improvement in n epochs" (0:
    off); with ``early_stopping_rule`` ``gl:ALPHA`` or ``pq:ALPHA[:STRIP]`` any
    non-zero value switches the Prechelt rule on. ``monitor_every`` k > 0 adds
    a :class:`BatchMonitor` on subsets of ``monitor_subset`` examples,
    ``diagnostics`` a :class:`Diagnostics`, ``checkpoint_every`` N > 0 a
    :class:`Checkpoint` at ``checkpoint_path`` (relative to ``out`` when given),
    ``tensorboard`` DIR a :class:`TensorBoard` writing to ``DIR/<out's name>``
    (to DIR itself when ``out`` is None; a relative DIR is taken as given).
    """
    s = dict(CONTROL_DEFAULTS)
    s.update(run_settings.check_section("control", settings or {}, "control settings"))
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
    if s["early_stopping"]:
        cbs.append(
            early_stopping_callback(
                s["early_stopping_rule"],
                s["early_stopping"],
                monitor=s["early_stopping_monitor"],
                restore_best=s["restore_best"],
            )
        )
    if s["monitor_every"]:
        n = s["monitor_subset"]
        cbs.append(BatchMonitor(s["monitor_every"], train_subset=n, val_subset=n))
    if s["diagnostics"]:
        cbs.append(
            Diagnostics(sample=s["diagnostics_sample"], threshold=s["diagnostics_threshold"])
        )
    if s["checkpoint_every"]:
        path = Path(s["checkpoint_path"])
        if out is not None and not path.is_absolute():
            path = Path(out) / path
        cbs.append(Checkpoint(path, every=s["checkpoint_every"]))
    if s["tensorboard"]:
        logdir = Path(s["tensorboard"])
        if out is not None:
            logdir = logdir / Path(out).resolve().name
        cbs.append(
            TensorBoard(
                logdir, sample=s["diagnostics_sample"], threshold=s["diagnostics_threshold"]
            )
        )
    return cbs
