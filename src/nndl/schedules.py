"""Learning-rate schedules that depend on the epoch alone: pure functions epoch -> eta.

A schedule is a small frozen object; calling it with an epoch (counted from
0) returns the learning rate for that epoch and nothing else: no state, no
side effects, so a resumed run recomputes exactly the same rates. With
eta_0 the initial learning rate and e the epoch::

    constant     eta(e) = eta_0
    step         eta(e) = eta_0 * factor ** floor(e / every)
    exponential  eta(e) = eta_0 * gamma ** e

Rules that react to the metrics (the chapter's "halve eta when the validation
accuracy stops improving") are callbacks instead: see
:class:`nndl.callbacks.PlateauSchedule`. A schedule is applied to training by
:class:`nndl.callbacks.ScheduleCallback`.

``initial`` may be left out (``None``); the callback then binds it to the
run's ``learning_rate``, so ``StepDecay(every=10)`` needs no repetition of
eta.

>>> StepDecay(every=2, factor=0.5, initial=1.0)(5)
0.25
>>> parse_schedule("exp:0.9", initial=1.0)(2)
0.81
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace

from ._validation import check_range

__all__ = [
    "SCHEDULES",
    "Constant",
    "ExponentialDecay",
    "Schedule",
    "StepDecay",
    "get_schedule",
    "parse_schedule",
]


def _check_epoch(epoch) -> int:
    return check_range("epoch", epoch, low=0, integer=True)


@dataclass(frozen=True)
class Schedule(ABC):
    """Base class: ``schedule(epoch) -> learning rate``; ``initial`` is eta_0."""

    initial: float | None = None
    name = "schedule"

    def __post_init__(self):
        if self.initial is not None:
            value = check_range("initial learning rate", self.initial, low=0.0, low_inclusive=False)
            object.__setattr__(self, "initial", value)

    def bind(self, initial: float) -> Schedule:
        """This schedule with eta_0 = ``initial`` if it had none (else itself)."""
        return self if self.initial is not None else replace(self, initial=initial)

    def _eta0(self) -> float:
        if self.initial is None:
            raise ValueError(
                f"{type(self).__name__} has no initial learning rate: pass initial=... "
                "or apply it through ScheduleCallback, which uses the run's learning_rate"
            )
        return self.initial

    @abstractmethod
    def factor_at(self, epoch: int) -> float:
        """eta(epoch) / eta_0."""

    def __call__(self, epoch: int) -> float:
        return self._eta0() * self.factor_at(_check_epoch(epoch))

    def to_dict(self) -> dict:
        """Registry name and parameters, JSON-ready (round-trips through get_schedule)."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class Constant(Schedule):
    """eta(e) = eta_0: the book's default."""

    name = "constant"

    def factor_at(self, epoch):
        return 1.0


@dataclass(frozen=True)
class StepDecay(Schedule):
    """eta(e) = eta_0 * factor ** floor(e / every): multiply by ``factor`` every ``every`` epochs.

    Parameters
    ----------
    every : int >= 1
        Epochs between two reductions.
    factor : float in (0, 1]
        Multiplier applied at each reduction (0.5 halves eta).
    """

    every: int = 10
    factor: float = 0.5
    name = "step"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "every", check_range("every", self.every, low=1, integer=True))
        object.__setattr__(
            self,
            "factor",
            check_range("factor", self.factor, low=0.0, high=1.0, low_inclusive=False),
        )

    def factor_at(self, epoch):
        return self.factor ** (epoch // self.every)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """eta(e) = eta_0 * gamma ** e: a smooth decay by ``gamma`` each epoch.

    Parameters
    ----------
    gamma : float in (0, 1]
        Per-epoch multiplier; the rate halves every log(0.5)/log(gamma) epochs.
    """

    gamma: float = 0.95
    name = "exponential"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(
            self,
            "gamma",
            check_range("gamma", self.gamma, low=0.0, high=1.0, low_inclusive=False),
        )

    def factor_at(self, epoch):
        return self.gamma**epoch


#: Every epoch-only schedule by name (the metric-driven plateau rule is a callback).
SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": ExponentialDecay,
}

_ALIASES = {"exp": "exponential", "const": "constant", "step_decay": "step"}


def _key(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"schedule must be a name, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SCHEDULES:
        hint = (
            "; the plateau rule reacts to metrics, use nndl.callbacks.PlateauSchedule"
            if key == "plateau"
            else ""
        )
        raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}{hint}")
    return key


def get_schedule(name_or_obj, initial: float | None = None, **params) -> Schedule:
    """Build a schedule by registry name (or pass an instance through).

    >>> get_schedule("step", 0.5, every=5)(10)
    0.125
    """
    if isinstance(name_or_obj, Schedule):
        return name_or_obj if initial is None else name_or_obj.bind(initial)
    if isinstance(name_or_obj, dict):
        params = {**name_or_obj, **params}
        name_or_obj = params.pop("name", None)
        initial = params.pop("initial", initial) if initial is None else initial
    cls = SCHEDULES[_key(name_or_obj)]
    allowed = set(cls.__dataclass_fields__) - {"initial"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {sorted(unknown)} for schedule {cls.name!r}; "
            f"expected any of {sorted(allowed)}"
        )
    return cls(initial=initial, **params)


def parse_schedule(spec: str, initial: float | None = None) -> Schedule:
    """Parse the command-line form of a schedule.

    ``constant``, ``step:EVERY[:FACTOR]`` (``step:10:0.5``) or
    ``exp:GAMMA`` (also ``exponential:GAMMA``).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"schedule must be a non-empty string like 'step:10:0.5', got {spec!r}")
    head, *args = spec.strip().split(":")
    key = _key(head)
    fields = {"constant": [], "step": ["every", "factor"], "exponential": ["gamma"]}[key]
    if len(args) > len(fields) or (key == "exponential" and not args):
        forms = {
            "constant": "constant",
            "step": "step:EVERY[:FACTOR]",
            "exponential": "exp:GAMMA",
        }
        raise ValueError(f"bad schedule {spec!r}; expected the form {forms[key]!r}")
    params = {}
    for field_name, text in zip(fields, args, strict=False):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"bad schedule {spec!r}: {field_name} must be a number, got {text!r}"
            ) from None
        if field_name == "every" and math.isfinite(value) and value.is_integer():
            value = int(value)
        params[field_name] = value
    return get_schedule(key, initial, **params)
