"""The configuration of a training run, as a file that round-trips.

A run configuration is a few sections, each a table of settings::

    [network]        # NetworkConfig fields, or ``hidden`` instead of ``sizes``
    hidden = [100]
    cost = "cross_entropy"

    [training]       # TrainConfig fields
    learning_rate = 0.5
    l2 = 5.0
    epochs = 30

    [data]
    dataset = "mnist"

    [control]        # schedules, early stopping, monitoring, diagnostics, checkpoints
    schedule = "plateau"
    early_stopping = 10

``nndl train`` writes the configuration it actually ran (every value
resolved: layer sizes, seed, optimizer) to ``config.json`` beside the model,
and ``nndl train --config config.json`` runs it again. TOML files with the
same tables work too (``nndl train --print-config`` writes one). Settings
are merged in layers, later winning key by key: the defaults, the file, then
the options given on the command line.

A value of ``null`` (JSON) means "not set". Keys may be written with ``-``
or ``_``. Unknown sections or keys are refused with a message listing the
known ones. Every key and value is checked against the one schema of settings,
:mod:`nndl.settings`, with messages that name the setting and its allowed
range; aliases (``eta``, ``lmbda``) are read as the settings they name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from . import settings
from ._io import atomic_write_json
from .limits import MAX_CONFIG_FILE_BYTES, MAX_NESTING, check_file_size, check_nesting, clip

__all__ = [
    "EXCLUSIVE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SECTIONS",
    "merge",
    "normalize",
    "read_config",
    "to_toml",
    "write_config",
]

FORMAT_NAME = "nndl-run-config"
FORMAT_VERSION = 1

#: Known sections and their keys, from the settings schema (:mod:`nndl.settings`).
SECTIONS: dict[str, set[str]] = {
    section: {s.name for s in settings.by_section(section)} for section in settings.SECTIONS
}

#: Keys that replace each other: setting one in a later layer drops the other.
EXCLUSIVE = settings.EXCLUSIVE


def normalize(doc, source: str = "config") -> dict[str, dict]:
    """Check a parsed configuration and return {section: {key: value}}.

    Drops ``format``/``version`` (checked when present) and null values;
    turns ``-`` in keys into ``_`` and aliases (``eta``, ``lmbda``) into the
    settings' names; checks every value against the schema.

    Raises
    ------
    ValueError or TypeError
        Not a table of tables, an unknown section or key, a value of the
        wrong kind or out of range, a wrong format name or version, or both
        keys of an exclusive pair in one section.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: a configuration must be a table of sections")
    doc = dict(doc)
    fmt = doc.pop("format", FORMAT_NAME)
    version = doc.pop("version", FORMAT_VERSION)
    if fmt != FORMAT_NAME:
        raise ValueError(f"{source}: format must be {FORMAT_NAME!r}, got {fmt!r}")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{source}: unsupported version {version!r}; this nndl reads version {FORMAT_VERSION}"
        )
    out: dict[str, dict] = {}
    for section, table in doc.items():
        if section not in SECTIONS:
            raise ValueError(
                f"{source}: unknown section [{section}]; expected any of {sorted(SECTIONS)}"
            )
        if not isinstance(table, dict):
            raise ValueError(f"{source}: [{section}] must be a table of settings")
        out[section] = settings.check_section(section, table, source)
    return out


def read_config(path) -> dict[str, dict]:
    """Read a TOML or JSON configuration file (by suffix; otherwise JSON, then TOML).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is not valid TOML/JSON or fails :func:`normalize`; the
        message names the file.
    """
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path}: no such file")
    check_file_size(path, MAX_CONFIG_FILE_BYTES, "a configuration file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"config file {path}: not a text file") from None
    suffix = path.suffix.lower()
    parsers = {".toml": ["TOML"], ".json": ["JSON"]}.get(suffix, ["JSON", "TOML"])
    problems = []
    for kind in parsers:
        try:
            if kind == "JSON":
                doc = json.loads(text, parse_constant=_refuse_constant)
            else:
                doc = tomllib.loads(text)
            break
        except RecursionError:
            problems.append(f"not valid {kind} (nested more than {MAX_NESTING} levels deep)")
        except (json.JSONDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
            problems.append(f"not valid {kind} ({clip(str(exc), 200)})")
    else:
        raise ValueError(f"config file {path}: " + "; ".join(problems))
    check_nesting(doc, f"config file {path}")
    return normalize(doc, source=f"config file {path}")


def _refuse_constant(name):
    raise ValueError(f"{name} is not a valid setting")


def merge(*layers: dict[str, dict]) -> dict[str, dict]:
    """Merge configurations key by key; later layers win (see :data:`EXCLUSIVE`)."""
    result: dict[str, dict] = {}
    for layer in layers:
        for section, values in layer.items():
            dst = result.setdefault(section, {})
            for sec, a, b in EXCLUSIVE:
                if sec == section:
                    if a in values:
                        dst.pop(b, None)
                    if b in values:
                        dst.pop(a, None)
            dst.update({k: v for k, v in values.items() if v is not None})
    return result


def write_config(path, config: dict[str, dict]) -> Path:
    """Write a configuration as JSON (atomically), with its format and version."""
    doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    doc.update({s: dict(v) for s, v in config.items()})
    path = Path(path)
    atomic_write_json(path, doc)
    return path


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} to a configuration")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write a {type(v).__name__} to a TOML configuration")


def to_toml(config: dict[str, dict]) -> str:
    """The configuration as TOML text (None values are left out)."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            if v is not None:
                lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)
