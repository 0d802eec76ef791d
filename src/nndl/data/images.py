"""Image files as network inputs (for ``nndl predict``), prepared the way MNIST's were.

The book's MNIST convention: light ink on a black background, grey levels in
[0, 1) (0 is background, values near 1 are ink; / 256 as in mnist.pkl.gz).
MNIST's digits were cropped to their ink, fitted, keeping their aspect ratio,
into a 20x20 box (anti-aliased) and placed in the 28x28 frame by their centre
of mass. :func:`load_image` prepares a drawing or a scan the same way:

1. read it as grey levels in [0, 1]: 16-bit images are scaled by 65535 (not
   clipped at 255), palette and colour images are turned grey, transparent
   pixels are background (composited on the colour opposite to the ink's),
   and a photo's EXIF orientation is applied;
2. find the polarity: the background is the level of the image's border; when
   it is nearer the lightest level than the darkest, the ink is dark on a light
   background and the image is inverted (``invert=True`` or ``False`` forces
   either);
3. set the levels: the background (its border median plus three times its
   noise) becomes 0 and the typical ink level 1;
4. crop to the ink's bounding box and bring the strokes' width into the range
   of MNIST's (thinning a bold digit, thickening a hairline one, by minimum or
   maximum filters at 4 times the box's resolution);
5. fit it into the box (20x20 for 28x28 inputs) keeping the aspect ratio, and
   place it in the frame so that its centre of mass is where MNIST's are
   (pixel (14, 14), measured on the training set).

For the 8x8 digits (scikit-learn's, from 32x32 bitmaps averaged over 4x4
blocks) the digit fills the frame's height, keeps its aspect ratio and is
centred by its centre of mass, as those digits are.

``center=False`` keeps the old, plain preparation: the image (after the
polarity) is only padded to a square and resized.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_range
from ..limits import MAX_IMAGE_PIXELS, clip

__all__ = [
    "MAX_IMAGE_PIXELS",
    "Framing",
    "ImageInput",
    "image_framing",
    "load_image",
    "load_images",
    "prepare_image",
    "read_grey",
    "save_input_image",
    "stroke_width",
]

#: Images with a longer side are reduced (averaging blocks of pixels) before
#: they are prepared: the digit ends up 20 pixels high anyway.
_WORKING_SIDE = 2048


@dataclass(frozen=True)
class ImageInput:
    """One image file made into a network input."""

    #: The input vector, float32 ``side * side`` in [0, 1) (255/256 at most).
    pixels: np.ndarray
    #: Whether the image looked like dark ink on a light background.
    dark_on_light: bool
    #: Whether it was inverted (detected, or forced with ``invert=True``).
    inverted: bool
    #: Whether it was cropped, fitted and centred (``center=True``).
    centered: bool
    #: What the reader should know, or "": no digit found (the input is blank),
    #: or a forced polarity that contradicts the image's look.
    note: str = ""


def _pillow():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError('reading images needs Pillow: pip install "nndl[cli]"') from exc
    return Image


def _one_line(exc: BaseException) -> str:
    """Pillow's message about a file, in one short line."""
    return clip(" ".join(str(exc).split()) or type(exc).__name__, 200)


def _too_large(path: Path, pixels: int | None) -> ValueError:
    has = f"has {pixels:,} pixels, " if pixels else "is "
    return ValueError(
        f"{path}: the image {has}more than the {MAX_IMAGE_PIXELS:,} nndl reads "
        "(about 9459x9459); scale it down first"
    )


def _open(path: Path):
    """The decoded Pillow image, or a ValueError in one line."""
    Image = _pillow()
    from PIL import ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Sizes are checked below, against MAX_IMAGE_PIXELS, in one line.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        empty = " (it is empty)" if path.stat().st_size == 0 else ""
        raise ValueError(f"{path}: not an image file Pillow can read{empty}") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(path, int(found.group(1)) if found else None) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image ({_one_line(exc)})") from None
    with im:
        w, h = im.size
        if w * h > MAX_IMAGE_PIXELS:
            raise _too_large(path, w * h)
        if w == 0 or h == 0:
            raise ValueError(f"{path}: the image has no pixels ({w}x{h})")
        try:
            im.load()
            # A photo taken sideways is stored as it was taken, with a tag saying
            # how to turn it.
            return ImageOps.exif_transpose(im)
        except MemoryError:
            raise ValueError(f"{path}: not enough memory to decode the image ({w}x{h})") from None
        except Exception as exc:  # a damaged file: Pillow raises many kinds
            kind = type(exc).__name__
            raise ValueError(
                f"{path}: the image is damaged or truncated ({kind}: {_one_line(exc)})"
            ) from None


