"""Saturation diagnostics: by hand, on saturated and healthy networks, in training, plotted."""

import numpy as np
import pytest

from nndl import Network, Trainer
from nndl.callbacks import Diagnostics
from nndl.diagnostics import (
    diagnose,
    gradient_norms,
    layer_saturation,
    plot_diagnostics,
    sample_rows,
    saturation_threshold,
)


def one_neuron_chain(hidden="sigmoid"):
    """[1, 1, 1] with w = 1, b = 0: z^1 = x exactly."""
    net = Network([1, 1, 1], hidden_activation=hidden, seed=0)
    for p in net.params():
        p[...] = 0.0
    net.weights[0][...] = 1.0
    return net


@pytest.mark.parametrize(
    ("hidden", "threshold", "xs", "expected"),
    [
        ("sigmoid", 4.0, [1, 3, 5, -6], 0.5),  # |z| > 4: 5 and -6
        ("sigmoid", 2.0, [1, 3, 5, -6], 0.75),
        ("sigmoid", 4.0, [4.0, -4.0], 0.0),  # the threshold itself is not beyond it
        ("tanh", 4.0, [1, 3, 5, -6], 0.75),  # tanh uses threshold / 2 = 2
        ("tanh", 8.0, [1, 3, 5, -6], 0.5),
    ],
)
def test_saturated_fraction_by_hand(hidden, threshold, xs, expected):
    net = one_neuron_chain(hidden)
    X = np.array(xs, dtype=float)[:, None]
    row = layer_saturation(net, X, threshold=threshold)[0]
    assert row["saturated"] == expected
    assert row["activation"] == hidden
    prime = net.hidden_activations[0].prime(X[:, 0])
    assert row["mean_prime"] == pytest.approx(np.mean(prime), rel=1e-15)
    assert row["mean_abs_z"] == pytest.approx(np.mean(np.abs(xs)))


def test_thresholds_per_activation():
    assert saturation_threshold("sigmoid") == 4.0
    assert saturation_threshold("tanh") == 2.0
    assert saturation_threshold("tanh", 6.0) == 3.0
    assert saturation_threshold("relu") is None
    assert saturation_threshold("softmax") is None


def test_non_saturating_layers_have_no_saturation_key():
    net = Network([3, 4, 2], hidden_activation="relu", cost="log_likelihood", seed=0)
    d = diagnose(net, np.ones((5, 3)), np.array([0, 1, 0, 1, 1]))
    assert "sat_1" not in d and "sat_2" not in d  # relu and softmax do not saturate
    assert "mean_prime_1" in d and "mean_prime_2" not in d  # softmax has no f'
    assert {"w_norm_1", "w_norm_2", "grad_norm_1", "grad_norm_2"} <= set(d)


@pytest.fixture(scope="module")
def inputs():
    # MNIST-like: 784 inputs in [0, 1]
    rng = np.random.default_rng(0)
    X = rng.random((300, 784))
    y = rng.integers(0, 10, 300)
    return X, y


def test_large_initialization_saturates_default_does_not(inputs):
    X, y = inputs
    # N(0, 1) weights over 784 inputs in [0, 1]: z has a std of about sqrt(784 / 3) = 16.
    big = diagnose(Network([784, 30, 10], initializer="large", seed=0), X, y)
    # N(0, 1/784): z has a std of about sqrt(1/3 + 1) = 1.15.
    fine = diagnose(Network([784, 30, 10], seed=0), X, y)
    assert big["sat_1"] > 0.7
    assert fine["sat_1"] < 0.05
    assert big["mean_prime_1"] < 0.05 < 0.15 < fine["mean_prime_1"]
    assert big["w_norm_1"] > 20 * fine["w_norm_1"]
    # Relative to the weights, the saturated layer hardly moves: each step changes
    # ||W^1|| by eta * grad_norm_1 / w_norm_1, a fraction 20 times smaller.
    rel_big = big["grad_norm_1"] / big["w_norm_1"]
    rel_fine = fine["grad_norm_1"] / fine["w_norm_1"]
    assert rel_big < rel_fine / 20


