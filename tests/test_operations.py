"""Unit tests of the pure domain core, ``ccai_airflow.operations``: no emulator, no network, no Airflow.

Every ``Operation`` here is built by hand (or parsed from the REST seed JSON) so that each test
pins one rule: how a name is validated, how an ``Operation`` is decoded, and how a poll (an
operation or an exception) becomes an :class:`Outcome`.
"""

from __future__ import annotations

import ast
import base64
import datetime
import inspect
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import proto
import pytest
import requests
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights import client as client_module
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, descriptor, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from ccai_airflow import operations as operations_module
from ccai_airflow.operations import (
    OPERATION_NAME_FORM,
    InvalidOperationNameError,
    Outcome,
    Status,
    decode_any,
    decode_operation,
    is_transient,
    outcome_of,
    outcome_of_error,
    parse_operation_name,
    select_fields,
    stored_json_size,
    xcom_values,
)

SEED_PATH = Path(__file__).parent / "fixtures" / "issue-model-operation.json"
OP_NAME = "projects/test-project/locations/us-central1/operations/op-1"
TYPE_PREFIX = "type.googleapis.com/"
UNKNOWN_URL = "type.googleapis.com/example.Unknown"
UNKNOWN_BYTES = b"\x08\x96\x01\x12\x03abc\xff"
CREATE_TIME = "2024-05-06T07:08:09Z"
MODEL_NAME = "projects/test-project/locations/us-central1/issueModels/model-1"
ISSUE_NAME = f"{MODEL_NAME}/issues/issue-1"


# -- helpers -----------------------------------------------------------------------------------
def raw_class(message_type: type) -> type[Message]:
    """The raw protobuf class of a proto-plus type (``ci.IssueModel.pb()``) or a raw class itself."""
    if isinstance(message_type, type) and issubclass(message_type, proto.Message):
        raw: type[Message] = message_type.pb()  # type: ignore[attr-defined]
        return raw
    assert isinstance(message_type, type) and issubclass(message_type, Message), message_type
    return message_type


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def unknown_any() -> any_pb2.Any:
    return any_pb2.Any(type_url=UNKNOWN_URL, value=UNKNOWN_BYTES)


def unknown_decoded() -> dict[str, Any]:
    return {"@type": UNKNOWN_URL, "value": base64.b64encode(UNKNOWN_BYTES).decode("ascii")}


def metadata_any(message: Message | None = None) -> any_pb2.Any:
    """A ``CreateIssueModelMetadata`` with ``create_time`` set (or ``message`` as given), packed."""
    if message is None:
        raw = ci.CreateIssueModelMetadata.pb()()
        raw.create_time.FromJsonString(CREATE_TIME)
        message = raw
    return pack(message)


def issue_model() -> Message:
    model = ci.IssueModel(
        name=MODEL_NAME,
        display_name="my-model",
        state=ci.IssueModel.State.DEPLOYED,
        training_stats=ci.IssueModelLabelStats(
            analyzed_conversations_count=8000,
            unclassified_conversations_count=7,
            issue_stats={
                ISSUE_NAME: ci.IssueModelLabelStats.IssueStats(issue=ISSUE_NAME, labeled_conversations_count=10),
            },
        ),
    )
    return ci.IssueModel.pb(model)


def error_info() -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(
        reason="MODEL_TRAINING_FAILED", domain="contactcenterinsights.googleapis.com", metadata={"issues": "0"}
    )


ERROR_INFO_DECODED: dict[str, Any] = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "MODEL_TRAINING_FAILED",
    "domain": "contactcenterinsights.googleapis.com",
    "metadata": {"issues": "0"},
}

