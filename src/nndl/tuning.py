"""The chapter's heuristics for choosing hyper-parameters, as functions.

Each procedure trains small, short runs and keeps every run's curves, so the
decision can be checked by eye (:func:`plot_cost_curves`) as well as read from
the result.

* :func:`find_learning_rate_threshold` -- the learning-rate threshold: try
  eta = 0.01, 0.1, 1.0, ... until the training cost over the first few epochs
  stops falling, refine between the last eta that made it fall and the first
  that did not, and recommend about half the threshold (the book finds about
  0.5 on MNIST with [784, 30, 10]).
* :func:`tune_lambda` -- the regularization parameter: train at lambda = 0
  (to see what regularization buys), then start at 1.0 and move by factors of
  10 while the validation accuracy improves, then refine around the best decade.
* :func:`tune_batch_size` -- the mini-batch size: validation accuracy against
  wall time for several sizes; recommend the one that reaches a target
  accuracy in the fewest seconds (the choice is nearly independent of the other
  hyper-parameters, so it can be made early).
* The broad strategy: get any signal first, with fewer classes
  (:func:`subset_classes`), less data (:func:`subsample`) and lambda rescaled
  to the smaller training set (:func:`rescale_lambda`).

Every trial starts from the same initial weights and the same shuffling seed,
so the only thing that differs between two trials is the hyper-parameter
under study.
"""

from __future__ import annotations

import io
import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ._io import atomic_write_bytes
from ._validation import check_range
from .network import Network, NetworkConfig
from .settings import default
from .training import DivergenceError, Trainer

__all__ = [
    "BatchSizeResult",
    "LambdaResult",
    "LearningRateResult",
    "TuningTrial",
    "find_learning_rate_threshold",
    "plot_cost_curves",
    "rescale_lambda",
    "subsample",
    "subset_classes",
    "tune_batch_size",
    "tune_lambda",
]


#: The training defaults of each heuristic, from the settings schema
#: (:mod:`nndl.settings`), as ``nndl tune eta|lambda|batch-size`` use them.
_DEFAULTS = {
    command: {
        name: default(name, command)
        for name in ("epochs", "mini_batch_size", "learning_rate", "seed")
    }
    for command in ("tune eta", "tune lambda", "tune batch-size")
}


# --------------------------------------------------------------------- results
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


# ------------------------------------------------------------------- training
def _network_factory(network, seed) -> Callable[[], Network]:
    """A function making fresh copies of one initial network.

    ``network`` may be a :class:`Network` (its current weights are the start
    of every trial), a :class:`NetworkConfig`, a dict of its fields, or a list
    of layer sizes.
    """
    if isinstance(network, Network):
        template = network.copy()
        return template.copy
    if isinstance(network, dict):
        network = NetworkConfig.from_dict(network)
    elif not isinstance(network, NetworkConfig):
        if isinstance(network, (str, bytes)) or not isinstance(network, Sequence):
            raise TypeError(
                "network must be a Network, a NetworkConfig, a dict of its fields or a list "
                f"of layer sizes, got {type(network).__name__}"
            )
        network = NetworkConfig(sizes=list(network))
    template = Network.from_config(network, seed=seed)
    return template.copy


def _check_pair(data, name: str):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    return data[0], data[1]


_RESERVED = {"learning_rate", "epochs", "seed", "monitor"}


def _train_options(train_options) -> dict:
    opts = dict(train_options or {})
    clash = sorted(_RESERVED & set(opts))
    if clash:
        raise ValueError(
            f"train_options must not set {clash}: the tuning function sets them itself"
        )
    return opts


