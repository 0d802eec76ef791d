"""The old home of the experiments' shared code, kept so that old imports still work.

The code now lives in small modules by concern:

- :mod:`~nndl.experiments.experiment_run`: :class:`ExperimentRun` (was
  ``Context``), :class:`ExperimentSettings` (was ``Settings``),
  :class:`VerdictRow` (was ``Check``) and :class:`TrainRun`;
- :mod:`~nndl.experiments.statistics`: ``t_quantile``, ``summarize``, ``welch_test``;
- :mod:`~nndl.experiments.tables`: ``format_value``, ``format_table``;
- :mod:`~nndl.experiments.data_source`: ``resolve_data_source``, ``load_splits``
  (was ``load_data``);
- :mod:`~nndl.experiments.background`: ``BackgroundJob`` and the job pool.
"""

from __future__ import annotations

from .background import BackgroundJob, cancel_background, start_background, take_background
from .data_source import DATA_SOURCES, resolve_data_source
from .data_source import load_splits as load_data
from .experiment_run import ExperimentRun as Context
from .experiment_run import ExperimentSettings as Settings
from .experiment_run import TrainRun
from .experiment_run import VerdictRow as Check
from .statistics import summarize, t_quantile, welch_test
from .tables import format_table, format_value

__all__ = [
    "DATA_SOURCES",
    "BackgroundJob",
    "Check",
    "Context",
    "Settings",
    "TrainRun",
    "cancel_background",
    "format_table",
    "format_value",
    "load_data",
    "resolve_data_source",
    "start_background",
    "summarize",
    "t_quantile",
    "take_background",
    "welch_test",
]