_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def normalise_timestamps(value: Any) -> Any:
    """Turn every RFC 3339 UTC string into a datetime, so ``.123Z`` equals ``.123000Z``."""
    if isinstance(value, dict):
        return {key: normalise_timestamps(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise_timestamps(item) for item in value]
    if isinstance(value, str) and _TIMESTAMP_RE.match(value):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def canonical_payloads(operation: operations_pb2.Operation) -> operations_pb2.Operation:
    """A copy whose ``Any`` payloads are serialized again deterministically (map entries sorted by key).

    ``json_format.ParseDict`` packs an ``Any`` with a plain ``SerializeToString()``, and ``Any``
    equality compares those bytes. A map (``trainingStats.issueStats``) is written in upb's hash-table
    order, which follows insertion order and a per-process hash seed: the same message can pack to
    different bytes, and two equal operations compare unequal in some processes and not in others.
    """
    copy = operations_pb2.Operation()
    copy.CopyFrom(operation)
    for packed in (copy.metadata, copy.response, *copy.error.details):
        if not packed.type_url:
            continue
        message_type = descriptor_pool.Default().FindMessageTypeByName(packed.TypeName())
        message = message_factory.GetMessageClass(message_type)()
        assert packed.Unpack(message)
        packed.value = message.SerializeToString(deterministic=True)
    return copy


def is_json_primitive_tree(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return not isinstance(value, Status)  # a StrEnum would pass isinstance(str) but is not plain JSON
    if isinstance(value, list):
        return all(is_json_primitive_tree(item) for item in value)
    if isinstance(value, dict):
        return all(type(key) is str and is_json_primitive_tree(item) for key, item in value.items())
    return False


@pytest.fixture
def seed() -> dict[str, Any]:
    loaded = json.loads(SEED_PATH.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def seed_operation(seed: dict[str, Any]) -> operations_pb2.Operation:
    return json_format.ParseDict(seed, operations_pb2.Operation())


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


# -- 4. outcome classification -----------------------------------------------------------------
def running_operation() -> operations_pb2.Operation:
    return operations_pb2.Operation(name=OP_NAME, metadata=metadata_any())


def failed_operation() -> operations_pb2.Operation:
    error = status_pb2.Status(code=code_pb2.INTERNAL, message="boom", details=[pack(error_info())])
    return operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any(), error=error)


def empty_error_operation() -> operations_pb2.Operation:
    operation = operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any())
    operation.error.SetInParent()  # error present with code 0 (OK) and no message
    return operation


def neither_operation() -> operations_pb2.Operation:
    return operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any())


def succeeded_operation() -> operations_pb2.Operation:
    return operations_pb2.Operation(name=OP_NAME, done=True, metadata=metadata_any(), response=pack(issue_model()))


def test_not_done_is_running() -> None:
    operation = running_operation()

    outcome = outcome_of(operation)

    assert outcome.status == Status.RUNNING
    assert outcome.done is False
    assert outcome.operation_name == OP_NAME
    assert outcome.operation == decode_operation(operation)
    assert outcome.response is None
    assert outcome.error_code is None
    assert outcome.metadata["createTime"] == CREATE_TIME


def test_done_with_error_is_failed() -> None:
    operation = failed_operation()

    outcome = outcome_of(operation)

    assert outcome.status == Status.FAILED
    assert outcome.done is True
    assert outcome.error_code == "INTERNAL"
    assert outcome.error_message == "boom"
    assert outcome.error_details == [ERROR_INFO_DECODED]
    assert outcome.operation == decode_operation(operation)
    assert outcome.response is None
    assert "INTERNAL: boom" in outcome.describe_failure()
    assert "MODEL_TRAINING_FAILED" in outcome.describe_failure()


def test_done_with_error_code_zero_is_not_succeeded() -> None:
    operation = empty_error_operation()
    assert operation.HasField("error")

    outcome = outcome_of(operation)

    assert outcome.status != Status.SUCCEEDED
    assert outcome.status == Status.FAILED
    assert outcome.error_code == "OK"
    assert outcome.error_message == ""


def test_done_with_error_code_zero_and_message_is_failed() -> None:
    error = status_pb2.Status(code=code_pb2.OK, message="it went wrong anyway")
    operation = operations_pb2.Operation(name=OP_NAME, done=True, error=error)

    outcome = outcome_of(operation)

    assert outcome.status == Status.FAILED
    assert outcome.error_message == "it went wrong anyway"


def test_unnamed_error_code_is_named_by_number() -> None:
    operation = operations_pb2.Operation(name=OP_NAME, done=True, error=status_pb2.Status(code=99, message="x"))

    assert outcome_of(operation).error_code == "CODE_99"


