"""The emulator in a child process (``python -m ccai_airflow.emulator``), for ``make demo`` and the benchmarks.

``with EmulatorProcess(operation_seconds=2) as emu:`` starts it, waits for its ready line and stops it on
the way out whatever happens (SIGTERM, then SIGKILL after ``stop_timeout``). Its HTTP controls are
``emu.controls`` (an :class:`~ccai_airflow.emulator.control.EmulatorControl`: ``emu.controls.call_counts()``,
``emu.controls.set_operation_seconds(5)``, ...).
"""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

from ccai_airflow.emulator.control import EmulatorControl


class EmulatorProcess:
    def __init__(
        self, operation_seconds: float = 2.0, seed: int | None = None, cwd: Path | None = None,
        start_timeout: float = 60.0, stop_timeout: float = 20.0,
    ) -> None:
        self.command = [sys.executable, "-m", "ccai_airflow.emulator", "--operation-seconds", str(operation_seconds)]
        if seed is not None:
            self.command += ["--seed", str(seed)]
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, str] = {}
        self._controls: EmulatorControl | None = None

    def start(self) -> Self:
        self.process = subprocess.Popen(self.command, cwd=self.cwd, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(self.start_timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"The emulator printed no ready line within {self.start_timeout} s "
                               "(see its output above).")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        if self._controls is not None:
            self._controls.close()
            self._controls = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("The emulator process is not running.")
        return self.process.pid

    @property
    def grpc_target(self) -> str:
        return self.info["grpc_target"]

    @property
    def rest_url(self) -> str:
        return self.info["rest_url"]

    @property
    def controls(self) -> EmulatorControl:
        """The typed client of this emulator's HTTP controls (one keep-alive connection)."""
        if self._controls is None:
            self._controls = EmulatorControl(self.rest_url)
        return self._controls
