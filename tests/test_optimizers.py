"""Optimizers against their formulas, one SGD step by hand, convergence on a quadratic."""

import numpy as np
import pytest

from nndl import Network, fit
from nndl.optimizers import OPTIMIZERS, SGD, Momentum, Nesterov, Optimizer, get_optimizer


def test_single_sgd_step_worked_by_hand():
    # One sigmoid neuron, input 1, target 0, (w, b) = (0.6, 0.9), cross-entropy:
    # z = 1.5, a = sigma(1.5) = 0.8175744761936437, delta = a - y = a,
    # dC/dw = delta * x = a, dC/db = a. With eta = 0.5 and lambda = 1, n = 1:
    # w <- (1 - 0.5 * 1 / 1) * 0.6 - 0.5 * a = 0.3 - 0.40878723809682186
    # b <- 0.9 - 0.5 * a                   = 0.9 - 0.40878723809682186
    net = Network([1, 1], cost="cross_entropy")
    net.weights[0][...] = 0.6
    net.biases[0][...] = 0.9
    fit(
        net,
        np.array([[1.0]]),
        np.array([[0.0]]),
        epochs=1,
        mini_batch_size=1,
        learning_rate=0.5,
        l2=1.0,
        seed=0,
    )
    assert net.weights[0][0, 0] == pytest.approx(0.3 - 0.40878723809682186, abs=1e-15)
    assert net.biases[0][0] == pytest.approx(0.9 - 0.40878723809682186, abs=1e-15)


def test_l1_step_uses_sign_with_sign_of_zero_zero():
    net = Network([2, 1], cost="quadratic", output_activation="linear")
    net.weights[0][...] = [[0.5, 0.0]]
    net.biases[0][...] = 0.0
    # x = (0, 0): the data gradient on the weights is zero, only the L1 term acts.
    fit(
        net,
        np.zeros((1, 2)),
        np.zeros((1, 1)),
        epochs=1,
        mini_batch_size=1,
        learning_rate=0.1,
        l1=2.0,
        seed=0,
    )
    # w <- w - eta * lambda / n * sgn(w) = 0.5 - 0.1 * 2 = 0.3; sgn(0) = 0 keeps 0.
    np.testing.assert_allclose(net.weights[0], [[0.3, 0.0]], atol=1e-15)


def _grads_and_params(seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 2)), rng.normal(size=3)]
    grads = [rng.normal(size=(3, 2)), rng.normal(size=3)]
    return params, grads


def test_sgd_formula():
    params, grads = _grads_and_params()
    expect = [p - 0.3 * g for p, g in zip(params, grads, strict=True)]
    SGD().step(params, [g.copy() for g in grads], 0.3)
    for p, e in zip(params, expect, strict=True):
        np.testing.assert_allclose(p, e)


def test_momentum_formula_over_two_steps():
    params, grads = _grads_and_params()
    mu, eta = 0.9, 0.1
    w = [p.copy() for p in params]
    v = [np.zeros_like(p) for p in params]
    opt = Momentum(mu)
    for step in range(2):
        g = [gg * (step + 1) for gg in grads]
        v = [mu * vv - eta * gg for vv, gg in zip(v, g, strict=True)]
        w = [ww + vv for ww, vv in zip(w, v, strict=True)]
        opt.step(params, [gg.copy() for gg in g], eta)
    for p, e in zip(params, w, strict=True):
        np.testing.assert_allclose(p, e)


