"""Finding the operation an earlier try started, where Airflow keeps no state across tries. No Airflow import.

Airflow 3.3 keeps the operation's name in ``task_state_store``. Before 3.3 nothing survives a
try (its XComs are cleared), so a retry looks at the operations under the parent instead: one
whose metadata says it was started with exactly this task's request (same method, same fields),
since the DAG run began, and that has not failed, is the earlier try's. Most metadata types echo
the whole request (``metadata.request``); CreateAnalysis's echoes what identifies it instead (the
conversation and the annotator selector), and QueryMetrics's nothing: its retry starts anew.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import json_format

from ccai_airflow.core.outcome import Status, outcome_of

__all__ = ["adoptable", "echo_of", "metadata_type_of"]

_TYPE_PREFIX = "type.googleapis.com/google.cloud.contactcenterinsights.v1."


# The one method whose metadata is not named after its request (the client's create_analysis passes
# metadata_type=CreateAnalysisOperationMetadata to operation.from_gapic).
_METADATA_NAMES = {"CreateAnalysisRequest": "CreateAnalysisOperationMetadata"}


def metadata_type_of(request: Any) -> str:
    """The ``@type`` of the metadata of the operation a request starts: ``XRequest`` -> ``XMetadata``."""
    name = type(request).__name__
    return f"{_TYPE_PREFIX}{_METADATA_NAMES.get(name, name.removesuffix('Request') + 'Metadata')}"


def echo_of(request: Any) -> dict[str, Any] | None:
    """The metadata fields (REST JSON names) in which the operation ``request`` starts shows it was
    started with it; None when its metadata shows nothing of the request."""
    name = type(request).__name__
    if name == "CreateAnalysisRequest":
        # CreateAnalysisOperationMetadata: "The Conversation that this Analysis Operation belongs to."
        # and "The annotator selector used for the analysis (if any)."; no `request` field.
        analysis = request.analysis
        selector = analysis.annotator_selector
        echoed = json_format.MessageToDict(type(selector).pb(selector)) if "annotator_selector" in analysis else None
        return {"conversation": request.parent, "annotatorSelector": echoed}
    if name == "QueryMetricsRequest":  # QueryMetricsMetadata has no fields
        return None
    return {"request": json_format.MessageToDict(type(request).pb(request))}


def adoptable(
    operations: Iterable[operations_pb2.Operation], request: Any, since: datetime.datetime | None
) -> str | None:
    """The name of the newest operation started with ``request`` at or after ``since`` that has not failed.

    The request is compared as the API echoes it in the metadata (``echo_of``); an API that rewrote a
    field (a project number for a project id) makes no match, and the retry starts a new operation.
    """
    wanted_type = metadata_type_of(request)
    wanted = echo_of(request)
    if wanted is None:
        return None
    best: tuple[datetime.datetime, str] | None = None
    for operation in operations:
        outcome = outcome_of(operation)
        metadata = outcome.metadata
        if metadata.get("@type") != wanted_type or any(metadata.get(k) != v for k, v in wanted.items()):
            continue
        if outcome.status is Status.FAILED:
            continue
        created = outcome.created_at()
        if created is None or (since is not None and created < since):
            continue
        if best is None or created > best[0]:
            best = (created, operation.name)
    return None if best is None else best[1]
