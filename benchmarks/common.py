"""What every benchmark shares: the emulator in its own process, its controls, statistics, machine facts."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.cloud.contact_center_insights_v1 import types as ci

from ccai_airflow.emulator.process import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
PARENT = "projects/bench-project/locations/us-central1"
EMULATOR_HOST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"


def issue_model(display_name: str) -> ci.IssueModel:
    """The issue model every benchmark asks the emulator to train."""
    return ci.IssueModel(display_name=display_name, input_data_config={"filter": 'medium="CHAT"'})


class BenchEmulator(EmulatorProcess):
    """The emulator process as every benchmark starts it (seeded); its controls are ``emu.controls``."""

    def __init__(self, operation_seconds: float = 2.0) -> None:
        super().__init__(operation_seconds, seed=1, cwd=ROOT)


def emulator(operation_seconds: float = 2.0) -> BenchEmulator:
    """A running emulator process (use as ``with emulator() as emu:``: stopped on the way out)."""
    return BenchEmulator(operation_seconds)


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
        # The hooks look the connection up against the emulator too (its credentials are not used).
        env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": PARENT.split("/")[1]}})
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
