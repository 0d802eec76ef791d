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

Trials that do not depend on each other train at once, each in its own
process with one BLAS thread (:func:`nndl.jobs.run_jobs`; ``n_jobs``, by
default the number of cores): every mini-batch size of
:func:`tune_batch_size`, the baseline and first decades of :func:`tune_lambda`
and both candidates of each of its refinement steps. The two sequential
searches also train a few candidates ahead of the decision that needs them
(``lookahead``). What runs together depends only on the procedure's settings,
never on ``n_jobs``, and a trial's numbers only on its own settings, so the
trials, their order and the result are the same for any ``n_jobs``.
"""

from __future__ import annotations

import builtins
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
def _initial_network(network, seed) -> Network:
    """The initial network every trial starts from (a copy of it, in the trial).

    ``network`` may be a :class:`Network` (its current weights are the start
    of every trial), a :class:`NetworkConfig`, a dict of its fields, or a list
    of layer sizes.
    """
    if isinstance(network, Network):
        return network.copy()
    if isinstance(network, dict):
        network = NetworkConfig.from_dict(network)
    elif not isinstance(network, NetworkConfig):
        if isinstance(network, (str, bytes)) or not isinstance(network, Sequence):
            raise TypeError(
                "network must be a Network, a NetworkConfig, a dict of its fields or a list "
                f"of layer sizes, got {type(network).__name__}"
            )
        network = NetworkConfig(sizes=list(network))
    return Network.from_config(network, seed=seed)


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


def _trainer(net: Network, *, epochs: int, seed, options: dict, monitor_cost: bool, validation):
    monitor = (["loss"] if monitor_cost else []) + (["val_accuracy"] if validation else [])
    return Trainer(net, epochs=epochs, seed=seed, monitor=monitor, **options)


def _run_trial(
    template: Network,
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
    """Train a copy of ``template`` and record its curves; divergence ends the run.

    A job of :func:`nndl.jobs.run_jobs`: it runs in a worker process, and
    its numbers depend on its arguments only.
    """
    net = template.copy()
    trainer = _trainer(
        net,
        epochs=epochs,
        seed=seed,
        options=options,
        monitor_cost=monitor_cost,
        validation=validation,
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
    if monitor_cost:
        trial.falling = _is_falling(trial.costs)
    return trial


@dataclass(frozen=True)
class _Candidate:
    """A trial to train: its hyper-parameter value, stage and training options."""

    value: float
    stage: str
    options: dict


def _failure(result, candidate: _Candidate) -> Exception:
    """The exception of a trial that raised in its worker: the same built-in type if it was one."""
    name, _, message = (result.error or "RuntimeError: the trial failed").partition(": ")
    kind = getattr(builtins, name, None)
    text = f"the trial at {candidate.value:g} ({candidate.stage}) failed: {message}"
    try:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise TypeError
        exc = kind(text)
    except TypeError:  # not a built-in exception, or one that takes other arguments
        exc = RuntimeError(f"{text} ({name})")
    if result.details:
        exc.add_note(f"in the trial's process:\n{result.details}")
    return exc


class _TrialRunner:
    """Trains rounds of candidates through :func:`nndl.jobs.run_jobs` and keeps every trial.

    The trials of a round are recorded, and given to ``on_trial``, in the
    round's order, each as soon as it and those before it have finished;
    ``trials`` holds them all, round after round.
    """

    def __init__(self, template, X, y, validation, *, epochs, seed, monitor_cost, n_jobs, on_trial):
        from .jobs import default_n_jobs

        self.template, self.X, self.y, self.validation = template, X, y, validation
        self.epochs, self.seed, self.monitor_cost = epochs, seed, monitor_cost
        self.n_jobs = (
            default_n_jobs()
            if n_jobs is None
            else check_range("n_jobs", n_jobs, low=1, integer=True)
        )
        self.on_trial = on_trial
        self.trials: list[TuningTrial] = []

    def _check(self, candidate: _Candidate) -> None:
        """Refuse bad training options here, with their own error, before any process starts."""
        _trainer(
            self.template,
            epochs=self.epochs,
            seed=self.seed,
            options=candidate.options,
            monitor_cost=self.monitor_cost,
            validation=self.validation,
        )

    def run(self, candidates: Sequence[_Candidate]) -> list[TuningTrial]:
        """Train the candidates at once; return their trials in the candidates' order."""
        from .jobs import run_jobs

        candidates = list(candidates)
        for candidate in candidates:
            self._check(candidate)
        jobs = [
            (
                _run_trial,
                (self.template, self.X, self.y, self.validation),
                {
                    "value": c.value,
                    "stage": c.stage,
                    "epochs": self.epochs,
                    "seed": self.seed,
                    "options": c.options,
                    "monitor_cost": self.monitor_cost,
                },
            )
            for c in candidates
        ]
        finished: dict[int, object] = {}
        reported = 0

        def report(result, done, total) -> None:
            nonlocal reported
            finished[result.index] = result
            while reported in finished and finished[reported].ok:
                self._record(finished[reported].value)
                reported += 1

        results = run_jobs(jobs, n_jobs=self.n_jobs, on_result=report)
        for result, candidate in zip(results, candidates, strict=True):
            if not result.ok:
                raise _failure(result, candidate)
        return [r.value for r in results]

    def _record(self, trial: TuningTrial) -> None:
        self.trials.append(trial)
        if self.on_trial is not None:
            self.on_trial(trial)


