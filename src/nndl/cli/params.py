"""The option types of the ``nndl`` commands: lists of sizes, names and numbers, monitors.

Each turns what is typed into the value the run configuration holds, and
refuses anything else with a message that names the option.
"""

from __future__ import annotations

import click

from ..callbacks import MONITOR_KEYS

__all__ = ["FloatList", "IntList", "MonitorKeys", "NameList", "choice"]


class IntList(click.ParamType):
    """Comma-separated positive integers: ``784,100,10`` (``none`` or empty: no items)."""

    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        text = str(value).strip()
        if text.lower() in ("", "none"):
            return []
        try:
            items = [int(s) for s in text.split(",")]
        except ValueError:
            self.fail(f"expected comma-separated positive integers like 784,100,10, got {value!r}")
        if any(i < 1 for i in items):
            self.fail(f"layer sizes must be positive integers, got {value!r}")
        return items


class NameList(click.ParamType):
    """One registry name, or one per hidden layer, comma-separated."""

    name = "NAME[,NAME...]"

    def __init__(self, choices):
        self.choices = sorted(choices)

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        names = [s.strip().lower().replace("-", "_") for s in str(value).split(",")]
        bad = [n for n in names if n not in self.choices]
        if bad:
            self.fail(f"unknown {', '.join(map(repr, bad))}; expected one of {self.choices}")
        return names[0] if len(names) == 1 else names


class FloatList(click.ParamType):
    """A number, or one per hidden layer, comma-separated."""

    name = "P[,P...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float, list, tuple)):
            return value
        try:
            items = [float(s) for s in str(value).split(",")]
        except ValueError:
            self.fail(f"expected a number or comma-separated numbers, got {value!r}")
        return items[0] if len(items) == 1 else items


#: Friendly names for the four book monitors.
_MONITOR_ALIASES = {
    "training_cost": "loss",
    "training_accuracy": "accuracy",
    "evaluation_cost": "val_loss",
    "evaluation_accuracy": "val_accuracy",
    "validation_cost": "val_loss",
    "validation_accuracy": "val_accuracy",
    "cost": "loss",
}


class MonitorKeys(click.ParamType):
    """What to record each epoch: any of loss, accuracy, val_loss, val_accuracy (or all, none)."""

    name = "KEY[,KEY...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        keys = []
        for raw in str(value).split(","):
            k = raw.strip().lower().replace("-", "_")
            if k in ("", "none"):
                continue
            if k == "all":
                keys.extend(MONITOR_KEYS)
                continue
            k = _MONITOR_ALIASES.get(k, k)
            if k not in MONITOR_KEYS:
                self.fail(
                    f"unknown monitor {raw!r}; expected any of {list(MONITOR_KEYS)}, "
                    "'all' or 'none'"
                )
            keys.append(k)
        return list(dict.fromkeys(keys))


def choice(names) -> click.Choice:
    """One of ``names`` (a registry's keys, say), case-insensitive, listed sorted in ``--help``."""
    return click.Choice(sorted(names), case_sensitive=False)