def _reduce(im):
    """Average blocks of pixels so that the longer side is at most _WORKING_SIDE."""
    factor = math.ceil(max(im.size) / _WORKING_SIDE)
    return im.reduce(factor) if factor > 1 else im


def read_grey(path, *, background: float | None = None) -> np.ndarray:
    """An image file as float32 grey levels in [0, 1], 0 black and 1 white.

    8-bit images are divided by 255, 16-bit ones by 65535; colour and palette
    images are turned grey (ITU-R 601 luma). Transparent pixels are composited
    on ``background`` (0 black, 1 white); with ``None`` it is the colour
    opposite to the ink's (the mean colour of the opaque pixels), so that
    transparent pixels are always background. Images with a side longer than
    2048 pixels are reduced by averaging blocks of pixels.

    Raises
    ------
    ImportError
        When Pillow is missing (``pip install "nndl[cli]"``).
    FileNotFoundError
        When there is no such file.
    ValueError
        In one line: not an image, damaged or truncated, empty, or more than
        :data:`MAX_IMAGE_PIXELS` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    im = _open(path)
    alpha = None
    mode = im.mode
    try:
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            # Grey with more than 8 bits: converting to "L" would clip at 255.
            key = im.info.get("transparency")
            im = im.convert("F")
            if isinstance(key, int):  # one level stands for transparent
                clear = (np.asarray(im) != key).astype(np.float32)
                alpha = np.asarray(_reduce(_pillow().fromarray(clear)), dtype=np.float32)
            grey = np.asarray(_reduce(im), dtype=np.float32)
            top = 65535.0
            if mode == "F":  # floating point: in [0, 1], or 8- or 16-bit levels
                biggest = float(grey.max(initial=0.0))
                top = 1.0 if biggest <= 1.0 else 255.0 if biggest <= 255.0 else 65535.0
            grey = np.clip(grey / top, 0.0, 1.0)
        elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
            rgba = _reduce(im.convert("RGBA"))
            grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
            alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        else:
            if mode not in ("1", "L"):
                im = im.convert("RGB")
            grey = np.asarray(_reduce(im.convert("L")), dtype=np.float32) / 255.0
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"{path}: cannot read its {mode} pixels as grey ({_one_line(exc)})"
        ) from None
    if alpha is not None and float(alpha.min()) < 1.0:
        if background is None:
            weight = float(alpha.sum())
            ink = float((alpha * grey).sum()) / weight if weight else 1.0
            background = 1.0 if ink < 0.5 else 0.0
        grey = alpha * grey + (1.0 - alpha) * np.float32(background)
    return grey.astype(np.float32, copy=False)


def _border(a: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring of ``a`` (a sixteenth of the shorter side wide)."""
    h, w = a.shape
    r = max(1, min(h, w) // 16)
    if 2 * r >= min(h, w):
        return a.reshape(-1)
    return np.concatenate(
        [a[:r].ravel(), a[-r:].ravel(), a[r:-r, :r].ravel(), a[r:-r, -r:].ravel()]
    )


def _looks_dark_on_light(grey: np.ndarray) -> bool:
    """Whether the border (the background) is nearer the lightest level than the darkest
    (for an image of one level: whether it is light)."""
    lo, hi = float(grey.min()), float(grey.max())
    if hi - lo < 1.0 / 255:
        return lo > 0.5
    return float(np.median(_border(grey))) > (lo + hi) / 2


def _set_levels(ink: np.ndarray) -> np.ndarray | None:
    """Background (its border level plus three times its noise) to 0, typical ink to 1;
    ``None`` when no ink stands out from the background."""
    ring = _border(ink)
    level = float(np.median(ring))
    noise = 1.4826 * float(np.median(np.abs(ring - level)))
    floor = min(level + 3.0 * noise, 1.0)
    top = float(ink.max())
    if top - floor < 1.0 / 255:
        return None
    strong = ink[ink > (floor + top) / 2]
    full = float(np.median(strong))
    return np.clip((ink - floor) / (full - floor), 0.0, 1.0)


@dataclass(frozen=True)
class Framing:
    """Where a digit goes in a ``side`` x ``side`` input."""

    #: The digit's longer side is fitted to ``box`` pixels.
    box: int
    #: Its centre of mass is placed at pixel (centre, centre) (row and column index).
    centre: float
    #: Stroke widths outside (low, high), in fractions of ``box``, are brought to
    #: the nearer end: the range of the data set's digits.
    stroke: tuple[float, float]


def image_framing(side: int) -> Framing:
    """How a digit is framed in a ``side`` x ``side`` input (see :class:`Framing`).

    28: MNIST's 20x20 box, the centre of mass at (14.0, 14.0) (the mean over
    its training digits, in pixel indices), strokes 1.6 to 2.4 pixels wide
    (the middle of MNIST's, measured as 2 x ink / outline). 8: the 8x8 digits,
    which fill their frame's height, centred, strokes 0.8 to 1.1 pixels.
    Other sides: MNIST's, scaled.
    """
    side = check_range("side", side, low=1, integer=True)
    if side == 28:
        return Framing(20, 14.0, (0.08, 0.12))
    if side <= 8:
        return Framing(side, (side - 1) / 2, (0.13, 0.19))
    return Framing(max(1, round(side * 20 / 28)), (side - 1) / 2, (0.08, 0.12))


def _resize(a: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    Image = _pillow()
    out = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    return np.asarray(out.resize(size, resample), dtype=np.float32)


def _crop_to_ink(a: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(a.any(axis=1))
    cols = np.flatnonzero(a.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_width(a: np.ndarray) -> float:
    """The mean width of the strokes of an ink image (ink high), in pixels.

    Twice the ink (the sum of the levels) over the length of its outline (the
    sum of the level changes between neighbours): a stroke of width t and
    length L has ink t L and an outline about 2 L long.
    """
    a = np.pad(np.asarray(a, dtype=np.float64), 1)
    outline = np.abs(np.diff(a, axis=0)).sum() + np.abs(np.diff(a, axis=1)).sum()
    return 2.0 * float(a.sum()) / outline if outline > 0 else 0.0


def _adjust_stroke(a: np.ndarray, low: float, high: float) -> np.ndarray:
    """Thin strokes wider than ``high`` pixels, or thicken those narrower than ``low``.

    Each 3x3 minimum (or maximum) filter takes a pixel off (or adds one to)
    each side of a stroke; they are applied until the width is in range (at
    most a quarter of the image's side, and never to nothing).
    """
    from PIL import ImageFilter

    width = stroke_width(a)
    if low <= width <= high:
        return a
    thin = width > high
    rank = ImageFilter.MinFilter(3) if thin else ImageFilter.MaxFilter(3)
    limit = max(1, max(a.shape) // 4)
    im = _pillow().fromarray(np.pad(a, 1 if thin else limit + 1).astype(np.float32))
    for _ in range(limit):
        step = im.filter(rank)
        out = np.asarray(step, dtype=np.float32)
        if not out.any():
            break
        im = step
        width = stroke_width(out)
        if (width <= high) if thin else (width >= low):
            break
    out = np.asarray(im, dtype=np.float32)
    return _crop_to_ink(out)


def _fit_and_centre(ink: np.ndarray, side: int, framing: Framing | None = None) -> np.ndarray:
    """Crop to the ink, fit into the box, adjust the strokes, place by the centre of mass."""
    Image = _pillow()
    framing = framing or image_framing(side)
    box = framing.box
    crop = _crop_to_ink(ink)
    # Work at 4 times the box: there a stroke is several pixels wide.
    work_box = 4 * box
    h, w = crop.shape
    scale = work_box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    work = np.clip(_resize(crop, size, Image.Resampling.LANCZOS), 0.0, 1.0)
    low, high = framing.stroke
    adjusted = _adjust_stroke(work, low * work_box, high * work_box)
    # Resampled once only when the strokes were left as they were.
    source = crop if adjusted is work else adjusted
    h, w = source.shape
    scale = box / max(h, w)
    size = (min(box, max(1, round(w * scale))), min(box, max(1, round(h * scale))))
    # Area-averaging for the 8x8 digits (4x4 blocks of a 32x32 bitmap);
    # Lanczos, anti-aliased, for MNIST's.
    resample = Image.Resampling.BOX if side <= 8 else Image.Resampling.LANCZOS
    digit = np.clip(_resize(source, size, resample), 0.0, 1.0)
    total = float(digit.sum())
    frame = np.zeros((side, side), dtype=np.float32)
    if total <= 0.0:
        return frame
    dh, dw = digit.shape
    com_y = float(digit.sum(axis=1) @ np.arange(dh)) / total
    com_x = float(digit.sum(axis=0) @ np.arange(dw)) / total
    top = min(max(round(framing.centre - com_y), 0), side - dh)
    left = min(max(round(framing.centre - com_x), 0), side - dw)
    frame[top : top + dh, left : left + dw] = digit
    return frame


def _pad_and_resize(ink: np.ndarray, side: int) -> np.ndarray:
    h, w = ink.shape
    n = max(h, w)
    if h != w:
        square = np.zeros((n, n), dtype=np.float32)
        square[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = ink
        ink = square
    if n != side:
        ink = _resize(ink, (side, side), _pillow().Resampling.LANCZOS)
    return np.clip(ink, 0.0, 1.0)


def prepare_image(
    path, *, side: int = 28, invert: bool | None = None, center: bool = True
) -> ImageInput:
    """One image file as a network input, with what was done to it (see the module doc).

    Parameters
    ----------
    path : path-like
        Any format Pillow reads (PNG expected), any size up to
        :data:`MAX_IMAGE_PIXELS` pixels.
    side : int
        Width and height of the input (28 for MNIST, 8 for the 8x8 digits).
    invert : bool or None
        ``None``: invert when the image looks like dark ink on a light
        background; ``True`` or ``False`` force it.
    center : bool
        Crop to the ink, fit and centre it as MNIST's digits were (``True``);
        ``False`` only pads to a square and resizes.

    An image where no ink stands out from the background gives a blank input,
    and says so in :attr:`ImageInput.note`. Errors are as for :func:`read_grey`.
    """
    side = check_range("side", side, low=1, integer=True)
    if invert is not None and not isinstance(invert, (bool, np.bool_)):
        raise TypeError(f"invert must be True, False or None, got {invert!r}")
    background = None if invert is None else float(invert)
    grey = read_grey(path, background=background)
    dark_on_light = _looks_dark_on_light(grey)
    inverted = dark_on_light if invert is None else bool(invert)
    ink = 1.0 - grey if inverted else grey
    note = ""
    if inverted != dark_on_light:
        looks = "dark ink on a light" if dark_on_light else "light ink on a dark"
        note = f"it looks like {looks} background but was " + (
            "inverted" if inverted else "not inverted"
        )
    if center:
        levels = _set_levels(ink)
        if levels is None:
            flat = float(ink.max()) == float(ink.min())
            what = (
                "the image is one grey level" if flat else "no ink stands out from the background"
            )
            note = f"found no digit ({what}): the input is blank" + (f"; {note}" if note else "")
            frame = np.zeros((side, side), dtype=np.float32)
        else:
            frame = _fit_and_centre(levels, side)
    else:
        frame = _pad_and_resize(ink, side)
    # 8-bit levels / 256, as in mnist.pkl.gz: the largest is 255/256.
    pixels = (np.round(frame * 255.0) / 256.0).reshape(-1).astype(np.float32)
    return ImageInput(pixels, dark_on_light, inverted, bool(center), note)


def load_image(
    path, *, side: int = 28, invert: bool | None = None, center: bool = True
) -> np.ndarray:
    """One image as a float32 vector of ``side * side`` pixels in [0, 1).

    ``invert=None`` detects dark ink on a light background; ``center=True``
    prepares the image as MNIST's digits were (see :func:`prepare_image`).

    Raises
    ------
    ImportError
        When Pillow is missing (``pip install "nndl[cli]"``).
    FileNotFoundError, ValueError
        A missing file, or one that is not a readable image (in one line).

    Warns
    -----
    UserWarning
        When no digit is found (the image is one grey level): its input is blank.
    """
    image = prepare_image(path, side=side, invert=invert, center=center)
    if image.note.startswith("found no digit"):
        warnings.warn(f"{path}: {image.note}", UserWarning, stacklevel=2)
    return image.pixels


def load_images(
    paths, *, side: int = 28, invert: bool | None = None, center: bool = True
) -> np.ndarray:
    """Several images as rows of a float32 matrix (len(paths), side * side)."""
    paths = list(paths)
    if not paths:
        raise ValueError("no image files given")
    return np.stack([load_image(p, side=side, invert=invert, center=center) for p in paths])


def save_input_image(pixels, path) -> Path:
    """Write an input vector (``side * side`` values in [0, 1)) as an 8-bit grey PNG.

    Level k is written for the value k / 256, so the file read back with
    ``center=False`` gives the same vector.
    """
    Image = _pillow()
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1)
    side = math.isqrt(pixels.size)
    if side * side != pixels.size or side == 0:
        raise ValueError(f"{pixels.size} values are not a square image")
    levels = np.clip(np.round(pixels * 256.0), 0, 255).astype(np.uint8).reshape(side, side)
    path = Path(path)
    Image.fromarray(levels).save(path)
    return path
