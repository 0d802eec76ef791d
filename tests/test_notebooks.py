"""The chapter's notebooks (notebooks/*.ipynb) run end to end and are stored without outputs.

Each notebook is executed in a fresh Python kernel with ``NNDL_NOTEBOOK_SMALL=1``
(tiny slices of the 8x8 digits, one or two epochs), so that none can rot.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_the_chapter_has_its_notebooks_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 9
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, 10)]


def test_the_notebooks_are_what_the_generator_writes():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("notebooks_build", NOTEBOOKS[0].parent / "build.py")
    build = module_from_spec(spec)
    spec.loader.exec_module(build)
    for path in NOTEBOOKS:
        expected = nbformat.writes(build.build(path.stem, build.NOTEBOOKS[path.stem])) + "\n"
        assert path.read_text() == expected, f"{path.name}: run python notebooks/build.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebooks_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has stored outputs"
            assert cell.execution_count is None, f"{path.name}: a stored execution count"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_end_to_end(path, monkeypatch, tmp_path):
    monkeypatch.setenv("NNDL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on any error
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert images, f"{path.name} shows no figure"
