"""The emulator as its own process: `python -m ccai_airflow.emulator`, the `ccai-emulator` script, and
``process.EmulatorProcess``, which runs the module for `make demo` and the benchmarks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator.process import EmulatorProcess
from tests.conftest import PARENT

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

MODULE = [sys.executable, "-m", "ccai_airflow.emulator"]
SCRIPT = Path(sys.executable).with_name("ccai-emulator")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def running(command: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """Start the emulator, read its one JSON line; always kill it afterwards."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    reader = ThreadPoolExecutor(
        max_workers=1
    )  # readline() with a bound: a hung process must not hang the test
    try:
        assert proc.stdout is not None
        line = reader.submit(proc.stdout.readline).result(timeout=START_TIMEOUT_S)
        assert line.endswith("\n"), f"no ready line; exit code {proc.poll()}"
        yield proc, json.loads(line)
    finally:
        if proc.returncode is None:  # not stopped by the test: kill it (a no-op if it already exited)
            proc.kill()
            proc.communicate(timeout=STOP_TIMEOUT_S)
        reader.shutdown(wait=False)


def _create_and_finish(info: dict[str, Any]) -> None:
    """A real client call against the process: create an issue model and poll it to done."""
    channel = grpc.insecure_channel(info["grpc_target"])
    try:
        client = ci.ContactCenterInsightsClient(transport=ContactCenterInsightsGrpcTransport(channel=channel))
        name = client.create_issue_model(parent=PARENT, issue_model={"display_name": "proc"}).operation.name
        deadline = time.monotonic() + 10
        while not (op := client.get_operation(request={"name": name})).done:
            assert time.monotonic() < deadline, "operation not done within 10 s"
            time.sleep(0.05)
        model = ci.IssueModel.deserialize(op.response.value)
        assert model.state == ci.IssueModel.State.UNDEPLOYED
        assert client.get_issue_model(name=model.name) == model
    finally:
        channel.close()
    http = requests.get(f"{info['rest_url']}/v1/{name}", timeout=10)
    assert http.status_code == 200 and http.json()["done"] is True


def _check_info(info: dict[str, Any]) -> None:
    assert set(info) == {"grpc_target", "rest_url"}
    host, _, port = info["grpc_target"].rpartition(":")
    assert host == "127.0.0.1" and 0 < int(port) < 65536
    assert info["rest_url"].startswith("http://127.0.0.1:")
    assert info["rest_url"] != f"http://{info['grpc_target']}"


def _stop(proc: subprocess.Popen[str], signum: signal.Signals) -> str:
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=STOP_TIMEOUT_S)
    return stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_module_serves_and_exits_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    with running([*MODULE, "--operation-seconds", "0.2"], tmp_path) as (proc, info):
        _check_info(info)
        _create_and_finish(info)
        stderr = _stop(proc, signum)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"console script {SCRIPT} is not installed")
def test_console_script_serves_and_exits_cleanly(tmp_path: Path) -> None:
    with running([str(SCRIPT), "--operation-seconds", "0.2", "--seed", "7"], tmp_path) as (proc, info):
        _check_info(info)
        _create_and_finish(info)
        stderr = _stop(proc, signal.SIGTERM)
        assert proc.returncode == 0, stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--grpc-port", "70000"], "'70000'"),
        (["--rest-port", "-1"], "'-1'"),
        (["--operation-seconds", "-2"], "'-2'"),
        (["--operation-seconds", "nan"], "'nan'"),
        (["--grpc-port", "many"], "'many'"),
    ],
)
def test_bad_argument_exits_nonzero_naming_the_value(tmp_path: Path, args: list[str], named: str) -> None:
    proc = subprocess.Popen(
        [*MODULE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        stdout, stderr = proc.communicate(timeout=START_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode not in (0, None)
    assert stdout == "", "no ready line for a bad argument"
    assert named in stderr and args[0] in stderr
    assert "Traceback" not in stderr


def test_emulator_process_serves_answers_its_controls_and_stops_cleanly(tmp_path: Path) -> None:
    with EmulatorProcess(operation_seconds=0.2, seed=7, cwd=tmp_path) as emu:
        _check_info(emu.info)
        assert (emu.grpc_target, emu.rest_url) == (emu.info["grpc_target"], emu.info["rest_url"])
        _create_and_finish(emu.info)
        assert emu.controls.call_counts()["CreateIssueModel"] == 1
        assert emu.controls is emu.controls, "one control client, one keep-alive connection"
        process = emu.process
        assert process is not None and process.poll() is None and emu.pid == process.pid
    assert process.returncode == 0, "SIGTERM on the way out: a clean exit"
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.pid


def test_emulator_process_that_prints_no_ready_line_fails_start(tmp_path: Path) -> None:
    emu = EmulatorProcess(operation_seconds=-2, cwd=tmp_path, start_timeout=START_TIMEOUT_S)
    with pytest.raises(RuntimeError, match="no ready line"):
        emu.start()  # the module refuses -2 and exits before its ready line
    assert emu.process is None, "stopped after the failed start"
