"""TensorBoard logging: a run's curves, weights, gradients and settings as event files.

:class:`TensorBoard` writes one run folder of TensorBoard event files with
tensorboardX (``pip install 'nndl[tensorboard]'``; no TensorFlow). Steps are
epochs counted from 1, as the console counts them; step 0 holds the network
before training. Each epoch it writes

=============================  ==============================================
scalars                        from the epoch's logs
=============================  ==============================================
``cost/training``              ``loss`` (when monitored)
``cost/validation``            ``val_loss``
``accuracy/training``          ``accuracy``
``accuracy/validation``        ``val_accuracy``
``learning_rate``              the rate the epoch trained with
``epoch_seconds``              ``time``
``saturation/layer_l``         the saturation diagnostics of
``mean_prime/layer_l``         :func:`nndl.diagnostics.diagnose`: ``sat_l``,
``weight_norm/layer_l``        ``mean_prime_l``, ``w_norm_l``, ``grad_norm_l``
``gradient_norm/layer_l``      (from the logs when a ``Diagnostics`` callback
                               adds them, else measured here)
``logs/KEY``                   any other number a callback adds to the logs
=============================  ==============================================

and the histograms ``weights/layer_l``, ``biases/layer_l`` and
``gradients/layer_l`` (dC/dW^l by backpropagation on a fixed sample of the
training data, the penalty's gradient included: the gradient the trainer
applies, as :func:`nndl.diagnostics.gradient_norms` measures it). The sample
is drawn once with its own generator, and no dropout is applied, so logging
never changes the run.

For TensorBoard's HParams view, the run's settings (``network.*`` and
``training.*`` from the network's and trainer's configurations, the
training-set size, the settings of the callbacks that shape training, such
as ``EarlyStopping.patience``, and whatever ``hparams`` adds) are written as
the hparams plugin's session start, and when training ends its session end
(success, or failure when an exception ended it; none after a Ctrl-C, since
the run may resume) with the final metrics:
``final/validation_accuracy`` (``final/validation_cost``,
``final/training_accuracy``, ``final/training_cost`` as monitored) of the
network as training leaves it (early stopping's best epoch restored) and
``final/epochs``. TensorBoard lists the settings of every run in the folder
it is given (``tensorboard --logdir DIR``) and compares them.

A run that resumes (from a checkpoint, or by a second ``fit``) goes on in
its folder, and TensorBoard hides what an interrupted run wrote beyond the
epoch it resumes from (a restart marker). A run from scratch never mixes
with earlier events, which TensorBoard could not tell apart (it keeps the
first settings it reads in a folder): when ``logdir`` already holds event
files, it writes to the first of ``logdir-2``, ``logdir-3``, ... that holds
none, and nothing is deleted. ``run_dir`` is the folder a run writes to.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from .._validation import check_range
from ..diagnostics import DEFAULT_THRESHOLD, diagnose, sample_rows
from .base import Callback, starts_from_scratch

__all__ = ["FINAL_METRIC_TAGS", "TensorBoard", "scalar_tag"]

#: Tags of the monitored metrics, per key of the logs.
METRIC_TAGS = {
    "loss": "cost/training",
    "val_loss": "cost/validation",
    "accuracy": "accuracy/training",
    "val_accuracy": "accuracy/validation",
    "learning_rate": "learning_rate",
    "time": "epoch_seconds",
}

#: Tags of the metrics the HParams view compares, per monitored key.
FINAL_METRIC_TAGS = {
    "loss": "final/training_cost",
    "val_loss": "final/validation_cost",
    "accuracy": "final/training_accuracy",
    "val_accuracy": "final/validation_accuracy",
}

#: How often the events reach the disk while a run trains (TensorBoard's live view).
FLUSH_SECONDS = 5

_DIAGNOSTIC_TAGS = {
    "sat": "saturation",
    "mean_prime": "mean_prime",
    "w_norm": "weight_norm",
    "grad_norm": "gradient_norm",
}
_DIAGNOSTIC_KEY = re.compile(r"^(sat|mean_prime|w_norm|grad_norm)_(\d+)$")


def scalar_tag(key: str) -> str:
    """The tag of a key of the epoch logs (``val_accuracy``: ``accuracy/validation``)."""
    if key in METRIC_TAGS:
        return METRIC_TAGS[key]
    m = _DIAGNOSTIC_KEY.match(key)
    if m:
        return f"{_DIAGNOSTIC_TAGS[m.group(1)]}/layer_{m.group(2)}"
    return f"logs/{key}"


def _hparam_value(value):
    """A setting as the hparams plugin takes it: a number, a bool or a string (None: left out)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _flatten(prefix: str, settings: dict) -> dict:
    """``{"a": {"b": 1}}`` as ``{"prefix.a.b": 1}``."""
    out = {}
    for key, value in settings.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            out.update(_flatten(name, value))
        else:
            out[name] = value
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class TensorBoard(Callback):
    """Write TensorBoard event files for the run to ``logdir`` (its run folder).

    Parameters
    ----------
    logdir : str or Path
        The run's folder (created when training starts; see above for a
        folder that holds an earlier run); point ``tensorboard --logdir`` at
        its parent to compare runs.
    hparams : dict, optional
        Settings to add to the ones read from the trainer (the data set's
        name, an experiment's configuration, ...): numbers, bools, strings.
    histograms : bool
        Write the per-layer weight, bias and gradient histograms.
    diagnostics : bool
        Measure the saturation diagnostics when the logs lack them.
    sample : int
        Training examples the gradients and diagnostics are measured on.
    threshold : float
        |z| beyond which a sigmoid neuron counts as saturated (tanh: half).
    seed : int
        Seed of the sample's draw.

    Needs tensorboardX: ``pip install 'nndl[tensorboard]'``.
    """

    #: After the stopping rules (which restore the best parameters when
    #: training ends), before a Checkpoint.
    priority = 90

    def __init__(
        self,
        logdir,
        *,
        hparams: dict | None = None,
        histograms: bool = True,
        diagnostics: bool = True,
        sample: int = 1000,
        threshold: float = DEFAULT_THRESHOLD,
        seed: int = 0,
    ):
        try:
            import tensorboardX  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "TensorBoard logging needs tensorboardX: pip install 'nndl[tensorboard]'"
            ) from exc
        if not isinstance(logdir, (str, Path)):
            raise TypeError(f"logdir must be a str or Path, got {type(logdir).__name__}")
        self.logdir = Path(logdir)
        if hparams is not None and not isinstance(hparams, dict):
            raise TypeError(f"hparams must be a dict, got {type(hparams).__name__}")
        self.hparams = dict(hparams or {})
        self.histograms = bool(histograms)
        self.diagnostics = bool(diagnostics)
        self.sample = check_range("sample", sample, low=1, integer=True)
        self.threshold = check_range("threshold", threshold, low=0.0, low_inclusive=False)
        self.seed = check_range("seed", seed, low=0, integer=True)
        #: The folder this run writes to: ``logdir``, or ``logdir-K`` when
        #: ``logdir`` holds an earlier run (None before training).
        self.run_dir: Path | None = None
        self.writer = None
        self._written_step = 0
        self._sample_xy = None

    # ------------------------------------------------------------ the hooks
    def on_train_begin(self, trainer):
        from tensorboardX import SummaryWriter

        X, Y = trainer.train_data
        idx = sample_rows(X.shape[0], self.sample, self.seed)
        self._sample_xy = (X[idx], Y[idx])
        fresh = starts_from_scratch(trainer)
        self.run_dir = self._run_folder(fresh)
        # A resumed run: TensorBoard hides every event at or beyond this step
        # that the interrupted writer left.
        purge_step = None if fresh else trainer.completed_epochs + 1
        # tensorboardX names a file by the second it was opened; the suffix keeps
        # two writers of one second (a second fit, a resume) from sharing one.
        self.writer = SummaryWriter(
            logdir=str(self.run_dir),
            purge_step=purge_step,
            filename_suffix=f".{time.time_ns()}.{os.getpid()}",
            # Written to disk every few seconds (and at the end), not every
            # epoch: a flush syncs the file, which costs more than a short epoch.
            flush_secs=FLUSH_SECONDS,
        )
        self.writer.file_writer.add_summary(
            self._session_start(trainer), global_step=trainer.completed_epochs
        )
        self._written_step = trainer.completed_epochs
        if fresh:
            self._write_epoch(trainer, 0, {})

    def on_epoch_end(self, trainer, epoch, logs):
        self._write_epoch(trainer, epoch + 1, logs)

    def on_train_end(self, trainer):
        if self.writer is None:
            return
        step = trainer.completed_epochs
        last = trainer.history.records[-1] if len(trainer.history) else None
        if last is not None and last["epoch"] > self._written_step:
            # Another callback raised in this epoch's on_epoch_end before this
            # one ran (a pruned search trial): its logged figures still count.
            self._write_scalars(last["epoch"], last)
        for tag, value in self.final_metrics(trainer).items():
            self.writer.add_scalar(tag, value, step)
        # An interrupted run (Ctrl-C) may be resumed: its session goes on.
        # TensorBoard keeps the first session end it reads in a folder.
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            status = "STATUS_FAILURE" if trainer.interrupted else "STATUS_SUCCESS"
            self.writer.file_writer.add_summary(self._session_end(status), global_step=step)
        self.writer.close()
        self.writer = None

    def get_config(self):
        # Logging is not part of the run's identity: a checkpoint resumes with or without it.
        return None

    def __repr__(self):
        return f"TensorBoard({str(self.logdir)!r})"

    def _run_folder(self, fresh: bool) -> Path:
        """``logdir``, or the ``logdir-K`` to use when ``logdir`` holds an earlier run."""
        if not fresh and self.run_dir is not None:
            return self.run_dir  # a second fit goes on where the first wrote
        used = []
        k, folder = 1, self.logdir
        while any(folder.glob("*tfevents*")):
            used.append(folder)
            k += 1
            folder = self.logdir.with_name(f"{self.logdir.name}-{k}")
        if fresh:
            return folder
        return used[-1] if used else self.logdir  # a resumed run: the latest

    # --------------------------------------------------------- what it writes
    def run_hparams(self, trainer) -> dict:
        """The settings written for the HParams view: ``network.*``, ``training.*``,
        ``data.*``, the shaping callbacks' settings and ``hparams``."""
        settings = {
            **_flatten("network", trainer.network.config.to_dict()),
            **_flatten("training", trainer.config.to_dict()),
            "data.n_train": trainer.n,
        }
        if trainer.validation_data is not None:
            settings["data.n_validation"] = trainer.validation_data[0].shape[0]
        for cb in trainer.callbacks:
            config = cb.get_config()
            if config:
                settings.update(_flatten(type(cb).__name__, config))
        settings.update(self.hparams)
        values = {k: _hparam_value(v) for k, v in settings.items()}
        return {k: v for k, v in values.items() if v is not None}

    def final_metrics(self, trainer) -> dict[str, float]:
        """The HParams view's metrics: the monitored figures of the network as
        training leaves it, and the epochs trained (empty if its parameters
        are not finite)."""
        net = trainer.network
        if not all(np.isfinite(w).all() for w in (*net.weights, *net.biases)):
            return {}
        mon = trainer.monitor
        figures = {}
        if "loss" in mon or "accuracy" in mon:
            X, Y = trainer.train_data
            figures.update(trainer.evaluate(X, Y, cost="loss" in mon, accuracy="accuracy" in mon))
        if trainer.validation_data is not None and ("val_loss" in mon or "val_accuracy" in mon):
            Xv, Yv = trainer.validation_data
            r = trainer.evaluate(Xv, Yv, cost="val_loss" in mon, accuracy="val_accuracy" in mon)
            figures.update({f"val_{k}": v for k, v in r.items()})
        out = {FINAL_METRIC_TAGS[k]: float(v) for k, v in figures.items() if k in FINAL_METRIC_TAGS}
        out["final/epochs"] = float(trainer.completed_epochs)
        return out

    def weight_gradients(self, trainer) -> list[np.ndarray]:
        """dC/dW^l on the fixed sample, the penalty's gradient included, no dropout."""
        X, Y = self._sample_xy
        nabla_w, _ = trainer.network.backprop(X, Y)
        for reg in trainer.regularizers:
            for gw, w in zip(nabla_w, trainer.network.weights, strict=True):
                reg.add_gradient(gw, w, trainer.n)
        return nabla_w

    def _write_epoch(self, trainer, step: int, logs: dict) -> None:
        net = trainer.network
        w = self.writer
        gradients = self.weight_gradients(trainer) if self.histograms or self.diagnostics else None
        figures = {}
        if self.diagnostics:
            figures.update(diagnose(net, self._sample_xy[0], threshold=self.threshold))
            for l, g in enumerate(gradients, start=1):
                figures[f"grad_norm_{l}"] = float(np.linalg.norm(g))
        if step == 0:
            figures["learning_rate"] = trainer.learning_rate
        figures.update(logs)
        self._write_scalars(step, figures)
        if self.histograms:
            for l, (weights, biases, grad) in enumerate(
                zip(net.weights, net.biases, gradients, strict=True), start=1
            ):
                w.add_histogram(f"weights/layer_{l}", weights, step)
                w.add_histogram(f"biases/layer_{l}", biases, step)
                w.add_histogram(f"gradients/layer_{l}", grad, step)

    def _write_scalars(self, step: int, figures: dict) -> None:
        for key, value in figures.items():
            if key != "epoch" and _is_number(value):
                self.writer.add_scalar(scalar_tag(key), float(value), step)
        self._written_step = step

    def _session_start(self, trainer):
        from tensorboardX.proto.plugin_hparams_pb2 import SessionStartInfo

        info = SessionStartInfo(start_time_secs=time.time())
        for name, value in self.run_hparams(trainer).items():
            if isinstance(value, bool):
                info.hparams[name].bool_value = value
            elif isinstance(value, str):
                info.hparams[name].string_value = value
            else:
                info.hparams[name].number_value = value
        return _hparams_summary("_hparams_/session_start_info", session_start_info=info)

    def _session_end(self, status: str):
        from tensorboardX.proto.api_pb2 import Status
        from tensorboardX.proto.plugin_hparams_pb2 import SessionEndInfo

        info = SessionEndInfo(status=Status.Value(status), end_time_secs=time.time())
        return _hparams_summary("_hparams_/session_end_info", session_end_info=info)


def _hparams_summary(tag: str, **content):
    """A Summary holding one message of TensorBoard's hparams plugin under ``tag``."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    data = HParamsPluginData(version=0, **content)
    meta = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=data.SerializeToString()
        )
    )
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])
