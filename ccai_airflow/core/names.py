"""Resource names and every input validator. No Airflow import.

Each validator returns the value it accepted (converted where that helps) or raises ``ValueError``
("Invalid X {value!r}: expected Y"), so a bad value is named before any API call is made with it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "EMULATOR_HOST_ENV",
    "EMULATOR_REST_ENV",
    "MAX_OPERATION_NAME_LENGTH",
    "OPERATION_NAME_FORM",
    "TRANSPORTS",
    "TYPE_URL_PREFIX",
    "InvalidOperationNameError",
    "OperationName",
    "child_name",
    "parse_operation_name",
    "parse_parent",
    "validate_emulator_address",
    "validate_flag",
    "validate_gcs_object_uri",
    "validate_impersonation_chain",
    "validate_location",
    "validate_response_type",
    "validate_seconds",
    "validate_transport",
]

OPERATION_NAME_FORM = "projects/{project}/locations/{location}/operations/{operation_id}"
MAX_OPERATION_NAME_LENGTH = 512
TRANSPORTS = ("grpc", "rest")

# Project ids and numbers, and the domain-scoped form "example.com:my-project".
_PROJECT = r"[a-z0-9](?:[a-z0-9.:-]{0,61}[a-z0-9])?"
_LOCATION = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_OPERATION_ID = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9_])?"
_PARENT_RE = re.compile(rf"^projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})\Z")
_OPERATION_NAME_RE = re.compile(
    rf"^projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})/operations/(?P<operation_id>{_OPERATION_ID})\Z"
)
_LOCATION_RE = re.compile(rf"^{_LOCATION}\Z")
_SERVICE_ACCOUNT_RE = re.compile(r"^[^@\s,]+@[^@\s,]+$")
_RESOURCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]\Z")
_HOST_PORT_RE = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$")
_REST_URL_RE = re.compile(r"^https?://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?/?$")


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


def parse_parent(value: object) -> str:
    """Validate ``projects/{project}/locations/{location}``; raise naming the value otherwise."""
    if isinstance(value, str) and _PARENT_RE.match(value):
        return value
    raise ValueError(f"Invalid parent {value!r}: expected projects/{{project}}/locations/{{location}}.")


# Settings.pubsub_notification_settings: "Keys are notification triggers. Supported keys are: ..." and "Values are
# Pub/Sub topics. The format of each Pub/Sub topic is: projects/{project}/topics/{topic}" ({topic} as Pub/Sub's
# Topic.name allows: a letter first, 3-255 of [A-Za-z0-9-_.~+%], not starting with "goog").
NOTIFICATION_TRIGGERS = (
    "all-triggers", "create-analysis", "create-conversation", "export-insights-data", "ingest-conversations",
    "update-conversation", "upload-conversation",
)
_TOPIC_RE = re.compile(r"^projects/[a-z0-9][a-z0-9.:-]*/topics/(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}\Z")


def validate_notification_settings(value: object) -> dict[str, str]:
    """``{trigger: "projects/P/topics/T"}`` as ``Settings.pubsub_notification_settings`` takes it; raise naming the
    bad key or topic otherwise (``{}``: no notifications)."""
    if not isinstance(value, dict):
        raise ValueError(f"Invalid notifications {value!r}: expected a dict of trigger -> projects/P/topics/T.")
    for key, topic in value.items():
        if key not in NOTIFICATION_TRIGGERS:
            raise ValueError(
                f"Invalid notification trigger {key!r}: expected one of {', '.join(NOTIFICATION_TRIGGERS)}.")
        if not isinstance(topic, str) or not _TOPIC_RE.match(topic):
            raise ValueError(f"Invalid topic {topic!r} for {key!r}: expected projects/{{project}}/topics/{{topic}}, "
                             "the topic 3-255 characters of letters, digits and -_.~+%, starting with a letter.")
    return dict(value)


# Pub/Sub's Subscription.name: "projects/{project}/subscriptions/{subscription}", {subscription} by the topic's rule.
_SUBSCRIPTION_RE = re.compile(
    r"^projects/[a-z0-9][a-z0-9.:-]*/subscriptions/(?!goog)[A-Za-z][A-Za-z0-9_.~+%-]{2,254}\Z")


def validate_subscription(value: object, arg: str = "notification_subscription") -> str | None:
    """None, or a Pub/Sub subscription's full name; raise naming the value otherwise."""
    if value is None or (isinstance(value, str) and _SUBSCRIPTION_RE.match(value)):
        return value
    raise ValueError(f"Invalid {arg} {value!r}: expected projects/{{project}}/subscriptions/{{subscription}}.")


