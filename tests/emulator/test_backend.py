"""Issue models and the location-level operations of ``backend.Backend``: create (training), deploy, undeploy,
delete and their state rules, bulk analyze, ingest, export; through the client on both transports."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import (
    BOUND_S,
    CHAT_FILTER,
    POLL_S,
    Client,
    deployed_model,
    error_of,
    status_of,
    trained_model,
    unpack,
    wait_done,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


State = ci.IssueModel.State


# -- create an issue model -------------------------------------------------------------------------
def check_training_stats(model: ci.IssueModel) -> None:
    stats = model.training_stats
    assert stats.analyzed_conversations_count > 0
    assert stats.issue_stats, "a trained model has issues"
    labeled = sum(entry.labeled_conversations_count for entry in stats.issue_stats.values())
    assert labeled + stats.unclassified_conversations_count == stats.analyzed_conversations_count
    assert model.issue_count == len(stats.issue_stats)
    for key, entry in stats.issue_stats.items():
        assert entry.issue == key
        assert key.startswith(model.name + "/issues/")
        assert entry.labeled_conversations_count > 0


def test_create_issue_model_trains_and_matches_get(client: Client) -> None:
    lro = client.create_issue_model(
        parent=PARENT,
        issue_model={
            "display_name": "support-chats",
            "input_data_config": {"medium": "CHAT", "filter": CHAT_FILTER},
        },
    )
    running = lro.operation
    assert running.name.startswith(PARENT + "/operations/")
    assert not running.done
    started = unpack(running.metadata, ci.CreateIssueModelMetadata)
    assert started.create_time and "end_time" not in started
    assert started.request.parent == PARENT
    assert started.request.issue_model.display_name == "support-chats"
    assert client.list_issue_models(parent=PARENT).issue_models == [], "no model before training ends"

    op = wait_done(client, running.name)
    assert not op.HasField("error")
    model = unpack(op.response, ci.IssueModel)
    finished = unpack(op.metadata, ci.CreateIssueModelMetadata)
    assert finished.end_time >= finished.create_time
    assert model.name.startswith(PARENT + "/issueModels/")
    assert model.display_name == "support-chats"
    assert model.state == ci.IssueModel.State.UNDEPLOYED
    assert model.input_data_config.medium == ci.Conversation.Medium.CHAT
    assert model.input_data_config.filter == CHAT_FILTER
    assert model.input_data_config.training_conversations_count > 0
    check_training_stats(model)
    assert client.get_issue_model(name=model.name) == model
    assert list(client.list_issue_models(parent=PARENT).issue_models) == [model]


async def test_create_issue_model_over_grpc_asyncio(
    async_client: ci.ContactCenterInsightsAsyncClient,
) -> None:
    lro = await async_client.create_issue_model(parent=PARENT, issue_model={"display_name": "async-model"})
    name = lro.operation.name
    deadline = time.monotonic() + BOUND_S
    while not (op := await async_client.get_operation(request={"name": name})).done:
        assert time.monotonic() < deadline
        await asyncio.sleep(POLL_S)
    model = unpack(op.response, ci.IssueModel)
    assert model.state == ci.IssueModel.State.UNDEPLOYED
    assert model.display_name == "async-model"
    check_training_stats(model)
    assert await async_client.get_issue_model(name=model.name) == model


def test_training_stats_are_deterministic(grpc_client: Client) -> None:
    first = trained_model(grpc_client, "same-name", CHAT_FILTER)
    second = trained_model(grpc_client, "same-name", CHAT_FILTER)
    assert first.name != second.name

    def shape(model: ci.IssueModel) -> dict[str, int]:
        prefix = model.name + "/issues/"
        return {
            k.removeprefix(prefix): v.labeled_conversations_count
            for k, v in model.training_stats.issue_stats.items()
        }

    assert shape(first) == shape(second)
    for field in ("analyzed_conversations_count", "unclassified_conversations_count"):
        assert getattr(first.training_stats, field) == getattr(second.training_stats, field)
    assert first.issue_count == second.issue_count


# -- deploy, undeploy, delete ----------------------------------------------------------------------
def test_deploy_and_undeploy_move_through_the_states(client: Client) -> None:
    State = ci.IssueModel.State
    model = trained_model(client)
    assert model.state == State.UNDEPLOYED

    deploy = client.deploy_issue_model(name=model.name).operation
    assert client.get_issue_model(name=model.name).state == State.DEPLOYING
    op = wait_done(client, deploy.name)
    assert unpack(op.response, ci.DeployIssueModelResponse) == ci.DeployIssueModelResponse()
    metadata = unpack(op.metadata, ci.DeployIssueModelMetadata)
    assert metadata.request.name == model.name and metadata.end_time
    assert client.get_issue_model(name=model.name).state == State.DEPLOYED

    undeploy = client.undeploy_issue_model(name=model.name).operation
    assert client.get_issue_model(name=model.name).state == State.UNDEPLOYING
    op = wait_done(client, undeploy.name)
    assert unpack(op.response, ci.UndeployIssueModelResponse) == ci.UndeployIssueModelResponse()
    assert unpack(op.metadata, ci.UndeployIssueModelMetadata).request.name == model.name
    assert client.get_issue_model(name=model.name).state == State.UNDEPLOYED


def test_deploy_and_undeploy_need_the_right_state(client: Client) -> None:
    model = trained_model(client)
    err = error_of(lambda: client.undeploy_issue_model(name=model.name))
    assert status_of(err) == "FAILED_PRECONDITION" and "UNDEPLOYED" in err.message

    deploy = client.deploy_issue_model(name=model.name).operation
    err = error_of(lambda: client.deploy_issue_model(name=model.name))
    assert status_of(err) == "FAILED_PRECONDITION" and "DEPLOYING" in err.message
    wait_done(client, deploy.name)

    err = error_of(lambda: client.deploy_issue_model(name=model.name))
    assert status_of(err) == "FAILED_PRECONDITION" and "DEPLOYED" in err.message
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.DEPLOYED


def test_delete_needs_undeployed_then_removes_the_model(client: Client) -> None:
    model = deployed_model(client)
    err = error_of(lambda: client.delete_issue_model(name=model.name))
    assert status_of(err) == "FAILED_PRECONDITION" and model.name in err.message
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.DEPLOYED

    wait_done(client, client.undeploy_issue_model(name=model.name).operation.name)
    delete = client.delete_issue_model(name=model.name).operation
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.DELETING
    op = wait_done(client, delete.name)
    assert not op.HasField("error")
    assert op.response.type_url == "type.googleapis.com/google.protobuf.Empty"
    empty = empty_pb2.Empty()
    assert op.response.Unpack(empty)
    assert unpack(op.metadata, ci.DeleteIssueModelMetadata).request.name == model.name

    err = error_of(lambda: client.get_issue_model(name=model.name))
    assert isinstance(err, exceptions.NotFound) and model.name in err.message
    assert client.list_issue_models(parent=PARENT).issue_models == []


@pytest.mark.parametrize(
    "method", ["get_issue_model", "deploy_issue_model", "undeploy_issue_model", "delete_issue_model"]
)
def test_unknown_issue_model_is_not_found(client: Client, method: str) -> None:
    name = f"{PARENT}/issueModels/424242"
    err = error_of(lambda: getattr(client, method)(name=name))
    assert isinstance(err, exceptions.NotFound)
    assert status_of(err) == "NOT_FOUND" and name in err.message


def test_cancel_running_deploy_restores_state(client: Client) -> None:
    model = trained_model(client)
    name = client.deploy_issue_model(name=model.name).operation.name
    client.cancel_operation(request={"name": name})
    assert wait_done(client, name).error.code == 1
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.UNDEPLOYED


def test_failed_deploy_rolls_back_state(client: Client, emulator: Emulator) -> None:
    model = trained_model(client)
    emulator.fail_next_operations(1)
    op = wait_done(client, client.deploy_issue_model(name=model.name).operation.name)
    assert (op.error.code, op.error.message) == (13, "Injected failure")
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.UNDEPLOYED


# -- one deployed model per location (DeployIssueModel: "Returns an error if a model is already deployed") ---
def _deploy_refused(api: Client, name: str, blocker: str, blocker_state: str) -> None:
    err = error_of(lambda: api.deploy_issue_model(name=name))
    assert status_of(err) == "FAILED_PRECONDITION", err
    assert blocker in err.message and blocker_state in err.message, err.message
    assert api.get_issue_model(name=name).state == State.UNDEPLOYED, "the refused model is untouched"


def test_one_deployed_model_per_location(api: Client) -> None:
    """DeployIssueModel: "Returns an error if a model is already deployed." (refused at the call)."""
    first, second = trained_model(api, "first"), trained_model(api, "second")
    deploy = api.deploy_issue_model(name=first.name).operation
    _deploy_refused(api, second.name, first.name, "DEPLOYING")
    wait_done(api, deploy.name)
    _deploy_refused(api, second.name, first.name, "DEPLOYED")

    undeploy = api.undeploy_issue_model(name=first.name).operation
    _deploy_refused(api, second.name, first.name, "UNDEPLOYING")
    wait_done(api, undeploy.name)
    op = wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert not op.HasField("error")
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED
    assert api.get_issue_model(name=first.name).state == State.UNDEPLOYED


def test_another_location_deploys_independently(api: Client) -> None:
    first = trained_model(api, "here")
    wait_done(api, api.deploy_issue_model(name=first.name).operation.name)
    other_parent = PARENT.replace("us-central1", "europe-west1")
    lro = api.create_issue_model(parent=other_parent, issue_model={"display_name": "there"})
    name = unpack(wait_done(api, lro.operation.name).response, ci.IssueModel).name
    wait_done(api, api.deploy_issue_model(name=name).operation.name)
    assert api.get_issue_model(name=name).state == State.DEPLOYED
    assert api.get_issue_model(name=first.name).state == State.DEPLOYED


def test_cancelled_deploy_frees_the_slot(api: Client) -> None:
    first, second = trained_model(api, "first"), trained_model(api, "second")
    deploy = api.deploy_issue_model(name=first.name).operation
    api.cancel_operation(request={"name": deploy.name})
    assert wait_done(api, deploy.name).error.code == 1
    wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED


def test_failed_deploy_frees_the_slot(api: Client, emulator: Emulator) -> None:
    first, second = trained_model(api, "first"), trained_model(api, "second")
    emulator.fail_next_operations(1)
    assert wait_done(api, api.deploy_issue_model(name=first.name).operation.name).error.code == 13
    wait_done(api, api.deploy_issue_model(name=second.name).operation.name)
    assert api.get_issue_model(name=second.name).state == State.DEPLOYED


@pytest.mark.parametrize("deployed", [False, True])
def test_bulk_analyze_accepts_an_issue_model_in_any_state(api: Client, deployed: bool) -> None:
    """AnnotatorSelector.issue_models: "will only be used for inference if the issue model is deployed"
    (a model that is not deployed is skipped, not refused); the effect is not visible in the RPCs served."""
    model = trained_model(api)
    if deployed:
        wait_done(api, api.deploy_issue_model(name=model.name).operation.name)
    lro = api.bulk_analyze_conversations(request={
        "parent": PARENT, "filter": 'medium="CHAT"', "analysis_percentage": 10,
        "annotator_selector": {"run_issue_model_annotator": True, "issue_models": [model.name]},
    })
    assert not wait_done(api, lro.operation.name).HasField("error")


# -- bulk analyze, ingest, export ------------------------------------------------------------------
def _poll_metadata(
    client: Client, name: str, metadata_type: Any
) -> tuple[list[Any], operations_pb2.Operation]:
    """Every metadata seen while polling ``name`` until done, and the finished operation."""
    seen = []
    deadline = time.monotonic() + BOUND_S
    while True:
        op = client.get_operation(request={"name": name}, retry=None)
        metadata = unpack(op.metadata, metadata_type)
        seen.append(metadata)
        if op.done:
            return seen, op
        assert "end_time" not in metadata, "a running operation has no end_time"
        assert time.monotonic() < deadline
        time.sleep(POLL_S)


def test_bulk_analyze_reports_growing_progress(client: Client) -> None:
    lro = client.bulk_analyze_conversations(parent=PARENT, filter=CHAT_FILTER, analysis_percentage=50)
    first = unpack(lro.operation.metadata, ci.BulkAnalyzeConversationsMetadata)
    assert first.completed_analyses_count == 0 and first.create_time
    assert first.request.parent == PARENT
    assert first.request.filter == CHAT_FILTER
    assert math.isclose(first.request.analysis_percentage, 50)

    seen, op = _poll_metadata(client, lro.operation.name, ci.BulkAnalyzeConversationsMetadata)
    completed = [m.completed_analyses_count for m in seen]
    assert completed == sorted(completed), completed
    assert len(set(completed)) >= 3, f"progress should be visible while running: {completed}"
    total = first.total_requested_analyses_count
    assert total > 0
    assert {m.total_requested_analyses_count for m in seen} == {total}

    last = seen[-1]
    assert last.end_time >= last.create_time
    assert last.completed_analyses_count + last.failed_analyses_count == total
    response = unpack(op.response, ci.BulkAnalyzeConversationsResponse)
    assert response.successful_analysis_count == last.completed_analyses_count
    assert response.failed_analysis_count == last.failed_analyses_count


def test_ingest_conversations_reports_stats(client: Client) -> None:
    uri = "gs://my-bucket/transcripts"
    lro = client.ingest_conversations(
        request={"parent": PARENT, "gcs_source": {"bucket_uri": uri}, "sample_size": 40}
    )
    seen, op = _poll_metadata(client, lro.operation.name, ci.IngestConversationsMetadata)
    processed = [m.ingest_conversations_stats.processed_object_count for m in seen]
    assert processed == sorted(processed) and processed[0] < processed[-1] == 40
    last = seen[-1]
    assert last.request.gcs_source.bucket_uri == uri
    assert last.request.sample_size == 40
    assert last.create_time and last.end_time >= last.create_time
    stats = last.ingest_conversations_stats
    assert stats.successful_ingest_count + stats.duplicates_skipped_count + stats.failed_ingest_count == 40
    assert unpack(op.response, ci.IngestConversationsResponse) == ci.IngestConversationsResponse()


def test_export_insights_data_echoes_the_destination(client: Client) -> None:
    lro = client.export_insights_data(
        request={
            "parent": PARENT,
            "filter": CHAT_FILTER,
            "big_query_destination": {"project_id": "bq-project", "dataset": "insights", "table": "export"},
        }
    )
    assert "end_time" not in unpack(lro.operation.metadata, ci.ExportInsightsDataMetadata)
    op = wait_done(client, lro.operation.name)
    metadata = unpack(op.metadata, ci.ExportInsightsDataMetadata)
    destination = metadata.request.big_query_destination
    assert (destination.project_id, destination.dataset, destination.table) == (
        "bq-project",
        "insights",
        "export",
    )
    assert metadata.request.filter == CHAT_FILTER
    assert metadata.create_time and metadata.end_time >= metadata.create_time
    assert unpack(op.response, ci.ExportInsightsDataResponse) == ci.ExportInsightsDataResponse()


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("ingest_conversations", {"gcs_source": {"bucket_uri": "s3://bucket/x"}}, "'s3://bucket/x'"),
    ("ingest_conversations", {"gcs_source": {"bucket_uri": "gs://"}}, "'gs://'"),
    ("ingest_conversations", {}, "bucket_uri"),
    (
        "bulk_analyze_conversations",
        {"filter": CHAT_FILTER, "analysis_percentage": 0},
        "analysis_percentage 0",
    ),
    (
        "bulk_analyze_conversations",
        {"filter": CHAT_FILTER, "analysis_percentage": 101},
        "analysis_percentage 101",
    ),
    ("bulk_analyze_conversations", {"filter": " ", "analysis_percentage": 10}, "filter"),
    ("export_insights_data", {}, "big_query_destination"),
    ("export_insights_data", {"big_query_destination": {"table": "t"}}, "big_query_destination"),
]


@pytest.mark.parametrize(("method", "fields", "named"), BAD_INPUTS)
def test_bad_inputs_are_invalid_argument(
    client: Client, method: str, fields: dict[str, Any], named: str
) -> None:
    err = error_of(lambda: getattr(client, method)(request={"parent": PARENT, **fields}))
    assert status_of(err) == "INVALID_ARGUMENT" and named in err.message
    assert client.list_operations(request={"name": PARENT}).operations == [], "no operation started"
