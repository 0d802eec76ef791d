"""The book's MNIST, the 8x8 digits and loading data sets by name.

Tests marked ``mnist`` use the real data, fetched once per session (see
conftest.py); the others use small hand-made files.
"""

from __future__ import annotations

import gzip
import io
import pickle
import shutil
import time

import numpy as np
import pytest

from nndl.data import (
    DATASETS,
    Dataset,
    DataSplits,
    load_dataset,
    load_digits,
    load_mnist,
    mnist_pickle_path,
)
from nndl.data import mnist as M
from nndl.data.fetch import MNIST_PICKLE


# ----------------------------------------------------------- the pickle reader
def _tiny_book_pickle(path, protocol=2):
    """A file shaped like mnist.pkl.gz: three (X, y) pairs of arrays."""
    r = np.random.default_rng(0)
    parts = tuple(
        (r.random((n, 784), dtype=np.float32), r.integers(0, 10, n).astype(np.int64))
        for n in (5, 3, 2)
    )
    with gzip.open(path, "wb") as fh:
        pickle.dump(parts, fh, protocol=protocol)
    return parts


@pytest.mark.parametrize("protocol", [2, 4])
def test_the_pickle_reader_rebuilds_the_arrays(tmp_path, protocol):
    parts = _tiny_book_pickle(tmp_path / "m.pkl.gz", protocol)
    arrays = M._read_pickle(tmp_path / "m.pkl.gz")
    for name, (X, y) in zip(("train", "validation", "test"), parts, strict=True):
        np.testing.assert_array_equal(arrays[f"{name}_X"], X)
        np.testing.assert_array_equal(arrays[f"{name}_y"], y)
        assert arrays[f"{name}_X"].dtype == np.float32
        assert arrays[f"{name}_y"].dtype == np.int64


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_the_pickle_reader_refuses_anything_but_arrays(tmp_path, capsys):
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(((_Boom(), None), None, None), fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refers to .*print"):
        M._read_pickle(path)
    assert "must never run" not in capsys.readouterr().out


def test_an_unverified_file_is_never_unpickled(tmp_path):
    _tiny_book_pickle(tmp_path / "mnist.pkl.gz")
    with pytest.raises(ValueError, match=r"not a good copy of mnist\.pkl\.gz.*size"):
        load_mnist(tmp_path / "mnist.pkl.gz", cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_mnist(tmp_path / "absent.pkl.gz", cache_dir=tmp_path / "cache")


def test_the_npz_cache_is_refused_when_damaged_or_foreign(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "_SIZES", {"train": 500, "validation": 100, "test": 100})
    good = {
        f"{s}_{k}": np.zeros((n, 784) if k == "X" else (n,), np.float32 if k == "X" else np.int64)
        for s, n in M._SIZES.items()
        for k in ("X", "y")
    }
    p = tmp_path / "c.npz"
    M._write_npz(p, good)
    assert M._read_npz(p) is not None
    blob = bytearray(p.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # inside the training images
    p.write_bytes(bytes(blob))
    assert M._read_npz(p) is None  # the zip CRC-32 catches it
    p.write_bytes(bytes(blob[:1000]))
    assert M._read_npz(p) is None
    np.savez(p, **{**good, "version": np.array(1), "source_sha256": np.array("0" * 64)})
    assert M._read_npz(p) is None
    assert M._read_npz(tmp_path / "absent.npz") is None


# ----------------------------------------------------------------- the digits
def test_digits_shapes_types_and_range():
    splits = load_digits()
    assert isinstance(splits, DataSplits) and isinstance(splits.train, Dataset)
    sizes = [d.X.shape[0] for d in splits]
    assert sum(sizes) == 1797 and sizes == [1079, 359, 359]
    for d in splits:
        assert d.X.shape[1] == 64 and d.X.dtype == np.float32 and d.y.dtype == np.int64
        assert 0.0 <= d.X.min() and d.X.max() <= 1.0
    assert splits.n_features == 64 and splits.n_classes == 10


def test_digits_split_is_deterministic_disjoint_and_seeded():
    a, b, c = load_digits(0), load_digits(0), load_digits(1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.X, y.X)
    assert not np.array_equal(a.train.y, c.train.y)
    # Together the splits hold every example exactly once.
    from sklearn.datasets import load_digits as sk_digits

    ours = np.concatenate([d.X for d in a])
    original = (sk_digits().data / 16.0).astype(np.float32)
    np.testing.assert_array_equal(np.unique(ours, axis=0), np.unique(original, axis=0))
    assert ours.shape == original.shape


def test_digits_bad_arguments():
    with pytest.raises(ValueError, match="must be < 1"):
        load_digits(validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        load_digits(-1)


# ------------------------------------------------------------ data set names
def test_unknown_dataset_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnits'.*'digits'.*idx:FOLDER"):
        load_dataset("mnits")
    with pytest.raises(ValueError, match="dataset must be a name"):
        load_dataset("")
    assert set(DATASETS) == {"mnist", "mnist-idx", "fashion-mnist", "digits"}


def test_dataset_names_reach_their_loaders(tmp_path, monkeypatch):
    assert load_dataset("digits").train.X.shape == (1079, 64)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_dataset(f"mnist:{tmp_path / 'nope.pkl.gz'}")
    monkeypatch.setenv("NNDL_FASHION_MNIST_DIR", str(tmp_path / "none"))
    monkeypatch.setattr("nndl.data.FASHION_MNIST_DIRS", ())
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", cache_dir=tmp_path)


def test_dataset_helpers():
    d = Dataset(np.zeros((5, 2)), np.arange(5))
    assert d.n_examples == 5
    assert d.head(2).y.tolist() == [0, 1]
    assert d.head(None) is d
    X, y = d  # still a plain pair
    assert X.shape == (5, 2) and y.shape == (5,)


# ---------------------------------------------------------------- real MNIST
@pytest.mark.mnist
def test_the_books_split(mnist):
    train, val, test = mnist
    assert [d.X.shape for d in mnist] == [(50_000, 784), (10_000, 784), (10_000, 784)]
    for d in mnist:
        assert d.X.dtype == np.float32 and d.y.dtype == np.int64
        assert d.X.min() == 0.0 and d.X.max() == np.float32(255 / 256)
        assert set(np.unique(d.y)) == set(range(10))
        # grey levels / 256, as in the IDX files
        np.testing.assert_array_equal(d.X[:100] * 256, np.round(d.X[:100] * 256))
    assert train.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert val.y[:10].tolist() == [3, 8, 6, 9, 6, 4, 5, 3, 8, 4]
    assert test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.mnist
def test_loading_from_the_cache_is_quick_and_identical(mnist):
    t0 = time.perf_counter()
    again = load_mnist(progress=False)
    assert time.perf_counter() - t0 < 5.0
    for a, b in zip(mnist, again, strict=True):
        np.testing.assert_array_equal(a.X[:2000], b.X[:2000])
        np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.mnist
def test_a_local_copy_is_used_in_place(mnist, tmp_path):
    mine = tmp_path / "mine" / "mnist.pkl.gz"
    mine.parent.mkdir()
    shutil.copyfile(mnist_pickle_path(progress=False), mine)
    assert mnist_pickle_path(mine, tmp_path / "cache") == mine
    assert mnist_pickle_path(mine.parent, tmp_path / "cache") == mine
    assert not (tmp_path / "cache").exists()  # nothing was fetched


@pytest.mark.mnist
def test_a_damaged_npz_is_rebuilt_from_the_pickle(mnist, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist.pkl.gz").symlink_to(mnist_pickle_path(progress=False))
    npz = M._npz_path(cache)
    npz.write_bytes(b"PK\x03\x04 not really a zip archive")
    assert M._read_npz(npz) is None
    rebuilt = load_mnist(cache_dir=cache, progress=False)
    np.testing.assert_array_equal(rebuilt.test.X, mnist.test.X)
    np.testing.assert_array_equal(rebuilt.train.y, mnist.train.y)
    assert npz.stat().st_size > 200_000_000  # repaired


@pytest.mark.mnist
def test_the_cached_pickle_is_the_books_file(mnist):
    from nndl.data import verify

    assert verify(mnist_pickle_path(progress=False), MNIST_PICKLE) is None


def test_pickle_bytes_helper_is_not_a_file_reader():
    # _ArrayUnpickler works on any binary stream: nothing but arrays comes out.
    buf = io.BytesIO(pickle.dumps(np.arange(3), protocol=2))
    np.testing.assert_array_equal(M._ArrayUnpickler(buf, encoding="latin1").load(), [0, 1, 2])


def test_digits_without_the_bundled_csv_use_scikit_learns_loader(monkeypatch):
    import nndl.data.digits as D

    fast = load_digits(3)

    monkeypatch.setattr(D, "_BUNDLED_CSV", ("datasets", "data", "moved-elsewhere.csv.gz"))
    slow = load_digits(3)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)
