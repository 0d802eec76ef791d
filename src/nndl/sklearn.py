"""A scikit-learn compatible classifier on top of nndl's network and trainer.

>>> from sklearn.model_selection import GridSearchCV                # doctest: +SKIP
>>> from nndl.sklearn import NetworkClassifier
>>> search = GridSearchCV(NetworkClassifier(epochs=10),
...                       {"learning_rate": [0.1, 0.5], "l2": [0.0, 1.0]}, cv=3)
>>> search.fit(X, y).best_params_                                    # doctest: +SKIP

:class:`NetworkClassifier` follows scikit-learn's estimator contract
(parameters stored untouched by ``__init__``, fitted attributes ending in
``_``, input validation, ``classes_``), so it drops into ``GridSearchCV``,
``cross_val_score`` and pipelines. scikit-learn is an optional dependency,
imported only by this module (``pip install "nndl[svm]"``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import settings
from .network import Network
from .training import Trainer

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, X, y="no_validation", reset=True, **kwargs):
        return estimator._validate_data(X, y, reset=reset, **kwargs)


__all__ = ["NetworkClassifier"]

#: The classifier's parameters that are run settings (:mod:`nndl.settings`),
#: by parameter name: their defaults, ranges and meaning come from there.
SHARED_PARAMETERS = {
    "hidden_layer_sizes": "hidden",
    "activation": "hidden_activation",
    "cost": "cost",
    "learning_rate": "learning_rate",
    "l2": "l2",
    "l1": "l1",
    "dropout": "dropout",
    "momentum": "momentum",
    "optimizer": "optimizer",
    "mini_batch_size": "mini_batch_size",
    "epochs": "epochs",
    "initializer": "initializer",
    "dtype": "dtype",
}


def _immutable(value):
    # scikit-learn wants immutable defaults: a tuple for the layer sizes.
    return tuple(value) if isinstance(value, list) else value


#: The defaults of the shared parameters, from the schema.
_DEFAULTS = {p: _immutable(settings.default(name)) for p, name in SHARED_PARAMETERS.items()}


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """A fully-connected network trained by mini-batch SGD, as a scikit-learn classifier.

    The input layer has one neuron per feature and the output layer one per
    class (``classes_`` may be any labels: they are encoded as 0..k-1 and
    decoded on prediction). Training is reproducible from ``random_state``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Neurons per hidden layer; ``()`` for no hidden layer.
    activation : str
        Hidden activation: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"linear"``.
    cost : str
        ``"cross_entropy"`` (sigmoid outputs) or ``"log_likelihood"``
        (softmax outputs), or ``"quadratic"``.
    learning_rate : float
        eta > 0.
    l2, l1 : float
        Regularization parameters (lambda), scaled by the training-set size n.
    dropout : float
        Probability in [0, 1) of dropping a hidden neuron during training.
    momentum : float
        mu in [0, 1); without an ``optimizer`` a non-zero momentum selects
        the momentum optimizer.
    optimizer : str or None
        ``"sgd"``, ``"momentum"`` or ``"nesterov"``; None (the default) means
        ``"sgd"``, or ``"momentum"`` when ``momentum`` > 0.
    mini_batch_size : int
    epochs : int
    initializer : str
        ``"default"`` (N(0, 1/n_in)), ``"large"``, ``"glorot"`` or ``"he"``.
    dtype : str
        ``"float64"`` or ``"float32"``.
    random_state : int, numpy Generator or None
        Seed of the initial weights, the shuffling and dropout.

    Attributes
    ----------
    classes_ : ndarray of the class labels seen in ``fit``
    n_features_in_ : int
    network_ : Network, the trained network
    history_ : History of the training run (the training cost per epoch)
    """

    def __init__(
        self,
        hidden_layer_sizes=_DEFAULTS["hidden_layer_sizes"],
        activation=_DEFAULTS["activation"],
        cost=_DEFAULTS["cost"],
        learning_rate=_DEFAULTS["learning_rate"],
        l2=_DEFAULTS["l2"],
        l1=_DEFAULTS["l1"],
        dropout=_DEFAULTS["dropout"],
        momentum=_DEFAULTS["momentum"],
        optimizer=_DEFAULTS["optimizer"],
        mini_batch_size=_DEFAULTS["mini_batch_size"],
        epochs=_DEFAULTS["epochs"],
        initializer=_DEFAULTS["initializer"],
        dtype=_DEFAULTS["dtype"],
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.cost = cost
        self.learning_rate = learning_rate
        self.l2 = l2
        self.l1 = l1
        self.dropout = dropout
        self.momentum = momentum
        self.optimizer = optimizer
        self.mini_batch_size = mini_batch_size
        self.epochs = epochs
        self.initializer = initializer
        self.dtype = dtype
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def _seeds(self):
        """Two seeds (weights, training) from ``random_state``; fresh ones when None."""
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            seeds = rs.randint(0, 2**31 - 1, size=2)
        else:
            gen = rs if isinstance(rs, np.random.Generator) else np.random.default_rng(rs)
            seeds = gen.integers(0, 2**31 - 1, size=2)
        return int(seeds[0]), int(seeds[1])

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"hidden_layer_sizes must be a tuple of integers, got {sizes!r}")
        return list(sizes)

    def fit(self, X, y):
        """Train a fresh network on (X, y); return self."""
        X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32])
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        # A single class still gets two outputs so that the output layer and
        # its cost are the same as usual; the prediction is then that class.
        n_out = max(len(self.classes_), 2)
        init_seed, train_seed = self._seeds()
        params = self.get_params()
        values = {
            SHARED_PARAMETERS[p]: params[p] for p in SHARED_PARAMETERS if p != "hidden_layer_sizes"
        }
        network_keys = {s.name for s in settings.by_section("network")}
        net = Network(
            [X.shape[1], *self._hidden_sizes(), n_out],
            seed=init_seed,
            **{k: v for k, v in values.items() if k in network_keys},
        )
        trainer = Trainer(
            net,
            seed=train_seed,
            monitor=["loss"],
            **{k: v for k, v in values.items() if k not in network_keys},
        )
        self.history_ = trainer.fit(X, encoded)
        self.network_ = net
        return self

    def _scores(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict_proba(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (m, n_classes), rows summing to 1.

        Softmax outputs are probabilities already. Sigmoid outputs are one
        independent score per class; they are divided by their sum, which
        keeps their order (so ``predict`` is their argmax either way).
        """
        scores = self._scores(X)[:, : len(self.classes_)].astype(np.float64)
        total = scores.sum(axis=1, keepdims=True)
        k = scores.shape[1]
        # An all-zero row (every output saturated at 0) carries no preference.
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, scores / safe, 1.0 / k)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels (from ``classes_``)."""
        scores = self._scores(X)[:, : len(self.classes_)]
        return self.classes_[np.argmax(scores, axis=1)]
