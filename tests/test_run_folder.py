"""`nndl train --out`: a folder that holds a run or cannot be written is refused first."""

from __future__ import annotations

import os

import pytest

from nndl.cli import main

FAST = ["train", "--dataset", "digits", "--hidden", "5", "--epochs", "1", "--no-plot", "-q"]


def run_main(args, capsys):
    """The command in this process; returns (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def assert_refused(result, *needles, code=1):
    """One line on stderr, starting with ``nndl: error:``, holding every needle."""
    status, _, err = result
    assert status == code, err
    err = err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("nndl: error: "), err
    for needle in needles:
        assert needle in err, err


def _no_data_loading(monkeypatch):
    """Make loading data an error, to show that a refusal comes before it."""
    import nndl.cli.train as train_module

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the output folder was checked")

    monkeypatch.setattr(train_module, "_load_data", refuse)


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_folder_holding_a_run_is_refused_and_left_unchanged(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    code, _, err = run_main([*FAST, "--out", out], capsys)
    assert code == 0, err
    before = _files(out)
    _no_data_loading(monkeypatch)
    # --checkpoint-every writes config.json early: not over another run's.
    args = [*FAST, "--out", out, "--checkpoint-every", "1", "--eta", "0.1"]
    result = run_main(args, capsys)
    assert_refused(result, f"--out {out} already holds a run", "--overwrite")
    assert _files(out) == before


@pytest.mark.parametrize("marker", ["model.json", "checkpoint.npz", "results.json"])
def test_any_run_file_marks_the_folder(tmp_path, monkeypatch, capsys, marker):
    (tmp_path / marker).write_text("{}")
    _no_data_loading(monkeypatch)
    result = run_main([*FAST, "--out", tmp_path], capsys)
    assert_refused(result, "already holds a run", marker)


def test_overwrite_removes_the_old_runs_files_but_not_unknown_ones(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_main([*FAST, "--out", out, "--monitor-every", "5"], capsys)
    assert code == 0, err
    assert (out / "batches.csv").is_file()
    (out / "curves.png").write_bytes(b"old")
    (out / "checkpoint.npz").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    code, _, err = run_main([*FAST, "--out", out, "--overwrite", "--eta", "0.2"], capsys)
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert names == {
        "model.json",
        "config.json",
        "history.json",
        "history.csv",
        "results.json",
        "notes.txt",
    }
    assert '"learning_rate": 0.2' in (out / "config.json").read_text()


def test_resume_into_the_checkpoints_own_folder_is_allowed(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_main([*FAST, "--out", out, "--checkpoint-every", "1"], capsys)
    assert code == 0, err
    checkpoint = out / "checkpoint.npz"
    assert checkpoint.is_file()
    code, _, err = run_main(["train", "--resume", checkpoint, "--epochs", "2", "-q"], capsys)
    assert code == 0, err
    assert "already holds a run" not in err


def test_an_out_under_a_regular_file_is_refused_before_loading(tmp_path, monkeypatch, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    _no_data_loading(monkeypatch)
    result = run_main([*FAST, "--out", afile / "x"], capsys)
    assert_refused(result, f"cannot write to --out {afile / 'x'}", "not a folder")
    assert afile.read_text() == ""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root can write to read-only folders",
)
def test_a_read_only_out_is_refused_before_loading(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _no_data_loading(monkeypatch)
        result = run_main([*FAST, "--out", locked / "run"], capsys)
        assert_refused(result, "cannot write to --out")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
