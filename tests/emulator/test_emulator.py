"""The emulator, driven by the unchanged generated client over loopback (gRPC, REST, grpc_asyncio)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format, timestamp_pb2

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

Client = ci.ContactCenterInsightsClient
SEED = Path(__file__).parent.parent / "fixtures" / "issue-model-operation.json"
TYPE_PREFIX = "type.googleapis.com/google.cloud.contactcenterinsights.v1."
POLL_S = 0.05
BOUND_S = 10.0
CHAT_FILTER = 'medium="CHAT"'


# -- clients ------------------------------------------------------------------------------------
def _grpc_client(emu: Emulator) -> tuple[Client, Callable[[], None]]:
    channel = grpc.insecure_channel(emu.grpc_target)
    return Client(transport=ContactCenterInsightsGrpcTransport(channel=channel)), channel.close


def _rest_client(emu: Emulator) -> tuple[Client, Callable[[], None]]:
    client = Client(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=emu.rest_url),
    )
    return client, client.transport.close


@pytest.fixture
def grpc_client(emulator: Emulator) -> Iterator[Client]:
    client, close = _grpc_client(emulator)
    yield client
    close()


@pytest.fixture
def rest_client(emulator: Emulator) -> Iterator[Client]:
    client, close = _rest_client(emulator)
    yield client
    close()


@pytest.fixture(params=["grpc", "rest"])
def client(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Client]:
    """The same test over the gRPC and the REST transport."""
    made, close = (_grpc_client if request.param == "grpc" else _rest_client)(emulator)
    yield made
    close()


@pytest.fixture
async def async_client(emulator: Emulator) -> AsyncIterator[ci.ContactCenterInsightsAsyncClient]:
    channel = grpc.aio.insecure_channel(emulator.grpc_target)
    yield ci.ContactCenterInsightsAsyncClient(
        transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel)
    )
    await channel.close()


# -- helpers ------------------------------------------------------------------------------------
def wait_done(client: Client, name: str) -> operations_pb2.Operation:
    deadline = time.monotonic() + BOUND_S
    while True:
        op = client.get_operation(request={"name": name}, retry=None)
        if op.done:
            return op
        assert time.monotonic() < deadline, f"operation {name} not done within {BOUND_S} s"
        time.sleep(POLL_S)


def unpack(any_value: Any, proto_type: Any) -> Any:
    """An ``Any`` as the proto-plus ``proto_type``, after checking its type URL."""
    assert any_value.type_url == "type.googleapis.com/" + proto_type.pb().DESCRIPTOR.full_name
    return proto_type.deserialize(any_value.value)


def start_create(client: Client, display_name: str = "my-model", filter_: str = CHAT_FILTER) -> str:
    lro = client.create_issue_model(
        parent=PARENT,
        issue_model={
            "display_name": display_name,
            "input_data_config": {"medium": "CHAT", "filter": filter_, "training_conversations_count": 12000},
        },
    )
    return str(lro.operation.name)


def trained_model(
    client: Client, display_name: str = "my-model", filter_: str = CHAT_FILTER
) -> ci.IssueModel:
    op = wait_done(client, start_create(client, display_name, filter_))
    assert not op.HasField("error"), op.error
    return unpack(op.response, ci.IssueModel)


def deployed_model(client: Client) -> ci.IssueModel:
    model = trained_model(client)
    wait_done(client, client.deploy_issue_model(name=model.name).operation.name)
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.DEPLOYED
    return model


def error_of(call: Callable[[], object]) -> exceptions.GoogleAPICallError:
    with pytest.raises(exceptions.GoogleAPICallError) as info:
        call()
    return info.value


def status_of(exc: exceptions.GoogleAPICallError) -> str:
    """The canonical status: from the JSON error body over REST, from the gRPC status otherwise."""
    if isinstance(exc.response, requests.Response):
        return str(exc.response.json()["error"]["status"])
    assert exc.grpc_status_code is not None
    return str(exc.grpc_status_code.name)


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


# -- 1. create an issue model -------------------------------------------------------------------
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


# -- 2. the REST JSON of a finished operation ---------------------------------------------------
def _assert_shape(seed: Any, actual: Any, path: str = "$") -> None:
    """Every key of ``seed`` is in ``actual`` (recursively), with a value of the same JSON type."""
    if isinstance(seed, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        if path.endswith(".issueStats"):  # a map keyed by issue name: compare entries to the seed's
            template = next(iter(seed.values()))
            assert actual, f"{path} is empty"
            for key, value in actual.items():
                assert value["issue"] == key
                _assert_shape(template, value, f"{path}[{key}]")
            return
        missing = seed.keys() - actual.keys()
        assert not missing, f"{path}: missing {sorted(missing)}"
        for key, value in seed.items():
            _assert_shape(value, actual[key], f"{path}.{key}")
    else:
        assert type(actual) is type(seed), f"{path}: {actual!r} is not a {type(seed).__name__}"


def test_rest_operation_json_has_the_seed_shape(emulator: Emulator, grpc_client: Client) -> None:
    seed = json.loads(SEED.read_text())
    config = seed["metadata"]["request"]["issueModel"]["inputDataConfig"]
    lro = grpc_client.create_issue_model(
        parent=PARENT,
        issue_model={
            "display_name": "MODEL_NAME",
            "input_data_config": {
                "medium": config["medium"],
                "filter": config["filter"],
                "training_conversations_count": int(config["trainingConversationsCount"]),
            },
        },
    )
    op = wait_done(grpc_client, lro.operation.name)

    http = requests.get(f"{emulator.rest_url}/v1/{op.name}", timeout=10)
    assert http.status_code == 200
    assert http.headers["Content-Type"].startswith("application/json")
    parsed = json_format.Parse(http.text, operations_pb2.Operation())
    # The same operation as over gRPC (unpacked: a map's bytes inside an Any have no canonical order).
    assert (parsed.name, parsed.done) == (op.name, True)
    assert unpack(parsed.metadata, ci.CreateIssueModelMetadata) == unpack(
        op.metadata, ci.CreateIssueModelMetadata
    )
    assert unpack(parsed.response, ci.IssueModel) == unpack(op.response, ci.IssueModel)

    body = http.json()
    _assert_shape(seed, body)
    assert body["done"] is True
    assert body["metadata"]["@type"] == seed["metadata"]["@type"]
    assert body["response"]["@type"] == seed["response"]["@type"]
    response, request = body["response"], body["metadata"]["request"]
    assert response["state"] == "UNDEPLOYED"
    assert response["inputDataConfig"]["medium"] == "CHAT"
    assert request["issueModel"]["inputDataConfig"]["medium"] == "CHAT"
    assert request["issueModel"]["inputDataConfig"]["trainingConversationsCount"] == "12000"
    assert request["parent"] == PARENT
    stats = response["trainingStats"]
    int64s = [
        response["inputDataConfig"]["trainingConversationsCount"],
        stats["analyzedConversationsCount"],
        stats["unclassifiedConversationsCount"],
        response["issueCount"],
        *(entry["labeledConversationsCount"] for entry in stats["issueStats"].values()),
    ]
    assert all(isinstance(value, str) and value.isdigit() for value in int64s), int64s
    for stamp in (body["metadata"]["createTime"], body["metadata"]["endTime"], response["createTime"]):
        timestamp_pb2.Timestamp().FromJsonString(stamp)  # RFC 3339, or this raises


# -- 3. deploy, undeploy, delete ----------------------------------------------------------------
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


def test_unknown_operation_is_not_found(client: Client) -> None:
    name = f"{PARENT}/operations/123"
    for call in (client.get_operation, client.cancel_operation):
        err = error_of(lambda call=call: call(request={"name": name}))
        assert isinstance(err, exceptions.NotFound) and name in err.message


# Names the REST client can still put in its URL (they match the path template) but are not valid ids.
BAD_MODEL_NAMES = ["projects/p/locations/l/issueModels/bad id", "projects/p q/locations/l/issueModels/1"]


@pytest.mark.parametrize("name", BAD_MODEL_NAMES)
def test_malformed_issue_model_name_is_invalid_argument(client: Client, name: str) -> None:
    for method in ("get_issue_model", "deploy_issue_model", "delete_issue_model"):
        err = error_of(lambda method=method: getattr(client, method)(name=name))
        assert status_of(err) == "INVALID_ARGUMENT", (method, err)
        assert repr(name) in err.message


def test_malformed_names_over_grpc_only(grpc_client: Client) -> None:
    """Names the REST client refuses itself (no matching URL) reach the server over gRPC."""
    for name in ("bogus", "projects/p/issueModels/1", f"{PARENT}/issueModels/1/extra", ""):
        err = error_of(lambda name=name: grpc_client.get_issue_model(name=name))
        assert isinstance(err, exceptions.InvalidArgument) and repr(name) in err.message
    err = error_of(lambda: grpc_client.get_operation(request={"name": "operations/1"}))
    assert isinstance(err, exceptions.InvalidArgument) and "'operations/1'" in err.message
    err = error_of(lambda: grpc_client.create_issue_model(parent="projects/p", issue_model={}))
    assert isinstance(err, exceptions.InvalidArgument) and "'projects/p'" in err.message


def test_malformed_operation_name_is_invalid_argument(client: Client) -> None:
    name = "projects/p/locations/l/operations/bad id"
    err = error_of(lambda: client.get_operation(request={"name": name}))
    assert status_of(err) == "INVALID_ARGUMENT" and repr(name) in err.message


# -- 4. bulk analyze, ingest, export ------------------------------------------------------------
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


def test_a_finished_export_leaves_its_bigquery_table_for_bigquerys_own_client(
    emulator: Emulator, grpc_client: Client,
) -> None:
    from google.cloud import bigquery

    from ccai_airflow.emulator.bigquery import EXPORT_SCHEMA

    bq = bigquery.Client(project="bq-project", credentials=AnonymousCredentials(),
                         client_options=ClientOptions(api_endpoint=emulator.rest_url))
    destination = {"project_id": "bq-project", "dataset": "insights", "table": "export"}
    lro = grpc_client.export_insights_data(request={"parent": PARENT, "big_query_destination": destination})
    with pytest.raises(exceptions.NotFound, match=r"Not found: Table bq-project:insights\.export"):
        bq.get_table("bq-project.insights.export", retry=None)  # not written until the export is done
    wait_done(grpc_client, lro.operation.name)
    # No project_id: the export writes to the resource's project (BigQueryDestination.project_id).
    default = grpc_client.export_insights_data(
        request={"parent": PARENT, "big_query_destination": {"dataset": "insights", "table": "t"}})
    wait_done(grpc_client, default.operation.name)

    table = bq.get_table("bq-project.insights.export", retry=None)
    assert (table.project, table.dataset_id, table.table_id) == ("bq-project", "insights", "export")
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        (c["name"], c["type"], c["mode"]) for c in EXPORT_SCHEMA]
    assert [f.name for f in table.schema[-1].fields] == ["name"]  # issues.name, a repeated record's field
    assert bq.get_table("test-project.insights.t", retry=None).table_id == "t"


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


# -- 5. cancel and list -------------------------------------------------------------------------
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


def test_cancel_running_deploy_restores_state(client: Client) -> None:
    model = trained_model(client)
    name = client.deploy_issue_model(name=model.name).operation.name
    client.cancel_operation(request={"name": name})
    assert wait_done(client, name).error.code == 1
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.UNDEPLOYED


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


# -- 6. controls (Python API) -------------------------------------------------------------------
def test_fail_next_operations(client: Client, emulator: Emulator) -> None:
    emulator.fail_next_operations(2, code="RESOURCE_EXHAUSTED", message="quota")
    first, second, third = (start_create(client, f"m{i}") for i in range(3))
    for name in (first, second):
        op = wait_done(client, name)
        assert (op.error.code, op.error.message) == (8, "quota")
        assert not op.HasField("response")
    model = unpack(wait_done(client, third).response, ci.IssueModel)
    assert [m.name for m in client.list_issue_models(parent=PARENT).issue_models] == [model.name]


def test_failed_deploy_rolls_back_state(client: Client, emulator: Emulator) -> None:
    model = trained_model(client)
    emulator.fail_next_operations(1)
    op = wait_done(client, client.deploy_issue_model(name=model.name).operation.name)
    assert (op.error.code, op.error.message) == (13, "Injected failure")
    assert client.get_issue_model(name=model.name).state == ci.IssueModel.State.UNDEPLOYED


def test_fault_fails_every_call_until_cleared(client: Client, emulator: Emulator) -> None:
    name = start_create(client)
    emulator.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=1.0)
    for _ in range(3):
        err = error_of(lambda: client.get_operation(request={"name": name}, retry=None))
        assert isinstance(err, exceptions.ServiceUnavailable)
        assert "GetOperation" in err.message
    assert emulator.call_counts()["GetOperation"] == 3, "faulted calls are counted"
    emulator.clear_faults()
    assert client.get_operation(request={"name": name}, retry=None).name == name
    assert emulator.call_counts()["GetOperation"] == 4


async def test_fault_over_grpc_asyncio(
    emulator: Emulator, async_client: ci.ContactCenterInsightsAsyncClient
) -> None:
    emulator.inject_fault(rpc="*", code="RESOURCE_EXHAUSTED", rate=1.0)
    with pytest.raises(exceptions.ResourceExhausted):
        await async_client.list_issue_models(parent=PARENT, retry=None)
    emulator.clear_faults()
    assert (await async_client.list_issue_models(parent=PARENT)).issue_models == []


def _fault_pattern(emu: Emulator, rate: float, calls: int) -> list[bool]:
    client, close = _grpc_client(emu)
    try:
        name = start_create(client)
        emu.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=rate)
        pattern = []
        for _ in range(calls):
            try:
                assert client.get_operation(request={"name": name}, retry=None).name == name
                pattern.append(False)
            except exceptions.ServiceUnavailable:
                pattern.append(True)
        return pattern
    finally:
        close()


def test_partial_fault_rate_is_seeded(emulator: Emulator) -> None:
    pattern = _fault_pattern(emulator, 0.3, 50)
    assert 0 < sum(pattern) < 50, pattern
    assert 5 <= sum(pattern) <= 25, f"about 30% of 50 calls should fail, got {sum(pattern)}"
    assert emulator.call_counts()["GetOperation"] == 50
    with Emulator(operation_seconds=0.3, seed=1234) as twin:
        assert _fault_pattern(twin, 0.3, 50) == pattern, "the same seed draws the same faults"


def test_latency_only_fault_slows_calls(client: Client, emulator: Emulator) -> None:
    name = start_create(client)
    emulator.inject_fault(rpc="GetOperation", code="OK", rate=1.0, latency_s=0.2)
    started = time.monotonic()
    for _ in range(2):
        assert client.get_operation(request={"name": name}, retry=None).name == name
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    client.list_issue_models(parent=PARENT)
    assert time.monotonic() - started < 0.2, "other RPCs are not slowed"


def test_call_counts_count_every_rpc(client: Client, emulator: Emulator) -> None:
    assert emulator.call_counts() == {}
    model = trained_model(client)
    client.get_issue_model(name=model.name)
    error_of(lambda: client.get_issue_model(name=f"{PARENT}/issueModels/9"))
    counts = emulator.call_counts()
    assert counts["CreateIssueModel"] == 1
    assert counts["GetIssueModel"] == 2, "failed calls count too"
    assert counts["GetOperation"] >= 1


INVALID_CONTROLS: list[tuple[Callable[[Emulator], object], str]] = [
    (lambda e: e.inject_fault(rpc="NoSuchRpc"), "'NoSuchRpc'"),
    (lambda e: e.inject_fault(rate=2), "rate 2"),
    (lambda e: e.inject_fault(rate=-0.1), "rate -0.1"),
    (lambda e: e.inject_fault(code="BOGUS"), "'BOGUS'"),
    (lambda e: e.inject_fault(latency_s=-1), "latency_s -1"),
    (lambda e: e.fail_next_operations(1, code="BOGUS"), "'BOGUS'"),
    (lambda e: e.fail_next_operations(1, code="OK"), "'OK'"),
    (lambda e: e.fail_next_operations(-1), "n -1"),
    (lambda e: e.fail_next_operations(10**12), "n 1000000000000"),
    (lambda e: e.set_operation_seconds(-1), "-1"),
    (lambda e: e.set_operation_seconds(math.nan), "nan"),
]


@pytest.mark.parametrize(("control", "named"), INVALID_CONTROLS)
def test_invalid_control_arguments(
    emulator: Emulator, control: Callable[[Emulator], object], named: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as info:
        control(emulator)
    assert named in info.value.message


def test_nan_operation_seconds_cannot_stall_operations(emulator: Emulator, grpc_client: Client) -> None:
    """Regression: a NaN due time sat at the top of the due heap and no operation ever finished."""
    with pytest.raises(exceptions.InvalidArgument):
        emulator.set_operation_seconds(math.nan)
    assert wait_done(grpc_client, start_create(grpc_client)).HasField("response")


# -- 7. controls over HTTP ----------------------------------------------------------------------
def test_http_fail_next_operations(emulator: Emulator, client: Client) -> None:
    http = requests.post(
        f"{emulator.rest_url}/emulator/v1/failNextOperations",
        json={"n": 1, "code": "INTERNAL", "message": "x"},
        timeout=10,
    )
    assert (http.status_code, http.json()) == (200, {})
    op = wait_done(client, start_create(client))
    assert (op.error.code, op.error.message) == (13, "x")
    assert wait_done(client, start_create(client)).HasField("response")


def test_http_faults_counts_and_clear(emulator: Emulator, client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1"
    name = start_create(client)
    rule = {"rpc": "GetOperation", "code": "UNAVAILABLE", "rate": 1.0}
    http = requests.post(f"{url}/faults", json=rule, timeout=10)
    assert http.status_code == 200
    echoed = http.json()  # the rule as stored (later versions may add fields)
    assert {key: echoed[key] for key in (*rule, "latency_s")} == {**rule, "latency_s": 0.0}

    err = error_of(lambda: client.get_operation(request={"name": name}, retry=None))
    assert isinstance(err, exceptions.ServiceUnavailable)
    raw = requests.get(f"{emulator.rest_url}/v1/{name}", timeout=10)
    assert raw.status_code == 503 and raw.json()["error"]["status"] == "UNAVAILABLE"
    counts = requests.get(f"{url}/callCounts", timeout=10)
    assert counts.json() == {"CreateIssueModel": 1, "GetOperation": 2}

    assert requests.delete(f"{url}/faults", timeout=10).status_code == 200
    assert client.get_operation(request={"name": name}, retry=None).name == name
    assert requests.get(f"{url}/callCounts", timeout=10).json()["GetOperation"] == 3


def test_http_call_times_and_peak_in_flight(emulator: Emulator, grpc_client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1"
    name = start_create(grpc_client)
    emulator.inject_fault("GetOperation", code="OK", latency_s=0.3)
    before = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: grpc_client.get_operation(request={"name": name}), range(3)))
    times = requests.get(f"{url}/callTimes", params={"rpc": "GetOperation"}, timeout=10).json()
    assert len(times) == 3 and all(before <= t <= time.monotonic() for t in times)  # one monotonic clock (Linux)
    assert requests.get(f"{url}/peakInFlight", timeout=10).json() == {"CreateIssueModel": 1, "GetOperation": 3}
    assert emulator.peak_in_flight("GetOperation") == 3
    bad = requests.get(f"{url}/callTimes", params={"rpc": "Nope"}, timeout=10)
    assert bad.status_code == 400 and "'Nope'" in bad.json()["error"]["message"]


def test_http_operation_seconds(emulator: Emulator, grpc_client: Client) -> None:
    url = f"{emulator.rest_url}/emulator/v1/operationSeconds"
    assert requests.post(url, json={"seconds": 5}, timeout=10).status_code == 200
    slow = start_create(grpc_client, "slow")
    assert requests.post(url, json={"seconds": 0.1}, timeout=10).status_code == 200
    fast = start_create(grpc_client, "fast")
    time.sleep(0.3)
    assert grpc_client.get_operation(request={"name": fast}).done
    assert not grpc_client.get_operation(request={"name": slow}).done, (
        "a started operation keeps its duration"
    )


HTTP_BAD_CONTROLS: list[tuple[str, str, Any, str]] = [
    ("POST", "failNextOperations", {"n": 1, "code": "BOGUS"}, "'BOGUS'"),
    ("POST", "failNextOperations", {"n": "1"}, "'1'"),
    ("POST", "failNextOperations", {"n": 10**12}, "1000000000000"),
    ("POST", "failNextOperations", {"count": 1}, "count"),
    ("POST", "failNextOperations", [1], "[1]"),
    ("POST", "faults", {"rpc": "Nope"}, "'Nope'"),
    ("POST", "faults", {"rpc": "GetOperation", "rate": 2}, "rate 2"),
    ("POST", "faults", {"rpc": "GetOperation", "code": "WHATEVER"}, "'WHATEVER'"),
    ("POST", "operationSeconds", {"seconds": -1}, "-1"),
    ("POST", "operationSeconds", {"seconds": "fast"}, "'fast'"),
    ("POST", "operationSeconds", "NaN", "nan"),
]


@pytest.mark.parametrize(("method", "action", "body", "named"), HTTP_BAD_CONTROLS)
def test_http_controls_reject_bad_arguments(
    emulator: Emulator, method: str, action: str, body: Any, named: str
) -> None:
    data = '{"seconds": NaN}' if body == "NaN" else json.dumps(body)
    http = requests.request(
        method,
        f"{emulator.rest_url}/emulator/v1/{action}",
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert http.status_code == 400
    error = http.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert named in error["message"]
    assert requests.get(f"{emulator.rest_url}/emulator/v1/callCounts", timeout=10).json() == {}


def test_http_unknown_control_is_not_found(emulator: Emulator) -> None:
    for method, action in (("GET", "nothing"), ("GET", "faults"), ("POST", "callCounts")):
        http = requests.request(method, f"{emulator.rest_url}/emulator/v1/{action}", timeout=10)
        assert http.status_code == 404 and http.json()["error"]["status"] == "NOT_FOUND"


# -- 8. REST robustness -------------------------------------------------------------------------
CREATE_PATH = f"/v1/{PARENT}/issueModels"
BAD_HTTP: list[tuple[str, str, bytes, str, int, str]] = [
    (
        "malformed JSON",
        f"POST {CREATE_PATH}",
        b'{"displayName": ',
        "application/json",
        400,
        "INVALID_ARGUMENT",
    ),
    ("body of wrong JSON type", f"POST {CREATE_PATH}", b"123", "application/json", 400, "INVALID_ARGUMENT"),
    ("unknown field", f"POST {CREATE_PATH}", b'{"nope": 1}', "application/json", 400, "INVALID_ARGUMENT"),
    ("wrong content type", f"POST {CREATE_PATH}", b"displayName=x", "text/plain", 415, "INVALID_ARGUMENT"),
    ("unknown path", "GET /v2/whatever", b"", "application/json", 404, "NOT_FOUND"),
    (
        "oversized body",
        f"POST {CREATE_PATH}",
        b'{"displayName": "' + b"x" * (1024 * 1024 + 1) + b'"}',
        "application/json",
        413,
        "",
    ),
    ("wrong method", f"PUT {CREATE_PATH}", b"{}", "application/json", 404, "NOT_FOUND"),
    (
        "wrong method on an operation",
        f"DELETE /v1/{PARENT}/operations/1",
        b"",
        "application/json",
        404,
        "NOT_FOUND",
    ),
    (
        "unknown query parameter",
        f"GET /v1/{PARENT}/operations?color=red",
        b"",
        "application/json",
        400,
        "INVALID_ARGUMENT",
    ),
]


@pytest.mark.parametrize(
    ("case", "call", "body", "content_type", "code", "status"), BAD_HTTP, ids=[case[0] for case in BAD_HTTP]
)
def test_rest_rejects_bad_requests_and_keeps_serving(
    emulator: Emulator, case: str, call: str, body: bytes, content_type: str, code: int, status: str
) -> None:
    method, path = call.split(" ", 1)
    with requests.Session() as session:  # one kept-alive connection: the bad request must not poison it
        http = session.request(
            method,
            emulator.rest_url + path,
            data=body or None,
            headers={"Content-Type": content_type},
            timeout=10,
        )
        assert http.status_code == code, http.text
        assert http.headers["Content-Type"].startswith("application/json")
        error = http.json()["error"]
        assert error["code"] == code and error["message"]
        if status:
            assert error["status"] == status
        ok = session.get(f"{emulator.rest_url}/v1/{PARENT}/issueModels", timeout=10)
        assert (ok.status_code, ok.json()) == (200, {})
    assert "CreateIssueModel" not in emulator.call_counts()


@pytest.mark.parametrize(
    ("medium", "expected"),
    [
        ("CHAT", "CHAT"),
        (2, "CHAT"),
        ("PHONE_CALL", "PHONE_CALL"),
        (int(ci.Conversation.Medium.PHONE_CALL), "PHONE_CALL"),
    ],
)
def test_rest_enums_as_names_or_numbers(emulator: Emulator, medium: str | int, expected: str) -> None:
    assert ci.Conversation.Medium.CHAT == 2
    http = requests.post(
        f"{emulator.rest_url}{CREATE_PATH}",
        json={"displayName": "enums", "inputDataConfig": {"medium": medium}},
        timeout=10,
    )
    assert http.status_code == 200, http.text
    name = http.json()["name"]
    assert http.json()["metadata"]["request"]["issueModel"]["inputDataConfig"]["medium"] == expected
    deadline = time.monotonic() + BOUND_S
    while not (op := requests.get(f"{emulator.rest_url}/v1/{name}", timeout=10).json()).get("done"):
        assert time.monotonic() < deadline
        time.sleep(POLL_S)
    assert op["response"]["inputDataConfig"]["medium"] == expected
    assert op["response"]["state"] == "UNDEPLOYED"


def test_rest_unknown_enum_name_is_invalid_argument(emulator: Emulator) -> None:
    http = requests.post(
        f"{emulator.rest_url}{CREATE_PATH}", json={"inputDataConfig": {"medium": "FAX"}}, timeout=10
    )
    assert http.status_code == 400
    assert http.json()["error"]["status"] == "INVALID_ARGUMENT" and "FAX" in http.json()["error"]["message"]


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
