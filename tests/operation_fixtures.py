"""Protobuf builders and the seed JSON shared by the domain-core tests."""

from __future__ import annotations

import base64
import datetime
import re
from pathlib import Path
from typing import Any

import proto
from google.cloud import contact_center_insights_v1 as ci
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from ccai_airflow.core.outcome import (
    Status,
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
