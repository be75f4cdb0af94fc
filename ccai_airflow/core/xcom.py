"""What a finished operation pushes to XCom: the fields, the values, and their stored size. No Airflow import.

:func:`xcoms_of` is the whole path from a succeeded :class:`~ccai_airflow.core.outcome.Outcome` to the
XComs a task pushes: cut the response to ``response_fields``, build the values, and refuse (never
truncate) when Airflow would store more than ``max_xcom_bytes``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ccai_airflow.core.outcome import ISSUE_MODEL_TYPE, Outcome

__all__ = [
    "DEFAULT_MAX_XCOM_BYTES",
    "XComTooLargeError",
    "no_issue_model_name",
    "select_fields",
    "stored_json_size",
    "validate_max_xcom_bytes",
    "validate_response_fields",
    "xcom_values",
    "xcoms_of",
]

DEFAULT_MAX_XCOM_BYTES = 1024 * 1024


class XComTooLargeError(ValueError):
    """The XComs of a response would be over the limit: nothing was pushed, nothing truncated."""


def validate_response_fields(value: object) -> list[str] | None:
    if value is None:
        return None
    fields = value if isinstance(value, list | tuple) else None
    if fields is None or not all(isinstance(f, str) and f for f in fields):
        raise ValueError(
            f"Invalid response_fields {value!r}: expected a list of dotted field names such as "
            "['name', 'trainingStats.analyzedConversationsCount']."
        )
    return list(fields)


def validate_max_xcom_bytes(value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"Invalid max_xcom_bytes {value!r}: expected a positive integer or None.")
    return value


def xcoms_of(outcome: Outcome, response_fields: Sequence[str] | None, max_xcom_bytes: int | None) -> dict[str, Any]:
    """Every XCom of a succeeded outcome, ``return_value`` (the response) first.

    Raises :class:`XComTooLargeError` when their JSON, as Airflow writes it, is over ``max_xcom_bytes``.
    """
    if response_fields:
        outcome = select_fields(outcome, response_fields)
    values = {"return_value": outcome.response, **xcom_values(outcome, selected=bool(response_fields))}
    if max_xcom_bytes is not None:
        # All the XComs as one JSON object, as Airflow writes them; the response they share is serialized once.
        size = stored_json_size(values)
        if size > max_xcom_bytes:
            raise XComTooLargeError(
                f"The XComs of operation {outcome.operation_name} would take {size} bytes, over max_xcom_bytes="
                f"{max_xcom_bytes}; nothing was pushed. Push only the fields you need with "
                "response_fields=[...], e.g. ['name', 'state', 'trainingStats.analyzedConversationsCount'], "
                "or raise max_xcom_bytes (None: no limit)."
            )
    return values


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


def xcom_values(outcome: Outcome, selected: bool = False) -> dict[str, Any]:
    """The XComs of a succeeded outcome besides ``return_value`` (the response).

    ``operation`` always; ``issue_model_name`` and ``training_stats`` when the response is an
    ``IssueModel``; for ExportIssueModel ``issue_model_name`` and ``object_uri``, for BulkDownloadFeedbackLabels
    ``file_names`` and ``download_stats``, for BulkUploadFeedbackLabels ``upload_stats`` (from the metadata).
    """
    values: dict[str, Any] = {"operation": outcome.operation}
    response = outcome.response or {}
    if response.get("@type") == ISSUE_MODEL_TYPE:
        # After select_fields these follow the selection: a field not selected is not pushed.
        if not selected or "name" in response:
            values["issue_model_name"] = response.get("name")
        if not selected or "trainingStats" in response:
            values["training_stats"] = response.get("trainingStats", {})
    values.update(_conversation_and_location_values(outcome, response, selected))
    values.update(_storage_values(outcome.metadata))
    return values


def no_issue_model_name(outcome: Outcome, response_fields: Sequence[str] | None = None) -> str | None:
    """Why the XComs of a succeeded outcome hold no ``issue_model_name`` (None: they hold it), for the task log: a
    downstream task that reads it gets None, and the reason is the operation's type, or the fields selected."""
    selected = select_fields(outcome, response_fields) if response_fields else outcome
    if "issue_model_name" in xcom_values(selected, selected=bool(response_fields)):
        return None
    kind = (outcome.response or {}).get("@type")
    why = (f"response_fields {list(response_fields or ())} leave out the model's 'name'" if kind == ISSUE_MODEL_TYPE
           else f"its response is of @type {kind!r}, not an IssueModel (only CreateIssueModel's is; ExportIssueModel's "
                "metadata names its model)")
    return f"No issue_model_name XCom for operation {outcome.operation_name}: {why}."


_V1 = "type.googleapis.com/google.cloud.contactcenterinsights.v1."


def _conversation_and_location_values(outcome: Outcome, response: dict[str, Any], selected: bool) -> dict[str, Any]:
    """The convenience XComs of UploadConversation, CreateAnalysis, BulkDeleteConversations,
    InitializeEncryptionSpec, QueryMetrics and TuneQaScorecardRevision, by response type.

    The responses of bulk delete, encryption spec and tuning are empty messages: what there is to know is in
    the metadata (``partialErrors``; the tuning's per-question results), so those keys come from it.
    """
    kind = str(response.get("@type", "")).removeprefix(_V1)
    metadata = outcome.metadata
    if kind == "Conversation" and (not selected or "name" in response):
        return {"conversation_name": response.get("name")}
    if kind == "Analysis" and (not selected or "name" in response):
        return {"analysis_name": response.get("name")}
    if kind in ("BulkDeleteConversationsResponse", "InitializeEncryptionSpecResponse"):
        return {"partial_errors": metadata.get("partialErrors", [])}
    if kind == "QueryMetricsResponse" and (not selected or "slices" in response):
        return {"slices": response.get("slices", [])}
    if kind == "TuneQaScorecardRevisionResponse":
        return {"dataset_validation_results": metadata.get("qaQuestionDatasetValidationResults", []),
                "tuning_metrics": metadata.get("qaQuestionDatasetTuningMetrics", [])}
    return {}


def _storage_values(metadata: dict[str, Any]) -> dict[str, Any]:
    """What the operations that write to or read from Cloud Storage carry in their metadata (their responses are
    empty): the model and URI of an export, the files and counts of a download, the counts of an upload."""
    kind = str(metadata.get("@type", "")).rsplit(".", 1)[-1]
    request = metadata.get("request") or {}
    if kind == "ExportIssueModelMetadata":
        return {"issue_model_name": request.get("name"),
                "object_uri": (request.get("gcsDestination") or {}).get("objectUri")}
    if kind == "BulkDownloadFeedbackLabelsMetadata":
        stats = metadata.get("downloadStats") or {}
        return {"file_names": list(stats.get("fileNames", [])), "download_stats": stats}
    if kind == "BulkUploadFeedbackLabelsMetadata":
        return {"upload_stats": metadata.get("uploadStats") or {}}
    return {}


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