def test_done_with_neither_response_nor_error_is_failed_unknown() -> None:
    outcome = outcome_of(neither_operation())

    assert outcome.status == Status.FAILED
    assert outcome.error_code == "UNKNOWN"
    assert outcome.error_message == "The operation is done but has neither a response nor an error."
    assert outcome.error_details == []


def test_done_with_response_is_succeeded() -> None:
    operation = succeeded_operation()

    outcome = outcome_of(operation)

    assert outcome.status == Status.SUCCEEDED
    assert outcome.done is True
    assert outcome.response == decode_operation(operation)["response"]
    assert outcome.response == decode_any(pack(issue_model()))
    assert outcome.error_code is None
    assert outcome.error_message is None
    assert outcome.error_details == []


OUTCOME_CASES = {
    "running": lambda: outcome_of(running_operation()),
    "failed": lambda: outcome_of(failed_operation()),
    "error-code-zero": lambda: outcome_of(empty_error_operation()),
    "neither": lambda: outcome_of(neither_operation()),
    "succeeded": lambda: outcome_of(succeeded_operation()),
    "unknown-types": lambda: outcome_of(
        operations_pb2.Operation(name=OP_NAME, done=True, metadata=unknown_any(), response=unknown_any())
    ),
    "transient-error": lambda: outcome_of_error(OP_NAME, exceptions.ServiceUnavailable("down")),
    "permanent-error": lambda: outcome_of_error(OP_NAME, exceptions.NotFound("gone")),
    "timeout": lambda: Outcome(Status.TIMEOUT, OP_NAME, error_message="deadline passed"),
}


@pytest.mark.parametrize("case", list(OUTCOME_CASES))
def test_outcome_event_round_trip(case: str) -> None:
    outcome = OUTCOME_CASES[case]()

    event = outcome.to_event()

    assert is_json_primitive_tree(event)
    assert type(event["status"]) is str
    assert event["status"] == outcome.status.value
    through_json = json.loads(json.dumps(event))
    assert through_json == event
    assert Outcome.from_event(event) == outcome
    assert Outcome.from_event(through_json) == outcome
    assert Outcome.from_event(through_json).status is outcome.status


@pytest.mark.parametrize(
    "bad_event",
    [
        pytest.param({}, id="empty-dict"),
        pytest.param({"status": "nope"}, id="unknown-status"),
        pytest.param({"status": None, "operation_name": OP_NAME}, id="none-status"),
        pytest.param({"status": "RUNNING"}, id="wrong-case-status"),
        pytest.param("string", id="string"),
        pytest.param(None, id="none"),
        pytest.param(["running"], id="list"),
    ],
)
def test_from_event_rejects_bad_event(bad_event: Any) -> None:
    with pytest.raises(ValueError) as raised:
        Outcome.from_event(bad_event)

    assert repr(bad_event) in str(raised.value)
    assert "status" in str(raised.value)


def test_from_event_rejects_unhashable_status() -> None:
    bad_event = {"status": ["running"]}
    with pytest.raises(ValueError, match=re.escape(repr(bad_event))):
        Outcome.from_event(bad_event)


# -- 5. outcome_of_error -----------------------------------------------------------------------


def rest_error(status_code: int, status: str, message: str) -> exceptions.GoogleAPICallError:
    """The exception the REST transport raises (``from_http_response``) for a Google JSON error body."""
    response = requests.Response()
    response.status_code = status_code
    response._content = json.dumps({"error": {"code": status_code, "message": message, "status": status}}).encode()
    response.request = requests.Request("GET", f"https://contactcenterinsights.googleapis.com/v1/{OP_NAME}").prepare()
    return exceptions.from_http_response(response)


RETRY_ERROR = exceptions.RetryError("Timeout of 60.0s exceeded", exceptions.ServiceUnavailable("down"))

