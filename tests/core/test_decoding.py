"""Decoding an operation as the REST API shows it: the seed round trip, every Insights LRO type, unknown @type."""

from __future__ import annotations

import ast
import datetime
import inspect
import json
from typing import Any, NamedTuple

import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights import client as client_module
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, descriptor, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from ccai_airflow.core.outcome import (
    Status,
    decode_any,
    decode_operation,
    outcome_of,
)
from tests.operation_fixtures import (
    CREATE_TIME,
    ERROR_INFO_DECODED,
    MODEL_NAME,
    OP_NAME,
    TYPE_PREFIX,
    UNKNOWN_URL,
    canonical_payloads,
    error_info,
    issue_model,
    metadata_any,
    normalise_timestamps,
    pack,
    raw_class,
    unknown_any,
    unknown_decoded,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


# -- 1. the seed round trip --------------------------------------------------------------------
def test_seed_round_trip_equals_rest_json(seed: dict[str, Any], seed_operation: operations_pb2.Operation) -> None:
    decoded = decode_operation(seed_operation)

    assert set(decoded) == set(seed) == {"name", "metadata", "done", "response"}
    assert decoded["done"] is True
    assert normalise_timestamps(decoded) == normalise_timestamps(seed)


def test_seed_round_trip_keeps_rest_representation(seed_operation: operations_pb2.Operation) -> None:
    decoded = decode_operation(seed_operation)
    metadata, response = decoded["metadata"], decoded["response"]

    assert metadata["@type"] == TYPE_PREFIX + "google.cloud.contactcenterinsights.v1.CreateIssueModelMetadata"
    assert response["@type"] == TYPE_PREFIX + "google.cloud.contactcenterinsights.v1.IssueModel"
    # int64 as strings, enums as names, camelCase keys.
    assert metadata["request"]["issueModel"]["inputDataConfig"]["trainingConversationsCount"] == "12000"
    assert response["trainingStats"]["analyzedConversationsCount"] == "8000"
    assert response["state"] == "UNDEPLOYED"
    assert response["inputDataConfig"]["medium"] == "CHAT"
    assert normalise_timestamps(metadata["createTime"]) == datetime.datetime(
        2021, 1, 20, 10, 10, 10, 123000, tzinfo=datetime.UTC
    )


def test_seed_round_trip_is_json_and_stable(seed_operation: operations_pb2.Operation) -> None:
    decoded = decode_operation(seed_operation)

    assert json.loads(json.dumps(decoded)) == decoded
    reparsed = json_format.ParseDict(decoded, operations_pb2.Operation())
    assert canonical_payloads(reparsed) == canonical_payloads(seed_operation)
    assert decode_operation(reparsed) == decoded


def test_done_is_present_when_false() -> None:
    assert decode_operation(operations_pb2.Operation(name=OP_NAME)) == {"name": OP_NAME, "done": False}


def test_done_is_present_when_true_without_result() -> None:
    assert decode_operation(operations_pb2.Operation(name=OP_NAME, done=True)) == {"name": OP_NAME, "done": True}


# -- 2. every LRO of the Insights v1 API decodes -----------------------------------------------
class LroTypes(NamedTuple):
    method: str
    response_type: type[Message]
    metadata_type: type[Message]


def _resolve(expression: ast.expr, namespace: dict[str, Any]) -> type[Message]:
    """``resources.IssueModel`` in the client's source -> the raw protobuf class it names."""
    first, *rest = ast.unparse(expression).split(".")
    value = namespace[first]
    for attribute in rest:
        value = getattr(value, attribute)
    return raw_class(value)


def collect_lro_types() -> list[LroTypes]:
    """Each ``operation.from_gapic(response, client, <Response>, metadata_type=<Metadata>)`` of the client."""
    tree = ast.parse(inspect.getsource(client_module))
    namespace = vars(client_module)
    found: list[LroTypes] = []
    for class_node in tree.body:
        if not (isinstance(class_node, ast.ClassDef) and class_node.name == "ContactCenterInsightsClient"):
            continue
        for method in class_node.body:
            if not isinstance(method, ast.FunctionDef):
                continue
            for node in ast.walk(method):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "from_gapic"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "operation"
                ):
                    continue
                metadata = next(keyword.value for keyword in node.keywords if keyword.arg == "metadata_type")
                found.append(LroTypes(method.name, _resolve(node.args[2], namespace), _resolve(metadata, namespace)))
    return found


LRO_TYPES = collect_lro_types()

EXPECTED_LRO_METHODS = {
    "upload_conversation",
    "create_analysis",
    "bulk_analyze_conversations",
    "bulk_delete_conversations",
    "ingest_conversations",
    "export_insights_data",
    "create_issue_model",
    "delete_issue_model",
    "deploy_issue_model",
    "undeploy_issue_model",
    "export_issue_model",
    "import_issue_model",
    "initialize_encryption_spec",
    "query_metrics",
    "tune_qa_scorecard_revision",
    "bulk_upload_feedback_labels",
    "bulk_download_feedback_labels",
}


