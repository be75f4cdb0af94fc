"""Shared fixtures: a live emulator on free loopback ports, and a throwaway Airflow home.

The Airflow environment is set here, before anything imports Airflow: a temporary AIRFLOW_HOME
with SQLite, no examples, and ``tests/dags`` as the DAGs folder.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.longrunning import operations_pb2
from google.protobuf import json_format

_HOME = tempfile.mkdtemp(prefix="ccai-airflow-test-")
DAGS_FOLDER = Path(__file__).parent / "dags"
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
    }
)
for _var in ("CONTACT_CENTER_INSIGHTS_EMULATOR_HOST", "CONTACT_CENTER_INSIGHTS_EMULATOR_REST"):
    os.environ.pop(_var, None)

from ccai_airflow.emulator import Emulator  # noqa: E402

PARENT = "projects/test-project/locations/us-central1"
SEED_PATH = Path(__file__).parent / "fixtures" / "issue-model-operation.json"


@pytest.fixture(scope="session", autouse=True)
def _one_in_process_execution_api() -> None:
    """dag.test() before Airflow 3.3 (task-sdk < 1.3) builds the in-process Execution API app again for every
    task it runs: Cadwyn's versioned routers, about 1.5 s of CPU a task, most of the 3.1 suite's time.
    task-sdk 1.3 caches that app (``functools.lru_cache`` on ``supervisor.in_process_api_server``); the
    tests do what 1.3 does, so that they time our code, not that."""
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """Google's Pub/Sub emulator, once per session (one per pytest-xdist worker): its ``HOST:PORT``.

    Skips where it is not installed (``.ci/run`` fails there instead, so CI runs these tests)."""
    from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator

    if find_pubsub_emulator() is None:
        pytest.skip(INSTALL_HINT)
    with PubSubEmulator() as pubsub:
        yield pubsub.host


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(operation_seconds=0.3, seed=1234) as emu:
        yield emu


@pytest.fixture
def emulator_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator, with the hooks pointed at it through the documented environment variables."""
    monkeypatch.setenv("CONTACT_CENTER_INSIGHTS_EMULATOR_HOST", emulator.grpc_target)
    monkeypatch.setenv("CONTACT_CENTER_INSIGHTS_EMULATOR_REST", emulator.rest_url)
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A fresh SQLite metadata database, created once per session."""
    from airflow.utils import db

    db.resetdb()
    return _HOME


@pytest.fixture
def seed() -> dict[str, Any]:
    """The JSON of a finished CreateIssueModel operation from Google's public operations.get page."""
    loaded = json.loads(SEED_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def seed_operation(seed: dict[str, Any]) -> operations_pb2.Operation:
    return json_format.ParseDict(seed, operations_pb2.Operation())
