"""The compiled training loop: a run of mini-batches without returning to Python.

:func:`train_batches` does, for each mini-batch of the epoch's order, what
``Optimizer.update`` does on the NumPy path (:mod:`nndl.optimizers`, with
``Network.forward`` and ``Network.backprop`` of :mod:`nndl.network`), in the
same order of operations, so the weights agree to within floating-point
reassociation:

* gather the mini-batch's rows of X into a buffer;
* Nesterov: move the parameters to the look-ahead point w + mu v;
* forward, layer by layer: Z = A @ W.T + b, the activation in place, the
  dropout mask (0 or 1/(1 - p), from uniforms drawn in Python by the same
  generator calls as ``Network.sample_dropout_masks``);
* the output error of the cost and output pair (``cost.delta``), times
  eta/m (SGD) or 1/m (the others), as ``backprop(scale=...)``;
* backward, layer by layer: Delta^{l-1} = (Delta^l @ W^l) f'(Z^{l-1}) mask,
  then this layer's update:

  - SGD: one pass of the L2 decay 1 - eta lambda/n (and the L1 shrink),
    then ``W <- W - Delta^T A`` accumulated by BLAS straight into W (eta/m
    is already in Delta): no gradient matrix;
  - momentum and Nesterov: ``G = Delta^T A`` (1/m folded in), then one pass
    over W, G and v: the penalties' gradients, v <- mu v - eta g, w <- w + v
    (Nesterov first takes w back from the look-ahead point).

Every buffer is allocated once by the caller (:mod:`nndl.kernels.runner`); the
loop allocates nothing. Small mini-batches (at most :data:`SMALL_BATCH` rows)
take the forward products as register-blocked dot products, which beat BLAS
at that shape; larger ones call BLAS. Scalars that NumPy would round to the
network's dtype come in that dtype (``coef``), so float32 runs round alike.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .blas import gemm

# Activation, cost and optimizer codes (see nndl.kernels.runner for the names).
SIGMOID, TANH, RELU, LINEAR, SOFTMAX = 0, 1, 2, 3, 4
QUADRATIC, CROSS_ENTROPY, LOG_LIKELIHOOD = 0, 1, 2
SGD, MOMENTUM, NESTEROV = 0, 1, 2

# The runs of ``matrices``, each one matrix per layer (see train_batches).
WEIGHTS, VELOCITIES, GRADIENTS, OUTS, INPUTS, DELTAS = range(6)
MATRICES = ("weights", "velocities", "gradients", "outs", "inputs", "deltas")

# Slots of ``coef``, the scalars in the network's dtype.
ZERO, ONE, DECAY, SGD_L1, L2_N, L1_N, MU, ETA, EXP_FLOOR, STEP = range(10)
N_COEF = 10

#: Mini-batches of at most this many examples take the compiled dot products forward.
SMALL_BATCH = 32


@njit(cache=True)
def decay_rows(w, first, stop, has_l2, has_l1, coef):
    """SGD's penalty step on rows first..stop-1 of w: the L2 decay, then the L1 shrink.

    As ``L2.sgd_decay`` then ``L1.sgd_decay``: w * decay, then minus
    eta lambda/n times its sign, each rounded on its own.
    """
    decay = coef[DECAY]
    shrink = coef[SGD_L1]
    n_in = w.shape[1]
    for j in range(first, stop):
        row = w[j]
        if has_l1:
            for i in range(n_in):
                x = row[i]
                if has_l2:
                    x = x * decay
                if x > 0:
                    x = x - shrink
                elif x < 0:
                    x = x + shrink
                row[i] = x
        elif has_l2:
            for i in range(n_in):
                row[i] *= decay


@njit(cache=True, fastmath={"reassoc", "contract"})
def dense_small(w, b, inp, out, mb, coef, decay_after, has_l2, has_l1):
    """out[k, j] = inp[k] . w[j] + b[j] for k < mb: dot products along the rows.

    Two rows of W by four examples at a time, eight sums in registers, so
    each load feeds several multiply-adds. Reassociation lets the compiler
    split each sum into vector lanes (the order of a dot product is BLAS's
    choice on the NumPy path too). With ``decay_after``, each pair of rows,
    once used, takes SGD's penalty step (:func:`decay_rows`, compiled
    without reassociation) while it is still in cache: the first layer's
    weights are read by nothing else before its update.
    """
    zero = coef[ZERO]
    n_out, n_in = w.shape
    j = 0
    while j + 2 <= n_out:
        w0 = w[j]
        w1 = w[j + 1]
        b0 = b[j]
        b1 = b[j + 1]
        k = 0
        while k + 4 <= mb:
            x0 = inp[k]
            x1 = inp[k + 1]
            x2 = inp[k + 2]
            x3 = inp[k + 3]
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
            for i in range(n_in):
                u = w0[i]
                v = w1[i]
                s00 += u * x0[i]
                s01 += u * x1[i]
                s02 += u * x2[i]
                s03 += u * x3[i]
                s10 += v * x0[i]
                s11 += v * x1[i]
                s12 += v * x2[i]
                s13 += v * x3[i]
            out[k, j] = s00 + b0
            out[k + 1, j] = s01 + b0
            out[k + 2, j] = s02 + b0
            out[k + 3, j] = s03 + b0
            out[k, j + 1] = s10 + b1
            out[k + 1, j + 1] = s11 + b1
            out[k + 2, j + 1] = s12 + b1
            out[k + 3, j + 1] = s13 + b1
            k += 4
        while k < mb:
            x0 = inp[k]
            s00 = s10 = zero
            for i in range(n_in):
                s00 += w0[i] * x0[i]
                s10 += w1[i] * x0[i]
            out[k, j] = s00 + b0
            out[k, j + 1] = s10 + b1
            k += 1
        if decay_after:
            decay_rows(w, j, j + 2, has_l2, has_l1, coef)
        j += 2
    if j < n_out:
        w0 = w[j]
        for k in range(mb):
            x0 = inp[k]
            s00 = zero
            for i in range(n_in):
                s00 += w0[i] * x0[i]
            out[k, j] = s00 + b[j]
        if decay_after:
            decay_rows(w, j, j + 1, has_l2, has_l1, coef)


@njit(cache=True)
def dense(w, b, inp, out, mb, coef, blas_ints, blas_scalars, decay_after, has_l2, has_l1):
    """out[:mb] = inp[:mb] @ w.T + b (``Network.forward``'s ``z = a @ w.T; z += b``).

    Returns whether it also took SGD's penalty step on w (asked by
    ``decay_after``, done on the way for small mini-batches).
    """
    if mb <= SMALL_BATCH:
        dense_small(w, b, inp, out, mb, coef, decay_after, has_l2, has_l1)
        return decay_after
    n_out, n_in = w.shape
    gemm(False, True, mb, n_out, n_in, 1.0, inp, w, 0.0, out, blas_ints, blas_scalars)
    for k in range(mb):
        for j in range(n_out):
            out[k, j] += b[j]
    return False


@njit(cache=True)
def all_finite(z, mb):
    n = z.shape[1]
    for k in range(mb):
        for j in range(n):
            if not np.abs(z[k, j]) < np.inf:
                return False
    return True


@njit(cache=True)
def activate_hidden(z, mb, code, one):
    """z[:mb] <- f(z[:mb]) in place, for an elementwise hidden activation."""
    n = z.shape[1]
    if code == SIGMOID:
        for k in range(mb):
            for j in range(n):
                z[k, j] = one / (one + np.exp(-z[k, j]))
    elif code == TANH:
        for k in range(mb):
            for j in range(n):
                z[k, j] = np.tanh(z[k, j])
    elif code == RELU:
        for k in range(mb):
            for j in range(n):
                if z[k, j] < 0:  # nan stays nan, as with np.maximum
                    z[k, j] = 0
    # LINEAR: the identity


@njit(cache=True)
def hidden_prime(h, code, one, zero):
    """f'(z) from the activation h = f(z) (equal to Activation.prime(z))."""
    if code == SIGMOID:
        return h * (one - h)
    if code == TANH:
        return one - h * h
    if code == RELU:
        return one if h > 0 else zero
    return one


