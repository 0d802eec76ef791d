"""The SVM baseline of ``more_data``: scikit-learn's ``SVC`` fitted per training-set size.

Fitting is scikit-learn's (libsvm); predicting is done here, from the fitted
model's support vectors, with the kernel computed as matrix products in
BLAS. libsvm predicts one image at a time, one support vector at a time:
at 50,000 training images (about 12,000 support vectors) its prediction of
the 10,000 validation images took 118 s here, longer than a third of the
fit. The products give the same decision values up to rounding, hence the
same labels; each call checks this against ``SVC.predict`` on a sample and
uses ``SVC.predict`` throughout if one label differs.

The results are cached, one JSON file per size in ``data_dir()/svm``, under
a key made of the exact training and validation arrays, the SVC's settings,
scikit-learn's version and :data:`SVM_CACHE_VERSION`: the fits are
deterministic, so a later run reads them instead of fitting again (the
report says so; ``--no-svm-cache`` fits them again). Each size is written
as soon as it is done, so an interrupted run keeps the sizes it finished.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_write_json
from ..data import data_dir
from ..data.expanded_cache import hash_arrays
from .data_source import load_splits

__all__ = [
    "SVM_CACHE_FOLDER",
    "SVM_CACHE_VERSION",
    "SVM_GAMMA",
    "svc_predict",
    "svm_accuracies",
    "svm_cache_dir",
    "uncached_sizes",
]

#: The kernel width: 1 / (number of pixels), scikit-learn's "auto" (the default
#: of the release the book used).
SVM_GAMMA = "auto"

#: The SVC's settings besides gamma (C = 1, the RBF kernel: scikit-learn's defaults).
SVM_SETTINGS = {"C": 1.0, "kernel": "rbf"}

#: Written into every cached result; a result of another version is fitted again.
#: Bump it when what a cached result means changes.
SVM_CACHE_VERSION = 1
SVM_CACHE_FORMAT = "nndl-svm-result"
#: The folder of the data cache (``nndl data info``) that holds them.
SVM_CACHE_FOLDER = "svm"

#: Images predicted per block of kernel products (bounds the memory to about
#: rows x support vectors x 8 bytes, a few tens of MB).
_ROWS_PER_BLOCK = 512

#: How many images each prediction checks against ``SVC.predict``.
_CHECKED_ROWS = 100

#: An image with a decision value this close to zero (rounding in the products
#: could flip its sign, about 1e-13 here) is predicted by ``SVC.predict`` instead.
_TIE_MARGIN = 1e-8


def _ovo_coefficients(clf) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(support vectors x class pairs coefficients, intercepts, pairs) in libsvm's order.

    For the pair (i, j), i < j, libsvm's decision value is the sum over class
    i's support vectors of ``dual_coef_[j - 1]`` times the kernel, plus the
    sum over class j's of ``dual_coef_[i]`` times the kernel, plus the
    intercept; a positive value is a vote for i, else for j.
    """
    dual = np.asarray(clf.dual_coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    k = len(clf.classes_)
    if k == 2:
        # With two classes scikit-learn stores both with the opposite sign.
        dual, intercept = -dual, -intercept
    start = np.concatenate([[0], np.cumsum(clf.n_support_)])
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    coef = np.zeros((dual.shape[1], len(pairs)))
    for p, (i, j) in enumerate(pairs):
        si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
        coef[si, p] = dual[j - 1, si]
        coef[sj, p] = dual[i, sj]
    return coef, intercept, pairs


def _kernel_predict(clf, X: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels, near): ``near`` marks the images with a decision value within
    :data:`_TIE_MARGIN` of zero."""
    sv = np.asarray(clf.support_vectors_, dtype=np.float64)
    coef, intercept, pairs = _ovo_coefficients(clf)
    k = len(clf.classes_)
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    labels = np.empty(X.shape[0], dtype=np.intp)
    near = np.empty(X.shape[0], dtype=bool)
    for lo in range(0, X.shape[0], _ROWS_PER_BLOCK):
        x = X[lo : lo + _ROWS_PER_BLOCK]
        d2 = x @ sv.T
        d2 *= -2.0
        d2 += np.einsum("ij,ij->i", x, x)[:, None]
        d2 += sv_sq
        np.maximum(d2, 0.0, out=d2)
        d2 *= -gamma
        kernel = np.exp(d2, out=d2)
        decision = kernel @ coef
        decision += intercept
        near[lo : lo + x.shape[0]] = np.abs(decision).min(axis=1) < _TIE_MARGIN
        positive = decision > 0
        votes = np.zeros((x.shape[0], k), dtype=np.intp)
        for p, (i, j) in enumerate(pairs):
            votes[:, i] += positive[:, p]
            votes[:, j] += ~positive[:, p]
        labels[lo : lo + x.shape[0]] = np.argmax(votes, axis=1)  # ties: the first class
    return np.asarray(clf.classes_)[labels], near


def svc_predict(clf, X) -> tuple[np.ndarray, str]:
    """The labels ``clf.predict(X)`` gives, for an RBF ``SVC`` fitted one-vs-one.

    Returns (labels, how): ``how`` is ``"kernel products"``, or
    ``"SVC.predict"`` when the model or the input is of another kind (another
    kernel, sparse images) or the check on the first images found a different
    label. Images whose decision is within rounding of a tie are predicted by
    ``SVC.predict`` in any case.
    """
    from scipy import sparse

    if sparse.issparse(X) or clf.kernel != "rbf" or getattr(clf, "break_ties", False):
        return clf.predict(X), "SVC.predict"
    X = np.asarray(X, dtype=np.float64)
    gamma = 1.0 / X.shape[1] if clf.gamma == "auto" else clf.gamma
    if X.shape[0] == 0 or not isinstance(gamma, (int, float)):  # "scale": the training data's
        return clf.predict(X), "SVC.predict"
    labels, near = _kernel_predict(clf, X, float(gamma))
    sample = X[:_CHECKED_ROWS]
    if not np.array_equal(labels[: sample.shape[0]], clf.predict(sample)):
        return clf.predict(X), "SVC.predict"
    if near.any():
        labels[near] = clf.predict(X[near])
    return labels, "kernel products"


def svm_cache_dir(cache_dir=None) -> Path:
    """Where the SVM's results are cached: a folder of the data cache."""
    return data_dir(cache_dir) / SVM_CACHE_FOLDER


def _svm_data(source: str, quick: bool):
    """(training set, validation images as float64, validation labels) the SVM uses."""
    splits = load_splits(source)
    train, val = splits.train, splits.validation
    if quick:
        train, val = train.head(1000), val.head(500)
    return train, np.asarray(val.X, dtype=np.float64), np.asarray(val.y)


def _cache_keys(train, Xv, yv, sizes, gamma) -> dict[int, str]:
    """{size: key}: a sha256 of the first ``size`` training images and labels,
    the validation set, the SVC's settings and the versions that decide a result."""
    import scipy
    import sklearn

    common = hashlib.sha256()
    setup = {
        **SVM_SETTINGS,
        "gamma": gamma,
        # libsvm's kernel goes through SciPy's BLAS; the products here through NumPy's.
        "versions": [sklearn.__version__, scipy.__version__, np.__version__],
        "version": SVM_CACHE_VERSION,
    }
    common.update(json.dumps(setup, sort_keys=True).encode())
    hash_arrays(common, Xv, yv)
    # One pass over the training images: each size's prefix extends the one before.
    images, labels = hashlib.sha256(), hashlib.sha256()
    X, y = np.ascontiguousarray(train.X), np.ascontiguousarray(train.y)
    keys, done = {}, 0
    for n in sorted(sizes):
        images.update(memoryview(X[done:n]).cast("B"))
        labels.update(memoryview(y[done:n]).cast("B"))
        done = n
        h = common.copy()
        h.update(f"{X.dtype.str}{y.dtype.str}{X.shape[1:]}{n}".encode())
        h.update(images.digest() + labels.digest())
        keys[n] = h.hexdigest()[:40]
    return keys


def _read_cached(path: Path, size: int) -> list | None:
    """[accuracy, fit s, predict s, computed] from a cache file, or None if absent or unusable."""
    try:
        record = json.loads(path.read_text())
        if record.get("format") != SVM_CACHE_FORMAT or record.get("size") != size:
            return None
        acc, fit_s, pred_s = (float(record[k]) for k in ("accuracy", "fit_s", "predict_s"))
        computed = str(record["computed"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged or foreign file: fitted again, and overwritten
    if not 0.0 <= acc <= 1.0:
        return None
    return [acc, fit_s, pred_s, computed]


def _usable_sizes(train, sizes) -> list[int]:
    # A small data set (the digits) has fewer images than the largest sizes.
    return [n for n in sizes if n <= train.X.shape[0]]


def uncached_sizes(source: str, quick: bool, sizes, cache_dir, gamma=SVM_GAMMA) -> list[int]:
    """The sizes of :func:`svm_accuracies`'s call that an earlier run has not cached."""
    train, Xv, yv = _svm_data(source, quick)
    sizes = _usable_sizes(train, sizes)
    keys = _cache_keys(train, Xv, yv, sizes, gamma)
    return [n for n in sizes if _read_cached(Path(cache_dir) / f"{keys[n]}.json", n) is None]


def _write_cached(path: Path, record: dict) -> bool:
    """Cache one result; a folder that cannot be written costs only the cache: one
    warning that says what to do, and False (the caller then stops trying)."""
    try:
        atomic_write_json(path, record)
    except OSError as exc:
        warnings.warn(
            f"the SVM results cannot be cached in {path.parent} ({exc}), so the next run "
            "fits them again: make that folder writable, or set NNDL_DATA_DIR to one that is",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def svm_accuracies(
    source: str, quick: bool, sizes, gamma=SVM_GAMMA, cache_dir=None, read_cache=True, log=None
) -> dict:
    """Fit and score one SVC per size (``more_data`` runs it in a second process).

    Returns {str(size): [validation accuracy, fit seconds, predict seconds,
    when computed (ISO date) or None]}. Each size's result is written to
    ``cache_dir`` when fitted, and read from it instead when an earlier run
    cached it and ``read_cache`` (its date then says when; None means fitted
    now). ``cache_dir=None`` neither reads nor writes. ``log(message)``, if
    given, hears of each size as it is fitted. A larger kernel cache
    than scikit-learn's default (200 MB) only makes the large fits faster;
    the results are the same.
    """
    from sklearn.svm import SVC

    train, Xv, yv = _svm_data(source, quick)
    sizes = _usable_sizes(train, sizes)
    keys = _cache_keys(train, Xv, yv, sizes, gamma) if cache_dir is not None else {}
    out, writable = {}, True
    for n in sizes:
        path = Path(cache_dir) / f"{keys[n]}.json" if cache_dir is not None else None
        cached = _read_cached(path, n) if path is not None and read_cache else None
        if cached is not None:
            out[str(n)] = cached
            continue
        if log is not None:  # the run's time left counts trainings only: say what runs
            log(f"SVM on {n:,} images: fitting ...")
        X = np.asarray(train.X[:n], dtype=np.float64)
        t0 = time.perf_counter()
        clf = SVC(gamma=gamma, C=SVM_SETTINGS["C"], kernel=SVM_SETTINGS["kernel"], cache_size=1000)
        clf.fit(X, train.y[:n])
        t1 = time.perf_counter()
        predicted, how = svc_predict(clf, Xv)
        acc = float(np.mean(predicted == yv))
        out[str(n)] = [acc, t1 - t0, time.perf_counter() - t1, None]
        if log is not None:
            log(
                f"SVM on {n:,} images: fitted in {t1 - t0:.1f} s, {Xv.shape[0]:,} images "
                f"predicted in {out[str(n)][2]:.1f} s ({how}), accuracy {100 * acc:.2f}%"
            )
        if path is not None and writable:
            writable = _write_cached(
                path,
                {
                    "format": SVM_CACHE_FORMAT,
                    "version": SVM_CACHE_VERSION,
                    "size": n,
                    "accuracy": acc,
                    "fit_s": t1 - t0,
                    "predict_s": out[str(n)][2],
                    "predicted_by": how,
                    "support_vectors": int(clf.n_support_.sum()),
                    "source": source,
                    "quick": quick,
                    "computed": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                },
            )
    return out