def _run_trial(
    make_net,
    X,
    y,
    validation,
    *,
    value: float,
    stage: str,
    epochs: int,
    seed,
    options: dict,
    monitor_cost: bool,
) -> TuningTrial:
    """Train one fresh network and record its curves; divergence ends the run."""
    net = make_net()
    trainer = Trainer(
        net,
        epochs=epochs,
        seed=seed,
        monitor=(["loss"] if monitor_cost else []) + (["val_accuracy"] if validation else []),
        **options,
    )
    trial = TuningTrial(value=float(value), stage=stage, times=[0.0])
    l2, l1 = trainer.config.l2, trainer.config.l1
    if monitor_cost:
        trial.costs.append(net.cost_value(X, y, l2=l2, l1=l1))
    if validation is not None:
        trial.val_accuracy.append(net.accuracy(*validation))
    try:
        trainer.fit(X, y, validation_data=validation)
    except DivergenceError as exc:
        trial.diverged, trial.error = True, str(exc)
    elapsed = 0.0
    for rec in trainer.history.records:
        elapsed += rec["time"]
        trial.times.append(elapsed)
        if monitor_cost:
            trial.costs.append(float(rec["loss"]))
        if validation is not None:
            trial.val_accuracy.append(float(rec["val_accuracy"]))
    if trial.diverged and monitor_cost:
        trial.costs.append(math.inf)
    return trial


def _is_falling(costs: Sequence[float]) -> bool:
    """Whether the cost fell at every epoch (the start included) and stayed finite."""
    return all(math.isfinite(c) for c in costs) and all(b < a for a, b in itertools.pairwise(costs))


# ----------------------------------------------------------- learning rate
def _threshold_search(
    falls: Callable[[float, str], bool],
    *,
    start: float,
    factor: float,
    refine_steps: int,
    max_trials: int,
) -> tuple[float, float]:
    """The bracketing and refinement logic, on any ``falls(eta, stage)`` oracle.

    Returns (last_good, first_bad) with last_good < first_bad: the cost falls
    at ``last_good`` and not at ``first_bad``. Refinement bisects the bracket
    on a log scale, since learning rates matter by their order of magnitude.
    """
    eta = start
    tried = 1
    if falls(eta, "bracket"):
        good = eta
        while True:
            if tried >= max_trials:
                raise ValueError(
                    f"the training cost still fell at eta = {good:g} after {tried} trials; "
                    "raise max_trials or the start value"
                )
            eta = good * factor
            tried += 1
            if not falls(eta, "bracket"):
                bad = eta
                break
            good = eta
    else:
        bad = eta
        while True:
            if tried >= max_trials:
                raise ValueError(
                    f"the training cost did not fall even at eta = {bad:g} after {tried} "
                    "trials; check the data and the network, or lower the start value"
                )
            eta = bad / factor
            tried += 1
            if falls(eta, "bracket"):
                good = eta
                break
            bad = eta
    for _ in range(refine_steps):
        mid = math.sqrt(good * bad)
        if falls(mid, "refine"):
            good = mid
        else:
            bad = mid
    return good, bad


