"""The hook's calls besides waiting: any long-running operation started from its request message, and the reads."""

from __future__ import annotations

import inspect

import pytest
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient, types

from ccai_airflow.core.outcome import Status, outcome_of
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.hooks.calls import START_METHODS
from tests.conftest import PARENT
from tests.helpers import create_model


@pytest.mark.parametrize(("request_type", "method"), sorted(START_METHODS.items(), key=lambda item: item[1]))
def test_each_start_method_is_the_clients_method_for_that_request(request_type: type, method: str) -> None:
    signature = inspect.signature(getattr(ContactCenterInsightsClient, method))
    assert request_type.__name__ in str(signature.parameters["request"].annotation)
    assert "Operation" in str(signature.return_annotation), f"{method} does not start a long-running operation"


def test_a_request_that_starts_no_operation_is_refused_naming_its_type(emulator_env: Emulator) -> None:
    expected = r"Invalid request GetIssueModelRequest: expected one of .*CreateIssueModelRequest"
    with pytest.raises(TypeError, match=expected):
        ContactCenterInsightsHook().start_operation(types.GetIssueModelRequest(name=f"{PARENT}/issueModels/1"))
    assert sum(emulator_env.call_counts().values()) == 0, "refused before any call"


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_start_operation_passes_each_request_on_and_waits_for_it(emulator_env: Emulator, transport: str) -> None:
    emulator_env.set_operation_seconds(0)
    hook = ContactCenterInsightsHook(transport=transport)
    created = hook.wait_for_operation(create_model(hook, "typed").name)
    model = created.response["name"]
    started = {
        "deploy": hook.start_operation(types.DeployIssueModelRequest(name=model)),
        "analyze": hook.start_operation(types.BulkAnalyzeConversationsRequest(
            parent=PARENT, filter='medium="CHAT"', analysis_percentage=50.0,
            annotator_selector={"run_issue_model_annotator": True},
        )),
        "ingest": hook.start_operation(types.IngestConversationsRequest(
            parent=PARENT, gcs_source={"bucket_uri": "gs://b/chats"}, sample_size=7,
        )),
        "export": hook.start_operation(types.ExportInsightsDataRequest(
            parent=PARENT, big_query_destination={"dataset": "d", "table": "t"}, filter="agent_id=1",
            write_disposition="WRITE_APPEND",
        )),
    }
    outcomes = {key: hook.wait_for_operation(op.name, poll_interval=0.05) for key, op in started.items()}

    assert created.status is Status.SUCCEEDED
    assert {key: outcome.status for key, outcome in outcomes.items()} == dict.fromkeys(started, Status.SUCCEEDED)
    request = outcomes["export"].metadata["request"]
    assert request["bigQueryDestination"] == {"dataset": "d", "table": "t"}
    assert request["writeDisposition"] == "WRITE_APPEND"
    assert outcomes["ingest"].metadata["request"]["sampleSize"] == 7
    assert hook.get_issue_model(model).state == types.IssueModel.State.DEPLOYED
    assert [m.name for m in hook.list_issue_models(PARENT)] == [model]
    assert outcome_of(hook.get_operation(started["deploy"].name)).status is Status.SUCCEEDED


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_reads_follow_every_page_and_return_messages(emulator_env: Emulator, transport: str) -> None:
    emulator_env.set_operation_seconds(0)
    hook = ContactCenterInsightsHook(transport=transport)
    names = emulator_env.seed_conversations(PARENT, 7, age_days=3)
    model = hook.wait_for_operation(create_model(hook, "reads").name, poll_interval=0.05).response["name"]

    listed = hook.list_conversations(PARENT, page_size=2)
    assert sorted(c.name for c in listed) == sorted(names), "all four pages"
    assert hook.get_conversation(names[0]).name == names[0]
    assert hook.get_issue_model(model).display_name == "reads"
    assert [m.name for m in hook.list_issue_models(PARENT)] == [model]
    issues = hook.list_issues(model)
    assert issues and hook.get_issue(issues[0].name).name == issues[0].name
    assert hook.get_settings(f"{PARENT}/settings").name == f"{PARENT}/settings"
