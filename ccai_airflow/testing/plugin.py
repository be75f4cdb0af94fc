"""The pytest plugin (entry point ``pytest11``): the ``ccai_emulator`` fixture for testing DAGs without Google.

Loaded by pytest wherever the package is installed; a session that never asks for ``ccai_emulator``
starts nothing. See ``docs/testing.md``.

- ``ccai_emulator``: the emulator, empty (reset) before each test, with the environment set for the test
  and restored after: the emulator variables the provider's hooks read, a default Google Cloud connection
  on the project, Google's own Insights clients routed to it, and an Airflow metadata database.
- ``ccai_gcs``: the same, with a real Cloud Storage emulator beside it (``gcp-storage-emulator``, one per
  process): the Insights emulator keeps its objects there and ``STORAGE_EMULATOR_HOST`` names it, so the
  Google provider's GCS hooks and sensors see what an export wrote.
- ``@pytest.mark.ccai_emulator(fail_next_operations=1, faults=[...], operation_seconds=..., clock_rate=...)``
  scripts one test's emulator before it runs (:meth:`CcaiEmulator.script`).
- ``--ccai-emulator-host HOST:PORT`` with ``--ccai-emulator-rest http://HOST:PORT``: use an emulator that
  is already running (``ccai-emulator``, e.g. a CI service container) instead of starting one per process.
- ini ``ccai_emulator_project`` (default ``test-project``), ``ccai_emulator_location`` (``us-central1``),
  ``ccai_emulator_operation_seconds`` (``2``), ``ccai_emulator_seed`` (none), ``ccai_dags_folder``
  (default ``dags`` beside the ini file, when it exists).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ccai_airflow.testing.airflow_home import AirflowHome
from ccai_airflow.testing.kit import DEFAULT_CONNECTION_ENV, CcaiEmulator, patched_environ

if TYPE_CHECKING:
    from ccai_airflow.emulator.gcs import StorageEmulator

_HOME_KEY = pytest.StashKey[AirflowHome]()


def airflow_home(config: pytest.Config) -> AirflowHome | None:
    """The session's Airflow home as the plugin found or made it (None: the plugin was loaded late)."""
    return config.stash.get(_HOME_KEY, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ccai", "Contact Center Insights emulator (ccai-airflow)")
    group.addoption("--ccai-emulator-host", default=None, metavar="HOST:PORT",
                    help="gRPC address of an emulator already running, instead of one started per process")
    group.addoption("--ccai-emulator-rest", default=None, metavar="URL",
                    help="REST URL (http://HOST:PORT) of that emulator: its controls are there")
    parser.addini("ccai_emulator_project", "project of the default Google Cloud connection", default="test-project")
    parser.addini("ccai_emulator_location", "location of ccai_emulator.parent", default="us-central1")
    parser.addini("ccai_emulator_operation_seconds", "how long each operation runs", default="2")
    parser.addini("ccai_emulator_seed", "seed of the emulator's fault draws (empty: none)", default="")
    parser.addini("ccai_dags_folder", "the DAGs folder of a throwaway Airflow home, relative to the ini file",
                  default="dags")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # Before any conftest or test module can import Airflow, which reads its home once.
    base = early_config.inipath.parent if early_config.inipath else early_config.rootpath
    early_config.stash[_HOME_KEY] = AirflowHome.prepare(base / str(early_config.getini("ccai_dags_folder")))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ccai_emulator(fail_next_operations=None, faults=None, operation_seconds=None, clock_rate=None): "
        "script the Contact Center Insights emulator for this test")
    host, rest = config.getoption("--ccai-emulator-host"), config.getoption("--ccai-emulator-rest")
    if bool(host) != bool(rest):
        raise pytest.UsageError(
            f"--ccai-emulator-host {host!r} and --ccai-emulator-rest {rest!r}: give both, the gRPC HOST:PORT and the "
            "REST http://HOST:PORT of the running emulator (its ready line prints both), or neither")
    # Asked of the controller (a worker's config has xdist's ``workerinput``); -n auto may also make many.
    workers = getattr(config.option, "numprocesses", None)
    if host and workers not in (None, 0, 1) and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            f"--ccai-emulator-host {host}: {workers} pytest-xdist workers would share one emulator, and each test "
            "resets it; run one emulator per worker or -n 0")


