"""Execute the stage notebooks: each is a jupytext percent-format `.py` file in this folder, turned into
a notebook, run top to bottom in a fresh kernel and written out as an executed `.ipynb` (and `.html`).

    python notebooks/execute.py                      # every notebook on its defaults -> outputs/notebooks/
    python notebooks/execute.py --preset tiny        # seconds each: what `make test` checks
    python notebooks/execute.py stage4_codellm       # one notebook

Each notebook has a cell tagged `parameters` (`preset`, `runs_folder`); the values given here go into a
cell placed right after it, as papermill does, so the notebook's own defaults stay what a reader sees.
Needs the optional extra: `pip install -e ".[notebooks]"`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS_DIR.parent
sys.path.insert(0, str(REPO_ROOT))  # `common` when run as a script from a checkout without `pip install -e`

from common.paths import output_dir  # noqa: E402


def notebook_sources() -> list[Path]:
    """The notebooks of this folder, in stage order (`stage1_...` to `stage6_...`)."""
    return sorted(NOTEBOOKS_DIR.glob("stage*.py"))


def with_parameters(notebook, parameters: dict) -> None:
    """Insert a cell assigning `parameters` right after the cell tagged `parameters` (papermill's way)."""
    import nbformat

    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
            injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
            notebook.cells.insert(index + 1, injected)
            return
    raise ValueError("the notebook has no cell tagged 'parameters': add `# %% tags=[\"parameters\"]`")


def execute(source: Path, out_dir: Path, parameters: dict | None = None, html: bool = True,
            timeout_s: int = 7200, environment: dict[str, str] | None = None) -> Path:
    """Run notebook `source` in a fresh python3 kernel (working directory: the repository root) and write
    the executed `<name>.ipynb` (and `<name>.html`) into `out_dir`. `timeout_s`: the most one cell may
    take; `environment`: variables the kernel gets on top of this process's. A failing cell raises
    nbclient's CellExecutionError naming the cell and its traceback. Returns the `.ipynb` path."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(source)
    if parameters:
        with_parameters(notebook, parameters)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO_ROOT)}})
    client.execute(env={**os.environ, **(environment or {})})
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{source.stem}.ipynb"
    nbformat.write(notebook, executed)
    if html:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(notebook)
        (out_dir / f"{source.stem}.html").write_text(body, encoding="utf-8")
    return executed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebooks to run (file stems); default: all")
    parser.add_argument("--preset", default="", help="the stages' preset ('' = defaults, tiny = seconds)")
    parser.add_argument("--out", default=str(output_dir("notebooks")),
                        help="folder for the executed .ipynb and .html; the runs go to its runs/ subfolder")
    parser.add_argument("--no-html", action="store_true", help="write only the .ipynb")
    parser.add_argument("--cell-timeout", type=int, default=7200,
                        help="seconds one cell may run before the notebook fails (a stage's run on its "
                             "defaults is one cell: see notebooks/README.md for how long each took)")
    args = parser.parse_args(argv)
    sources = notebook_sources()
    if args.names:
        known = {source.stem: source for source in sources}
        unknown = [name for name in args.names if name not in known]
        if unknown:
            raise SystemExit(f"unknown notebook(s) {unknown}: choose from {sorted(known)}")
        sources = [known[name] for name in args.names]
    out_dir = Path(args.out)
    for source in sources:
        started = time.perf_counter()
        parameters = {"preset": args.preset, "runs_folder": str(out_dir / "runs")}
        executed = execute(source, out_dir, parameters, html=not args.no_html, timeout_s=args.cell_timeout)
        print(f"{source.name}: {time.perf_counter() - started:.0f} s -> {executed}", flush=True)


if __name__ == "__main__":
    main()
