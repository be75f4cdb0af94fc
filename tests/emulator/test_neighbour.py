"""The neighbours' launcher base: a server's output kept, and the stop ending its whole process group."""

from __future__ import annotations

import socket
import sys
import time
from typing import Self

import psutil
import pytest

from ccai_airflow.emulator.neighbour import NeighbourProcess, free_port

pytestmark = pytest.mark.airflow_independent

# A parent that starts a child and both ignore nothing: as the Pub/Sub script starts java.
PARENT_AND_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print('ready', flush=True); time.sleep(120)"
)
STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(120)")


class Sleeper(NeighbourProcess):
    log_prefix = "sleeper-"

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def start(self) -> Self:
        self._spawn([sys.executable, "-c", self.code])
        deadline = time.monotonic() + 30
        while b"ready" not in self.output():
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)
        return self


def test_the_output_is_kept_and_the_stop_ends_the_group() -> None:
    with Sleeper(PARENT_AND_CHILD) as server:
        assert server.process is not None
        group = [server.process.pid, *(c.pid for c in psutil.Process(server.process.pid).children(recursive=True))]
        assert server.output().startswith(b"ready")
        assert len(group) == 2

    assert server.process is None and server.output() == b""
    assert not [pid for pid in group if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_server_that_ignores_sigterm_is_killed() -> None:
    server = Sleeper(STUBBORN).start()
    assert server.process is not None
    pid = server.process.pid
    started = time.monotonic()

    server.stop()

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert time.monotonic() - started < 30


def test_a_free_port_can_be_bound_on_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        assert server.getsockname()[0] == "127.0.0.1"