def find_learning_rate_threshold(
    network,
    X,
    y,
    *,
    start: float = 0.01,
    factor: float = 10.0,
    epochs: int = _DEFAULTS["tune eta"]["epochs"],
    refine_steps: int = 3,
    fraction: float = 0.5,
    max_trials: int = 12,
    mini_batch_size: int = _DEFAULTS["tune eta"]["mini_batch_size"],
    seed: int | None = _DEFAULTS["tune eta"]["seed"],
    train_options: dict | None = None,
    on_trial: Callable[[TuningTrial], None] | None = None,
) -> LearningRateResult:
    """Estimate the learning-rate threshold and recommend a learning rate.

    The threshold is the eta at which the training cost, over the first few
    epochs, stops falling and starts to oscillate or rise. Above it, the steps
    overshoot the valley of the cost; well below it, learning is needlessly
    slow. Procedure:

    1. train ``epochs`` epochs at eta = ``start``; if the cost falls at every
       epoch, multiply eta by ``factor`` until it does not; otherwise divide by
       ``factor`` until it does;
    2. refine: ``refine_steps`` bisections of [last falling, first not falling]
       on a log scale (each halves the bracket's log-width);
    3. the threshold estimate is the geometric mean of the final bracket and
       the recommended eta ``fraction`` times it (the chapter's "about half").

    "Falls" means the training cost (with the penalty) after each epoch is
    strictly lower than before it, starting from the cost of the untrained
    network, and never becomes nan or inf.

    The threshold depends on the setting it is measured in: more epochs make
    the test stricter, and the L2 term (pass ``train_options={"l2": ...}``)
    adds its own oscillations, so measure it with the lambda you will train
    with. On MNIST with [784, 30, 10], lambda = 5.0 and 5 epochs, the
    procedure brackets the threshold between about 0.32 and 0.42 (the book:
    about 0.5); without regularization the cost keeps falling up to eta = 10.

    Parameters
    ----------
    network : Network, NetworkConfig, dict or list of int
        The architecture (and, for a Network, the initial weights) every trial
        starts from.
    X, y : training data (labels or targets), used for training and for the cost.
    start, factor : first eta and the step between orders of magnitude.
    epochs : the "first few epochs" each trial trains.
    refine_steps : bisections of the final bracket.
    fraction : recommended eta = fraction * threshold.
    max_trials : cap on the bracketing trials (refinement comes on top).
    mini_batch_size, seed : as for training; every trial uses the same seed.
    train_options : other :class:`~nndl.training.TrainConfig` fields (l2,
        optimizer, momentum, ...).
    on_trial : called with each :class:`TuningTrial` as soon as it ends
        (the command line prints them).

    Returns
    -------
    LearningRateResult
        With every trial's cost curve, in the order they were run.
    """
    start = check_range("start", start, low=0.0, low_inclusive=False)
    factor = check_range("factor", factor, low=1.0, low_inclusive=False)
    epochs = check_range("epochs", epochs, low=1, integer=True)
    refine_steps = check_range("refine_steps", refine_steps, low=0, integer=True)
    fraction = check_range("fraction", fraction, low=0.0, high=1.0, low_inclusive=False)
    max_trials = check_range("max_trials", max_trials, low=2, integer=True)
    options = _train_options(train_options)
    options["mini_batch_size"] = mini_batch_size
    make_net = _network_factory(network, seed)
    trials: list[TuningTrial] = []

    def falls(eta: float, stage: str) -> bool:
        trial = _run_trial(
            make_net,
            X,
            y,
            None,
            value=eta,
            stage=stage,
            epochs=epochs,
            seed=seed,
            options={**options, "learning_rate": eta},
            monitor_cost=True,
        )
        trial.falling = _is_falling(trial.costs)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return trial.falling

    good, bad = _threshold_search(
        falls, start=start, factor=factor, refine_steps=refine_steps, max_trials=max_trials
    )
    threshold = math.sqrt(good * bad)
    return LearningRateResult(
        trials=trials,
        last_good=good,
        first_bad=bad,
        threshold=threshold,
        recommended=fraction * threshold,
        epochs=epochs,
    )


# ------------------------------------------------------------------- lambda
def _lambda_search(
    score: Callable[[float, str], float],
    *,
    start: float,
    factor: float,
    refine_steps: int,
    max_decades: int,
) -> float:
    """The decade walk and refinement logic, on any ``score(lmbda, stage)`` oracle.

    Only strict improvements move the search, so a flat region stops it.
    Returns the best positive lambda seen.
    """
    seen: dict[float, float] = {}

    def s(lmbda: float, stage: str) -> float:
        if lmbda not in seen:
            seen[lmbda] = score(lmbda, stage)
        return seen[lmbda]

    best = start
    best_score = s(start, "decade")
    for direction in (1, -1):
        moved = False
        for k in range(1, max_decades + 1):
            # start * factor**k rather than repeated products: no rounding drift.
            cand = start * factor ** (direction * k)
            cand_score = s(cand, "decade")
            if cand_score > best_score:
                best, best_score, moved = cand, cand_score, True
            else:
                break
        if moved:
            break  # the first direction improved: no need to try the other
    half = math.sqrt(factor)
    for _ in range(refine_steps):
        for cand in (best * half, best / half):
            cand_score = s(cand, "refine")
            if cand_score > best_score:
                best, best_score = cand, cand_score
        half = math.sqrt(half)
    return best