TRANSIENT_CASES = [
    pytest.param(exceptions.ServiceUnavailable("down"), "UNAVAILABLE", id="ServiceUnavailable"),
    pytest.param(exceptions.ResourceExhausted("quota"), "RESOURCE_EXHAUSTED", id="ResourceExhausted"),
    pytest.param(exceptions.TooManyRequests("slow down"), "TooManyRequests", id="TooManyRequests"),
    pytest.param(rest_error(503, "UNAVAILABLE", "down"), "UNAVAILABLE", id="rest-503"),
    pytest.param(
        rest_error(429, "RESOURCE_EXHAUSTED", "quota"),
        "RESOURCE_EXHAUSTED",
        id="rest-429",
    ),
    pytest.param(exceptions.InternalServerError("oops"), "INTERNAL", id="InternalServerError"),
    pytest.param(exceptions.DeadlineExceeded("slow"), "DEADLINE_EXCEEDED", id="DeadlineExceeded"),
    pytest.param(exceptions.Aborted("contention"), "ABORTED", id="Aborted"),
    pytest.param(exceptions.Unknown("?"), "UNKNOWN", id="Unknown"),
    pytest.param(RETRY_ERROR, "UNAVAILABLE", id="RetryError-ServiceUnavailable"),
    pytest.param(exceptions.RetryError("gave up", None), "RetryError", id="RetryError-no-cause"),
    pytest.param(ConnectionError("reset"), "ConnectionError", id="ConnectionError"),
    pytest.param(ConnectionResetError("reset"), "ConnectionResetError", id="ConnectionResetError"),
    pytest.param(TimeoutError("timed out"), "TimeoutError", id="TimeoutError"),
    pytest.param(requests.exceptions.ConnectionError("refused"), "ConnectionError", id="requests-ConnectionError"),
    pytest.param(requests.exceptions.ReadTimeout("read"), "ReadTimeout", id="requests-ReadTimeout"),
]


@pytest.mark.parametrize(("exc", "code"), TRANSIENT_CASES)
def test_transient_error_is_running(exc: Exception, code: str) -> None:
    outcome = outcome_of_error(OP_NAME, exc)

    assert outcome.status == Status.RUNNING
    assert outcome.done is False
    assert outcome.operation_name == OP_NAME
    assert outcome.operation is None
    assert outcome.error_code == code
    assert outcome.error_message == str(exc)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(exceptions.TooManyRequests("slow down"), id="TooManyRequests"),
        pytest.param(exceptions.GatewayTimeout("504"), id="GatewayTimeout"),
        pytest.param(exceptions.BadGateway("502"), id="BadGateway"),
    ],
)
def test_http_only_transient_error_is_running(exc: Exception) -> None:
    outcome = outcome_of_error(OP_NAME, exc)

    assert outcome.status == Status.RUNNING
    assert isinstance(outcome.error_code, str)
    assert outcome.error_code != ""


PERMANENT_CASES = [
    pytest.param(exceptions.NotFound("no such operation"), "NOT_FOUND", id="NotFound"),
    pytest.param(exceptions.PermissionDenied("denied"), "PERMISSION_DENIED", id="PermissionDenied"),
    pytest.param(exceptions.InvalidArgument("bad name"), "INVALID_ARGUMENT", id="InvalidArgument"),
    pytest.param(exceptions.Unauthenticated("who?"), "UNAUTHENTICATED", id="Unauthenticated"),
    pytest.param(exceptions.FailedPrecondition("not ready"), "FAILED_PRECONDITION", id="FailedPrecondition"),
    pytest.param(exceptions.Cancelled("cancelled"), "CANCELLED", id="Cancelled"),
    pytest.param(exceptions.MethodNotImplemented("nope"), "UNIMPLEMENTED", id="MethodNotImplemented"),
    pytest.param(rest_error(404, "NOT_FOUND", "no such operation"), "NOT_FOUND", id="rest-404"),
    pytest.param(
        rest_error(403, "PERMISSION_DENIED", "denied"),
        "PERMISSION_DENIED",
        id="rest-403",
    ),
    pytest.param(
        rest_error(400, "INVALID_ARGUMENT", "bad name"),
        "INVALID_ARGUMENT",
        id="rest-400",
    ),
]


