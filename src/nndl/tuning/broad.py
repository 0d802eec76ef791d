"""The broad strategy's helpers: fewer classes, less data, lambda for a smaller set."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._validation import check_range


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
