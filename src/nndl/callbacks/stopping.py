"""Stopping rules: no improvement in n epochs, and Prechelt's GL_alpha and PQ_alpha.

Each rule remembers the best epoch and, with ``restore_best``, gives the
network back that epoch's parameters when training ends
(:class:`~nndl.callbacks.base.BestEpochMonitor`).
:func:`early_stopping_callback` builds one from an ``--early-stopping-rule``
string.
"""

from __future__ import annotations

import math

from .._validation import check_range
from .base import MONITOR_KEYS, BestEpochMonitor, Callback, check_monitor_name

__all__ = [
    "EarlyStopping",
    "GeneralizationLossStopping",
    "ProgressQuotientStopping",
    "early_stopping_callback",
]


class EarlyStopping(BestEpochMonitor):
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
            self._remember_best(trainer, epoch, value)
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self._stop_training(trainer, epoch)

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


class GeneralizationLossStopping(BestEpochMonitor):
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

    def _track_generalization_loss(self, trainer, epoch, logs) -> float:
        error = _as_error(self.monitor, self.value(logs))
        if self.is_improvement(error):
            self._remember_best(trainer, epoch, error)
        return _generalization_loss(error, self.best)

    def on_epoch_end(self, trainer, epoch, logs):
        gl = self._track_generalization_loss(trainer, epoch, logs)
        self.trace.append({"epoch": logs["epoch"], "gl": gl})
        if gl > self.alpha:
            self._stop_training(trainer, epoch)

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
        self.train_monitor = check_monitor_name(train_monitor)
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
        gl = self._track_generalization_loss(trainer, epoch, logs)
        if self.train_monitor not in logs:
            raise ValueError(
                f"ProgressQuotientStopping needs the training metric {self.train_monitor!r} "
                f"in the logs, which have only {sorted(logs)}"
            )
        self.window = [*self.window, _as_error(self.train_monitor, float(logs[self.train_monitor]))]
        self.window = self.window[-self.strip :]
        entry = {"epoch": logs["epoch"], "gl": gl}
        if (epoch + 1) % self.strip == 0:
            p = self.progress(self.window)
            pq = (0.0 if gl <= 0.0 else math.inf) if p == 0.0 else gl / p
            entry.update(progress=p, pq=pq)
            if pq > self.alpha:
                self._stop_training(trainer, epoch)
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
