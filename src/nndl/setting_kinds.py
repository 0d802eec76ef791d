"""The kinds of value a setting takes: how each is parsed from the command line
and what is valid (the schema itself is :mod:`nndl.settings`).

Each kind has ``parse(name, text)`` for command-line text, ``check(name,
value)`` for a value from a file or from Python (returning it in its
canonical type, or raising ValueError/TypeError that names the setting),
``metavar`` for ``--help`` and ``describe()`` for the README table.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._validation import check_range

__all__ = [
    "MONITOR_ALIASES",
    "MONITOR_KEYS",
    "Choice",
    "Flag",
    "IntList",
    "Kind",
    "MonitorList",
    "NameOrList",
    "Number",
    "NumberOrList",
    "Text",
    "normalized_name",
]

#: What the trainer can record after each epoch: cost and accuracy on the
#: training data and on the evaluation data.
MONITOR_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")

#: Other names of the monitor keys: the book's four flags and plain words.
MONITOR_ALIASES = {
    "training_cost": "loss",
    "training_accuracy": "accuracy",
    "evaluation_cost": "val_loss",
    "evaluation_accuracy": "val_accuracy",
    "validation_cost": "val_loss",
    "validation_accuracy": "val_accuracy",
    "cost": "loss",
}


class Kind:
    """A kind of value: how it is written on the command line and what is valid.

    ``check(name, value)`` returns the value in its canonical type or raises
    ValueError/TypeError naming ``name``; ``parse(name, text)`` turns
    command-line text into a value (then checked); ``metavar`` is how
    ``--help`` writes it.
    """

    metavar = "VALUE"

    def parse(self, name: str, text: str):
        return text

    def check(self, name: str, value):
        return value

    def describe(self) -> str:
        """The allowed values, for the README table."""
        return self.metavar.lower()


@dataclass(frozen=True)
class Number(Kind):
    """An integer or a float in a range (both ends optional, open or closed)."""

    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    @property
    def metavar(self) -> str:
        return "N" if self.integer else "X"

    def parse(self, name, text):
        try:
            return int(text) if self.integer else float(text)
        except ValueError:
            kind = "an integer" if self.integer else "a number"
            raise ValueError(f"{name} must be {kind}, got {text!r}") from None

    def check(self, name, value):
        if self.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        return check_range(
            name,
            value,
            low=self.low,
            high=self.high,
            low_inclusive=self.low_inclusive,
            high_inclusive=self.high_inclusive,
            integer=self.integer,
        )

    def describe(self):
        kind = "integer" if self.integer else "number"
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        return f"{kind} {' and '.join(parts)}".strip()


@dataclass(frozen=True)
class Flag(Kind):
    """True or false (``--name/--no-name`` on the command line)."""

    metavar = "BOOL"

    def parse(self, name, text):
        t = str(text).strip().lower()
        if t in ("1", "true", "yes", "on"):
            return True
        if t in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name} must be true or false, got {text!r}")

    def check(self, name, value):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be true or false, got {value!r}")
        return value

    def describe(self):
        return "true or false"


def normalized_name(text) -> str:
    """A name as registries spell it: lower case, ``_`` for ``-``."""
    return str(text).strip().lower().replace("-", "_")


@dataclass(frozen=True)
class Choice(Kind):
    """One name from a registry (case and ``-``/``_`` ignored)."""

    names: tuple[str, ...]

    @property
    def metavar(self) -> str:
        return "[" + "|".join(self.names) + "]"

    def check(self, name, value):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be one of {list(self.names)}, got {value!r}")
        key = normalized_name(value)
        if key not in self.names:
            raise ValueError(f"unknown {name} {value!r}; expected one of {list(self.names)}")
        return key

    def describe(self):
        return ", ".join(f"`{n}`" for n in self.names)


@dataclass(frozen=True)
class NameOrList(Choice):
    """One registry name for every hidden layer, or one per hidden layer."""

    @property
    def metavar(self) -> str:
        return "NAME[,NAME...]"

    def parse(self, name, text):
        names = [s.strip() for s in str(text).split(",")]
        return names[0] if len(names) == 1 else names

    def check(self, name, value):
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"{name} needs at least one name")
            return [Choice.check(self, name, v) for v in value]
        return Choice.check(self, name, value)

    def describe(self):
        return super().describe() + "; one, or one per hidden layer"


@dataclass(frozen=True)
class NumberOrList(Number):
    """A number for every hidden layer, or one per hidden layer."""

    @property
    def metavar(self) -> str:
        return "P[,P...]"

    def parse(self, name, text):
        items = [Number.parse(self, name, s.strip()) for s in str(text).split(",")]
        return items[0] if len(items) == 1 else items

    def check(self, name, value):
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"{name} needs at least one number")
            return [Number.check(self, f"{name}[{i}]", v) for i, v in enumerate(value)]
        return Number.check(self, name, value)

    def describe(self):
        return super().describe() + "; one, or one per hidden layer"


@dataclass(frozen=True)
class IntList(Kind):
    """Comma-separated positive integers (layer sizes); ``none`` or empty for none."""

    min_items: int = 0
    metavar = "N,N,..."

    def parse(self, name, text):
        t = str(text).strip()
        if t.lower() in ("", "none"):
            return []
        try:
            return [int(s) for s in t.split(",")]
        except ValueError:
            raise ValueError(
                f"{name} must be comma-separated positive integers like 784,100,10, got {text!r}"
            ) from None

    def check(self, name, value):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list of layer sizes, got {value!r}")
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a list of positive integers, got {value!r}")
            out.append(int(v))
        if len(out) < self.min_items:
            raise ValueError(f"{name} needs at least {self.min_items} layer sizes, got {out}")
        return out

    def describe(self):
        return "positive integers, comma-separated"


@dataclass(frozen=True)
class MonitorList(Kind):
    """What to record each epoch: any of :data:`MONITOR_KEYS`, ``all`` or ``none``."""

    metavar = "KEY[,KEY...]"

    def parse(self, name, text):
        return [s for s in str(text).split(",")]

    def check(self, name, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list of monitor keys, got {value!r}")
        keys: list[str] = []
        for raw in value:
            if not isinstance(raw, str):
                raise TypeError(f"{name} must be a list of monitor keys, got {value!r}")
            k = normalized_name(raw)
            if k in ("", "none"):
                continue
            if k == "all":
                keys.extend(MONITOR_KEYS)
                continue
            k = MONITOR_ALIASES.get(k, k)
            if k not in MONITOR_KEYS:
                raise ValueError(
                    f"unknown {name} key {raw!r}; expected any of {list(MONITOR_KEYS)}, "
                    "'all' or 'none'"
                )
            keys.append(k)
        return list(dict.fromkeys(keys))

    def describe(self):
        return ", ".join(f"`{k}`" for k in MONITOR_KEYS) + ", `all`, `none`"


@dataclass(frozen=True)
class Text(Kind):
    """A string: a name, a folder, or a small language (a recipe, a schedule).

    ``syntax``, when given, checks the text (raising ValueError) without
    building anything.
    """

    metavar: str = "TEXT"
    what: str = "a string"
    syntax: Callable[[str], Any] | None = None

    def check(self, name, value):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be {self.what}, got {value!r}")
        if self.syntax is not None:
            self.syntax(value)
        return value

    def describe(self):
        return self.what