def tune_lambda(
    network,
    X,
    y,
    validation_data,
    *,
    learning_rate: float,
    epochs: int = _DEFAULTS["tune lambda"]["epochs"],
    start: float = 1.0,
    factor: float = 10.0,
    refine_steps: int = 2,
    max_decades: int = 6,
    mini_batch_size: int = _DEFAULTS["tune lambda"]["mini_batch_size"],
    seed: int | None = _DEFAULTS["tune lambda"]["seed"],
    train_options: dict | None = None,
    on_trial: Callable[[TuningTrial], None] | None = None,
) -> LambdaResult:
    """Choose the L2 regularization parameter lambda on validation accuracy.

    The chapter's recipe: fix eta with lambda = 0 first (that run is kept as
    the baseline), then try lambda = ``start`` (1.0) and move by factors of
    ``factor`` (10) -- upwards while the validation accuracy improves,
    otherwise downwards -- and once no neighbouring decade is better, refine
    by trying lambda * factor^(+-1/2), then ^(+-1/4), ... around the best.

    Selection uses the validation data only; the final epoch's accuracy is the
    score. Since L2 decay per step is eta*lambda/n, remember to rescale lambda
    (:func:`rescale_lambda`) when moving to a training set of another size.

    Parameters
    ----------
    network : Network, NetworkConfig, dict or list of int
    X, y : training data.
    validation_data : pair (X, y)
    learning_rate : eta, fixed for the whole search.
    epochs : epochs per trial.
    start, factor : first lambda and the step between decades.
    refine_steps : halvings of the log-step around the best decade.
    max_decades : cap on the moves in one direction.
    mini_batch_size, seed, train_options, on_trial : as for
        :func:`find_learning_rate_threshold` (``train_options`` must not set l2).

    Returns
    -------
    LambdaResult
        ``best`` is the lambda with the highest validation accuracy among all
        trials, lambda = 0 included.
    """
    learning_rate = check_range("learning_rate", learning_rate, low=0.0, low_inclusive=False)
    epochs = check_range("epochs", epochs, low=1, integer=True)
    start = check_range("start", start, low=0.0, low_inclusive=False)
    factor = check_range("factor", factor, low=1.0, low_inclusive=False)
    refine_steps = check_range("refine_steps", refine_steps, low=0, integer=True)
    max_decades = check_range("max_decades", max_decades, low=1, integer=True)
    validation = _check_pair(validation_data, "validation_data")
    options = _train_options(train_options)
    if "l2" in options:
        raise ValueError("train_options must not set l2: it is the parameter being tuned")
    options.update(mini_batch_size=mini_batch_size, learning_rate=learning_rate)
    make_net = _network_factory(network, seed)
    trials: list[TuningTrial] = []

    def score(lmbda: float, stage: str) -> float:
        trial = _run_trial(
            make_net,
            X,
            y,
            validation,
            value=lmbda,
            stage=stage,
            epochs=epochs,
            seed=seed,
            options={**options, "l2": lmbda},
            monitor_cost=False,
        )
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return trial.score

    baseline = score(0.0, "baseline")
    _lambda_search(
        score, start=start, factor=factor, refine_steps=refine_steps, max_decades=max_decades
    )
    best_trial = max(trials, key=lambda t: t.score)  # first of equals: the earlier trial
    return LambdaResult(
        trials=trials,
        best=best_trial.value,
        best_accuracy=best_trial.score,
        baseline_accuracy=baseline,
        learning_rate=learning_rate,
        epochs=epochs,
    )


