"""The bad-input table: each case is refused with a message naming the problem."""

import numpy as np
import pytest

from nndl import Network, TrainConfig, fit

rng = np.random.default_rng(0)
X_OK = rng.random((20, 4))
Y_OK = rng.integers(0, 3, 20)


def _x(**changes):
    X = X_OK.copy()
    for (i, j), v in changes.get("set", {}).items():
        X[i, j] = v
    return X


DATA_CASES = [
    ("nan in X", _x(set={(0, 0): np.nan}), Y_OK, ValueError, "nan or inf"),
    ("inf in X", _x(set={(3, 1): np.inf}), Y_OK, ValueError, "nan or inf"),
    ("empty X", np.zeros((0, 4)), np.zeros(0, dtype=int), ValueError, "empty"),
    ("3-D X", np.zeros((2, 2, 4)), Y_OK[:2], ValueError, "must be 2-D"),
    ("wrong feature count", np.zeros((20, 5)), Y_OK, ValueError, "5 features.*input layer has 4"),
    ("complex X", X_OK.astype(complex), Y_OK, TypeError, "real numeric"),
    ("object X", X_OK.astype(object), Y_OK, TypeError, "real numeric"),
    ("string X", np.array([["a"] * 4] * 20), Y_OK, TypeError, "real numeric"),
    ("label too large", X_OK, np.full(20, 3), ValueError, "out of range.*0..2"),
    ("negative label", X_OK, np.full(20, -1), ValueError, "out of range"),
    ("non-integer label", X_OK, np.full(20, 1.5), ValueError, "must be integers"),
    ("nan label", X_OK, np.full(20, np.nan), ValueError, "nan or inf"),
    ("labels length", X_OK, Y_OK[:10], ValueError, "10 entries but there are 20"),
    ("not one-hot", X_OK, np.ones((20, 3)), ValueError, "one-hot"),
    ("soft one-hot", X_OK, np.full((20, 3), 1 / 3), ValueError, "one-hot"),
    ("targets wrong width", X_OK, np.zeros((20, 4)), ValueError, r"shape \(m, 3\)"),
    ("complex y", X_OK, Y_OK.astype(complex), TypeError, "real numeric"),
]


@pytest.mark.parametrize(
    "X,y,exc,match", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_bad_data_is_refused(X, y, exc, match):
    net = Network([4, 5, 3], seed=0)
    with pytest.raises(exc, match=match):
        fit(net, X, y, epochs=1, learning_rate=0.1)


PARAM_CASES = [
    (
        "negative learning rate",
        dict(learning_rate=-1.0),
        "learning_rate must be a finite number > 0",
    ),
    ("zero learning rate", dict(learning_rate=0.0), "learning_rate must be"),
    ("nan learning rate", dict(learning_rate=float("nan")), "learning_rate must be"),
    ("momentum 1", dict(optimizer="momentum", momentum=1.0), "momentum must be.*< 1"),
    ("negative momentum", dict(optimizer="momentum", momentum=-0.5), "momentum must be"),
    ("mini-batch 0", dict(mini_batch_size=0), "mini_batch_size must be an integer >= 1"),
    ("fractional mini-batch", dict(mini_batch_size=2.5), "mini_batch_size must be an integer"),
    ("negative epochs", dict(epochs=-1), "epochs must be"),
    ("negative l2", dict(l2=-1.0), "l2 must be"),
    ("negative l1", dict(l1=-0.1), "l1 must be"),
    ("unknown optimizer", dict(optimizer="adam"), "unknown training.optimizer .adam."),
    ("unknown monitor", dict(monitor=["val_f1"]), "unknown training.monitor key .val_f1."),
    ("boolean epochs", dict(epochs=True), "epochs must be an integer"),
    ("unknown option", dict(batch=10), "unknown training option"),
]


@pytest.mark.parametrize(
    "kwargs,match", [c[1:] for c in PARAM_CASES], ids=[c[0] for c in PARAM_CASES]
)
def test_bad_hyper_parameters_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fit(Network([4, 3], seed=0), X_OK, Y_OK, **kwargs)


NET_CASES = [
    ("unknown activation", dict(hidden_activation="swish"), "unknown activation"),
    ("unknown cost", dict(cost="hinge"), "unknown cost"),
    ("unknown initializer", dict(initializer="orthogonal"), "unknown initializer"),
    ("dropout 1", dict(dropout=1.0), r"dropout must be.*< 1"),
    ("negative dropout", dict(dropout=-0.1), "dropout must be"),
    ("float64 only", dict(dtype="float16"), "dtype must be one of"),
]


@pytest.mark.parametrize("kwargs,match", [c[1:] for c in NET_CASES], ids=[c[0] for c in NET_CASES])
def test_bad_network_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Network([4, 5, 3], **kwargs)


@pytest.mark.parametrize("sizes", [[4], [4, 0, 3], [4, -2], [4, 2.5], "784,30,10", [4, True]])
def test_bad_sizes_are_refused(sizes):
    with pytest.raises((ValueError, TypeError), match="sizes"):
        Network(sizes)


def test_validation_monitoring_without_validation_data():
    with pytest.raises(ValueError, match="needs validation_data"):
        fit(Network([4, 3], seed=0), X_OK, Y_OK, monitor=["val_loss"])


def test_config_round_trips_through_json():
    cfg = TrainConfig(
        epochs=3,
        learning_rate=0.25,
        l2=5.0,
        optimizer="nesterov",
        momentum=0.9,
        seed=4,
        monitor=["loss", "val_accuracy"],
    ).validate()
    import json

    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
