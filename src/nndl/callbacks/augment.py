"""Augmentation on the fly: each epoch trains on freshly distorted training images.

The transformations and the recipe language are in :mod:`nndl.data.transforms`
and :mod:`nndl.data.recipe`;
this callback applies a recipe at the start of every epoch. It is also
importable as ``nndl.data.expand.AugmentCallback``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_range
from ..checkpoint import CheckpointError
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

    Its state (for checkpoints) is the generator's state at the start of the
    last epoch: an epoch resumed in its middle (``trainer.resuming_epoch``)
    gets the same distorted images again from a copy of that state, and the
    trainer's generator goes on from where the interrupted epoch left it, so
    the resumed run is bitwise the run that was never stopped. The recipe and
    the fraction are part of the run's identity (``get_config``): a
    checkpoint refuses to resume with other ones.

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
        #: (epoch, the trainer's generator state when that epoch began), or None.
        self.epoch_start: tuple[int, dict] | None = None

    def on_epoch_begin(self, trainer, epoch):
        X, Y = trainer.train_data
        as_image_stack(X, "training X")
        # (A trainer of one's own that never resumes need not have resuming_epoch.)
        resuming = getattr(trainer, "resuming_epoch", False)
        if resuming and self.epoch_start and self.epoch_start[0] == epoch:
            # The epoch's first mini-batches are trained already: distort the
            # images as they were then, leaving the trainer's generator as is.
            rng = generator_from_state(self.epoch_start[1])
        else:
            self.epoch_start = (epoch, trainer.rng.bit_generator.state)
            rng = trainer.rng
        if self.fraction >= 1.0:
            Xa = self.augmenter(X, rng)
        else:
            chosen = np.flatnonzero(rng.random(X.shape[0]) < self.fraction)
            Xa = X.copy()
            if chosen.size:
                Xa[chosen] = self.augmenter(X[chosen], rng)
        trainer.epoch_train_data = (Xa.astype(X.dtype, copy=False), Y)

    def get_config(self) -> dict:
        return {"recipe": str(self.augmenter), "fraction": self.fraction}

    def state_dict(self) -> dict | None:
        if self.epoch_start is None:
            return None
        epoch, state = self.epoch_start
        return {"epoch": epoch, "generator": state}

    def load_state_dict(self, state: dict) -> None:
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise CheckpointError(
                f"the augmentation's epoch must be an integer >= 0, got {epoch!r}"
            )
        generator_from_state(state["generator"])  # refuses a state that is not one
        self.epoch_start = (int(epoch), state["generator"])

    def __repr__(self) -> str:
        return f"AugmentCallback({str(self.augmenter)!r}, fraction={self.fraction:g})"


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def generator_from_state(state) -> np.random.Generator:
    """A Generator whose bit generator has exactly ``state`` (names from a fixed list)."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise CheckpointError(f"the augmentation's generator state is not one: {name!r}")
    bitgen = getattr(np.random, name)()
    try:
        bitgen.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"the augmentation's generator state is not valid: {exc}") from None
    return np.random.Generator(bitgen)


# The README documents the callback as nndl.data.expand.AugmentCallback too. The
# data package imports nothing from callbacks, so the name is given to it from here
# (``import nndl`` always imports this module).
_expand_module.AugmentCallback = AugmentCallback