def test_norms_match_direct_computation(inputs):
    X, y = inputs
    net = Network([784, 30, 10], seed=1)
    d = diagnose(net, X[:50], y[:50], l2=5.0, n=1000)
    for l, w in enumerate(net.weights, start=1):
        assert d[f"w_norm_{l}"] == pytest.approx(np.linalg.norm(w), rel=1e-14)
    Y = net.check_y(y[:50], 50)
    nabla_w, _ = net.backprop(net.check_X(X[:50]), Y)
    for l, (g, w) in enumerate(zip(nabla_w, net.weights, strict=True), start=1):
        expected = np.linalg.norm(g + 5.0 / 1000 * w)  # dC/dW + (lambda / n) W
        assert d[f"grad_norm_{l}"] == pytest.approx(expected, rel=1e-12)
    assert gradient_norms(net, X[:50], y[:50]) == pytest.approx(
        [np.linalg.norm(g) for g in nabla_w], rel=1e-12
    )


def test_diagnose_changes_nothing(inputs):
    X, y = inputs
    net = Network([784, 30, 10], seed=0)
    before = net.get_params()
    Xc = X.copy()
    diagnose(net, X, y, l2=1.0)
    for a, b in zip(before, net.get_params(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, Xc)


def test_bad_arguments():
    net = Network([2, 2], seed=0)
    with pytest.raises(ValueError, match="threshold must be"):
        diagnose(net, np.zeros((2, 2)), threshold=0)
    with pytest.raises(ValueError, match="features"):
        diagnose(net, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="sample must be"):
        Diagnostics(sample=0)
    with pytest.raises(ValueError, match="data must be"):
        Diagnostics(data="test")


def test_sample_rows():
    assert list(sample_rows(5, None)) == [0, 1, 2, 3, 4]
    assert list(sample_rows(5, 10)) == [0, 1, 2, 3, 4]
    idx = sample_rows(1000, 50, seed=3)
    assert len(set(idx)) == 50 and list(idx) == sorted(idx)
    np.testing.assert_array_equal(idx, sample_rows(1000, 50, seed=3))


def train_with_diagnostics(inputs, **kw):
    X, y = inputs
    diag = Diagnostics(sample=100, **kw)
    t = Trainer(
        Network([784, 30, 10], initializer="large", cost="quadratic", seed=0),
        epochs=3,
        mini_batch_size=10,
        learning_rate=0.5,
        seed=0,
        callbacks=[diag],
    )
    t.fit(X[:200], y[:200], (X[200:], y[200:]))
    return t, diag


def test_diagnostics_in_the_history(inputs):
    t, diag = train_with_diagnostics(inputs)
    h = t.history
    for key in ("sat_1", "sat_2", "mean_prime_1", "mean_prime_2", "w_norm_1", "grad_norm_2"):
        assert len(h[key]) == 3, key
    assert diag.initial is not None and diag.initial["sat_1"] > 0.7
    cols = h.to_dict()
    assert all(len(v) == 3 for v in cols.values())


def test_diagnostics_every_k_epochs(inputs):
    t, _ = train_with_diagnostics(inputs, every=2, data="validation")
    cols = t.history.to_dict()
    assert len(t.history["sat_1"]) == 1
    assert np.isnan(cols["sat_1"][0]) and not np.isnan(cols["sat_1"][1])


def test_plot_diagnostics_writes_a_png(inputs, tmp_path):
    pytest.importorskip("matplotlib")
    t, _ = train_with_diagnostics(inputs)
    path = plot_diagnostics(t.history, tmp_path / "figs" / "diag.png", title="large init")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["diag.png"]  # no temporary left
    again = plot_diagnostics(t.history.to_dict(), tmp_path / "cols.png")
    assert again.stat().st_size > 1000


def test_plot_diagnostics_without_diagnostics_says_so(tmp_path):
    with pytest.raises(ValueError, match="Diagnostics callback"):
        plot_diagnostics({"epoch": [0], "val_accuracy": [0.5]}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="history must be"):
        plot_diagnostics([1, 2], tmp_path / "x.png")
