"""Full-batch minimizers through SciPy: L-BFGS, BFGS, conjugate gradient, Newton-CG.

The chapter names these as alternatives to stochastic gradient descent. They
need the cost and its gradient on the *whole* training set at every step, so
they suit small problems (the 8x8 digits, a few thousand MNIST images).
SciPy is an optional dependency, imported only here.

``Newton-CG`` takes Newton steps dw = -H^-1 grad C, solving for dw by
conjugate gradient with Hessian-vector products that SciPy approximates by
finite differences of our exact gradient.
"""

from __future__ import annotations

import numpy as np

from .network import Network
from .regularizers import regularizers_for

__all__ = ["METHODS", "minimize_full_batch"]

#: The scipy.optimize.minimize methods that make sense here.
METHODS = ("L-BFGS-B", "BFGS", "CG", "Newton-CG")


def _flatten(arrays) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays])


def _unflatten(vector, like) -> None:
    offset = 0
    for a in like:
        a[...] = vector[offset : offset + a.size].reshape(a.shape)
        offset += a.size


def minimize_full_batch(
    net: Network,
    X,
    y,
    *,
    method: str = "L-BFGS-B",
    l2: float = 0.0,
    l1: float = 0.0,
    max_iter: int = 200,
    tol: float | None = None,
):
    """Minimize the regularized mean cost over (X, y); update ``net`` in place.

    Parameters
    ----------
    net : Network
        Trained in float64 (SciPy's line searches need it); dropout is ignored.
    method : one of :data:`METHODS`
    l2, l1 : penalty strengths, with n = len(X) as in the chapter's formulas.
    max_iter : iteration cap passed to SciPy.

    Returns
    -------
    scipy.optimize.OptimizeResult
        With ``fun`` the final cost and ``nit`` the iterations taken.
    """
    from scipy.optimize import minimize

    if method not in METHODS:
        raise ValueError(f"unknown full-batch method {method!r}; expected one of {list(METHODS)}")
    if net.dtype != np.float64:
        raise ValueError("full-batch minimization needs a float64 network")
    X = net.check_X(X)
    Y = net.check_y(y, X.shape[0])
    n = X.shape[0]
    regs = regularizers_for(l2=l2, l1=l1)
    params = net.params()

    def cost_and_grad(theta):
        _unflatten(theta, params)
        cost = net.batch_cost(X, Y) + sum(r.penalty(net.weights, n) for r in regs)
        nabla_w, nabla_b = net.backprop(X, Y)
        for r in regs:
            for gw, w in zip(nabla_w, net.weights, strict=True):
                r.add_gradient(gw, w, n)
        grads = [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]
        return cost, _flatten(grads)

    result = minimize(
        cost_and_grad,
        _flatten(params),
        jac=True,
        method=method,
        tol=tol,
        options={"maxiter": int(max_iter)},
    )
    _unflatten(result.x, params)
    if not np.all(np.isfinite(result.x)):
        raise FloatingPointError(f"{method} produced non-finite parameters")
    return result
