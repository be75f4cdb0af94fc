"""The domain core: operation names, decoding, outcome and error classes. No Airflow import.

Both the sensor's poke and the trigger's loop turn what the API said into an :class:`Outcome`
here, with :func:`outcome_of` (an ``Operation``) or :func:`outcome_of_error` (an exception),
so every mode decides success, failure and "not yet" the same way.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import requests
from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions

# Importing the types registers every Insights message in the default descriptor pool, which
# is what json_format uses to resolve ``@type`` in Any fields.
from google.cloud.contact_center_insights_v1 import types as _insights_types  # noqa: F401
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2

OPERATION_NAME_FORM = "projects/{project}/locations/{location}/operations/{operation_id}"
MAX_OPERATION_NAME_LENGTH = 512
ISSUE_MODEL_TYPE = "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"

_OPERATION_NAME_RE = re.compile(
    r"^projects/(?P<project>[a-z0-9](?:[a-z0-9.:-]{0,61}[a-z0-9])?)"
    r"/locations/(?P<location>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
    r"/operations/(?P<operation_id>[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9_])?)\Z"
)


class InvalidOperationNameError(ValueError, TypeError):
    """An operation name that is not ``projects/{project}/locations/{location}/operations/{id}``."""


class OperationName(NamedTuple):
    project: str
    location: str
    operation_id: str

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/operations/{self.operation_id}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def parse_operation_name(value: object) -> OperationName:
    """Validate a full operation resource name; raise naming the value and the expected form.

    No API call is ever made with a name that did not pass here.
    """
    if not isinstance(value, str):
        raise InvalidOperationNameError(
            f"Invalid operation name {value!r} ({type(value).__name__}): expected a string of the form "
            f"{OPERATION_NAME_FORM}."
        )
    if len(value) > MAX_OPERATION_NAME_LENGTH:
        raise InvalidOperationNameError(
            f"Invalid operation name {value[:80]!r}... ({len(value)} characters): expected at most "
            f"{MAX_OPERATION_NAME_LENGTH} characters of the form {OPERATION_NAME_FORM}."
        )
    match = _OPERATION_NAME_RE.match(value)
    if match is None:
        raise InvalidOperationNameError(
            f"Invalid operation name {value!r}: expected {OPERATION_NAME_FORM} with non-empty segments "
            "of letters, digits, '-', '_' or '.' (e.g. projects/my-project/locations/us-central1/operations/123)."
        )
    return OperationName(**match.groupdict())


def validate_seconds(arg: str, value: object, zero_ok: bool) -> float | None:
    """A duration in seconds: None and ``timedelta`` pass through converted, anything else is named."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"Invalid {arg} {value!r}: expected a number of seconds {'>=' if zero_ok else '>'} 0.")
    return float(value)


def parse_parent(value: object) -> str:
    """Validate ``projects/{project}/locations/{location}``; raise naming the value otherwise."""
    if isinstance(value, str):
        match = _OPERATION_NAME_RE.match(f"{value}/operations/x")
        if match is not None and value == f"projects/{match['project']}/locations/{match['location']}":
            return value
    raise ValueError(f"Invalid parent {value!r}: expected projects/{{project}}/locations/{{location}}.")


