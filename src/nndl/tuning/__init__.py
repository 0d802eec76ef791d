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

The modules: :mod:`~nndl.tuning.results` (what they return),
:mod:`~nndl.tuning.trials` (training the trials, as jobs),
:mod:`~nndl.tuning.learning_rate`, :mod:`~nndl.tuning.regularization`,
:mod:`~nndl.tuning.batch_size`, :mod:`~nndl.tuning.broad` and
:mod:`~nndl.tuning.plots`.

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

from .batch_size import tune_batch_size
from .broad import rescale_lambda, subsample, subset_classes
from .learning_rate import find_learning_rate_threshold
from .plots import plot_cost_curves
from .regularization import tune_lambda
from .results import BatchSizeResult, LambdaResult, LearningRateResult, TuningTrial
from .trials import LOOKAHEAD

__all__ = [
    "LOOKAHEAD",
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
