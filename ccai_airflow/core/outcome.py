"""What a poll found: an operation decoded as the REST API shows it, and classified. No Airflow import.

Both the sensor's poke and the trigger's loop turn what the API said into an :class:`Outcome`
here, with :func:`outcome_of` (an ``Operation``) or :func:`outcome_of_error` (an exception),
so every mode decides success, failure and "not yet" the same way.
"""

from __future__ import annotations

import base64
import datetime
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import requests
from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions

# Importing the types registers every Insights message in the default descriptor pool, which
# is what json_format uses to resolve ``@type`` in Any fields.
from google.cloud.contact_center_insights_v1 import types as _insights_types  # noqa: F401
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, json_format
from google.protobuf.message import DecodeError
from google.rpc import code_pb2

__all__ = [
    "ISSUE_MODEL_TYPE",
    "TRANSIENT_ERRORS",
    "Outcome",
    "Status",
    "code_name",
    "decode_any",
    "decode_operation",
    "error_code_of",
    "is_transient",
    "outcome_of",
    "outcome_of_error",
]

ISSUE_MODEL_TYPE = "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"


def decode_any(value: any_pb2.Any) -> dict[str, Any]:
    """An ``Any`` as the REST API shows it; an unresolvable ``@type`` keeps its bytes in base64."""
    try:
        return dict(json_format.MessageToDict(value))
    except (TypeError, DecodeError):  # unknown type_url, or bytes that do not parse as that type
        return {"@type": value.type_url, "value": base64.b64encode(value.value).decode("ascii")}


def decode_operation(operation: operations_pb2.Operation) -> dict[str, Any]:
    """The operation as ``operations.get`` returns it over REST (see the seed JSON).

    ``done`` is always present, also when false. Each ``Any`` (metadata, response, error details)
    is decoded on its own so that one unknown type does not hide the others.
    """
    decoded: dict[str, Any] = {"name": operation.name}
    if operation.HasField("metadata"):
        decoded["metadata"] = decode_any(operation.metadata)
    decoded["done"] = operation.done
    if operation.HasField("error"):
        error = operation.error
        decoded["error"] = {"code": error.code, "message": error.message}
        if error.details:
            decoded["error"]["details"] = [decode_any(detail) for detail in error.details]
    elif operation.HasField("response"):
        decoded["response"] = decode_any(operation.response)
    return decoded


def code_name(code: int) -> str:
    """``google.rpc.Code`` number -> name (``5`` -> ``"NOT_FOUND"``)."""
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return f"CODE_{code}"


# -- outcome -----------------------------------------------------------------------------------
class Status(StrEnum):
    """What a poll found. The trigger event's ``status`` uses exactly these values."""

    RUNNING = "running"  # not done yet (or a transient error: try again later)
    SUCCEEDED = "succeeded"  # done with a response
    FAILED = "failed"  # done with an error: the operation failed
    ERROR = "error"  # the API refused the request (permanent error): we cannot know
    TIMEOUT = "timeout"  # the waiter's deadline passed before the operation was done


_PROGRESS_KEYS = re.compile(r"Count$")