# --------------------------------------------------------------- batch size
def tune_batch_size(
    network,
    X,
    y,
    validation_data,
    *,
    batch_sizes: Sequence[int] = (1, 5, 10, 20, 50, 100),
    learning_rate: float | dict = _DEFAULTS["tune batch-size"]["learning_rate"],
    epochs: int = _DEFAULTS["tune batch-size"]["epochs"],
    target: float | None = None,
    target_fraction: float = 0.95,
    seed: int | None = _DEFAULTS["tune batch-size"]["seed"],
    train_options: dict | None = None,
    on_trial: Callable[[TuningTrial], None] | None = None,
) -> BatchSizeResult:
    """Compare mini-batch sizes by validation accuracy per second of training.

    A larger mini-batch makes each epoch faster (one matrix product instead of
    many small ones) but takes fewer steps per epoch; the best size is the one
    whose accuracy rises fastest in *wall time*. Each size trains ``epochs``
    epochs; after every epoch its validation accuracy is recorded against the
    cumulative training time (evaluation time excluded, since it is the same
    for every size). The recommendation is the size that first reaches
    ``target`` accuracy; ties go to the larger size.

    The update uses the mean gradient over the mini-batch, so eta need not
    scale with the size; still, the best eta may differ between very
    different sizes: pass ``learning_rate`` as a dict {size: eta} to set it
    per size.

    Parameters
    ----------
    batch_sizes : mini-batch sizes to compare.
    learning_rate : eta for every size, or a dict with one per size.
    epochs : epochs per size.
    target : validation accuracy to reach; default ``target_fraction`` times
        the best final accuracy of all sizes.
    seed, train_options, on_trial : as for :func:`tune_lambda`.

    Returns
    -------
    BatchSizeResult
    """
    if isinstance(batch_sizes, (str, bytes)) or not isinstance(batch_sizes, Sequence):
        raise TypeError(f"batch_sizes must be a list of integers, got {batch_sizes!r}")
    sizes = [check_range("batch_sizes", b, low=1, integer=True) for b in batch_sizes]
    if not sizes:
        raise ValueError("batch_sizes is empty: give at least one mini-batch size")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"batch_sizes has repeated values: {sizes}")
    epochs = check_range("epochs", epochs, low=1, integer=True)
    if isinstance(learning_rate, dict):
        missing = [b for b in sizes if b not in learning_rate]
        if missing:
            raise ValueError(f"learning_rate has no value for mini-batch size(s) {missing}")
        etas = {
            b: check_range("learning_rate", learning_rate[b], low=0.0, low_inclusive=False)
            for b in sizes
        }
    else:
        eta = check_range("learning_rate", learning_rate, low=0.0, low_inclusive=False)
        etas = dict.fromkeys(sizes, eta)
    if target is not None:
        target = check_range("target", target, low=0.0, high=1.0)
    target_fraction = check_range("target_fraction", target_fraction, low=0.0, high=1.0)
    validation = _check_pair(validation_data, "validation_data")
    options = _train_options(train_options)
    if "mini_batch_size" in options:
        raise ValueError("train_options must not set mini_batch_size: it is being tuned")
    make_net = _network_factory(network, seed)
    trials = []
    for b in sizes:
        trial = _run_trial(
            make_net,
            X,
            y,
            validation,
            value=b,
            stage="size",
            epochs=epochs,
            seed=seed,
            options={**options, "mini_batch_size": b, "learning_rate": etas[b]},
            monitor_cost=False,
        )
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    if target is None:
        finals = [t.score for t in trials if math.isfinite(t.score)]
        target = target_fraction * max(finals) if finals else 1.0
    time_to_target = {}
    for t in trials:
        hits = [s for s, a in zip(t.times, t.val_accuracy, strict=True) if a >= target]
        time_to_target[int(t.value)] = hits[0] if hits and not t.diverged else math.inf
    # Fastest first; on equal times prefer the larger size (fewer, cheaper steps).
    recommended = min(time_to_target, key=lambda b: (time_to_target[b], -b))
    return BatchSizeResult(
        trials=trials,
        target=float(target),
        time_to_target=time_to_target,
        recommended=recommended,
        epochs=epochs,
        learning_rates=etas,
    )


