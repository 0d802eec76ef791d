"""Optimizers against their formulas, one SGD step by hand, convergence on a quadratic."""

import numpy as np
import pytest

from nndl import Network, fit
from nndl.optimizers import OPTIMIZERS, SGD, Momentum, Nesterov, get_optimizer


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