def _is_falling(costs: Sequence[float]) -> bool:
    """Whether the cost fell at every epoch (the start included) and stayed finite."""
    return all(math.isfinite(c) for c in costs) and all(b < a for a, b in itertools.pairwise(costs))


# ----------------------------------------------------------- learning rate
#: Steps of the sequential searches decided per round of trials, by default.
LOOKAHEAD = 2


def _bracket_walk(falls, first, ahead, *, step, stop_at, lookahead, max_trials, give_up):
    """Step from ``first`` until the cost's behaviour flips; return (last unflipped, first flipped).

    ``ahead``: pairs (eta, outcome) already trained past ``first``; the walk
    trains the next ``lookahead`` etas at once when it runs out of them.
    ``stop_at`` is the outcome that ends the walk; ``give_up(last, tried)``
    is the error when ``max_trials`` etas (``first`` included) did not reach it.
    """
    last, tried = first, 1
    while True:
        for eta, outcome in ahead:
            tried += 1
            if outcome == stop_at:
                return last, eta
            last = eta
        if tried >= max_trials:
            raise give_up(last, tried)
        etas = [step(last)]
        while len(etas) < min(lookahead, max_trials - tried):
            etas.append(step(etas[-1]))
        ahead = list(zip(etas, falls([(eta, "bracket") for eta in etas]), strict=True))


