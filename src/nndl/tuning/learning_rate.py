"""The learning-rate threshold: bracket it by factors of ten, refine, recommend half."""

from __future__ import annotations

import math
from collections.abc import Callable

from .._validation import check_range
from .results import LearningRateResult, TuningTrial
from .trials import _DEFAULTS, LOOKAHEAD, _Candidate, _train_options, _TrialRunner


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
        network,
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
