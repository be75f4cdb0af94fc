"""What the launchers of the real neighbours (Google's Pub/Sub emulator, the Cloud Storage emulator) share: a free
loopback port, the server's output in a temporary log, and the stop by its process group's id.

Each server runs in its own process group (``start_new_session=True``): a script that starts java, or a Python
server's threads, end together with one signal, SIGTERM and then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = ["NeighbourProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NeighbourProcess:
    """A server process started by ``start`` (subclasses), its output in ``output()``, stopped by ``stop``."""

    log_prefix = "neighbour-"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[Any] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def _spawn(self, args: list[str], cwd: str | None = None) -> subprocess.Popen[bytes]:
        """``args`` in a process group of its own, its stdout and stderr in a fresh log."""
        self._log = tempfile.NamedTemporaryFile("w+b", prefix=self.log_prefix, suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
                                        start_new_session=True)
        return self.process

    def output(self) -> bytes:
        if self._log is None:
            return b""
        self._log.flush()
        return Path(self._log.name).read_bytes()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
