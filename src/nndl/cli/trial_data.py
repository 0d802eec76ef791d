"""The data options of ``nndl tune`` and ``nndl search``: a data set, cut down for quick trials.

The chapter's broad strategy: while searching for settings, train on fewer
examples (``--train-size``), or on fewer classes (``--classes 0,1``), so
that each trial takes seconds.
"""

from __future__ import annotations

import click

from .params import setting_option

__all__ = ["DATA_KEYS", "data_options", "int_list", "load_reduced_data"]


def int_list(text: str | None, what: str) -> list[int] | None:
    if text is None or text == "":
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise click.BadParameter(
            f"{what} must be integers separated by commas, got {text!r}"
        ) from None


#: The data options of tune and search, in ``load_reduced_data``'s order.
DATA_KEYS = ("dataset", "data_dir", "classes", "train_size", "validation_size", "data_seed")


def data_options(fn):
    """The data set options (from :mod:`nndl.settings`) and the two reductions of trials."""
    options = [
        setting_option("dataset", "tune", with_default=True),
        setting_option("data_dir", "tune", with_default=True),
        click.option(
            "--classes", default=None, help="Keep only these classes, relabelled 0..k-1 (e.g. 0,1)."
        ),
        setting_option(
            "train_size", "tune", with_default=True, help_extra="random ones with --data-seed"
        ),
        setting_option(
            "validation_size",
            "tune",
            with_default=True,
            help_extra="random ones with --data-seed",
        ),
        click.option(
            "--data-seed",
            type=click.IntRange(min=0),
            default=None,
            help="Take random subsets with this seed (default: the first N examples).",
        ),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _first_examples(pair, n: int, what: str):
    X, y = pair
    if n < 1 or n > len(y):
        raise ValueError(f"{what} must be between 1 and {len(y)}, got {n}")
    return X[:n], y[:n]


def load_reduced_data(dataset, data_dir, classes, train_size, validation_size, data_seed):
    """Load a data set and apply the broad-strategy reductions; say what was done.

    ``--train-size N`` keeps the first N examples, as ``nndl train`` does, so a
    configuration found here trains on the same data there; with
    ``--data-seed`` the subsets are random instead.
    """
    from ..data import load_dataset
    from ..tuning import subsample, subset_classes

    splits = load_dataset(dataset, cache_dir=data_dir)
    parts = [tuple(splits.train), tuple(splits.validation), tuple(splits.test)]
    n_full = len(parts[0][1])
    wanted = int_list(classes, "--classes")
    if wanted is not None:
        parts = [subset_classes(X, y, wanted) for X, y in parts]
    for i, (size, what) in enumerate(
        ((train_size, "--train-size"), (validation_size, "--validation-size"))
    ):
        if size is None:
            continue
        if data_seed is None:
            parts[i] = _first_examples(parts[i], size, what)
        else:
            parts[i] = subsample(*parts[i], size, data_seed + i)
    info = {"dataset": dataset, "data_dir": data_dir}
    if train_size is not None:
        info["train_size"] = train_size
    if validation_size is not None:
        info["validation_size"] = validation_size
    click.echo(
        f"data: {dataset}, {len(parts[0][1])} training and {len(parts[1][1])} validation "
        f"examples" + (f", classes {wanted}" if wanted is not None else "")
    )
    if wanted is not None or (data_seed is not None and (train_size or validation_size)):
        info = None  # nndl train cannot express these reductions
    return parts[0], parts[1], parts[2], n_full, info
