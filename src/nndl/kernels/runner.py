"""The Python side of the compiled loop: buffers, scalars and dropout uniforms.

A :class:`CompiledLoop` is made for one network, optimizer, list of
regularizers and mini-batch size (the trainer makes one per epoch); each
:meth:`CompiledLoop.run` trains a run of consecutive mini-batches of the
epoch in :func:`nndl.kernels.loop.train_batches`, between which the trainer
calls its per-batch callbacks and honours interruptions.
"""

from __future__ import annotations

import functools

import numpy as np

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh, _exp_floor
from ..costs import CrossEntropy, LogLikelihood, Quadratic
from ..optimizers import SGD, Nesterov
from ..regularizers import L1, L2
from . import loop

__all__ = ["CompiledLoop"]

_ACTIVATION_CODES = {
    Sigmoid: loop.SIGMOID,
    Tanh: loop.TANH,
    ReLU: loop.RELU,
    Linear: loop.LINEAR,
    Softmax: loop.SOFTMAX,
}
_COST_CODES = {
    Quadratic: loop.QUADRATIC,
    CrossEntropy: loop.CROSS_ENTROPY,
    LogLikelihood: loop.LOG_LIKELIHOOD,
}


#: The most dropout uniforms drawn ahead of one call of the loop (8 MB of float64).
_UNIFORMS_PER_CALL = 1 << 20


@functools.cache
def _thread_pools():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # made once: finding the libraries takes milliseconds


