"""The folders show the architecture: the import rule of common/__init__.py holds for every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

STAGES = ("TinyLLM", "SmaLLM", "MemoryLLM", "CodeLLM", "LLMind", "AgentLLM")
FAMILIES = ("lm", "forecast", "trading")


def imported_modules(source: str) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            if node.module == "common":  # `from common import lm` imports a package
                modules.update(f"common.{alias.name}" for alias in node.names)
    return modules


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "common" and parts[1] in FAMILIES else None


def broken_rules(relative: Path, source: str) -> list[str]:
    """What a module at `relative` (to common/) breaks of the import rule."""
    home = relative.parts[0] if len(relative.parts) > 1 else None  # None: the root
    broken = []
    for module in sorted(imported_modules(source)):
        if module.split(".")[0] in STAGES:
            broken.append(f"imports the stage {module}")
        family = family_of(module)
        if family is None or family == home:
            continue
        if home is None:
            broken.append(f"the root imports the family {module}")
        else:
            broken.append(f"the family {home} imports the family {module}")
    return broken


MODULES = sorted((REPO_ROOT / "common").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_common_keeps_the_import_rule(path):
    assert broken_rules(path.relative_to(REPO_ROOT / "common"), path.read_text()) == []


def test_the_rule_catches_every_crossing():
    # The checker itself must see a crossing, or the test above would pass on anything.
    source = "from common.forecast.windows import Windows\nimport CodeLLM.model\n"
    assert broken_rules(Path("lm/probe.py"), source) == [
        "imports the stage CodeLLM.model", "the family lm imports the family common.forecast.windows"]
    assert broken_rules(Path("runs.py"), "def f():\n    from common import lm\n") == [
        "the root imports the family common.lm"]
    assert broken_rules(Path("trading/x.py"), "from common.runs import write_json\n") == []


def test_every_family_has_a_map():
    for family in FAMILIES:
        doc = ast.get_docstring(ast.parse((REPO_ROOT / "common" / family / "__init__.py").read_text()))
        assert doc, f"common/{family}/__init__.py needs a docstring that maps the package"
        for module in (REPO_ROOT / "common" / family).glob("*.py"):
            if module.name != "__init__.py":
                assert module.name in doc, f"common/{family}/__init__.py does not mention {module.name}"
