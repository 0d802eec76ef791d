"""The book's ``mnist_loader``: MNIST as tuples of arrays or lists of column vectors.

>>> from nndl import mnist_loader
>>> training_data, validation_data, test_data = mnist_loader.load_data_wrapper()  # doctest: +SKIP
>>> len(training_data), training_data[0][0].shape, training_data[0][1].shape  # doctest: +SKIP
(50000, (784, 1), (10, 1))

The images come from :func:`nndl.data.load_mnist`, which finds, fetches,
verifies and caches the data (see there). What this module adds is the
book's layout:

* :func:`load_data` gives ``(training_data, validation_data, test_data)``,
  each a pair ``(X, y)``: X float32 of shape (m, 784) with grey levels in
  [0, 1), y int64 labels of shape (m,); 50,000, 10,000 and 10,000 images.
* :func:`load_data_wrapper` gives the same as lists of ``(x, y)`` pairs, x a
  column vector (784, 1); y a one-hot column (10, 1) for the training data
  (the desired output of the network) and an integer label for validation
  and test data (what the accuracy compares with).

Unlike the book's Python 3 ports, the results are lists, not ``zip``
iterators, so they can be sliced (``training_data[:1000]``) and reused. The
column vectors are views of one array per set, so building the lists takes
milliseconds and no extra memory.
"""

from __future__ import annotations

import numpy as np

from .network2 import vectorized_result

__all__ = ["load_data", "load_data_wrapper", "vectorized_result"]

#: The book's MNIST has ten classes, the digits 0..9.
N_CLASSES = 10


def _splits(**kwargs):
    """The MNIST splits from the data module (replaced by tests with a small set)."""
    from .data import load_mnist

    return load_mnist(**kwargs)


def load_data(**kwargs):
    """MNIST as ``(training_data, validation_data, test_data)``, each ``(X, y)``.

    X is float32 (m, 784) in [0, 1); y is int64 (m,). Keyword arguments are
    passed to :func:`nndl.data.load_mnist` (where to look for the data, for
    instance); with none it behaves like the book's function.
    """
    splits = _splits(**kwargs)
    out = []
    for part in (splits.train, splits.validation, splits.test):
        X = np.asarray(part.X)
        y = np.asarray(part.y)
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise ValueError(
                f"expected images (m, n) and labels (m,), got shapes {X.shape} and {y.shape}"
            )
        out.append((X, y))
    return tuple(out)


def _columns(X: np.ndarray) -> list[np.ndarray]:
    """Each row of X as a (n, 1) column vector: views, no copies."""
    return list(X.reshape(X.shape[0], X.shape[1], 1))


def _one_hot_columns(y: np.ndarray) -> list[np.ndarray]:
    """Each label j as the book's vectorized_result(j): a (10, 1) float64 one-hot column."""
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"labels must be 0..{N_CLASSES - 1}, found {y.min()}..{y.max()}")
    Y = np.zeros((y.shape[0], N_CLASSES, 1))
    Y[np.arange(y.shape[0]), y, 0] = 1.0
    return list(Y)


def load_data_wrapper(**kwargs):
    """MNIST as the book's lists of ``(x, y)`` pairs of column vectors.

    Returns ``(training_data, validation_data, test_data)``: x has shape
    (784, 1); training y is a one-hot (10, 1) column, validation and test y
    an integer label. Keyword arguments go to :func:`load_data`.
    """
    (Xtr, ytr), (Xva, yva), (Xte, yte) = load_data(**kwargs)
    training_data = list(zip(_columns(Xtr), _one_hot_columns(ytr), strict=True))
    validation_data = list(zip(_columns(Xva), yva, strict=True))
    test_data = list(zip(_columns(Xte), yte, strict=True))
    return training_data, validation_data, test_data
