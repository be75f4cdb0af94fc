"""Shared fixtures, on the test kit's (``ccai_airflow.testing``): its emulator and its throwaway Airflow home.

The kit makes the home (SQLite) before this file loads; the suite adds no examples and ``tests/dags`` as
the DAGs folder, read by Airflow when asked.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.longrunning import operations_pb2
from google.protobuf import json_format

DAGS_FOLDER = Path(__file__).parent / "dags"
# The throwaway AIRFLOW_HOME and its SQLite database are the test kit's (ccai_airflow.testing, loaded by pytest
# before this file): what the suite adds is read by Airflow when asked, so it may be set here.
os.environ.update(
    {
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
)
for _var in ("CONTACT_CENTER_INSIGHTS_EMULATOR_HOST", "CONTACT_CENTER_INSIGHTS_EMULATOR_REST", "STORAGE_EMULATOR_HOST"):
    os.environ.pop(_var, None)

from ccai_airflow.emulator import Emulator  # noqa: E402
from ccai_airflow.testing import CcaiEmulator  # noqa: E402

pytest_plugins = ["pytester"]  # tests/testing: sessions of pytest as a user runs them, with the test kit

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


def pytest_configure(config: pytest.Config) -> None:
    from ccai_airflow.testing.plugin import airflow_home

    home = airflow_home(config)
    if home is None or not home.made:
        raise pytest.UsageError(
            f"AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME')!r} is set: the suite resets its metadata database, so it "
            "runs only in the throwaway home the test kit makes; unset AIRFLOW_HOME (make pytest does)")


@pytest.fixture
def emulator(ccai_emulator_session: CcaiEmulator) -> Emulator:
    """The test kit's emulator of this process (``pyproject.toml``: 0.3 s operations, fault seed 1234), reset,
    without the environment: tests that need the hooks to reach it take ``emulator_env``."""
    assert ccai_emulator_session.emulator is not None, "the suite runs its own emulator, not --ccai-emulator-host"
    ccai_emulator_session.reset()
    return ccai_emulator_session.emulator


@pytest.fixture
def emulator_env(ccai_emulator: CcaiEmulator) -> Emulator:
    """The emulator, as the test kit's ``ccai_emulator`` fixture sets it up for a user's test: the hooks pointed
    at it through the documented environment variables, a default connection, Google's own clients routed."""
    assert ccai_emulator.emulator is not None, "the suite runs its own emulator, not --ccai-emulator-host"
    return ccai_emulator.emulator


@pytest.fixture(scope="session")
def airflow_db(ccai_airflow_db: str) -> str:
    """The test kit's fresh SQLite metadata database, created once per session (per pytest-xdist worker)."""
    return ccai_airflow_db


@pytest.fixture
def seed() -> dict[str, Any]:
    """The JSON of a finished CreateIssueModel operation from Google's public operations.get page."""
    loaded = json.loads(SEED_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def seed_operation(seed: dict[str, Any]) -> operations_pb2.Operation:
    return json_format.ParseDict(seed, operations_pb2.Operation())
