"""Compiled training loops: the NumPy path's training, without Python per mini-batch.

The trainer runs an epoch's mini-batches on one of two engines:

* ``"numpy"``: one :meth:`nndl.optimizers.Optimizer.update` call per
  mini-batch, the reference, readable path, always available;
* ``"numba"``: :func:`nndl.kernels.loop.train_batches`, the same
  computation compiled by Numba (``pip install "nndl[fast]"``), run over
  chunks of mini-batches with preallocated buffers and the update fused
  into one or two passes over each weight matrix. Its compilation is
  cached on disk, so only the first run on a machine pays for it.

Both give the same weights to within floating-point reassociation (about
1e-12 relative in float64, 1e-5 in float32 over a few epochs; see
``tests/test_kernels.py``) and draw the same random numbers: the epoch's
order comes from the trainer, and the dropout masks come from the
trainer's generator by the calls ``Network.sample_dropout_masks`` makes.

The engine is chosen per run: ``"numba"`` when Numba is installed and the
run is covered (the built-in activations, cost and output pairs,
regularizers and optimizers, float64 or float32), the NumPy path
otherwise, without the user doing anything: a custom cost, activation or
optimizer class (the book interface's own cost classes, say) takes the
NumPy path. ``NNDL_KERNEL=numpy`` (or ``Trainer(engine="numpy")``) forces
the NumPy path; ``NNDL_KERNEL=numba`` asks for the compiled loop and fails
when Numba is missing.
"""

from __future__ import annotations

import os

from ..activations import Linear, ReLU, Sigmoid, Softmax, Tanh
from ..costs import CrossEntropy, LogLikelihood, Quadratic
from ..network import Network
from ..optimizers import SGD, Momentum, Nesterov
from ..regularizers import L1, L2

__all__ = [
    "ENGINES",
    "ENGINE_VARIABLE",
    "choose_engine",
    "compiled_loop",
    "compiled_loop_available",
    "unsupported_reason",
]

#: The values of ``NNDL_KERNEL`` and of the trainer's ``engine`` argument.
ENGINES = ("auto", "numpy", "numba")
#: The environment variable that chooses the engine when the trainer is not told.
ENGINE_VARIABLE = "NNDL_KERNEL"

#: Exact classes the compiled loop implements (a subclass may change the maths).
HIDDEN_CLASSES = (Sigmoid, Tanh, ReLU, Linear)
OUTPUT_PAIRS = {
    CrossEntropy: (Sigmoid,),
    LogLikelihood: (Softmax,),
    Quadratic: (Sigmoid, Linear, Tanh),
}
OPTIMIZER_CLASSES = (SGD, Momentum, Nesterov)
_NETWORK_METHODS = ("forward", "backprop", "sample_dropout_masks")


def compiled_loop_available() -> bool:
    """Whether the compiled loop can run here: Numba, SciPy (its BLAS) and threadpoolctl."""
    try:
        import numba  # noqa: F401
        import scipy.linalg.cython_blas  # noqa: F401
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def unsupported_reason(network, optimizer, regularizers) -> str | None:
    """Why the compiled loop cannot train this run, or None when it can."""
    cls = type(network)
    if not isinstance(network, Network):
        return f"the network is a {cls.__name__}"
    for name in _NETWORK_METHODS:
        if getattr(cls, name) is not getattr(Network, name):
            return f"{cls.__name__} overrides Network.{name}"
    if network.dtype.name not in ("float64", "float32"):
        return f"dtype {network.dtype.name}"
    for act in network.hidden_activations:
        if type(act) not in HIDDEN_CLASSES:
            return f"hidden activation {act!r}"
    pair = OUTPUT_PAIRS.get(type(network.cost))
    if pair is None:
        return f"cost {network.cost!r}"
    if type(network.output_activation) not in pair:
        return f"cost {network.cost!r} with output {network.output_activation!r}"
    if type(optimizer) not in OPTIMIZER_CLASSES:
        return f"optimizer {optimizer!r}"
    kinds = [type(r) for r in regularizers]
    if any(k not in (L2, L1) for k in kinds) or kinds not in ([], [L2], [L1], [L2, L1]):
        return f"regularizers {list(regularizers)!r} (the loop takes at most one L2, then one L1)"
    for p in network.params():
        if not (p.dtype == network.dtype and p.flags.c_contiguous):
            return "parameters that are not C-contiguous arrays of the network's dtype"
    return None


def choose_engine(network, optimizer, regularizers, requested: str | None = None):
    """The engine that trains this run and why: ``("numba" | "numpy", reason)``.

    ``requested`` is ``"auto"``, ``"numpy"`` or ``"numba"``; None reads
    ``NNDL_KERNEL`` (default ``"auto"``). ``"auto"`` and ``"numba"`` take
    the compiled loop when Numba is installed and the run is covered, the
    NumPy path otherwise; ``"numba"`` without Numba is an ImportError.
    """
    source = "engine"
    if requested is None:
        requested, source = os.environ.get(ENGINE_VARIABLE, "auto"), ENGINE_VARIABLE
    key = str(requested).strip().lower() or "auto"
    if key not in ENGINES:
        raise ValueError(f"{source} must be one of {list(ENGINES)}, got {requested!r}")
    if key == "numpy":
        return "numpy", f"{source}=numpy"
    reason = unsupported_reason(network, optimizer, regularizers)
    if reason is not None:
        return "numpy", f"the compiled loop does not cover {reason}"
    if not compiled_loop_available():
        missing = 'Numba is not installed (or SciPy or threadpoolctl): pip install "nndl[fast]"'
        if key == "numba":
            raise ImportError(f"{source}=numba but {missing}")
        return "numpy", missing
    return "numba", "compiled with Numba"


def compiled_loop(network, optimizer, regularizers, mini_batch_size: int):
    """A :class:`~nndl.kernels.runner.CompiledLoop` for this run (imports Numba)."""
    from .runner import CompiledLoop

    return CompiledLoop(network, optimizer, regularizers, mini_batch_size)
