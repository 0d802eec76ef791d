"""Network behaviour: initialization, pairing, dropout, determinism, learning."""

import numpy as np
import pytest

from nndl import DivergenceError, Network, Trainer, fit
from nndl.callbacks import LambdaCallback


@pytest.fixture(scope="module")
def digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    return (X[:1300], y[:1300]), (X[1300:], y[1300:])


def test_default_initializer_scales_with_fan_in():
    net = Network([1000, 200, 10], seed=0)
    assert net.weights[0].std() == pytest.approx(1 / np.sqrt(1000), rel=0.02)
    assert net.biases[0].std() == pytest.approx(1.0, rel=0.15)
    large = Network([1000, 200, 10], initializer="large", seed=0)
    assert large.weights[0].std() == pytest.approx(1.0, rel=0.02)


def test_saturation_argument_of_the_chapter():
    # 1000 inputs, half of them 1: sd of z is ~sqrt(501) with N(0,1) weights
    # and ~sqrt(3/2) with the default scheme.
    x = np.zeros((1, 1000))
    x[0, :500] = 1
    zs_large, zs_default = [], []
    for seed in range(300):
        zs_large.append(Network([1000, 1], initializer="large", seed=seed).output_z(x)[0, 0])
        zs_default.append(Network([1000, 1], seed=seed).output_z(x)[0, 0])
    assert np.std(zs_large) == pytest.approx(np.sqrt(501), rel=0.15)
    assert np.std(zs_default) == pytest.approx(np.sqrt(1.5), rel=0.15)


@pytest.mark.parametrize("name", ["glorot", "he"])
def test_other_initializers_have_zero_biases(name):
    net = Network([50, 20, 10], initializer=name, seed=0)
    assert all(not b.any() for b in net.biases)


@pytest.mark.parametrize(
    "cost,out",
    [
        ("log_likelihood", "sigmoid"),
        ("cross_entropy", "softmax"),
        ("quadratic", "softmax"),
        ("cross_entropy", "linear"),
    ],
)
def test_invalid_output_cost_pairs_are_refused(cost, out):
    with pytest.raises(ValueError, match="cannot be paired"):
        Network([4, 3], cost=cost, output_activation=out)


def test_softmax_is_not_a_hidden_activation():
    with pytest.raises(ValueError, match="cannot be a hidden activation"):
        Network([4, 3, 2], hidden_activation="softmax")


def test_per_layer_activations_and_repr():
    net = Network([4, 5, 6, 2], hidden_activation=["tanh", "relu"], cost="log_likelihood")
    assert [a.name for a in net.activations] == ["tanh", "relu", "softmax"]
    assert "log_likelihood" in repr(net)
    with pytest.raises(ValueError, match="hidden layers"):
        Network([4, 5, 2], hidden_activation=["tanh", "relu"])


def test_same_seed_gives_bitwise_identical_weights(digits):
    (X, y), _ = digits
    nets = []
    for _ in range(2):
        net = Network([64, 20, 10], dropout=0.2, seed=5)
        fit(
            net,
            X[:300],
            y[:300],
            epochs=2,
            mini_batch_size=10,
            learning_rate=0.5,
            l2=1.0,
            optimizer="momentum",
            momentum=0.5,
            seed=9,
        )
        nets.append(net)
    for a, b in zip(nets[0].params(), nets[1].params(), strict=True):
        assert np.array_equal(a, b)
    other = Network([64, 20, 10], dropout=0.2, seed=5)
    fit(other, X[:300], y[:300], epochs=2, mini_batch_size=10, learning_rate=0.5, seed=10)
    assert not np.array_equal(other.weights[0], nets[0].weights[0])


def test_predictions_do_not_depend_on_batch_size_or_order(digits):
    (X, _), _ = digits
    net = Network([64, 30, 10], seed=1)
    p_all = net.predict_proba(X)
    p_small = net.predict_proba(X, batch_size=7)
    np.testing.assert_allclose(p_small, p_all, rtol=1e-12)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(net.predict_proba(X[order]), p_all[order], rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X[order]), net.predict(X)[order])


def test_dropout_is_never_active_at_evaluation(digits):
    (X, y), _ = digits
    net = Network([64, 30, 10], dropout=0.5, seed=0)
    a = net.predict_proba(X[:50])
    b = net.predict_proba(X[:50])
    np.testing.assert_array_equal(a, b)
    no_drop = Network([64, 30, 10], seed=0)
    no_drop.set_params(net.get_params())
    np.testing.assert_array_equal(no_drop.predict_proba(X[:50]), a)
    assert net.cost_value(X[:50], y[:50]) == no_drop.cost_value(X[:50], y[:50])


def test_dropout_mask_keeps_expected_activation():
    net = Network([3, 1000, 2], dropout=0.3, seed=0)
    masks = net.sample_dropout_masks(200, np.random.default_rng(0))
    assert masks[0].shape == (200, 1000)
    assert set(np.unique(masks[0])) == {0.0, 1 / 0.7}
    assert masks[0].mean() == pytest.approx(1.0, abs=0.01)
    assert (masks[0] == 0).mean() == pytest.approx(0.3, abs=0.01)


def test_larger_lambda_gives_smaller_weights(digits):
    (X, y), _ = digits
    norms = []
    for lmbda in [0.0, 5.0, 50.0]:
        net = Network([64, 30, 10], seed=0)
        fit(net, X, y, epochs=3, mini_batch_size=10, learning_rate=0.5, l2=lmbda, seed=0)
        norms.append(sum(float(np.sum(w * w)) for w in net.weights))
    assert norms[0] > norms[1] > norms[2]


