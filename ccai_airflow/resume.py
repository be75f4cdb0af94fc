"""Finding the operation an earlier try started, where Airflow keeps no state across tries. No Airflow import.

Airflow 3.3 keeps the operation's name in ``task_state_store``. Before 3.3 nothing survives a
try (its XComs are cleared), so a retry looks at the operations under the parent instead: one
whose metadata says it was started with exactly this task's request (same method, same fields),
since the DAG run began, and that has not failed, is the earlier try's.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import json_format

from ccai_airflow.outcome import Status, outcome_of

__all__ = ["adoptable", "metadata_type_of"]

_TYPE_PREFIX = "type.googleapis.com/google.cloud.contactcenterinsights.v1."


def metadata_type_of(request: Any) -> str:
    """The ``@type`` of the metadata of the operation a request starts: ``XRequest`` -> ``XMetadata``."""
    return f"{_TYPE_PREFIX}{type(request).__name__.removesuffix('Request')}Metadata"


def adoptable(
    operations: Iterable[operations_pb2.Operation], request: Any, since: datetime.datetime | None
) -> str | None:
    """The name of the newest operation started with ``request`` at or after ``since`` that has not failed.

    The request is compared as the API echoes it in ``metadata.request``; an API that rewrote a field
    (a project number for a project id) makes no match, and the retry starts a new operation.
    """
    wanted_type = metadata_type_of(request)
    wanted = json_format.MessageToDict(type(request).pb(request))
    best: tuple[datetime.datetime, str] | None = None
    for operation in operations:
        outcome = outcome_of(operation)
        metadata = outcome.metadata
        if metadata.get("@type") != wanted_type or metadata.get("request") != wanted:
            continue
        if outcome.status is Status.FAILED:
            continue
        created = outcome.created_at()
        if created is None or (since is not None and created < since):
            continue
        if best is None or created > best[0]:
            best = (created, operation.name)
    return None if best is None else best[1]
