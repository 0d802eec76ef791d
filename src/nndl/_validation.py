"""Input and hyper-parameter checks shared by the whole package.

Every check raises ``ValueError`` (or ``TypeError`` for the wrong kind of
object) with a message that names the problem and what is expected, so that
the command line can print it as one line.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_features", "check_range", "check_targets", "labels_of", "resolve_dtype"]

_DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype) -> np.dtype:
    """Return float64 or float32 from a name or dtype; refuse anything else."""
    if isinstance(dtype, str):
        key = dtype.strip().lower()
        if key not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        return np.dtype(_DTYPES[key])
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dt}")
    return dt


def check_range(
    name: str,
    value,
    *,
    low=None,
    high=None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
):
    """Check that a scalar hyper-parameter lies in a range; return it converted.

    The message names the parameter and the allowed range, e.g.
    ``learning_rate must be a finite number > 0, got -1.0``.
    """
    kind = "an integer" if integer else "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"{name} must be {kind}, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be {kind}, got {value!r}")
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    bounds = " and ".join(parts)
    bad = (low is not None and (value < low or (not low_inclusive and value == low))) or (
        high is not None and (value > high or (not high_inclusive and value == high))
    )
    if bad:
        raise ValueError(f"{name} must be {kind} {bounds}, got {value!r}")
    return value


def check_features(X, n_features: int, dtype, *, name: str = "X") -> np.ndarray:
    """Validate an input matrix (examples as rows) and return it in ``dtype``.

    Refuses: non-numeric, complex or object arrays; nan or inf; empty data;
    the wrong number of dimensions; a feature count different from the input
    layer. A single example given as a 1-D vector of the right length is
    accepted as one row. The result is a new array only when a conversion is
    needed.
    """
    X = np.asarray(X)
    if X.dtype == object or not (
        np.issubdtype(X.dtype, np.floating)
        or np.issubdtype(X.dtype, np.integer)
        or X.dtype == np.bool_
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim == 1 and X.shape[0] == n_features:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (examples, features), got an array of shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no examples")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per example but the network's input layer "
            f"has {n_features}"
        )
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains nan or inf values")
    return X


def check_targets(
    y, n_examples: int, n_outputs: int, dtype, *, name: str = "y", kind: str = "onehot"
) -> np.ndarray:
    """Validate targets and return them as a (m, n_outputs) matrix in ``dtype``.

    ``kind`` says what a target matrix may hold: ``"onehot"`` (classification:
    each row a single 1), ``"unit"`` (values in [0, 1]) or ``"real"``.
    Integer labels of shape (m,) are accepted whenever there are several
    outputs and turned into one-hot rows; with a single output a vector of
    shape (m,) is the target itself. Refuses labels out of range or
    non-integer, nan or inf, and a length that differs from the inputs'.
    """
    y = np.asarray(y)
    if (
        y.dtype == object
        or np.iscomplexobj(y)
        or not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {y.dtype}")
    if n_outputs == 1 and y.ndim == 1:
        y = y[:, None]
    if y.ndim == 2 and y.shape[1] == 1 and n_outputs != 1:
        y = y[:, 0]
    if y.ndim == 0 or y.shape[0] != n_examples:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} entries"
        raise ValueError(f"{name} has {got} but there are {n_examples} examples")
    if y.ndim == 1:
        if np.issubdtype(y.dtype, np.floating):
            if not np.isfinite(y).all():
                raise ValueError(f"{name} contains nan or inf values")
            if not np.all(y == np.round(y)):
                raise ValueError(f"{name} labels must be integers 0..{n_outputs - 1}")
        labels = y.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(
                f"{name} has labels out of range: expected integers 0..{n_outputs - 1}, "
                f"found {labels.min()}..{labels.max()}"
            )
        Y = np.zeros((n_examples, n_outputs), dtype=dtype)
        Y[np.arange(n_examples), labels] = 1
        return Y
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(
            f"{name} must be labels of shape (m,) or targets of shape (m, {n_outputs}), "
            f"got shape {y.shape}"
        )
    Y = y.astype(dtype, copy=False)
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} contains nan or inf values")
    if kind == "onehot" and not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1)):
        raise ValueError(f"{name} rows must be one-hot (a single 1, the rest 0)")
    if kind == "unit" and not np.all((Y >= 0) & (Y <= 1)):
        raise ValueError(f"{name} targets must lie in [0, 1] for the cross-entropy cost")
    return Y


def labels_of(y) -> np.ndarray:
    """Integer labels from labels (m,) or one-hot / score rows (m, k)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    if y.ndim == 2:
        y = y[:, 0]
    return y.astype(np.int64)