# -- polling ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PollingPolicy:
    """How long to wait before the next poll, given how long the operation has been running.

    The delay is ``fraction`` of the operation's age, at least ``initial`` and at most ``maximum``:
    a 10 s job is seen within ~2 s, a 3 h training job is polled a few dozen times, not 540 times
    (google-api-core's LRO default: 1 s x1.5 up to 20 s). Detection lag is at most
    ``max(initial, fraction * duration)``. Polling is not RPC retry: transient errors of one poll are
    retried separately (see ``hooks.transient_retry``). Policies are values; ``fixed`` returns a
    new one.
    """

    initial: float = 2.0
    fraction: float = 0.1
    maximum: float = 600.0

    def __post_init__(self) -> None:
        validate_seconds("initial", self.initial, zero_ok=False)
        validate_seconds("maximum", self.maximum, zero_ok=False)
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"Invalid fraction {self.fraction!r}: expected a number in [0, 1].")
        if self.maximum < self.initial:
            raise ValueError(f"Invalid maximum {self.maximum!r}: expected >= initial ({self.initial}).")

    @classmethod
    def fixed(cls, seconds: float) -> PollingPolicy:
        return cls(initial=seconds, fraction=0.0, maximum=seconds)

    @classmethod
    def for_interval(cls, poll_interval: float | None) -> PollingPolicy:
        """A fixed policy when the user set an interval, else the adaptive default."""
        return DEFAULT_POLLING if poll_interval is None else cls.fixed(poll_interval)

    def delay(self, age_seconds: float | None) -> float:
        age = max(age_seconds or 0.0, 0.0)
        return min(self.maximum, max(self.initial, self.fraction * age))


DEFAULT_POLLING = PollingPolicy()


# -- decoding ----------------------------------------------------------------------------------
def decode_any(value: any_pb2.Any) -> dict[str, Any]:
    """An ``Any`` as the REST API shows it; an unresolvable ``@type`` keeps its bytes in base64."""
    try:
        return dict(json_format.MessageToDict(value))
    except (TypeError, DecodeError):  # unknown type_url, or bytes that do not parse as that type
        return {"@type": value.type_url, "value": base64.b64encode(value.value).decode("ascii")}


def decode_message(message: Message) -> dict[str, Any]:
    """A message as proto3 JSON: camelCase, enum names, int64 as strings."""
    return json_format.MessageToDict(message)


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

    def elapsed_seconds(self, now: datetime.datetime | None = None) -> float | None:
        """Seconds since the operation's ``metadata.createTime``, when the metadata has it."""
        created = self.metadata.get("createTime")
        if not isinstance(created, str):
            return None
        try:
            start = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
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


