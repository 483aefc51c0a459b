"""No hidden global state: importing any module of the project changes no process-wide setting, the
settings entry points make are put back afterwards, and no stage imports another stage's internals."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
import torch

from common import runtime
from common.paths import REPO_ROOT

STAGES = ("TinyLLM", "SmaLLM", "MemoryLLM", "CodeLLM", "LLMind", "AgentLLM")
# The one stage-to-stage import the roadmap asks for: the comparison calls Stage 3's public `run(config)`
# (with its STAGE and MemoryConfig) through the map of forecasting stages, and reads its run folders.
# Stage 6 reads the day's text with Stage 5's model, in one module (a whole stage named: any of its modules),
# and Stages 3-4's forecasts through that map, in AgentLLM/forecast.py.
ALLOWED_CROSSINGS = {("CodeLLM/stages.py", "MemoryLLM.train"), ("AgentLLM/text.py", "LLMind"),
                     ("AgentLLM/forecast.py", "CodeLLM.stages"),
                     # ask.py's tools are the stages' models: MiniLM and the reader (5), the forecasting map
                     # (4, which reaches 3), the samplers (1, 2), all behind one module
                     ("AgentLLM/tools.py", "LLMind"), ("AgentLLM/tools.py", "CodeLLM.stages"),
                     ("AgentLLM/tools.py", "TinyLLM.sample"), ("AgentLLM/tools.py", "SmaLLM.sample")}

# Run in a fresh interpreter: import the frameworks first (what *they* change on import is theirs),
# snapshot every process-wide setting, import every module of the project, snapshot again.
SNAPSHOT_SCRIPT = r"""
import importlib, importlib.util, json, logging, os, sys, warnings
sys.path.insert(0, sys.argv[1])
import matplotlib, numpy, torch
frameworks = ["tensorflow", "keras", "transformers", "sklearn", "pandas", "tqdm", "scipy.stats",
              "arch.bootstrap", "gymnasium", "stable_baselines3"]
for name in frameworks:
    try:
        importlib.import_module(name)
    except ImportError:
        pass

def snapshot():
    return {
        "environ": dict(os.environ),
        "matplotlib_backend": dict.__getitem__(matplotlib.rcParams, "backend"),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "numpy_errors": numpy.geterr(),
        "loggers": {name: getattr(logger, "level", None) for name, logger in
                    [("", logging.getLogger()), *logging.Logger.manager.loggerDict.items()]},
        "warning_filters": [repr(f) for f in warnings.filters],
        "stubbed_modules": sorted(name for name, module in sys.modules.items()
                                  if module is not None and getattr(module, "__spec__", None) is None
                                  and getattr(module, "__file__", None) is None
                                  and name not in sys.builtin_module_names),
        "float_mode": torch.tensor([1e-40]).item() != 0.0,  # False while denormals are flushed
    }

before = snapshot()
imported, skipped = [], {}
for path in json.loads(sys.argv[2]):
    name = path[:-3].replace("/", ".")
    try:
        if path.startswith(("benchmarks/", "data/")):  # scripts, not packages: import by file
            spec = importlib.util.spec_from_file_location(name.replace(".", "_"),
                                                          os.path.join(sys.argv[1], path))
            module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
        imported.append(name)
    except ImportError as error:  # an optional stage whose packages are missing (LLMind): say so
        skipped[name] = str(error)
after = snapshot()
changed = {key: {"before": before[key], "after": after[key]} for key in before if before[key] != after[key]}
if "loggers" in changed:  # loggers created by imports are fine; a level changed on an existing one is not
    old, new = before["loggers"], after["loggers"]
    bad = {name: (old[name], new[name]) for name in old if old[name] != new.get(name)}
    changed["loggers"] = bad
    if not bad:
        del changed["loggers"]
print(json.dumps({"imported": imported, "skipped": skipped, "changed": changed}, default=str))
"""


def project_modules() -> list[str]:
    """Every Python file of the project outside tests/, relative to the repository root."""
    folders = ("common", *STAGES, "benchmarks", "data")
    return sorted(str(path.relative_to(REPO_ROOT)) for folder in folders
                  for path in (REPO_ROOT / folder).rglob("*.py") if ".venv" not in path.parts)


def test_importing_any_module_changes_no_process_wide_setting():
    clean_env = {key: value for key, value in __import__("os").environ.items()
                 if key not in runtime.FRAMEWORK_ENVIRONMENT}  # a fresh shell, not this test session's
    result = subprocess.run([sys.executable, "-c", SNAPSHOT_SCRIPT, str(REPO_ROOT),
                             json.dumps(project_modules())],
                            capture_output=True, text=True, timeout=300, env=clean_env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "common.forecast.harness" in report["imported"] and "TinyLLM.train" in report["imported"]
    assert len(report["imported"]) >= 40, report
    assert report["changed"] == {}, json.dumps(report["changed"], indent=1)[:3000]


def test_a_stage_imports_no_other_stage():
    crossings = []
    for stage in STAGES:
        for path in sorted((REPO_ROOT / stage).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):  # `from MemoryLLM import train`: MemoryLLM.train
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    other = name.split(".")[0]
                    where = (str(path.relative_to(REPO_ROOT)), ".".join(name.split(".")[:2]))
                    allowed = where in ALLOWED_CROSSINGS or (where[0], other) in ALLOWED_CROSSINGS
                    if other in STAGES and other != stage and not allowed:
                        crossings.append(where)
    assert crossings == []


def test_importing_smallm_loads_no_tinyllm_module():
    code = ("import sys, SmaLLM.train, SmaLLM.sample; "
            "print(sorted(m for m in sys.modules if m.startswith('TinyLLM')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_settings_made_for_a_run_are_put_back():
    threads = torch.get_num_threads()
    with runtime.torch_settings(threads=1) as used:
        assert used == torch.get_num_threads() == 1
        assert torch.tensor([1e-40]).item() == 0.0  # denormals flushed inside the block
    assert torch.get_num_threads() == threads
    assert torch.tensor([1e-40]).item() != 0.0


def test_threads_default_to_the_physical_cores_of_this_machine():
    assert 1 <= runtime.physical_cores() <= (__import__("os").cpu_count() or 1)
    assert runtime.resolve_threads(0) == runtime.physical_cores() and runtime.resolve_threads(1) == 1
    with pytest.raises(ValueError, match="threads must be 0"):
        runtime.resolve_threads(-1)