# ---------------------------------------------------------- broad strategy
def subset_classes(X, y, classes):
    """Keep only the examples of some classes and relabel them 0..k-1.

    The chapter's first step with a hard problem: telling 0s from 1s gives a
    signal in seconds, where ten classes may sit at chance for minutes.
    ``classes[i]`` becomes label ``i``, so ``subset_classes(X, y, [3, 8])``
    maps 3 -> 0 and 8 -> 1. The network then needs ``len(classes)`` outputs.

    Returns
    -------
    X_sub : array of the kept rows (a copy)
    y_sub : int64 labels in 0..len(classes)-1
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a vector of integer labels, got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]} labels")
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
        raise TypeError(f"classes must be a list of labels, got {classes!r}")
    classes = list(classes)
    if len(classes) < 2:
        raise ValueError(f"classes needs at least two labels to classify, got {classes}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes has repeated labels: {classes}")
    present = set(np.unique(y).tolist())
    absent = [c for c in classes if c not in present]
    if absent:
        raise ValueError(f"classes {absent} do not occur in y (labels present: {sorted(present)})")
    mapping = {c: i for i, c in enumerate(classes)}
    keep = np.isin(y, classes)
    y_sub = np.array([mapping[v] for v in y[keep].tolist()], dtype=np.int64)
    return X[keep].copy(), y_sub


def subsample(X, y, n: int, rng=None):
    """A random subset of ``n`` examples, without replacement, in random order.

    Less data means faster epochs and faster feedback (with more frequent
    monitoring, the chapter's advice). ``rng`` is a numpy Generator or a seed;
    the caller's arrays are not changed.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]} labels")
    n = check_range("n", n, low=1, integer=True)
    if n > X.shape[0]:
        raise ValueError(f"n must be at most the number of examples {X.shape[0]}, got {n}")
    if not isinstance(rng, np.random.Generator):
        if rng is not None and not isinstance(rng, numbers.Integral):
            raise TypeError(f"rng must be a numpy Generator or an integer seed, got {rng!r}")
        rng = np.random.default_rng(rng)
    idx = rng.choice(X.shape[0], size=n, replace=False)
    return X[idx], y[idx]


def rescale_lambda(lmbda: float, n_old: int, n_new: int) -> float:
    """lambda for a training set of ``n_new`` examples, keeping the weight decay.

    Each L2 step multiplies the weights by 1 - eta*lambda/n, so keeping
    eta*lambda/n fixed when n changes needs lambda_new = lambda * n_new / n_old.
    The chapter's example: lambda = 1000 on 50,000 images becomes 20 on 1,000.
    """
    lmbda = check_range("lmbda", lmbda, low=0.0)
    n_old = check_range("n_old", n_old, low=1, integer=True)
    n_new = check_range("n_new", n_new, low=1, integer=True)
    return lmbda * n_new / n_old


# --------------------------------------------------------------------- plot
def plot_cost_curves(result, path, *, title: str | None = None):
    """Plot every trial of a tuning result and write the figure atomically.

    Learning-rate results show the training cost per epoch (one line per eta,
    log scale, the threshold's bracket in the legend); lambda results the
    validation accuracy per epoch; batch-size results the validation accuracy
    against seconds of training with the target as a dashed line. The format
    follows the file suffix (``.png``, ``.pdf``, ``.svg``). matplotlib is
    needed (``pip install "nndl[plot]"``).

    Returns
    -------
    pathlib.Path of the written file
    """
    from pathlib import Path

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib: pip install "nndl[plot]"') from exc
    kind = getattr(result, "kind", None)
    if kind not in ("learning_rate", "lambda", "batch_size"):
        raise TypeError(
            "result must be a LearningRateResult, LambdaResult or BatchSizeResult, got "
            f"{type(result).__name__}"
        )
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    # A Figure with its own canvas: no pyplot, no global state, no display needed.
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    trials = sorted(result.trials, key=lambda t: t.value)
    for t in trials:
        if kind == "learning_rate":
            ys = [c if math.isfinite(c) else np.nan for c in t.costs]
            style = "-" if t.falling else "--"
            ax.plot(range(len(ys)), ys, style, marker="o", ms=3, label=f"eta = {t.value:.3g}")
        elif kind == "lambda":
            ax.plot(
                range(len(t.val_accuracy)),
                t.val_accuracy,
                marker="o",
                ms=3,
                label=f"lambda = {t.value:.3g}",
            )
        else:
            ax.plot(t.times, t.val_accuracy, marker="o", ms=3, label=f"mini-batch {t.value:g}")
    if kind == "learning_rate":
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training cost")
        default = (
            f"threshold about {result.threshold:.3g} "
            f"(falls at {result.last_good:.3g}, not at {result.first_bad:.3g})"
        )
    elif kind == "lambda":
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        default = f"best lambda {result.best:.3g} at eta {result.learning_rate:.3g}"
    else:
        ax.axhline(result.target, color="grey", ls=":", lw=1)
        ax.set_xlabel("seconds of training")
        ax.set_ylabel("validation accuracy")
        default = f"recommended mini-batch size {result.recommended}"
    ax.set_title(title or default)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    atomic_write_bytes(path, buf.getvalue())
    return path