@pytest.mark.parametrize(("exc", "code"), PERMANENT_CASES)
def test_permanent_error_is_error(exc: exceptions.GoogleAPICallError, code: str) -> None:
    outcome = outcome_of_error(OP_NAME, exc)

    assert outcome.status == Status.ERROR
    assert outcome.done is True
    assert outcome.operation_name == OP_NAME
    assert outcome.operation is None
    assert outcome.error_code == code
    assert outcome.error_message == exc.message
    assert Outcome.from_event(json.loads(json.dumps(outcome.to_event()))) == outcome


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ValueError("a bug"), id="ValueError"),
        pytest.param(KeyError("a bug"), id="KeyError"),
        pytest.param(RuntimeError("a bug"), id="RuntimeError"),
    ],
)
def test_other_exception_is_raised_again(exc: Exception) -> None:
    with pytest.raises(type(exc)) as raised:
        outcome_of_error(OP_NAME, exc)

    assert raised.value is exc


# -- 6. parse_operation_name -------------------------------------------------------------------
BAD_NAMES = [
    pytest.param(None, id="None"),
    pytest.param(42, id="int"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(b"projects/p/locations/l/operations/1", id="bytes-name"),
    pytest.param(["projects/p/locations/l/operations/1"], id="list"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("operations/123", id="bare-operations"),
    pytest.param("projects/p/locations/l/operations/", id="empty-id"),
    pytest.param("projects/p/locations/l/operations", id="no-id-segment"),
    pytest.param("projects/p/locations/l", id="parent-only"),
    pytest.param("projects//locations/l/operations/1", id="empty-project"),
    pytest.param("projects/p/locations//operations/1", id="empty-location"),
    pytest.param("/projects/p/locations/l/operations/1", id="leading-slash"),
    pytest.param("projects/p/locations/l/operations/1/", id="trailing-slash"),
    pytest.param("projects/p/locations/l/operations/1/extra", id="extra-segment"),
    pytest.param("projects/p/locations/l/issueModels/1", id="issue-model-name"),
    pytest.param("projects/p/locations/l/operations/1:cancel", id="custom-method"),
    pytest.param("projects/p/locations/l/operations/..", id="dotdot-id"),
    pytest.param("projects/p/locations/../operations/1", id="dotdot-location"),
    pytest.param("projects/p/locations/l/operations/1?x=y", id="query"),
    pytest.param("projects/p/locations/l/operations/1#f", id="fragment"),
    pytest.param("https://contactcenterinsights.googleapis.com/v1/projects/p/locations/l/operations/1", id="url"),
    pytest.param("projects/p/locations/l/operations/1 2", id="space"),
    pytest.param(" projects/p/locations/l/operations/1", id="leading-space"),
    pytest.param("projects/p/locations/l/operations/1 ", id="trailing-space"),
    pytest.param("projects/p/locations/l/operations/ü", id="non-ascii"),
    pytest.param("projects/p/locations/l/operations/" + "9" * 600, id="over-long"),
    pytest.param("projects/p/locations/l/operations/" + "a" * 129, id="id-too-long"),
    pytest.param("projects/P_UPPER/locations/l/operations/1", id="upper-project"),
    pytest.param("projects/p-/locations/l/operations/1", id="project-trailing-dash"),
    pytest.param("projects/p/locations/US/operations/1", id="upper-location"),
    pytest.param("projects/p/locations/l/operations/-1", id="id-leading-dash"),
    pytest.param("\nprojects/p/locations/l/operations/1", id="leading-newline"),
    pytest.param(
        "projects/p/locations/l/operations/1\n",
        id="trailing-newline",
    ),
    pytest.param("operations/projects/p/locations/l/operations/1", id="other-service-prefix"),
    pytest.param("projects/p/operations/1", id="no-location"),
    pytest.param("Projects/p/locations/l/operations/1", id="capital-collection"),
]


@pytest.mark.parametrize("value", BAD_NAMES)
def test_parse_operation_name_rejects(value: object) -> None:
    with pytest.raises(InvalidOperationNameError) as raised:
        parse_operation_name(value)

    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert OPERATION_NAME_FORM in message
    if isinstance(value, str) and len(value) > 512:
        assert repr(value[:80]) in message
        assert value not in message
        assert str(len(value)) in message
    else:
        assert repr(value) in message


def test_bad_names_table_is_large_enough() -> None:
    assert len(BAD_NAMES) >= 20


@pytest.mark.parametrize(
    ("value", "project", "location", "operation_id"),
    [
        pytest.param(
            "projects/my-project/locations/us-central1/operations/1234567890",
            "my-project",
            "us-central1",
            "1234567890",
            id="typical",
        ),
        pytest.param("projects/123456/locations/global/operations/abc-DEF_1.2", "123456", "global", "abc-DEF_1.2",
                     id="number-global-mixed-id"),
        pytest.param("projects/example.com:my-proj/locations/us/operations/x", "example.com:my-proj", "us", "x",
                     id="domain-scoped"),
        pytest.param("projects/p/locations/l/operations/" + "a" * 128, "p", "l", "a" * 128, id="longest-id"),
    ],
)
def test_parse_operation_name_accepts(value: str, project: str, location: str, operation_id: str) -> None:
    parsed = parse_operation_name(value)

    assert parsed == (project, location, operation_id)
    assert parsed.project == project
    assert parsed.location == location
    assert parsed.operation_id == operation_id
    assert parsed.name == value
    assert parsed.parent == f"projects/{project}/locations/{location}"
    assert parse_operation_name(parsed.name) == parsed


# -- 7. xcom_values ----------------------------------------------------------------------------
def test_xcom_values_of_issue_model() -> None:
    outcome = outcome_of(succeeded_operation())

    values = xcom_values(outcome)

    assert values == {
        "operation": outcome.operation,
        "issue_model_name": MODEL_NAME,
        "training_stats": {
            "analyzedConversationsCount": "8000",
            "unclassifiedConversationsCount": "7",
            "issueStats": {ISSUE_NAME: {"issue": ISSUE_NAME, "labeledConversationsCount": "10"}},
        },
    }
    assert json.loads(json.dumps(values)) == values


def test_xcom_values_of_seed(seed: dict[str, Any], seed_operation: operations_pb2.Operation) -> None:
    values = xcom_values(outcome_of(seed_operation))

    assert set(values) == {"operation", "issue_model_name", "training_stats"}
    assert values["issue_model_name"] == seed["response"]["name"]
    assert values["training_stats"] == seed["response"]["trainingStats"]
    assert normalise_timestamps(values["operation"]) == normalise_timestamps(seed)


def test_xcom_values_of_issue_model_without_stats() -> None:
    model = ci.IssueModel.pb(ci.IssueModel(name=MODEL_NAME))
    operation = operations_pb2.Operation(name=OP_NAME, done=True, response=pack(model))

    values = xcom_values(outcome_of(operation))

    assert values["issue_model_name"] == MODEL_NAME
    assert values["training_stats"] == {}


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(ci.DeployIssueModelResponse.pb()(), id="DeployIssueModelResponse"),
        pytest.param(ci.Analysis.pb(ci.Analysis(name=f"{MODEL_NAME}/analyses/a")), id="Analysis"),
        pytest.param(ci.ExportInsightsDataResponse.pb()(), id="ExportInsightsDataResponse"),
    ],
)
def test_xcom_values_of_other_response(response: Message) -> None:
    outcome = outcome_of(operations_pb2.Operation(name=OP_NAME, done=True, response=pack(response)))
    assert outcome.status == Status.SUCCEEDED

    assert xcom_values(outcome) == {"operation": outcome.operation}


