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
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_write, atomic_write_bytes
from .._validation import check_range

__all__ = [
    "DEFAULT_PREVIEW_RECIPE",
    "MAX_ROTATION_DEGREES",
    "STEPS",
    "AugmentCallback",  # noqa: F822 - lazily imported by __getattr__ below
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

#: Rotations beyond this many degrees are refused unless ``allow_large=True``:
#: past it digits start to look like other digits (a 6 like a 9, a 1 like a 7).
MAX_ROTATION_DEGREES = 30.0

#: What ``contact_sheet`` shows by default: each step alone, then all together.
DEFAULT_PREVIEW_RECIPE = "shift,rotate:15,affine,elastic"

#: The file format written by :func:`save_expanded`.
EXPANDED_FORMAT = "nndl-expanded"
EXPANDED_VERSION = 1

# Images per call of the per-image interpolation helpers, to bound temporaries.
_CHUNK = 4096


# ---------------------------------------------------------------------------
# Shapes


def _as_images(X, name: str = "X") -> tuple[np.ndarray, tuple[int, ...]]:
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


def _float_images(X, name: str = "X"):
    """Images as floats for interpolation, plus how to give results X's shape and dtype."""
    images, shape = _as_images(X, name)
    dtype = images.dtype
    work = images if np.issubdtype(dtype, np.floating) else images.astype(np.float64)
    return work, shape, dtype


def _finish(images: np.ndarray, shape, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        images = np.clip(np.rint(images), info.min, info.max)
    return images.astype(dtype, copy=False).reshape(shape)


def _rng(rng) -> np.random.Generator:
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
    images, shape = _as_images(X)
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
    images, shape = _as_images(X)
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


def _check_shift(max_pixels):
    return check_range("max_pixels", max_pixels, low=1, high=4, integer=True)


def random_shift(X, rng, max_pixels: int = 1) -> np.ndarray:
    """Move each image by a random (dy, dx), each uniform on the integers -k..k.

    With k = 1 an image stays put, moves one pixel in one of the four
    directions, or one pixel diagonally. Exact, vectorized over the images
    that share a displacement.
    """
    k = _check_shift(max_pixels)
    rng = _rng(rng)
    images, shape = _as_images(X)
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


def _sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


def _grid(h: int, w: int):
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
    R, C = _grid(h, w)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    out = np.empty(images.shape, dtype=np.result_type(images.dtype, np.float32))
    for s in range(0, images.shape[0], _CHUNK):
        A = inverse[s : s + _CHUNK, :, :, None, None]  # (k, 2, 2, 1, 1)
        t = offset[s : s + _CHUNK, :, None, None]  # (k, 2, 1, 1)
        rows = A[:, 0, 0] * R + A[:, 0, 1] * C + (cy + t[:, 0])
        cols = A[:, 1, 0] * R + A[:, 1, 1] * C + (cx + t[:, 1])
        out[s : s + _CHUNK] = _sample(images[s : s + _CHUNK], rows, cols)
    return out


def _rotation_inverse(degrees: np.ndarray) -> np.ndarray:
    """Inverse maps (m, 2, 2) on (row, col) of counter-clockwise rotations by ``degrees``.

    Rows grow downwards, so a counter-clockwise turn on screen samples the
    input at (r, c) -> (cos t r + sin t c, -sin t r + cos t c).
    """
    t = np.deg2rad(degrees)
    cos, sin = np.cos(t), np.sin(t)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def _check_degrees(max_degrees, allow_large: bool, name: str = "max_degrees") -> float:
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
    work, shape, dtype = _float_images(X)
    m = work.shape[0]
    if degrees is None:
        bound = _check_degrees(max_degrees, allow_large)
        angles = _rng(rng).uniform(-bound, bound, size=m)
    else:
        angles = np.broadcast_to(np.asarray(degrees, dtype=np.float64), (m,))
        if not np.isfinite(angles).all():
            raise ValueError("degrees must be finite numbers")
        _check_degrees(float(np.max(np.abs(angles))), allow_large, name="degrees")
    out = _warp_affine(work, _rotation_inverse(angles), np.zeros((m, 2)))
    return _finish(out, shape, dtype)


def _check_affine(max_scale, max_shear, max_degrees, max_shift, allow_large=False):
    return (
        check_range("max_scale", max_scale, low=0.0, high=0.5),
        check_range("max_shear", max_shear, low=0.0, high=0.5),
        _check_degrees(max_degrees, allow_large),
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
    max_scale, max_shear, max_degrees, max_shift = _check_affine(
        max_scale, max_shear, max_degrees, max_shift, allow_large
    )
    rng = _rng(rng)
    work, shape, dtype = _float_images(X)
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
    return _finish(out, shape, dtype)


def _check_elastic(alpha, sigma):
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

    alpha, sigma = _check_elastic(alpha, sigma)
    rng = _rng(rng)
    work, shape, dtype = _float_images(X)
    m, h, w = work.shape
    out = np.empty(work.shape, dtype=np.result_type(work.dtype, np.float32))
    r = np.arange(h, dtype=np.float64)[:, None]
    c = np.arange(w, dtype=np.float64)[None, :]
    for s in range(0, m, _CHUNK):
        k = min(_CHUNK, m - s)
        field = rng.uniform(-1.0, 1.0, size=(2, k, h, w))
        # Smooth within each image only (sigma 0 along the field and image axes).
        field = ndimage.gaussian_filter(field, sigma=(0, 0, sigma, sigma), mode="constant")
        field *= alpha
        out[s : s + k] = _sample(work[s : s + k], r + field[0], c + field[1])
    return _finish(out, shape, dtype)


# ---------------------------------------------------------------------------
# Recipes


def _step_shift(X, rng, max_pixels=1):
    return random_shift(X, rng, max_pixels)


def _step_rotate(X, rng, max_degrees=10.0):
    return rotate(X, rng, max_degrees)


def _step_affine(X, rng, max_scale=0.1, max_shear=0.2):
    return affine(X, rng, max_scale, max_shear)


def _step_elastic(X, rng, alpha=34.0, sigma=4.0):
    return elastic(X, rng, alpha, sigma)


#: Every recipe step: name -> (function, parameter names with defaults, checker).
STEPS: dict[str, tuple] = {
    "shift": (_step_shift, {"max_pixels": 1}, lambda p: _check_shift(p["max_pixels"])),
    "rotate": (
        _step_rotate,
        {"max_degrees": 10.0},
        lambda p: _check_degrees(p["max_degrees"], False),
    ),
    "affine": (
        _step_affine,
        {"max_scale": 0.1, "max_shear": 0.2},
        lambda p: _check_affine(p["max_scale"], p["max_shear"], 0.0, 0.0),
    ),
    "elastic": (
        _step_elastic,
        {"alpha": 34.0, "sigma": 4.0},
        lambda p: _check_elastic(p["alpha"], p["sigma"]),
    ),
}

#: The book's deterministic expansion, valid only as the whole recipe of build_expanded.
SHIFTS_RECIPE = "shifts"


def _number(text: str, where: str):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


@dataclass
class Step:
    """One step of a recipe: a name from :data:`STEPS` and its parameters."""

    name: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in STEPS:
            hint = ""
            if self.name == SHIFTS_RECIPE:
                hint = (
                    "; 'shifts' (the book's four one-pixel shifts) is only valid as the whole "
                    "recipe of build_expanded"
                )
            raise ValueError(
                f"unknown augmentation step {self.name!r}; expected one of {list(STEPS)}{hint}"
            )
        defaults = STEPS[self.name][1]
        unknown = set(self.params) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)} for step {self.name!r}; "
                f"it takes {list(defaults)}"
            )
        params = {**defaults, **self.params}
        STEPS[self.name][2](params)  # range checks, with messages naming the parameter
        self.params = params

    def __call__(self, X, rng):
        return STEPS[self.name][0](X, rng, **self.params)

    def __str__(self) -> str:
        values = [f"{v:g}" if isinstance(v, float) else str(v) for v in self.params.values()]
        return ":".join([self.name, *values])


