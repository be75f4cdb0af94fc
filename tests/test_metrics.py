"""Metrics and the task log of a wait, from a real ``airflow dags test`` run with StatsD on a loopback port.

Airflow's own ``Stats`` sends them (``[metrics] statsd_on``); a UDP socket here is the StatsD server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from ccai_airflow import metrics
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from tests.conftest import DAGS_FOLDER, PARENT
from tests.helpers import create_model

AIRFLOW = Path(sys.executable).parent / "airflow"
DAG_FILE = DAGS_FOLDER / "ccai_test_metrics_dags.py"
SUMMARY = re.compile(
    r"Operation (?P<name>projects/\S+) (?P<status>\w+) after [\d.]+ s of waiting: (?P<polls>\d+) polls?, "
    r"(?P<retries>\d+) transient retr(?:y|ies)"
)


class StatsdServer:
    """A StatsD server on loopback that keeps every metric line it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.lines.extend(data.decode().splitlines())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def counters(self) -> Counter[str]:
        """Sum of every counter by name (``name:value|c``)."""
        found: Counter[str] = Counter()
        for line in self.lines:
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            if kind.startswith("c"):
                found[name] += int(value)
        return found

    def timings(self, name: str) -> list[float]:
        """Every timing (milliseconds) sent as ``name``."""
        return [float(line.split(":")[1].split("|")[0]) for line in self.lines
                if line.startswith(f"{name}:") and "|ms" in line]


def test_a_wait_sends_its_metrics_and_logs_one_summary(emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.fail_next_operations(1, code="FAILED_PRECONDITION", message="Not enough conversations")
    failed = create_model(ContactCenterInsightsHook(), "doomed").name
    emulator_env.set_operation_seconds(4.0)  # train must still be running at its first look, before deferring
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", count=2)
    statsd = StatsdServer()
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        # One request a second for the project: the triggerer's first poll waits for the worker's.
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "requests_per_second": 1}}
        ),
    }
    conf = {"failed_operation": failed, "missing_operation": f"{PARENT}/operations/404404404"}
    try:
        run = subprocess.run([str(AIRFLOW), "dags", "test", "ccai_test_metrics", "-c", json.dumps(conf)],
                             env=env, capture_output=True, text=True, timeout=240, check=False)
    finally:
        statsd.close()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]

    counters = statsd.counters()
    prefix = "airflow."
    calls = emulator_env.call_counts()["GetOperation"]
    # Every GetOperation the emulator answered or faulted is a poll or a retry we counted.
    assert counters[prefix + metrics.RETRY + ".UNAVAILABLE"] == 2
    assert counters[prefix + metrics.POLL] + 2 == calls
    assert counters[prefix + metrics.SUCCEEDED] == 1
    assert counters[prefix + metrics.FAILED + ".FAILED_PRECONDITION"] == 1
    assert counters[prefix + metrics.ERROR + ".NOT_FOUND"] >= 1
    lags = statsd.timings(prefix + metrics.DETECTION_LAG)
    # train's operation was seen within a poll (0.3 s) and a budget slot (1 s) of its end; the failed one had
    # ended before the DAG run started.
    assert len(lags) == 2 and all(lag >= 0 for lag in lags), lags
    assert min(lags) < 5_000, lags
    # Only train deferred: the failed operation had ended before its sensor's first look.
    assert len(statsd.timings(prefix + metrics.DEFERRED)) == 1
    assert statsd.timings(prefix + metrics.BUDGET_WAIT), "no poll waited for the 1 request/s budget"

    # One summary line per wait, whose counts add up to what the server saw.
    summaries = [m.groupdict() for m in SUMMARY.finditer(output)]
    by_status = Counter(s["status"] for s in summaries)
    assert by_status == {"succeeded": 1, "failed": 1, "error": 1}, summaries
    assert sum(int(s["polls"]) + int(s["retries"]) for s in summaries) == calls