def test_xcom_values_of_unknown_response() -> None:
    outcome = outcome_of(operations_pb2.Operation(name=OP_NAME, done=True, response=unknown_any()))

    assert xcom_values(outcome) == {"operation": outcome.operation}


def stored_json(value: Any) -> int:
    return len(json.dumps(value).encode())


_SHARED: dict[str, Any] = {"x": [1, 2.5, None]}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({}, id="empty-dict"),
        pytest.param([], id="empty-list"),
        pytest.param(None, id="null"),
        pytest.param("ünïcode ß \u2028 \"quoted\"", id="non-ascii-string"),
        pytest.param({"a": {}, "b": [], "c": ""}, id="empty-children"),
        pytest.param({1: "x", "b": True}, id="non-string-key"),
        pytest.param({"ä": {"ö": {"ü": {"deep": {"deeper": [True, False, -1e300]}}}}}, id="deeper-than-split"),
        pytest.param({"big": {str(i): {"i": i} for i in range(100)}, "small": {"a": 1}}, id="dict-too-big-to-split"),
        pytest.param({"a": _SHARED, "b": {"c": _SHARED, "d": [_SHARED]}, "e": _SHARED}, id="shared"),
    ],
)
def test_stored_json_size_is_the_size_of_the_stored_json(value: Any) -> None:
    assert stored_json_size(value) == stored_json(value)


