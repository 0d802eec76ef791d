"""Backprop against central differences, for every registered component.

Parametrized over the registries, so a new activation, cost pairing or
regularizer is checked without touching this file.
"""

import itertools

import numpy as np
import pytest

from nndl.activations import HIDDEN_ACTIVATIONS
from nndl.costs import COSTS
from nndl.network import Network
from nndl.regularizers import regularizers_for

PAIRS = [(cost, out) for cost, cls in COSTS.items() for out in cls.output_activations]
REGS = [(0.0, 0.0), (0.7, 0.0), (0.0, 0.4), (0.5, 0.3)]


def _problem(hidden, cost, out, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(
        [5, 4, 3, 3], hidden_activation=hidden, cost=cost, output_activation=out, seed=seed
    )
    X = rng.normal(size=(7, 5))
    if net.target_kind == "onehot":
        Y = np.eye(3)[rng.integers(0, 3, 7)]
    else:
        Y = rng.random((7, 3))
    return net, X, Y


def _total_cost(net, X, Y, masks, l2, l1, n):
    return net.batch_cost(X, Y, masks) + sum(
        r.penalty(net.weights, n) for r in regularizers_for(l2=l2, l1=l1)
    )


def _analytic(net, X, Y, masks, l2, l1, n):
    nabla_w, nabla_b = net.backprop(X, Y, masks)
    for r in regularizers_for(l2=l2, l1=l1):
        for gw, w in zip(nabla_w, net.weights, strict=True):
            r.add_gradient(gw, w, n)
    return [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]


def _numeric(net, X, Y, masks, l2, l1, n, eps=1e-6):
    grads = []
    for p in net.params():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = _total_cost(net, X, Y, masks, l2, l1, n)
            p[idx] = old - eps
            down = _total_cost(net, X, Y, masks, l2, l1, n)
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _rel_error(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


@pytest.mark.parametrize("use_mask", [False, True], ids=["no-dropout", "frozen-mask"])
@pytest.mark.parametrize("l2,l1", REGS, ids=lambda v: str(v))
@pytest.mark.parametrize("cost,out", PAIRS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_backprop_matches_central_differences(hidden, cost, out, l2, l1, use_mask):
    net, X, Y = _problem(hidden, cost, out)
    masks = None
    if use_mask:
        net.dropout = [0.5, 0.5]
        masks = net.sample_dropout_masks(X.shape[0], np.random.default_rng(3))
    n = 20  # training-set size used by the penalties
    ana = _analytic(net, X, Y, masks, l2, l1, n)
    num = _numeric(net, X, Y, masks, l2, l1, n)
    assert _rel_error(ana, num) < 1e-6


def test_every_hidden_activation_and_pair_is_covered():
    # Guards the parametrization itself: a new registry entry shows up here.
    combos = list(itertools.product(HIDDEN_ACTIVATIONS, PAIRS))
    assert len(combos) == len(HIDDEN_ACTIVATIONS) * len(PAIRS) >= 16


def test_gradient_check_detects_a_wrong_gradient():
    # The check itself must be able to fail: perturb one analytic entry.
    net, X, Y = _problem("sigmoid", "cross_entropy", "sigmoid")
    ana = _analytic(net, X, Y, None, 0.0, 0.0, 7)
    num = _numeric(net, X, Y, None, 0.0, 0.0, 7)
    ana[0][0, 0] += 1e-3
    assert _rel_error(ana, num) > 1e-6
