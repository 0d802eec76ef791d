"""Costs and activations: formulas, stability on saturated outputs, softmax properties."""

import numpy as np
import pytest

from nndl.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, get_activation, sigmoid, softmax
from nndl.costs import COSTS, CrossEntropy, LogLikelihood, Quadratic, get_cost

EXTREME = [1e3, -1e3, 1e9, -1e9]


def naive_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_activation_prime_matches_central_difference(name):
    act = get_activation(name)
    z = np.linspace(-4, 4, 41) + 0.013  # avoid the ReLU kink at 0
    eps = 1e-6
    num = (act.fn(z + eps) - act.fn(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.prime(z), num, rtol=1e-6, atol=1e-8)


def test_sigmoid_matches_naive_formula_and_never_warns():
    z = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(sigmoid(z), naive_sigmoid(z), rtol=1e-12, atol=1e-15)
    with np.errstate(all="raise"):
        s = sigmoid(np.array([-1e300, -1e9, -800.0, 800.0, 1e9, 1e300, -np.inf, np.inf]))
    assert np.all(s[[0, 1, 2, 6]] == 0.0) and np.all(s[[3, 4, 5, 7]] == 1.0)
    with np.errstate(all="raise"):
        s32 = sigmoid(np.array([-np.inf, -1e30, -200.0, 100.0, np.inf], dtype=np.float32))
    assert s32.dtype == np.float32 and np.all(s32[:3] == 0.0) and np.all(s32[3:] == 1.0)
    # Where 1 + tanh(z/2) would cancel, the value keeps its relative precision.
    np.testing.assert_allclose(
        sigmoid(np.array([-40.0, -100.0])), np.exp([-40.0, -100.0]), rtol=1e-12
    )
    assert sigmoid(0.0) == 0.5 and isinstance(sigmoid(0.0), np.float64)


def test_tanh_sigmoid_identity():
    z = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(sigmoid(z), (1 + np.tanh(z / 2)) / 2)


@pytest.mark.parametrize("zval", EXTREME)
@pytest.mark.parametrize("yval", [0.0, 1.0])
def test_cross_entropy_finite_for_extreme_z(zval, yval):
    cost = CrossEntropy()
    z = np.array([[zval, -zval]])
    y = np.array([[yval, 1 - yval]])
    with np.errstate(all="raise"):
        c = cost.per_example(z, y)
        d = cost.delta(z, sigmoid(z), y)
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(d))
    # A correct saturated output costs 0, a wrong one about |z| per neuron.
    right = (zval > 0) == (yval == 1)
    expected = 0.0 if right else 2 * abs(zval)
    assert c[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_cross_entropy_matches_naive_formula_in_normal_range():
    rng = np.random.default_rng(0)
    z = rng.uniform(-20, 20, size=(50, 10))
    y = rng.random((50, 10))
    a = naive_sigmoid(z)
    naive = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)
    np.testing.assert_allclose(CrossEntropy().per_example(z, y), naive, rtol=1e-7)


def test_cross_entropy_saturated_output_equal_to_target_is_zero_not_nan():
    # a == y exactly in floating point: the naive formula gives 0 * log(0) = nan.
    z = np.array([[800.0, -800.0]])
    y = np.array([[1.0, 0.0]])
    with np.errstate(all="raise"):
        assert CrossEntropy().per_example(z, y)[0] == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize("zval", EXTREME)
def test_log_likelihood_finite_for_extreme_z(zval):
    cost = LogLikelihood()
    z = np.array([[zval, 0.0, -zval]])
    y = np.array([[0.0, 1.0, 0.0]])
    with np.errstate(all="raise"):
        c = cost.per_example(z, y)
        d = cost.delta(z, softmax(z), y)
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(d))
    assert c[0] == pytest.approx(abs(zval), rel=1e-9)


def test_log_likelihood_matches_naive_formula():
    rng = np.random.default_rng(1)
    z = rng.uniform(-20, 20, size=(40, 10))
    labels = rng.integers(0, 10, 40)
    y = np.eye(10)[labels]
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    naive = -np.log(a[np.arange(40), labels])
    np.testing.assert_allclose(LogLikelihood().per_example(z, y), naive, rtol=1e-9)


@pytest.mark.parametrize("cost", [CrossEntropy(), LogLikelihood()])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_z_is_a_clear_error(cost, bad):
    z = np.array([[bad, 0.0]])
    y = np.array([[1.0, 0.0]])
    with pytest.raises(ValueError, match="non-finite"):
        cost.per_example(z, y)


def test_quadratic_delta_has_the_sigma_prime_factor():
    z = np.array([[2.0, -1.0]])
    y = np.array([[0.0, 1.0]])
    sig = get_activation("sigmoid")
    a = sig.fn(z)
    np.testing.assert_allclose(Quadratic().delta(z, a, y, sig), (a - y) * a * (1 - a))
    lin = get_activation("linear")
    np.testing.assert_allclose(Quadratic().delta(z, z, y, lin), z - y)


def test_softmax_rows_sum_to_one_and_shift_invariant():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=30, size=(20, 10))
    a = softmax(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)
    np.testing.assert_allclose(softmax(z + 123.4), a, rtol=1e-10, atol=1e-300)
    assert np.all(a > 0)


def test_softmax_monotonic_and_non_local():
    z = np.array([1.0, 2.0, 3.0, 4.0])
    a = softmax(z)
    z2 = z.copy()
    z2[3] += 1
    b = softmax(z2)
    assert b[3] > a[3]  # raising z_j raises a_j
    assert np.all(b[:3] < a[:3])  # ... and lowers every other output


def test_softmax_temperature_tends_to_hard_max():
    z = np.array([1.0, 2.0, 3.0, 2.5])
    np.testing.assert_allclose(softmax(z, c=1000.0), [0, 0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(softmax(z, c=0.0), [0.25] * 4)


def test_softmax_extreme_values_no_warning():
    with np.errstate(all="raise"):
        a = softmax(np.array([[1e9, -1e9, 0.0]]))
    assert a[0, 0] == 1.0


def test_registries_and_unknown_names():
    assert set(COSTS) == {"quadratic", "cross_entropy", "log_likelihood"}
    assert {"sigmoid", "tanh", "relu", "linear", "softmax"} <= set(ACTIVATIONS)
    with pytest.raises(ValueError, match="unknown cost"):
        get_cost("hinge")
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("swish")
    assert get_cost("CrossEntropyCost").name == "cross_entropy"
    assert repr(CrossEntropy()) == "CrossEntropy()"


def test_softmax_has_no_elementwise_derivative():
    with pytest.raises(TypeError, match="log-likelihood"):
        get_activation("softmax").prime(np.zeros(3))
