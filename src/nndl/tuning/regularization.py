"""The regularization parameter: lambda = 0, then decades from 1.0, refined around the best."""

from __future__ import annotations

import math
from collections.abc import Callable

from .._validation import check_range
from .results import LambdaResult, TuningTrial
from .trials import (
    _DEFAULTS,
    LOOKAHEAD,
    _Candidate,
    _check_pair,
    _train_options,
    _TrialRunner,
)


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
        raise ValueError(
            "train_options must not set l2: it is the parameter being tuned (give its "
            "first value as start=)"
        )
    options.update(mini_batch_size=mini_batch_size, learning_rate=learning_rate)
    runner = _TrialRunner(
        network,
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
