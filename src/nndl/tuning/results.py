"""What the heuristics return: every trial's curves, and the decision read from them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class TuningTrial:
    """One short training run of a tuning procedure.

    Attributes
    ----------
    value : float
        The hyper-parameter tried (eta, lambda or the mini-batch size).
    stage : str
        Which step of the procedure asked for it (``"bracket"``, ``"refine"``,
        ``"baseline"``, ``"decade"``, ``"size"``).
    costs : list of float
        Training cost (with the penalty) before training, then after each epoch.
    val_accuracy : list of float
        Validation accuracy before training, then after each epoch (empty
        when there is no validation data).
    times : list of float
        Cumulative seconds of training (evaluation excluded) at the same points
        as ``val_accuracy``, starting at 0.
    falling : bool or None
        For the learning-rate search: whether the cost fell at every epoch.
    diverged : bool
        Training stopped with non-finite numbers (counts as "not falling").
    error : str or None
        The divergence message, if any.
    """

    value: float
    stage: str
    costs: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    falling: bool | None = None
    diverged: bool = False
    error: str | None = None

    @property
    def score(self) -> float:
        """Final validation accuracy (-inf when diverged or not monitored)."""
        if self.diverged or not self.val_accuracy:
            return -math.inf
        return self.val_accuracy[-1]

    def to_dict(self) -> dict:
        d = asdict(self)
        # JSON has no nan/inf: a diverged run's missing numbers become None.
        for key in ("costs", "val_accuracy", "times"):
            d[key] = [v if math.isfinite(v) else None for v in d[key]]
        return d


class _TrialsResult:
    """Shared by the results below: JSON-ready, each trial with its own ``to_dict``."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["trials"] = [t.to_dict() for t in self.trials]
        return d


@dataclass
class LearningRateResult(_TrialsResult):
    """Outcome of :func:`find_learning_rate_threshold`.

    ``last_good`` is the largest eta seen to make the cost fall and
    ``first_bad`` the smallest that did not; the threshold lies between them
    and is estimated as their geometric mean. ``recommended`` is
    ``fraction * threshold`` (the chapter uses half).
    """

    trials: list[TuningTrial]
    last_good: float
    first_bad: float
    threshold: float
    recommended: float
    epochs: int
    kind: str = "learning_rate"

    def summary(self) -> str:
        return (
            f"learning-rate threshold about {self.threshold:.3g} (cost falls at eta "
            f"{self.last_good:.3g}, not at {self.first_bad:.3g}); recommended eta "
            f"{self.recommended:.3g}"
        )


@dataclass
class LambdaResult(_TrialsResult):
    """Outcome of :func:`tune_lambda`: ``best`` has the highest validation accuracy."""

    trials: list[TuningTrial]
    best: float
    best_accuracy: float
    baseline_accuracy: float
    learning_rate: float
    epochs: int
    kind: str = "lambda"

    @property
    def helped(self) -> bool:
        """Whether some lambda > 0 beat lambda = 0 on validation accuracy."""
        return self.best > 0 and self.best_accuracy > self.baseline_accuracy

    def summary(self) -> str:
        if not self.helped:
            tried = sorted({t.value for t in self.trials if t.value > 0})
            return (
                f"no lambda helped: none of the {len(tried)} values tried "
                f"({tried[0]:.3g} to {tried[-1]:.3g}) beat lambda = 0 (validation accuracy "
                f"{self.baseline_accuracy:.4f}) at eta {self.learning_rate:.3g} in "
                f"{self.epochs} epochs; keep lambda 0 here, or train longer or on fewer "
                f"examples, where overfitting shows"
                if tried
                else f"no lambda > 0 was tried; lambda = 0 gives {self.baseline_accuracy:.4f}"
            )
        return (
            f"best lambda {self.best:.3g}: validation accuracy {self.best_accuracy:.4f} "
            f"(lambda = 0: {self.baseline_accuracy:.4f}) at eta {self.learning_rate:.3g}"
        )


@dataclass
class BatchSizeResult(_TrialsResult):
    """Outcome of :func:`tune_batch_size`.

    ``time_to_target`` maps each size to the seconds of training it needed to
    reach ``target`` validation accuracy (inf when it never did).
    """

    trials: list[TuningTrial]
    target: float
    time_to_target: dict[int, float]
    recommended: int
    epochs: int
    learning_rates: dict[int, float] = field(default_factory=dict)
    kind: str = "batch_size"

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["time_to_target"] = {
            str(k): (v if math.isfinite(v) else None) for k, v in self.time_to_target.items()
        }
        d["learning_rates"] = {str(k): v for k, v in self.learning_rates.items()}
        return d

    def summary(self) -> str:
        t = self.time_to_target[self.recommended]
        if not math.isfinite(t):
            return (
                f"no mini-batch size reached the target validation accuracy {self.target:.4f} "
                f"in {self.epochs} epochs; try more epochs or a lower --target"
            )
        trial = next(x for x in self.trials if int(x.value) == self.recommended)
        return (
            f"recommended mini-batch size {self.recommended} (eta "
            f"{self.learning_rates.get(self.recommended, float('nan')):g}): it reached the "
            f"target validation accuracy {self.target:.4f} first, after {t:.2f} s of "
            f"training (it ended at {trial.score:.4f})"
        )
