"""The full reproductions of the chapter's experiments, checked against the book.

Slow (minutes each; the whole set is what ``nndl experiment run all`` does)
and run on demand: ``pytest -m slow tests/test_experiments_full.py``. Each
runs one experiment with the book's settings on MNIST and fails if any of
its verdicts fails, printing the experiment's table. The tolerances are
stated in the experiment modules and in each verdict.
"""

from __future__ import annotations

import pytest

from nndl.experiments import EXPERIMENTS, Settings, run_experiment
from nndl.experiments.tables import format_table

#: Experiments whose every row is a measurement (the chapter gives no figure).
MEASURED_ONLY = {"techniques"}


@pytest.mark.slow
@pytest.mark.mnist
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_full_reproduction_matches_the_book(name, mnist, tmp_path):
    res = run_experiment(name, Settings(out=tmp_path, data="mnist"))
    table = format_table(res)
    print(table)
    assert res["error"] is None, table
    failed = [c["label"] for c in res["checks"] if c["passed"] is False]
    assert not failed, f"verdicts failed: {failed}\n{table}"
    judged = [c for c in res["checks"] if c["passed"] is not None]
    if name in MEASURED_ONLY:
        assert res["comparisons"], table
        assert all(m["n"] >= 1 for m in res["metrics"].values()), table
    else:
        assert judged, f"{name} judged nothing against the book\n{table}"
    for fig in res["figures"]:
        assert (tmp_path / name / fig["file"]).stat().st_size > 5000
