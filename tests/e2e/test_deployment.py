"""The e2e stack's crash report: a component that dies of a signal on its own is named last with the stack of
the thread that crashed (CI shows a run's tail only)."""

import os
import sys
import time
from pathlib import Path

import pytest

from e2e.deployment import Stack, crashing_thread

pytestmark = pytest.mark.airflow_independent

# A worker thread waits while the main thread reads address 0: faulthandler dumps both, the main one as current.
CRASH = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
def read_nowhere():
    ctypes.string_at(0)
read_nowhere()
"""


def test_a_component_that_segfaults_is_reported_with_its_crashing_thread(tmp_path: Path) -> None:
    stack = Stack(tmp_path, {**os.environ, "PYTHONFAULTHANDLER": "1"})
    stack.start("api-server", [sys.executable, "-c", CRASH])
    stack.start("scheduler", [sys.executable, "-c", "import time; time.sleep(60)"])
    deadline = time.monotonic() + 30
    while "api-server" not in stack.exited() and time.monotonic() < deadline:
        time.sleep(0.1)

    stack.stop_all()
    report = stack.crash_report()

    assert list(stack.died) == ["api-server"]  # the scheduler was stopped by us: not a crash
    assert report.startswith(f"api-server died of SIGSEGV ({tmp_path / 'logs' / 'api-server.log'}):")
    assert "Fatal Python error: Segmentation fault" in report
    assert "Current thread" in report and "in read_nowhere" in report
    assert "threading.py" not in report  # the waiting thread's block stays in the log


def test_a_log_without_a_dump_gives_nothing_and_a_dump_without_threads_its_first_line() -> None:
    assert crashing_thread("INFO all well\n") == ""
    assert crashing_thread("x\nFatal Python error: Aborted\n\nExtension modules: y\n") == "Fatal Python error: Aborted"