class CompiledLoop:
    """Preallocated buffers and arguments of the compiled loop for one run.

    The run must be covered (:func:`nndl.kernels.unsupported_reason` is
    None). The network's parameters and the optimizer's velocities are
    updated in place, as on the NumPy path.
    """

    def __init__(self, network, optimizer, regularizers, mini_batch_size: int):
        self.network = network
        self.optimizer = optimizer
        self.m = m = int(mini_batch_size)
        dtype = network.dtype
        sizes = network.sizes
        dropout = list(network.dropout)
        self.regularizers = {type(r): r.lmbda for r in regularizers}
        self.optimizer_code = (
            loop.SGD
            if isinstance(optimizer, SGD)
            else loop.NESTEROV
            if isinstance(optimizer, Nesterov)
            else loop.MOMENTUM
        )
        self.xb = np.zeros((m, sizes[0]), dtype)
        outs = [np.zeros((m, s), dtype) for s in sizes[1:]]
        # The input of the next layer: the activations themselves without dropout.
        inputs = [
            np.zeros_like(out) if p > 0 else out for out, p in zip(outs[:-1], dropout, strict=True)
        ]
        inputs.append(outs[-1])  # the output layer's is never read
        deltas = [np.zeros((m, s), dtype) for s in sizes[1:]]
        self.buffers = outs + inputs + deltas  # the last three runs of the loop's matrices
        self.grads_w = None
        if self.optimizer_code != loop.SGD:
            self.grads_w = [np.zeros_like(w) for w in network.weights]
        self.act_codes = np.array(
            [_ACTIVATION_CODES[type(a)] for a in network.activations], dtype=np.int64
        )
        self.cost_code = _COST_CODES[type(network.cost)]
        self.has_l2, self.has_l1 = L2 in self.regularizers, L1 in self.regularizers
        self.drop_p = np.array([*dropout, 0.0], dtype=np.float64)
        # As Network.sample_dropout_masks: kept units are scaled by 1/(1 - p) in the dtype.
        self.keep_scale = np.array([1.0 / (1.0 - p) for p in self.drop_p], dtype=dtype)
        self.dropout_widths = [s for s, p in zip(sizes[1:-1], dropout, strict=True) if p > 0]
        self.mask_offsets = np.zeros(len(sizes) - 1, dtype=np.int64)
        self.coef = np.zeros(loop.N_COEF, dtype=dtype)
        self.coef[loop.ONE] = 1.0
        self.coef[loop.EXP_FLOOR] = _exp_floor(dtype)
        self._coef_for: tuple | None = None
        self.blas_ints = np.zeros(8, dtype=np.int32)
        self.blas_scalars = np.zeros(2, dtype=dtype)
        self._uniforms = np.zeros((1, 1))
        # The loop's tuples of arrays, rebuilt only when the parameter or velocity
        # arrays themselves change (Network.initialize, a checkpoint loaded).
        self._arrays: list = []
        self._matrices = self._vectors = None

    def one_blas_thread(self):
        """A context in which BLAS runs on one thread, for a run of :meth:`run` calls.

        The loop's products are small (a mini-batch of rows): a second BLAS
        thread only adds waiting, which on a busy machine can make each
        product a hundred times slower.
        """
        return _thread_pools().limit(limits=1, user_api="blas")

    def _coefficients(self, eta: float, n: int) -> None:
        """The scalars of the update, rounded to the dtype as NumPy rounds them."""
        mu = 0.0 if self.optimizer_code == loop.SGD else self.optimizer.mu
        if self._coef_for == (eta, n, mu):
            return
        self._coef_for = (eta, n, mu)
        l2 = self.regularizers.get(L2, 0.0)
        l1 = self.regularizers.get(L1, 0.0)
        c = self.coef
        # SGD.update: L2.sgd_decay and L1.sgd_decay.
        c[loop.DECAY] = 1.0 - eta * l2 / n if l2 else 1.0
        c[loop.SGD_L1] = eta * l1 / n if l1 else 0.0
        # Optimizer.update: add_gradient of each penalty, then Momentum.step.
        c[loop.L2_N] = l2 / n if l2 else 0.0
        c[loop.L1_N] = l1 / n if l1 else 0.0
        c[loop.MU] = mu
        c[loop.ETA] = eta

    def _velocities(self):
        """The optimizer's velocities, created as ``Momentum.step`` would create them."""
        opt = self.optimizer
        params = self.network.params()
        vel = opt.velocities
        if vel is None or len(vel) != len(params):
            vel = opt.velocities = [np.zeros_like(p) for p in params]
        for i, (v, p) in enumerate(zip(vel, params, strict=True)):
            if v.shape != p.shape:
                raise ValueError(
                    f"a velocity of shape {v.shape} for a parameter of shape {p.shape}"
                )
            if not (v.dtype == p.dtype and v.flags.c_contiguous and v.flags.writeable):
                vel[i] = np.array(v, dtype=p.dtype, order="C")
        return vel

    def _draw_uniforms(self, rng, first: int, stop: int, n: int):
        """Uniforms of the dropout masks of mini-batches first..stop-1, one row each.

        ``Network.sample_dropout_masks`` draws ``rng.random((mb, width))`` per
        hidden layer with dropout, layer after layer, mini-batch after
        mini-batch: one call over consecutive rows draws the same numbers in
        the same order.
        """
        if not self.dropout_widths:
            return self._uniforms
        m = self.m
        per_example = sum(self.dropout_widths)
        rows = stop - first
        if self._uniforms.shape[0] < rows or self._uniforms.shape[1] != m * per_example:
            self._uniforms = np.zeros((rows, m * per_example))
        u = self._uniforms
        n_full = max(0, min(stop, n // m) - first)
        if n_full:
            rng.random(out=u[:n_full])
        if n_full < rows:  # the epoch's last, shorter mini-batch
            rng.random(out=u[n_full, : (n - (n // m) * m) * per_example])
        return u

    def run(self, X, Y, order, first: int, stop: int, learning_rate: float, n: int, rng) -> int:
        """Train mini-batches ``first`` to ``stop - 1`` of ``order``: -1, or where it diverged.

        ``X`` and ``Y`` are the epoch's training pair (C-contiguous, in the
        network's dtype), ``n`` the size of the training set (the penalties'
        n) and ``rng`` the trainer's generator, used for the dropout masks.
        """
        net = self.network
        X = np.ascontiguousarray(X, dtype=net.dtype)
        Y = np.ascontiguousarray(Y, dtype=net.dtype)
        order = np.asarray(order, dtype=np.int64)
        self._coefficients(float(learning_rate), n)
        arrays = net.params()
        if self.optimizer_code != loop.SGD:
            arrays += self._velocities()
        if len(arrays) != len(self._arrays) or any(
            a is not b for a, b in zip(arrays, self._arrays, strict=False)
        ):
            self._arrays = arrays
            n_params = 2 * len(net.weights)
            params, velocities = arrays[:n_params], arrays[n_params:]
            weights, biases = params[0::2], params[1::2]
            if self.optimizer_code == loop.SGD:  # no velocities or gradients: placeholders
                matrices, vectors = weights * 3, biases * 2
            else:
                matrices = weights + velocities[0::2] + self.grads_w
                vectors = biases + velocities[1::2]
            self._matrices = tuple(matrices + self.buffers)
            self._vectors = tuple(vectors)
        # With dropout, at most about _UNIFORMS_PER_CALL uniforms are drawn ahead of the loop.
        step = stop - first
        if self.dropout_widths:
            step = max(1, _UNIFORMS_PER_CALL // (self.m * sum(self.dropout_widths)))
        for start in range(first, stop, step):
            end = min(start + step, stop)
            uniforms = self._draw_uniforms(rng, start, end, X.shape[0])
            diverged = loop.train_batches(
                X,
                Y,
                order,
                start,
                end,
                self.m,
                float(learning_rate),
                self._matrices,
                self._vectors,
                self.act_codes,
                self.cost_code,
                self.optimizer_code,
                self.has_l2,
                self.has_l1,
                self.coef,
                self.drop_p,
                self.keep_scale,
                uniforms,
                self.mask_offsets,
                self.xb,
                self.blas_ints,
                self.blas_scalars,
            )
            if diverged >= 0:
                return diverged
        return -1