def _threshold_search(
    falls: Callable[[list[tuple[float, str]]], list[bool]],
    *,
    start: float,
    factor: float,
    refine_steps: int,
    max_trials: int,
    lookahead: int = 1,
) -> tuple[float, float]:
    """The bracketing and refinement logic, on any ``falls(candidates)`` oracle.

    ``falls`` is given one round of ``(eta, stage)`` pairs, to train at
    once, and returns for each whether the cost fell. Returns (last_good,
    first_bad) with last_good < first_bad: the cost falls at ``last_good``
    and not at ``first_bad``. Refinement bisects the bracket on a log scale,
    since learning rates matter by their order of magnitude.

    Each round decides ``lookahead`` steps of the one-eta-at-a-time search:
    bracketing trains the next ``lookahead`` etas in its direction (the first
    round: ``start`` and the etas above it), refinement the ``2**lookahead - 1``
    midpoints that ``lookahead`` bisections may need. The answer is that of
    the one-at-a-time search (``lookahead=1``) whatever ``lookahead``; only
    the extra trials differ. ``max_trials`` counts the etas of the bracket's
    walk, not the extra ones.
    """
    first_round = [start]
    while len(first_round) < min(lookahead, max_trials):
        first_round.append(first_round[-1] * factor)
    outcomes = falls([(eta, "bracket") for eta in first_round])
    walk = {"lookahead": lookahead, "max_trials": max_trials}
    if outcomes[0]:
        good, bad = _bracket_walk(
            falls,
            start,
            list(zip(first_round[1:], outcomes[1:], strict=True)),
            step=lambda eta: eta * factor,
            stop_at=False,
            give_up=lambda good, tried: ValueError(
                f"the training cost still fell at eta = {good:g} after {tried} trials; "
                "raise max_trials or the start value"
            ),
            **walk,
        )
    else:
        bad, good = _bracket_walk(
            falls,
            start,
            [],
            step=lambda eta: eta / factor,
            stop_at=True,
            give_up=lambda bad, tried: ValueError(
                f"the training cost did not fall even at eta = {bad:g} after {tried} "
                "trials; check the data and the network, or lower the start value"
            ),
            **walk,
        )
    remaining = refine_steps
    while remaining:
        depth = min(lookahead, remaining)
        brackets, etas = [(good, bad)], []
        for _ in range(depth):  # the bisection tree, level by level, low etas first
            mids = [math.sqrt(g * b) for g, b in brackets]
            etas += mids
            brackets = [
                half for (g, b), m in zip(brackets, mids, strict=True) for half in ((g, m), (m, b))
            ]
        fell = dict(zip(etas, falls([(eta, "refine") for eta in etas]), strict=True))
        for _ in range(depth):
            mid = math.sqrt(good * bad)
            if fell[mid]:
                good = mid
            else:
                bad = mid
        remaining -= depth
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
    lookahead: int = LOOKAHEAD,
    n_jobs: int | None = None,
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
    max_trials : cap on the etas of the bracket's walk (the refinement, and
        the etas trained ahead of it by ``lookahead``, come on top).
    mini_batch_size, seed : as for training; every trial uses the same seed.
    train_options : other :class:`~nndl.training.TrainConfig` fields (l2,
        optimizer, momentum, ...).
    on_trial : called with each :class:`TuningTrial` as soon as it and the
        trials before it have ended, in the order of ``trials`` (the command
        line prints them).
    lookahead : steps of the search decided per round of trials trained at
        once: bracketing trains ``lookahead`` etas ahead, refinement the
        ``2**lookahead - 1`` midpoints of ``lookahead`` bisections. The
        answer is the same as one eta at a time (``lookahead=1``, the fewest
        trials); a larger one trains more trials, in fewer rounds.
    n_jobs : trials trained at once, each in its own process with one BLAS
        thread (:func:`nndl.jobs.run_jobs`; default: the number of cores). It
        changes nothing but the speed: the trials and the result are the
        same for any ``n_jobs``.

    Returns
    -------
    LearningRateResult
        With every trial's cost curve, round after round, each round in the
        order the search asks for its etas.
    """
    start = check_range("start", start, low=0.0, low_inclusive=False)
    factor = check_range("factor", factor, low=1.0, low_inclusive=False)
    epochs = check_range("epochs", epochs, low=1, integer=True)
    refine_steps = check_range("refine_steps", refine_steps, low=0, integer=True)
    fraction = check_range("fraction", fraction, low=0.0, high=1.0, low_inclusive=False)
    max_trials = check_range("max_trials", max_trials, low=2, integer=True)
    lookahead = check_range("lookahead", lookahead, low=1, integer=True)
    options = _train_options(train_options)
    options["mini_batch_size"] = mini_batch_size
    runner = _TrialRunner(
        _initial_network(network, seed),
        X,
        y,
        None,
        epochs=epochs,
        seed=seed,
        monitor_cost=True,
        n_jobs=n_jobs,
        on_trial=on_trial,
    )

    def falls(candidates: list[tuple[float, str]]) -> list[bool]:
        trials = runner.run(
            [_Candidate(eta, stage, {**options, "learning_rate": eta}) for eta, stage in candidates]
        )
        return [t.falling for t in trials]

    good, bad = _threshold_search(
        falls,
        start=start,
        factor=factor,
        refine_steps=refine_steps,
        max_trials=max_trials,
        lookahead=lookahead,
    )
    threshold = math.sqrt(good * bad)
    return LearningRateResult(
        trials=runner.trials,
        last_good=good,
        first_bad=bad,
        threshold=threshold,
        recommended=fraction * threshold,
        epochs=epochs,
    )


# ------------------------------------------------------------------- lambda
def _lambda_search(
    score: Callable[[list[tuple[float, str]]], list[float]],
    *,
    start: float,
    factor: float,
    refine_steps: int,
    max_decades: int,
    lookahead: int = 1,
) -> float:
    """The decade walk and refinement logic, on any ``score(candidates)`` oracle.

    ``score`` is given one round of ``(lmbda, stage)`` pairs, to train at
    once, and returns each one's score; a lambda already scored is not asked
    again. Only strict improvements move the search, so a flat region stops
    it. Returns the best positive lambda seen.

    The first round holds ``start`` and the ``lookahead`` decades above it;
    each later round of the walk the next ``lookahead`` decades in its
    direction; each refinement step both of its candidates. The answer is
    that of the one-at-a-time walk whatever ``lookahead``; only the extra
    trials differ.
    """
    seen: dict[float, float] = {}

    def run(candidates: list[tuple[float, str]]) -> None:
        new: dict[float, str] = {}
        for lmbda, stage in candidates:
            if lmbda not in seen:
                new.setdefault(lmbda, stage)
        if new:
            seen.update(zip(new, score(list(new.items())), strict=True))

    best, best_score = start, None
    for direction in (1, -1):
        moved, k, walking = False, 1, True
        while walking and k <= max_decades:
            # start * factor**k rather than repeated products: no rounding drift.
            ahead = [
                start * factor ** (direction * j)
                for j in range(k, min(k + lookahead, max_decades + 1))
            ]
            first = [(start, "decade")] if best_score is None else []
            run(first + [(cand, "decade") for cand in ahead])
            if best_score is None:
                best_score = seen[start]
            for cand in ahead:
                if seen[cand] > best_score:
                    best, best_score, moved = cand, seen[cand], True
                else:
                    walking = False
                    break
            k += lookahead
        if moved:
            break  # the first direction improved: no need to try the other
    half = math.sqrt(factor)
    for _ in range(refine_steps):
        candidates = (best * half, best / half)  # both from the best before this step
        run([(cand, "refine") for cand in candidates])
        for cand in candidates:
            if seen[cand] > best_score:
                best, best_score = cand, seen[cand]
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
    lookahead: int = LOOKAHEAD,
    n_jobs: int | None = None,
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
    mini_batch_size, seed, train_options, on_trial, n_jobs : as for
        :func:`find_learning_rate_threshold` (``train_options`` must not set l2).
    lookahead : decades of the walk trained per round: the first round
        trains lambda = 0, ``start`` and the ``lookahead`` decades above it
        at once, each later one the next ``lookahead`` decades in the walk's
        direction. The walk and its refinement are the same as one decade at
        a time (``lookahead=1``); a larger one trains more trials, in fewer
        rounds (and since ``best`` is chosen among all trials, an extra one
        that scores higher is the best). Both candidates of a refinement step
        always train at once.

    Returns
    -------
    LambdaResult
        ``best`` is the lambda with the highest validation accuracy among all
        trials, lambda = 0 included (the first of equals in ``trials``' order).
    """
    learning_rate = check_range("learning_rate", learning_rate, low=0.0, low_inclusive=False)
    epochs = check_range("epochs", epochs, low=1, integer=True)
    start = check_range("start", start, low=0.0, low_inclusive=False)
    factor = check_range("factor", factor, low=1.0, low_inclusive=False)
    refine_steps = check_range("refine_steps", refine_steps, low=0, integer=True)
    max_decades = check_range("max_decades", max_decades, low=1, integer=True)
    lookahead = check_range("lookahead", lookahead, low=1, integer=True)
    validation = _check_pair(validation_data, "validation_data")
    options = _train_options(train_options)
    if "l2" in options:
        raise ValueError("train_options must not set l2: it is the parameter being tuned")
    options.update(mini_batch_size=mini_batch_size, learning_rate=learning_rate)
    runner = _TrialRunner(
        _initial_network(network, seed),
        X,
        y,
        validation,
        epochs=epochs,
        seed=seed,
        monitor_cost=False,
        n_jobs=n_jobs,
        on_trial=on_trial,
    )
    # lambda = 0 does not depend on the walk: it trains with the walk's first round.
    with_first_round = [(0.0, "baseline")]

    def score(candidates: list[tuple[float, str]]) -> list[float]:
        asked = [*with_first_round, *candidates]
        with_first_round.clear()
        trials = runner.run([_Candidate(lm, st, {**options, "l2": lm}) for lm, st in asked])
        return [t.score for t in trials[len(asked) - len(candidates) :]]

    _lambda_search(
        score,
        start=start,
        factor=factor,
        refine_steps=refine_steps,
        max_decades=max_decades,
        lookahead=lookahead,
    )
    trials = runner.trials
    best_trial = max(trials, key=lambda t: t.score)  # first of equals: the earlier trial
    return LambdaResult(
        trials=trials,
        best=best_trial.value,
        best_accuracy=best_trial.score,
        baseline_accuracy=trials[0].score,
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
    n_jobs: int | None = None,
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
    n_jobs : sizes trained at once, each in its own process with one BLAS
        thread (default: the number of cores); the accuracies do not depend
        on it. Each size's seconds are its own process's training time, so
        keep ``n_jobs`` at most the number of cores for a fair comparison.

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
    runner = _TrialRunner(
        _initial_network(network, seed),
        X,
        y,
        validation,
        epochs=epochs,
        seed=seed,
        monitor_cost=False,
        n_jobs=n_jobs,
        on_trial=on_trial,
    )
    trials = runner.run(
        [
            _Candidate(b, "size", {**options, "mini_batch_size": b, "learning_rate": etas[b]})
            for b in sizes
        ]
    )
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
