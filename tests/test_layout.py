"""The package's shape, as the project keeps it: tests mirror modules, classes stay small, hooks keep no wait."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow_independent  # reads source files only

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ccai_airflow"


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def mirror_of(module: Path) -> Path:
    relative = module.relative_to(PACKAGE)
    name = "init" if relative.stem == "__init__" else relative.stem
    return ROOT / "tests" / relative.parent / f"test_{name}.py"


def test_every_module_of_60_lines_or_more_has_a_test_file_named_for_it() -> None:
    missing = [
        f"{m.relative_to(ROOT)} -> {mirror_of(m).relative_to(ROOT)}"
        for m in modules() if len(m.read_text().splitlines()) >= 60 and not mirror_of(m).is_file()
    ]
    assert missing == []


def test_no_class_of_the_provider_is_over_150_lines() -> None:
    large = [
        f"{m.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
        for m in modules() if "emulator" not in m.parts
        for node in ast.walk(ast.parse(m.read_text()))
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150  # type: ignore[operator]
    ]
    assert large == []


def test_the_hooks_keep_no_state_of_a_wait() -> None:
    hooks = sorted((PACKAGE / "hooks").glob("*.py"))
    assert hooks
    assert [h.name for h in hooks if "WaitTally" in h.read_text()] == []


def test_the_wheel_lists_every_package_and_maps_the_example_dags_from_the_top_level() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"ccai_airflow.example_dags"}
    assert setuptools["package-dir"] == {"ccai_airflow.example_dags": "dags"}
    assert not (PACKAGE / "example_dags").exists(), "one copy of the example DAGs: dags/"
    assert sorted(p.name for p in (ROOT / "dags").glob("ccai_*.py")), "the example DAGs are in dags/"
