"""The e2e API server's event loop: uvicorn's ``auto`` is uvloop where it is installed, and asyncio's once
e2e/api_server.py has chosen it (in a subprocess: the choice is process-wide)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow_independent

ROOT = Path(__file__).resolve().parents[2]

LOOP_OF_AUTO = """
import sys, uvicorn
if sys.argv[1] == "chosen":
    from e2e.api_server import use_asyncio_loop
    use_asyncio_loop()
loop = uvicorn.Config(app=None, loop="auto").get_loop_factory()()
print(type(loop).__module__ + "." + type(loop).__qualname__)
loop.close()
"""


def loop_of_auto(mode: str) -> str:
    result = subprocess.run([sys.executable, "-c", LOOP_OF_AUTO, mode], cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=60)
    return result.stdout.strip()


def test_uvicorn_auto_loop_is_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop")
    assert loop_of_auto("default").startswith("uvloop")


def test_the_e2e_api_server_runs_on_asyncio_loop() -> None:
    assert loop_of_auto("chosen").startswith("asyncio.")


def test_the_wrapper_runs_airflow_api_server() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "e2e" / "api_server.py"), "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--port" in result.stdout and "api-server" in result.stdout
