"""What every benchmark shares: the emulator in its own process, its controls, statistics, machine facts."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import selectors
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.cloud.contact_center_insights_v1 import types as ci

ROOT = Path(__file__).resolve().parent.parent
PARENT = "projects/bench-project/locations/us-central1"
EMULATOR_HOST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"


def issue_model(display_name: str) -> ci.IssueModel:
    """The issue model every benchmark asks the emulator to train."""
    return ci.IssueModel(display_name=display_name, input_data_config={"filter": 'medium="CHAT"'})


class EmulatorProcess:
    """``python -m benchmarks.emulator_proc`` as a child process; always stopped by ``stop()``."""

    def __init__(self, operation_seconds: float = 2.0, grpc_max_pending: int | None = None) -> None:
        self.operation_seconds = operation_seconds
        self.grpc_max_pending = grpc_max_pending
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, str] = {}

    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        command = [sys.executable, "-m", "benchmarks.emulator_proc", "--operation-seconds", str(self.operation_seconds)]
        if self.grpc_max_pending:
            command += ["--grpc-max-pending", str(self.grpc_max_pending)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise RuntimeError(f"The emulator printed no ready line within {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("The emulator exited before it was ready")
        self.info = json.loads(line)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def grpc_target(self) -> str:
        return self.info["grpc_target"]

    @property
    def rest_url(self) -> str:
        return self.info["rest_url"]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # -- controls over HTTP (the emulator's REST port) -------------------------------------------
    def control(self, action: str, body: dict[str, Any]) -> Any:
        return http_json(f"{self.rest_url}/emulator/v1/{action}", body)

    def set_operation_seconds(self, seconds: float) -> None:
        self.control("operationSeconds", {"seconds": seconds})

    def advance_clock(self, seconds: float) -> None:
        self.control("advanceClock", {"seconds": seconds})

    def set_quota(self, rpc: str, per_second: float | None) -> None:
        self.control("quota", {"rpc": rpc, "per_second": per_second})

    def call_counts(self) -> dict[str, int]:
        return dict(http_json(f"{self.rest_url}/emulator/v1/callCounts"))

    def call_times(self, rpc: str) -> list[float]:
        return list(http_json(f"{self.info['times_url']}/{rpc}"))


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


@contextmanager
def emulator(operation_seconds: float = 2.0, grpc_max_pending: int | None = None) -> Iterator[EmulatorProcess]:
    """A running emulator process, stopped on the way out whatever happens."""
    process = EmulatorProcess(operation_seconds, grpc_max_pending)
    try:
        yield process.start()
    finally:
        process.stop()


def airflow_env(home: Path | None = None, grpc_target: str | None = None) -> dict[str, str]:
    """Environment for a process that imports Airflow: a throwaway home, SQLite, no examples."""
    home = home or Path(tempfile.mkdtemp(prefix="ccai-bench-home-"))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    if grpc_target:
        env[EMULATOR_HOST_ENV] = grpc_target
    return env


def run_json(module: str, args: Sequence[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``python -m module args`` (its own process) and parse the JSON object on its last stdout line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise RuntimeError(f"{module} {' '.join(args)} did not finish within {timeout} s; stderr:\n{err[-3000:]}") \
            from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} exited {process.returncode}; stderr:\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} printed no JSON result; stderr:\n{err[-3000:]}")
    return dict(json.loads(lines[-1]))


# -- statistics -----------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
