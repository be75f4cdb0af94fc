"""Long-running operations (``lro.Operations``): get, list, cancel, injected failures, the emulator's clock."""

from __future__ import annotations

import math
import time

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, error_of, start_create, status_of, unpack, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def test_unknown_operation_is_not_found(client: Client) -> None:
    name = f"{PARENT}/operations/123"
    for call in (client.get_operation, client.cancel_operation):
        err = error_of(lambda call=call: call(request={"name": name}))
        assert isinstance(err, exceptions.NotFound) and name in err.message


def test_cancel_running_create(client: Client, emulator: Emulator) -> None:
    name = start_create(client)
    client.cancel_operation(request={"name": name})
    op = client.get_operation(request={"name": name})
    assert op.done and op.error.code == 1 and op.error.message
    assert not op.HasField("response")
    time.sleep(0.4)  # past the time it would have finished
    assert client.get_operation(request={"name": name}) == op
    assert client.list_issue_models(parent=PARENT).issue_models == []
    assert unpack(op.metadata, ci.CreateIssueModelMetadata).end_time


def test_cancel_finished_operation_changes_nothing(client: Client) -> None:
    op = wait_done(client, start_create(client))
    client.cancel_operation(request={"name": op.name})
    again = client.get_operation(request={"name": op.name})
    assert again.done and not again.HasField("error")
    assert unpack(again.response, ci.IssueModel) == unpack(op.response, ci.IssueModel)


def test_list_operations_and_done_filter(client: Client) -> None:
    finished = wait_done(client, start_create(client, "first")).name
    running = start_create(client, "second")

    def names(filter_: str) -> list[str]:
        return [
            o.name for o in client.list_operations(request={"name": PARENT, "filter": filter_}).operations
        ]

    assert names("") == [finished, running]
    assert names("done=true") == [finished]
    assert names("done = false") == [running]
    other = client.list_operations(request={"name": "projects/other/locations/us-central1"})
    assert other.operations == []
    for bad in ("garbage", "done=maybe"):
        err = error_of(lambda bad=bad: names(bad))
        assert status_of(err) == "INVALID_ARGUMENT" and repr(bad) in err.message


def test_fail_next_operations(client: Client, emulator: Emulator) -> None:
    emulator.fail_next_operations(2, code="RESOURCE_EXHAUSTED", message="quota")
    first, second, third = (start_create(client, f"m{i}") for i in range(3))
    for name in (first, second):
        op = wait_done(client, name)
        assert (op.error.code, op.error.message) == (8, "quota")
        assert not op.HasField("response")
    model = unpack(wait_done(client, third).response, ci.IssueModel)
    assert [m.name for m in client.list_issue_models(parent=PARENT).issue_models] == [model.name]


def test_nan_operation_seconds_cannot_stall_operations(emulator: Emulator, grpc_client: Client) -> None:
    """Regression: a NaN due time sat at the top of the due heap and no operation ever finished."""
    with pytest.raises(exceptions.InvalidArgument):
        emulator.set_operation_seconds(math.nan)
    assert wait_done(grpc_client, start_create(grpc_client)).HasField("response")


def test_advance_clock_finishes_operations_at_their_due_time(emulator: Emulator) -> None:
    emulator.set_operation_seconds(3 * 3600)
    client = ci.ContactCenterInsightsClient(
        transport=ContactCenterInsightsGrpcTransport(channel=grpc.insecure_channel(emulator.grpc_target))
    )
    name = client.create_issue_model(parent=PARENT, issue_model={"display_name": "long"}).operation.name
    assert not client.get_operation(request={"name": name}).done

    emulator.advance_clock(3 * 3600 + 1)
    operation = client.get_operation(request={"name": name})

    assert operation.done and operation.HasField("response")
    metadata = ci.CreateIssueModelMetadata.deserialize(operation.metadata.value)
    took = metadata.end_time - metadata.create_time
    assert abs(took.total_seconds() - 3 * 3600) < 1.0
    with pytest.raises(exceptions.InvalidArgument, match="Invalid seconds -1"):
        emulator.advance_clock(-1)
