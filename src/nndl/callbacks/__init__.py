"""Callbacks: the one extension point of the trainer.

A callback overrides any of the hooks of :class:`Callback` (``on_train_begin``,
``on_epoch_begin``, ``on_batch_end``, ``extra_logs``, ``on_epoch_end``,
``on_train_end``); each does nothing by default. :mod:`nndl.callbacks.base`
describes the protocol: the logs, ``requires``, ``priority``, ``get_config``
and ``state_dict``.

The callbacks, by module:

base           ``Callback``, ``History``, ``LambdaCallback``, ``ImprovementMonitor``
stopping       ``EarlyStopping``               no improvement in n epochs; restores the best
               ``GeneralizationLossStopping``  Prechelt's GL_alpha
               ``ProgressQuotientStopping``    Prechelt's PQ_alpha
lr_schedule    ``PlateauSchedule``             the chapter's eta schedule: halve on a plateau,
                                               stop at eta_0/1024
               ``ScheduleCallback``            an epoch-only schedule from :mod:`nndl.schedules`
monitoring     ``ProgressBar``                 a tqdm bar per epoch, a line per epoch, or nothing
               ``Diagnostics``                 per-layer saturation figures in the logs
               ``BatchMonitor``                cost and accuracy every k mini-batches on subsets
checkpointing  ``Checkpoint``                  the run's whole state every N epochs and on Ctrl-C
augment        ``AugmentCallback``             freshly distorted training images every epoch
tensorboard    ``TensorBoard``                 TensorBoard event files: curves, histograms, settings
control        ``control_callbacks``           the callbacks of a ``[control]`` settings section

Every name is importable from ``nndl.callbacks`` itself. ``augment`` also
gives ``AugmentCallback`` to :mod:`nndl.data.expand`, where the README
documents it, since the data package (below the callbacks) imports nothing
from here.
"""

from __future__ import annotations

from .augment import AugmentCallback
from .base import (
    MONITOR_KEYS,
    Callback,
    History,
    ImprovementMonitor,
    LambdaCallback,
    overrides,
)
from .checkpointing import Checkpoint
from .control import CONTROL_DEFAULTS, control_callbacks
from .lr_schedule import PlateauSchedule, ScheduleCallback, schedule_callback
from .monitoring import BatchMonitor, Diagnostics, JobProgress, ProgressBar
from .stopping import (
    EarlyStopping,
    GeneralizationLossStopping,
    ProgressQuotientStopping,
    early_stopping_callback,
)
from .tensorboard import TensorBoard

__all__ = [
    "CONTROL_DEFAULTS",
    "MONITOR_KEYS",
    "AugmentCallback",
    "BatchMonitor",
    "Callback",
    "Checkpoint",
    "Diagnostics",
    "EarlyStopping",
    "GeneralizationLossStopping",
    "History",
    "ImprovementMonitor",
    "JobProgress",
    "LambdaCallback",
    "PlateauSchedule",
    "ProgressBar",
    "ProgressQuotientStopping",
    "ScheduleCallback",
    "TensorBoard",
    "control_callbacks",
    "early_stopping_callback",
    "overrides",
    "schedule_callback",
]
