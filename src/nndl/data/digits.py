"""scikit-learn's bundled 8x8 digits: a tiny real data set for tests and demos.

1,797 images of 8x8 pixels with grey levels 0..16, shipped inside
scikit-learn (no download). Pixels are scaled to [0, 1] by dividing by 16,
and the examples are split at random, but reproducibly from ``seed``, into
training, validation and test sets (about 60 / 20 / 20 percent).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_range
from .splits import Dataset, DataSplits

__all__ = ["load_digits"]

#: Where scikit-learn keeps the digits, inside its package.
_BUNDLED_CSV = ("datasets", "data", "digits.csv.gz")


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 examples as (data (m, 64) float64 in 0..16, target (m,)).

    Importing ``sklearn.datasets`` takes a second or more (it pulls in SciPy),
    which dominates a short run or a test; the data itself is a small CSV
    inside the scikit-learn package, so it is read directly when found
    there, and through scikit-learn's own loader otherwise.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError(
            'the 8x8 digits come with scikit-learn: pip install "nndl[svm]" (or scikit-learn)'
        )
    for root in spec.submodule_search_locations or ():
        csv = Path(root).joinpath(*_BUNDLED_CSV)
        if csv.is_file():
            try:
                table = np.loadtxt(csv, delimiter=",")
            except ValueError:
                break
            if table.shape == (1797, 65):
                return table[:, :-1], table[:, -1]
            break
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)


def load_digits(
    seed: int = 0, *, validation_fraction: float = 0.2, test_fraction: float = 0.2
) -> DataSplits:
    """The 8x8 digits, X float32 (m, 64) in [0, 1], y int64 (m,), split from ``seed``.

    The same seed always gives the same split (a permutation from
    ``numpy.random.default_rng(seed)``).

    Raises
    ------
    ImportError
        When scikit-learn is not installed (``pip install "nndl[svm]"``).
    """
    seed = check_range("seed", seed, low=0, integer=True)
    validation_fraction = check_range(
        "validation_fraction", validation_fraction, low=0.0, high=1.0, high_inclusive=False
    )
    test_fraction = check_range(
        "test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "validation_fraction + test_fraction must be < 1 to leave training data, got "
            f"{validation_fraction} + {test_fraction}"
        )
    data, target = _read_digits()
    X = (data / 16.0).astype(np.float32)
    y = target.astype(np.int64)
    n = X.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    train, val, test = np.split(order, [n - n_val - n_test, n - n_test])
    return DataSplits(
        Dataset(X[train], y[train]), Dataset(X[val], y[val]), Dataset(X[test], y[test])
    )
