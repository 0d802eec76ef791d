"""Artificial expansion of the training data: shifts, rotations, affine and elastic distortions.

A digit moved by a pixel, turned by a few degrees or slightly stretched is
still the same digit, so distorted copies of the training images teach the
network what does not matter. The chapter expands MNIST's 50,000 training
images to 250,000 by moving each one pixel up, down, left and right
(:func:`expand_shifts`); Simard, Steinkraus and Platt (2003) add elastic
distortions (:func:`elastic`). Large rotations are harmful (a 6 becomes a
9), so every transformation here is bounded.

Images are rows of X, shape (m, n) with n = side * side (MNIST: 28 * 28 =
784), or a stack (m, h, w); results have the shape and dtype of the input.
Pixels are ink on a background of 0; everything moved in from outside the
image is background. Random transformations take a ``numpy.random.Generator``
so that the same seed gives the same images.

Two ways to use them:

* once, before training: :func:`build_expanded` returns originals plus
  transformed copies and can cache the result as an ``.npz`` file that
  records its recipe and seed;
* on the fly: :class:`AugmentCallback` gives the trainer freshly distorted
  copies of the training images at the start of every epoch.

Both take a *recipe*, a short string naming the steps and their bounds::

    "shift"                      random shift of up to 1 pixel in each axis
    "rotate:10"                  random rotation in [-10, 10] degrees
    "affine:0.1:0.2"             random scale in [0.9, 1.1] and shear in [-0.2, 0.2]
    "elastic:34:4"               elastic distortion, alpha=34, sigma=4
    "shift,rotate:10,elastic"    steps applied in order
    "shifts"                     (build_expanded only) the book's four one-pixel shifts

Parameters may also be named: ``"affine:max_scale=0.1:max_shear=0.3"``.

Interpolation is bilinear, by :func:`scipy.ndimage.map_coordinates` (SciPy is
imported only by the functions that need it); shifts are exact copies.

This module gathers the public names of data expansion; the code lives in

* :mod:`nndl.data.transforms`: ``shift``, ``expand_shifts``, ``random_shift``,
  ``rotate``, ``affine``, ``elastic`` and their bounds;
* :mod:`nndl.data.recipe`: ``Step``, ``Augmenter`` and the recipe language;
* :mod:`nndl.data.expanded_cache`: ``build_expanded`` and its ``.npz`` cache;
* :mod:`nndl.data.contact_sheet`: ``contact_sheet``, a picture of the steps;
* :mod:`nndl.callbacks.augment`: ``AugmentCallback``, given to this module by
  ``nndl.callbacks`` (the data package imports nothing from callbacks).
"""

from __future__ import annotations

from .contact_sheet import DEFAULT_PREVIEW_RECIPE, contact_sheet
from .expanded_cache import (
    EXPANDED_FORMAT,
    EXPANDED_VERSION,
    build_expanded,
    expanded_path,
    load_expanded,
    save_expanded,
)
from .recipe import SHIFTS_RECIPE, STEPS, Augmenter, Step
from .transforms import (
    BOOK_SHIFTS,
    MAX_ROTATION_DEGREES,
    affine,
    elastic,
    expand_shifts,
    random_shift,
    rotate,
    shift,
)

__all__ = [
    "BOOK_SHIFTS",
    "DEFAULT_PREVIEW_RECIPE",
    "EXPANDED_FORMAT",
    "EXPANDED_VERSION",
    "MAX_ROTATION_DEGREES",
    "SHIFTS_RECIPE",
    "STEPS",
    "AugmentCallback",  # noqa: F822 - set by nndl.callbacks.augment, which import nndl runs
    "Augmenter",
    "Step",
    "affine",
    "build_expanded",
    "contact_sheet",
    "elastic",
    "expand_shifts",
    "expanded_path",
    "load_expanded",
    "random_shift",
    "rotate",
    "save_expanded",
    "shift",
]
