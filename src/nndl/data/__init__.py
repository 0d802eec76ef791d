"""Data sets as NumPy arrays: examples as rows, pixels in [0, 1), integer labels.

>>> from nndl.data import load_mnist
>>> splits = load_mnist()                  # doctest: +SKIP
>>> X, y = splits.train                    # (50000, 784) float32, (50000,) int64

Loaders
-------
load_mnist(path=None, cache_dir=None)
    The book's split of MNIST, from ``mnist.pkl.gz`` (fetched, verified and
    cached; see :mod:`nndl.data.fetch` for where it comes from).
load_mnist_idx(cache_dir=None)
    The original IDX files (60,000 + 10,000), split the same way.
load_idx_dataset(folder)
    Any MNIST-like data set in IDX format, e.g. Fashion-MNIST.
load_digits(seed=0)
    scikit-learn's 8x8 digits (1,797 images), for fast tests and demos.
load_dataset(name)
    Any of the above by name: ``"mnist"``, ``"mnist-idx"``,
    ``"fashion-mnist"``, ``"digits"``, ``"idx:FOLDER"`` or ``"mnist:PATH"``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .digits import load_digits
from .fetch import ENV_VAR, FetchError, data_dir, verify
from .idx import load_idx_dataset, read_idx, write_idx
from .mnist import load_mnist, load_mnist_idx, mnist_idx_folder, mnist_pickle_path
from .splits import Dataset, DataSplits

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "FASHION_MNIST_DIRS",
    "DataSplits",
    "Dataset",
    "FetchError",
    "data_dir",
    "fashion_mnist_dir",
    "load_dataset",
    "load_digits",
    "load_idx_dataset",
    "load_mnist",
    "load_mnist_idx",
    "mnist_idx_folder",
    "mnist_pickle_path",
    "read_idx",
    "verify",
    "write_idx",
]

#: The data sets known by name, with a line each.
DATASETS: dict[str, str] = {
    "mnist": "the book's MNIST split of mnist.pkl.gz: 50,000 / 10,000 / 10,000 images of 28x28",
    "mnist-idx": "the original MNIST IDX files (60,000 + 10,000), split 50,000 / 10,000 / 10,000",
    "fashion-mnist": "Fashion-MNIST (10 kinds of clothing, 28x28, IDX), split like MNIST",
    "digits": "scikit-learn's 8x8 digits: 1,797 images, split about 60 / 20 / 20 percent",
}

#: Where Fashion-MNIST is looked for (after ``data_dir()/fashion-mnist``):
#: Debian's ``dataset-fashion-mnist`` package installs it here.
FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)


def fashion_mnist_dir(cache_dir=None) -> Path:
    """The folder holding Fashion-MNIST's IDX files.

    Looks in ``$NNDL_FASHION_MNIST_DIR``, ``data_dir()/fashion-mnist`` and
    :data:`FASHION_MNIST_DIRS`, in that order.
    """
    candidates = []
    env = os.environ.get("NNDL_FASHION_MNIST_DIR")
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(data_dir(cache_dir) / "fashion-mnist")
    candidates.extend(FASHION_MNIST_DIRS)
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "Fashion-MNIST not found in "
        + ", ".join(str(c) for c in candidates)
        + ": install Debian's dataset-fashion-mnist package (apt-get install "
        "dataset-fashion-mnist) or use --dataset idx:FOLDER"
    )


def load_dataset(
    name: str = "mnist", *, cache_dir=None, seed: int = 0, progress: bool | None = None
) -> DataSplits:
    """Load a data set by name (see :data:`DATASETS`), or ``idx:FOLDER`` / ``mnist:PATH``.

    ``seed`` only matters for ``digits`` (its random split); ``cache_dir`` is
    the cache folder for the downloaded sets.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset must be a name, got {name!r}")
    key = name.strip()
    if key.startswith("idx:"):
        return load_idx_dataset(key[4:])
    if key.startswith("mnist:"):
        return load_mnist(key[6:], cache_dir, progress=progress)
    key = key.lower().replace("_", "-")
    if key == "mnist":
        return load_mnist(None, cache_dir, progress=progress)
    if key == "mnist-idx":
        return load_mnist_idx(cache_dir, progress=progress)
    if key in ("fashion-mnist", "fashion"):
        return load_idx_dataset(fashion_mnist_dir(cache_dir))
    if key == "digits":
        return load_digits(seed)
    raise ValueError(
        f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}, 'idx:FOLDER' "
        "(a folder of IDX files) or 'mnist:PATH' (your copy of mnist.pkl.gz)"
    )