@njit(cache=True)
def output_delta(z, d, Y, order, start, mb, act, cost, coef):
    """d[:mb] = cost.delta(z, f(z), y) * (eta or 1)/m, row by row."""
    n = z.shape[1]
    c = coef[STEP]
    one = coef[ONE]
    for k in range(mb):
        y = Y[order[start + k]]
        if act == SOFTMAX:
            zmax = z[k, 0]
            for j in range(1, n):
                if z[k, j] > zmax:
                    zmax = z[k, j]
            total = coef[ZERO]
            for j in range(n):
                e = np.exp(max(z[k, j] - zmax, coef[EXP_FLOOR]))
                d[k, j] = e
                total += e
            for j in range(n):
                d[k, j] = (d[k, j] / total - y[j]) * c
        elif act == SIGMOID:
            for j in range(n):
                a = one / (one + np.exp(-z[k, j]))
                if cost == QUADRATIC:
                    d[k, j] = ((a - y[j]) * (a * (one - a))) * c
                else:
                    d[k, j] = (a - y[j]) * c
        elif act == TANH:  # quadratic cost only
            for j in range(n):
                a = np.tanh(z[k, j])
                d[k, j] = ((a - y[j]) * (one - a * a)) * c
        else:  # LINEAR, quadratic cost
            for j in range(n):
                d[k, j] = (z[k, j] - y[j]) * c


