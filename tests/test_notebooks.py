"""The stage notebooks (notebooks/stage*.py, jupytext percent format) run top to bottom on the tiny
preset in a fresh kernel, their runs written under a tmp folder: a change that breaks one fails here.
Skipped where the optional extra is not installed (`pip install -e ".[notebooks]"`)."""

from __future__ import annotations

import importlib.util

import pytest

from common.paths import REPO_ROOT

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def load_executor():
    spec = importlib.util.spec_from_file_location("notebook_executor", REPO_ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


executor = load_executor()


def test_every_stage_has_a_parameters_cell():
    import jupytext

    sources = executor.notebook_sources()
    assert sources, "no notebooks found in notebooks/"
    for source in sources:
        tags = [cell.metadata.get("tags", []) for cell in jupytext.read(source).cells]
        assert ["parameters"] in tags, f"{source.name} has no cell tagged 'parameters'"


@pytest.mark.parametrize("source", executor.notebook_sources(), ids=lambda path: path.stem)
def test_notebook_runs_on_the_tiny_preset(source, tmp_path):
    import nbformat

    runs = tmp_path / "runs"
    executed = executor.execute(source, tmp_path, {"preset": "tiny", "runs_folder": str(runs)}, html=False,
                                timeout_s=300)
    notebook = nbformat.read(executed, as_version=4)
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot shown inline"
    assert runs.is_dir() and any(runs.iterdir()), "the runs went somewhere other than runs_folder"
