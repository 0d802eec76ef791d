"""Callbacks: the one extension point of the trainer.

A callback overrides any of the hooks below; each does nothing by default.
The trainer passes itself, so a callback can read ``trainer.network``,
``trainer.history``, ``trainer.epoch``, change ``trainer.learning_rate`` or set
``trainer.stop_training = True``.

``logs`` is a dict with the keys ``epoch``, ``learning_rate``, ``time`` and,
when monitored, ``loss``, ``accuracy`` (training data), ``val_loss``,
``val_accuracy`` (evaluation data).
"""

from __future__ import annotations

import math

__all__ = ["MONITOR_KEYS", "Callback", "History", "LambdaCallback", "overrides"]

#: The metrics the trainer can record; any subset may be switched on.
MONITOR_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class Callback:
    """Base class; every hook is optional."""

    def on_train_begin(self, trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Called before each epoch (epochs count from 0)."""

    def on_batch_end(self, trainer, batch: int) -> None:
        """Called after each mini-batch update (batches count from 0 within an epoch).

        Only callbacks that override this hook are called per batch, so the
        others cost nothing on the hot path.
        """

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """Called after each epoch with that epoch's figures."""

    def on_train_end(self, trainer) -> None:
        """Called once when training ends, normally or by ``stop_training``."""

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