@njit(cache=True)
def sgd_update(w, b, d, inp, mb, has_l2, has_l1, decayed, coef, blas_ints, blas_scalars):
    """SGD.update for one layer: decay (and L1 shrink), then w -= Delta^T A, b -= sum Delta.

    The penalty step is a pass of its own (unless the forward pass took it,
    ``decayed``): cheaper than BLAS's beta, which scales C in a generic
    loop, and rounded as ``w *= decay`` rounds. The product is then
    accumulated straight into the weights (beta = 1): no gradient matrix is
    written.
    """
    n_out, n_in = w.shape
    if not decayed:
        decay_rows(w, 0, n_out, has_l2, has_l1, coef)
    gemm(True, False, n_out, n_in, mb, -1.0, d, inp, 1.0, w, blas_ints, blas_scalars)
    for j in range(n_out):
        s = d[0, j]
        for k in range(1, mb):
            s += d[k, j]
        b[j] -= s


@njit(cache=True)
def momentum_update(
    w, b, vw, vb, g, d, inp, mb, nesterov, has_l2, has_l1, coef, blas_ints, blas_scalars
):
    """Momentum.step / Nesterov.step for one layer, penalties' gradients added on the way."""
    n_out, n_in = w.shape
    gemm(True, False, n_out, n_in, mb, 1.0, d, inp, 0.0, g, blas_ints, blas_scalars)
    mu = coef[MU]
    eta = coef[ETA]
    l2n = coef[L2_N]
    l1n = coef[L1_N]
    for j in range(n_out):
        for i in range(n_in):
            x = w[j, i]
            gi = g[j, i]
            if has_l2:
                gi = gi + l2n * x
            if has_l1:
                if x > 0:
                    gi = gi + l1n
                elif x < 0:
                    gi = gi - l1n
            v = vw[j, i]
            if nesterov:
                x = x - mu * v
            v = v * mu
            v = v - gi * eta
            vw[j, i] = v
            w[j, i] = x + v
    for j in range(n_out):
        gi = d[0, j]
        for k in range(1, mb):
            gi += d[k, j]
        x = b[j]
        v = vb[j]
        if nesterov:
            x = x - mu * v
        v = v * mu
        v = v - gi * eta
        vb[j] = v
        b[j] = x + v


