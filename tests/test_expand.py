"""Artificial expansion of the training data: shifts, rotations, affine, elastic, recipes."""

import json

import numpy as np
import pytest

from nndl import Callback, Network, Trainer
from nndl.data import expand
from nndl.data.expand import (
    MAX_ROTATION_DEGREES,
    AugmentCallback,
    Augmenter,
    Step,
    affine,
    build_expanded,
    contact_sheet,
    elastic,
    expand_shifts,
    load_expanded,
    random_shift,
    rotate,
    shift,
)


@pytest.fixture(scope="module")
def digits28():
    """200 of sklearn's digits blown up to 28x28 (each pixel 3x3, 2-pixel border)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:200], y[:200]
    imgs = np.kron(X.reshape(-1, 8, 8) / 16.0, np.ones((3, 3)))
    return np.pad(imgs, ((0, 0), (2, 2), (2, 2))).reshape(-1, 784), y


def _dot(side=5, r=2, c=3, m=1):
    X = np.zeros((m, side, side))
    X[:, r, c] = 1.0
    return X


# -------------------------------------------------------------------- shifts


@pytest.mark.parametrize("dy, dx", [(1, 0), (-1, 0), (0, 1), (0, -1), (2, -1)])
def test_shift_moves_pixels_exactly_and_fills_with_background(dy, dx):
    rng = np.random.default_rng(0)
    X = rng.random((3, 6, 6)) + 0.5  # no zeros, so any fill is visible
    out = shift(X, dy, dx)
    for r in range(6):
        for c in range(6):
            if 0 <= r - dy < 6 and 0 <= c - dx < 6:
                np.testing.assert_array_equal(out[:, r, c], X[:, r - dy, c - dx])
            else:
                assert (out[:, r, c] == 0).all()
    assert shift(X.reshape(3, 36), dy, dx).shape == (3, 36)


def test_expand_shifts_is_the_books_fivefold_expansion(digits28):
    X, y = digits28
    X5, y5 = expand_shifts(X, y)
    m = X.shape[0]
    assert X5.shape == (5 * m, 784) and X5.dtype == X.dtype
    np.testing.assert_array_equal(y5, np.tile(y, 5))  # labels kept
    np.testing.assert_array_equal(X5[:m], X)
    for block, (_, dy, dx) in enumerate(expand.BOOK_SHIFTS, 1):
        np.testing.assert_array_equal(X5[block * m : (block + 1) * m], shift(X, dy, dx))
    up = X5[m : 2 * m].reshape(-1, 28, 28)
    np.testing.assert_array_equal(up[:, :-1], X.reshape(-1, 28, 28)[:, 1:])
    assert not up[:, -1].any()
    X4, y4 = expand_shifts(X, y, include_original=False)
    assert X4.shape[0] == 4 * m and y4.shape == (4 * m,)
    with pytest.raises(ValueError, match="entries"):
        expand_shifts(X, y[:-1])


def test_random_shift_moves_each_image_by_at_most_one_pixel():
    X = np.random.default_rng(0).random((50, 7, 7))
    out = random_shift(X, np.random.default_rng(1))
    for i in range(50):
        assert any(
            np.array_equal(out[i], shift(X[i : i + 1], dy, dx)[0])
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
    np.testing.assert_array_equal(out, random_shift(X, np.random.default_rng(1)))


# ------------------------------------------------------------------ warps


def test_rotation_by_zero_is_the_identity(digits28):
    X, _ = digits28
    np.testing.assert_array_equal(rotate(X, degrees=0.0), X)
    np.testing.assert_array_equal(rotate(X, np.random.default_rng(0), max_degrees=0.0), X)


def test_rotation_turns_counter_clockwise_about_the_centre():
    X = _dot(side=5, r=2, c=4)  # right of the centre (2, 2)
    out = rotate(X, degrees=90.0, allow_large=True)
    np.testing.assert_allclose(out, _dot(side=5, r=0, c=2), atol=1e-12)  # now above it


def test_large_rotations_are_refused_unless_asked_for(digits28):
    X, _ = digits28
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=f"bound is {MAX_ROTATION_DEGREES:g} degrees"):
        rotate(X, rng, max_degrees=45)
    with pytest.raises(ValueError, match="degrees"):
        rotate(X, degrees=[0.0] * 199 + [90.0])
    with pytest.raises(ValueError, match="max_degrees"):
        Augmenter.parse("rotate:60")
    assert rotate(X[:3], rng, max_degrees=45, allow_large=True).shape == (3, 784)


def test_same_seed_same_images_and_labels_kept(digits28):
    X, y = digits28
    for recipe in ["shift", "rotate:15", "affine", "elastic", "shift,rotate:10,elastic:34:4"]:
        aug = Augmenter.parse(recipe)
        a = aug(X, np.random.default_rng(7))
        b = aug(X, np.random.default_rng(7))
        c = aug(X, np.random.default_rng(8))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), recipe
        assert a.shape == X.shape and a.dtype == X.dtype
        assert a.min() >= 0 and a.max() <= 1  # bilinear mixes of ink and background
        _, ye = build_expanded(X, y, recipe, seed=3, copies=2)
        np.testing.assert_array_equal(ye, np.tile(y, 3))


def test_elastic_keeps_the_ink_mass(digits28):
    X, _ = digits28
    out = elastic(X, np.random.default_rng(0), alpha=34.0, sigma=4.0)
    change = np.abs(out.sum(axis=1) / X.sum(axis=1) - 1)
    # The warp is not area-preserving: where the smoothed field diverges, strokes
    # thicken or thin. With Simard's alpha=34, sigma=4 that is about 10% on average
    # (12% on real MNIST, 30% at the 95th percentile).
    assert change.mean() < 0.15 and np.percentile(change, 95) < 0.35
    assert not np.allclose(out, X)  # and it did move the ink
    np.testing.assert_array_equal(elastic(X, np.random.default_rng(0), alpha=0.0), X)


def test_affine_without_distortion_is_the_identity_and_scales_ink(digits28):
    X, _ = digits28
    same = affine(X, np.random.default_rng(0), max_scale=0.0, max_shear=0.0)
    np.testing.assert_allclose(same, X, atol=1e-12)
    out = affine(X, np.random.default_rng(0), max_scale=0.2, max_shear=0.3)
    assert 0.8 < out.sum() / X.sum() < 1.2
    with pytest.raises(ValueError, match="max_shear"):
        affine(X, np.random.default_rng(0), max_shear=2.0)


def test_integer_images_keep_their_dtype():
    X = (np.random.default_rng(0).random((4, 10, 10)) * 255).astype(np.uint8)
    out = rotate(X, np.random.default_rng(0), 10)
    assert out.dtype == np.uint8 and out.shape == X.shape
    np.testing.assert_array_equal(rotate(X, degrees=0), X)


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="not a square"):
        rotate(np.zeros((2, 10)), degrees=0)
    with pytest.raises(ValueError, match="nan"):
        shift(np.full((2, 9), np.nan), 1, 0)
    with pytest.raises(ValueError, match="empty"):
        elastic(np.zeros((0, 16)), np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        elastic(np.zeros((1, 16)), "seed")


# ----------------------------------------------------------------- recipes


def test_recipes_parse_print_and_round_trip_through_json():
    aug = Augmenter.parse("shift, rotate:10 ,elastic:34:4,affine:max_shear=0.3")
    assert [s.name for s in aug.steps] == ["shift", "rotate", "elastic", "affine"]
    assert aug.steps[3].params == {"max_scale": 0.1, "max_shear": 0.3}
    assert str(aug) == "shift:1,rotate:10,elastic:34:4,affine:0.1:0.3"
    assert Augmenter.parse(str(aug)) == aug
    assert Augmenter.from_json(aug.to_json()) == aug
    assert json.loads(aug.to_json())["steps"][1] == {
        "name": "rotate",
        "params": {"max_degrees": 10},
    }


@pytest.mark.parametrize(
    "recipe, message",
    [
        ("blur", "unknown augmentation step 'blur'"),
        ("blur:3", "unknown augmentation step 'blur'"),
        ("shifts", "only valid as the whole recipe"),
        ("rotate:10:3", "too many values"),
        ("rotate:ten", "not a number"),
        ("elastic:alpha=500", "alpha must be"),
        ("elastic:beta=1", "unknown parameter"),
        ("shift:9", "max_pixels"),
        ("", "empty"),
    ],
)
def test_bad_recipes_are_refused_with_a_reason(recipe, message):
    with pytest.raises(ValueError, match=message):
        Augmenter.parse(recipe)


def test_step_checks_its_parameters():
    with pytest.raises(ValueError, match="sigma"):
        Step("elastic", {"sigma": 0.0})


# ---------------------------------------------------------- build once, cache


def test_build_expanded_caches_with_its_recipe_and_seed(tmp_path, digits28, monkeypatch):
    X, y = digits28
    X, y = X[:40].astype(np.float32), y[:40]
    Xe, ye = build_expanded(X, y, "rotate:10", seed=5, copies=2, cache_dir=tmp_path)
    assert Xe.shape == (120, 784) and Xe.dtype == np.float32
    files = list(tmp_path.glob("expanded-rotate_10-seed5-*.npz"))
    assert len(files) == 1
    Xf, yf, meta = load_expanded(files[0])
    np.testing.assert_array_equal(Xf, Xe)
    np.testing.assert_array_equal(yf, ye)
    assert meta["recipe"] == "rotate:10" and meta["seed"] == 5 and meta["copies"] == 2

    # A second call reads the file instead of rebuilding.
    def boom(*a, **k):
        raise AssertionError("rebuilt instead of read from the cache")

    monkeypatch.setattr(Augmenter, "__call__", boom)
    Xc, yc = build_expanded(X, y, "rotate:10", seed=5, copies=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(Xc, Xe)
    np.testing.assert_array_equal(yc, ye)
    monkeypatch.undo()

    # Another seed is another file; a damaged file is rebuilt and replaced.
    Xs, _ = build_expanded(X, y, "rotate:10", seed=6, copies=2, cache_dir=tmp_path)
    assert not np.array_equal(Xs, Xe) and len(list(tmp_path.glob("*.npz"))) == 2
    files[0].write_bytes(files[0].read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable expanded data set"):
        load_expanded(files[0])
    Xr, _ = build_expanded(X, y, "rotate:10", seed=5, copies=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(Xr, Xe)
    assert load_expanded(files[0])[2]["seed"] == 5
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind

    # An explicit file works the same way; other settings rebuild it.
    out = tmp_path / "mine.npz"
    build_expanded(X, y, "rotate:10", seed=5, copies=2, path=out)
    assert load_expanded(out)[2]["seed"] == 5
    build_expanded(X, y, "rotate:10", seed=9, copies=1, path=out)
    assert load_expanded(out)[2]["seed"] == 9 and load_expanded(out)[0].shape[0] == 80


def test_build_expanded_shifts_accepts_splits(digits28):
    from nndl.data import Dataset, DataSplits

    X, y = digits28
    d = Dataset(X[:10], y[:10])
    splits = DataSplits(d, d, d)
    Xe, ye = build_expanded(splits)  # the book's shifts of the training set
    np.testing.assert_array_equal(Xe, expand_shifts(X[:10], y[:10])[0])
    assert ye.shape == (50,)
    with pytest.raises(ValueError, match="exactly 4 copies"):
        build_expanded(d, recipe="shifts", copies=2)


# -------------------------------------------------------------- on the fly


class _Spy(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_begin(self, trainer, epoch):
        self.seen.append(trainer.epoch_train_data)


def test_augment_callback_trains_on_new_images_each_epoch():
    from nndl.data import load_digits

    splits = load_digits(seed=0)
    X, y = splits.train
    spy = _Spy()
    net = Network([64, 20, 10], seed=0)
    trainer = Trainer(
        net,
        epochs=3,
        mini_batch_size=10,
        learning_rate=0.5,
        seed=1,
        callbacks=[AugmentCallback("shift,rotate:10"), spy],
    )
    history = trainer.fit(X, y, validation_data=splits.validation)
    assert len(history) == 3 and history["val_accuracy"][-1] > 0.5  # it learns (chance: 0.1)
    Xtrain, Ytrain = trainer.train_data
    data = [s for s in spy.seen]
    assert all(d is not None and d[1] is Ytrain for d in data)  # labels kept
    assert not np.array_equal(data[0][0], Xtrain)
    assert not np.array_equal(data[0][0], data[1][0])  # fresh images every epoch
    # Reproducible from the trainer's seed.
    spy2 = _Spy()
    Trainer(
        Network([64, 20, 10], seed=0),
        epochs=1,
        mini_batch_size=10,
        learning_rate=0.5,
        seed=1,
        callbacks=[AugmentCallback("shift,rotate:10"), spy2],
    ).fit(X, y)
    np.testing.assert_array_equal(spy2.seen[0][0], data[0][0])


def test_augment_callback_fraction():
    X = np.random.default_rng(0).random((200, 16)) + 0.1

    class T:
        train_data = (X, np.zeros((200, 2)))
        rng = np.random.default_rng(0)
        epoch_train_data = None

    cb = AugmentCallback("shift", fraction=0.25)
    cb.on_epoch_begin(T, 0)
    changed = np.any(T.epoch_train_data[0] != X, axis=1).mean()
    assert 0.1 < changed < 0.35
    with pytest.raises(ValueError, match="fraction"):
        AugmentCallback("shift", fraction=0.0)


def test_augment_callback_is_one_class_under_both_names():
    import nndl.callbacks
    from nndl.callbacks.augment import AugmentCallback as from_callbacks

    assert AugmentCallback is from_callbacks is nndl.callbacks.AugmentCallback
    assert "AugmentCallback" in expand.__all__
    with pytest.raises(AttributeError, match="no_such_name"):
        expand.no_such_name  # noqa: B018


def test_the_data_package_imports_nothing_from_callbacks_or_training():
    """nndl.data sits below training: importing it loads neither (nndl/__init__ skipped)."""
    import subprocess
    import sys
    from pathlib import Path

    import nndl

    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('nndl'); pkg.__path__ = [sys.argv[1]]\n"
        "sys.modules['nndl'] = pkg\n"
        "import nndl.data, nndl.data.expand\n"
        "print(sorted(m for m in sys.modules if m.startswith(('nndl.callbacks', 'nndl.training'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(nndl.__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------ contact sheet


@pytest.mark.parametrize("recipe", [expand.DEFAULT_PREVIEW_RECIPE, "shifts"])
def test_contact_sheet_writes_a_png(tmp_path, digits28, recipe):
    from PIL import Image

    X, y = digits28
    path = contact_sheet(X, tmp_path / "sheet.png", recipe, n=4, labels=y, title="digits")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        w, h = im.size
    assert w > h  # several columns of transformations, four rows
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]
