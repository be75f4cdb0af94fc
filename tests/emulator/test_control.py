"""The typed client of the HTTP controls (``control.EmulatorControl``): the same signatures as ``Emulator``,
each control round-tripped, refusals raised as the API's exception classes."""

from __future__ import annotations

import inspect

import pytest
from google.api_core import exceptions

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.conftest import PARENT
from tests.emulator.clients import Client, start_create

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


CONTROLS = ["fail_next_operations", "inject_fault", "clear_faults", "call_counts", "call_times", "peak_in_flight",
            "quota_refusals", "grpc_connections", "set_quota", "advance_clock", "set_operation_seconds"]


@pytest.mark.parametrize("method", CONTROLS)
def test_control_client_mirrors_the_emulator(method: str) -> None:
    ours = inspect.signature(getattr(EmulatorControl, method)).parameters
    theirs = inspect.signature(getattr(Emulator, method)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]


def test_control_client_round_trip(emulator: Emulator, grpc_client: Client) -> None:
    with EmulatorControl(emulator.rest_url) as control:
        control.set_operation_seconds(3600)
        name = start_create(grpc_client)
        control.advance_clock(3601)
        assert grpc_client.get_operation(request={"name": name}).done
        control.fail_next_operations(1, code="ABORTED", message="nope")
        assert grpc_client.get_operation(request={"name": start_create(grpc_client)}).done is False
        control.set_quota("ListIssueModels", per_second=1)
        grpc_client.list_issue_models(parent=PARENT, retry=None)
        with pytest.raises(exceptions.ResourceExhausted):
            grpc_client.list_issue_models(parent=PARENT, retry=None)
        assert control.quota_refusals("ListIssueModels") == 1
        assert control.quota_refusals("GetOperation") == 0
        control.set_quota("ListIssueModels", per_second=None)
        counts = control.call_counts()
        assert counts["CreateIssueModel"] == 2 and counts["ListIssueModels"] == 2
        assert len(control.call_times("ListIssueModels")) == 2
        assert control.peak_in_flight("ListIssueModels") == 1
        control.inject_fault("ListIssueModels")
        control.clear_faults()
        assert len(grpc_client.list_issue_models(parent=PARENT, retry=None).issue_models) == 1


def test_control_client_raises_the_api_error(emulator: Emulator) -> None:
    with EmulatorControl(emulator.rest_url) as control:
        with pytest.raises(exceptions.InvalidArgument, match="'Nope'"):
            control.call_times("Nope")
        with pytest.raises(exceptions.NotFound):
            control.request("GET", "nothing")
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        EmulatorControl("127.0.0.1:80")