@pytest.mark.parametrize("fields", [None, ["name", "trainingStats.issueStats"]], ids=["all", "selected"])
@pytest.mark.parametrize("reverse", [False, True], ids=["pushed-order", "reversed"])
def test_stored_json_size_serializes_the_shared_response_once(
    seed_operation: operations_pb2.Operation, monkeypatch: pytest.MonkeyPatch, fields: list[str] | None,
    reverse: bool,
) -> None:
    outcome = outcome_of(seed_operation)
    if fields:
        outcome = select_fields(outcome, fields)
    values = {"return_value": outcome.response, **xcom_values(outcome, selected=bool(fields))}
    if reverse:
        values = dict(reversed(values.items()))
    serialized: list[Any] = []
    real = operations_module._json_size

    def counting(value: Any) -> int:
        serialized.append(value)
        return real(value)

    monkeypatch.setattr(operations_module, "_json_size", counting)

    assert stored_json_size(values) == stored_json(values)
    containers = [id(value) for value in serialized if isinstance(value, dict | list)]
    assert len(containers) == len(set(containers))
    # Every byte serialized once: the response and its trainingStats are not serialized again.
    response = outcome.response or {}
    once = stored_json(values) - stored_json(response) - stored_json(response["trainingStats"])
    assert sum(real(value) for value in serialized) <= once


# -- 8. is_transient ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(exceptions.ServiceUnavailable("down"), id="ServiceUnavailable"),
        pytest.param(exceptions.TooManyRequests("slow down"), id="TooManyRequests"),
        pytest.param(exceptions.ResourceExhausted("quota"), id="ResourceExhausted"),
        pytest.param(exceptions.InternalServerError("oops"), id="InternalServerError"),
        pytest.param(exceptions.DeadlineExceeded("slow"), id="DeadlineExceeded"),
        pytest.param(exceptions.GatewayTimeout("504"), id="GatewayTimeout"),
        pytest.param(exceptions.BadGateway("502"), id="BadGateway"),
        pytest.param(exceptions.Aborted("contention"), id="Aborted"),
        pytest.param(exceptions.Unknown("?"), id="Unknown"),
        pytest.param(ConnectionError("reset"), id="ConnectionError"),
        pytest.param(ConnectionRefusedError("refused"), id="ConnectionRefusedError"),
        pytest.param(TimeoutError("timed out"), id="TimeoutError"),
        pytest.param(requests.exceptions.ConnectionError("refused"), id="requests-ConnectionError"),
        pytest.param(requests.exceptions.Timeout("timeout"), id="requests-Timeout"),
        pytest.param(requests.exceptions.ReadTimeout("read"), id="requests-ReadTimeout"),
    ],
)
def test_is_transient_true(exc: BaseException) -> None:
    assert is_transient(exc) is True


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(exceptions.NotFound("gone"), id="NotFound"),
        pytest.param(exceptions.PermissionDenied("denied"), id="PermissionDenied"),
        pytest.param(exceptions.InvalidArgument("bad"), id="InvalidArgument"),
        pytest.param(exceptions.Unauthenticated("who?"), id="Unauthenticated"),
        pytest.param(exceptions.FailedPrecondition("not ready"), id="FailedPrecondition"),
        pytest.param(exceptions.Cancelled("cancelled"), id="Cancelled"),
        pytest.param(exceptions.MethodNotImplemented("nope"), id="MethodNotImplemented"),
        # A RetryError is what the retry policy raises when it gives up: retrying it again inside
        # the same policy makes no sense (outcome_of_error treats it as "look again later").
        pytest.param(RETRY_ERROR, id="RetryError"),
        pytest.param(ValueError("a bug"), id="ValueError"),
        pytest.param(requests.exceptions.HTTPError("500"), id="requests-HTTPError"),
    ],
)
def test_is_transient_false(exc: BaseException) -> None:
    assert is_transient(exc) is False
