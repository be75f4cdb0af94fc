"""The domain core imports no Airflow: it runs (and is tested) without a scheduler, a DAG or a task."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import ccai_airflow.core

pytestmark = pytest.mark.airflow_independent  # no Airflow code runs here


def test_no_module_of_the_core_imports_airflow() -> None:
    modules = sorted(f"ccai_airflow.core.{m.name}" for m in pkgutil.iter_modules(ccai_airflow.core.__path__))
    assert "ccai_airflow.core.wait" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"the core imported {result.stdout.strip()}"
