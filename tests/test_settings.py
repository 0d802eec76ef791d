"""The settings schema: one row per setting, and everything built from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nndl import settings
from nndl.config import normalize, read_config, to_toml, write_config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_name_and_alias_means_one_setting():
    seen: dict[str, str] = {}
    for s in settings.SETTINGS:
        for name in {s.name, *s.aliases, *([s.search_name] if s.search_name else [])}:
            assert seen.setdefault(name, s.key) == s.key, name
        assert settings.get(s.key) is s


@pytest.mark.parametrize("s", settings.SETTINGS, ids=lambda s: s.key)
def test_defaults_pass_their_own_check(s):
    assert s.check(s.default) == s.default
    for command, d in s.commands.items():
        assert s.check(d.value) == d.value, command
        assert d.why


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("eta", "0.25", 0.25),
        ("lmbda", "5", 5.0),
        ("hidden", "100,30", [100, 30]),
        ("hidden", "none", []),
        ("activation", "tanh,ReLU", ["tanh", "relu"]),
        ("dropout", "0.5", 0.5),
        ("monitor", "training_cost,val_accuracy", ["loss", "val_accuracy"]),
        ("monitor", "all", ["loss", "accuracy", "val_loss", "val_accuracy"]),
        ("cost", "Cross-Entropy", "cross_entropy"),
        ("restore_best", "off", False),
    ],
)
def test_command_line_text_is_parsed_once_into_a_typed_value(name, text, value):
    assert settings.get(name).parse(text) == value


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("learning_rate", -1, r"training\.learning_rate must be .* > 0"),
        ("learning_rate", "0.5", r"training\.learning_rate must be a finite number"),
        ("momentum", 1.0, r"training\.momentum must be .* < 1"),
        ("epochs", 2.5, r"training\.epochs must be an integer"),
        ("hidden", [30, 0], r"network\.hidden must be a list of positive integers"),
        ("cost", "hinge", r"unknown network\.cost 'hinge'"),
        ("monitor", ["val_acc"], r"unknown training\.monitor key"),
        ("dropout", [0.5, 1.0], r"network\.dropout\[1\] must be"),
        ("schedule", "step:x", r"schedule"),
        ("early_stopping_rule", "gl", r"bad early-stopping rule"),
        ("augment_fraction", 0, r"data\.augment_fraction must be"),
    ],
)
def test_bad_values_are_refused_with_the_settings_name(name, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        settings.get(name).check(value)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown setting 'etta'.*learning_rate"):
        settings.get("etta")
    with pytest.raises(ValueError, match=r"unknown setting 'cost' in \[training\]"):
        settings.get("cost", "training")


def test_command_defaults_say_why_they_differ():
    hidden = settings.get("hidden")
    assert hidden.default_for(None) == [30]
    assert hidden.default_for("train") == [100]
    assert hidden.default_for("tune eta") == [30] and hidden.why_for("tune eta") is None
    assert "chapter" in hidden.why_for("train")
    epochs = settings.get("epochs")
    assert epochs.default_for("tune eta") == 5 and epochs.default_for("tune") == 30


def test_config_sections_come_from_the_schema():
    from nndl.config import SECTIONS

    for section in settings.SECTIONS:
        assert SECTIONS[section] == {s.name for s in settings.by_section(section)}


def test_config_reads_aliases_as_the_settings_they_name():
    doc = {"training": {"eta": 0.1, "lambda": 2}, "network": {"activation": "tanh"}}
    assert normalize(doc) == {
        "training": {"learning_rate": 0.1, "l2": 2.0},
        "network": {"hidden_activation": "tanh"},
    }
    with pytest.raises(ValueError, match="given twice"):
        normalize({"training": {"eta": 0.1, "learning_rate": 0.2}})
    with pytest.raises(ValueError, match=r"training\.learning_rate must be"):
        normalize({"training": {"eta": 0}})


def _example_value(s: settings.Setting):
    """A valid value other than the default, for a round trip."""
    candidates = {
        settings.Number: lambda k: (k.low or 0) + (2 if k.integer else 0.5),
        settings.Flag: lambda k: not s.default,
    }
    for kind, make in candidates.items():
        if type(s.kind) is kind:
            v = make(s.kind)
            if kind is settings.Number and s.kind.high is not None and v >= s.kind.high:
                v = (s.kind.low + s.kind.high) / 2
            return v
    if s.name == "output_activation":
        return "sigmoid"  # the pair of the default cost
    if isinstance(s.kind, settings.Choice):
        return next(n for n in s.kind.names if n != s.default)
    if isinstance(s.kind, settings.IntList):
        return [7, 5, 3] if s.name == "sizes" else [7]
    if isinstance(s.kind, settings.MonitorList):
        return ["loss"]
    if isinstance(s.kind, settings.NumberOrList):
        return 0.25
    return {"schedule": "exp:0.9", "early_stopping_rule": "gl:5"}.get(s.name, "text")


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_every_config_setting_round_trips_through_a_file(tmp_path, suffix):
    for s in settings.SETTINGS:
        if not s.in_config:
            continue
        value = s.check(_example_value(s))
        cfg = {s.section: {s.name: value}}
        path = tmp_path / f"{s.name}{suffix}"
        if suffix == ".json":
            write_config(path, cfg)
        else:
            path.write_text(to_toml(cfg), encoding="utf-8")
        assert read_config(path) == cfg, s.key


def test_readme_option_table_is_the_schemas():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- settings-table:begin -->\n(.*?)\n<!-- settings-table:end -->", text, re.S)
    assert m, "README.md lacks the generated settings table markers"
    assert m.group(1).strip() == settings.markdown_table().strip(), (
        "README's option table differs from nndl.settings: regenerate it with "
        "`python scripts/settings-table.py --readme`"
    )


def test_every_flagged_setting_is_an_option_of_nndl_train():
    from click.testing import CliRunner

    from nndl.cli import cli

    text = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    joined = " ".join(text.split())  # click wraps long lines
    for s in settings.SETTINGS:
        if s.flags:
            assert s.flags[0].split("/")[0] in joined, s.key
            assert f"[{s.key}]" in joined, s.key


def test_every_searchable_setting_is_a_search_space_option():
    from nndl.search import SearchSpace, build_configs

    for name, s in settings.search_options().items():
        value = s.check(_example_value(s))
        space = SearchSpace.from_dict({"params": {name: value}})
        assert space.fixed[name] == value, name
        for alias in s.aliases:
            assert SearchSpace.from_dict({"params": {alias: value}}).fixed[name] == value
    net, train, patience = build_configs({"eta": 0.2, "lambda": 3.0, "patience": 4}, 64, 10)
    assert (train["learning_rate"], train["l2"], patience) == (0.2, 3.0, 4)
    assert net.sizes == [64, *settings.default("hidden", "search"), 10]


def test_tune_and_search_defaults_come_from_the_schema_and_say_why():
    from click.testing import CliRunner

    from nndl.cli import cli

    text = CliRunner().invoke(cli, ["tune", "eta", "--help"], terminal_width=200).output
    joined = " ".join(text.split())
    epochs = settings.get("epochs")
    assert f"(default: 5: {epochs.why_for('tune eta')})" in joined
    assert "(default: 30)" in joined  # the hidden layer: the library's default
    train = " ".join(
        CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output.split()
    )
    assert f"(default: 100: {settings.get('hidden').why_for('train')})" in train


def test_ci_runs_the_readmes_test_command_verbatim():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    commands = re.findall(r"^(python3 -m venv \.venv .*pytest)$", text, re.M)
    assert commands, "README.md lacks its test command"
    assert all(c == commands[0] for c in commands)
    assert commands[0] in ci.splitlines()


def test_commands_outside_the_schema_take_its_defaults_and_flags(tmp_path):
    """`nndl data expand --seed` builds what `nndl train --expand` builds by default, and
    the many-run commands' --tensorboard is `nndl train`'s option."""
    import click

    from nndl.cli import cli

    expand = cli.commands["data"].commands["expand"]
    seed = next(p for p in expand.params if p.name == "seed")
    assert seed.default == settings.default("expand_seed")
    row = settings.get("tensorboard")
    for path in (["experiment", "run"], ["search"]):
        command = cli
        for name in path:
            command = command.commands[name]
        option = next(p for p in command.params if p.name == "tensorboard")
        assert isinstance(option, click.Option) and tuple(option.opts) == row.flags, path
        assert option.type.get_metavar(option) == row.kind.metavar, path
    # The row's check: a file where the folder should be is refused before anything runs.
    from click.testing import CliRunner

    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for args in (["train"], ["experiment", "run", "slowdown"], ["search"]):
        result = CliRunner().invoke(cli, [*args, "--tensorboard", str(a_file)])
        assert result.exit_code == 2, (args, result.output)
        assert "is a file, not a folder" in result.output, args
