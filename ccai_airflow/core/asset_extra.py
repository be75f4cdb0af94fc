"""The ``extra`` of the asset event a finished operation records: plain JSON a downstream DAG reads, bounded.

Every event has the same keys (:data:`EXTRA_KEYS`), ``None`` where a key does not apply to the resource:

* ``resource``: the resource's name as its API names it: ``projects/P/locations/L/issueModels/ID``,
  ``P.D.T`` for a BigQuery table, ``gs://B/O`` for Cloud Storage objects.
* ``operation``: the long-running operation that produced it; ``operationType``, e.g. ``CreateIssueModel``.
* ``createTime`` / ``endTime``: the operation's, from its metadata (RFC 3339).
* ``state``, ``displayName``: the issue model's, as the API reports them (``UNDEPLOYED``, ``DEPLOYED``).
* ``trainingStats``: the model's ``analyzedConversationsCount``, ``unclassifiedConversationsCount``,
  ``issueCount`` and ``topIssues`` (the issues with the most labeled conversations, at most
  :data:`MAX_TOP_ISSUES`, each ``issue``, ``displayName``, ``labeledConversationsCount``).

The whole event stays under :data:`MAX_EXTRA_BYTES` of compact JSON: issues are dropped from the end of
``topIssues`` until it fits (``issueCount`` still counts them all), and a display name is cut last. The size
never fails a task; the whole training stats are in XCom (``training_stats``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["EXTRA_KEYS", "MAX_EXTRA_BYTES", "MAX_TOP_ISSUES", "event_extra", "extra_size", "training_stats"]

MAX_TOP_ISSUES = 25
# The asset_event row's extra is read by every consumer run and shown in the UI: keep it a few KB.
MAX_EXTRA_BYTES = 8192
EXTRA_KEYS = ("resource", "operation", "operationType", "createTime", "endTime", "state", "displayName",
              "trainingStats")


def extra_size(extra: dict[str, Any]) -> int:
    """Bytes of ``extra`` as compact JSON (how it is measured against :data:`MAX_EXTRA_BYTES`)."""
    return len(json.dumps(extra, separators=(",", ":"), ensure_ascii=False).encode())


def training_stats(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    """The bounded summary of an ``IssueModel.trainingStats`` (REST JSON), or None without stats."""
    if not stats:
        return None
    issues: list[dict[str, Any]] = [
        {"issue": str(entry.get("issue", key)), "displayName": str(entry.get("displayName", "")),
         "labeledConversationsCount": int(entry.get("labeledConversationsCount", 0))}
        for key, entry in (stats.get("issueStats") or {}).items()
    ]
    issues.sort(key=lambda row: (-int(row["labeledConversationsCount"]), str(row["issue"])))
    return {
        "analyzedConversationsCount": int(stats.get("analyzedConversationsCount", 0)),
        "unclassifiedConversationsCount": int(stats.get("unclassifiedConversationsCount", 0)),
        "issueCount": len(issues),
        "topIssues": issues[:MAX_TOP_ISSUES],
    }


def event_extra(
    resource: str, operation: dict[str, Any] | None, model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The extra of the event for ``resource``.

    :param operation: the decoded operation (``name``, ``metadata``) that produced it; None when the task
        found the resource as it wanted without an operation (a model already deployed).
    :param model: the decoded ``IssueModel`` (REST JSON) when the resource is one.
    """
    metadata = (operation or {}).get("metadata") or {}
    model = model or {}
    extra: dict[str, Any] = {
        "resource": resource,
        "operation": (operation or {}).get("name"),
        "operationType": _operation_type(metadata),
        "createTime": metadata.get("createTime"),
        "endTime": metadata.get("endTime"),
        "state": model.get("state"),
        "displayName": model.get("displayName"),
        "trainingStats": training_stats(model.get("trainingStats")),
    }
    return _bounded(extra)


def _operation_type(metadata: dict[str, Any]) -> str | None:
    """``type.googleapis.com/...v1.CreateIssueModelMetadata`` -> ``CreateIssueModel``."""
    kind = str(metadata.get("@type", "")).rsplit(".", 1)[-1]
    return kind.removesuffix("Metadata") or None


def _bounded(extra: dict[str, Any]) -> dict[str, Any]:
    stats = extra["trainingStats"]
    while extra_size(extra) > MAX_EXTRA_BYTES and stats and stats["topIssues"]:
        stats["topIssues"].pop()
    excess = extra_size(extra) - MAX_EXTRA_BYTES
    if excess > 0 and extra["displayName"]:
        name = str(extra["displayName"]).encode()
        extra["displayName"] = name[: max(len(name) - excess, 0)].decode(errors="ignore")
    return extra