@dataclass(frozen=True)
class Outcome:
    """The result of one poll, in JSON-ready form. ``to_event``/``from_event`` round-trip it."""

    status: Status
    operation_name: str
    operation: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status is not Status.RUNNING

    @property
    def response(self) -> dict[str, Any] | None:
        return (self.operation or {}).get("response")

    @property
    def metadata(self) -> dict[str, Any]:
        return (self.operation or {}).get("metadata") or {}

    def progress(self) -> dict[str, str]:
        """The metadata's progress counters (``completedAnalysesCount``, ...), for the poll log."""
        found: dict[str, str] = {}
        for key, value in self.metadata.items():
            if isinstance(value, dict) and key.endswith("Stats"):
                found.update({k: str(v) for k, v in value.items() if _PROGRESS_KEYS.search(k)})
            elif _PROGRESS_KEYS.search(key) and not isinstance(value, dict | list):
                found[key] = str(value)
        return found

    def created_at(self) -> datetime.datetime | None:
        """The operation's ``metadata.createTime``, when the metadata has a readable one."""
        return self._metadata_time("createTime")

    def ended_at(self) -> datetime.datetime | None:
        """The operation's ``metadata.endTime`` (set by the server when it finished), when readable."""
        return self._metadata_time("endTime")

    def _metadata_time(self, key: str) -> datetime.datetime | None:
        value = self.metadata.get(key)
        if not isinstance(value, str):
            return None
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None

    def elapsed_seconds(self, now: datetime.datetime | None = None) -> float | None:
        """Seconds since the operation's ``metadata.createTime``, when the metadata has it."""
        start = self.created_at()
        if start is None:
            return None
        return ((now or datetime.datetime.now(datetime.UTC)) - start).total_seconds()

    def describe_failure(self) -> str:
        """One line for a failed task: operation, code name, message and decoded details."""
        text = f"Operation {self.operation_name} {self.status.value}: {self.error_code}: {self.error_message}"
        if self.error_details:
            text += f" (details: {self.error_details})"
        return text

    def to_event(self) -> dict[str, Any]:
        """JSON primitives only: safe for a trigger event and for the metadata database."""
        return {
            "status": self.status.value,
            "operation_name": self.operation_name,
            "operation": self.operation,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "error_details": self.error_details,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Outcome:
        status = event.get("status") if isinstance(event, dict) else None
        if not isinstance(status, str) or status not in {s.value for s in Status}:
            raise ValueError(f"Invalid trigger event {event!r}: expected a dict with a 'status' in "
                             f"{[s.value for s in Status]}.")
        return cls(
            status=Status(event["status"]),
            operation_name=str(event.get("operation_name")),
            operation=event.get("operation"),
            error_code=event.get("error_code"),
            error_message=event.get("error_message"),
            error_details=list(event.get("error_details") or []),
        )


def outcome_of(operation: operations_pb2.Operation) -> Outcome:
    """Classify an ``Operation``: running, succeeded (decoded response) or failed.

    A done operation with an ``error`` is a failure whatever its message says; one with neither
    ``response`` nor ``error`` is named as such and fails too (google-api-core does the same).
    """
    decoded = decode_operation(operation)
    if not operation.done:
        return Outcome(Status.RUNNING, operation.name, decoded)
    if operation.HasField("error"):
        error = decoded["error"]
        return Outcome(
            Status.FAILED, operation.name, decoded,
            error_code=code_name(operation.error.code), error_message=operation.error.message,
            error_details=error.get("details", []),
        )
    if not operation.HasField("response"):
        return Outcome(
            Status.FAILED, operation.name, decoded, error_code="UNKNOWN",
            error_message="The operation is done but has neither a response nor an error.",
        )
    return Outcome(Status.SUCCEEDED, operation.name, decoded)


# -- errors of the API call itself -------------------------------------------------------------
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    exceptions.ServiceUnavailable,  # UNAVAILABLE, 503
    exceptions.TooManyRequests,  # RESOURCE_EXHAUSTED, 429
    exceptions.InternalServerError,  # INTERNAL, 500
    exceptions.DeadlineExceeded,  # DEADLINE_EXCEEDED, 504
    exceptions.GatewayTimeout,
    exceptions.BadGateway,
    exceptions.Aborted,
    exceptions.Unknown,
    # A network error on the way to the token endpoint while refreshing credentials; google-api-core's
    # if_transient_error retries it too.
    auth_exceptions.TransportError,
    ConnectionError,
    TimeoutError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: unavailable, quota, internal, deadline, connection.

    A google-auth error is transient when google-auth says so (``retryable``: the token endpoint
    answered 5xx); a ``RefreshError`` from bad or revoked credentials is not.
    """
    return isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, auth_exceptions.GoogleAuthError) and bool(getattr(exc, "retryable", False))
    )


def outcome_of_error(operation_name: str, exc: Exception, credentials: str = "the credentials") -> Outcome:
    """Classify an exception raised while fetching the operation.

    Transient errors (also when the retry policy gave up on them) mean "still running, look again
    later": the operation itself is unaffected. Any other ``GoogleAPICallError`` is permanent and
    ends the wait at once with its status code. Credentials that cannot be refreshed end it as
    UNAUTHENTICATED, naming ``credentials`` (e.g. "connection 'google_cloud_default'"). Anything
    else is a bug and is raised again.
    """
    if is_transient(exc) or isinstance(exc, exceptions.RetryError):
        return Outcome(Status.RUNNING, operation_name, None, error_code=error_code_of(exc), error_message=str(exc))
    if isinstance(exc, exceptions.GoogleAPICallError):
        return Outcome(Status.ERROR, operation_name, None, error_code=error_code_of(exc), error_message=exc.message)
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        # A revoked key, a deleted service account, an impersonation that is not allowed; also a 401 that
        # google-auth cannot answer by refreshing (the emulator's anonymous credentials over REST). The
        # message is google-auth's and the token endpoint's, which never carry the key itself.
        return Outcome(Status.ERROR, operation_name, None, error_code="UNAUTHENTICATED",
                       error_message=f"{credentials} could not be used: {type(exc).__name__}: {exc}")
    raise exc


def error_code_of(exc: BaseException) -> str:
    """The status code name of an API error (``UNAVAILABLE``, ``NOT_FOUND``, ...), else its class name."""
    if isinstance(exc, exceptions.RetryError) and exc.cause is not None:
        return error_code_of(exc.cause)
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return str(code.name)
    return _rest_status_of(exc) or type(exc).__name__


def _rest_status_of(exc: BaseException) -> str | None:
    """The ``error.status`` of a REST error body (``"PERMISSION_DENIED"``), when it names a code.

    google-api-core gives REST 400/403/429 exceptions no gRPC code; the body still names it.
    """
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"]  # type: ignore[union-attr]
    except Exception:
        return None
    return status if isinstance(status, str) and status in code_pb2.Code.DESCRIPTOR.values_by_name else None
