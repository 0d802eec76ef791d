"""Saturation diagnostics: why a network learns slowly, measured layer by layer.

The chapter's central theme is the learning slowdown of saturated neurons.
A sigmoid neuron whose weighted input z is far from 0 has
sigma'(z) = sigma(z) (1 - sigma(z)) close to 0, so every gradient that passes
through it (dC/dw = a_in delta, delta proportional to sigma'(z)) is tiny and
its weights barely move. Large initial weights (N(0, 1) with many inputs gives
z with standard deviation about sqrt(n_in)) and the quadratic cost on a
saturated output layer are the two causes the chapter studies.

For each layer l = 1..L (numbered as in the book: layer 1 is the first hidden
layer) on a sample of the data, with no dropout:

``sat_l``
    Fraction of the layer's (neuron, example) pairs with |z| > threshold,
    for sigmoid and tanh layers only. The default threshold is 4 for the
    sigmoid (sigma'(4) = 0.018, under a tenth of its peak 0.25); a tanh
    layer uses threshold / 2, the same point on the curve since
    tanh(z) = 2 sigma(2z) - 1.
``mean_prime_l``
    Mean |f'(z)| over the sample: 0.25 is an unsaturated sigmoid, values
    near 0 mean learning has all but stopped (omitted for softmax layers).
``w_norm_l``
    Frobenius norm ||W^l||.
``grad_norm_l``
    ||dC/dW^l|| on the sample, the penalty's gradient included, when targets
    are given: how fast the layer's weights are moving.

:func:`diagnose` returns these as one flat dict, which is what the
:class:`nndl.callbacks.Diagnostics` callback adds to each epoch's logs (so
``History.to_dict`` and a CSV writer handle them as ordinary columns), and
:func:`plot_diagnostics` draws them per epoch. The functions here are pure:
they read the network and the data and change neither.
"""

from __future__ import annotations

import re

import numpy as np

from .network import Network
from .regularizers import regularizers_for
from .settings import default

__all__ = [
    "DIAGNOSTIC_KEYS",
    "SATURATING",
    "diagnose",
    "gradient_norms",
    "layer_saturation",
    "plot_diagnostics",
    "sample_rows",
    "saturation_threshold",
]

#: Default |z| beyond which a sigmoid neuron counts as saturated.
DEFAULT_THRESHOLD = default("diagnostics_threshold")

#: Activations that saturate, and the scale of z relative to the sigmoid's.
SATURATING = {"sigmoid": 1.0, "tanh": 0.5}

#: The per-layer quantities, in the order they are plotted.
DIAGNOSTIC_KEYS = ("sat", "mean_prime", "w_norm", "grad_norm")

_KEY_RE = re.compile(r"^(sat|mean_prime|w_norm|grad_norm)_(\d+)$")


def saturation_threshold(activation: str, threshold: float = DEFAULT_THRESHOLD) -> float | None:
    """The |z| threshold for one activation, or None if it does not saturate.

    ``threshold`` is stated for the sigmoid; tanh uses half of it.
    """
    scale = SATURATING.get(activation)
    return None if scale is None else threshold * scale


def _check_threshold(threshold) -> float:
    from ._validation import check_range

    return check_range("threshold", threshold, low=0.0, low_inclusive=False)


