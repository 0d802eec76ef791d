"""The fully-connected network: layers, forward and backprop over a mini-batch.

Layout
------
A mini-batch is one matrix with examples as rows. For layer l with weights
W^l of shape (n_l, n_{l-1}) and biases b^l of shape (n_l,)::

    Z^l = A^{l-1} @ W^l.T + b^l        # (m, n_l)
    A^l = f_l(Z^l)                     # (m, n_l)

Row i of Z^l is the book's column vector z^l = W^l a^{l-1} + b^l for example
i, transposed; so every equation of the book holds row by row. Backprop::

    Delta^L = cost.delta(Z^L, A^L, Y)                   # (m, n_L)
    Delta^l = (Delta^{l+1} @ W^{l+1}) * f_l'(Z^l)       # (m, n_l)
    dC/dW^l = Delta^l.T @ A^{l-1} / m                   # (n_l, n_{l-1})
    dC/db^l = Delta^l.sum(axis=0) / m                   # (n_l,)

which is the book's sum over the examples of a mini-batch done by one matrix
product instead of a Python loop.

Dropout ("inverted"): during training each hidden neuron is kept with
probability 1 - p and its activation scaled by 1/(1 - p), a fresh mask per
mini-batch. At evaluation every neuron is present and nothing is scaled,
which is equivalent to the book's halving of the outgoing weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ._validation import check_features, check_range, check_targets, labels_of, resolve_dtype
from .activations import HIDDEN_ACTIVATIONS, get_activation
from .costs import get_cost
from .initializers import get_initializer
from .limits import MAX_LAYERS, check_network_size
from .regularizers import regularizers_for
from .settings import defaults

__all__ = ["Network", "NetworkConfig"]


#: The defaults of a network's settings (:mod:`nndl.settings`).
_DEFAULTS = defaults("network")

#: Examples per forward pass when predicting or evaluating a data set: bounds
#: the memory of the activations (10,000 x 100 float64 is 8 MB per layer).
EVALUATION_CHUNK = 10_000


@dataclass
class NetworkConfig:
    """Everything needed to rebuild a network's architecture (not its weights).

    ``hidden_activation`` is one name for every hidden layer or a list with one
    name per hidden layer. ``output_activation`` defaults to the cost's natural
    pair (sigmoid for cross-entropy, softmax for log-likelihood, sigmoid for
    quadratic). ``dropout`` is the probability of dropping a hidden neuron,
    one number for all hidden layers or one per hidden layer.
    """

    sizes: list[int] = field(default_factory=lambda: [784, *_DEFAULTS["hidden"], 10])
    hidden_activation: str | list[str] = _DEFAULTS["hidden_activation"]
    cost: str = _DEFAULTS["cost"]
    output_activation: str | None = _DEFAULTS["output_activation"]
    initializer: str = _DEFAULTS["initializer"]
    dropout: float | list[float] = _DEFAULTS["dropout"]
    dtype: str = _DEFAULTS["dtype"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown network option(s): {sorted(unknown)}")
        return cls(**d)


def _check_sizes(sizes) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a list of layer sizes, got {sizes!r}")
    if len(sizes) > MAX_LAYERS:
        check_network_size(sizes)  # says so before looking at every layer
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {sizes}")
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r}")
        out.append(int(s))
    # Before any weight is allocated: a size too large is one line, not a MemoryError.
    check_network_size(out)
    return out


#: The book's methods of its own Network class, found in nndl.network2.
_BOOK_METHODS = frozenset(
    {
        "SGD",
        "update_mini_batch",
        "total_cost",
        "save",
        "default_weight_initializer",
        "large_weight_initializer",
    }
)


class Network:
    """A fully-connected feed-forward network trained by backpropagation.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first: ``[784, 30, 10]``.
    hidden_activation : str or list of str
        ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"linear"``, for every hidden
        layer or one per hidden layer.
    cost : str
        ``"cross_entropy"`` (sigmoid outputs), ``"log_likelihood"`` (softmax
        outputs) or ``"quadratic"`` (sigmoid or linear outputs).
    output_activation : str, optional
        Defaults to the cost's natural pair; an invalid pair is refused.
    initializer : str
        ``"default"`` N(0, 1/n_in), ``"large"`` N(0, 1), ``"glorot"``, ``"he"``.
    dropout : float or list of float
        Probability in [0, 1) of dropping each hidden neuron during training.
    dtype : "float64" or "float32"
    seed : int, optional
        Seed of the generator used for the initial weights (or pass ``rng``).

    Examples
    --------
    >>> net = Network([64, 30, 10], seed=0)
    >>> net.predict(np.zeros((2, 64))).shape
    (2,)
    """

    def __init__(
        self,
        sizes,
        *,
        hidden_activation=_DEFAULTS["hidden_activation"],
        cost=_DEFAULTS["cost"],
        output_activation=_DEFAULTS["output_activation"],
        initializer=_DEFAULTS["initializer"],
        dropout=_DEFAULTS["dropout"],
        dtype=_DEFAULTS["dtype"],
        seed=None,
        rng: np.random.Generator | None = None,
    ):
        self.sizes = _check_sizes(sizes)
        self.dtype = resolve_dtype(dtype)
        n_hidden = len(self.sizes) - 2

        if isinstance(hidden_activation, (list, tuple)):
            names = list(hidden_activation)
            if len(names) != n_hidden:
                raise ValueError(
                    f"hidden_activation lists {len(names)} activations but the network has "
                    f"{n_hidden} hidden layers"
                )
        else:
            names = [hidden_activation] * n_hidden
        self.hidden_activations = [get_activation(n) for n in names]
        for a in self.hidden_activations:
            if a.name not in HIDDEN_ACTIVATIONS:
                raise ValueError(
                    f"{a.name!r} cannot be a hidden activation; expected one of "
                    f"{list(HIDDEN_ACTIVATIONS)}"
                )
        self._hidden_activation_spec = (
            hidden_activation.name if hasattr(hidden_activation, "name") else hidden_activation
        )
        self.cost = get_cost(cost)
        out_name = output_activation or self.cost.output_activations[0]
        self.output_activation = get_activation(out_name)
        self.cost.check_output(self.output_activation.name)

        if isinstance(dropout, (list, tuple)):
            rates = [float(p) for p in dropout]
            if len(rates) != n_hidden:
                raise ValueError(
                    f"dropout lists {len(rates)} rates but the network has {n_hidden} hidden layers"
                )
        else:
            rates = [dropout] * n_hidden
        self.dropout = [
            check_range("dropout", p, low=0.0, high=1.0, high_inclusive=False) for p in rates
        ]
        self.initializer = get_initializer(initializer)
        self._dropout_spec = dropout if not isinstance(dropout, tuple) else list(dropout)

        if rng is None:
            rng = np.random.default_rng(seed)
        self.metadata: dict = {}
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.initialize(rng=rng)

    # ------------------------------------------------------------------ set-up
    @property
    def activations(self):
        """Activation objects of layers 1..L (hidden layers then the output)."""
        return [*self.hidden_activations, self.output_activation]

    @property
    def num_layers(self) -> int:
        return len(self.sizes)

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def num_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    @property
    def target_kind(self) -> str:
        """What a target matrix may hold for this network's cost and output layer."""
        if self.n_outputs == 1:
            return "unit" if self.cost.name == "cross_entropy" else "real"
        if self.output_activation.name == "linear":
            return "real"
        return "onehot"

    def initialize(self, initializer=None, *, rng=None, seed=None) -> None:
        """(Re)draw every weight and bias from an initializer."""
        if initializer is not None:
            self.initializer = get_initializer(initializer)
        if rng is None:
            rng = np.random.default_rng(seed)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w, b = self.initializer((n_out, n_in), rng, self.dtype)
            self.weights.append(np.ascontiguousarray(w, dtype=self.dtype))
            self.biases.append(np.ascontiguousarray(b, dtype=self.dtype))

    @property
    def config(self) -> NetworkConfig:
        """The architecture as a :class:`NetworkConfig`."""
        hidden = [a.name for a in self.hidden_activations]
        if len(set(hidden)) <= 1:
            hidden = hidden[0] if hidden else "sigmoid"
        drop = self.dropout
        drop = (drop[0] if drop else 0.0) if len(set(drop)) <= 1 else list(drop)
        return NetworkConfig(
            sizes=list(self.sizes),
            hidden_activation=hidden,
            cost=self.cost.name,
            output_activation=self.output_activation.name,
            initializer=self.initializer.name,
            dropout=drop,
            dtype=self.dtype.name,
        )

    @classmethod
    def from_config(cls, config: NetworkConfig | dict, *, seed=None, rng=None) -> Network:
        if isinstance(config, dict):
            config = NetworkConfig.from_dict(config)
        return cls(
            config.sizes,
            hidden_activation=config.hidden_activation,
            cost=config.cost,
            output_activation=config.output_activation,
            initializer=config.initializer,
            dropout=config.dropout,
            dtype=config.dtype,
            seed=seed,
            rng=rng,
        )

    def get_params(self) -> list[np.ndarray]:
        """Copies of all parameters, in the order W^1, b^1, W^2, b^2, ..."""
        out = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w.copy(), b.copy()]
        return out

    def set_params(self, params) -> None:
        """Copy parameters (as from :meth:`get_params`) into the network."""
        params = list(params)
        if len(params) != 2 * len(self.weights):
            raise ValueError(f"expected {2 * len(self.weights)} arrays, got {len(params)}")
        for i in range(len(self.weights)):
            for mine, new in (
                (self.weights[i], params[2 * i]),
                (self.biases[i], params[2 * i + 1]),
            ):
                new = np.asarray(new)
                if new.shape != mine.shape:
                    raise ValueError(f"parameter shape {new.shape} does not match {mine.shape}")
                mine[...] = new

    def params(self) -> list[np.ndarray]:
        """The live parameter arrays (not copies), W^1, b^1, W^2, b^2, ..."""
        out = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w, b]
        return out

    def copy(self) -> Network:
        other = Network.from_config(self.config, seed=0)
        other.set_params(self.get_params())
        return other

    def __getattr__(self, name: str):
        # Only called for a missing attribute: point a learner who types the
        # book's methods (chapter 1's network.py habits) to the book's interface.
        if name in _BOOK_METHODS:
            raise AttributeError(
                f"'Network' object has no attribute {name!r}: nndl.network.Network is the "
                f"library's network (train it with nndl.fit); the book's Network with "
                f"{name}() is nndl.network2: from nndl import network2; "
                f"net = network2.Network([784, 30, 10]); net.SGD(training_data, 30, 10, 0.5)"
            )
        raise AttributeError(f"'Network' object has no attribute {name!r}")

    def __repr__(self) -> str:
        c = self.config
        extra = f", dropout={c.dropout}" if any(self.dropout) else ""
        return (
            f"Network({self.sizes}, hidden_activation={c.hidden_activation!r}, "
            f"cost={c.cost!r}, output_activation={c.output_activation!r}, "
            f"initializer={c.initializer!r}{extra}, dtype={c.dtype!r})"
        )

    # ------------------------------------------------------------------ checks
    def check_X(self, X, name: str = "X") -> np.ndarray:
        """Validate inputs for this network and return them in its dtype."""
        return check_features(X, self.n_inputs, self.dtype, name=name)

    def check_y(self, y, n_examples: int, name: str = "y") -> np.ndarray:
        """Validate targets and return a (m, n_outputs) target matrix in the network's dtype."""
        return check_targets(
            y, n_examples, self.n_outputs, self.dtype, name=name, kind=self.target_kind
        )

    # ----------------------------------------------------------------- forward
    def sample_dropout_masks(self, m: int, rng: np.random.Generator):
        """One mask per hidden layer for a mini-batch of m examples, or None.

        Entries are 0 (dropped) or 1/(1 - p) (kept), so the expected activation
        is unchanged and evaluation needs no rescaling.
        """
        if not any(self.dropout):
            return None
        masks = []
        for p, n in zip(self.dropout, self.sizes[1:-1], strict=True):
            if p == 0:
                masks.append(None)
            else:
                keep = rng.random((m, n)) >= p
                masks.append(keep.astype(self.dtype) * (1.0 / (1.0 - p)))
        return masks

    def forward(self, X, masks=None):
        """Run the network on a batch, keeping every layer's values.

        Returns
        -------
        zs : list of arrays, zs[l] of shape (m, n_{l+1})
        activations : list of arrays, activations[0] is X, activations[l] of shape (m, n_l)
            Hidden activations include the dropout mask when ``masks`` is given.
        """
        a = X
        zs, acts = [], [X]
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w.T
            z += b
            if l < last:
                a = self.hidden_activations[l].fn(z)
                if masks is not None and masks[l] is not None:
                    a = a * masks[l]
            else:
                a = self.output_activation.fn(z)
            zs.append(z)
            acts.append(a)
        return zs, acts

    def output_z(self, X) -> np.ndarray:
        """Pre-activations of the output layer, no dropout: shape (m, n_L)."""
        a = X
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w.T
            z += b
            if l < last:
                a = self.hidden_activations[l].fn(z)
        return z

    def feedforward(self, X) -> np.ndarray:
        """Output activations for a batch (examples as rows), no dropout."""
        X = self.check_X(X)
        return self.output_activation.fn(self.output_z(X))

    # -------------------------------------------------------------- backprop
    def backprop(self, X, Y, masks=None, scale: float = 1.0):
        """Gradient of the mean cost over the batch (no regularization term).

        Parameters
        ----------
        X : (m, n_0) array in the network's dtype
        Y : (m, n_L) target matrix in the network's dtype
        masks : optional dropout masks from :meth:`sample_dropout_masks`
        scale : float
            Multiply every gradient by this (:meth:`nndl.optimizers.SGD.update`
            passes eta). Backprop is linear in delta^L, so scaling delta^L
            once is cheaper than scaling each gradient matrix.

        Returns
        -------
        nabla_w : list of arrays shaped like ``weights``
        nabla_b : list of arrays shaped like ``biases``
        """
        zs, acts = self.forward(X, masks)
        L = len(self.weights)
        nabla_w = [None] * L
        nabla_b = [None] * L
        delta = self.cost.delta(zs[-1], acts[-1], Y, self.output_activation)  # (m, n_L)
        delta *= scale / X.shape[0]  # the 1/m of the mean, folded in once
        for l in range(L - 1, -1, -1):
            nabla_w[l] = delta.T @ acts[l]  # (n_{l+1}, n_l)
            nabla_b[l] = delta.sum(axis=0)
            if l > 0:
                delta = delta @ self.weights[l]  # (m, n_l)
                delta *= self.hidden_activations[l - 1].prime(zs[l - 1])
                if masks is not None and masks[l - 1] is not None:
                    delta *= masks[l - 1]
        return nabla_w, nabla_b

    def batch_cost(self, X, Y, masks=None) -> float:
        """Mean per-example cost over a batch with optional dropout masks (no penalty)."""
        zs, _ = self.forward(X, masks)
        return float(np.mean(self.cost.per_example(zs[-1], Y, self.output_activation)))

    # -------------------------------------------------------------- evaluate
    def _chunks(self, n: int, batch_size: int):
        for start in range(0, n, batch_size):
            yield slice(start, min(start + batch_size, n))

    def predict_proba(self, X, batch_size: int = EVALUATION_CHUNK) -> np.ndarray:
        """Output activations, evaluated in chunks to bound memory: shape (m, n_L)."""
        X = self.check_X(X)
        batch_size = check_range("batch_size", batch_size, low=1, integer=True)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        for s in self._chunks(X.shape[0], batch_size):
            out[s] = self.output_activation.fn(self.output_z(X[s]))
        return out

    def predict(self, X, batch_size: int = EVALUATION_CHUNK) -> np.ndarray:
        """Predicted class of each example: argmax of the output activations."""
        return np.argmax(self.predict_proba(X, batch_size), axis=1)

    def accuracy(self, X, y, batch_size: int = EVALUATION_CHUNK) -> float:
        """Fraction of examples whose predicted class equals the label.

        ``y`` may be integer labels (m,) or one-hot rows (m, k).
        """
        X = self.check_X(X)
        labels = labels_of(self.check_y(y, X.shape[0]))
        return float(np.mean(self.predict(X, batch_size) == labels))

    def cost_value(
        self,
        X,
        y,
        *,
        l2: float = 0.0,
        l1: float = 0.0,
        n: int | None = None,
        batch_size: int = EVALUATION_CHUNK,
    ) -> float:
        """Mean cost over a data set plus the regularization term.

        The penalty uses ``n``, the size of the *training* set (default: the
        size of this data set), so that costs on held-out data are comparable
        with the training cost.
        """
        X = self.check_X(X)
        Y = self.check_y(y, X.shape[0])
        n = self._training_set_size(n, X.shape[0])
        batch_size = check_range("batch_size", batch_size, low=1, integer=True)
        total = 0.0
        for s in self._chunks(X.shape[0], batch_size):
            total += float(
                np.sum(self.cost.per_example(self.output_z(X[s]), Y[s], self.output_activation))
            )
        return total / X.shape[0] + self.penalty(l2=l2, l1=l1, n=n)

    def evaluate(
        self,
        X,
        y,
        *,
        cost: bool = True,
        accuracy: bool = True,
        l2: float = 0.0,
        l1: float = 0.0,
        n: int | None = None,
        batch_size: int = EVALUATION_CHUNK,
    ) -> dict:
        """Cost (as :meth:`cost_value`) and accuracy (as :meth:`accuracy`) in one pass.

        Monitoring both on a data set costs one forward pass instead of two.
        Returns ``{"loss": ..., "accuracy": ...}`` with the keys asked for.
        """
        X = self.check_X(X)
        Y = self.check_y(y, X.shape[0])
        n = self._training_set_size(n, X.shape[0])
        batch_size = check_range("batch_size", batch_size, low=1, integer=True)
        return self._evaluate_checked(
            X, Y, cost=cost, accuracy=accuracy, l2=l2, l1=l1, n=n, batch_size=batch_size
        )

    def _evaluate_checked(
        self, X, Y, *, cost: bool, accuracy: bool, l2: float, l1: float, n: int, batch_size: int
    ) -> dict:
        """:meth:`evaluate` on data already checked by :meth:`check_X` and
        :meth:`check_y` (a trainer's, after every epoch): checking 10,000
        MNIST images for nan again costs about a sixth of the evaluation."""
        m = X.shape[0]
        labels = labels_of(Y) if accuracy else None
        total, correct = 0.0, 0
        for s in self._chunks(m, batch_size):
            z = self.output_z(X[s])
            if cost:
                total += float(np.sum(self.cost.per_example(z, Y[s], self.output_activation)))
            if accuracy:
                predicted = np.argmax(self.output_activation.fn(z), axis=1)
                correct += int(np.count_nonzero(predicted == labels[s]))
        out = {}
        if cost:
            out["loss"] = total / m + self.penalty(l2=l2, l1=l1, n=n)
        if accuracy:
            out["accuracy"] = correct / m
        return out

    @staticmethod
    def _training_set_size(n, m: int) -> int:
        """The ``n`` of the penalty term: the given training-set size, or ``m`` when None."""
        return m if n is None else check_range("n", n, low=1, integer=True)

    def penalty(self, *, l2: float = 0.0, l1: float = 0.0, n: int) -> float:
        """lambda2/(2n) sum w^2 + lambda1/n sum |w| over every weight (not biases)."""
        n = check_range("n", n, low=1, integer=True)
        return sum(r.penalty(self.weights, n) for r in regularizers_for(l2=l2, l1=l1))
