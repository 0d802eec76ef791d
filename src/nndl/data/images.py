"""Image files as network inputs (for ``nndl predict``).

The book's MNIST convention: white ink on a black background, grey levels
scaled to [0, 1) (0 is background, values near 1 are ink). A photo or a
scan of a digit written in black on white paper must be inverted
(``invert=True``). Images are converted to grey, padded to a square (so the
digit keeps its shape) and resized to ``side`` x ``side`` pixels (28 for
MNIST, 8 for the 8x8 digits). MNIST digits are centred in a 20x20 box inside
the 28x28 frame; an image framed the same way is recognised best.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import check_range

__all__ = ["load_image", "load_images"]


def load_image(path, *, side: int = 28, invert: bool = False) -> np.ndarray:
    """One image as a float32 vector of ``side * side`` pixels in [0, 1).

    Parameters
    ----------
    path : path-like
        Any format Pillow reads (PNG expected).
    side : int
        Width and height after resizing.
    invert : bool
        For black ink on white: grey level g becomes 255 - g.

    Raises
    ------
    ImportError
        When Pillow is missing (``pip install "nndl[cli]"``).
    FileNotFoundError, ValueError
        A missing file, or one Pillow cannot read.
    """
    side = check_range("side", side, low=1, integer=True)
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise ImportError('reading images needs Pillow: pip install "nndl[cli]"') from exc
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            background = 255 if invert else 0
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                # Transparent pixels are background, whatever colour they store.
                rgba = im.convert("RGBA")
                base = Image.new("RGBA", rgba.size, (background,) * 3 + (255,))
                im = Image.alpha_composite(base, rgba)
            grey = im.convert("L")
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file Pillow can read") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image ({exc})") from None
    w, h = grey.size
    if w != h:
        square = Image.new("L", (max(w, h), max(w, h)), background)
        square.paste(grey, ((max(w, h) - w) // 2, (max(w, h) - h) // 2))
        grey = square
    if grey.size != (side, side):
        grey = grey.resize((side, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float32)
    if invert:
        pixels = 255.0 - pixels
    # / 256 as in mnist.pkl.gz, so 255 maps to 0.996 like the training data.
    return (pixels / 256.0).reshape(-1).astype(np.float32)


def load_images(paths, *, side: int = 28, invert: bool = False) -> np.ndarray:
    """Several images as rows of a float32 matrix (len(paths), side * side)."""
    paths = list(paths)
    if not paths:
        raise ValueError("no image files given")
    return np.stack([load_image(p, side=side, invert=invert) for p in paths])
