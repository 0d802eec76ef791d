"""Checkpointing: the run's whole state written to a file, to resume exactly."""

from __future__ import annotations

import time
from pathlib import Path

from .._validation import check_range
from ..checkpoint import write_checkpoint
from .base import Callback

__all__ = ["Checkpoint"]


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
    runs again first, with ``trainer.resuming_epoch`` True. A callback that
    draws from ``trainer.rng`` there must then draw from a copy of the state
    it saved when the epoch began, as :class:`~nndl.callbacks.AugmentCallback`
    does; one that draws again makes that one epoch differ from the
    uninterrupted run. The logged ``time`` of a resumed epoch counts only the
    part trained after resuming.
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
