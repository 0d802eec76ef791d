import numpy as np
import pytest

from nndl import Network, fit
from nndl.fullbatch import METHODS, minimize_full_batch

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def small_digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.mark.parametrize("method", METHODS)
def test_full_batch_methods_lower_the_cost(small_digits, method):
    X, y = small_digits
    net = Network([64, 10, 10], seed=0)
    before = net.cost_value(X, y, l2=1.0)
    # Newton-CG does many inner CG iterations per step: a few steps suffice.
    iters = 3 if method == "Newton-CG" else 30
    res = minimize_full_batch(net, X, y, method=method, l2=1.0, max_iter=iters)
    after = net.cost_value(X, y, l2=1.0)
    assert after < 0.5 * before
    assert res.fun == pytest.approx(after, rel=1e-9)


def test_lbfgs_beats_a_few_sgd_epochs_of_same_gradient_count(small_digits):
    X, y = small_digits
    a = Network([64, 10, 10], seed=0)
    minimize_full_batch(a, X, y, max_iter=100)
    b = Network([64, 10, 10], seed=0)
    fit(b, X, y, epochs=3, mini_batch_size=len(X), learning_rate=0.5, seed=0)
    assert a.cost_value(X, y) < b.cost_value(X, y)


def test_bad_method_and_dtype():
    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match="unknown full-batch method"):
        minimize_full_batch(Network([4, 2]), X, [0, 1, 0], method="adam")
    with pytest.raises(ValueError, match="float64"):
        minimize_full_batch(Network([4, 2], dtype="float32"), X, [0, 1, 0])
