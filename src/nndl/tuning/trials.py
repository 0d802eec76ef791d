"""Training the trials of a heuristic: each a copy of one initial network, trained as a
job of :mod:`nndl.jobs`, in rounds whose trials run at once."""

from __future__ import annotations

import builtins
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .._validation import check_range
from ..network import Network, NetworkConfig
from ..settings import default
from ..training import DivergenceError, Trainer
from .results import TuningTrial

#: The training defaults of each heuristic, from the settings schema
#: (:mod:`nndl.settings`), as ``nndl tune eta|lambda|batch-size`` use them.
_DEFAULTS = {
    command: {
        name: default(name, command)
        for name in ("epochs", "mini_batch_size", "learning_rate", "seed")
    }
    for command in ("tune eta", "tune lambda", "tune batch-size")
}


def _initial_network(network, seed) -> Network:
    """The initial network every trial starts from (a copy of it, in the trial).

    ``network`` may be a :class:`Network` (its current weights are the start
    of every trial), a :class:`NetworkConfig`, a dict of its fields, or a list
    of layer sizes.
    """
    if isinstance(network, Network):
        return network.copy()
    if isinstance(network, (dict, NetworkConfig)):
        return Network.from_config(network, seed=seed)
    if isinstance(network, (str, bytes)) or not isinstance(network, Sequence):
        raise TypeError(
            "network must be a Network, a NetworkConfig, a dict of its fields or a list "
            f"of layer sizes, got {type(network).__name__}"
        )
    return Network.from_config(NetworkConfig(sizes=list(network)), seed=seed)


def _check_pair(data, name: str):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    return data[0], data[1]


_RESERVED = {"learning_rate", "epochs", "seed", "mini_batch_size", "monitor"}


def _train_options(train_options) -> dict:
    opts = dict(train_options or {})
    clash = sorted(_RESERVED & set(opts))
    if clash:
        raise ValueError(
            f"train_options must not set {clash}: give epochs, seed, mini_batch_size and "
            "learning_rate as the tuning function's own arguments (the one being tuned it "
            "chooses itself); it picks what to monitor"
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
    ``trials`` holds them all, round after round. ``network`` is taken as the
    heuristics take it (:func:`_initial_network`): every trial trains a copy
    of that one initial network.
    """

    def __init__(self, network, X, y, validation, *, epochs, seed, monitor_cost, n_jobs, on_trial):
        from ..jobs import default_n_jobs

        self.template = _initial_network(network, seed)
        self.X, self.y, self.validation = X, y, validation
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
        from ..jobs import run_jobs

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


#: Steps of the sequential searches decided per round of trials, by default.
LOOKAHEAD = 2
