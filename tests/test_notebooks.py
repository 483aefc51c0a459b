"""The stage notebooks (notebooks/stage*.py, jupytext percent format) run top to bottom on the tiny
preset in a fresh kernel, their runs written under a tmp folder: a change that breaks one fails here.
Skipped where the optional extra is not installed (`pip install -e ".[notebooks]"`).

The notebooks run two at a time, each in its own kernel (a process), so the six take about as long as
the slowest few rather than their sum: a tiny run is mostly Python overhead on one core."""

from __future__ import annotations

import importlib.util
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNELS_AT_ONCE = 2  # the cores of a small CI machine; more kernels only wait for each other
# One BLAS thread per kernel: with two kernels on two cores, OpenBLAS's second thread only spins. The ridge
# baseline of Stages 3 and 4 took 5.3 s of CPU with two threads on a loaded 2-core machine, 0.6 s with one.
KERNEL_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}


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


@pytest.fixture(scope="module")
def executed_notebooks(request, tmp_path_factory):
    """Start every notebook this session selected, at most KERNELS_AT_ONCE at a time, the later stages
    first (they take longest); maps a notebook's path to its tmp folder and the future of its run."""
    selected = [item.callspec.params["source"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_notebook_runs_on_the_tiny_preset"]
    started: dict[Path, tuple[Path, Future]] = {}
    with ThreadPoolExecutor(max_workers=KERNELS_AT_ONCE) as pool:
        for source in sorted(selected, reverse=True):
            folder = tmp_path_factory.mktemp(source.stem)
            parameters = {"preset": "tiny", "runs_folder": str(folder / "runs")}
            started[source] = folder, pool.submit(executor.execute, source, folder, parameters, html=False,
                                                  timeout_s=300, environment=KERNEL_ENVIRONMENT)
        yield started
        for _, run in started.values():
            run.cancel()  # the ones not started yet, when a test stopped early


@pytest.mark.parametrize("source", executor.notebook_sources(), ids=lambda path: path.stem)
def test_notebook_runs_on_the_tiny_preset(source, executed_notebooks):
    import nbformat

    folder, run = executed_notebooks[source]
    executed = run.result()  # a failing cell raises nbclient's CellExecutionError, naming the cell
    notebook = nbformat.read(executed, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code_cells), "a code cell did not run"
    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot shown inline"
    runs = folder / "runs"
    assert runs.is_dir() and any(runs.iterdir()), "the runs went somewhere other than runs_folder"
