"""A picture of what the transformations do: digits as given and transformed, in a PNG grid."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from .._validation import check_range
from .recipe import SHIFTS_RECIPE, Augmenter
from .transforms import BOOK_SHIFTS, as_image_stack, shift

__all__ = ["DEFAULT_PREVIEW_RECIPE", "contact_sheet"]

#: What ``contact_sheet`` shows by default: each step alone, then all together.
DEFAULT_PREVIEW_RECIPE = "shift,rotate:15,affine,elastic"


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
    images, _ = as_image_stack(X)
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