def test_learns_digits_above_90_percent(digits):
    (X, y), (Xv, yv) = digits
    net = Network([64, 30, 10], seed=0)
    hist = fit(
        net,
        X,
        y,
        epochs=20,
        mini_batch_size=10,
        learning_rate=0.5,
        l2=1.0,
        validation_data=(Xv, yv),
        monitor=["loss", "accuracy", "val_loss", "val_accuracy"],
        seed=0,
    )
    assert hist["val_accuracy"][-1] >= 0.90
    assert hist["loss"][-1] < hist["loss"][0]
    assert len(hist["val_loss"]) == len(hist["accuracy"]) == 20
    assert net.accuracy(Xv, yv) == hist["val_accuracy"][-1]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(hidden_activation="relu", cost="log_likelihood", initializer="he"),
        dict(hidden_activation="tanh", cost="quadratic"),
        dict(optimizer="nesterov", momentum=0.9, learning_rate=0.1),
        dict(dropout=0.2, l1=0.5),
        dict(dtype="float32"),
    ],
    ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()),
)
def test_variants_learn_digits(digits, kwargs):
    (X, y), (Xv, yv) = digits
    net_keys = {"hidden_activation", "cost", "initializer", "dropout", "dtype"}
    net = Network([64, 30, 10], seed=0, **{k: v for k, v in kwargs.items() if k in net_keys})
    train = {"epochs": 10, "mini_batch_size": 10, "learning_rate": 0.5, "seed": 0}
    train.update({k: v for k, v in kwargs.items() if k not in net_keys})
    fit(net, X, y, **train)
    assert net.accuracy(Xv, yv) > 0.85


def test_float32_stays_float32(digits):
    (X, y), _ = digits
    net = Network([64, 10, 10], dtype="float32", seed=0)
    fit(net, X[:100], y[:100], epochs=1, mini_batch_size=10, learning_rate=0.5, l2=1.0, seed=0)
    assert all(p.dtype == np.float32 for p in net.params())
    assert net.predict_proba(X[:5]).dtype == np.float32


def test_caller_data_is_never_changed(digits):
    (X, y), _ = digits
    X0, y0 = X.copy(), y.copy()
    fit(Network([64, 10, 10], seed=0), X, y, epochs=1, learning_rate=0.5, seed=0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_divergence_stops_with_a_clear_error(digits):
    (X, y), _ = digits
    net = Network(
        [64, 30, 10], hidden_activation="relu", cost="quadratic", output_activation="linear", seed=0
    )
    with pytest.raises(DivergenceError, match=r"epoch 1 .*learning rate"):
        fit(net, X * 1e150, y, epochs=3, learning_rate=10.0, seed=0)


def test_callbacks_see_every_epoch_and_batch(digits):
    (X, y), _ = digits
    seen = {"batches": 0, "epochs": []}

    def on_batch_end(trainer, batch):
        seen["batches"] += 1

    def on_epoch_end(trainer, epoch, logs):
        seen["epochs"].append(epoch)
        if epoch == 1:
            trainer.stop_training = True

    trainer = Trainer(
        Network([64, 10, 10], seed=0),
        epochs=5,
        mini_batch_size=50,
        learning_rate=0.5,
        seed=0,
        callbacks=[LambdaCallback(on_batch_end=on_batch_end, on_epoch_end=on_epoch_end)],
    )
    trainer.fit(X[:200], y[:200])
    assert seen == {"batches": 8, "epochs": [0, 1]}


def test_last_mini_batch_may_be_smaller(digits):
    (X, y), _ = digits
    net = Network([64, 10, 10], seed=0)
    fit(net, X[:23], y[:23], epochs=1, mini_batch_size=10, learning_rate=0.5, seed=0)
    assert np.isfinite(net.weights[0]).all()


def test_single_output_regression_targets():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = X[:, 0] - 0.5 * X[:, 1]
    net = Network(
        [2, 8, 1], hidden_activation="tanh", cost="quadratic", output_activation="linear", seed=0
    )
    hist = fit(
        net, X, y, epochs=30, mini_batch_size=10, learning_rate=0.05, seed=0, monitor=["loss"]
    )
    assert hist["loss"][-1] < 0.01


@pytest.mark.parametrize("cost", ["cross_entropy", "log_likelihood", "quadratic"])
def test_evaluate_matches_cost_value_and_accuracy(cost):
    rng = np.random.default_rng(5)
    net = Network([6, 5, 4], cost=cost, seed=2)
    X = rng.random((37, 6))
    y = rng.integers(0, 4, 37)
    got = net.evaluate(X, y, l2=0.3, l1=0.1, n=100, batch_size=8)
    assert got["loss"] == pytest.approx(net.cost_value(X, y, l2=0.3, l1=0.1, n=100), rel=1e-12)
    assert got["accuracy"] == net.accuracy(X, y)
    assert net.evaluate(X, y, cost=False) == {"accuracy": net.accuracy(X, y)}
    assert set(net.evaluate(X, y, accuracy=False)) == {"loss"}


def test_the_books_methods_point_to_network2():
    from nndl import network

    net = network.Network([3, 2, 2], seed=0)
    with pytest.raises(AttributeError, match=r"'SGD'.*nndl\.network2.*net\.SGD\("):
        net.SGD([], 1, 1, 0.5)
    with pytest.raises(AttributeError, match=r"^'Network' object has no attribute 'nope'$"):
        net.nope  # noqa: B018
    assert hasattr(net, "feedforward") and not hasattr(net, "update_mini_batch")
