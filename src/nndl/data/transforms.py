"""The image transformations of data expansion: shifts, rotations, affine and elastic distortions.

A digit moved by a pixel, turned by a few degrees or slightly stretched is
still the same digit. Every transformation here is bounded, because large
ones are harmful (a 6 turned too far becomes a 9).

Images are rows of X, shape (m, n) with n = side * side (MNIST: 28 * 28 =
784), or a stack (m, h, w); results have the shape and dtype of the input.
Pixels are ink on a background of 0; everything moved in from outside the
image is background. Random transformations take a ``numpy.random.Generator``
(or a seed) so that the same seed gives the same images.

Interpolation is bilinear, by :func:`scipy.ndimage.map_coordinates` (SciPy is
imported only by the functions that need it); shifts are exact copies.
The public face of data expansion is :mod:`nndl.data.expand`.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_range

__all__ = [
    "BOOK_SHIFTS",
    "MAX_ROTATION_DEGREES",
    "affine",
    "as_generator",
    "as_image_stack",
    "check_affine_bounds",
    "check_elastic_bounds",
    "check_rotation_degrees",
    "check_shift_pixels",
    "elastic",
    "expand_shifts",
    "random_shift",
    "rotate",
    "shift",
]

#: Rotations beyond this many degrees are refused unless ``allow_large=True``:
#: past it digits start to look like other digits (a 6 like a 9, a 1 like a 7).
MAX_ROTATION_DEGREES = 30.0

# Images per call of the per-image interpolation helpers, to bound temporaries.
_IMAGES_PER_CHUNK = 4096


# ---------------------------------------------------------------------------
# Shapes


def as_image_stack(X, name: str = "X") -> tuple[np.ndarray, tuple[int, ...]]:
    """View X as a stack of square images (m, side, side); also return X's shape.

    Accepts (m, n) with n a perfect square, or (m, h, w). Refuses anything
    that is not a real-valued, finite array of that kind.
    """
    X = np.asarray(X)
    if X.dtype == object or not (
        np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim == 2:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1] or side == 0:
            raise ValueError(
                f"{name} has {X.shape[1]} features per example, which is not a square "
                "image (side * side pixels); pass images as (m, h, w) instead"
            )
        images = X.reshape(X.shape[0], side, side)
    elif X.ndim == 3:
        images = X
    else:
        raise ValueError(
            f"{name} must be images as rows (m, side*side) or a stack (m, h, w), "
            f"got shape {X.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no images")
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise ValueError(f"{name} contains nan or inf values")
    return images, X.shape


def _as_float_images(X, name: str = "X"):
    """Images as floats for interpolation, plus how to give results X's shape and dtype."""
    images, shape = as_image_stack(X, name)
    dtype = images.dtype
    work = images if np.issubdtype(dtype, np.floating) else images.astype(np.float64)
    return work, shape, dtype