def child_name(parent: str, collection: str, value: object, arg: str) -> str:
    """The full name of a resource under ``parent``, given its id or its full name.

    ``child_name("projects/p/locations/l", "issueModels", "123", "issue_model_id")`` is
    ``projects/p/locations/l/issueModels/123``; the full name passes if it is under ``parent``.
    """
    prefix = f"{parent}/{collection}/"
    if isinstance(value, str):
        if value.startswith(prefix) and _RESOURCE_ID_RE.match(value[len(prefix):]):
            return value
        if not value.startswith("projects/") and _RESOURCE_ID_RE.match(value):
            return prefix + value
    raise ValueError(f"Invalid {arg} {value!r}: expected an id or {prefix}ID.")


def validate_gcs_object_uri(arg: str, value: object) -> str:
    """``gs://BUCKET/OBJECT``, the form the Insights request fields document ("Format:
    ``gs://<bucket-name>/<object-name>``"), with Cloud Storage's bucket naming rules (3-63 characters of
    ``a-z 0-9 - _ .``, starting and ending with a letter or digit) and a non-empty object name without CR/LF."""
    if isinstance(value, str):
        bucket, slash, name = value.removeprefix("gs://").partition("/")
        if (value.startswith("gs://") and _BUCKET_RE.match(bucket) and slash and name and "\n" not in name
                and "\r" not in name and len(name.encode()) <= 1024):
            return value
    raise ValueError(f"Invalid {arg} {value!r}: expected a Cloud Storage object URI gs://<bucket-name>/<object-name>.")


# Where the emulator is, for every process of a deployment (the convention of PUBSUB_EMULATOR_HOST).
EMULATOR_HOST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_HOST"  # gRPC, HOST:PORT
EMULATOR_REST_ENV = "CONTACT_CENTER_INSIGHTS_EMULATOR_REST"  # REST, http://HOST:PORT


def validate_emulator_address(variable: str, value: str, transport: str) -> str:
    """An emulator address from the environment: ``host:port`` for gRPC, ``http://host:port`` for REST."""
    pattern, form = (_HOST_PORT_RE, "host:port") if transport == "grpc" else (_REST_URL_RE, "http://host:port")
    if not pattern.match(value):
        raise ValueError(f"Invalid {variable} {value!r}: expected {form}.")
    return value.rstrip("/")


def validate_location(value: object) -> str:
    if isinstance(value, str) and _LOCATION_RE.match(value):
        return value
    raise ValueError(f"Invalid location {value!r}: expected a location such as 'us-central1'.")


def validate_seconds(arg: str, value: object, zero_ok: bool) -> float | None:
    """A duration in seconds: None and ``timedelta`` pass through converted, anything else is named."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"Invalid {arg} {value!r}: expected a number of seconds {'>=' if zero_ok else '>'} 0.")
    return float(value)


def validate_flag(arg: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {arg} {value!r}: expected True or False.")
    return value


def validate_transport(transport: object) -> str:
    if transport not in TRANSPORTS:
        raise ValueError(f"Invalid transport {transport!r}: expected one of {list(TRANSPORTS)}.")
    return str(transport)


def validate_impersonation_chain(chain: object) -> str | Sequence[str] | None:
    """None, one service account e-mail, or a list of them; anything else names the bad value."""
    if chain is None:
        return None
    accounts = [chain] if isinstance(chain, str) else chain
    if not isinstance(accounts, list | tuple) or not accounts:
        raise ValueError(
            f"Invalid impersonation_chain {chain!r}: expected a service account e-mail or a non-empty "
            "list of them."
        )
    for account in accounts:
        if not isinstance(account, str) or not _SERVICE_ACCOUNT_RE.match(account):
            raise ValueError(
                f"Invalid impersonation_chain entry {account!r}: expected a service account e-mail such "
                "as sa@project.iam.gserviceaccount.com."
            )
    return chain  # type: ignore[return-value]


TYPE_URL_PREFIX = "type.googleapis.com/"
# A fully qualified protobuf message name: its package, then the message (google.cloud.contactcenterinsights.v1.X).
_MESSAGE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")


def validate_response_type(value: object, arg: str = "expected_response_type") -> str | None:
    """None, or a response's type as its ``@type`` shows it: the type URL ``type.googleapis.com/NAME``, given as
    that URL or as the bare message name ``NAME`` (with its package: a bare ``IssueModel`` could be anyone's)."""
    if value is None:
        return None
    name = value.removeprefix(TYPE_URL_PREFIX) if isinstance(value, str) else None
    if name is None or not _MESSAGE_NAME_RE.match(name):
        raise ValueError(
            f"Invalid {arg} {value!r}: expected a message name with its package, such as "
            f"'google.cloud.contactcenterinsights.v1.IssueModel', or its @type URL "
            f"'{TYPE_URL_PREFIX}google.cloud.contactcenterinsights.v1.IssueModel'."
        )
    return TYPE_URL_PREFIX + name