def test_introspection_finds_every_lro() -> None:
    methods = [lro.method for lro in LRO_TYPES]

    assert len(LRO_TYPES) >= 17
    assert len(methods) == len(set(methods))
    assert set(methods) >= EXPECTED_LRO_METHODS
    by_method = {lro.method: lro for lro in LRO_TYPES}
    assert by_method["delete_issue_model"].response_type.DESCRIPTOR.full_name == "google.protobuf.Empty"
    assert by_method["create_issue_model"].response_type is ci.IssueModel.pb()
    assert by_method["create_issue_model"].metadata_type is ci.CreateIssueModelMetadata.pb()


def _first_singular_string_field(message_type: type[Message]) -> Any:
    """The descriptor of the first non-repeated string field, or None."""
    for field in message_type.DESCRIPTOR.fields:
        if field.type == descriptor.FieldDescriptor.TYPE_STRING and not field.is_repeated:
            return field
    return None


@pytest.mark.parametrize("lro", LRO_TYPES, ids=[lro.method for lro in LRO_TYPES])
def test_every_lro_decodes(lro: LroTypes) -> None:
    metadata: Any = lro.metadata_type()
    has_create_time = "create_time" in lro.metadata_type.DESCRIPTOR.fields_by_name
    if has_create_time:
        metadata.create_time.FromJsonString(CREATE_TIME)
    response = lro.response_type()
    string_field = _first_singular_string_field(lro.response_type)
    if string_field is not None:
        setattr(response, string_field.name, "set-by-test")
    operation = operations_pb2.Operation(
        name=OP_NAME, done=True, metadata=pack(metadata), response=pack(response)
    )

    decoded = decode_operation(operation)
    outcome = outcome_of(operation)

    assert decoded["metadata"]["@type"] == TYPE_PREFIX + lro.metadata_type.DESCRIPTOR.full_name
    assert decoded["response"]["@type"] == TYPE_PREFIX + lro.response_type.DESCRIPTOR.full_name
    if has_create_time:
        assert decoded["metadata"]["createTime"] == CREATE_TIME
    else:  # QueryMetricsMetadata has no fields at all in v1
        assert decoded["metadata"] == {"@type": TYPE_PREFIX + lro.metadata_type.DESCRIPTOR.full_name}
    if string_field is not None:
        assert decoded["response"][string_field.json_name] == "set-by-test"
    assert outcome.status == Status.SUCCEEDED
    assert outcome.response == decoded["response"]
    assert outcome.operation == decoded
    assert json_format.ParseDict(decoded, operations_pb2.Operation()) == operation


def test_metadata_without_create_time_is_only_query_metrics() -> None:
    lacking = {
        lro.method for lro in LRO_TYPES if "create_time" not in lro.metadata_type.DESCRIPTOR.fields_by_name
    }
    assert lacking == {"query_metrics"}


# -- 3. unknown @type --------------------------------------------------------------------------
def test_decode_any_unknown_type_keeps_bytes_in_base64() -> None:
    assert decode_any(unknown_any()) == unknown_decoded()


def test_decode_any_empty_unknown_value() -> None:
    assert decode_any(any_pb2.Any(type_url=UNKNOWN_URL)) == {"@type": UNKNOWN_URL, "value": ""}


def test_unknown_metadata_with_known_response() -> None:
    operation = operations_pb2.Operation(
        name=OP_NAME, done=True, metadata=unknown_any(), response=pack(issue_model())
    )

    decoded = decode_operation(operation)

    assert decoded["metadata"] == unknown_decoded()
    assert decoded["response"]["@type"] == TYPE_PREFIX + "google.cloud.contactcenterinsights.v1.IssueModel"
    assert decoded["response"]["name"] == MODEL_NAME
    assert outcome_of(operation).status == Status.SUCCEEDED


def test_known_metadata_with_unknown_response() -> None:
    operation = operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any(), response=unknown_any())

    decoded = decode_operation(operation)

    assert decoded == {
        "name": OP_NAME,
        "metadata": {
            "@type": TYPE_PREFIX + "google.cloud.contactcenterinsights.v1.CreateIssueModelMetadata",
            "createTime": CREATE_TIME,
        },
        "done": True,
        "response": unknown_decoded(),
    }
    outcome = outcome_of(operation)
    assert outcome.status == Status.SUCCEEDED
    assert outcome.response == unknown_decoded()


def test_unknown_error_detail_beside_known_one() -> None:
    error = status_pb2.Status(code=code_pb2.INTERNAL, message="boom", details=[unknown_any(), pack(error_info())])
    operation = operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any(), error=error)

    decoded = decode_operation(operation)

    assert decoded["error"] == {"code": 13, "message": "boom", "details": [unknown_decoded(), ERROR_INFO_DECODED]}
    assert decoded["metadata"]["createTime"] == CREATE_TIME
    assert outcome_of(operation).error_details == [unknown_decoded(), ERROR_INFO_DECODED]


def test_everything_unknown() -> None:
    error = status_pb2.Status(code=code_pb2.INTERNAL, message="boom", details=[unknown_any()])
    operation = operations_pb2.Operation(name=OP_NAME, done=True, metadata=unknown_any(), error=error)

    assert decode_operation(operation) == {
        "name": OP_NAME,
        "metadata": unknown_decoded(),
        "done": True,
        "error": {"code": 13, "message": "boom", "details": [unknown_decoded()]},
    }
