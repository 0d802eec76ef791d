"""nndl.sklearn.NetworkClassifier: scikit-learn's estimator checks and real use."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nndl.sklearn import NetworkClassifier

# Every check of scikit-learn's suite applies and passes, so no check is
# listed as an expected failure. (The two that scikit-learn itself skips need
# pandas or SCIPY_ARRAY_API, which are not ours to require.)
ESTIMATORS = [
    NetworkClassifier(),
    NetworkClassifier(
        hidden_layer_sizes=(20, 10),
        cost="log_likelihood",
        activation="tanh",
        momentum=0.5,
        dropout=0.1,
        l2=0.1,
        epochs=10,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_params_round_trip_and_clone():
    from sklearn.base import clone

    est = NetworkClassifier(hidden_layer_sizes=(5,), learning_rate=0.1, random_state=3)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (5,) and params["learning_rate"] == 0.1
    expected = {
        "hidden_layer_sizes",
        "activation",
        "cost",
        "learning_rate",
        "l2",
        "l1",
        "dropout",
        "momentum",
        "optimizer",
        "mini_batch_size",
        "epochs",
        "initializer",
        "dtype",
        "random_state",
    }
    assert set(params) == expected
    est.set_params(l2=2.0, epochs=3)
    assert clone(est).get_params()["l2"] == 2.0


def test_string_labels_and_probabilities(digits):
    X, y = digits
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    est = NetworkClassifier(epochs=5, random_state=0).fit(X / 16, names[y])
    assert list(est.classes_) == sorted(names)
    proba = est.predict_proba(X[:50] / 16)
    assert proba.shape == (50, 10)
    assert np.allclose(proba.sum(axis=1), 1.0)
    pred = est.predict(X[:50] / 16)
    assert np.array_equal(pred, est.classes_[np.argmax(proba, axis=1)])
    assert est.score(X / 16, names[y]) > 0.8


def test_same_random_state_same_model(digits):
    X, y = digits
    a = NetworkClassifier(epochs=2, random_state=7, dropout=0.2).fit(X / 16, y)
    b = NetworkClassifier(epochs=2, random_state=7, dropout=0.2).fit(X / 16, y)
    for wa, wb in zip(a.network_.get_params(), b.network_.get_params(), strict=True):
        assert np.array_equal(wa, wb)


def test_pipeline_cross_validation_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(MinMaxScaler(), NetworkClassifier(epochs=5, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    search = GridSearchCV(
        NetworkClassifier(epochs=3, random_state=0),
        {"learning_rate": [0.001, 1.0]},
        cv=2,
    ).fit(X / 16, y)
    assert search.best_params_ == {"learning_rate": 1.0}


@pytest.mark.parametrize(
    "params, err, match",
    [
        ({"learning_rate": -1.0}, ValueError, "learning_rate must be a finite number > 0"),
        ({"momentum": 1.0}, ValueError, "momentum must be"),
        ({"dropout": 1.0}, ValueError, "dropout must be"),
        ({"activation": "softplus"}, ValueError, "unknown activation"),
        ({"hidden_layer_sizes": "30"}, TypeError, "hidden_layer_sizes"),
        ({"mini_batch_size": 0}, ValueError, "mini_batch_size must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_refused_at_fit(params, err, match):
    X = np.random.default_rng(0).random((20, 3))
    y = np.arange(20) % 2
    with pytest.raises(err, match=match):
        NetworkClassifier(**params).fit(X, y)