def test_nesterov_evaluates_the_gradient_at_the_lookahead_point():
    # Gradient of f(w) = 1/2 w^T A w is A w: check v <- mu v - eta A (w + mu v).
    A = np.diag([1.0, 3.0])
    mu, eta = 0.8, 0.1
    w_ref = np.array([1.0, -2.0])
    v_ref = np.zeros(2)
    w = [w_ref.copy()]
    opt = Nesterov(mu)
    for _ in range(5):
        v_ref = mu * v_ref - eta * A @ (w_ref + mu * v_ref)
        w_ref = w_ref + v_ref
        opt.before_gradient(w)
        g = [A @ w[0]]
        opt.step(w, g, eta)
        np.testing.assert_allclose(w[0], w_ref, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_converges_on_a_quadratic(name):
    A = np.diag([1.0, 10.0])
    opt = get_optimizer(name, 0.0 if name == "sgd" else 0.5)
    w = [np.array([3.0, -2.0])]
    for _ in range(300):
        opt.before_gradient(w)
        opt.step(w, [A @ w[0]], 0.05)
    assert np.linalg.norm(w[0]) < 1e-6


def test_momentum_zero_is_plain_sgd():
    params, grads = _grads_and_params()
    p2 = [p.copy() for p in params]
    Momentum(0.0).step(params, [g.copy() for g in grads], 0.2)
    SGD().step(p2, [g.copy() for g in grads], 0.2)
    for a, b in zip(params, p2, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_momentum_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="momentum must be"):
        get_optimizer("momentum", bad)


def test_unknown_optimizer_and_sgd_with_momentum():
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer("adam")
    with pytest.raises(ValueError, match="momentum must be 0"):
        get_optimizer("sgd", 0.9)


def test_state_dict_round_trip():
    params, grads = _grads_and_params()
    opt = Momentum(0.9)
    opt.step(params, [g.copy() for g in grads], 0.1)
    other = Momentum(0.9)
    other.load_state_dict(opt.state_dict())
    for a, b in zip(opt.velocities, other.velocities, strict=True):
        np.testing.assert_array_equal(a, b)


def _train_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8)), rng.integers(0, 3, n)


_PENALTIES = {"l2": 3.0, "l1": 0.5}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trainer_epoch_is_the_update_written_out_bit_for_bit(name, dtype):
    # One epoch by hand, drawing from the generator as the trainer does (a
    # permutation, then dropout masks per mini-batch): plain SGD as the chapter
    # writes it, w -> (1 - eta lambda2/n) w - (eta lambda1/n) sgn(w) - (eta/m) sum dC/dw,
    # the others as v <- mu v - eta g with g the penalized mean gradient.
    X, y = _train_data()
    n, m, eta, mu = len(X), 10, 0.5, 0.0 if name == "sgd" else 0.9
    lmbda2, lmbda1 = _PENALTIES["l2"], _PENALTIES["l1"]
    net = Network([8, 6, 5, 3], dropout=0.25, dtype=dtype, seed=1)
    ref = net.copy()
    fit(
        net,
        X,
        y,
        epochs=1,
        mini_batch_size=m,
        learning_rate=eta,
        optimizer=name,
        momentum=mu,
        seed=4,
        engine="numpy",  # the NumPy path, bit for bit (tests/test_kernels.py: the compiled one)
        **_PENALTIES,
    )

    rng = np.random.default_rng(4)
    Xc, Y = ref.check_X(X), ref.check_y(y, n)
    opt = get_optimizer(name, mu)
    order = rng.permutation(n)
    for start in range(0, n, m):
        idx = order[start : start + m]
        masks = ref.sample_dropout_masks(len(idx), rng)
        if name == "sgd":
            nabla_w, nabla_b = ref.backprop(Xc[idx], Y[idx], masks, scale=eta)
            for w in ref.weights:
                w *= 1.0 - eta * lmbda2 / n
            for w in ref.weights:
                w -= (eta * lmbda1 / n) * np.sign(w)
            for p, g in zip(ref.weights + ref.biases, nabla_w + nabla_b, strict=True):
                p -= g
        else:
            params = ref.params()
            opt.before_gradient(params)
            nabla_w, nabla_b = ref.backprop(Xc[idx], Y[idx], masks)
            for gw, w in zip(nabla_w, ref.weights, strict=True):
                gw += (lmbda2 / n) * w
            for gw, w in zip(nabla_w, ref.weights, strict=True):
                gw += (lmbda1 / n) * np.sign(w)
            grads = [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]
            opt.step(params, grads, eta)
    for a, b in zip(net.params(), ref.params(), strict=True):
        np.testing.assert_array_equal(a, b)


