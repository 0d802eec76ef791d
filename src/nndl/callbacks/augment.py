"""Augmentation on the fly: each epoch trains on freshly distorted training images.

The transformations and the recipe language are in :mod:`nndl.data.transforms`
and :mod:`nndl.data.recipe`;
this callback applies a recipe at the start of every epoch. It is also
importable as ``nndl.data.expand.AugmentCallback``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_range
from ..data import expand as _expand_module
from ..data.recipe import Augmenter
from ..data.transforms import as_image_stack
from .base import Callback

__all__ = ["AugmentCallback"]


class AugmentCallback(Callback):
    """Train each epoch on freshly distorted copies of the training images.

    At the start of every epoch it hands the trainer
    ``(augmenter(X[chosen], trainer.rng), Y)`` through
    ``trainer.epoch_train_data``; the trainer's own generator makes the run
    reproducible from its seed. Monitoring still uses the original images.

    Parameters
    ----------
    recipe : str or Augmenter
        E.g. ``"shift,rotate:10"`` (see the module's docstring).
    fraction : float in (0, 1]
        Share of the images distorted each epoch; the rest are used as they are.

    Examples
    --------
    >>> fit(net, X, y, epochs=10, callbacks=[AugmentCallback("shift,elastic")])  # doctest: +SKIP
    """

    def __init__(self, recipe="shift", fraction: float = 1.0):
        self.augmenter = Augmenter.parse(recipe)
        self.fraction = check_range("fraction", fraction, low=0.0, high=1.0, low_inclusive=False)

    def on_epoch_begin(self, trainer, epoch):
        X, Y = trainer.train_data
        as_image_stack(X, "training X")
        rng = trainer.rng
        if self.fraction >= 1.0:
            Xa = self.augmenter(X, rng)
        else:
            chosen = np.flatnonzero(rng.random(X.shape[0]) < self.fraction)
            Xa = X.copy()
            if chosen.size:
                Xa[chosen] = self.augmenter(X[chosen], rng)
        trainer.epoch_train_data = (Xa.astype(X.dtype, copy=False), Y)

    def __repr__(self) -> str:
        return f"AugmentCallback({str(self.augmenter)!r}, fraction={self.fraction:g})"


# The README documents the callback as nndl.data.expand.AugmentCallback too. The
# data package imports nothing from callbacks, so the name is given to it from here
# (``import nndl`` always imports this module).
_expand_module.AugmentCallback = AugmentCallback