@dataclass
class Augmenter:
    """A recipe: steps applied in order to a batch of images.

    >>> aug = Augmenter.parse("shift,rotate:10,elastic:34:4")
    >>> str(aug)
    'shift:1,rotate:10,elastic:34:4'
    >>> X2 = aug(X, np.random.default_rng(0))            # doctest: +SKIP

    Round-trips through JSON (``to_json`` / ``from_json``) and through its
    recipe string (``str`` / ``parse``).
    """

    steps: list[Step] = field(default_factory=list)

    @classmethod
    def parse(cls, recipe) -> Augmenter:
        """Build from a recipe string, a list of step strings, a dict or an Augmenter."""
        if isinstance(recipe, Augmenter):
            return recipe
        if isinstance(recipe, dict):
            return cls.from_dict(recipe)
        if isinstance(recipe, str):
            parts = [p.strip() for p in recipe.split(",")]
        elif isinstance(recipe, (list, tuple)):
            parts = [str(p).strip() for p in recipe]
        else:
            raise TypeError(f"recipe must be a string like 'shift,rotate:10', got {recipe!r}")
        parts = [p for p in parts if p]
        if not parts:
            raise ValueError("recipe is empty; expected steps like 'shift,rotate:10,elastic'")
        steps = []
        for part in parts:
            name, *args = [a.strip() for a in part.split(":")]
            name = name.lower()
            if name not in STEPS:
                Step(name)  # raises, naming the known steps
            names = list(STEPS[name][1])
            params = {}
            for i, arg in enumerate(args):
                where = f"recipe step {part!r}"
                if "=" in arg:
                    key, value = (s.strip() for s in arg.split("=", 1))
                    params[key] = _number(value, where)
                else:
                    if i >= len(names):
                        raise ValueError(
                            f"{where}: too many values; {name!r} takes {names or 'none'}"
                        )
                    params[names[i]] = _number(arg, where)
            steps.append(Step(name, params))
        return cls(steps)

    def __call__(self, X, rng) -> np.ndarray:
        """Apply every step in order; returns an array of X's shape and dtype."""
        rng = _rng(rng)
        out = np.asarray(X)
        for step in self.steps:
            out = step(out, rng)
        return out

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)

    def to_dict(self) -> dict:
        return {"steps": [{"name": s.name, "params": dict(s.params)} for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict) -> Augmenter:
        if not isinstance(d, dict) or set(d) != {"steps"} or not isinstance(d["steps"], list):
            raise ValueError('an augmenter must be a JSON object {"steps": [...]}')
        steps = []
        for s in d["steps"]:
            if not isinstance(s, dict) or not set(s) <= {"name", "params"} or "name" not in s:
                raise ValueError('each step must be {"name": ..., "params": {...}}')
            steps.append(Step(s["name"], dict(s.get("params", {}))))
        return cls(steps)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Augmenter:
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------------
# Expanded data sets, built once and cached


def _xy(data, y):
    """(X, y) from arrays, a (X, y) pair, a Dataset (.X, .y) or DataSplits (.train)."""
    if y is not None:
        return np.asarray(data), np.asarray(y)
    if hasattr(data, "train"):
        data = data.train
    if hasattr(data, "X") and hasattr(data, "y"):
        return np.asarray(data.X), np.asarray(data.y)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return np.asarray(data[0]), np.asarray(data[1])
    raise TypeError("give X and y, an (X, y) pair, a Dataset or DataSplits (its .train is used)")


def _fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """sha256 of the source data (shapes, dtypes and bytes), to key the cache."""
    h = hashlib.sha256()
    for a in (X, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def save_expanded(path, X, y, meta: dict, *, compress: bool = True) -> Path:
    """Write an expanded set to ``path`` (.npz) atomically, with its metadata as JSON."""
    path = Path(path)
    meta = {"format": EXPANDED_FORMAT, "version": EXPANDED_VERSION, **meta}
    with atomic_write(path, "wb") as fh:
        save = np.savez_compressed if compress else np.savez
        save(fh, X=X, y=y, meta=np.array(json.dumps(meta, sort_keys=True)))
    return path


def load_expanded(path):
    """Read a file written by :func:`save_expanded`: returns (X, y, meta).

    Raises ValueError naming the file if it is not such a file or is damaged.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if set(npz.files) != {"X", "y", "meta"}:
                raise ValueError(f"expected arrays X, y, meta, found {sorted(npz.files)}")
            meta = json.loads(str(npz["meta"]))
            X, y = npz["X"], npz["y"]
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        # ValueError covers bad JSON, pickled content refused, and the check above.
        raise ValueError(f"{path}: not a readable expanded data set ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != EXPANDED_FORMAT:
        raise ValueError(f"{path}: not an nndl expanded data set")
    if meta.get("version") != EXPANDED_VERSION:
        raise ValueError(f"{path}: unsupported expanded-set version {meta.get('version')!r}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: {X.shape[0]} images but {y.shape[0]} labels")
    return X, y, meta


def _slug(recipe: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in recipe)
    return keep[:60]


def _plan_expanded(X, y, recipe, seed, copies, include_original, cache_dir, path):
    """Check the settings of an expansion; return (meta, file path or None, augmenter or None)."""
    _as_images(X)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have one entry per image ({X.shape[0]}), got shape {y.shape}")
    seed = check_range("seed", seed, low=0, integer=True)
    if isinstance(recipe, str) and recipe.strip().lower() == SHIFTS_RECIPE:
        canonical = SHIFTS_RECIPE
        if copies not in (None, 4):
            raise ValueError("the 'shifts' recipe makes exactly 4 copies (up, down, left, right)")
        copies = 4
        augmenter = None
    else:
        augmenter = Augmenter.parse(recipe)
        canonical = str(augmenter)
        copies = check_range("copies", 4 if copies is None else copies, low=1, integer=True)

    meta = {
        "recipe": canonical,
        "seed": seed,
        "copies": copies,
        "include_original": bool(include_original),
        "n_source": int(X.shape[0]),
    }
    if path is not None or cache_dir is not None:  # hashing the source only pays for a cache
        meta["source_sha256"] = _fingerprint(X, y)
    if path is not None:
        path = Path(path)
    elif cache_dir is not None:
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"expanded-{_slug(canonical)}-seed{seed}-{key}.npz"
    return meta, path, augmenter


def expanded_path(
    data, y=None, recipe="shifts", *, seed=0, copies=None, include_original=True, cache_dir
):
    """The cache file :func:`build_expanded` uses for these settings in ``cache_dir``."""
    X, y = _xy(data, y)
    return _plan_expanded(X, y, recipe, seed, copies, include_original, cache_dir, None)[1]


def build_expanded(
    data,
    y=None,
    recipe="shifts",
    *,
    seed: int = 0,
    copies: int | None = None,
    include_original: bool = True,
    cache_dir=None,
    path=None,
    compress: bool = True,
):
    """An expanded training set: originals plus transformed copies, built once.

    Parameters
    ----------
    data, y : arrays X (m, n) and labels y (m,); or ``data`` alone as an
        (X, y) pair, a Dataset, or DataSplits (whose training set is used).
    recipe : str or Augmenter
        ``"shifts"`` (default) is the book's expansion: the four one-pixel
        shifts of every image (50,000 -> 250,000), deterministic. Anything
        else is an :class:`Augmenter` recipe applied ``copies`` times.
    seed : int
        Seed of the generator of the random copies (recorded in the file).
    copies : int
        Transformed copies per image (default 4, as many as the book's).
    include_original : bool
        Put the untouched images first.
    cache_dir : path, optional
        If given, the result is stored there as ``expanded-<recipe>-seed<seed>-<key>.npz``
        (key: a hash of the source data and every setting) and read back on
        the next call instead of being rebuilt. A damaged or mismatching file
        is rebuilt and replaced.
    path : path, optional
        An explicit file to use the same way instead (``nndl data expand --out``).
    compress : bool
        Store compressed (smaller, slower to write).

    Returns
    -------
    (X_expanded, y_expanded) with X's dtype and layout.
    """
    X, y = _xy(data, y)
    meta, path, augmenter = _plan_expanded(
        X, y, recipe, seed, copies, include_original, cache_dir, path
    )
    copies = meta["copies"]
    if path is not None and path.exists():
        try:
            Xc, yc, got = load_expanded(path)
            if all(got.get(k) == v for k, v in meta.items()):
                return Xc, yc
        except ValueError:
            pass  # damaged or built otherwise: rebuild below and replace it

    if augmenter is None:
        Xe, ye = expand_shifts(X, y, include_original=include_original)
    else:
        rng = np.random.default_rng(meta["seed"])
        blocks = [X] if include_original else []
        blocks += [augmenter(X, rng) for _ in range(copies)]
        Xe = np.concatenate(blocks)
        ye = np.concatenate([y] * len(blocks))
    if path is not None:
        save_expanded(path, Xe, ye, meta, compress=compress)
    return Xe, ye


# ---------------------------------------------------------------------------
# A picture of what the transformations do


def contact_sheet(
    X,
    path,
    recipe=DEFAULT_PREVIEW_RECIPE,
    *,
    n: int = 8,
    seed: int = 0,
    labels=None,
    title: str | None = None,
) -> Path:
    """Write a PNG grid: ``n`` digits (rows), each as given and transformed (columns).

    Columns: the original, then each step of the recipe alone, then the whole
    recipe (when it has several steps). With ``recipe="shifts"`` the columns
    are the book's four one-pixel shifts. Written atomically; returns the path.
    """
    from matplotlib.figure import Figure

    n = check_range("n", n, low=1, high=100, integer=True)
    images, _ = _as_images(X)
    images = images[:n]
    rng = np.random.default_rng(check_range("seed", seed, low=0, integer=True))
    columns = [("original", images)]
    if isinstance(recipe, str) and recipe.strip().lower() == SHIFTS_RECIPE:
        columns += [(name, shift(images, dy, dx)) for name, dy, dx in BOOK_SHIFTS]
    else:
        aug = Augmenter.parse(recipe)
        columns += [(str(step), step(images, rng)) for step in aug.steps]
        if len(aug.steps) > 1:
            columns.append(("all", aug(images, rng)))
    rows, cols = images.shape[0], len(columns)
    fig = Figure(figsize=(1.3 * cols, 1.3 * rows + (0.4 if title else 0.1)))
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = max(float(np.max(images)), 1e-12)
    for j, (name, imgs) in enumerate(columns):
        for i in range(rows):
            ax = axes[i][j]
            ax.imshow(imgs[i], cmap="gray_r", vmin=0.0, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=7)
            if j == 0 and labels is not None:
                ax.set_ylabel(str(np.asarray(labels)[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def __getattr__(name: str):
    # AugmentCallback is a callback, so it lives in nndl.callbacks.augment, above
    # the data package; importing it lazily keeps nndl.data free of callbacks.
    if name == "AugmentCallback":
        from ..callbacks.augment import AugmentCallback

        return AugmentCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
