"""Every third-party module the package imports is declared in pyproject.toml, by a core dependency or
an extra, so a user's install does not miss it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ccai_airflow"


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    # The test extra is left out: what the package imports must reach a user who never installs it.
    requirements += [r for extra, reqs in project["optional-dependencies"].items() if extra != "test" for r in reqs]
    return {_normalized(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def imported_top_level_modules() -> dict[str, str]:
    """Top-level module -> the first file that imports it (absolute imports only; relative ones are ours)."""
    found: dict[str, str] = {}
    # dags/ ships in the wheel as ccai_airflow.example_dags: its imports are the package's too.
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "dags").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".", 1)[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_distribution_is_declared() -> None:
    declared = declared_distributions()
    providers = packages_distributions()
    undeclared = []
    for module, where in imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in {"ccai_airflow", "__future__"}:
            continue
        # A namespace such as ``google`` or ``airflow`` is shared by several distributions: one declared is enough.
        distributions = {_normalized(d) for d in providers.get(module, [])}
        if not distributions & declared:
            provided_by = sorted(distributions) or "nothing installed"
            undeclared.append(f"{module} (imported by {where}; provided by {provided_by})")
    assert not undeclared, "Imported but not declared in pyproject.toml: " + "; ".join(undeclared)