def log_progress(log: Any, outcome: Outcome) -> None:
    """One INFO line per poll: elapsed time and the metadata's progress counters when present."""
    elapsed = outcome.elapsed_seconds()
    if outcome.error_code:
        log.warning("Operation %s: transient %s, will poll again: %s",
                    outcome.operation_name, outcome.error_code, outcome.error_message)
        return
    progress = ", ".join(f"{k}={v}" for k, v in outcome.progress().items()) or "no progress counters"
    log.info("Operation %s running; elapsed %s; %s", outcome.operation_name,
             "unknown" if elapsed is None else f"{elapsed:.0f}s", progress)


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
    ConnectionError,
    TimeoutError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: unavailable, quota, internal, deadline, connection."""
    return isinstance(exc, TRANSIENT_ERRORS)


def outcome_of_error(operation_name: str, exc: Exception) -> Outcome:
    """Classify an exception raised while fetching the operation.

    Transient errors (also when the retry policy gave up on them) mean "still running, look again
    later": the operation itself is unaffected. Any other ``GoogleAPICallError`` is permanent and
    ends the wait at once with its status code. Anything else is a bug and is raised again.
    """
    if is_transient(exc) or isinstance(exc, exceptions.RetryError):
        return Outcome(Status.RUNNING, operation_name, None, error_code=_code_of(exc), error_message=str(exc))
    if isinstance(exc, exceptions.GoogleAPICallError):
        return Outcome(Status.ERROR, operation_name, None, error_code=_code_of(exc), error_message=exc.message)
    if isinstance(exc, auth_exceptions.RefreshError | auth_exceptions.InvalidOperation) and not getattr(
        exc, "retryable", False
    ):
        # A 401 whose credentials cannot be refreshed (a revoked key; the emulator's anonymous
        # credentials over REST): google-auth raises instead of returning the UNAUTHENTICATED answer.
        return Outcome(Status.ERROR, operation_name, None, error_code="UNAUTHENTICATED", error_message=str(exc))
    raise exc


def _code_of(exc: BaseException) -> str:
    if isinstance(exc, exceptions.RetryError) and exc.cause is not None:
        return _code_of(exc.cause)
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


def select_fields(outcome: Outcome, fields: Sequence[str]) -> Outcome:
    """The outcome with its response cut down to ``fields`` (dotted camelCase paths; ``@type`` kept).

    ``["name", "trainingStats.analyzedConversationsCount"]`` keeps those two values. A path the
    response does not have is an error naming it and what the response has.
    """
    response = outcome.response or {}
    selected: dict[str, Any] = {"@type": response["@type"]} if "@type" in response else {}
    for path in fields:
        if not isinstance(path, str) or not path:
            raise ValueError(f"Invalid response field {path!r}: expected a dotted camelCase path such as 'name'.")
        source: Any = response
        target = selected
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                have = sorted(source) if isinstance(source, dict) else type(source).__name__
                raise ValueError(
                    f"Invalid response field {path!r}: {'.'.join(parts[:depth]) or 'the response'} has no "
                    f"{part!r} (it has {have})."
                )
            source = source[part]
            if depth < len(parts) - 1:
                target = target.setdefault(part, {})
            else:
                target[part] = source
    operation = {**(outcome.operation or {}), "response": selected}
    return Outcome(outcome.status, outcome.operation_name, operation)


# -- XCom --------------------------------------------------------------------------------------
def xcom_values(outcome: Outcome, selected: bool = False) -> dict[str, Any]:
    """The XComs of a succeeded outcome besides ``return_value`` (the response).

    ``operation`` always; ``issue_model_name`` and ``training_stats`` when the response is an
    ``IssueModel``.
    """
    values: dict[str, Any] = {"operation": outcome.operation}
    response = outcome.response or {}
    if response.get("@type") == ISSUE_MODEL_TYPE:
        # After select_fields these follow the selection: a field not selected is not pushed.
        if not selected or "name" in response:
            values["issue_model_name"] = response.get("name")
        if not selected or "trainingStats" in response:
            values["training_stats"] = response.get("trainingStats", {})
    return values


# stored_json_size measures the dicts of the first levels item by item, when they have at most this many items
# (the fields of a message; a large map is serialized whole, in C).
_SPLIT_DEPTH = 3
_SPLIT_MAX_ITEMS = 64


def stored_json_size(value: Any) -> int:
    """``len(json.dumps(value).encode())``, what Airflow stores for an XCom, serializing each shared value once.

    Airflow writes an XCom with ``json.dumps`` and its defaults (``", "`` and ``": "`` separators, ASCII
    escapes). The XComs of an issue model hold its response three times: ``return_value``,
    ``operation["response"]`` and, for ``training_stats``, its ``trainingStats``; the same objects, not copies.
    So the small dicts of the first levels are measured item by item (braces, separators, key, value) and the
    size of each dict or list is remembered by identity: a value met again costs a look-up, not a
    serialization. Everything else is serialized whole (the 10,000 entries of an ``issueStats`` in one call).
    """
    sizes: dict[int, int] = {}  # id() -> size: every object measured stays alive inside ``value``

    def measure(item: Any, depth: int) -> int:
        known = sizes.get(id(item))
        if known is not None:
            return known
        if (depth < _SPLIT_DEPTH and isinstance(item, dict) and 0 < len(item) <= _SPLIT_MAX_ITEMS
                and all(type(key) is str for key in item)):
            # {"a": 1, "b": 2}: two braces, ", " between items, and per item its key, ": " and its value.
            size = 2 + 2 * (len(item) - 1) + sum(_json_size(key) + 2 + measure(child, depth + 1)
                                                 for key, child in item.items())
        else:
            size = _json_size(item)
        if isinstance(item, dict | list):
            sizes[id(item)] = size
        return size

    return measure(value, 0)


def _json_size(value: Any) -> int:
    return len(json.dumps(value).encode())
