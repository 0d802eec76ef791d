"""Which data an experiment runs on, and the splits kept in memory across experiments.

``data="auto"`` means MNIST, except for quick runs when MNIST is not in the
local cache: those use scikit-learn's 8x8 digits, which need no download.
Each source is loaded once per process and shared by every experiment of a
``run all``.
"""

from __future__ import annotations

from ..data import DataSplits, data_dir, load_digits, load_mnist

__all__ = ["DATA_SOURCES", "load_splits", "mnist_is_cached", "resolve_data_source"]

#: What the ``data`` setting accepts.
DATA_SOURCES = ("auto", "mnist", "digits")

_SPLITS_BY_SOURCE: dict[str, DataSplits] = {}


def mnist_is_cached() -> bool:
    """Whether MNIST can be loaded without a download (the local cache holds it)."""
    try:
        folder = data_dir()
    except (OSError, ValueError):
        return False
    return folder.is_dir() and any(p.name.startswith("mnist") for p in folder.iterdir())


def resolve_data_source(settings) -> str:
    """``"mnist"`` or ``"digits"``: what ``data="auto"`` means for these settings.

    ``settings`` has the fields ``data`` and ``quick`` of
    :class:`~nndl.experiments.experiment_run.ExperimentSettings`.
    """
    if settings.data != "auto":
        return settings.data
    return "digits" if settings.quick and not mnist_is_cached() else "mnist"


def load_splits(source: str) -> DataSplits:
    """The splits for ``"mnist"`` or ``"digits"``, kept in memory across experiments."""
    if source not in _SPLITS_BY_SOURCE:
        if source == "mnist":
            _SPLITS_BY_SOURCE[source] = load_mnist()
        elif source == "digits":
            _SPLITS_BY_SOURCE[source] = load_digits(seed=0)
        else:
            raise ValueError(f"unknown data source {source!r}; expected 'mnist' or 'digits'")
    return _SPLITS_BY_SOURCE[source]
