"""Command-line options built from the settings schema (:mod:`nndl.settings`).

A setting's flags, metavar, help, default and checks all come from its row:
:func:`setting_option` turns one row into a click option, and
:class:`SettingType` parses what is typed with the row's own parser, so an
option and a config-file key accept the same values with the same messages.
"""

from __future__ import annotations

import click

from .. import settings as run_settings
from ..settings import Flag, Setting

__all__ = ["SettingType", "setting_option", "setting_options", "tensorboard_option"]


class SettingType(click.ParamType):
    """Parses and checks one setting's value (``--eta 0.5``, ``--hidden 100,30``)."""

    def __init__(self, setting: Setting):
        self.setting = setting
        self.name = setting.kind.metavar

    def get_metavar(self, param, ctx=None):
        return self.name  # as the schema writes it, not upper-cased

    def convert(self, value, param, ctx):
        try:
            if isinstance(value, str):
                return self.setting.parse(value)
            return self.setting.check(value)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), param, ctx)


def _help(setting: Setting, command: str, extra: str | None) -> str:
    text = setting.help if extra is None else f"{setting.help}; {extra}"
    if setting.in_config:
        text += f" [{setting.key}]"
    text += f" (default: {setting.shown_default(command)}"
    why = setting.why_for(command)
    return text + (f": {why})" if why else ")")


def setting_option(
    setting: Setting | str,
    command: str,
    *,
    dest: str | None = None,
    with_default: bool = False,
    help_extra: str | None = None,
):
    """A click option for one setting, as ``command`` (``"train"``, ``"tune eta"``) offers it.

    ``with_default`` False gives None when the option is not typed (the run
    configuration then merges the layers); True gives the command's default.
    ``dest`` is the function's parameter name (default: the setting's name).
    """
    s = run_settings.get(setting) if isinstance(setting, str) else setting
    if not s.flags:
        raise ValueError(f"{s.key} has no command-line flag")
    default = s.default_for(command) if with_default else None
    kwargs = {"default": default, "help": _help(s, command, help_extra)}
    if isinstance(s.kind, Flag):
        return click.option(*s.flags, dest or s.name, type=bool, **kwargs)
    return click.option(*s.flags, dest or s.name, type=SettingType(s), **kwargs)


def setting_options(settings, command: str, **kwargs):
    """Decorate a command with :func:`setting_option` for each of ``settings``, in order."""

    def decorate(fn):
        for s in reversed(list(settings)):
            fn = setting_option(s, command, **kwargs)(fn)
        return fn

    return decorate


def tensorboard_option(runs: str):
    """``--tensorboard DIR`` of a command that trains many runs, from the setting's schema
    row (``nndl train``'s); ``runs`` says which runs write event files, and where under DIR."""
    s = run_settings.get("tensorboard")
    return click.option(
        *s.flags,
        s.name,
        type=SettingType(s),
        default=None,
        help=f"Write TensorBoard event files of {runs} (needs nndl[tensorboard]).",
    )
