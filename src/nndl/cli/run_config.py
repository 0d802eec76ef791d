"""The settings of ``nndl train``: its options, its defaults, and their merging.

Every option is a row of the settings schema (:mod:`nndl.settings`) with
command-line flags; :data:`SETTINGS` lists them in ``--help`` order and
:data:`DEFAULTS` holds their defaults for ``train``. A run's settings are
merged in one place, :func:`resolve_run_config`: the defaults, then a
``--config`` file, then the options typed (later wins, key by key). Values
are checked once, as they are read (by the option's type or by
:func:`nndl.config.read_config`); a new setting needs no code here.
"""

from __future__ import annotations

from .. import settings as run_settings
from ..config import merge, read_config
from .params import setting_option

__all__ = [
    "COMMAND",
    "DEFAULTS",
    "SETTINGS",
    "layer_from_options",
    "resolve_run_config",
    "settings_options",
]

#: The command whose defaults these are (see ``Setting.commands``).
COMMAND = "train"

#: Every setting that ``nndl train`` takes as an option, in ``--help`` order.
SETTINGS: tuple[run_settings.Setting, ...] = tuple(s for s in run_settings.SETTINGS if s.flags)

#: Settings that mean something only with another one: (setting, needed, option).
_NEEDS = [
    ("data", "expand_copies", "expand", "--expand RECIPE"),
    ("data", "expand_seed", "expand", "--expand RECIPE"),
    ("data", "augment_fraction", "augment", "--augment RECIPE"),
]


_QUALIFIERS = {key for _, key, _, _ in _NEEDS}

#: The defaults of a ``train`` run, by section (settings whose default is
#: "not set", and those that only qualify another setting, are left out:
#: their meaning is given where they are used).
DEFAULTS: dict[str, dict] = {
    section: {
        s.name: s.default_for(COMMAND)
        for s in run_settings.by_section(section)
        if s.default_for(COMMAND) is not None and s.name not in _QUALIFIERS
    }
    for section in ("network", "training", "data")
}


def _dest(s: run_settings.Setting) -> str:
    return s.key.replace(".", "__")


def settings_options(settings=SETTINGS):
    """Decorate ``train`` with one option per setting (None when not typed)."""

    def decorate(fn):
        for s in reversed(settings):
            fn = setting_option(s, COMMAND, dest=_dest(s))(fn)
        return fn

    return decorate


def layer_from_options(values: dict) -> dict[str, dict]:
    """The command-line layer of the configuration: only the options given."""
    layer: dict[str, dict] = {}
    for s in SETTINGS:
        v = values.get(_dest(s))
        if v is not None:
            layer.setdefault(s.section, {})[s.name] = v
    return layer


def resolve_run_config(options: dict[str, dict], config_file=None) -> dict[str, dict]:
    """Defaults, then the config file, then the command-line options (later wins).

    Refuses a setting given without the one it depends on
    (``expand_copies`` without ``expand``, say).
    """
    layers = [read_config(config_file)] if config_file is not None else []
    given = merge(*layers, options)
    for section, key, needed, option in _NEEDS:
        values = given.get(section, {})
        if values.get(key, DEFAULTS[section].get(key)) != DEFAULTS[section].get(key) and not (
            values.get(needed)
        ):
            raise ValueError(f"{section}.{key} needs {section}.{needed} ({option})")
    cfg = merge(DEFAULTS, given)
    for section in run_settings.SECTIONS:
        cfg.setdefault(section, {})
    return cfg