def _restore_shape_and_dtype(images: np.ndarray, shape, dtype) -> np.ndarray:
    """Interpolated float images back to the input's shape and dtype (integers rounded, clipped)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        images = np.clip(np.rint(images), info.min, info.max)
    return images.astype(dtype, copy=False).reshape(shape)


def as_generator(rng) -> np.random.Generator:
    """``rng`` if it is a Generator, else a new one seeded with it (None: fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or a seed, got {type(rng).__name__}")


# ---------------------------------------------------------------------------
# Shifts (exact)


def shift(X, dy: int, dx: int) -> np.ndarray:
    """Move every image ``dy`` pixels down and ``dx`` pixels right (negative: up, left).

    out[r, c] = in[r - dy, c - dx]; pixels that come in from outside the
    image are background (0). Exact: no interpolation. Returns a new array
    of X's shape and dtype.
    """
    images, shape = as_image_stack(X)
    h, w = images.shape[1:]
    dy = check_range("dy", dy, low=-(h - 1), high=h - 1, integer=True)
    dx = check_range("dx", dx, low=-(w - 1), high=w - 1, integer=True)
    out = np.zeros_like(images)
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out.reshape(shape)


#: The book's four one-pixel displacements (dy, dx), in the order they are stacked.
BOOK_SHIFTS = (("up", -1, 0), ("down", 1, 0), ("left", 0, -1), ("right", 0, 1))


def expand_shifts(X, y, *, include_original: bool = True):
    """The chapter's expansion: each image plus copies moved one pixel up, down, left, right.

    MNIST's 50,000 training images become 250,000. The result is stacked in
    blocks, ``[originals, up, down, left, right]`` (each block in the order
    of X), with the labels repeated to match; the trainer shuffles anyway.

    Returns
    -------
    X5 : array of shape (5m, ...) (4m without the originals), X's dtype
    y5 : the labels (or targets) repeated block by block
    """
    images, shape = as_image_stack(X)
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != images.shape[0]:
        raise ValueError(
            f"y has {'no' if y.ndim == 0 else y.shape[0]} entries but X has "
            f"{images.shape[0]} images"
        )
    blocks = [images] if include_original else []
    blocks += [shift(images, dy, dx) for _, dy, dx in BOOK_SHIFTS]
    X5 = np.concatenate(blocks).reshape(len(blocks) * shape[0], *shape[1:])
    y5 = np.concatenate([y] * len(blocks))
    return X5, y5


def check_shift_pixels(max_pixels):
    """The bound of a random shift, an integer from 1 to 4 pixels."""
    return check_range("max_pixels", max_pixels, low=1, high=4, integer=True)


def random_shift(X, rng, max_pixels: int = 1) -> np.ndarray:
    """Move each image by a random (dy, dx), each uniform on the integers -k..k.

    With k = 1 an image stays put, moves one pixel in one of the four
    directions, or one pixel diagonally. Exact, vectorized over the images
    that share a displacement.
    """
    k = check_shift_pixels(max_pixels)
    rng = as_generator(rng)
    images, shape = as_image_stack(X)
    d = rng.integers(-k, k + 1, size=(images.shape[0], 2))
    out = np.empty_like(images)
    codes = (d[:, 0] + k) * (2 * k + 1) + (d[:, 1] + k)
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        dy, dx = int(d[idx[0], 0]), int(d[idx[0], 1])
        out[idx] = shift(images[idx], dy, dx)
    return out.reshape(shape)


# ---------------------------------------------------------------------------
# Warps (bilinear interpolation by SciPy)


def _interpolate_bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """out[i, r, c] = images[i] interpolated bilinearly at (rows[i, r, c], cols[i, r, c]).

    Outside the image the value is the background 0. One 2-D call per image:
    faster than a single 3-D call over the stack, whose linear interpolation
    would touch eight neighbours instead of four.
    """
    from scipy import ndimage

    out = np.empty(images.shape, dtype=np.result_type(images.dtype, np.float32))
    for i in range(images.shape[0]):
        ndimage.map_coordinates(
            images[i], (rows[i], cols[i]), output=out[i], order=1, mode="constant", cval=0.0
        )
    return out


def _centred_coordinates(h: int, w: int):
    """Pixel coordinates relative to the image centre, shapes (h, 1) and (1, w)."""
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    return np.arange(h, dtype=np.float64)[:, None] - cy, np.arange(w, dtype=np.float64)[
        None, :
    ] - cx


def _warp_affine(images: np.ndarray, inverse: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Apply per-image affine maps given by their inverses.

    For output pixel p (relative to the centre), image i is sampled at
    ``inverse[i] @ p + centre + offset[i]``. inverse: (m, 2, 2) acting on
    (row, col); offset: (m, 2).
    """
    h, w = images.shape[1:]
    R, C = _centred_coordinates(h, w)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    out = np.empty(images.shape, dtype=np.result_type(images.dtype, np.float32))
    for s in range(0, images.shape[0], _IMAGES_PER_CHUNK):
        A = inverse[s : s + _IMAGES_PER_CHUNK, :, :, None, None]  # (k, 2, 2, 1, 1)
        t = offset[s : s + _IMAGES_PER_CHUNK, :, None, None]  # (k, 2, 1, 1)
        rows = A[:, 0, 0] * R + A[:, 0, 1] * C + (cy + t[:, 0])
        cols = A[:, 1, 0] * R + A[:, 1, 1] * C + (cx + t[:, 1])
        out[s : s + _IMAGES_PER_CHUNK] = _interpolate_bilinear(
            images[s : s + _IMAGES_PER_CHUNK], rows, cols
        )
    return out


def _rotation_inverse(degrees: np.ndarray) -> np.ndarray:
    """Inverse maps (m, 2, 2) on (row, col) of counter-clockwise rotations by ``degrees``.

    Rows grow downwards, so a counter-clockwise turn on screen samples the
    input at (r, c) -> (cos t r + sin t c, -sin t r + cos t c).
    """
    t = np.deg2rad(degrees)
    cos, sin = np.cos(t), np.sin(t)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def check_rotation_degrees(max_degrees, allow_large: bool, name: str = "max_degrees") -> float:
    """A rotation bound in degrees, refused past MAX_ROTATION_DEGREES unless ``allow_large``."""
    max_degrees = check_range(name, max_degrees, low=0.0, high=180.0)
    if max_degrees > MAX_ROTATION_DEGREES and not allow_large:
        raise ValueError(
            f"{name}={max_degrees:g} is a large rotation: the bound is "
            f"{MAX_ROTATION_DEGREES:g} degrees, because past it digits turn into other "
            "digits (a 6 into a 9); pass allow_large=True if you really mean it"
        )
    return max_degrees


def rotate(X, rng=None, max_degrees: float = 10.0, *, degrees=None, allow_large: bool = False):
    """Turn each image about its centre by a random angle in [-max_degrees, max_degrees].

    Angles are in degrees, positive counter-clockwise. ``degrees`` (a number
    or one per image) gives the angles instead of drawing them. Rotations
    beyond :data:`MAX_ROTATION_DEGREES` are refused unless ``allow_large``.
    A rotation by 0 returns the images unchanged.
    """
    work, shape, dtype = _as_float_images(X)
    m = work.shape[0]
    if degrees is None:
        bound = check_rotation_degrees(max_degrees, allow_large)
        angles = as_generator(rng).uniform(-bound, bound, size=m)
    else:
        angles = np.broadcast_to(np.asarray(degrees, dtype=np.float64), (m,))
        if not np.isfinite(angles).all():
            raise ValueError("degrees must be finite numbers")
        check_rotation_degrees(float(np.max(np.abs(angles))), allow_large, name="degrees")
    out = _warp_affine(work, _rotation_inverse(angles), np.zeros((m, 2)))
    return _restore_shape_and_dtype(out, shape, dtype)


def check_affine_bounds(max_scale, max_shear, max_degrees, max_shift, allow_large=False):
    """The bounds of a random affine distortion, checked; returned in the same order."""
    return (
        check_range("max_scale", max_scale, low=0.0, high=0.5),
        check_range("max_shear", max_shear, low=0.0, high=0.5),
        check_rotation_degrees(max_degrees, allow_large),
        check_range("max_shift", max_shift, low=0.0, high=4.0),
    )


def affine(
    X,
    rng,
    max_scale: float = 0.1,
    max_shear: float = 0.2,
    max_degrees: float = 0.0,
    max_shift: float = 0.0,
    *,
    allow_large: bool = False,
):
    """Random affine distortion of each image: scale, shear, and optionally rotation and shift.

    Per image: a scale factor in [1 - max_scale, 1 + max_scale] for each axis,
    a horizontal shear k in [-max_shear, max_shear] (x' = x + k y), a rotation
    in [-max_degrees, max_degrees] and a translation of up to max_shift pixels
    in each axis, all uniform and independent, composed as
    rotation @ shear @ scale about the image centre.
    """
    max_scale, max_shear, max_degrees, max_shift = check_affine_bounds(
        max_scale, max_shear, max_degrees, max_shift, allow_large
    )
    rng = as_generator(rng)
    work, shape, dtype = _as_float_images(X)
    m = work.shape[0]
    scale = rng.uniform(1.0 - max_scale, 1.0 + max_scale, size=(m, 2))
    shear = rng.uniform(-max_shear, max_shear, size=m)
    angle = rng.uniform(-max_degrees, max_degrees, size=m)
    move = rng.uniform(-max_shift, max_shift, size=(m, 2))
    # Forward maps on (row, col): scale, then shear the columns by the rows, then rotate.
    S = np.zeros((m, 2, 2))
    S[:, 0, 0], S[:, 1, 1] = scale[:, 0], scale[:, 1]
    K = np.broadcast_to(np.eye(2), (m, 2, 2)).copy()
    K[:, 1, 0] = -shear  # rows grow downwards: x' = x + k y with y = -row
    forward = np.linalg.inv(_rotation_inverse(angle)) @ K @ S
    inverse = np.linalg.inv(forward)
    # A forward move by t is sampled from p - t.
    out = _warp_affine(work, inverse, -move)
    return _restore_shape_and_dtype(out, shape, dtype)


def check_elastic_bounds(alpha, sigma):
    """alpha in [0, 100] and sigma in [0.5, 20], checked; returned as (alpha, sigma)."""
    return (
        check_range("alpha", alpha, low=0.0, high=100.0),
        check_range("sigma", sigma, low=0.5, high=20.0),
    )


def elastic(X, rng, alpha: float = 34.0, sigma: float = 4.0) -> np.ndarray:
    """Elastic distortion (Simard, Steinkraus and Platt 2003).

    For each image, two displacement fields (rows, columns) are drawn
    uniform in [-1, 1] at every pixel, smoothed by a Gaussian of standard
    deviation ``sigma`` pixels and scaled by ``alpha``; the image is then
    sampled at (r + alpha * d_r, c + alpha * d_c). Small sigma gives random
    noise, large sigma nearly a translation; the paper's choice for 29x29
    digits is sigma = 4, alpha = 34 (about a pixel of local displacement).
    """
    from scipy import ndimage

    alpha, sigma = check_elastic_bounds(alpha, sigma)
    rng = as_generator(rng)
    work, shape, dtype = _as_float_images(X)
    m, h, w = work.shape
    out = np.empty(work.shape, dtype=np.result_type(work.dtype, np.float32))
    r = np.arange(h, dtype=np.float64)[:, None]
    c = np.arange(w, dtype=np.float64)[None, :]
    for s in range(0, m, _IMAGES_PER_CHUNK):
        k = min(_IMAGES_PER_CHUNK, m - s)
        field = rng.uniform(-1.0, 1.0, size=(2, k, h, w))
        # Smooth within each image only (sigma 0 along the field and image axes).
        field = ndimage.gaussian_filter(field, sigma=(0, 0, sigma, sigma), mode="constant")
        field *= alpha
        out[s : s + k] = _interpolate_bilinear(work[s : s + k], r + field[0], c + field[1])
    return _restore_shape_and_dtype(out, shape, dtype)
