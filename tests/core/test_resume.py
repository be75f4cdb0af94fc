"""Which operation a retry adopts where Airflow keeps no state across tries (before 3.3), and the sensor's
adaptive cadence in poke mode: both against operations the emulator started."""

from __future__ import annotations

import datetime
import inspect
import re
import time

from google.cloud.contact_center_insights_v1 import types
from google.cloud.contact_center_insights_v1.services.contact_center_insights import (
    client as contact_center_insights_client,
)
from google.protobuf import any_pb2

from ccai_airflow.core.outcome import decode_any
from ccai_airflow.core.resume import adoptable, metadata_type_of
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from tests.conftest import PARENT
from tests.helpers import create_model, start_create

CREATE = types.CreateIssueModelRequest(parent=PARENT, issue_model=types.IssueModel(display_name="topics"))


def test_every_operator_request_names_the_metadata_its_operation_carries() -> None:
    # What the installed client tells operation.from_gapic, method by method: all 17 long-running methods.
    methods = [(chunk.split("(", 1)[0], found.group(1))
               for chunk in inspect.getsource(contact_center_insights_client).split("\n    def ")[1:]
               if (found := re.search(r"metadata_type=contact_center_insights\.(\w+),", chunk))]
    assert len(methods) == 17
    for method, metadata_name in methods:
        request_type = getattr(types, "".join(part.title() for part in method.split("_")) + "Request")
        assert metadata_type_of(request_type()).endswith(f".{metadata_name}"), method
    for request_type in (types.CreateIssueModelRequest, types.DeployIssueModelRequest, types.UndeployIssueModelRequest,
                         types.DeleteIssueModelRequest, types.BulkAnalyzeConversationsRequest,
                         types.IngestConversationsRequest, types.ExportInsightsDataRequest,
                         types.CreateAnalysisRequest):
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
    other = create_model(ContactCenterInsightsHook(), "another").name

    operations = ContactCenterInsightsHook().list_operations(PARENT)

    assert {op.name for op in operations} >= {first, second, other}
    assert adoptable(operations, CREATE, since) == second


def test_a_retry_does_not_adopt_a_failed_an_older_or_another_methods_operation(emulator_env: Emulator) -> None:
    hook = ContactCenterInsightsHook()
    emulator_env.set_operation_seconds(0)
    model = hook.wait_for_operation(create_model(hook, "m").name).response["name"]
    emulator_env.set_operation_seconds(600)
    older = start_create()
    time.sleep(0.05)
    since = datetime.datetime.now(datetime.UTC)
    emulator_env.fail_next_operations(1, code="INTERNAL", message="crashed")
    emulator_env.set_operation_seconds(0)
    failed = start_create()
    deploy = hook.start_operation(types.DeployIssueModelRequest(name=model)).name
    hook.wait_for_operation(failed, poll_interval=0.05)
    operations = hook.list_operations(PARENT)

    assert older in {op.name for op in operations}
    assert adoptable(operations, CREATE, since) is None  # older: before since; failed: failed
    assert adoptable(operations, types.UndeployIssueModelRequest(name=model), since) is None  # same JSON, other RPC
    assert adoptable(operations, types.DeployIssueModelRequest(name=model), since) == deploy


def test_a_create_analysis_retry_adopts_by_conversation_and_annotator_selector(emulator_env: Emulator) -> None:
    """CreateAnalysisOperationMetadata echoes no request, only the conversation and the annotator selector."""
    hook = ContactCenterInsightsHook()
    emulator_env.set_operation_seconds(600)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    one, two = emulator_env.seed_conversations(PARENT, 2)
    selector = {"run_sentiment_annotator": True}
    plain = hook.start_operation(types.CreateAnalysisRequest(parent=one, analysis={})).name
    selected = types.CreateAnalysisRequest(parent=one, analysis={"annotator_selector": selector})
    with_selector = hook.start_operation(selected).name
    other_conversation = hook.start_operation(types.CreateAnalysisRequest(parent=two, analysis={})).name
    operations = hook.list_operations(PARENT)

    assert adoptable(operations, types.CreateAnalysisRequest(parent=one), since) == plain
    assert adoptable(operations, types.CreateAnalysisRequest(
        parent=one, analysis=types.Analysis(annotator_selector=selector)), since) == with_selector
    assert adoptable(operations, types.CreateAnalysisRequest(parent=two), since) == other_conversation
    assert adoptable(operations, types.CreateAnalysisRequest(
        parent=two, analysis=types.Analysis(annotator_selector=selector)), since) is None
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    assert adoptable(operations, types.CreateAnalysisRequest(parent=one), later) is None


def test_query_metrics_has_nothing_to_adopt_by(emulator_env: Emulator) -> None:
    hook = ContactCenterInsightsHook()
    emulator_env.set_operation_seconds(600)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
    window = 'create_time > "2026-01-01T00:00:00Z" AND create_time < "2027-01-01T00:00:00Z"'
    request = types.QueryMetricsRequest(location=PARENT, filter=window)
    hook.start_operation(request)

    assert adoptable(hook.list_operations(PARENT), request, since) is None


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
