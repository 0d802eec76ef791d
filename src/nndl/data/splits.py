"""The containers every loader returns: a :class:`Dataset` and its three splits."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["DataSplits", "Dataset"]


class Dataset(NamedTuple):
    """Examples as rows: ``X`` (m, n_features) float32, ``y`` (m,) int64 labels."""

    X: np.ndarray
    y: np.ndarray

    @property
    def n_examples(self) -> int:
        return int(self.X.shape[0])

    def head(self, n: int | None) -> Dataset:
        """The first ``n`` examples (all of them when ``n`` is None)."""
        if n is None:
            return self
        return Dataset(self.X[:n], self.y[:n])


class DataSplits(NamedTuple):
    """Training, validation and test data (the validation set tunes, the test set judges)."""

    train: Dataset
    validation: Dataset
    test: Dataset

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    @property
    def n_classes(self) -> int:
        """One more than the largest label in any split."""
        return 1 + max(int(d.y.max()) for d in self if d.y.size)