def sample_rows(n: int, size: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` distinct rows out of ``n`` (all rows if size is None or >= n).

    Uses its own generator so that taking a sample never disturbs a training run.
    """
    if size is None or size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def layer_saturation(net: Network, X, *, threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """Saturation of every layer on inputs ``X`` (examples as rows), no dropout.

    Returns
    -------
    list of dict, one per layer l = 1..L, with keys ``layer``, ``activation``,
    ``saturated`` (fraction with |z| beyond the threshold, None for a
    non-saturating activation), ``mean_prime`` (mean |f'(z)|, None for
    softmax) and ``mean_abs_z``.
    """
    threshold = _check_threshold(threshold)
    X = net.check_X(X)
    zs, _ = net.forward(X)
    out = []
    for l, (z, act) in enumerate(zip(zs, net.activations, strict=True), start=1):
        t = saturation_threshold(act.name, threshold)
        abs_z = np.abs(z)
        out.append(
            {
                "layer": l,
                "activation": act.name,
                "saturated": None if t is None else float(np.mean(abs_z > t)),
                "mean_prime": None
                if act.name == "softmax"
                else float(np.mean(np.abs(act.prime(z)))),
                "mean_abs_z": float(np.mean(abs_z)),
            }
        )
    return out


def gradient_norms(
    net: Network, X, y, *, l2: float = 0.0, l1: float = 0.0, n: int | None = None
) -> list[float]:
    """||dC/dW^l|| for each layer on (X, y), including the penalty's gradient.

    ``n`` is the training-set size used by the penalty (default: len(X)),
    so that the figure matches the gradient the trainer applies.
    """
    X = net.check_X(X)
    Y = net.check_y(y, X.shape[0])
    nabla_w, _ = net.backprop(X, Y)
    n = n or X.shape[0]
    for reg in regularizers_for(l2=l2, l1=l1):
        for gw, w in zip(nabla_w, net.weights, strict=True):
            reg.add_gradient(gw, w, n)
    return [float(np.linalg.norm(g)) for g in nabla_w]


def diagnose(
    net: Network,
    X,
    y=None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    l2: float = 0.0,
    l1: float = 0.0,
    n: int | None = None,
) -> dict[str, float]:
    """All diagnostics as one flat dict: ``sat_l``, ``mean_prime_l``, ``w_norm_l``, ``grad_norm_l``.

    ``grad_norm_l`` needs the targets ``y``; keys that do not apply to a
    layer (saturation of a ReLU layer, say) are left out rather than set to
    nan, so the logs stay valid JSON.

    >>> net = Network([4, 3, 2], seed=0)
    >>> sorted(diagnose(net, np.zeros((5, 4))))[:3]
    ['mean_prime_1', 'mean_prime_2', 'sat_1']
    """
    out: dict[str, float] = {}
    for row in layer_saturation(net, X, threshold=threshold):
        l = row["layer"]
        if row["saturated"] is not None:
            out[f"sat_{l}"] = row["saturated"]
        if row["mean_prime"] is not None:
            out[f"mean_prime_{l}"] = row["mean_prime"]
    for l, w in enumerate(net.weights, start=1):
        out[f"w_norm_{l}"] = float(np.linalg.norm(w))
    if y is not None:
        for l, g in enumerate(gradient_norms(net, X, y, l2=l2, l1=l1, n=n), start=1):
            out[f"grad_norm_{l}"] = g
    return out


def _columns(history) -> dict[str, list]:
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, dict):
        return history
    raise TypeError(f"history must be a History or a dict of columns, got {type(history).__name__}")


def plot_diagnostics(history, path, *, title: str | None = None):
    """Plot the per-layer diagnostics against the epoch; write a PNG atomically.

    Four panels: saturated fraction, mean |f'(z)|, ||W^l|| and ||dC/dW^l||
    (log scale), one line per layer. ``history`` is a :class:`History` or its
    ``to_dict()`` columns, from a run with the ``Diagnostics`` callback.
    Needs matplotlib (``pip install nndl[plot]``). Returns the path.
    """
    from pathlib import Path

    from ._io import atomic_write

    cols = _columns(history)
    per_kind: dict[str, dict[int, list]] = {k: {} for k in DIAGNOSTIC_KEYS}
    for key, values in cols.items():
        m = _KEY_RE.match(key)
        if m:
            per_kind[m.group(1)][int(m.group(2))] = values
    if not any(per_kind.values()):
        raise ValueError(
            "history has no diagnostics (sat_1, mean_prime_1, ...): train with the "
            "Diagnostics callback (nndl train --diagnostics)"
        )
    try:
        # A bare Figure (no pyplot) needs no GUI backend and no global state.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("plotting needs matplotlib: pip install 'nndl[plot]'") from exc

    n_epochs = max(len(v) for kind in per_kind.values() for v in kind.values())
    # Epochs count from 1, as the console counts them.
    epochs = cols.get("epoch") or list(range(1, n_epochs + 1))
    labels = {
        "sat": "saturated fraction (|z| beyond threshold)",
        "mean_prime": "mean |f'(z)|",
        "w_norm": "||W^l||",
        "grad_norm": "||dC/dW^l||",
    }
    fig = Figure(figsize=(10, 7))
    axes = fig.subplots(2, 2, sharex=True)
    for ax, kind in zip(axes.flat, DIAGNOSTIC_KEYS, strict=True):
        for layer, values in sorted(per_kind[kind].items()):
            ys = np.asarray(values, dtype=float)
            ax.plot(epochs[: len(ys)], ys, marker="o", markersize=3, label=f"layer {layer}")
        ax.set_title(labels[kind], fontsize=10)
        if kind == "grad_norm" and per_kind[kind]:
            vals = np.concatenate([np.asarray(v, float) for v in per_kind[kind].values()])
            if np.all(vals[np.isfinite(vals)] > 0):
                ax.set_yscale("log")
        if per_kind[kind]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    return path
