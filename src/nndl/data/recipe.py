"""The recipe language of data expansion: named steps with bounds, applied in order.

A *recipe* is a short string naming the steps and their bounds::

    "shift"                      random shift of up to 1 pixel in each axis
    "rotate:10"                  random rotation in [-10, 10] degrees
    "affine:0.1:0.2"             random scale in [0.9, 1.1] and shear in [-0.2, 0.2]
    "elastic:34:4"               elastic distortion, alpha=34, sigma=4
    "shift,rotate:10,elastic"    steps applied in order
    "shifts"                     (build_expanded only) the book's four one-pixel shifts

Parameters may also be named: ``"affine:max_scale=0.1:max_shear=0.3"``.
:class:`Augmenter` parses a recipe into :class:`Step` objects and applies them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .transforms import (
    affine,
    as_generator,
    check_affine_bounds,
    check_elastic_bounds,
    check_rotation_degrees,
    check_shift_pixels,
    elastic,
    random_shift,
    rotate,
)

__all__ = ["SHIFTS_RECIPE", "STEPS", "Augmenter", "Step"]


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
    "shift": (_step_shift, {"max_pixels": 1}, lambda p: check_shift_pixels(p["max_pixels"])),
    "rotate": (
        _step_rotate,
        {"max_degrees": 10.0},
        lambda p: check_rotation_degrees(p["max_degrees"], False),
    ),
    "affine": (
        _step_affine,
        {"max_scale": 0.1, "max_shear": 0.2},
        lambda p: check_affine_bounds(p["max_scale"], p["max_shear"], 0.0, 0.0),
    ),
    "elastic": (
        _step_elastic,
        {"alpha": 34.0, "sigma": 4.0},
        lambda p: check_elastic_bounds(p["alpha"], p["sigma"]),
    ),
}

#: The book's deterministic expansion, valid only as the whole recipe of build_expanded.
SHIFTS_RECIPE = "shifts"


def _parse_number(text: str, where: str):
    """A recipe value as a number: an int when written as one ("3"), else a float."""
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
                    params[key] = _parse_number(value, where)
                else:
                    if i >= len(names):
                        raise ValueError(
                            f"{where}: too many values; {name!r} takes {names or 'none'}"
                        )
                    params[names[i]] = _parse_number(arg, where)
            steps.append(Step(name, params))
        return cls(steps)

    def __call__(self, X, rng) -> np.ndarray:
        """Apply every step in order; returns an array of X's shape and dtype."""
        rng = as_generator(rng)
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