@njit(cache=True)
def train_batches(
    X,
    Y,
    order,
    first,
    stop,
    m,
    eta,
    matrices,
    vectors,
    act_codes,
    cost_code,
    optimizer_code,
    has_l2,
    has_l1,
    coef,
    drop_p,
    keep_scale,
    uniforms,
    mask_offsets,
    xb,
    blas_ints,
    blas_scalars,
):
    """Train mini-batches ``first`` to ``stop - 1`` of the epoch's ``order``, in place.

    ``matrices`` holds six runs of one matrix per layer (numbered by
    :data:`MATRICES`): the weights, the optimizer's velocities, a gradient
    buffer (both unused by SGD, which may repeat the weights), each layer's
    pre-activations then activations (``OUTS``), the input of the next layer
    (``INPUTS``: the activations themselves without dropout) and each layer's
    output error; ``vectors`` the biases then their velocities. (Tuples: the
    loop is compiled once per number of layers and dtype, and cached; Numba's
    typed lists would compile their own methods in every process.)
    ``uniforms[t - first]`` holds mini-batch t's uniforms for the dropout
    masks, hidden layer after hidden layer. Returns -1, or the first
    mini-batch whose pre-activations were not finite (the run diverged; that
    mini-batch is left unfinished).
    """
    n = X.shape[0]
    n_layers = len(vectors) // 2
    # Where each run of matrices starts.
    vel_at, grad_at = VELOCITIES * n_layers, GRADIENTS * n_layers
    out_at, in_at, delta_at = OUTS * n_layers, INPUTS * n_layers, DELTAS * n_layers
    zero = coef[ZERO]
    one = coef[ONE]
    nesterov = optimizer_code == NESTEROV
    for t in range(first, stop):
        start = t * m
        mb = min(m, n - start)
        for k in range(mb):  # an explicit loop: faster than a slice assignment here
            row = X[order[start + k]]
            dst = xb[k]
            for i in range(row.shape[0]):
                dst[i] = row[i]
        if nesterov and coef[MU] != 0:  # Nesterov.before_gradient
            mu = coef[MU]
            for l in range(n_layers):
                w = matrices[l]
                v = matrices[vel_at + l]
                for j in range(w.shape[0]):
                    for i in range(w.shape[1]):
                        w[j, i] += mu * v[j, i]
                bl = vectors[l]
                vl = vectors[n_layers + l]
                for j in range(bl.shape[0]):
                    bl[j] += mu * vl[j]

        # Forward.
        u = uniforms[min(t - first, uniforms.shape[0] - 1)]  # one dummy row without dropout
        offset = 0
        # SGD's penalty step on the first layer's weights may ride on its forward pass.
        decayed = False
        for l in range(n_layers):
            inp = xb if l == 0 else matrices[in_at + l - 1]
            z = matrices[out_at + l]
            decay_now = l == 0 and optimizer_code == SGD and (has_l2 or has_l1)
            decayed_here = dense(
                matrices[l],
                vectors[l],
                inp,
                z,
                mb,
                coef,
                blas_ints,
                blas_scalars,
                decay_now,
                has_l2,
                has_l1,
            )
            decayed = decayed or decayed_here
            if not all_finite(z, mb):
                return t
            if l < n_layers - 1:
                activate_hidden(z, mb, act_codes[l], one)
                p = drop_p[l]
                if p > 0:
                    a = matrices[in_at + l]
                    scale = keep_scale[l]
                    width = z.shape[1]
                    mask_offsets[l] = offset
                    for k in range(mb):
                        for j in range(width):
                            keep = u[offset + k * width + j] >= p
                            a[k, j] = z[k, j] * (scale if keep else zero)
                    offset += mb * width

        # Output error, with eta/m (SGD) or 1/m folded in.
        coef[STEP] = (eta if optimizer_code == SGD else 1.0) / mb
        last = n_layers - 1
        output_delta(
            matrices[out_at + last],
            matrices[delta_at + last],
            Y,
            order,
            start,
            mb,
            act_codes[last],
            cost_code,
            coef,
        )

        # Backward, updating each layer once its error has been passed down.
        for l in range(last, -1, -1):
            w = matrices[l]
            d = matrices[delta_at + l]
            inp = xb if l == 0 else matrices[in_at + l - 1]
            if l > 0:
                below = matrices[delta_at + l - 1]
                h = matrices[out_at + l - 1]
                width = h.shape[1]
                gemm(
                    False,
                    False,
                    mb,
                    width,
                    w.shape[0],
                    1.0,
                    d,
                    w,
                    0.0,
                    below,
                    blas_ints,
                    blas_scalars,
                )
                code = act_codes[l - 1]
                p = drop_p[l - 1]
                offset = mask_offsets[l - 1]
                scale = keep_scale[l - 1]
                for k in range(mb):
                    for j in range(width):
                        x = below[k, j] * hidden_prime(h[k, j], code, one, zero)
                        if p > 0:
                            keep = u[offset + k * width + j] >= p
                            x = x * (scale if keep else zero)
                        below[k, j] = x
            if optimizer_code == SGD:
                sgd_update(
                    w,
                    vectors[l],
                    d,
                    inp,
                    mb,
                    has_l2,
                    has_l1,
                    l == 0 and decayed,
                    coef,
                    blas_ints,
                    blas_scalars,
                )
            else:
                momentum_update(
                    w,
                    vectors[l],
                    matrices[vel_at + l],
                    vectors[n_layers + l],
                    matrices[grad_at + l],
                    d,
                    inp,
                    mb,
                    nesterov,
                    has_l2,
                    has_l1,
                    coef,
                    blas_ints,
                    blas_scalars,
                )
    return -1
