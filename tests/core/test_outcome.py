"""Classifying what a poll found: outcomes of operations and of errors, transient versus permanent."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.longrunning import operations_pb2
from google.rpc import code_pb2, status_pb2

from ccai_airflow.core.outcome import (
    Outcome,
    Status,
    decode_any,
    decode_operation,
    is_transient,
    outcome_of,
    outcome_of_error,
)
from tests.operation_fixtures import (
    CREATE_TIME,
    ERROR_INFO_DECODED,
    OP_NAME,
    empty_error_operation,
    failed_operation,
    is_json_primitive_tree,
    issue_model,
    neither_operation,
    pack,
    running_operation,
    succeeded_operation,
    unknown_any,
)

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


# -- 4. outcome classification -----------------------------------------------------------------
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
