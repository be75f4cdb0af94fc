"""The object the ``ccai_emulator`` fixture hands a test: its controls, environment and scripting."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from google.api_core import exceptions

from ccai_airflow.emulator import Emulator
from ccai_airflow.testing.kit import DEFAULT_CONNECTION_ENV, CcaiEmulator, patched_environ

pytestmark = pytest.mark.airflow_independent


@pytest.fixture
def kit(emulator: Emulator) -> Iterator[CcaiEmulator]:
    with CcaiEmulator(emulator.grpc_target, emulator.rest_url, "kit-project", "europe-west1", emulator) as made:
        yield made


def test_the_parent_is_the_project_and_location(kit: CcaiEmulator) -> None:
    assert kit.parent == "projects/kit-project/locations/europe-west1"


def test_the_environment_names_the_emulator_and_a_default_connection_on_the_project(kit: CcaiEmulator) -> None:
    env = kit.environment()
    assert env["CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"] == kit.grpc_target
    assert env["CONTACT_CENTER_INSIGHTS_EMULATOR_REST"] == kit.rest_url
    connection = json.loads(env[DEFAULT_CONNECTION_ENV])
    assert connection == {"conn_type": "google_cloud_platform",
                          "extra": {"project": "kit-project", "is_anonymous": True}}


def test_the_documented_controls_reach_the_emulator(kit: CcaiEmulator, emulator: Emulator) -> None:
    names = kit.seed_conversations(kit.parent, 3)
    kit.write_object("gs://kit-bucket/labels.csv", "a,b")
    kit.set_operation_seconds(7)
    kit.advance_clock(60)

    assert len(names) == 3 and all(name.startswith(kit.parent + "/conversations/") for name in names)
    assert kit.read_object("gs://kit-bucket/labels.csv") == "a,b"
    assert emulator.backend.operation_seconds == 7
    assert emulator.backend._offset == 60


def test_reset_empties_what_a_test_left(kit: CcaiEmulator, emulator: Emulator) -> None:
    kit.seed_conversations(kit.parent, 2)
    kit.write_object("gs://kit-bucket/o", "x")
    kit.inject_fault("GetOperation", code="UNAVAILABLE")
    kit.fail_next_operations(2)
    kit.set_operation_seconds(100)
    kit.set_clock_rate(50)
    kit.advance_clock(3600)

    kit.reset()

    assert kit.call_counts() == {}
    assert kit.list_objects() == []
    assert emulator.backend._conversations == {} and emulator.backend._failures == []
    assert emulator.faults._rules == []
    assert emulator.backend.operation_seconds == 0.3  # pyproject.toml's ccai_emulator_operation_seconds
    assert emulator.backend._offset == 0 and emulator.backend._rate == 1.0


def test_script_sets_up_a_test_at_once(kit: CcaiEmulator, emulator: Emulator) -> None:
    kit.script(fail_next_operations={"n": 2, "code": "RESOURCE_EXHAUSTED"},
               faults=[{"rpc": "GetOperation", "code": "OK", "latency_s": 0.01}], operation_seconds=5, clock_rate=10)

    assert [f.code.name for f in emulator.backend._failures] == ["RESOURCE_EXHAUSTED"] * 2
    assert [(f.rpc, f.latency_s) for f in emulator.faults._rules] == [("GetOperation", 0.01)]
    assert emulator.backend.operation_seconds == 5 and emulator.backend._rate == 10


def test_script_refuses_a_bad_value_naming_it(kit: CcaiEmulator) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Invalid rate 0"):
        kit.script(clock_rate=0)


def test_patched_environ_sets_keeps_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAI_KIT_KEPT", "theirs")
    monkeypatch.setenv("CCAI_KIT_REPLACED", "before")
    monkeypatch.delenv("CCAI_KIT_NEW", raising=False)

    with patched_environ({"CCAI_KIT_KEPT": "ours", "CCAI_KIT_REPLACED": "ours", "CCAI_KIT_NEW": "ours"},
                         keep=frozenset({"CCAI_KIT_KEPT"})):
        inside = {name: os.environ.get(name) for name in ("CCAI_KIT_KEPT", "CCAI_KIT_REPLACED", "CCAI_KIT_NEW")}

    assert inside == {"CCAI_KIT_KEPT": "theirs", "CCAI_KIT_REPLACED": "ours", "CCAI_KIT_NEW": "ours"}
    assert os.environ["CCAI_KIT_REPLACED"] == "before" and "CCAI_KIT_NEW" not in os.environ
