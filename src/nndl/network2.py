"""The book's ``network2`` interface, running on nndl's vectorized core.

Every interactive snippet of chapter 3 runs unchanged (in Python 3)::

    >>> from nndl import mnist_loader, network2
    >>> training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    >>> net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    >>> net.large_weight_initializer()
    >>> net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
    ...         monitor_evaluation_accuracy=True)              # doctest: +SKIP
    Epoch 0 training complete
    Accuracy on evaluation data: 9093 / 10000
    ...

Why a facade and not the book's code: the book's ``SGD`` runs one Python loop
per training example and keeps each bias as a column vector. Here the list of
``(x, y)`` pairs is turned into two matrices *once* per call, and the epochs
are run by :class:`nndl.training.Trainer`, which backpropagates a whole
mini-batch with a few matrix products. A callback prints what the book
prints and collects the four lists the book returns.

The arrays a user sees look like the book's: ``net.weights[l]`` has shape
(n_out, n_in) and ``net.biases[l]`` shape (n_out, 1). They are *views* of
the core network's arrays, so reading them or changing them in place acts on
the network that trains (see :class:`Network`).

Deliberate differences from the book's code (all listed, with reasons, in
``docs/book-differences.md``):

* the L2 term of ``total_cost`` uses the size n of the *training* set, the n
  of C = C0 + lambda/(2n) sum w^2, not the size of the set being evaluated,
  so costs on evaluation data are comparable with the training cost;
* the evaluation accuracy is computed once per epoch, not twice;
* ``save`` works when the cost is given as an instance;
* the caller's ``training_data`` list is never shuffled in place;
* randomness comes from a ``numpy.random.Generator`` (pass ``seed=`` for a
  reproducible run; by default it is fresh, as the book's global state is);
* a run that diverges (weights overflowing, as with eta=10, lmbda=1000 on
  1,000 images, where the decay factor 1 - eta lmbda / n is -9) stops with a
  message and keeps the parameters of the last good epoch, instead of
  carrying nan weights through the remaining epochs.
"""

from __future__ import annotations

import numpy as np

from . import costs as _costs
from ._io import atomic_write_json
from ._validation import check_range
from .activations import sigmoid as _sigmoid
from .activations import sigmoid_prime as _sigmoid_prime
from .callbacks import Callback
from .network import Network as _CoreNetwork
from .training import DivergenceError, Trainer

__all__ = [
    "CrossEntropyCost",
    "Network",
    "QuadraticCost",
    "load",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
]


# ---------------------------------------------------------------------------
# The book's small functions


#: The sigmoid function 1 / (1 + e^-z), elementwise; it never overflows.
sigmoid = _sigmoid

#: Derivative of the sigmoid, sigma(z) (1 - sigma(z)), elementwise.
sigmoid_prime = _sigmoid_prime


def vectorized_result(j, n: int = 10) -> np.ndarray:
    """A (n, 1) column vector with 1.0 in row ``j`` and zeros elsewhere.

    This is how the book turns a digit label into the desired network output.
    """
    j = check_range("j", j, low=0, high=n - 1, integer=True)
    e = np.zeros((n, 1))
    e[j] = 1.0
    return e


# ---------------------------------------------------------------------------
# Costs, with the book's static fn(a, y) and delta(z, a, y)


class QuadraticCost:
    """C = 1/2 ||a - y||^2; output error delta = (a - y) sigma'(z).

    The sigma'(z) factor is why learning slows down when a sigmoid output
    saturates on the wrong value.
    """

    @staticmethod
    def fn(a, y):
        """Cost of one output ``a`` with desired output ``y`` (summed if given several)."""
        d = np.asarray(a, dtype=np.float64) - y
        return 0.5 * float(np.sum(d * d))

    @staticmethod
    def delta(z, a, y):
        """Output error dC/dz for the quadratic cost with sigmoid outputs."""
        return (a - y) * _sigmoid_prime(z)