def pytest_unconfigure(config: pytest.Config) -> None:
    home = airflow_home(config)
    if home is not None:
        home.remove()


@pytest.fixture(scope="session")
def ccai_emulator_session(request: pytest.FixtureRequest) -> Iterator[CcaiEmulator]:
    """The session's emulator (one per pytest-xdist worker process), not reset: ``ccai_emulator`` resets it."""
    config = request.config
    project, location = str(config.getini("ccai_emulator_project")), str(config.getini("ccai_emulator_location"))
    host = config.getoption("--ccai-emulator-host")
    if host:
        running = CcaiEmulator(host, config.getoption("--ccai-emulator-rest"), project, location)
        yield running
        running.close()
        return
    from ccai_airflow.emulator import Emulator

    seed = str(config.getini("ccai_emulator_seed")).strip()
    seconds = "ccai_emulator_operation_seconds"
    operation_seconds = _number(seconds, str(config.getini(seconds)))
    with Emulator(operation_seconds=operation_seconds, seed=int(seed) if seed else None) as emulator:
        kit = CcaiEmulator(emulator.grpc_target, emulator.rest_url, project, location, emulator)
        yield kit
        kit.close()


@pytest.fixture(scope="session")
def ccai_airflow_db(request: pytest.FixtureRequest) -> str | None:
    """The Airflow home of the session, its metadata database made (once per process) if the plugin made the
    home; its path (None: Airflow's default home)."""
    home = airflow_home(request.config)
    if home is None:
        return os.environ.get("AIRFLOW_HOME")
    home.ensure_database()
    return home.path


@pytest.fixture
def ccai_emulator(request: pytest.FixtureRequest, ccai_emulator_session: CcaiEmulator,
                  ccai_airflow_db: str | None) -> Iterator[CcaiEmulator]:
    """The emulator, empty, with this test's environment pointing the provider's hooks, Google's own Insights
    clients and ``dag.test()`` at it; scripted by ``@pytest.mark.ccai_emulator(...)``."""
    from ccai_airflow.testing.google_clients import routed_to_emulator

    kit = ccai_emulator_session
    kit.reset()
    marker = request.node.get_closest_marker("ccai_emulator")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.ccai_emulator{marker.args}: takes keyword arguments only")
        kit.script(**marker.kwargs)
    with patched_environ(kit.environment(), keep=frozenset({DEFAULT_CONNECTION_ENV})), \
            routed_to_emulator(kit.grpc_target, kit.rest_url):
        yield kit


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise pytest.UsageError(f"Invalid {name} {text!r}: expected a number of seconds >= 0")
    return value


@pytest.fixture(scope="session")
def ccai_storage_emulator_session() -> Iterator[StorageEmulator]:
    """A Cloud Storage emulator for the session (one per pytest-xdist worker)."""
    from ccai_airflow.emulator.gcs import INSTALL_HINT, StorageEmulator, find_storage_emulator

    if not find_storage_emulator():
        pytest.skip(INSTALL_HINT)
    with StorageEmulator() as storage:
        yield storage


@pytest.fixture
def ccai_gcs(ccai_emulator: CcaiEmulator, ccai_storage_emulator_session: StorageEmulator) -> Iterator[CcaiEmulator]:
    """``ccai_emulator`` with its objects in the Cloud Storage emulator, empty, which ``STORAGE_EMULATOR_HOST``
    names for the test (the Google Cloud Storage client and the Google provider's GCS hooks read it)."""
    from ccai_airflow.emulator.gcs import STORAGE_EMULATOR_HOST_ENV

    storage = ccai_storage_emulator_session
    storage.wipe()  # objects and buckets: each test makes its own, as on Cloud Storage
    ccai_emulator.set_storage_emulator_host(storage.host)  # until the next test's reset
    with patched_environ({STORAGE_EMULATOR_HOST_ENV: storage.host}):
        yield ccai_emulator
