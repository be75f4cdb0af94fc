"""Which operation a retry adopts where Airflow keeps no state across tries (before 3.3), and the sensor's
adaptive cadence in poke mode: both against operations the emulator started."""

from __future__ import annotations

import datetime
import time

from google.cloud.contact_center_insights_v1 import types
from google.protobuf import any_pb2

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.outcome import decode_any
from ccai_airflow.resume import adoptable, metadata_type_of
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from tests.conftest import PARENT
from tests.helpers import start_create

CREATE = types.CreateIssueModelRequest(parent=PARENT, issue_model=types.IssueModel(display_name="topics"))


def test_every_operator_request_names_the_metadata_its_operation_carries() -> None:
    for request_type in (types.CreateIssueModelRequest, types.DeployIssueModelRequest, types.UndeployIssueModelRequest,
                         types.DeleteIssueModelRequest, types.BulkAnalyzeConversationsRequest,
                         types.IngestConversationsRequest, types.ExportInsightsDataRequest):
        url = metadata_type_of(request_type())
        message = getattr(types, url.rsplit(".", 1)[-1])
        packed = any_pb2.Any()
        packed.Pack(message.pb(message()))
        assert packed.type_url == url
        assert decode_any(packed)["@type"] == url


def test_a_retry_adopts_the_newest_running_operation_with_the_same_request(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(600)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    first, second = start_create(), start_create()
    other = ContactCenterInsightsHook().create_issue_model(PARENT, {"display_name": "another"}).name

    operations = ContactCenterInsightsHook().list_operations(PARENT)

    assert {op.name for op in operations} >= {first, second, other}
    assert adoptable(operations, CREATE, since) == second


def test_a_retry_does_not_adopt_a_failed_an_older_or_another_methods_operation(emulator_env: Emulator) -> None:
    hook = ContactCenterInsightsHook()
    emulator_env.set_operation_seconds(0)
    model = hook.wait_for_operation(hook.create_issue_model(PARENT, {"display_name": "m"}).name).response["name"]
    emulator_env.set_operation_seconds(600)
    older = start_create()
    time.sleep(0.05)
    since = datetime.datetime.now(datetime.UTC)
    emulator_env.fail_next_operations(1, code="INTERNAL", message="crashed")
    emulator_env.set_operation_seconds(0)
    failed = start_create()
    deploy = hook.deploy_issue_model(model).name
    hook.wait_for_operation(failed, poll_interval=0.05)
    operations = hook.list_operations(PARENT)

    assert older in {op.name for op in operations}
    assert adoptable(operations, CREATE, since) is None  # older: before since; failed: failed
    assert adoptable(operations, types.UndeployIssueModelRequest(name=model), since) is None  # same JSON, other RPC
    assert adoptable(operations, types.DeployIssueModelRequest(name=model), since) == deploy


def test_poke_mode_sets_the_next_poke_through_poke_interval(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(3600)
    name = start_create()
    adaptive = ContactCenterInsightsOperationSensor(task_id="adaptive", operation_name=name, timeout=0.5)
    fixed = ContactCenterInsightsOperationSensor(task_id="fixed", operation_name=name, timeout=0.5, poke_interval=7)

    assert adaptive.poke_interval == 2.0  # the policy's first delay
    assert adaptive.poke({}) is False
    assert 0.1 <= adaptive.poke_interval <= 0.6  # the policy's delay, but never past the sensor's timeout
    assert fixed.poke({}) is False
    assert fixed.poke_interval == 7  # a cadence the user set stands