class _SGDByStep(SGD):
    """SGD through the general path: the mean gradient, then ``step``."""

    def __init__(self):
        self.steps = 0

    def step(self, params, grads, eta):
        self.steps += 1
        super().step(params, grads, eta)


def test_fused_sgd_agrees_with_the_general_path():
    X, y = _train_data()
    kw = dict(epochs=3, mini_batch_size=10, learning_rate=0.5, seed=2, **_PENALTIES)
    fused = Network([8, 6, 3], dropout=0.2, seed=1)
    general = fused.copy()
    fit(fused, X, y, **kw)
    by_step = _SGDByStep()
    fit(general, X, y, optimizer=by_step, **kw)
    assert by_step.steps == 3 * 12
    for a, b in zip(fused.params(), general.params(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert repr(by_step) == "_SGDByStep()" and repr(SGD()) == "SGD()"


def test_a_subclass_of_sgd_changing_the_rule_is_not_bypassed():
    X, y = _train_data()

    class Frozen(SGD):  # a step that changes nothing
        def step(self, params, grads, eta):
            pass

    class FrozenToo(Frozen):  # inherits the changed rule
        pass

    class LooksAhead(SGD):
        calls = 0

        def before_gradient(self, params):
            LooksAhead.calls += 1

    for opt in (Frozen(), FrozenToo()):
        net = Network([8, 6, 3], seed=1)
        before = net.get_params()
        fit(net, X, y, epochs=1, mini_batch_size=10, l2=1.0, optimizer=opt, seed=0)
        for a, b in zip(before, net.get_params(), strict=True):
            np.testing.assert_array_equal(a, b)
    fit(Network([8, 6, 3], seed=1), X, y, epochs=1, mini_batch_size=10, optimizer=LooksAhead())
    assert LooksAhead.calls == 12


def test_a_subclass_may_write_its_own_update():
    X, y = _train_data()
    seen = []

    class Recording(SGD):
        def update(self, network, X, Y, masks, eta, regularizers=(), n=0):
            seen.append((X.shape[0], eta, [r.name for r in regularizers], n))
            super().update(network, X, Y, masks, eta, regularizers, n)

    net, ref = Network([8, 6, 3], seed=1), Network([8, 6, 3], seed=1)
    kw = dict(epochs=1, mini_batch_size=50, learning_rate=0.3, l2=1.0, seed=0)
    fit(net, X, y, optimizer=Recording(), **kw)
    fit(ref, X, y, engine="numpy", **kw)  # the subclass takes the NumPy path too
    assert seen == [(50, 0.3, ["l2"], 120), (50, 0.3, ["l2"], 120), (20, 0.3, ["l2"], 120)]
    for a, b in zip(net.params(), ref.params(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_update_can_be_called_without_a_trainer():
    # A new optimizer needs only ``step``; ``update`` does the rest.
    class SignDescent(Optimizer):
        def step(self, params, grads, eta):
            for p, g in zip(params, grads, strict=True):
                p -= eta * np.sign(g)

    net = Network([2, 1], cost="quadratic", output_activation="linear")
    net.weights[0][...] = [[1.0, -1.0]]
    net.biases[0][...] = 0.0
    X, Y = np.array([[1.0, 1.0]]), np.array([[1.0]])
    SignDescent().update(net, X, Y, None, 0.25)
    # a = 0, delta = a - y = -1: dC/dw = (-1, -1), dC/db = -1, so every parameter rises by eta.
    np.testing.assert_array_equal(net.weights[0], [[1.25, -0.75]])
    np.testing.assert_array_equal(net.biases[0], [0.25])
