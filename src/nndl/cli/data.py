"""``nndl data``: fetch, describe, expand and locate the data sets.

::

    nndl data fetch mnist
    nndl data info
    nndl data expand --recipe shifts
    nndl data path mnist
    nndl data clear [--all]
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from .. import settings as run_settings

__all__ = ["data"]

_DATA_NAMES = ["mnist", "mnist-idx", "fashion-mnist", "digits"]


@click.group()
def data():
    """Get, check and locate the data sets.

    The cache folder is --data-dir, else $NNDL_DATA_DIR, else ~/.cache/nndl.
    """


def _data_dir_option(fn):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="cache folder (default: $NNDL_DATA_DIR or ~/.cache/nndl)",
    )(fn)


def _names_argument(fn):
    return click.argument("names", nargs=-1, type=click.Choice(_DATA_NAMES, case_sensitive=False))(
        fn
    )


def _describe(splits) -> str:
    t, v, s = splits
    return (
        f"{t.X.shape[0]} training, {v.X.shape[0]} validation, {s.X.shape[0]} test examples of "
        f"{splits.n_features} features, {splits.n_classes} classes"
    )


@data.command("fetch")
@_names_argument
@_data_dir_option
def data_fetch(names, data_dir):
    """Fetch and verify data sets (default: mnist). A valid cache makes no network call."""
    from .. import data as d

    for name in names or ("mnist",):
        name = name.lower()
        if name == "mnist":
            path = d.mnist_pickle_path(cache_dir=data_dir)
            splits = d.load_mnist(cache_dir=data_dir)  # also builds the fast .npz cache
            click.echo(f"mnist: {path} (sha256 verified); {_describe(splits)}")
        elif name == "mnist-idx":
            folder = d.mnist_idx_folder(cache_dir=data_dir)
            click.echo(
                f"mnist-idx: {folder} (md5 verified); {_describe(d.load_idx_dataset(folder))}"
            )
        elif name == "fashion-mnist":
            folder = d.fashion_mnist_dir(data_dir)
            click.echo(f"fashion-mnist: {folder}; {_describe(d.load_idx_dataset(folder))}")
        else:
            click.echo(f"digits: bundled with scikit-learn; {_describe(d.load_digits())}")


@data.command("info")
@_names_argument
@_data_dir_option
def data_info(names, data_dir):
    """Describe the data sets and the state of the cache (downloads nothing)."""
    from .. import data as d
    from ..data.fetch import MNIST_IDX_FILES, MNIST_PICKLE

    cache = d.data_dir(data_dir)
    how = (
        "--data-dir"
        if data_dir
        else (f"${d.ENV_VAR}" if os.environ.get(d.ENV_VAR) else "the per-user default")
    )
    click.echo(f"cache folder: {cache} ({how})")
    for name in names or _DATA_NAMES:
        name = name.lower()
        click.echo(f"{name}: {d.DATASETS[name]}")
        if name == "mnist":
            p = cache / MNIST_PICKLE.name
            status = "missing (nndl data fetch mnist gets it)"
            if p.exists():
                problem = d.verify(p, MNIST_PICKLE)
                status = f"damaged: {problem}" if problem else "present, sha256 verified"
            click.echo(f"  {p}: {status}")
            click.echo(f"  {MNIST_PICKLE.checksum}, {MNIST_PICKLE.size} bytes; sources:")
            for s in MNIST_PICKLE.sources:
                click.echo(f"    {s.label}")
        elif name == "mnist-idx":
            for f in MNIST_IDX_FILES:
                p = cache / f.name
                status = "missing"
                if p.exists():
                    problem = d.verify(p, f)
                    status = f"damaged: {problem}" if problem else "present, md5 verified"
                click.echo(f"  {p}: {status}")
        elif name == "fashion-mnist":
            try:
                click.echo(f"  {d.fashion_mnist_dir(data_dir)}: present")
            except FileNotFoundError as exc:
                click.echo(f"  {exc}")
        else:
            click.echo("  bundled with scikit-learn (no download)")
    _show_cache_contents(cache)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def _cache_kinds() -> list[tuple[str, str, bool]]:
    """What nndl keeps in its cache folder: (glob pattern, what it is, derived?).

    Derived entries are rebuilt from the downloads without the network.
    """
    from ..experiments.svm_baseline import SVM_CACHE_FOLDER

    return [
        ("mnist.pkl.gz", "MNIST as the book ships it (downloaded)", False),
        ("mnist-idx", "MNIST's original IDX files (downloaded)", False),
        ("mnist-book-*.npz", "MNIST decoded for fast loading (rebuilt from mnist.pkl.gz)", True),
        ("expanded", "expanded training sets of nndl data expand / --expand", True),
        (SVM_CACHE_FOLDER, "SVM baseline results of more_data (fitted again if removed)", True),
    ]


def _cache_entries(cache: Path):
    """The nndl files in ``cache``: (path, description, derived), known names only."""
    if not cache.is_dir():
        return []
    found = []
    for pattern, what, derived in _cache_kinds():
        found += [(p, what, derived) for p in sorted(cache.glob(pattern))]
    return found


def _show_cache_contents(cache: Path) -> None:
    entries = _cache_entries(cache)
    if not entries:
        click.echo(f"cache contents: nothing yet in {cache}")
        return
    total = 0
    click.echo("cache contents:")
    for path, what, _ in entries:
        size = _size(path)
        total += size
        click.echo(f"  {path.name:<32} {_human(size):>10}  {what}")
    click.echo(f"  total {_human(total)}; `nndl data clear` removes what can be rebuilt")


@data.command("expand")
@click.option(
    "--dataset",
    default="mnist",
    show_default=True,
    help="data set whose training images are expanded (any name `nndl train --dataset` takes)",
)
@click.option(
    "--recipe",
    default="shifts",
    show_default=True,
    help="'shifts' (the book's four one-pixel shifts) or steps such as "
    "shift,rotate:10,affine:0.1:0.2,elastic:34:4",
)
@click.option(
    "--copies", type=click.IntRange(min=1), help="distorted copies per image (recipes; default 4)"
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=run_settings.default("expand_seed"),
    show_default=True,
    help="seed of the distortions (`nndl train --expand` builds with the same default)",
)
@click.option("--no-original", is_flag=True, help="leave the untouched images out")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="write the set to this .npz file (default: the cache, where `nndl train --expand` "
    "finds it)",
)
@click.option(
    "--preview",
    is_flag=False,
    flag_value="expand-preview.png",
    default=None,
    type=click.Path(dir_okay=False),
    help="also write a contact sheet of digits and their transformations (PNG; default name "
    "expand-preview.png)",
)
@click.option(
    "--preview-n", type=click.IntRange(1, 100), default=8, show_default=True, help="rows of it"
)
@_data_dir_option
def data_expand(dataset, recipe, copies, seed, no_original, out, preview, preview_n, data_dir):
    """Build an expanded training set once and cache it (recipe and seed recorded).

    `nndl data expand` makes the book's 250,000 shifted MNIST images;
    `nndl train --expand shifts` then trains on them from the cache.
    """
    from ..data import data_dir as resolve_data_dir
    from ..data import load_dataset
    from ..data.expand import build_expanded, contact_sheet, expanded_path

    splits = load_dataset(dataset, cache_dir=data_dir)
    X, y = splits.train.X, splits.train.y
    kwargs = {"seed": seed, "copies": copies, "include_original": not no_original}
    cache = resolve_data_dir(data_dir) / "expanded"
    path = Path(out) if out else expanded_path(X, y, recipe, cache_dir=cache, **kwargs)
    t0 = time.perf_counter()
    Xe, _ = build_expanded(X, y, recipe, path=path, **kwargs)
    click.echo(
        f"{dataset}: {X.shape[0]} training images -> {Xe.shape[0]} with {recipe!r} "
        f"(seed {seed}), {time.perf_counter() - t0:.1f} s; saved in {path}"
    )
    if preview:
        sheet = contact_sheet(
            X, preview, recipe, n=preview_n, seed=seed, labels=y[:preview_n], title=recipe
        )
        click.echo(f"Contact sheet: {sheet}")


@data.command("clear")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="also remove the downloads (fetched again when next needed)",
)
@_data_dir_option
def data_clear(everything, data_dir):
    """Remove from the cache what nndl can rebuild (decoded arrays, expanded sets, SVM results).

    Only files nndl writes are touched; with --all, the downloaded data sets too.
    """
    import shutil

    from .. import data as d

    cache = d.data_dir(data_dir)
    freed, removed = 0, []
    for path, _, derived in _cache_entries(cache):
        if not (derived or everything):
            continue
        freed += _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path.name)
    if removed:
        click.echo(f"removed {', '.join(removed)} from {cache}: {_human(freed)} freed")
    else:
        click.echo(f"nothing to remove in {cache}")


@data.command("path")
@click.argument("name", required=False, type=click.Choice(_DATA_NAMES, case_sensitive=False))
@_data_dir_option
def data_path(name, data_dir):
    """Print where a data set is (or will be) kept; with no NAME, the cache folder."""
    from .. import data as d
    from ..data.fetch import MNIST_PICKLE

    cache = d.data_dir(data_dir)
    name = (name or "").lower()
    if not name:
        click.echo(str(cache))
    elif name == "mnist":
        click.echo(str(cache / MNIST_PICKLE.name))
    elif name == "mnist-idx":
        click.echo(str(cache / "mnist-idx"))
    elif name == "fashion-mnist":
        click.echo(str(d.fashion_mnist_dir(data_dir)))
    else:
        import sklearn.datasets

        click.echo(str(Path(sklearn.datasets.__file__).parent / "data"))