class CrossEntropyCost:
    """C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]; output error delta = a - y.

    The sigma'(z) factor cancels, so a badly wrong, saturated output still
    learns fast.
    """

    @staticmethod
    def fn(a, y):
        """Cost of one output ``a`` with desired output ``y`` (summed if given several).

        Only ``a`` is known here, not z, so an output that is exactly 0 or 1
        in floating point is clipped to the nearest representable value
        before the logarithm: the cost stays finite (the book uses
        ``nan_to_num`` for the same purpose), and a == y gives exactly 0.
        """
        a = np.asarray(a, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        tiny = np.finfo(np.float64).tiny
        log_a = np.log(np.maximum(a, tiny))
        log_1ma = np.log(np.maximum(1.0 - a, tiny))
        # 0 * log(...) must be 0 even where the log is huge: mask, don't multiply.
        t1 = np.where(y > 0, y * log_a, 0.0)
        t2 = np.where(y < 1, (1.0 - y) * log_1ma, 0.0)
        return float(-np.sum(t1 + t2))

    @staticmethod
    def delta(z, a, y):
        """Output error dC/dz for cross-entropy with sigmoid outputs: a - y."""
        return a - y


_BOOK_TO_CORE = {CrossEntropyCost: "cross_entropy", QuadraticCost: "quadratic"}
_CORE_TO_BOOK = {v: k for k, v in _BOOK_TO_CORE.items()}


class _BookCostAdapter(_costs.Cost):
    """A user-written book-style cost class (``fn``, ``delta``) used by the core.

    The book's cost classes take column vectors; the core passes batches with
    examples as rows, so the arrays are transposed on the way in and out. The
    book's ``delta`` formulas are elementwise, so one call handles a whole
    mini-batch. ``fn`` returns one number per call (the book sums inside it),
    so the cost is evaluated example by example, only when a cost is reported.
    """

    output_activations = ("sigmoid",)

    def __init__(self, book_cost):
        self.book_cost = book_cost
        self.name = _cost_class(book_cost).__name__

    def per_example(self, z, y, output):
        a = output.fn(z)
        fn = self.book_cost.fn
        return np.array([fn(a[i][:, None], y[i][:, None]) for i in range(a.shape[0])])

    def delta(self, z, a, y, output=None):
        return np.asarray(self.book_cost.delta(z.T, a.T, y.T)).T

    def __repr__(self) -> str:
        return f"_BookCostAdapter({self.name})"


def _cost_class(cost) -> type:
    return cost if isinstance(cost, type) else type(cost)


def _core_cost(cost):
    """The core cost for a book cost given as a class or an instance."""
    cls = _cost_class(cost)
    for book, name in _BOOK_TO_CORE.items():
        # A subclass that keeps the book's formulas is the same cost; one that
        # overrides them is the user's own and goes through the adapter.
        if issubclass(cls, book) and cls.fn is book.fn and cls.delta is book.delta:
            return name
    if not (callable(getattr(cls, "fn", None)) and callable(getattr(cls, "delta", None))):
        raise TypeError(
            "cost must be network2.CrossEntropyCost or network2.QuadraticCost (class or "
            f"instance), or a class with static fn(a, y) and delta(z, a, y); got {cost!r}"
        )
    return _BookCostAdapter(cost)


# ---------------------------------------------------------------------------
# Data: the book's lists of (x, y) column-vector pairs <-> matrices


def _stack(arrays, dtype, what: str) -> np.ndarray:
    """np.stack, converting to ``dtype`` on the way (one pass over the data)."""
    try:
        return np.stack(arrays, dtype=dtype)
    except ValueError as exc:
        raise ValueError(f"{what} do not all have the same shape") from exc
    except TypeError as exc:
        raise TypeError(f"{what} must be real numbers: {exc}") from exc


def _to_arrays(data, n_in: int, what: str, dtype=np.float64):
    """Turn a list of (x, y) pairs into X (m, n_in) and y (labels (m,) or targets (m, k)).

    ``x`` may be a column (n_in, 1) or a flat (n_in,) vector. ``y`` is an
    integer label (validation and test data in the book) or a column vector
    (one-hot training targets); which one is detected from the first pair, so
    the ``convert`` flags of the book cannot give a wrong answer. X and
    vector targets come out in ``dtype`` (the network's), converted while
    stacking, so the trainer needs no second copy.
    """
    if isinstance(data, (str, bytes, np.ndarray)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{what} must be a list of (x, y) pairs, got {type(data).__name__}")
    data = data if isinstance(data, (list, tuple)) else list(data)
    if len(data) == 0:
        raise ValueError(f"{what} is empty: it has no (x, y) pairs")
    xs, ys = [], []
    for i, pair in enumerate(data):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"{what}[{i}] must be a pair (x, y), got {type(pair).__name__}")
        xs.append(pair[0])
        ys.append(pair[1])
    X = _stack([np.asarray(x) for x in xs], dtype, f"the inputs x of {what}")
    if X.ndim == 3 and X.shape[2] == 1:
        X = X[:, :, 0]
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(
            f"each x of {what} must be a column vector of shape ({n_in}, 1) for this "
            f"network, got shape {np.asarray(xs[0]).shape}"
        )
    if np.ndim(ys[0]) == 0:
        y = np.asarray(ys)
        if y.ndim != 1:
            raise ValueError(f"the labels y of {what} mix integers and vectors")
    else:
        y = _stack([np.asarray(v) for v in ys], dtype, f"the targets y of {what}")
        if y.ndim == 3 and y.shape[2] == 1:
            y = y[:, :, 0]
    return X, y


# ---------------------------------------------------------------------------
# Parameter lists that stay in sync with the core network


class _LayerList(list):
    """The book's view of one parameter family (``weights`` or ``biases``).

    Items are views of the core network's arrays (biases reshaped to columns),
    so in-place changes reach the network. Assigning an item
    (``net.biases[0] = b``) copies the new values into the network after
    checking the shape.
    """

    def __init__(self, owner: Network, family: str):
        self._owner = owner
        self._family = family
        super().__init__(owner._views(family))

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            raise TypeError(f"assign {self._family} one layer at a time or as a whole list")
        targets = self._owner._views(self._family)
        target = targets[index]
        new = np.asarray(value)
        if new.shape != target.shape:
            raise ValueError(
                f"{self._family}[{index}] must have shape {target.shape}, got {new.shape}"
            )
        target[...] = new
        super().__setitem__(index, target)

    def __delitem__(self, index):
        raise TypeError(f"the number of layers is fixed; cannot delete {self._family}[{index}]")

    def _fixed(self, *args, **kwargs):
        raise TypeError(f"the number of layers is fixed; {self._family} cannot change length")

    append = extend = insert = pop = remove = clear = _fixed
    __iadd__ = __imul__ = _fixed


# ---------------------------------------------------------------------------
# Printing and collecting, the book's way


class _BookMonitor(Callback):
    """Prints the book's per-epoch lines and gathers the four lists it returns.

    Accuracies are counts (the number of correct examples), as in the book.
    It also keeps a copy of the parameters at the start of each epoch, so a
    run that diverges can stop on the last good parameters.
    """

    def __init__(self, flags: dict, n_train: int, n_eval: int, early_stopping_n: int, out):
        self.flags = flags
        self.n_train = n_train
        self.n_eval = n_eval
        self.early_stopping_n = early_stopping_n
        self.out = out
        self.evaluation_cost: list[float] = []
        self.evaluation_accuracy: list[int] = []
        self.training_cost: list[float] = []
        self.training_accuracy: list[int] = []
        self.saved = None
        self.best = -1
        self.since_best = 0

    def _print(self, *args):
        print(*args, file=self.out)

    def on_epoch_begin(self, trainer, epoch):
        self.saved = trainer.network.get_params()

    def on_epoch_end(self, trainer, epoch, logs):
        f = self.flags
        self._print(f"Epoch {epoch} training complete")
        if f["training_cost"]:
            self.training_cost.append(logs["loss"])
            self._print(f"Cost on training data: {logs['loss']}")
        if f["training_accuracy"]:
            count = round(logs["accuracy"] * self.n_train)
            self.training_accuracy.append(count)
            self._print(f"Accuracy on training data: {count} / {self.n_train}")
        if f["evaluation_cost"]:
            self.evaluation_cost.append(logs["val_loss"])
            self._print(f"Cost on evaluation data: {logs['val_loss']}")
        count = None
        if "val_accuracy" in logs:
            count = round(logs["val_accuracy"] * self.n_eval)
        if f["evaluation_accuracy"]:
            self.evaluation_accuracy.append(count)
            self._print(f"Accuracy on evaluation data: {count} / {self.n_eval}")
        self._print()
        if self.early_stopping_n and count is not None:
            if count > self.best:
                self.best, self.since_best = count, 0
            else:
                self.since_best += 1
            if self.since_best >= self.early_stopping_n:
                self._print(
                    f"Early stopping: no improvement in evaluation accuracy in the last "
                    f"{self.early_stopping_n} epochs"
                )
                trainer.stop_training = True

    @property
    def lists(self):
        return (
            self.evaluation_cost,
            self.evaluation_accuracy,
            self.training_cost,
            self.training_accuracy,
        )


def _divergence_note(exc, epoch: int, eta: float, lmbda: float, n: int) -> str:
    """The message printed when a run diverges, naming the likely cause."""
    decay = 1.0 - eta * lmbda / n
    why = str(exc).rstrip(".")
    if abs(decay) > 1.0:
        # The book's weight decay w <- (1 - eta lmbda / n) w amplifies instead.
        why = (
            f"training diverged in epoch {epoch}: the weight-decay factor "
            f"1 - eta*lmbda/n = 1 - {eta:g}*{lmbda:g}/{n} = {decay:g} has magnitude over 1, "
            "so the weights grow at every step; use a smaller eta or lmbda"
        )
    return f"Training stopped: {why}. The network keeps its parameters from before epoch {epoch}."


# ---------------------------------------------------------------------------
# The network


class Network:
    """The book's ``network2.Network``, backed by a vectorized :class:`nndl.Network`.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    cost : class or instance
        ``CrossEntropyCost`` (default) or ``QuadraticCost``, as a class or an
        instance; or a class of your own with static ``fn(a, y)`` and
        ``delta(z, a, y)`` on column vectors, as in the book.
    seed : int, optional (keyword only, not in the book)
        Seed of the generator used for the initial weights and the shuffling
        in :meth:`SGD`. Without it every network is different, like the book's.
    dtype : "float64" (default) or "float32" (keyword only, not in the book)

    Attributes
    ----------
    sizes, num_layers, cost : as in the book
    weights : list of arrays (n_out, n_in)
    biases : list of arrays (n_out, 1)
        Views of the core network's parameters: ``net.weights[0] *= 0.5``
        changes the network, and so does assigning ``net.weights[0] = w`` or
        ``net.weights = [...]`` (the shapes are checked).
    network : nndl.Network
        The core network itself (shared, not copied), for the main API:
        ``nndl.save(net.network, path)``, ``net.network.predict(X)``.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, *, seed=None, dtype="float64"):
        self._rng = np.random.default_rng(seed)
        self.cost = cost
        self._net = _CoreNetwork(
            sizes, cost=_core_cost(cost), initializer="default", dtype=dtype, rng=self._rng
        )
        self.sizes = list(self._net.sizes)
        self.num_layers = len(self.sizes)
        #: Size of the training set of the last SGD call: the n of the L2 term.
        self.n_train: int | None = None

    @classmethod
    def from_nndl(cls, net: _CoreNetwork, *, seed=None) -> Network:
        """Wrap a core network (shared, not copied) in the book's interface.

        Only what the book's code can express is accepted: sigmoid neurons
        throughout and the cross-entropy or quadratic cost.
        """
        if not isinstance(net, _CoreNetwork):
            raise TypeError(f"expected an nndl.Network, got {type(net).__name__}")
        acts = [a.name for a in net.activations]
        problems = []
        if any(a != "sigmoid" for a in acts):
            problems.append(f"activations {acts} (the book uses sigmoid neurons only)")
        if net.cost.name not in _CORE_TO_BOOK:
            problems.append(f"cost {net.cost.name!r} (the book has cross_entropy and quadratic)")
        if any(net.dropout):
            problems.append(f"dropout {net.dropout} (the book's network2 has no dropout)")
        if problems:
            raise ValueError(
                "this network cannot be used through network2: "
                + "; ".join(problems)
                + ". Use the main API (nndl.Network, nndl.load) instead"
            )
        self = cls.__new__(cls)
        self._rng = np.random.default_rng(seed)
        self.cost = _CORE_TO_BOOK[net.cost.name]
        self._net = net
        self.sizes = list(net.sizes)
        self.num_layers = len(self.sizes)
        self.n_train = None
        return self

    # ------------------------------------------------------------ parameters
    @property
    def network(self) -> _CoreNetwork:
        """The underlying core network (live, not a copy)."""
        return self._net

    def _views(self, family: str) -> list[np.ndarray]:
        if family == "weights":
            return list(self._net.weights)
        return [b[:, None] for b in self._net.biases]  # (n_out,) -> (n_out, 1) view

    @property
    def weights(self) -> list[np.ndarray]:
        """W^l for l = 2..L, each of shape (n_out, n_in): views of the network's weights."""
        return _LayerList(self, "weights")

    @weights.setter
    def weights(self, value) -> None:
        self._assign("weights", value)

    @property
    def biases(self) -> list[np.ndarray]:
        """b^l for l = 2..L, each a column (n_out, 1): views of the network's biases."""
        return _LayerList(self, "biases")

    @biases.setter
    def biases(self, value) -> None:
        self._assign("biases", value)

    def _assign(self, family: str, value) -> None:
        value = list(value)
        targets = self._views(family)
        if len(value) != len(targets):
            raise ValueError(
                f"{family} must be a list of {len(targets)} arrays for sizes {self.sizes}, "
                f"got {len(value)}"
            )
        new = [np.asarray(v) for v in value]
        for l, (t, v) in enumerate(zip(targets, new, strict=True)):
            if v.shape != t.shape:
                raise ValueError(f"{family}[{l}] must have shape {t.shape}, got {v.shape}")
            if not np.isfinite(v).all():
                raise ValueError(f"{family}[{l}] contains nan or inf values")
        for t, v in zip(targets, new, strict=True):
            t[...] = v

    def default_weight_initializer(self) -> None:
        """Weights ~ N(0, 1/n_in), biases ~ N(0, 1): the chapter's improved start.

        With n_in inputs the weighted sum z then has a standard deviation of
        order 1, so the hidden neurons do not start saturated.
        """
        self._net.initialize("default", rng=self._rng)

    def large_weight_initializer(self) -> None:
        """Weights and biases ~ N(0, 1): the chapter 1 start, kept for comparison."""
        self._net.initialize("large", rng=self._rng)

    # ------------------------------------------------------------- evaluate
    def feedforward(self, a):
        """The network's output for input ``a``.

        ``a`` is a column vector (n_in, 1), as in the book, giving (n_out, 1);
        a matrix (n_in, m) whose columns are m inputs gives (n_out, m); a flat
        vector (n_in,) gives (n_out,).
        """
        a = np.asarray(a)
        n_in = self.sizes[0]
        if a.ndim == 1:
            if a.shape[0] != n_in:
                raise ValueError(f"a must have {n_in} entries, got shape {a.shape}")
            return self._net.feedforward(a[None, :])[0]
        if a.ndim != 2 or a.shape[0] != n_in:
            raise ValueError(
                f"a must be a column vector ({n_in}, 1) or a matrix ({n_in}, m) of columns, "
                f"got shape {a.shape}"
            )
        return self._net.feedforward(a.T).T

    def accuracy(self, data, convert: bool = False) -> int:
        """The number of examples of ``data`` that the network classifies correctly.

        ``data`` is a list of (x, y) pairs. ``convert`` is accepted as in the
        book (True for one-hot training targets) but not needed: the layout of
        y is read from the data.
        """
        X, y = _to_arrays(data, self.sizes[0], "data", self._net.dtype)
        return round(self._net.accuracy(X, y) * X.shape[0])

    def total_cost(self, data, lmbda, convert: bool = False, *, n: int | None = None) -> float:
        """Mean cost over ``data`` plus the L2 term lambda/(2n) sum_w w^2.

        n is the size of the training set, as in the definition of the
        regularized cost: by default that of the last :meth:`SGD` call (the
        size of ``data`` when the network has not been trained), or ``n=``.
        The book divides by the size of ``data`` instead, which makes the
        cost on 10,000 test images carry five times the penalty of the cost
        on 50,000 training images. ``convert`` is accepted and not needed.
        """
        lmbda = check_range("lmbda", lmbda, low=0.0)
        X, y = _to_arrays(data, self.sizes[0], "data", self._net.dtype)
        if n is None:
            n = self.n_train or X.shape[0]
        n = check_range("n", n, low=1, integer=True)
        return float(self._net.cost_value(X, y, l2=lmbda, n=n))

    # ---------------------------------------------------------------- train
    def SGD(
        self,
        training_data,
        epochs,
        mini_batch_size,
        eta,
        lmbda=0.0,
        evaluation_data=None,
        monitor_evaluation_cost=False,
        monitor_evaluation_accuracy=False,
        monitor_training_cost=False,
        monitor_training_accuracy=False,
        early_stopping_n=0,
        *,
        file=None,
    ):
        """Mini-batch stochastic gradient descent with L2 regularization.

        Each update is ``w <- (1 - eta lmbda / n) w - (eta / m) sum_x dC_x/dw``
        and ``b <- b - (eta / m) sum_x dC_x/db`` over a mini-batch of m
        examples, n being ``len(training_data)``. Prints "Epoch j training
        complete" and the monitored figures after every epoch.

        Parameters
        ----------
        training_data : list of (x, y) pairs, x (n_in, 1), y one-hot (n_out, 1)
        epochs, mini_batch_size : int
        eta : float
            Learning rate, > 0.
        lmbda : float
            L2 regularization parameter, >= 0.
        evaluation_data : list of (x, y) pairs, y an integer label, optional
        monitor_* : bool
            Which figures to record and print after each epoch.
        early_stopping_n : int
            Stop when the evaluation accuracy has not improved for this many
            epochs (0: never). Needs ``evaluation_data``.
        file : text stream, optional (keyword only, not in the book)
            Where to print (default: standard output).

        Returns
        -------
        (evaluation_cost, evaluation_accuracy, training_cost, training_accuracy)
            Lists with one entry per epoch for each monitored figure (empty
            otherwise); accuracies are counts of correct examples.
        """
        epochs = check_range("epochs", epochs, low=0, integer=True)
        mini_batch_size = check_range("mini_batch_size", mini_batch_size, low=1, integer=True)
        eta = check_range("eta", eta, low=0.0, low_inclusive=False)
        lmbda = check_range("lmbda", lmbda, low=0.0)
        early_stopping_n = check_range("early_stopping_n", early_stopping_n, low=0, integer=True)
        flags = {
            "evaluation_cost": bool(monitor_evaluation_cost),
            "evaluation_accuracy": bool(monitor_evaluation_accuracy),
            "training_cost": bool(monitor_training_cost),
            "training_accuracy": bool(monitor_training_accuracy),
        }
        wants_eval = flags["evaluation_cost"] or flags["evaluation_accuracy"] or early_stopping_n
        if wants_eval and evaluation_data is None:
            raise ValueError(
                "monitor_evaluation_cost, monitor_evaluation_accuracy and early_stopping_n "
                "need evaluation_data"
            )

        # The one conversion from the book's lists of pairs to matrices.
        X, Y = _to_arrays(training_data, self.sizes[0], "training_data", self._net.dtype)
        validation = None
        n_eval = 0
        if evaluation_data is not None:
            Xv, yv = _to_arrays(evaluation_data, self.sizes[0], "evaluation_data", self._net.dtype)
            validation, n_eval = (Xv, yv), Xv.shape[0]
        n = X.shape[0]

        monitor = [
            key
            for key, on in (
                ("loss", flags["training_cost"]),
                ("accuracy", flags["training_accuracy"]),
                ("val_loss", flags["evaluation_cost"]),
                ("val_accuracy", flags["evaluation_accuracy"] or early_stopping_n > 0),
            )
            if on
        ]
        printer = _BookMonitor(flags, n, n_eval, early_stopping_n, file)
        trainer = Trainer(
            self._net,
            epochs=epochs,
            mini_batch_size=mini_batch_size,
            learning_rate=eta,
            l2=lmbda,
            monitor=monitor,
            callbacks=[printer],
        )
        trainer.rng = self._rng  # one generator per facade network: seed= makes runs repeatable
        self.n_train = n
        try:
            # Overflow while monitoring (a penalty on huge weights) is divergence too.
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                trainer.fit(X, Y, validation)
        except (DivergenceError, FloatingPointError) as exc:
            if printer.saved is not None:
                self._net.set_params(printer.saved)
            print(_divergence_note(exc, trainer.epoch, eta, lmbda, n), file=file)
        return printer.lists

    # ------------------------------------------------------------------ save
    def save(self, filename) -> None:
        """Save to ``filename`` in the book's JSON format (written atomically).

        ``{"sizes", "weights", "biases", "cost"}`` with the cost's class name;
        works whether the cost was given as a class or an instance. The file
        loads with :func:`load` here, with ``nndl.load`` and with the book's
        own code.
        """
        cls = _cost_class(self.cost)
        name = self._net.cost.name
        if name not in _CORE_TO_BOOK:
            raise ValueError(
                f"cannot save a network whose cost is the custom class {cls.__name__}: the "
                "book's format knows only CrossEntropyCost and QuadraticCost"
            )
        doc = {
            "sizes": list(self.sizes),
            "weights": [w.tolist() for w in self._net.weights],
            "biases": [b[:, None].tolist() for b in self._net.biases],
            "cost": _CORE_TO_BOOK[name].__name__,
        }
        atomic_write_json(filename, doc, indent=None)

    def __repr__(self) -> str:
        return f"network2.Network({self.sizes}, cost={_cost_class(self.cost).__name__})"


def load(filename, *, seed=None) -> Network:
    """Load a network saved by :meth:`Network.save`, by the book's code or by ``nndl.save``.

    The file is parsed and checked by :func:`nndl.serialization.load` (no
    code is executed, whatever the file says); an nndl file must describe a
    network the book's interface can express (sigmoid neurons, cross-entropy
    or quadratic cost).
    """
    from .serialization import load as _load

    return Network.from_nndl(_load(filename), seed=seed)
