"""``CcaiEmulator``: what the ``ccai_emulator`` fixture hands a test, and the environment it sets for it.

The controls are the emulator's HTTP controls (:class:`~ccai_airflow.emulator.EmulatorControl`), by the
names ``docs/emulator.md`` documents, so a test reads the same against the emulator the plugin started
in its process and against one already running elsewhere (``--ccai-emulator-host``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ccai_airflow.core.names import EMULATOR_HOST_ENV, EMULATOR_REST_ENV
from ccai_airflow.emulator import Emulator, EmulatorControl

__all__ = ["DEFAULT_CONNECTION_ENV", "CcaiEmulator", "patched_environ"]

# The connection the provider's hooks (and the Google provider's) use by default.
DEFAULT_CONNECTION_ENV = "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"


class CcaiEmulator(EmulatorControl):
    """A running emulator, empty at the start of each test, and its controls.

    >>> def test_training(ccai_emulator):
    ...     ccai_emulator.seed_conversations(ccai_emulator.parent, 10_000)
    ...     ccai_emulator.fail_next_operations(1, code="RESOURCE_EXHAUSTED")

    :param grpc_target: the gRPC ``HOST:PORT`` (``CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`` during the test).
    :param rest_url: the REST ``http://HOST:PORT`` (``CONTACT_CENTER_INSIGHTS_EMULATOR_REST``), where the
        controls are.
    :param project: the project of the default connection the plugin defines.
    :param location: the location of ``parent``.
    :param emulator: the in-process emulator, or None for one already running (``--ccai-emulator-host``).
    """

    def __init__(self, grpc_target: str, rest_url: str, project: str, location: str = "us-central1",
                 emulator: Emulator | None = None) -> None:
        super().__init__(rest_url)
        self.grpc_target = grpc_target
        self.project = project
        self.location = location
        self.emulator = emulator

    @property
    def parent(self) -> str:
        """``projects/{project}/locations/{location}``: where the test's resources go."""
        return f"projects/{self.project}/locations/{self.location}"

    def environment(self) -> dict[str, str]:
        """What a test's process needs to reach the emulator through the provider's hooks and ``dag.test()``:
        the emulator variables and a default Google Cloud connection on ``project`` (anonymous: the Google
        provider's own hooks ask a connection for credentials, and get none)."""
        connection = {"conn_type": "google_cloud_platform", "extra": {"project": self.project, "is_anonymous": True}}
        return {EMULATOR_HOST_ENV: self.grpc_target, EMULATOR_REST_ENV: self.rest_url,
                DEFAULT_CONNECTION_ENV: json.dumps(connection)}

    def script(self, fail_next_operations: int | Mapping[str, Any] | None = None,
               faults: list[Mapping[str, Any]] | None = None, operation_seconds: float | None = None,
               clock_rate: float | None = None) -> None:
        """Set up one test's behaviour at once (what ``@pytest.mark.ccai_emulator(...)`` takes).

        ``fail_next_operations``: a count, or the keyword arguments of :meth:`fail_next_operations`;
        ``faults``: keyword arguments of :meth:`inject_fault`, one rule each."""
        if operation_seconds is not None:
            self.set_operation_seconds(operation_seconds)
        if clock_rate is not None:
            self.set_clock_rate(clock_rate)
        if isinstance(fail_next_operations, Mapping):
            self.fail_next_operations(**fail_next_operations)
        elif fail_next_operations is not None:
            self.fail_next_operations(fail_next_operations)
        for rule in faults or ():
            self.inject_fault(**rule)


@contextmanager
def patched_environ(values: Mapping[str, str], keep: frozenset[str] = frozenset()) -> Iterator[None]:
    """``values`` in ``os.environ`` for the block (a name in ``keep`` that is already set keeps its value),
    and the environment as it was after."""
    before: dict[str, str | None] = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if not (name in keep and before[name] is not None):
                os.environ[name] = value
        yield
    finally:
        for name, old in before.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
