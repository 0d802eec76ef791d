"""The mini-batch size: validation accuracy against wall time, every size at once."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .._validation import check_range
from .results import BatchSizeResult, TuningTrial
from .trials import (
    _DEFAULTS,
    _Candidate,
    _check_pair,
    _train_options,
    _TrialRunner,
)


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
