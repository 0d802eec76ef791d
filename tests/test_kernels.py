"""The compiled training loop (nndl.kernels) against the NumPy path.

The NumPy path is the reference: ``Optimizer.update`` per mini-batch, with
dropout masks from ``Network.sample_dropout_masks``. The compiled loop must
give the same weights to within floating-point reassociation, for every
combination the gradient tests cover (hidden activation x cost and output
pair x regularizers x dropout) times every optimizer and both dtypes, and
leave the generator where the NumPy path leaves it. Without Numba those
tests are skipped; the fallback tests run everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest

from nndl import kernels
from nndl.activations import HIDDEN_ACTIVATIONS
from nndl.costs import COSTS
from nndl.network import Network
from nndl.optimizers import OPTIMIZERS, SGD, get_optimizer
from nndl.regularizers import regularizers_for

needs_numba = pytest.mark.skipif(
    not kernels.compiled_loop_available(), reason="Numba is not installed"
)

PAIRS = [(cost, out) for cost, cls in COSTS.items() for out in cls.output_activations]
REGS = [(0.0, 0.0), (0.7, 0.0), (0.0, 0.4), (0.5, 0.3)]
#: Largest relative difference allowed between the two paths' parameters.
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}
N, M, EPOCHS, ETA, MU = 23, 5, 3, 0.05, 0.6


def _problem(sizes, hidden, cost, out, dropout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(
        sizes,
        hidden_activation=hidden,
        cost=cost,
        output_activation=out,
        dropout=dropout,
        dtype=dtype,
        seed=seed,
    )
    X = net.check_X(rng.random((N, sizes[0])))
    if net.target_kind == "onehot":
        labels = rng.integers(0, sizes[-1], N)
        Y = net.check_y(labels, N)
    else:
        Y = net.check_y(rng.random((N, sizes[-1])), N)
    return net, X, Y


def _orders(epochs=EPOCHS, seed=5):
    rng = np.random.default_rng(seed)
    return [rng.permutation(N) for _ in range(epochs)]


def _numpy_path(net, optimizer, regs, X, Y, m, rng, orders):
    n = X.shape[0]
    for order in orders:
        for start in range(0, n, m):
            idx = order[start : start + m]
            masks = net.sample_dropout_masks(len(idx), rng) if any(net.dropout) else None
            optimizer.update(net, X[idx], Y[idx], masks, ETA, regs, n)


def _compiled_path(net, optimizer, regs, X, Y, m, rng, orders, chunk=2):
    n = X.shape[0]
    n_batches = -(-n // m)
    loop = kernels.compiled_loop(net, optimizer, regs, m)
    for order in orders:
        for first in range(0, n_batches, chunk):  # in chunks, as between batch callbacks
            stop = min(first + chunk, n_batches)
            assert loop.run(X, Y, order, first, stop, ETA, n, rng) == -1


def _relative_difference(a, b) -> float:
    scale = max(float(np.max(np.abs(b))), np.finfo(b.dtype).tiny)
    return float(np.max(np.abs(a.astype(np.float64) - b))) / scale


def _assert_same_training(net, X, Y, optimizer_name, l2, l1, m=M, chunk=2):
    ref, start = net.copy(), net.copy()
    regs = regularizers_for(l2=l2, l1=l1)
    opt_ref = get_optimizer(optimizer_name, 0.0 if optimizer_name == "sgd" else MU)
    opt = get_optimizer(optimizer_name, 0.0 if optimizer_name == "sgd" else MU)
    rng_ref, rng = np.random.default_rng(9), np.random.default_rng(9)
    orders = _orders()
    _numpy_path(ref, opt_ref, regs, X, Y, m, rng_ref, orders)
    _compiled_path(net, opt, regs, X, Y, m, rng, orders, chunk=chunk)
    tol = TOLERANCE[net.dtype.name]
    for i, (a, b) in enumerate(zip(net.params(), ref.params(), strict=True)):
        assert a.dtype == b.dtype
        assert _relative_difference(a, b) <= tol, f"parameter {i}"
    if optimizer_name != "sgd":
        for a, b in zip(opt.velocities, opt_ref.velocities, strict=True):
            assert _relative_difference(a, b) <= tol
    # The same random stream: both drew the same numbers for the masks.
    assert rng.bit_generator.state == rng_ref.bit_generator.state
    # And training moved the weights far more than the tolerance.
    assert _relative_difference(start.weights[0], ref.weights[0]) > 10 * tol


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dropout", [0.0, 0.25], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("l2,l1", REGS, ids=lambda v: str(v))
@pytest.mark.parametrize("cost,out", PAIRS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_compiled_loop_matches_the_numpy_path(hidden, cost, out, l2, l1, dropout, optimizer, dtype):
    net, X, Y = _problem([5, 4, 3, 3], hidden, cost, out, dropout, dtype)
    _assert_same_training(net, X, Y, optimizer, l2, l1)


@needs_numba
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "sizes,dropout",
    [([6, 3], 0.0), ([6, 9, 3], 0.3), ([6, 7, 5, 4, 3], [0.2, 0.0, 0.4])],
    ids=["no-hidden-layer", "one", "three-some-dropout"],
)
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_any_depth(sizes, dropout, optimizer, dtype):
    net, X, Y = _problem(sizes, "tanh", "log_likelihood", None, dropout, dtype)
    _assert_same_training(net, X, Y, optimizer, 0.5, 0.1)


@needs_numba
@pytest.mark.parametrize("m,chunk", [(1, 7), (23, 1), (40, 1), (9, 100)])
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov"])
def test_any_mini_batch_size_and_chunk(m, chunk, optimizer):
    # Mini-batches beyond SMALL_BATCH take BLAS forward; one of 40 > n is the whole set.
    net, X, Y = _problem([6, 40, 3], "sigmoid", "cross_entropy", None, 0.25, "float64")
    _assert_same_training(net, X, Y, optimizer, 1.0, 0.2, m=m, chunk=chunk)


@needs_numba
def test_dropout_uniforms_drawn_in_several_parts_are_the_same_stream(monkeypatch):
    from nndl.kernels import runner

    monkeypatch.setattr(runner, "_UNIFORMS_PER_CALL", 3 * M * (9 + 5))  # 3 mini-batches a draw
    net, X, Y = _problem([6, 9, 5, 3], "relu", "log_likelihood", None, 0.3, "float64")
    _assert_same_training(net, X, Y, "momentum", 0.0, 0.0, chunk=5)


@needs_numba
def test_divergence_is_reported_with_its_mini_batch():
    net, X, Y = _problem([5, 4, 3], "relu", "quadratic", "linear", 0.0, "float64")
    net.weights[0][...] = np.inf
    loop = kernels.compiled_loop(net, SGD(), [], M)
    assert loop.run(X, Y, np.arange(N), 2, 5, ETA, N, np.random.default_rng(0)) == 2


# ---------------------------------------------------------------- engine choice


def _net():
    return Network([4, 3, 2], seed=0)


def test_numpy_is_forced_by_the_environment(monkeypatch):
    monkeypatch.setenv(kernels.ENGINE_VARIABLE, "numpy")
    assert kernels.choose_engine(_net(), SGD(), [])[0] == "numpy"
    monkeypatch.setenv(kernels.ENGINE_VARIABLE, "fortran")
    with pytest.raises(ValueError, match="NNDL_KERNEL"):
        kernels.choose_engine(_net(), SGD(), [])


def test_an_argument_overrides_the_environment(monkeypatch):
    monkeypatch.setenv(kernels.ENGINE_VARIABLE, "numba")
    assert kernels.choose_engine(_net(), SGD(), [], "numpy") == ("numpy", "engine=numpy")


def _without_numba(monkeypatch):
    import sys

    # A module set to None in sys.modules fails to import, as if it were absent.
    monkeypatch.setitem(sys.modules, "numba", None)


def test_without_numba_the_numpy_path_runs(monkeypatch):
    _without_numba(monkeypatch)
    monkeypatch.delenv(kernels.ENGINE_VARIABLE, raising=False)
    assert not kernels.compiled_loop_available()
    engine, why = kernels.choose_engine(_net(), SGD(), [])
    assert engine == "numpy" and "not installed" in why
    monkeypatch.setenv(kernels.ENGINE_VARIABLE, "numba")
    with pytest.raises(ImportError, match="nndl\\[fast\\]"):
        kernels.choose_engine(_net(), SGD(), [])


class _MyCost(COSTS["cross_entropy"]):
    def delta(self, z, a, y, output=None):
        return 2 * (a - y)


class _MySGD(SGD):
    def step(self, params, grads, eta):
        super().step(params, grads, eta)


@pytest.mark.parametrize(
    "change",
    ["cost", "activation", "optimizer", "regularizer-order", "network-subclass"],
)
def test_what_the_loop_does_not_cover_takes_the_numpy_path(change, monkeypatch):
    monkeypatch.setenv(kernels.ENGINE_VARIABLE, "numba")  # even when asked for
    net, opt, regs = _net(), SGD(), regularizers_for(l2=1.0, l1=1.0)
    if change == "cost":
        net.cost = _MyCost()
    elif change == "activation":
        from nndl.activations import Sigmoid

        class Sharp(Sigmoid):
            def fn(self, z):
                return super().fn(2 * z)

        net.hidden_activations = [Sharp()]
    elif change == "optimizer":
        opt = _MySGD()
    elif change == "regularizer-order":
        regs = regs[::-1]
    else:

        class Noisy(Network):
            def forward(self, X, masks=None):
                return super().forward(X, masks)

        net = Noisy([4, 3, 2], seed=0)
    engine, why = kernels.choose_engine(net, opt, regs)
    assert engine == "numpy"
    assert "does not cover" in why


def test_the_book_interface_with_its_own_cost_class_takes_the_numpy_path():
    from nndl import network2

    class HalfCrossEntropy:
        @staticmethod
        def fn(a, y):
            return 0.5 * network2.CrossEntropyCost.fn(a, y)

        @staticmethod
        def delta(z, a, y):
            return 0.5 * (a - y)

    book = network2.Network([4, 3, 2], cost=HalfCrossEntropy)
    engine, why = kernels.choose_engine(book._net, SGD(), [])
    assert engine == "numpy" and "cost" in why


# ---------------------------------------------------------------- the trainer


def _trainer_run(engine, callbacks=(), epochs=3, **config):
    from nndl.training import Trainer

    net, X, Y = _problem([6, 9, 5, 3], "relu", "log_likelihood", None, 0.2, "float64", seed=2)
    settings = dict(
        epochs=epochs,
        mini_batch_size=4,
        learning_rate=0.1,
        optimizer="nesterov",
        momentum=0.7,
        l2=0.5,
        l1=0.1,
        seed=3,
        monitor=["loss"],
    )
    settings.update(config)
    trainer = Trainer(net, callbacks=list(callbacks), engine=engine, **settings)
    return trainer, X, Y


@needs_numba
def test_the_trainer_gives_the_same_run_on_both_engines():
    from nndl.callbacks import LambdaCallback

    runs = {}
    for engine in ("numpy", "numba"):
        seen: list[tuple[int, int]] = []

        def record(trainer, batch, seen=seen):
            seen.append((trainer.epoch, batch))
            trainer.learning_rate *= 0.99  # a per-batch schedule takes effect at once

        cb = LambdaCallback(on_batch_end=record)
        trainer, X, Y = _trainer_run(engine, [cb])
        assert trainer.engine == engine
        trainer.fit(X, Y)
        runs[engine] = (trainer, seen)
    (a, seen_a), (b, seen_b) = runs["numba"], runs["numpy"]
    assert seen_a == seen_b and len(seen_a) == 3 * 6  # 23 examples: 6 mini-batches of 4
    for p, q in zip(a.network.params(), b.network.params(), strict=True):
        assert _relative_difference(p, q) <= TOLERANCE["float64"]
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-12)


@needs_numba
@pytest.mark.parametrize("with_batch_callback", [False, True])
def test_a_stop_between_chunks_resumes_exactly(with_batch_callback, monkeypatch, tmp_path):
    from nndl import training
    from nndl.callbacks import Checkpoint, LambdaCallback
    from nndl.kernels.runner import CompiledLoop
    from nndl.training import TrainingInterrupted

    # Chunks of two mini-batches of 4 when no callback runs per mini-batch.
    monkeypatch.setattr(training, "_COMPILED_CHUNK_EXAMPLES", 8)
    whole, X, Y = _trainer_run("numba")
    whole.fit(X, Y)

    calls = []
    run = CompiledLoop.run

    def run_then_stop(self, *args):
        calls.append(args[3:5])  # (first, stop)
        out = run(self, *args)
        if len(calls) == (8 if with_batch_callback else 4):  # epoch 1 after mini-batch 1
            stopped.request_interrupt()
        return out

    monkeypatch.setattr(CompiledLoop, "run", run_then_stop)
    path = tmp_path / "checkpoint.npz"
    extra = [LambdaCallback(on_batch_end=lambda trainer, batch: None)]
    stopped, _, _ = _trainer_run(
        "numba", [Checkpoint(path), *(extra if with_batch_callback else [])]
    )
    with pytest.raises(TrainingInterrupted) as info:
        stopped.fit(X, Y)
    assert (info.value.epoch, info.value.next_batch) == (1, 2)
    assert calls[0] == ((0, 1) if with_batch_callback else (0, 2))

    monkeypatch.setattr(CompiledLoop, "run", run)
    resumed, _, _ = _trainer_run("numba", [Checkpoint(path), *extra[:with_batch_callback]])
    resumed.fit(X, Y, resume_from=path)
    for p, q in zip(resumed.network.params(), whole.network.params(), strict=True):
        np.testing.assert_array_equal(p, q)
    assert resumed.history["loss"] == whole.history["loss"]


@needs_numba
def test_divergence_on_the_compiled_loop_is_a_divergence_error():
    from nndl.training import DivergenceError

    trainer, X, Y = _trainer_run("numba", learning_rate=1e200, optimizer="sgd", momentum=0.0)
    with pytest.raises(DivergenceError, match="diverged in epoch"):
        trainer.fit(X * 1e100, Y)


def test_without_numba_the_trainer_runs_the_numpy_path(monkeypatch):
    reference, X, Y = _trainer_run("numpy", epochs=2)
    reference.fit(X, Y)
    _without_numba(monkeypatch)
    monkeypatch.delenv(kernels.ENGINE_VARIABLE, raising=False)
    trainer, _, _ = _trainer_run(None, epochs=2)
    assert trainer.engine == "numpy" and "not installed" in trainer.engine_reason
    trainer.fit(X, Y)
    for p, q in zip(trainer.network.params(), reference.network.params(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_the_trainer_refuses_an_unknown_engine():
    from nndl.training import Trainer

    with pytest.raises(ValueError, match="engine"):
        Trainer(_net(), engine="cuda")


@pytest.mark.parametrize("engine", ["numpy", "auto"])
def test_nndl_train_says_which_engine_ran(engine, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NNDL_KERNEL=engine)
    args = ["train", "--dataset", "digits", "--epochs", "1", "--hidden", "10", "--no-plot"]
    proc = subprocess.run(
        [sys.executable, "-m", "nndl.cli", *args, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    expected = "numba" if engine == "auto" and kernels.compiled_loop_available() else "numpy"
    assert first.startswith("Training ") and f"; engine {expected} (" in first, proc.stdout
